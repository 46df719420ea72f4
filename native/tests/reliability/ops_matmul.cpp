// Matmul workload: forward (with argmax for MAX/MIN) and backward for every semiring that has
// one, float32 and float64, batched with a shared operand.
#include "reliability_ops.h"

using namespace sktest;
using namespace sktest::reliability;

namespace {
template <class T>
void products(sk_context *ctx, int size, Outputs &out) {
    std::mt19937_64 rng(11 + sizeof(T));
    const int64_t batch = size ? 3 : 2, m = size ? 48 : 3, k = size ? 40 : 4, n = size ? 36 : 2;
    auto a = seeded<T>({batch, m, k}, rng), b = seeded<T>({k, n}, rng), g = seeded<T>({batch, m, n}, rng);
    for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN, SK_SEMIRING_REAL, SK_SEMIRING_BOOLEAN}) {
        Io io(ctx, out);  // per iteration: its tensors die with it (device copies too)
        const auto o = matmul_options(s);
        const bool selection = s == SK_SEMIRING_MAX || s == SK_SEMIRING_MIN;
        HostTensor<T> c({batch, m, n});
        HostTensor<int32_t> argmax({batch, m, n});
        out.status(sk_semiring_matmul(ctx, &o, io.d(a), io.d(b), io.d(c), selection ? io.d(argmax) : nullptr),
                   "sk_semiring_matmul");
        io.add(c);
        if (selection) io.add(argmax);
        if (s == SK_SEMIRING_BOOLEAN) continue;
        HostTensor<T> ga({batch, m, k}), gb({k, n});
        out.status(sk_semiring_matmul_backward(ctx, &o, io.d(a), io.d(b), io.d(c), selection ? io.d(argmax) : nullptr,
                                               io.d(g), io.d(ga), io.d(gb)),
                   "sk_semiring_matmul_backward");
        io.add(ga);
        io.add(gb);
    }
}
}  // namespace

SK_RELIABILITY_OPS(matmul) {
    Outputs out;
    products<float>(ctx, size, out);
    products<double>(ctx, size, out);
    return out;
}
