// CUDA backend of the CTC family. The design, the bytes/ops bounds and what each kernel keeps
// where are in NOTES.md beside this file; in short:
//
//  chain_kernel   one block per (sequence, direction). The 2L+1 extended states are spread over
//                 the threads, K consecutive states per thread in registers; per frame a thread
//                 gathers its K log-probabilities (prefetched one frame ahead into registers and
//                 kPrefetchFrames ahead into L2), updates its states with one logsumexp (or max)
//                 each, and exchanges its two top states with the next thread through a
//                 double-buffered shared array: one __syncthreads per frame. The backward
//                 (beta) recursion is the same kernel on the reversed problem (ctc.h), so alpha
//                 and beta of a sequence run concurrently in two blocks. The states accumulate
//                 and are stored in float64 for every input dtype (see chain_kernel for why).
//                 float32 Loss/Store chains run mixed_chain_kernel: the same recursion in
//                 base-2 units with a shorter per-frame instruction stream (even K, blank and
//                 label states handled apart, one state exchanged, by a shuffle when the block
//                 is one warp); float64 and Viterbi run chain_kernel. Geometry: NOTES.md.
//                 Modes: Loss (alpha only, nothing stored), Store (alpha_t(s) and beta_t(s) of
//                 every frame written to workspace for the frame kernel), Viterbi (max instead
//                 of logsumexp, a 1-byte backpointer per (frame, state) stored).
//  frame_kernel   one warp per frame (32 frames per block): reads alpha_t and beta_t, normalises
//                 the posteriors of the frame (max and sums by warp butterflies: deterministic),
//                 and writes the gradient row (every class, then, after __syncwarp, the classes
//                 carried by target labels, each summed over its positions in increasing order)
//                 or the posterior row. No atomics anywhere.
//  row_normaliser_kernel  logsumexp over classes of every valid frame (fused log-softmax).
//  viterbi_finish_kernel  backtrace of one sequence by one thread, fills path, spans, scores.
//  finalize_loss_kernel   per-sequence losses or the reduction (fixed-order tree, float64).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/context.h"
#include "core/device.h"
#include "core/error.h"
#include "core/workspace.h"
#include "ctc/ctc.h"

