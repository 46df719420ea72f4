// HMM backward on the CPU: gradients against the brute-force posteriors (LOG) and the brute-force
// Viterbi path (MAX) for both forms and conventions with shared and per-sequence parameters,
// against finite differences (float64), consistency of edge and node marginals, Baum-Welch
// statistics driving an EM loop whose likelihood never decreases, -inf and NaN sequences,
// strided outputs, thread-count independence, the empty batch, and T = 10^5 in float32.
#include <cstring>

#include "hmm_test_util.h"

using namespace sktest;

namespace {

template <class T>
void compare_grads(HmmCase &c, HmmGrads<T> &got, HmmRefGrads &want, Ld tol, const std::string &label) {
    if (c.form == HmmForm::Edge) compare_dense(got.potentials, want.potentials, tol, tol, label + " grad_potentials");
    if (c.uses_initial()) compare_dense(got.initial, want.initial, tol, tol, label + " grad_initial");
    if (c.form == HmmForm::Factored) {
        compare_dense(got.transition, want.transition, tol, tol, label + " grad_transition");
        compare_dense(got.emission, want.emission, tol, tol, label + " grad_emission");
    }
}

std::vector<double> upstream(int64_t B, std::mt19937_64 &rng) {
    std::uniform_real_distribution<double> d(-2, 2);
    std::vector<double> g(static_cast<size_t>(B));
    for (auto &x : g) x = d(rng);
    if (B > 2) g[1] = 0;  // a zero upstream gradient is a valid input too
    return g;
}

template <class T>
void check_against_reference(sk_context *ctx, HmmCase &c, const HmmConfig &cf, int32_t semiring,
                             const std::vector<double> &g, const std::string &label) {
    HmmCase r = c.rounded<T>();
    HmmReference ref = brute_force(r);
    std::vector<double> gr(g.size());
    for (size_t k = 0; k < g.size(); ++k) gr[k] = static_cast<double>(static_cast<T>(g[k]));
    HmmRefGrads want = reference_gradients(r, ref, semiring, gr);
    HmmTensors<T> x = make_tensors<T>(c, cf.layout);
    HmmGrads<T> got;
    CHECK_OK(hmm_backward(ctx, c, x, semiring, g, got, cf.layout));
    compare_grads(c, got, want, 4 * hmm_tolerance<T>(), label);
}

}  // namespace

TEST(log_gradients_are_the_posteriors) {
    Context ctx;
    std::mt19937_64 rng(31);
    for (const HmmConfig &cf : hmm_configs())
        for (int64_t n : {1, 2, 3}) {
            HmmCase c = config_case(cf, 3, 5, n, {5, 2, 4}, rng);
            const auto g = upstream(3, rng);
            check_against_reference<float>(ctx, c, cf, SK_SEMIRING_LOG, g, describe(cf, "f32 log"));
            check_against_reference<double>(ctx, c, cf, SK_SEMIRING_LOG, g, describe(cf, "f64 log"));
        }
}

// Integer scores: many exact ties, so the routing must follow the documented path exactly.
TEST(max_gradients_route_through_the_viterbi_path) {
    Context ctx;
    std::mt19937_64 rng(37);
    for (const HmmConfig &cf : hmm_configs())
        for (bool ties : {false, true}) {
            HmmCase c = config_case(cf, 3, 5, 3, {5, 1, 3}, rng);
            if (ties) make_integer_scores(c);
            const auto g = upstream(3, rng);
            check_against_reference<float>(ctx, c, cf, SK_SEMIRING_MAX, g, describe(cf, ties ? "f32 max ties" : "f32 max"));
            check_against_reference<double>(ctx, c, cf, SK_SEMIRING_MAX, g, describe(cf, ties ? "f64 max ties" : "f64 max"));
        }
}

