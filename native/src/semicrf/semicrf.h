// Streaming semi-Markov CRF: the problem description shared by the CPU and CUDA backends and the
// whole per-sequence algorithm, written once as __host__ __device__ functions over "lanes".
//
// A sequence is processed by `lanes.count` cooperating workers: one on the CPU (a thread of the
// pool owns whole sequences), a thread block on CUDA (one block per sequence). Work over labels
// is split as `for (c = lanes.lane; c < C; c += lanes.count)`; every value that another lane
// reads goes through sequence scratch memory and a lanes_sync() (__syncthreads on the device, a
// no-op on the host) separates the phase that writes it from the phase that reads it. Every
// scratch element has exactly one writing lane, so there are no atomics and results do not
// depend on the number of lanes (the CPU-vs-CUDA equivalence rests on this).
//
// Model of sequence b (length L, labels C, durations 1..K, all arithmetic in float64):
//   content w(s, k, c) = cum[s+k, c] - cum[s, c] + D[k-1, c] + ps[s, c] + pe[s+k-1, c]
//   start term  init(k, c) = start[c]                              (exact convention)
//                          = start[c] + (+)_{c'} Tr_k[c', c]          (flash-semicrf convention)
//   Tr_k = transition (C, C), or transition[k-1] for a (K, C, C) transition.
// Forward (semiring (+) = logsumexp or max):
//   static transitions (factorised, O(L (K C + C^2))):
//     gamma_0(c) = init(c),  gamma_s(c) = (+)_{c'} alpha_s(c') + Tr[c', c]   (0 < s < L)
//     a_s(c)     = gamma_s(c) - cum[s, c] + ps[s, c]                      (the ring holds a_s)
//     alpha_t(c) = cum[t, c] + pe[t-1, c] + (+)_{k <= min(K, t)} (a_{t-k}(c) + D[k-1, c])
//   duration-dependent transitions (O(L K C^2)): the ring holds alpha_s and
//     alpha_t(c) = (+)_{k} (+)_{c'} (alpha_{t-k}(c') + Tr_k[c', c]) + w(t-k, k, c)
//     (init(k, c) in place of the inner sum when t - k = 0).
//   log Z = (+)_c alpha_L(c).
// Backward (LOG), streaming from L down to 0 with a ring of beta (beta_L = 0):
//   eps_s^k(c)  = w(s, k, c) + beta_{s+k}(c),   delta_s(c) = (+)_k eps_s^k(c)
//   beta_s(c')  = (+)_c Tr[c', c] + delta_s(c)     ((+)_{k,c} Tr_k[c', c] + eps_s^k(c) otherwise)
//   mu(s, k, c) = exp(gamma_s^k(c) + eps_s^k(c) - log Z)   the segment marginal
//   xi_s(c', c) = exp(alpha_s(c') + Tr_k[c', c] + eps_s^k(c) - log Z)   (summed over k when static)
// MAX gradients and marginals are the indicators of the Viterbi segmentation (scatter_segments).
// Every gradient is assembled from per-position accumulators E_t(c) = sum_s mu(s, t-s, c)
// (segments ending at t) and S_s(c) = sum_k mu(s, k, c) (segments starting at s):
//   d log Z / d cum[t, c] = E_t(c) - S_t(c);  coverage(u, c) = sum_{t > u} (E_t(c) - S_t(c));
//   d/d ps[s, c] = S_s(c);  d/d pe[t-1, c] = E_t(c);  d/d start[c] = S_0(c).
// A gold labelling constrains the lattice: segment (s, k, c) is allowed only when the labels of
// positions s .. s+k-1 all equal c (label[s] == c and the run of equal labels from s is >= k),
// and the same forward / backward then gives the labelling's score and gradient.
//
// The C API layer (capi/capi_semicrf.cpp) validates every argument, so these functions may
// assume a consistent problem (1 <= L <= T, K >= 1, C >= 1, gold data tiling every sequence).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/common.h"
#include "core/tensor.h"
#include "semiring/semiring.h"

struct sk_context;

#if defined(__CUDACC__)
#define SK_SEMICRF_FN __host__ __device__
#else
#define SK_SEMICRF_FN inline
#endif

