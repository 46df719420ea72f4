// sk_bench configurations of the CTC family, on the sizes of the public anchors
// (../shared/anchors: torch.ctc_loss native and cuDNN, seqdist's CuPy loss).
//
// Inputs as the anchors draw them: logits ~ N(0, 1) of shape (T, B, C) (time-major, torch's
// layout), log_probs = log_softmax(logits) over C (computed on the host in float64), padded
// int64 targets (B, Lmax) with labels uniform in [1, C) (blank 0), target lengths uniform in
// [Lmin, Lmax], every input length = T; targets and lengths live on the context's device.
// Reduction SUM, upstream gradient 1. Phases:
//   fwd          sk_ctc_loss (loss only);
//   fwd+bwd      sk_ctc_loss_backward with the FUSED_LOGITS gradient and the loss output: one
//                call gives what torch's ctc_loss forward + backward give;
//   fused+bwd    sk_ctc_loss_fused_logits from the logits with their gradient (log-softmax
//                included, as seqdist's loss_cupy is timed);
//   align        sk_ctc_forced_align (path, token spans, frame scores, path score).
// The throughput column counts extended-state cells B T (2 Lmean + 1) per recursion pass
// (fwd 1, fwd+bwd 2, align 1) in Gcell/s.
#include <algorithm>

#include "bench.h"

namespace skbench {
namespace {

enum class CtcPhase { Forward, ForwardBackward, FusedForwardBackward, Align };

struct CtcConfig {
    CtcPhase phase;
    int32_t dtype;
    int64_t frames, batch, classes, min_label, max_label;
};

const char *phase_name(CtcPhase p) {
    switch (p) {
        case CtcPhase::Forward: return "fwd";
        case CtcPhase::ForwardBackward: return "fwd+bwd";
        case CtcPhase::FusedForwardBackward: return "fused+bwd";
        default: return "align";
    }
}

class CtcCase : public Case {
public:
    CtcCase(const CtcConfig &c, Context &ctx, bool rotate) : c_(c), ctx_(ctx) {
        options_.struct_size = sizeof(sk_ctc_options);
        options_.layout = SK_CTC_LAYOUT_TIME_MAJOR;
        options_.blank = 0;
        options_.reduction = SK_CTC_REDUCTION_SUM;
        options_.gradient = SK_CTC_GRADIENT_FUSED_LOGITS;
        const int64_t T = c.frames, B = c.batch, C = c.classes;
        const std::vector<int64_t> tbc{T, B, C};
        const size_t n = rotation_sets(rotate, double(T) * B * C * element_bytes(c.dtype));
        for (size_t s = 0; s < n; ++s) {
            FastRandom z(500 + 31 * s);
            std::vector<double> logits(static_cast<size_t>(T * B * C));
            for (auto &x : logits) x = z.normal();
            auto input = std::make_unique<DeviceTensor>(ctx, c.dtype, tbc);
            if (c.phase == CtcPhase::FusedForwardBackward)
                input->upload(logits);
            else
                input->upload(log_softmax_rows(logits, C));
            inputs_.push_back(std::move(input));
        }
        FastRandom r(77);
        std::vector<double> lengths(static_cast<size_t>(B)), targets(static_cast<size_t>(B * c.max_label));
        for (auto &l : lengths) l = double(c.min_label + static_cast<int64_t>(r.next() % uint64_t(c.max_label - c.min_label + 1)));
        for (auto &y : targets) y = double(1 + static_cast<int64_t>(r.next() % uint64_t(C - 1)));
        mean_label_ = 0;
        for (double l : lengths) mean_label_ += l / double(B);
        targets_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT64, std::vector<int64_t>{B, c.max_label});
        targets_->upload(targets);
        target_lengths_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT64, std::vector<int64_t>{B});
        target_lengths_->upload(lengths);
        input_lengths_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT64, std::vector<int64_t>{B});
        input_lengths_->fill([&](size_t) { return double(T); });
        loss_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{});
        grad_loss_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{});
        grad_loss_->fill([](size_t) { return 1.0; });
        switch (c.phase) {
            case CtcPhase::ForwardBackward:
            case CtcPhase::FusedForwardBackward:
                grad_ = std::make_unique<DeviceTensor>(ctx, c.dtype, tbc);
                break;
            case CtcPhase::Align:
                path_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT32, std::vector<int64_t>{B, T});
                spans_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT32, std::vector<int64_t>{B, c.max_label, 2});
                frame_scores_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B, T});
                score_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B});
                break;
            default: break;
        }
    }

    double mean_label() const { return mean_label_; }
    size_t sets() const override { return inputs_.size(); }

    void run(size_t s) override {
        sk_context *ctx = ctx_.ctx;
        sk_tensor *x = inputs_[s]->d(), *y = targets_->d(), *il = input_lengths_->d(), *tl = target_lengths_->d();
        switch (c_.phase) {
            case CtcPhase::Forward:
                check(sk_ctc_loss(ctx, &options_, x, y, il, tl, loss_->d()), "sk_ctc_loss");
                break;
            case CtcPhase::ForwardBackward:
                check(sk_ctc_loss_backward(ctx, &options_, x, y, il, tl, grad_loss_->d(), grad_->d(), loss_->d()),
                      "sk_ctc_loss_backward");
                break;
            case CtcPhase::FusedForwardBackward:
                check(sk_ctc_loss_fused_logits(ctx, &options_, x, y, il, tl, grad_loss_->d(), loss_->d(), grad_->d()),
                      "sk_ctc_loss_fused_logits");
                break;
            case CtcPhase::Align:
                check(sk_ctc_forced_align(ctx, &options_, x, y, il, tl, path_->d(), spans_->d(), frame_scores_->d(),
                                          score_->d()),
                      "sk_ctc_forced_align");
                break;
        }
    }

    Outputs outputs() override {
        ctx_.synchronize();
        Outputs o;
        if (c_.phase == CtcPhase::Align) {
            o.values.emplace_back("score", score_->values());
            o.values.emplace_back("frame_scores", frame_scores_->values());
            o.indices.emplace_back("path", path_->values());
            o.indices.emplace_back("spans", spans_->values());
        } else {
            o.values.emplace_back("loss", loss_->values());
            if (grad_) o.values.emplace_back("grad", grad_->values());
        }
        return o;
    }

