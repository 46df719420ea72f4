// The HMM CUDA kernels and their launch orchestration (native/src/hmm/hmm_kernels.cuh), compiled
// for the host against an emulation of the CUDA execution model and compared with the CPU
// backend (through the C API). The CUDA threads of a block are fibers (ucontext) scheduled
// round-robin on one host thread; __syncthreads is a barrier over the block's live threads;
// __shfl_xor_sync exchanges through a per-warp buffer between two warp barriers and fails
// loudly when a lane of the warp has ended; a barrier that can never complete is reported as a
// deadlock; dynamic shared memory is one buffer poisoned with NaN bytes before every block.
// Blocks run one after another.
//
// What this checks: indexing, lane/group mapping, the prefetch ring, shuffles and barriers
// (a barrier or shuffle reached by only part of a block deadlocks and is reported after a
// timeout), -inf/NaN handling, the orchestration of every op, and agreement with the CPU
// (bitwise for the max semiring). What it cannot check: timing, memory ordering beyond what
// the barriers give, the fast-math intrinsics, and the CUDA runtime calls of hmm_cuda.cu.
// Unlike the other tests it includes library internals (native/src).
#include <ucontext.h>

#include <cstring>
#include <functional>
#include <memory>

#include "hmm_test_util.h"
#include "semiring/semiring.h"

// ---- the emulated execution model -----------------------------------------------------------------

struct EmuDim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace emu {

EmuDim3 thread_idx, block_idx, block_dim, grid_dim;

[[noreturn]] void die(const char *what) {
    std::fprintf(stderr, "emulation error: %s\n", what);
    std::abort();
}

// The CUDA threads of one block are fibers on the calling host thread, run round-robin by a
// scheduler; a fiber runs until it waits at a barrier (or ends). `progress` counts arrivals,
// releases and ends: a full round without progress means some barrier can never be reached by
// all the threads it waits for (a divergent __syncthreads or shuffle), reported as an error.
struct Fiber {
    ucontext_t context;
    std::unique_ptr<char[]> stack;
    unsigned index = 0;
    bool done = false;
};

ucontext_t scheduler;
Fiber *running = nullptr;
std::uint64_t progress = 0;

inline void yield() { swapcontext(&running->context, &scheduler); }

// A reusable barrier over a shrinking set of participants (threads that end leave it).
class Barrier {
public:
    void reset(int count) {
        count_ = count;
        waiting_ = 0;
    }
    int count() const { return count_; }
    void arrive_and_wait() {
        const std::uint64_t generation = generation_;
        ++progress;
        if (++waiting_ == count_) {
            release();
            return;
        }
        while (generation_ == generation) yield();
    }
    void leave() {
        --count_;
        if (waiting_ > 0 && waiting_ == count_) release();
    }

private:
    void release() {
        waiting_ = 0;
        ++generation_;
        ++progress;
    }
    int count_ = 0, waiting_ = 0;
    std::uint64_t generation_ = 0;
};

struct Warp {
    Barrier barrier;
    int size = 32;
    unsigned char slots[32][8];
};

struct Block {
    Barrier barrier;
    std::vector<Warp> warps;
};
Block *current = nullptr;

constexpr std::size_t kFiberStack = 256 * 1024;
std::function<void()> *body = nullptr;

void trampoline() {
    (*body)();
    current->warps[running->index / 32].barrier.leave();
    current->barrier.leave();
    running->done = true;
    ++progress;
    swapcontext(&running->context, &scheduler);
}

// Runs one block of `threads` fibers to completion.
void run_block(std::vector<Fiber> &fibers, int threads, std::function<void()> &kernel_call) {
    Block block;
    block.barrier.reset(threads);
    block.warps.resize(static_cast<size_t>(threads / 32));
    for (auto &w : block.warps) w.barrier.reset(32);
    current = &block;
    body = &kernel_call;
    for (int t = 0; t < threads; ++t) {
        Fiber &f = fibers[static_cast<size_t>(t)];
        f.done = false;
        f.index = static_cast<unsigned>(t);
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack.get();
        f.context.uc_stack.ss_size = kFiberStack;
        f.context.uc_link = nullptr;
        makecontext(&f.context, trampoline, 0);
    }
    for (int live = threads; live > 0;) {
        const std::uint64_t before = progress;
        live = 0;
        for (int t = 0; t < threads; ++t) {
            Fiber &f = fibers[static_cast<size_t>(t)];
            if (f.done) continue;
            running = &f;
            thread_idx = {f.index, 0, 0};
            swapcontext(&scheduler, &f.context);
            if (!f.done) ++live;
        }
        if (live > 0 && progress == before) die("deadlock: a __syncthreads or shuffle is not reached by every live thread");
    }
    running = nullptr;
    current = nullptr;
}

}  // namespace emu

