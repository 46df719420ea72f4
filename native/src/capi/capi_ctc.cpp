// extern "C" entry points of the CTC family: validate every argument (descriptors first, then
// the values of the lengths and labels, read on the host), build the Plan, then dispatch on
// device and dtype. Nothing is written before every check has passed.
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include "capi/capi_guard.h"
#include "capi/validate.h"
#include "core/device.h"
#include "ctc/ctc.h"

namespace sk::capi {
namespace {


using Inputs = NamedInputs;

struct Options {
    bool batch_major = false;
    std::int32_t blank = 0;
    ctc::Reduction reduction = ctc::Reduction::None;
    bool zero_infinity = false;
    bool fused_gradient = false;
};

Options require_options(const sk_ctc_options *options) {
    if (!options) fail(SK_ERROR_NULL_POINTER, "argument 'options' is NULL");
    require_options_size(options->struct_size, offsetof(sk_ctc_options, reserved) + sizeof(int32_t),
                         "sk_ctc_options", sizeof(sk_ctc_options));
    if (options->layout != SK_CTC_LAYOUT_TIME_MAJOR && options->layout != SK_CTC_LAYOUT_BATCH_MAJOR)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.layout': unknown layout %d (expected "
             "SK_CTC_LAYOUT_TIME_MAJOR = 0 or SK_CTC_LAYOUT_BATCH_MAJOR = 1)", options->layout);
    if (options->reduction < SK_CTC_REDUCTION_NONE || options->reduction > SK_CTC_REDUCTION_MEAN)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.reduction': unknown reduction %d (expected "
             "0 = none, 1 = sum, 2 = mean)", options->reduction);
    if (options->zero_infinity != 0 && options->zero_infinity != 1)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.zero_infinity': must be 0 or 1, got %d",
             options->zero_infinity);
    if (options->gradient != SK_CTC_GRADIENT_LOG_PROBS && options->gradient != SK_CTC_GRADIENT_FUSED_LOGITS)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.gradient': unknown gradient form %d "
             "(expected 0 = log_probs, 1 = fused logits)", options->gradient);
    if (options->reserved != 0)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.reserved': must be 0, got %d",
             options->reserved);
    Options o;
    o.batch_major = options->layout == SK_CTC_LAYOUT_BATCH_MAJOR;
    o.blank = options->blank;
    o.reduction = static_cast<ctc::Reduction>(options->reduction);
    o.zero_infinity = options->zero_infinity != 0;
    o.fused_gradient = options->gradient == SK_CTC_GRADIENT_FUSED_LOGITS;
    return o;
}

// An integer tensor (targets, lengths): int32 or int64, in host memory or on the context's
// device. With a CUDA context, a descriptor claiming host memory is checked against the driver.
DType require_index_tensor(const sk_tensor &t, const char *name, const sk_context &ctx) {
    if (t.dtype != SK_DTYPE_INT32 && t.dtype != SK_DTYPE_INT64)
        fail(SK_ERROR_DTYPE, "argument '%s': expected int32 or int64, got %s", name,
             dtype_name(static_cast<DType>(t.dtype)));
    if (t.device_type == SK_DEVICE_CPU) {
        int pointer_device = -1;
        if (ctx.is_cuda() && element_count(t) > 0 && device::pointer_device(t.data, &pointer_device))
            fail(SK_ERROR_DEVICE, "argument '%s': descriptor says cpu but the data pointer is memory "
                 "of cuda:%d", name, pointer_device);
    } else {
        require_on_context_device(t, name, ctx);
    }
    return static_cast<DType>(t.dtype);
}

