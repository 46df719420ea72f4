// Semi-CRF family, CPU backend: every entry point against a brute-force enumeration of all
// segmentations in long double, gradients against finite differences, the flash-semicrf
// convention, and the edge cases of FAMILY-NOTES.md (lengths 1 and 2, K = 1 / = T / > T, C = 1 and
// 33, NaN padding, -inf transitions and durations, infeasible sequences, uncentred float32
// cumulative scores of 1e6, ties, T = 2e5 streaming).
#include <cmath>
#include <cstring>
#include <limits>

#include "semicrf_reference.h"

using namespace sktest;

namespace {

const Ld kInf = std::numeric_limits<Ld>::infinity();

std::vector<SemiCrfConfig> small_configs() {
    std::vector<SemiCrfConfig> out;
    for (int64_t T : {1, 2, 3, 5})
        for (int64_t K : {int64_t(1), int64_t(2), int64_t(3), T, T + 2})
            for (int64_t C : {1, 2, 3})
                for (int variant = 0; variant < 4; ++variant) {
                    if (T == 5 && C == 3 && K >= 3 && variant != 1) continue;  // keep the enumeration short
                    SemiCrfConfig c;
                    c.steps = T;
                    c.durations = K;
                    c.labels = C;
                    c.batch = T > 1 ? 2 : 1;
                    c.duration_transitions = variant & 1;
                    c.cumulative = variant == 2;
                    c.compat = variant >= 2;
                    c.zero_centre = variant == 3;
                    c.with_start = variant != 2;
                    c.with_proj = variant != 0;
                    out.push_back(c);
                }
    return out;
}

std::string describe(const SemiCrfConfig &c) {
    std::ostringstream os;
    os << "T=" << c.steps << " K=" << c.durations << " C=" << c.labels << " dur_trans=" << c.duration_transitions
       << " cum=" << c.cumulative << " compat=" << c.compat << " centre=" << c.zero_centre
       << " start=" << c.with_start << " proj=" << c.with_proj << " semiring=" << c.semiring;
    return os.str();
}

// Marginals and Viterbi of one problem against the brute force.
template <class T>
void check_against_brute_force(SemiCrfProblem<T> &p, sk_context *ctx, Ld tol) {
    const int64_t B = p.cfg.batch, Tn = p.cfg.steps, C = p.cfg.labels;
    const std::string what = describe(p.cfg);
    auto o = p.options();
    HostTensor<T> value({B}), boundary({B, Tn}, T(-7)), coverage({B, Tn, C}, T(-7));
    CHECK_OK(sk_semicrf_marginals(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), p.ps_d(),
                                  p.pe_d(), p.lengths.d(), boundary.d(), coverage.d(), value.d()));
    const auto forward = p.forward_values(ctx);
    for (int64_t b = 0; b < B; ++b) {
        BruteForce<T> bf(p, b);
        const auto r = bf.run();
        CHECK_MSG(close(forward[static_cast<size_t>(b)], r.value, tol, tol), what << " b=" << b << " forward "
                  << (double)forward[static_cast<size_t>(b)] << " vs " << (double)r.value);
        CHECK_MSG(close(value.at({b}), r.value, tol, tol), what << " marginals' log_partition");
        const int64_t L = p.length(b);
        for (int64_t t = 0; t < Tn; ++t) {
            const Ld want = t < L ? r.boundary[static_cast<size_t>(t)] : 0;
            CHECK_MSG(close(boundary.at({b, t}), want, tol, tol), what << " boundary b=" << b << " t=" << t << ": "
                      << (double)boundary.at({b, t}) << " vs " << (double)want);
            for (int64_t c = 0; c < C; ++c) {
                const Ld wc = t < L ? r.coverage[static_cast<size_t>(t * C + c)] : 0;
                CHECK_MSG(close(coverage.at({b, t, c}), wc, tol, tol), what << " coverage b=" << b << " t=" << t
                          << " c=" << c << ": " << (double)coverage.at({b, t, c}) << " vs " << (double)wc);
            }
        }
    }
}