#define threadIdx emu::thread_idx
#define blockIdx emu::block_idx
#define blockDim emu::block_dim
#define gridDim emu::grid_dim
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__

inline void __syncthreads() { emu::current->barrier.arrive_and_wait(); }

template <class V>
V __shfl_xor_sync(unsigned mask, V v, int offset) {
    static_assert(sizeof(V) <= 8, "shuffle of more than 8 bytes");
    if (mask != 0xffffffffu) emu::die("partial shuffle mask");
    emu::Warp &w = emu::current->warps[threadIdx.x / 32];
    if (w.barrier.count() != w.size) emu::die("shuffle after a lane of the warp ended");
    const unsigned lane = threadIdx.x & 31;
    std::memcpy(w.slots[lane], &v, sizeof(V));
    w.barrier.arrive_and_wait();
    V out;
    std::memcpy(&out, w.slots[lane ^ static_cast<unsigned>(offset)], sizeof(V));
    w.barrier.arrive_and_wait();
    return out;
}

template <class A>
A min(A a, A b) {
    return b < a ? b : a;
}

namespace sk::hmm::gpu {
alignas(16) unsigned char smem_raw[1 << 20];
}

#include "hmm/hmm_kernels.cuh"

namespace {

using namespace sktest;
using sk::index_t;
namespace hmm = sk::hmm;
namespace gpu = sk::hmm::gpu;

struct EmuLaunch {
    template <class P>
    void operator()(void (*kernel)(P), gpu::Grid3 grid, int threads, std::size_t smem, const P &params, const char *) {
        if (smem > sizeof(gpu::smem_raw)) emu::die("shared memory request too large");
        if (threads % 32 != 0 || threads > 1024) emu::die("bad block size");
        if (smem > 227 * 1024) emu::die("more shared memory than an H100 block can have");
        emu::grid_dim = {grid.x, grid.y, grid.z};
        emu::block_dim = {static_cast<unsigned>(threads), 1, 1};
        std::vector<emu::Fiber> fibers(static_cast<size_t>(threads));
        for (auto &f : fibers) f.stack.reset(new char[emu::kFiberStack]);
        std::function<void()> call = [&] { kernel(params); };
        for (unsigned z = 0; z < grid.z; ++z)
            for (unsigned y = 0; y < grid.y; ++y)
                for (unsigned x = 0; x < grid.x; ++x) {
                    std::memset(gpu::smem_raw, 0xFF, smem);  // NaN bytes: stale reads show up
                    emu::block_idx = {x, y, z};
                    emu::run_block(fibers, threads, call);
                }
    }
};

// The model of a case's tensors, as capi_hmm.cpp builds it.
template <class T>
hmm::Model<T> model_of(HmmCase &c, HmmTensors<T> &x, int32_t semiring, const std::vector<index_t> &lengths) {
    hmm::Model<T> m;
    m.form = c.form == HmmForm::Edge ? hmm::Form::Edge : hmm::Form::Factored;
    m.semiring = semiring == SK_SEMIRING_LOG ? sk::Semiring::Log : sk::Semiring::Max;
    m.convention = static_cast<hmm::InitialConvention>(c.convention);
    m.shape = {c.B, c.T, c.N};
    m.lengths = lengths.data();
    auto v2 = [](sk_tensor &t) {
        return t.rank == 1 ? hmm::View2<const T>{static_cast<const T *>(t.data), 0, t.strides[0]}
                           : hmm::View2<const T>{static_cast<const T *>(t.data), t.strides[0], t.strides[1]};
    };
    if (c.form == HmmForm::Edge) {
        auto &p = x.potentials.desc;
        m.potentials = {static_cast<const T *>(p.data), p.strides[0], p.strides[1], p.strides[2], p.strides[3]};
    } else {
        auto &tr = x.transition.desc;
        auto &e = x.emission.desc;
        m.transition_shared = tr.rank == 2;
        m.transition = m.transition_shared
                           ? sk::View3<const T>{static_cast<const T *>(tr.data), 0, tr.strides[0], tr.strides[1]}
                           : sk::View3<const T>{static_cast<const T *>(tr.data), tr.strides[0], tr.strides[1], tr.strides[2]};
        m.emission = {static_cast<const T *>(e.data), e.strides[0], e.strides[1], e.strides[2]};
    }
    if (c.uses_initial()) {
        m.initial_shared = x.initial.desc.rank == 1;
        m.initial = v2(x.initial.desc);
    }
    return m;
}

// Host memory for the buffers of an op's plan.
template <class T>
struct HostBuffers {
    std::vector<index_t> lengths;
    std::vector<double> score, partials;
    std::vector<T> p0, alpha, beta, alpha_shift, beta_shift, z;
    std::vector<std::int32_t> path, bp;
    gpu::Buffers<T> buf;
    HostBuffers(const gpu::BufferPlan &plan, const std::vector<index_t> &host_lengths) {
        auto poison = [](auto &v, index_t n, auto value) { v.assign(static_cast<size_t>(n), value); };
        const T nan = std::numeric_limits<T>::quiet_NaN();
        lengths = host_lengths;
        poison(score, plan.score, std::nan(""));
        poison(partials, plan.partials, std::nan(""));
        poison(p0, plan.p0, nan);
        poison(alpha, plan.vectors, nan);
        poison(beta, plan.vectors, nan);
        poison(alpha_shift, plan.shifts, nan);
        poison(beta_shift, plan.shifts, nan);
        poison(z, plan.shifts, nan);
        poison(path, plan.path, -12345);
        poison(bp, plan.bp, -12345);
        auto ptr = [](auto &v) { return v.empty() ? nullptr : v.data(); };
        buf.lengths = ptr(lengths);
        buf.score = ptr(score);
        buf.partials = ptr(partials);
        buf.p0 = ptr(p0);
        buf.alpha = ptr(alpha);
        buf.beta = ptr(beta);
        buf.alpha_shift = ptr(alpha_shift);
        buf.beta_shift = ptr(beta_shift);
        buf.z = ptr(z);
        buf.path = ptr(path);
        buf.bp = ptr(bp);
        buf.chunks = plan.chunks;
        buf.chunk_steps = plan.chunk_steps;
    }
};

template <class T>
hmm::View1<T> view1(HostTensor<T> &t) {
    return {t.storage.data(), t.desc.strides[0]};
}

template <class T>
void check_case(sk_context *cpu, HmmCase &c, HmmLayout layout, const std::string &label) {
    HmmTensors<T> x = make_tensors<T>(c, layout);
    std::vector<index_t> lengths(c.lengths.begin(), c.lengths.end());
    const double tol = std::is_same_v<T, float> ? 3e-5 : 1e-11;
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        const bool log = semiring == SK_SEMIRING_LOG;
        const double t = log ? tol : 0.0;  // the max semiring is bitwise identical
        const std::string l = label + (log ? " log" : " max");
        hmm::Model<T> m = model_of(c, x, semiring, lengths);
        // forward
        {
            std::vector<T> want;
            CHECK_OK(hmm_forward(cpu, c, x, semiring, want));
            HostTensor<T> out({c.B}, T(-999));
            HostBuffers<T> hb(gpu::plan_buffers(m, gpu::Op::Forward, false, false), lengths);
            EmuLaunch launch;
            gpu::run_forward(launch, hmm::ForwardArgs<T>{m, view1(out)}, hb.buf);
            compare_results(dense(out), want, t, l + " forward");
        }
        // marginals (with the log-partition)
        {
            std::vector<T> want, want_lp;
            CHECK_OK(hmm_marginals(cpu, c, x, semiring, want, want_lp));
            HostTensor<T> marg = layout_tensor<T>({c.B, c.T, c.N}, layout), lp({c.B}, T(-999));
            HostBuffers<T> hb(gpu::plan_buffers(m, gpu::Op::Marginals, false, false), lengths);
            EmuLaunch launch;
            hmm::MarginalsArgs<T> a{m, {}, view1(lp)};
            const auto &d = marg.desc;
            a.marginals = {marg.storage.data(), d.strides[0], d.strides[1], d.strides[2]};
            gpu::run_marginals(launch, a, hb.buf);
            compare_results(dense(marg), want, t, l + " marginals");
            compare_results(dense(lp), want_lp, t, l + " marginals' log_partition");
        }
        // viterbi (max only)
        if (!log) {
            std::vector<T> want_score;
            std::vector<int32_t> want_path;
            CHECK_OK(hmm_viterbi(cpu, c, x, want_score, want_path));
            HostTensor<T> score({c.B}, T(-999));
            HostTensor<int32_t> path({c.B, c.T}, -999);
            HostBuffers<T> hb(gpu::plan_buffers(m, gpu::Op::Viterbi, true, false), lengths);
            EmuLaunch launch;
            hmm::ViterbiArgs<T> a{m, view1(score), {path.storage.data(), path.desc.strides[0], path.desc.strides[1]}};
            gpu::run_viterbi(launch, a, hb.buf);
            compare_results(dense(score), want_score, 0, l + " viterbi score");
            CHECK_MSG(path.storage == want_path, l << " viterbi path differs");
        }
        // backward
        {
            std::mt19937_64 rng(5);
            std::vector<double> g(static_cast<size_t>(c.B));
            for (auto &v : g) v = std::uniform_real_distribution<double>(-2, 2)(rng);
            HmmGrads<T> want;
            CHECK_OK(hmm_backward(cpu, c, x, semiring, g, want, layout));
            HostTensor<T> up({c.B});
            for (int64_t b = 0; b < c.B; ++b) up.storage[static_cast<size_t>(b)] = static_cast<T>(g[static_cast<size_t>(b)]);
            auto like = [&](HostTensor<T> &in) {
                std::vector<int64_t> shape(in.desc.shape, in.desc.shape + in.desc.rank);
                return layout_tensor<T>(shape, layout);
            };
            hmm::BackwardArgs<T> a;
            a.model = m;
            a.grad = {up.storage.data(), 1};
            HostTensor<T> gp, gi, gt, ge;
            if (c.form == HmmForm::Edge) {
                gp = like(x.potentials);
                const auto &d = gp.desc;
                a.grad_potentials = {gp.storage.data(), d.strides[0], d.strides[1], d.strides[2], d.strides[3]};
            } else {
                gt = like(x.transition);
                ge = like(x.emission);
                const auto &dt = gt.desc;
                a.grad_transition = dt.rank == 2 ? sk::View3<T>{gt.storage.data(), 0, dt.strides[0], dt.strides[1]}
                                                 : sk::View3<T>{gt.storage.data(), dt.strides[0], dt.strides[1], dt.strides[2]};
                a.grad_emission = {ge.storage.data(), ge.desc.strides[0], ge.desc.strides[1], ge.desc.strides[2]};
            }
            if (c.uses_initial()) {
                gi = like(x.initial);
                const auto &d = gi.desc;
                a.grad_initial = d.rank == 1 ? hmm::View2<T>{gi.storage.data(), 0, d.strides[0]}
                                             : hmm::View2<T>{gi.storage.data(), d.strides[0], d.strides[1]};
            }
            HostBuffers<T> hb(gpu::plan_buffers(m, gpu::Op::Backward, false, a.grad_transition.data != nullptr), lengths);
            EmuLaunch launch;
            gpu::run_backward(launch, a, hb.buf);
            const double gt_tol = log ? 4 * tol : 1e-12;  // MAX transition counts: float64 sums in another order
            if (c.form == HmmForm::Edge) compare_results(dense(gp), want.potentials, t, l + " grad_potentials");
            if (c.uses_initial()) compare_results(dense(gi), want.initial, log ? t : 1e-12, l + " grad_initial");
            if (c.form == HmmForm::Factored) {
                compare_results(dense(gt), want.transition, gt_tol, l + " grad_transition");
                compare_results(dense(ge), want.emission, t, l + " grad_emission");
            }
        }
    }
}

}  // namespace