// Every logical element of an integer tensor, in row-major order of its indices, as int64.
// Device-resident tensors are copied to the host first (the span their strides cover).
std::vector<std::int64_t> read_integers(sk_context &ctx, const sk_tensor &t) {
    const index_t n = element_count(t);
    std::vector<std::int64_t> out(static_cast<std::size_t>(n));
    if (n == 0) return out;
    index_t span = 1;
    for (int d = 0; d < t.rank; ++d) span += (t.shape[d] - 1) * t.strides[d];
    const std::size_t width = t.dtype == SK_DTYPE_INT32 ? 4 : 8;
    const unsigned char *bytes = static_cast<const unsigned char *>(t.data);
    std::vector<unsigned char> staged;
    if (t.device_type == SK_DEVICE_CUDA) {
        staged.resize(static_cast<std::size_t>(span) * width);
        ctx.activate();
        device::copy(staged.data(), DeviceType::Cpu, t.data, DeviceType::Cuda, staged.size(),
                     ctx.device_index(), ctx.stream());
        bytes = staged.data();
    }
    std::vector<index_t> idx(static_cast<std::size_t>(t.rank), 0);
    for (index_t e = 0; e < n; ++e) {
        index_t offset = 0;
        for (int d = 0; d < t.rank; ++d) offset += idx[static_cast<std::size_t>(d)] * t.strides[d];
        if (width == 4)
            out[static_cast<std::size_t>(e)] = reinterpret_cast<const std::int32_t *>(bytes)[offset];
        else
            out[static_cast<std::size_t>(e)] = reinterpret_cast<const std::int64_t *>(bytes)[offset];
        for (int d = t.rank - 1; d >= 0; --d) {
            if (++idx[static_cast<std::size_t>(d)] < t.shape[d]) break;
            idx[static_cast<std::size_t>(d)] = 0;
        }
    }
    return out;
}

// The validated problem: the float input, its extents, and the plan.
struct Problem {
    const sk_tensor *input = nullptr;
    const char *input_name = nullptr;
    DType dtype = DType::Float32;
    Options options;
    ctc::Plan plan;
    // (t, b, c) strides of the input
    index_t stride_t = 0, stride_b = 0, stride_c = 0;
};

