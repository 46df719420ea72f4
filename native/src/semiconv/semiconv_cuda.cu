// CUDA backend of the semifield convolution: straightforward direct kernels over the
// per-element functions of semiconv.h (the same code the CPU backend runs).
//   forward:      one thread per output element (grid-stride loop);
//   grad input:   one thread per input element, gathering over the outputs that read it;
//   grad kernel:  one block per kernel element; each thread sums a fixed strided subset of the
//                 items (batch x users x output positions) and the block reduces the partial
//                 sums with a fixed tree, so the result is bitwise reproducible (no atomics);
//   quadratic:    one thread per kernel value, one thread per parameter pair for the gradient;
//   root check:   one thread per element raises a device flag when it sees a negative value
//                 (every writer stores the same 1, so the race is benign), read back after a
//                 stream synchronisation.
// Cost model and the bounds these kernels are far from: NOTES.md beside this file.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

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

template <class T>
__global__ void negative_flag_kernel(View5<const T> v, index_t e0, index_t e1, index_t e2, index_t e3,
                                     index_t e4, int *flag) {
    const index_t total = e0 * e1 * e2 * e3 * e4;
    for (index_t e = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; e < total;
         e += static_cast<index_t>(gridDim.x) * blockDim.x) {
        index_t r = e;
        const index_t x = r % e4;
        r /= e4;
        const index_t y = r % e3;
        r /= e3;
        const index_t z = r % e2;
        r /= e2;
        const index_t c = r % e1, b = r / e1;
        if (v(b, c, z, y, x) < T(0)) *flag = 1;
    }
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

}  // namespace

template <class T>
void forward_cuda(sk_context &ctx, const Problem<T> &P, const ForwardOut<T> &out) {
    const index_t total = P.batch * P.out_channels * P.output_volume();
    with_field(P, [&](auto field) {
        forward_kernel<<<blocks_for(total), kThreads, 0, stream_of(ctx)>>>(P, field, out, total);
        SK_CUDA_CHECK_LAUNCH("semiconv: forward kernel");
    });
}

template <class T>
void backward_cuda(sk_context &ctx, const Problem<T> &P, const BackwardIn<T> &in,
                   View5<T> grad_input, View5<T> grad_kernel) {
    with_field(P, [&](auto field) {
        if (grad_input.data) {
            const index_t total = P.batch * P.in_channels * P.input_volume();
            input_gradient_kernel<<<blocks_for(total), kThreads, 0, stream_of(ctx)>>>(P, field, in, grad_input,
                                                                                      total);
            SK_CUDA_CHECK_LAUNCH("semiconv: input gradient kernel");
        }
        if (grad_kernel.data) {
            const index_t elements = P.kernel_rows * P.group_in * P.kernel_volume();
            const auto blocks = static_cast<unsigned>(std::min<index_t>(std::max<index_t>(elements, 1), 65535 * 32));
            kernel_gradient_kernel<<<blocks, kReduceThreads, 0, stream_of(ctx)>>>(P, field, in, grad_kernel,
                                                                                 elements);
            SK_CUDA_CHECK_LAUNCH("semiconv: kernel gradient kernel");
        }
    });
}

template <class T>
bool any_negative_cuda(sk_context &ctx, View5<const T> v, const index_t extent[5]) {
    const index_t total = extent[0] * extent[1] * extent[2] * extent[3] * extent[4];
    if (total == 0) return false;
    auto lease = ctx.workspace().acquire(sizeof(int), "semiconv: negative-value flag");
    int *flag = lease.as<int>();
    SK_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), stream_of(ctx)));
    negative_flag_kernel<<<blocks_for(total), kThreads, 0, stream_of(ctx)>>>(v, extent[0], extent[1], extent[2],
                                                                              extent[3], extent[4], flag);
    SK_CUDA_CHECK_LAUNCH("semiconv: negative-value scan");
    int host = 0;
    SK_CUDA_CHECK(cudaMemcpyAsync(&host, flag, sizeof(int), cudaMemcpyDeviceToHost, stream_of(ctx)));
    SK_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
    return host != 0;
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
    template bool any_negative_cuda<T>(sk_context &, View5<const T>, const index_t[5]);               \
    template void quadratic_kernel_cuda<T>(sk_context &, const QuadraticProblem<T> &, View5<T>);      \
    template void quadratic_backward_cuda<T>(sk_context &, const QuadraticProblem<T> &,               \
                                             View5<const T>, View5<T>);
SK_SEMICONV_INSTANTIATE(float)
SK_SEMICONV_INSTANTIATE(double)
#undef SK_SEMICONV_INSTANTIATE

}  // namespace sk::semiconv