namespace sk::ctc {
namespace {

constexpr int kMaxChainThreads = 512;   // kCudaMaxStates / 32 states per thread
// Threads per chain block the geometry aims at (NOTES.md, "Chain geometry": 256 measured best of
// 32 / 128 / 256 on an H100, s7 call 8); a compile-time macro so that it can be swept:
// -DSK_CTC_CHAIN_TARGET_THREADS=64 etc.
#ifndef SK_CTC_CHAIN_TARGET_THREADS
#define SK_CTC_CHAIN_TARGET_THREADS 256
#endif
constexpr int kChainTargetThreads = SK_CTC_CHAIN_TARGET_THREADS;
static_assert(kChainTargetThreads >= 32 && kChainTargetThreads <= kMaxChainThreads,
              "SK_CTC_CHAIN_TARGET_THREADS: 32 to 512");
constexpr int kFrameWarps = 8;
constexpr int kFramesPerBlock = 32;
constexpr int kPrefetchFrames = 8;
constexpr int kNormaliserWarps = 8;
constexpr unsigned kFullMask = 0xffffffffu;
static_assert(kCudaMaxStates <= 32 * kMaxChainThreads, "chain geometry");

void check_cuda(cudaError_t code, const char *what) {
    if (code != cudaSuccess) {
        (void)cudaGetLastError();
        fail(code == cudaErrorMemoryAllocation ? SK_ERROR_OUT_OF_MEMORY : SK_ERROR_CUDA, "%s failed: %s (%s)",
             what, cudaGetErrorString(code), cudaGetErrorName(code));
    }
}
void check_launch(const char *kernel) { check_cuda(cudaGetLastError(), kernel); }

// One sequence as the kernels see it.
struct SeqInfo {
    std::int64_t frames;        // input length
    std::int64_t label_offset;  // into the labels / next_same / first tables
    std::int64_t store_offset;  // element offset of its frames x states block in its group's stores
    std::int32_t length;        // L
    std::int32_t states;        // 2L + 1
    std::int32_t feasible;
    std::int32_t reserved;
};

enum class ChainMode : int { Loss = 0, Store = 1, Viterbi = 2 };

template <class T>
struct ChainParams {
    View3<const T> input;           // (t, b, c)
    const T *shift;                 // (B, T) logits normalisers, or nullptr
    index_t frames_total;           // T
    const SeqInfo *seqs;
    const std::int32_t *labels;
    index_t first_seq;
    double *alpha;                  // Store: alpha_t(s)
    double *beta;                   // Store: beta_t(s) (emission at t excluded)
    std::uint8_t *backpointer;      // Viterbi: 0, 1 or 2 states back
    double *log_z;                  // (B): Loss, Store
    std::int32_t *final_state;      // (B): Viterbi, -1 without an alignment
    std::int32_t blank;
};

template <class T>
__device__ __forceinline__ const T *emission_ptr(const ChainParams<T> &p, index_t t, index_t b, std::int32_t c) {
    return &p.input(t, b, c);
}

template <class T>
__device__ __forceinline__ T emission(const ChainParams<T> &p, index_t t, index_t b, std::int32_t c) {
    T v = __ldg(emission_ptr(p, t, b, c));
    if (p.shift) v -= __ldg(p.shift + b * p.frames_total + t);
    return v;
}

__device__ __forceinline__ void prefetch_l2(const void *ptr) {
    asm volatile("prefetch.L2 [%0];" ::"l"(ptr));
}

template <class T, int K, ChainMode Mode>
__global__ void __launch_bounds__(kMaxChainThreads) chain_kernel(ChainParams<T> p) {
    // The recursion accumulates, and the Store mode stores, in float64 for every input dtype,
    // like the CPU path. Why not float32: a posterior is exp(alpha_t(s) + beta_t(s) - M_t), and
    // the states that carry the posterior mass of frame t can lie thousands of nats below the
    // maximum of alpha_t (a state far ahead of the alignment) and of beta_t. Whatever the
    // renormalisation, alpha and beta are each normalised on their own, so float32 keeps these
    // values to ~ulp(4096) = 5e-4 nats: measured on an H100, 2e-4 absolute gradient errors at
    // T = 10^5, L = 300 (and float32 accumulation adds a random walk of the same order). In
    // float64 the same rounding is ~1e-12 and no renormalisation is needed. For float32 inputs
    // the step's correction terms run in float32 (MixedMath, ctc.h): ~1e-7 nats per step.
    using Acc = double;
    using StepMath = typename std::conditional<std::is_same<T, float>::value, MixedMath, StdMath>::type;
    __shared__ Acc edge[2][kMaxChainThreads][2];  // top two states of every thread, per frame parity
    __shared__ Acc final_values[2];                // states S-2, S-1 after the last frame

    const index_t b = p.first_seq + blockIdx.x;
    const SeqInfo q = p.seqs[b];
    const bool reverse = blockIdx.y == 1;
    const int tid = threadIdx.x;
    if (!q.feasible) {
        if (tid == 0 && !reverse) {
            if constexpr (Mode == ChainMode::Viterbi)
                p.final_state[b] = -1;
            else
                p.log_z[b] = neg_inf<double>();
        }
        return;
    }
    const index_t S = q.states, frames = q.frames;
    const std::int32_t *labels = p.labels + q.label_offset;
    const index_t r0 = index_t(tid) * K;

    // Per-state registers: the class of each of the K states, skip / active flags as bit masks.
    // The log-probabilities of the next frame are loaded one frame ahead into registers when
    // K <= 8 (more would cost spills); every state's next kPrefetchFrames-th frame is
    // prefetched into L2 either way.
    constexpr bool kRegisterPrefetch = K <= 8;
    std::int32_t lab[K];
    std::uint32_t skip_bits = 0, active_bits = 0;
    Acc a[K], e[K], e_next[kRegisterPrefetch ? K : 1];
#pragma unroll
    for (int k = 0; k < K; ++k) {
        const index_t r = r0 + k;
        const bool active = r < S;
        lab[k] = active ? state_label(labels, p.blank, chain_state(r, S, reverse)) : p.blank;
        if (active) active_bits |= 1u << k;
        if (active && chain_skip(labels, r, S, reverse)) skip_bits |= 1u << k;
        a[k] = r == 0 ? Acc(0) : neg_inf<Acc>();  // alpha_{-1} = e_0
    }
    if (tid == 0) final_values[0] = final_values[1] = neg_inf<Acc>();
    edge[0][tid][0] = a[K >= 2 ? K - 2 : 0];
    edge[0][tid][1] = a[K - 1];

    const auto frame_of = [&](index_t tau) { return reverse ? frames - 1 - tau : tau; };
    const auto load = [&](index_t tau, Acc *dst) {
        const index_t t = frame_of(tau);
#pragma unroll
        for (int k = 0; k < K; ++k) dst[k] = ((active_bits >> k) & 1u) ? emission(p, t, b, lab[k]) : Acc(0);
    };
    if constexpr (kRegisterPrefetch)
        if (frames > 0) load(0, e_next);
    __syncthreads();

    for (index_t tau = 0; tau < frames; ++tau) {
        const int cur = static_cast<int>(tau & 1);
        const index_t t = frame_of(tau);
        if constexpr (kRegisterPrefetch) {
#pragma unroll
            for (int k = 0; k < K; ++k) e[k] = e_next[k];
            if (tau + 1 < frames) load(tau + 1, e_next);
        } else {
            load(tau, e);
        }
        if (tau + kPrefetchFrames < frames) {
            const index_t ahead = frame_of(tau + kPrefetchFrames);
#pragma unroll
            for (int k = 0; k < K; ++k)
                if ((active_bits >> k) & 1u) prefetch_l2(emission_ptr(p, ahead, b, lab[k]));
        }
        // States r0-1 and r0-2 at the previous frame, from the thread(s) below.
        const Acc n1 = tid >= 1 ? edge[cur][tid - 1][1] : neg_inf<Acc>();
        const Acc n2 = K >= 2 ? (tid >= 1 ? edge[cur][tid - 1][0] : neg_inf<Acc>())
                              : (tid >= 2 ? edge[cur][tid - 2][1] : neg_inf<Acc>());
#pragma unroll
        for (int k = K - 1; k >= 0; --k) {  // descending: a[k-1], a[k-2] still hold frame t-1
            const Acc stay = a[k];
            const Acc advance = k >= 1 ? a[k >= 1 ? k - 1 : 0] : n1;
            const Acc two_back = k >= 2 ? a[k >= 2 ? k - 2 : 0] : (k == 1 ? n1 : n2);
            const bool active = (active_bits >> k) & 1u;
            const Acc from_skip = ((skip_bits >> k) & 1u) ? two_back : neg_inf<Acc>();
            Acc combined;
            if constexpr (Mode == ChainMode::Viterbi) {
                const int which = viterbi_pick(stay, advance, from_skip, &combined);
                if (active) p.backpointer[q.store_offset + t * S + r0 + k] = static_cast<std::uint8_t>(which);
            } else {
                combined = log_sum_exp3<Acc, StepMath>(stay, advance, from_skip);
            }
            const Acc value = e[k] + combined;
            if (active) {
                if constexpr (Mode == ChainMode::Store) {
                    const index_t s = chain_state(r0 + k, S, reverse);
                    if (reverse)
                        p.beta[q.store_offset + t * S + s] = combined;
                    else
                        p.alpha[q.store_offset + t * S + s] = value;
                }
                a[k] = value;
            }
        }
        edge[cur ^ 1][tid][0] = a[K >= 2 ? K - 2 : 0];
        edge[cur ^ 1][tid][1] = a[K - 1];
        __syncthreads();
    }

    if (reverse) return;
#pragma unroll
    for (int k = 0; k < K; ++k) {
        const index_t r = r0 + k;
        if (r == S - 1) final_values[1] = a[k];
        if (r == S - 2) final_values[0] = a[k];
    }
    __syncthreads();
    if (tid != 0) return;
    if constexpr (Mode == ChainMode::Viterbi) {
        Acc best;
        const index_t s = viterbi_final_state(final_values[0], final_values[1], S, &best);
        p.final_state[b] = best == neg_inf<Acc>() ? -1 : static_cast<std::int32_t>(s);
    } else {
        const Acc last = S == 1 ? final_values[1] : log_add_exp(final_values[1], final_values[0]);
        p.log_z[b] = static_cast<double>(last);
    }
}

// The float32 chain for the Loss and Store modes (the benchmarked path): the same recursion as
// chain_kernel, with the per-frame work cut to what the recursion needs (NOTES.md has the
// instruction counts):
//  - K is even and r0 = tid * K, so state k of a thread is a blank for even k and a label for
//    odd k, in both directions (S is odd). The K/2 + 1 blank states share one emission (one load
//    per frame); only label states take the skip candidate (mixed_log2_sum3), blanks take
//    mixed_log2_sum2 (one exponential instead of two).
//  - States are float64 base-2 logarithms (ctc.h): ex2 / lg2 without scaling, the emission enters
//    by one fma with log2(e); stores and log Z are converted back to natural logarithms.
//  - Addresses: one frame-row pointer per thread advanced by a per-frame stride (the direction is
//    in the stride's sign), 32-bit class offsets decoded once; the store row likewise, with the
//    state index in the instruction's immediate offset. The thread below's top state (the only
//    one needed: see mixed_chain_frame) is read from a slot that holds -inf for thread 0.
//  - States beyond S (the last thread's tail) are updated like the others (their class is the
//    blank, so every load is valid); they only feed states above them and are never stored.
template <int K, ChainMode Mode, bool OneWarp>
__global__ void __launch_bounds__(OneWarp ? 32 : kMaxChainThreads) mixed_chain_kernel(ChainParams<float> p) {
    static_assert(K % 2 == 0 && Mode != ChainMode::Viterbi, "mixed chain geometry");
    constexpr int H = K / 2;  // label states per thread: k = 2j + 1
    // edge[parity][i + 1] = state i*K + K-1 of thread i (the only state thread i + 1 reads, see
    // mixed_chain_frame); edge[.][0] = -inf, the state below the chain.
    __shared__ double edge[2][kMaxChainThreads + 1];
    __shared__ double final_values[2];

    const index_t b = p.first_seq + blockIdx.x;
    const SeqInfo q = p.seqs[b];
    const bool reverse = blockIdx.y == 1;
    const int tid = threadIdx.x;
    if (!q.feasible) {
        if (tid == 0 && !reverse) p.log_z[b] = neg_inf<double>();
        return;
    }
    const index_t S = q.states, frames = q.frames;
    const std::int32_t *labels = p.labels + q.label_offset;
    const index_t r0 = index_t(tid) * K;

    // Class offsets (elements within a frame row) of the label states, skip flags as a bit mask.
    std::int32_t label_offset[H];
    const std::uint32_t skip_bits = mixed_label_states<K>(labels, p.blank, S, reverse, r0, label_offset);
#pragma unroll
    for (int j = 0; j < H; ++j) label_offset[j] = static_cast<std::int32_t>(label_offset[j] * p.input.stride_j);
    const std::int32_t blank_offset = static_cast<std::int32_t>(p.blank * p.input.stride_j);
    // Frame rows in chain order: row(tau) = row0 + tau * row_step.
    const index_t first_frame = reverse ? frames - 1 : 0;
    const float *row = p.input.data + first_frame * p.input.stride_b + b * p.input.stride_i;
    const index_t row_step = reverse ? -p.input.stride_b : p.input.stride_b;
    const bool has_shift = p.shift != nullptr;
    const float *shift = has_shift ? p.shift + b * p.frames_total + first_frame : nullptr;
    const index_t shift_step = has_shift ? (reverse ? -1 : 1) : 0;

    double a[K];
#pragma unroll
    for (int k = 0; k < K; ++k) a[k] = r0 + k == 0 ? 0.0 : neg_inf<double>();  // alpha_{-1} = e_0
    if (tid == 0) {
        edge[0][0] = edge[1][0] = neg_inf<double>();
        final_values[0] = final_values[1] = neg_inf<double>();
    }
    edge[0][tid + 1] = a[K - 1];

    // Raw inputs of the next frame (registers), and its logits normaliser.
    float blank_next = 0.0f, label_next[H], shift_next = 0.0f;
    const auto load = [&](const float *r, const float *sh) {
        blank_next = __ldg(r + blank_offset);
#pragma unroll
        for (int j = 0; j < H; ++j) label_next[j] = __ldg(r + label_offset[j]);
        shift_next = has_shift ? __ldg(sh) : 0.0f;
    };
#pragma unroll
    for (int j = 0; j < H; ++j) label_next[j] = 0.0f;
    if (frames > 0) load(row, shift);

    // Store mode: this thread's row of alpha_t (states r0 + k) or beta_t (states S-1-r0-k).
    double *out = nullptr;
    index_t out_step = 0;
    if constexpr (Mode == ChainMode::Store) {
        out = (reverse ? p.beta : p.alpha) + q.store_offset + first_frame * S + (reverse ? S - 1 - r0 : r0);
        out_step = reverse ? -S : S;
    }
    // States r0 .. r0 + stored - 1 are real (< S); the rest of the thread's states are not stored.
    const int stored = r0 >= S ? 0 : (S - r0 >= K ? K : static_cast<int>(S - r0));
    __syncthreads();

    for (index_t tau = 0; tau < frames; ++tau) {
        const int cur = static_cast<int>(tau & 1);  // edge parity (not used by one warp)
        (void)cur;
        const float shift_now = shift_next;
        const double blank_e = static_cast<double>(blank_next - shift_now);
        double label_e[H];
#pragma unroll
        for (int j = 0; j < H; ++j) label_e[j] = static_cast<double>(label_next[j] - shift_now);
        if (tau + 1 < frames) load(row + row_step, shift + shift_step);
        if (tau + kPrefetchFrames < frames) {
            const float *ahead = row + kPrefetchFrames * row_step;
            prefetch_l2(ahead + blank_offset);
#pragma unroll
            for (int j = 0; j < H; ++j) prefetch_l2(ahead + label_offset[j]);
        }
        row += row_step;
        shift += shift_step;
        // State r0 - 1 at the previous frame: from the lane below (one warp), or from the edge
        // slot of the thread below.
        double below;
        if constexpr (OneWarp)
            below = mixed_state_below(tid, __shfl_up_sync(kFullMask, a[K - 1], 1));
        else
            below = edge[cur][tid];
        // Store mode: alpha_t(s) = a'(r) ln 2; beta_t(s) = combined'(r) ln 2 (emission at t
        // excluded), each written as soon as it is computed; one uniform branch on the direction
        // per frame, so each state's store has its address in the instruction's offset.
        if constexpr (Mode == ChainMode::Store) {
            if (reverse)
                mixed_chain_frame<K>(a, below, blank_e, label_e, skip_bits, [&](int k, double combined, double) {
                    if (k < stored) out[-k] = combined * kLn2;
                });
            else
                mixed_chain_frame<K>(a, below, blank_e, label_e, skip_bits, [&](int k, double, double value) {
                    if (k < stored) out[k] = value * kLn2;
                });
        } else {
            mixed_chain_frame<K>(a, below, blank_e, label_e, skip_bits, [](int, double, double) {});
        }
        if constexpr (Mode == ChainMode::Store) out += out_step;
        if constexpr (!OneWarp) {
            edge[cur ^ 1][tid + 1] = a[K - 1];
            __syncthreads();
        }
    }

    if (reverse) return;
#pragma unroll
    for (int k = 0; k < K; ++k) {
        const index_t r = r0 + k;
        if (r == S - 1) final_values[1] = a[k] * kLn2;
        if (r == S - 2) final_values[0] = a[k] * kLn2;
    }
    __syncthreads();
    if (tid != 0) return;
    p.log_z[b] = S == 1 ? final_values[1] : log_add_exp(final_values[1], final_values[0]);
}

template <class T>
struct FrameParams {
    View3<const T> input;
    const T *shift;
    index_t frames_total;  // T
    index_t classes;       // C
    index_t batch;         // B
    const SeqInfo *seqs;
    const std::int32_t *labels;
    const std::int32_t *next_same;
    const std::uint8_t *first;
    index_t first_seq;
    index_t tiles;  // frame tiles per sequence
    const double *alpha;
    const double *beta;
    const double *log_z;
    bool posteriors;  // else gradient
    bool fused;
    Reduction reduction;
    Strided1<const T> grad_loss;
    View3<T> grad;  // (t, b, c)
    View3<T> post;  // (b, t, s)
    index_t width;
    std::int32_t blank;
};

template <class T>
__device__ __forceinline__ T warp_nan_max(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = nan_max(v, __shfl_xor_sync(kFullMask, v, o));
    return v;
}

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}

template <class T>
__global__ void __launch_bounds__(kFrameWarps * 32) frame_kernel(FrameParams<T> p) {
    const index_t seq = blockIdx.x / p.tiles, tile = blockIdx.x % p.tiles;
    const index_t b = p.first_seq + seq;
    const SeqInfo q = p.seqs[b];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const bool has = q.feasible && p.log_z[b] != neg_inf<double>();
    T upstream = T(0);
    if (!p.posteriors) {
        const T g = p.grad_loss[p.reduction == Reduction::None ? b : 0];
        upstream = upstream_gradient(p.reduction, g, p.batch, static_cast<index_t>(q.length));
    }
    const index_t S = q.states;
    const std::int32_t *labels = p.labels + q.label_offset;
    const std::int32_t *next_same = p.next_same + q.label_offset;
    const std::uint8_t *first = p.first + q.label_offset;
    for (int f = warp; f < kFramesPerBlock; f += kFrameWarps) {
        const index_t t = tile * kFramesPerBlock + f;
        if (t >= p.frames_total) break;
        const double *alpha = p.alpha + q.store_offset + t * S;
        const double *beta = p.beta + q.store_offset + t * S;
        // The weights exp(alpha + beta - hi) are <= 1: the difference is formed in float64 (where
        // alpha and beta live), the exponential and the sums in the output dtype.
        const auto weight = [&](index_t s, double hi) { return exp(static_cast<T>(alpha[s] + beta[s] - hi)); };
        double hi = neg_inf<double>();
        if (has && t < q.frames) {
            for (index_t s = lane; s < S; s += 32) hi = nan_max(alpha[s] + beta[s], hi);
            hi = warp_nan_max(hi);
        }
        if (hi == neg_inf<double>()) {  // padding frame, or no alignment: zeros
            if (p.posteriors)
                for (index_t s = lane; s < p.width; s += 32) p.post(b, t, s) = T(0);
            else
                for (index_t c = lane; c < p.classes; c += 32) p.grad(t, b, c) = T(0);
            continue;
        }
        T total = 0, blank_mass = 0;
        for (index_t s = lane; s < S; s += 32) {
            const T v = weight(s, hi);
            total += v;
            if (!(s & 1)) blank_mass += v;
        }
        total = warp_sum(total);
        blank_mass = warp_sum(blank_mass);
        if (p.posteriors) {
            for (index_t s = lane; s < p.width; s += 32)
                p.post(b, t, s) = s < S ? weight(s, hi) / total : T(0);
            continue;
        }
        const T shift = p.shift ? p.shift[b * p.frames_total + t] : T(0);
        for (index_t c = lane; c < p.classes; c += 32) {
            const T prob = p.fused ? exp(__ldg(&p.input(t, b, c)) - shift) : T(0);  // not read for -gamma
            p.grad(t, b, c) = c == p.blank ? gradient_entry(p.fused, upstream, prob, blank_mass / total)
                                           : gradient_background(p.fused, upstream, prob);
        }
        __syncwarp();  // the label entries below overwrite background entries of other lanes
        for (index_t j = lane; j < q.length; j += 32) {
            if (!first[j]) continue;
            T mass = 0;
            for (index_t k = j; k >= 0; k = next_same[k]) mass += weight(2 * k + 1, hi);
            const std::int32_t c = labels[j];
            const T prob = p.fused ? exp(__ldg(&p.input(t, b, c)) - shift) : T(0);
            p.grad(t, b, c) = gradient_entry(p.fused, upstream, prob, mass / total);
        }
    }
}

template <class T>
__global__ void __launch_bounds__(kNormaliserWarps * 32)
    row_normaliser_kernel(View3<const T> input, const SeqInfo *seqs, index_t batch, index_t frames_total,
                          index_t classes, T *shift) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const index_t row = index_t(blockIdx.x) * kNormaliserWarps + warp;
    if (row >= batch * frames_total) return;
    const index_t b = row / frames_total, t = row % frames_total;
    if (t >= seqs[b].frames) return;  // never read
    T hi = neg_inf<T>();
    for (index_t c = lane; c < classes; c += 32) hi = nan_max(__ldg(&input(t, b, c)), hi);
    hi = warp_nan_max(hi);
    if (is_nan(hi) || hi == neg_inf<T>() || hi == positive_infinity<T>()) {
        if (lane == 0) shift[b * frames_total + t] = hi;
        return;
    }
    T sum = 0;
    for (index_t c = lane; c < classes; c += 32) sum += exp(__ldg(&input(t, b, c)) - hi);
    sum = warp_sum(sum);
    if (lane == 0) shift[b * frames_total + t] = hi + log(sum);
}