namespace sk::semicrf {

// ---- views and the problem ----------------------------------------------------------------

template <class T>
struct View1 {
    T *data = nullptr;
    index_t stride = 0;
    SK_HD T &operator()(index_t i) const { return data[i * stride]; }
};

template <class T>
struct View2 {
    T *data = nullptr;
    index_t stride_i = 0;
    index_t stride_j = 0;
    SK_HD T &operator()(index_t i, index_t j) const { return data[i * stride_i + j * stride_j]; }
};

enum class Input : std::int32_t { Scores = 0, Cumulative = 1 };
enum class Op : std::int32_t { Forward, Backward, Marginals, Viterbi, GoldScore, GoldBackward };

struct Shape {
    index_t batch = 0;
    index_t steps = 0;      // T
    index_t labels = 0;     // C
    index_t durations = 0;  // K
};

template <class T>
struct Model {
    Shape shape;
    Semiring semiring = Semiring::Log;
    Input input = Input::Scores;
    bool zero_centre = false;
    bool compat = false;                // flash-semicrf's first-segment transition
    bool nan_infeasible_gradient = false;
    bool duration_transitions = false;  // transition is (K, C, C)
    const index_t *lengths = nullptr;   // (B), 1 <= lengths[b] <= T (host or device memory)
    View3<const T> x;                   // scores (B, T, C) or cumulative (B, T+1, C)
    View3<const T> transition;          // (K or 1, C, C); stride_b 0 when static
    View2<const T> duration_bias;       // (K, C)
    View1<const T> start;               // (C), optional
    View3<const T> proj_start;          // (B, T, C), optional
    View3<const T> proj_end;            // (B, T, C), optional
};

// Caller-visible outputs of one request (absent ones have data == nullptr).
template <class T>
struct Outputs {
    View1<T> value;                 // (B): log-partition, best score or gold score
    View1<const T> upstream;        // (B): grad_log_partition / grad_score
    View3<T> grad_x;                // like x
    View3<T> grad_transition;       // like transition (stride_b 0 for (C, C))
    View2<T> grad_duration_bias;    // (K, C)
    View1<T> grad_start;            // (C)
    View3<T> grad_proj_start;       // (B, T, C)
    View3<T> grad_proj_end;         // (B, T, C)
    View2<T> boundary;              // (B, T)
    View3<T> coverage;              // (B, T, C)
    View3<std::int32_t> segments;   // (B, S, 3)
    index_t segment_capacity = 0;   // S
    View1<std::int32_t> segment_counts;
    View2<std::int32_t> label_path; // (B, T)
};

// Gold annotations, validated and packed by the C API (index_t, host or device memory).
struct Gold {
    const index_t *segments = nullptr;  // (B, S, 3) packed rows [start, end, label]
    const index_t *counts = nullptr;    // (B)
    index_t capacity = 0;               // S
    const index_t *labels = nullptr;    // (B, T) packed
    const index_t *runs = nullptr;      // (B, T): length of the run of equal labels from t
};

template <class T>
struct Request {
    Model<T> model;
    Op op = Op::Forward;
    Outputs<T> out;
    Gold gold;
};

// ---- scratch layout -----------------------------------------------------------------------

// What an op needs per sequence, and the number of float64 / int32 / index_t elements of one
// sequence's scratch (sized for the longest allowed length T). One layout for both backends.
struct Needs {
    bool full_history;   // keep every position's forward vectors (backward, Viterbi)
    bool accumulators;   // E, S and the shared-parameter slices
    bool backpointers;   // Viterbi back-pointers and a decoded segment list
};

inline Needs needs_of(Op op, Semiring semiring, bool gold_labels) {
    const bool smooth = semiring == Semiring::Log;
    switch (op) {
        case Op::Forward: return {false, false, false};
        case Op::Viterbi: return {false, false, true};
        case Op::GoldScore:
            // Explicit segments need no lattice; a labelling needs the constrained forward
            // (and, for MAX, nothing more: its value is the constrained Viterbi score).
            return {false, false, false};
        case Op::GoldBackward:
            if (!gold_labels) return {false, true, false};
            return {smooth, true, !smooth};
        case Op::Backward:
        case Op::Marginals: return {smooth, true, !smooth};
    }
    return {true, true, true};
}

// Ring length: positions t-1 .. t-R are read at step t, so R = min(K, T) slots suffice.
SK_HD index_t ring_length(const Shape &s) { return s.durations < s.steps ? s.durations : s.steps; }
// Duration rows that can be nonzero in a gradient (durations beyond T never occur).
SK_HD index_t used_durations(const Shape &s) { return ring_length(s); }
SK_HD index_t transition_rows(const Shape &s, bool duration_transitions) {
    return duration_transitions ? used_durations(s) : 1;
}

struct Layout {
    index_t doubles = 0;  // per sequence
    index_t ints = 0;     // int32 per sequence
    index_t indices = 0;  // index_t per sequence (decoded segments)
    // double offsets
    index_t cum = 0, hist = 0, hist_len = 0, alpha = 0, cur = 0, beta = 0, eps = 0, ends = 0,
            starts = 0, g_dur = 0, g_trans = 0;
    // int32 offsets
    index_t bp_k = 0, bp_prev = 0, gamma_arg = 0;
};

inline Layout layout_of(const Shape &s, bool duration_transitions, Needs n) {
    Layout l;
    const index_t C = s.labels, rows = s.steps + 1, R = ring_length(s);
    index_t d = 0;
    auto take = [&d](index_t count) {
        const index_t at = d;
        d += count;
        return at;
    };
    l.cum = take(rows * C);
    l.hist_len = n.full_history ? rows : R;
    l.hist = take(l.hist_len * C);
    l.alpha = (n.full_history && !duration_transitions) ? take(rows * C) : l.hist;
    l.cur = take(C);
    if (n.accumulators) {
        l.beta = take(R * C);
        l.eps = duration_transitions ? take(R * C) : 0;
        l.ends = take(rows * C);
        l.starts = take(rows * C);
        l.g_dur = take(used_durations(s) * C);
        l.g_trans = take(transition_rows(s, duration_transitions) * C * C);
    }
    l.doubles = d;
    if (n.backpointers) {
        l.bp_k = 0;
        l.bp_prev = rows * C;
        l.gamma_arg = 2 * rows * C;
        l.ints = 3 * rows * C;
        l.indices = 3 * s.steps;
    }
    return l;
}

// One sequence's scratch (pointers into the backend's memory).
struct Seq {
    index_t b = 0;
    index_t length = 0;
    index_t hist_len = 0;
    double *cum = nullptr, *hist = nullptr, *alpha = nullptr, *cur = nullptr, *beta = nullptr,
           *eps = nullptr, *ends = nullptr, *starts = nullptr, *g_dur = nullptr, *g_trans = nullptr;
    std::int32_t *bp_k = nullptr, *bp_prev = nullptr, *gamma_arg = nullptr;
    index_t *decoded = nullptr;        // (L, 3) segments of a decoded segmentation
    const index_t *labels = nullptr;   // constraint (gold labelling) or nullptr
    const index_t *runs = nullptr;
};

SK_HD Seq bind_seq(const Layout &l, index_t b, index_t length, double *d, std::int32_t *i, index_t *x) {
    Seq q;
    q.b = b;
    q.length = length;
    q.hist_len = l.hist_len;
    q.cum = d + l.cum;
    q.hist = d + l.hist;
    q.alpha = d + l.alpha;
    q.cur = d + l.cur;
    if (l.ends != l.starts) {  // accumulators present
        q.beta = d + l.beta;
        q.eps = d + l.eps;
        q.ends = d + l.ends;
        q.starts = d + l.starts;
        q.g_dur = d + l.g_dur;
        q.g_trans = d + l.g_trans;
    }
    if (l.ints) {
        q.bp_k = i + l.bp_k;
        q.bp_prev = i + l.bp_prev;
        q.gamma_arg = i + l.gamma_arg;
        q.decoded = x;
    }
    return q;
}

// ---- lanes ---------------------------------------------------------------------------------

struct Lanes {
    int lane = 0;
    int count = 1;
};

// __syncthreads on the device; nothing on the host, where one thread is all the lanes. A host
// test may define SK_SEMICRF_HOST_LANE_SYNC() before including this header to run the lanes as
// host threads behind a barrier (native/tests/semicrf_lane_emulation.cpp).
SK_HD void lanes_sync() {
#if defined(__CUDA_ARCH__)
    __syncthreads();
#elif defined(SK_SEMICRF_HOST_LANE_SYNC)
    SK_SEMICRF_HOST_LANE_SYNC();
#endif
}

// ---- semiring reduction in float64 ---------------------------------------------------------

// (+) over candidates scanned in increasing `index` order: logsumexp (exact for -inf, NaN
// propagates) or max with the lowest index among equals (a NaN candidate wins).
struct Reduce {
    bool is_max;
    LogSumExpAccumulator<double> lse;
    double best;
    index_t arg;
    SK_HD explicit Reduce(bool max) : is_max(max), best(-positive_infinity<double>()), arg(-1) {}
    SK_HD void add(double x, index_t index) {
        if (is_max) {
            if (MaxSemiring<double>::better(x, best)) {
                best = x;
                arg = index;
            }
        } else {
            lse.add(x);
        }
    }
    SK_HD double value() const { return is_max ? best : lse.value(); }
};

SK_HD bool is_finite_score(double z) {
    return z > -positive_infinity<double>() && z < positive_infinity<double>();
}

// ---- model terms (float64) -----------------------------------------------------------------

template <class T>
SK_HD index_t transition_row(const Model<T> &m, index_t k) {
    return m.duration_transitions ? k - 1 : 0;
}

template <class T>
SK_HD double trans(const Model<T> &m, index_t k, index_t from, index_t to) {
    return static_cast<double>(m.transition(transition_row(m, k), from, to));
}

// init(k, c): what the first segment (duration k, label c) takes instead of a transition.
template <class T>
SK_HD double start_term(const Model<T> &m, index_t k, index_t c) {
    const double own = m.start.data ? static_cast<double>(m.start(c)) : 0.0;
    if (!m.compat) return own;
    Reduce free_label(m.semiring == Semiring::Max);
    for (index_t from = 0; from < m.shape.labels; ++from) free_label.add(trans(m, k, from, c), from);
    return own + free_label.value();
}

template <class T>
SK_HD double proj_start_at(const Model<T> &m, index_t b, index_t s, index_t c) {
    return m.proj_start.data ? static_cast<double>(m.proj_start(b, s, c)) : 0.0;
}

template <class T>
SK_HD double proj_end_at(const Model<T> &m, index_t b, index_t t, index_t c) {
    return m.proj_end.data ? static_cast<double>(m.proj_end(b, t, c)) : 0.0;
}

// w(s, k, c): the content, duration and boundary scores of segment [s, s+k) with label c.
template <class T>
SK_HD double segment_content(const Model<T> &m, const Seq &q, index_t s, index_t k, index_t c) {
    const index_t C = m.shape.labels;
    return q.cum[(s + k) * C + c] - q.cum[s * C + c] + static_cast<double>(m.duration_bias(k - 1, c)) +
           proj_start_at(m, q.b, s, c) + proj_end_at(m, q.b, s + k - 1, c);
}

// Whether segment [s, s+k) with label c is consistent with the gold labelling (if any).
SK_HD bool allowed(const Seq &q, index_t s, index_t k, index_t c) {
    return !q.labels || (q.labels[s] == c && k <= q.runs[s]);
}

// ---- phase: cumulative scores --------------------------------------------------------------

// cum[t, c] in float64: the stored cumulative scores, or the running sum of the (optionally
// centred) per-position scores, cum[0, c] = 0.
template <class T>
SK_SEMICRF_FN void build_cumulative(const Model<T> &m, const Seq &q, Lanes lanes) {
    const index_t C = m.shape.labels, L = q.length;
    for (index_t c = lanes.lane; c < C; c += lanes.count) {
        if (m.input == Input::Cumulative) {
            for (index_t t = 0; t <= L; ++t) q.cum[t * C + c] = static_cast<double>(m.x(q.b, t, c));
            continue;
        }
        double mean = 0.0;
        if (m.zero_centre) {
            for (index_t u = 0; u < L; ++u) mean += static_cast<double>(m.x(q.b, u, c));
            mean /= static_cast<double>(L);
        }
        double running = 0.0;
        q.cum[c] = 0.0;
        for (index_t u = 0; u < L; ++u) {
            running += static_cast<double>(m.x(q.b, u, c)) - mean;
            q.cum[(u + 1) * C + c] = running;
        }
    }
    lanes_sync();
}

// ---- phase: forward -------------------------------------------------------------------------

struct ForwardResult {
    double value;      // log Z or the best score
    index_t best_end;  // MAX: the lowest best final label (-1 when nothing is feasible)
};

// alpha_t(c) for one label (both transition kinds); MAX records the back-pointers
// (duration, previous label; -1 for the first segment).
template <class T>
SK_SEMICRF_FN double alpha_step(const Model<T> &m, const Seq &q, index_t t, index_t c, bool record) {
    const index_t C = m.shape.labels, K = m.shape.durations, H = q.hist_len;
    const index_t kmax = K < t ? K : t;
    const bool is_max = m.semiring == Semiring::Max;
    Reduce r(is_max);
    if (!m.duration_transitions) {
        for (index_t k = 1; k <= kmax; ++k) {
            const index_t s = t - k;
            if (!allowed(q, s, k, c)) continue;
            r.add(q.hist[(s % H) * C + c] + static_cast<double>(m.duration_bias(k - 1, c)), k);
        }
        if (record) {
            const index_t k = r.arg;
            q.bp_k[t * C + c] = static_cast<std::int32_t>(k);
            q.bp_prev[t * C + c] = k > 0 ? q.gamma_arg[(t - k) * C + c] : -1;
        }
        return q.cum[t * C + c] + proj_end_at(m, q.b, t - 1, c) + r.value();
    }
    // (k, previous label) candidates indexed k * (C + 1) + (previous + 1): increasing order is
    // shortest duration first, then lowest previous label (-1 = the start term).
    for (index_t k = 1; k <= kmax; ++k) {
        const index_t s = t - k;
        if (!allowed(q, s, k, c)) continue;
        const double w = segment_content(m, q, s, k, c);
        if (s == 0) {
            r.add(start_term(m, k, c) + w, k * (C + 1));
            continue;
        }
        for (index_t from = 0; from < C; ++from)
            r.add(q.hist[(s % H) * C + from] + trans(m, k, from, c) + w, k * (C + 1) + from + 1);
    }
    if (record) {
        const index_t k = r.arg < 0 ? -1 : r.arg / (C + 1);
        q.bp_k[t * C + c] = static_cast<std::int32_t>(k);
        q.bp_prev[t * C + c] = r.arg < 0 ? -1 : static_cast<std::int32_t>(r.arg % (C + 1) - 1);
    }
    return r.value();
}

// After alpha_t is complete (in q.cur): the ring entry of position t.
template <class T>
SK_SEMICRF_FN void store_position(const Model<T> &m, const Seq &q, index_t t, index_t c, bool record) {
    const index_t C = m.shape.labels, H = q.hist_len;
    if (m.duration_transitions) {
        q.hist[(t % H) * C + c] = q.cur[c];
        return;
    }
    Reduce g(m.semiring == Semiring::Max);
    for (index_t from = 0; from < C; ++from) g.add(q.cur[from] + trans(m, 1, from, c), from);
    q.hist[(t % H) * C + c] = g.value() - q.cum[t * C + c] + proj_start_at(m, q.b, t, c);
    if (record) q.gamma_arg[t * C + c] = static_cast<std::int32_t>(g.arg);
    if (H > t && q.alpha != q.hist) q.alpha[t * C + c] = q.cur[c];
}

// The forward recursion over positions 1..L (see the top of the file). With full history the
// ring never wraps and every position's entry stays available to the backward.
template <class T>
SK_SEMICRF_FN ForwardResult forward_sequence(const Model<T> &m, const Seq &q, Lanes lanes, bool record) {
    const index_t C = m.shape.labels, L = q.length;
    if (!m.duration_transitions) {
        for (index_t c = lanes.lane; c < C; c += lanes.count) {
            q.hist[c] = start_term(m, 1, c) - q.cum[c] + proj_start_at(m, q.b, 0, c);
            if (record) q.gamma_arg[c] = -1;
        }
    }
    lanes_sync();
    for (index_t t = 1; t <= L; ++t) {
        for (index_t c = lanes.lane; c < C; c += lanes.count) q.cur[c] = alpha_step(m, q, t, c, record);
        lanes_sync();
        if (t == L) break;
        for (index_t c = lanes.lane; c < C; c += lanes.count) store_position(m, q, t, c, record);
        lanes_sync();
    }
    Reduce z(m.semiring == Semiring::Max);
    for (index_t c = 0; c < C; ++c) z.add(q.cur[c], c);
    ForwardResult r{z.value(), z.arg};
    lanes_sync();  // every lane has read cur before anyone reuses it
    return r;
}

// ---- phase: accumulators -------------------------------------------------------------------

// Sets E, S and the shared-parameter slices of the lanes' labels to `fill` (0, or NaN for the
// NaN convention of infeasible sequences). Column c of every array belongs to lane c % count.
template <class T>
SK_SEMICRF_FN void fill_accumulators(const Model<T> &m, const Seq &q, Lanes lanes, double fill) {
    const index_t C = m.shape.labels, L = q.length;
    const index_t D = used_durations(m.shape), R = transition_rows(m.shape, m.duration_transitions);
    for (index_t c = lanes.lane; c < C; c += lanes.count) {
        for (index_t t = 0; t <= L; ++t) q.ends[t * C + c] = q.starts[t * C + c] = fill;
        for (index_t k = 0; k < D; ++k) q.g_dur[k * C + c] = fill;
        for (index_t r = 0; r < R * C; ++r) q.g_trans[r * C + c] = fill;
    }
    lanes_sync();
}

// The first segment's share of the free previous label (flash-semicrf convention): weight
// times softmax_{c'} Tr_k[c', c] (LOG) or the one-hot of the lowest argmax (MAX).
template <class T>
SK_SEMICRF_FN void add_free_label_share(const Model<T> &m, const Seq &q, index_t k, index_t c, double weight) {
    const index_t C = m.shape.labels;
    double *column = q.g_trans + transition_row(m, k) * C * C + c;
    Reduce r(m.semiring == Semiring::Max);
    for (index_t from = 0; from < C; ++from) r.add(trans(m, k, from, c), from);
    if (m.semiring == Semiring::Max) {
        if (r.arg >= 0) column[r.arg * C] += weight;
        return;
    }
    const double norm = r.value();
    if (!is_finite_score(norm)) return;
    for (index_t from = 0; from < C; ++from) column[from * C] += weight * std::exp(trans(m, k, from, c) - norm);
}

// Adds the indicators of one segmentation (rows [start, end, label]) to the accumulators.
// Serial (lane 0): consecutive segments touch the same columns.
template <class T>
SK_SEMICRF_FN void scatter_segments(const Model<T> &m, const Seq &q, const index_t *rows, index_t count, Lanes lanes) {
    const index_t C = m.shape.labels;
    if (lanes.lane == 0) {
        for (index_t i = 0; i < count; ++i) {
            const index_t s = rows[3 * i], e = rows[3 * i + 1], c = rows[3 * i + 2], k = e - s;
            q.ends[e * C + c] += 1.0;
            q.starts[s * C + c] += 1.0;
            q.g_dur[(k - 1) * C + c] += 1.0;
            if (i == 0) {
                if (m.compat) add_free_label_share(m, q, k, c, 1.0);
            } else {
                const index_t from = rows[3 * (i - 1) + 2];
                q.g_trans[(transition_row(m, k) * C + from) * C + c] += 1.0;
            }
        }
    }
    lanes_sync();
}

// The score of one explicit segmentation (serial; every lane returns the same value).
template <class T>
SK_SEMICRF_FN double segmentation_score(const Model<T> &m, const Seq &q, const index_t *rows, index_t count) {
    double total = 0.0;
    for (index_t i = 0; i < count; ++i) {
        const index_t s = rows[3 * i], e = rows[3 * i + 1], c = rows[3 * i + 2], k = e - s;
        total += segment_content(m, q, s, k, c);
        total += i == 0 ? start_term(m, k, c) : trans(m, k, rows[3 * (i - 1) + 2], c);
    }
    return total;
}

// ---- phase: backward (LOG) ------------------------------------------------------------------

// Streams from position L down to 0 over the stored forward (full history), adding the segment
// marginals to E, S, the duration slice and the transition slice (see the top of the file).
// Accumulators must be zero on entry.
template <class T>
SK_SEMICRF_FN void backward_sequence(const Model<T> &m, const Seq &q, double z, Lanes lanes) {
    const index_t C = m.shape.labels, K = m.shape.durations, L = q.length;
    const index_t R = ring_length(m.shape);
    const double neg_inf = -positive_infinity<double>();
    for (index_t c = lanes.lane; c < C; c += lanes.count) {
        for (index_t j = 0; j < R; ++j) q.beta[j * C + c] = neg_inf;
        q.beta[(L % R) * C + c] = 0.0;
    }
    lanes_sync();
    for (index_t s = L - 1; s >= 0; --s) {
        const index_t kmax = K < L - s ? K : L - s;
        // Phase 1 (lane = label c of the segment): eps, delta, the segment marginals.
        for (index_t c = lanes.lane; c < C; c += lanes.count) {
            Reduce delta(false);
            // gamma_s(c) of the static recursion, recovered from the stored a_s(c).
            const double gamma_static = m.duration_transitions ? 0.0
                                        : q.hist[s * C + c] + q.cum[s * C + c] - proj_start_at(m, q.b, s, c);
            for (index_t k = 1; k <= kmax; ++k) {
                if (!allowed(q, s, k, c)) {
                    if (m.duration_transitions) q.eps[(k - 1) * C + c] = neg_inf;
                    continue;
                }
                const double e = segment_content(m, q, s, k, c) + q.beta[((s + k) % R) * C + c];
                delta.add(e, k);
                double gamma = gamma_static;
                if (m.duration_transitions) {
                    q.eps[(k - 1) * C + c] = e;
                    if (s == 0) {
                        gamma = start_term(m, k, c);
                    } else {
                        Reduce g(false);
                        for (index_t from = 0; from < C; ++from) g.add(q.hist[s * C + from] + trans(m, k, from, c), from);
                        gamma = g.value();
                    }
                }
                const double mu = std::exp(gamma + e - z);
                q.ends[(s + k) * C + c] += mu;
                q.starts[s * C + c] += mu;
                q.g_dur[(k - 1) * C + c] += mu;
                if (s == 0 && m.compat) add_free_label_share(m, q, k, c, mu);
            }
            q.cur[c] = delta.value();
        }
        lanes_sync();
        if (s == 0) break;
        // Phase 2: beta_s (lane = previous label) and the transition marginals (lane = next
        // label, the owner of that column of the slice).
        for (index_t c = lanes.lane; c < C; c += lanes.count) {
            Reduce b(false);
            if (!m.duration_transitions) {
                for (index_t to = 0; to < C; ++to) b.add(trans(m, 1, c, to) + q.cur[to], to);
            } else {
                for (index_t k = 1; k <= kmax; ++k)
                    for (index_t to = 0; to < C; ++to) b.add(trans(m, k, c, to) + q.eps[(k - 1) * C + to], to);
            }
            q.beta[(s % R) * C + c] = b.value();
            if (!m.duration_transitions) {
                for (index_t from = 0; from < C; ++from)
                    q.g_trans[from * C + c] += std::exp(q.alpha[s * C + from] + trans(m, 1, from, c) + q.cur[c] - z);
            } else {
                for (index_t k = 1; k <= kmax; ++k) {
                    const double e = q.eps[(k - 1) * C + c];
                    if (e == neg_inf) continue;
                    for (index_t from = 0; from < C; ++from)
                        q.g_trans[((k - 1) * C + from) * C + c] += std::exp(q.hist[s * C + from] + trans(m, k, from, c) + e - z);
                }
            }
        }
        lanes_sync();
    }
}

// ---- phase: Viterbi traceback ----------------------------------------------------------------

// Walks the back-pointers from (L, best_end): every lane counts the segments (reads only), lane
// 0 writes them in order into q.decoded. Returns their number.
template <class T>
SK_SEMICRF_FN index_t traceback(const Model<T> &m, const Seq &q, index_t best_end, Lanes lanes) {
    const index_t C = m.shape.labels;
    index_t count = 0;
    for (index_t t = q.length, c = best_end; t > 0; ++count) {
        const index_t k = q.bp_k[t * C + c];
        c = q.bp_prev[t * C + c];
        t -= k;
    }
    index_t i = count;
    for (index_t t = q.length, c = best_end; lanes.lane == 0 && t > 0;) {
        const index_t k = q.bp_k[t * C + c];
        --i;
        q.decoded[3 * i] = t - k;
        q.decoded[3 * i + 1] = t;
        q.decoded[3 * i + 2] = c;
        c = q.bp_prev[t * C + c];
        t -= k;
    }
    lanes_sync();
    return count;
}

// ---- phase: outputs -------------------------------------------------------------------------

// Per-sequence gradient / marginal outputs from E and S, scaled by `scale` (g_b, or 1 for
// marginals); positions past the length get 0.
template <class T>
SK_SEMICRF_FN void write_position_outputs(const Request<T> &req, const Seq &q, double scale, Lanes lanes) {
    const Model<T> &m = req.model;
    const Outputs<T> &o = req.out;
    const index_t C = m.shape.labels, T_ = m.shape.steps, L = q.length, b = q.b;
    const bool grad_op = req.op == Op::Backward || req.op == Op::GoldBackward;
    for (index_t c = lanes.lane; c < C; c += lanes.count) {
        if (grad_op && o.grad_x.data && m.input == Input::Cumulative) {
            for (index_t t = 0; t <= T_; ++t)
                o.grad_x(b, t, c) = t <= L ? static_cast<T>(scale * (q.ends[t * C + c] - q.starts[t * C + c])) : T(0);
        }
        const bool coverage_out = req.op == Op::Marginals && o.coverage.data;
        const bool scores_grad = grad_op && o.grad_x.data && m.input == Input::Scores;
        if (coverage_out || scores_grad) {
            // coverage(u) = sum_{t > u} (E_t - S_t), accumulated from the end.
            double mean = 0.0;
            if (scores_grad && m.zero_centre) {
                double running = 0.0, total = 0.0;
                for (index_t u = L - 1; u >= 0; --u) {
                    running += q.ends[(u + 1) * C + c] - q.starts[(u + 1) * C + c];
                    total += running;
                }
                mean = total / static_cast<double>(L);
            }
            const View3<T> &out = coverage_out ? o.coverage : o.grad_x;
            for (index_t u = L; u < T_; ++u) out(b, u, c) = T(0);
            double running = 0.0;
            for (index_t u = L - 1; u >= 0; --u) {
                running += q.ends[(u + 1) * C + c] - q.starts[(u + 1) * C + c];
                out(b, u, c) = static_cast<T>(scale * (running - mean));
            }
        }
        if (grad_op && o.grad_proj_start.data)
            for (index_t t = 0; t < T_; ++t)
                o.grad_proj_start(b, t, c) = t < L ? static_cast<T>(scale * q.starts[t * C + c]) : T(0);
        if (grad_op && o.grad_proj_end.data)
            for (index_t t = 0; t < T_; ++t)
                o.grad_proj_end(b, t, c) = t < L ? static_cast<T>(scale * q.ends[(t + 1) * C + c]) : T(0);
    }
    if (req.op == Op::Marginals && o.boundary.data) {
        for (index_t t = lanes.lane; t < T_; t += lanes.count) {
            double p = 0.0;
            if (t < L)
                for (index_t c = 0; c < C; ++c) p += q.starts[t * C + c];
            o.boundary(b, t) = static_cast<T>(p);
        }
    }
    lanes_sync();
}

// Viterbi outputs of one sequence from the decoded segments (count < 0: none).
template <class T>
SK_SEMICRF_FN void write_viterbi_outputs(const Request<T> &req, const Seq &q, index_t count, Lanes lanes) {
    const Outputs<T> &o = req.out;
    const index_t b = q.b, T_ = req.model.shape.steps;
    if (o.segments.data) {
        // Only rows past the decoded count (or all when there is none) are reset here; the
        // decoded rows follow below.
        const index_t S = o.segment_capacity;
        for (index_t j = lanes.lane; j < S; j += lanes.count)
            for (int f = 0; f < 3; ++f)
                o.segments(b, j, f) = j < count ? static_cast<std::int32_t>(q.decoded[3 * j + f]) : -1;
    }
    if (o.segment_counts.data && lanes.lane == 0) o.segment_counts(b) = static_cast<std::int32_t>(count < 0 ? 0 : count);
    if (o.label_path.data) {
        for (index_t t = lanes.lane; t < T_; t += lanes.count) o.label_path(b, t) = -1;
        lanes_sync();
        if (lanes.lane == 0)
            for (index_t i = 0; i < count; ++i)
                for (index_t t = q.decoded[3 * i]; t < q.decoded[3 * i + 1]; ++t)
                    o.label_path(b, t) = static_cast<std::int32_t>(q.decoded[3 * i + 2]);
    }
    lanes_sync();
}

// ---- one sequence, one op ---------------------------------------------------------------------

// The whole op for sequence q.b: value output, per-position outputs, and the sequence's slices
// of the shared-parameter gradients (q.g_dur, q.g_trans, q.starts row 0), which the backend then
// sums over the batch in batch order (reduce_shared_entry).
template <class T>
SK_SEMICRF_FN void process_sequence(const Request<T> &req, Seq q, Lanes lanes) {
    const Model<T> &m = req.model;
    const Op op = req.op;
    const bool is_max = m.semiring == Semiring::Max;
    const bool labels = req.gold.labels != nullptr;
    const index_t b = q.b;
    const index_t T_ = m.shape.steps;
    if (labels) {
        q.labels = req.gold.labels + b * T_;
        q.runs = req.gold.runs + b * T_;
    }
    const bool explicit_gold = (op == Op::GoldScore || op == Op::GoldBackward) && !labels;
    const index_t *gold_rows = explicit_gold ? req.gold.segments + b * req.gold.capacity * 3 : nullptr;
    const index_t gold_count = explicit_gold ? req.gold.counts[b] : 0;
    build_cumulative(m, q, lanes);

    double value = 0.0;
    const bool wants_grad = op == Op::Backward || op == Op::Marginals || op == Op::GoldBackward;
    // The NaN convention is for gradients; marginals of an infeasible sequence are always 0.
    const bool nan_convention = m.nan_infeasible_gradient && op != Op::Marginals;
    if (explicit_gold) {
        value = segmentation_score(m, q, gold_rows, gold_count);
        if (wants_grad) {
            fill_accumulators(m, q, lanes, 0.0);
            scatter_segments(m, q, gold_rows, gold_count, lanes);
        }
    } else if (op == Op::Viterbi || (wants_grad && is_max)) {
        const ForwardResult f = forward_sequence(m, q, lanes, true);
        value = f.value;
        const bool found = is_finite_score(f.value) && f.best_end >= 0;
        index_t count = -1;
        if (found) count = traceback(m, q, f.best_end, lanes);
        if (op == Op::Viterbi) {
            write_viterbi_outputs(req, q, count, lanes);
        } else {
            const bool nan_fill = !found && nan_convention && f.value == -positive_infinity<double>();
            fill_accumulators(m, q, lanes, nan_fill ? static_cast<double>(NAN) : 0.0);
            if (found) scatter_segments(m, q, q.decoded, count, lanes);
        }
    } else {
        const ForwardResult f = forward_sequence(m, q, lanes, false);
        value = f.value;
        if (wants_grad) {
            const bool infeasible = f.value == -positive_infinity<double>();
            fill_accumulators(m, q, lanes, infeasible && nan_convention ? static_cast<double>(NAN) : 0.0);
            if (!infeasible) backward_sequence(m, q, f.value, lanes);
        }
    }
    if (req.out.value.data && lanes.lane == 0) req.out.value(b) = static_cast<T>(value);
    if (wants_grad) {
        const double scale = op == Op::Marginals ? 1.0 : static_cast<double>(req.out.upstream(b));
        write_position_outputs(req, q, scale, lanes);
    }
}

// Where a backend keeps each sequence's shared-parameter slices (offsets in doubles from the
// start of sequence b's block, blocks `stride` doubles apart).
struct SliceLayout {
    index_t dur = 0, trans = 0, start = 0, stride = 0;
};

// Entry `i` of a shared-parameter gradient: the batch sum, in batch order, of g_b times the
// sequences' slices. which: 0 = duration_bias (K, C), 1 = transition (K or 1, C, C), 2 = start
// (C, from S_0: the first segment's label). Rows past the durations that can occur get 0.
template <class T>
SK_SEMICRF_FN void reduce_shared_entry(const Request<T> &req, const SliceLayout &sl, const double *slices,
                                       int which, index_t i) {
    const Model<T> &m = req.model;
    const index_t C = m.shape.labels;
    const index_t row = which == 0 ? i / C : (which == 1 ? i / (C * C) : 0);
    const index_t rows = which == 0 ? used_durations(m.shape)
                                    : (which == 1 ? transition_rows(m.shape, m.duration_transitions) : 1);
    const index_t offset = which == 0 ? sl.dur : (which == 1 ? sl.trans : sl.start);
    double total = 0.0;
    if (row < rows) {
        for (index_t b = 0; b < m.shape.batch; ++b) {
            const double g = req.op == Op::Marginals ? 1.0 : static_cast<double>(req.out.upstream(b));
            total += g * slices[b * sl.stride + offset + i];
        }
    }
    const index_t c = i % C;
    if (which == 0) {
        req.out.grad_duration_bias(i / C, c) = static_cast<T>(total);
    } else if (which == 1) {
        req.out.grad_transition(i / (C * C), (i / C) % C, c) = static_cast<T>(total);
    } else {
        req.out.grad_start(i) = static_cast<T>(total);
    }
}

// Number of entries of each shared-parameter gradient output (0 when not requested).
template <class T>
inline index_t shared_entries(const Request<T> &req, int which) {
    const Shape &s = req.model.shape;
    const index_t C = s.labels;
    if (which == 0) return req.out.grad_duration_bias.data ? s.durations * C : 0;
    if (which == 1) return req.out.grad_transition.data ? (req.model.duration_transitions ? s.durations : 1) * C * C : 0;
    return req.out.grad_start.data ? C : 0;
}

// Backend entry points (explicitly instantiated for float and double). Each writes every
// element of every requested output.
template <class T>
void run_cpu(sk_context &ctx, const Request<T> &req);
template <class T>
void run_cuda(sk_context &ctx, const Request<T> &req);

}  // namespace sk::semicrf