// Validates the float input, the targets and the lengths (descriptors, then values) and builds
// the plan. `input_name` is "log_probs" or "logits".
Problem require_problem(sk_context &ctx, const Options &options, const sk_tensor *input_desc,
                        const char *input_name, const sk_tensor *targets_desc,
                        const sk_tensor *input_lengths_desc, const sk_tensor *target_lengths_desc) {
    Problem p;
    p.options = options;
    p.input_name = input_name;
    const auto &input = require_tensor(input_desc, input_name);
    p.input = &input;
    require_rank(input, input_name, 3, 3);
    p.dtype = require_float_dtype(input, input_name);
    require_on_context_device(input, input_name, ctx);
    const int dim_t = options.batch_major ? 1 : 0, dim_b = options.batch_major ? 0 : 1;
    auto &plan = p.plan;
    plan.frames = input.shape[dim_t];
    plan.batch = input.shape[dim_b];
    plan.classes = input.shape[2];
    p.stride_t = input.strides[dim_t];
    p.stride_b = input.strides[dim_b];
    p.stride_c = input.strides[2];
    if (plan.classes > std::numeric_limits<std::int32_t>::max())
        fail(SK_ERROR_UNSUPPORTED, "argument '%s': %lld classes exceed the int32 label range",
             input_name, static_cast<long long>(plan.classes));
    if (options.blank < 0 || options.blank >= plan.classes)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.blank': blank %d is outside [0, %lld) "
             "(C = %lld classes in '%s' %s)", options.blank, static_cast<long long>(plan.classes),
             static_cast<long long>(plan.classes), input_name, shape_string(input).c_str());
    plan.blank = options.blank;

    const auto &targets = require_tensor(targets_desc, "targets");
    const auto &input_lengths = require_tensor(input_lengths_desc, "input_lengths");
    const auto &target_lengths = require_tensor(target_lengths_desc, "target_lengths");
    require_rank(targets, "targets", 1, 2);
    require_index_tensor(targets, "targets", ctx);
    for (const auto &[t, name] : {std::pair<const sk_tensor *, const char *>{&input_lengths, "input_lengths"},
                                  {&target_lengths, "target_lengths"}}) {
        require_rank(*t, name, 1, 1);
        require_index_tensor(*t, name, ctx);
        if (t->shape[0] != plan.batch)
            fail(SK_ERROR_SHAPE, "argument '%s': expected shape [%lld] (the batch of '%s' %s), got %s",
                 name, static_cast<long long>(plan.batch), input_name, shape_string(input).c_str(),
                 shape_string(*t).c_str());
    }
    const bool padded = targets.rank == 2;
    if (padded && targets.shape[0] != plan.batch)
        fail(SK_ERROR_SHAPE, "argument 'targets': padded targets must have shape [%lld, S] (the batch "
             "of '%s' %s), got %s", static_cast<long long>(plan.batch), input_name,
             shape_string(input).c_str(), shape_string(targets).c_str());

    // Values: lengths, then labels.
    plan.input_length = read_integers(ctx, input_lengths);
    plan.target_length = read_integers(ctx, target_lengths);
    for (index_t b = 0; b < plan.batch; ++b) {
        const auto in = plan.input_length[static_cast<std::size_t>(b)];
        if (in < 0 || in > plan.frames)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'input_lengths': element %lld is %lld; expected "
                 "0 <= value <= T = %lld (the time extent of '%s' %s)", static_cast<long long>(b),
                 static_cast<long long>(in), static_cast<long long>(plan.frames), input_name,
                 shape_string(input).c_str());
    }
    index_t total = 0;
    const index_t max_length = (std::numeric_limits<std::int32_t>::max() - 1) / 2;
    for (index_t b = 0; b < plan.batch; ++b) {
        const auto len = plan.target_length[static_cast<std::size_t>(b)];
        if (len < 0)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'target_lengths': element %lld is %lld; expected "
                 "a value >= 0", static_cast<long long>(b), static_cast<long long>(len));
        if (padded && len > targets.shape[1])
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'target_lengths': element %lld is %lld, larger "
                 "than S = %lld (the padded width of 'targets' %s)", static_cast<long long>(b),
                 static_cast<long long>(len), static_cast<long long>(targets.shape[1]),
                 shape_string(targets).c_str());
        if (len > max_length)
            fail(SK_ERROR_UNSUPPORTED, "argument 'target_lengths': element %lld is %lld; at most %lld "
                 "labels per sequence are supported", static_cast<long long>(b),
                 static_cast<long long>(len), static_cast<long long>(max_length));
        plan.max_target_length = std::max<index_t>(plan.max_target_length, len);
        total += len;  // no overflow: B * max_length < 2^63
    }
    if (!padded && targets.shape[0] != total)
        fail(SK_ERROR_SHAPE, "argument 'targets': concatenated targets must hold sum(target_lengths) = "
             "%lld labels, got shape %s", static_cast<long long>(total), shape_string(targets).c_str());
    if (ctx.is_cuda() && 2 * plan.max_target_length + 1 > ctc::kCudaMaxStates)
        fail(SK_ERROR_UNSUPPORTED, "argument 'target_lengths': a target of %lld labels exceeds the CUDA "
             "backend's limit of %lld labels per sequence", static_cast<long long>(plan.max_target_length),
             static_cast<long long>((ctc::kCudaMaxStates - 1) / 2));

    const std::vector<std::int64_t> raw = read_integers(ctx, targets);
    plan.labels.resize(static_cast<std::size_t>(total));
    plan.label_offset.resize(static_cast<std::size_t>(plan.batch));
    index_t pos = 0;
    for (index_t b = 0; b < plan.batch; ++b) {
        const auto len = plan.target_length[static_cast<std::size_t>(b)];
        plan.label_offset[static_cast<std::size_t>(b)] = pos;
        const index_t row = padded ? b * targets.shape[1] : pos;
        for (index_t j = 0; j < len; ++j) {
            const auto label = raw[static_cast<std::size_t>(row + j)];
            if (label < 0 || label >= plan.classes)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'targets': label %lld at position %lld of "
                     "sequence %lld is outside [0, %lld) (C classes)", static_cast<long long>(label),
                     static_cast<long long>(j), static_cast<long long>(b),
                     static_cast<long long>(plan.classes));
            if (label == options.blank)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'targets': label at position %lld of sequence "
                     "%lld equals the blank index %d (targets must not contain blank)",
                     static_cast<long long>(j), static_cast<long long>(b), options.blank);
            plan.labels[static_cast<std::size_t>(pos + j)] = static_cast<std::int32_t>(label);
        }
        pos += len;
    }
    ctc::finish_plan(plan);
    return p;
}