template <class T>
void check_viterbi(SemiCrfProblem<T> &p, sk_context *ctx, Ld tol) {
    const int64_t B = p.cfg.batch, Tn = p.cfg.steps;
    const std::string what = describe(p.cfg);
    auto o = p.options();
    o.semiring = SK_SEMIRING_MAX;
    HostTensor<T> score({B});
    HostTensor<int32_t> segs({B, Tn, 3}, 99), counts({B}, 99), path({B, Tn}, 99);
    CHECK_OK(sk_semicrf_viterbi(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), p.ps_d(),
                                p.pe_d(), p.lengths.d(), score.d(), segs.d(), counts.d(), path.d()));
    p.cfg.semiring = SK_SEMIRING_MAX;
    for (int64_t b = 0; b < B; ++b) {
        BruteForce<T> bf(p, b);
        const auto r = bf.run();
        CHECK_MSG(close(score.at({b}), r.value, tol, tol), what << " viterbi score b=" << b);
        const int64_t n = counts.at({b});
        std::vector<Segment> y;
        for (int64_t j = 0; j < n; ++j) y.push_back({segs.at({b, j, 0}), segs.at({b, j, 1}), segs.at({b, j, 2})});
        for (int64_t j = n; j < Tn; ++j) CHECK(segs.at({b, j, 0}) == -1 && segs.at({b, j, 2}) == -1);
        // The decoded segmentation tiles the sequence and attains the best score.
        int64_t pos = 0;
        for (auto &s : y) {
            CHECK(s.start == pos && s.end > s.start && s.end - s.start <= p.cfg.durations);
            for (int64_t t = s.start; t < s.end && t < Tn; ++t) CHECK_EQ(path.at({b, t}), (int32_t)s.label);
            pos = s.end;
        }
        CHECK_EQ(pos, p.length(b));
        for (int64_t t = p.length(b); t < Tn; ++t) CHECK_EQ(path.at({b, t}), -1);
        CHECK_MSG(close(bf.score(y), r.value, tol, tol), what << " decoded segmentation's score");
    }
    p.cfg.semiring = SK_SEMIRING_LOG;
}

}  // namespace

TEST(log_partition_marginals_and_viterbi_match_brute_force) {
    Context ctx;
    uint64_t seed = 1;
    for (const auto &cfg : small_configs()) {
        SemiCrfProblem<double> p(cfg, seed++);
        check_against_brute_force(p, ctx, 1e-10);
        check_viterbi(p, ctx, 1e-10);
    }
}

TEST(max_semiring_marginals_are_the_viterbi_indicators) {
    Context ctx;
    uint64_t seed = 100;
    for (auto cfg : small_configs()) {
        if (cfg.steps > 3) continue;
        cfg.semiring = SK_SEMIRING_MAX;
        // Boundary scores make the best segmentation unique: without them, C = 1 segmentations
        // that permute the same durations tie exactly (ties are tested separately).
        cfg.with_proj = true;
        SemiCrfProblem<double> p(cfg, seed++);
        check_against_brute_force(p, ctx, 1e-10);
    }
}

TEST(many_labels_c33) {
    Context ctx;
    for (int64_t K : {1, 2, 3}) {
        SemiCrfConfig c;
        c.labels = 33;
        c.steps = 2;
        c.durations = K;
        c.batch = 2;
        SemiCrfProblem<double> p(c, 7 + K);
        check_against_brute_force(p, ctx, 1e-10);
        check_viterbi(p, ctx, 1e-10);
    }
}

TEST(float32_inputs_match_brute_force) {
    Context ctx;
    uint64_t seed = 500;
    for (auto cfg : small_configs()) {
        if (cfg.steps != 3) continue;
        SemiCrfProblem<float> p(cfg, seed++);
        check_against_brute_force(p, ctx, 2e-6);
        check_viterbi(p, ctx, 2e-6);
    }
}

// Every segmentation's gold score, exponentiated and normalised by the partition, sums to 1;
// so do the scores of every per-position labelling (each is the mass of its segmentations).
TEST(gold_probabilities_sum_to_one) {
    Context ctx;
    for (int variant = 0; variant < 4; ++variant) {
        SemiCrfConfig c;
        c.batch = 1;
        c.steps = 4;
        c.labels = 2;
        c.durations = 3;
        c.compat = variant & 1;
        c.duration_transitions = variant & 2;
        SemiCrfProblem<double> p(c, 40 + variant);
        const Ld z = p.forward_values(ctx)[0];
        auto o = p.options();
        Ld total = 0;
        int count = 0;
        enumerate_segmentations(4, 3, 2, [&](const std::vector<Segment> &y) {
            HostTensor<int32_t> segs({1, 4, 3}, -5), n({1}, static_cast<int32_t>(y.size()));
            for (size_t j = 0; j < y.size(); ++j) {
                segs.at({0, (int64_t)j, 0}) = (int32_t)y[j].start;
                segs.at({0, (int64_t)j, 1}) = (int32_t)y[j].end;
                segs.at({0, (int64_t)j, 2}) = (int32_t)y[j].label;
            }
            HostTensor<double> s({1});
            CHECK_OK(sk_semicrf_gold_score(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(),
                                           p.ps_d(), p.pe_d(), p.lengths.d(), segs.d(), n.d(), nullptr, s.d()));
            BruteForce<double> bf(p, 0);
            CHECK_MSG(close(s.at({0}), bf.score(y), 1e-12, 1e-12), "gold score vs brute force");
            total += std::exp(static_cast<Ld>(s.at({0})) - z);
            ++count;
        });
        CHECK_MSG(close(total, 1, 1e-12, 1e-12), "segmentations sum to " << (double)total << " over " << count);
        Ld label_total = 0;
        for (int mask = 0; mask < 16; ++mask) {
            HostTensor<int64_t> labels({1, 4});
            for (int t = 0; t < 4; ++t) labels.at({0, t}) = (mask >> t) & 1;
            HostTensor<double> s({1});
            CHECK_OK(sk_semicrf_gold_score(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(),
                                           p.ps_d(), p.pe_d(), p.lengths.d(), nullptr, nullptr, labels.d(), s.d()));
            BruteForce<double> bf(p, 0);
            const auto r = bf.run([&](const std::vector<Segment> &y) {
                for (auto &sg : y)
                    for (int64_t u = sg.start; u < sg.end; ++u)
                        if (sg.label != labels.at({0, u})) return false;
                return true;
            });
            CHECK_MSG(close(s.at({0}), r.value, 1e-12, 1e-12), "labelling score vs brute force, mask " << mask);
            label_total += std::exp(static_cast<Ld>(s.at({0})) - z);
        }
        CHECK_MSG(close(label_total, 1, 1e-12, 1e-12), "labellings sum to " << (double)label_total);
    }
}

