// CPU backend of the HMM family. It is the reference the CUDA kernels are tested against and
// the path CI and laptops run. Structure:
//   - sequences run in parallel over the context's pool (groups of at most `threads`
//     sequences, each with its own scratch "slot"); when the batch is smaller than the pool and
//     N is large, one sequence at a time runs with each step split over states instead (the
//     pool is not re-entrant, so exactly one of the two levels is parallel);
//   - every step is two passes over the N x N step matrix whose inner loops run over
//     contiguous j (columns for alpha, lanes of a row for beta) and vectorise, including the
//     exponential (vexp below, a branch-free polynomial the compiler can vectorise);
//   - shared-parameter gradients are accumulated per sequence in float64 and folded into the
//     total in batch order, so results do not depend on the thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/context.h"
#include "core/error.h"
#include "hmm/hmm.h"

namespace sk::hmm {
namespace {

#if defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define SK_HMM_CPU_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define SK_HMM_CPU_CLONES
#endif

// ---- a vectorisable exp --------------------------------------------------------------------
// Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, with Cephes' polynomial (float) or
// rational (double) approximation of exp(r) (within 1 ulp for float, 2 ulp for double), scaled
// by 2^n through the exponent bits. Inside the range [-87, 88] (float) / [-708, 709] (double)
// that is the result; outside it the lane's result is replaced by 0 (below; such terms only ever
// add to sums >= 1 here), +inf (above) or the NaN itself, with integer masks. No clamp and no
// branch: GCC if-converts only selects between values it need not compute, and with the
// default -ftrapping-math a select on a computed float becomes a branch that stops the loop
// from vectorising. Out-of-range lanes compute garbage first; all of it is unsigned integer or
// float arithmetic (no undefined behaviour), and it is masked away.

template <class To, class From>
inline To bit_cast_value(From x) {
    static_assert(sizeof(To) == sizeof(From), "size mismatch");
    To y;
    std::memcpy(&y, &x, sizeof(To));
    return y;
}

inline float vexp(float x) {
    // Round x*log2(e) to an integer n with the 1.5*2^23 trick; the low bits then hold n.
    const float biased = x * 1.44269504088896341f + 12582912.0f;
    const std::uint32_t exponent = bit_cast_value<std::uint32_t>(biased) - 0x4B400000u + 127u;  // n + 127
    const float fn = biased - 12582912.0f;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    std::uint32_t y = bit_cast_value<std::uint32_t>(p * bit_cast_value<float>(exponent << 23));
    const std::uint32_t under = x < -87.0f ? ~0u : 0u, over = x > 88.0f ? ~0u : 0u, nan = x != x ? ~0u : 0u;
    y &= ~under;
    y = (y & ~over) | (0x7F800000u & over);
    y = (y & ~nan) | (bit_cast_value<std::uint32_t>(x) & nan);
    return bit_cast_value<float>(y);
}

inline double vexp(double x) {
    const double biased = x * 1.4426950408889634074 + 6755399441055744.0;  // 1.5 * 2^52
    const std::uint64_t exponent = bit_cast_value<std::uint64_t>(biased) - 0x4338000000000000ULL + 1023u;
    const double fn = biased - 6755399441055744.0;
    double r = x - fn * 6.93145751953125e-1;
    r = r - fn * 1.42860682030941723212e-6;
    const double rr = r * r;
    const double px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr +
                           9.99999999999999999910e-1);
    const double qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr +
                       2.27265548208155028766e-1) * rr + 2.00000000000000000009e0;
    const double e = 1.0 + 2.0 * (px / (qx - px));
    std::uint64_t y = bit_cast_value<std::uint64_t>(e * bit_cast_value<double>(exponent << 52));
    const std::uint64_t under = x < -708.0 ? ~0ULL : 0ULL, over = x > 709.0 ? ~0ULL : 0ULL, nan = x != x ? ~0ULL : 0ULL;
    y &= ~under;
    y = (y & ~over) | (0x7FF0000000000000ULL & over);
    y = (y & ~nan) | (bit_cast_value<std::uint64_t>(x) & nan);
    return bit_cast_value<double>(y);
}

template <class T>
constexpr index_t kLanes = 64 / sizeof(T);

// ---- the step kernels (contiguous rows, the hot loops) -------------------------------------

