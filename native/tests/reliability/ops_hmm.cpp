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
        Io io(ctx, out);  // per iteration: its tensors die with it (device copies too)
        sk_hmm_options o{sizeof(sk_hmm_options), s, SK_HMM_INITIAL_SEPARATE};
        HostTensor<T> z({batch}), gp({batch, steps, n, n}), gi({n}), gt({n, n}), ge({batch, steps, n}),
            marg({batch, steps, n});
        out.status(sk_hmm_edge_forward(ctx, &o, io.d(potentials), io.d(initial), io.d(lengths), io.d(z)), "sk_hmm_edge_forward");
        io.add(z);
        out.status(sk_hmm_edge_backward(ctx, &o, io.d(potentials), io.d(initial), io.d(lengths), io.d(grad), io.d(gp), io.d(gi)),
                   "sk_hmm_edge_backward");
        io.add(gp);
        io.add(gi);
        out.status(sk_hmm_factored_forward(ctx, &o, io.d(initial), io.d(transition), io.d(emission), io.d(lengths), io.d(z)),
                   "sk_hmm_factored_forward");
        io.add(z);
        out.status(sk_hmm_factored_backward(ctx, &o, io.d(initial), io.d(transition), io.d(emission), io.d(lengths), io.d(grad),
                                            io.d(gi), io.d(gt), io.d(ge)),
                   "sk_hmm_factored_backward");
        io.add(gi);
        io.add(gt);
        io.add(ge);
        out.status(sk_hmm_factored_marginals(ctx, &o, io.d(initial), io.d(transition), io.d(emission), io.d(lengths), io.d(marg),
                                             io.d(z)),
                   "sk_hmm_factored_marginals");
        io.add(marg);
        out.status(sk_hmm_edge_marginals(ctx, &o, io.d(potentials), io.d(initial), io.d(lengths), io.d(marg), nullptr),
                   "sk_hmm_edge_marginals");
        io.add(marg);
        if (s != SK_SEMIRING_MAX) continue;
        HostTensor<int32_t> path({batch, steps});
        out.status(sk_hmm_edge_viterbi(ctx, &o, io.d(potentials), io.d(initial), io.d(lengths), io.d(z), io.d(path)),
                   "sk_hmm_edge_viterbi");
        io.add(z);
        io.add(path);
        out.status(sk_hmm_factored_viterbi(ctx, &o, io.d(initial), io.d(transition), io.d(emission), io.d(lengths), io.d(z),
                                           io.d(path)),
                   "sk_hmm_factored_viterbi");
        io.add(z);
        io.add(path);
    }
}
}  // namespace

SK_RELIABILITY_OPS(hmm) {
    Outputs out;
    chains<float>(ctx, size, out);
    chains<double>(ctx, size, out);
    return out;
}
