// HMM forward (log-partition, best score), posterior marginals and Viterbi on the CPU: against
// brute-force enumeration of every state path, for both input forms, both initial conventions,
// shared and per-sequence parameters, strided layouts, int32/int64 lengths, both dtypes; plus
// ties, -inf, NaN, padding garbage, length 1, N = 1, T = 10^5 drift, thread-count independence.
#include <cstring>

#include "hmm_test_util.h"

using namespace sktest;

namespace {

// Score of a given path under the case's scoring function (long double).
Ld path_score(HmmCase &c, int64_t b, const std::vector<int32_t> &path) {
    Ld s = c.start_score(b, path[static_cast<size_t>(b * c.T)]);
    for (int64_t t = 1; t < c.lengths[static_cast<size_t>(b)]; ++t)
        s += c.edge_score(b, t, path[static_cast<size_t>(b * c.T + t - 1)], path[static_cast<size_t>(b * c.T + t)]);
    return s;
}

template <class T>
void check_case(sk_context *ctx, HmmCase &c, const HmmConfig &cf, const std::string &label, bool exact_paths) {
    HmmCase r_case = c.rounded<T>();
    HmmReference ref = brute_force(r_case);
    HmmTensors<T> x = make_tensors<T>(c, cf.layout, cf.int32_lengths);
    const Ld tol = hmm_tolerance<T>();

    std::vector<T> lp;
    CHECK_OK(hmm_forward(ctx, c, x, SK_SEMIRING_LOG, lp));
    compare_dense(lp, ref.log_partition, tol, tol, label + " log_partition");

    std::vector<T> marg, lp2;
    CHECK_OK(hmm_marginals(ctx, c, x, SK_SEMIRING_LOG, marg, lp2, cf.layout));
    compare_dense(marg, ref.node, tol, tol, label + " marginals");
    compare_dense(lp2, ref.log_partition, tol, tol, label + " marginals' log_partition");
    for (int64_t b = 0; b < c.B; ++b)
        for (int64_t t = 0; t < c.lengths[static_cast<size_t>(b)]; ++t) {
            if (!std::isfinite(static_cast<double>(ref.log_partition[static_cast<size_t>(b)]))) continue;
            Ld sum = 0;
            for (int64_t j = 0; j < c.N; ++j) sum += marg[static_cast<size_t>((b * c.T + t) * c.N + j)];
            CHECK_MSG(std::fabs(sum - 1) <= 10 * tol, label << " marginals of b=" << b << " t=" << t << " sum to "
                                                            << static_cast<double>(sum));
        }

    std::vector<T> best;
    CHECK_OK(hmm_forward(ctx, c, x, SK_SEMIRING_MAX, best));
    compare_dense(best, ref.best, tol, tol, label + " max forward");

    std::vector<T> score;
    std::vector<int32_t> path;
    CHECK_OK(hmm_viterbi(ctx, c, x, score, path));
    compare_dense(score, ref.best, tol, tol, label + " viterbi score");
    for (int64_t b = 0; b < c.B; ++b) {
        const int64_t L = c.lengths[static_cast<size_t>(b)];
        for (int64_t t = L; t < c.T; ++t) CHECK_EQ(path[static_cast<size_t>(b * c.T + t)], -1);
        const Ld want = ref.best[static_cast<size_t>(b)];
        if (!std::isfinite(static_cast<double>(want))) {
            for (int64_t t = 0; t < L; ++t) CHECK_EQ(path[static_cast<size_t>(b * c.T + t)], -1);
            continue;
        }
        if (exact_paths) {
            for (int64_t t = 0; t < L; ++t)
                CHECK_MSG(path[static_cast<size_t>(b * c.T + t)] == ref.path_at(b, t),
                          label << " path b=" << b << " t=" << t << ": " << path[static_cast<size_t>(b * c.T + t)]
                                << " vs " << ref.path_at(b, t));
        }
        bool in_range = true;
        for (int64_t t = 0; t < L; ++t) in_range = in_range && path[static_cast<size_t>(b * c.T + t)] >= 0 &&
                                                   path[static_cast<size_t>(b * c.T + t)] < c.N;
        CHECK_MSG(in_range, label << " path of b=" << b << " has a state out of range");
        if (in_range)
            CHECK_MSG(close(path_score(r_case, b, path), want, tol, tol),
                      label << " path of b=" << b << " scores " << static_cast<double>(path_score(r_case, b, path))
                            << " but the best is " << static_cast<double>(want));
    }

    // MAX marginals are the one-hot of the returned path.
    std::vector<T> onehot, lp3;
    CHECK_OK(hmm_marginals(ctx, c, x, SK_SEMIRING_MAX, onehot, lp3));
    compare_dense(lp3, ref.best, tol, tol, label + " max marginals' score");
    std::vector<Ld> want(onehot.size(), 0);
    for (int64_t b = 0; b < c.B; ++b)
        for (int64_t t = 0; t < c.T; ++t) {
            const int32_t z = path[static_cast<size_t>(b * c.T + t)];
            if (z >= 0) want[static_cast<size_t>((b * c.T + t) * c.N + z)] = 1;
        }
    compare_dense(onehot, want, 0, 0, label + " max marginals");
}

}  // namespace