void require_shape(const sk_tensor &t, const char *name, std::initializer_list<index_t> shape,
                   const char *what) {
    bool same = t.rank == static_cast<int32_t>(shape.size());
    int d = 0;
    for (index_t e : shape) {
        if (same && t.shape[d] != e) same = false;
        ++d;
    }
    if (!same) {
        std::string want = "[";
        d = 0;
        for (index_t e : shape) want += (d++ ? ", " : "") + std::to_string(e);
        fail(SK_ERROR_SHAPE, "argument '%s': expected shape %s] (%s), got %s", name, want.c_str(), what,
             shape_string(t).c_str());
    }
}

// The loss (output) or grad_loss (input) of a reduction: (B) for none, else rank 0 or [1].
void require_loss_shape(const sk_tensor &t, const char *name, const Problem &p) {
    if (p.options.reduction == ctc::Reduction::None) {
        require_shape(t, name, {p.plan.batch}, "one value per sequence for reduction none");
        return;
    }
    if (!(t.rank == 0 || (t.rank == 1 && t.shape[0] == 1)))
        fail(SK_ERROR_SHAPE, "argument '%s': expected a scalar (rank 0, or shape [1]) for reduction "
             "%s, got %s", name, p.options.reduction == ctc::Reduction::Sum ? "sum" : "mean",
             shape_string(t).c_str());
}

template <class T>
View3<const T> input_view(const Problem &p) {
    return View3<const T>{static_cast<const T *>(p.input->data), p.stride_t, p.stride_b, p.stride_c};
}

// (t, b, c) view of an output shaped like the input.
template <class T>
View3<T> like_input(const sk_tensor &t, const Problem &p) {
    const int dim_t = p.options.batch_major ? 1 : 0, dim_b = p.options.batch_major ? 0 : 1;
    return View3<T>{static_cast<T *>(t.data), t.strides[dim_t], t.strides[dim_b], t.strides[2]};
}

template <class T>
ctc::Strided1<T> scalar_or_vector(const sk_tensor &t) {
    return ctc::Strided1<T>{static_cast<T *>(t.data), t.rank == 0 ? 0 : t.strides[0]};
}

template <class T>
ctc::Args<T> base_args(const Problem &p) {
    ctc::Args<T> a;
    a.input = input_view<T>(p);
    a.reduction = p.options.reduction;
    a.zero_infinity = p.options.zero_infinity;
    a.fused_gradient = p.options.fused_gradient;
    return a;
}

// The inputs every output must stay clear of.
struct InputSet {
    const sk_tensor *input, *targets, *input_lengths, *target_lengths, *grad_loss;
    const char *input_name;
    Inputs list() const {
        return {{input, input_name}, {targets, "targets"}, {input_lengths, "input_lengths"},
                {target_lengths, "target_lengths"}, {grad_loss, "grad_loss"}};
    }
};

// Runs the CPU or the CUDA backend (the CUDA lambda fails in builds without CUDA).
template <class Cpu, class Cuda>
void dispatch(sk_context &ctx, Cpu &&cpu, Cuda &&cuda) {
    ctx.activate();
    if (ctx.is_cuda())
        cuda();
    else
        cpu();
}

template <class T>
void run_loss(sk_context &ctx, const Problem &p, sk_tensor &loss, bool logits) {
    auto args = base_args<T>(p);
    args.logits = logits;
    args.loss = scalar_or_vector<T>(loss);
    dispatch(ctx, [&] { ctc::loss_cpu(ctx, p.plan, args); },
                [&] { SK_CUDA_BACKEND(ctc::loss_cuda(ctx, p.plan, args)); });
}

