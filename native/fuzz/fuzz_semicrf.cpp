// libFuzzer harness of the semi-CRF family: sk_semicrf_forward, _backward, _viterbi,
// _marginals, _gold_score and _gold_score_backward with fuzzed descriptors, lengths, gold
// segments / labels and options (see fuzz_common.h).
#include <algorithm>
#include <cstddef>

#include "fuzz_common.h"

using skfuzz::Fuzz;
using skfuzz::TensorPlan;

namespace {

// The plausible extents of one call and the arguments every entry point shares.
struct Problem {
    int64_t batch, steps, labels, durations;
    int32_t dtype;
    sk_semicrf_options *options;
    sk_tensor *scores, *transition, *duration_bias, *start, *proj_start, *proj_end, *lengths;
    std::vector<int64_t> transition_shape;
};

sk_semicrf_options *semicrf_options(Fuzz &f) {
    auto *o = f.options<sk_semicrf_options>();
    if (!o) return o;
    if (f.field(offsetof(sk_semicrf_options, semiring))) o->semiring = f.code(SK_SEMIRING_LOG, SK_SEMIRING_MAX);
    if (f.field(offsetof(sk_semicrf_options, input)))
        o->input = f.code(SK_SEMICRF_INPUT_SCORES, SK_SEMICRF_INPUT_CUMULATIVE);
    if (f.field(offsetof(sk_semicrf_options, zero_centre))) o->zero_centre = f.coin(3) ? f.code(0, 1) : 0;
    if (f.field(offsetof(sk_semicrf_options, flash_semicrf_compat))) o->flash_semicrf_compat = f.code(0, 1);
    if (f.field(offsetof(sk_semicrf_options, infeasible_gradient)))
        o->infeasible_gradient = f.code(SK_SEMICRF_INFEASIBLE_GRADIENT_ZERO, SK_SEMICRF_INFEASIBLE_GRADIENT_NAN);
    if (f.field(offsetof(sk_semicrf_options, reserved))) o->reserved = f.coin(16) ? 3 : 0;
    return o;
}

TensorPlan floats(const char *name, const Problem &p, std::vector<int64_t> shape, bool output = false,
                  bool optional = false) {
    return {name, p.dtype, std::move(shape), output, optional};
}

// Whether t is a CPU integer descriptor of the given rank whose elements can be read and written
// through its (non-negative) strides: its buffer, owned by the harness, covers them all.
bool addressable_ints(const sk_tensor *t, int rank) {
    if (!t || !t->data || t->rank != rank || t->device_type != SK_DEVICE_CPU) return false;
    if (t->dtype != SK_DTYPE_INT32 && t->dtype != SK_DTYPE_INT64) return false;
    for (int d = 0; d < rank; ++d)
        if (t->shape[d] < 0 || t->strides[d] < 0 || t->shape[d] > 64) return false;
    return true;
}

int64_t get_int(const sk_tensor &t, int64_t offset) {
    return t.dtype == SK_DTYPE_INT32 ? static_cast<const int32_t *>(t.data)[offset]
                                     : static_cast<const int64_t *>(t.data)[offset];
}

void set_int(const sk_tensor &t, int64_t offset, int64_t value) {
    if (t.dtype == SK_DTYPE_INT32) static_cast<int32_t *>(t.data)[offset] = static_cast<int32_t>(value);
    else static_cast<int64_t *>(t.data)[offset] = value;
}

// Random values rarely tile a sequence, so half the time the segments are rewritten into a
// valid tiling of [0, lengths[b]) (durations 1..K, labels in range) with matching counts, so
// that the scoring code itself is reached; the fuzz bytes still pick the durations and labels.
void make_tilings(Fuzz &f, const Problem &p, const sk_tensor *segments, const sk_tensor *counts) {
    if (!addressable_ints(segments, 3) || !addressable_ints(counts, 1) || !addressable_ints(p.lengths, 1)) return;
    if (segments->shape[2] != 3 || p.durations < 1 || p.labels < 1) return;
    const int64_t batch = std::min({segments->shape[0], counts->shape[0], p.lengths->shape[0]});
    for (int64_t b = 0; b < batch; ++b) {
        const int64_t length = get_int(*p.lengths, b * p.lengths->strides[0]);
        int64_t position = 0, row = 0;
        for (; position < length && row < segments->shape[1]; ++row) {
            const int64_t duration = std::min(f.small(1, p.durations), length - position);
            const int64_t base = b * segments->strides[0] + row * segments->strides[1];
            set_int(*segments, base, position);
            set_int(*segments, base + segments->strides[2], position + duration);
            set_int(*segments, base + 2 * segments->strides[2], f.small(0, p.labels - 1));
            position += duration;
        }
        set_int(*counts, b * counts->strides[0], row);
    }
}

// The gold annotation arguments: exactly one of segments (+ counts) and labels is valid; the
// fuzz bytes sometimes give both, neither, or counts without segments.
struct Gold {
    sk_tensor *segments = nullptr, *counts = nullptr, *labels = nullptr;
};

Gold gold(Fuzz &f, const Problem &p) {
    Gold g;
    const int which = static_cast<int>(f.small(0, 7));
    const bool segments = which <= 3 || which == 6, labels = (which >= 4 && which <= 5) || which == 6;
    if (segments || which == 7) {
        const int32_t type = f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64;
        const int64_t rows = std::max<int64_t>(p.steps + f.small(-1, 1), 0);
        TensorPlan seg{"gold_segments", type, {p.batch, rows, 3}};
        seg.hi = std::max(p.steps, p.labels - 1);  // starts, ends and labels all fall in [0, hi]
        if (segments) g.segments = f.tensor(seg);
        TensorPlan counts{"gold_segment_counts", f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64, {p.batch}};
        counts.hi = rows;
        g.counts = f.tensor(counts);
        if (f.coin(2)) make_tilings(f, p, g.segments, g.counts);
    }
    if (labels) {
        TensorPlan lab{"gold_labels", f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64, {p.batch, p.steps}};
        lab.hi = p.labels - 1;
        g.labels = f.tensor(lab);
    }
    return g;
}

// The gradient outputs, each optional, shaped like their inputs.
struct Grads {
    sk_tensor *scores, *transition, *duration_bias, *start, *proj_start, *proj_end;
};

Grads grads(Fuzz &f, const Problem &p, const std::vector<int64_t> &score_shape) {
    Grads g{};
    g.scores = f.tensor(floats("grad_scores", p, score_shape, true, true));
    g.transition = f.tensor(floats("grad_transition", p, p.transition_shape, true, true));
    g.duration_bias = f.tensor(floats("grad_duration_bias", p, {p.durations, p.labels}, true, true));
    g.start = f.tensor(floats("grad_start", p, {p.labels}, true, true));
    g.proj_start = f.tensor(floats("grad_proj_start", p, {p.batch, p.steps, p.labels}, true, true));
    g.proj_end = f.tensor(floats("grad_proj_end", p, {p.batch, p.steps, p.labels}, true, true));
    return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    Fuzz f(data, size);
    sk_context *ctx = f.context();
    const int op = static_cast<int>(f.small(0, 5));
    Problem p{};
    p.batch = f.small(0, 3);
    p.steps = f.small(1, 6);
    p.labels = f.small(1, 4);
    p.durations = f.small(1, 4);
    p.dtype = f.coin(2) ? SK_DTYPE_FLOAT32 : SK_DTYPE_FLOAT64;
    p.options = semicrf_options(f);
    const bool cumulative = p.options && f.field(offsetof(sk_semicrf_options, input)) &&
                            p.options->input == SK_SEMICRF_INPUT_CUMULATIVE;
    const std::vector<int64_t> score_shape{p.batch, p.steps + (cumulative ? 1 : 0), p.labels};
    p.transition_shape = f.coin(3) ? std::vector<int64_t>{p.durations, p.labels, p.labels}
                                   : std::vector<int64_t>{p.labels, p.labels};
    p.scores = f.tensor(floats("scores", p, score_shape));
    p.transition = f.tensor(floats("transition", p, p.transition_shape));
    p.duration_bias = f.tensor(floats("duration_bias", p, {p.durations, p.labels}));
    p.start = f.tensor(floats("start", p, {p.labels}, false, true));
    p.proj_start = f.tensor(floats("proj_start", p, {p.batch, p.steps, p.labels}, false, true));
    p.proj_end = f.tensor(floats("proj_end", p, {p.batch, p.steps, p.labels}, false, true));
    TensorPlan lengths{"lengths", f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64, {p.batch}};
    lengths.lo = 1;
    lengths.hi = p.steps;
    p.lengths = f.tensor(lengths);

    switch (op) {
        case 0: {
            sk_tensor *log_partition = f.tensor(floats("log_partition", p, {p.batch}, true));
            skfuzz::call(f, "sk_semicrf_forward", ctx, [&] {
                return sk_semicrf_forward(ctx, p.options, p.scores, p.transition, p.duration_bias, p.start,
                                          p.proj_start, p.proj_end, p.lengths, log_partition);
            });
            break;
        }
        case 1: {
            sk_tensor *grad = f.tensor(floats("grad_log_partition", p, {p.batch}));
            const Grads g = grads(f, p, score_shape);
            sk_tensor *log_partition = f.tensor(floats("log_partition", p, {p.batch}, true, true));
            skfuzz::call(f, "sk_semicrf_backward", ctx, [&] {
                return sk_semicrf_backward(ctx, p.options, p.scores, p.transition, p.duration_bias, p.start,
                                           p.proj_start, p.proj_end, p.lengths, grad, g.scores, g.transition,
                                           g.duration_bias, g.start, g.proj_start, g.proj_end, log_partition);
            });
            break;
        }
        case 2: {
            sk_tensor *best = f.tensor(floats("best_score", p, {p.batch}, true, true));
            sk_tensor *segments =
                f.tensor({"segments", SK_DTYPE_INT32, {p.batch, p.steps + f.small(-1, 1), 3}, true, true});
            sk_tensor *counts = f.tensor({"segment_counts", SK_DTYPE_INT32, {p.batch}, true, true});
            sk_tensor *path = f.tensor({"label_path", SK_DTYPE_INT32, {p.batch, p.steps}, true, true});
            skfuzz::call(f, "sk_semicrf_viterbi", ctx, [&] {
                return sk_semicrf_viterbi(ctx, p.options, p.scores, p.transition, p.duration_bias, p.start,
                                          p.proj_start, p.proj_end, p.lengths, best, segments, counts, path);
            });
            break;
        }
        case 3: {
            sk_tensor *boundary = f.tensor(floats("boundary", p, {p.batch, p.steps}, true, true));
            sk_tensor *coverage = f.tensor(floats("coverage", p, {p.batch, p.steps, p.labels}, true, true));
            sk_tensor *log_partition = f.tensor(floats("log_partition", p, {p.batch}, true, true));
            skfuzz::call(f, "sk_semicrf_marginals", ctx, [&] {
                return sk_semicrf_marginals(ctx, p.options, p.scores, p.transition, p.duration_bias, p.start,
                                            p.proj_start, p.proj_end, p.lengths, boundary, coverage,
                                            log_partition);
            });
            break;
        }
        case 4: {
            const Gold g = gold(f, p);
            sk_tensor *score = f.tensor(floats("score", p, {p.batch}, true));
            skfuzz::call(f, "sk_semicrf_gold_score", ctx, [&] {
                return sk_semicrf_gold_score(ctx, p.options, p.scores, p.transition, p.duration_bias, p.start,
                                             p.proj_start, p.proj_end, p.lengths, g.segments, g.counts,
                                             g.labels, score);
            });
            break;
        }
        default: {
            const Gold gd = gold(f, p);
            sk_tensor *grad = f.tensor(floats("grad_score", p, {p.batch}));
            const Grads g = grads(f, p, score_shape);
            sk_tensor *score = f.tensor(floats("score", p, {p.batch}, true, true));
            skfuzz::call(f, "sk_semicrf_gold_score_backward", ctx, [&] {
                return sk_semicrf_gold_score_backward(ctx, p.options, p.scores, p.transition, p.duration_bias,
                                                      p.start, p.proj_start, p.proj_end, p.lengths, gd.segments,
                                                      gd.counts, gd.labels, grad, g.scores, g.transition,
                                                      g.duration_bias, g.start, g.proj_start, g.proj_end, score);
            });
            break;
        }
    }
    return 0;
}