constexpr int kFinalizeThreads = 256;

template <class T>
__global__ void __launch_bounds__(kFinalizeThreads)
    finalize_loss_kernel(Strided1<T> loss, const double *log_z, const SeqInfo *seqs, index_t batch,
                         Reduction reduction, bool zero_infinity) {
    __shared__ double partial[kFinalizeThreads];
    const int tid = threadIdx.x;
    if (reduction == Reduction::None) {
        for (index_t b = tid; b < batch; b += kFinalizeThreads)
            loss[b] = static_cast<T>(sequence_loss(log_z[b], zero_infinity));
        return;
    }
    double acc = 0;
    for (index_t b = tid; b < batch; b += kFinalizeThreads) {
        double l = sequence_loss(log_z[b], zero_infinity);
        if (reduction == Reduction::Mean) l /= static_cast<double>(seqs[b].length > 1 ? seqs[b].length : 1);
        acc += l;
    }
    partial[tid] = acc;
    __syncthreads();
    for (int half = kFinalizeThreads / 2; half > 0; half >>= 1) {
        if (tid < half) partial[tid] += partial[tid + half];
        __syncthreads();
    }
    if (tid == 0) {
        double total = partial[0];
        if (reduction == Reduction::Mean) total /= static_cast<double>(batch);  // NaN for B = 0
        loss[0] = static_cast<T>(total);
    }
}

