// sk_bench configurations of the HMM family, on the sizes of the public anchors
// (../shared/anchors: hmm-backprop, torch-struct LinearChainCRF and a plain PyTorch loop, all on
// edge potentials (B, T, N, N) with the initial vector in row 0 of potentials[:, 0]).
//
// Inputs: potentials = -z1^2 + log_softmax_j(z2) as the anchors draw them (z approximately
// standard normal), factored emissions = -z^2, transition = log_softmax(z) by row, initial =
// log_softmax(z); every length = T (as the anchors), int64 on the context's device; upstream
// gradient 1. Phases: fwd = one forward call; fwd+bwd = the forward call and the backward call
// (gradients of every input), as a training step; viterbi = score + path; marginals = posterior
// state marginals + log-partition. GFLOP/s-equivalent counts 2 B T N^2 per recursion pass
// (fwd 1 pass, fwd+bwd 3, viterbi 1, marginals 2).
#include <algorithm>

#include "bench.h"

namespace skbench {
namespace {

enum class Form { Edge, Factored };
enum class HmmPhase { Forward, ForwardBackward, Viterbi, Marginals };

struct HmmConfig {
    Form form;
    HmmPhase phase;
    int32_t dtype;
    int64_t batch, states, length;
};

const char *phase_name(HmmPhase p) {
    switch (p) {
        case HmmPhase::Forward: return "fwd";
        case HmmPhase::ForwardBackward: return "fwd+bwd";
        case HmmPhase::Viterbi: return "viterbi";
        default: return "marginals";
    }
}

double passes(HmmPhase p) {
    switch (p) {
        case HmmPhase::ForwardBackward: return 3;
        case HmmPhase::Marginals: return 2;
        default: return 1;
    }
}

// log_softmax over the last axis (extent n) of independent normal rows, for element e.
class LogSoftmaxRows {
public:
    LogSoftmaxRows(int64_t n, uint64_t seed) : n_(n), rng_(seed) {}
    double operator()(size_t e) {
        const size_t j = e % static_cast<size_t>(n_);
        if (j == 0) draw_row();
        return row_[j];
    }

private:
    void draw_row() {
        row_.resize(static_cast<size_t>(n_));
        double hi = -1e300, sum = 0;
        for (auto &x : row_) hi = std::max(hi, x = rng_.normal());
        for (double x : row_) sum += std::exp(x - hi);
        const double lse = hi + std::log(sum);
        for (auto &x : row_) x -= lse;
    }
    int64_t n_;
    FastRandom rng_;
    std::vector<double> row_;
};

class HmmCase : public Case {
public:
    HmmCase(const HmmConfig &c, Context &ctx, bool rotate) : c_(c), ctx_(ctx) {
        options_.struct_size = sizeof(sk_hmm_options);
        options_.semiring = c.phase == HmmPhase::Viterbi ? SK_SEMIRING_MAX : SK_SEMIRING_LOG;
        options_.initial_convention = c.form == Form::Edge ? SK_HMM_INITIAL_ROW0 : SK_HMM_INITIAL_SEPARATE;
        const int64_t B = c.batch, T = c.length, N = c.states;
        const double elements = c.form == Form::Edge ? double(B) * T * N * N : double(B) * T * N + N * N + N;
        const size_t n = rotation_sets(rotate, elements * static_cast<double>(element_bytes(c.dtype)));
        for (size_t s = 0; s < n; ++s) {
            const uint64_t seed = 1000 + 17 * s;
            if (c.form == Form::Edge) {
                auto p = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B, T, N, N});
                FastRandom z(seed);
                LogSoftmaxRows rows(N, seed + 1);
                p->fill([&](size_t e) {
                    const double z1 = z.normal();
                    return -z1 * z1 + rows(e);
                });
                first_.push_back(std::move(p));
            } else {
                auto init = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{N});
                auto trans = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{N, N});
                auto emission = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B, T, N});
                LogSoftmaxRows init_rows(N, seed), trans_rows(N, seed + 1);
                FastRandom z(seed + 2);
                init->fill(init_rows);
                trans->fill(trans_rows);
                emission->fill([&](size_t) {
                    const double z1 = z.normal();
                    return -z1 * z1;
                });
                first_.push_back(std::move(init));
                transition_.push_back(std::move(trans));
                emission_.push_back(std::move(emission));
            }
        }
        lengths_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT64, std::vector<int64_t>{B});
        lengths_->fill([&](size_t) { return static_cast<double>(T); });
        grad_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B});
        grad_->fill([](size_t) { return 1.0; });
        score_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B});
        switch (c.phase) {
            case HmmPhase::ForwardBackward:
                if (c.form == Form::Edge) {
                    grad_first_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B, T, N, N});
                } else {
                    grad_first_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{N});
                    grad_transition_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{N, N});
                    grad_emission_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B, T, N});
                }
                break;
            case HmmPhase::Viterbi:
                path_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT32, std::vector<int64_t>{B, T});
                break;
            case HmmPhase::Marginals:
                marginals_ = std::make_unique<DeviceTensor>(ctx, c.dtype, std::vector<int64_t>{B, T, N});
                break;
            default: break;
        }
    }

    size_t sets() const override { return first_.size(); }

    void run(size_t s) override {
        const bool edge = c_.form == Form::Edge;
        sk_context *ctx = ctx_.ctx;
        sk_tensor *first = first_[s]->d();
        sk_tensor *trans = edge ? nullptr : transition_[s]->d();
        sk_tensor *emission = edge ? nullptr : emission_[s]->d();
        switch (c_.phase) {
            case HmmPhase::Forward:
                if (edge)
                    check(sk_hmm_edge_forward(ctx, &options_, first, nullptr, lengths_->d(), score_->d()),
                          "sk_hmm_edge_forward");
                else
                    check(sk_hmm_factored_forward(ctx, &options_, first, trans, emission, lengths_->d(), score_->d()),
                          "sk_hmm_factored_forward");
                break;
            case HmmPhase::ForwardBackward:
                if (edge) {
                    check(sk_hmm_edge_forward(ctx, &options_, first, nullptr, lengths_->d(), score_->d()),
                          "sk_hmm_edge_forward");
                    check(sk_hmm_edge_backward(ctx, &options_, first, nullptr, lengths_->d(), grad_->d(),
                                               grad_first_->d(), nullptr),
                          "sk_hmm_edge_backward");
                } else {
                    check(sk_hmm_factored_forward(ctx, &options_, first, trans, emission, lengths_->d(), score_->d()),
                          "sk_hmm_factored_forward");
                    check(sk_hmm_factored_backward(ctx, &options_, first, trans, emission, lengths_->d(), grad_->d(),
                                                   grad_first_->d(), grad_transition_->d(), grad_emission_->d()),
                          "sk_hmm_factored_backward");
                }
                break;
            case HmmPhase::Viterbi:
                if (edge)
                    check(sk_hmm_edge_viterbi(ctx, &options_, first, nullptr, lengths_->d(), score_->d(), path_->d()),
                          "sk_hmm_edge_viterbi");
                else
                    check(sk_hmm_factored_viterbi(ctx, &options_, first, trans, emission, lengths_->d(), score_->d(),
                                                  path_->d()),
                          "sk_hmm_factored_viterbi");
                break;
            case HmmPhase::Marginals:
                if (edge)
                    check(sk_hmm_edge_marginals(ctx, &options_, first, nullptr, lengths_->d(), marginals_->d(),
                                                score_->d()),
                          "sk_hmm_edge_marginals");
                else
                    check(sk_hmm_factored_marginals(ctx, &options_, first, trans, emission, lengths_->d(),
                                                    marginals_->d(), score_->d()),
                          "sk_hmm_factored_marginals");
                break;
        }
    }

    Outputs outputs() override {
        ctx_.synchronize();
        Outputs o;
        o.values.emplace_back("score", score_->values());
        if (grad_first_) o.values.emplace_back(c_.form == Form::Edge ? "grad_potentials" : "grad_initial", grad_first_->values());
        if (grad_transition_) o.values.emplace_back("grad_transition", grad_transition_->values());
        if (grad_emission_) o.values.emplace_back("grad_emission", grad_emission_->values());
        if (marginals_) o.values.emplace_back("marginals", marginals_->values());
        if (path_) o.indices.emplace_back("path", path_->values());
        return o;
    }

