// Batched semiring matrix multiply: the problem description shared by the CPU and CUDA
// backends, the per-element math both use, and the backend entry points.
//
//   C[b,i,j] = PLUS_k TIMES(A[b,i,k], B[b,k,j])      b < batch, i < m, j < n, k < k
//
// The C API layer (capi/capi_matmul.cpp) validates every argument, so these functions may
// assume consistent shapes, matching devices and a non-empty output.
//
// Log-semiring fast path (used by both backends). With row maxima a_i = max_k A[i,k] and column
// maxima b_j = max_k B[k,j]:
//     C[i,j] = a_i + b_j + log S[i,j],   S = EA * EB,  EA[i,k] = exp(A[i,k]-a_i) <= 1,
//                                                       EB[k,j] = exp(B[k,j]-b_j) <= 1,
// a real GEMM. Each product EA*EB is <= 1 and its factors are >= the product, so every term that
// matters is computed to full relative precision as long as S >= kLogFastPathFloor: terms lost
// to underflow are < the type's smallest normal, negligible against S. Entries with
// S < floor (rows and columns peaking at different k, all -inf, +inf or NaN inputs) are
// recomputed exactly with an online (max, sum) accumulator: see log_entry_exact.
// The backward reuses it: grad_a = EA (.) (W EB^T), grad_b = EB (.) (EA^T W) with
// W[i,j] = grad_c[i,j] * exp(a_i + b_j - C[i,j]) = grad_c / S (<= grad_c / floor), and entries
// that took the exact path in the forward (detected again by a_i + b_j - C > -log floor)
// contribute exactly, term by term.
//
// Max/min: ties go to the lowest k; NaN terms win (see semiring.h). A fast kernel may compare
// with a plain `>`; the result differs from the exact semantics only where a row of A or a
// column of B holds a NaN or +-inf that can meet the opposite infinity, so those rows/columns
// are flagged (nonfinite_flags) and their entries recomputed with select_entry_exact.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/common.h"
#include "core/tensor.h"
#include "semiring/semiring.h"

struct sk_context;

