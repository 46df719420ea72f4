// On a CUDA device: every family's workload (reliability/ops_*.cpp) gives bitwise identical
// outputs on repeated runs, on one context and on a fresh one; and a failure in one context
// (an impossible allocation, a workspace limit too small for an op) is reported and leaves that
// context, other contexts and the CPU path working with unchanged results.
// Exits 77 (skipped) without a device unless SK_REQUIRE_CUDA=1.
#include <cstring>

#include "cuda_test_util.h"
#include "reliability/reliability_ops.h"

using namespace sktest;
using namespace sktest::reliability;

namespace {
bool same(const Outputs &x, const Outputs &y) {
    return x.bytes.size() == y.bytes.size() && std::memcmp(x.bytes.data(), y.bytes.data(), x.bytes.size()) == 0;
}
}  // namespace

TEST(every_family_is_bitwise_reproducible_on_the_device) {
    if (!require_device_or_skip()) return;
    for (const Family &family : families()) {
        for (int size : {0, 1}) {
            Context first(SK_DEVICE_CUDA, 0);
            const Outputs reference = family.run(first, size);
            CHECK_MSG(reference.failures == 0, family.name << ": " << reference.first_error);
            for (int repeat = 0; repeat < 3; ++repeat)
                CHECK_MSG(same(reference, family.run(first, size)), family.name << " size " << size << " repeat " << repeat);
            Context fresh(SK_DEVICE_CUDA, 0);
            CHECK_MSG(same(reference, family.run(fresh, size)), family.name << " size " << size << " fresh context");
        }
    }
}

TEST(a_failing_context_leaves_itself_others_and_the_cpu_usable) {
    if (!require_device_or_skip()) return;
    Context cpu, a(SK_DEVICE_CUDA, 0), b(SK_DEVICE_CUDA, 0);
    std::vector<Outputs> cpu_before, b_before;
    for (const Family &family : families()) {
        cpu_before.push_back(family.run(cpu, 1));
        b_before.push_back(family.run(b, 1));
    }
    // An allocation no device can satisfy (2^50 bytes).
    void *ptr = nullptr;
    const sk_status st = sk_malloc(a, int64_t(1) << 50, &ptr);
    CHECK_MSG(st == SK_ERROR_OUT_OF_MEMORY || st == SK_ERROR_CUDA, sk_status_name(st));
    CHECK(std::strlen(sk_context_last_error(a)) > 0);
    CHECK(ptr == nullptr);
    // A workspace limit of 1 byte makes the ops that need scratch fail with a clear error.
    CHECK_OK(sk_context_set_workspace_limit(a, 1));
    int limited_failures = 0;
    for (const Family &family : families()) limited_failures += family.run(a, 1).failures;
    CHECK_MSG(limited_failures > 0, "no op needed workspace under a 1-byte limit");
    CHECK_OK(sk_context_set_workspace_limit(a, 0));
    std::size_t i = 0;
    for (const Family &family : families()) {
        const Outputs on_a = family.run(a, 1), on_b = family.run(b, 1), on_cpu = family.run(cpu, 1);
        CHECK_MSG(on_a.failures == 0 && on_b.failures == 0 && on_cpu.failures == 0, family.name);
        CHECK_MSG(same(on_a, b_before[i]), family.name << ": the failed context now computes differently");
        CHECK_MSG(same(on_b, b_before[i]), family.name << ": another context changed");
        CHECK_MSG(same(on_cpu, cpu_before[i]), family.name << ": the CPU path changed");
        ++i;
    }
}

TEST_MAIN()
