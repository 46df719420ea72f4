// CUDA backend of the HMM family: the host side. The kernels and the launch orchestration
// (which kernels each op runs, on which grids) are in hmm_kernels.cuh; this file owns the
// device scratch (taken from the context's workspace before the first launch), the upload of
// the validated lengths, and the launches on the context's stream. Design and cost model:
// NOTES.md beside this file.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/context.h"
#include "core/error.h"
#include "hmm/hmm.h"
#include "hmm/hmm_kernels.cuh"

namespace sk::hmm {
namespace {

using namespace gpu;

void check(cudaError_t code, const char *what) {
    if (code != cudaSuccess) {
        (void)cudaGetLastError();
        fail(code == cudaErrorMemoryAllocation ? SK_ERROR_OUT_OF_MEMORY : SK_ERROR_CUDA,
             "hmm: %s failed: %s (%s)", what, cudaGetErrorString(code), cudaGetErrorName(code));
    }
}

void check_launch(const char *kernel) { check(cudaGetLastError(), kernel); }

// ---- host side -----------------------------------------------------------------------------------

// Launches on the context's stream; every launch is checked.
struct CudaLaunch {
    cudaStream_t stream;
    template <class P>
    void operator()(void (*kernel)(P), Grid3 grid, int threads, std::size_t smem, const P &params, const char *name) {
        if (smem > 48 * 1024)
            check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
                  "cudaFuncSetAttribute (shared memory)");
        kernel<<<dim3(grid.x, grid.y, grid.z), threads, smem, stream>>>(params);
        check_launch(name);
    }
};

// The scratch of one op, taken from the context's workspace before the first launch (so an
// out-of-memory error leaves every output untouched) and released in reverse order; the
// validated host lengths are uploaded into it.
template <class T>
class DeviceBuffers {
public:
    DeviceBuffers(sk_context &ctx, const Model<T> &m, const BufferPlan &plan) : ctx_(ctx) {
        buf.lengths = take<index_t>(plan.lengths, "hmm: lengths");
        buf.score = take<double>(plan.score, "hmm: scores");
        buf.p0 = take<T>(plan.p0, "hmm: position-0 weights");
        buf.alpha = take<T>(plan.vectors, "hmm: alpha");
        buf.beta = take<T>(plan.vectors, "hmm: beta");
        buf.alpha_shift = take<T>(plan.shifts, "hmm: alpha shifts");
        buf.beta_shift = take<T>(plan.shifts, "hmm: beta shifts");
        buf.z = take<T>(plan.shifts, "hmm: position normalisers");
        buf.path = take<std::int32_t>(plan.path, "hmm: viterbi path");
        buf.bp = take<std::int32_t>(plan.bp, "hmm: backpointers");
        buf.partials = take<double>(plan.partials, "hmm: transition partials");
        buf.chunks = plan.chunks;
        buf.chunk_steps = plan.chunk_steps;
        // From pageable host memory the copy is staged before the call returns, so the host
        // copy may go away afterwards; the kernels see the lengths in stream order.
        if (plan.lengths > 0)
            check(cudaMemcpyAsync(buf.lengths, m.lengths, sizeof(index_t) * static_cast<std::size_t>(plan.lengths),
                                  cudaMemcpyHostToDevice, static_cast<cudaStream_t>(ctx.stream())),
                  "cudaMemcpyAsync (lengths)");
    }
    ~DeviceBuffers() {
        while (!leases_.empty()) leases_.pop_back();
    }
    Buffers<T> buf;

private:
    template <class U>
    U *take(index_t count, const char *purpose) {
        if (count == 0) return nullptr;
        leases_.push_back(ctx_.workspace().acquire(sizeof(U) * static_cast<std::size_t>(count), purpose));
        return leases_.back().template as<U>();
    }
    sk_context &ctx_;
    std::vector<Workspace::Lease> leases_;
};

}  // namespace

// ---- entry points ----------------------------------------------------------------------------

template <class T>
void forward_cuda(sk_context &ctx, const ForwardArgs<T> &a) {
    DeviceBuffers<T> d(ctx, a.model, plan_buffers(a.model, Op::Forward, false, false));
    CudaLaunch launch{static_cast<cudaStream_t>(ctx.stream())};
    run_forward(launch, a, d.buf);
}

template <class T>
void viterbi_cuda(sk_context &ctx, const ViterbiArgs<T> &a) {
    DeviceBuffers<T> d(ctx, a.model, plan_buffers(a.model, Op::Viterbi, a.path.data != nullptr, false));
    CudaLaunch launch{static_cast<cudaStream_t>(ctx.stream())};
    run_viterbi(launch, a, d.buf);
}

template <class T>
void marginals_cuda(sk_context &ctx, const MarginalsArgs<T> &a) {
    DeviceBuffers<T> d(ctx, a.model, plan_buffers(a.model, Op::Marginals, false, false));
    CudaLaunch launch{static_cast<cudaStream_t>(ctx.stream())};
    run_marginals(launch, a, d.buf);
}

template <class T>
void backward_cuda(sk_context &ctx, const BackwardArgs<T> &a) {
    DeviceBuffers<T> d(ctx, a.model, plan_buffers(a.model, Op::Backward, false, a.grad_transition.data != nullptr));
    CudaLaunch launch{static_cast<cudaStream_t>(ctx.stream())};
    run_backward(launch, a, d.buf);
}

template void forward_cuda<float>(sk_context &, const ForwardArgs<float> &);
template void forward_cuda<double>(sk_context &, const ForwardArgs<double> &);
template void viterbi_cuda<float>(sk_context &, const ViterbiArgs<float> &);
template void viterbi_cuda<double>(sk_context &, const ViterbiArgs<double> &);
template void marginals_cuda<float>(sk_context &, const MarginalsArgs<float> &);
template void marginals_cuda<double>(sk_context &, const MarginalsArgs<double> &);
template void backward_cuda<float>(sk_context &, const BackwardArgs<float> &);
template void backward_cuda<double>(sk_context &, const BackwardArgs<double> &);

}  // namespace sk::hmm
