// extern "C" entry points of the semi-CRF family: validate every argument (naming it), read the
// index tensors (lengths, gold annotations) on the host, then dispatch on device and dtype.
// Nothing is written before every check has passed.
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "capi/capi_guard.h"
#include "capi/validate.h"
#include "core/device.h"
#include "semicrf/semicrf.h"

namespace sk::capi {
namespace {

using semicrf::Input;
using semicrf::Op;

long long ll(index_t x) { return static_cast<long long>(x); }

struct Options {
    Semiring semiring = Semiring::Log;
    Input input = Input::Scores;
    bool zero_centre = false;
    bool compat = false;
    bool nan_infeasible_gradient = false;
};

void require_flag(int32_t v, const char *name) {
    if (v != 0 && v != 1) fail(SK_ERROR_INVALID_ARGUMENT, "argument '%s': must be 0 or 1, got %d", name, v);
}

Options require_semicrf_options(const sk_semicrf_options *o, Op op) {
    if (!o) fail(SK_ERROR_NULL_POINTER, "argument 'options' is NULL");
    require_options_size(o->struct_size, offsetof(sk_semicrf_options, reserved) + sizeof(int32_t),
                         "sk_semicrf_options", sizeof(sk_semicrf_options));
    if (o->semiring != SK_SEMIRING_LOG && o->semiring != SK_SEMIRING_MAX)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.semiring': the semi-CRF ops take "
             "SK_SEMIRING_LOG or SK_SEMIRING_MAX, got %d", o->semiring);
    if (op == Op::Viterbi && o->semiring != SK_SEMIRING_MAX)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.semiring': Viterbi decoding needs "
             "SK_SEMIRING_MAX, got the log semiring");
    if (o->input != SK_SEMICRF_INPUT_SCORES && o->input != SK_SEMICRF_INPUT_CUMULATIVE)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.input': unknown value %d", o->input);
    require_flag(o->zero_centre, "options.zero_centre");
    if (o->zero_centre && o->input != SK_SEMICRF_INPUT_SCORES)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.zero_centre': centring applies to "
             "per-position scores (SK_SEMICRF_INPUT_SCORES), not to ready cumulative scores");
    require_flag(o->flash_semicrf_compat, "options.flash_semicrf_compat");
    if (o->infeasible_gradient != SK_SEMICRF_INFEASIBLE_GRADIENT_ZERO &&
        o->infeasible_gradient != SK_SEMICRF_INFEASIBLE_GRADIENT_NAN)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.infeasible_gradient': unknown value %d",
             o->infeasible_gradient);
    if (o->reserved != 0)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.reserved': must be 0, got %d", o->reserved);
    Options r;
    r.semiring = static_cast<Semiring>(o->semiring);
    r.input = static_cast<Input>(o->input);
    r.zero_centre = o->zero_centre != 0;
    r.compat = o->flash_semicrf_compat != 0;
    r.nan_infeasible_gradient = o->infeasible_gradient == SK_SEMICRF_INFEASIBLE_GRADIENT_NAN;
    return r;
}

using Named = std::pair<const sk_tensor *, const char *>;

// The validated inputs of one call.
struct Inputs {
    Options options;
    DType dtype = DType::Float32;
    semicrf::Shape shape;
    const sk_tensor *scores = nullptr, *transition = nullptr, *duration_bias = nullptr,
                    *start = nullptr, *proj_start = nullptr, *proj_end = nullptr,
                    *lengths = nullptr, *gold_segments = nullptr, *gold_counts = nullptr,
                    *gold_labels = nullptr;
    std::vector<index_t> lengths_host;
    // Gold annotations, packed on the host.
    std::vector<index_t> gold_segments_host, gold_counts_host, gold_labels_host, gold_runs_host;
    index_t gold_capacity = 0;
    std::vector<Named> all() const {
        return {{scores, "scores"}, {transition, "transition"}, {duration_bias, "duration_bias"},
                {start, "start"}, {proj_start, "proj_start"}, {proj_end, "proj_end"},
                {lengths, "lengths"}, {gold_segments, "gold_segments"},
                {gold_counts, "gold_segment_counts"}, {gold_labels, "gold_labels"}};
    }
};

