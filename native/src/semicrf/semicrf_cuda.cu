// CUDA backend of the semi-CRF family: one thread block per sequence runs the shared
// per-sequence algorithm of semicrf.h with the block's threads as lanes over the labels
// (__syncthreads between phases), then one thread per entry sums the shared-parameter
// gradients over the batch in batch order. Scratch for the whole batch comes from the
// context's workspace, taken before the first launch (an out-of-memory error leaves every
// output untouched); the validated host index arrays (lengths, gold annotations) are uploaded
// into it. The forward-only ops keep their K-slot ring and current vector in shared memory
// when they fit. No float atomics anywhere: results are deterministic.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/context.h"
#include "core/cuda_check.h"
#include "core/error.h"
#include "semicrf/semicrf.h"

namespace sk::semicrf {
namespace {

constexpr int kMaxThreads = 256;
// Shared memory the on-chip ring may use (the default limit without opting in is 48 KiB).
constexpr std::size_t kRingSharedLimit = 48 * 1024;

template <class T>
__global__ void __launch_bounds__(kMaxThreads)
    sequence_kernel(Request<T> req, Layout layout, double *doubles, std::int32_t *ints, index_t *indices,
                    bool ring_on_chip) {
    extern __shared__ double on_chip[];
    const index_t b = blockIdx.x;
    Seq q = bind_seq(layout, b, req.model.lengths[b], doubles + b * layout.doubles,
                     ints ? ints + b * layout.ints : nullptr, indices ? indices + b * layout.indices : nullptr);
    if (ring_on_chip) {
        q.hist = on_chip;
        q.cur = on_chip + layout.hist_len * req.model.shape.labels;
        q.alpha = q.hist;
    }
    process_sequence(req, q, Lanes{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)});
}

template <class T>
__global__ void shared_gradient_kernel(Request<T> req, SliceLayout slices, const double *doubles, int which,
                                       index_t n) {
    const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) reduce_shared_entry(req, slices, doubles, which, i);
}

// Workspace leases of one op, released in reverse order.
class Scratch {
public:
    explicit Scratch(sk_context &ctx) : ctx_(ctx) {}
    ~Scratch() {
        while (!leases_.empty()) leases_.pop_back();
    }
    template <class U>
    U *take(index_t count, const char *purpose) {
        if (count <= 0) return nullptr;
        leases_.push_back(ctx_.workspace().acquire(sizeof(U) * static_cast<std::size_t>(count), purpose));
        return leases_.back().template as<U>();
    }
    // Uploads host data (staged before return for pageable memory, ordered on the stream).
    template <class U>
    U *upload(const U *host, index_t count, const char *purpose) {
        U *dev = take<U>(count, purpose);
        if (dev)
            SK_CUDA_CHECK(cudaMemcpyAsync(dev, host, sizeof(U) * static_cast<std::size_t>(count),
                                          cudaMemcpyHostToDevice, static_cast<cudaStream_t>(ctx_.stream())));
        return dev;
    }

private:
    sk_context &ctx_;
    std::vector<Workspace::Lease> leases_;
};

}  // namespace

template <class T>
void run_cuda(sk_context &ctx, const Request<T> &host_req) {
    const Model<T> &m = host_req.model;
    const Shape &s = m.shape;
    const Needs needs = needs_of(host_req.op, m.semiring, host_req.gold.labels != nullptr);
    const Layout layout = layout_of(s, m.duration_transitions, needs);
    const cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream());

    // On-chip ring for the ops that keep only the ring (forward, gold scores).
    const std::size_t ring_bytes = sizeof(double) * static_cast<std::size_t>((layout.hist_len + 1) * s.labels);
    const bool ring_on_chip = !needs.full_history && !needs.backpointers && ring_bytes <= kRingSharedLimit;

    Scratch scratch(ctx);
    double *doubles = scratch.take<double>(s.batch * layout.doubles, "semicrf: per-sequence float64 scratch");
    std::int32_t *ints = scratch.take<std::int32_t>(s.batch * layout.ints, "semicrf: back-pointers");
    index_t *indices = scratch.take<index_t>(s.batch * layout.indices, "semicrf: decoded segments");
    Request<T> req = host_req;
    req.model.lengths = scratch.upload(m.lengths, s.batch, "semicrf: lengths");
    const Gold &g = host_req.gold;
    if (g.segments) {
        req.gold.segments = scratch.upload(g.segments, s.batch * g.capacity * 3, "semicrf: gold segments");
        req.gold.counts = scratch.upload(g.counts, s.batch, "semicrf: gold segment counts");
    }
    if (g.labels) {
        req.gold.labels = scratch.upload(g.labels, s.batch * s.steps, "semicrf: gold labels");
        req.gold.runs = scratch.upload(g.runs, s.batch * s.steps, "semicrf: gold label runs");
    }

    if (s.batch > 0) {
        const int threads = static_cast<int>(std::min<index_t>(kMaxThreads, ((s.labels + 31) / 32) * 32));
        sequence_kernel<T><<<static_cast<unsigned>(s.batch), threads, ring_on_chip ? ring_bytes : 0, stream>>>(
            req, layout, doubles, ints, indices, ring_on_chip);
        SK_CUDA_CHECK_LAUNCH("semicrf: sequence kernel");
    }
    SliceLayout slices;
    slices.dur = layout.g_dur;
    slices.trans = layout.g_trans;
    slices.start = layout.starts;
    slices.stride = layout.doubles;
    for (int which = 0; which < 3; ++which) {
        const index_t n = shared_entries(host_req, which);
        if (n == 0) continue;
        const int threads = 256;
        const unsigned blocks = static_cast<unsigned>((n + threads - 1) / threads);
        shared_gradient_kernel<T><<<blocks, threads, 0, stream>>>(req, slices, doubles, which, n);
        SK_CUDA_CHECK_LAUNCH("semicrf: shared gradient kernel");
    }
}

template void run_cuda<float>(sk_context &, const Request<float> &);
template void run_cuda<double>(sk_context &, const Request<double> &);

}  // namespace sk::semicrf