TEST(matches_brute_force_for_every_form_layout_and_dtype) {
    Context ctx;
    std::mt19937_64 rng(7);
    for (const HmmConfig &cf : hmm_configs())
        for (int64_t n : {1, 2, 3}) {
            const int64_t T = n == 3 ? 5 : 6;
            HmmCase c = random_case(cf.form, 3, T, n, {T, 1, T - 2}, rng, -2, 2, cf.initial_shared,
                                    cf.transition_shared, cf.convention);
            check_case<float>(ctx, c, cf, describe(cf, "N=" + std::to_string(n) + " f32"), false);
            check_case<double>(ctx, c, cf, describe(cf, "N=" + std::to_string(n) + " f64"), false);
        }
}

// Integer scores make exact ties common: the path must follow the documented rule exactly.
TEST(viterbi_ties_follow_the_documented_rule) {
    Context ctx;
    std::mt19937_64 rng(11);
    for (const HmmConfig &cf : hmm_configs())
        for (int rep = 0; rep < 3; ++rep) {
            HmmCase c = random_case(cf.form, 3, 5, 3, {5, 4, 2}, rng, -1, 1, cf.initial_shared,
                                    cf.transition_shared, cf.convention);
            make_integer_scores(c);
            check_case<float>(ctx, c, cf, describe(cf, "N=3 f32 ties"), true);
            check_case<double>(ctx, c, cf, describe(cf, "N=3 f64 ties"), true);
        }
}

// All-zero scores: every path ties; the rule gives state 0 everywhere.
TEST(all_equal_scores_give_the_all_zero_path) {
    Context ctx;
    std::mt19937_64 rng(1);
    HmmCase c = random_case(HmmForm::Factored, 2, 4, 3, {4, 3}, rng);
    for (auto *v : {&c.initial, &c.transition, &c.emission})
        for (auto &x : *v) x = 0;
    HmmTensors<float> x = make_tensors<float>(c);
    std::vector<float> score;
    std::vector<int32_t> path;
    CHECK_OK(hmm_viterbi(ctx.ctx, c, x, score, path));
    const std::vector<int32_t> want = {0, 0, 0, 0, 0, 0, 0, -1};
    CHECK(path == want);
    CHECK_EQ(score[0], 0.0f);
}

