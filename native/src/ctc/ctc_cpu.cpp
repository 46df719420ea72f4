// CPU backend of the CTC family. It is the reference the CUDA kernels are tested against.
//
//  - Parallel over the batch with the context's pool (one sequence per task, each output
//    element written by exactly one thread in a fixed order: results do not depend on the
//    thread count).
//  - Every recursion runs in float64 whatever the input dtype (|alpha| grows like T * |lp|;
//    float64 keeps ~1e-16 relative precision there, so T = 10^5 does not drift), and the
//    outputs are rounded once.
//  - Memory per thread is bounded: the forward rows of one sequence are kept whole when they
//    fit kRowBudget elements, otherwise only every K-th row (K ~ sqrt(T), a checkpoint) and
//    the backward pass recomputes one segment of K rows at a time from its checkpoint (the
//    forward recursion then runs twice: 1.5x the work of the kept-rows path).
//  - The state loops are straight-line over contiguous rows padded with two -inf entries (so
//    s-1 and s-2 need no branch); the per-state work is two exp and one log, evaluated by the
//    branch-free polynomials of CpuMath so that GCC vectorises the loops (std::exp / std::log
//    are opaque calls). They are compiled for baseline x86-64 and for Haswell (AVX2 + FMA) and
//    picked at load time, like the matmul micro-kernels; results are bitwise reproducible on
//    one machine, and may differ in the last bits between machines with and without AVX2.
// The loops below only vectorise when GCC may evaluate both sides of a select without fearing
// floating-point traps; the library never enables traps, so this changes no result.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/context.h"
#include "core/error.h"
#include "ctc/ctc.h"