private:
    HmmConfig c_;
    Context &ctx_;
    sk_hmm_options options_{};
    // Edge: first_ holds the potentials; factored: the initial vector, plus transition/emission.
    std::vector<std::unique_ptr<DeviceTensor>> first_, transition_, emission_;
    std::unique_ptr<DeviceTensor> lengths_, grad_, score_, grad_first_, grad_transition_, grad_emission_, path_,
        marginals_;
};

Spec make_spec(Form form, HmmPhase phase, int32_t dtype, int64_t B, int64_t N, int64_t T) {
    HmmConfig c{form, phase, dtype, B, N, T};
    Spec s;
    s.family = "hmm";
    s.phase = phase_name(phase);
    s.dtype = dtype;
    const std::string form_name = form == Form::Edge ? "edge" : "factored";
    s.name = "hmm/" + form_name + "/B=" + std::to_string(B) + ",N=" + std::to_string(N) + ",T=" + std::to_string(T) +
             "/" + dtype_name(dtype) + "/" + s.phase;
    s.params = "{\"form\":\"" + form_name + "\",\"B\":" + std::to_string(B) + ",\"N\":" + std::to_string(N) +
               ",\"T\":" + std::to_string(T) + "}";
    s.work = 2.0 * passes(phase) * double(B) * double(T) * double(N) * double(N) / 1e9;
    s.work_unit = "GFLOP/s-eq";
    // float32 results on two devices differ by rounding of the normalised recursion; the
    // gradients of a T-step chain are compared with a relative Frobenius norm.
    s.tolerance = dtype == SK_DTYPE_FLOAT32 ? 1e-4 : 1e-10;
    s.make = [c](Context &ctx, bool rotate) { return std::make_unique<HmmCase>(c, ctx, rotate); };
    return s;
}

}  // namespace