// Whatever sits past a sequence's length (and in the entries a convention does not read) is
// never read: NaN there changes nothing, bit for bit.
TEST(padding_and_unread_entries_are_never_read) {
    Context ctx;
    std::mt19937_64 rng(3);
    for (const HmmConfig &cf : hmm_configs()) {
        if (cf.layout == HmmLayout::Strided) continue;
        HmmCase clean = random_case(cf.form, 3, 6, 3, {6, 2, 4}, rng, -2, 2, cf.initial_shared,
                                    cf.transition_shared, cf.convention);
        HmmCase dirty = clean;
        const double nan = std::nan("");
        for (int64_t b = 0; b < clean.B; ++b) {
            for (int64_t t = clean.lengths[static_cast<size_t>(b)]; t < clean.T; ++t)
                for (int64_t i = 0; i < clean.N; ++i) {
                    if (cf.form == HmmForm::Factored) dirty.em(b, t, i) = nan;
                    else
                        for (int64_t j = 0; j < clean.N; ++j) dirty.pot(b, t, i, j) = nan;
                }
            if (cf.form == HmmForm::Edge)
                for (int64_t i = 0; i < clean.N; ++i)
                    for (int64_t j = 0; j < clean.N; ++j)
                        if (cf.convention == SK_HMM_INITIAL_SEPARATE || i > 0) dirty.pot(b, 0, i, j) = nan;
        }
        HmmTensors<double> xc = make_tensors<double>(clean), xd = make_tensors<double>(dirty);
        const std::string label = describe(cf, "N=3 f64");
        for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
            std::vector<double> a, b, ma, mb, la, lb;
            CHECK_OK(hmm_forward(ctx.ctx, clean, xc, s, a));
            CHECK_OK(hmm_forward(ctx.ctx, dirty, xd, s, b));
            CHECK_MSG(a == b, label << " forward changed by padding");
            for (double v : b) CHECK(std::isfinite(v));
            CHECK_OK(hmm_marginals(ctx.ctx, clean, xc, s, ma, la));
            CHECK_OK(hmm_marginals(ctx.ctx, dirty, xd, s, mb, lb));
            CHECK_MSG(ma == mb, label << " marginals changed by padding");
        }
        std::vector<double> sa, sb;
        std::vector<int32_t> pa, pb;
        CHECK_OK(hmm_viterbi(ctx.ctx, clean, xc, sa, pa));
        CHECK_OK(hmm_viterbi(ctx.ctx, dirty, xd, sb, pb));
        CHECK_MSG(sa == sb && pa == pb, label << " viterbi changed by padding");
    }
}

// Impossible transitions: a sequence with no feasible path gives -inf, zero marginals, path
// -1, and never NaN; partially forbidden transitions and dead states match brute force.
TEST(impossible_transitions_and_dead_states) {
    Context ctx;
    std::mt19937_64 rng(5);
    const double ninf = -std::numeric_limits<double>::infinity();
    for (const HmmConfig &cf : hmm_configs()) {
        HmmCase c = random_case(cf.form, 3, 5, 3, {5, 4, 3}, rng, -2, 2, cf.initial_shared,
                                cf.transition_shared, cf.convention);
        // Sequence 0: everything at position 2 impossible (edge), or emission of every state at
        // position 2 impossible (factored).
        for (int64_t i = 0; i < c.N; ++i) {
            if (cf.form == HmmForm::Factored) c.em(0, 2, i) = ninf;
            else
                for (int64_t j = 0; j < c.N; ++j) c.pot(0, 2, i, j) = ninf;
        }
        // Forbidden transitions and a dead state elsewhere (still feasible).
        if (cf.form == HmmForm::Factored) {
            const int64_t nb = cf.transition_shared ? 1 : c.B;
            for (int64_t b = 0; b < nb; ++b) {
                c.trans(b, 0, 1) = ninf;
                c.trans(b, 2, 2) = ninf;
            }
            c.em(1, 1, 0) = ninf;
        } else {
            for (int64_t b = 1; b < c.B; ++b)
                for (int64_t t = 1; t < c.T; ++t) {
                    c.pot(b, t, 0, 1) = ninf;
                    for (int64_t i = 0; i < c.N; ++i) c.pot(b, t, i, 2) = ninf;  // state 2 unreachable
                }
        }
        check_case<float>(ctx, c, cf, describe(cf, "N=3 f32 -inf"), false);
        check_case<double>(ctx, c, cf, describe(cf, "N=3 f64 -inf"), false);
        HmmTensors<double> x = make_tensors<double>(c);
        std::vector<double> lp, marg, lp2;
        CHECK_OK(hmm_forward(ctx.ctx, c, x, SK_SEMIRING_LOG, lp));
        CHECK(lp[0] == ninf);
        CHECK(std::isfinite(lp[1]) && std::isfinite(lp[2]));
        CHECK_OK(hmm_marginals(ctx.ctx, c, x, SK_SEMIRING_LOG, marg, lp2));
        for (int64_t e = 0; e < c.T * c.N; ++e) CHECK_EQ(marg[static_cast<size_t>(e)], 0.0);
    }
    // Everything impossible, every sequence.
    HmmCase c = random_case(HmmForm::Factored, 2, 3, 2, {3, 1}, rng);
    for (auto &v : c.initial) v = ninf;
    HmmTensors<float> x = make_tensors<float>(c);
    std::vector<float> lp, marg, lp2, score;
    std::vector<int32_t> path;
    CHECK_OK(hmm_forward(ctx.ctx, c, x, SK_SEMIRING_LOG, lp));
    CHECK_OK(hmm_marginals(ctx.ctx, c, x, SK_SEMIRING_LOG, marg, lp2));
    CHECK_OK(hmm_viterbi(ctx.ctx, c, x, score, path));
    for (float v : lp) CHECK(v == -INFINITY);
    for (float v : score) CHECK(v == -INFINITY);
    for (float v : marg) CHECK_EQ(v, 0.0f);
    for (int32_t z : path) CHECK_EQ(z, -1);
}

