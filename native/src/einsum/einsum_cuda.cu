// CUDA backend of the einsum kernels: one thread per independent output element (grid-stride
// loops) calling the per-element functions of einsum.h, the same the CPU backend calls, so the
// two backends share their math. Every launch is on the context's stream and checked; nothing
// synchronises except the argmax range check of the backward, the LOG fast-path check and the
// LOG weight counts of the generic backward, which return host counts.
// The matmul steps run on matmul::forward_cuda (see einsum_run.cpp).
#include <cuda_runtime.h>

#include <algorithm>

#include "core/context.h"
#include "core/cuda_check.h"
#include "core/error.h"
#include "einsum/einsum.h"

namespace sk::einsum {
namespace {

constexpr int kThreads = 256;

cudaStream_t stream_of(sk_context &ctx) { return static_cast<cudaStream_t>(ctx.stream()); }

unsigned blocks_for(index_t n) {
    const index_t b = (n + kThreads - 1) / kThreads;
    return static_cast<unsigned>(std::max<index_t>(1, std::min<index_t>(b, index_t(1) << 16)));
}

#define SK_GRID_STRIDE(i, n)                                                                    \
    for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);     \
         i += static_cast<index_t>(gridDim.x) * blockDim.x)

template <class S, class T>
__global__ void reduce_kernel(ReduceParams p, const T *in, T *out, std::int64_t *argmax) {
    SK_GRID_STRIDE(z, p.outer.count) reduce_entry<S, T>(p, z, in, out, argmax);
}

template <class S, class T>
__global__ void combine_kernel(CombineParams p, const T *x, const T *y, T *out) {
    SK_GRID_STRIDE(z, p.walk.count) combine_entry<S, T>(p, z, x, y, out);
}

__global__ void trace_init_kernel(TraceInitParams p, std::int64_t *assign) {
    SK_GRID_STRIDE(o, p.out.count) trace_init_entry(p, o, assign);
}

__global__ void trace_step_kernel(TraceStepParams p, index_t count, const void *argmax, std::int64_t *assign) {
    SK_GRID_STRIDE(o, count) trace_step_entry(p, o, argmax, assign);
}

template <class S, class T, class I>
__global__ void trace_write_kernel(TraceWriteParams p, const std::int64_t *assign, const T *out, I *argmax) {
    SK_GRID_STRIDE(o, p.out.count) trace_write_entry<S, T, I>(p, o, assign, out, argmax);
}

template <class T, class I>
__global__ void route_kernel(RouteParams p, const T *grad_out, const I *argmax, T *grad) {
    SK_GRID_STRIDE(x, p.dims.count) route_entry<T, I>(p, x, grad_out, argmax, grad);
}

template <class T>
__global__ void scatter_kernel(ScatterParams p, const T *operand, const T *g_plus, const T *g_minus, T *grad) {
    SK_GRID_STRIDE(x, p.dims.count) scatter_entry<T>(p, x, operand, g_plus, g_minus, grad);
}

template <class T>
__global__ void log_weights_kernel(Walk w, const T *grad_out, const T *out, bool zero_nan, T *w_plus,
                                   T *w_minus) {
    SK_GRID_STRIDE(o, w.count) log_weight_entry<T>(w, o, grad_out, out, zero_nan, w_plus, w_minus);
}

// Up to kMaxLabels extents of the summed variables, by value.
struct SummedExtents {
    index_t extent[kMaxLabels];
};

template <class I>
__global__ void count_bad_argmax_kernel(Walk w, const I *argmax, int num_summed, index_t summed_stride,
                                        SummedExtents extents, unsigned long long *bad) {
    unsigned long long local = 0;
    SK_GRID_STRIDE(o, w.count) {
        index_t off[1];
        walk_offsets<1>(w, o, off);
        for (int s = 0; s < num_summed; ++s) {
            const auto v = static_cast<index_t>(argmax[off[0] + s * summed_stride]);
            if (v < -1 || v >= extents.extent[s]) ++local;
        }
    }
    if (local) atomicAdd(bad, local);  // an integer count: order-independent
}

