// Semi-CRF test support: a random problem with host tensors for every input, calls of every
// semi-CRF entry point, and a brute-force reference that enumerates every segmentation (and,
// under the flash-semicrf convention, every free previous label) in long double.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "test_util.h"

namespace sktest {

using Ld = long double;

struct SemiCrfConfig {
    int64_t batch = 2, steps = 4, labels = 2, durations = 3;
    bool duration_transitions = false;
    bool cumulative = false;
    bool zero_centre = false;
    bool compat = false;
    bool with_start = true;
    bool with_proj = true;
    int32_t semiring = SK_SEMIRING_LOG;
    int32_t infeasible_gradient = SK_SEMICRF_INFEASIBLE_GRADIENT_ZERO;
    std::vector<int64_t> lengths;  // empty: steps, then shorter ones
};

// All inputs of one problem as host tensors of dtype T (padding filled with NaN).
template <class T>
struct SemiCrfProblem {
    SemiCrfConfig cfg;
    HostTensor<T> x, transition, duration_bias, start, proj_start, proj_end;
    HostTensor<int64_t> lengths;

    SemiCrfProblem(const SemiCrfConfig &c, uint64_t seed, double scale = 1.0) : cfg(c) {
        std::mt19937_64 rng(seed);
        const int64_t B = c.batch, S = c.steps, C = c.labels, K = c.durations;
        x = HostTensor<T>({B, c.cumulative ? S + 1 : S, C});
        fill_uniform(x, rng, -scale, scale);
        if (c.cumulative) {  // a running sum, so that it looks like real cumulative scores
            for (int64_t b = 0; b < B; ++b)
                for (int64_t cc = 0; cc < C; ++cc)
                    for (int64_t t = 1; t <= S; ++t) x.at({b, t, cc}) = x.at({b, t - 1, cc}) + x.at({b, t, cc});
        }
        transition = c.duration_transitions ? HostTensor<T>({K, C, C}) : HostTensor<T>({C, C});
        fill_uniform(transition, rng, -1, 1);
        duration_bias = HostTensor<T>({K, C});
        fill_uniform(duration_bias, rng, -1, 1);
        start = HostTensor<T>({C});
        fill_uniform(start, rng, -1, 1);
        proj_start = HostTensor<T>({B, S, C});
        proj_end = HostTensor<T>({B, S, C});
        fill_uniform(proj_start, rng, -0.5, 0.5);
        fill_uniform(proj_end, rng, -0.5, 0.5);
        lengths = HostTensor<int64_t>({B});
        for (int64_t b = 0; b < B; ++b) {
            int64_t L = c.lengths.empty() ? std::max<int64_t>(1, S - b) : c.lengths[static_cast<size_t>(b)];
            lengths.at({b}) = L;
        }
        poison_padding();
    }

    int64_t length(int64_t b) const { return lengths.storage[static_cast<size_t>(b)]; }

    // NaN in every entry past a sequence's length (the library must never read it).
    void poison_padding() {
        const T nan = std::numeric_limits<T>::quiet_NaN();
        for (int64_t b = 0; b < cfg.batch; ++b) {
            const int64_t L = length(b);
            for (int64_t cc = 0; cc < cfg.labels; ++cc) {
                for (int64_t t = cfg.cumulative ? L + 1 : L; t < x.desc.shape[1]; ++t) x.at({b, t, cc}) = nan;
                for (int64_t t = L; t < cfg.steps; ++t) proj_start.at({b, t, cc}) = proj_end.at({b, t, cc}) = nan;
            }
        }
    }

    sk_semicrf_options options() const {
        sk_semicrf_options o{};
        o.struct_size = sizeof(o);
        o.semiring = cfg.semiring;
        o.input = cfg.cumulative ? SK_SEMICRF_INPUT_CUMULATIVE : SK_SEMICRF_INPUT_SCORES;
        o.zero_centre = cfg.zero_centre ? 1 : 0;
        o.flash_semicrf_compat = cfg.compat ? 1 : 0;
        o.infeasible_gradient = cfg.infeasible_gradient;
        return o;
    }
    sk_tensor *start_d() { return cfg.with_start ? start.d() : nullptr; }
    sk_tensor *ps_d() { return cfg.with_proj ? proj_start.d() : nullptr; }
    sk_tensor *pe_d() { return cfg.with_proj ? proj_end.d() : nullptr; }

