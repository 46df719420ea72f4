// Determinism: every family's workload (native/tests/reliability/ops_*.cpp) gives bitwise
// identical outputs when repeated on one context, on a fresh context, and with 1, 2 or 3 CPU
// threads. (The CUDA counterpart runs under ci/gpu-sanitize.sh / the *_cuda tests.)
#include <cstring>

#include "reliability/reliability_ops.h"

using namespace sktest;
using namespace sktest::reliability;

namespace {

bool same(const Outputs &x, const Outputs &y) {
    return x.bytes.size() == y.bytes.size() && std::memcmp(x.bytes.data(), y.bytes.data(), x.bytes.size()) == 0;
}

std::size_t first_difference(const Outputs &x, const Outputs &y) {
    const std::size_t n = std::min(x.bytes.size(), y.bytes.size());
    for (std::size_t i = 0; i < n; ++i)
        if (x.bytes[i] != y.bytes[i]) return i;
    return n;
}

}  // namespace

TEST(every_family_is_bitwise_reproducible_across_runs_contexts_and_thread_counts) {
    CHECK(families().size() >= 3);
    for (const Family &family : families()) {
        for (int size : {0, 1}) {
            Context reference_ctx;
            CHECK_OK(sk_context_set_num_threads(reference_ctx, 1));
            const Outputs reference = family.run(reference_ctx, size);
            CHECK_MSG(reference.failures == 0, family.name << ": " << reference.first_error);
            CHECK_MSG(!reference.bytes.empty(), family.name << ": no output");
            for (int threads : {1, 2, 3}) {
                Context ctx;
                CHECK_OK(sk_context_set_num_threads(ctx, threads));
                for (int repeat = 0; repeat < 2; ++repeat) {
                    const Outputs again = family.run(ctx, size);
                    CHECK_MSG(again.failures == 0, family.name << ": " << again.first_error);
                    CHECK_MSG(same(reference, again), family.name << " size " << size << ", " << threads
                                                                  << " threads, run " << repeat
                                                                  << ": first differing byte "
                                                                  << first_difference(reference, again) << " of "
                                                                  << reference.bytes.size());
                }
            }
        }
    }
}

TEST_MAIN()