std::vector<Spec> hmm_specs(bool quick) {
    std::vector<Spec> out;
    const int64_t scale = quick ? 10 : 1;
    const int64_t big_n = quick ? 64 : 256;
    // The anchors' edge-potential configurations (hmm-backprop's row-0 initial convention).
    for (int64_t T : {100, 1000, 3000}) {
        out.push_back(make_spec(Form::Edge, HmmPhase::Forward, SK_DTYPE_FLOAT32, 8, 50, std::max<int64_t>(T / scale, 2)));
        out.push_back(
            make_spec(Form::Edge, HmmPhase::ForwardBackward, SK_DTYPE_FLOAT32, 8, 50, std::max<int64_t>(T / scale, 2)));
    }
    out.push_back(make_spec(Form::Edge, HmmPhase::Forward, SK_DTYPE_FLOAT32, 32, big_n, 1000 / scale));
    out.push_back(make_spec(Form::Edge, HmmPhase::ForwardBackward, SK_DTYPE_FLOAT32, 32, big_n, 1000 / scale));
    out.push_back(make_spec(Form::Edge, HmmPhase::Viterbi, SK_DTYPE_FLOAT32, 8, 50, 1000 / scale));
    out.push_back(make_spec(Form::Edge, HmmPhase::ForwardBackward, SK_DTYPE_FLOAT64, 8, 50, 1000 / scale));
    // The factored form (init, transition, emission): the same sizes without the B T N^2 tensor.
    out.push_back(make_spec(Form::Factored, HmmPhase::Forward, SK_DTYPE_FLOAT32, 8, 50, 1000 / scale));
    out.push_back(make_spec(Form::Factored, HmmPhase::ForwardBackward, SK_DTYPE_FLOAT32, 8, 50, 1000 / scale));
    out.push_back(make_spec(Form::Factored, HmmPhase::Forward, SK_DTYPE_FLOAT32, 32, big_n, 1000 / scale));
    out.push_back(make_spec(Form::Factored, HmmPhase::ForwardBackward, SK_DTYPE_FLOAT32, 32, big_n, 1000 / scale));
    out.push_back(make_spec(Form::Factored, HmmPhase::Marginals, SK_DTYPE_FLOAT32, 32, big_n, 1000 / scale));
    out.push_back(make_spec(Form::Factored, HmmPhase::Viterbi, SK_DTYPE_FLOAT32, 32, big_n, 1000 / scale));
    // Long sequences: streaming forward and a training step at T = 10^5.
    out.push_back(make_spec(Form::Factored, HmmPhase::Forward, SK_DTYPE_FLOAT32, 4, 64, 100000 / scale / scale));
    out.push_back(make_spec(Form::Factored, HmmPhase::ForwardBackward, SK_DTYPE_FLOAT32, 4, 64, 100000 / scale / scale));
    return out;
}

}  // namespace skbench