// out[j] = LSE_i(u[i] + mat[i][j]) (+ e[j]) for j in [j0, j1). sh, s: scratch of N.
template <class T>
SK_HMM_CPU_CLONES void lse_columns(const T *u, index_t rows, const T *mat, index_t ld,
                                   index_t j0, index_t j1, const T *e, T *sh, T *s, T *out) {
    for (index_t j = j0; j < j1; ++j) sh[j] = -positive_infinity<T>();
    for (index_t i = 0; i < rows; ++i) {
        const T ui = u[i];
        const T *row = mat + i * ld;
        for (index_t j = j0; j < j1; ++j) {
            const T v = ui + row[j];
            sh[j] = v > sh[j] ? v : sh[j];
        }
    }
    for (index_t j = j0; j < j1; ++j) {
        sh[j] = finite_or_zero(sh[j]);
        s[j] = T(0);
    }
    for (index_t i = 0; i < rows; ++i) {
        const T ui = u[i];
        const T *row = mat + i * ld;
        for (index_t j = j0; j < j1; ++j) s[j] += vexp((ui + row[j]) - sh[j]);
    }
    if (e)
        for (index_t j = j0; j < j1; ++j) out[j] = lse_value(sh[j], s[j]) + e[j];
    else
        for (index_t j = j0; j < j1; ++j) out[j] = lse_value(sh[j], s[j]);
}

// MAX: out[j] = max_i(u[i] + mat[i][j]) (+ e[j]) and arg[j] = the lowest best i (-1 when every
// term is -inf). arg may be null.
template <class T>
SK_HMM_CPU_CLONES void max_columns(const T *u, index_t rows, const T *mat, index_t ld,
                                   index_t j0, index_t j1, const T *e, T *out,
                                   std::int32_t *arg) {
    for (index_t j = j0; j < j1; ++j) out[j] = -positive_infinity<T>();
    if (arg) {
        for (index_t j = j0; j < j1; ++j) arg[j] = -1;
        for (index_t i = 0; i < rows; ++i) {
            const T ui = u[i];
            const T *row = mat + i * ld;
            const auto ii = static_cast<std::int32_t>(i);
            for (index_t j = j0; j < j1; ++j) {
                const T v = ui + row[j];
                const bool take = MaxSemiring<T>::better(v, out[j]);
                out[j] = take ? v : out[j];
                arg[j] = take ? ii : arg[j];
            }
        }
    } else {
        for (index_t i = 0; i < rows; ++i) {
            const T ui = u[i];
            const T *row = mat + i * ld;
            for (index_t j = j0; j < j1; ++j) {
                const T v = ui + row[j];
                out[j] = MaxSemiring<T>::better(v, out[j]) ? v : out[j];
            }
        }
    }
    if (e)
        for (index_t j = j0; j < j1; ++j) out[j] += e[j];
}