template <class S, class T, class I>
__global__ void argmax_decode_kernel(ArgmaxDecodeParams p, const std::int32_t *flat_argmax, const T *out,
                                     I *argmax) {
    SK_GRID_STRIDE(o, p.out.count) argmax_decode_entry<S, T, I>(p, o, flat_argmax, out, argmax);
}

template <class I>
__global__ void argmax_encode_kernel(ArgmaxEncodeParams p, const I *argmax, std::int32_t *flat_argmax) {
    SK_GRID_STRIDE(o, p.out.count) argmax_encode_entry<I>(p, o, argmax, flat_argmax);
}

template <class T>
__global__ void count_log_blockers_kernel(Walk w, const T *grad_out, const T *out, bool zero_nan,
                                          unsigned long long *blocked) {
    unsigned long long local = 0;
    SK_GRID_STRIDE(o, w.count) local += log_blocker_entry<T>(w, o, grad_out, out, zero_nan) ? 1 : 0;
    if (local) atomicAdd(blocked, local);  // an integer count: order-independent
}

template <class T>
__global__ void count_live_weights_kernel(index_t n, const T *w_plus, const T *w_minus, unsigned long long *live) {
    unsigned long long p = 0, m = 0;
    SK_GRID_STRIDE(o, n) {
        p += is_live_weight(w_plus[o]) ? 1 : 0;
        m += is_live_weight(w_minus[o]) ? 1 : 0;
    }
    if (p) atomicAdd(live, p);  // integer counts: order-independent
    if (m) atomicAdd(live + 1, m);
}

}  // namespace

template <class T>
void reduce_cuda(sk_context &ctx, Semiring s, const ReduceParams &p, const T *in, T *out,
                 std::int64_t *argmax) {
    with_semiring<T>(s, [&](auto sr) {
        using S = decltype(sr);
        reduce_kernel<S, T><<<blocks_for(p.outer.count), kThreads, 0, stream_of(ctx)>>>(p, in, out, argmax);
        SK_CUDA_CHECK_LAUNCH("einsum: reduce kernel");
        return 0;
    });
}

template <class T>
void combine_cuda(sk_context &ctx, Semiring s, const CombineParams &p, const T *x, const T *y, T *out) {
    with_semiring<T>(s, [&](auto sr) {
        using S = decltype(sr);
        combine_kernel<S, T><<<blocks_for(p.walk.count), kThreads, 0, stream_of(ctx)>>>(p, x, y, out);
        SK_CUDA_CHECK_LAUNCH("einsum: combine kernel");
        return 0;
    });
}

void trace_init_cuda(sk_context &ctx, const TraceInitParams &p, std::int64_t *assign) {
    trace_init_kernel<<<blocks_for(p.out.count), kThreads, 0, stream_of(ctx)>>>(p, assign);
    SK_CUDA_CHECK_LAUNCH("einsum: trace init kernel");
}

void trace_step_cuda(sk_context &ctx, const TraceStepParams &p, index_t count, const void *argmax,
                     std::int64_t *assign) {
    trace_step_kernel<<<blocks_for(count), kThreads, 0, stream_of(ctx)>>>(p, count, argmax, assign);
    SK_CUDA_CHECK_LAUNCH("einsum: trace step kernel");
}

template <class T, class I>
void trace_write_cuda(sk_context &ctx, Semiring s, const TraceWriteParams &p,
                      const std::int64_t *assign, const T *out, I *argmax) {
    with_semiring<T>(s, [&](auto sr) {
        using S = decltype(sr);
        trace_write_kernel<S, T, I><<<blocks_for(p.out.count), kThreads, 0, stream_of(ctx)>>>(p, assign, out, argmax);
        SK_CUDA_CHECK_LAUNCH("einsum: trace write kernel");
        return 0;
    });
}

template <class T, class I>
void route_cuda(sk_context &ctx, const RouteParams &p, const T *grad_out, const I *argmax, T *grad) {
    route_kernel<T, I><<<blocks_for(p.dims.count), kThreads, 0, stream_of(ctx)>>>(p, grad_out, argmax, grad);
    SK_CUDA_CHECK_LAUNCH("einsum: route kernel");
}

