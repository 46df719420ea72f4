// CUDA backend of the semifield convolution. Two kinds of kernels run the per-element math of
// semiconv.h (the same functions and the same accumulation order as the CPU backend):
//
// Tiled kernels (the fast path, used whenever a problem's tile fits in shared memory):
//   forward:      one block per (b, o, oz) plane and 2-D tile of outputs (y, x); for each input
//                 channel of the group and z tap it stages the input rows the tile reads (halo
//                 included) and the kernel slice in shared memory, and each thread accumulates
//                 RY outputs in registers over the valid taps (ty, tx increasing);
//   grad input:   one block per (b, c_in, iz) plane and tile of inputs; for each output channel
//                 of the group and z tap it stages the upstream gradient and the provenance
//                 (tropical) or output (root, log) of the outputs the tile's inputs feed, and
//                 each thread gathers over its taps in the CPU order;
//   grad kernel:  two passes, no atomics. Pass 1: one block per (kernel row, c_local, b, user,
//                 oz) plane and tile of outputs; for each kernel element every thread sums its
//                 outputs' terms, a warp butterfly and a fixed-order sum over the warps give the
//                 block's partial sum, written to a workspace buffer. Pass 2: one warp per kernel
//                 element sums its blocks' partials in block order. Bitwise reproducible; the
//                 summation order differs from the CPU's (results agree within rounding).
// Direct kernels (the fallback for tiles that do not fit, huge strides or dilations, and a
// workspace limit too small for the partials): one thread per output / input element
// (grid-stride), one block per kernel element with a fixed-shape tree reduction.
// Also: the quadratic kernels (one thread per value / parameter pair) and the root semifield's
// negative-value check (a device flag raised by any thread that sees a negative value; every
// writer stores the same 1, so the race is benign; read back after a stream synchronisation).
// Cost model, bounds and measured times: NOTES.md beside this file.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/context.h"
#include "core/cuda_check.h"
#include "semiconv/semiconv.h"