// A labelling's MAX score is its best consistent segmentation; runs longer than K are split.
TEST(gold_labels_max_and_long_runs) {
    Context ctx;
    SemiCrfConfig c;
    c.batch = 1;
    c.steps = 5;
    c.labels = 2;
    c.durations = 2;
    c.semiring = SK_SEMIRING_MAX;
    SemiCrfProblem<double> p(c, 77);
    auto o = p.options();
    HostTensor<int32_t> labels({1, 5}, 1);  // one run of 5 > K = 2
    HostTensor<double> s({1});
    CHECK_OK(sk_semicrf_gold_score(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), p.ps_d(),
                                   p.pe_d(), p.lengths.d(), nullptr, nullptr, labels.d(), s.d()));
    BruteForce<double> bf(p, 0);
    const auto r = bf.run([](const std::vector<Segment> &y) {
        for (auto &sg : y)
            if (sg.label != 1) return false;
        return true;
    });
    CHECK(std::isfinite((double)r.value));
    CHECK(close(s.at({0}), r.value, 1e-12, 1e-12));
}

// ---- gradients ---------------------------------------------------------------------------------

namespace {

// Central differences of f over every element of `t` (padding included: expected 0 there
// because those entries are never read; NaN padding is replaced by 0 first).
void finite_difference_check(HostTensor<double> &t, HostTensor<double> &grad, const std::function<Ld()> &f,
                             const std::string &what) {
    const double h = 1e-6;
    for (size_t i = 0; i < t.storage.size(); ++i) {
        if (std::isnan(t.storage[i])) {
            CHECK_MSG(grad.storage[i] == 0, what << " padding element " << i << " gradient " << grad.storage[i]);
            continue;
        }
        const double keep = t.storage[i];
        t.storage[i] = keep + h;
        const Ld up = f();
        t.storage[i] = keep - h;
        const Ld down = f();
        t.storage[i] = keep;
        const Ld fd = (up - down) / (2 * h);
        CHECK_MSG(close(grad.storage[i], fd, 1e-5, 2e-6), what << " element " << i << ": " << grad.storage[i]
                  << " vs finite difference " << (double)fd);
    }
}

void check_all_gradients(SemiCrfProblem<double> &p, SemiCrfGrads<double> &g, const std::function<Ld()> &f,
                         const std::string &what) {
    finite_difference_check(p.x, g.x, f, what + " scores");
    finite_difference_check(p.transition, g.transition, f, what + " transition");
    finite_difference_check(p.duration_bias, g.duration_bias, f, what + " duration_bias");
    if (p.cfg.with_start) finite_difference_check(p.start, g.start, f, what + " start");
    if (p.cfg.with_proj) {
        finite_difference_check(p.proj_start, g.proj_start, f, what + " proj_start");
        finite_difference_check(p.proj_end, g.proj_end, f, what + " proj_end");
    }
}

HostTensor<double> random_upstream(int64_t B, uint64_t seed) {
    std::mt19937_64 rng(seed);
    HostTensor<double> g({B});
    fill_uniform(g, rng, -2, 2);
    return g;
}

}  // namespace

