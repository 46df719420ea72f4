// Test support for the CTC family: problem generation, conversion to sk_tensor descriptors in
// every accepted form (time- or batch-major, padded or concatenated targets, int32 or int64),
// and two independent references computed in long double:
//   - brute force: enumerate every frame labelling in C^T, keep those that collapse to the
//     target, and sum / maximise their probabilities directly;
//   - the textbook alpha-beta recursion (torch's formulas, written without the library's
//     helpers) for sizes where enumeration is impossible.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "test_util.h"

namespace sktest {

constexpr Ld kInf = std::numeric_limits<Ld>::infinity();

inline Ld lse(Ld a, Ld b) {
    if (a == -kInf) return b;
    if (b == -kInf) return a;
    const Ld m = std::max(a, b);
    return m + std::log(std::exp(a - m) + std::exp(b - m));
}

// One CTC problem: lp[b][t * C + c] for t < T (frames past input_length may hold anything).
struct CtcCase {
    int64_t T = 0, B = 0, C = 0;
    int32_t blank = 0;
    std::vector<std::vector<Ld>> lp;
    std::vector<std::vector<int32_t>> targets;
    std::vector<int64_t> input_length;

    Ld &at(int64_t b, int64_t t, int64_t c) { return lp[static_cast<size_t>(b)][static_cast<size_t>(t * C + c)]; }
    Ld at(int64_t b, int64_t t, int64_t c) const { return lp[static_cast<size_t>(b)][static_cast<size_t>(t * C + c)]; }
    int64_t max_target() const {
        int64_t m = 0;
        for (auto &y : targets) m = std::max<int64_t>(m, static_cast<int64_t>(y.size()));
        return m;
    }
};

inline int64_t repeats(const std::vector<int32_t> &y) {
    int64_t r = 0;
    for (size_t j = 1; j < y.size(); ++j) r += y[j] == y[j - 1];
    return r;
}

// Random labels in [0, C) without blank; `repeat_bias` makes adjacent repeats likely.
inline std::vector<int32_t> random_target(std::mt19937_64 &rng, int64_t L, int64_t C, int32_t blank,
                                          double repeat_bias = 0.3) {
    std::vector<int32_t> y;
    std::uniform_int_distribution<int64_t> pick(0, C - 2);
    std::uniform_real_distribution<double> coin(0, 1);
    for (int64_t j = 0; j < L; ++j) {
        if (j > 0 && coin(rng) < repeat_bias) {
            y.push_back(y.back());
            continue;
        }
        int64_t c = pick(rng);
        if (c >= blank) ++c;
        y.push_back(static_cast<int32_t>(c));
    }
    return y;
}

// Fills lp with log_softmax of uniform(-scale, scale) logits (normalised rows).
inline void random_log_probs(CtcCase &k, std::mt19937_64 &rng, double scale = 2.0) {
    std::uniform_real_distribution<double> dist(-scale, scale);
    k.lp.assign(static_cast<size_t>(k.B), std::vector<Ld>(static_cast<size_t>(k.T * k.C)));
    for (int64_t b = 0; b < k.B; ++b)
        for (int64_t t = 0; t < k.T; ++t) {
            Ld m = -kInf;
            for (int64_t c = 0; c < k.C; ++c) m = std::max(m, k.at(b, t, c) = dist(rng));
            Ld s = 0;
            for (int64_t c = 0; c < k.C; ++c) s += std::exp(k.at(b, t, c) - m);
            const Ld norm = m + std::log(s);
            for (int64_t c = 0; c < k.C; ++c) k.at(b, t, c) -= norm;
        }
}

// ---- descriptors -------------------------------------------------------------------------

struct CtcForm {
    bool batch_major = false;
    bool concatenated = false;
    bool int64_targets = false;
    bool int64_lengths = false;
    int64_t class_pad = 0;  // extra columns in the class dimension (non-contiguous rows)
    int64_t target_pad = 2;  // extra padded width of 2-D targets, filled with junk labels
};

template <class T>
HostTensor<T> make_log_probs(const CtcCase &k, const CtcForm &f, Ld past_length_value = -1.5L) {
    const int64_t d0 = f.batch_major ? k.B : k.T, d1 = f.batch_major ? k.T : k.B;
    HostTensor<T> x({d0, d1, k.C + f.class_pad}, T(-99));
    x.desc.shape[2] = k.C;
    for (int64_t b = 0; b < k.B; ++b)
        for (int64_t t = 0; t < k.T; ++t)
            for (int64_t c = 0; c < k.C; ++c) {
                const Ld v = t < k.input_length[static_cast<size_t>(b)] ? k.at(b, t, c) : past_length_value;
                x.at({f.batch_major ? b : t, f.batch_major ? t : b, c}) = static_cast<T>(v);
            }
    return x;
}

// A tensor of T-shaped float output like the input (same layout).
template <class T>
HostTensor<T> like_log_probs(const CtcCase &k, const CtcForm &f, T fill) {
    return HostTensor<T>({f.batch_major ? k.B : k.T, f.batch_major ? k.T : k.B, k.C}, fill);
}

// Element (t, b, c) of a tensor in the case's layout.
template <class T>
T &lp_at(HostTensor<T> &x, const CtcForm &f, int64_t t, int64_t b, int64_t c) {
    return x.at({f.batch_major ? b : t, f.batch_major ? t : b, c});
}

struct IndexTensors {
    HostTensor<int32_t> targets32, in32, tl32;
    HostTensor<int64_t> targets64, in64, tl64;
    bool t64 = false, l64 = false;
    sk_tensor *targets() { return t64 ? targets64.d() : targets32.d(); }
    sk_tensor *input_lengths() { return l64 ? in64.d() : in32.d(); }
    sk_tensor *target_lengths() { return l64 ? tl64.d() : tl32.d(); }
};

template <class I>
void fill_targets(const CtcCase &k, const CtcForm &f, HostTensor<I> &out) {
    if (f.concatenated) {
        int64_t total = 0;
        for (auto &y : k.targets) total += static_cast<int64_t>(y.size());
        out = HostTensor<I>({total});
        int64_t pos = 0;
        for (auto &y : k.targets)
            for (int32_t c : y) out.storage[static_cast<size_t>(pos++)] = c;
        return;
    }
    const int64_t S = k.max_target() + f.target_pad;
    out = HostTensor<I>({k.B, S});
    for (int64_t b = 0; b < k.B; ++b)
        for (int64_t j = 0; j < S; ++j) {
            const auto &y = k.targets[static_cast<size_t>(b)];
            // Junk past the length: blank, negative and out-of-range labels must be ignored.
            const I junk = static_cast<I>((j % 3 == 0) ? k.blank : (j % 3 == 1 ? -5 : k.C + 7));
            out.at({b, j}) = j < static_cast<int64_t>(y.size()) ? static_cast<I>(y[static_cast<size_t>(j)]) : junk;
        }
}

inline IndexTensors make_index_tensors(const CtcCase &k, const CtcForm &f) {
    IndexTensors x;
    x.t64 = f.int64_targets;
    x.l64 = f.int64_lengths;
    if (f.int64_targets)
        fill_targets(k, f, x.targets64);
    else
        fill_targets(k, f, x.targets32);
    x.in32 = HostTensor<int32_t>({k.B});
    x.tl32 = HostTensor<int32_t>({k.B});
    x.in64 = HostTensor<int64_t>({k.B});
    x.tl64 = HostTensor<int64_t>({k.B});
    for (int64_t b = 0; b < k.B; ++b) {
        x.in32.storage[static_cast<size_t>(b)] = static_cast<int32_t>(k.input_length[static_cast<size_t>(b)]);
        x.in64.storage[static_cast<size_t>(b)] = k.input_length[static_cast<size_t>(b)];
        x.tl32.storage[static_cast<size_t>(b)] = static_cast<int32_t>(k.targets[static_cast<size_t>(b)].size());
        x.tl64.storage[static_cast<size_t>(b)] = static_cast<int64_t>(k.targets[static_cast<size_t>(b)].size());
    }
    return x;
}

inline sk_ctc_options ctc_options(const CtcCase &k, const CtcForm &f, int32_t reduction = SK_CTC_REDUCTION_NONE,
                                  int32_t gradient = SK_CTC_GRADIENT_LOG_PROBS, int32_t zero_infinity = 0) {
    sk_ctc_options o{};
    o.struct_size = sizeof(sk_ctc_options);
    o.layout = f.batch_major ? SK_CTC_LAYOUT_BATCH_MAJOR : SK_CTC_LAYOUT_TIME_MAJOR;
    o.blank = k.blank;
    o.reduction = reduction;
    o.zero_infinity = zero_infinity;
    o.gradient = gradient;
    return o;
}

// A rank-0 scalar tensor.
template <class T>
HostTensor<T> scalar(T value) {
    HostTensor<T> s({}, value);
    return s;
}

// ---- brute force ---------------------------------------------------------------------------

struct BruteResult {
    Ld log_z = -kInf;
    std::vector<Ld> class_post;  // [t * C + c]: P(frame t emits c)
    std::vector<Ld> state_post;  // [t * S + s]
    Ld best = -kInf;             // Viterbi score
    std::vector<int32_t> best_path;  // unique when the maximum is unique
    int best_count = 0;          // alignments attaining the maximum (within 1e-12)
};

// Every labelling pi of frames [0, Tb) in C^Tb; calls f(pi, states) for those that collapse to y,
// with the extended state of every frame.
template <class F>
void for_each_alignment(int64_t Tb, int64_t C, int32_t blank, const std::vector<int32_t> &y, F &&f) {
    std::vector<int32_t> pi(static_cast<size_t>(Tb), 0), states(static_cast<size_t>(Tb));
    while (true) {
        // collapse and state assignment
        bool ok = true;
        int64_t emitted = 0;
        for (int64_t t = 0; t < Tb && ok; ++t) {
            const int32_t c = pi[static_cast<size_t>(t)];
            if (c == blank) {
                states[static_cast<size_t>(t)] = static_cast<int32_t>(2 * emitted);
            } else if (t > 0 && pi[static_cast<size_t>(t - 1)] == c) {
                states[static_cast<size_t>(t)] = static_cast<int32_t>(2 * (emitted - 1) + 1);
            } else {
                if (emitted >= static_cast<int64_t>(y.size()) || y[static_cast<size_t>(emitted)] != c) ok = false;
                states[static_cast<size_t>(t)] = static_cast<int32_t>(2 * emitted + 1);
                ++emitted;
            }
        }
        if (ok && emitted == static_cast<int64_t>(y.size())) f(pi, states);
        int64_t t = 0;
        while (t < Tb && ++pi[static_cast<size_t>(t)] == C) pi[static_cast<size_t>(t++)] = 0;
        if (t == Tb) break;
    }
}

inline BruteResult brute_force(const CtcCase &k, int64_t b) {
    const int64_t Tb = k.input_length[static_cast<size_t>(b)], C = k.C;
    const auto &y = k.targets[static_cast<size_t>(b)];
    const int64_t S = 2 * static_cast<int64_t>(y.size()) + 1;
    BruteResult r;
    std::vector<std::pair<Ld, std::vector<int32_t>>> paths;  // (score, states) of valid alignments
    std::vector<std::vector<int32_t>> labellings;
    for_each_alignment(Tb, C, k.blank, y, [&](const std::vector<int32_t> &pi, const std::vector<int32_t> &st) {
        Ld score = 0;
        for (int64_t t = 0; t < Tb; ++t) score += k.at(b, t, pi[static_cast<size_t>(t)]);
        paths.emplace_back(score, st);
        labellings.push_back(pi);
    });
    for (auto &p : paths) r.log_z = lse(r.log_z, p.first);
    r.class_post.assign(static_cast<size_t>(Tb * C), 0);
    r.state_post.assign(static_cast<size_t>(Tb * S), 0);
    for (size_t i = 0; i < paths.size(); ++i) {
        if (r.log_z == -kInf) break;
        const Ld w = std::exp(paths[i].first - r.log_z);
        for (int64_t t = 0; t < Tb; ++t) {
            r.class_post[static_cast<size_t>(t * C + labellings[i][static_cast<size_t>(t)])] += w;
            r.state_post[static_cast<size_t>(t * S + paths[i].second[static_cast<size_t>(t)])] += w;
        }
        if (paths[i].first > r.best) {
            r.best = paths[i].first;
            r.best_path = labellings[i];
        }
    }
    for (auto &p : paths)
        if (std::fabs(p.first - r.best) < 1e-12L) ++r.best_count;
    return r;
}

// ---- the textbook recursion (long double) ----------------------------------------------------

struct DpResult {
    Ld log_z = -kInf;
    std::vector<Ld> class_post;  // [t * C + c]
    std::vector<Ld> state_post;  // [t * S + s]
};

inline DpResult reference_dp(const CtcCase &k, int64_t b, bool want_posteriors = true) {
    const int64_t Tb = k.input_length[static_cast<size_t>(b)], C = k.C;
    const auto &y = k.targets[static_cast<size_t>(b)];
    const int64_t L = static_cast<int64_t>(y.size()), S = 2 * L + 1;
    auto lab = [&](int64_t s) { return s % 2 == 0 ? k.blank : y[static_cast<size_t>(s / 2)]; };
    auto skip = [&](int64_t s) { return s % 2 == 1 && s >= 2 && lab(s) != lab(s - 2); };
    DpResult r;
    if (Tb == 0) {
        r.log_z = L == 0 ? 0 : -kInf;
        return r;
    }
    if (!want_posteriors) {  // rolling rows
        std::vector<Ld> prev(static_cast<size_t>(S), -kInf), cur(static_cast<size_t>(S));
        prev[0] = k.at(b, 0, k.blank);
        if (S > 1) prev[1] = k.at(b, 0, lab(1));
        for (int64_t t = 1; t < Tb; ++t) {
            for (int64_t s = 0; s < S; ++s) {
                Ld v = prev[static_cast<size_t>(s)];
                if (s > 0) v = lse(v, prev[static_cast<size_t>(s - 1)]);
                if (skip(s)) v = lse(v, prev[static_cast<size_t>(s - 2)]);
                cur[static_cast<size_t>(s)] = v == -kInf ? -kInf : v + k.at(b, t, lab(s));
            }
            std::swap(prev, cur);
        }
        r.log_z = prev[static_cast<size_t>(S - 1)];
        if (S > 1) r.log_z = lse(r.log_z, prev[static_cast<size_t>(S - 2)]);
        return r;
    }
    std::vector<Ld> alpha(static_cast<size_t>(Tb * S), -kInf), beta(static_cast<size_t>(Tb * S), -kInf);
    auto A = [&](int64_t t, int64_t s) -> Ld & { return alpha[static_cast<size_t>(t * S + s)]; };
    auto Bt = [&](int64_t t, int64_t s) -> Ld & { return beta[static_cast<size_t>(t * S + s)]; };
    A(0, 0) = k.at(b, 0, k.blank);
    if (S > 1) A(0, 1) = k.at(b, 0, lab(1));
    for (int64_t t = 1; t < Tb; ++t)
        for (int64_t s = 0; s < S; ++s) {
            Ld v = A(t - 1, s);
            if (s > 0) v = lse(v, A(t - 1, s - 1));
            if (skip(s)) v = lse(v, A(t - 1, s - 2));
            A(t, s) = v == -kInf ? -kInf : v + k.at(b, t, lab(s));
        }
    r.log_z = A(Tb - 1, S - 1);
    if (S > 1) r.log_z = lse(r.log_z, A(Tb - 1, S - 2));
    if (r.log_z == -kInf) return r;
    // beta including the emission at t (torch's convention)
    Bt(Tb - 1, S - 1) = k.at(b, Tb - 1, lab(S - 1));
    if (S > 1) Bt(Tb - 1, S - 2) = k.at(b, Tb - 1, lab(S - 2));
    for (int64_t t = Tb - 2; t >= 0; --t)
        for (int64_t s = 0; s < S; ++s) {
            Ld v = Bt(t + 1, s);
            if (s + 1 < S) v = lse(v, Bt(t + 1, s + 1));
            if (s + 2 < S && skip(s + 2)) v = lse(v, Bt(t + 1, s + 2));
            Bt(t, s) = v == -kInf ? -kInf : v + k.at(b, t, lab(s));
        }
    r.class_post.assign(static_cast<size_t>(Tb * C), 0);
    r.state_post.assign(static_cast<size_t>(Tb * S), 0);
    for (int64_t t = 0; t < Tb; ++t)
        for (int64_t s = 0; s < S; ++s) {
            if (A(t, s) == -kInf || Bt(t, s) == -kInf) continue;
            const Ld g = std::exp(A(t, s) + Bt(t, s) - k.at(b, t, lab(s)) - r.log_z);
            r.state_post[static_cast<size_t>(t * S + s)] = g;
            r.class_post[static_cast<size_t>(t * C + lab(s))] += g;
        }
    return r;
}

// torchaudio's forced-alignment recursion, transcribed (full matrix of backpointers): the path
// of classes per frame, or empty when no alignment exists.
inline std::vector<int32_t> reference_viterbi(const CtcCase &k, int64_t b, Ld *score) {
    const int64_t Tb = k.input_length[static_cast<size_t>(b)];
    const auto &y = k.targets[static_cast<size_t>(b)];
    const int64_t L = static_cast<int64_t>(y.size()), S = 2 * L + 1;
    auto lab = [&](int64_t s) { return s % 2 == 0 ? k.blank : y[static_cast<size_t>(s / 2)]; };
    *score = -kInf;
    if (Tb == 0) {
        if (L == 0) *score = 0;
        return {};
    }
    std::vector<Ld> prev(static_cast<size_t>(S), -kInf), cur(static_cast<size_t>(S));
    std::vector<int8_t> bp(static_cast<size_t>(Tb * S), 0);
    prev[0] = k.at(b, 0, k.blank);
    if (S > 1) prev[1] = k.at(b, 0, lab(1));
    for (int64_t t = 1; t < Tb; ++t) {
        for (int64_t i = 0; i < S; ++i) {
            const Ld x0 = prev[static_cast<size_t>(i)];
            const Ld x1 = i > 0 ? prev[static_cast<size_t>(i - 1)] : -kInf;
            Ld x2 = -kInf;
            if (i % 2 != 0 && i != 1 && y[static_cast<size_t>(i / 2)] != y[static_cast<size_t>(i / 2 - 1)])
                x2 = prev[static_cast<size_t>(i - 2)];
            Ld result;
            int8_t ptr;
            if (x2 > x1 && x2 > x0) {
                result = x2;
                ptr = 2;
            } else if (x1 > x0) {
                result = x1;
                ptr = 1;
            } else {
                result = x0;
                ptr = 0;
            }
            bp[static_cast<size_t>(t * S + i)] = ptr;
            cur[static_cast<size_t>(i)] = result == -kInf ? -kInf : result + k.at(b, t, lab(i));
        }
        std::swap(prev, cur);
    }
    int64_t s = S == 1 ? 0 : (prev[static_cast<size_t>(S - 1)] > prev[static_cast<size_t>(S - 2)] ? S - 1 : S - 2);
    if (prev[static_cast<size_t>(s)] == -kInf) return {};
    *score = prev[static_cast<size_t>(s)];
    std::vector<int32_t> path(static_cast<size_t>(Tb));
    for (int64_t t = Tb - 1; t >= 0; --t) {
        path[static_cast<size_t>(t)] = lab(s);
        s -= bp[static_cast<size_t>(t * S + s)];
    }
    return path;
}

}  // namespace sktest