// One row of the backward step: with v[j] = row[j] + w[j],
//   returns beta_{t-1}[i] = LSE_j v[j], and with xi_j = g * exp(alpha_i + shift - z) *
//   exp(v[j] - shift), the edge posterior weights posterior_weight(alpha_i, v[j], z, g) with one
//   exp per element (the factor exp(alpha_i + shift - z) <= 1 since sum_j xi_j is the node
//   posterior of i): stores them in xi (when not null) and adds them to acc in float64 (when
//   not null).
// Lanes make the reductions over j vectorise with a fixed summation order.
template <class T, bool WithXi, bool WithAcc>
SK_HMM_CPU_CLONES T lse_row(const T *row, const T *w, index_t n, T alpha_i, T z, T g, T *xi, double *acc) {
    constexpr index_t L = kLanes<T>;
    const index_t body = n - n % L;
    T lane[L];
    for (index_t l = 0; l < L; ++l) lane[l] = -positive_infinity<T>();
    for (index_t j0 = 0; j0 < body; j0 += L)
        for (index_t l = 0; l < L; ++l) {
            const T v = row[j0 + l] + w[j0 + l];
            lane[l] = v > lane[l] ? v : lane[l];
        }
    for (index_t j = body; j < n; ++j) {
        const T v = row[j] + w[j];
        lane[j - body] = v > lane[j - body] ? v : lane[j - body];
    }
    T m = -positive_infinity<T>();
    for (index_t l = 0; l < L; ++l) m = max_ignoring_nan(m, lane[l]);
    const T shift = finite_or_zero(m);
    for (index_t l = 0; l < L; ++l) lane[l] = T(0);
    if (WithXi || WithAcc) {
        // A row without a finite term has no posterior mass (and exp(alpha_i - z) may overflow).
        const T factor = m == -positive_infinity<T>() ? T(0) : g * vexp((alpha_i + shift) - z);
        for (index_t j0 = 0; j0 < body; j0 += L)
            for (index_t l = 0; l < L; ++l) {
                const T ev = vexp((row[j0 + l] + w[j0 + l]) - shift);
                lane[l] += ev;
                if (WithXi) xi[j0 + l] = factor * ev;
                if (WithAcc) acc[j0 + l] += static_cast<double>(factor * ev);
            }
        for (index_t j = body; j < n; ++j) {
            const T ev = vexp((row[j] + w[j]) - shift);
            lane[j - body] += ev;
            if (WithXi) xi[j] = factor * ev;
            if (WithAcc) acc[j] += static_cast<double>(factor * ev);
        }
    } else {
        for (index_t j0 = 0; j0 < body; j0 += L)
            for (index_t l = 0; l < L; ++l) lane[l] += vexp((row[j0 + l] + w[j0 + l]) - shift);
        for (index_t j = body; j < n; ++j) lane[j - body] += vexp((row[j] + w[j]) - shift);
    }
    T sum = T(0);
    for (index_t l = 0; l < L; ++l) sum += lane[l];
    return lse_value(shift, sum);
}

// Subtracts the step shift (max ignoring NaN, 0 when not finite) and returns it.
template <class T>
T normalise(T *v, index_t n) {
    T m = -positive_infinity<T>();
    for (index_t j = 0; j < n; ++j) m = max_ignoring_nan(m, v[j]);
    const T shift = step_shift(m);
    if (shift != T(0))
        for (index_t j = 0; j < n; ++j) v[j] -= shift;
    return shift;
}

// ---- scratch ---------------------------------------------------------------------------------

// Carves typed arrays out of one lease (64-byte aligned pieces); with base == nullptr it only
// measures.
struct Carver {
    char *base = nullptr;
    std::size_t used = 0;
    template <class U>
    U *take(index_t count) {
        const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(U) + 63) / 64 * 64;
        U *p = base ? reinterpret_cast<U *>(base + used) : nullptr;
        used += bytes;
        return p;
    }
};

// What an op needs per concurrently running sequence.
struct SlotNeeds {
    bool staging = false;      // an N x N matrix to make strided step matrices contiguous
    bool alpha_store = false;  // normalised alpha and its shift for every position (LOG sweeps)
    bool backpointers = false; // MAX argmax for every position + the path
    bool accumulators = false; // float64 initial / transition gradient sums
};

template <class T>
struct Slot {
    T *mat = nullptr;      // N*N: a strided step matrix made contiguous (only when needed)
    T *emission = nullptr; // N: a strided emission row made contiguous
    T *cur = nullptr, *nxt = nullptr, *sh = nullptr, *s = nullptr, *w = nullptr;
    T *alpha = nullptr;    // steps*N
    T *shifts = nullptr;             // steps: the shift that normalised alpha_t
    std::int32_t *bp = nullptr;      // steps*N
    std::int32_t *path = nullptr;    // steps
    double *acc_initial = nullptr;   // N
    double *acc_transition = nullptr;  // N*N

    template <class C>
    void carve(C &c, const Shape &s_, const SlotNeeds &needs) {
        const index_t n = s_.states, steps = s_.steps;
        if (needs.staging) mat = c.template take<T>(n * n);
        emission = c.template take<T>(n);
        cur = c.template take<T>(n);
        nxt = c.template take<T>(n);
        sh = c.template take<T>(n);
        s = c.template take<T>(n);
        w = c.template take<T>(n);
        if (needs.alpha_store) {
            alpha = c.template take<T>(steps * n);
            shifts = c.template take<T>(steps);
        }
        if (needs.backpointers) {
            bp = c.template take<std::int32_t>(steps * n);
            path = c.template take<std::int32_t>(steps);
        }
        if (needs.accumulators) {
            acc_initial = c.template take<double>(n);
            acc_transition = c.template take<double>(n * n);
        }
    }
};

