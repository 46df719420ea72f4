// HMM forward-backward: the problem description shared by the CPU and CUDA backends, the
// per-element math both use (__host__ __device__), and the backend entry points.
//
// Two input forms over B sequences of at most T positions and N states (log scores):
//   edge:      potentials[b,t,i,j] scores i at t-1 -> j at t (1 <= t < length[b]); the start is
//              initial[j] (SEPARATE: potentials[b,0] is not read) or potentials[b,0,0,j] (ROW0:
//              rows 1.. of potentials[b,0] are not read).
//   factored:  initial[j] + emission[b,0,j] at t = 0, transition[i,j] + emission[b,t,j] after.
// Recurrence (semiring S = LOG or MAX):
//   alpha_0[j] = start(j);  alpha_t[j] = (+)_i alpha_{t-1}[i] (x) M_t[i,j]  (+ emission, factored)
//   result     = (+)_j alpha_{L-1}[j]
//
// Numerics shared by both backends (see NOTES.md for the reasoning):
//   - every step's vector is stored normalised: its maximum over states (ignoring NaN; 0 when
//     that maximum is not finite) is subtracted and added to a float64 running offset. So each
//     step works on O(1) values in the input precision and the cumulative score lives in
//     float64: float32 log-partitions do not drift with T.
//   - a log-sum-exp over one axis is taken as (shift = finite part of the max, sum of
//     exp(v - shift)); partial results combine with lse_merge; value = shift + log(sum). This is
//     exact for -inf (all -inf gives -inf, never NaN) and propagates NaN.
//   - posteriors are exp(a + b - z) with a, b the stored normalised vectors and z the
//     log-sum-exp of a + b over the position (posterior_weight), not the log-partition.
//   - shared-parameter gradients (a (N) initial, a (N, N) transition) are sums over the batch
//     (and time) accumulated in float64 in a fixed order.
//   - MAX ties: the lowest index wins (MaxSemiring::better scanning upwards); a NaN term wins.
//     The Viterbi path takes the lowest best final state, then at each earlier position the
//     lowest best predecessor.
//
// The C API layer (capi/capi_hmm.cpp) validates every argument (shapes, dtypes, devices,
// 1 <= lengths[b] <= T, N >= 1), so these functions may assume a consistent problem.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/common.h"
#include "core/tensor.h"
#include "semiring/semiring.h"

struct sk_context;

namespace sk::hmm {

enum class Form : std::int32_t { Edge = 0, Factored = 1 };
enum class InitialConvention : std::int32_t { Separate = 0, Row0 = 1 };

// Strided views (strides in elements). View1: (b); View2: (b, j) with stride_b 0 for a tensor
// shared by the batch; View4: (b, t, i, j).
template <class T>
struct View1 {
    T *data = nullptr;
    index_t stride = 0;
    SK_HD T &operator()(index_t b) const { return data[b * stride]; }
};

template <class T>
struct View2 {
    T *data = nullptr;
    index_t stride_b = 0;
    index_t stride_j = 0;
    SK_HD T &operator()(index_t b, index_t j) const { return data[b * stride_b + j * stride_j]; }
};

template <class T>
struct View4 {
    T *data = nullptr;
    index_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    SK_HD T &operator()(index_t b, index_t t, index_t i, index_t j) const {
        return data[b * s0 + t * s1 + i * s2 + j * s3];
    }
};

struct Shape {
    index_t batch = 0;
    index_t steps = 0;   // T
    index_t states = 0;  // N
};

// The inputs of every op. Views of the form that is not used are empty.
template <class T>
struct Model {
    Form form = Form::Edge;
    Semiring semiring = Semiring::Log;
    InitialConvention convention = InitialConvention::Separate;
    Shape shape;
    const index_t *lengths = nullptr;  // host memory, 1 <= lengths[b] <= steps
    View4<const T> potentials;         // edge: (B, T, N, N)
    View2<const T> initial;            // (N) shared or (B, N); empty for edge + ROW0
    bool initial_shared = false;
    View3<const T> transition;         // factored: (N, N) shared (stride_b 0) or (B, N, N)
    bool transition_shared = false;
    View3<const T> emission;           // factored: (B, T, N)