// Central differences of sum_b g_b * result_b in float64 against the backward, for every input
// entry (including the ones the model does not read, whose gradient must be exactly 0).
TEST(gradients_match_finite_differences) {
    Context ctx;
    std::mt19937_64 rng(41);
    for (const HmmConfig &cf : hmm_configs()) {
        if (cf.layout == HmmLayout::Strided) continue;
        for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
            HmmCase c = config_case(cf, 2, 4, 3, {4, 3}, rng);
            const auto g = upstream(2, rng);
            HmmTensors<double> x = make_tensors<double>(c);
            HmmGrads<double> got;
            CHECK_OK(hmm_backward(ctx.ctx, c, x, semiring, g, got));
            auto objective = [&](HmmCase &cc) {
                HmmTensors<double> xx = make_tensors<double>(cc);
                std::vector<double> lp;
                CHECK_OK(hmm_forward(ctx.ctx, cc, xx, semiring, lp));
                double f = 0;
                for (size_t b = 0; b < lp.size(); ++b) f += g[b] * lp[b];
                return f;
            };
            const double h = 1e-5;
            auto check_input = [&](std::vector<double> HmmCase::*member, const std::vector<double> &grad, const char *name) {
                int bad = 0;
                for (size_t e = 0; e < (c.*member).size(); ++e) {
                    HmmCase plus = c, minus = c;
                    (plus.*member)[e] += h;
                    (minus.*member)[e] -= h;
                    const double fd = (objective(plus) - objective(minus)) / (2 * h);
                    if (!(std::fabs(fd - grad[e]) <= 1e-6 * std::max(1.0, std::fabs(fd))) && bad++ < 3)
                        CHECK_MSG(false, describe(cf, semiring == SK_SEMIRING_LOG ? "log" : "max")
                                             << " d/d" << name << "[" << e << "]: backward " << grad[e] << " vs fd " << fd);
                }
            };
            if (c.form == HmmForm::Edge) check_input(&HmmCase::potentials, got.potentials, "potentials");
            if (c.uses_initial()) check_input(&HmmCase::initial, got.initial, "initial");
            if (c.form == HmmForm::Factored) {
                check_input(&HmmCase::transition, got.transition, "transition");
                check_input(&HmmCase::emission, got.emission, "emission");
            }
        }
    }
}

// With g = 1: edge marginals sum to the node marginals on both sides, the emission gradient is
// the marginals, and the counts add up to the number of positions and transitions.
TEST(edge_and_node_posteriors_are_consistent) {
    Context ctx;
    std::mt19937_64 rng(43);
    const std::vector<int64_t> lengths = {7, 1, 4, 6};
    HmmCase e = random_case(HmmForm::Edge, 4, 7, 5, lengths, rng, -3, 3);
    HmmTensors<double> xe = make_tensors<double>(e);
    HmmGrads<double> ge;
    std::vector<double> marg, lp;
    CHECK_OK(hmm_backward(ctx.ctx, e, xe, SK_SEMIRING_LOG, {1, 1, 1, 1}, ge));
    CHECK_OK(hmm_marginals(ctx.ctx, e, xe, SK_SEMIRING_LOG, marg, lp));
    const int64_t T = e.T, N = e.N;
    for (int64_t b = 0; b < e.B; ++b)
        for (int64_t t = 1; t < lengths[static_cast<size_t>(b)]; ++t)
            for (int64_t k = 0; k < N; ++k) {
                double into = 0, out_of = 0;
                for (int64_t i = 0; i < N; ++i) into += ge.potentials[static_cast<size_t>(((b * T + t) * N + i) * N + k)];
                for (int64_t j = 0; j < N; ++j) out_of += ge.potentials[static_cast<size_t>(((b * T + t) * N + k) * N + j)];
                CHECK(std::fabs(into - marg[static_cast<size_t>((b * T + t) * N + k)]) <= 1e-12);
                CHECK(std::fabs(out_of - marg[static_cast<size_t>((b * T + t - 1) * N + k)]) <= 1e-12);
            }
    // Factored: the statistics of Baum-Welch.
    HmmCase f = random_case(HmmForm::Factored, 4, 7, 5, lengths, rng, -3, 3);
    HmmTensors<double> xf = make_tensors<double>(f);
    HmmGrads<double> gf;
    std::vector<double> mf, lf;
    CHECK_OK(hmm_backward(ctx.ctx, f, xf, SK_SEMIRING_LOG, {1, 1, 1, 1}, gf));
    CHECK_OK(hmm_marginals(ctx.ctx, f, xf, SK_SEMIRING_LOG, mf, lf));
    CHECK(gf.emission == mf);
    double init_sum = 0, trans_sum = 0;
    for (double v : gf.initial) init_sum += v;
    for (double v : gf.transition) trans_sum += v;
    CHECK(std::fabs(init_sum - 4) <= 1e-12);
    CHECK(std::fabs(trans_sum - (6 + 0 + 3 + 5)) <= 1e-12);
}

