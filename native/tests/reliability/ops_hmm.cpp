// HMM workload: edge and factored forms, LOG and MAX, forward / backward / marginals / Viterbi,
// float32 and float64, ragged lengths.
#include "reliability_ops.h"

using namespace sktest;
using namespace sktest::reliability;

namespace {
template <class T>
void chains(sk_context *ctx, int size, Outputs &out) {
    std::mt19937_64 rng(23 + sizeof(T));
    const int64_t batch = size ? 5 : 2, steps = size ? 64 : 4, n = size ? 24 : 3;
    auto potentials = seeded<T>({batch, steps, n, n}, rng);
    auto initial = seeded<T>({n}, rng), transition = seeded<T>({n, n}, rng);
    auto emission = seeded<T>({batch, steps, n}, rng), grad = seeded<T>({batch}, rng, 0.5, 2);
    HostTensor<int32_t> lengths({batch});
    for (int64_t b = 0; b < batch; ++b) lengths.storage[static_cast<std::size_t>(b)] = static_cast<int32_t>(steps - b % 3);
    for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        sk_hmm_options o{sizeof(sk_hmm_options), s, SK_HMM_INITIAL_SEPARATE};
        HostTensor<T> z({batch}), gp({batch, steps, n, n}), gi({n}), gt({n, n}), ge({batch, steps, n}),
            marg({batch, steps, n});
        out.status(sk_hmm_edge_forward(ctx, &o, potentials.d(), initial.d(), lengths.d(), z.d()), "sk_hmm_edge_forward");
        out.add(z);
        out.status(sk_hmm_edge_backward(ctx, &o, potentials.d(), initial.d(), lengths.d(), grad.d(), gp.d(), gi.d()),
                   "sk_hmm_edge_backward");
        out.add(gp);
        out.add(gi);
        out.status(sk_hmm_factored_forward(ctx, &o, initial.d(), transition.d(), emission.d(), lengths.d(), z.d()),
                   "sk_hmm_factored_forward");
        out.add(z);
        out.status(sk_hmm_factored_backward(ctx, &o, initial.d(), transition.d(), emission.d(), lengths.d(), grad.d(),
                                            gi.d(), gt.d(), ge.d()),
                   "sk_hmm_factored_backward");
        out.add(gi);
        out.add(gt);
        out.add(ge);
        out.status(sk_hmm_factored_marginals(ctx, &o, initial.d(), transition.d(), emission.d(), lengths.d(), marg.d(),
                                             z.d()),
                   "sk_hmm_factored_marginals");
        out.add(marg);
        out.status(sk_hmm_edge_marginals(ctx, &o, potentials.d(), initial.d(), lengths.d(), marg.d(), nullptr),
                   "sk_hmm_edge_marginals");
        out.add(marg);
        if (s != SK_SEMIRING_MAX) continue;
        HostTensor<int32_t> path({batch, steps});
        out.status(sk_hmm_edge_viterbi(ctx, &o, potentials.d(), initial.d(), lengths.d(), z.d(), path.d()),
                   "sk_hmm_edge_viterbi");
        out.add(z);
        out.add(path);
        out.status(sk_hmm_factored_viterbi(ctx, &o, initial.d(), transition.d(), emission.d(), lengths.d(), z.d(),
                                           path.d()),
                   "sk_hmm_factored_viterbi");
        out.add(z);
        out.add(path);
    }
}
}  // namespace

SK_RELIABILITY_OPS(hmm) {
    Outputs out;
    chains<float>(ctx, size, out);
    chains<double>(ctx, size, out);
    return out;
}
