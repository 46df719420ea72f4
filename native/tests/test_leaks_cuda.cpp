// Leaks on a CUDA device: 10^5 mixed calls of every family (native/tests/reliability/ops_*.cpp)
// on one CUDA context keep both the device memory in use and the process RSS flat; CUDA contexts
// created, used with large workloads and destroyed return their device memory (stream, workspace);
// sk_context_release_workspace returns the workspace to the device. SK_LEAK_CALLS overrides the
// number of calls and SK_LEAK_CONTEXTS the number of contexts (ci/gpu-sanitize.sh lowers both:
// under compute-sanitizer every call is slow).
//
// "Device memory in use" is total - free from cudaMemGetInfo: the whole device as the driver sees
// it, so it counts every allocation of the library's (static) CUDA runtime, the stream-ordered
// pool included. The figures are printed and recorded in bench/results/.
// Exits 77 (skipped) without a device unless SK_REQUIRE_CUDA=1; without CUDA compiled in, the
// test has nothing to measure and skips the same way.
#include <cstdio>
#include <cstdlib>

#include "cuda_test_util.h"
#include "reliability/leak_measure.h"
#include "reliability/reliability_ops.h"

#ifdef SK_TEST_HAVE_CUDART
#include <cuda_runtime_api.h>
#endif

using namespace sktest;
using namespace sktest::reliability;

namespace {

// Device memory in use on device 0 (MiB), after the device has finished all work.
double device_used_mib() {
#ifdef SK_TEST_HAVE_CUDART
    size_t free_bytes = 0, total_bytes = 0;
    CHECK(cudaSetDevice(0) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess);
    return static_cast<double>(total_bytes - free_bytes) / (1024.0 * 1024.0);
#else
    return 0.0;
#endif
}

// Growth allowed after the warm-up: the driver maps device memory in 2 MiB pages, so a bound of a
// few pages separates noise from a leak (one leaked byte per call is ~0.1 MiB per 10^5 calls; one
// leaked workspace or stream per context is far more than this over the runs below).
constexpr double kDeviceSlackMiB = 8.0;
constexpr double kRssSlackMiB = 8.0;

bool measurable() {
    if (!require_device_or_skip()) return false;
#ifndef SK_TEST_HAVE_CUDART
    CHECK_MSG(false, "a CUDA device is visible but this test was built without the CUDA runtime");
    return false;
#else
    return true;
#endif
}

}  // namespace

TEST(mixed_calls_keep_device_memory_and_rss_flat) {
    if (!measurable()) return;
    Context ctx(SK_DEVICE_CUDA, 0);
    long per_round = 0;
    int failures = 0;
    for (const Family &family : families()) {
        const Outputs out = family.run(ctx, 0);
        failures += out.failures;
        per_round += static_cast<long>(out.calls);
    }
    CHECK(per_round > 0);
    const long rounds = std::max(1L, calls_wanted() / std::max(1L, per_round));
    // Warm-up (10% of the rounds, at least one): the workspace cache, the stream-ordered pool.
    for (long r = 0; r < std::max(1L, rounds / 10); ++r)
        for (const Family &family : families()) failures += family.run(ctx, 0).failures;
    const double device_before = device_used_mib(), rss_before = rss_mib();
    for (long r = 0; r < rounds; ++r)
        for (const Family &family : families()) failures += family.run(ctx, 0).failures;
    const double device_after = device_used_mib(), rss_after = rss_mib();
    CHECK_EQ(failures, 0);
    std::printf("leaks (cuda): %ld calls (%ld rounds of %ld) on one context: device memory in use %.1f MiB -> "
                "%.1f MiB (%+.2f MiB); RSS %.1f MiB -> %.1f MiB (%+.2f MiB)\n",
                rounds * per_round, rounds, per_round, device_before, device_after, device_after - device_before,
                rss_before, rss_after, rss_after - rss_before);
    CHECK_MSG(device_after - device_before < kDeviceSlackMiB,
              "device memory in use grew by " << device_after - device_before << " MiB");
    CHECK_MSG(rss_after - rss_before < kRssSlackMiB, "RSS grew by " << rss_after - rss_before << " MiB");
}

TEST(cuda_contexts_return_their_device_memory) {
    if (!measurable()) return;
    // One context's workspace after large workloads, and its release back to the device.
    {
        Context ctx(SK_DEVICE_CUDA, 0);
        const double idle = device_used_mib();
        for (const Family &family : families()) CHECK_EQ(family.run(ctx, 1).failures, 0);
        int64_t held = -1;
        CHECK_OK(sk_context_workspace_bytes(ctx, &held));
        CHECK(held > 0);
        const double loaded = device_used_mib();
        CHECK_OK(sk_context_release_workspace(ctx));
        CHECK_OK(sk_context_workspace_bytes(ctx, &held));
        CHECK_EQ(held, int64_t(0));
        const double released = device_used_mib();
        std::printf("leaks (cuda): one context: device memory in use %.1f MiB idle, %.1f MiB after the large "
                    "workloads, %.1f MiB after sk_context_release_workspace\n",
                    idle, loaded, released);
        CHECK_MSG(released - idle < kDeviceSlackMiB,
                  "the released workspace stayed on the device: " << released - idle << " MiB above idle");
    }
    const char *env = std::getenv("SK_LEAK_CONTEXTS");  // ci/gpu-sanitize.sh lowers it
    const int contexts = env ? std::max(2, std::atoi(env)) : 50;
    double device_before = 0, rss_before = 0;
    for (int i = 0; i < contexts; ++i) {
        if (i == contexts / 10) device_before = device_used_mib(), rss_before = rss_mib();  // after warm-up
        Context ctx(SK_DEVICE_CUDA, 0);
        for (const Family &family : families()) CHECK_EQ(family.run(ctx, 1).failures, 0);
    }
    const double device_after = device_used_mib(), rss_after = rss_mib();
    std::printf("leaks (cuda): %d CUDA contexts created, used (large workloads) and destroyed: device memory in "
                "use %.1f MiB -> %.1f MiB (%+.2f MiB); RSS %.1f MiB -> %.1f MiB (%+.2f MiB)\n",
                contexts, device_before, device_after, device_after - device_before, rss_before, rss_after,
                rss_after - rss_before);
    CHECK_MSG(device_after - device_before < kDeviceSlackMiB,
              "device memory in use grew by " << device_after - device_before << " MiB");
    CHECK_MSG(rss_after - rss_before < kRssSlackMiB, "RSS grew by " << rss_after - rss_before << " MiB");
}

TEST_MAIN()
