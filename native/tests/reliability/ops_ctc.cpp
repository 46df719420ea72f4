// CTC workload: loss (every reduction), backward (both gradient kinds), fused log-softmax,
// forced alignment and posteriors, float32 and float64, padded targets with ragged lengths.
#include <cmath>

#include "reliability_ops.h"

using namespace sktest;
using namespace sktest::reliability;

namespace {
template <class T>
void sequences(sk_context *ctx, int size, Outputs &out) {
    std::mt19937_64 rng(37 + sizeof(T));
    const int64_t steps = size ? 80 : 6, batch = size ? 4 : 2, classes = size ? 12 : 4, longest = size ? 20 : 2;
    auto logits = seeded<T>({steps, batch, classes}, rng);
    HostTensor<T> log_probs({steps, batch, classes});
    for (int64_t t = 0; t < steps * batch; ++t) {  // log-softmax over the classes
        double m = -INFINITY, sum = 0;
        for (int64_t c = 0; c < classes; ++c) m = std::max(m, double(logits.storage[t * classes + c]));
        for (int64_t c = 0; c < classes; ++c) sum += std::exp(double(logits.storage[t * classes + c]) - m);
        for (int64_t c = 0; c < classes; ++c)
            log_probs.storage[t * classes + c] = static_cast<T>(logits.storage[t * classes + c] - m - std::log(sum));
    }
    HostTensor<int64_t> targets({batch, longest}), input_lengths({batch}), target_lengths({batch});
    std::uniform_int_distribution<int64_t> label(1, classes - 1);
    for (auto &x : targets.storage) x = label(rng);
    for (int64_t b = 0; b < batch; ++b) {
        input_lengths.storage[b] = steps - b;
        target_lengths.storage[b] = longest - b % 2;
    }
    for (int32_t reduction : {SK_CTC_REDUCTION_NONE, SK_CTC_REDUCTION_SUM, SK_CTC_REDUCTION_MEAN}) {
        for (int32_t gradient : {SK_CTC_GRADIENT_LOG_PROBS, SK_CTC_GRADIENT_FUSED_LOGITS}) {
            Io io(ctx, out);  // per iteration: its tensors die with it (device copies too)
            sk_ctc_options o{};
            o.struct_size = sizeof o;
            o.reduction = reduction;
            o.gradient = gradient;
            const std::vector<int64_t> loss_shape = reduction == SK_CTC_REDUCTION_NONE ? std::vector<int64_t>{batch}
                                                                                       : std::vector<int64_t>{};
            HostTensor<T> loss(loss_shape), grad_loss(loss_shape, T(1)), grad({steps, batch, classes});
            out.status(sk_ctc_loss(ctx, &o, io.d(log_probs), io.d(targets), io.d(input_lengths), io.d(target_lengths), io.d(loss)),
                       "sk_ctc_loss");
            io.add(loss);
            out.status(sk_ctc_loss_backward(ctx, &o, io.d(log_probs), io.d(targets), io.d(input_lengths), io.d(target_lengths),
                                            io.d(grad_loss), io.d(grad), io.d(loss)),
                       "sk_ctc_loss_backward");
            io.add(grad);
            io.add(loss);
            out.status(sk_ctc_loss_fused_logits(ctx, &o, io.d(logits), io.d(targets), io.d(input_lengths), io.d(target_lengths),
                                                io.d(grad_loss), io.d(loss), io.d(grad)),
                       "sk_ctc_loss_fused_logits");
            io.add(grad);
            io.add(loss);
        }
    }
    Io io(ctx, out);
    sk_ctc_options o{};
    o.struct_size = sizeof o;
    HostTensor<int32_t> path({batch, steps}), spans({batch, longest, 2});
    HostTensor<T> frame_scores({batch, steps}), score({batch}), posteriors({batch, steps, 2 * longest + 1});
    out.status(sk_ctc_forced_align(ctx, &o, io.d(log_probs), io.d(targets), io.d(input_lengths), io.d(target_lengths), io.d(path),
                                   io.d(spans), io.d(frame_scores), io.d(score)),
               "sk_ctc_forced_align");
    io.add(path);
    io.add(spans);
    io.add(frame_scores);
    io.add(score);
    out.status(sk_ctc_posteriors(ctx, &o, io.d(log_probs), io.d(targets), io.d(input_lengths), io.d(target_lengths),
                                 io.d(posteriors)),
               "sk_ctc_posteriors");
    io.add(posteriors);
}
}  // namespace

SK_RELIABILITY_OPS(ctc) {
    Outputs out;
    sequences<float>(ctx, size, out);
    sequences<double>(ctx, size, out);
    return out;
}