template <class T>
struct FinishParams {
    View3<const T> input;
    index_t frames_total;
    const SeqInfo *seqs;
    const std::int32_t *labels;
    const std::uint8_t *backpointer;
    const std::int32_t *final_state;
    index_t first_seq;
    std::int32_t blank;
    Strided2<std::int32_t> path;
    View3<std::int32_t> spans;
    index_t span_width;
    Strided2<T> frame_scores;
    Strided1<T> score;
};

template <class T>
__global__ void __launch_bounds__(128) viterbi_finish_kernel(FinishParams<T> p) {
    const index_t b = p.first_seq + blockIdx.x;
    const SeqInfo q = p.seqs[b];
    const std::int32_t end_state = p.final_state[b];
    const bool aligned = q.feasible && end_state >= 0;
    const int tid = threadIdx.x;
    for (index_t t = (aligned ? q.frames : 0) + tid; t < p.frames_total; t += blockDim.x) {
        p.path(b, t) = -1;
        if (p.frame_scores.data) p.frame_scores(b, t) = T(0);
    }
    if (p.spans.data)
        for (index_t j = (aligned ? q.length : 0) + tid; j < p.span_width; j += blockDim.x)
            p.spans(b, j, 0) = p.spans(b, j, 1) = -1;
    if (tid != 0) return;
    double total = aligned ? 0.0 : neg_inf<double>();
    if (aligned) {
        const std::int32_t *labels = p.labels + q.label_offset;
        const index_t S = q.states;
        index_t s = end_state, later = -1;  // state at t and at t + 1
        for (index_t t = q.frames - 1; t >= 0; --t) {
            const std::int32_t c = state_label(labels, p.blank, s);
            const T lp = p.input(t, b, c);
            p.path(b, t) = c;
            if (p.frame_scores.data) p.frame_scores(b, t) = lp;
            total += static_cast<double>(lp);
            const index_t earlier = t > 0 ? s - p.backpointer[q.store_offset + t * S + s] : -1;
            if ((s & 1) && p.spans.data) {
                if (s != later) p.spans(b, s >> 1, 1) = static_cast<std::int32_t>(t + 1);
                if (s != earlier) p.spans(b, s >> 1, 0) = static_cast<std::int32_t>(t);
            }
            later = s;
            s = earlier;
        }
    }
    if (p.score.data) p.score[b] = static_cast<T>(total);
}