// NaN inside one sequence makes that sequence NaN and leaves the others bit for bit as they are.
TEST(nan_propagates_to_its_sequence_only) {
    Context ctx;
    std::mt19937_64 rng(9);
    for (const HmmConfig &cf : hmm_configs()) {
        if (cf.layout == HmmLayout::Strided) continue;
        HmmCase clean = random_case(cf.form, 3, 5, 3, {5, 3, 4}, rng, -2, 2, cf.initial_shared,
                                    cf.transition_shared, cf.convention);
        HmmCase dirty = clean;
        if (cf.form == HmmForm::Factored)
            dirty.em(1, 2, 1) = std::nan("");
        else
            dirty.pot(1, 2, 0, 1) = std::nan("");
        HmmTensors<float> xc = make_tensors<float>(clean), xd = make_tensors<float>(dirty);
        const std::string label = describe(cf, "N=3 f32 NaN");
        std::vector<float> a, b, ma, mb, la, lb, sa, sb;
        std::vector<int32_t> pa, pb;
        CHECK_OK(hmm_forward(ctx.ctx, clean, xc, SK_SEMIRING_LOG, a));
        CHECK_OK(hmm_forward(ctx.ctx, dirty, xd, SK_SEMIRING_LOG, b));
        CHECK_OK(hmm_marginals(ctx.ctx, clean, xc, SK_SEMIRING_LOG, ma, la));
        CHECK_OK(hmm_marginals(ctx.ctx, dirty, xd, SK_SEMIRING_LOG, mb, lb));
        CHECK_OK(hmm_viterbi(ctx.ctx, clean, xc, sa, pa));
        CHECK_OK(hmm_viterbi(ctx.ctx, dirty, xd, sb, pb));
        CHECK_MSG(std::isnan(b[1]) && std::isnan(sb[1]), label);
        CHECK_MSG(a[0] == b[0] && a[2] == b[2] && sa[0] == sb[0] && sa[2] == sb[2], label << " leaked");
        const int64_t T = clean.T, N = clean.N;
        for (int64_t bb = 0; bb < clean.B; ++bb)
            for (int64_t t = 0; t < T; ++t) {
                CHECK_EQ(pb[static_cast<size_t>(bb * T + t)], bb == 1 ? -1 : pa[static_cast<size_t>(bb * T + t)]);
                for (int64_t j = 0; j < N; ++j) {
                    const size_t e = static_cast<size_t>((bb * T + t) * N + j);
                    if (bb != 1) CHECK_MSG(ma[e] == mb[e], label << " marginals leaked");
                    else if (t < clean.lengths[1]) CHECK_MSG(std::isnan(mb[e]), label << " marginal not NaN");
                    else CHECK_EQ(mb[e], 0.0f);
                }
            }
    }
}

