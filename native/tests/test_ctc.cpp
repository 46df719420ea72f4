// CTC on the CPU: loss, both gradient forms, posteriors and forced alignment against brute-force
// enumeration of every alignment (tiny sizes, all layouts and index types, random blank),
// finite differences, torch's semantics (repeats, empty targets, infeasible targets,
// zero_infinity, reductions, NaN padding), the fused log-softmax entry point, determinism
// across thread counts, and the large sizes the API promises (C = 10^4, L = 2000, T = 10^5).
#include <cstring>

#include "ctc_reference.h"

using namespace sktest;

namespace {

template <class T>
constexpr Ld tol_of() {
    return std::is_same_v<T, float> ? Ld(2e-5) : Ld(1e-11);
}

// Everything the library returns for one case with reduction none and upstream gradient g.
template <class T>
struct Outputs {
    HostTensor<T> loss, grad_true, grad_fused, posteriors, frame_scores, score, loss_from_backward;
    HostTensor<int32_t> path, spans;
};

template <class T>
Outputs<T> run_everything(sk_context *ctx, const CtcCase &k, const CtcForm &f, HostTensor<T> &upstream,
                          int32_t zero_infinity = 0) {
    Outputs<T> out;
    auto x = make_log_probs<T>(k, f);
    auto idx = make_index_tensors(k, f);
    const int64_t W = 2 * k.max_target() + 1;
    out.loss = HostTensor<T>({k.B}, T(123));
    out.loss_from_backward = HostTensor<T>({k.B}, T(123));
    out.grad_true = like_log_probs<T>(k, f, T(123));
    out.grad_fused = like_log_probs<T>(k, f, T(123));
    out.posteriors = HostTensor<T>({k.B, k.T, W + 1}, T(123));
    out.path = HostTensor<int32_t>({k.B, k.T}, 123);
    out.spans = HostTensor<int32_t>({k.B, k.max_target() + 1, 2}, 123);
    out.frame_scores = HostTensor<T>({k.B, k.T}, T(123));
    out.score = HostTensor<T>({k.B}, T(123));
    auto o = ctc_options(k, f, SK_CTC_REDUCTION_NONE, SK_CTC_GRADIENT_LOG_PROBS, zero_infinity);
    CHECK_OK(sk_ctc_loss(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), out.loss.d()));
    CHECK_OK(sk_ctc_loss_backward(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                                  upstream.d(), out.grad_true.d(), out.loss_from_backward.d()));
    o.gradient = SK_CTC_GRADIENT_FUSED_LOGITS;
    CHECK_OK(sk_ctc_loss_backward(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                                  upstream.d(), out.grad_fused.d(), nullptr));
    CHECK_OK(sk_ctc_posteriors(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                               out.posteriors.d()));
    CHECK_OK(sk_ctc_forced_align(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                                 out.path.d(), out.spans.d(), out.frame_scores.d(), out.score.d()));
    return out;
}

bool close_ld(Ld x, Ld want, Ld tol) { return close(x, want, tol, tol); }

// Spans implied by a path (torchaudio's merge_tokens, with label positions from the states).
void check_spans_against_path(const std::vector<int32_t> &path, const std::vector<int32_t> &y, int32_t blank,
                              HostTensor<int32_t> &spans, int64_t b, const std::string &label) {
    std::vector<std::pair<int32_t, int32_t>> runs;  // [start, end) of maximal non-blank runs of equal class
    for (int32_t t = 0; t < static_cast<int32_t>(path.size()); ++t) {
        if (path[static_cast<size_t>(t)] == blank) continue;
        if (t > 0 && path[static_cast<size_t>(t - 1)] == path[static_cast<size_t>(t)])
            runs.back().second = t + 1;
        else
            runs.emplace_back(t, t + 1);
    }
    CHECK_MSG(runs.size() == y.size(), label << ": path has " << runs.size() << " tokens, target " << y.size());
    for (size_t j = 0; j < runs.size() && j < y.size(); ++j) {
        CHECK_MSG(spans.at({b, static_cast<int64_t>(j), 0}) == runs[j].first &&
                      spans.at({b, static_cast<int64_t>(j), 1}) == runs[j].second,
                  label << ": span " << j << " is [" << spans.at({b, static_cast<int64_t>(j), 0}) << ", "
                        << spans.at({b, static_cast<int64_t>(j), 1}) << ") want [" << runs[j].first << ", "
                        << runs[j].second << ")");
    }
    for (int64_t j = static_cast<int64_t>(y.size()); j < spans.desc.shape[1]; ++j)
        CHECK(spans.at({b, j, 0}) == -1 && spans.at({b, j, 1}) == -1);
}