// ---- host side -------------------------------------------------------------------------------

cudaStream_t stream_of(sk_context &ctx) { return static_cast<cudaStream_t>(ctx.stream()); }

std::size_t align_up(std::size_t n) { return (n + 255) / 256 * 256; }

// A group of consecutive sequences whose stores fit the budget together.
struct Group {
    index_t first = 0, count = 0;
    index_t max_states = 1;
    std::size_t elements = 0;  // frames x states summed over the group
};

// SeqInfo of every sequence, store offsets relative to the group; groups bounded by `budget`
// elements (a sequence larger than the budget forms a group of its own).
std::vector<Group> plan_groups(const Plan &plan, std::vector<SeqInfo> &infos, std::size_t budget) {
    infos.resize(static_cast<std::size_t>(plan.batch));
    std::vector<Group> groups;
    Group g;
    for (index_t b = 0; b < plan.batch; ++b) {
        const auto i = static_cast<std::size_t>(b);
        SeqInfo &s = infos[i];
        s.frames = plan.input_length[i];
        s.label_offset = plan.label_offset[i];
        s.length = static_cast<std::int32_t>(plan.target_length[i]);
        s.states = 2 * s.length + 1;
        s.feasible = plan.feasible[i];
        s.reserved = 0;
        const std::size_t need = s.feasible ? static_cast<std::size_t>(s.frames) * static_cast<std::size_t>(s.states) : 0;
        if (g.count > 0 && g.elements + need > budget) {
            groups.push_back(g);
            g = Group{};
            g.first = b;
        }
        s.store_offset = static_cast<std::int64_t>(g.elements);
        g.elements += need;
        g.max_states = std::max<index_t>(g.max_states, s.states);
        ++g.count;
    }
    if (g.count > 0) groups.push_back(g);
    return groups;
}

