// CUDA backend of the batched semiring matmul (semantics in matmul.h and the public header).
//
// Every product goes through one tiled SIMT GEMM core (matmul_gemm_cuda.cuh) on operands packed
// into padded k-major panels (matmul_pack_cuda.cuh; an operand that already has that layout, e.g.
// a row-major B with n % 128 == 0 and k % 16 == 0, is read in place); the semirings differ in the
// pack transform, the multiply-accumulate step and the epilogue:
//   REAL     pack as is,                FFMA,                      store.
//   BOOLEAN  pack as 0/1 (NaN kept),    FFMA (a count),            1 where the count is nonzero.
//   LOG      pack exp(x - line max),    FFMA (the sum S),          a_i + b_j + log S where
//            S >= LogFastPath::floor; every other entry is appended to a fix-up list and
//            recomputed exactly (log_entry_exact, one warp per entry).
//   MAX/MIN  pack as is (pad -inf/+inf), FADD+FMNMX, or for the argmax a strict compare that
//            carries k (lowest k on ties); entries whose row/column flags say a NaN term can
//            occur (flags_need_exact) go to the fix-up list and are recomputed with
//            select_entry_exact, one warp per entry.
// Backward: REAL and LOG are again GEMMs on transposed views (grad_a = G B^T, grad_b = A^T G;
// for LOG G is the weight W = grad_c * exp(a_i + b_j - C) and the operands are exp-shifted,
// see matmul.h), plus term-by-term contributions of the entries the forward computed exactly;
// MAX/MIN route grad_c through the argmax, one warp per gradient row/column, in a fixed order.
// A gradient shared across the batch is one GEMM whose reduction runs over (batch, index), i.e.
// the batch terms are summed in batch order inside each accumulator.
//
// Determinism: no floating-point atomics anywhere. Every output has one fixed summation order;
// the fix-up list is filled with integer atomics (its order varies) but each listed entry is
// recomputed independently with a fixed reduction tree, so results are bitwise reproducible.
// Everything runs on the context's stream; the only host wait is the range check of a caller's
// argmax in the max/min backward, whose verdict the API must return.
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "core/context.h"
#include "core/cuda_check.h"
#include "core/error.h"
#include "core/workspace.h"
#include "matmul/matmul.h"
#include "matmul/matmul_gemm_cuda.cuh"
#include "matmul/matmul_pack_cuda.cuh"

