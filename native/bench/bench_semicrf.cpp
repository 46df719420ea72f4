// sk_bench configurations of the streaming semi-CRF, on the sizes of the public anchor
// (flash-semicrf, ../shared/anchors): (B, T, K, C) = (4, 1024, 16, 12), (4, 10^4, 100, 24),
// (1, 10^5, 100, 24). Inputs: per-position scores (B, T, C) ~ 0.5 N(0, 1) (the library builds the
// float64 cumulative sums), static transition (C, C) and duration bias (K, C) ~ 0.1 N(0, 1), no
// start or boundary scores, every length = T (int64 on the device), upstream gradient 1.
// Phases: fwd (log partition), fwd-max (the MAX-semiring partition: the Viterbi score),
// viterbi (score + segments + label path), fwd+bwd (one backward call, which also writes the
// log-partition: the gradients w.r.t. scores, transition and duration bias).
// Throughput: cells B T (K C + C^2) of the factorised recursion per pass (fwd 1, fwd+bwd 3).
#include "bench.h"

namespace skbench {
namespace {

enum class CrfPhase { Forward, ForwardMax, Viterbi, ForwardBackward };

struct CrfConfig {
    CrfPhase phase;
    int32_t dtype;
    int64_t batch, length, durations, labels;
};

const char *phase_name(CrfPhase p) {
    switch (p) {
        case CrfPhase::Forward: return "fwd";
        case CrfPhase::ForwardMax: return "fwd-max";
        case CrfPhase::Viterbi: return "viterbi";
        default: return "fwd+bwd";
    }
}

class CrfCase : public Case {
public:
    CrfCase(const CrfConfig &c, Context &ctx, bool rotate) : c_(c), ctx_(ctx) {
        options_.struct_size = sizeof(sk_semicrf_options);
        options_.semiring = c.phase == CrfPhase::Forward || c.phase == CrfPhase::ForwardBackward ? SK_SEMIRING_LOG
                                                                                                 : SK_SEMIRING_MAX;
        options_.input = SK_SEMICRF_INPUT_SCORES;
        const int64_t B = c.batch, T = c.length, K = c.durations, C = c.labels;
        const size_t n = rotation_sets(rotate, double(B) * T * C * element_bytes(c.dtype));
        for (size_t s = 0; s < n; ++s) {
            FastRandom z(900 + 13 * s);
            auto scores = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B, T, C});
            scores->fill([&](size_t) { return 0.5 * z.normal(); });
            scores_.push_back(std::move(scores));
        }
        FastRandom z(77);
        transition_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{C, C});
        transition_->fill([&](size_t) { return 0.1 * z.normal(); });
        duration_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{K, C});
        duration_->fill([&](size_t) { return 0.1 * z.normal(); });
        lengths_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT64, std::vector<int64_t>{B});
        lengths_->fill([&](size_t) { return double(T); });
        score_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B});
        if (c.phase == CrfPhase::ForwardBackward) {
            grad_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B});
            grad_->fill([](size_t) { return 1.0; });
            grad_scores_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B, T, C});
            grad_transition_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{C, C});
            grad_duration_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{K, C});
        }
        if (c.phase == CrfPhase::Viterbi) {
            segments_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT32, std::vector<int64_t>{B, T, 3});
            counts_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT32, std::vector<int64_t>{B});
            path_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT32, std::vector<int64_t>{B, T});
        }
    }

    size_t sets() const override { return scores_.size(); }

    void run(size_t s) override {
        sk_tensor *x = scores_[s]->d();
        switch (c_.phase) {
            case CrfPhase::Forward:
            case CrfPhase::ForwardMax:
                check(sk_semicrf_forward(ctx_.ctx, &options_, x, transition_->d(), duration_->d(), nullptr, nullptr,
                                         nullptr, lengths_->d(), score_->d()),
                      "sk_semicrf_forward");
                break;
            case CrfPhase::Viterbi:
                check(sk_semicrf_viterbi(ctx_.ctx, &options_, x, transition_->d(), duration_->d(), nullptr, nullptr,
                                         nullptr, lengths_->d(), score_->d(), segments_->d(), counts_->d(),
                                         path_->d()),
                      "sk_semicrf_viterbi");
                break;
            case CrfPhase::ForwardBackward:
                check(sk_semicrf_backward(ctx_.ctx, &options_, x, transition_->d(), duration_->d(), nullptr, nullptr,
                                          nullptr, lengths_->d(), grad_->d(), grad_scores_->d(),
                                          grad_transition_->d(), grad_duration_->d(), nullptr, nullptr, nullptr,
                                          score_->d()),
                      "sk_semicrf_backward");
                break;
        }
    }

    Outputs outputs() override {
        ctx_.synchronize();
        Outputs o;
        o.values.emplace_back("score", score_->values());
        if (grad_scores_) {
            o.values.emplace_back("grad_scores", grad_scores_->values());
            o.values.emplace_back("grad_transition", grad_transition_->values());
            o.values.emplace_back("grad_duration_bias", grad_duration_->values());
        }
        if (path_) {
            o.indices.emplace_back("segment_counts", counts_->values());
            o.indices.emplace_back("label_path", path_->values());
        }
        return o;
    }