// Runs work over [0, n) states: inline, or split over the pool (state-parallel mode).
struct Exec {
    ThreadPool *pool = nullptr;
    template <class F>
    void range(index_t n, F &&body) const {
        if (pool)
            pool->parallel_for(n, 32, body);
        else
            body(index_t(0), n);
    }
};

// One sequence's inputs as contiguous rows.
template <class T>
struct Sequence {
    const Model<T> &m;
    index_t b;
    index_t length;
    Slot<T> &slot;
    const T *transition = nullptr;  // factored: contiguous rows
    index_t transition_ld = 0;

    Sequence(const Model<T> &model, index_t bi, Slot<T> &sl)
        : m(model), b(bi), length(model.lengths[bi]), slot(sl) {
        if (m.form != Form::Factored) return;
        const index_t n = m.shape.states;
        if (m.transition.stride_j == 1) {
            transition = m.transition.matrix(b);
            transition_ld = m.transition.stride_i;
        } else {
            for (index_t i = 0; i < n; ++i)
                for (index_t j = 0; j < n; ++j) slot.mat[i * n + j] = m.transition(b, i, j);
            transition = slot.mat;
            transition_ld = n;
        }
    }
    index_t states() const { return m.shape.states; }

    // The step matrix of position t (1 <= t < length), rows contiguous.
    const T *matrix(index_t t, index_t *ld) const {
        if (m.form == Form::Factored) {
            *ld = transition_ld;
            return transition;
        }
        const auto &p = m.potentials;
        const T *base = p.data + b * p.s0 + t * p.s1;
        if (p.s3 == 1) {
            *ld = p.s2;
            return base;
        }
        const index_t n = states();
        for (index_t i = 0; i < n; ++i)
            for (index_t j = 0; j < n; ++j) slot.mat[i * n + j] = base[i * p.s2 + j * p.s3];
        *ld = n;
        return slot.mat;
    }
    // The emission row of position t (factored), or null (edge).
    const T *emission(index_t t) const {
        if (m.form != Form::Factored) return nullptr;
        const auto &e = m.emission;
        const T *base = e.data + b * e.stride_b + t * e.stride_i;
        if (e.stride_j == 1) return base;
        for (index_t j = 0; j < states(); ++j) slot.emission[j] = base[j * e.stride_j];
        return slot.emission;
    }
    void start(T *out) const {
        for (index_t j = 0; j < states(); ++j) out[j] = m.start_score(b, j);
    }
};

// ---- per-sequence sweeps ---------------------------------------------------------------------

// LOG forward. With store keeps every normalised alpha (slot.alpha) and the shift that
// normalised it (slot.shifts). Returns the log-partition in float64.
template <class T>
double log_forward(const Sequence<T> &q, const Exec &ex, bool store) {
    const index_t n = q.states();
    Slot<T> &sl = q.slot;
    T *cur = store ? sl.alpha : sl.cur;
    q.start(cur);
    const T shift0 = normalise(cur, n);
    double offset = shift0;
    if (store) sl.shifts[0] = shift0;
    for (index_t t = 1; t < q.length; ++t) {
        T *nxt = store ? sl.alpha + t * n : (cur == sl.cur ? sl.nxt : sl.cur);
        index_t ld = 0;
        const T *mat = q.matrix(t, &ld);
        const T *e = q.emission(t);
        ex.range(n, [&](index_t j0, index_t j1) { lse_columns(cur, n, mat, ld, j0, j1, e, sl.sh, sl.s, nxt); });
        const T shift = normalise(nxt, n);
        offset += shift;
        if (store) sl.shifts[t] = shift;
        cur = nxt;
    }
    LogSumExpAccumulator<T> acc;
    for (index_t j = 0; j < n; ++j) acc.add(cur[j]);
    return total_score(offset, acc.value());
}

