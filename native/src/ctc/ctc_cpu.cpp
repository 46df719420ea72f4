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
//    s-1 and s-2 need no branch); the per-state work is two exp and one log.
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
    std::vector<Acc> shift, emit, rows, beta, combined, e, v;
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
template <bool Max>
void chain_step(const Acc *prev, const Acc *emit, const std::uint8_t *skip, index_t states, Acc *out,
                Acc *combined) {
    out[0] = out[1] = neg_inf<Acc>();
    const Acc *p = prev + kPad;
    Acc *o = out + kPad;
    for (index_t r = 0; r < states; ++r) {
        const Acc stay = p[r], advance = p[r - 1];
        const Acc from_skip = skip[r] ? p[r - 2] : neg_inf<Acc>();
        Acc c;
        if constexpr (Max)
            viterbi_pick(stay, advance, from_skip, &c);
        else
            c = log_sum_exp3(stay, advance, from_skip);
        if (combined) combined[r] = c;
        o[r] = emit[r] + c;
    }
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

// logsumexp over classes of every frame t < frames of sequence b (for logits input).
template <class T>
void frame_normalisers(const View3<const T> &input, index_t b, index_t frames, index_t classes, Acc *shift) {
    for (index_t t = 0; t < frames; ++t) {
        Acc hi = neg_inf<Acc>();
        for (index_t c = 0; c < classes; ++c) hi = nan_max(static_cast<Acc>(input(t, b, c)), hi);
        if (is_nan(hi) || hi == neg_inf<Acc>() || hi == positive_infinity<Acc>()) {
            shift[t] = hi;
            continue;
        }
        Acc sum = 0;
        for (index_t c = 0; c < classes; ++c) sum += std::exp(static_cast<Acc>(input(t, b, c)) - hi);
        shift[t] = hi + std::log(sum);
    }
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
    for (index_t s = 0; s < states; ++s) {
        v[s] = std::exp(e[s] - hi);
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
                frame_normalisers(args.input, b, q.frames, plan.classes, w.shift.data());
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
            const Acc lz = forward_backward(em, q, plan.blank, w, [&](index_t t, const Acc *v, const FrameMass &m) {
                for (index_t c = 0; c < plan.classes; ++c)
                    grad(t, q.b, c) = static_cast<T>(gradient_background(fused, u, em(t, c)));
                grad(t, q.b, plan.blank) = static_cast<T>(gradient_entry(fused, u, em(t, plan.blank), m.blank / m.total));
                for (index_t j = 0; j < q.length; ++j) {
                    if (!q.first[j]) continue;
                    Acc mass = 0;
                    for (index_t k = j; k >= 0; k = q.next_same[k]) mass += v[2 * k + 1];
                    const std::int32_t c = q.labels[j];
                    grad(t, q.b, c) = static_cast<T>(gradient_entry(fused, u, em(t, c), mass / m.total));
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
        index_t aligned_frames = 0;  // frames written by the backtrace
        Acc total = neg_inf<Acc>();
        std::vector<std::int32_t> span_start, span_end;
        if (q.feasible) {
            const Segments sg = plan_segments(q.frames, S, true);
            const RowStore rs = row_store(w, sg, S);
            const Acc *last = forward_pass<true>(em, q, plan.blank, w, sg, rs) + kPad;
            Acc best;
            index_t s = viterbi_final_state(S >= 2 ? last[S - 2] : neg_inf<Acc>(), last[S - 1], S, &best);
            if (best != neg_inf<Acc>()) {
                aligned_frames = q.frames;
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
        for (index_t t = aligned_frames; t < plan.frames; ++t) {
            args.path(q.b, t) = -1;
            if (args.frame_scores.data) args.frame_scores(q.b, t) = T(0);
        }
        if (args.spans.data)
            for (index_t j = 0; j < args.span_width; ++j) {
                const bool has = aligned_frames > 0 && j < q.length;
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
