// Semiring einsum workload: a batched matmul, a three-operand contraction, a diagonal with
// broadcasting, each over real, log, max and min, forward (with argmax for max/min) and backward,
// float32 and float64. Plans are compiled per run (part of the workload).
#include <string>

#include "reliability_ops.h"

using namespace sktest;
using namespace sktest::reliability;

namespace {
struct Equation {
    const char *text;
    std::vector<std::vector<int64_t>> shapes;
};

template <class T>
void contractions(sk_context *ctx, int size, Outputs &out) {
    std::mt19937_64 rng(59 + sizeof(T));
    const int64_t b = size ? 3 : 2, n = size ? 40 : 3, m = size ? 24 : 2;
    const std::vector<Equation> equations = {
        {"bij,bjk->bik", {{b, n, m}, {b, m, n}}},
        {"bi,bij,bj->b", {{b, n}, {b, n, m}, {b, m}}},
        {"...ii,i->...i", {{b, 1, n, n}, {n}}},
    };
    for (const Equation &e : equations) {
        std::vector<HostTensor<T>> operands;
        for (const auto &shape : e.shapes) operands.push_back(seeded<T>(shape, rng, -2, 2));
        for (int32_t s : {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN}) {
            Io io(ctx, out);
            sk_einsum_options o{};
            o.struct_size = sizeof(o);
            o.semiring = s;
            std::vector<int32_t> ranks;
            std::vector<int64_t> extents;
            for (const auto &shape : e.shapes) {
                ranks.push_back(static_cast<int32_t>(shape.size()));
                extents.insert(extents.end(), shape.begin(), shape.end());
            }
            sk_einsum_plan *plan = nullptr;
            out.status(sk_einsum_plan_create(e.text, static_cast<int32_t>(e.shapes.size()), ranks.data(),
                                             extents.data(), &o, &plan),
                       (std::string("sk_einsum_plan_create ") + e.text).c_str());
            if (!plan) continue;
            int32_t rank = 0, summed = 0;
            int64_t shape[SK_MAX_RANK] = {};
            out.status(sk_einsum_plan_output_shape(plan, &rank, shape), "sk_einsum_plan_output_shape");
            out.status(sk_einsum_plan_summed_count(plan, &summed), "sk_einsum_plan_summed_count");
            std::vector<int64_t> out_shape(shape, shape + rank), arg_shape = out_shape;
            arg_shape.push_back(summed);
            const bool tropical = s == SK_SEMIRING_MAX || s == SK_SEMIRING_MIN;
            HostTensor<T> result(out_shape), grad_out = seeded<T>(out_shape, rng, 0.5, 2);
            HostTensor<int64_t> argmax(arg_shape);
            std::vector<HostTensor<T>> grads;
            for (const auto &shape_i : e.shapes) grads.emplace_back(shape_i);
            std::vector<const sk_tensor *> ins;
            for (auto &t : operands) ins.push_back(io.d(t));
            std::vector<sk_tensor *> gs;
            for (auto &g : grads) gs.push_back(io.d(g));
            out.status(sk_einsum_forward(ctx, plan, ins.data(), io.d(result), tropical ? io.d(argmax) : nullptr),
                       "sk_einsum_forward");
            io.add(result);
            if (tropical) io.add(argmax);
            out.status(sk_einsum_backward(ctx, plan, ins.data(), io.d(result), tropical ? io.d(argmax) : nullptr,
                                          io.d(grad_out), gs.data()),
                       "sk_einsum_backward");
            for (auto &g : grads) io.add(g);
            sk_einsum_plan_destroy(plan);
        }
    }
}
}  // namespace

SK_RELIABILITY_OPS(einsum) {
    Outputs out;
    contractions<float>(ctx, size, out);
    contractions<double>(ctx, size, out);
    return out;
}
