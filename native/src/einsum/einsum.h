// Semiring einsum: the compiled equation (parse result, contraction plan), the parameter blocks
// of the kernels, the per-element math the CPU and CUDA kernels share (__host__ __device__), and
// the backend entry points.
//
//   out[o] = PLUS_{summed labels} TIMES_{operands i} X_i[labels of i]
//
// Vocabulary.
//   label     one letter of the equation, or one dimension of "..." (ids: letters in order of
//             first appearance in the operands, then the "..." dimensions left to right). Every
//             label has one extent (the common extent of its dimensions; 1 broadcasts).
//   view      a tensor seen through its unique labels: one stride per label. A repeated label
//             (diagonal) has the sum of its dimensions' strides; a broadcast dimension (extent 1
//             against a larger label extent) contributes stride 0. So diagonals and broadcasting
//             cost nothing: every operand becomes a view without a copy.
//   node      a view in the plan: an operand, or the contiguous result of a step.
//   step      Reduce (sum labels of one node: operand-only labels, and the single-operand case),
//             Contract (two nodes, summed labels K: one batched semiring matmul over the groups
//             batch = in x, y, result; m = x and result; n = y and result; k = x and y only) or
//             Combine (two nodes, nothing summed: an element-wise product with broadcasting).
//
// Argmax (MAX/MIN): every step that sums keeps, per element of its result, the flat index of the
// winning assignment of its summed labels (row-major in label id order, lowest on ties). The full
// assignment of an output element is traced back through the steps in reverse order (each step's
// result labels are known by then): see trace_step_entry.
//
// Gradients. REAL and LOG are einsums again (plan.derived[i] for operand i):
//   REAL: G_i = einsum_real(grad_out, X_j (j != i)) over the labels of i.
//   LOG:  L±_i = einsum_log(W±, X_j (j != i)) with W± = log(±grad_out) - out (only where ±g > 0,
//         else -inf); grad_i[x] = exp(X_i[x] + L+_i[x]) - exp(X_i[x] + L-_i[x]).
//   Both are then scattered onto operand i's dimensions (0 off a diagonal; a broadcast dimension
//   is summed by the einsum since its label is not an output label of the derived problem).
//   MAX/MIN: grad_i[x] = sum of grad_out[o] over the outputs o whose argmax assignment agrees with
//   x on every label of operand i (route_entry): a gather, no atomics, summed in increasing o.
// Single-step plans (one Contract step) bypass the trace and the derived einsums: their argmax is
// the matmul's and their backward the matmul engine's backward (see "single-step fast paths"
// below and NOTES.md).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/common.h"
#include "semiring/semiring.h"

struct sk_context;

