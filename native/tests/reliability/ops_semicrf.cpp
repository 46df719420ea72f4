// Semi-CRF workload: LOG and MAX, forward / backward (every gradient, boundary scores included) /
// Viterbi / marginals / gold scores (segmentation and labelling) and their backward, static and
// duration-dependent transitions, float32 and float64, ragged lengths.
#include "reliability_ops.h"

using namespace sktest;
using namespace sktest::reliability;

namespace {
template <class T>
void segmentations(sk_context *ctx, int size, Outputs &out) {
    std::mt19937_64 rng(41 + sizeof(T));
    const int64_t batch = size ? 4 : 2, steps = size ? 96 : 6, labels = size ? 6 : 3, durations = size ? 12 : 3;
    auto scores = seeded<T>({batch, steps, labels}, rng, -1, 1);
    auto transition = seeded<T>({labels, labels}, rng, -1, 1);
    auto transition_k = seeded<T>({durations, labels, labels}, rng, -1, 1);
    auto duration = seeded<T>({durations, labels}, rng, -1, 1), start = seeded<T>({labels}, rng, -1, 1);
    auto proj_start = seeded<T>({batch, steps, labels}, rng, -0.5, 0.5);
    auto proj_end = seeded<T>({batch, steps, labels}, rng, -0.5, 0.5);
    auto grad = seeded<T>({batch}, rng, 0.5, 2);
    HostTensor<int64_t> lengths({batch});
    for (int64_t b = 0; b < batch; ++b) lengths.storage[static_cast<std::size_t>(b)] = steps - b % 3;
    // A random gold labelling (a run longer than K scores -inf: deterministic all the same).
    HostTensor<int32_t> gold_labels({batch, steps});
    std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(labels) - 1);
    for (auto &x : gold_labels.storage) x = label(rng);
    for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        for (HostTensor<T> *trans : {&transition, &transition_k}) {
            Io io(ctx, out);
            sk_semicrf_options o{};
            o.struct_size = sizeof(o);
            o.semiring = s;
            o.input = SK_SEMICRF_INPUT_SCORES;
            HostTensor<T> z({batch}), gs({batch, steps, labels}), gt(std::vector<int64_t>(trans->desc.shape, trans->desc.shape + trans->desc.rank)), gd({durations, labels}),
                gst({labels}), gps({batch, steps, labels}), gpe({batch, steps, labels}), boundary({batch, steps}),
                coverage({batch, steps, labels});
            out.status(sk_semicrf_forward(ctx, &o, io.d(scores), io.d(*trans), io.d(duration), io.d(start),
                                          io.d(proj_start), io.d(proj_end), io.d(lengths), io.d(z)),
                       "sk_semicrf_forward");
            io.add(z);
            out.status(sk_semicrf_backward(ctx, &o, io.d(scores), io.d(*trans), io.d(duration), io.d(start),
                                           io.d(proj_start), io.d(proj_end), io.d(lengths), io.d(grad), io.d(gs),
                                           io.d(gt), io.d(gd), io.d(gst), io.d(gps), io.d(gpe), io.d(z)),
                       "sk_semicrf_backward");
            for (auto *t : {&z, &gs, &gt, &gd, &gst, &gps, &gpe}) io.add(*t);
            out.status(sk_semicrf_marginals(ctx, &o, io.d(scores), io.d(*trans), io.d(duration), io.d(start),
                                            io.d(proj_start), io.d(proj_end), io.d(lengths), io.d(boundary),
                                            io.d(coverage), io.d(z)),
                       "sk_semicrf_marginals");
            io.add(boundary);
            io.add(coverage);
            out.status(sk_semicrf_gold_score(ctx, &o, io.d(scores), io.d(*trans), io.d(duration), io.d(start),
                                             io.d(proj_start), io.d(proj_end), io.d(lengths), nullptr, nullptr,
                                             io.d(gold_labels), io.d(z)),
                       "sk_semicrf_gold_score");
            io.add(z);
            out.status(sk_semicrf_gold_score_backward(ctx, &o, io.d(scores), io.d(*trans), io.d(duration), io.d(start),
                                                      io.d(proj_start), io.d(proj_end), io.d(lengths), nullptr,
                                                      nullptr, io.d(gold_labels), io.d(grad), io.d(gs), io.d(gt),
                                                      io.d(gd), io.d(gst), io.d(gps), io.d(gpe), io.d(z)),
                       "sk_semicrf_gold_score_backward");
            for (auto *t : {&z, &gs, &gt, &gd, &gst, &gps, &gpe}) io.add(*t);
            if (s != SK_SEMIRING_MAX) continue;
            HostTensor<int32_t> segments({batch, steps, 3}), counts({batch}), path({batch, steps});
            out.status(sk_semicrf_viterbi(ctx, &o, io.d(scores), io.d(*trans), io.d(duration), io.d(start),
                                          io.d(proj_start), io.d(proj_end), io.d(lengths), io.d(z), io.d(segments),
                                          io.d(counts), io.d(path)),
                       "sk_semicrf_viterbi");
            io.add(z);
            io.add(segments);
            io.add(counts);
            io.add(path);
            // The decoded segmentation scored as a gold segmentation.
            out.status(sk_semicrf_gold_score(ctx, &o, io.d(scores), io.d(*trans), io.d(duration), io.d(start),
                                             io.d(proj_start), io.d(proj_end), io.d(lengths), io.d(segments),
                                             io.d(counts), nullptr, io.d(z)),
                       "sk_semicrf_gold_score (segments)");
            io.add(z);
        }
    }
}
}  // namespace

SK_RELIABILITY_OPS(semicrf) {
    Outputs out;
    segmentations<float>(ctx, size, out);
    segmentations<double>(ctx, size, out);
    return out;
}