// A discrete-observation HMM trained with the statistics of the factored backward (g = 1):
// every EM iteration must not decrease the log-likelihood.
TEST(baum_welch_with_these_statistics_never_decreases_the_likelihood) {
    Context ctx;
    std::mt19937_64 rng(47);
    const int64_t N = 3, K = 4, B = 5, T = 40;
    std::vector<int64_t> lengths = {40, 33, 12, 40, 1};
    std::vector<int> obs(static_cast<size_t>(B * T));
    std::uniform_int_distribution<int> sym(0, K - 1);
    for (auto &o : obs) o = sym(rng);
    std::uniform_real_distribution<double> u(0.2, 1.0);
    auto normalised = [&](int64_t rows, int64_t cols) {
        std::vector<double> m(static_cast<size_t>(rows * cols));
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0;
            for (int64_t c = 0; c < cols; ++c) s += m[static_cast<size_t>(r * cols + c)] = u(rng);
            for (int64_t c = 0; c < cols; ++c) m[static_cast<size_t>(r * cols + c)] /= s;
        }
        return m;
    };
    std::vector<double> pi = normalised(1, N), A = normalised(N, N), E = normalised(N, K);
    double previous = -INFINITY;
    for (int iteration = 0; iteration < 12; ++iteration) {
        HmmCase c;
        c.form = HmmForm::Factored;
        c.B = B;
        c.T = T;
        c.N = N;
        c.lengths = lengths;
        c.initial.resize(static_cast<size_t>(N));
        c.transition.resize(static_cast<size_t>(N * N));
        c.emission.assign(static_cast<size_t>(B * T * N), 0);
        for (int64_t j = 0; j < N; ++j) c.initial[static_cast<size_t>(j)] = std::log(pi[static_cast<size_t>(j)]);
        for (int64_t k = 0; k < N * N; ++k) c.transition[static_cast<size_t>(k)] = std::log(A[static_cast<size_t>(k)]);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T; ++t)
                for (int64_t j = 0; j < N; ++j)
                    c.em(b, t, j) = std::log(E[static_cast<size_t>(j * K + obs[static_cast<size_t>(b * T + t)])]);
        HmmTensors<double> x = make_tensors<double>(c);
        std::vector<double> lp;
        CHECK_OK(hmm_forward(ctx.ctx, c, x, SK_SEMIRING_LOG, lp));
        double ll = 0;
        for (double v : lp) ll += v;
        CHECK_MSG(ll >= previous - 1e-9, "iteration " << iteration << ": log-likelihood " << ll << " after " << previous);
        previous = ll;
        HmmGrads<double> st;
        CHECK_OK(hmm_backward(ctx.ctx, c, x, SK_SEMIRING_LOG, std::vector<double>(B, 1.0), st));
        // M-step from the expected counts.
        double s = 0;
        for (int64_t j = 0; j < N; ++j) s += st.initial[static_cast<size_t>(j)];
        for (int64_t j = 0; j < N; ++j) pi[static_cast<size_t>(j)] = st.initial[static_cast<size_t>(j)] / s;
        for (int64_t i = 0; i < N; ++i) {
            double row = 0;
            for (int64_t j = 0; j < N; ++j) row += st.transition[static_cast<size_t>(i * N + j)];
            for (int64_t j = 0; j < N; ++j) A[static_cast<size_t>(i * N + j)] = st.transition[static_cast<size_t>(i * N + j)] / row;
        }
        std::vector<double> counts(static_cast<size_t>(N * K), 0), occupancy(static_cast<size_t>(N), 0);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < lengths[static_cast<size_t>(b)]; ++t)
                for (int64_t j = 0; j < N; ++j) {
                    const double p = st.emission[static_cast<size_t>((b * T + t) * N + j)];
                    counts[static_cast<size_t>(j * K + obs[static_cast<size_t>(b * T + t)])] += p;
                    occupancy[static_cast<size_t>(j)] += p;
                }
        for (int64_t j = 0; j < N; ++j)
            for (int64_t k = 0; k < K; ++k)
                E[static_cast<size_t>(j * K + k)] = counts[static_cast<size_t>(j * K + k)] / occupancy[static_cast<size_t>(j)];
    }
    CHECK(std::isfinite(previous));
}