// Compares every output of run_everything with brute force.
template <class T>
void check_against_brute(sk_context *ctx, const CtcCase &k, const CtcForm &f, std::mt19937_64 &rng,
                         const std::string &label) {
    HostTensor<T> g({k.B});
    fill_uniform(g, rng, -2, 2);
    auto out = run_everything<T>(ctx, k, f, g);
    const Ld tol = tol_of<T>();
    for (int64_t b = 0; b < k.B; ++b) {
        const BruteResult r = brute_force(k, b);
        const int64_t Tb = k.input_length[static_cast<size_t>(b)];
        const auto &y = k.targets[static_cast<size_t>(b)];
        const int64_t S = 2 * static_cast<int64_t>(y.size()) + 1;
        const bool feasible = r.log_z != -kInf;
        const std::string where = label + " b=" + std::to_string(b);
        CHECK_MSG(close_ld(out.loss.storage[static_cast<size_t>(b)], -r.log_z, tol),
                  where << ": loss " << out.loss.storage[static_cast<size_t>(b)] << " want " << static_cast<double>(-r.log_z));
        CHECK_MSG(out.loss_from_backward.storage[static_cast<size_t>(b)] == out.loss.storage[static_cast<size_t>(b)],
                  where << ": backward's loss differs from the forward's");
        const Ld u = g.storage[static_cast<size_t>(b)];
        for (int64_t t = 0; t < k.T; ++t)
            for (int64_t c = 0; c < k.C; ++c) {
                Ld want_true = 0, want_fused = 0;
                if (t < Tb && feasible) {
                    const Ld gamma = r.class_post[static_cast<size_t>(t * k.C + c)];
                    want_true = -u * gamma;
                    want_fused = u * (std::exp(k.at(b, t, c)) - gamma);
                }
                const Ld got_true = lp_at(out.grad_true, f, t, b, c), got_fused = lp_at(out.grad_fused, f, t, b, c);
                CHECK_MSG(close_ld(got_true, want_true, tol), where << " grad(t=" << t << ",c=" << c << ") "
                                                                    << static_cast<double>(got_true) << " want "
                                                                    << static_cast<double>(want_true));
                CHECK_MSG(close_ld(got_fused, want_fused, tol), where << " fused grad(t=" << t << ",c=" << c << ") "
                                                                      << static_cast<double>(got_fused) << " want "
                                                                      << static_cast<double>(want_fused));
            }
        for (int64_t t = 0; t < k.T; ++t)
            for (int64_t s = 0; s < out.posteriors.desc.shape[2]; ++s) {
                const Ld want = (t < Tb && s < S && feasible) ? r.state_post[static_cast<size_t>(t * S + s)] : 0;
                CHECK_MSG(close_ld(out.posteriors.at({b, t, s}), want, tol),
                          where << " posterior(t=" << t << ",s=" << s << ") " << out.posteriors.at({b, t, s})
                                << " want " << static_cast<double>(want));
            }
        // Viterbi: the best alignment (unique with these random inputs) and its score.
        if (!feasible) {
            for (int64_t t = 0; t < k.T; ++t) CHECK(out.path.at({b, t}) == -1 && out.frame_scores.at({b, t}) == T(0));
            CHECK(out.score.storage[static_cast<size_t>(b)] == -std::numeric_limits<T>::infinity());
            for (int64_t j = 0; j < out.spans.desc.shape[1]; ++j) CHECK(out.spans.at({b, j, 0}) == -1);
            continue;
        }
        CHECK_MSG(close_ld(out.score.storage[static_cast<size_t>(b)], r.best, tol),
                  where << ": viterbi score " << out.score.storage[static_cast<size_t>(b)] << " want " << static_cast<double>(r.best));
        std::vector<int32_t> path;
        for (int64_t t = 0; t < Tb; ++t) path.push_back(out.path.at({b, t}));
        if (r.best_count == 1) CHECK_MSG(path == r.best_path, where << ": viterbi path differs from brute force");
        for (int64_t t = 0; t < k.T; ++t) {
            if (t >= Tb) {
                CHECK(out.path.at({b, t}) == -1 && out.frame_scores.at({b, t}) == T(0));
                continue;
            }
            CHECK(out.frame_scores.at({b, t}) == static_cast<T>(static_cast<T>(k.at(b, t, out.path.at({b, t})))));
        }
        check_spans_against_path(path, y, k.blank, out.spans, b, where);
    }
}

CtcCase random_case(std::mt19937_64 &rng, int64_t B, int64_t T, int64_t C, int64_t max_L, int32_t blank) {
    CtcCase k;
    k.T = T;
    k.B = B;
    k.C = C;
    k.blank = blank;
    std::uniform_int_distribution<int64_t> len(0, max_L), frames(0, T);
    for (int64_t b = 0; b < B; ++b) {
        k.targets.push_back(random_target(rng, len(rng), C, blank));
        k.input_length.push_back(b == 0 ? T : frames(rng));
    }
    random_log_probs(k, rng);
    return k;
}

}  // namespace

TEST(brute_force_every_output_every_form) {
    Context ctx;
    std::mt19937_64 rng(7);
    int cases = 0;
    for (int rep = 0; rep < 12; ++rep) {
        const int64_t C = 2 + rep % 3, T = 1 + rep % 5;
        std::uniform_int_distribution<int32_t> blank_pick(0, static_cast<int32_t>(C - 1));
        const CtcCase k = random_case(rng, 4, T, C, 3, blank_pick(rng));
        for (int form = 0; form < 16; ++form) {
            CtcForm f;
            f.batch_major = form & 1;
            f.concatenated = form & 2;
            f.int64_targets = form & 4;
            f.int64_lengths = form & 8;
            f.class_pad = form % 3;
            const std::string label = "rep " + std::to_string(rep) + " form " + std::to_string(form);
            if (form % 2 == 0)
                check_against_brute<double>(ctx, k, f, rng, label + " f64");
            else
                check_against_brute<float>(ctx, k, f, rng, label + " f32");
            ++cases;
        }
    }
    CHECK(cases == 12 * 16);
}

