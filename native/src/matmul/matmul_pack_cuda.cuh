// Operand preparation for the CUDA GEMM core (matmul_gemm_cuda.cuh): per-line statistics
// (maxima for the log shifts, non-finite flags for the max/min fast path) and packing of a
// strided operand into a padded k-major panel, optionally transformed on the way.
//
// Every operand of every product (forward A and B, the transposed views of the backward, the
// log-backward weights) is described the same way: as "lines" r = 0..rows-1 of length `inner`
// (the reduction index k), element (b, r, k) at data + b*stride_b + r*stride_r + k*stride_k.
// The forward's A has lines = rows of A; its B has lines = columns of B; grad_c B^T uses the
// rows of grad_c and the rows of B; and so on. Packing writes P[b][k][r] (r contiguous), so both
// GEMM operands are read as 16-byte vectors along the output dimension.
#pragma once

#include <cstdint>

#include "core/common.h"
#include "core/cuda_check.h"
#include "core/workspace.h"
#include "matmul/matmul.h"
#include "matmul/matmul_gemm_cuda.cuh"
#include "semiring/semiring.h"

namespace sk::matmul::cuda {

template <class T>
struct Lines {
    const T *data = nullptr;
    index_t stride_b = 0;
    index_t stride_r = 0;
    index_t stride_k = 0;
    __device__ __forceinline__ T operator()(index_t b, index_t r, index_t k) const {
        return data[b * stride_b + r * stride_r + k * stride_k];
    }
    bool shared() const { return stride_b == 0; }
};

// Lines of a (batch, rows, cols) view: along its rows (k = column) or along its columns
// (k = row).
template <class T>
Lines<T> rows_of(View3<const T> v) { return {v.data, v.stride_b, v.stride_i, v.stride_j}; }
template <class T>
Lines<T> columns_of(View3<const T> v) { return {v.data, v.stride_b, v.stride_j, v.stride_i}; }

// ---- element transforms applied while packing -------------------------------------------------

template <class T>
struct Identity {
    __device__ __forceinline__ T operator()(T x, index_t, index_t, index_t) const { return x; }
};

// BOOLEAN operands as 0/1 (NaN stays NaN), so the boolean product is a real product:
// OR_k (a_k AND b_k) = [sum_k a_k b_k != 0], and a NaN reaches the sum exactly where it reaches
// the boolean result. Nonzero is tested on the bits: the library is compiled with flush-to-zero,
// under which a subnormal would compare equal to 0.
template <class T>
struct Truth {
    __device__ __forceinline__ T operator()(T x, index_t, index_t, index_t) const {
        if (is_nan(x)) return x;
        if constexpr (sizeof(T) == 4)
            return (__float_as_uint(x) & 0x7fffffffu) != 0u ? T(1) : T(0);
        else
            return (__double_as_longlong(x) & 0x7fffffffffffffffll) != 0ll ? T(1) : T(0);
    }
};

// The log fast path's exp-shifted operand exp(x - shift) with one shift per line (ByLine) or
// one per position along k (ByInner, for the transposed views of the backward).
template <class T, bool ByLine>
struct ExpShift {
    const T *shift;
    index_t shift_batch_stride;  // 0 for a shared operand
    __device__ __forceinline__ T operator()(T x, index_t b, index_t r, index_t k) const {
        return exp(x - shift[b * shift_batch_stride + (ByLine ? r : k)]);
    }
};

// ---- line statistics ---------------------------------------------------------------------------

// For each line (b, r): shift[b, r] = finite_shift(max_k x) and/or flags[b, r] = OR_k
// nonfinite_flag(x) (either output may be null). Max and OR are order-independent, so the result
// does not depend on the reduction tree. NaN is skipped by the maximum, as on the CPU.

// Folds x = src(b, r, k) for k = k_begin, k_begin + step, ... < k_end into (hi, f), eight loads
// in flight per thread (a loop with one load per iteration waits on each: latency-bound).
template <class T>
__device__ __forceinline__ void accumulate_line(const Lines<T> &src, index_t b, index_t r, index_t k_begin,
                                                index_t k_end, index_t step, T &hi, std::uint32_t &f) {
    constexpr int kUnroll = 8;
    for (index_t k0 = k_begin; k0 < k_end; k0 += kUnroll * step) {
        T x[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const index_t k = k0 + u * step;
            x[u] = k < k_end ? src(b, r, k) : T(0);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (k0 + u * step < k_end) {
                hi = fmax(hi, x[u]);
                f |= nonfinite_flag(static_cast<double>(x[u]));
            }
    }
}

// Contiguous lines (stride_k == 1): one warp per line, lanes along k.
template <class T>
__global__ void line_stats_warp_kernel(Lines<T> src, index_t rows, index_t inner, index_t batches,
                                       T *shift, std::uint32_t *flags) {
    for (index_t b = blockIdx.y; b < batches; b += gridDim.y) {
        const index_t r = static_cast<index_t>(blockIdx.x) * 8 + threadIdx.y;
        T hi = -positive_infinity<T>();
        std::uint32_t f = 0;
        if (r < rows) accumulate_line(src, b, r, threadIdx.x, inner, 32, hi, f);
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2) hi = fmax(hi, __shfl_xor_sync(0xffffffffu, hi, offset));
        f = __reduce_or_sync(0xffffffffu, f);
        if (threadIdx.x == 0 && r < rows) {
            if (shift) shift[b * rows + r] = finite_shift(hi);
            if (flags) flags[b * rows + r] = f;
        }
    }
}

// Other lines: 32 lines per block, lanes across lines (coalesced when stride_r == 1), the 8 warps
// splitting one chunk of k; chunk c of `chunks` covers k in [c * chunk, (c+1) * chunk). With one
// chunk the block writes the final statistics, otherwise partial ones (part_max / part_flags,
// indexed [(b * chunks + c) * rows + r]) that line_stats_finalize_kernel combines.
template <class T>
__global__ void line_stats_chunk_kernel(Lines<T> src, index_t rows, index_t inner, index_t batches,
                                        index_t chunk, index_t chunks, T *shift, std::uint32_t *flags,
                                        T *part_max, std::uint32_t *part_flags) {
    __shared__ T warp_max[8][32];
    __shared__ std::uint32_t warp_flags[8][32];
    const index_t r = static_cast<index_t>(blockIdx.x) * 32 + threadIdx.x;
    const index_t c = blockIdx.y;
    const index_t k_end = (c + 1) * chunk < inner ? (c + 1) * chunk : inner;
    for (index_t b = blockIdx.z; b < batches; b += gridDim.z) {
        T hi = -positive_infinity<T>();
        std::uint32_t f = 0;
        if (r < rows) accumulate_line(src, b, r, c * chunk + threadIdx.y, k_end, 8, hi, f);
        warp_max[threadIdx.y][threadIdx.x] = hi;
        warp_flags[threadIdx.y][threadIdx.x] = f;
        __syncthreads();
        if (threadIdx.y == 0 && r < rows) {
            for (int w = 1; w < 8; ++w) {
                hi = fmax(hi, warp_max[w][threadIdx.x]);
                f |= warp_flags[w][threadIdx.x];
            }
            if (chunks == 1) {
                if (shift) shift[b * rows + r] = finite_shift(hi);
                if (flags) flags[b * rows + r] = f;
            } else {
                part_max[(b * chunks + c) * rows + r] = hi;
                part_flags[(b * chunks + c) * rows + r] = f;
            }
        }
        __syncthreads();
    }
}

template <class T>
__global__ void line_stats_finalize_kernel(index_t rows, index_t batches, index_t chunks,
                                           const T *part_max, const std::uint32_t *part_flags,
                                           T *shift, std::uint32_t *flags) {
    const index_t total = batches * rows;
    for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
         e += static_cast<index_t>(gridDim.x) * blockDim.x) {
        const index_t b = e / rows, r = e % rows;
        T hi = -positive_infinity<T>();
        std::uint32_t f = 0;
        for (index_t c = 0; c < chunks; ++c) {
            hi = fmax(hi, part_max[(b * chunks + c) * rows + r]);
            f |= part_flags[(b * chunks + c) * rows + r];
        }
        if (shift) shift[e] = finite_shift(hi);
        if (flags) flags[e] = f;
    }
}