// MAX forward (Viterbi). With slot.bp != null records the lowest best predecessor of every
// (position, state). Returns the best score; *last gets the lowest best final state.
template <class T>
double max_forward(const Sequence<T> &q, const Exec &ex, bool backpointers, index_t *last) {
    const index_t n = q.states();
    Slot<T> &sl = q.slot;
    T *cur = sl.cur, *nxt = sl.nxt;
    q.start(cur);
    double offset = normalise(cur, n);
    for (index_t t = 1; t < q.length; ++t) {
        index_t ld = 0;
        const T *mat = q.matrix(t, &ld);
        const T *e = q.emission(t);
        std::int32_t *arg = backpointers ? sl.bp + t * n : nullptr;
        ex.range(n, [&](index_t j0, index_t j1) { max_columns(cur, n, mat, ld, j0, j1, e, nxt, arg); });
        offset += normalise(nxt, n);
        std::swap(cur, nxt);
    }
    T best = -positive_infinity<T>();
    index_t where = -1;
    for (index_t j = 0; j < n; ++j)
        if (MaxSemiring<T>::better(cur[j], best)) {
            best = cur[j];
            where = j;
        }
    *last = where;
    return total_score(offset, best);
}

// Viterbi path into slot.path (positions < length); returns the score. The path is -1
// throughout when the score is -inf or NaN.
template <class T>
double viterbi_path(const Sequence<T> &q, const Exec &ex) {
    index_t last = -1;
    const double score = max_forward(q, ex, true, &last);
    std::int32_t *path = q.slot.path;
    if (outcome_of(score) != Outcome::Finite) {
        for (index_t t = 0; t < q.length; ++t) path[t] = -1;
        return score;
    }
    const index_t n = q.states();
    path[q.length - 1] = static_cast<std::int32_t>(last);
    for (index_t t = q.length - 1; t >= 1; --t) path[t - 1] = q.slot.bp[t * n + path[t]];
    return score;
}

// Where the LOG sweep and the MAX routing write (per sequence; null members are skipped).
template <class T>
struct Sink {
    View3<T> nodes;            // (B, T, N): marginals or grad_emission
    View4<T> edges;            // grad_potentials
    bool initial_to_row0 = false;  // edge ROW0: the start gradient goes to edges(b, 0, 0, j)
    bool accumulate = false;   // slot.acc_initial / acc_transition receive the sums
    bool accumulate_transition = false;  // factored: transition posteriors summed over time
};

// Writes zeros over the parts of the sequence's outputs that no sweep touches: positions past
// the length, the unread position-0 entries of the edge form, the accumulators.
template <class T>
void clear_sequence(const Sequence<T> &q, const Sink<T> &sink, index_t from_step) {
    const index_t n = q.states(), steps = q.m.shape.steps;
    if (sink.nodes.data)
        for (index_t t = from_step; t < steps; ++t)
            for (index_t j = 0; j < n; ++j) sink.nodes(q.b, t, j) = T(0);
    if (sink.edges.data)
        for (index_t t = from_step; t < steps; ++t)
            for (index_t i = 0; i < n; ++i)
                for (index_t j = 0; j < n; ++j) sink.edges(q.b, t, i, j) = T(0);
}

template <class T>
void clear_accumulators(const Sequence<T> &q) {
    const index_t n = q.states();
    std::fill(q.slot.acc_initial, q.slot.acc_initial + n, 0.0);
    std::fill(q.slot.acc_transition, q.slot.acc_transition + n * n, 0.0);
}