TEST(brute_force_longer_sequences_and_repeats) {
    Context ctx;
    std::mt19937_64 rng(11);
    for (int rep = 0; rep < 6; ++rep) {
        CtcCase k;
        k.T = 7;
        k.B = 3;
        k.C = 3;
        k.blank = rep % 3;
        // all-identical labels, a repeat, a single label
        const int32_t a = (k.blank + 1) % 3, c = (k.blank + 2) % 3;
        k.targets = {{a, a, a}, {a, c, c}, {c}};
        k.input_length = {7, 6, 1};
        random_log_probs(k, rng);
        CtcForm f;
        f.batch_major = rep % 2;
        check_against_brute<double>(ctx, k, f, rng, "repeats rep " + std::to_string(rep));
    }
}

// Finite differences of sum_b g_b loss_b w.r.t. log_probs (true gradient), unnormalised inputs.
TEST(finite_differences_log_probs) {
    Context ctx;
    std::mt19937_64 rng(3);
    CtcCase k = random_case(rng, 3, 9, 5, 4, 2);
    k.input_length = {9, 8, 6};
    for (auto &row : k.lp)
        for (auto &v : row) v += 0.3L;  // not normalised: the true gradient does not care
    CtcForm f;
    HostTensor<double> g({k.B});
    fill_uniform(g, rng, -1.5, 1.5);
    auto x = make_log_probs<double>(k, f);
    auto idx = make_index_tensors(k, f);
    auto grad = like_log_probs<double>(k, f, 0.0);
    auto o = ctc_options(k, f);
    CHECK_OK(sk_ctc_loss_backward(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), g.d(),
                                  grad.d(), nullptr));
    auto weighted = [&](HostTensor<double> &input) {
        HostTensor<double> loss({k.B});
        CHECK_OK(sk_ctc_loss(ctx, &o, input.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), loss.d()));
        Ld total = 0;
        for (int64_t b = 0; b < k.B; ++b) total += Ld(g.storage[static_cast<size_t>(b)]) * loss.storage[static_cast<size_t>(b)];
        return total;
    };
    const double h = 1e-5;
    Ld worst = 0;
    for (int64_t t = 0; t < k.T; ++t)
        for (int64_t b = 0; b < k.B; ++b)
            for (int64_t c = 0; c < k.C; ++c) {
                auto plus = x, minus = x;
                lp_at(plus, f, t, b, c) += h;
                lp_at(minus, f, t, b, c) -= h;
                const Ld fd = (weighted(plus) - weighted(minus)) / (2 * h);
                worst = std::max(worst, std::fabs(fd - lp_at(grad, f, t, b, c)));
            }
    CHECK_MSG(worst < 1e-7, "finite differences differ by " << static_cast<double>(worst));
}