void require_extent(const sk_tensor &t, const char *name, int dim, index_t want, const char *what) {
    if (t.shape[dim] != want)
        fail(SK_ERROR_SHAPE, "argument '%s': extent %lld in dimension %d must equal %s = %lld "
             "(shape %s)", name, ll(t.shape[dim]), dim, what, ll(want), shape_string(t).c_str());
}

void require_float_input(const sk_tensor &t, const char *name, DType dtype, const sk_context &ctx) {
    require_dtype(t, name, dtype);
    require_on_context_device(t, name, ctx);
}

// Every element of an int32 / int64 tensor of rank 1..3, in row-major order, read on the host
// (device-resident tensors of a CUDA context are copied first).
std::vector<index_t> read_indices(const sk_tensor &t, const char *name, const sk_context &ctx) {
    if (t.dtype != SK_DTYPE_INT32 && t.dtype != SK_DTYPE_INT64)
        fail(SK_ERROR_DTYPE, "argument '%s': expected int32 or int64, got %s", name,
             dtype_name(static_cast<DType>(t.dtype)));
    const index_t count = element_count(t);
    std::vector<index_t> out(static_cast<std::size_t>(count));
    if (count == 0) return out;
    const std::size_t elem = dtype_size(static_cast<DType>(t.dtype));
    index_t span = 1;
    for (int d = 0; d < t.rank; ++d) span += (t.shape[d] - 1) * t.strides[d];
    std::vector<unsigned char> bytes;
    const unsigned char *host = static_cast<const unsigned char *>(t.data);
    if (t.device_type != SK_DEVICE_CPU) {
        require_on_context_device(t, name, ctx);
        bytes.resize(static_cast<std::size_t>(span) * elem);
        device::copy(bytes.data(), DeviceType::Cpu, t.data, DeviceType::Cuda, bytes.size(),
                     ctx.device_index(), ctx.stream());
        host = bytes.data();
    }
    index_t idx[3] = {0, 0, 0};
    for (index_t n = 0; n < count; ++n) {
        index_t offset = 0;
        for (int d = 0; d < t.rank; ++d) offset += idx[d] * t.strides[d];
        const unsigned char *p = host + static_cast<std::size_t>(offset) * elem;
        if (t.dtype == SK_DTYPE_INT32) {
            std::int32_t x;
            std::memcpy(&x, p, sizeof x);
            out[static_cast<std::size_t>(n)] = x;
        } else {
            std::int64_t x;
            std::memcpy(&x, p, sizeof x);
            out[static_cast<std::size_t>(n)] = x;
        }
        for (int d = t.rank - 1; d >= 0; --d) {
            if (++idx[d] < t.shape[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

void require_lengths(const sk_tensor *lengths, Inputs &in, const sk_context &ctx) {
    const auto &t = require_tensor(lengths, "lengths");
    require_rank(t, "lengths", 1, 1);
    require_extent(t, "lengths", 0, in.shape.batch, "the batch B");
    in.lengths_host = read_indices(t, "lengths", ctx);
    for (index_t b = 0; b < in.shape.batch; ++b) {
        const index_t v = in.lengths_host[static_cast<std::size_t>(b)];
        if (v < 1 || v > in.shape.steps)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'lengths': lengths[%lld] = %lld is outside "
                 "[1, T = %lld]", ll(b), ll(v), ll(in.shape.steps));
    }
    in.lengths = lengths;
}

Inputs check_inputs(sk_context &ctx, const sk_semicrf_options *options, const sk_tensor *scores,
                    const sk_tensor *transition, const sk_tensor *duration_bias,
                    const sk_tensor *start, const sk_tensor *proj_start,
                    const sk_tensor *proj_end, const sk_tensor *lengths, Op op) {
    Inputs in;
    in.options = require_semicrf_options(options, op);
    const bool cumulative = in.options.input == Input::Cumulative;
    const auto &x = require_tensor(scores, "scores");
    require_rank(x, "scores", 3, 3);
    if (cumulative && x.shape[1] < 1)
        fail(SK_ERROR_SHAPE, "argument 'scores': cumulative scores are (B, T+1, C), the position "
             "extent must be at least 1 (shape %s)", shape_string(x).c_str());
    in.shape.batch = x.shape[0];
    in.shape.steps = cumulative ? x.shape[1] - 1 : x.shape[1];
    in.shape.labels = x.shape[2];
    if (in.shape.labels < 1)
        fail(SK_ERROR_SHAPE, "argument 'scores': C = 0 labels; at least one label is needed (shape %s)",
             shape_string(x).c_str());
    in.dtype = require_float_dtype(x, "scores");
    require_on_context_device(x, "scores", ctx);
    in.scores = scores;

    const auto &d = require_tensor(duration_bias, "duration_bias");
    require_rank(d, "duration_bias", 2, 2);
    if (d.shape[0] < 1)
        fail(SK_ERROR_SHAPE, "argument 'duration_bias': K = %lld; the maximum duration K (its first "
             "extent) must be at least 1 (shape %s)", ll(d.shape[0]), shape_string(d).c_str());
    in.shape.durations = d.shape[0];
    require_extent(d, "duration_bias", 1, in.shape.labels, "the number of labels C");
    require_float_input(d, "duration_bias", in.dtype, ctx);
    in.duration_bias = duration_bias;

    const auto &tr = require_tensor(transition, "transition");
    require_rank(tr, "transition", 2, 3);
    if (tr.rank == 3) require_extent(tr, "transition", 0, in.shape.durations, "the maximum duration K");
    require_extent(tr, "transition", tr.rank - 2, in.shape.labels, "the number of labels C");
    require_extent(tr, "transition", tr.rank - 1, in.shape.labels, "the number of labels C");
    require_float_input(tr, "transition", in.dtype, ctx);
    in.transition = transition;

    if (start) {
        const auto &s = require_tensor(start, "start");
        require_rank(s, "start", 1, 1);
        require_extent(s, "start", 0, in.shape.labels, "the number of labels C");
        require_float_input(s, "start", in.dtype, ctx);
        in.start = start;
    }
    const std::pair<const sk_tensor *, const char *> projections[] = {{proj_start, "proj_start"},
                                                                      {proj_end, "proj_end"}};
    for (const auto &[p, name] : projections) {
        if (!p) continue;
        const auto &t = require_tensor(p, name);
        require_rank(t, name, 3, 3);
        require_extent(t, name, 0, in.shape.batch, "the batch B");
        require_extent(t, name, 1, in.shape.steps, "the number of positions T");
        require_extent(t, name, 2, in.shape.labels, "the number of labels C");
        require_float_input(t, name, in.dtype, ctx);
    }
    in.proj_start = proj_start;
    in.proj_end = proj_end;
    require_lengths(lengths, in, ctx);
    return in;
}

// ---- gold annotations ------------------------------------------------------------------------

void check_gold_segments(const sk_tensor *segments, const sk_tensor *counts, Inputs &in, const sk_context &ctx) {
    const auto &s = require_tensor(segments, "gold_segments");
    require_rank(s, "gold_segments", 3, 3);
    require_extent(s, "gold_segments", 0, in.shape.batch, "the batch B");
    require_extent(s, "gold_segments", 2, 3, "3 ([start, end, label])");
    if (!counts)
        fail(SK_ERROR_NULL_POINTER, "argument 'gold_segment_counts' is NULL: gold_segments needs the "
             "number of segments of each sequence");
    const auto &n = require_tensor(counts, "gold_segment_counts");
    require_rank(n, "gold_segment_counts", 1, 1);
    require_extent(n, "gold_segment_counts", 0, in.shape.batch, "the batch B");
    in.gold_capacity = s.shape[1];
    in.gold_segments_host = read_indices(s, "gold_segments", ctx);
    in.gold_counts_host = read_indices(n, "gold_segment_counts", ctx);
    const index_t S = in.gold_capacity, K = in.shape.durations, C = in.shape.labels;
    for (index_t b = 0; b < in.shape.batch; ++b) {
        const index_t count = in.gold_counts_host[static_cast<std::size_t>(b)];
        const index_t L = in.lengths_host[static_cast<std::size_t>(b)];
        if (count < 1 || count > S)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'gold_segment_counts': entry %lld = %lld is "
                 "outside [1, S = %lld]", ll(b), ll(count), ll(S));
        index_t expected_start = 0;
        for (index_t j = 0; j < count; ++j) {
            const index_t *row = in.gold_segments_host.data() + (b * S + j) * 3;
            const index_t st = row[0], en = row[1], label = row[2];
            if (st != expected_start)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'gold_segments': sequence %lld, segment %lld "
                     "starts at %lld but must start at %lld (segments tile [0, length) in order, "
                     "without gaps or overlaps)", ll(b), ll(j), ll(st), ll(expected_start));
            if (en - st < 1 || en - st > K)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'gold_segments': sequence %lld, segment %lld "
                     "[%lld, %lld) has duration %lld outside [1, K = %lld]", ll(b), ll(j), ll(st),
                     ll(en), ll(en - st), ll(K));
            if (en > L)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'gold_segments': sequence %lld, segment %lld "
                     "ends at %lld, past the sequence's length %lld", ll(b), ll(j), ll(en), ll(L));
            if (label < 0 || label >= C)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'gold_segments': sequence %lld, segment %lld "
                     "has label %lld outside [0, C = %lld)", ll(b), ll(j), ll(label), ll(C));
            expected_start = en;
        }
        if (expected_start != L)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'gold_segments': the segments of sequence %lld "
                 "end at %lld but the sequence's length is %lld (they must cover it)", ll(b),
                 ll(expected_start), ll(L));
    }
    in.gold_segments = segments;
    in.gold_counts = counts;
}