TEST(backward_matches_finite_differences) {
    Context ctx;
    uint64_t seed = 900;
    for (int variant = 0; variant < 12; ++variant) {
        SemiCrfConfig c;
        c.batch = 2;
        c.steps = 5;
        c.labels = 3;
        c.durations = variant % 3 == 0 ? 2 : (variant % 3 == 1 ? 3 : 7);
        c.duration_transitions = variant & 1;
        c.cumulative = (variant / 2) % 3 == 1;
        c.zero_centre = (variant / 2) % 3 == 2;
        c.compat = variant >= 6;
        c.with_start = variant != 4;
        c.semiring = variant == 5 || variant == 11 ? SK_SEMIRING_MAX : SK_SEMIRING_LOG;
        SemiCrfProblem<double> p(c, seed++);
        auto up = random_upstream(c.batch, seed++);
        SemiCrfGrads<double> g(p);
        CHECK_OK(semicrf_backward(ctx.ctx, p, up, g));
        auto f = [&]() {
            const auto v = p.forward_values(ctx);
            Ld s = 0;
            for (int64_t b = 0; b < c.batch; ++b) s += up.at({b}) * v[static_cast<size_t>(b)];
            return s;
        };
        const auto z = p.forward_values(ctx);
        for (int64_t b = 0; b < c.batch; ++b) CHECK(g.value.at({b}) == (double)z[static_cast<size_t>(b)]);
        check_all_gradients(p, g, f, "backward " + describe(c));
    }
}

TEST(gold_backward_matches_finite_differences) {
    Context ctx;
    uint64_t seed = 1200;
    for (int variant = 0; variant < 8; ++variant) {
        SemiCrfConfig c;
        c.batch = 2;
        c.steps = 5;
        c.labels = 3;
        c.durations = 3;
        c.duration_transitions = variant & 1;
        c.compat = variant & 2;
        c.semiring = variant & 4 ? SK_SEMIRING_MAX : SK_SEMIRING_LOG;
        SemiCrfProblem<double> p(c, seed++);
        auto o = p.options();
        auto up = random_upstream(c.batch, seed++);
        // Sequence 0 (length 5): [0,2) c1, [2,3) c0, [3,5) c2; sequence 1 (length 4): [0,3) c2, [3,4) c2.
        HostTensor<int64_t> segs({2, 4, 3}, 0), counts({2});
        const int64_t rows[2][3][3] = {{{0, 2, 1}, {2, 3, 0}, {3, 5, 2}}, {{0, 3, 2}, {3, 4, 2}, {0, 0, 0}}};
        counts.at({0}) = 3;
        counts.at({1}) = 2;
        for (int b = 0; b < 2; ++b)
            for (int j = 0; j < 3; ++j)
                for (int f = 0; f < 3; ++f) segs.at({b, j, f}) = rows[b][j][f];
        HostTensor<int32_t> labels({2, 5}, 0);
        const int32_t lab[2][5] = {{1, 1, 0, 2, 2}, {2, 2, 2, 1, 0}};
        for (int b = 0; b < 2; ++b)
            for (int t = 0; t < 5; ++t) labels.at({b, t}) = lab[b][t];
        for (int form = 0; form < 2; ++form) {
            const sk_tensor *gs = form == 0 ? segs.d() : nullptr;
            const sk_tensor *gc = form == 0 ? counts.d() : nullptr;
            const sk_tensor *gl = form == 1 ? labels.d() : nullptr;
            SemiCrfGrads<double> g(p);
            CHECK_OK(sk_semicrf_gold_score_backward(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(),
                                                    p.start_d(), p.ps_d(), p.pe_d(), p.lengths.d(), gs, gc, gl,
                                                    up.d(), g.x.d(), g.transition.d(), g.duration_bias.d(),
                                                    g.start.d(), g.proj_start.d(), g.proj_end.d(), g.value.d()));
            auto f = [&]() {
                HostTensor<double> s({2});
                CHECK_OK(sk_semicrf_gold_score(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(),
                                               p.ps_d(), p.pe_d(), p.lengths.d(), gs, gc, gl, s.d()));
                return up.at({0}) * (Ld)s.at({0}) + up.at({1}) * (Ld)s.at({1});
            };
            check_all_gradients(p, g, f, "gold backward form " + std::to_string(form) + " " + describe(c));
        }
    }
}

// ---- conventions -------------------------------------------------------------------------------

// flash-semicrf's streaming reference, re-stated: alpha ring with alpha[0] = 0 for every label,
// alpha[t, c] = LSE_{k, c'} alpha[t-k, c'] + trans[c', c] + cum[t, c] - cum[t-k, c] + dur[k-1, c].
TEST(flash_semicrf_compat_matches_its_recursion) {
    Context ctx;
    for (int sr = 0; sr < 2; ++sr) {
        SemiCrfConfig c;
        c.batch = 1;
        c.steps = 6;
        c.labels = 3;
        c.durations = 3;
        c.cumulative = true;
        c.compat = true;
        c.with_start = false;
        c.with_proj = false;
        c.semiring = sr ? SK_SEMIRING_MAX : SK_SEMIRING_LOG;
        SemiCrfProblem<double> p(c, 31);
        const int64_t T = 6, C = 3, K = 3;
        std::vector<std::vector<Ld>> alpha(T + 1, std::vector<Ld>(C, 0));
        for (int64_t t = 1; t <= T; ++t)
            for (int64_t cc = 0; cc < C; ++cc) {
                std::vector<Ld> terms;
                for (int64_t k = 1; k <= std::min(K, t); ++k)
                    for (int64_t from = 0; from < C; ++from)
                        terms.push_back(alpha[t - k][from] + p.transition.at({from, cc}) + p.x.at({0, t, cc}) -
                                        p.x.at({0, t - k, cc}) + p.duration_bias.at({k - 1, cc}));
                BruteForce<double> bf(p, 0);
                alpha[t][cc] = bf.combine(terms);
            }
        BruteForce<double> bf(p, 0);
        const Ld want = bf.combine(alpha[T]);
        CHECK_MSG(close(p.forward_values(ctx)[0], want, 1e-12, 1e-12), "semiring " << sr);
        // The exact convention differs (the first segment takes no transition).
        p.cfg.compat = false;
        CHECK(!close(p.forward_values(ctx)[0], want, 1e-6, 1e-6));
    }
}

