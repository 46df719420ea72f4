// Leaks: 10^5 mixed calls of every family (native/tests/reliability/ops_*.cpp) on one context
// keep the process RSS flat, and creating, using and destroying contexts (each with a filled
// workspace and a thread pool) returns their memory. SK_LEAK_CALLS overrides the number of calls.
// The RSS figures are printed (recorded in bench/results/). Under AddressSanitizer, whose
// quarantine holds freed memory on purpose, RSS says nothing: there LeakSanitizer (enabled by
// ci/test.sh's sanitizer pass) checks at exit that nothing allocated was lost instead.
#include <cstdio>
#include <cstdlib>

#include "reliability/leak_measure.h"
#include "reliability/reliability_ops.h"

#if defined(__SANITIZE_ADDRESS__)
#define SK_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SK_UNDER_ASAN 1
#endif
#endif

using namespace sktest;
using namespace sktest::reliability;

namespace {

#ifdef SK_UNDER_ASAN
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif

}  // namespace

TEST(mixed_calls_keep_rss_flat) {
    Context ctx;
    CHECK_OK(sk_context_set_num_threads(ctx, 2));
    // C API calls per round (one tiny run of every family's workload).
    long per_round = 0;
    int failures = 0;
    for (const Family &family : families()) {
        const Outputs out = family.run(ctx, 0);
        failures += out.failures;
        per_round += static_cast<long>(out.calls);
    }
    CHECK(per_round > 0);
    const long rounds = std::max(1L, calls_wanted() / std::max(1L, per_round));
    // Warm-up (10% of the rounds): the workspace cache, the thread pool and the allocator's arenas.
    for (long r = 0; r < rounds / 10; ++r)
        for (const Family &family : families()) failures += family.run(ctx, 0).failures;
    const double before = rss_mib();
    for (long r = 0; r < rounds; ++r)
        for (const Family &family : families()) failures += family.run(ctx, 0).failures;
    const double after = rss_mib();
    CHECK_EQ(failures, 0);
    std::printf("leaks: %ld calls (%ld rounds of %ld): RSS %.1f MiB -> %.1f MiB (%+.2f MiB)%s\n",
                rounds * per_round, rounds, per_round, before, after, after - before,
                kRssMeaningful ? "" : " [AddressSanitizer build: RSS not bounded, LeakSanitizer checks]");
    if (kRssMeaningful) CHECK_MSG(after - before < 4.0, "RSS grew by " << after - before << " MiB");
}

TEST(contexts_return_their_workspace_and_threads_on_destroy) {
    // One context's workspace after a large workload, and its release.
    {
        Context ctx;
        for (const Family &family : families()) CHECK_EQ(family.run(ctx, 1).failures, 0);
        int64_t held = -1;
        CHECK_OK(sk_context_workspace_bytes(ctx, &held));
        CHECK(held > 0);
        CHECK_OK(sk_context_release_workspace(ctx));
        CHECK_OK(sk_context_workspace_bytes(ctx, &held));
        CHECK_EQ(held, int64_t(0));
    }
    const int contexts = 200;
    double before = 0;
    for (int i = 0; i < contexts; ++i) {
        if (i == contexts / 10) before = rss_mib();  // after warm-up
        Context ctx;
        CHECK_OK(sk_context_set_num_threads(ctx, 2));
        for (const Family &family : families()) CHECK_EQ(family.run(ctx, 1).failures, 0);
    }
    const double after = rss_mib();
    std::printf("leaks: %d contexts created, used (large workloads) and destroyed: RSS %.1f MiB -> %.1f MiB "
                "(%+.2f MiB)%s\n",
                contexts, before, after, after - before, kRssMeaningful ? "" : " [AddressSanitizer build]");
    if (kRssMeaningful) CHECK_MSG(after - before < 4.0, "RSS grew by " << after - before << " MiB");
}

TEST_MAIN()