// The per-sequence tables on the device: [SeqInfo x B][labels][next_same][first].
struct DeviceTables {
    Workspace::Lease lease;
    const SeqInfo *seqs = nullptr;
    const std::int32_t *labels = nullptr;
    const std::int32_t *next_same = nullptr;
    const std::uint8_t *first = nullptr;
};

DeviceTables upload_tables(sk_context &ctx, const Plan &plan, const std::vector<SeqInfo> &infos) {
    const std::size_t n = plan.labels.size();
    const std::size_t seq_bytes = align_up(sizeof(SeqInfo) * infos.size());
    const std::size_t label_bytes = align_up(sizeof(std::int32_t) * n);
    const std::size_t first_bytes = align_up(n);
    const std::size_t total = seq_bytes + 2 * label_bytes + first_bytes;
    std::vector<unsigned char> host(total, 0);
    if (!infos.empty()) std::memcpy(host.data(), infos.data(), sizeof(SeqInfo) * infos.size());
    if (n) {
        std::memcpy(host.data() + seq_bytes, plan.labels.data(), sizeof(std::int32_t) * n);
        std::memcpy(host.data() + seq_bytes + label_bytes, plan.next_same.data(), sizeof(std::int32_t) * n);
        std::memcpy(host.data() + seq_bytes + 2 * label_bytes, plan.first.data(), n);
    }
    DeviceTables d;
    d.lease = ctx.workspace().acquire(total, "ctc: per-sequence tables");
    device::copy(d.lease.get(), DeviceType::Cuda, host.data(), DeviceType::Cpu, total, ctx.device_index(),
                 ctx.stream());
    auto *base = static_cast<unsigned char *>(d.lease.get());
    d.seqs = reinterpret_cast<const SeqInfo *>(base);
    d.labels = reinterpret_cast<const std::int32_t *>(base + seq_bytes);
    d.next_same = reinterpret_cast<const std::int32_t *>(base + seq_bytes + label_bytes);
    d.first = base + seq_bytes + 2 * label_bytes;
    return d;
}

// Bytes of stores one group may use: half the workspace limit, or 1 GiB without a limit.
std::size_t store_budget_bytes(const sk_context &ctx) {
    const std::size_t limit = ctx.workspace().limit();
    return limit ? limit / 2 : (std::size_t(1) << 30);
}

// Chain geometry: K states per thread, K the smallest power of two >= 2 (even: see
// mixed_chain_kernel) giving at most `target` threads (NOTES.md: the rule and why). The mixed
// chain aims at kChainTargetThreads; chain_kernel (float64, Viterbi, and the float32 fallback)
// keeps its measured 256, with which its float64 instances stay within 128 registers up to K = 8.
constexpr int kGenericChainTargetThreads = 256;

int chain_states_per_thread(index_t max_states, int target) {
    int K = 2;
    while (K < 32 && (max_states + K - 1) / K > target) K *= 2;
    return K;
}