// K = 1 is a linear-chain CRF: the HMM family's factored forward with emission x + dur[0].
TEST(k1_is_the_linear_chain_crf) {
    Context ctx;
    SemiCrfConfig c;
    c.batch = 3;
    c.steps = 7;
    c.labels = 4;
    c.durations = 1;
    c.with_proj = false;
    c.lengths = {7, 1, 4};
    SemiCrfProblem<double> p(c, 5);
    HostTensor<double> emission({3, 7, 4}, 0.0);
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t t = 0; t < p.length(b); ++t)
            for (int64_t cc = 0; cc < 4; ++cc) emission.at({b, t, cc}) = p.x.at({b, t, cc}) + p.duration_bias.at({0, cc});
    sk_hmm_options ho{};
    ho.struct_size = sizeof(ho);
    ho.semiring = SK_SEMIRING_LOG;
    HostTensor<double> hz({3});
    CHECK_OK(sk_hmm_factored_forward(ctx, &ho, p.start.d(), p.transition.d(), emission.d(), p.lengths.d(), hz.d()));
    const auto z = p.forward_values(ctx);
    for (int64_t b = 0; b < 3; ++b) CHECK(close(z[static_cast<size_t>(b)], hz.at({b}), 1e-12, 1e-12));
}

// The factorised O(T (K C + C^2)) recursion of a static transition equals the O(T K C^2)
// recursion of a (K, C, C) transition whose K slices are all that matrix (K >= 64, K > T and a
// long sequence), for the log-partition, the Viterbi score and every gradient (the (K, C, C)
// transition gradient summed over k is the static one).
TEST(factorised_recursion_equals_duration_dependent_form) {
    Context ctx;
    for (int64_t K : {64, 90, 300}) {
        SemiCrfConfig c;
        c.batch = 2;
        c.steps = 90;
        c.labels = 3;
        c.durations = K;
        c.compat = K == 90;
        c.lengths = {90, 71};
        SemiCrfProblem<double> p(c, 60 + K);
        SemiCrfConfig cd = c;
        cd.duration_transitions = true;
        SemiCrfProblem<double> q(cd, 60 + K);
        q.x = p.x;
        q.duration_bias = p.duration_bias;
        q.start = p.start;
        q.proj_start = p.proj_start;
        q.proj_end = p.proj_end;
        for (int64_t k = 0; k < K; ++k)
            for (int64_t i = 0; i < 3; ++i)
                for (int64_t j = 0; j < 3; ++j) q.transition.at({k, i, j}) = p.transition.at({i, j});
        for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
            p.cfg.semiring = q.cfg.semiring = semiring;
            const auto zp = p.forward_values(ctx), zq = q.forward_values(ctx);
            for (int b = 0; b < 2; ++b) CHECK_MSG(close(zq[b], zp[b], 1e-12, 1e-12), "K=" << K << " semiring " << semiring);
            auto up = random_upstream(2, 8);
            SemiCrfGrads<double> gp(p), gq(q);
            CHECK_OK(semicrf_backward(ctx.ctx, p, up, gp));
            CHECK_OK(semicrf_backward(ctx.ctx, q, up, gq));
            for (size_t i = 0; i < gp.x.storage.size(); ++i) CHECK(close(gq.x.storage[i], gp.x.storage[i], 1e-9, 1e-9));
            for (size_t i = 0; i < gp.duration_bias.storage.size(); ++i)
                CHECK(close(gq.duration_bias.storage[i], gp.duration_bias.storage[i], 1e-9, 1e-9));
            for (size_t i = 0; i < gp.proj_end.storage.size(); ++i)
                CHECK(close(gq.proj_end.storage[i], gp.proj_end.storage[i], 1e-9, 1e-9));
            for (int64_t i = 0; i < 3; ++i)
                for (int64_t j = 0; j < 3; ++j) {
                    Ld sum = 0;
                    for (int64_t k = 0; k < K; ++k) sum += gq.transition.at({k, i, j});
                    CHECK_MSG(close(sum, gp.transition.at({i, j}), 1e-9, 1e-9), "transition " << i << "," << j);
                }
            for (int64_t k = 90; k < K; ++k) CHECK(gq.duration_bias.at({k, 0}) == 0.0 && gq.transition.at({k, 0, 0}) == 0.0);
        }
    }
}