namespace sk::ctc {
namespace {

using Acc = double;

#if defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define SK_CTC_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SK_CTC_CPU_CLONES
#endif

// exp and log without calls or branches (about 1 ulp), for the loops over states and classes.
struct CpuMath {
    // exp(x) for x <= 0: 2^n exp(r), n = round(x / ln 2), |r| <= ln(2) / 2 (Cody-Waite), exp(r)
    // by its Taylor polynomial to r^13 (truncation < 5e-18). x < -708 gives 0 (subnormal results
    // are dropped: they only ever meet terms >= 1 or normalised sums); NaN stays NaN.
    __attribute__((always_inline)) static Acc exp(Acc x) {
        constexpr Acc kLog2e = 1.4426950408889634074;
        constexpr Acc kLn2Hi = 6.93147180369123816490e-01;
        constexpr Acc kLn2Lo = 1.90821492927058770002e-10;
        constexpr Acc kShift = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
        const Acc t = x * kLog2e + kShift;
        const Acc n = t - kShift;
        const Acc r = (x - n * kLn2Hi) - n * kLn2Lo;
        Acc p = 1.0 / 6227020800.0;
        p = p * r + 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        std::uint64_t t_bits, shift_bits;
        std::memcpy(&t_bits, &t, sizeof t);
        std::memcpy(&shift_bits, &kShift, sizeof kShift);
        // n in [-1022, 0] as a two's complement integer in the low bits; 2^n from its exponent.
        const std::uint64_t scale_bits = (t_bits - shift_bits + 1023) << 52;
        Acc scale;
        std::memcpy(&scale, &scale_bits, sizeof scale);
        const Acc y = p * scale;
        const Acc flushed = x < -708.0 ? Acc(0) : y;
        return x != x ? x : flushed;
    }
    // log(y) for y in [1, 3]: y = 2^k m with m in [0.75, 1.5), log m = 2 atanh(u),
    // u = (m - 1) / (m + 1), |u| <= 0.2, series to u^23 (truncation < 1e-18).
    __attribute__((always_inline)) static Acc log(Acc y) {
        constexpr Acc kLn2 = 0.69314718055994530942;
        const bool big = y >= 1.5;
        const Acc m = big ? 0.5 * y : y;
        const Acc u = (m - 1.0) / (m + 1.0);
        const Acc u2 = u * u;
        Acc q = 1.0 / 23.0;
        q = q * u2 + 1.0 / 21.0;
        q = q * u2 + 1.0 / 19.0;
        q = q * u2 + 1.0 / 17.0;
        q = q * u2 + 1.0 / 15.0;
        q = q * u2 + 1.0 / 13.0;
        q = q * u2 + 1.0 / 11.0;
        q = q * u2 + 1.0 / 9.0;
        q = q * u2 + 1.0 / 7.0;
        q = q * u2 + 1.0 / 5.0;
        q = q * u2 + 1.0 / 3.0;
        q = q * u2 + 1.0;
        return (big ? kLn2 : Acc(0)) + 2.0 * u * q;
    }
};

// Accumulator elements of forward rows one thread keeps for one sequence (32 MiB).
constexpr index_t kRowBudget = index_t(1) << 22;
constexpr index_t kPad = 2;  // two -inf entries before state 0 of every row

// One sequence's log-probabilities in float64: lp(t, c) = input(t, b, c), or with logits
// input(t, b, c) - shift[t], shift[t] = logsumexp_c input(t, b, c).
template <class T>
struct Emissions {
    View3<const T> input;
    index_t b = 0;
    const Acc *shift = nullptr;
    Acc operator()(index_t t, index_t c) const {
        const Acc v = static_cast<Acc>(input(t, b, c));
        return shift ? v - shift[t] : v;
    }
};

struct Sequence {
    index_t b = 0;
    index_t frames = 0;
    index_t length = 0;
    index_t states = 0;
    const std::int32_t *labels = nullptr;
    const std::int32_t *next_same = nullptr;
    const std::uint8_t *first = nullptr;
    bool feasible = false;
};

Sequence sequence_of(const Plan &plan, index_t b) {
    const auto i = static_cast<std::size_t>(b);
    Sequence q;
    q.b = b;
    q.frames = plan.input_length[i];
    q.length = plan.target_length[i];
    q.states = 2 * q.length + 1;
    const auto offset = static_cast<std::size_t>(plan.label_offset[i]);
    q.labels = plan.labels.data() + offset;
    q.next_same = plan.next_same.data() + offset;
    q.first = plan.first.data() + offset;
    q.feasible = plan.feasible[i] != 0;
    return q;
}

// Labels and skip flags of one direction, in chain order.
struct Chain {
    std::vector<std::int32_t> label;
    std::vector<std::uint8_t> skip;
    void build(const Sequence &q, std::int32_t blank, bool reverse) {
        const auto n = static_cast<std::size_t>(q.states);
        label.resize(n);
        skip.resize(n);
        for (index_t r = 0; r < q.states; ++r) {
            label[static_cast<std::size_t>(r)] = state_label(q.labels, blank, chain_state(r, q.states, reverse));
            skip[static_cast<std::size_t>(r)] = chain_skip(q.labels, r, q.states, reverse) ? 1 : 0;
        }
    }
};

// Per-thread scratch, grown as needed and reused across the sequences of a task.
struct Scratch {
    Chain fwd, rev;
    std::vector<Acc> shift, emit, rows, beta, combined, e, v, lp, prob;
};

template <class V>
void grow(V &v, index_t n) {
    if (static_cast<index_t>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
}

// How the forward rows of a sequence are kept: `count` segments of K frames; checkpoint j is
// the row before segment j. store == false keeps nothing (loss only).
struct Segments {
    index_t K = 1;
    index_t count = 0;
    bool store = false;
};

Segments plan_segments(index_t frames, index_t states, bool store) {
    Segments sg;
    sg.store = store;
    if (frames == 0) return sg;
    const index_t P = states + kPad;
    if (!store || (frames + 4) * P <= kRowBudget) {
        sg.K = frames;
    } else {
        sg.K = std::max<index_t>(1, static_cast<index_t>(std::ceil(std::sqrt(static_cast<double>(frames)))));
    }
    sg.count = (frames + sg.K - 1) / sg.K;
    return sg;
}

void init_row(Acc *row, index_t states) {
    std::fill(row, row + states + kPad, neg_inf<Acc>());
    row[kPad] = Acc(0);  // alpha_{-1} = e_0
}

// emit[r] = lp(t, label of chain position r); even positions are blank in both directions.
template <class T>
void gather(const Emissions<T> &em, index_t t, const Chain &chain, index_t states, std::int32_t blank,
            Acc *emit) {
    const Acc blank_lp = em(t, blank);
    for (index_t r = 0; r < states; ++r)
        emit[r] = (r & 1) ? em(t, chain.label[static_cast<std::size_t>(r)]) : blank_lp;
}

// One frame of the recursion in chain order. prev and out are padded rows (value of r at
// [r + kPad]); combined (optional) receives the value before the emission is added.
// (Not a template: GCC ignores target_clones on templates.)
SK_CTC_CPU_CLONES void log_step(const Acc *__restrict prev, const Acc *__restrict emit,
                                const std::uint8_t *__restrict skip, index_t states, Acc *__restrict out,
                                Acc *__restrict combined) {
    out[0] = out[1] = neg_inf<Acc>();
    const Acc *p = prev + kPad;
    Acc *o = out + kPad;
    if (combined) {
        for (index_t r = 0; r < states; ++r) {
            const Acc two_back = p[r - 2];  // loaded unconditionally (the padding makes it valid)
            const Acc c = log_sum_exp3<Acc, CpuMath>(p[r], p[r - 1], skip[r] ? two_back : neg_inf<Acc>());
            combined[r] = c;
            o[r] = emit[r] + c;
        }
    } else {
        for (index_t r = 0; r < states; ++r) {
            const Acc two_back = p[r - 2];
            const Acc c = log_sum_exp3<Acc, CpuMath>(p[r], p[r - 1], skip[r] ? two_back : neg_inf<Acc>());
            o[r] = emit[r] + c;
        }
    }
}

void max_step(const Acc *prev, const Acc *emit, const std::uint8_t *skip, index_t states, Acc *out) {
    out[0] = out[1] = neg_inf<Acc>();
    const Acc *p = prev + kPad;
    Acc *o = out + kPad;
    for (index_t r = 0; r < states; ++r) {
        Acc c;
        viterbi_pick(p[r], p[r - 1], skip[r] ? p[r - 2] : neg_inf<Acc>(), &c);
        o[r] = emit[r] + c;
    }
}

template <bool Max>
void chain_step(const Acc *prev, const Acc *emit, const std::uint8_t *skip, index_t states, Acc *out,
                Acc *combined) {
    if constexpr (Max)
        max_step(prev, emit, skip, states, out);
    else
        log_step(prev, emit, skip, states, out, combined);
}

// Buffers of the forward rows inside Scratch::rows: [checkpoints][segment: K + 1 rows][2 spare].
struct RowStore {
    Acc *checkpoints, *segment, *spare;
    index_t P;
    Acc *checkpoint(index_t j) const { return checkpoints + j * P; }
    // Row i of the current segment holds alpha_{start - 1 + i}.
    Acc *seg_row(index_t i) const { return segment + i * P; }
};

RowStore row_store(Scratch &w, const Segments &sg, index_t states) {
    const index_t P = states + kPad;
    const index_t seg_rows = sg.store ? sg.K + 1 : 0;
    const index_t ck_rows = sg.store ? sg.count : 0;
    grow(w.rows, (ck_rows + seg_rows + 2) * P);
    RowStore rs;
    rs.P = P;
    rs.checkpoints = w.rows.data();
    rs.segment = rs.checkpoints + ck_rows * P;
    rs.spare = rs.segment + seg_rows * P;
    return rs;
}

// The forward recursion over all frames. With sg.store it leaves the checkpoints and the rows
// of the last segment in rs. Returns the final row (alpha_{T-1}; the initial row when T = 0).
template <bool Max, class T>
const Acc *forward_pass(const Emissions<T> &em, const Sequence &q, std::int32_t blank, Scratch &w,
                        const Segments &sg, const RowStore &rs) {
    const index_t S = q.states, P = rs.P;
    grow(w.emit, S);
    Acc *spare[2] = {rs.spare, rs.spare + P};
    init_row(spare[0], S);
    const Acc *prev = spare[0];
    const index_t last_start = sg.store ? (sg.count - 1) * sg.K : q.frames;
    for (index_t t = 0; t < q.frames; ++t) {
        if (sg.store && t % sg.K == 0) std::memcpy(rs.checkpoint(t / sg.K), prev, sizeof(Acc) * P);
        if (t == last_start) std::memcpy(rs.seg_row(0), prev, sizeof(Acc) * P);
        Acc *out = t >= last_start ? rs.seg_row(t - last_start + 1) : (prev == spare[0] ? spare[1] : spare[0]);
        gather(em, t, w.fwd, S, blank, w.emit.data());
        chain_step<Max>(prev, w.emit.data(), w.fwd.skip.data(), S, out, nullptr);
        prev = out;
    }
    return prev;
}

// Refills the segment rows of segment j (not the last one) from its checkpoint.
template <bool Max, class T>
void recompute_segment(const Emissions<T> &em, const Sequence &q, std::int32_t blank, Scratch &w,
                       const Segments &sg, const RowStore &rs, index_t j) {
    const index_t start = j * sg.K, end = std::min(q.frames, start + sg.K);
    std::memcpy(rs.seg_row(0), rs.checkpoint(j), sizeof(Acc) * rs.P);
    for (index_t t = start; t < end; ++t) {
        gather(em, t, w.fwd, q.states, blank, w.emit.data());
        chain_step<Max>(rs.seg_row(t - start), w.emit.data(), w.fwd.skip.data(), q.states,
                        rs.seg_row(t - start + 1), nullptr);
    }
}

// log Z from the final forward row.
Acc final_log_z(const Acc *row, index_t states) {
    const Acc *v = row + kPad;
    return states == 1 ? v[0] : log_add_exp(v[states - 1], v[states - 2]);
}

// y[i] = exp(x[i] - shift) for x[i] - shift <= 0 (vectorised).
SK_CTC_CPU_CLONES void exp_shifted(const Acc *__restrict x, index_t n, Acc shift, Acc *__restrict y) {
    for (index_t i = 0; i < n; ++i) y[i] = CpuMath::exp(x[i] - shift);
}

// row[c] = input(t, b, c) as float64.
template <class T>
void gather_row(const View3<const T> &input, index_t t, index_t b, index_t classes, Acc *row) {
    for (index_t c = 0; c < classes; ++c) row[c] = static_cast<Acc>(input(t, b, c));
}

// logsumexp over classes of every frame t < frames of sequence b (for logits input).
template <class T>
void frame_normalisers(const View3<const T> &input, index_t b, index_t frames, index_t classes, Acc *shift,
                       std::vector<Acc> &row, std::vector<Acc> &ex) {
    grow(row, classes);
    grow(ex, classes);
    for (index_t t = 0; t < frames; ++t) {
        gather_row(input, t, b, classes, row.data());
        Acc hi = neg_inf<Acc>();
        for (index_t c = 0; c < classes; ++c) hi = nan_max(row[static_cast<std::size_t>(c)], hi);
        if (is_nan(hi) || hi == neg_inf<Acc>() || hi == positive_infinity<Acc>()) {
            shift[t] = hi;
            continue;
        }
        exp_shifted(row.data(), classes, hi, ex.data());
        Acc sum = 0;
        for (index_t c = 0; c < classes; ++c) sum += ex[static_cast<std::size_t>(c)];
        shift[t] = hi + std::log(sum);
    }
}

// prob[c] = exp(lp(t, c)) for every class: shifted by the row maximum into the vectorised
// exp's domain, or std::exp when the maximum is not finite.
template <class T>
void class_probabilities(const Emissions<T> &em, index_t t, index_t classes, Acc *lp, Acc *prob) {
    Acc hi = neg_inf<Acc>();
    for (index_t c = 0; c < classes; ++c) {
        lp[c] = em(t, c);
        hi = nan_max(lp[c], hi);
    }
    if (is_nan(hi) || hi == neg_inf<Acc>() || hi == positive_infinity<Acc>()) {
        for (index_t c = 0; c < classes; ++c) prob[c] = std::exp(lp[c]);
        return;
    }
    exp_shifted(lp, classes, hi, prob);
    const Acc scale = std::exp(hi);
    for (index_t c = 0; c < classes; ++c) prob[c] *= scale;
}

// Per-frame posterior mass: v[s] = exp(e[s] - max), total and blank (even states) sums in state
// order. Posterior of s = v[s] / total.
struct FrameMass {
    Acc total = 0;
    Acc blank = 0;
};

FrameMass frame_mass(const Acc *e, index_t states, Acc *v) {
    Acc hi = neg_inf<Acc>();
    for (index_t s = 0; s < states; ++s) hi = nan_max(e[s], hi);
    FrameMass m;
    if (hi == neg_inf<Acc>()) {  // no alignment passes this frame (only when log Z = -inf)
        std::fill(v, v + states, Acc(0));
        return m;
    }
    if (hi == positive_infinity<Acc>()) {
        for (index_t s = 0; s < states; ++s) v[s] = std::exp(e[s] - hi);
    } else {
        exp_shifted(e, states, hi, v);
    }
    for (index_t s = 0; s < states; ++s) {
        m.total += v[s];
        if (!(s & 1)) m.blank += v[s];
    }
    return m;
}

// Runs forward and backward over one sequence and calls sink(t, v, mass) for every frame
// t < frames, from the last to the first, where v[s] / mass.total is the posterior of state s.
// Returns log Z; the sink is not called when log Z = -inf (no alignment).
template <class T, class Sink>
Acc forward_backward(const Emissions<T> &em, const Sequence &q, std::int32_t blank, Scratch &w,
                     Sink &&sink) {
    const index_t S = q.states;
    const Segments sg = plan_segments(q.frames, S, true);
    const RowStore rs = row_store(w, sg, S);
    const Acc log_z = final_log_z(forward_pass<false>(em, q, blank, w, sg, rs), S);
    if (log_z == neg_inf<Acc>()) return log_z;
    const index_t P = rs.P;
    grow(w.beta, 2 * P);
    grow(w.combined, S);
    grow(w.e, S);
    grow(w.v, S);
    Acc *bprev = w.beta.data(), *bcur = bprev + P;
    init_row(bprev, S);  // the reversed chain starts like the forward one
    for (index_t j = sg.count - 1; j >= 0; --j) {
        if (j != sg.count - 1) recompute_segment<false>(em, q, blank, w, sg, rs, j);
        const index_t start = j * sg.K, end = std::min(q.frames, start + sg.K);
        for (index_t t = end - 1; t >= start; --t) {
            gather(em, t, w.rev, S, blank, w.emit.data());
            chain_step<false>(bprev, w.emit.data(), w.rev.skip.data(), S, bcur, w.combined.data());
            const Acc *alpha = rs.seg_row(t - start + 1) + kPad;
            for (index_t s = 0; s < S; ++s) w.e[static_cast<std::size_t>(s)] = alpha[s] + w.combined[static_cast<std::size_t>(S - 1 - s)];
            const FrameMass mass = frame_mass(w.e.data(), S, w.v.data());
            sink(t, w.v.data(), mass);
            std::swap(bprev, bcur);
        }
    }
    return log_z;
}

// The task body shared by every op: runs body(q, em, w) for each sequence of [b0, b1) with a
// per-task scratch, the emissions view (and logits normalisers) prepared.
template <class T, class Body>
void for_sequences(sk_context &ctx, const Plan &plan, const Args<T> &args, Body &&body) {
    ctx.pool().parallel_for(plan.batch, 1, [&](index_t b0, index_t b1) {
        Scratch w;
        for (index_t b = b0; b < b1; ++b) {
            const Sequence q = sequence_of(plan, b);
            Emissions<T> em{args.input, b, nullptr};
            if (args.logits) {
                grow(w.shift, q.frames);
                frame_normalisers(args.input, b, q.frames, plan.classes, w.shift.data(), w.lp, w.prob);
                em.shift = w.shift.data();
            }
            w.fwd.build(q, plan.blank, false);
            w.rev.build(q, plan.blank, true);
            body(q, em, w);
        }
    });
}

template <class T>
void write_loss(const Plan &plan, const Args<T> &args, const std::vector<Acc> &log_z) {
    if (!args.loss.data) return;
    if (args.reduction == Reduction::None) {
        for (index_t b = 0; b < plan.batch; ++b)
            args.loss[b] = static_cast<T>(sequence_loss(log_z[static_cast<std::size_t>(b)], args.zero_infinity));
        return;
    }
    Acc total = 0;
    for (index_t b = 0; b < plan.batch; ++b) {
        Acc loss = sequence_loss(log_z[static_cast<std::size_t>(b)], args.zero_infinity);
        if (args.reduction == Reduction::Mean)
            loss /= static_cast<Acc>(std::max<std::int64_t>(plan.target_length[static_cast<std::size_t>(b)], 1));
        total += loss;
    }
    if (args.reduction == Reduction::Mean) total /= static_cast<Acc>(plan.batch);  // 0/0 = NaN for B = 0
    args.loss[0] = static_cast<T>(total);
}

// Sets the (t, b, c) rows of frames [t0, frames) of sequence b to zero.
template <class T>
void zero_grad_rows(const View3<T> &grad, index_t b, index_t t0, index_t frames, index_t classes) {
    for (index_t t = t0; t < frames; ++t)
        for (index_t c = 0; c < classes; ++c) grad(t, b, c) = T(0);
}

}  // namespace

template <class T>
void loss_cpu(sk_context &ctx, const Plan &plan, const Args<T> &args) {
    std::vector<Acc> log_z(static_cast<std::size_t>(plan.batch), neg_inf<Acc>());
    for_sequences(ctx, plan, args, [&](const Sequence &q, const Emissions<T> &em, Scratch &w) {
        if (!q.feasible) return;
        const Segments sg = plan_segments(q.frames, q.states, false);
        const RowStore rs = row_store(w, sg, q.states);
        log_z[static_cast<std::size_t>(q.b)] = final_log_z(forward_pass<false>(em, q, plan.blank, w, sg, rs), q.states);
    });
    write_loss(plan, args, log_z);
}

template <class T>
void backward_cpu(sk_context &ctx, const Plan &plan, const Args<T> &args) {
    std::vector<Acc> log_z(static_cast<std::size_t>(plan.batch), neg_inf<Acc>());
    const bool fused = args.logits || args.fused_gradient;
    for_sequences(ctx, plan, args, [&](const Sequence &q, const Emissions<T> &em, Scratch &w) {
        const Acc g = static_cast<Acc>(args.reduction == Reduction::None ? args.grad_loss[q.b] : args.grad_loss[0]);
        const Acc u = upstream_gradient(args.reduction, g, plan.batch, q.length);
        const auto &grad = args.grad;
        bool written = false;
        if (q.feasible) {
            if (fused) {
                grow(w.lp, plan.classes);
                grow(w.prob, plan.classes);
            }
            Acc *prob = w.prob.data();
            const auto probability = [&](std::int32_t c) { return fused ? prob[c] : Acc(0); };
            const Acc lz = forward_backward(em, q, plan.blank, w, [&](index_t t, const Acc *v, const FrameMass &m) {
                if (fused) class_probabilities(em, t, plan.classes, w.lp.data(), prob);
                for (index_t c = 0; c < plan.classes; ++c)
                    grad(t, q.b, c) = static_cast<T>(fused ? gradient_background(fused, u, prob[c]) : Acc(0));
                grad(t, q.b, plan.blank) =
                    static_cast<T>(gradient_entry(fused, u, probability(plan.blank), m.blank / m.total));
                for (index_t j = 0; j < q.length; ++j) {
                    if (!q.first[j]) continue;
                    Acc mass = 0;
                    for (index_t k = j; k >= 0; k = q.next_same[k]) mass += v[2 * k + 1];
                    const std::int32_t c = q.labels[j];
                    grad(t, q.b, c) = static_cast<T>(gradient_entry(fused, u, probability(c), mass / m.total));
                }
            });
            log_z[static_cast<std::size_t>(q.b)] = lz;
            written = lz != neg_inf<Acc>();
        }
        zero_grad_rows(grad, q.b, written ? q.frames : 0, plan.frames, plan.classes);
    });
    write_loss(plan, args, log_z);
}

template <class T>
void posteriors_cpu(sk_context &ctx, const Plan &plan, const Args<T> &args) {
    const auto &post = args.posteriors;
    const index_t W = args.posterior_width;
    for_sequences(ctx, plan, args, [&](const Sequence &q, const Emissions<T> &em, Scratch &w) {
        bool written = false;
        if (q.feasible) {
            const Acc lz = forward_backward(em, q, plan.blank, w, [&](index_t t, const Acc *v, const FrameMass &m) {
                for (index_t s = 0; s < q.states; ++s) post(q.b, t, s) = static_cast<T>(v[s] / m.total);
                for (index_t s = q.states; s < W; ++s) post(q.b, t, s) = T(0);
            });
            written = lz != neg_inf<Acc>();
        }
        for (index_t t = written ? q.frames : 0; t < plan.frames; ++t)
            for (index_t s = 0; s < W; ++s) post(q.b, t, s) = T(0);
    });
}

template <class T>
void align_cpu(sk_context &ctx, const Plan &plan, const Args<T> &args) {
    for_sequences(ctx, plan, args, [&](const Sequence &q, const Emissions<T> &em, Scratch &w) {
        const index_t S = q.states;
        bool aligned = false;  // an alignment exists: the backtrace writes frames [0, q.frames)
        Acc total = neg_inf<Acc>();
        std::vector<std::int32_t> span_start, span_end;
        if (q.feasible) {
            const Segments sg = plan_segments(q.frames, S, true);
            const RowStore rs = row_store(w, sg, S);
            const Acc *last = forward_pass<true>(em, q, plan.blank, w, sg, rs) + kPad;
            Acc best;
            index_t s = viterbi_final_state(S >= 2 ? last[S - 2] : neg_inf<Acc>(), last[S - 1], S, &best);
            if (best != neg_inf<Acc>()) {
                aligned = true;
                total = 0;
                span_start.assign(static_cast<std::size_t>(q.length), -1);
                span_end.assign(static_cast<std::size_t>(q.length), -1);
                for (index_t j = sg.count - 1; j >= 0; --j) {
                    if (j != sg.count - 1) recompute_segment<true>(em, q, plan.blank, w, sg, rs, j);
                    const index_t start = j * sg.K, end = std::min(q.frames, start + sg.K);
                    for (index_t t = end - 1; t >= start; --t) {
                        const std::int32_t c = state_label(q.labels, plan.blank, s);
                        const Acc lp = em(t, c);
                        args.path(q.b, t) = c;
                        if (args.frame_scores.data) args.frame_scores(q.b, t) = static_cast<T>(lp);
                        total += lp;
                        if (s & 1) {
                            const auto jj = static_cast<std::size_t>(s >> 1);
                            if (span_end[jj] < 0) span_end[jj] = static_cast<std::int32_t>(t + 1);
                            span_start[jj] = static_cast<std::int32_t>(t);
                        }
                        if (t == 0) break;
                        const Acc *row = rs.seg_row(t - start) + kPad;  // alpha_{t-1}
                        const Acc from_skip = w.fwd.skip[static_cast<std::size_t>(s)] ? row[s - 2] : neg_inf<Acc>();
                        Acc unused;
                        s -= viterbi_pick(row[s], s >= 1 ? row[s - 1] : neg_inf<Acc>(), from_skip, &unused);
                    }
                }
            }
        }
        for (index_t t = aligned ? q.frames : 0; t < plan.frames; ++t) {
            args.path(q.b, t) = -1;
            if (args.frame_scores.data) args.frame_scores(q.b, t) = T(0);
        }
        if (args.spans.data)
            for (index_t j = 0; j < args.span_width; ++j) {
                const bool has = aligned && j < q.length;
                args.spans(q.b, j, 0) = has ? span_start[static_cast<std::size_t>(j)] : -1;
                args.spans(q.b, j, 1) = has ? span_end[static_cast<std::size_t>(j)] : -1;
            }
        if (args.score.data) args.score[q.b] = static_cast<T>(total);
    });
}

#define SK_CTC_INSTANTIATE(T)                                                        \
    template void loss_cpu<T>(sk_context &, const Plan &, const Args<T> &);          \
    template void backward_cpu<T>(sk_context &, const Plan &, const Args<T> &);      \
    template void posteriors_cpu<T>(sk_context &, const Plan &, const Args<T> &);    \
    template void align_cpu<T>(sk_context &, const Plan &, const Args<T> &);
SK_CTC_INSTANTIATE(float)
SK_CTC_INSTANTIATE(double)
#undef SK_CTC_INSTANTIATE

}  // namespace sk::ctc