void check_gold_labels(const sk_tensor *labels, Inputs &in, const sk_context &ctx) {
    const auto &t = require_tensor(labels, "gold_labels");
    require_rank(t, "gold_labels", 2, 2);
    require_extent(t, "gold_labels", 0, in.shape.batch, "the batch B");
    require_extent(t, "gold_labels", 1, in.shape.steps, "the number of positions T");
    in.gold_labels_host = read_indices(t, "gold_labels", ctx);
    const index_t T = in.shape.steps, C = in.shape.labels;
    in.gold_runs_host.assign(in.gold_labels_host.size(), 0);
    for (index_t b = 0; b < in.shape.batch; ++b) {
        const index_t L = in.lengths_host[static_cast<std::size_t>(b)];
        index_t *lab = in.gold_labels_host.data() + b * T;
        index_t *run = in.gold_runs_host.data() + b * T;
        for (index_t t2 = 0; t2 < L; ++t2)
            if (lab[t2] < 0 || lab[t2] >= C)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'gold_labels': gold_labels[%lld, %lld] = %lld "
                     "is outside [0, C = %lld)", ll(b), ll(t2), ll(lab[t2]), ll(C));
        for (index_t t2 = T - 1; t2 >= 0; --t2) {
            if (t2 >= L) {
                lab[t2] = -1;  // never read
                continue;
            }
            run[t2] = (t2 + 1 < L && lab[t2 + 1] == lab[t2]) ? run[t2 + 1] + 1 : 1;
        }
    }
    in.gold_labels = labels;
}