namespace sk::matmul {
namespace cuda {
namespace {

cudaStream_t stream_of(sk_context &ctx) { return static_cast<cudaStream_t>(ctx.stream()); }

int multiprocessor_count(sk_context &ctx) {
    int count = 0;
    SK_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, ctx.device_index()));
    return count;
}

// Grid for kernels that loop over their work with a grid stride.
unsigned grid_for(index_t work, int threads_per_block, index_t max_blocks) {
    index_t blocks = (work + threads_per_block - 1) / threads_per_block;
    if (blocks > max_blocks) blocks = max_blocks;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

unsigned batch_grid(index_t batches) { return static_cast<unsigned>(batches < 65535 ? batches : 65535); }

// ---- tile configurations and their choice ------------------------------------------------------

// <type, BM, BN, warps along m, along n, thread tile TM x TN, pipeline stages, min blocks/SM>
// Measured with sk_gemm_variants on the H100 (bench/results/NOTES-matmul.md): warps 4 x 2 (warp
// tile 32 x 64) beat 2 x 4 by 3-5 %; for the large tile 2 or 4 stages beat 3 by 5 %.
using FloatLarge = TileConfig<float, 128, 128, 4, 2, 8, 8, 4, 2>;  // 64 accumulators / thread
using FloatIndex = TileConfig<float, 128, 64, 2, 4, 8, 4, 3, 2>;   // 32 values + 32 indices
using FloatSmall = TileConfig<float, 64, 64, 4, 2, 4, 4, 3, 3>;    // small problems: more blocks
using DoubleTile = TileConfig<double, 64, 64, 2, 4, 4, 4, 3, 2>;   // DFMA SIMT, 16 accumulators

index_t tile_count(const GemmShape &s, int bm, int bn) {
    return s.batch * ((s.m + bm - 1) / bm) * ((s.n + bn - 1) / bn);
}

// Large tiles when they give every multiprocessor at least one block, else 64 x 64 tiles (four
// times as many blocks; less reuse per block but the whole GPU busy).
template <class T, class Step, class Epilogue>
void run_gemm(sk_context &ctx, const Panel<T> &a, const Panel<T> &b, const GemmShape &shape,
              const Epilogue &epi) {
    const cudaStream_t stream = stream_of(ctx);
    if constexpr (sizeof(T) == 8) {
        launch_gemm<DoubleTile, Step>(a, b, shape, epi, stream);
    } else {
        // The index-tracking step needs registers for 2 x TM x TN values: narrower large tile.
        using Large = std::conditional_t<Step::kTracksIndex, FloatIndex, FloatLarge>;
        if (tile_count(shape, Large::BM, Large::BN) >= multiprocessor_count(ctx))
            launch_gemm<Large, Step>(a, b, shape, epi, stream);
        else
            launch_gemm<FloatSmall, Step>(a, b, shape, epi, stream);
    }
}

// ---- outputs -----------------------------------------------------------------------------------

// A writable strided (batch, line, k) view (the mutable twin of Lines).
template <class T>
struct OutLines {
    T *data = nullptr;
    index_t stride_b = 0, stride_r = 0, stride_k = 0;
    __device__ __forceinline__ T &operator()(index_t b, index_t r, index_t k) const {
        return data[b * stride_b + r * stride_r + k * stride_k];
    }
};
template <class T>
OutLines<T> out_rows_of(View3<T> v) { return {v.data, v.stride_b, v.stride_i, v.stride_j}; }
template <class T>
OutLines<T> out_columns_of(View3<T> v) { return {v.data, v.stride_b, v.stride_j, v.stride_i}; }

// Writes V consecutive outputs of row i starting at column j0 (those below n): one 16-byte store
// when the row is contiguous there and aligned, element stores otherwise.
template <class T, int V>
__device__ __forceinline__ void store_run(const View3<T> &out, index_t b, index_t i, index_t j0,
                                          index_t n, const T (&values)[V]) {
    T *const first = &out(b, i, j0);
    if (out.stride_j == 1 && j0 + V <= n && (reinterpret_cast<std::uintptr_t>(first) & 15u) == 0) {
        if constexpr (sizeof(T) == 4)
            *reinterpret_cast<float4 *>(first) = make_float4(values[0], values[1], values[2], values[3]);
        else
            *reinterpret_cast<double2 *>(first) = make_double2(values[0], values[1]);
        return;
    }
#pragma unroll
    for (int e = 0; e < V; ++e)
        if (j0 + e < n) out(b, i, j0 + e) = values[e];
}

// Entries to recompute exactly after the GEMM: linear indices (b * m + i) * n + j, appended with
// an integer atomic counter; capacity batch * m * n, so it cannot overflow.
struct FixList {
    unsigned long long *count = nullptr;
    long long *entries = nullptr;
    __device__ __forceinline__ void append(index_t b, index_t i, index_t j, index_t m, index_t n) const {
        entries[atomicAdd(count, 1ull)] = static_cast<long long>((b * m + i) * n + j);
    }
};

// The workspace of a fix-up list, with its counter cleared on the stream.
struct FixListStorage {
    Workspace::Lease count_lease, entries_lease;
    FixList list;
    FixListStorage(sk_context &ctx, index_t capacity) {
        count_lease = ctx.workspace().acquire(sizeof(unsigned long long), "matmul: fix-up count");
        entries_lease = ctx.workspace().acquire(sizeof(long long) * capacity, "matmul: fix-up list");
        list.count = count_lease.as<unsigned long long>();
        list.entries = entries_lease.as<long long>();
        SK_CUDA_CHECK(cudaMemsetAsync(list.count, 0, sizeof(unsigned long long), stream_of(ctx)));
    }
};

// ---- epilogues ---------------------------------------------------------------------------------

// out(b, i, j) = acc.
template <class T>
struct StoreEpilogue {
    View3<T> out;
    index_t n;
    template <int V>
    __device__ __forceinline__ void store(index_t b, index_t i, index_t j0, const T (&acc)[V],
                                          const int (&)[V]) const {
        store_run<T, V>(out, b, i, j0, n, acc);
    }
};

// Boolean result from the count S = sum_k truth(a) truth(b): 1 if S != 0, NaN if S is NaN.
template <class T>
struct BooleanEpilogue {
    View3<T> out;
    index_t n;
    template <int V>
    __device__ __forceinline__ void store(index_t b, index_t i, index_t j0, const T (&acc)[V],
                                          const int (&)[V]) const {
        T values[V];
#pragma unroll
        for (int e = 0; e < V; ++e) values[e] = is_nan(acc[e]) ? acc[e] : (acc[e] != T(0) ? T(1) : T(0));
        store_run<T, V>(out, b, i, j0, n, values);
    }
};

// Log fast path: C = a_i + b_j + log S when S >= floor, else the entry joins the fix-up list.
template <class T>
struct LogForwardEpilogue {
    View3<T> c;
    const T *shift_a;
    index_t shift_a_batch_stride;
    const T *shift_b;
    index_t shift_b_batch_stride;
    index_t m, n;
    FixList fix;
    template <int V>
    __device__ __forceinline__ void store(index_t b, index_t i, index_t j0, const T (&acc)[V],
                                          const int (&)[V]) const {
        const T a_i = shift_a[b * shift_a_batch_stride + i];
#pragma unroll
        for (int e = 0; e < V; ++e) {
            const index_t j = j0 + e;
            if (j >= n) break;
            const T sum = acc[e];
            if (sum >= LogFastPath<T>::floor)
                c(b, i, j) = a_i + shift_b[b * shift_b_batch_stride + j] + log(sum);
            else
                fix.append(b, i, j, m, n);
        }
    }
};

// Max/min fast path: the plain-comparison result, unless the row and column flags say a NaN
// term may occur (then the entry joins the fix-up list).
template <class T>
struct SelectEpilogue {
    View3<T> c;
    View3<std::int32_t> argmax;  // data null: not wanted
    const std::uint32_t *flags_a;
    index_t flags_a_batch_stride;
    const std::uint32_t *flags_b;
    index_t flags_b_batch_stride;
    index_t m, n;
    FixList fix;
    template <int V>
    __device__ __forceinline__ void store(index_t b, index_t i, index_t j0, const T (&acc)[V],
                                          const int (&where)[V]) const {
        const auto row = static_cast<std::uint8_t>(flags_a[b * flags_a_batch_stride + i]);
#pragma unroll
        for (int e = 0; e < V; ++e) {
            const index_t j = j0 + e;
            if (j >= n) break;
            const auto col = static_cast<std::uint8_t>(flags_b[b * flags_b_batch_stride + j]);
            if (flags_need_exact(row, col)) {
                fix.append(b, i, j, m, n);
                continue;
            }
            c(b, i, j) = acc[e];
            if (argmax.data) argmax(b, i, j) = where[e];
        }
    }
};

// Log backward: out(b, r, s) = exp(x(b, r, s) - shift) * acc, the shift taken per row r
// (grad_a = EA (.) (W EB^T), x = A) or per column s (grad_b = EB (.) (EA^T W), x = B).
template <class T, bool ShiftByRow>
struct LogGradientEpilogue {
    View3<T> out;
    View3<const T> x;
    const T *shift;
    index_t shift_batch_stride;
    index_t n;
    template <int V>
    __device__ __forceinline__ void store(index_t b, index_t r, index_t s0, const T (&acc)[V],
                                          const int (&)[V]) const {
        T values[V];
#pragma unroll
        for (int e = 0; e < V; ++e) {
            const index_t s = s0 + e < n ? s0 + e : s0;  // columns past n are not stored
            const T sh = shift[b * shift_batch_stride + (ShiftByRow ? r : s)];
            values[e] = exp(x(b, r, s) - sh) * acc[e];
        }
        store_run<T, V>(out, b, r, s0, n, values);
    }
};

// ---- exact fix-ups, one warp per listed entry --------------------------------------------------

// Exact log entry: lane l reduces k = l, l + 32, ... with log_entry_exact; the 32 partial
// results are combined with log_add_exp in a fixed butterfly (symmetric, so every lane ends
// with the same value).
template <class T>
__device__ T warp_log_entry(const T *a_row, index_t a_step, const T *b_col, index_t b_step, index_t k) {
    const int lane = threadIdx.x % 32;
    const index_t count = lane < k ? (k - lane + 31) / 32 : 0;
    T v = log_entry_exact(a_row + lane * a_step, 32 * a_step, b_col + lane * b_step, 32 * b_step, count);
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) v = log_add_exp(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Whether the partial selection (x, kx) comes first in the k-ordered scan of select_entry_exact
// over the union of two disjoint sets of terms: the lowest-k NaN wins, then the better value,
// then the lower k (-1, "no term beat the zero", only ever ties with another -1).
template <class S, class T>
__device__ __forceinline__ bool selection_precedes(T x, std::int32_t kx, T y, std::int32_t ky) {
    const bool x_nan = is_nan(x), y_nan = is_nan(y);
    if (x_nan || y_nan) return x_nan && (!y_nan || kx < ky);
    if (S::better(x, y)) return true;
    if (S::better(y, x)) return false;
    const auto order = [](std::int32_t k) { return k < 0 ? 0x7fffffff : k; };
    return order(kx) < order(ky);
}

// Exact max/min entry with its argmax: select_entry_exact per lane over k = l, l + 32, ...,
// merged in a symmetric butterfly.
template <class S, class T>
__device__ T warp_select_entry(const T *a_row, index_t a_step, const T *b_col, index_t b_step,
                               index_t k, std::int32_t *where) {
    const int lane = threadIdx.x % 32;
    const index_t count = lane < k ? (k - lane + 31) / 32 : 0;
    std::int32_t local = -1;
    T best = select_entry_exact<S>(a_row + lane * a_step, 32 * a_step, b_col + lane * b_step,
                                   32 * b_step, count, &local);
    std::int32_t at = local < 0 ? -1 : lane + 32 * local;
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
        const T other = __shfl_xor_sync(0xffffffffu, best, offset);
        const std::int32_t other_at = __shfl_xor_sync(0xffffffffu, at, offset);
        if (selection_precedes<S>(other, other_at, best, at)) {
            best = other;
            at = other_at;
        }
    }
    *where = at;
    return best;
}

struct EntryIndex {
    index_t b, i, j;
};
__device__ __forceinline__ EntryIndex decode_entry(long long e, index_t m, index_t n) {
    const index_t j = e % n, row = e / n;
    return {row / m, row % m, j};
}

template <class T>
__global__ void log_fixup_kernel(View3<const T> a, View3<const T> b, View3<T> c, index_t m,
                                 index_t n, index_t k, FixList fix) {
    const unsigned long long count = *fix.count;
    const index_t warps = static_cast<index_t>(gridDim.x) * (blockDim.x / 32);
    for (index_t w = (static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
         w < static_cast<index_t>(count); w += warps) {
        const EntryIndex e = decode_entry(fix.entries[w], m, n);
        const T v = warp_log_entry(&a(e.b, e.i, 0), a.stride_j, &b(e.b, 0, e.j), b.stride_i, k);
        if (threadIdx.x % 32 == 0) c(e.b, e.i, e.j) = v;
    }
}

template <class S, class T>
__global__ void select_fixup_kernel(View3<const T> a, View3<const T> b, View3<T> c,
                                    View3<std::int32_t> argmax, index_t m, index_t n, index_t k,
                                    FixList fix) {
    const unsigned long long count = *fix.count;
    const index_t warps = static_cast<index_t>(gridDim.x) * (blockDim.x / 32);
    for (index_t w = (static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
         w < static_cast<index_t>(count); w += warps) {
        const EntryIndex e = decode_entry(fix.entries[w], m, n);
        std::int32_t where = -1;
        const T v = warp_select_entry<S>(&a(e.b, e.i, 0), a.stride_j, &b(e.b, 0, e.j), b.stride_i, k, &where);
        if (threadIdx.x % 32 == 0) {
            c(e.b, e.i, e.j) = v;
            if (argmax.data) argmax(e.b, e.i, e.j) = where;
        }
    }
}

// Enough warps for the fix-up list's worst case, capped at a few blocks per multiprocessor
// (the kernels loop); an empty list costs one launch whose blocks exit at once.
unsigned fixup_grid(sk_context &ctx, index_t capacity) {
    return grid_for(capacity * 32, 256, static_cast<index_t>(multiprocessor_count(ctx)) * 4);
}

// ---- fills -------------------------------------------------------------------------------------

// v(b, i, j) = value for b < matrices, i < rows, j < cols.
template <class T>
__global__ void fill_kernel(View3<T> v, index_t matrices, index_t rows, index_t cols, T value) {
    const index_t total = matrices * rows * cols;
    for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
         e += static_cast<index_t>(gridDim.x) * blockDim.x) {
        const index_t j = e % cols, row = e / cols;
        v(row / rows, row % rows, j) = value;
    }
}

template <class T>
void fill_view(sk_context &ctx, View3<T> v, index_t matrices, index_t rows, index_t cols, T value) {
    const index_t total = matrices * rows * cols;
    if (total == 0) return;
    fill_kernel<T><<<grid_for(total, 256, index_t(1) << 16), 256, 0, stream_of(ctx)>>>(v, matrices, rows, cols, value);
    SK_CUDA_CHECK_LAUNCH("matmul: fill kernel launch");
}

// ---- forward -----------------------------------------------------------------------------------

// Physical batches a packed operand needs: one panel when the source is shared, unless the
// product folds the batch into its reduction (then every batch needs its own copy).
template <class T>
index_t packed_batches(const Lines<T> &src, index_t batch, bool fold = false) {
    return (fold || !src.shared()) ? batch : 1;
}

template <class T>
Workspace::Lease acquire_panel(sk_context &ctx, index_t batches, index_t rows, index_t inner,
                               const char *purpose) {
    return ctx.workspace().acquire(sizeof(T) * batches * panel_size(rows, inner).elements_per_batch(), purpose);
}

GemmShape forward_gemm_shape(const Shape &s) { return {s.batch, s.m, s.n, round_up(s.k, kTileK)}; }

// The panel of an operand used as it is: the source itself when it already has the panel layout
// (direct_panel), else a packed copy held by `lease`.
template <class T>
Panel<T> plain_panel(sk_context &ctx, Workspace::Lease &lease, const Lines<T> &src, index_t rows,
                     index_t inner, index_t batch, bool fold, T pad, const char *purpose) {
    const Panel<T> direct = direct_panel(src, rows, inner, batch, fold);
    if (direct.data) return direct;
    const index_t batches = packed_batches(src, batch, fold);
    lease = acquire_panel<T>(ctx, batches, rows, inner, purpose);
    return pack(src, Identity<T>{}, pad, rows, inner, batches, lease.template as<T>(), stream_of(ctx));
}

template <class T>
void forward_real_or_boolean(sk_context &ctx, const ForwardArgs<T> &p, bool boolean) {
    const Shape &s = p.shape;
    const cudaStream_t stream = stream_of(ctx);
    const Lines<T> la = rows_of(p.a), lb = columns_of(p.b);
    Workspace::Lease lease_a, lease_b;
    if (boolean) {
        const index_t ba = packed_batches(la, s.batch), bb = packed_batches(lb, s.batch);
        lease_a = acquire_panel<T>(ctx, ba, s.m, s.k, "matmul: packed A");
        lease_b = acquire_panel<T>(ctx, bb, s.n, s.k, "matmul: packed B");
        const Panel<T> pa = pack(la, Truth<T>{}, T(0), s.m, s.k, ba, lease_a.as<T>(), stream);
        const Panel<T> pb = pack(lb, Truth<T>{}, T(0), s.n, s.k, bb, lease_b.as<T>(), stream);
        run_gemm<T, FmaStep<T>>(ctx, pa, pb, forward_gemm_shape(s), BooleanEpilogue<T>{p.c, s.n});
    } else {
        const Panel<T> pa = plain_panel(ctx, lease_a, la, s.m, s.k, s.batch, false, T(0), "matmul: packed A");
        const Panel<T> pb = plain_panel(ctx, lease_b, lb, s.n, s.k, s.batch, false, T(0), "matmul: packed B");
        run_gemm<T, FmaStep<T>>(ctx, pa, pb, forward_gemm_shape(s), StoreEpilogue<T>{p.c, s.n});
    }
}

// Row maxima of A and column maxima of B as finite shifts (matmul.h), per physical batch.
template <class T>
struct LogShifts {
    Workspace::Lease lease_a, lease_b;
    T *a, *b;
    index_t a_batch_stride, b_batch_stride;
    LogShifts(sk_context &ctx, View3<const T> va, View3<const T> vb, const Shape &s) {
        const Lines<T> la = rows_of(va), lb = columns_of(vb);
        const index_t ba = packed_batches(la, s.batch), bb = packed_batches(lb, s.batch);
        lease_a = ctx.workspace().acquire(sizeof(T) * ba * s.m, "log matmul: row shifts of A");
        lease_b = ctx.workspace().acquire(sizeof(T) * bb * s.n, "log matmul: column shifts of B");
        a = lease_a.as<T>();
        b = lease_b.as<T>();
        a_batch_stride = ba > 1 ? s.m : 0;
        b_batch_stride = bb > 1 ? s.n : 0;
        const int sms = multiprocessor_count(ctx);
        line_stats<T>(la, s.m, s.k, ba, a, nullptr, ctx.workspace(), sms, stream_of(ctx));
        line_stats<T>(lb, s.n, s.k, bb, b, nullptr, ctx.workspace(), sms, stream_of(ctx));
    }
};

template <class T>
void forward_log(sk_context &ctx, const ForwardArgs<T> &p) {
    const Shape &s = p.shape;
    const cudaStream_t stream = stream_of(ctx);
    const Lines<T> la = rows_of(p.a), lb = columns_of(p.b);
    const index_t ba = packed_batches(la, s.batch), bb = packed_batches(lb, s.batch);
    LogShifts<T> shifts(ctx, p.a, p.b, s);
    Workspace::Lease lease_a = acquire_panel<T>(ctx, ba, s.m, s.k, "log matmul: exp-shifted A");
    Workspace::Lease lease_b = acquire_panel<T>(ctx, bb, s.n, s.k, "log matmul: exp-shifted B");
    const Panel<T> ea = pack(la, ExpShift<T, true>{shifts.a, shifts.a_batch_stride}, T(0), s.m, s.k,
                             ba, lease_a.as<T>(), stream);
    const Panel<T> eb = pack(lb, ExpShift<T, true>{shifts.b, shifts.b_batch_stride}, T(0), s.n, s.k,
                             bb, lease_b.as<T>(), stream);
    const index_t capacity = s.batch * s.m * s.n;
    FixListStorage fix(ctx, capacity);
    run_gemm<T, FmaStep<T>>(ctx, ea, eb, forward_gemm_shape(s),
                            LogForwardEpilogue<T>{p.c, shifts.a, shifts.a_batch_stride, shifts.b,
                                                  shifts.b_batch_stride, s.m, s.n, fix.list});
    log_fixup_kernel<T><<<fixup_grid(ctx, capacity), 256, 0, stream>>>(p.a, p.b, p.c, s.m, s.n, s.k, fix.list);
    SK_CUDA_CHECK_LAUNCH("log matmul: fix-up kernel launch");
}

template <class T, bool Max>
void forward_select(sk_context &ctx, const ForwardArgs<T> &p) {
    using S = std::conditional_t<Max, MaxSemiring<T>, MinSemiring<T>>;
    const Shape &s = p.shape;
    const cudaStream_t stream = stream_of(ctx);
    const Lines<T> la = rows_of(p.a), lb = columns_of(p.b);
    const index_t ba = packed_batches(la, s.batch), bb = packed_batches(lb, s.batch);
    Workspace::Lease flags_a = ctx.workspace().acquire(sizeof(std::uint32_t) * ba * s.m, "matmul: row flags of A");
    Workspace::Lease flags_b = ctx.workspace().acquire(sizeof(std::uint32_t) * bb * s.n, "matmul: column flags of B");
    const int sms = multiprocessor_count(ctx);
    line_stats<T>(la, s.m, s.k, ba, nullptr, flags_a.as<std::uint32_t>(), ctx.workspace(), sms, stream);
    line_stats<T>(lb, s.n, s.k, bb, nullptr, flags_b.as<std::uint32_t>(), ctx.workspace(), sms, stream);
    Workspace::Lease lease_a, lease_b;
    const Panel<T> pa = plain_panel(ctx, lease_a, la, s.m, s.k, s.batch, false, S::zero(), "matmul: packed A");
    const Panel<T> pb = plain_panel(ctx, lease_b, lb, s.n, s.k, s.batch, false, S::zero(), "matmul: packed B");
    const index_t capacity = s.batch * s.m * s.n;
    FixListStorage fix(ctx, capacity);
    const SelectEpilogue<T> epi{p.c, p.argmax, flags_a.as<std::uint32_t>(), ba > 1 ? s.m : 0,
                                flags_b.as<std::uint32_t>(), bb > 1 ? s.n : 0, s.m, s.n, fix.list};
    // float argmax: the predicated step (fewer half-rate ALU instructions), exact while k fits
    // a float's 24-bit significand.
    constexpr bool kPredicated = std::is_same_v<T, float>;
    if (p.argmax.data && kPredicated && s.k < (index_t(1) << 24))
        run_gemm<T, std::conditional_t<kPredicated, SelectIndexPredicatedStep<Max>, SelectIndexStep<T, Max>>>(
            ctx, pa, pb, forward_gemm_shape(s), epi);
    else if (p.argmax.data)
        run_gemm<T, SelectIndexStep<T, Max>>(ctx, pa, pb, forward_gemm_shape(s), epi);
    else
        run_gemm<T, SelectStep<T, Max>>(ctx, pa, pb, forward_gemm_shape(s), epi);
    select_fixup_kernel<S, T><<<fixup_grid(ctx, capacity), 256, 0, stream>>>(p.a, p.b, p.c, p.argmax, s.m,
                                                                           s.n, s.k, fix.list);
    SK_CUDA_CHECK_LAUNCH("matmul: max/min fix-up kernel launch");
}

// K = 0: every entry is the semiring zero, argmax -1.
template <class T>
void forward_empty_reduction(sk_context &ctx, const ForwardArgs<T> &p) {
    const T zero = with_semiring<T>(p.semiring, [](auto sr) { return decltype(sr)::zero(); });
    const Shape &s = p.shape;
    fill_view(ctx, p.c, s.batch, s.m, s.n, zero);
    if (p.argmax.data) fill_view(ctx, p.argmax, s.batch, s.m, s.n, std::int32_t(-1));
}

// ---- backward: shared pieces -------------------------------------------------------------------

// A gradient target: shared across the batch (stride_b 0 while batch > 1) means one product
// whose reduction folds the batch in (batch order inside each accumulator).
template <class T>
bool folds_batch(const View3<T> &grad, index_t batch) {
    return grad.data != nullptr && grad.stride_b == 0 && batch > 1;
}

// The GEMM of a gradient: `rows x cols` outputs, reduction over `inner` per batch.
GemmShape gradient_gemm_shape(index_t batch, bool fold, index_t rows, index_t cols, index_t inner) {
    const index_t inner_padded = round_up(inner, kTileK);
    return {fold ? 1 : batch, rows, cols, fold ? batch * inner_padded : inner_padded};
}

// REAL: grad_a = G B^T, grad_b = A^T G, as GEMMs on packed transposed views.
template <class T>
void backward_real(sk_context &ctx, const BackwardArgs<T> &p) {
    const Shape &s = p.shape;
    if (p.grad_a.data) {
        const bool fold = folds_batch(p.grad_a, s.batch);
        const Lines<T> lg = rows_of(p.grad_c), lb = rows_of(p.b);  // (i, j) and (t, j)
        Workspace::Lease lease_g, lease_b;
        const Panel<T> pg = plain_panel(ctx, lease_g, lg, s.m, s.n, s.batch, fold, T(0), "matmul backward: packed grad_c");
        const Panel<T> pb = plain_panel(ctx, lease_b, lb, s.k, s.n, s.batch, fold, T(0), "matmul backward: packed B^T");
        run_gemm<T, FmaStep<T>>(ctx, pg, pb, gradient_gemm_shape(s.batch, fold, s.m, s.k, s.n),
                                StoreEpilogue<T>{p.grad_a, s.k});
    }
    if (p.grad_b.data) {
        const bool fold = folds_batch(p.grad_b, s.batch);
        const Lines<T> la = columns_of(p.a), lg = columns_of(p.grad_c);  // (t, i) and (j, i)
        Workspace::Lease lease_a, lease_g;
        const Panel<T> pa = plain_panel(ctx, lease_a, la, s.k, s.m, s.batch, fold, T(0), "matmul backward: packed A^T");
        const Panel<T> pg = plain_panel(ctx, lease_g, lg, s.n, s.m, s.batch, fold, T(0), "matmul backward: packed grad_c");
        run_gemm<T, FmaStep<T>>(ctx, pa, pg, gradient_gemm_shape(s.batch, fold, s.k, s.n, s.m),
                                StoreEpilogue<T>{p.grad_b, s.n});
    }
}

// ---- backward: LOG -----------------------------------------------------------------------------

// W[b][i][j] = log_backward_weight(...) written straight into a padded panel (k = i, line = j;
// zero in the padding), which is the B operand of grad_b = EA^T W. Entries that took the exact
// path in the forward get weight 0 and mark their row and column for the exact contributions.
template <class T>
__global__ void log_weights_kernel(View3<const T> c, View3<const T> g, const T *shift_a,
                                   index_t shift_a_bs, const T *shift_b, index_t shift_b_bs,
                                   index_t batch, index_t m, index_t n, T *w, index_t ld,
                                   index_t rows_padded, std::uint8_t *row_exact,
                                   std::uint8_t *col_exact) {
    const index_t j = static_cast<index_t>(blockIdx.x) * 32 + threadIdx.x;
    const index_t i = static_cast<index_t>(blockIdx.y) * 8 + threadIdx.y;
    if (i >= rows_padded) return;
    for (index_t b = blockIdx.z; b < batch; b += gridDim.z) {
        T weight = T(0);
        if (i < m && j < n) {
            bool exact = false;
            weight = log_backward_weight(shift_a[b * shift_a_bs + i], shift_b[b * shift_b_bs + j],
                                         c(b, i, j), g(b, i, j), &exact);
            if (exact) {  // every writer stores the same 1: no ordering needed
                row_exact[b * m + i] = 1;
                col_exact[b * n + j] = 1;
            }
        }
        w[(b * rows_padded + i) * ld + j] = weight;
    }
}

// Whether entry (b, i, j) took the exact path (the decision log_weights_kernel made).
template <class T>
__device__ __forceinline__ bool log_entry_is_exact(const T *shift_a, index_t shift_a_bs,
                                                   const T *shift_b, index_t shift_b_bs, T c, T g,
                                                   index_t b, index_t i, index_t j) {
    bool exact = false;
    (void)log_backward_weight(shift_a[b * shift_a_bs + i], shift_b[b * shift_b_bs + j], c, g, &exact);
    return exact;
}

// grad_a rows with exact entries: out(o, i, t) += sum over batches b (all of them in batch
// order when the gradient is shared, else b = o) and j in order of log_term_gradient over the
// exact entries (b, i, j). One block per row; thread x owns t = x, x + blockDim.x, ...
template <class T>
__global__ void log_exact_rows_kernel(View3<const T> a, View3<const T> bm, View3<const T> c,
                                      View3<const T> g, const T *shift_a, index_t shift_a_bs,
                                      const T *shift_b, index_t shift_b_bs,
                                      const std::uint8_t *row_exact, index_t batch, bool fold,
                                      index_t m, index_t n, index_t k, View3<T> out,
                                      index_t out_batches) {
    const index_t i = blockIdx.x;
    for (index_t o = blockIdx.y; o < out_batches; o += gridDim.y) {
        const index_t b_begin = fold ? 0 : o, b_end = fold ? batch : o + 1;
        for (index_t b = b_begin; b < b_end; ++b) {
            if (!row_exact[b * m + i]) continue;
            for (index_t j = 0; j < n; ++j) {
                const T cij = c(b, i, j), gij = g(b, i, j);
                if (!log_entry_is_exact(shift_a, shift_a_bs, shift_b, shift_b_bs, cij, gij, b, i, j)) continue;
                for (index_t t = threadIdx.x; t < k; t += blockDim.x)
                    out(o, i, t) += log_term_gradient(a(b, i, t), bm(b, t, j), cij, gij);
            }
        }
    }
}

// grad_b columns with exact entries: out(o, t, j) += sum over b and i in order (as above).
template <class T>
__global__ void log_exact_columns_kernel(View3<const T> a, View3<const T> bm, View3<const T> c,
                                         View3<const T> g, const T *shift_a, index_t shift_a_bs,
                                         const T *shift_b, index_t shift_b_bs,
                                         const std::uint8_t *col_exact, index_t batch, bool fold,
                                         index_t m, index_t n, index_t k, View3<T> out,
                                         index_t out_batches) {
    const index_t j = blockIdx.x;
    for (index_t o = blockIdx.y; o < out_batches; o += gridDim.y) {
        const index_t b_begin = fold ? 0 : o, b_end = fold ? batch : o + 1;
        for (index_t b = b_begin; b < b_end; ++b) {
            if (!col_exact[b * n + j]) continue;
            for (index_t i = 0; i < m; ++i) {
                const T cij = c(b, i, j), gij = g(b, i, j);
                if (!log_entry_is_exact(shift_a, shift_a_bs, shift_b, shift_b_bs, cij, gij, b, i, j)) continue;
                for (index_t t = threadIdx.x; t < k; t += blockDim.x)
                    out(o, t, j) += log_term_gradient(a(b, i, t), bm(b, t, j), cij, gij);
            }
        }
    }
}

template <class T>
void backward_log(sk_context &ctx, const BackwardArgs<T> &p) {
    const Shape &s = p.shape;
    const cudaStream_t stream = stream_of(ctx);
    LogShifts<T> shifts(ctx, p.a, p.b, s);

    // The weights, padded as the B operand of grad_b (k = i padded to kTileK, lines j to 128).
    const PanelSize w_size = panel_size(s.n, s.m);
    Workspace::Lease w_lease = ctx.workspace().acquire(sizeof(T) * s.batch * w_size.elements_per_batch(), "log matmul backward: W");
    Workspace::Lease row_exact = ctx.workspace().acquire(s.batch * s.m, "log matmul backward: exact rows");
    Workspace::Lease col_exact = ctx.workspace().acquire(s.batch * s.n, "log matmul backward: exact columns");
    SK_CUDA_CHECK(cudaMemsetAsync(row_exact.get(), 0, s.batch * s.m, stream));
    SK_CUDA_CHECK(cudaMemsetAsync(col_exact.get(), 0, s.batch * s.n, stream));
    T *const w = w_lease.as<T>();
    {
        const dim3 block(32, 8);
        const dim3 grid(static_cast<unsigned>(w_size.ld / 32),
                        static_cast<unsigned>((w_size.inner_padded + 7) / 8), batch_grid(s.batch));
        log_weights_kernel<T><<<grid, block, 0, stream>>>(
            p.c, p.grad_c, shifts.a, shifts.a_batch_stride, shifts.b, shifts.b_batch_stride, s.batch,
            s.m, s.n, w, w_size.ld, w_size.inner_padded, row_exact.as<std::uint8_t>(),
            col_exact.as<std::uint8_t>());
        SK_CUDA_CHECK_LAUNCH("log matmul backward: weights kernel launch");
    }
    const Panel<T> w_panel{w, w_size.elements_per_batch(), w_size.ld};

    if (p.grad_a.data) {  // grad_a = EA (.) (W EB^T) + exact terms
        const bool fold = folds_batch(p.grad_a, s.batch);
        const Lines<T> lw{w, w_size.elements_per_batch(), w_size.ld, 1};  // (i, j)
        const Lines<T> lb = rows_of(p.b);                                  // (t, j)
        const index_t bb = packed_batches(lb, s.batch, fold);
        Workspace::Lease lease_w = acquire_panel<T>(ctx, s.batch, s.m, s.n, "log matmul backward: W^T");
        Workspace::Lease lease_b = acquire_panel<T>(ctx, bb, s.k, s.n, "log matmul backward: EB^T");
        const Panel<T> pw = pack(lw, Identity<T>{}, T(0), s.m, s.n, s.batch, lease_w.as<T>(), stream);
        const Panel<T> pb = pack(lb, ExpShift<T, false>{shifts.b, shifts.b_batch_stride}, T(0), s.k,
                                 s.n, bb, lease_b.as<T>(), stream);
        run_gemm<T, FmaStep<T>>(ctx, pw, pb, gradient_gemm_shape(s.batch, fold, s.m, s.k, s.n),
                                LogGradientEpilogue<T, true>{p.grad_a, p.a, shifts.a,
                                                             shifts.a_batch_stride, s.k});
        const index_t out_batches = fold ? 1 : s.batch;
        log_exact_rows_kernel<T><<<dim3(static_cast<unsigned>(s.m), batch_grid(out_batches)), 128, 0, stream>>>(
            p.a, p.b, p.c, p.grad_c, shifts.a, shifts.a_batch_stride, shifts.b, shifts.b_batch_stride,
            row_exact.as<std::uint8_t>(), s.batch, fold, s.m, s.n, s.k, p.grad_a, out_batches);
        SK_CUDA_CHECK_LAUNCH("log matmul backward: exact rows kernel launch");
    }
    if (p.grad_b.data) {  // grad_b = EB (.) (EA^T W) + exact terms
        const bool fold = folds_batch(p.grad_b, s.batch);
        const Lines<T> la = columns_of(p.a);  // (t, i)
        const index_t ba = packed_batches(la, s.batch, fold);
        Workspace::Lease lease_a = acquire_panel<T>(ctx, ba, s.k, s.m, "log matmul backward: EA^T");
        const Panel<T> pa = pack(la, ExpShift<T, false>{shifts.a, shifts.a_batch_stride}, T(0), s.k,
                                 s.m, ba, lease_a.as<T>(), stream);
        run_gemm<T, FmaStep<T>>(ctx, pa, w_panel, gradient_gemm_shape(s.batch, fold, s.k, s.n, s.m),
                                LogGradientEpilogue<T, false>{p.grad_b, p.b, shifts.b,
                                                              shifts.b_batch_stride, s.n});
        const index_t out_batches = fold ? 1 : s.batch;
        log_exact_columns_kernel<T><<<dim3(static_cast<unsigned>(s.n), batch_grid(out_batches)), 128, 0, stream>>>(
            p.a, p.b, p.c, p.grad_c, shifts.a, shifts.a_batch_stride, shifts.b, shifts.b_batch_stride,
            col_exact.as<std::uint8_t>(), s.batch, fold, s.m, s.n, s.k, p.grad_b, out_batches);
        SK_CUDA_CHECK_LAUNCH("log matmul backward: exact columns kernel launch");
    }
}

// ---- backward: MAX / MIN -----------------------------------------------------------------------

// Caller-provided argmax entries must lie in [-1, k): the lowest offending row, or ~0 if none.
__global__ void argmax_range_kernel(View3<const std::int32_t> argmax, index_t batch, index_t m,
                                    index_t n, index_t k, unsigned long long *first_bad_row) {
    const index_t total = batch * m * n;
    for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
         e += static_cast<index_t>(gridDim.x) * blockDim.x) {
        const index_t j = e % n, row = e / n, i = row % m, b = row / m;
        const std::int32_t t = argmax(b, i, j);
        if (t < -1 || t >= k) atomicMin(first_bad_row, static_cast<unsigned long long>(i));
    }
}

void require_argmax_in_range(sk_context &ctx, View3<const std::int32_t> argmax, const Shape &s) {
    const cudaStream_t stream = stream_of(ctx);
    Workspace::Lease bad = ctx.workspace().acquire(sizeof(unsigned long long), "matmul backward: argmax check");
    SK_CUDA_CHECK(cudaMemsetAsync(bad.get(), 0xff, sizeof(unsigned long long), stream));
    const index_t total = s.batch * s.m * s.n;
    argmax_range_kernel<<<grid_for(total, 256, index_t(1) << 16), 256, 0, stream>>>(
        argmax, s.batch, s.m, s.n, s.k, bad.as<unsigned long long>());
    SK_CUDA_CHECK_LAUNCH("matmul backward: argmax range kernel launch");
    unsigned long long first_bad_row = 0;
    SK_CUDA_CHECK(cudaMemcpyAsync(&first_bad_row, bad.get(), sizeof(first_bad_row), cudaMemcpyDeviceToHost, stream));
    SK_CUDA_CHECK(cudaStreamSynchronize(stream));  // the verdict decides whether anything is written
    if (first_bad_row != ~0ull)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'argmax': row %llu holds an index outside [-1, %lld)",
             first_bad_row, static_cast<long long>(s.k));
}

// out(o, line, t) = sum over batches b (all, in order, when folding; else b = o) and over the
// scan index s in order of grad(b, line, s) where argmax(b, line, s) == t. One warp per output
// line: it zeroes the line, then takes 32 scan positions at a time; lanes holding the same t are
// grouped (__match_any_sync) and the group's lowest lane adds their values in lane order. So each
// output is summed in scan order, with no atomics.
template <class T>
__global__ void route_kernel(Lines<std::int32_t> argmax, Lines<T> grad, OutLines<T> out,
                             index_t lines, index_t scan, index_t targets, index_t batch, bool fold,
                             index_t out_batches) {
    __shared__ T staged[8][32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const index_t line = static_cast<index_t>(blockIdx.x) * 8 + warp;
    if (line >= lines) return;  // whole warps leave together
    for (index_t o = blockIdx.y; o < out_batches; o += gridDim.y) {
        for (index_t t = lane; t < targets; t += 32) out(o, line, t) = T(0);
        __syncwarp();
        const index_t b_begin = fold ? 0 : o, b_end = fold ? batch : o + 1;
        for (index_t b = b_begin; b < b_end; ++b)
            for (index_t s0 = 0; s0 < scan; s0 += 32) {
                const index_t s = s0 + lane;
                const std::int32_t t = s < scan ? argmax(b, line, s) : -1;
                staged[warp][lane] = s < scan ? grad(b, line, s) : T(0);
                const unsigned peers = __match_any_sync(0xffffffffu, t);
                __syncwarp();
                if (t >= 0 && lane == __ffs(peers) - 1) {
                    T v = out(o, line, t);
                    for (unsigned rest = peers; rest; rest &= rest - 1) v += staged[warp][__ffs(rest) - 1];
                    out(o, line, t) = v;
                }
                __syncwarp();
            }
    }
}

template <class T>
void route(sk_context &ctx, Lines<std::int32_t> argmax, Lines<T> grad, OutLines<T> out, index_t lines,
           index_t scan, index_t targets, index_t batch, bool fold) {
    const index_t out_batches = fold ? 1 : batch;
    const dim3 grid(static_cast<unsigned>((lines + 7) / 8), batch_grid(out_batches));
    route_kernel<T><<<grid, 256, 0, stream_of(ctx)>>>(argmax, grad, out, lines, scan, targets, batch,
                                                     fold, out_batches);
    SK_CUDA_CHECK_LAUNCH("matmul backward: argmax routing kernel launch");
}

template <class T>
void backward_select(sk_context &ctx, const BackwardArgs<T> &p) {
    const Shape &s = p.shape;
    View3<const std::int32_t> argmax = p.argmax;
    Workspace::Lease idx_lease, value_lease;
    if (!argmax.data) {  // recompute the forward's argmax into workspace
        idx_lease = ctx.workspace().acquire(sizeof(std::int32_t) * s.batch * s.m * s.n, "matmul backward: argmax");
        value_lease = ctx.workspace().acquire(sizeof(T) * s.batch * s.m * s.n, "matmul backward: values");
        const View3<std::int32_t> idx{idx_lease.as<std::int32_t>(), s.m * s.n, s.n, 1};
        const ForwardArgs<T> f{s, p.semiring, p.a, p.b, View3<T>{value_lease.as<T>(), s.m * s.n, s.n, 1}, idx};
        forward_cuda(ctx, f);
        argmax = idx.as_const();
    } else {
        require_argmax_in_range(ctx, argmax, s);
    }
    if (p.grad_a.data)  // lines i, scan j, targets t
        route<T>(ctx, rows_of(argmax), rows_of(p.grad_c), out_rows_of(p.grad_a), s.m, s.n, s.k, s.batch,
                 folds_batch(p.grad_a, s.batch));
    if (p.grad_b.data)  // lines j, scan i, targets t
        route<T>(ctx, columns_of(argmax), columns_of(p.grad_c), out_columns_of(p.grad_b), s.n, s.m, s.k,
                 s.batch, folds_batch(p.grad_b, s.batch));
}

}  // namespace
}  // namespace cuda