// The fused entry point: loss and gradient w.r.t. logits against log_softmax + brute force, and
// finite differences through the softmax.
TEST(fused_logits_matches_log_softmax_and_finite_differences) {
    Context ctx;
    std::mt19937_64 rng(5);
    for (int32_t reduction : {SK_CTC_REDUCTION_NONE, SK_CTC_REDUCTION_SUM, SK_CTC_REDUCTION_MEAN}) {
        CtcCase logits = random_case(rng, 3, 5, 4, 2, 1);
        for (auto &row : logits.lp)
            for (auto &v : row) v = v * 1.7L + 0.4L;  // unnormalised logits
        CtcCase norm = logits;  // log_softmax of the logits
        for (int64_t b = 0; b < norm.B; ++b)
            for (int64_t t = 0; t < norm.T; ++t) {
                Ld s = 0;
                for (int64_t c = 0; c < norm.C; ++c) s += std::exp(logits.at(b, t, c));
                for (int64_t c = 0; c < norm.C; ++c) norm.at(b, t, c) = logits.at(b, t, c) - std::log(s);
            }
        CtcForm f;
        f.batch_major = reduction == SK_CTC_REDUCTION_SUM;
        auto x = make_log_probs<double>(logits, f, NAN);  // NaN past the lengths must not leak
        auto idx = make_index_tensors(logits, f);
        auto o = ctc_options(logits, f, reduction);
        const bool none = reduction == SK_CTC_REDUCTION_NONE;
        HostTensor<double> g = none ? HostTensor<double>({logits.B}) : scalar<double>(0.75);
        if (none) fill_uniform(g, rng, -1, 1);
        HostTensor<double> loss = none ? HostTensor<double>({logits.B}) : scalar<double>(0);
        auto grad = like_log_probs<double>(logits, f, 9.0);
        CHECK_OK(sk_ctc_loss_fused_logits(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                                          g.d(), loss.d(), grad.d()));
        // reference from brute force on the normalised problem
        Ld total = 0;
        for (int64_t b = 0; b < norm.B; ++b) {
            const BruteResult r = brute_force(norm, b);
            const int64_t L = static_cast<int64_t>(norm.targets[static_cast<size_t>(b)].size());
            const Ld lb = -r.log_z;
            if (none) CHECK(close_ld(loss.storage[static_cast<size_t>(b)], lb, 1e-11L));
            total += reduction == SK_CTC_REDUCTION_MEAN ? lb / std::max<int64_t>(L, 1) : lb;
            Ld u = none ? Ld(g.storage[static_cast<size_t>(b)]) : Ld(0.75);
            if (reduction == SK_CTC_REDUCTION_MEAN) u /= Ld(norm.B) * std::max<int64_t>(L, 1);
            for (int64_t t = 0; t < norm.T; ++t)
                for (int64_t c = 0; c < norm.C; ++c) {
                    const bool in = t < norm.input_length[static_cast<size_t>(b)] && r.log_z != -kInf;
                    const Ld want = in ? u * (std::exp(norm.at(b, t, c)) - r.class_post[static_cast<size_t>(t * norm.C + c)]) : 0;
                    CHECK_MSG(close_ld(lp_at(grad, f, t, b, c), want, 1e-11L),
                              "fused logits grad b=" << b << " t=" << t << " c=" << c << ": " << lp_at(grad, f, t, b, c)
                                                     << " want " << static_cast<double>(want));
                }
        }
        if (reduction == SK_CTC_REDUCTION_MEAN) total /= norm.B;
        if (!none) CHECK_MSG(close_ld(loss.storage[0], total, 1e-11L), "reduced fused loss " << loss.storage[0]);
        // finite differences w.r.t. the logits (at valid frames)
        auto objective = [&](HostTensor<double> &input) {
            HostTensor<double> l = none ? HostTensor<double>({logits.B}) : scalar<double>(0);
            CHECK_OK(sk_ctc_loss_fused_logits(ctx, &o, input.d(), idx.targets(), idx.input_lengths(),
                                              idx.target_lengths(), nullptr, l.d(), nullptr));
            Ld s = 0;
            for (size_t i = 0; i < l.storage.size(); ++i) s += Ld(g.storage[i]) * l.storage[i];
            return s;
        };
        Ld worst = 0;
        for (int64_t b = 0; b < logits.B; ++b)
            for (int64_t t = 0; t < logits.input_length[static_cast<size_t>(b)]; ++t)
                for (int64_t c = 0; c < logits.C; ++c) {
                    auto plus = x, minus = x;
                    lp_at(plus, f, t, b, c) += 1e-5;
                    lp_at(minus, f, t, b, c) -= 1e-5;
                    const Ld fd = (objective(plus) - objective(minus)) / 2e-5;
                    if (std::isfinite(static_cast<double>(fd))) worst = std::max(worst, std::fabs(fd - lp_at(grad, f, t, b, c)));
                }
        CHECK_MSG(worst < 1e-7, "fused logits finite differences differ by " << static_cast<double>(worst));
    }
}

TEST(torch_semantics_edge_cases) {
    Context ctx;
    std::mt19937_64 rng(9);
    CtcCase k;
    k.T = 4;
    k.C = 3;
    k.blank = 0;
    // 0: repeat [1,1] in T=2 -> impossible; 1: [1,1] in T=3 -> feasible; 2: empty target;
    // 3: empty target, zero frames; 4: non-empty target, zero frames; 5: longer than T.
    k.targets = {{1, 1}, {1, 1}, {}, {}, {2}, {1, 2, 1, 2, 1}};
    k.input_length = {2, 3, 4, 0, 0, 4};
    k.B = 6;
    random_log_probs(k, rng);
    CtcForm f;
    auto x = make_log_probs<double>(k, f, NAN);
    auto idx = make_index_tensors(k, f);
    HostTensor<double> loss({k.B}), g({k.B}, 1.0);
    auto o = ctc_options(k, f);
    CHECK_OK(sk_ctc_loss(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), loss.d()));
    const double inf = std::numeric_limits<double>::infinity();
    CHECK_EQ(loss.storage[0], inf);
    CHECK(std::isfinite(loss.storage[1]));
    CHECK(close_ld(loss.storage[1], -reference_dp(k, 1).log_z, 1e-12L));
    Ld blank_sum = 0;
    for (int64_t t = 0; t < 4; ++t) blank_sum += k.at(2, t, 0);
    CHECK(close_ld(loss.storage[2], -blank_sum, 1e-12L));
    CHECK_EQ(loss.storage[3], 0.0);
    CHECK_EQ(loss.storage[4], inf);
    CHECK_EQ(loss.storage[5], inf);
    // gradients: zero for the impossible sequences, in both forms, with and without zero_infinity
    for (int32_t zi : {0, 1})
        for (int32_t form : {SK_CTC_GRADIENT_LOG_PROBS, SK_CTC_GRADIENT_FUSED_LOGITS}) {
            auto oz = ctc_options(k, f, SK_CTC_REDUCTION_NONE, form, zi);
            auto grad = like_log_probs<double>(k, f, 5.0);
            HostTensor<double> l2({k.B});
            CHECK_OK(sk_ctc_loss_backward(ctx, &oz, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                                          g.d(), grad.d(), l2.d()));
            for (int64_t b : {0, 4, 5}) {
                CHECK_EQ(l2.storage[static_cast<size_t>(b)], zi ? 0.0 : inf);
                for (int64_t t = 0; t < k.T; ++t)
                    for (int64_t c = 0; c < k.C; ++c) CHECK_EQ(lp_at(grad, f, t, b, c), 0.0);
            }
            for (double v : grad.storage) CHECK(std::isfinite(v));  // NaN padding never leaks
            // empty target: gradient only on blank
            for (int64_t t = 0; t < 4; ++t) {
                const double want_blank = form == SK_CTC_GRADIENT_LOG_PROBS ? -1.0 : std::exp(static_cast<double>(k.at(2, t, 0))) - 1.0;
                CHECK(std::fabs(lp_at(grad, f, t, 2, 0) - want_blank) < 1e-12);
            }
        }
    // reductions: sum has inf; with zero_infinity sum and mean skip the impossible sequences
    auto reduced = [&](int32_t reduction, int32_t zi) {
        auto orr = ctc_options(k, f, reduction, SK_CTC_GRADIENT_LOG_PROBS, zi);
        HostTensor<double> s = scalar<double>(-1);
        CHECK_OK(sk_ctc_loss(ctx, &orr, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), s.d()));
        return s.storage[0];
    };
    CHECK_EQ(reduced(SK_CTC_REDUCTION_SUM, 0), inf);
    CHECK_EQ(reduced(SK_CTC_REDUCTION_MEAN, 0), inf);
    CHECK(std::fabs(reduced(SK_CTC_REDUCTION_SUM, 1) - (loss.storage[1] + loss.storage[2])) < 1e-12);
    // mean: divide by max(L, 1) (2 for seq 1, 1 for the empty seq 2), then by B = 6
    CHECK(std::fabs(reduced(SK_CTC_REDUCTION_MEAN, 1) - (loss.storage[1] / 2 + loss.storage[2]) / 6) < 1e-12);
}

