// libFuzzer harness of the batched semiring matmul: sk_semiring_matmul and
// sk_semiring_matmul_backward with fuzzed descriptors and options (see fuzz_common.h).
#include <cstddef>

#include "fuzz_common.h"

using skfuzz::Fuzz;
using skfuzz::TensorPlan;

namespace {

sk_matmul_options *matmul_options(Fuzz &f) {
    auto *o = f.options<sk_matmul_options>();
    if (!o) return o;
    if (f.field(offsetof(sk_matmul_options, semiring))) o->semiring = f.code(SK_SEMIRING_LOG, SK_SEMIRING_BOOLEAN);
    if (f.field(offsetof(sk_matmul_options, reserved))) o->reserved = f.coin(16) ? 1 : 0;
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    Fuzz f(data, size);
    sk_context *ctx = f.context();
    const bool backward = f.coin(2);
    sk_matmul_options *options = matmul_options(f);
    const int32_t dtype = f.coin(2) ? SK_DTYPE_FLOAT32 : SK_DTYPE_FLOAT64;
    const int64_t batch = f.small(1, 3), m = f.small(0, 5), k = f.small(0, 5), n = f.small(0, 5);
    const bool batched_a = f.coin(2), batched_b = f.coin(2);
    auto shape3 = [&](bool batched, bool shared, int64_t rows, int64_t cols) {
        return batched ? std::vector<int64_t>{shared ? 1 : batch, rows, cols}
                       : std::vector<int64_t>{rows, cols};
    };
    const std::vector<int64_t> a_shape = shape3(batched_a, f.coin(4), m, k);
    const std::vector<int64_t> b_shape = shape3(batched_b, f.coin(4), k, n);
    const std::vector<int64_t> c_shape = shape3(batched_a || batched_b, false, m, n);

    sk_tensor *a = f.tensor({"a", dtype, a_shape});
    sk_tensor *b = f.tensor({"b", dtype, b_shape});
    if (!backward) {
        sk_tensor *c = f.tensor({"c", dtype, c_shape, true});
        sk_tensor *argmax = f.tensor({"argmax", SK_DTYPE_INT32, c_shape, true, true});
        skfuzz::call(f, "sk_semiring_matmul", ctx,
                     [&] { return sk_semiring_matmul(ctx, options, a, b, c, argmax); });
        return 0;
    }
    sk_tensor *c = f.tensor({"c", dtype, c_shape, false, true});
    TensorPlan argmax_plan{"argmax", SK_DTYPE_INT32, c_shape, false, true};
    argmax_plan.lo = -1;
    argmax_plan.hi = k - 1;
    sk_tensor *argmax = f.tensor(argmax_plan);
    sk_tensor *grad_c = f.tensor({"grad_c", dtype, c_shape});
    sk_tensor *grad_a = f.tensor({"grad_a", dtype, a_shape, true, true});
    sk_tensor *grad_b = f.tensor({"grad_b", dtype, b_shape, true, true});
    skfuzz::call(f, "sk_semiring_matmul_backward", ctx, [&] {
        return sk_semiring_matmul_backward(ctx, options, a, b, c, argmax, grad_c, grad_a, grad_b);
    });
    return 0;
}
