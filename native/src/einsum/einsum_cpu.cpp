// CPU backend of the einsum kernels: each kernel is a parallel loop over independent output
// elements calling the per-element function of einsum.h (the same one the CUDA kernels call).
// Each element is produced by one thread in a fixed order, so results do not depend on the
// thread count. The matmul steps run on matmul::forward_cpu (see einsum_run.cpp).
#include <atomic>

#include "core/context.h"
#include "core/error.h"
#include "einsum/einsum.h"

namespace sk::einsum {
namespace {

// Grain: about 4096 elementary operations per chunk.
index_t grain_for(index_t work_per_item) {
    return std::max<index_t>(1, 4096 / std::max<index_t>(work_per_item, 1));
}

template <class F>
void parallel(sk_context &ctx, index_t n, index_t work_per_item, F &&f) {
    if (n <= 0) return;
    ctx.pool().parallel_for(n, grain_for(work_per_item), [&](index_t b, index_t e) {
        for (index_t i = b; i < e; ++i) f(i);
    });
}

}  // namespace

template <class T>
void reduce_cpu(sk_context &ctx, Semiring s, const ReduceParams &p, const T *in, T *out,
                std::int64_t *argmax) {
    with_semiring<T>(s, [&](auto sr) {
        using S = decltype(sr);
        parallel(ctx, p.outer.count, p.inner.count * p.inner.rank + 1,
                 [&](index_t z) { reduce_entry<S, T>(p, z, in, out, argmax); });
        return 0;
    });
}

template <class T>
void combine_cpu(sk_context &ctx, Semiring s, const CombineParams &p, const T *x, const T *y, T *out) {
    with_semiring<T>(s, [&](auto sr) {
        using S = decltype(sr);
        parallel(ctx, p.walk.count, p.walk.rank + 1, [&](index_t z) { combine_entry<S, T>(p, z, x, y, out); });
        return 0;
    });
}

void trace_init_cpu(sk_context &ctx, const TraceInitParams &p, std::int64_t *assign) {
    parallel(ctx, p.out.count, p.num_labels, [&](index_t o) { trace_init_entry(p, o, assign); });
}

void trace_step_cpu(sk_context &ctx, const TraceStepParams &p, index_t count, const void *argmax,
                    std::int64_t *assign) {
    parallel(ctx, count, p.result_rank + p.summed_rank, [&](index_t o) { trace_step_entry(p, o, argmax, assign); });
}

template <class T, class I>
void trace_write_cpu(sk_context &ctx, Semiring s, const TraceWriteParams &p,
                     const std::int64_t *assign, const T *out, I *argmax) {
    with_semiring<T>(s, [&](auto sr) {
        using S = decltype(sr);
        parallel(ctx, p.out.count, p.num_summed + 1,
                 [&](index_t o) { trace_write_entry<S, T, I>(p, o, assign, out, argmax); });
        return 0;
    });
}

template <class T, class I>
void route_cpu(sk_context &ctx, const RouteParams &p, const T *grad_out, const I *argmax, T *grad) {
    parallel(ctx, p.dims.count, p.free.count * (p.checks + 1) + 1,
             [&](index_t x) { route_entry<T, I>(p, x, grad_out, argmax, grad); });
}

template <class T>
void scatter_cpu(sk_context &ctx, const ScatterParams &p, const T *operand, const T *g_plus,
                 const T *g_minus, T *grad) {
    parallel(ctx, p.dims.count, p.dims.rank + 1,
             [&](index_t x) { scatter_entry<T>(p, x, operand, g_plus, g_minus, grad); });
}

template <class T>
void log_weights_cpu(sk_context &ctx, const Walk &w, const T *grad_out, const T *out, bool zero_nan,
                     T *w_plus, T *w_minus) {
    parallel(ctx, w.count, w.rank + 4,
             [&](index_t o) { log_weight_entry<T>(w, o, grad_out, out, zero_nan, w_plus, w_minus); });
}

template <class I>
index_t count_bad_argmax_cpu(sk_context &ctx, const Walk &w, const I *argmax, int num_summed,
                             index_t summed_stride, const index_t *extent) {
    (void)ctx;  // a host scan: cheap next to the gradient it guards
    index_t bad = 0;
    for (index_t o = 0; o < w.count; ++o) {
        index_t off[1];
        walk_offsets<1>(w, o, off);
        for (int s = 0; s < num_summed; ++s) {
            const auto v = static_cast<index_t>(argmax[off[0] + s * summed_stride]);
            if (v < -1 || v >= extent[s]) ++bad;
        }
    }
    return bad;
}

template <class T, class I>
void argmax_decode_cpu(sk_context &ctx, Semiring s, const ArgmaxDecodeParams &p,
                       const std::int32_t *flat_argmax, const T *out, I *argmax) {
    with_semiring<T>(s, [&](auto sr) {
        using S = decltype(sr);
        parallel(ctx, p.out.count, p.num_summed + 2,
                 [&](index_t o) { argmax_decode_entry<S, T, I>(p, o, flat_argmax, out, argmax); });
        return 0;
    });
}

template <class I>
void argmax_encode_cpu(sk_context &ctx, const ArgmaxEncodeParams &p, const I *argmax,
                       std::int32_t *flat_argmax) {
    parallel(ctx, p.out.count, p.num_summed + 2,
             [&](index_t o) { argmax_encode_entry<I>(p, o, argmax, flat_argmax); });
}

template <class T>
index_t count_log_blockers_cpu(sk_context &ctx, const Walk &w, const T *grad_out, const T *out,
                               bool zero_nan) {
    // Per-chunk counts summed after the loop: integer sums, independent of the thread count.
    std::atomic<index_t> blocked{0};
    if (w.count <= 0) return 0;
    ctx.pool().parallel_for(w.count, grain_for(4), [&](index_t b, index_t e) {
        index_t local = 0;
        for (index_t o = b; o < e; ++o) local += log_blocker_entry<T>(w, o, grad_out, out, zero_nan) ? 1 : 0;
        blocked += local;
    });
    return blocked.load();
}

template <class T>
void count_live_weights_cpu(sk_context &ctx, index_t n, const T *w_plus, const T *w_minus, index_t *live) {
    std::atomic<index_t> plus{0}, minus{0};
    if (n > 0)
        ctx.pool().parallel_for(n, grain_for(2), [&](index_t b, index_t e) {
            index_t p = 0, m = 0;
            for (index_t o = b; o < e; ++o) {
                p += is_live_weight(w_plus[o]) ? 1 : 0;
                m += is_live_weight(w_minus[o]) ? 1 : 0;
            }
            plus += p;
            minus += m;
        });
    live[0] = plus.load();
    live[1] = minus.load();
}

#define SK_EINSUM_CPU_FLOAT(T)                                                                       \
    template void reduce_cpu<T>(sk_context &, Semiring, const ReduceParams &, const T *, T *,       \
                                std::int64_t *);                                                     \
    template void combine_cpu<T>(sk_context &, Semiring, const CombineParams &, const T *, const T *, \
                                 T *);                                                               \
    template void trace_write_cpu<T, std::int32_t>(sk_context &, Semiring, const TraceWriteParams &, \
                                                   const std::int64_t *, const T *, std::int32_t *); \
    template void trace_write_cpu<T, std::int64_t>(sk_context &, Semiring, const TraceWriteParams &, \
                                                   const std::int64_t *, const T *, std::int64_t *); \
    template void route_cpu<T, std::int32_t>(sk_context &, const RouteParams &, const T *,          \
                                             const std::int32_t *, T *);                             \
    template void route_cpu<T, std::int64_t>(sk_context &, const RouteParams &, const T *,          \
                                             const std::int64_t *, T *);                             \
    template void scatter_cpu<T>(sk_context &, const ScatterParams &, const T *, const T *,         \
                                 const T *, T *);                                                    \
    template void log_weights_cpu<T>(sk_context &, const Walk &, const T *, const T *, bool, T *, T *); \
    template void argmax_decode_cpu<T, std::int32_t>(sk_context &, Semiring, const ArgmaxDecodeParams &, \
                                                     const std::int32_t *, const T *, std::int32_t *); \
    template void argmax_decode_cpu<T, std::int64_t>(sk_context &, Semiring, const ArgmaxDecodeParams &, \
                                                     const std::int32_t *, const T *, std::int64_t *); \
    template index_t count_log_blockers_cpu<T>(sk_context &, const Walk &, const T *, const T *, bool); \
    template void count_live_weights_cpu<T>(sk_context &, index_t, const T *, const T *, index_t *);

SK_EINSUM_CPU_FLOAT(float)
SK_EINSUM_CPU_FLOAT(double)
template index_t count_bad_argmax_cpu<std::int32_t>(sk_context &, const Walk &, const std::int32_t *,
                                                    int, index_t, const index_t *);
template index_t count_bad_argmax_cpu<std::int64_t>(sk_context &, const Walk &, const std::int64_t *,
                                                    int, index_t, const index_t *);
template void argmax_encode_cpu<std::int32_t>(sk_context &, const ArgmaxEncodeParams &, const std::int32_t *,
                                              std::int32_t *);
template void argmax_encode_cpu<std::int64_t>(sk_context &, const ArgmaxEncodeParams &, const std::int64_t *,
                                              std::int32_t *);

}  // namespace sk::einsum