// LOG backward sweep: beta from the end, node posteriors, edge posteriors, accumulators.
// Returns the log-partition.
template <class T>
double log_sweep(const Sequence<T> &q, const Exec &ex, T g, const Sink<T> &sink) {
    const index_t n = q.states(), L = q.length;
    Slot<T> &sl = q.slot;
    const double log_z = log_forward(q, ex, true);
    if (sink.accumulate) clear_accumulators(q);
    if (sink.edges.data) {
        // Position 0 of the edge form: only row 0 under ROW0 is read; the rest is zero.
        for (index_t i = 0; i < n; ++i)
            for (index_t j = 0; j < n; ++j) sink.edges(q.b, 0, i, j) = T(0);
    }
    clear_sequence(q, sink, L);
    if (outcome_of(log_z) == Outcome::Infeasible) {
        clear_sequence(q, sink, 0);
        return log_z;
    }
    T *beta = sl.cur, *beta_next = sl.nxt;
    std::fill(beta, beta + n, T(0));
    for (index_t t = L - 1;; --t) {
        const T *alpha = sl.alpha + t * n;
        LogSumExpAccumulator<T> norm;
        for (index_t j = 0; j < n; ++j) norm.add(alpha[j] + beta[j]);
        const T z = norm.value();
        for (index_t j = 0; j < n; ++j) {
            const T p = posterior_weight(alpha[j], beta[j], z, g);
            if (sink.nodes.data) sink.nodes(q.b, t, j) = p;
            if (t == 0) {
                if (sink.initial_to_row0) sink.edges(q.b, 0, 0, j) = p;
                if (sink.accumulate) sl.acc_initial[j] = static_cast<double>(p);
            }
        }
        if (t == 0) break;
        index_t ld = 0;
        const T *mat = q.matrix(t, &ld);
        const T *e = q.emission(t);
        for (index_t j = 0; j < n; ++j) sl.w[j] = (e ? e[j] : T(0)) + beta[j];
        const T z_edge = edge_normaliser(z, sl.shifts[t]);
        const T *alpha_prev = sl.alpha + (t - 1) * n;
        const bool direct = sink.edges.data && sink.edges.s3 == 1;
        ex.range(n, [&](index_t i0, index_t i1) {
            // Edge weights go straight into a contiguous gradient row, or through a row buffer.
            std::vector<T> row_xi(sink.edges.data && !direct ? static_cast<std::size_t>(n) : 0);
            for (index_t i = i0; i < i1; ++i) {
                T *xi = nullptr;
                if (sink.edges.data) xi = direct ? &sink.edges(q.b, t, i, 0) : row_xi.data();
                double *acc = sink.accumulate_transition ? sl.acc_transition + i * n : nullptr;
                const T *r = mat + i * ld;
                if (xi && acc)
                    beta_next[i] = lse_row<T, true, true>(r, sl.w, n, alpha_prev[i], z_edge, g, xi, acc);
                else if (xi)
                    beta_next[i] = lse_row<T, true, false>(r, sl.w, n, alpha_prev[i], z_edge, g, xi, acc);
                else if (acc)
                    beta_next[i] = lse_row<T, false, true>(r, sl.w, n, alpha_prev[i], z_edge, g, xi, acc);
                else
                    beta_next[i] = lse_row<T, false, false>(r, sl.w, n, alpha_prev[i], z_edge, g, xi, acc);
                if (sink.edges.data && !direct)
                    for (index_t j = 0; j < n; ++j) sink.edges(q.b, t, i, j) = xi[j];
            }
        });
        normalise(beta_next, n);
        std::swap(beta, beta_next);
    }
    return log_z;
}

// MAX routing of g through the best path (the Viterbi path); NaN scores give NaN over every
// entry the recurrence reads. Returns the best score.
template <class T>
double max_route(const Sequence<T> &q, const Exec &ex, T g, const Sink<T> &sink) {
    const index_t n = q.states(), L = q.length;
    const double score = viterbi_path(q, ex);
    const Outcome outcome = outcome_of(score);
    if (sink.accumulate) clear_accumulators(q);
    clear_sequence(q, sink, 0);
    const std::int32_t *path = q.slot.path;
    if (outcome == Outcome::Infeasible) return score;
    if (outcome == Outcome::Nan) {
        const T nan = std::numeric_limits<T>::quiet_NaN();
        for (index_t t = 0; t < L; ++t) {
            if (sink.nodes.data)
                for (index_t j = 0; j < n; ++j) sink.nodes(q.b, t, j) = nan;
            if (sink.edges.data && t >= 1)
                for (index_t i = 0; i < n; ++i)
                    for (index_t j = 0; j < n; ++j) sink.edges(q.b, t, i, j) = nan;
        }
        if (sink.initial_to_row0)
            for (index_t j = 0; j < n; ++j) sink.edges(q.b, 0, 0, j) = nan;
        if (sink.accumulate) {
            std::fill(q.slot.acc_initial, q.slot.acc_initial + n, static_cast<double>(nan));
            if (L >= 2 && sink.accumulate_transition)
                std::fill(q.slot.acc_transition, q.slot.acc_transition + n * n, static_cast<double>(nan));
        }
        return score;
    }
    for (index_t t = 0; t < L; ++t) {
        const index_t j = path[t];
        if (sink.nodes.data) sink.nodes(q.b, t, j) = g;
        if (t == 0) {
            if (sink.initial_to_row0) sink.edges(q.b, 0, 0, j) = g;
            if (sink.accumulate) q.slot.acc_initial[j] += static_cast<double>(g);
            continue;
        }
        const index_t i = path[t - 1];
        if (sink.edges.data) sink.edges(q.b, t, i, j) = g;
        if (sink.accumulate_transition) q.slot.acc_transition[i * n + j] += static_cast<double>(g);
    }
    return score;
}