template <class T>
void scatter_cuda(sk_context &ctx, const ScatterParams &p, const T *operand, const T *g_plus,
                  const T *g_minus, T *grad) {
    scatter_kernel<T><<<blocks_for(p.dims.count), kThreads, 0, stream_of(ctx)>>>(p, operand, g_plus, g_minus, grad);
    SK_CUDA_CHECK_LAUNCH("einsum: scatter kernel");
}

template <class T>
void log_weights_cuda(sk_context &ctx, const Walk &w, const T *grad_out, const T *out, bool zero_nan,
                      T *w_plus, T *w_minus) {
    log_weights_kernel<T><<<blocks_for(w.count), kThreads, 0, stream_of(ctx)>>>(w, grad_out, out, zero_nan, w_plus, w_minus);
    SK_CUDA_CHECK_LAUNCH("einsum: log weights kernel");
}

template <class I>
index_t count_bad_argmax_cuda(sk_context &ctx, const Walk &w, const I *argmax, int num_summed,
                              index_t summed_stride, const index_t *extent) {
    SummedExtents extents{};
    for (int s = 0; s < num_summed && s < kMaxLabels; ++s) extents.extent[s] = extent[s];
    auto lease = ctx.workspace().acquire(sizeof(unsigned long long), "einsum: argmax check counter");
    auto *bad = lease.as<unsigned long long>();
    SK_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(unsigned long long), stream_of(ctx)));
    count_bad_argmax_kernel<I><<<blocks_for(w.count), kThreads, 0, stream_of(ctx)>>>(w, argmax, num_summed,
                                                                                    summed_stride, extents, bad);
    SK_CUDA_CHECK_LAUNCH("einsum: argmax check kernel");
    unsigned long long host = 0;
    SK_CUDA_CHECK(cudaMemcpyAsync(&host, bad, sizeof(host), cudaMemcpyDeviceToHost, stream_of(ctx)));
    SK_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
    return static_cast<index_t>(host);
}

template <class T, class I>
void argmax_decode_cuda(sk_context &ctx, Semiring s, const ArgmaxDecodeParams &p,
                        const std::int32_t *flat_argmax, const T *out, I *argmax) {
    with_semiring<T>(s, [&](auto sr) {
        using S = decltype(sr);
        argmax_decode_kernel<S, T, I><<<blocks_for(p.out.count), kThreads, 0, stream_of(ctx)>>>(p, flat_argmax, out,
                                                                                               argmax);
        SK_CUDA_CHECK_LAUNCH("einsum: argmax decode kernel");
        return 0;
    });
}

template <class I>
void argmax_encode_cuda(sk_context &ctx, const ArgmaxEncodeParams &p, const I *argmax,
                        std::int32_t *flat_argmax) {
    argmax_encode_kernel<I><<<blocks_for(p.out.count), kThreads, 0, stream_of(ctx)>>>(p, argmax, flat_argmax);
    SK_CUDA_CHECK_LAUNCH("einsum: argmax encode kernel");
}

// One stream synchronisation: the count decides between the fast and the generic LOG backward
// before anything is written.
template <class T>
index_t count_log_blockers_cuda(sk_context &ctx, const Walk &w, const T *grad_out, const T *out,
                                bool zero_nan) {
    if (w.count <= 0) return 0;
    auto lease = ctx.workspace().acquire(sizeof(unsigned long long), "einsum: log fast path check counter");
    auto *blocked = lease.as<unsigned long long>();
    SK_CUDA_CHECK(cudaMemsetAsync(blocked, 0, sizeof(unsigned long long), stream_of(ctx)));
    count_log_blockers_kernel<T><<<blocks_for(w.count), kThreads, 0, stream_of(ctx)>>>(w, grad_out, out, zero_nan,
                                                                                      blocked);
    SK_CUDA_CHECK_LAUNCH("einsum: log fast path check kernel");
    unsigned long long host = 0;
    SK_CUDA_CHECK(cudaMemcpyAsync(&host, blocked, sizeof(host), cudaMemcpyDeviceToHost, stream_of(ctx)));
    SK_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
    return static_cast<index_t>(host);
}