// Every kernel path (see kernel_path_shapes in hmm_test_util.h).
TEST(kernels_match_the_cpu_backend) {
    Context cpu;
    std::mt19937_64 rng(71);
    for (const KernelShape &s : kernel_path_shapes()) {
        HmmCase c = s.make(rng);
        check_case<float>(cpu, c, s.layout, s.label() + " f32");
        if (s.N <= 64) check_case<double>(cpu, c, s.layout, s.label() + " f64");
    }
}

// -inf (an infeasible sequence, forbidden transitions), NaN in one sequence, NaN in the padding,
// and integer scores full of MAX ties.
TEST(kernels_handle_inf_nan_and_ties_like_the_cpu) {
    Context cpu;
    std::mt19937_64 rng(73);
    for (HmmForm form : {HmmForm::Edge, HmmForm::Factored}) {
        const std::string name = form == HmmForm::Edge ? "edge" : "factored";
        HmmCase c = inf_nan_case(form, rng);
        check_case<float>(cpu, c, HmmLayout::Contiguous, name + " inf/nan");
        HmmCase ties = random_case(form, 3, 6, 4, {6, 5, 2}, rng, -1, 1);
        make_integer_scores(ties);
        check_case<float>(cpu, ties, HmmLayout::Contiguous, name + " ties");
        check_case<double>(cpu, ties, HmmLayout::Contiguous, name + " ties f64");
    }
}

// B = 0 and a long single sequence (the prefetch ring over many steps, odd length).
TEST(kernels_empty_batch_and_a_longer_sequence) {
    Context cpu;
    std::mt19937_64 rng(79);
    HmmCase empty;
    empty.form = HmmForm::Factored;
    empty.B = 0;
    empty.T = 3;
    empty.N = 4;
    empty.initial.assign(4, 0.0);
    empty.transition.assign(16, 0.0);
    check_case<float>(cpu, empty, HmmLayout::Contiguous, "empty batch");
    HmmCase lng = random_case(HmmForm::Edge, 2, 41, 6, {41, 40}, rng);
    check_case<float>(cpu, lng, HmmLayout::Contiguous, "T=41");
}

TEST_MAIN()