TEST(length_one_and_a_single_state) {
    Context ctx;
    std::mt19937_64 rng(13);
    // N = 1: the only path; its score is the sum of the scores along it.
    HmmCase c = random_case(HmmForm::Factored, 2, 4, 1, {4, 1}, rng);
    HmmTensors<double> x = make_tensors<double>(c);
    std::vector<double> lp, marg, lp2, score;
    std::vector<int32_t> path;
    CHECK_OK(hmm_forward(ctx.ctx, c, x, SK_SEMIRING_LOG, lp));
    double want0 = c.init(0, 0) + c.em(0, 0, 0);
    for (int64_t t = 1; t < 4; ++t) want0 += c.trans(0, 0, 0) + c.em(0, t, 0);
    CHECK(std::fabs(lp[0] - want0) <= 1e-12);
    CHECK(std::fabs(lp[1] - (c.init(0, 0) + c.em(1, 0, 0))) <= 1e-12);
    CHECK_OK(hmm_marginals(ctx.ctx, c, x, SK_SEMIRING_LOG, marg, lp2));
    const std::vector<double> want_marg = {1, 1, 1, 1, 1, 0, 0, 0};
    for (size_t k = 0; k < marg.size(); ++k) CHECK(std::fabs(marg[k] - want_marg[k]) <= 1e-15);
    CHECK_OK(hmm_viterbi(ctx.ctx, c, x, score, path));
    const std::vector<int32_t> want_path = {0, 0, 0, 0, 0, -1, -1, -1};
    CHECK(path == want_path);
    CHECK(std::fabs(score[0] - want0) <= 1e-12);
    // T = 1: only the start scores count.
    HmmCase e = random_case(HmmForm::Edge, 1, 1, 4, {1}, rng);
    HmmTensors<float> xe = make_tensors<float>(e);
    std::vector<float> lpe;
    CHECK_OK(hmm_forward(ctx.ctx, e, xe, SK_SEMIRING_LOG, lpe));
    Ld s = 0;
    for (int64_t j = 0; j < 4; ++j) s += std::exp(Ld(static_cast<float>(e.init(0, j))));
    CHECK(close(lpe[0], std::log(s), 1e-6, 1e-6));
}

// ROW0 reads potentials[:, 0, 0, :] as the start: the same as SEPARATE with that initial.
TEST(row0_convention_matches_separate_with_row_zero_as_initial) {
    Context ctx;
    std::mt19937_64 rng(17);
    HmmCase row0 = random_case(HmmForm::Edge, 3, 5, 4, {5, 2, 1}, rng, -2, 2, true, true, SK_HMM_INITIAL_ROW0);
    HmmCase sep = row0;
    sep.convention = SK_HMM_INITIAL_SEPARATE;
    sep.initial_shared = false;
    sep.initial.resize(static_cast<size_t>(3 * 4));
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t j = 0; j < 4; ++j) sep.init(b, j) = row0.pot(b, 0, 0, j);
    HmmTensors<double> xr = make_tensors<double>(row0), xs = make_tensors<double>(sep);
    for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        std::vector<double> a, b, ma, mb, la, lb;
        CHECK_OK(hmm_forward(ctx.ctx, row0, xr, s, a));
        CHECK_OK(hmm_forward(ctx.ctx, sep, xs, s, b));
        CHECK(a == b);
        CHECK_OK(hmm_marginals(ctx.ctx, row0, xr, s, ma, la));
        CHECK_OK(hmm_marginals(ctx.ctx, sep, xs, s, mb, lb));
        CHECK(ma == mb);
    }
}