    // alpha_0[j].
    SK_HD T start_score(index_t b, index_t j) const {
        if (form == Form::Factored) return initial(b, j) + emission(b, 0, j);
        if (convention == InitialConvention::Row0) return potentials(b, 0, 0, j);
        return initial(b, j);
    }
    // M_t[i, j] of the edge form, or transition[i, j] of the factored form (the emission of
    // position t is added after the reduction over i, see step_emission).
    SK_HD T step_matrix(index_t b, index_t t, index_t i, index_t j) const {
        if (form == Form::Factored) return transition(b, i, j);
        return potentials(b, t, i, j);
    }
    // The score added to alpha_t[j] after the reduction (0 for the edge form).
    SK_HD T step_emission(index_t b, index_t t, index_t j) const {
        return form == Form::Factored ? emission(b, t, j) : T(0);
    }
};

template <class T>
struct ForwardArgs {
    Model<T> model;
    View1<T> log_partition;  // (B): log-partition (LOG) or best score (MAX)
};

template <class T>
struct MarginalsArgs {
    Model<T> model;
    View3<T> marginals;      // (B, T, N) posterior state marginals (MAX: the best path one-hot)
    View1<T> log_partition;  // optional (data == nullptr)
};

template <class T>
struct ViterbiArgs {
    Model<T> model;
    View1<T> score;              // optional
    View2<std::int32_t> path;    // optional, (B, T)
};

// Gradients of sum_b grad[b] * log_partition[b]; each output optional (data == nullptr).
// grad_initial / grad_transition are shared (stride_b 0, a sum over the batch) exactly when the
// model's initial / transition are.
template <class T>
struct BackwardArgs {
    Model<T> model;
    View1<const T> grad;          // (B)
    View4<T> grad_potentials;     // edge
    View2<T> grad_initial;        // edge SEPARATE and factored
    View3<T> grad_transition;     // factored
    View3<T> grad_emission;       // factored
};

// ---- shared element math ------------------------------------------------------------------

// x when finite, else 0: the shift that never evaluates inf - inf.
template <class T>
SK_HD T finite_or_zero(T x) {
    return (x > -positive_infinity<T>() && x < positive_infinity<T>()) ? x : T(0);
}

// Maximum that ignores NaN (a NaN candidate never replaces the running value).
template <class T>
SK_HD T max_ignoring_nan(T running, T x) {
    return x > running ? x : running;
}

// A partial log-sum-exp: max = largest term seen (ignoring NaN, -inf when none),
// sum = sum of exp(term - finite_or_zero(max)) (NaN when a NaN term was seen).
template <class T>
struct LsePartial {
    T max;
    T sum;
};

template <class T>
SK_HD LsePartial<T> lse_empty() {
    return {-positive_infinity<T>(), T(0)};
}

// The partial of one term (exact for -inf, +inf and NaN).
template <class T>
SK_HD LsePartial<T> lse_single(T x) {
    const T m = max_ignoring_nan(-positive_infinity<T>(), x);
    return {m, std::exp(x - finite_or_zero(m))};
}

// Combines two partials over disjoint sets of terms.
template <class T>
SK_HD LsePartial<T> lse_merge(LsePartial<T> a, LsePartial<T> b) {
    const T m = max_ignoring_nan(a.max, b.max);
    if (!(m > -positive_infinity<T>() && m < positive_infinity<T>()))
        return {m, a.sum + b.sum};  // both shifts were 0: the sums add as they are
    const T sa = a.sum == T(0) ? T(0) : a.sum * std::exp(finite_or_zero(a.max) - m);
    const T sb = b.sum == T(0) ? T(0) : b.sum * std::exp(finite_or_zero(b.max) - m);
    return {m, sa + sb};
}

template <class T>
SK_HD T lse_value(T shift, T sum) {
    return shift + std::log(sum);
}

template <class T>
SK_HD T lse_value(LsePartial<T> p) {
    return lse_value(finite_or_zero(p.max), p.sum);
}

// MAX reductions: (value, index), lowest index among equals, NaN wins (semiring.h's rule).
template <class T>
SK_HD bool arg_better(T v, index_t i, T best, index_t best_i) {
    return MaxSemiring<T>::better(v, best) || (!MaxSemiring<T>::better(best, v) && i < best_i);
}

// The normalised-vector bookkeeping of one step: the shift that is subtracted from the raw
// vector whose maximum (ignoring NaN) is `raw_max`, and the offset that it moves into float64.
template <class T>
SK_HD T step_shift(T raw_max) {
    return finite_or_zero(raw_max);
}

// log-partition (or best score) from the float64 offset and the reduction of the last vector.
template <class T>
SK_HD double total_score(double offset, T last_reduction) {
    return offset + static_cast<double>(last_reduction);
}

// How a sequence's result constrains its gradients and marginals.
enum class Outcome { Finite, Infeasible, Nan };
SK_HD Outcome outcome_of(double score) {
    if (score != score) return Outcome::Nan;
    if (score == -positive_infinity<double>()) return Outcome::Infeasible;
    return Outcome::Finite;
}

// Posterior weight g * exp(a + b - log_norm) of a node (a = alpha_t[j], b = beta_t[j]) or an
// edge (a = alpha_{t-1}[i], b = M_t[i,j] + emission_t[j] + beta_t[j]), where log_norm is the
// log-sum-exp of the same a + b over all nodes (edges) of that position. Normalising each
// position by its own sum, rather than by the log-partition, keeps the error local: the
// independent rounding walks of the forward and backward chains over T steps cancel. A
// -inf normaliser (nothing feasible) gives weight 0.
template <class T>
SK_HD T posterior_weight(T a, T b, T log_norm, T g) {
    if (log_norm == -positive_infinity<T>()) return T(0);
    return g * std::exp(a + b - log_norm);
}

// The edge normaliser of position t from quantities known before the backward step:
// LSE_{i,j}(alpha_{t-1}[i] + M_t[i,j] + e_t[j] + beta_t[j]) = node_norm_t + alpha_shift_t,
// because LSE_i(alpha_{t-1}[i] + M_t[i,j]) + e_t[j] = alpha_t[j] + alpha_shift_t (the shift
// that normalised alpha_t).
template <class T>
SK_HD T edge_normaliser(T node_norm, T alpha_shift) {
    return node_norm + alpha_shift;
}

// Backend entry points (explicitly instantiated for float and double). Each writes every
// element of every requested output (zeros and -1 past the lengths).
template <class T>
void forward_cpu(sk_context &ctx, const ForwardArgs<T> &args);
template <class T>
void marginals_cpu(sk_context &ctx, const MarginalsArgs<T> &args);
template <class T>
void viterbi_cpu(sk_context &ctx, const ViterbiArgs<T> &args);
template <class T>
void backward_cpu(sk_context &ctx, const BackwardArgs<T> &args);

template <class T>
void forward_cuda(sk_context &ctx, const ForwardArgs<T> &args);
template <class T>
void marginals_cuda(sk_context &ctx, const MarginalsArgs<T> &args);
template <class T>
void viterbi_cuda(sk_context &ctx, const ViterbiArgs<T> &args);
template <class T>
void backward_cuda(sk_context &ctx, const BackwardArgs<T> &args);

// Largest number of states the CUDA kernels accept (their per-sequence vectors live in
// shared memory); the C API reports SK_ERROR_UNSUPPORTED above it.
constexpr index_t kCudaMaxStates = 4096;

}  // namespace sk::hmm