    // ---- calls ------------------------------------------------------------------------------
    sk_status forward(sk_context *ctx, HostTensor<T> &out) {
        auto o = options();
        return sk_semicrf_forward(ctx, &o, x.d(), transition.d(), duration_bias.d(), start_d(), ps_d(), pe_d(),
                                  lengths.d(), out.d());
    }
    std::vector<Ld> forward_values(sk_context *ctx) {
        HostTensor<T> out({cfg.batch});
        CHECK_OK(forward(ctx, out));
        std::vector<Ld> v;
        for (int64_t b = 0; b < cfg.batch; ++b) v.push_back(out.storage[static_cast<size_t>(b)]);
        return v;
    }
};

// Gradients of one backward call, shaped like the inputs.
template <class T>
struct SemiCrfGrads {
    HostTensor<T> x, transition, duration_bias, start, proj_start, proj_end, value;
    explicit SemiCrfGrads(SemiCrfProblem<T> &p) {
        auto like = [](HostTensor<T> &in) {
            std::vector<int64_t> shape(in.desc.shape, in.desc.shape + in.desc.rank);
            return HostTensor<T>(shape, T(-7));  // sentinel: every element must be overwritten
        };
        x = like(p.x);
        transition = like(p.transition);
        duration_bias = like(p.duration_bias);
        start = like(p.start);
        proj_start = like(p.proj_start);
        proj_end = like(p.proj_end);
        value = HostTensor<T>({p.cfg.batch}, T(-7));
    }
};

template <class T>
sk_status semicrf_backward(sk_context *ctx, SemiCrfProblem<T> &p, HostTensor<T> &upstream, SemiCrfGrads<T> &g) {
    auto o = p.options();
    return sk_semicrf_backward(ctx, &o, p.x.d(), p.transition.d(), p.duration_bias.d(), p.start_d(), p.ps_d(),
                               p.pe_d(), p.lengths.d(), upstream.d(), g.x.d(), g.transition.d(),
                               g.duration_bias.d(), p.cfg.with_start ? g.start.d() : nullptr,
                               p.cfg.with_proj ? g.proj_start.d() : nullptr,
                               p.cfg.with_proj ? g.proj_end.d() : nullptr, g.value.d());
}

// ---- brute force ----------------------------------------------------------------------------

struct Segment {
    int64_t start, end, label;
};

// Every segmentation of [0, L) with durations <= K and labels < C.
inline void enumerate_segmentations(int64_t L, int64_t K, int64_t C,
                                    const std::function<void(const std::vector<Segment> &)> &visit) {
    std::vector<Segment> cur;
    std::function<void(int64_t)> rec = [&](int64_t pos) {
        if (pos == L) {
            visit(cur);
            return;
        }
        for (int64_t k = 1; k <= K && pos + k <= L; ++k)
            for (int64_t c = 0; c < C; ++c) {
                cur.push_back({pos, pos + k, c});
                rec(pos + k);
                cur.pop_back();
            }
    };
    rec(0);
}

template <class T>
struct BruteForce {
    SemiCrfProblem<T> &p;
    int64_t b;
    std::vector<Ld> cum;  // (L + 1) x C