void check_gold(const sk_tensor *segments, const sk_tensor *counts, const sk_tensor *labels, Inputs &in,
                const sk_context &ctx) {
    if ((segments != nullptr) == (labels != nullptr))
        fail(SK_ERROR_INVALID_ARGUMENT, "arguments 'gold_segments' and 'gold_labels': give exactly one "
             "of them (%s)", segments ? "both were given" : "both are NULL");
    if (labels) {
        if (counts)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'gold_segment_counts' must be NULL with gold_labels");
        check_gold_labels(labels, in, ctx);
    } else {
        check_gold_segments(segments, counts, in, ctx);
    }
}

// ---- outputs ---------------------------------------------------------------------------------

void require_output_of(const sk_tensor *out, const char *name, std::vector<index_t> shape, DType dtype,
                       const Inputs &in, const sk_context &ctx, std::vector<Named> &outputs) {
    const auto &t = require_tensor(out, name);
    bool same = t.rank == static_cast<int>(shape.size());
    for (int d = 0; same && d < t.rank; ++d) same = t.shape[d] == shape[static_cast<std::size_t>(d)];
    if (!same) {
        std::string want = "[";
        for (std::size_t d = 0; d < shape.size(); ++d) want += (d ? ", " : "") + std::to_string(shape[d]);
        fail(SK_ERROR_SHAPE, "argument '%s': expected shape %s, got %s", name, (want + "]").c_str(),
             shape_string(t).c_str());
    }
    require_dtype(t, name, dtype);
    require_on_context_device(t, name, ctx);
    require_no_self_overlap(t, name);
    for (const auto &[tensor, tensor_name] : in.all())
        if (tensor) require_disjoint(t, name, *tensor, tensor_name);
    for (const auto &[other, other_name] : outputs) require_disjoint(t, name, *other, other_name);
    outputs.push_back({out, name});
}