// -inf: an infeasible sequence has zero gradients (never NaN); NaN: the sequence's read
// entries are NaN, everything of the other sequences is bit for bit unchanged.
TEST(infeasible_and_nan_sequences) {
    Context ctx;
    std::mt19937_64 rng(53);
    for (const HmmConfig &cf : hmm_configs()) {
        if (cf.layout == HmmLayout::Strided) continue;
        for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
            HmmCase clean = config_case(cf, 3, 5, 3, {5, 4, 3}, rng);
            HmmCase bad = clean;
            const double ninf = -std::numeric_limits<double>::infinity();
            for (int64_t i = 0; i < 3; ++i) {  // sequence 0 infeasible, sequence 2 NaN
                if (cf.form == HmmForm::Factored) bad.em(0, 1, i) = ninf;
                else
                    for (int64_t j = 0; j < 3; ++j) bad.pot(0, 1, i, j) = ninf;
            }
            if (cf.form == HmmForm::Factored) bad.em(2, 1, 2) = std::nan("");
            else bad.pot(2, 1, 2, 0) = std::nan("");
            // Per-sequence parameters keep sequence 1 comparable; shared ones are summed.
            const std::vector<double> g = {1.5, -0.5, 2.0};
            HmmTensors<double> xc = make_tensors<double>(clean), xb = make_tensors<double>(bad);
            HmmGrads<double> gc, gb;
            CHECK_OK(hmm_backward(ctx.ctx, clean, xc, semiring, g, gc));
            CHECK_OK(hmm_backward(ctx.ctx, bad, xb, semiring, g, gb));
            const std::string label = describe(cf, semiring == SK_SEMIRING_LOG ? "log" : "max");
            const int64_t T = clean.T, N = clean.N;
            if (cf.form == HmmForm::Edge) {
                for (int64_t t = 0; t < T; ++t)
                    for (int64_t k = 0; k < N * N; ++k) {
                        const size_t e0 = static_cast<size_t>((0 * T + t) * N * N + k);
                        const size_t e1 = static_cast<size_t>((1 * T + t) * N * N + k);
                        const size_t e2 = static_cast<size_t>((2 * T + t) * N * N + k);
                        CHECK_MSG(gb.potentials[e0] == 0.0, label << " infeasible grad not 0");
                        CHECK_MSG(gb.potentials[e1] == gc.potentials[e1], label << " leaked into sequence 1");
                        const bool read = t >= 1 ? t < 3 : (cf.convention == SK_HMM_INITIAL_ROW0 && k < N);
                        if (read) CHECK_MSG(std::isnan(gb.potentials[e2]), label << " NaN not propagated at t=" << t);
                        else CHECK_MSG(gb.potentials[e2] == 0.0, label << " unread entry of the NaN sequence not 0");
                    }
            } else {
                for (int64_t t = 0; t < T; ++t)
                    for (int64_t j = 0; j < N; ++j) {
                        CHECK(gb.emission[static_cast<size_t>((0 * T + t) * N + j)] == 0.0);
                        CHECK(gb.emission[static_cast<size_t>((1 * T + t) * N + j)] == gc.emission[static_cast<size_t>((1 * T + t) * N + j)]);
                        const double v = gb.emission[static_cast<size_t>((2 * T + t) * N + j)];
                        CHECK_MSG(t < 3 ? std::isnan(v) : v == 0.0, label << " emission grad of the NaN sequence");
                    }
                if (!cf.transition_shared)
                    for (int64_t k = 0; k < N * N; ++k) {
                        CHECK(gb.transition[static_cast<size_t>(k)] == 0.0);
                        CHECK(gb.transition[static_cast<size_t>(N * N + k)] == gc.transition[static_cast<size_t>(N * N + k)]);
                        CHECK(std::isnan(gb.transition[static_cast<size_t>(2 * N * N + k)]));
                    }
                else
                    for (double v : gb.transition) CHECK(std::isnan(v));
            }
            if (clean.uses_initial() && !cf.initial_shared)
                for (int64_t j = 0; j < N; ++j) {
                    CHECK(gb.initial[static_cast<size_t>(j)] == 0.0);
                    CHECK(gb.initial[static_cast<size_t>(N + j)] == gc.initial[static_cast<size_t>(N + j)]);
                    CHECK(std::isnan(gb.initial[static_cast<size_t>(2 * N + j)]));
                }
        }
    }
    // Every sequence infeasible: all gradients 0, shared ones included.
    HmmCase c = random_case(HmmForm::Factored, 2, 3, 2, {3, 2}, rng);
    for (auto &v : c.transition) v = -INFINITY;
    HmmTensors<float> x = make_tensors<float>(c);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        HmmGrads<float> gr;
        CHECK_OK(hmm_backward(ctx.ctx, c, x, semiring, {1.0, -1.0}, gr));
        for (auto *v : {&gr.initial, &gr.transition, &gr.emission})
            for (float e : *v) CHECK_EQ(e, 0.0f);
    }
}