    BruteForce(SemiCrfProblem<T> &problem, int64_t seq) : p(problem), b(seq) {
        const int64_t L = p.length(b), C = p.cfg.labels;
        cum.assign(static_cast<size_t>((L + 1) * C), 0);
        for (int64_t c = 0; c < C; ++c) {
            if (p.cfg.cumulative) {
                for (int64_t t = 0; t <= L; ++t) cum[static_cast<size_t>(t * C + c)] = p.x.at({b, t, c});
                continue;
            }
            Ld mean = 0;
            if (p.cfg.zero_centre) {
                for (int64_t u = 0; u < L; ++u) mean += p.x.at({b, u, c});
                mean /= L;
            }
            Ld run = 0;
            for (int64_t u = 0; u < L; ++u) {
                run += static_cast<Ld>(p.x.at({b, u, c})) - mean;
                cum[static_cast<size_t>((u + 1) * C + c)] = run;
            }
        }
    }
    Ld tr(int64_t k, int64_t from, int64_t to) {
        return p.cfg.duration_transitions ? p.transition.at({k - 1, from, to}) : p.transition.at({from, to});
    }
    Ld content(const Segment &s) {
        const int64_t C = p.cfg.labels, c = s.label;
        Ld w = cum[static_cast<size_t>(s.end * C + c)] - cum[static_cast<size_t>(s.start * C + c)] +
               static_cast<Ld>(p.duration_bias.at({s.end - s.start - 1, c}));
        if (p.cfg.with_proj) w += static_cast<Ld>(p.proj_start.at({b, s.start, c})) + static_cast<Ld>(p.proj_end.at({b, s.end - 1, c}));
        return w;
    }
    // Score with an explicit free previous label (compat) or none (-1).
    Ld score(const std::vector<Segment> &y, int64_t free_label) {
        Ld total = 0;
        for (size_t i = 0; i < y.size(); ++i) {
            total += content(y[i]);
            const int64_t k = y[i].end - y[i].start;
            if (i == 0) {
                if (p.cfg.with_start) total += static_cast<Ld>(p.start.at({y[i].label}));
                if (free_label >= 0) total += tr(k, free_label, y[i].label);
            } else {
                total += tr(k, y[i - 1].label, y[i].label);
            }
        }
        return total;
    }
    // The semiring sum of a segmentation over its free previous label (compat) or its score.
    Ld score(const std::vector<Segment> &y) {
        if (!p.cfg.compat) return score(y, -1);
        std::vector<Ld> v;
        for (int64_t c = 0; c < p.cfg.labels; ++c) v.push_back(score(y, c));
        return combine(v);
    }
    Ld combine(const std::vector<Ld> &v) {
        const Ld inf = std::numeric_limits<Ld>::infinity();
        Ld hi = -inf;
        for (Ld x : v) hi = std::max(hi, x);
        if (p.cfg.semiring == SK_SEMIRING_MAX || hi == -inf) return hi;
        Ld s = 0;
        for (Ld x : v) s += std::exp(x - hi);
        return hi + std::log(s);
    }

    struct Result {
        Ld value;                      // log Z or max
        std::vector<Segment> best;     // MAX: one best segmentation (first found)
        std::vector<Ld> boundary;      // (L)
        std::vector<Ld> coverage;      // (L x C)
    };
    // Enumerates every segmentation accepted by `keep` (all by default).
    Result run(const std::function<bool(const std::vector<Segment> &)> &keep = nullptr) {
        const int64_t L = p.length(b), C = p.cfg.labels, K = p.cfg.durations;
        std::vector<std::pair<Ld, std::vector<Segment>>> all;
        enumerate_segmentations(L, K, C, [&](const std::vector<Segment> &y) {
            if (keep && !keep(y)) return;
            all.push_back({score(y), y});
        });
        std::vector<Ld> v;
        for (auto &a : all) v.push_back(a.first);
        Result r{combine(v), {}, std::vector<Ld>(static_cast<size_t>(L), 0), std::vector<Ld>(static_cast<size_t>(L * C), 0)};
        const Ld inf = std::numeric_limits<Ld>::infinity();
        if (r.value == -inf) return r;
        for (auto &a : all) {
            Ld w;
            if (p.cfg.semiring == SK_SEMIRING_MAX) {
                if (a.first != r.value || !r.best.empty()) continue;
                r.best = a.second;
                w = 1;
            } else {
                w = std::exp(a.first - r.value);
            }
            for (auto &s : a.second) {
                r.boundary[static_cast<size_t>(s.start)] += w;
                for (int64_t u = s.start; u < s.end; ++u) r.coverage[static_cast<size_t>(u * C + s.label)] += w;
            }
        }
        return r;
    }
};

}  // namespace sktest