// Upstream gradients of the reductions: sum gives g to every sequence, mean g / (B max(L, 1)).
TEST(reduction_backward_scales_upstream) {
    Context ctx;
    std::mt19937_64 rng(21);
    const CtcCase k = random_case(rng, 4, 6, 4, 3, 0);
    CtcForm f;
    auto x = make_log_probs<double>(k, f);
    auto idx = make_index_tensors(k, f);
    HostTensor<double> ones({k.B}, 1.0);
    auto o = ctc_options(k, f);
    auto base = like_log_probs<double>(k, f, 0.0);
    CHECK_OK(sk_ctc_loss_backward(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), ones.d(),
                                  base.d(), nullptr));
    for (int32_t reduction : {SK_CTC_REDUCTION_SUM, SK_CTC_REDUCTION_MEAN}) {
        auto orr = ctc_options(k, f, reduction);
        auto g = scalar<double>(-2.5);
        auto grad = like_log_probs<double>(k, f, 7.0);
        HostTensor<double> loss = scalar<double>(0), none({k.B});
        CHECK_OK(sk_ctc_loss_backward(ctx, &orr, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                                      g.d(), grad.d(), loss.d()));
        CHECK_OK(sk_ctc_loss(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), none.d()));
        Ld total = 0;
        for (int64_t b = 0; b < k.B; ++b) {
            const Ld L = std::max<Ld>(1, static_cast<Ld>(k.targets[static_cast<size_t>(b)].size()));
            const Ld scale = reduction == SK_CTC_REDUCTION_SUM ? Ld(-2.5) : Ld(-2.5) / (Ld(k.B) * L);
            total += reduction == SK_CTC_REDUCTION_SUM ? Ld(none.storage[static_cast<size_t>(b)]) : none.storage[static_cast<size_t>(b)] / L;
            for (int64_t t = 0; t < k.T; ++t)
                for (int64_t c = 0; c < k.C; ++c)
                    CHECK(close_ld(lp_at(grad, f, t, b, c), scale * lp_at(base, f, t, b, c), 1e-12L));
        }
        if (reduction == SK_CTC_REDUCTION_MEAN) total /= k.B;
        CHECK(close_ld(loss.storage[0], total, 1e-12L));
    }
    // a scalar may also be passed as shape [1]
    auto orr = ctc_options(k, f, SK_CTC_REDUCTION_SUM);
    HostTensor<double> one({1}, 0.0);
    CHECK_OK(sk_ctc_loss(ctx, &orr, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), one.d()));
    CHECK(std::isfinite(one.storage[0]));
}