// The factored form equals the edge form with potentials[b,t,i,j] = transition[i,j] + emission[b,t,j].
TEST(factored_form_matches_the_edge_form) {
    Context ctx;
    std::mt19937_64 rng(19);
    HmmCase f = random_case(HmmForm::Factored, 3, 6, 4, {6, 3, 1}, rng, -3, 1, true, false);
    HmmCase e;
    e.form = HmmForm::Edge;
    e.B = f.B;
    e.T = f.T;
    e.N = f.N;
    e.lengths = f.lengths;
    e.initial_shared = false;
    e.initial.resize(static_cast<size_t>(f.B * f.N));
    e.potentials.assign(static_cast<size_t>(f.B * f.T * f.N * f.N), 0);
    for (int64_t b = 0; b < f.B; ++b)
        for (int64_t j = 0; j < f.N; ++j) {
            e.init(b, j) = f.start_score(b, j);
            for (int64_t t = 1; t < f.T; ++t)
                for (int64_t i = 0; i < f.N; ++i) e.pot(b, t, i, j) = f.edge_score(b, t, i, j);
        }
    HmmTensors<double> xf = make_tensors<double>(f), xe = make_tensors<double>(e);
    std::vector<double> a, b, ma, mb, la, lb, sa, sb;
    std::vector<int32_t> pa, pb;
    CHECK_OK(hmm_forward(ctx.ctx, f, xf, SK_SEMIRING_LOG, a));
    CHECK_OK(hmm_forward(ctx.ctx, e, xe, SK_SEMIRING_LOG, b));
    for (size_t k = 0; k < a.size(); ++k) CHECK(std::fabs(a[k] - b[k]) <= 1e-12);
    CHECK_OK(hmm_marginals(ctx.ctx, f, xf, SK_SEMIRING_LOG, ma, la));
    CHECK_OK(hmm_marginals(ctx.ctx, e, xe, SK_SEMIRING_LOG, mb, lb));
    for (size_t k = 0; k < ma.size(); ++k) CHECK(std::fabs(ma[k] - mb[k]) <= 1e-12);
    CHECK_OK(hmm_viterbi(ctx.ctx, f, xf, sa, pa));
    CHECK_OK(hmm_viterbi(ctx.ctx, e, xe, sb, pb));
    CHECK(pa == pb);
}

// T = 10^5 in float32: the float64 normaliser keeps the log-partition within 1e-6 relative of the
// float64 run, and the per-position normalisers keep every posterior within 1e-6 of it.
TEST(long_sequence_float32_does_not_drift) {
    Context ctx;
    std::mt19937_64 rng(23);
    const int64_t T = 100000;
    HmmCase c = random_case(HmmForm::Factored, 2, T, 8, {T, 70001}, rng, -3, 0);
    HmmCase c32 = c.rounded<float>();  // the float64 run sees exactly the float32 inputs
    HmmTensors<float> x32 = make_tensors<float>(c);
    HmmTensors<double> x64 = make_tensors<double>(c32);
    std::vector<float> lp32, s32;
    std::vector<double> lp64, s64;
    CHECK_OK(hmm_forward(ctx.ctx, c, x32, SK_SEMIRING_LOG, lp32));
    CHECK_OK(hmm_forward(ctx.ctx, c32, x64, SK_SEMIRING_LOG, lp64));
    CHECK_OK(hmm_forward(ctx.ctx, c, x32, SK_SEMIRING_MAX, s32));
    CHECK_OK(hmm_forward(ctx.ctx, c32, x64, SK_SEMIRING_MAX, s64));
    for (size_t b = 0; b < 2; ++b) {
        const double rel = std::fabs(lp32[b] - lp64[b]) / std::fabs(lp64[b]);
        const double rel_max = std::fabs(s32[b] - s64[b]) / std::fabs(s64[b]);
        std::fprintf(stderr, "  T=%lld b=%zu logZ f64 %.10g f32 %.10g rel %.3g; max rel %.3g\n",
                     static_cast<long long>(c.lengths[b]), b, lp64[b], static_cast<double>(lp32[b]), rel, rel_max);
        CHECK_MSG(rel <= 1e-6, "float32 log-partition drifted: rel " << rel);
        CHECK_MSG(rel_max <= 1e-6, "float32 best score drifted: rel " << rel_max);
    }
    std::vector<float> marg, lp;
    std::vector<double> marg64, lp64b;
    CHECK_OK(hmm_marginals(ctx.ctx, c, x32, SK_SEMIRING_LOG, marg, lp));
    CHECK_OK(hmm_marginals(ctx.ctx, c32, x64, SK_SEMIRING_LOG, marg64, lp64b));
    double worst = 0, worst_sum = 0;
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t t = 0; t < c.lengths[static_cast<size_t>(b)]; ++t) {
            double sum = 0;
            for (int64_t j = 0; j < c.N; ++j) {
                const size_t e = static_cast<size_t>((b * T + t) * c.N + j);
                sum += marg[e];
                worst = std::max(worst, std::fabs(marg[e] - marg64[e]));
            }
            worst_sum = std::max(worst_sum, std::fabs(sum - 1));
        }
    std::fprintf(stderr, "  float32 marginals: max |f32 - f64| %.3g, max |sum - 1| %.3g\n", worst, worst_sum);
    CHECK_MSG(worst <= 1e-6, "float32 marginals differ from float64 by " << worst);
    CHECK_MSG(worst_sum <= 1e-6, "float32 marginals sum to 1 +- " << worst_sum);
}