namespace sk::einsum {

constexpr int kMaxOperands = 32;
// 52 letters plus at most SK_MAX_RANK "..." dimensions.
constexpr int kMaxLabels = 64;
// Dimensions of extent > 1 one kernel walks over (extent-1 dimensions are dropped). A tensor
// with more than 32 such dimensions has more than 2^32 elements.
constexpr int kMaxDims = 32;

// ---- the parsed problem ----------------------------------------------------------------------

// The problem on unique labels: every operand a list of distinct label ids, the output a list of
// distinct label ids each present in some operand. `extent` is indexed by label id.
struct Problem {
    int num_labels = 0;
    std::vector<index_t> extent;
    std::vector<std::vector<int>> operands;
    std::vector<int> output;
};

// The equation as written, bound to operand shapes.
struct Equation {
    std::string text;
    int num_labels = 0;
    std::vector<index_t> extent;                    // per label id
    std::vector<char> letter;                       // per label id: the letter, 0 for "..." dims
    std::vector<std::vector<int>> operand_dims;     // per operand, per dimension: label id
    std::vector<std::vector<index_t>> operand_shape;
    std::vector<int> output;                        // per output dimension: label id
    std::vector<int> summed;                        // label ids not in the output, in id order
};

// Parses `text` for operands of the given shapes; throws sk::Error naming the position.
Equation parse(const std::string &text, const std::vector<std::vector<index_t>> &shapes);

// The unique labels of operand dims (first occurrence order).
std::vector<int> unique_labels(const std::vector<int> &dims);

// ---- the plan ---------------------------------------------------------------------------------

enum class StepKind { Reduce, Contract, Combine };

struct Step {
    StepKind kind = StepKind::Reduce;
    int x = -1, y = -1;  // node ids (y = -1 for Reduce)
    int result = -1;     // node id
    // Contract: the label groups (each in label id order). Reduce: `k` = the summed labels.
    // Combine: none summed; batch/m/n as for Contract.
    std::vector<int> batch, m, n, k;
};

struct Plan {
    Problem problem;
    std::vector<std::vector<int>> node_labels;  // operands first, then step results (layout order)
    std::vector<Step> steps;
    int final_node = -1;  // the node holding the output labels (an operand when no step ran)
};

// Plans `problem` with Semiring semantics that only matter for the order (none: the greedy rule
// is semiring-independent). The result order of the last step follows problem.output.
Plan make_plan(const Problem &problem);

// The derived einsums of the backward for operand i (REAL and LOG): inputs are [weights over the
// output labels, operands j != i]; the output is the labels of operand i that appear there.
struct Derived {
    Plan plan;
    std::vector<int> others;  // operand index of inputs 1.. of the derived problem
};

// Everything sk_einsum_plan holds.
struct Compiled {
    Equation equation;
    Semiring semiring = Semiring::Real;
    int zero_gradient = 0;
    index_t workspace_limit = 0;
    Plan plan;
    std::vector<Derived> derived;  // per operand (REAL and LOG only)
};

// Parses, plans the forward and (REAL, LOG) the derived einsums of the backward.
Compiled compile(const std::string &text, const std::vector<std::vector<index_t>> &shapes,
                 Semiring semiring, int zero_gradient, index_t workspace_limit);

// True when dimension d of operand i broadcasts (extent 1 against a larger label extent).
bool is_broadcast(const Equation &eq, std::size_t operand, std::size_t d);

// Workspace bytes one forward of `plan` needs for element size `elem` at the given extents
// (upper bound: every operand assumed to need a permuted copy), with or without argmax.
index_t forward_workspace_bytes(const Plan &plan, const std::vector<index_t> &extent,
                                std::size_t elem, bool with_argmax);
// Workspace bytes of a backward call (the whole problem).
index_t backward_workspace_bytes(const Compiled &c, std::size_t elem);

// True when the plan is one Contract step of the two operands summing exactly the equation's
// summed labels (in the same order): the case of the single-step fast paths.
bool is_single_contract(const Compiled &c);

// ---- kernel parameter blocks (passed by value to CUDA kernels) ---------------------------------

// A multi-index walk: `rank` dimensions of the given extents, row-major (last fastest), and for
// each dimension the stride of up to three tensors that the walk addresses.
struct Walk {
    int rank = 0;
    index_t count = 1;  // product of the extents
    index_t extent[kMaxDims] = {};
    index_t stride[3][kMaxDims] = {};
};

// Offsets of the `count` tensors at flat position `flat` (< w.count) of the walk. The outermost
// coordinate is what is left of `flat` after the inner ones (no division for it, so a merged
// rank-1 walk costs none), and a walk of fewer than 2^32 elements divides in 32 bits (a 64-bit
// division is a long instruction sequence on a GPU).
template <class U, int N>
SK_HD void walk_offsets_as(const Walk &w, U flat, index_t (&off)[N]) {
    for (int d = w.rank - 1; d > 0; --d) {
        const U e = static_cast<U>(w.extent[d]);
        const index_t c = static_cast<index_t>(flat % e);
        flat /= e;
        for (int t = 0; t < N; ++t) off[t] += c * w.stride[t][d];
    }
    if (w.rank > 0)
        for (int t = 0; t < N; ++t) off[t] += static_cast<index_t>(flat) * w.stride[t][0];
}

template <int N>
SK_HD void walk_offsets(const Walk &w, index_t flat, index_t (&off)[N]) {
    for (int t = 0; t < N; ++t) off[t] = 0;
    if (w.count <= index_t(0xffffffff))
        walk_offsets_as<std::uint32_t, N>(w, static_cast<std::uint32_t>(flat), off);
    else
        walk_offsets_as<std::uint64_t, N>(w, static_cast<std::uint64_t>(flat), off);
}

// The coordinates of flat position `flat` (< w.count) of the walk, with the same division rules
// as walk_offsets.
template <class U>
SK_HD void walk_coords_as(const Walk &w, U flat, index_t *coord) {
    for (int d = w.rank - 1; d > 0; --d) {
        const U e = static_cast<U>(w.extent[d]);
        coord[d] = static_cast<index_t>(flat % e);
        flat /= e;
    }
    if (w.rank > 0) coord[0] = static_cast<index_t>(flat);
}

SK_HD void walk_coords(const Walk &w, index_t flat, index_t *coord) {
    if (w.count <= index_t(0xffffffff))
        walk_coords_as<std::uint32_t>(w, static_cast<std::uint32_t>(flat), coord);
    else
        walk_coords_as<std::uint64_t>(w, static_cast<std::uint64_t>(flat), coord);
}

// Reduce: out[z] = PLUS_r in[z, r]; outer walks (out, in, argmax), inner walks (in).
struct ReduceParams {
    Walk outer;  // stride[0] = out, stride[1] = in, stride[2] = unused
    Walk inner;  // stride[0] = in
    bool want_argmax = false;  // argmax[z] (contiguous int64 over outer) = flat r of the winner
};

template <class S, class T>
SK_HD void reduce_entry(const ReduceParams &p, index_t z, const T *in, T *out,
                        std::int64_t *argmax) {
    index_t off[2];
    walk_offsets<2>(p.outer, z, off);
    // An empty sum (a summed extent 0) reads nothing; its input may then be an empty operand
    // whose data pointer is NULL, which must not be offset (undefined behaviour).
    const T *base = p.inner.count > 0 ? in + off[1] : in;
    T acc = S::zero();
    std::int64_t where = -1;
    if constexpr (std::is_same_v<S, LogSemiring<T>>) {
        LogSumExpAccumulator<T> lse;
        for (index_t r = 0; r < p.inner.count; ++r) {
            index_t o1[1];
            walk_offsets<1>(p.inner, r, o1);
            lse.add(base[o1[0]]);
        }
        acc = lse.value();
    } else if constexpr (std::is_same_v<S, MaxSemiring<T>> || std::is_same_v<S, MinSemiring<T>>) {
        for (index_t r = 0; r < p.inner.count; ++r) {
            index_t o1[1];
            walk_offsets<1>(p.inner, r, o1);
            const T v = base[o1[0]];
            if (S::better(v, acc)) {
                acc = v;
                where = r;
                if (is_nan(v)) break;  // a NaN term decides the entry
            }
        }
    } else {
        for (index_t r = 0; r < p.inner.count; ++r) {
            index_t o1[1];
            walk_offsets<1>(p.inner, r, o1);
            // REAL: 0 + x; BOOLEAN: or(0, x) = truth(x). An empty walk gives the zero.
            acc = r == 0 ? S::plus(S::zero(), base[o1[0]]) : S::plus(acc, base[o1[0]]);
        }
    }
    out[off[0]] = acc;
    if (p.want_argmax) argmax[z] = where;
}

// Combine: out[z] = x[z] TIMES y[z]; the walk addresses (out, x, y).
struct CombineParams {
    Walk walk;
};

template <class S, class T>
SK_HD void combine_entry(const CombineParams &p, index_t z, const T *x, const T *y, T *out) {
    index_t off[3];
    walk_offsets<3>(p.walk, z, off);
    out[off[0]] = S::times(x[off[1]], y[off[2]]);
}

// Argmax trace. `assign` is (output count x num_labels) int64, row-major.
struct TraceInitParams {
    Walk out;                  // over the output labels (any order); stride unused
    int label[kMaxDims] = {};  // label id of each walk dimension
    int num_labels = 0;
};

SK_HD void trace_init_entry(const TraceInitParams &p, index_t o, std::int64_t *assign) {
    std::int64_t *row = assign + o * p.num_labels;
    for (int l = 0; l < p.num_labels; ++l) row[l] = 0;  // labels of extent 1 stay 0
    index_t coord[kMaxDims];
    walk_coords(p.out, o, coord);
    for (int d = 0; d < p.out.rank; ++d) row[p.label[d]] = coord[d];
}

// One step back: the step's result element is found from the labels already assigned, its
// argmax decoded into the step's summed labels. -1 (the semiring zero) spreads.
struct TraceStepParams {
    int num_labels = 0;
    int result_rank = 0;
    int result_label[kMaxLabels] = {};
    index_t result_stride[kMaxLabels] = {};  // of the argmax buffer, per result label
    int summed_rank = 0;
    int summed_label[kMaxLabels] = {};
    index_t summed_extent[kMaxLabels] = {};
    bool argmax_is_int32 = false;
};

SK_HD void trace_step_entry(const TraceStepParams &p, index_t o, const void *argmax,
                            std::int64_t *assign) {
    std::int64_t *row = assign + o * p.num_labels;
    index_t off = 0;
    bool dead = false;
    for (int d = 0; d < p.result_rank; ++d) {
        const std::int64_t c = row[p.result_label[d]];
        if (c < 0) dead = true;
        off += c * p.result_stride[d];
    }
    std::int64_t flat = -1;
    if (!dead)
        flat = p.argmax_is_int32 ? static_cast<std::int64_t>(static_cast<const std::int32_t *>(argmax)[off])
                                 : static_cast<const std::int64_t *>(argmax)[off];
    for (int d = p.summed_rank - 1; d >= 0; --d) {
        if (flat < 0) {
            row[p.summed_label[d]] = -1;
        } else {
            row[p.summed_label[d]] = flat % p.summed_extent[d];
            flat /= p.summed_extent[d];
        }
    }
}

// Writes the argmax output (output dims..., S) from the assignment; a row is all -1 where the
// output is the semiring zero or any summed label is unassigned (-1).
struct TraceWriteParams {
    Walk out;                         // over the output dims in output order; stride[0] = argmax
                                      // tensor, stride[1] = out tensor
    int num_labels = 0;
    int num_summed = 0;
    int summed_label[kMaxLabels] = {};
    index_t summed_stride = 0;        // argmax tensor stride of its last dimension
};

template <class S, class T, class I>
SK_HD void trace_write_entry(const TraceWriteParams &p, index_t o, const std::int64_t *assign,
                             const T *out, I *argmax) {
    index_t off[2];
    walk_offsets<2>(p.out, o, off);
    const std::int64_t *row = assign + o * p.num_labels;
    bool zero = out[off[1]] == S::zero();
    for (int s = 0; s < p.num_summed; ++s) zero = zero || row[p.summed_label[s]] < 0;
    for (int s = 0; s < p.num_summed; ++s)
        argmax[off[0] + s * p.summed_stride] = zero ? I(-1) : static_cast<I>(row[p.summed_label[s]]);
}

// Gradient of MAX/MIN: grad[x] = sum over outputs o consistent with x of grad_out[o], where o is
// consistent when o agrees with x on the output labels operand i has, and argmax[o] agrees with
// x on the summed labels operand i has. The walk `dims` runs over operand i's dimensions (stride
// 0 = grad tensor); `free` over the output labels operand i lacks (or broadcasts).
struct RouteParams {
    Walk dims;              // over operand i's dims: stride[0] = grad
    int diag_of[kMaxDims] = {};  // per dim: the first dim with the same label, or itself
    // Output labels operand i pins: per such label, the operand dim and the strides of
    // grad_out and argmax along it.
    int pinned = 0;
    int pinned_dim[kMaxDims] = {};
    index_t pinned_g_stride[kMaxDims] = {};
    index_t pinned_a_stride[kMaxDims] = {};
    // Output labels walked freely: strides of grad_out (0) and argmax (1).
    Walk free;
    // Summed labels operand i has: the operand dim and the argmax position s.
    // With summed labels, an output whose argmax is -1 (the semiring zero) routes nothing.
    bool has_summed = false;
    int checks = 0;
    int check_dim[kMaxDims] = {};
    index_t check_s_offset[kMaxDims] = {};  // s * argmax stride of the S dimension
};

template <class T, class I>
SK_HD void route_entry(const RouteParams &p, index_t x, const T *grad_out, const I *argmax,
                       T *grad) {
    index_t coord[kMaxDims];
    index_t g_off = 0;
    walk_coords(p.dims, x, coord);
    for (int d = 0; d < p.dims.rank; ++d) g_off += coord[d] * p.dims.stride[0][d];
    bool on_diagonal = true;
    for (int d = 0; d < p.dims.rank; ++d) on_diagonal = on_diagonal && coord[d] == coord[p.diag_of[d]];
    T sum = T(0);
    if (on_diagonal) {
        index_t go = 0, ao = 0;
        for (int t = 0; t < p.pinned; ++t) {
            go += coord[p.pinned_dim[t]] * p.pinned_g_stride[t];
            ao += coord[p.pinned_dim[t]] * p.pinned_a_stride[t];
        }
        for (index_t f = 0; f < p.free.count; ++f) {
            index_t off[2];
            walk_offsets<2>(p.free, f, off);
            const I *a = argmax + ao + off[1];
            bool match = !p.has_summed || a[0] >= 0;
            for (int c = 0; c < p.checks && match; ++c)
                match = static_cast<index_t>(a[p.check_s_offset[c]]) == coord[p.check_dim[c]];
            if (match) sum += grad_out[go + off[0]];
        }
    }
    grad[g_off] = sum;
}

// Scatter of a derived einsum's result onto operand i's dims (REAL: grad = G; LOG: grad =
// exp(X + L+) - exp(X + L-)); 0 off the diagonal. The walk runs over operand i's dims with
// stride[0] = grad, stride[1] = X (LOG), stride[2] = G / L± (0 for a repeated dim's later copies
// and for labels the derived result lacks).
struct ScatterParams {
    Walk dims;
    int diag_of[kMaxDims] = {};
    bool log = false;
};

template <class T>
SK_HD void scatter_entry(const ScatterParams &p, index_t x, const T *operand, const T *g_plus,
                         const T *g_minus, T *grad) {
    index_t coord[kMaxDims];
    index_t off[3] = {0, 0, 0};
    walk_coords(p.dims, x, coord);
    for (int d = 0; d < p.dims.rank; ++d)
        for (int t = 0; t < 3; ++t) off[t] += coord[d] * p.dims.stride[t][d];
    bool on_diagonal = true;
    for (int d = 0; d < p.dims.rank; ++d) on_diagonal = on_diagonal && coord[d] == coord[p.diag_of[d]];
    T v = T(0);
    if (on_diagonal) {
        if (p.log) {
            const T a = operand[off[1]];
            v = std::exp(a + g_plus[off[2]]) - std::exp(a + g_minus[off[2]]);
        } else {
            v = g_plus[off[2]];
        }
    }
    grad[off[0]] = v;
}

// W± of the LOG backward, over the output (walk stride[0] = W (contiguous), 1 = grad_out,
// 2 = out). zero_nan: the weight of an output equal to -inf is NaN instead of -inf (0 gradient).
template <class T>
SK_HD void log_weight_entry(const Walk &w, index_t o, const T *grad_out, const T *out, bool zero_nan,
                            T *w_plus, T *w_minus) {
    index_t off[3];
    walk_offsets<3>(w, o, off);
    const T g = grad_out[off[1]];
    const T z = out[off[2]];
    const T ninf = -positive_infinity<T>();
    T wp = ninf, wm = ninf;
    if (is_nan(g) || is_nan(z) || z == positive_infinity<T>()) {
        wp = wm = g + z + positive_infinity<T>() - positive_infinity<T>();  // NaN
    } else if (z == ninf) {
        if (zero_nan) wp = wm = z - z;  // NaN
    } else if (g > T(0)) {
        wp = std::log(g) - z;
    } else if (g < T(0)) {
        wm = std::log(-g) - z;
    }
    w_plus[off[0]] = wp;
    w_minus[off[0]] = wm;
}

// ---- single-step fast paths (see NOTES.md "Fast paths") ----------------------------------------
//
// When the plan is one Contract step (two operands, every summed label in both), the matmul's
// int32 argmax over the flattened k group (row-major in label id order) already is the einsum's
// argmax, and the backward is the matmul engine's backward.

// Argmax of a single-step forward: the matmul's flat k index (int32,
// contiguous over the step's (batch, m, n) order) decoded into the S variables of the caller's
// argmax (no division for S = 1).
// The walk runs over the output dims: stride[0] = argmax tensor, stride[1] = out, stride[2] =
// the matmul's argmax. -1 along S where the output is the semiring zero (the trace's rule; the
// matmul writes -1 there too) or the matmul found no term.
struct ArgmaxDecodeParams {
    Walk out;
    int num_summed = 0;
    index_t summed_extent[kMaxLabels] = {};
    index_t summed_stride = 0;  // argmax tensor stride of its last dimension
};

template <class S, class T, class I>
SK_HD void argmax_decode_entry(const ArgmaxDecodeParams &p, index_t o, const std::int32_t *flat_argmax,
                               const T *out, I *argmax) {
    index_t off[3];
    walk_offsets<3>(p.out, o, off);
    std::int64_t flat = flat_argmax[off[2]];
    const bool none = flat < 0 || out[off[1]] == S::zero();
    for (int s = p.num_summed - 1; s >= 0; --s) {
        std::int64_t v = -1;
        if (!none) {
            if (s == 0) {
                v = flat;  // the most significant variable takes what is left: no division
            } else {
                v = flat % p.summed_extent[s];
                flat /= p.summed_extent[s];
            }
        }
        argmax[off[0] + s * p.summed_stride] = static_cast<I>(v);
    }
}

// The reverse, for a caller's argmax given to a single-step MAX/MIN backward: the S variables
// (already range-checked) flattened into the matmul's k index, -1 when any of them is -1. The walk
// runs over the output dims: stride[0] = argmax tensor, stride[1] = the int32 buffer.
struct ArgmaxEncodeParams {
    Walk out;
    int num_summed = 0;
    index_t summed_extent[kMaxLabels] = {};
    index_t summed_stride = 0;
};

template <class I>
SK_HD void argmax_encode_entry(const ArgmaxEncodeParams &p, index_t o, const I *argmax,
                               std::int32_t *flat_argmax) {
    index_t off[2];
    walk_offsets<2>(p.out, o, off);
    std::int64_t flat = 0;
    bool none = false;
    for (int s = 0; s < p.num_summed; ++s) {
        const auto v = static_cast<std::int64_t>(argmax[off[0] + s * p.summed_stride]);
        none = none || v < 0;
        flat = flat * p.summed_extent[s] + v;
    }
    flat_argmax[off[1]] = none ? -1 : static_cast<std::int32_t>(flat);
}

// LOG single-step backward: the matmul engine's backward gives 0 where out = -inf and otherwise
// grad_out * exp(term - out); the einsum's contract gives the same wherever grad_out is finite and
// out is finite or -inf (a NaN or +inf out, or a non-finite grad_out, spreads NaN along whole rows
// and columns in the einsum's definition; under SK_EINSUM_ZERO_GRADIENT_NAN an out of -inf does
// too). Such an element "blocks" the fast path; the generic backward then runs. The walk runs over
// the output dims: stride[0] = grad_out, stride[1] = out.
template <class T>
SK_HD bool log_fast_path_blocked(T g, T z, bool zero_nan) {
    const T inf = positive_infinity<T>();
    const bool g_finite = g > -inf && g < inf;  // false for NaN
    const bool z_ok = (z > -inf && z < inf) || (z == -inf && !zero_nan);
    return !(g_finite && z_ok);
}

template <class T>
SK_HD bool log_blocker_entry(const Walk &w, index_t o, const T *grad_out, const T *out, bool zero_nan) {
    index_t off[2];
    walk_offsets<2>(w, o, off);
    return log_fast_path_blocked(grad_out[off[0]], out[off[1]], zero_nan);
}

// Generic LOG backward: a weight W± that is -inf everywhere makes its derived einsum -inf
// everywhere (every term is -inf: a +inf or NaN in another operand would have made some out
// +inf or NaN and so some weight NaN), so that einsum is skipped and its result filled with -inf.
// The common case: grad_out >= 0 everywhere leaves W- all -inf, whose einsum would otherwise run
// entirely on the matmul's exact (slow) log path. Counts weights other than -inf (NaN included).
template <class T>
SK_HD bool is_live_weight(T w) {
    return !(w == -positive_infinity<T>());
}

// ---- backend entry points (instantiated for float and double) ----------------------------------

template <class T>
void reduce_cpu(sk_context &ctx, Semiring s, const ReduceParams &p, const T *in, T *out,
                std::int64_t *argmax);
template <class T>
void combine_cpu(sk_context &ctx, Semiring s, const CombineParams &p, const T *x, const T *y, T *out);
void trace_init_cpu(sk_context &ctx, const TraceInitParams &p, std::int64_t *assign);
void trace_step_cpu(sk_context &ctx, const TraceStepParams &p, index_t count, const void *argmax,
                    std::int64_t *assign);
template <class T, class I>
void trace_write_cpu(sk_context &ctx, Semiring s, const TraceWriteParams &p,
                     const std::int64_t *assign, const T *out, I *argmax);
template <class T, class I>
void route_cpu(sk_context &ctx, const RouteParams &p, const T *grad_out, const I *argmax, T *grad);
template <class T>
void scatter_cpu(sk_context &ctx, const ScatterParams &p, const T *operand, const T *g_plus,
                 const T *g_minus, T *grad);
template <class T>
void log_weights_cpu(sk_context &ctx, const Walk &w, const T *grad_out, const T *out, bool zero_nan,
                     T *w_plus, T *w_minus);
// Counts argmax entries outside [-1, extent of their variable) (extent per position s).
template <class I>
index_t count_bad_argmax_cpu(sk_context &ctx, const Walk &w, const I *argmax, int num_summed,
                             index_t summed_stride, const index_t *extent);
template <class T, class I>
void argmax_decode_cpu(sk_context &ctx, Semiring s, const ArgmaxDecodeParams &p,
                       const std::int32_t *flat_argmax, const T *out, I *argmax);
template <class I>
void argmax_encode_cpu(sk_context &ctx, const ArgmaxEncodeParams &p, const I *argmax,
                       std::int32_t *flat_argmax);
// Counts the output elements that block the LOG fast path (log_fast_path_blocked).
template <class T>
index_t count_log_blockers_cpu(sk_context &ctx, const Walk &w, const T *grad_out, const T *out,
                               bool zero_nan);
// live[0] / live[1]: the entries of w_plus / w_minus (n each) that are not -inf.
template <class T>
void count_live_weights_cpu(sk_context &ctx, index_t n, const T *w_plus, const T *w_minus, index_t *live);

template <class T>
void reduce_cuda(sk_context &ctx, Semiring s, const ReduceParams &p, const T *in, T *out,
                 std::int64_t *argmax);
template <class T>
void combine_cuda(sk_context &ctx, Semiring s, const CombineParams &p, const T *x, const T *y, T *out);
void trace_init_cuda(sk_context &ctx, const TraceInitParams &p, std::int64_t *assign);
void trace_step_cuda(sk_context &ctx, const TraceStepParams &p, index_t count, const void *argmax,
                     std::int64_t *assign);
template <class T, class I>
void trace_write_cuda(sk_context &ctx, Semiring s, const TraceWriteParams &p,
                      const std::int64_t *assign, const T *out, I *argmax);
template <class T, class I>
void route_cuda(sk_context &ctx, const RouteParams &p, const T *grad_out, const I *argmax, T *grad);
template <class T>
void scatter_cuda(sk_context &ctx, const ScatterParams &p, const T *operand, const T *g_plus,
                  const T *g_minus, T *grad);
template <class T>
void log_weights_cuda(sk_context &ctx, const Walk &w, const T *grad_out, const T *out, bool zero_nan,
                      T *w_plus, T *w_minus);
template <class I>
index_t count_bad_argmax_cuda(sk_context &ctx, const Walk &w, const I *argmax, int num_summed,
                              index_t summed_stride, const index_t *extent);
template <class T, class I>
void argmax_decode_cuda(sk_context &ctx, Semiring s, const ArgmaxDecodeParams &p,
                        const std::int32_t *flat_argmax, const T *out, I *argmax);
template <class I>
void argmax_encode_cuda(sk_context &ctx, const ArgmaxEncodeParams &p, const I *argmax,
                        std::int32_t *flat_argmax);
template <class T>
index_t count_log_blockers_cuda(sk_context &ctx, const Walk &w, const T *grad_out, const T *out,
                                bool zero_nan);
template <class T>
void count_live_weights_cuda(sk_context &ctx, index_t n, const T *w_plus, const T *w_minus, index_t *live);

// ---- the executor (einsum_run.cpp), shared by both backends ------------------------------------

// A strided tensor as the C API passes it (rank <= SK_MAX_RANK), with one entry more than
// SK_MAX_RANK: the MAX/MIN backward without a given argmax recomputes an argmax
// of rank output rank + 1, which is SK_MAX_RANK + 1 for an output of rank SK_MAX_RANK.
struct TensorRef {
    void *data = nullptr;
    int rank = 0;
    index_t shape[SK_MAX_RANK + 1] = {};
    index_t stride[SK_MAX_RANK + 1] = {};
};

template <class T>
void forward(sk_context &ctx, const Compiled &c, const std::vector<TensorRef> &operands,
             const TensorRef &out, const TensorRef *argmax, bool argmax_int64);
template <class T>
void backward(sk_context &ctx, const Compiled &c, const std::vector<TensorRef> &operands,
              const TensorRef *out, const TensorRef *argmax, bool argmax_int64,
              const TensorRef &grad_out, const std::vector<const TensorRef *> &grads);

}  // namespace sk::einsum
