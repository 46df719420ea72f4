// CTC (connectionist temporal classification): the problem description shared by the CPU and
// CUDA backends, the per-element math both use (__host__ __device__), and the backend entry
// points. The C API layer (capi/capi_ctc.cpp) validates every argument and every label and
// length, and builds the host-side Plan, so these functions may assume consistent input.
//
// Extended states. A target y_1..y_L has S = 2L + 1 states [blank, y_1, blank, ..., y_L, blank]:
// state s is blank for even s and y_{(s+1)/2} (0-based: labels[(s-1)/2]) for odd s. A path may
// start in state 0 or 1 and end in S-1 or S-2; from s it moves to s, s+1, or s+2 when s+2 is a
// label different from the label at s (the "skip" over a blank).
//
// The recursions (log semiring; the Viterbi pass is the same with max):
//   alpha_{-1} = e_0 (0 at state 0, -inf elsewhere)
//   alpha_t(s) = lp_t(label s) + LSE(alpha_{t-1}(s), alpha_{t-1}(s-1), [skip(s)] alpha_{t-1}(s-2))
//   log Z      = LSE(alpha_{T-1}(S-1), alpha_{T-1}(S-2))
// The backward recursion is the forward one on the reversed problem (frames reversed, states
// reversed: r = S-1-s, skip'(r) = skip(S+1-r)), so both directions run the same code ("chain
// order" r). In the reversed chain the value before adding the emission is
//   beta_t(s) = log P(frames t+1.. | state s at frame t)       (emission at t excluded)
// and the state posterior is gamma_t(s) = exp(alpha_t(s) + beta_t(s) - log Z). Both backends
// normalise it per frame, with log Z_t = LSE_s(alpha_t(s) + beta_t(s)) (= log Z exactly in real
// arithmetic), so any per-direction offset cancels and every frame's posteriors sum to 1.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/common.h"
#include "core/tensor.h"
#include "semiring/semiring.h"

struct sk_context;

// Shared helpers on hot loops are always inlined on the host too (the CPU loops only vectorise
// once the whole per-state computation is visible in the loop body).
#if defined(__CUDACC__)
#define SK_CTC_INLINE __host__ __device__ __forceinline__
#else
#define SK_CTC_INLINE inline __attribute__((always_inline))
#endif