// Per-line statistics of `batches` batches of src (1 for a shared operand) into
// shift[batches * rows] / flags[batches * rows]. The partial results of the chunked path live in
// `workspace` (stream-ordered, so the leases may end once the kernels are queued).
template <class T>
void line_stats(Lines<T> src, index_t rows, index_t inner, index_t batches, T *shift,
                std::uint32_t *flags, Workspace &workspace, int multiprocessors, cudaStream_t stream) {
    const dim3 block(32, 8);
    const unsigned batch_blocks = static_cast<unsigned>(batches < 65535 ? batches : 65535);
    if (src.stride_k == 1 && src.stride_r != 1) {
        const dim3 grid(static_cast<unsigned>((rows + 7) / 8), batch_blocks);
        line_stats_warp_kernel<T><<<grid, block, 0, stream>>>(src, rows, inner, batches, shift, flags);
        SK_CUDA_CHECK_LAUNCH("matmul: line statistics kernel launch");
        return;
    }
    // Enough chunks of k for ~4 blocks per multiprocessor, each chunk at least 64 long.
    const index_t line_blocks = (rows + 31) / 32 * batches;
    const index_t wanted = (4 * static_cast<index_t>(multiprocessors) + line_blocks - 1) / line_blocks;
    const index_t max_chunks = (inner + 63) / 64;
    const index_t chunks = wanted < 1 ? 1 : (wanted < max_chunks ? wanted : max_chunks);
    const index_t chunk = (inner + chunks - 1) / chunks;
    Workspace::Lease max_lease, flags_lease;
    T *part_max = nullptr;
    std::uint32_t *part_flags = nullptr;
    if (chunks > 1) {
        max_lease = workspace.acquire(sizeof(T) * batches * chunks * rows, "matmul: partial line maxima");
        flags_lease = workspace.acquire(sizeof(std::uint32_t) * batches * chunks * rows, "matmul: partial line flags");
        part_max = max_lease.as<T>();
        part_flags = flags_lease.as<std::uint32_t>();
    }
    const dim3 grid(static_cast<unsigned>((rows + 31) / 32), static_cast<unsigned>(chunks), batch_blocks);
    line_stats_chunk_kernel<T><<<grid, block, 0, stream>>>(src, rows, inner, batches, chunk, chunks, shift,
                                                          flags, part_max, part_flags);
    SK_CUDA_CHECK_LAUNCH("matmul: line statistics kernel launch");
    if (chunks > 1) {
        const index_t total = batches * rows;
        const unsigned blocks = static_cast<unsigned>((total + 255) / 256 < 4096 ? (total + 255) / 256 : 4096);
        line_stats_finalize_kernel<T><<<blocks, 256, 0, stream>>>(rows, batches, chunks, part_max, part_flags,
                                                                 shift, flags);
        SK_CUDA_CHECK_LAUNCH("matmul: line statistics finalize kernel launch");
    }
}