private:
    static std::vector<double> log_softmax_rows(std::vector<double> v, int64_t n) {
        for (size_t row = 0; row < v.size(); row += static_cast<size_t>(n)) {
            double hi = -1e300, sum = 0;
            for (int64_t c = 0; c < n; ++c) hi = std::max(hi, v[row + size_t(c)]);
            for (int64_t c = 0; c < n; ++c) sum += std::exp(v[row + size_t(c)] - hi);
            const double lse = hi + std::log(sum);
            for (int64_t c = 0; c < n; ++c) v[row + size_t(c)] -= lse;
        }
        return v;
    }

    CtcConfig c_;
    Context &ctx_;
    sk_ctc_options options_{};
    double mean_label_ = 0;
    std::vector<std::unique_ptr<DeviceTensor>> inputs_;
    std::unique_ptr<DeviceTensor> targets_, target_lengths_, input_lengths_, loss_, grad_loss_, grad_, path_, spans_,
        frame_scores_, score_;
};

Spec make_spec(CtcPhase phase, int32_t dtype, int64_t T, int64_t B, int64_t C, int64_t Lmin, int64_t Lmax) {
    CtcConfig c{phase, dtype, T, B, C, Lmin, Lmax};
    Spec s;
    s.family = "ctc";
    s.phase = phase_name(phase);
    s.dtype = dtype;
    const std::string sizes = "T=" + std::to_string(T) + ",B=" + std::to_string(B) + ",C=" + std::to_string(C) +
                              ",L=" + std::to_string(Lmin) + "-" + std::to_string(Lmax);
    s.name = "ctc/" + sizes + "/" + dtype_name(dtype) + "/" + s.phase;
    s.params = "{\"T\":" + std::to_string(T) + ",\"B\":" + std::to_string(B) + ",\"C\":" + std::to_string(C) +
               ",\"Lmin\":" + std::to_string(Lmin) + ",\"Lmax\":" + std::to_string(Lmax) + "}";
    const double cells = double(B) * double(T) * double(Lmin + Lmax + 1);  // B T (2 Lmean + 1)
    s.work = (phase == CtcPhase::Forward || phase == CtcPhase::Align ? 1.0 : 2.0) * cells / 1e9;
    s.work_unit = "Gcell/s";
    s.tolerance = dtype == SK_DTYPE_FLOAT32 ? 1e-4 : 1e-10;
    s.make = [c](Context &ctx, bool rotate) { return std::make_unique<CtcCase>(c, ctx, rotate); };
    return s;
}

}  // namespace

std::vector<Spec> ctc_specs(bool quick) {
    struct Size {
        int64_t T, B, C, Lmin, Lmax;
    };
    const int64_t q = quick ? 4 : 1;
    const Size anchors[] = {{500 / q, 128 / q, 20, 80 / q, 100 / q},
                            {1000 / q, 64 / q, 64, 150 / q, 200 / q},
                            {2000 / q, 32 / q, 5, 300 / q, 400 / q}};
    std::vector<Spec> out;
    for (const Size &z : anchors) {
        out.push_back(make_spec(CtcPhase::Forward, SK_DTYPE_FLOAT32, z.T, z.B, z.C, z.Lmin, z.Lmax));
        out.push_back(make_spec(CtcPhase::ForwardBackward, SK_DTYPE_FLOAT32, z.T, z.B, z.C, z.Lmin, z.Lmax));
        out.push_back(make_spec(CtcPhase::FusedForwardBackward, SK_DTYPE_FLOAT32, z.T, z.B, z.C, z.Lmin, z.Lmax));
    }
    const Size &mid = anchors[1];
    out.push_back(make_spec(CtcPhase::Align, SK_DTYPE_FLOAT32, mid.T, mid.B, mid.C, mid.Lmin, mid.Lmax));
    out.push_back(make_spec(CtcPhase::ForwardBackward, SK_DTYPE_FLOAT64, mid.T, mid.B, mid.C, mid.Lmin, mid.Lmax));
    // Large alphabets (ASR vocabularies), as the anchors' CTC_LARGE_VOCAB runs.
    out.push_back(make_spec(CtcPhase::ForwardBackward, SK_DTYPE_FLOAT32, 800 / q, 64 / q, 1024, 50 / q, 150 / q));
    out.push_back(make_spec(CtcPhase::ForwardBackward, SK_DTYPE_FLOAT32, 1500 / q, 32 / q, 5000, 100 / q, 200 / q));
    // Long inputs (nanopore reads): T = 10^5 frames, a training step.
    out.push_back(make_spec(CtcPhase::ForwardBackward, SK_DTYPE_FLOAT32, 100000 / q / q, 2, 5, 2000 / q / q,
                            3000 / q / q));
    return out;
}

}  // namespace skbench