// Time-major, batch-major, strided class rows, padded or concatenated targets, int32 or int64:
// bitwise identical results.
TEST(layouts_and_index_types_are_bitwise_identical) {
    Context ctx;
    std::mt19937_64 rng(13);
    const CtcCase k = random_case(rng, 5, 12, 6, 5, 3);
    HostTensor<float> g({k.B});
    fill_uniform(g, rng, -1, 1);
    CtcForm ref_form;
    auto ref = run_everything<float>(ctx, k, ref_form, g);
    for (int form = 1; form < 16; ++form) {
        CtcForm f;
        f.batch_major = form & 1;
        f.concatenated = form & 2;
        f.int64_targets = form & 4;
        f.int64_lengths = form & 8;
        f.class_pad = form % 3;
        auto out = run_everything<float>(ctx, k, f, g);
        CHECK_MSG(out.loss.storage == ref.loss.storage, "form " << form << " loss differs");
        for (int64_t t = 0; t < k.T; ++t)
            for (int64_t b = 0; b < k.B; ++b)
                for (int64_t c = 0; c < k.C; ++c) {
                    CHECK(lp_at(out.grad_true, f, t, b, c) == lp_at(ref.grad_true, ref_form, t, b, c));
                    CHECK(lp_at(out.grad_fused, f, t, b, c) == lp_at(ref.grad_fused, ref_form, t, b, c));
                }
        CHECK_MSG(out.posteriors.storage == ref.posteriors.storage, "form " << form << " posteriors differ");
        CHECK_MSG(out.path.storage == ref.path.storage, "form " << form << " path differs");
        CHECK(out.spans.storage == ref.spans.storage);
        CHECK(out.score.storage == ref.score.storage);
    }
}

