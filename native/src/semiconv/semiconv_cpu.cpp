// CPU backend of the semifield convolution: the per-element functions of semiconv.h run on the
// context's thread pool. Work is split into contiguous ranges of independent elements (output
// rows, input rows, kernel elements); each element is computed by one thread in the fixed order
// of semiconv.h, so results do not depend on the thread count.
#include <algorithm>

#include "core/context.h"
#include "semiconv/semiconv.h"

namespace sk::semiconv {
namespace {

// Elements per chunk: enough work per task to amortise the pool's hand-off.
index_t grain_for(index_t work_per_element) {
    return std::max<index_t>(1, 4096 / std::max<index_t>(1, work_per_element));
}

}  // namespace

template <class T>
void forward_cpu(sk_context &ctx, const Problem<T> &P, const ForwardOut<T> &out) {
    const index_t rows = P.batch * P.out_channels * P.axis[0].m * P.axis[1].m;  // x runs inside
    const index_t width = P.axis[2].m;
    const index_t work = width * P.group_in * P.kernel_volume();
    with_field(P, [&](auto field) {
        ctx.pool().parallel_for(rows, grain_for(work), [&](index_t begin, index_t end) {
            for (index_t r = begin; r < end; ++r) {
                const OutputIndex at = unflatten_output(P, r * width);
                for (index_t ox = 0; ox < width; ++ox) forward_element(P, field, out, at.b, at.o, at.z, at.y, ox);
            }
        });
    });
}

template <class T>
void backward_cpu(sk_context &ctx, const Problem<T> &P, const BackwardIn<T> &in,
                  View5<T> grad_input, View5<T> grad_kernel) {
    with_field(P, [&](auto field) {
        if (grad_input.data) {
            // One task range over input rows (b, c, z, y); x runs inside.
            const index_t nx = P.axis[2].n, ny = P.axis[1].n, nz = P.axis[0].n;
            const index_t rows = P.batch * P.in_channels * nz * ny;
            const index_t work = nx * P.group_out * P.kernel_volume();
            ctx.pool().parallel_for(rows, grain_for(work), [&](index_t begin, index_t end) {
                for (index_t r = begin; r < end; ++r) {
                    const index_t iy = r % ny, iz = (r / ny) % nz, ic = (r / (ny * nz)) % P.in_channels,
                                  b = r / (ny * nz * P.in_channels);
                    for (index_t ix = 0; ix < nx; ++ix)
                        grad_input(b, ic, iz, iy, ix) = input_gradient_element(P, field, in, b, ic, iz, iy, ix);
                }
            });
        }
        if (grad_kernel.data) {
            const index_t elements = P.kernel_rows * P.group_in * P.kernel_volume();
            const index_t items = kernel_gradient_item_count(P);
            ctx.pool().parallel_for(elements, grain_for(items), [&](index_t begin, index_t end) {
                for (index_t e = begin; e < end; ++e) {
                    const KernelIndex k = unflatten_kernel(P, e);
                    T sum = T(0);
                    for (index_t item = 0; item < items; ++item)
                        sum += kernel_gradient_item(P, field, in, k.row, k.c, k.z, k.y, k.x, item);
                    grad_kernel(k.row, k.c, k.z, k.y, k.x) = sum;
                }
            });
        }
    });
}

namespace {
template <class T>
bool any_negative(sk_context &ctx, View5<const T> v, const index_t extent[5]) {
    const index_t rows = extent[0] * extent[1] * extent[2] * extent[3];
    std::vector<char> found(static_cast<std::size_t>(std::max<index_t>(rows, 1)), 0);
    ctx.pool().parallel_for(rows, grain_for(extent[4]), [&](index_t begin, index_t end) {
        for (index_t r = begin; r < end; ++r) {
            const index_t y = r % extent[3], z = (r / extent[3]) % extent[2],
                          c = (r / (extent[3] * extent[2])) % extent[1],
                          b = r / (extent[3] * extent[2] * extent[1]);
            for (index_t x = 0; x < extent[4]; ++x)
                if (v(b, c, z, y, x) < T(0)) found[static_cast<std::size_t>(r)] = 1;
        }
    });
    return std::find(found.begin(), found.end(), 1) != found.end();
}
}  // namespace

template <class T>
unsigned negative_scans_cpu(sk_context &ctx, const NegativeScan<T> *scans, int count) {
    unsigned mask = 0;
    for (int i = 0; i < count; ++i)
        if (any_negative<T>(ctx, scans[i].view, scans[i].extent)) mask |= 1u << i;
    return mask;
}

template <class T>
void quadratic_kernel_cpu(sk_context &ctx, const QuadraticProblem<T> &Q, View5<T> kernel) {
    const index_t elements = Q.n0 * Q.n1 * Q.kh * Q.kw;
    ctx.pool().parallel_for(elements, 1024, [&](index_t begin, index_t end) {
        for (index_t e = begin; e < end; ++e) quadratic_kernel_element(Q, kernel, e);
    });
}

template <class T>
void quadratic_backward_cpu(sk_context &ctx, const QuadraticProblem<T> &Q, View5<const T> grad_kernel,
                            View5<T> grad_params) {
    ctx.pool().parallel_for(Q.n0 * Q.n1, grain_for(Q.kh * Q.kw), [&](index_t begin, index_t end) {
        for (index_t e = begin; e < end; ++e) quadratic_gradient_pair(Q, grad_kernel, grad_params, e);
    });
}

#define SK_SEMICONV_INSTANTIATE(T)                                                                   \
    template void forward_cpu<T>(sk_context &, const Problem<T> &, const ForwardOut<T> &);           \
    template void backward_cpu<T>(sk_context &, const Problem<T> &, const BackwardIn<T> &, View5<T>, \
                                  View5<T>);                                                         \
    template unsigned negative_scans_cpu<T>(sk_context &, const NegativeScan<T> *, int);             \
    template void quadratic_kernel_cpu<T>(sk_context &, const QuadraticProblem<T> &, View5<T>);      \
    template void quadratic_backward_cpu<T>(sk_context &, const QuadraticProblem<T> &,               \
                                            View5<const T>, View5<T>);
SK_SEMICONV_INSTANTIATE(float)
SK_SEMICONV_INSTANTIATE(double)
#undef SK_SEMICONV_INSTANTIATE

}  // namespace sk::semiconv