template <class T, ChainMode Mode, int K>
void launch_chain_k(const ChainParams<T> &p, const dim3 &grid, const dim3 &block, bool mixed, cudaStream_t stream) {
    if constexpr (std::is_same<T, float>::value && Mode != ChainMode::Viterbi) {
        if (mixed) {
            if (block.x == 32)  // one warp: the exchange is a shuffle, no barrier
                mixed_chain_kernel<K, Mode, true><<<grid, block, 0, stream>>>(p);
            else
                mixed_chain_kernel<K, Mode, false><<<grid, block, 0, stream>>>(p);
            return;
        }
    }
    chain_kernel<T, K, Mode><<<grid, block, 0, stream>>>(p);
}

// `mixed`: the float32 Loss / Store chains take mixed_chain_kernel, which needs every class
// offset c * stride_c of a frame row to fit in 32 bits (always so unless the class stride is
// huge); otherwise, and for float64 and Viterbi, chain_kernel.
template <class T, ChainMode Mode>
void launch_chain(const ChainParams<T> &p, index_t count, index_t max_states, int directions, bool mixed,
                  cudaStream_t stream) {
    if (count == 0) return;
    mixed = mixed && std::is_same<T, float>::value && Mode != ChainMode::Viterbi;
    const int K = chain_states_per_thread(max_states, mixed ? kChainTargetThreads : kGenericChainTargetThreads);
    const index_t threads = ((max_states + K - 1) / K + 31) / 32 * 32;
    SK_REQUIRE(threads <= kMaxChainThreads, SK_ERROR_INTERNAL, "ctc: %lld states exceed the chain kernel",
               static_cast<long long>(max_states));
    const dim3 grid(static_cast<unsigned>(count), static_cast<unsigned>(directions));
    const dim3 block(static_cast<unsigned>(threads));
    switch (K) {
        case 2: launch_chain_k<T, Mode, 2>(p, grid, block, mixed, stream); break;
        case 4: launch_chain_k<T, Mode, 4>(p, grid, block, mixed, stream); break;
        case 8: launch_chain_k<T, Mode, 8>(p, grid, block, mixed, stream); break;
        case 16: launch_chain_k<T, Mode, 16>(p, grid, block, mixed, stream); break;
        default: launch_chain_k<T, Mode, 32>(p, grid, block, mixed, stream); break;
    }
    check_launch(mixed ? "ctc mixed_chain_kernel" : "ctc chain_kernel");
}

// Whether every class offset of a frame row fits the mixed chain's 32-bit offsets.
template <class T>
bool class_offsets_fit(const Plan &plan, const Args<T> &args) {
    const long double span = static_cast<long double>(std::max<index_t>(plan.classes - 1, 0)) *
                             static_cast<long double>(args.input.stride_j < 0 ? -args.input.stride_j : args.input.stride_j);
    return std::is_same<T, float>::value && span <= static_cast<long double>(INT32_MAX);
}

template <class T>
ChainParams<T> chain_params(const Plan &plan, const Args<T> &args, const DeviceTables &tables, const T *shift) {
    ChainParams<T> p{};
    p.input = args.input;
    p.shift = shift;
    p.frames_total = plan.frames;
    p.seqs = tables.seqs;
    p.labels = tables.labels;
    p.blank = plan.blank;
    return p;
}

// The logits normalisers (B, T), or no lease when the input already holds log-probabilities.
template <class T>
Workspace::Lease normalisers(sk_context &ctx, const Plan &plan, const Args<T> &args, const DeviceTables &tables) {
    if (!args.logits) return {};
    const index_t rows = plan.batch * plan.frames;
    auto lease = ctx.workspace().acquire(sizeof(T) * static_cast<std::size_t>(std::max<index_t>(rows, 1)),
                                         "ctc: logits normalisers");
    if (rows > 0) {
        const index_t blocks = (rows + kNormaliserWarps - 1) / kNormaliserWarps;
        row_normaliser_kernel<T><<<static_cast<unsigned>(blocks), kNormaliserWarps * 32, 0, stream_of(ctx)>>>(
            args.input, tables.seqs, plan.batch, plan.frames, plan.classes, lease.as<T>());
        check_launch("ctc row_normaliser_kernel");
    }
    return lease;
}

template <class T>
void finalize_loss(sk_context &ctx, const Plan &plan, const Args<T> &args, const DeviceTables &tables,
                   const double *log_z) {
    if (!args.loss.data) return;
    finalize_loss_kernel<T><<<1, kFinalizeThreads, 0, stream_of(ctx)>>>(args.loss, log_z, tables.seqs, plan.batch,
                                                                        args.reduction, args.zero_infinity);
    check_launch("ctc finalize_loss_kernel");
}