TEST(results_do_not_depend_on_thread_count) {
    std::mt19937_64 rng(17);
    const CtcCase k = random_case(rng, 9, 40, 7, 12, 0);
    HostTensor<float> g({k.B});
    fill_uniform(g, rng, -1, 1);
    CtcForm f;
    Context one, many;
    CHECK_OK(sk_context_set_num_threads(one, 1));
    CHECK_OK(sk_context_set_num_threads(many, 4));
    auto a = run_everything<float>(one, k, f, g);
    auto b = run_everything<float>(many, k, f, g);
    auto c = run_everything<float>(many, k, f, g);
    for (auto *o : {&b, &c}) {
        CHECK(std::memcmp(a.loss.storage.data(), o->loss.storage.data(), a.loss.storage.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(a.grad_true.storage.data(), o->grad_true.storage.data(), a.grad_true.storage.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(a.grad_fused.storage.data(), o->grad_fused.storage.data(), a.grad_fused.storage.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(a.posteriors.storage.data(), o->posteriors.storage.data(), a.posteriors.storage.size() * sizeof(float)) == 0);
        CHECK(a.path.storage == o->path.storage);
    }
}

// torchaudio's tie rule on fully tied inputs (every class equally likely: every alignment has
// the same score), against a transcription of torchaudio's recursion.
TEST(viterbi_ties_follow_torchaudio) {
    Context ctx;
    for (int64_t T : {3, 5, 8}) {
        CtcCase k;
        k.T = T;
        k.C = 4;
        k.B = 4;
        k.blank = 0;
        k.targets = {{1, 2}, {2, 2}, {3}, {1, 3, 1}};
        k.input_length = {T, T, T, T};
        k.lp.assign(4, std::vector<Ld>(static_cast<size_t>(T * 4), std::log(Ld(0.25))));
        CtcForm f;
        auto x = make_log_probs<double>(k, f);
        auto idx = make_index_tensors(k, f);
        HostTensor<int32_t> path({k.B, k.T});
        HostTensor<double> score({k.B});
        auto o = ctc_options(k, f);
        CHECK_OK(sk_ctc_forced_align(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), path.d(),
                                     nullptr, nullptr, score.d()));
        for (int64_t b = 0; b < k.B; ++b) {
            Ld want_score;
            const auto want = reference_viterbi(k, b, &want_score);
            std::vector<int32_t> got;
            for (int64_t t = 0; t < T; ++t) got.push_back(path.at({b, t}));
            if (want.empty()) {
                for (int32_t v : got) CHECK_EQ(v, -1);
                CHECK_EQ(score.storage[static_cast<size_t>(b)], -std::numeric_limits<double>::infinity());
            } else {
                CHECK_MSG(got == want, "T=" << T << " b=" << b << ": tie broken differently from torchaudio");
                CHECK(close_ld(score.storage[static_cast<size_t>(b)], want_score, 1e-12L));
            }
        }
    }
}

// Random cases against the transcription of torchaudio as well (not only brute force).
TEST(viterbi_matches_torchaudio_transcription) {
    Context ctx;
    std::mt19937_64 rng(23);
    for (int rep = 0; rep < 5; ++rep) {
        const CtcCase k = random_case(rng, 6, 30, 5, 10, static_cast<int32_t>(rep % 5));
        CtcForm f;
        f.batch_major = rep % 2;
        auto x = make_log_probs<float>(k, f);
        auto idx = make_index_tensors(k, f);
        HostTensor<int32_t> path({k.B, k.T});
        auto o = ctc_options(k, f);
        CHECK_OK(sk_ctc_forced_align(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), path.d(),
                                     nullptr, nullptr, nullptr));
        for (int64_t b = 0; b < k.B; ++b) {
            Ld unused;
            // the reference sees the float-rounded inputs
            CtcCase rounded = k;
            for (auto &row : rounded.lp)
                for (auto &v : row) v = static_cast<float>(v);
            const auto want = reference_viterbi(rounded, b, &unused);
            for (int64_t t = 0; t < k.input_length[static_cast<size_t>(b)]; ++t)
                CHECK_EQ(path.at({b, t}), want.empty() ? -1 : want[static_cast<size_t>(t)]);
        }
    }
}

// A problem restricted to the classes one sequence uses (blank first, then its distinct labels),
// read back from a float tensor: the reference for alphabets too large to enumerate.
struct Compressed {
    CtcCase k;
    std::vector<int32_t> classes;  // compressed index -> original class
};

Compressed compress(HostTensor<float> &x, const CtcForm &f, int64_t b, int64_t frames,
                    const std::vector<int32_t> &y, int32_t blank) {
    Compressed z;
    z.classes.push_back(blank);
    std::vector<int32_t> mapped;
    for (int32_t c : y) {
        auto it = std::find(z.classes.begin(), z.classes.end(), c);
        if (it == z.classes.end()) it = z.classes.insert(z.classes.end(), c);
        mapped.push_back(static_cast<int32_t>(it - z.classes.begin()));
    }
    z.k.T = frames;
    z.k.B = 1;
    z.k.C = static_cast<int64_t>(z.classes.size());
    z.k.blank = 0;
    z.k.targets = {mapped};
    z.k.input_length = {frames};
    z.k.lp.assign(1, std::vector<Ld>(static_cast<size_t>(frames * z.k.C)));
    for (int64_t t = 0; t < frames; ++t)
        for (int64_t i = 0; i < z.k.C; ++i) z.k.at(0, t, i) = lp_at(x, f, t, b, z.classes[static_cast<size_t>(i)]);
    return z;
}

// The sizes the API promises: C = 10^4 classes and a 2000-label target (its backward keeps
// only checkpoints and recomputes segments).
TEST(large_alphabet_long_target) {
    Context ctx;
    std::mt19937_64 rng(29);
    const int64_t T = 2300, B = 2, C = 10000;
    const int32_t blank = 9999;
    const std::vector<std::vector<int32_t>> targets = {random_target(rng, 2000, C, blank, 0.05),
                                                       random_target(rng, 700, C, blank, 0.5)};
    const std::vector<int64_t> frames = {2300, 1500};
    CtcCase shape;  // lengths and targets only (the log-probs live in the float tensor)
    shape.T = T;
    shape.B = B;
    shape.C = C;
    shape.blank = blank;
    shape.targets = targets;
    shape.input_length = frames;
    CtcForm f;
    HostTensor<float> x({T, B, C});
    std::uniform_real_distribution<double> u(-1, 1);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t) {
            for (int64_t c = 0; c < C; ++c) lp_at(x, f, t, b, c) = static_cast<float>(-12 + u(rng));
            const auto &y = targets[static_cast<size_t>(b)];
            const auto n = static_cast<int64_t>(y.size());
            const int64_t guess = std::min<int64_t>(n - 1, t * n / frames[static_cast<size_t>(b)]);
            lp_at(x, f, t, b, y[static_cast<size_t>(guess)]) = static_cast<float>(-0.7 + 0.2 * u(rng));
            lp_at(x, f, t, b, blank) = static_cast<float>(-0.9 + 0.2 * u(rng));
        }
    auto idx = make_index_tensors(shape, f);
    HostTensor<float> loss({B}), g({B}, 1.0f);
    auto grad = like_log_probs<float>(shape, f, 3.0f);
    auto o = ctc_options(shape, f, SK_CTC_REDUCTION_NONE, SK_CTC_GRADIENT_FUSED_LOGITS);
    CHECK_OK(sk_ctc_loss_backward(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), g.d(),
                                  grad.d(), loss.d()));
    for (int64_t b = 0; b < B; ++b) {
        const Compressed z = compress(x, f, b, frames[static_cast<size_t>(b)], targets[static_cast<size_t>(b)], blank);
        const DpResult r = reference_dp(z.k, 0);
        CHECK_MSG(close_ld(loss.storage[static_cast<size_t>(b)], -r.log_z, 1e-6L),
                  "large loss b=" << b << " " << loss.storage[static_cast<size_t>(b)] << " want " << static_cast<double>(-r.log_z));
        for (int64_t t : {int64_t(0), int64_t(1234), frames[static_cast<size_t>(b)] - 1}) {
            std::vector<Ld> gamma(static_cast<size_t>(C), 0);
            for (int64_t i = 0; i < z.k.C; ++i)
                gamma[static_cast<size_t>(z.classes[static_cast<size_t>(i)])] = r.class_post[static_cast<size_t>(t * z.k.C + i)];
            Ld worst = 0, gamma_sum = 0;
            for (int64_t c = 0; c < C; ++c) {
                const Ld want = std::exp(Ld(lp_at(x, f, t, b, c))) - gamma[static_cast<size_t>(c)];
                worst = std::max(worst, std::fabs(lp_at(grad, f, t, b, c) - want));
                gamma_sum += gamma[static_cast<size_t>(c)];
            }
            CHECK_MSG(worst < 2e-6L, "large gradient b=" << b << " t=" << t << " off by " << static_cast<double>(worst));
            CHECK(std::fabs(gamma_sum - 1) < 1e-9L);
        }
        for (int64_t t = frames[static_cast<size_t>(b)]; t < T; t += 97)
            for (int64_t c = 0; c < C; c += 997) CHECK_EQ(lp_at(grad, f, t, b, c), 0.0f);  // past the length
    }
}