// A gradient output shaped like its input (which must exist).
void require_gradient(const sk_tensor *grad, const char *name, const sk_tensor *input, const char *input_name,
                      const Inputs &in, const sk_context &ctx, std::vector<Named> &outputs) {
    if (!grad) return;
    if (!input)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument '%s' must be NULL: the optional input '%s' was not "
             "given", name, input_name);
    std::vector<index_t> shape(input->shape, input->shape + input->rank);
    require_output_of(grad, name, shape, in.dtype, in, ctx, outputs);
}

void require_per_sequence(const sk_tensor *t, const char *name, const Inputs &in, const sk_context &ctx,
                          std::vector<Named> &outputs) {
    if (t) require_output_of(t, name, {in.shape.batch}, in.dtype, in, ctx, outputs);
}

void require_upstream(const sk_tensor *grad, const char *name, const Inputs &in, const sk_context &ctx,
                      std::vector<Named> &outputs) {
    const auto &g = require_tensor(grad, name);
    require_rank(g, name, 1, 1);
    require_extent(g, name, 0, in.shape.batch, "the batch B");
    require_float_input(g, name, in.dtype, ctx);
    outputs.push_back({grad, name});  // outputs must not overlap it either
}

// The tensors an op writes (or reads as upstream), all validated.
struct OutputSet {
    sk_tensor *value = nullptr;
    const sk_tensor *upstream = nullptr;
    sk_tensor *grad_scores = nullptr, *grad_transition = nullptr, *grad_duration_bias = nullptr,
              *grad_start = nullptr, *grad_proj_start = nullptr, *grad_proj_end = nullptr;
    sk_tensor *boundary = nullptr, *coverage = nullptr;
    sk_tensor *segments = nullptr, *segment_counts = nullptr, *label_path = nullptr;
};

void check_gradients(const OutputSet &o, const Inputs &in, const sk_context &ctx, std::vector<Named> &outputs) {
    require_gradient(o.grad_scores, "grad_scores", in.scores, "scores", in, ctx, outputs);
    require_gradient(o.grad_transition, "grad_transition", in.transition, "transition", in, ctx, outputs);
    require_gradient(o.grad_duration_bias, "grad_duration_bias", in.duration_bias, "duration_bias", in, ctx, outputs);
    require_gradient(o.grad_start, "grad_start", in.start, "start", in, ctx, outputs);
    require_gradient(o.grad_proj_start, "grad_proj_start", in.proj_start, "proj_start", in, ctx, outputs);
    require_gradient(o.grad_proj_end, "grad_proj_end", in.proj_end, "proj_end", in, ctx, outputs);
}