TEST(padding_garbage_does_not_leak_and_lengths_may_be_int32) {
    Context ctx;
    SemiCrfConfig c;
    c.batch = 3;
    c.steps = 6;
    c.labels = 2;
    c.durations = 4;
    c.lengths = {6, 1, 3};
    SemiCrfProblem<double> p(c, 11);  // padding is NaN
    const auto z = p.forward_values(ctx);
    for (auto v : z) CHECK(std::isfinite((double)v));
    for (int64_t b = 0; b < 3; ++b) {
        BruteForce<double> bf(p, b);
        CHECK(close(z[static_cast<size_t>(b)], bf.run().value, 1e-12, 1e-12));
    }
    HostTensor<int32_t> lengths32({3});
    for (int64_t b = 0; b < 3; ++b) lengths32.at({b}) = (int32_t)p.length(b);
    auto o = p.options();
    HostTensor<double> z32({3});
    CHECK_OK(sk_semicrf_forward(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), p.ps_d(),
                                p.pe_d(), lengths32.d(), z32.d()));
    for (int64_t b = 0; b < 3; ++b) CHECK(z32.at({b}) == (double)z[static_cast<size_t>(b)]);
    // Gradients are finite and exactly 0 in the padding.
    auto up = random_upstream(3, 3);
    SemiCrfGrads<double> g(p);
    CHECK_OK(semicrf_backward(ctx.ctx, p, up, g));
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t t = 0; t < 6; ++t)
            for (int64_t cc = 0; cc < 2; ++cc) {
                const double v = g.x.at({b, t, cc});
                CHECK(t < p.length(b) ? std::isfinite(v) : v == 0.0);
            }
}

TEST(minus_infinity_transitions_and_durations_are_exact) {
    Context ctx;
    SemiCrfConfig c;
    c.batch = 2;
    c.steps = 5;
    c.labels = 3;
    c.durations = 3;
    for (int dt = 0; dt < 2; ++dt) {
        c.duration_transitions = dt;
        SemiCrfProblem<double> p(c, 21 + dt);
        const double ninf = -std::numeric_limits<double>::infinity();
        // Forbid 0 -> 1 and self-transitions of 2; durations 1 of label 0 (a minimum duration).
        for (int64_t k = 0; k < (dt ? 3 : 1); ++k) {
            auto at = [&](int64_t from, int64_t to) -> double & {
                return dt ? p.transition.at({k, from, to}) : p.transition.at({from, to});
            };
            at(0, 1) = ninf;
            at(2, 2) = ninf;
        }
        p.duration_bias.at({0, 0}) = ninf;
        check_against_brute_force(p, ctx, 1e-10);
        check_viterbi(p, ctx, 1e-10);
        auto up = random_upstream(2, 9);
        SemiCrfGrads<double> g(p);
        CHECK_OK(semicrf_backward(ctx.ctx, p, up, g));
        CHECK(g.duration_bias.at({0, 0}) == 0.0);
        for (auto v : g.transition.storage) CHECK(std::isfinite(v));
    }
}