namespace sk::semiconv {
namespace {

constexpr int kThreads = 256;
constexpr int kReduceThreads = 256;  // power of two: the tree halves it

cudaStream_t stream_of(sk_context &ctx) { return static_cast<cudaStream_t>(ctx.stream()); }

unsigned blocks_for(index_t n) {
    const index_t blocks = (n + kThreads - 1) / kThreads;
    return static_cast<unsigned>(std::min<index_t>(std::max<index_t>(blocks, 1), 65535 * 32));
}

template <class T, class F>
__global__ void forward_kernel(Problem<T> P, F field, ForwardOut<T> out, index_t total) {
    for (index_t e = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; e < total;
         e += static_cast<index_t>(gridDim.x) * blockDim.x) {
        const OutputIndex at = unflatten_output(P, e);
        forward_element(P, field, out, at.b, at.o, at.z, at.y, at.x);
    }
}

template <class T, class F>
__global__ void input_gradient_kernel(Problem<T> P, F field, BackwardIn<T> in, View5<T> grad_input,
                                      index_t total) {
    for (index_t e = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; e < total;
         e += static_cast<index_t>(gridDim.x) * blockDim.x) {
        index_t r = e;
        const index_t ix = r % P.axis[2].n;
        r /= P.axis[2].n;
        const index_t iy = r % P.axis[1].n;
        r /= P.axis[1].n;
        const index_t iz = r % P.axis[0].n;
        r /= P.axis[0].n;
        const index_t ic = r % P.in_channels, b = r / P.in_channels;
        grad_input(b, ic, iz, iy, ix) = input_gradient_element(P, field, in, b, ic, iz, iy, ix);
    }
}

template <class T, class F>
__global__ void kernel_gradient_kernel(Problem<T> P, F field, BackwardIn<T> in, View5<T> grad_kernel,
                                       index_t elements) {
    __shared__ T partial[kReduceThreads];
    const index_t items = kernel_gradient_item_count(P);
    for (index_t e = blockIdx.x; e < elements; e += gridDim.x) {
        const KernelIndex k = unflatten_kernel(P, e);
        T sum = T(0);
        for (index_t item = threadIdx.x; item < items; item += kReduceThreads)
            sum += kernel_gradient_item(P, field, in, k.row, k.c, k.z, k.y, k.x, item);
        partial[threadIdx.x] = sum;
        __syncthreads();
        for (int half = kReduceThreads / 2; half > 0; half /= 2) {
            if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
            __syncthreads();
        }
        if (threadIdx.x == 0) grad_kernel(k.row, k.c, k.z, k.y, k.x) = partial[0];
        __syncthreads();
    }
}

// The root semifield's negative-value scan (the C API's check before any output is written).
// A dense view is scanned as one flat array (memory-bound: no index arithmetic per element);
// any other view by one warp per (b, c, z, y) row, its index decomposed once per row.
// Each thread tests kScanUnroll values a grid apart per iteration (independent loads in flight).
constexpr int kScanUnroll = 8;
template <class T>
__global__ void negative_flag_flat_kernel(const T *data, index_t total, int *flag) {
    bool negative = false;
    const index_t step = static_cast<index_t>(gridDim.x) * blockDim.x;
    for (index_t e0 = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; e0 < total;
         e0 += step * kScanUnroll) {
#pragma unroll
        for (int u = 0; u < kScanUnroll; ++u) {
            const index_t e = e0 + u * step;
            negative |= e < total && data[e] < T(0);
        }
    }
    if (__syncthreads_or(negative) && threadIdx.x == 0) *flag = 1;
}

template <class T>
__global__ void negative_flag_rows_kernel(View5<const T> v, index_t e1, index_t e2, index_t e3, index_t e4,
                                          index_t rows, int *flag) {
    const int lane = threadIdx.x % 32;
    const index_t warps = static_cast<index_t>(gridDim.x) * (blockDim.x / 32);
    for (index_t row = (blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x) / 32; row < rows; row += warps) {
        index_t r = row;
        const index_t y = r % e3;
        r /= e3;
        const index_t z = r % e2;
        r /= e2;
        const index_t c = r % e1, b = r / e1;
        const T *base = v.data + b * v.s[0] + c * v.s[1] + z * v.s[2] + y * v.s[3];
        bool negative = false;
        for (index_t x = lane; x < e4; x += 32) negative = negative || base[x * v.s[4]] < T(0);
        if (__any_sync(0xffffffffu, negative) && lane == 0) *flag = 1;
    }
}

// True when the view's elements are exactly `total` consecutive values from v.data (row-major,
// axes of extent 1 ignored).
template <class T>
bool dense_view(const View5<const T> &v, const index_t extent[5]) {
    index_t expected = 1;
    for (int axis = 4; axis >= 0; --axis) {
        if (extent[axis] == 1) continue;
        if (v.s[axis] != expected) return false;
        expected *= extent[axis];
    }
    return true;
}

template <class T>
__global__ void quadratic_kernel_kernel(QuadraticProblem<T> Q, View5<T> kernel, index_t total) {
    for (index_t e = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; e < total;
         e += static_cast<index_t>(gridDim.x) * blockDim.x)
        quadratic_kernel_element(Q, kernel, e);
}

template <class T>
__global__ void quadratic_backward_kernel(QuadraticProblem<T> Q, View5<const T> grad_kernel,
                                          View5<T> grad_params, index_t total) {
    for (index_t e = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; e < total;
         e += static_cast<index_t>(gridDim.x) * blockDim.x)
        quadratic_gradient_pair(Q, grad_kernel, grad_params, e);
}


// ---- tiled kernels ---------------------------------------------------------------------------
// Tile arithmetic is 32-bit: tiled_geometry_fits() admits only problems whose strides,
// dilations, paddings and extents keep every tile offset far below 2^31.

// A block shape: BX x BY threads, each thread RY outputs along y (BY apart), so a tile is
// (BY * RY) x BX outputs. kPlane suits 2-D and 3-D planes, kRow problems whose y extent is 1.
template <int BX_, int BY_, int RY_>
struct BlockShape {
    static constexpr int BX = BX_, BY = BY_, RY = RY_, kThreads = BX_ * BY_, kTileY = BY_ * RY_;
};
using PlaneShape = BlockShape<32, 8, 2>;
using RowShape = BlockShape<128, 1, 1>;
using PlaneShapeWide = BlockShape<32, 8, 4>;  // the kernel gradient: more outputs per reduction

__device__ inline int floor_div32(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Output position of axis a read by tap t at input i (a 32-bit output_for_tap: stride 1 needs
// no division).
__device__ inline bool tile_output_for_tap(int i_plus_pad, int dilation, int stride, int m, int t, int *y) {
    const int num = i_plus_pad - dilation * t;
    if (num < 0) return false;
    if (stride == 1) {
        *y = num;
    } else {
        if (num % stride != 0) return false;
        *y = num / stride;
    }
    return *y < m;
}

// Copies rows [y0, y0 + span_y) x columns [x0, x0 + span_x) of one (b, c, z) plane of v into
// tile (row-major, span_x wide); positions outside [0, ny) x [0, nx) are not written (the
// kernels never read them). A warp per row (consecutive lanes read consecutive columns); the row
// pointer is formed once per row in 64 bits, columns in 32 bits: the launchers admit extents
// and tile offsets below 2^27 (tiled_geometry_fits), and unit column strides skip the multiply
// (the 64-bit form cost ~48 instructions per staged element, ncu).
template <class T, class U>
__device__ void load_plane_tile(const T *plane, index_t sy, index_t sx, index_t y0, index_t x0, index_t ny,
                                index_t nx, int span_y, int span_x, U *tile, int tid, int threads) {
    const int lane = tid % 32, y0i = static_cast<int>(y0), x0i = static_cast<int>(x0);
    const int nyi = static_cast<int>(ny), nxi = static_cast<int>(nx);
    const bool unit = sx == 1;
    for (int r = tid / 32; r < span_y; r += threads / 32) {
        const int y = y0i + r;
        if (y < 0 || y >= nyi) continue;
        const T *src = plane + static_cast<index_t>(y) * sy;
        for (int q = lane; q < span_x; q += 32) {
            const int x = x0i + q;
            if (x >= 0 && x < nxi) tile[r * span_x + q] = unit ? src[x] : src[static_cast<index_t>(x) * sx];
        }
    }
}

// Copies the (kz) slice of kernel row `row`, channel c (ky x kx values) into w.
template <class T>
__device__ void load_kernel_slice(const Problem<T> &P, index_t row, index_t c, index_t kz, T *w, int tid,
                                  int threads) {
    const int kyn = static_cast<int>(P.axis[1].k), kxn = static_cast<int>(P.axis[2].k);
    for (int i = tid; i < kyn * kxn; i += threads) w[i] = P.kernel(row, c, kz, i / kxn, i % kxn);
}

template <class T, class F, class S>
__global__ void __launch_bounds__(S::kThreads)
    forward_tiled_kernel(Problem<T> P, F field, ForwardOut<T> out, int span_y, int span_x) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T *tile = reinterpret_cast<T *>(shared_bytes);
    T *weights = tile + span_y * span_x;
    const Axis az = P.axis[0], ay = P.axis[1], ax = P.axis[2];
    const int kxn = static_cast<int>(ax.k), dy = static_cast<int>(ay.dilation), dx = static_cast<int>(ax.dilation);
    // (b, o, oz) from the block index in 32-bit arithmetic (the launcher admits < 2^31 planes).
    unsigned plane = blockIdx.x;
    const index_t oz = plane % static_cast<unsigned>(az.m);
    plane /= static_cast<unsigned>(az.m);
    const index_t o = plane % static_cast<unsigned>(P.out_channels), b = plane / static_cast<unsigned>(P.out_channels);
    const index_t oy0 = static_cast<index_t>(blockIdx.y) * S::kTileY, ox0 = static_cast<index_t>(blockIdx.z) * S::BX;
    const index_t iy0 = oy0 * ay.stride - ay.pad_begin, ix0 = ox0 * ax.stride - ax.pad_begin;
    const int tid = threadIdx.y * S::BX + threadIdx.x;
    const index_t ox = ox0 + threadIdx.x;
    const int lx = static_cast<int>(threadIdx.x * ax.stride);  // tile column of tap 0
    TapRange rx = valid_taps(ax, ox);
    bool active[S::RY];
    TapRange ry[S::RY];
    typename F::Accumulator acc[S::RY];
    T total[S::RY];
#pragma unroll
    for (int r = 0; r < S::RY; ++r) {
        const index_t oy = oy0 + threadIdx.y + S::BY * r;
        active[r] = ox < ax.m && oy < ay.m;
        ry[r] = active[r] ? valid_taps(ay, oy) : TapRange{0, 0};
        acc[r] = field.accumulator();
        total[r] = T(0);
    }
    const index_t row = P.kernel_row(o), ic0 = P.group_of_output(o) * P.group_in, volume = P.kernel_volume();
    const TapRange rz = valid_taps(az, oz);
    for (index_t c = 0; c < P.group_in; ++c) {
        const auto tap_base = static_cast<std::int32_t>(P.channels_add ? 0 : c * volume);
        for (index_t tz = rz.lo; tz < rz.hi; ++tz) {
            const index_t iz = oz * az.stride - az.pad_begin + az.dilation * tz;
            const index_t kz = P.kernel_index(0, tz);
            __syncthreads();  // every thread is done with the previous tile
            const T *in_plane = P.input.data + b * P.input.s[0] + (ic0 + c) * P.input.s[1] + iz * P.input.s[2];
            load_plane_tile(in_plane, P.input.s[3], P.input.s[4], iy0, ix0, ay.n, ax.n, span_y, span_x, tile, tid,
                            S::kThreads);
            load_kernel_slice(P, row, c, kz, weights, tid, S::kThreads);
            __syncthreads();
#pragma unroll
            for (int r = 0; r < S::RY; ++r) {
                const int ly = static_cast<int>((threadIdx.y + S::BY * r) * ay.stride);  // tile row of tap 0
                for (int ty = static_cast<int>(ry[r].lo); ty < static_cast<int>(ry[r].hi); ++ty) {
                    const T *in_row = tile + (ly + dy * ty) * span_x + lx;
                    const int kyi = static_cast<int>(P.kernel_index(1, ty));
                    const T *w_row = weights + kyi * kxn;
                    const auto tap_row = tap_base + static_cast<std::int32_t>(P.flat_kernel(kz, kyi, 0));
                    for (int tx = static_cast<int>(rx.lo); tx < static_cast<int>(rx.hi); ++tx) {
                        const int kxi = static_cast<int>(P.kernel_index(2, tx));
                        acc[r].add(field.times(in_row[dx * tx], w_row[kxi]), tap_row + kxi);
                    }
                }
            }
        }
        if constexpr (F::kSelect) {
            if (P.channels_add) {  // each channel's selection, summed over the channels
#pragma unroll
                for (int r = 0; r < S::RY; ++r) {
                    if (!active[r]) continue;
                    total[r] += acc[r].value();
                    if (out.provenance.data) out.provenance(b, o, c, oz, oy0 + threadIdx.y + S::BY * r, ox) = acc[r].where;
                    acc[r] = field.accumulator();
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < S::RY; ++r) {
        if (!active[r]) continue;
        const index_t oy = oy0 + threadIdx.y + S::BY * r;
        if constexpr (F::kSelect) {
            if (P.channels_add) {
                out.output(b, o, oz, oy, ox) = total[r];
                continue;
            }
            if (out.provenance.data) out.provenance(b, o, 0, oz, oy, ox) = acc[r].where;
        }
        out.output(b, o, oz, oy, ox) = acc[r].value();
    }
}

// Like load_plane_tile, but positions outside the plane receive `fill` (the semifield's padding
// value, see padding_fill in semiconv.h). Returns whether every value this thread staged
// satisfies `check` (the caller combines the threads' answers after its barrier).
template <class T, class Check>
__device__ bool load_plane_tile_filled(const T *plane, index_t sy, index_t sx, index_t y0, index_t x0, index_t ny,
                                       index_t nx, int span_y, int span_x, T *tile, T fill, int tid, int threads,
                                       Check check) {
    const int lane = tid % 32, y0i = static_cast<int>(y0), x0i = static_cast<int>(x0);
    const int nyi = static_cast<int>(ny), nxi = static_cast<int>(nx);
    const bool unit = sx == 1;
    bool all = true;
    for (int r = tid / 32; r < span_y; r += threads / 32) {
        const int y = y0i + r;
        const bool row_inside = y >= 0 && y < nyi;
        const T *src = plane + static_cast<index_t>(row_inside ? y : 0) * sy;
        for (int q = lane; q < span_x; q += 32) {
            const int x = x0i + q;
            T v = fill;
            if (row_inside && x >= 0 && x < nxi) v = unit ? src[x] : src[static_cast<index_t>(x) * sx];
            tile[r * span_x + q] = v;
            all = all && check(v);
        }
    }
    return all;
}

// One term into an accumulator; NoNan: the caller knows no term is NaN (the select accumulators
// then skip their NaN tests; the others have none).
template <bool NoNan, class Acc, class T>
__device__ inline void accumulate(Acc &acc, T v, std::int32_t tap) {
    acc.add(v, tap);
}
template <bool NoNan, class T, bool Max>
__device__ inline void accumulate(SelectAccumulator<T, Max> &acc, T v, std::int32_t tap) {
    if constexpr (NoNan) {
        acc.add_not_nan(v, tap);
    } else {
        acc.add(v, tap);
    }
}

template <class F>
struct is_root_field : std::false_type {};
template <class T>
struct is_root_field<RootField<T>> : std::true_type {};

// The blocked forward's window over a staged tile: for each of a thread's RY x XR outputs
// (rows ly[rr] of the tile, XR adjacent columns from lx), every tap row in ry[rr] and every one
// of KX taps along x, in that order (the CPU's order of terms per output), calls
// visit(rr, j, x, w, kyi, kxi) with the input value, the kernel value and its kernel indices.
// The XR + KX - 1 inputs of a row are read once into registers; padded taps read the fill value.
template <class T, int KX, int RY, int XR, class Visit>
__device__ inline void for_each_window_term(const T *tile, const T *weights, int span_x, const int (&ly)[RY], int lx,
                                            const TapRange (&ry)[RY], int dy, int kyn, bool mirror, Visit visit) {
#pragma unroll
    for (int rr = 0; rr < RY; ++rr) {
        for (int ty = static_cast<int>(ry[rr].lo); ty < static_cast<int>(ry[rr].hi); ++ty) {
            const T *in_row = tile + (ly[rr] + dy * ty) * span_x + lx;
            T v[XR + KX - 1];
#pragma unroll
            for (int i = 0; i < XR + KX - 1; ++i) v[i] = in_row[i];
            const int kyi = mirror ? kyn - 1 - ty : ty;
#pragma unroll
            for (int tx = 0; tx < KX; ++tx) {
                const int kxi = mirror ? KX - 1 - tx : tx;
                const T w = weights[kyi * KX + kxi];
#pragma unroll
                for (int j = 0; j < XR; ++j) visit(rr, j, v[j + tx], w, kyi, kxi);
            }
        }
    }
}

// The root semifield in the log2 domain. to_root_log2 turns the staged tile and kernel slice
// into u = p log2(x) and p log2(w) in place, so the term v = x w has u = p log2(v) for one
// addition, and the dominant term (the largest v for p > 0, the smallest for p < 0) is the
// largest u for either sign of p. The semifield's zero (0 for p > 0, +inf for p < 0, the padding
// fill) becomes u = -inf, a deciding value (+inf / 0) u = +inf.
template <class T>
__device__ void to_root_log2(T p, T *values, int count, int tid, int threads) {
    for (int i = tid; i < count; i += threads) values[i] = p * log2(values[i]);
}

// The root window over a to_root_log2 tile, exact for every value, in two passes:
//   out = (sum v^p)^(1/p) = 2^((umax + log2 s) / p),  s = sum 2^(u - umax)   (each term <= 1).
// Pass 1: umax (fmax ignores NaN). Pass 2: s = sum 2^(u - c), c = umax when finite, else 0.
// IEEE arithmetic does the rest: zero terms add 2^-inf = 0; a NaN term makes s NaN whatever c
// is; umax = +inf means a deciding term (s is +inf or NaN then), umax = -inf that every term is
// the zero (s is 0 or NaN). The accumulators receive the online RootAccumulator's state (m the
// dominant term, s), so value() is unchanged: m s^(1/p), NaN, the zero or the deciding value.
template <class T, int KX, int RY, int XR>
__device__ void root_log2_window_exact(T p, const T *tile, const T *weights, int span_x, const int (&ly)[RY], int lx,
                                       const TapRange (&ry)[RY], int dy, int kyn, bool mirror,
                                       RootAccumulator<T> (&acc)[RY][XR]) {
    T umax[RY][XR], sum[RY][XR];
#pragma unroll
    for (int rr = 0; rr < RY; ++rr)
#pragma unroll
        for (int j = 0; j < XR; ++j) {
            umax[rr][j] = -positive_infinity<T>();
            sum[rr][j] = T(0);
        }
    const auto each_term = [&](auto visit) {
        for_each_window_term<T, KX, RY, XR>(tile, weights, span_x, ly, lx, ry, dy, kyn, mirror,
                                            [&](int rr, int j, T ux, T uw, int, int) { visit(rr, j, ux + uw); });
    };
    each_term([&](int rr, int j, T u) { umax[rr][j] = fmax(umax[rr][j], u); });
    T shift[RY][XR];
#pragma unroll
    for (int rr = 0; rr < RY; ++rr)
#pragma unroll
        for (int j = 0; j < XR; ++j) {
            const T m = umax[rr][j];
            shift[rr][j] = m - m == T(0) ? m : T(0);  // finite: umax, else 0
        }
    each_term([&](int rr, int j, T u) { sum[rr][j] += exp2(u - shift[rr][j]); });
#pragma unroll
    for (int rr = 0; rr < RY; ++rr)
#pragma unroll
        for (int j = 0; j < XR; ++j) {
            const T m = umax[rr][j], s = sum[rr][j];
            RootAccumulator<T> &a = acc[rr][j];
            if (is_nan(s)) {
                a.nan = true;
            } else if (m == positive_infinity<T>()) {
                a.decided = true;
            } else if (m != -positive_infinity<T>()) {
                a.m = exp2(m / p);
                a.s = s;
            }  // else every term is the zero: the fresh accumulator's s = 0 says so
        }
}

// The root window, usually in one pass: a shift U per output row of the thread, the largest
// u_x over the inputs it reads plus the largest u_w, bounds every term (u - U <= 0), so
// s = sum 2^(u - U) needs no per-output maximum: per term two additions, one MUFU and the sum.
// The result 2^((U + log2 s) / p) is exact to rounding while s >= 2^-64 (the output's largest
// term is then >= 2^-70 of 2^U, and terms flushed below 2^-126 are < 2^-56 of it). A thread
// with a non-finite U (a deciding value, or only zeros) or an output with s < 2^-64 (a zero
// output, or one far below its neighbours) runs root_log2_window_exact instead. NaN terms make
// s NaN: the output is NaN either way.
template <class T, int KX, int RY, int XR>
__device__ void root_log2_window(T p, const T *tile, const T *weights, int span_x, const int (&ly)[RY], int lx,
                                 const TapRange (&ry)[RY], int dy, int kyn, bool mirror,
                                 RootAccumulator<T> (&acc)[RY][XR]) {
    T weight_max = -positive_infinity<T>();
    for (int i = 0; i < kyn * KX; ++i) weight_max = fmax(weight_max, weights[i]);
    T shift[RY];
    bool usable = true;
#pragma unroll
    for (int rr = 0; rr < RY; ++rr) {
        T input_max = -positive_infinity<T>();
        for (int ty = static_cast<int>(ry[rr].lo); ty < static_cast<int>(ry[rr].hi); ++ty) {
            const T *in_row = tile + (ly[rr] + dy * ty) * span_x + lx;
#pragma unroll
            for (int i = 0; i < XR + KX - 1; ++i) input_max = fmax(input_max, in_row[i]);
        }
        shift[rr] = input_max + weight_max;
        usable = usable && shift[rr] - shift[rr] == T(0);  // finite
    }
    if (usable) {
        T sum[RY][XR];
#pragma unroll
        for (int rr = 0; rr < RY; ++rr)
#pragma unroll
            for (int j = 0; j < XR; ++j) sum[rr][j] = T(0);
        for_each_window_term<T, KX, RY, XR>(tile, weights, span_x, ly, lx, ry, dy, kyn, mirror,
                                            [&](int rr, int j, T ux, T uw, int, int) {
                                                sum[rr][j] += exp2(ux + uw - shift[rr]);
                                            });
        constexpr T kSmallest = T(1) / T(18446744073709551616.0);  // 2^-64
#pragma unroll
        for (int rr = 0; rr < RY; ++rr)
#pragma unroll
            for (int j = 0; j < XR; ++j) usable = usable && (is_nan(sum[rr][j]) || sum[rr][j] >= kSmallest);
        if (usable) {
#pragma unroll
            for (int rr = 0; rr < RY; ++rr)
#pragma unroll
                for (int j = 0; j < XR; ++j) {
                    RootAccumulator<T> &a = acc[rr][j];
                    if (is_nan(sum[rr][j])) {
                        a.nan = true;
                    } else {  // value() = m * 1^(1/p) = m
                        a.m = exp2((shift[rr] + log2(sum[rr][j])) / p);
                        a.s = T(1);
                    }
                }
            return;
        }
    }
    root_log2_window_exact<T, KX, RY, XR>(p, tile, weights, span_x, ly, lx, ry, dy, kyn, mirror, acc);
}

// The register-blocked forward for an x axis with stride 1, dilation 1 and KX taps (compile
// time): a block is 16 x 16 threads, each computing kBlockedXR = 4 adjacent outputs of RY rows
// (16 apart), so a tile is 16 RY rows x 64 columns. RY = 2 for the tropical semifields with 3
// taps pays the per-thread set-up (64-bit view arithmetic, tap ranges: ~530 instructions per
// warp, ncu) once per 8 outputs; 5 and 7 taps and the smooth semifields keep RY = 1 (RY = 2
// spilled there; for the root semifield's log2 window RY = 2 fits in 127 registers without
// spills but measured 0.208 ms against 0.175 ms with RY = 1 at half the occupancy, s7 call 5;
// SK_SEMICONV_ROOT_ROWS selects it for experiments). The staged tile is padded with
// the semifield's padding value, which makes every padded tap a no-op term (padding_is_no_op):
// each thread then runs the full KY x KX window over registers (KX + 3 inputs per row, each
// kernel value read once for 4 outputs) with the same per-output order of terms as the CPU. A
// block whose kernel slice has a value for which padding is not a no-op (+inf, NaN, ...) runs
// the valid-tap loop instead.
#ifndef SK_SEMICONV_ROOT_ROWS
#define SK_SEMICONV_ROOT_ROWS 1
#endif
constexpr int kBlockedX = 16, kBlockedY = 16, kBlockedXR = 4, kBlockedThreads = kBlockedX * kBlockedY;
constexpr int kBlockedTileX = kBlockedX * kBlockedXR;
template <class F>
constexpr int blocked_rows(int kx) {
    if (kx != 3) return 1;
    return F::kSelect ? 2 : is_root_field<F>::value ? SK_SEMICONV_ROOT_ROWS : 1;
}
// (Three blocks per SM, __launch_bounds__(256, 3), would raise the 24 % occupancy of the 2-row
// tropical kernel, but ptxas then spills 72 bytes (float) / 320 bytes (double) at 80 registers.)

template <class T, class F, int KX>
__global__ void __launch_bounds__(kBlockedThreads)
    forward_blocked_kernel(Problem<T> P, F field, ForwardOut<T> out, int span_y, int span_x) {
    constexpr int kBlockedRY = blocked_rows<F>(KX), kBlockedTileY = kBlockedY * kBlockedRY;
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T *tile = reinterpret_cast<T *>(shared_bytes);
    T *weights = tile + span_y * span_x;
    const Axis az = P.axis[0], ay = P.axis[1], ax = P.axis[2];
    const int kyn = static_cast<int>(ay.k), dy = static_cast<int>(ay.dilation);
    // (b, o, oz) from the block index in 32-bit arithmetic (the launcher admits < 2^31 planes).
    unsigned plane = blockIdx.x;
    const index_t oz = plane % static_cast<unsigned>(az.m);
    plane /= static_cast<unsigned>(az.m);
    const index_t o = plane % static_cast<unsigned>(P.out_channels), b = plane / static_cast<unsigned>(P.out_channels);
    const index_t oy0 = static_cast<index_t>(blockIdx.y) * kBlockedTileY;
    const index_t ox0 = static_cast<index_t>(blockIdx.z) * kBlockedTileX;
    const index_t iy0 = oy0 * ay.stride - ay.pad_begin, ix0 = ox0 - ax.pad_begin;
    const int tid = threadIdx.y * kBlockedX + threadIdx.x;
    const index_t ox_first = ox0 + threadIdx.x * kBlockedXR;
    const int lx = threadIdx.x * kBlockedXR;
    index_t oy[kBlockedRY];
    int ly[kBlockedRY];  // tile row of tap 0
    TapRange ry[kBlockedRY];
    typename F::Accumulator acc[kBlockedRY][kBlockedXR];
    T total[kBlockedRY][kBlockedXR];
#pragma unroll
    for (int rr = 0; rr < kBlockedRY; ++rr) {
        oy[rr] = oy0 + threadIdx.y + kBlockedY * rr;
        ly[rr] = static_cast<int>((threadIdx.y + kBlockedY * rr) * ay.stride);
        ry[rr] = oy[rr] < ay.m ? valid_taps(ay, oy[rr]) : TapRange{0, 0};
#pragma unroll
        for (int j = 0; j < kBlockedXR; ++j) {
            acc[rr][j] = field.accumulator();
            total[rr][j] = T(0);
        }
    }
    const index_t row = P.kernel_row(o), ic0 = P.group_of_output(o) * P.group_in, volume = P.kernel_volume();
    const TapRange rz = valid_taps(az, oz);
    const T fill = field.padding_fill();
    for (index_t c = 0; c < P.group_in; ++c) {
        const auto tap_base = static_cast<std::int32_t>(P.channels_add ? 0 : c * volume);
        for (index_t tz = rz.lo; tz < rz.hi; ++tz) {
            const index_t iz = oz * az.stride - az.pad_begin + az.dilation * tz;
            const index_t kz = P.kernel_index(0, tz);
            __syncthreads();  // every thread is done with the previous tile
            const T *in_plane = P.input.data + b * P.input.s[0] + (ic0 + c) * P.input.s[1] + iz * P.input.s[2];
            // Tropical: with a finite kernel and no staged input that can make a NaN term (NaN, or
            // the infinity of the wrong sign) the window below compares without NaN tests.
            bool numeric = load_plane_tile_filled(in_plane, P.input.s[3], P.input.s[4], iy0, ix0, ay.n, ax.n, span_y,
                                                  span_x, tile, fill, tid, kBlockedThreads, [&](T x) {
                                                      if constexpr (F::kSelect) return field.input_keeps_terms_numeric(x);
                                                      return true;
                                                  });
            bool unsafe = false;
            for (int i = tid; i < kyn * KX; i += kBlockedThreads) {
                const T w = P.kernel(row, c, kz, i / KX, i % KX);
                weights[i] = w;
                unsafe = unsafe || !field.padding_is_no_op(w);
                numeric = numeric && w == w && w != positive_infinity<T>() && w != -positive_infinity<T>();
            }
            const int flat_z = static_cast<int>(P.flat_kernel(kz, 0, 0));
            if (__syncthreads_or(unsafe)) {
                // Valid taps only, per output (the tiled kernel's loop).
#pragma unroll
                for (int rr = 0; rr < kBlockedRY; ++rr) {
#pragma unroll
                    for (int j = 0; j < kBlockedXR; ++j) {
                        if (ox_first + j >= ax.m) continue;
                        const TapRange rx = valid_taps(ax, ox_first + j);
                        for (int ty = static_cast<int>(ry[rr].lo); ty < static_cast<int>(ry[rr].hi); ++ty) {
                            const T *in_row = tile + (ly[rr] + dy * ty) * span_x + lx + j;
                            const int kyi = static_cast<int>(P.kernel_index(1, ty));
                            const auto tap_row = tap_base + flat_z + kyi * KX;
                            for (int tx = static_cast<int>(rx.lo); tx < static_cast<int>(rx.hi); ++tx) {
                                const int kxi = static_cast<int>(P.kernel_index(2, tx));
                                acc[rr][j].add(field.times(in_row[tx], weights[kyi * KX + kxi]), tap_row + kxi);
                            }
                        }
                    }
                }
                continue;
            }
            if constexpr (is_root_field<F>::value) {
                // Root semifield with every term of the output in this one tile: two passes over
                // the window in the log2 domain instead of the online rescaling (which divides
                // and branches per term).
                if (P.group_in == 1 && rz.hi - rz.lo == 1) {  // block-uniform
                    to_root_log2(field.p, tile, span_y * span_x, tid, kBlockedThreads);
                    to_root_log2(field.p, weights, kyn * KX, tid, kBlockedThreads);
                    __syncthreads();
                    root_log2_window<T, KX, kBlockedRY, kBlockedXR>(field.p, tile, weights, span_x, ly, lx, ry, dy,
                                                                     kyn, P.mirror, acc);
                    continue;
                }
            }
            // Every tap of the window, padded ones as no-op terms; rows outside the output's
            // valid y range are skipped (only x is padded in registers).
            const auto window = [&](auto no_nan_terms) {
                for_each_window_term<T, KX, kBlockedRY, kBlockedXR>(
                    tile, weights, span_x, ly, lx, ry, dy, kyn, P.mirror, [&](int rr, int j, T x, T w, int kyi, int kxi) {
                        accumulate<decltype(no_nan_terms)::value>(acc[rr][j], field.times(x, w),
                                                                  tap_base + flat_z + kyi * KX + kxi);
                    });
            };
            if constexpr (F::kSelect) {
                if (__syncthreads_or(!numeric) == 0) {
                    window(std::true_type{});
                    continue;
                }
            }
            window(std::false_type{});
        }
        if constexpr (F::kSelect) {
            if (P.channels_add) {
#pragma unroll
                for (int rr = 0; rr < kBlockedRY; ++rr) {
#pragma unroll
                    for (int j = 0; j < kBlockedXR; ++j) {
                        if (oy[rr] >= ay.m || ox_first + j >= ax.m) continue;
                        total[rr][j] += acc[rr][j].value();
                        if (out.provenance.data) out.provenance(b, o, c, oz, oy[rr], ox_first + j) = acc[rr][j].where;
                        acc[rr][j] = field.accumulator();
                    }
                }
            }
        }
    }
    const View5<T> &ov = out.output;
    const View6<std::int32_t> &pv = out.provenance;
#pragma unroll
    for (int rr = 0; rr < kBlockedRY; ++rr) {
        if (oy[rr] >= ay.m) continue;
        T *out_row = ov.data + b * ov.s[0] + o * ov.s[1] + oz * ov.s[2] + oy[rr] * ov.s[3];
        std::int32_t *prov_row = pv.data ? pv.data + b * pv.s[0] + o * pv.s[1] + oz * pv.s[3] + oy[rr] * pv.s[4] : nullptr;
        // Contiguous rows, all kBlockedXR outputs inside: stores at constant offsets (the general
        // loop below costs ~30 instructions of 64-bit index arithmetic per output, ncu).
        const bool channel_sums = F::kSelect && P.channels_add;
        if (!channel_sums && ov.s[4] == 1 && (!prov_row || pv.s[5] == 1) && ox_first + kBlockedXR <= ax.m) {
            T *out_at = out_row + ox_first;
#pragma unroll
            for (int j = 0; j < kBlockedXR; ++j) out_at[j] = acc[rr][j].value();
            if constexpr (F::kSelect) {
                if (prov_row) {
                    std::int32_t *prov_at = prov_row + ox_first;
#pragma unroll
                    for (int j = 0; j < kBlockedXR; ++j) prov_at[j] = acc[rr][j].where;
                }
            }
            continue;
        }
#pragma unroll
        for (int j = 0; j < kBlockedXR; ++j) {
            const index_t ox = ox_first + j;
            if (ox >= ax.m) continue;
            if constexpr (F::kSelect) {
                if (P.channels_add) {
                    out_row[ox * ov.s[4]] = total[rr][j];
                    continue;
                }
                if (prov_row) prov_row[ox * pv.s[5]] = acc[rr][j].where;
            }
            out_row[ox * ov.s[4]] = acc[rr][j].value();
        }
    }
}

// Shared memory of the input-gradient kernel: upstream gradient and output tiles (T), kernel
// slice (T), provenance tile (int32), in that order.
template <class T>
__host__ __device__ inline std::size_t input_gradient_shared_bytes(int span, int kernel_plane) {
    return (2 * static_cast<std::size_t>(span) + kernel_plane) * sizeof(T) + span * sizeof(std::int32_t);
}

template <class T, class F, class S>
__global__ void __launch_bounds__(S::kThreads)
    input_gradient_tiled_kernel(Problem<T> P, F field, BackwardIn<T> in, View5<T> grad_input, int span_y,
                                int span_x) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    const Axis az = P.axis[0], ay = P.axis[1], ax = P.axis[2];
    const int kyn = static_cast<int>(ay.k), kxn = static_cast<int>(ax.k), span = span_y * span_x;
    T *g_tile = reinterpret_cast<T *>(shared_bytes);
    T *out_tile = g_tile + span;
    T *weights = out_tile + span;
    auto *winner_tile = reinterpret_cast<std::int32_t *>(weights + kyn * kxn);
    unsigned plane = blockIdx.x;  // (b, ic, iz), 32-bit as above
    const index_t iz = plane % static_cast<unsigned>(az.n);
    plane /= static_cast<unsigned>(az.n);
    const unsigned ic32 = plane % static_cast<unsigned>(P.in_channels);
    const index_t ic = ic32, b = plane / static_cast<unsigned>(P.in_channels);
    const index_t group = ic32 / static_cast<unsigned>(P.group_in), c_local = ic32 % static_cast<unsigned>(P.group_in);
    const int volume = static_cast<int>(P.kernel_volume());
    const index_t iy0 = static_cast<index_t>(blockIdx.y) * S::kTileY, ix0 = static_cast<index_t>(blockIdx.z) * S::BX;
    // The first output row / column any input of the tile feeds (its last tap).
    const int oyb = floor_div32(static_cast<int>(iy0 + ay.pad_begin - ay.dilation * (ay.k - 1)), static_cast<int>(ay.stride));
    const int oxb = floor_div32(static_cast<int>(ix0 + ax.pad_begin - ax.dilation * (ax.k - 1)), static_cast<int>(ax.stride));
    const int tid = threadIdx.y * S::BX + threadIdx.x;
    const index_t ix = ix0 + threadIdx.x;
    const int sy = static_cast<int>(ay.stride), sx = static_cast<int>(ax.stride);
    const int dy = static_cast<int>(ay.dilation), dx = static_cast<int>(ax.dilation);
    const int my = static_cast<int>(ay.m), mx = static_cast<int>(ax.m);
    const int x_plus_pad = static_cast<int>(ix + ax.pad_begin);
    bool active[S::RY];
    T x[S::RY], sum[S::RY];
#pragma unroll
    for (int r = 0; r < S::RY; ++r) {
        const index_t iy = iy0 + threadIdx.y + S::BY * r;
        active[r] = ix < ax.n && iy < ay.n;
        x[r] = active[r] ? P.input(b, ic, iz, iy, ix) : T(0);
        sum[r] = T(0);
    }
    for (index_t o = group * P.group_out; o < (group + 1) * P.group_out; ++o) {
        const index_t row = P.kernel_row(o);
        for (index_t tz = 0; tz < az.k; ++tz) {
            index_t oz;
            if (!output_for_tap(az, iz, tz, &oz)) continue;
            const index_t kz = P.kernel_index(0, tz);
            const int kz32 = static_cast<int>(kz);
            const std::int32_t tap_base = P.channels_add ? 0 : static_cast<std::int32_t>(c_local) * volume;
            __syncthreads();
            const index_t plane_g = b * in.grad_output.s[0] + o * in.grad_output.s[1] + oz * in.grad_output.s[2];
            load_plane_tile(in.grad_output.data + plane_g, in.grad_output.s[3], in.grad_output.s[4], oyb, oxb, ay.m,
                            ax.m, span_y, span_x, g_tile, tid, S::kThreads);
            if constexpr (F::kSelect) {
                const auto &pv = in.provenance;
                const std::int32_t *pp = pv.data + b * pv.s[0] + o * pv.s[1] + (P.channels_add ? c_local : 0) * pv.s[2] +
                                         oz * pv.s[3];
                load_plane_tile(pp, pv.s[4], pv.s[5], oyb, oxb, ay.m, ax.m, span_y, span_x, winner_tile, tid,
                                S::kThreads);
            }
            if constexpr (F::kNeedsOutput) {
                const auto &ov = in.output;
                load_plane_tile(ov.data + b * ov.s[0] + o * ov.s[1] + oz * ov.s[2], ov.s[3], ov.s[4], oyb, oxb, ay.m,
                                ax.m, span_y, span_x, out_tile, tid, S::kThreads);
            }
            load_kernel_slice(P, row, c_local, kz, weights, tid, S::kThreads);
            __syncthreads();
#pragma unroll
            for (int r = 0; r < S::RY; ++r) {
                if (!active[r]) continue;
                const int y_plus_pad = static_cast<int>(iy0 + threadIdx.y + S::BY * r + ay.pad_begin);
                for (int ty = 0; ty < kyn; ++ty) {
                    int oy;
                    if (!tile_output_for_tap(y_plus_pad, dy, sy, my, ty, &oy)) continue;
                    const int kyi = P.mirror ? kyn - 1 - ty : ty;
                    const int tile_row = (oy - oyb) * span_x;
                    const int flat_row = (kz32 * kyn + kyi) * kxn;  // flat_kernel(kz, kyi, 0)
                    for (int tx = 0; tx < kxn; ++tx) {
                        int ox;
                        if (!tile_output_for_tap(x_plus_pad, dx, sx, mx, tx, &ox)) continue;
                        const int kxi = P.mirror ? kxn - 1 - tx : tx;
                        const T w = weights[kyi * kxn + kxi];
                        const std::int32_t tap = tap_base + flat_row + kxi;
                        const int at = tile_row + ox - oxb;
                        const T factor = routed_factor(field, g_tile[at], F::kSelect ? winner_tile[at] : -1,
                                                       F::kNeedsOutput ? out_tile[at] : T(0), tap,
                                                       field.times(x[r], w));
                        if (factor != T(0)) sum[r] += factor * field.d_input(x[r], w);
                    }
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < S::RY; ++r)
        if (active[r]) grad_input(b, ic, iz, iy0 + threadIdx.y + S::BY * r, ix) = sum[r];
}

// Pass 1 of the kernel gradient: partials[(kernel element) * blocks + block] = the block's sum
// of kernel_gradient_item over its outputs. Shared memory: the input tile (T), then one partial
// per (kernel element of a z slice... all elements) x warp (T).
template <class T, class F, class S>
__global__ void __launch_bounds__(S::kThreads)
    kernel_gradient_partials_kernel(Problem<T> P, F field, BackwardIn<T> in, T *partials, int span_y, int span_x) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    constexpr int kWarps = S::kThreads / 32;
    const Axis az = P.axis[0], ay = P.axis[1], ax = P.axis[2];
    const int kyn = static_cast<int>(ay.k), kxn = static_cast<int>(ax.k);
    T *tile = reinterpret_cast<T *>(shared_bytes);
    T *warp_sums = tile + span_y * span_x;                             // [kernel volume][kWarps]
    T *weights = warp_sums + static_cast<int>(P.kernel_volume()) * kWarps;  // the kz slice
    const index_t users = P.broadcast ? P.groups : 1;
    unsigned plane = blockIdx.x;  // (row, c_local, b, user, oz), 32-bit as above
    const index_t oz = plane % static_cast<unsigned>(az.m);
    plane /= static_cast<unsigned>(az.m);
    const index_t user = plane % static_cast<unsigned>(users);
    plane /= static_cast<unsigned>(users);
    const index_t b = plane % static_cast<unsigned>(P.batch);
    plane /= static_cast<unsigned>(P.batch);
    const index_t c_local = plane % static_cast<unsigned>(P.group_in), row = plane / static_cast<unsigned>(P.group_in);
    const index_t tiles = static_cast<index_t>(gridDim.y) * gridDim.z;
    const index_t block = ((b * users + user) * az.m + oz) * tiles + blockIdx.y * gridDim.z + blockIdx.z;
    const index_t blocks = P.batch * users * az.m * tiles;
    const index_t o = P.broadcast ? user * P.group_out + row : row;
    const index_t ic = P.group_of_output(o) * P.group_in + c_local, volume = P.kernel_volume();
    const index_t oy0 = static_cast<index_t>(blockIdx.y) * S::kTileY, ox0 = static_cast<index_t>(blockIdx.z) * S::BX;
    const index_t iy0 = oy0 * ay.stride - ay.pad_begin, ix0 = ox0 * ax.stride - ax.pad_begin;
    const int tid = threadIdx.y * S::BX + threadIdx.x, lane = tid % 32, warp = tid / 32;
    const index_t ox = ox0 + threadIdx.x;
    const int dy = static_cast<int>(ay.dilation), dx = static_cast<int>(ax.dilation);
    const int lx = static_cast<int>(threadIdx.x * ax.stride);
    // This thread's outputs: upstream gradient, provenance / output.
    bool active[S::RY];
    T g[S::RY], out[S::RY];
    std::int32_t winner[S::RY];
#pragma unroll
    for (int r = 0; r < S::RY; ++r) {
        const index_t oy = oy0 + threadIdx.y + S::BY * r;
        active[r] = ox < ax.m && oy < ay.m;
        g[r] = active[r] ? in.grad_output(b, o, oz, oy, ox) : T(0);
        winner[r] = -1;
        out[r] = T(0);
        if constexpr (F::kSelect)
            if (active[r]) winner[r] = in.provenance(b, o, P.channels_add ? c_local : 0, oz, oy, ox);
        if constexpr (F::kNeedsOutput)
            if (active[r]) out[r] = in.output(b, o, oz, oy, ox);
    }
    for (index_t kz = 0; kz < az.k; ++kz) {
        const index_t tz = P.kernel_index(0, kz);
        const index_t iz = oz * az.stride - az.pad_begin + az.dilation * tz;
        const bool z_inside = iz >= 0 && iz < az.n;  // block-uniform
        __syncthreads();
        if (z_inside) {
            const T *in_plane = P.input.data + b * P.input.s[0] + ic * P.input.s[1] + iz * P.input.s[2];
            load_plane_tile(in_plane, P.input.s[3], P.input.s[4], iy0, ix0, ay.n, ax.n, span_y, span_x, tile, tid,
                            S::kThreads);
        }
        load_kernel_slice(P, row, c_local, kz, weights, tid, S::kThreads);
        __syncthreads();
        const std::int32_t tap_base =
            P.channels_add ? 0 : static_cast<std::int32_t>(c_local) * static_cast<std::int32_t>(volume);
        for (int ky = 0; ky < kyn; ++ky) {
            const int ty = P.mirror ? kyn - 1 - ky : ky;
            for (int kx = 0; kx < kxn; ++kx) {
                const int tx = P.mirror ? kxn - 1 - kx : kx;
                const int flat = (static_cast<int>(kz) * kyn + ky) * kxn + kx;  // flat_kernel(kz, ky, kx)
                const T w = weights[ky * kxn + kx];
                const std::int32_t tap = tap_base + flat;
                T part = T(0);
                if (z_inside) {
#pragma unroll
                    for (int r = 0; r < S::RY; ++r) {
                        if (!active[r]) continue;
                        const index_t oy = oy0 + threadIdx.y + S::BY * r;
                        const index_t iy = oy * ay.stride - ay.pad_begin + ay.dilation * ty;
                        const index_t ix = ox * ax.stride - ax.pad_begin + ax.dilation * tx;
                        if (iy < 0 || iy >= ay.n || ix < 0 || ix >= ax.n) continue;  // a padded tap: no term
                        const int ly = static_cast<int>((threadIdx.y + S::BY * r) * ay.stride);
                        const T xv = tile[(ly + dy * ty) * span_x + lx + dx * tx];
                        const T factor = routed_factor(field, g[r], winner[r], out[r], tap, field.times(xv, w));
                        if (factor != T(0)) part += factor * field.d_kernel(xv, w);
                    }
                }
                for (int offset = 16; offset > 0; offset /= 2) part += __shfl_xor_sync(0xffffffffu, part, offset);
                if (lane == 0) warp_sums[flat * kWarps + warp] = part;
            }
        }
    }
    __syncthreads();
    for (index_t e = tid; e < volume; e += S::kThreads) {
        T s = T(0);
        for (int w = 0; w < kWarps; ++w) s += warp_sums[e * kWarps + w];
        partials[((row * P.group_in + c_local) * volume + e) * blocks + block] = s;
    }
}

// Pass 2: one warp per kernel element sums its blocks' partials (lane-strided, then a butterfly).
template <class T>
__global__ void kernel_gradient_sum_kernel(Problem<T> P, const T *partials, index_t blocks, View5<T> grad_kernel,
                                           index_t elements) {
    const index_t warp = (static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (warp >= elements) return;
    T s = T(0);
    for (index_t j = lane; j < blocks; j += 32) s += partials[warp * blocks + j];
    for (int offset = 16; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
    if (lane == 0) {
        const KernelIndex k = unflatten_kernel(P, warp);
        grad_kernel(k.row, k.c, k.z, k.y, k.x) = s;
    }
}

// ---- the one-pass backward (plane problems, stride 1, dilation 1, K x K taps) ------------------
//
// Every (input, valid tap) pair is exactly one term of one output, so one gather over a tile of
// inputs gives both gradients:
//   d in(y, x)  = sum over tap positions (ty, tx) of factor(term) * d_input(x, w),
//   d w[e]      = sum over every input and tap position using e of factor(term) * d_kernel(x, w),
// with the term of output (y + pad_y - ty, x + pad_x - tx) and factor = routed_factor (T+ / T-:
// the upstream gradient where the provenance names the tap, else 0; root / log: g times the
// weight d out / d term from the saved output; linear: g). Each thread sums its inputs' terms
// (tap positions in increasing order, the tiled kernel's order, skipping factor 0 as it does) and
// keeps K*K per-tap partial sums in registers; a warp butterfly and a fixed-order sum over the
// warps give the block's partial per kernel element in kernel_gradient_partials_kernel's layout,
// which kernel_gradient_sum_kernel sums in block order. No atomics: bitwise reproducible.
// The staged tiles cover the outputs the input tile feeds; `tap_tile` holds, per output, the
// provenance remapped to tap *positions* (mirror: e = K*K - 1 - j) for T+ / T-, so the inner
// loop compares with compile-time constants, and 0 for the other semifields; outputs outside the
// plane hold -1 (no term). Serves problems where each input channel feeds one output channel
// through one kernel slice (group_in == group_out == 1, no broadcast, no channels_add), z extent 1.
// The root semifield's gradient weight d out / d v = (v / out)^(p - 1) in the log2 domain:
// 2^((p-1) log2 x + (p-1) log2 w - (p-1) log2 out), the three logs staged once per input, tap and
// output: one MUFU per term instead of a division and a power behind branches. Where the exponent
// is not finite (a zero, infinite or NaN x, w or out, or p = 1 with v = 0) RootField::weight's
// exact rules apply (the CPU's function), so special values give the CPU's weights.
template <class T>
__device__ inline T root_log_factor(const RootField<T> &field, T value) {
    return (field.p - T(1)) * log2(value);
}
template <class F, class T>
__device__ inline T root_log_factor(const F &, T) {  // the other semifields: not used
    return T(0);
}
template <class T>
__device__ inline T root_weight(const RootField<T> &field, T exponent, T v, T out) {
    if (fabs(exponent) < positive_infinity<T>()) return exp2(exponent);
    return field.weight(v, out);
}

constexpr int kPlaneBX = 32, kPlaneBY = 8, kPlaneRY = 4, kPlaneTile = kPlaneBY * kPlaneRY;  // 32 x 32 inputs
constexpr int kPlaneThreads = kPlaneBX * kPlaneBY, kPlaneWarps = kPlaneThreads / 32;
static_assert(kPlaneTile == kPlaneBX, "square input tiles: one span for both axes");

template <class T, class F, int K>
__global__ void __launch_bounds__(kPlaneThreads)
    plane_backward_kernel(Problem<T> P, F field, BackwardIn<T> in, View5<T> grad_input, T *partials) {
    constexpr int kSpan = kPlaneTile + K - 1, kTaps = K * K;
    constexpr int kOutSpan = F::kNeedsOutput ? kSpan : 1;
    constexpr bool kRoot = is_root_field<F>::value;
    constexpr int kRootSpan = kRoot ? kSpan : 1, kRootTaps = kRoot ? kTaps : 1;
    __shared__ T g_tile[kSpan * kSpan];
    __shared__ T out_tile[kOutSpan * kOutSpan];
    __shared__ T root_out_log[kRootSpan * kRootSpan];  // root: (p - 1) log2(out)
    __shared__ T root_weight_log[kRootTaps];           // root: (p - 1) log2(w), by tap position
    __shared__ std::int32_t tap_tile[kSpan * kSpan];
    __shared__ T weights[kTaps];  // by tap position
    __shared__ T warp_sums[kTaps * kPlaneWarps];
    const Axis ay = P.axis[1], ax = P.axis[2];
    const unsigned channels = static_cast<unsigned>(P.in_channels);
    const index_t c = blockIdx.x % channels, b = blockIdx.x / channels;
    const int iy0 = static_cast<int>(blockIdx.y) * kPlaneTile, ix0 = static_cast<int>(blockIdx.z) * kPlaneTile;
    const int oyb = iy0 + static_cast<int>(ay.pad_begin) - (K - 1), oxb = ix0 + static_cast<int>(ax.pad_begin) - (K - 1);
    const int my = static_cast<int>(ay.m), mx = static_cast<int>(ax.m);
    const int tid = threadIdx.y * kPlaneBX + threadIdx.x, lane = tid % 32, warp = tid / 32;

    // Stage g (and the remapped winners, or the outputs) of outputs [oyb, oyb + kSpan) x [oxb, oxb + kSpan).
    const View5<const T> &gv = in.grad_output, &ov = in.output;
    const View6<const std::int32_t> &pv = in.provenance;
    for (int r = warp; r < kSpan; r += kPlaneWarps) {
        const int oy = oyb + r;
        const bool row_inside = oy >= 0 && oy < my;
        const index_t y = row_inside ? oy : 0;
        for (int q = lane; q < kSpan; q += 32) {
            const int ox = oxb + q;
            const bool inside = row_inside && ox >= 0 && ox < mx;
            const index_t x = inside ? ox : 0;
            g_tile[r * kSpan + q] = inside ? gv(b, c, 0, y, x) : T(0);
            if constexpr (F::kSelect) {
                const std::int32_t winner = inside ? pv(b, c, 0, 0, y, x) : -1;
                tap_tile[r * kSpan + q] = winner < 0 || winner >= kTaps ? -1 : (P.mirror ? kTaps - 1 - winner : winner);
            } else {
                tap_tile[r * kSpan + q] = inside ? 0 : -1;
            }
            if constexpr (F::kNeedsOutput) out_tile[r * kSpan + q] = inside ? ov(b, c, 0, y, x) : T(0);
            if constexpr (kRoot) root_out_log[r * kSpan + q] = root_log_factor(field, out_tile[r * kSpan + q]);
        }
    }
    if constexpr (!F::kSelect) {
        for (int j = tid; j < kTaps; j += kPlaneThreads) {
            const int e = P.mirror ? kTaps - 1 - j : j;
            weights[j] = P.kernel(c, 0, 0, e / K, e % K);
            if constexpr (kRoot) root_weight_log[j] = root_log_factor(field, weights[j]);
        }
    }
    __syncthreads();

    T tap_sum[kTaps];
#pragma unroll
    for (int j = 0; j < kTaps; ++j) tap_sum[j] = T(0);
    const int ny = static_cast<int>(ay.n), nx = static_cast<int>(ax.n);
    const int ix = ix0 + threadIdx.x;
#pragma unroll
    for (int r = 0; r < kPlaneRY; ++r) {
        const int ly = threadIdx.y + kPlaneBY * r, iy = iy0 + ly;
        if (iy >= ny || ix >= nx) continue;
        T sum = T(0);
        const T x = F::kSelect ? T(0) : P.input(b, c, 0, iy, ix);
        const T x_log = kRoot ? root_log_factor(field, x) : T(0);
        // Tap position (ty, tx) of input (ly, lx) is a term of output (ly + K-1-ty, lx + K-1-tx) of the tile.
        const int base = (ly + K - 1) * kSpan + threadIdx.x + K - 1;
#pragma unroll
        for (int ty = 0; ty < K; ++ty) {
#pragma unroll
            for (int tx = 0; tx < K; ++tx) {
                const int at = base - ty * kSpan - tx, j = ty * K + tx;
                if constexpr (F::kSelect) {
                    // d_input = 1; d_kernel (+-1) is applied to the block's partial below.
                    const T v = tap_tile[at] == j ? g_tile[at] : T(0);
                    sum += v;
                    tap_sum[j] += v;
                } else {
                    if (tap_tile[at] < 0) continue;
                    const T w = weights[j];
                    T factor;
                    if constexpr (kRoot) {
                        factor = g_tile[at] * root_weight(field, x_log + root_weight_log[j] - root_out_log[at], x * w,
                                                          out_tile[at]);
                    } else {
                        factor = routed_factor(field, g_tile[at], -1, F::kNeedsOutput ? out_tile[at] : T(0), j,
                                               field.times(x, w));
                    }
                    if (factor != T(0)) {
                        sum += factor * field.d_input(x, w);
                        tap_sum[j] += factor * field.d_kernel(x, w);
                    }
                }
            }
        }
        if (grad_input.data) grad_input(b, c, 0, iy, ix) = F::kSelect ? sum * field.d_input(T(0), T(0)) : sum;
    }
    if (!partials) return;  // block-uniform

    // Block partial per kernel element: butterfly per warp, then the warps in order.
#pragma unroll
    for (int j = 0; j < kTaps; ++j) {
        T part = tap_sum[j];
        for (int offset = 16; offset > 0; offset /= 2) part += __shfl_xor_sync(0xffffffffu, part, offset);
        if (lane == 0) warp_sums[j * kPlaneWarps + warp] = part;
    }
    __syncthreads();
    if (tid < kTaps) {
        T s = T(0);
        for (int w = 0; w < kPlaneWarps; ++w) s += warp_sums[tid * kPlaneWarps + w];
        if constexpr (F::kSelect) s *= field.d_kernel(T(0), T(0));  // +-1: exact
        const int e = P.mirror ? kTaps - 1 - tid : tid;                // kernel element of tap position tid
        const index_t blocks = P.batch * static_cast<index_t>(gridDim.y) * gridDim.z;
        const index_t block = b * (static_cast<index_t>(gridDim.y) * gridDim.z) + blockIdx.y * gridDim.z + blockIdx.z;
        partials[(c * kTaps + e) * blocks + block] = s;
    }
}

// ---- when the tiled kernels apply ------------------------------------------------------------

constexpr std::size_t kSharedLimit = 48 * 1024;  // without opting in to more
constexpr index_t kTileCoordinateLimit = index_t(1) << 24;

// Strides, dilations, paddings and extents small enough for the tiles' 32-bit arithmetic.
template <class T>
bool tiled_geometry_fits(const Problem<T> &P) {
    for (const Axis &a : P.axis) {
        if (a.stride > 4096 || a.dilation > 4096 || a.k > 4096 || a.pad_begin > kTileCoordinateLimit ||
            a.n > kTileCoordinateLimit || a.m > kTileCoordinateLimit)
            return false;
        // Tile offsets (first output of a tile times the stride, minus the padding) stay far
        // below 2^31: the tile loaders' 32-bit coordinates.
        if (a.m * a.stride > 4 * kTileCoordinateLimit) return false;
    }
    return P.kernel_volume() <= 65536;
}

// A launch: grid (planes, y tiles, x tiles), the staged tile's extent and shared memory.
struct TiledLaunch {
    bool ok = false;
    dim3 grid;
    int span_y = 0, span_x = 0;
    std::size_t shared = 0;
};

bool grid_fits(index_t planes, index_t tiles_y, index_t tiles_x) {
    return planes > 0 && tiles_y > 0 && tiles_x > 0 && planes <= 0x7fffffff && tiles_y <= 65535 && tiles_x <= 65535;
}

// Forward and kernel gradient: the tile reads input rows y0*s - pad ... (tile_y - 1) s + d (k - 1).
template <class T, class S>
TiledLaunch output_tiled_launch(const Problem<T> &P, index_t planes, std::size_t extra_shared) {
    TiledLaunch L;
    const Axis &ay = P.axis[1], &ax = P.axis[2];
    const index_t tiles_y = (ay.m + S::kTileY - 1) / S::kTileY, tiles_x = (ax.m + S::BX - 1) / S::BX;
    if (!tiled_geometry_fits(P) || !grid_fits(planes, tiles_y, tiles_x)) return L;
    const index_t span_y = (S::kTileY - 1) * ay.stride + ay.dilation * (ay.k - 1) + 1;
    const index_t span_x = (S::BX - 1) * ax.stride + ax.dilation * (ax.k - 1) + 1;
    const std::size_t shared = static_cast<std::size_t>(span_y * span_x) * sizeof(T) + extra_shared;
    if (shared > kSharedLimit) return L;
    L.ok = true;
    L.grid = dim3(static_cast<unsigned>(planes), static_cast<unsigned>(tiles_y), static_cast<unsigned>(tiles_x));
    L.span_y = static_cast<int>(span_y);
    L.span_x = static_cast<int>(span_x);
    L.shared = shared;
    return L;
}

// Input gradient: the tile's inputs feed outputs floor((i0 + pad - d (k - 1)) / s) ...
// floor((i0 + tile - 1 + pad) / s).
template <class T, class S>
TiledLaunch input_tiled_launch(const Problem<T> &P) {
    TiledLaunch L;
    const Axis &az = P.axis[0], &ay = P.axis[1], &ax = P.axis[2];
    const index_t planes = P.batch * P.in_channels * az.n;
    const index_t tiles_y = (ay.n + S::kTileY - 1) / S::kTileY, tiles_x = (ax.n + S::BX - 1) / S::BX;
    if (!tiled_geometry_fits(P) || !grid_fits(planes, tiles_y, tiles_x)) return L;
    // The widest span over the tiles: the halo d (k - 1) and the tile itself, divided by s, +2.
    const index_t span_y = (S::kTileY - 1 + ay.dilation * (ay.k - 1)) / ay.stride + 2;
    const index_t span_x = (S::BX - 1 + ax.dilation * (ax.k - 1)) / ax.stride + 2;
    const std::size_t shared =
        input_gradient_shared_bytes<T>(static_cast<int>(span_y * span_x), static_cast<int>(ay.k * ax.k));
    if (span_y * span_x > (index_t(1) << 20) || shared > kSharedLimit) return L;
    L.ok = true;
    L.grid = dim3(static_cast<unsigned>(planes), static_cast<unsigned>(tiles_y), static_cast<unsigned>(tiles_x));
    L.span_y = static_cast<int>(span_y);
    L.span_x = static_cast<int>(span_x);
    L.shared = shared;
    return L;
}

template <class T, class F, class S>
bool forward_tiled(sk_context &ctx, const Problem<T> &P, F field, const ForwardOut<T> &out) {
    const std::size_t weights = static_cast<std::size_t>(P.axis[1].k * P.axis[2].k) * sizeof(T);
    if (P.axis[1].k * P.axis[2].k > 4096) return false;
    const TiledLaunch L = output_tiled_launch<T, S>(P, P.batch * P.out_channels * P.axis[0].m, weights);
    if (!L.ok) return false;
    forward_tiled_kernel<T, F, S><<<L.grid, dim3(S::BX, S::BY), L.shared, stream_of(ctx)>>>(P, field, out, L.span_y,
                                                                                             L.span_x);
    SK_CUDA_CHECK_LAUNCH("semiconv: tiled forward kernel");
    return true;
}

template <class T, class F, int KX>
bool forward_blocked_launch(sk_context &ctx, const Problem<T> &P, F field, const ForwardOut<T> &out) {
    const Axis &ay = P.axis[1], &ax = P.axis[2];
    const index_t planes = P.batch * P.out_channels * P.axis[0].m;
    constexpr int kBlockedTileY = kBlockedY * blocked_rows<F>(KX);
    const index_t tiles_y = (ay.m + kBlockedTileY - 1) / kBlockedTileY, tiles_x = (ax.m + kBlockedTileX - 1) / kBlockedTileX;
    if (!tiled_geometry_fits(P) || !grid_fits(planes, tiles_y, tiles_x) || ay.k > 64) return false;
    const index_t span_y = (kBlockedTileY - 1) * ay.stride + ay.dilation * (ay.k - 1) + 1;
    const index_t span_x = kBlockedTileX + KX - 1;
    const std::size_t shared = static_cast<std::size_t>(span_y * span_x + ay.k * KX) * sizeof(T);
    if (shared > kSharedLimit) return false;
    const dim3 grid(static_cast<unsigned>(planes), static_cast<unsigned>(tiles_y), static_cast<unsigned>(tiles_x));
    forward_blocked_kernel<T, F, KX><<<grid, dim3(kBlockedX, kBlockedY), shared, stream_of(ctx)>>>(
        P, field, out, static_cast<int>(span_y), static_cast<int>(span_x));
    SK_CUDA_CHECK_LAUNCH("semiconv: register-blocked forward kernel");
    return true;
}

// The register-blocked forward where it applies: x stride 1, dilation 1, 3, 5 or 7 taps along x.
template <class T, class F>
bool forward_blocked(sk_context &ctx, const Problem<T> &P, F field, const ForwardOut<T> &out) {
    const Axis &ax = P.axis[2];
    if (ax.stride != 1 || ax.dilation != 1) return false;
    switch (ax.k) {
        case 3: return forward_blocked_launch<T, F, 3>(ctx, P, field, out);
        case 5: return forward_blocked_launch<T, F, 5>(ctx, P, field, out);
        case 7: return forward_blocked_launch<T, F, 7>(ctx, P, field, out);
        default: return false;
    }
}

template <class T, class F, class S>
bool input_gradient_tiled(sk_context &ctx, const Problem<T> &P, F field, const BackwardIn<T> &in,
                          View5<T> grad_input) {
    if (P.axis[1].k * P.axis[2].k > 4096) return false;
    const TiledLaunch L = input_tiled_launch<T, S>(P);
    if (!L.ok) return false;
    input_gradient_tiled_kernel<T, F, S><<<L.grid, dim3(S::BX, S::BY), L.shared, stream_of(ctx)>>>(
        P, field, in, grad_input, L.span_y, L.span_x);
    SK_CUDA_CHECK_LAUNCH("semiconv: tiled input gradient kernel");
    return true;
}

constexpr std::size_t kPartialsLimit = std::size_t(256) << 20;  // bytes of pass-1 partial sums

// Pass 2 of the kernel gradient: one warp per kernel element sums its `blocks` partials.
template <class T>
void launch_kernel_gradient_sum(sk_context &ctx, const Problem<T> &P, const T *partials, index_t blocks,
                                View5<T> grad_kernel, index_t elements) {
    constexpr int kSumThreads = 256;
    const index_t sum_blocks = (elements * 32 + kSumThreads - 1) / kSumThreads;
    kernel_gradient_sum_kernel<T><<<static_cast<unsigned>(sum_blocks), kSumThreads, 0, stream_of(ctx)>>>(
        P, partials, blocks, grad_kernel, elements);
    SK_CUDA_CHECK_LAUNCH("semiconv: kernel gradient sum");
}

template <class T, class F, class S>
bool kernel_gradient_tiled(sk_context &ctx, const Problem<T> &P, F field, const BackwardIn<T> &in,
                           View5<T> grad_kernel) {
    const index_t volume = P.kernel_volume();
    const index_t users = P.broadcast ? P.groups : 1;
    const index_t planes = P.kernel_rows * P.group_in * P.batch * users * P.axis[0].m;
    const std::size_t warp_sums =
        (static_cast<std::size_t>(volume) * (S::kThreads / 32) + P.axis[1].k * P.axis[2].k) * sizeof(T);
    if (volume > 4096 || warp_sums > kSharedLimit / 2) return false;
    const TiledLaunch L = output_tiled_launch<T, S>(P, planes, warp_sums);
    if (!L.ok) return false;
    const index_t blocks = P.batch * users * P.axis[0].m * static_cast<index_t>(L.grid.y) * L.grid.z;
    const index_t elements = P.kernel_rows * P.group_in * volume;
    const std::size_t bytes = static_cast<std::size_t>(elements) * static_cast<std::size_t>(blocks) * sizeof(T);
    // Too large, or over the caller's workspace limit: the direct kernel needs no scratch.
    Workspace &ws = ctx.workspace();
    if (bytes > kPartialsLimit || (ws.limit() != 0 && ws.held_bytes() + bytes + 256 > ws.limit())) return false;
    auto lease = ws.acquire(bytes, "semiconv: kernel-gradient partial sums");
    T *partials = lease.as<T>();
    kernel_gradient_partials_kernel<T, F, S><<<L.grid, dim3(S::BX, S::BY), L.shared, stream_of(ctx)>>>(
        P, field, in, partials, L.span_y, L.span_x);
    SK_CUDA_CHECK_LAUNCH("semiconv: kernel gradient partials");
    launch_kernel_gradient_sum(ctx, P, partials, blocks, grad_kernel, elements);
    return true;
}

template <class T, class F, int K>
bool plane_backward_launch(sk_context &ctx, const Problem<T> &P, F field, const BackwardIn<T> &in,
                                  View5<T> grad_input, View5<T> grad_kernel) {
    const Axis &ay = P.axis[1], &ax = P.axis[2];
    const index_t planes = P.batch * P.in_channels;
    const index_t tiles_y = (ay.n + kPlaneTile - 1) / kPlaneTile, tiles_x = (ax.n + kPlaneTile - 1) / kPlaneTile;
    if (!grid_fits(planes, tiles_y, tiles_x)) return false;
    const index_t blocks = P.batch * tiles_y * tiles_x, elements = P.in_channels * K * K;
    Workspace &ws = ctx.workspace();
    Workspace::Lease lease;
    T *partials = nullptr;
    if (grad_kernel.data) {
        const std::size_t bytes = static_cast<std::size_t>(elements) * static_cast<std::size_t>(blocks) * sizeof(T);
        if (bytes > kPartialsLimit || (ws.limit() != 0 && ws.held_bytes() + bytes + 256 > ws.limit())) return false;
        lease = ws.acquire(bytes, "semiconv: kernel-gradient partial sums");
        partials = lease.as<T>();
    }
    const dim3 grid(static_cast<unsigned>(planes), static_cast<unsigned>(tiles_y), static_cast<unsigned>(tiles_x));
    plane_backward_kernel<T, F, K><<<grid, dim3(kPlaneBX, kPlaneBY), 0, stream_of(ctx)>>>(P, field, in, grad_input,
                                                                                         partials);
    SK_CUDA_CHECK_LAUNCH("semiconv: one-pass backward (plane) kernel");
    if (partials) launch_kernel_gradient_sum(ctx, P, partials, blocks, grad_kernel, elements);
    return true;
}

// Both gradients in one pass where plane_backward_kernel applies; false (nothing written)
// otherwise. The tropical semifields need the provenance, root and log the saved output (the C
// API recomputes either into the workspace when the caller passes none).
template <class T, class F>
bool plane_backward(sk_context &ctx, const Problem<T> &P, F field, const BackwardIn<T> &in, View5<T> grad_input,
                    View5<T> grad_kernel) {
    const Axis &az = P.axis[0], &ay = P.axis[1], &ax = P.axis[2];
    if (P.channels_add || P.broadcast || P.group_in != 1 || P.group_out != 1) return false;
    if ((F::kSelect && !in.provenance.data) || (F::kNeedsOutput && !in.output.data)) return false;
    if (az.k != 1 || az.n != 1 || az.m != 1 || ay.k != ax.k) return false;
    if (ay.stride != 1 || ax.stride != 1 || ay.dilation != 1 || ax.dilation != 1 || !tiled_geometry_fits(P))
        return false;
    switch (ax.k) {
        case 3: return plane_backward_launch<T, F, 3>(ctx, P, field, in, grad_input, grad_kernel);
        case 5: return plane_backward_launch<T, F, 5>(ctx, P, field, in, grad_input, grad_kernel);
        case 7: return plane_backward_launch<T, F, 7>(ctx, P, field, in, grad_input, grad_kernel);
        default: return false;
    }
}

// y extent 1 (1-D problems, or rows): a row of 128 outputs per block; else 16 x 32 (32 x 32 for
// the kernel gradient).
template <class T>
bool row_shaped(const Problem<T> &P, bool input_side) {
    return (input_side ? P.axis[1].n : P.axis[1].m) == 1;
}

}  // namespace

template <class T>
void forward_cuda(sk_context &ctx, const Problem<T> &P, const ForwardOut<T> &out) {
    const index_t total = P.batch * P.out_channels * P.output_volume();
    if (total == 0) return;
    with_field(P, [&](auto field) {
        using F = decltype(field);
        if (!row_shaped(P, false) && forward_blocked(ctx, P, field, out)) return;
        if (row_shaped(P, false) ? forward_tiled<T, F, RowShape>(ctx, P, field, out)
                                 : forward_tiled<T, F, PlaneShape>(ctx, P, field, out))
            return;
        forward_kernel<<<blocks_for(total), kThreads, 0, stream_of(ctx)>>>(P, field, out, total);
        SK_CUDA_CHECK_LAUNCH("semiconv: forward kernel");
    });
}

template <class T, class F>
void input_gradient_cuda(sk_context &ctx, const Problem<T> &P, F field, const BackwardIn<T> &in,
                         View5<T> grad_input) {
    const index_t total = P.batch * P.in_channels * P.input_volume();
    if (total == 0) return;
    if (row_shaped(P, true) ? input_gradient_tiled<T, F, RowShape>(ctx, P, field, in, grad_input)
                            : input_gradient_tiled<T, F, PlaneShape>(ctx, P, field, in, grad_input))
        return;
    input_gradient_kernel<<<blocks_for(total), kThreads, 0, stream_of(ctx)>>>(P, field, in, grad_input, total);
    SK_CUDA_CHECK_LAUNCH("semiconv: input gradient kernel");
}

template <class T, class F>
void kernel_gradient_cuda(sk_context &ctx, const Problem<T> &P, F field, const BackwardIn<T> &in,
                          View5<T> grad_kernel) {
    const index_t elements = P.kernel_rows * P.group_in * P.kernel_volume();
    if (elements == 0) return;
    if (kernel_gradient_item_count(P) > 0 &&
        (row_shaped(P, false) ? kernel_gradient_tiled<T, F, RowShape>(ctx, P, field, in, grad_kernel)
                              : kernel_gradient_tiled<T, F, PlaneShapeWide>(ctx, P, field, in, grad_kernel)))
        return;
    const auto blocks = static_cast<unsigned>(std::min<index_t>(elements, 65535 * 32));
    kernel_gradient_kernel<<<blocks, kReduceThreads, 0, stream_of(ctx)>>>(P, field, in, grad_kernel, elements);
    SK_CUDA_CHECK_LAUNCH("semiconv: kernel gradient kernel");
}

template <class T>
void backward_cuda(sk_context &ctx, const Problem<T> &P, const BackwardIn<T> &in,
                   View5<T> grad_input, View5<T> grad_kernel) {
    with_field(P, [&](auto field) {
        if (plane_backward(ctx, P, field, in, grad_input, grad_kernel)) return;
        if (grad_input.data) input_gradient_cuda(ctx, P, field, in, grad_input);
        if (grad_kernel.data) kernel_gradient_cuda(ctx, P, field, in, grad_kernel);
    });
}

template <class T>
unsigned negative_scans_cuda(sk_context &ctx, const NegativeScan<T> *scans, int count) {
    if (count <= 0) return 0;
    auto lease = ctx.workspace().acquire(sizeof(int) * static_cast<std::size_t>(count), "semiconv: negative-value flags");
    int *flags = lease.as<int>();
    SK_CUDA_CHECK(cudaMemsetAsync(flags, 0, sizeof(int) * static_cast<std::size_t>(count), stream_of(ctx)));
    for (int i = 0; i < count; ++i) {
        const View5<const T> &v = scans[i].view;
        const index_t *extent = scans[i].extent;
        const index_t total = extent[0] * extent[1] * extent[2] * extent[3] * extent[4];
        if (total == 0) continue;
        if (dense_view(v, extent)) {
            negative_flag_flat_kernel<<<blocks_for((total + kScanUnroll - 1) / kScanUnroll), kThreads, 0, stream_of(ctx)>>>(
                v.data, total, flags + i);
        } else {
            const index_t rows = extent[0] * extent[1] * extent[2] * extent[3];
            negative_flag_rows_kernel<<<blocks_for(rows * 32), kThreads, 0, stream_of(ctx)>>>(
                v, extent[1], extent[2], extent[3], extent[4], rows, flags + i);
        }
        SK_CUDA_CHECK_LAUNCH("semiconv: negative-value scan");
    }
    std::vector<int> host(static_cast<std::size_t>(count), 0);
    SK_CUDA_CHECK(cudaMemcpyAsync(host.data(), flags, sizeof(int) * host.size(), cudaMemcpyDeviceToHost,
                                  stream_of(ctx)));
    SK_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
    unsigned mask = 0;
    for (int i = 0; i < count; ++i)
        if (host[static_cast<std::size_t>(i)]) mask |= 1u << i;
    return mask;
}

template <class T>
void quadratic_kernel_cuda(sk_context &ctx, const QuadraticProblem<T> &Q, View5<T> kernel) {
    const index_t total = Q.n0 * Q.n1 * Q.kh * Q.kw;
    quadratic_kernel_kernel<<<blocks_for(total), kThreads, 0, stream_of(ctx)>>>(Q, kernel, total);
    SK_CUDA_CHECK_LAUNCH("semiconv: quadratic kernel");
}

template <class T>
void quadratic_backward_cuda(sk_context &ctx, const QuadraticProblem<T> &Q, View5<const T> grad_kernel,
                             View5<T> grad_params) {
    const index_t total = Q.n0 * Q.n1;
    quadratic_backward_kernel<<<blocks_for(total), kThreads, 0, stream_of(ctx)>>>(Q, grad_kernel, grad_params,
                                                                                  total);
    SK_CUDA_CHECK_LAUNCH("semiconv: quadratic kernel backward");
}

#define SK_SEMICONV_INSTANTIATE(T)                                                                    \
    template void forward_cuda<T>(sk_context &, const Problem<T> &, const ForwardOut<T> &);           \
    template void backward_cuda<T>(sk_context &, const Problem<T> &, const BackwardIn<T> &, View5<T>, \
                                   View5<T>);                                                         \
    template unsigned negative_scans_cuda<T>(sk_context &, const NegativeScan<T> *, int);            \
    template void quadratic_kernel_cuda<T>(sk_context &, const QuadraticProblem<T> &, View5<T>);      \
    template void quadratic_backward_cuda<T>(sk_context &, const QuadraticProblem<T> &,               \
                                             View5<const T>, View5<T>);
SK_SEMICONV_INSTANTIATE(float)
SK_SEMICONV_INSTANTIATE(double)
#undef SK_SEMICONV_INSTANTIATE

}  // namespace sk::semiconv