TEST(gradients_do_not_depend_on_the_thread_count) {
    std::mt19937_64 rng(59);
    struct Shape {
        HmmForm form;
        int64_t B, T, N;
        std::vector<int64_t> lengths;
    };
    for (const Shape &s : {Shape{HmmForm::Factored, 7, 25, 16, {25, 3, 1, 25, 9, 17, 25}},
                           Shape{HmmForm::Edge, 7, 12, 9, {12, 3, 1, 12, 9, 11, 2}},
                           Shape{HmmForm::Factored, 1, 6, 140, {6}}}) {  // state-parallel mode
        HmmCase c = random_case(s.form, s.B, s.T, s.N, s.lengths, rng);
        HmmTensors<float> x = make_tensors<float>(c);
        std::vector<double> g = upstream(s.B, rng);
        HmmGrads<float> first[2];  // per semiring, from one thread
        for (int threads : {1, 2, 3}) {
            Context ctx;
            CHECK_OK(sk_context_set_num_threads(ctx, threads));
            for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
                HmmGrads<float> gr;
                CHECK_OK(hmm_backward(ctx.ctx, c, x, semiring, g, gr));
                HmmGrads<float> &want = first[semiring == SK_SEMIRING_LOG ? 0 : 1];
                if (threads == 1) {
                    want = gr;
                    continue;
                }
                // Finite values: == on the vectors is a bitwise comparison.
                CHECK_MSG(gr.potentials == want.potentials && gr.initial == want.initial &&
                              gr.transition == want.transition && gr.emission == want.emission,
                          "N=" << s.N << " threads " << threads << " semiring " << semiring);
            }
        }
    }
}

// B = 0: nothing to sum, so shared gradients are written as zeros.
TEST(empty_batch_writes_zero_shared_gradients) {
    Context ctx;
    HmmCase c;
    c.form = HmmForm::Factored;
    c.B = 0;
    c.T = 4;
    c.N = 3;
    c.initial.assign(3, 0.5);
    c.transition.assign(9, 0.5);
    HmmTensors<float> x = make_tensors<float>(c);
    HmmGrads<float> gr;
    CHECK_OK(hmm_backward(ctx.ctx, c, x, SK_SEMIRING_LOG, {}, gr));
    CHECK_EQ(gr.initial.size(), size_t(3));
    CHECK_EQ(gr.transition.size(), size_t(9));
    for (float v : gr.initial) CHECK_EQ(v, 0.0f);
    for (float v : gr.transition) CHECK_EQ(v, 0.0f);
}

// T = 10^5 in float32: expected transition counts (sums of 10^5 posteriors, accumulated in
// float64) and per-position gradients agree with the float64 run.
TEST(long_sequence_float32_gradients) {
    Context ctx;
    std::mt19937_64 rng(61);
    const int64_t T = 100000;
    HmmCase c = random_case(HmmForm::Factored, 2, T, 6, {T, 65432}, rng, -3, 0);
    HmmCase c32 = c.rounded<float>();
    HmmTensors<float> x32 = make_tensors<float>(c);
    HmmTensors<double> x64 = make_tensors<double>(c32);
    HmmGrads<float> g32;
    HmmGrads<double> g64;
    CHECK_OK(hmm_backward(ctx.ctx, c, x32, SK_SEMIRING_LOG, {1.0, 0.5}, g32));
    CHECK_OK(hmm_backward(ctx.ctx, c32, x64, SK_SEMIRING_LOG, {1.0, 0.5}, g64));
    double worst_counts = 0, worst_emission = 0;
    for (size_t k = 0; k < g64.transition.size(); ++k)
        worst_counts = std::max(worst_counts, std::fabs(g32.transition[k] - g64.transition[k]) / std::fabs(g64.transition[k]));
    for (size_t k = 0; k < g64.emission.size(); ++k)
        worst_emission = std::max(worst_emission, std::fabs(g32.emission[k] - g64.emission[k]));
    std::fprintf(stderr, "  T=1e5 float32: transition counts max rel err %.3g, emission grads max abs err %.3g\n",
                 worst_counts, worst_emission);
    CHECK(worst_counts <= 1e-5);
    CHECK(worst_emission <= 1e-6);
}

TEST_MAIN()