TEST(infeasible_sequence_gives_minus_infinity_and_zero_or_nan_gradients) {
    Context ctx;
    SemiCrfConfig c;
    c.batch = 2;
    c.steps = 4;
    c.labels = 2;
    c.durations = 2;
    c.lengths = {3, 4};
    SemiCrfProblem<double> p(c, 3);
    // Sequence 0 (length 3) needs duration 3 > K: make it infeasible by forbidding duration 1
    // for every label, then 3 = 2 + 1 is impossible while sequence 1 (4 = 2 + 2) stays feasible.
    const double ninf = -std::numeric_limits<double>::infinity();
    p.duration_bias.at({0, 0}) = p.duration_bias.at({0, 1}) = ninf;
    const auto z = p.forward_values(ctx);
    CHECK(z[0] == -kInf);
    CHECK(std::isfinite((double)z[1]));
    BruteForce<double> bf(p, 1);
    CHECK(close(z[1], bf.run().value, 1e-12, 1e-12));
    for (int nan_mode = 0; nan_mode < 2; ++nan_mode) {
        p.cfg.infeasible_gradient = nan_mode ? SK_SEMICRF_INFEASIBLE_GRADIENT_NAN : SK_SEMICRF_INFEASIBLE_GRADIENT_ZERO;
        HostTensor<double> up({2}, 1.0);
        SemiCrfGrads<double> g(p);
        CHECK_OK(semicrf_backward(ctx.ctx, p, up, g));
        for (int64_t t = 0; t < 3; ++t)
            for (int64_t cc = 0; cc < 2; ++cc) {
                CHECK(nan_mode ? std::isnan(g.x.at({0, t, cc})) : g.x.at({0, t, cc}) == 0.0);
                CHECK(std::isfinite(g.x.at({1, t, cc})));
            }
        for (auto v : g.transition.storage) CHECK(nan_mode ? std::isnan(v) : std::isfinite(v));
    }
    p.cfg.infeasible_gradient = SK_SEMICRF_INFEASIBLE_GRADIENT_NAN;
    auto o = p.options();
    HostTensor<double> boundary({2, 4}, -7), coverage({2, 4, 2}, -7);
    CHECK_OK(sk_semicrf_marginals(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), p.ps_d(),
                                  p.pe_d(), p.lengths.d(), boundary.d(), coverage.d(), nullptr));
    for (int64_t t = 0; t < 4; ++t) {
        CHECK(boundary.at({0, t}) == 0.0);
        CHECK(coverage.at({0, t, 0}) == 0.0 && coverage.at({0, t, 1}) == 0.0);
    }
    CHECK(close(boundary.at({1, 0}), 1, 1e-12, 1e-12));
    o.semiring = SK_SEMIRING_MAX;
    HostTensor<double> score({2});
    HostTensor<int32_t> segs({2, 4, 3}, 5), counts({2}, 5), path({2, 4}, 5);
    CHECK_OK(sk_semicrf_viterbi(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), p.ps_d(),
                                p.pe_d(), p.lengths.d(), score.d(), segs.d(), counts.d(), path.d()));
    CHECK(score.at({0}) == -std::numeric_limits<double>::infinity());
    CHECK_EQ(counts.at({0}), 0);
    CHECK_EQ(counts.at({1}), 2);
    for (int64_t t = 0; t < 4; ++t) CHECK_EQ(path.at({0, t}), -1);
    for (auto v : segs.storage) CHECK(v != 5);
}

// Uncentred float32 cumulative scores of magnitude 1e6: the library adds no rounding of its own
// (differences are formed in float64 from the stored float32 values).
TEST(uncentred_float32_cumulative_scores_of_1e6) {
    Context ctx;
    SemiCrfConfig c;
    c.batch = 2;
    c.steps = 5;
    c.labels = 3;
    c.durations = 3;
    c.cumulative = true;
    SemiCrfProblem<float> p(c, 13);
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t t = 0; t <= p.length(b); ++t)
            for (int64_t cc = 0; cc < 3; ++cc) p.x.at({b, t, cc}) += 1e6f * static_cast<float>(cc + 1);
    const auto z = p.forward_values(ctx);
    for (int64_t b = 0; b < 2; ++b) {
        BruteForce<float> bf(p, b);
        const Ld want = bf.run().value;
        CHECK_MSG(close(z[static_cast<size_t>(b)], want, 1e-7, 0), (double)z[static_cast<size_t>(b)] << " vs " << (double)want);
    }
    check_against_brute_force(p, ctx, 2e-6);
}

TEST(viterbi_ties_take_lowest_label_and_shortest_duration) {
    Context ctx;
    SemiCrfConfig c;
    c.batch = 1;
    c.steps = 3;
    c.labels = 2;
    c.durations = 3;
    c.with_proj = false;
    c.semiring = SK_SEMIRING_MAX;
    SemiCrfProblem<double> p(c, 1);
    for (auto *t : {&p.x, &p.transition, &p.duration_bias, &p.start})
        for (auto &v : t->storage) v = 0;
    auto o = p.options();
    HostTensor<double> score({1});
    HostTensor<int32_t> segs({1, 3, 3}), counts({1}), path({1, 3});
    CHECK_OK(sk_semicrf_viterbi(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), nullptr,
                                nullptr, p.lengths.d(), score.d(), segs.d(), counts.d(), path.d()));
    CHECK_EQ(score.at({0}), 0.0);
    CHECK_EQ(counts.at({0}), 3);
    for (int j = 0; j < 3; ++j) {
        CHECK_EQ(segs.at({0, j, 0}), j);
        CHECK_EQ(segs.at({0, j, 1}), j + 1);
        CHECK_EQ(segs.at({0, j, 2}), 0);
    }
    // With label 1 preferred only in position 2 and durations of 1 forbidden for label 0 past
    // the first, ties among the remaining options still resolve by the stated rule.
    p.x.at({0, 2, 1}) = 1;
    CHECK_OK(sk_semicrf_viterbi(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), nullptr,
                                nullptr, p.lengths.d(), score.d(), segs.d(), counts.d(), path.d()));
    CHECK_EQ(score.at({0}), 1.0);
    CHECK_EQ(counts.at({0}), 3);
    CHECK_EQ(path.at({0, 0}), 0);
    CHECK_EQ(path.at({0, 1}), 0);
    CHECK_EQ(path.at({0, 2}), 1);
}