namespace sk::matmul {

struct Shape {
    index_t batch = 1;
    index_t m = 0;
    index_t n = 0;
    index_t k = 0;
};

template <class T>
struct ForwardArgs {
    Shape shape;
    Semiring semiring;
    View3<const T> a;       // (batch, m, k); stride_b 0 when shared
    View3<const T> b;       // (batch, k, n); stride_b 0 when shared
    View3<T> c;             // (batch, m, n)
    View3<std::int32_t> argmax;  // (batch, m, n); data == nullptr when not requested
};

template <class T>
struct BackwardArgs {
    Shape shape;
    Semiring semiring;
    View3<const T> a;
    View3<const T> b;
    View3<const T> c;                  // forward output; read for LOG only
    View3<const std::int32_t> argmax;  // forward argmax for MAX/MIN; nullptr: recompute
    View3<const T> grad_c;
    View3<T> grad_a;  // nullptr: not wanted. stride_b 0: A is shared, sum over the batch
    View3<T> grad_b;  // likewise
};

// Below this value of S the log fast path is not trusted (see the header comment).
template <class T>
struct LogFastPath;
template <>
struct LogFastPath<float> {
    static constexpr float floor = 1e-18f;  // 1/floor stays far below FLT_MAX in the backward
};
template <>
struct LogFastPath<double> {
    static constexpr double floor = 1e-200;
};

// The shift used for a row or column: its maximum, or 0 when the maximum is not finite, so
// that exp(x - shift) never evaluates inf - inf; such rows then fall back to the exact path.
template <class T>
SK_HD T finite_shift(T maximum) {
    return (maximum > -positive_infinity<T>() && maximum < positive_infinity<T>()) ? maximum : T(0);
}

// exp(a_i + b_j - C[i,j]) * grad_c[i,j] for a fast-path entry, or 0 when C = -inf.
// `exact` is set when the entry took the exact path in the forward (then the caller adds its
// contribution term by term and the returned weight is 0).
template <class T>
SK_HD T log_backward_weight(T shift_a, T shift_b, T c, T grad, bool *exact) {
    *exact = false;
    if (c == -positive_infinity<T>()) return T(0);
    const T log_inverse_s = shift_a + shift_b - c;  // = -log S
    if (!(log_inverse_s <= -std::log(LogFastPath<T>::floor))) {  // also true for NaN
        *exact = true;
        return T(0);
    }
    return grad * std::exp(log_inverse_s);
}

// d C[i,j] / d A[i,k] for the log semiring, times the upstream gradient: exact, term by term.
template <class T>
SK_HD T log_term_gradient(T a, T b, T c, T grad) {
    if (c == -positive_infinity<T>()) return T(0);
    return grad * std::exp(a + b - c);
}

// Exact log-semiring entry: logsumexp over k of A[i,k] + B[k,j].
template <class T>
SK_HD T log_entry_exact(const T *a_row, index_t a_step, const T *b_col, index_t b_step, index_t k) {
    LogSumExpAccumulator<T> acc;
    for (index_t t = 0; t < k; ++t) acc.add(a_row[t * a_step] + b_col[t * b_step]);
    return acc.value();
}

// Exact max/min entry with argmax (lowest k on ties, NaN wins, -1 for the semiring zero).
template <class S, class T>
SK_HD T select_entry_exact(const T *a_row, index_t a_step, const T *b_col, index_t b_step,
                           index_t k, std::int32_t *argmax) {
    T best = S::zero();
    std::int32_t where = -1;
    for (index_t t = 0; t < k; ++t) {
        const T v = a_row[t * a_step] + b_col[t * b_step];
        if (S::better(v, best)) {
            best = v;
            where = static_cast<std::int32_t>(t);
            if (is_nan(v)) break;  // a NaN term decides the entry
        }
    }
    *argmax = where;
    return best;
}

// Generic exact entry for any semiring (the reference the fast paths are tested against).
template <class S, class T>
SK_HD T semiring_entry_exact(const T *a_row, index_t a_step, const T *b_col, index_t b_step,
                             index_t k) {
    T acc = S::zero();
    for (index_t t = 0; t < k; ++t) acc = S::plus(acc, S::times(a_row[t * a_step], b_col[t * b_step]));
    return acc;
}

// Row/column flags for the max/min fast path: bit 0 = holds a NaN, bit 1 = holds +inf,
// bit 2 = holds -inf. An entry needs the exact path when the flags of its row and column can
// produce a NaN term (NaN anywhere, or +inf meeting -inf).
SK_HD std::uint8_t nonfinite_flag(double x) {
    if (x != x) return 1;
    if (x == positive_infinity<double>()) return 2;
    if (x == -positive_infinity<double>()) return 4;
    return 0;
}
SK_HD bool flags_need_exact(std::uint8_t row, std::uint8_t col) {
    return ((row | col) & 1) || ((row & 2) && (col & 4)) || ((row & 4) && (col & 2));
}

// Backend entry points (explicitly instantiated for float and double).
//
// backward_*: args.argmax, when given, holds caller data; its entries must lie in [-1, k) and the
// backends check that before writing any output (SK_ERROR_INVALID_ARGUMENT naming 'argmax').
template <class T>
void forward_cpu(sk_context &ctx, const ForwardArgs<T> &args);
template <class T>
void backward_cpu(sk_context &ctx, const BackwardArgs<T> &args);
template <class T>
void forward_cuda(sk_context &ctx, const ForwardArgs<T> &args);
template <class T>
void backward_cuda(sk_context &ctx, const BackwardArgs<T> &args);

// Sets every element of a (batch x rows x cols) view to value; with stride_b 0 the one shared
// matrix is written once. Used for gradients that no term reaches (an empty dimension).
template <class T>
void fill_cpu(sk_context &ctx, View3<T> v, index_t batch, index_t rows, index_t cols, T value);
template <class T>
void fill_cuda(sk_context &ctx, View3<T> v, index_t batch, index_t rows, index_t cols, T value);

}  // namespace sk::matmul