// ---- packing -----------------------------------------------------------------------------------

// out[b][k][r] = f(src(b, r, k)) for r < rows, k < inner; `pad` on the padding up to
// (inner_padded, ld). A 32 x 32 tile goes through shared memory so that both the read (along
// whichever of r, k is contiguous in the source: ReadAlongK when stride_k == 1) and the write
// (along r) are coalesced.
template <class T, class F, bool ReadAlongK>
__global__ void pack_kernel(Lines<T> src, F f, T pad, index_t rows, index_t inner, index_t batches,
                            T *out, index_t ld, index_t inner_padded) {
    __shared__ T tile[32][33];  // tile[r][k]
    const index_t r0 = static_cast<index_t>(blockIdx.x) * 32, k0 = static_cast<index_t>(blockIdx.y) * 32;
    for (index_t b = blockIdx.z; b < batches; b += gridDim.z) {
#pragma unroll
        for (int step = 0; step < 4; ++step) {
            const int along = threadIdx.x, across = threadIdx.y + 8 * step;
            const int lr = ReadAlongK ? across : along, lk = ReadAlongK ? along : across;
            const index_t r = r0 + lr, k = k0 + lk;
            tile[lr][lk] = (r < rows && k < inner) ? f(src(b, r, k), b, r, k) : pad;
        }
        __syncthreads();
        T *const panel = out + b * inner_padded * ld;
#pragma unroll
        for (int step = 0; step < 4; ++step) {
            const int lr = threadIdx.x, lk = threadIdx.y + 8 * step;
            const index_t r = r0 + lr, k = k0 + lk;
            if (r < ld && k < inner_padded) panel[k * ld + r] = tile[lr][lk];
        }
        __syncthreads();
    }
}