// ---- dispatch --------------------------------------------------------------------------------

template <class T>
semicrf::View1<T> view1(const sk_tensor *t) {
    if (!t) return {};
    return {static_cast<T *>(t->data), t->strides[0]};
}
template <class T>
semicrf::View2<T> view2(const sk_tensor *t) {
    if (!t) return {};
    return {static_cast<T *>(t->data), t->strides[0], t->strides[1]};
}
template <class T>
View3<T> view3(const sk_tensor *t) {
    if (!t) return {};
    if (t->rank == 2) return {static_cast<T *>(t->data), 0, t->strides[0], t->strides[1]};
    return {static_cast<T *>(t->data), t->strides[0], t->strides[1], t->strides[2]};
}

template <class T>
semicrf::Request<T> make_request(const Inputs &in, Op op, const OutputSet &o) {
    semicrf::Request<T> r;
    auto &m = r.model;
    m.shape = in.shape;
    m.semiring = in.options.semiring;
    m.input = in.options.input;
    m.zero_centre = in.options.zero_centre;
    m.compat = in.options.compat;
    m.nan_infeasible_gradient = in.options.nan_infeasible_gradient;
    m.duration_transitions = in.transition->rank == 3;
    m.lengths = in.lengths_host.data();
    m.x = view3<const T>(in.scores);
    m.transition = view3<const T>(in.transition);
    m.duration_bias = view2<const T>(in.duration_bias);
    m.start = view1<const T>(in.start);
    m.proj_start = view3<const T>(in.proj_start);
    m.proj_end = view3<const T>(in.proj_end);
    r.op = op;
    auto &out = r.out;
    out.value = view1<T>(o.value);
    out.upstream = view1<const T>(o.upstream);
    out.grad_x = view3<T>(o.grad_scores);
    out.grad_transition = view3<T>(o.grad_transition);
    out.grad_duration_bias = view2<T>(o.grad_duration_bias);
    out.grad_start = view1<T>(o.grad_start);
    out.grad_proj_start = view3<T>(o.grad_proj_start);
    out.grad_proj_end = view3<T>(o.grad_proj_end);
    out.boundary = view2<T>(o.boundary);
    out.coverage = view3<T>(o.coverage);
    out.segments = view3<std::int32_t>(o.segments);
    out.segment_capacity = o.segments ? o.segments->shape[1] : 0;
    out.segment_counts = view1<std::int32_t>(o.segment_counts);
    out.label_path = view2<std::int32_t>(o.label_path);
    if (in.gold_segments) {
        r.gold.segments = in.gold_segments_host.data();
        r.gold.counts = in.gold_counts_host.data();
        r.gold.capacity = in.gold_capacity;
    }
    if (in.gold_labels) {
        r.gold.labels = in.gold_labels_host.data();
        r.gold.runs = in.gold_runs_host.data();
    }
    return r;
}

template <class T>
void run_typed(sk_context &ctx, const Inputs &in, Op op, const OutputSet &o) {
    const semicrf::Request<T> r = make_request<T>(in, op, o);
    ctx.activate();
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(semicrf::run_cuda(ctx, r));
    else
        semicrf::run_cpu(ctx, r);
}

void run(sk_context &ctx, const Inputs &in, Op op, const OutputSet &o) {
    if (in.dtype == DType::Float32)
        run_typed<float>(ctx, in, op, o);
    else
        run_typed<double>(ctx, in, op, o);
}

}  // namespace
}  // namespace sk::capi

using namespace sk;
using namespace sk::capi;