// The pool size changes the schedule, never the bits: batch-parallel and state-parallel modes.
TEST(results_do_not_depend_on_the_thread_count) {
    std::mt19937_64 rng(29);
    for (int64_t n : {20, 130}) {  // 130 states with B = 1 < threads takes the state-parallel path
        const int64_t B = n == 20 ? 5 : 1;
        std::vector<int64_t> lengths = n == 20 ? std::vector<int64_t>{30, 7, 1, 30, 12} : std::vector<int64_t>{9};
        HmmCase c = random_case(HmmForm::Edge, B, n == 20 ? 30 : 9, n, lengths, rng);
        HmmTensors<float> x = make_tensors<float>(c);
        std::vector<float> first_lp, first_marg, first_score;
        std::vector<int32_t> first_path;
        for (int threads : {1, 2, 3}) {
            Context ctx;
            CHECK_OK(sk_context_set_num_threads(ctx, threads));
            std::vector<float> lp, marg, lp2, score;
            std::vector<int32_t> path;
            CHECK_OK(hmm_forward(ctx.ctx, c, x, SK_SEMIRING_LOG, lp));
            CHECK_OK(hmm_marginals(ctx.ctx, c, x, SK_SEMIRING_LOG, marg, lp2));
            CHECK_OK(hmm_viterbi(ctx.ctx, c, x, score, path));
            if (threads == 1) {
                first_lp = lp;
                first_marg = marg;
                first_score = score;
                first_path = path;
                continue;
            }
            CHECK_MSG(std::memcmp(lp.data(), first_lp.data(), lp.size() * sizeof(float)) == 0, "N=" << n << " threads " << threads);
            CHECK_MSG(std::memcmp(marg.data(), first_marg.data(), marg.size() * sizeof(float)) == 0, "N=" << n << " threads " << threads);
            CHECK_MSG(score == first_score && path == first_path, "N=" << n << " threads " << threads);
        }
    }
}

TEST(empty_batch_is_a_no_op) {
    Context ctx;
    HmmCase c;
    c.form = HmmForm::Factored;
    c.B = 0;
    c.T = 0;
    c.N = 3;
    c.initial.assign(3, 0.0);
    c.transition.assign(9, 0.0);
    HmmTensors<float> x = make_tensors<float>(c);
    std::vector<float> lp, marg, lp2, score;
    std::vector<int32_t> path;
    CHECK_OK(hmm_forward(ctx.ctx, c, x, SK_SEMIRING_LOG, lp));
    CHECK_OK(hmm_marginals(ctx.ctx, c, x, SK_SEMIRING_LOG, marg, lp2));
    CHECK_OK(hmm_viterbi(ctx.ctx, c, x, score, path));
}

TEST_MAIN()