// Forward + backward stores per group, then the frame kernel (gradient or posteriors).
template <class T>
void run_frames(sk_context &ctx, const Plan &plan, const Args<T> &args, bool posteriors) {
    std::vector<SeqInfo> infos;
    const std::size_t budget = std::max<std::size_t>(1, store_budget_bytes(ctx) / (2 * sizeof(double)));
    const std::vector<Group> groups = plan_groups(plan, infos, budget);
    std::size_t max_elements = 1;
    for (const Group &g : groups) max_elements = std::max(max_elements, g.elements);
    auto tables = upload_tables(ctx, plan, infos);
    Workspace::Lease shift = normalisers(ctx, plan, args, tables);
    auto log_z = ctx.workspace().acquire(sizeof(double) * static_cast<std::size_t>(std::max<index_t>(plan.batch, 1)),
                                         "ctc: log-likelihoods");
    auto alpha = ctx.workspace().acquire(sizeof(double) * max_elements, "ctc: alpha of a group of sequences");
    auto beta = ctx.workspace().acquire(sizeof(double) * max_elements, "ctc: beta of a group of sequences");
    const cudaStream_t stream = stream_of(ctx);
    ChainParams<T> cp = chain_params(plan, args, tables, shift.as<const T>());
    cp.alpha = alpha.as<double>();
    cp.beta = beta.as<double>();
    cp.log_z = log_z.as<double>();
    const bool mixed = class_offsets_fit(plan, args);
    FrameParams<T> fp{};
    fp.input = args.input;
    fp.shift = shift.as<const T>();
    fp.frames_total = plan.frames;
    fp.classes = plan.classes;
    fp.batch = plan.batch;
    fp.seqs = tables.seqs;
    fp.labels = tables.labels;
    fp.next_same = tables.next_same;
    fp.first = tables.first;
    fp.tiles = (plan.frames + kFramesPerBlock - 1) / kFramesPerBlock;
    fp.alpha = alpha.as<const double>();
    fp.beta = beta.as<const double>();
    fp.log_z = log_z.as<const double>();
    fp.posteriors = posteriors;
    fp.fused = args.logits || args.fused_gradient;
    fp.reduction = args.reduction;
    fp.grad_loss = args.grad_loss;
    fp.grad = args.grad;
    fp.post = args.posteriors;
    fp.width = args.posterior_width;
    fp.blank = plan.blank;
    for (const Group &g : groups) {
        cp.first_seq = g.first;
        launch_chain<T, ChainMode::Store>(cp, g.count, g.max_states, 2, mixed, stream);
        const index_t blocks = g.count * fp.tiles;
        if (blocks == 0) continue;
        fp.first_seq = g.first;
        frame_kernel<T><<<static_cast<unsigned>(blocks), kFrameWarps * 32, 0, stream>>>(fp);
        check_launch("ctc frame_kernel");
    }
    if (!posteriors) finalize_loss(ctx, plan, args, tables, log_z.as<const double>());
}

}  // namespace

template <class T>
void loss_cuda(sk_context &ctx, const Plan &plan, const Args<T> &args) {
    std::vector<SeqInfo> infos;
    const std::vector<Group> groups = plan_groups(plan, infos, ~std::size_t(0));  // nothing is stored
    auto tables = upload_tables(ctx, plan, infos);
    Workspace::Lease shift = normalisers(ctx, plan, args, tables);
    auto log_z = ctx.workspace().acquire(sizeof(double) * static_cast<std::size_t>(std::max<index_t>(plan.batch, 1)),
                                         "ctc: log-likelihoods");
    ChainParams<T> cp = chain_params(plan, args, tables, shift.as<const T>());
    cp.log_z = log_z.as<double>();
    for (const Group &g : groups) {
        cp.first_seq = g.first;
        launch_chain<T, ChainMode::Loss>(cp, g.count, g.max_states, 1, class_offsets_fit(plan, args),
                                          stream_of(ctx));
    }
    finalize_loss(ctx, plan, args, tables, log_z.as<const double>());
}

template <class T>
void backward_cuda(sk_context &ctx, const Plan &plan, const Args<T> &args) {
    run_frames(ctx, plan, args, false);
}

template <class T>
void posteriors_cuda(sk_context &ctx, const Plan &plan, const Args<T> &args) {
    run_frames(ctx, plan, args, true);
}

template <class T>
void align_cuda(sk_context &ctx, const Plan &plan, const Args<T> &args) {
    std::vector<SeqInfo> infos;
    const std::vector<Group> groups = plan_groups(plan, infos, std::max<std::size_t>(1, store_budget_bytes(ctx)));
    std::size_t max_elements = 1;
    for (const Group &g : groups) max_elements = std::max(max_elements, g.elements);
    auto tables = upload_tables(ctx, plan, infos);
    auto final_state = ctx.workspace().acquire(
        sizeof(std::int32_t) * static_cast<std::size_t>(std::max<index_t>(plan.batch, 1)), "ctc: Viterbi end states");
    auto backpointer = ctx.workspace().acquire(max_elements, "ctc: Viterbi backpointers of a group of sequences");
    ChainParams<T> cp = chain_params(plan, args, tables, static_cast<const T *>(nullptr));
    cp.backpointer = backpointer.as<std::uint8_t>();
    cp.final_state = final_state.as<std::int32_t>();
    FinishParams<T> fp{};
    fp.input = args.input;
    fp.frames_total = plan.frames;
    fp.seqs = tables.seqs;
    fp.labels = tables.labels;
    fp.backpointer = backpointer.as<const std::uint8_t>();
    fp.final_state = final_state.as<const std::int32_t>();
    fp.blank = plan.blank;
    fp.path = args.path;
    fp.spans = args.spans;
    fp.span_width = args.span_width;
    fp.frame_scores = args.frame_scores;
    fp.score = args.score;
    const cudaStream_t stream = stream_of(ctx);
    for (const Group &g : groups) {
        cp.first_seq = g.first;
        launch_chain<T, ChainMode::Viterbi>(cp, g.count, g.max_states, 1, false, stream);
        fp.first_seq = g.first;
        viterbi_finish_kernel<T><<<static_cast<unsigned>(g.count), 128, 0, stream>>>(fp);
        check_launch("ctc viterbi_finish_kernel");
    }
}

#define SK_CTC_INSTANTIATE(T)                                                        \
    template void loss_cuda<T>(sk_context &, const Plan &, const Args<T> &);         \
    template void backward_cuda<T>(sk_context &, const Plan &, const Args<T> &);     \
    template void posteriors_cuda<T>(sk_context &, const Plan &, const Args<T> &);   \
    template void align_cuda<T>(sk_context &, const Plan &, const Args<T> &);
SK_CTC_INSTANTIATE(float)
SK_CTC_INSTANTIATE(double)
#undef SK_CTC_INSTANTIATE

}  // namespace sk::ctc