// Sizes of the panel that packs `rows` lines of length `inner`.
struct PanelSize {
    index_t ld;            // rows rounded up to kRowPadding
    index_t inner_padded;  // inner rounded up to kTileK
    index_t elements_per_batch() const { return ld * inner_padded; }
};
inline PanelSize panel_size(index_t rows, index_t inner) {
    return {round_up(rows, kRowPadding), round_up(inner, kTileK)};
}

// A source that already is a panel needs no pack: lines contiguous (stride_r == 1), every row
// of k 16-byte aligned, no padding needed (rows a multiple of kRowPadding, inner of kTileK), and,
// when the product folds the batch into its reduction, batches laid out one after another.
// Returns the panel, or a panel with data == nullptr when src must be packed.
template <class T>
Panel<T> direct_panel(const Lines<T> &src, index_t rows, index_t inner, index_t batch, bool fold) {
    const bool aligned = (reinterpret_cast<std::uintptr_t>(src.data) % 16 == 0) &&
                         (src.stride_k * static_cast<index_t>(sizeof(T))) % 16 == 0 &&
                         (src.stride_b * static_cast<index_t>(sizeof(T))) % 16 == 0;
    const bool unpadded = rows % kRowPadding == 0 && inner % kTileK == 0;
    const bool batches_ok = !fold || batch == 1 || src.stride_b == inner * src.stride_k;
    if (src.stride_r == 1 && src.stride_k >= rows && aligned && unpadded && batches_ok)
        return Panel<T>{src.data, src.stride_b, src.stride_k};
    return Panel<T>{};
}

// Packs `batches` batches of src into out (batches * size.elements_per_batch() elements) and
// returns the panel. With batches == 1 the panel is shared by every batch of the product.
template <class T, class F>
Panel<T> pack(Lines<T> src, F f, T pad, index_t rows, index_t inner, index_t batches, T *out,
              cudaStream_t stream) {
    const PanelSize size = panel_size(rows, inner);
    const dim3 block(32, 8);
    const dim3 grid(static_cast<unsigned>(size.ld / 32),
                    static_cast<unsigned>((size.inner_padded + 31) / 32),
                    static_cast<unsigned>(batches < 65535 ? batches : 65535));
    if (src.stride_k == 1 && src.stride_r != 1)
        pack_kernel<T, F, true><<<grid, block, 0, stream>>>(src, f, pad, rows, inner, batches, out,
                                                             size.ld, size.inner_padded);
    else
        pack_kernel<T, F, false><<<grid, block, 0, stream>>>(src, f, pad, rows, inner, batches, out,
                                                              size.ld, size.inner_padded);
    SK_CUDA_CHECK_LAUNCH("matmul: pack kernel launch");
    return Panel<T>{out, batches > 1 ? size.elements_per_batch() : 0, size.ld};
}

}  // namespace sk::matmul::cuda