// ---- the batch driver ------------------------------------------------------------------------

constexpr index_t kStateParallelMinStates = 128;

// Runs body(sequence, exec) for every b, `threads` sequences at a time, and after each group
// calls fold(first, count, slots) on the calling thread (batch order).
template <class T, class Body, class Fold>
void for_each_sequence(sk_context &ctx, const Model<T> &m, SlotNeeds needs, Body body, Fold fold) {
    const index_t batch = m.shape.batch;
    // No sequence, no scratch: with B = 0 the inputs are empty, so T and N are not bounded by any
    // tensor's size and the per-sequence scratch size (T * N) need not even fit in 64 bits.
    if (batch == 0) return;
    needs.staging = m.form == Form::Factored ? m.transition.stride_j != 1 : m.potentials.s3 != 1;
    const index_t threads = ctx.num_threads();
    const bool state_parallel = batch < threads && m.shape.states >= kStateParallelMinStates;
    const index_t slots = state_parallel ? 1 : std::max<index_t>(1, std::min(batch, threads));
    Carver measure;
    Slot<T>{}.carve(measure, m.shape, needs);
    const std::size_t slot_bytes = measure.used;
    auto lease = ctx.workspace().acquire(slot_bytes * static_cast<std::size_t>(slots), "hmm: per-sequence scratch");
    std::vector<Slot<T>> slot(static_cast<std::size_t>(slots));
    for (index_t k = 0; k < slots; ++k) {
        Carver c{lease.as<char>() + slot_bytes * static_cast<std::size_t>(k), 0};
        slot[static_cast<std::size_t>(k)].carve(c, m.shape, needs);
    }
    for (index_t first = 0; first < batch; first += slots) {
        const index_t count = std::min(slots, batch - first);
        if (state_parallel) {
            Sequence<T> q(m, first, slot[0]);
            body(q, Exec{&ctx.pool()});
        } else {
            ctx.pool().parallel_for(count, 1, [&](index_t k0, index_t k1) {
                for (index_t k = k0; k < k1; ++k) {
                    Sequence<T> q(m, first + k, slot[static_cast<std::size_t>(k)]);
                    body(q, Exec{});
                }
            });
        }
        fold(first, count, slot);
    }
}

template <class T>
void write_scores(View1<T> out, index_t b, double score) {
    if (out.data) out(b) = static_cast<T>(score);
}

// Shared-parameter totals: float64 sums over sequences in batch order, written at the end.
template <class T>
struct SharedTotals {
    std::vector<double> initial, transition;
    SharedTotals(index_t n, bool want_initial, bool want_transition)
        : initial(want_initial ? static_cast<std::size_t>(n) : 0, 0.0),
          transition(want_transition ? static_cast<std::size_t>(n * n) : 0, 0.0) {}
    void add(const Slot<T> &s) {
        for (std::size_t j = 0; j < initial.size(); ++j) initial[j] += s.acc_initial[j];
        for (std::size_t k = 0; k < transition.size(); ++k) transition[k] += s.acc_transition[k];
    }
};

}  // namespace

// ---- entry points ----------------------------------------------------------------------------

template <class T>
void forward_cpu(sk_context &ctx, const ForwardArgs<T> &a) {
    const bool log = a.model.semiring == Semiring::Log;
    for_each_sequence<T>(
        ctx, a.model, SlotNeeds{},
        [&](Sequence<T> &q, const Exec &ex) {
            index_t last = -1;
            const double score = log ? log_forward(q, ex, false) : max_forward(q, ex, false, &last);
            write_scores(a.log_partition, q.b, score);
        },
        [](index_t, index_t, std::vector<Slot<T>> &) {});
}