// One stream synchronisation: the counts decide whether a derived einsum runs at all.
template <class T>
void count_live_weights_cuda(sk_context &ctx, index_t n, const T *w_plus, const T *w_minus, index_t *live) {
    live[0] = live[1] = 0;
    if (n <= 0) return;
    auto lease = ctx.workspace().acquire(2 * sizeof(unsigned long long), "einsum: log weight counters");
    auto *counts = lease.as<unsigned long long>();
    SK_CUDA_CHECK(cudaMemsetAsync(counts, 0, 2 * sizeof(unsigned long long), stream_of(ctx)));
    count_live_weights_kernel<T><<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(n, w_plus, w_minus, counts);
    SK_CUDA_CHECK_LAUNCH("einsum: log weight count kernel");
    unsigned long long host[2] = {0, 0};
    SK_CUDA_CHECK(cudaMemcpyAsync(host, counts, sizeof(host), cudaMemcpyDeviceToHost, stream_of(ctx)));
    SK_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
    live[0] = static_cast<index_t>(host[0]);
    live[1] = static_cast<index_t>(host[1]);
}

#define SK_EINSUM_CUDA_FLOAT(T)                                                                       \
    template void reduce_cuda<T>(sk_context &, Semiring, const ReduceParams &, const T *, T *,       \
                                 std::int64_t *);                                                     \
    template void combine_cuda<T>(sk_context &, Semiring, const CombineParams &, const T *, const T *, \
                                  T *);                                                               \
    template void trace_write_cuda<T, std::int32_t>(sk_context &, Semiring, const TraceWriteParams &, \
                                                    const std::int64_t *, const T *, std::int32_t *); \
    template void trace_write_cuda<T, std::int64_t>(sk_context &, Semiring, const TraceWriteParams &, \
                                                    const std::int64_t *, const T *, std::int64_t *); \
    template void route_cuda<T, std::int32_t>(sk_context &, const RouteParams &, const T *,          \
                                              const std::int32_t *, T *);                             \
    template void route_cuda<T, std::int64_t>(sk_context &, const RouteParams &, const T *,          \
                                              const std::int64_t *, T *);                             \
    template void scatter_cuda<T>(sk_context &, const ScatterParams &, const T *, const T *,         \
                                  const T *, T *);                                                    \
    template void log_weights_cuda<T>(sk_context &, const Walk &, const T *, const T *, bool, T *, T *); \
    template void argmax_decode_cuda<T, std::int32_t>(sk_context &, Semiring, const ArgmaxDecodeParams &, \
                                                      const std::int32_t *, const T *, std::int32_t *); \
    template void argmax_decode_cuda<T, std::int64_t>(sk_context &, Semiring, const ArgmaxDecodeParams &, \
                                                      const std::int32_t *, const T *, std::int64_t *); \
    template index_t count_log_blockers_cuda<T>(sk_context &, const Walk &, const T *, const T *, bool); \
    template void count_live_weights_cuda<T>(sk_context &, index_t, const T *, const T *, index_t *);

SK_EINSUM_CUDA_FLOAT(float)
SK_EINSUM_CUDA_FLOAT(double)
template index_t count_bad_argmax_cuda<std::int32_t>(sk_context &, const Walk &, const std::int32_t *,
                                                     int, index_t, const index_t *);
template index_t count_bad_argmax_cuda<std::int64_t>(sk_context &, const Walk &, const std::int64_t *,
                                                     int, index_t, const index_t *);
template void argmax_encode_cuda<std::int32_t>(sk_context &, const ArgmaxEncodeParams &, const std::int32_t *,
                                               std::int32_t *);
template void argmax_encode_cuda<std::int64_t>(sk_context &, const ArgmaxEncodeParams &, const std::int64_t *,
                                               std::int32_t *);

}  // namespace sk::einsum