template <class T>
void forward_cuda(sk_context &ctx, const ForwardArgs<T> &args) {
    ctx.activate();
    if (args.shape.k == 0) return cuda::forward_empty_reduction(ctx, args);
    switch (args.semiring) {
        case Semiring::Real: return cuda::forward_real_or_boolean(ctx, args, false);
        case Semiring::Boolean: return cuda::forward_real_or_boolean(ctx, args, true);
        case Semiring::Log: return cuda::forward_log(ctx, args);
        case Semiring::Max: return cuda::forward_select<T, true>(ctx, args);
        case Semiring::Min: return cuda::forward_select<T, false>(ctx, args);
    }
    fail(SK_ERROR_INTERNAL, "matmul: unhandled semiring %d", static_cast<int>(args.semiring));
}

template <class T>
void backward_cuda(sk_context &ctx, const BackwardArgs<T> &args) {
    ctx.activate();
    if (args.shape.k == 0) return;  // grad_a is (m x 0) and grad_b (0 x n): nothing to write
    switch (args.semiring) {
        case Semiring::Real: return cuda::backward_real(ctx, args);
        case Semiring::Log: return cuda::backward_log(ctx, args);
        case Semiring::Max:
        case Semiring::Min: return cuda::backward_select(ctx, args);
        case Semiring::Boolean: break;
    }
    fail(SK_ERROR_UNSUPPORTED, "matmul backward: the %s semiring has no gradient",
         semiring_name(args.semiring));
}

template <class T>
void fill_cuda(sk_context &ctx, View3<T> v, index_t batch, index_t rows, index_t cols, T value) {
    ctx.activate();
    cuda::fill_view(ctx, v, v.stride_b == 0 ? 1 : batch, rows, cols, value);
}

template void forward_cuda<float>(sk_context &, const ForwardArgs<float> &);
template void forward_cuda<double>(sk_context &, const ForwardArgs<double> &);
template void backward_cuda<float>(sk_context &, const BackwardArgs<float> &);
template void backward_cuda<double>(sk_context &, const BackwardArgs<double> &);
template void fill_cuda<float>(sk_context &, View3<float>, index_t, index_t, index_t, float);
template void fill_cuda<double>(sk_context &, View3<double>, index_t, index_t, index_t, double);

}  // namespace sk::matmul