template <class T>
void viterbi_cpu(sk_context &ctx, const ViterbiArgs<T> &a) {
    SlotNeeds needs;
    needs.backpointers = true;
    for_each_sequence<T>(
        ctx, a.model, needs,
        [&](Sequence<T> &q, const Exec &ex) {
            const double score = viterbi_path(q, ex);
            write_scores(a.score, q.b, score);
            if (!a.path.data) return;
            for (index_t t = 0; t < a.model.shape.steps; ++t)
                a.path(q.b, t) = t < q.length ? q.slot.path[t] : -1;
        },
        [](index_t, index_t, std::vector<Slot<T>> &) {});
}

template <class T>
void marginals_cpu(sk_context &ctx, const MarginalsArgs<T> &a) {
    const bool log = a.model.semiring == Semiring::Log;
    SlotNeeds needs;
    needs.alpha_store = log;
    needs.backpointers = !log;
    Sink<T> sink;
    sink.nodes = a.marginals;
    for_each_sequence<T>(
        ctx, a.model, needs,
        [&](Sequence<T> &q, const Exec &ex) {
            const double score = log ? log_sweep(q, ex, T(1), sink) : max_route(q, ex, T(1), sink);
            write_scores(a.log_partition, q.b, score);
        },
        [](index_t, index_t, std::vector<Slot<T>> &) {});
}

template <class T>
void backward_cpu(sk_context &ctx, const BackwardArgs<T> &a) {
    const Model<T> &m = a.model;
    const bool log = m.semiring == Semiring::Log;
    const index_t n = m.shape.states;
    const bool want_initial = a.grad_initial.data != nullptr;
    const bool want_transition = a.grad_transition.data != nullptr;
    SlotNeeds needs;
    needs.alpha_store = log;
    needs.backpointers = !log;
    needs.accumulators = want_initial || want_transition;
    Sink<T> sink;
    sink.nodes = a.grad_emission;
    sink.edges = a.grad_potentials;
    sink.initial_to_row0 = a.grad_potentials.data != nullptr && m.form == Form::Edge &&
                           m.convention == InitialConvention::Row0;
    sink.accumulate = needs.accumulators;
    sink.accumulate_transition = want_transition;
    SharedTotals<T> totals(n, want_initial && m.initial_shared,
                           want_transition && m.transition_shared);
    for_each_sequence<T>(
        ctx, m, needs,
        [&](Sequence<T> &q, const Exec &ex) {
            const T g = a.grad(q.b);
            if (log)
                log_sweep(q, ex, g, sink);
            else
                max_route(q, ex, g, sink);
            // Per-sequence parameters take their sums directly.
            if (want_initial && !m.initial_shared)
                for (index_t j = 0; j < n; ++j)
                    a.grad_initial(q.b, j) = static_cast<T>(q.slot.acc_initial[j]);
            if (want_transition && !m.transition_shared)
                for (index_t i = 0; i < n; ++i)
                    for (index_t j = 0; j < n; ++j)
                        a.grad_transition(q.b, i, j) = static_cast<T>(q.slot.acc_transition[i * n + j]);
        },
        [&](index_t, index_t count, std::vector<Slot<T>> &slots) {
            if (!needs.accumulators) return;
            for (index_t k = 0; k < count; ++k) totals.add(slots[static_cast<std::size_t>(k)]);
        });
    if (want_initial && m.initial_shared)
        for (index_t j = 0; j < n; ++j) a.grad_initial(0, j) = static_cast<T>(totals.initial[static_cast<std::size_t>(j)]);
    if (want_transition && m.transition_shared)
        for (index_t i = 0; i < n; ++i)
            for (index_t j = 0; j < n; ++j)
                a.grad_transition(0, i, j) = static_cast<T>(totals.transition[static_cast<std::size_t>(i * n + j)]);
}

template void forward_cpu<float>(sk_context &, const ForwardArgs<float> &);
template void forward_cpu<double>(sk_context &, const ForwardArgs<double> &);
template void viterbi_cpu<float>(sk_context &, const ViterbiArgs<float> &);
template void viterbi_cpu<double>(sk_context &, const ViterbiArgs<double> &);
template void marginals_cpu<float>(sk_context &, const MarginalsArgs<float> &);
template void marginals_cpu<double>(sk_context &, const MarginalsArgs<double> &);
template void backward_cpu<float>(sk_context &, const BackwardArgs<float> &);
template void backward_cpu<double>(sk_context &, const BackwardArgs<double> &);

}  // namespace sk::hmm