extern "C" {

SK_API sk_status sk_semicrf_forward(sk_context *ctx, const sk_semicrf_options *options,
                                    const sk_tensor *scores, const sk_tensor *transition,
                                    const sk_tensor *duration_bias, const sk_tensor *start,
                                    const sk_tensor *proj_start, const sk_tensor *proj_end,
                                    const sk_tensor *lengths, sk_tensor *log_partition) {
    return guarded(ctx, "sk_semicrf_forward", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_inputs(context, options, scores, transition, duration_bias, start,
                                       proj_start, proj_end, lengths, Op::Forward);
        std::vector<Named> outputs;
        OutputSet o;
        o.value = require_out_pointer(log_partition, "log_partition");
        require_per_sequence(log_partition, "log_partition", in, context, outputs);
        run(context, in, Op::Forward, o);
    });
}

SK_API sk_status sk_semicrf_backward(sk_context *ctx, const sk_semicrf_options *options,
                                     const sk_tensor *scores, const sk_tensor *transition,
                                     const sk_tensor *duration_bias, const sk_tensor *start,
                                     const sk_tensor *proj_start, const sk_tensor *proj_end,
                                     const sk_tensor *lengths, const sk_tensor *grad_log_partition,
                                     sk_tensor *grad_scores, sk_tensor *grad_transition,
                                     sk_tensor *grad_duration_bias, sk_tensor *grad_start,
                                     sk_tensor *grad_proj_start, sk_tensor *grad_proj_end,
                                     sk_tensor *log_partition) {
    return guarded(ctx, "sk_semicrf_backward", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_inputs(context, options, scores, transition, duration_bias, start,
                                       proj_start, proj_end, lengths, Op::Backward);
        std::vector<Named> outputs;
        OutputSet o{log_partition, grad_log_partition, grad_scores, grad_transition,
                    grad_duration_bias, grad_start, grad_proj_start, grad_proj_end};
        require_upstream(grad_log_partition, "grad_log_partition", in, context, outputs);
        check_gradients(o, in, context, outputs);
        require_per_sequence(log_partition, "log_partition", in, context, outputs);
        run(context, in, Op::Backward, o);
    });
}

SK_API sk_status sk_semicrf_viterbi(sk_context *ctx, const sk_semicrf_options *options,
                                    const sk_tensor *scores, const sk_tensor *transition,
                                    const sk_tensor *duration_bias, const sk_tensor *start,
                                    const sk_tensor *proj_start, const sk_tensor *proj_end,
                                    const sk_tensor *lengths, sk_tensor *best_score,
                                    sk_tensor *segments, sk_tensor *segment_counts,
                                    sk_tensor *label_path) {
    return guarded(ctx, "sk_semicrf_viterbi", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_inputs(context, options, scores, transition, duration_bias, start,
                                       proj_start, proj_end, lengths, Op::Viterbi);
        std::vector<Named> outputs;
        OutputSet o;
        o.value = best_score;
        o.segments = segments;
        o.segment_counts = segment_counts;
        o.label_path = label_path;
        require_per_sequence(best_score, "best_score", in, context, outputs);
        if (segments) {
            const auto &s = require_tensor(segments, "segments");
            require_rank(s, "segments", 3, 3);
            index_t longest = 0;
            for (index_t v : in.lengths_host) longest = v > longest ? v : longest;
            if (s.shape[1] < longest)
                fail(SK_ERROR_SHAPE, "argument 'segments': capacity S = %lld (dimension 1) is below the "
                     "longest length %lld; a segmentation can have as many segments as positions (shape %s)",
                     ll(s.shape[1]), ll(longest), shape_string(s).c_str());
            require_output_of(segments, "segments", {in.shape.batch, s.shape[1], 3}, DType::Int32, in,
                              context, outputs);
            if (!segment_counts)
                fail(SK_ERROR_NULL_POINTER, "argument 'segment_counts' is NULL: it is required with "
                     "'segments' (rows past a sequence's count are -1)");
        }
        if (segment_counts)
            require_output_of(segment_counts, "segment_counts", {in.shape.batch}, DType::Int32, in, context, outputs);
        if (label_path)
            require_output_of(label_path, "label_path", {in.shape.batch, in.shape.steps}, DType::Int32, in,
                              context, outputs);
        run(context, in, Op::Viterbi, o);
    });
}