TEST(hundred_thousand_frames_float32) {
    Context ctx;
    std::mt19937_64 rng(31);
    CtcCase k;
    k.T = 100000;
    k.B = 2;
    k.C = 12;
    k.blank = 0;
    k.targets = {random_target(rng, 100, k.C, 0), random_target(rng, 40, k.C, 0)};
    k.input_length = {100000, 77777};
    random_log_probs(k, rng, 3.0);
    CtcForm f;
    f.batch_major = true;
    auto x = make_log_probs<float>(k, f);
    auto idx = make_index_tensors(k, f);
    HostTensor<float> loss({k.B}), post({k.B, k.T, 201});
    auto o = ctc_options(k, f);
    CHECK_OK(sk_ctc_loss(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), loss.d()));
    CHECK_OK(sk_ctc_posteriors(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), post.d()));
    CtcCase rounded = k;
    for (auto &row : rounded.lp)
        for (auto &v : row) v = static_cast<float>(v);
    for (int64_t b = 0; b < k.B; ++b) {
        const DpResult r = reference_dp(rounded, b, false);
        CHECK_MSG(close_ld(loss.storage[static_cast<size_t>(b)], -r.log_z, 1e-6L),
                  "T=1e5 loss b=" << b << " " << loss.storage[static_cast<size_t>(b)] << " want " << static_cast<double>(-r.log_z));
        for (int64_t t : {int64_t(0), int64_t(50000), k.input_length[static_cast<size_t>(b)] - 1}) {
            Ld sum = 0;
            for (int64_t s = 0; s < 201; ++s) sum += post.at({b, t, s});
            CHECK_MSG(std::fabs(sum - 1) < 1e-5L, "posteriors at t=" << t << " sum to " << static_cast<double>(sum));
        }
    }
}

TEST(empty_batch_and_zero_frames) {
    Context ctx;
    HostTensor<float> x({0, 0, 3});
    HostTensor<int32_t> targets({0, 0}), lengths({0});
    auto o = ctc_options(CtcCase{}, CtcForm{}, SK_CTC_REDUCTION_SUM);
    auto s = scalar<float>(5.0f);
    CHECK_OK(sk_ctc_loss(ctx, &o, x.d(), targets.d(), lengths.d(), lengths.d(), s.d()));
    CHECK_EQ(s.storage[0], 0.0f);
    o.reduction = SK_CTC_REDUCTION_MEAN;
    CHECK_OK(sk_ctc_loss(ctx, &o, x.d(), targets.d(), lengths.d(), lengths.d(), s.d()));
    CHECK(std::isnan(s.storage[0]));  // torch: mean of nothing
}

// NaN inside the valid frames propagates to what it affects and crashes nothing: in a target
// class it reaches the loss and the gradient rows; in a class no state carries, only the fused
// gradient entry of that class sees it.
TEST(nan_inputs_propagate) {
    Context ctx;
    std::mt19937_64 rng(37);
    CtcCase k;
    k.T = 6;
    k.B = 2;
    k.C = 5;
    k.blank = 0;
    k.targets = {{1, 2}, {1, 2}};
    k.input_length = {6, 6};
    random_log_probs(k, rng);
    k.at(0, 3, 2) = NAN;  // sequence 0: a target class
    k.at(1, 3, 4) = NAN;  // sequence 1: a class outside the target
    CtcForm f;
    auto x = make_log_probs<double>(k, f);
    auto idx = make_index_tensors(k, f);
    HostTensor<double> loss({2}), g({2}, 1.0), score({2});
    auto o = ctc_options(k, f);
    CHECK_OK(sk_ctc_loss(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), loss.d()));
    CHECK(std::isnan(loss.storage[0]));
    CHECK(close_ld(loss.storage[1], -brute_force(k, 1).log_z, 1e-12L));
    for (int32_t form : {SK_CTC_GRADIENT_LOG_PROBS, SK_CTC_GRADIENT_FUSED_LOGITS}) {
        o.gradient = form;
        auto grad = like_log_probs<double>(k, f, 0.0);
        CHECK_OK(sk_ctc_loss_backward(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), g.d(),
                                      grad.d(), nullptr));
        CHECK(std::isnan(lp_at(grad, f, 3, 0, 1)));  // every target class of the NaN sequence
        for (int64_t t = 0; t < k.T; ++t)
            for (int64_t c = 0; c < k.C; ++c) {
                const bool fused_nan = form == SK_CTC_GRADIENT_FUSED_LOGITS && t == 3 && c == 4;
                CHECK_MSG(std::isnan(lp_at(grad, f, t, 1, c)) == fused_nan, "form " << form << " t=" << t << " c=" << c);
            }
    }
    HostTensor<int32_t> path({2, 6});
    CHECK_OK(sk_ctc_forced_align(ctx, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), path.d(),
                                 nullptr, nullptr, score.d()));
    CHECK(std::isfinite(score.storage[1]));
    for (int32_t c : path.storage) CHECK(c >= -1 && c < 5);
}

TEST_MAIN()