private:
    CrfConfig c_;
    Context &ctx_;
    sk_semicrf_options options_{};
    std::vector<std::unique_ptr<DeviceTensor>> scores_;
    std::unique_ptr<DeviceTensor> transition_, duration_, lengths_, score_, grad_, grad_scores_, grad_transition_,
        grad_duration_, segments_, counts_, path_;
};

Spec make_spec(CrfPhase phase, int32_t dtype, int64_t B, int64_t T, int64_t K, int64_t C) {
    CrfConfig c{phase, dtype, B, T, K, C};
    Spec s;
    s.family = "semicrf";
    s.phase = phase_name(phase);
    s.dtype = dtype;
    s.name = "semicrf/B=" + std::to_string(B) + ",T=" + std::to_string(T) + ",K=" + std::to_string(K) +
             ",C=" + std::to_string(C) + "/" + dtype_name(dtype) + "/" + s.phase;
    s.params = "{\"B\":" + std::to_string(B) + ",\"T\":" + std::to_string(T) + ",\"K\":" + std::to_string(K) +
               ",\"C\":" + std::to_string(C) + "}";
    s.work = (phase == CrfPhase::ForwardBackward ? 3.0 : 1.0) * double(B) * double(T) * double(K * C + C * C) / 1e9;
    s.work_unit = "Gcell/s";
    s.tolerance = dtype == SK_DTYPE_FLOAT32 ? 1e-4 : 1e-10;
    s.make = [c](Context &ctx, bool rotate) { return std::make_unique<CrfCase>(c, ctx, rotate); };
    return s;
}

}  // namespace

std::vector<Spec> semicrf_specs(bool quick) {
    struct Size {
        int64_t B, T, K, C;
    };
    const int64_t q = quick ? 10 : 1;
    const Size sizes[] = {{4, 1024 / q, 16, 12}, {4, 10000 / q, 100, 24}, {1, 100000 / q, 100, 24}};
    std::vector<Spec> out;
    for (const Size &z : sizes) {
        out.push_back(make_spec(CrfPhase::Forward, SK_DTYPE_FLOAT32, z.B, z.T, z.K, z.C));
        out.push_back(make_spec(CrfPhase::ForwardMax, SK_DTYPE_FLOAT32, z.B, z.T, z.K, z.C));
        if (z.T <= 10000) out.push_back(make_spec(CrfPhase::ForwardBackward, SK_DTYPE_FLOAT32, z.B, z.T, z.K, z.C));
    }
    out.push_back(make_spec(CrfPhase::Viterbi, SK_DTYPE_FLOAT32, 4, 10000 / q, 100, 24));
    return out;
}

}  // namespace skbench