namespace sk::ctc {

enum class Reduction : std::int32_t { None = 0, Sum = 1, Mean = 2 };

// CUDA kernel geometry limits (see NOTES.md): at most 512 threads per chain block and 32 states
// per thread, so at most 16384 extended states (target length 8191) per sequence on CUDA.
constexpr index_t kCudaMaxStates = 16384;

// ---- the host-side plan (built once per call by the C API layer, read by both backends) ----

struct Plan {
    index_t batch = 0;
    index_t frames = 0;   // T: extent of the time dimension of log_probs
    index_t classes = 0;  // C
    std::int32_t blank = 0;
    index_t max_target_length = 0;
    std::vector<std::int64_t> input_length;   // (B)
    std::vector<std::int64_t> target_length;  // (B)
    std::vector<std::int64_t> label_offset;   // (B): start of sequence b in `labels`
    std::vector<std::int32_t> labels;         // concatenated targets, validated
    // Per label position j of a sequence: the next position with the same label (relative to
    // the sequence, -1 for none), and whether j is the first position carrying its label. The
    // posterior of a class is summed over its positions in increasing j (deterministic).
    std::vector<std::int32_t> next_same;
    std::vector<std::uint8_t> first;
    // (B): input_length >= target_length + number of adjacent equal labels (an alignment can
    // exist). Sequences that fail it are not run at all: loss +inf, zero gradient.
    std::vector<std::uint8_t> feasible;
};

// Fills next_same, first and feasible from batch, lengths, label_offset and labels.
void finish_plan(Plan &plan);

// ---- views ---------------------------------------------------------------------------------

template <class U>
struct Strided1 {
    U *data = nullptr;
    index_t stride = 0;
    SK_HD U &operator[](index_t i) const { return data[i * stride]; }
};

template <class U>
struct Strided2 {
    U *data = nullptr;
    index_t stride0 = 0, stride1 = 0;
    SK_HD U &operator()(index_t i, index_t j) const { return data[i * stride0 + j * stride1]; }
};

// The per-call arguments. `input` is addressed (t, b, c) whatever the caller's layout: View3's
// (b, i, j) fields hold the strides of (t, b, c). Unused outputs have data == nullptr.
template <class T>
struct Args {
    View3<const T> input;          // log_probs, or logits when `logits`
    bool logits = false;           // lp = input - logsumexp_c input (fused log-softmax)
    Reduction reduction = Reduction::None;
    bool zero_infinity = false;
    bool fused_gradient = false;   // gradient form: exp(lp) - gamma (torch) instead of -gamma
    Strided1<T> loss;              // (B) for None, element 0 for Sum / Mean
    Strided1<const T> grad_loss;   // likewise
    View3<T> grad;                 // (t, b, c), like input
    View3<T> posteriors;           // (b, t, s)
    index_t posterior_width = 0;   // W
    Strided2<std::int32_t> path;   // (b, t)
    View3<std::int32_t> spans;     // (b, j, k), k = 0 start, 1 end (exclusive)
    index_t span_width = 0;
    Strided2<T> frame_scores;      // (b, t)
    Strided1<T> score;             // (b)
};

// ---- shared math (CPU and CUDA) -------------------------------------------------------------

// (Always inlined, also into the CPU loops' AVX2 clones, which GCC will not do for ordinary
// inline functions of another target.)
template <class A>
SK_CTC_INLINE A pos_inf() {
    return std::numeric_limits<A>::infinity();
}
template <class A>
SK_CTC_INLINE A neg_inf() {
    return -std::numeric_limits<A>::infinity();
}

// The elementary functions the shared formulas call: the C library's on the host, the fast-math
// intrinsics they become on the device. The CPU backend substitutes branch-free polynomial
// versions its loops vectorise (CpuMath in ctc_cpu.cpp): exp on (-inf, 0] and log on [1, 4).
struct StdMath {
    template <class A>
    static SK_HD A exp(A x) { return std::exp(x); }
    template <class A>
    static SK_HD A log(A x) { return std::log(x); }
};

// A float64 recursion whose correction terms are evaluated in float32: in log_sum_exp3 the
// maximum and the final addition stay float64, only exp of the (non-positive) differences and
// the log of the sum in [1, 3] are float32, so each step's absolute error is ~1e-7 nats whatever
// the magnitude of the states (a float32 recursion's error is ~ulp of the states, up to 5e-4
// nats on long sequences). Simulated over T = 10^5, L = 250 against float64: posteriors within
// 1e-6, log Z within 3e-10 relative. The CUDA chain uses it for float32 inputs (float32 exp/log
// are single MUFU operations; float64 ones are ~30 FP64 instructions each).
struct MixedMath {
    static SK_HD double exp(double x) { return static_cast<double>(::expf(static_cast<float>(x))); }
    static SK_HD double log(double x) { return static_cast<double>(::logf(static_cast<float>(x))); }
};

// ---- the mixed-precision chain step in base-2 units (CUDA float32 chains) ------------------
//
// The CUDA chain for float32 inputs keeps its states as float64 base-2 logarithms
// (a' = a log2(e)), so the exponentials and the logarithm of the correction are the bare MUFU
// operations ex2 / lg2 (no scaling multiply), and the emission enters with one fused multiply-add
// (value' = e log2(e) + combined'). As in MixedMath, the maximum and the final addition stay
// float64 and only the correction log2(1 + 2^d1 + 2^d2) (d <= 0) is float32, so a step's
// absolute error is ~1e-7 whatever the magnitude of the states. The differences are formed once
// in float64 and converted once; the second non-maximal difference is derived in float32 from the
// first two (|lo - top| = |lo - hi| + max(skip - hi, 0): a sum of two non-negative numbers, so
// its relative rounding is one float32 ulp). No branches and no NaN tests: a NaN argument makes
// a difference NaN and hence the sum and the result NaN; equal infinities (the -inf of states not
// yet reached, the common case, or +inf) would make their difference NaN, so equal arguments get
// the difference 0 instead (exactly right for equal finite values: log2(1 + 2^0) = 1), and the
// result is top + a finite correction = the infinity, as log_sum_exp3 gives.
//
// The float32 elementary functions: MUFU intrinsics on the device (the CUDA file is compiled with
// fast math, where exp2f / log2f are ex2.approx.ftz / lg2.approx.ftz), the C library's on the host
// (where only the tests call these functions).
struct Log2Math {
    static SK_HD float exp2(float x) { return ::exp2f(x); }
    static SK_HD float log2(float x) { return ::log2f(x); }
};

constexpr double kLog2e = 1.4426950408889634073599246810018921;  // log2(e)
constexpr double kLn2 = 0.69314718055994530941723212145817657;   // ln(2)

// float32(x - y), and 0 when x == y (also for equal infinities, whose difference is NaN).
SK_CTC_INLINE float mixed_difference(double x, double y) {
    return x == y ? 0.0f : static_cast<float>(x - y);
}

// log2(2^stay + 2^advance) for base-2 states: the blank (even) states, which have no skip.
template <class M = Log2Math>
SK_CTC_INLINE double mixed_log2_sum2(double stay, double advance) {
    const double top = stay > advance ? stay : advance;
    const float d = mixed_difference(stay, advance);  // |d| = top - the other
    return top + static_cast<double>(M::log2(1.0f + M::exp2(-::fabsf(d))));
}

// log2(2^stay + 2^advance + 2^skip) for base-2 states: the label (odd) states (skip is -inf where
// the skip transition is not allowed).
template <class M = Log2Math>
SK_CTC_INLINE double mixed_log2_sum3(double stay, double advance, double skip) {
    const double hi = stay > advance ? stay : advance;
    const float d_ab = mixed_difference(stay, advance);  // |d_ab| = hi - lo
    const double top = skip > hi ? skip : hi;
    const float d_c = mixed_difference(skip, hi);         // skip - hi
    // The two terms that are not the maximum, relative to it: -|d_c| (hi or skip, whichever is
    // smaller) and lo - top = -|d_ab| - max(d_c, 0).
    const float other1 = -::fabsf(d_c);
    const float other2 = -::fabsf(d_ab) - ::fmaxf(d_c, 0.0f);
    return top + static_cast<double>(M::log2(1.0f + M::exp2(other1) + M::exp2(other2)));
}

// log(e^a + e^b + e^c): -inf when all are -inf (never NaN), +inf when one is +inf, NaN when one
// is NaN. Two exponentials of non-positive numbers and one logarithm of a number in [1, 3]: the
// largest term contributes exp(0) = 1 exactly. Branch-free (selects only), so a loop over states
// vectorises.
template <class A, class M = StdMath>
SK_CTC_INLINE A log_sum_exp3(A a, A b, A c) {
    const A hi_ab = a > b ? a : b;
    const A lo_ab = a > b ? b : a;
    const A top = hi_ab > c ? hi_ab : c;
    const A x = hi_ab > c ? c : hi_ab;  // the two others: x and lo_ab
    const bool finite = (top > neg_inf<A>()) & (top < pos_inf<A>());  // &: no branch
    const A shift = finite ? top : A(0);
    const A sum = A(1) + M::exp(x - shift) + M::exp(lo_ab - shift);
    const A log_sum = top + M::log(sum);
    A value = finite ? log_sum : top;
    const A nan = a + b + c;  // selected below when an argument is NaN (x != x: NaN test)
    value = a != a ? nan : value;
    value = b != b ? nan : value;
    return c != c ? nan : value;
}

// Maximum that lets a NaN win (a NaN argument gives NaN), unlike fmax.
template <class A>
SK_HD A nan_max(A a, A b) {
    return (a > b || is_nan(a)) ? a : b;
}

// The Viterbi predecessor of a state among the candidates stay (from s), advance (from s-1) and
// skip (from s-2, -inf when not allowed), torchaudio's tie rule: a later candidate replaces the
// best only when strictly greater, so ties prefer stay, then advance; a NaN beats any number
// (the first NaN wins). Returns 0, 1 or 2 (how many states back) and the best value.
template <class A>
SK_HD int viterbi_pick(A stay, A advance, A skip, A *best) {
    int which = 0;
    A value = stay;
    if (MaxSemiring<A>::better(advance, value)) {
        value = advance;
        which = 1;
    }
    if (MaxSemiring<A>::better(skip, value)) {
        value = skip;
        which = 2;
    }
    *best = value;
    return which;
}

// The final Viterbi state among S-2 (last label) and S-1 (last blank): the blank only when
// strictly better (torchaudio). With S = 1 (empty target) the only state is 0.
template <class A>
SK_HD index_t viterbi_final_state(A last_label, A last_blank, index_t states, A *best) {
    if (states == 1) {
        *best = last_blank;
        return 0;
    }
    if (MaxSemiring<A>::better(last_blank, last_label)) {
        *best = last_blank;
        return states - 1;
    }
    *best = last_label;
    return states - 2;
}

// Class of extended state s.
SK_HD std::int32_t state_label(const std::int32_t *labels, std::int32_t blank, index_t s) {
    return (s & 1) ? labels[s >> 1] : blank;
}

// Whether state s may be entered from s-2 (s is a label that differs from the previous label).
SK_HD bool state_skip(const std::int32_t *labels, index_t s) {
    return (s & 1) && s >= 3 && labels[s >> 1] != labels[(s >> 1) - 1];
}

// Chain order: r is the position in the direction of the recursion.
SK_HD index_t chain_state(index_t r, index_t states, bool reverse) {
    return reverse ? states - 1 - r : r;
}
SK_HD bool chain_skip(const std::int32_t *labels, index_t r, index_t states, bool reverse) {
    if (!reverse) return state_skip(labels, r);
    return r >= 2 && state_skip(labels, states + 1 - r);
}

// ---- one thread's share of the mixed chain (CUDA mixed_chain_kernel, and its host emulation) --
//
// A thread owns K consecutive chain states [r0, r0 + K) with K even and r0 = thread * K even, so
// its state k is a blank for even k and a label for odd k = 2j + 1, in both directions (S is odd:
// r and S-1-r have the same parity). States r >= S (the last thread's tail) get the blank's class
// and no skip; they only feed states above them.

#if defined(__CUDA_ARCH__)
#define SK_CTC_UNROLL _Pragma("unroll")
#else
#define SK_CTC_UNROLL
#endif

// The classes of the thread's label states (cls[j] for state r0 + 2j + 1) and their skip flags
// (bit j), for the chain direction `reverse`.
template <int K>
SK_CTC_INLINE std::uint32_t mixed_label_states(const std::int32_t *labels, std::int32_t blank, index_t states,
                                               bool reverse, index_t r0, std::int32_t (&cls)[K / 2]) {
    std::uint32_t skip_bits = 0;
    SK_CTC_UNROLL
    for (int j = 0; j < K / 2; ++j) {
        const index_t r = r0 + 2 * j + 1;
        const bool active = r < states;
        cls[j] = active ? state_label(labels, blank, chain_state(r, states, reverse)) : blank;
        if (active && chain_skip(labels, r, states, reverse)) skip_bits |= 1u << j;
    }
    return skip_bits;
}

// One frame of the thread's states, in base-2 units. On entry a[k] is state r0 + k at the
// previous frame and below is state r0 - 1 there (-inf below the chain); on exit a[k] is the
// state at this frame. blank_e and label_e[j] are the natural-log emissions of the blank and of
// label state 2j + 1. Only label states (odd k >= 1) have a skip candidate, state r0 + k - 2 >=
// r0 - 1, so state r0 - 1 is all a thread needs from the thread below. emit(k, combined, value)
// is called once per state as soon as it is computed (combined: its value before the emission,
// what the reversed chain stores as beta; value: after it), so a caller that stores needs no
// array of the combined values. Descending k: a[k-1] and a[k-2] still hold the previous frame.
template <int K, class M = Log2Math, class Emit>
SK_CTC_INLINE void mixed_chain_frame(double (&a)[K], double below, double blank_e,
                                     const double (&label_e)[K / 2], std::uint32_t skip_bits, Emit &&emit) {
    static_assert(K % 2 == 0, "the mixed chain needs an even number of states per thread");
    SK_CTC_UNROLL
    for (int k = K - 1; k >= 0; --k) {
        const double stay = a[k];
        const double advance = k >= 1 ? a[k >= 1 ? k - 1 : 0] : below;
        double combined;
        if (k & 1) {
            const double two_back = k >= 2 ? a[k >= 2 ? k - 2 : 0] : below;
            const double from_skip = ((skip_bits >> (k / 2)) & 1u) ? two_back : neg_inf<double>();
            combined = mixed_log2_sum3<M>(stay, advance, from_skip);
            a[k] = ::fma(label_e[k / 2], kLog2e, combined);
        } else {
            combined = mixed_log2_sum2<M>(stay, advance);
            a[k] = ::fma(blank_e, kLog2e, combined);
        }
        emit(k, combined, a[k]);
    }
}

// The state below a thread's first state in the one-warp chain: what lane - 1 published
// (its top state, exchanged by a shuffle), or -inf for lane 0 (nothing is below the chain).
SK_CTC_INLINE double mixed_state_below(int lane, double from_lane_below) {
    return lane == 0 ? neg_inf<double>() : from_lane_below;
}

// The loss of one sequence from its log-likelihood.
template <class A>
SK_HD A sequence_loss(A log_z, bool zero_infinity) {
    const A loss = -log_z;
    return (zero_infinity && loss == positive_infinity<A>()) ? A(0) : loss;
}

// The upstream gradient of sequence b after the reduction (g is grad_loss[b] for None, the
// scalar otherwise).
template <class A>
SK_HD A upstream_gradient(Reduction reduction, A g, index_t batch, index_t target_length) {
    if (reduction != Reduction::Mean) return g;
    return g / (A(batch) * A(target_length > 1 ? target_length : 1));
}

// Gradient entry of a class that some state of the frame carries (blank or a target label),
// with posterior gamma; and of any other class. prob = exp(log-probability of the class), which
// each backend evaluates its own way (vectorised on the CPU, an intrinsic on the device).
template <class A>
SK_HD A gradient_entry(bool fused, A upstream, A prob, A gamma) {
    return fused ? upstream * (prob - gamma) : -(upstream * gamma);
}
template <class A>
SK_HD A gradient_background(bool fused, A upstream, A prob) {
    return fused ? upstream * prob : A(0);
}

// ---- backend entry points (explicitly instantiated for float and double) --------------------
//
// loss:        writes args.loss.
// backward:    writes args.grad (every element) and, when args.loss.data, the loss. With
//              args.logits the gradient is w.r.t. the logits (fused form on softmax).
// posteriors:  writes args.posteriors (every element of (B, T, W)).
// align:       writes args.path and the optional spans / frame_scores / score.
template <class T>
void loss_cpu(sk_context &ctx, const Plan &plan, const Args<T> &args);
template <class T>
void backward_cpu(sk_context &ctx, const Plan &plan, const Args<T> &args);
template <class T>
void posteriors_cpu(sk_context &ctx, const Plan &plan, const Args<T> &args);
template <class T>
void align_cpu(sk_context &ctx, const Plan &plan, const Args<T> &args);

template <class T>
void loss_cuda(sk_context &ctx, const Plan &plan, const Args<T> &args);
template <class T>
void backward_cuda(sk_context &ctx, const Plan &plan, const Args<T> &args);
template <class T>
void posteriors_cuda(sk_context &ctx, const Plan &plan, const Args<T> &args);
template <class T>
void align_cuda(sk_context &ctx, const Plan &plan, const Args<T> &args);

}  // namespace sk::ctc
