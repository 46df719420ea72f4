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
        const auto o = matmul_options(s);
        const bool selection = s == SK_SEMIRING_MAX || s == SK_SEMIRING_MIN;
        HostTensor<T> c({batch, m, n});
        HostTensor<int32_t> argmax({batch, m, n});
        out.status(sk_semiring_matmul(ctx, &o, a.d(), b.d(), c.d(), selection ? argmax.d() : nullptr),
                   "sk_semiring_matmul");
        out.add(c);
        if (selection) out.add(argmax);
        if (s == SK_SEMIRING_BOOLEAN) continue;
        HostTensor<T> ga({batch, m, k}), gb({k, n});
        out.status(sk_semiring_matmul_backward(ctx, &o, a.d(), b.d(), c.d(), selection ? argmax.d() : nullptr,
                                               g.d(), ga.d(), gb.d()),
                   "sk_semiring_matmul_backward");
        out.add(ga);
        out.add(gb);
    }
}
}  // namespace

SK_RELIABILITY_OPS(matmul) {
    Outputs out;
    products<float>(ctx, size, out);
    products<double>(ctx, size, out);
    return out;
}