// Strided (non-contiguous) inputs and the thread count do not change any bit of the results.
TEST(strided_inputs_and_thread_count_give_identical_results) {
    SemiCrfConfig c;
    c.batch = 5;
    c.steps = 9;
    c.labels = 3;
    c.durations = 4;
    c.lengths = {9, 1, 5, 8, 2};
    SemiCrfProblem<double> p(c, 17);
    auto up = random_upstream(5, 4);
    std::vector<std::vector<double>> results;
    for (int threads : {1, 3}) {
        Context ctx;
        CHECK_OK(sk_context_set_num_threads(ctx, threads));
        SemiCrfGrads<double> g(p);
        CHECK_OK(semicrf_backward(ctx.ctx, p, up, g));
        std::vector<double> all = g.x.storage;
        for (auto *t : {&g.transition, &g.duration_bias, &g.start, &g.proj_start, &g.proj_end, &g.value})
            all.insert(all.end(), t->storage.begin(), t->storage.end());
        results.push_back(all);
    }
    CHECK(results[0].size() == results[1].size());
    CHECK(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(double)) == 0);
    // The same scores in a transposed-storage view: (B, T, C) with C outermost in memory.
    Context ctx;
    HostTensor<double> wide({3, 5, 9});
    for (int64_t b = 0; b < 5; ++b)
        for (int64_t t = 0; t < 9; ++t)
            for (int64_t cc = 0; cc < 3; ++cc) wide.at({cc, b, t}) = p.x.at({b, t, cc});
    HostTensor<double> strided = wide;
    strided.desc.shape[0] = 5;
    strided.desc.shape[1] = 9;
    strided.desc.shape[2] = 3;
    strided.desc.strides[0] = 9;
    strided.desc.strides[1] = 1;
    strided.desc.strides[2] = 45;
    const auto z = p.forward_values(ctx);
    std::swap(p.x, strided);
    const auto zs = p.forward_values(ctx);
    std::swap(p.x, strided);
    for (int64_t b = 0; b < 5; ++b) CHECK(z[static_cast<size_t>(b)] == zs[static_cast<size_t>(b)]);
}

// T = 2e5 streams through the K-slot ring (forward) and the O(T C) backward; float32 and
// float64 inputs agree, coverage sums to 1 at every position, and the streaming forward equals
// the log-partition of the marginals pass.
TEST(long_sequence_streaming) {
    Context ctx;
    SemiCrfConfig c;
    c.batch = 2;
    c.steps = 200000;
    c.labels = 3;
    c.durations = 8;
    c.lengths = {200000, 123457};
    SemiCrfProblem<double> p(c, 99);
    SemiCrfProblem<float> pf(c, 99);
    // The float32 problem holds exactly the rounded float64 values, and vice versa.
    auto copy_round = [](HostTensor<double> &d, HostTensor<float> &f) {
        for (size_t i = 0; i < d.storage.size(); ++i) {
            f.storage[i] = static_cast<float>(d.storage[i]);
            d.storage[i] = f.storage[i];
        }
    };
    copy_round(p.x, pf.x);
    copy_round(p.transition, pf.transition);
    copy_round(p.duration_bias, pf.duration_bias);
    copy_round(p.start, pf.start);
    copy_round(p.proj_start, pf.proj_start);
    copy_round(p.proj_end, pf.proj_end);
    const auto z = p.forward_values(ctx);
    const auto zf = pf.forward_values(ctx);
    auto o = p.options();
    HostTensor<double> boundary({2, 200000}), coverage({2, 200000, 3}), zm({2});
    CHECK_OK(sk_semicrf_marginals(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), p.ps_d(),
                                  p.pe_d(), p.lengths.d(), boundary.d(), coverage.d(), zm.d()));
    for (int64_t b = 0; b < 2; ++b) {
        CHECK(std::isfinite((double)z[static_cast<size_t>(b)]));
        CHECK_MSG(close(zf[static_cast<size_t>(b)], z[static_cast<size_t>(b)], 1e-7, 0),
                  (double)zf[static_cast<size_t>(b)] << " vs " << (double)z[static_cast<size_t>(b)]);
        CHECK(close(zm.at({b}), z[static_cast<size_t>(b)], 1e-13, 0));
        CHECK(close(boundary.at({b, 0}), 1, 1e-9, 1e-9));
        double worst = 0;
        for (int64_t t = 0; t < p.length(b); ++t) {
            const double s = coverage.at({b, t, 0}) + coverage.at({b, t, 1}) + coverage.at({b, t, 2});
            worst = std::max(worst, std::fabs(s - 1));
        }
        // Measured 3e-9 at T = 2e5 (the reverse cumulative sum accumulates the float64
        // rounding of the segment marginals, whose exponents are of magnitude |log Z| ~ 3e5).
        CHECK_MSG(worst < 1e-7, "coverage sums deviate from 1 by " << worst);
    }
}

TEST_MAIN()