template <class T>
void run_backward(sk_context &ctx, const Problem &p, const sk_tensor &grad_loss, sk_tensor &grad,
                  sk_tensor *loss, bool logits) {
    auto args = base_args<T>(p);
    args.logits = logits;
    args.grad_loss = scalar_or_vector<const T>(grad_loss);
    args.grad = like_input<T>(grad, p);
    if (loss) args.loss = scalar_or_vector<T>(*loss);
    dispatch(ctx, [&] { ctc::backward_cpu(ctx, p.plan, args); },
                [&] { SK_CUDA_BACKEND(ctc::backward_cuda(ctx, p.plan, args)); });
}

}  // namespace
}  // namespace sk::capi

using namespace sk;
using namespace sk::capi;

extern "C" {

SK_API sk_status sk_ctc_loss(sk_context *ctx, const sk_ctc_options *options, const sk_tensor *log_probs,
                             const sk_tensor *targets, const sk_tensor *input_lengths,
                             const sk_tensor *target_lengths, sk_tensor *loss) {
    return guarded(ctx, "sk_ctc_loss", [&] {
        auto &context = require_context(ctx);
        const Options o = require_options(options);
        auto &tl = const_cast<sk_tensor &>(require_tensor(loss, "loss"));
        const Problem p = require_problem(context, o, log_probs, "log_probs", targets, input_lengths,
                                          target_lengths);
        require_dtype(tl, "loss", p.dtype);
        require_loss_shape(tl, "loss", p);
        const InputSet in{log_probs, targets, input_lengths, target_lengths, nullptr, "log_probs"};
        require_output(tl, "loss", context, in.list());
        if (p.dtype == DType::Float32)
            run_loss<float>(context, p, tl, false);
        else
            run_loss<double>(context, p, tl, false);
    });
}

SK_API sk_status sk_ctc_loss_backward(sk_context *ctx, const sk_ctc_options *options,
                                      const sk_tensor *log_probs, const sk_tensor *targets,
                                      const sk_tensor *input_lengths, const sk_tensor *target_lengths,
                                      const sk_tensor *grad_loss, sk_tensor *grad_log_probs,
                                      sk_tensor *loss) {
    return guarded(ctx, "sk_ctc_loss_backward", [&] {
        auto &context = require_context(ctx);
        const Options o = require_options(options);
        const auto &tg = require_tensor(grad_loss, "grad_loss");
        auto &tgrad = const_cast<sk_tensor &>(require_tensor(grad_log_probs, "grad_log_probs"));
        if (loss) require_tensor(loss, "loss");
        const Problem p = require_problem(context, o, log_probs, "log_probs", targets, input_lengths,
                                          target_lengths);
        require_dtype(tg, "grad_loss", p.dtype);
        require_loss_shape(tg, "grad_loss", p);
        require_on_context_device(tg, "grad_loss", context);
        const InputSet in{log_probs, targets, input_lengths, target_lengths, grad_loss, "log_probs"};
        require_dtype(tgrad, "grad_log_probs", p.dtype);
        require_shape(tgrad, "grad_log_probs", {log_probs->shape[0], log_probs->shape[1], log_probs->shape[2]},
                      "the shape of log_probs");
        require_output(tgrad, "grad_log_probs", context, in.list());
        if (loss) {
            require_dtype(*loss, "loss", p.dtype);
            require_loss_shape(*loss, "loss", p);
            require_output(*loss, "loss", context, in.list());
            require_disjoint(*loss, "loss", tgrad, "grad_log_probs");
        }
        if (p.dtype == DType::Float32)
            run_backward<float>(context, p, tg, tgrad, loss, false);
        else
            run_backward<double>(context, p, tg, tgrad, loss, false);
    });
}

SK_API sk_status sk_ctc_loss_fused_logits(sk_context *ctx, const sk_ctc_options *options,
                                          const sk_tensor *logits, const sk_tensor *targets,
                                          const sk_tensor *input_lengths,
                                          const sk_tensor *target_lengths, const sk_tensor *grad_loss,
                                          sk_tensor *loss, sk_tensor *grad_logits) {
    return guarded(ctx, "sk_ctc_loss_fused_logits", [&] {
        auto &context = require_context(ctx);
        const Options o = require_options(options);
        auto &tl = const_cast<sk_tensor &>(require_tensor(loss, "loss"));
        if (grad_logits) {
            require_tensor(grad_logits, "grad_logits");
            if (!grad_loss)
                fail(SK_ERROR_NULL_POINTER, "argument 'grad_loss' is NULL: it is required when "
                     "'grad_logits' is requested");
            require_tensor(grad_loss, "grad_loss");
        }
        const Problem p = require_problem(context, o, logits, "logits", targets, input_lengths,
                                          target_lengths);
        const InputSet in{logits, targets, input_lengths, target_lengths, grad_logits ? grad_loss : nullptr,
                          "logits"};
        require_dtype(tl, "loss", p.dtype);
        require_loss_shape(tl, "loss", p);
        require_output(tl, "loss", context, in.list());
        if (grad_logits) {
            require_dtype(*grad_loss, "grad_loss", p.dtype);
            require_loss_shape(*grad_loss, "grad_loss", p);
            require_on_context_device(*grad_loss, "grad_loss", context);
            require_dtype(*grad_logits, "grad_logits", p.dtype);
            require_shape(*grad_logits, "grad_logits", {logits->shape[0], logits->shape[1], logits->shape[2]},
                          "the shape of logits");
            require_output(*grad_logits, "grad_logits", context, in.list());
            require_disjoint(*grad_logits, "grad_logits", tl, "loss");
        }
        if (p.dtype == DType::Float32) {
            if (grad_logits)
                run_backward<float>(context, p, *grad_loss, *grad_logits, &tl, true);
            else
                run_loss<float>(context, p, tl, true);
        } else {
            if (grad_logits)
                run_backward<double>(context, p, *grad_loss, *grad_logits, &tl, true);
            else
                run_loss<double>(context, p, tl, true);
        }
    });
}

SK_API sk_status sk_ctc_forced_align(sk_context *ctx, const sk_ctc_options *options,
                                     const sk_tensor *log_probs, const sk_tensor *targets,
                                     const sk_tensor *input_lengths, const sk_tensor *target_lengths,
                                     sk_tensor *path, sk_tensor *spans, sk_tensor *frame_scores,
                                     sk_tensor *score) {
    return guarded(ctx, "sk_ctc_forced_align", [&] {
        auto &context = require_context(ctx);
        const Options o = require_options(options);
        auto &tpath = const_cast<sk_tensor &>(require_tensor(path, "path"));
        if (spans) require_tensor(spans, "spans");
        if (frame_scores) require_tensor(frame_scores, "frame_scores");
        if (score) require_tensor(score, "score");
        const Problem p = require_problem(context, o, log_probs, "log_probs", targets, input_lengths,
                                          target_lengths);
        const index_t B = p.plan.batch, T = p.plan.frames;
        const InputSet in{log_probs, targets, input_lengths, target_lengths, nullptr, "log_probs"};
        require_dtype(tpath, "path", DType::Int32);
        require_shape(tpath, "path", {B, T}, "(B, T)");
        require_output(tpath, "path", context, in.list());
        std::vector<std::pair<const sk_tensor *, const char *>> outs{{&tpath, "path"}};
        const auto disjoint_from_outputs = [&](const sk_tensor &t, const char *name) {
            for (const auto &[o2, n2] : outs) require_disjoint(t, name, *o2, n2);
            outs.emplace_back(&t, name);
        };
        index_t span_width = 0;
        if (spans) {
            require_dtype(*spans, "spans", DType::Int32);
            require_rank(*spans, "spans", 3, 3);
            span_width = spans->shape[1];
            if (spans->shape[0] != B || spans->shape[2] != 2 || span_width < p.plan.max_target_length)
                fail(SK_ERROR_SHAPE, "argument 'spans': expected shape [%lld, W, 2] with W >= %lld (the "
                     "longest target), got %s", static_cast<long long>(B),
                     static_cast<long long>(p.plan.max_target_length), shape_string(*spans).c_str());
            require_output(*spans, "spans", context, in.list());
            disjoint_from_outputs(*spans, "spans");
        }
        if (frame_scores) {
            require_dtype(*frame_scores, "frame_scores", p.dtype);
            require_shape(*frame_scores, "frame_scores", {B, T}, "(B, T)");
            require_output(*frame_scores, "frame_scores", context, in.list());
            disjoint_from_outputs(*frame_scores, "frame_scores");
        }
        if (score) {
            require_dtype(*score, "score", p.dtype);
            require_shape(*score, "score", {B}, "(B)");
            require_output(*score, "score", context, in.list());
            disjoint_from_outputs(*score, "score");
        }
        const auto run = [&](auto zero) {
            using T = decltype(zero);
            auto args = base_args<T>(p);
            args.path = ctc::Strided2<std::int32_t>{static_cast<std::int32_t *>(tpath.data), tpath.strides[0],
                                                   tpath.strides[1]};
            if (spans)
                args.spans = View3<std::int32_t>{static_cast<std::int32_t *>(spans->data), spans->strides[0],
                                                 spans->strides[1], spans->strides[2]};
            args.span_width = span_width;
            if (frame_scores)
                args.frame_scores = ctc::Strided2<T>{static_cast<T *>(frame_scores->data),
                                                     frame_scores->strides[0], frame_scores->strides[1]};
            if (score) args.score = ctc::Strided1<T>{static_cast<T *>(score->data), score->strides[0]};
            dispatch(context, [&] { ctc::align_cpu(context, p.plan, args); },
                        [&] { SK_CUDA_BACKEND(ctc::align_cuda(context, p.plan, args)); });
        };
        if (p.dtype == DType::Float32)
            run(float(0));
        else
            run(double(0));
    });
}

SK_API sk_status sk_ctc_posteriors(sk_context *ctx, const sk_ctc_options *options,
                                   const sk_tensor *log_probs, const sk_tensor *targets,
                                   const sk_tensor *input_lengths, const sk_tensor *target_lengths,
                                   sk_tensor *posteriors) {
    return guarded(ctx, "sk_ctc_posteriors", [&] {
        auto &context = require_context(ctx);
        const Options o = require_options(options);
        auto &tp = const_cast<sk_tensor &>(require_tensor(posteriors, "posteriors"));
        const Problem p = require_problem(context, o, log_probs, "log_probs", targets, input_lengths,
                                          target_lengths);
        const InputSet in{log_probs, targets, input_lengths, target_lengths, nullptr, "log_probs"};
        require_dtype(tp, "posteriors", p.dtype);
        require_rank(tp, "posteriors", 3, 3);
        const index_t need = 2 * p.plan.max_target_length + 1;
        if (tp.shape[0] != p.plan.batch || tp.shape[1] != p.plan.frames || tp.shape[2] < need)
            fail(SK_ERROR_SHAPE, "argument 'posteriors': expected shape [%lld, %lld, W] (B, T, W) with "
                 "W >= %lld (2 * longest target + 1), got %s", static_cast<long long>(p.plan.batch),
                 static_cast<long long>(p.plan.frames), static_cast<long long>(need),
                 shape_string(tp).c_str());
        require_output(tp, "posteriors", context, in.list());
        const auto run = [&](auto zero) {
            using T = decltype(zero);
            auto args = base_args<T>(p);
            args.posteriors = View3<T>{static_cast<T *>(tp.data), tp.strides[0], tp.strides[1], tp.strides[2]};
            args.posterior_width = tp.shape[2];
            dispatch(context, [&] { ctc::posteriors_cpu(context, p.plan, args); },
                        [&] { SK_CUDA_BACKEND(ctc::posteriors_cuda(context, p.plan, args)); });
        };
        if (p.dtype == DType::Float32)
            run(float(0));
        else
            run(double(0));
    });
}

}  // extern "C"