SK_API sk_status sk_semicrf_marginals(sk_context *ctx, const sk_semicrf_options *options,
                                      const sk_tensor *scores, const sk_tensor *transition,
                                      const sk_tensor *duration_bias, const sk_tensor *start,
                                      const sk_tensor *proj_start, const sk_tensor *proj_end,
                                      const sk_tensor *lengths, sk_tensor *boundary,
                                      sk_tensor *coverage, sk_tensor *log_partition) {
    return guarded(ctx, "sk_semicrf_marginals", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_inputs(context, options, scores, transition, duration_bias, start,
                                       proj_start, proj_end, lengths, Op::Marginals);
        std::vector<Named> outputs;
        OutputSet o;
        o.value = log_partition;
        o.boundary = boundary;
        o.coverage = coverage;
        if (boundary)
            require_output_of(boundary, "boundary", {in.shape.batch, in.shape.steps}, in.dtype, in, context, outputs);
        if (coverage)
            require_output_of(coverage, "coverage", {in.shape.batch, in.shape.steps, in.shape.labels}, in.dtype,
                              in, context, outputs);
        require_per_sequence(log_partition, "log_partition", in, context, outputs);
        run(context, in, Op::Marginals, o);
    });
}

SK_API sk_status sk_semicrf_gold_score(sk_context *ctx, const sk_semicrf_options *options,
                                       const sk_tensor *scores, const sk_tensor *transition,
                                       const sk_tensor *duration_bias, const sk_tensor *start,
                                       const sk_tensor *proj_start, const sk_tensor *proj_end,
                                       const sk_tensor *lengths, const sk_tensor *gold_segments,
                                       const sk_tensor *gold_segment_counts,
                                       const sk_tensor *gold_labels, sk_tensor *score) {
    return guarded(ctx, "sk_semicrf_gold_score", [&] {
        auto &context = require_context(ctx);
        Inputs in = check_inputs(context, options, scores, transition, duration_bias, start, proj_start,
                                 proj_end, lengths, Op::GoldScore);
        check_gold(gold_segments, gold_segment_counts, gold_labels, in, context);
        std::vector<Named> outputs;
        OutputSet o;
        o.value = require_out_pointer(score, "score");
        require_per_sequence(score, "score", in, context, outputs);
        run(context, in, Op::GoldScore, o);
    });
}

SK_API sk_status sk_semicrf_gold_score_backward(
    sk_context *ctx, const sk_semicrf_options *options, const sk_tensor *scores,
    const sk_tensor *transition, const sk_tensor *duration_bias, const sk_tensor *start,
    const sk_tensor *proj_start, const sk_tensor *proj_end, const sk_tensor *lengths,
    const sk_tensor *gold_segments, const sk_tensor *gold_segment_counts,
    const sk_tensor *gold_labels, const sk_tensor *grad_score, sk_tensor *grad_scores,
    sk_tensor *grad_transition, sk_tensor *grad_duration_bias, sk_tensor *grad_start,
    sk_tensor *grad_proj_start, sk_tensor *grad_proj_end, sk_tensor *score) {
    return guarded(ctx, "sk_semicrf_gold_score_backward", [&] {
        auto &context = require_context(ctx);
        Inputs in = check_inputs(context, options, scores, transition, duration_bias, start, proj_start,
                                 proj_end, lengths, Op::GoldBackward);
        check_gold(gold_segments, gold_segment_counts, gold_labels, in, context);
        std::vector<Named> outputs;
        OutputSet o{score, grad_score, grad_scores, grad_transition, grad_duration_bias, grad_start,
                    grad_proj_start, grad_proj_end};
        require_upstream(grad_score, "grad_score", in, context, outputs);
        check_gradients(o, in, context, outputs);
        require_per_sequence(score, "score", in, context, outputs);
        run(context, in, Op::GoldBackward, o);
    });
}

}  // extern "C"
