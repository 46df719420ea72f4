// libFuzzer harness of the CTC family: sk_ctc_loss, sk_ctc_loss_backward,
// sk_ctc_loss_fused_logits, sk_ctc_forced_align and sk_ctc_posteriors with fuzzed descriptors,
// labels, lengths and options (see fuzz_common.h).
#include <cstddef>

#include "fuzz_common.h"

using skfuzz::Fuzz;
using skfuzz::TensorPlan;

namespace {

sk_ctc_options *ctc_options(Fuzz &f, int64_t classes) {
    auto *o = f.options<sk_ctc_options>();
    if (!o) return o;
    if (f.field(offsetof(sk_ctc_options, layout))) o->layout = f.code(SK_CTC_LAYOUT_TIME_MAJOR, SK_CTC_LAYOUT_BATCH_MAJOR);
    if (f.field(offsetof(sk_ctc_options, blank)))
        o->blank = f.coin(4) ? f.code(0, static_cast<int32_t>(classes) - 1) : 0;
    if (f.field(offsetof(sk_ctc_options, reduction))) o->reduction = f.code(SK_CTC_REDUCTION_NONE, SK_CTC_REDUCTION_MEAN);
    if (f.field(offsetof(sk_ctc_options, zero_infinity))) o->zero_infinity = f.code(0, 1);
    if (f.field(offsetof(sk_ctc_options, gradient)))
        o->gradient = f.code(SK_CTC_GRADIENT_LOG_PROBS, SK_CTC_GRADIENT_FUSED_LOGITS);
    if (f.field(offsetof(sk_ctc_options, reserved))) o->reserved = f.coin(16) ? 7 : 0;
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    Fuzz f(data, size);
    sk_context *ctx = f.context();
    const int op = static_cast<int>(f.small(0, 4));
    const int64_t steps = f.small(0, 6), batch = f.small(0, 3), classes = f.small(1, 5),
                  longest = f.small(0, 4);
    const int32_t dtype = f.coin(2) ? SK_DTYPE_FLOAT32 : SK_DTYPE_FLOAT64;
    sk_ctc_options *options = ctc_options(f, classes);
    const bool batch_major = options && f.field(offsetof(sk_ctc_options, layout)) &&
                             options->layout == SK_CTC_LAYOUT_BATCH_MAJOR;
    const bool scalar_loss = options && f.field(offsetof(sk_ctc_options, reduction)) &&
                             options->reduction != SK_CTC_REDUCTION_NONE;
    const std::vector<int64_t> frames = batch_major ? std::vector<int64_t>{batch, steps, classes}
                                                    : std::vector<int64_t>{steps, batch, classes};
    const std::vector<int64_t> loss_shape = !scalar_loss ? std::vector<int64_t>{batch}
                                            : f.coin(2)  ? std::vector<int64_t>{}
                                                         : std::vector<int64_t>{1};

    sk_tensor *scores = f.tensor({op == 2 ? "logits" : "log_probs", dtype, frames});
    const int32_t label_type = f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64;
    TensorPlan targets{"targets", label_type,
                       f.coin(2) ? std::vector<int64_t>{batch, longest} : std::vector<int64_t>{f.small(0, batch * longest)}};
    targets.lo = 1;
    targets.hi = classes - 1;
    TensorPlan input_lengths{"input_lengths", f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64, {batch}};
    input_lengths.hi = steps;
    TensorPlan target_lengths{"target_lengths", f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64, {batch}};
    target_lengths.hi = longest;
    sk_tensor *labels = f.tensor(targets), *in_lengths = f.tensor(input_lengths),
              *tgt_lengths = f.tensor(target_lengths);

    switch (op) {
        case 0: {
            sk_tensor *loss = f.tensor({"loss", dtype, loss_shape, true});
            skfuzz::call(f, "sk_ctc_loss", ctx, [&] {
                return sk_ctc_loss(ctx, options, scores, labels, in_lengths, tgt_lengths, loss);
            });
            break;
        }
        case 1: {
            sk_tensor *grad_loss = f.tensor({"grad_loss", dtype, loss_shape});
            sk_tensor *grad = f.tensor({"grad_log_probs", dtype, frames, true});
            sk_tensor *loss = f.tensor({"loss", dtype, loss_shape, true, true});
            skfuzz::call(f, "sk_ctc_loss_backward", ctx, [&] {
                return sk_ctc_loss_backward(ctx, options, scores, labels, in_lengths, tgt_lengths, grad_loss,
                                            grad, loss);
            });
            break;
        }
        case 2: {
            sk_tensor *grad_loss = f.tensor({"grad_loss", dtype, loss_shape, false, true});
            sk_tensor *loss = f.tensor({"loss", dtype, loss_shape, true});
            sk_tensor *grad = f.tensor({"grad_logits", dtype, frames, true, true});
            skfuzz::call(f, "sk_ctc_loss_fused_logits", ctx, [&] {
                return sk_ctc_loss_fused_logits(ctx, options, scores, labels, in_lengths, tgt_lengths,
                                                grad_loss, loss, grad);
            });
            break;
        }
        case 3: {
            sk_tensor *path = f.tensor({"path", SK_DTYPE_INT32, {batch, steps}, true});
            sk_tensor *spans = f.tensor({"spans", SK_DTYPE_INT32, {batch, longest + f.small(0, 1), 2}, true, true});
            sk_tensor *frame_scores = f.tensor({"frame_scores", dtype, {batch, steps}, true, true});
            sk_tensor *score = f.tensor({"score", dtype, {batch}, true, true});
            skfuzz::call(f, "sk_ctc_forced_align", ctx, [&] {
                return sk_ctc_forced_align(ctx, options, scores, labels, in_lengths, tgt_lengths, path, spans,
                                           frame_scores, score);
            });
            break;
        }
        default: {
            sk_tensor *posteriors =
                f.tensor({"posteriors", dtype, {batch, steps, 2 * longest + 1 + f.small(0, 1)}, true});
            skfuzz::call(f, "sk_ctc_posteriors", ctx, [&] {
                return sk_ctc_posteriors(ctx, options, scores, labels, in_lengths, tgt_lengths, posteriors);
            });
            break;
        }
    }
    return 0;
}
