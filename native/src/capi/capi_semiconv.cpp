// extern "C" entry points of the semifield convolution family: validate every argument, build
// the internal 3-D problem (semiconv/semiconv.h), then dispatch on device and dtype. Nothing is
// written before every check has passed (the root semifield's negative-value scan included).
#include <cmath>
#include <cstddef>
#include <vector>

#include "capi/capi_guard.h"
#include "capi/validate.h"
#include "semiconv/semiconv.h"

namespace sk::capi {
namespace {

using semiconv::Axis;
using semiconv::Field;
using semiconv::kAxes;
using semiconv::View5;
using semiconv::View6;

// The options, checked.
struct Config {
    Field field = Field::TropicalMax;
    int rank = 1;
    bool mirror = false;
    int padding_mode = SK_SEMICONV_PADDING_EXPLICIT;
    index_t groups = 1;
    bool broadcast = false;
    bool channels_add = false;
    double p = 1, mu = 1;
    index_t stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1};
    index_t pad_begin[3] = {0, 0, 0}, pad_end[3] = {0, 0, 0};
};

void require_flag(int32_t value, const char *name) {
    if (value != 0 && value != 1)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.%s': must be 0 or 1, got %d", name, value);
}

Config require_options(const sk_semiconv_options *options) {
    if (!options) fail(SK_ERROR_NULL_POINTER, "argument 'options' is NULL");
    require_options_size(options->struct_size, sizeof(sk_semiconv_options), "sk_semiconv_options",
                         sizeof(sk_semiconv_options));
    Config c;
    if (options->semifield < SK_SEMIFIELD_TROPICAL_MAX || options->semifield > SK_SEMIFIELD_LOG)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.semifield': unknown semifield %d", options->semifield);
    c.field = static_cast<Field>(options->semifield);
    if (options->spatial_rank < 1 || options->spatial_rank > 3)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.spatial_rank': must be 1, 2 or 3, got %d",
             options->spatial_rank);
    c.rank = options->spatial_rank;
    if (options->kind != SK_SEMICONV_CONVOLUTION && options->kind != SK_SEMICONV_CORRELATION)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.kind': unknown kind %d", options->kind);
    c.mirror = options->kind == SK_SEMICONV_CONVOLUTION;
    if (options->padding_mode < SK_SEMICONV_PADDING_EXPLICIT || options->padding_mode > SK_SEMICONV_PADDING_SAME)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.padding_mode': unknown padding mode %d",
             options->padding_mode);
    c.padding_mode = options->padding_mode;
    if (options->groups < 1)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.groups': must be >= 1, got %d", options->groups);
    c.groups = options->groups;
    require_flag(options->group_broadcast, "group_broadcast");
    c.broadcast = options->group_broadcast == 1;
    require_flag(options->channels_add, "channels_add");
    c.channels_add = options->channels_add == 1;
    if (c.channels_add && !semiconv::is_tropical(c.field))
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.channels_add': only the tropical semifields "
             "(TROPICAL_MAX, TROPICAL_MIN) add channels, semifield is %d", options->semifield);
    if (options->reserved != 0)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.reserved': must be 0, got %d", options->reserved);
    if (c.field == Field::Root && (!(options->p != 0) || !std::isfinite(options->p)))
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.p': the root semifield needs a finite p != 0, got %g",
             options->p);
    if (c.field == Field::Log && (!(options->mu != 0) || !std::isfinite(options->mu)))
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.mu': the log semifield needs a finite mu != 0, got %g",
             options->mu);
    c.p = options->p;
    c.mu = options->mu;
    for (int a = 0; a < c.rank; ++a) {
        if (options->stride[a] < 1)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.stride[%d]': must be >= 1, got %lld", a,
                 static_cast<long long>(options->stride[a]));
        if (options->dilation[a] < 1)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.dilation[%d]': must be >= 1, got %lld", a,
                 static_cast<long long>(options->dilation[a]));
        c.stride[a] = options->stride[a];
        c.dilation[a] = options->dilation[a];
        if (c.padding_mode == SK_SEMICONV_PADDING_EXPLICIT) {
            if (options->padding_begin[a] < 0)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.padding_begin[%d]': must be >= 0, got %lld", a,
                     static_cast<long long>(options->padding_begin[a]));
            if (options->padding_end[a] < 0)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.padding_end[%d]': must be >= 0, got %lld", a,
                     static_cast<long long>(options->padding_end[a]));
            c.pad_begin[a] = options->padding_begin[a];
            c.pad_end[a] = options->padding_end[a];
        }
    }
    return c;
}

// A tensor of rank 2 + r as a 5-D view: the spatial axes go last, missing ones get stride 0.
template <class T>
View5<T> as_view5(const sk_tensor &t, int rank) {
    View5<T> v;
    v.data = static_cast<T *>(t.data);
    v.s[0] = t.strides[0];
    v.s[1] = t.strides[1];
    for (int a = 0; a < rank; ++a) v.s[kAxes - rank + 2 + a] = t.strides[2 + a];
    return v;
}

// The provenance as a 6-D view: (B, C_out, [C_in/groups with channels_add], spatial...).
template <class T>
View6<T> as_view6(const sk_tensor &t, int rank, bool channel_axis) {
    View6<T> v;
    v.data = static_cast<T *>(t.data);
    v.s[0] = t.strides[0];
    v.s[1] = t.strides[1];
    const int first_spatial = channel_axis ? 3 : 2;
    if (channel_axis) v.s[2] = t.strides[2];
    for (int a = 0; a < rank; ++a) v.s[kAxes - rank + 3 + a] = t.strides[first_spatial + a];
    return v;
}

// Shapes of a problem (sizes only; the views are attached per dtype).
struct Geometry {
    index_t batch = 0, in_channels = 0, out_channels = 0, group_in = 0, group_out = 0, kernel_rows = 0;
    Axis axis[kAxes];
    std::vector<int64_t> output_shape, provenance_shape;
};

std::string shape_text(const std::vector<int64_t> &shape) {
    std::string s = "[";
    for (std::size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
    return s + "]";
}

Geometry check_geometry(const Config &c, const sk_tensor &input, const sk_tensor &kernel) {
    require_rank(input, "input", 2 + c.rank, 2 + c.rank);
    require_rank(kernel, "kernel", 2 + c.rank, 2 + c.rank);
    Geometry g;
    g.batch = input.shape[0];
    g.in_channels = input.shape[1];
    if (g.in_channels % c.groups != 0)
        fail(SK_ERROR_SHAPE, "argument 'input': %lld channels are not divisible by options.groups = %lld",
             static_cast<long long>(g.in_channels), static_cast<long long>(c.groups));
    g.group_in = g.in_channels / c.groups;
    if (kernel.shape[1] != g.group_in)
        fail(SK_ERROR_SHAPE, "argument 'kernel': second extent must be C_in / groups = %lld, got shape %s",
             static_cast<long long>(g.group_in), shape_string(kernel).c_str());
    g.kernel_rows = kernel.shape[0];
    if (c.broadcast) {
        g.group_out = g.kernel_rows;
        g.out_channels = g.kernel_rows * c.groups;
    } else {
        if (g.kernel_rows % c.groups != 0)
            fail(SK_ERROR_SHAPE, "argument 'kernel': %lld output channels are not divisible by options.groups = "
                 "%lld (shape %s)", static_cast<long long>(g.kernel_rows), static_cast<long long>(c.groups),
                 shape_string(kernel).c_str());
        g.group_out = g.kernel_rows / c.groups;
        g.out_channels = g.kernel_rows;
    }
    index_t volume = 1;
    for (int a = 0; a < c.rank; ++a) {
        Axis &ax = g.axis[kAxes - c.rank + a];
        ax.n = input.shape[2 + a];
        ax.k = kernel.shape[2 + a];
        if (ax.k < 1)
            fail(SK_ERROR_SHAPE, "argument 'kernel': spatial extent %d is %lld, must be >= 1 (shape %s)", a,
                 static_cast<long long>(ax.k), shape_string(kernel).c_str());
        ax.stride = c.stride[a];
        ax.dilation = c.dilation[a];
        // The dilated kernel is bounded first: SAME padding is computed from d (k - 1), which
        // must not overflow (dilation may be up to 2^63 - 1).
        if (ax.k - 1 > (index_t(1) << 40) / ax.dilation)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options': padding or dilated kernel of axis %d exceeds 2^40", a);
        index_t pb = c.pad_begin[a], pe = c.pad_end[a];
        if (c.padding_mode == SK_SEMICONV_PADDING_VALID) pb = pe = 0;
        if (c.padding_mode == SK_SEMICONV_PADDING_SAME) {
            pb = semiconv::same_pad_begin(ax.k, ax.dilation);
            pe = semiconv::same_pad_end(ax.k, ax.dilation);
        }
        if (pb > (index_t(1) << 40) || pe > (index_t(1) << 40))
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options': padding or dilated kernel of axis %d exceeds 2^40", a);
        ax.pad_begin = pb;
        ax.m = semiconv::output_extent(ax.n, ax.k, ax.stride, ax.dilation, pb, pe);
        if (ax.m < 1)
            fail(SK_ERROR_SHAPE, "argument 'kernel': spatial axis %d: the dilated kernel (%lld taps, dilation %lld) "
                 "is larger than the padded input (%lld + %lld + %lld)", a, static_cast<long long>(ax.k),
                 static_cast<long long>(ax.dilation), static_cast<long long>(ax.n), static_cast<long long>(pb),
                 static_cast<long long>(pe));
        volume *= ax.k;
    }
    if (g.group_in > 0 && volume > INT32_MAX / g.group_in)
        fail(SK_ERROR_UNSUPPORTED, "argument 'kernel': %lld taps per output exceed the int32 provenance",
             static_cast<long long>(volume * g.group_in));
    g.output_shape = {g.batch, g.out_channels};
    g.provenance_shape = {g.batch, g.out_channels};
    if (c.channels_add) g.provenance_shape.push_back(g.group_in);
    for (int a = 0; a < c.rank; ++a) {
        g.output_shape.push_back(g.axis[kAxes - c.rank + a].m);
        g.provenance_shape.push_back(g.axis[kAxes - c.rank + a].m);
    }
    return g;
}

void require_shape(const sk_tensor &t, const char *name, const std::vector<int64_t> &shape) {
    bool same = t.rank == static_cast<int32_t>(shape.size());
    for (std::size_t d = 0; same && d < shape.size(); ++d) same = t.shape[d] == shape[d];
    if (!same)
        fail(SK_ERROR_SHAPE, "argument '%s': expected shape %s, got %s", name, shape_text(shape).c_str(),
             shape_string(t).c_str());
}

template <class T>
semiconv::Problem<T> make_problem(const Config &c, const Geometry &g, const sk_tensor &input,
                                  const sk_tensor &kernel) {
    semiconv::Problem<T> P;
    P.field = c.field;
    P.p = c.p;
    P.mu = c.mu;
    P.mirror = c.mirror;
    P.channels_add = c.channels_add;
    P.broadcast = c.broadcast;
    P.batch = g.batch;
    P.in_channels = g.in_channels;
    P.out_channels = g.out_channels;
    P.groups = c.groups;
    P.group_in = g.group_in;
    P.group_out = g.group_out;
    P.kernel_rows = g.kernel_rows;
    for (int a = 0; a < kAxes; ++a) P.axis[a] = g.axis[a];
    P.input = as_view5<const T>(input, c.rank);
    P.kernel = as_view5<const T>(kernel, c.rank);
    return P;
}

// The root semifield is defined on non-negative values: scan input and kernel first (on a
// device both scans share one synchronisation); the input is named first when both fail.
template <class T>
void require_non_negative(sk_context &ctx, const sk_tensor &input, const sk_tensor &kernel, int rank) {
    const sk_tensor *tensors[2] = {&input, &kernel};
    const char *names[2] = {"input", "kernel"};
    semiconv::NegativeScan<T> scans[2];
    for (int i = 0; i < 2; ++i) {
        const sk_tensor &t = *tensors[i];
        index_t *extent = scans[i].extent;
        extent[0] = t.shape[0];
        extent[1] = t.shape[1];
        extent[2] = extent[3] = extent[4] = 1;
        for (int a = 0; a < rank; ++a) extent[kAxes - rank + 2 + a] = t.shape[2 + a];
        scans[i].view = as_view5<const T>(t, rank);
    }
    unsigned negative = 0;
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(negative = semiconv::negative_scans_cuda<T>(ctx, scans, 2));
    else
        negative = semiconv::negative_scans_cpu<T>(ctx, scans, 2);
    for (int i = 0; i < 2; ++i)
        if (negative & (1u << i))
            fail(SK_ERROR_INVALID_ARGUMENT, "argument '%s': the root semifield needs values >= 0, found a negative one",
                 names[i]);
}

template <class T>
void run_forward(sk_context &ctx, const semiconv::Problem<T> &P, const semiconv::ForwardOut<T> &out) {
    if (P.batch * P.out_channels * P.output_volume() == 0) return;
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(semiconv::forward_cuda<T>(ctx, P, out));
    else
        semiconv::forward_cpu<T>(ctx, P, out);
}

// A contiguous scratch tensor (internal 5-D or 6-D layout) from the context's workspace.
template <class U>
struct Scratch {
    Workspace::Lease lease;
    index_t strides[6] = {0, 0, 0, 0, 0, 0};
    Scratch(sk_context &ctx, const index_t extent[6], const char *purpose) {
        index_t stride = 1;
        for (int d = 5; d >= 0; --d) {
            strides[d] = stride;
            stride *= extent[d];
        }
        lease = ctx.workspace().acquire(static_cast<std::size_t>(std::max<index_t>(stride, 1)) * sizeof(U), purpose);
    }
    View5<U> view5() const {  // ignores the channel axis (extent 1)
        View5<U> v;
        v.data = lease.as<U>();
        v.s[0] = strides[0];
        v.s[1] = strides[1];
        v.s[2] = strides[3];
        v.s[3] = strides[4];
        v.s[4] = strides[5];
        return v;
    }
    View6<U> view6() const {
        View6<U> v;
        v.data = lease.as<U>();
        for (int d = 0; d < 6; ++d) v.s[d] = strides[d];
        return v;
    }
};

template <class T>
void forward_entry(sk_context &ctx, const Config &c, const Geometry &g, const sk_tensor &input,
                   const sk_tensor &kernel, sk_tensor &output, sk_tensor *provenance) {
    const auto P = make_problem<T>(c, g, input, kernel);
    if (c.field == Field::Root) {
        require_non_negative<T>(ctx, input, kernel, c.rank);
    }
    semiconv::ForwardOut<T> out;
    out.output = as_view5<T>(output, c.rank);
    if (provenance) out.provenance = as_view6<std::int32_t>(*provenance, c.rank, c.channels_add);
    run_forward<T>(ctx, P, out);
}

template <class T>
void backward_entry(sk_context &ctx, const Config &c, const Geometry &g, const sk_tensor &input,
                    const sk_tensor &kernel, const sk_tensor *output, const sk_tensor *provenance,
                    const sk_tensor &grad_output, sk_tensor *grad_input, sk_tensor *grad_kernel) {
    const auto P = make_problem<T>(c, g, input, kernel);
    if (c.field == Field::Root) {
        require_non_negative<T>(ctx, input, kernel, c.rank);
    }
    View5<T> gi, gk;
    if (grad_input && element_count(*grad_input) > 0) gi = as_view5<T>(*grad_input, c.rank);
    if (grad_kernel && element_count(*grad_kernel) > 0) gk = as_view5<T>(*grad_kernel, c.rank);
    if (!gi.data && !gk.data) return;

    semiconv::BackwardIn<T> in;
    in.grad_output = as_view5<const T>(grad_output, c.rank);
    const bool tropical = semiconv::is_tropical(c.field);
    const bool needs_output = c.field == Field::Root || c.field == Field::Log;
    // Recompute what the caller did not keep (into the workspace, before any output is written).
    const index_t extent[6] = {g.batch, g.out_channels, c.channels_add ? g.group_in : 1,
                               g.axis[0].m, g.axis[1].m, g.axis[2].m};
    std::vector<Scratch<T>> out_scratch;
    std::vector<Scratch<std::int32_t>> prov_scratch;
    const bool recompute_output = needs_output && !output;
    const bool recompute_provenance = tropical && !provenance;
    if (recompute_output || recompute_provenance) {
        const index_t out_extent[6] = {g.batch, g.out_channels, 1, g.axis[0].m, g.axis[1].m, g.axis[2].m};
        out_scratch.emplace_back(ctx, out_extent, "semiconv: recomputed output");
        semiconv::ForwardOut<T> out;
        out.output = out_scratch.back().view5();
        if (recompute_provenance) {
            prov_scratch.emplace_back(ctx, extent, "semiconv: recomputed provenance");
            out.provenance = prov_scratch.back().view6();
        }
        run_forward<T>(ctx, P, out);
        if (recompute_output) in.output = semiconv::as_const(out_scratch.back().view5());
        if (recompute_provenance) in.provenance = semiconv::as_const(prov_scratch.back().view6());
    }
    if (needs_output && output) in.output = as_view5<const T>(*output, c.rank);
    if (tropical && provenance) in.provenance = as_view6<const std::int32_t>(*provenance, c.rank, c.channels_add);
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(semiconv::backward_cuda<T>(ctx, P, in, gi, gk));
    else
        semiconv::backward_cpu<T>(ctx, P, in, gi, gk);
}

template <class T>
void closing_entry(sk_context &ctx, const Config &c, const Geometry &g, const sk_tensor &input,
                   const sk_tensor &kernel, sk_tensor &output) {
    auto dilation = make_problem<T>(c, g, input, kernel);
    if (g.batch * g.in_channels * dilation.input_volume() == 0) return;
    const index_t extent[6] = {g.batch, g.out_channels, 1, g.axis[0].m, g.axis[1].m, g.axis[2].m};
    Scratch<T> dilated(ctx, extent, "semiconv: closing's dilation");
    semiconv::ForwardOut<T> first;
    first.output = dilated.view5();
    run_forward<T>(ctx, dilation, first);
    // The adjoint erosion: T- over the dilation, opposite kind, padding begin and end swapped.
    auto erosion = dilation;
    erosion.field = Field::TropicalMin;
    erosion.mirror = !dilation.mirror;
    for (int a = 0; a < kAxes; ++a) {
        const Axis &ax = dilation.axis[a];
        erosion.axis[a].pad_begin = ax.dilation * (ax.k - 1) - ax.pad_begin;
    }
    erosion.input = semiconv::as_const(dilated.view5());
    semiconv::ForwardOut<T> second;
    second.output = as_view5<T>(output, c.rank);
    run_forward<T>(ctx, erosion, second);
}

// ---- quadratic kernels -----------------------------------------------------------------------

semiconv::QuadraticForm require_form(int32_t form) {
    if (form < SK_QUADRATIC_ISOTROPIC || form > SK_QUADRATIC_CHOLESKY)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'form': unknown quadratic form %d", form);
    return static_cast<semiconv::QuadraticForm>(form);
}

void require_params(const sk_tensor &params, semiconv::QuadraticForm form) {
    require_rank(params, "params", 3, 3);
    const int count = semiconv::quadratic_parameter_count(form);
    if (params.shape[2] != count)
        fail(SK_ERROR_SHAPE, "argument 'params': last extent must be %d for this form, got shape %s", count,
             shape_string(params).c_str());
}

void require_grid(const sk_tensor &t, const char *name, const sk_tensor &params) {
    require_rank(t, name, 4, 4);
    if (t.shape[0] != params.shape[0] || t.shape[1] != params.shape[1])
        fail(SK_ERROR_SHAPE, "argument '%s': leading extents must match 'params' %s, got shape %s", name,
             shape_string(params).c_str(), shape_string(t).c_str());
    if (t.shape[2] < 1 || t.shape[3] < 1)
        fail(SK_ERROR_SHAPE, "argument '%s': the grid extents must be >= 1, got shape %s", name,
             shape_string(t).c_str());
}

template <class T>
semiconv::QuadraticProblem<T> make_quadratic(semiconv::QuadraticForm form, const sk_tensor &params,
                                             const sk_tensor &grid) {
    semiconv::QuadraticProblem<T> Q;
    Q.form = form;
    Q.n0 = grid.shape[0];
    Q.n1 = grid.shape[1];
    Q.kh = grid.shape[2];
    Q.kw = grid.shape[3];
    Q.params = static_cast<const T *>(params.data);
    for (int d = 0; d < 3; ++d) Q.ps[d] = params.strides[d];
    return Q;
}

// (n0, n1, kh, kw) as a View5 (n0, n1, 1, kh, kw); (n0, n1, P) as (n0, n1, 1, 1, P).
template <class T>
View5<T> grid_view(const sk_tensor &t) {
    View5<T> v;
    v.data = static_cast<T *>(t.data);
    v.s[0] = t.strides[0];
    v.s[1] = t.strides[1];
    v.s[3] = t.rank == 4 ? t.strides[2] : 0;
    v.s[4] = t.strides[t.rank - 1];
    return v;
}

}  // namespace
}  // namespace sk::capi

using namespace sk;
using namespace sk::capi;

extern "C" {

SK_API sk_status sk_semiconv_forward(sk_context *ctx, const sk_semiconv_options *options,
                                     const sk_tensor *input, const sk_tensor *kernel,
                                     sk_tensor *output, sk_tensor *provenance) {
    return guarded(ctx, "sk_semiconv_forward", [&] {
        auto &context = require_context(ctx);
        const Config c = require_options(options);
        const auto &ti = require_tensor(input, "input");
        const auto &tk = require_tensor(kernel, "kernel");
        auto &to = const_cast<sk_tensor &>(require_tensor(output, "output"));
        const Geometry g = check_geometry(c, ti, tk);
        const DType dtype = require_float_dtype(ti, "input");
        require_dtype(tk, "kernel", dtype);
        require_on_context_device(ti, "input", context);
        require_on_context_device(tk, "kernel", context);
        require_shape(to, "output", g.output_shape);
        require_dtype(to, "output", dtype);
        require_output(to, "output", context, {{&ti, "input"}, {&tk, "kernel"}});
        if (provenance) {
            require_tensor(provenance, "provenance");
            if (!semiconv::is_tropical(c.field))
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'provenance': only the tropical semifields have one "
                     "(semifield is %d)", options->semifield);
            require_shape(*provenance, "provenance", g.provenance_shape);
            require_dtype(*provenance, "provenance", DType::Int32);
            require_output(*provenance, "provenance", context, {{&ti, "input"}, {&tk, "kernel"}, {&to, "output"}});
        }
        context.activate();
        if (dtype == DType::Float32)
            forward_entry<float>(context, c, g, ti, tk, to, provenance);
        else
            forward_entry<double>(context, c, g, ti, tk, to, provenance);
    });
}

SK_API sk_status sk_semiconv_backward(sk_context *ctx, const sk_semiconv_options *options,
                                      const sk_tensor *input, const sk_tensor *kernel,
                                      const sk_tensor *output, const sk_tensor *provenance,
                                      const sk_tensor *grad_output, sk_tensor *grad_input,
                                      sk_tensor *grad_kernel) {
    return guarded(ctx, "sk_semiconv_backward", [&] {
        auto &context = require_context(ctx);
        const Config c = require_options(options);
        const auto &ti = require_tensor(input, "input");
        const auto &tk = require_tensor(kernel, "kernel");
        const auto &tg = require_tensor(grad_output, "grad_output");
        const Geometry g = check_geometry(c, ti, tk);
        const DType dtype = require_float_dtype(ti, "input");
        require_dtype(tk, "kernel", dtype);
        require_on_context_device(ti, "input", context);
        require_on_context_device(tk, "kernel", context);
        require_shape(tg, "grad_output", g.output_shape);
        require_dtype(tg, "grad_output", dtype);
        require_on_context_device(tg, "grad_output", context);
        const bool tropical = semiconv::is_tropical(c.field);
        const bool needs_output = c.field == Field::Root || c.field == Field::Log;
        if (output && needs_output) {
            require_tensor(output, "output");
            require_shape(*output, "output", g.output_shape);
            require_dtype(*output, "output", dtype);
            require_on_context_device(*output, "output", context);
        } else {
            output = nullptr;  // not read
        }
        if (provenance) {
            require_tensor(provenance, "provenance");
            if (!tropical)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'provenance': only the tropical semifields have one "
                     "(semifield is %d)", options->semifield);
            require_shape(*provenance, "provenance", g.provenance_shape);
            require_dtype(*provenance, "provenance", DType::Int32);
            require_on_context_device(*provenance, "provenance", context);
        }
        const NamedInputs inputs = {{&ti, "input"}, {&tk, "kernel"}, {output, "output"},
                                    {provenance, "provenance"}, {&tg, "grad_output"}};
        if (grad_input) {
            require_tensor(grad_input, "grad_input");
            require_same_shape(*grad_input, "grad_input", ti, "input");
            require_dtype(*grad_input, "grad_input", dtype);
            require_output(*grad_input, "grad_input", context, inputs);
        }
        if (grad_kernel) {
            require_tensor(grad_kernel, "grad_kernel");
            require_same_shape(*grad_kernel, "grad_kernel", tk, "kernel");
            require_dtype(*grad_kernel, "grad_kernel", dtype);
            require_output(*grad_kernel, "grad_kernel", context, inputs);
            if (grad_input) require_disjoint(*grad_kernel, "grad_kernel", *grad_input, "grad_input");
        }
        context.activate();
        if (dtype == DType::Float32)
            backward_entry<float>(context, c, g, ti, tk, output, provenance, tg, grad_input, grad_kernel);
        else
            backward_entry<double>(context, c, g, ti, tk, output, provenance, tg, grad_input, grad_kernel);
    });
}

SK_API sk_status sk_semiconv_closing(sk_context *ctx, const sk_semiconv_options *options,
                                     const sk_tensor *input, const sk_tensor *kernel,
                                     sk_tensor *output) {
    return guarded(ctx, "sk_semiconv_closing", [&] {
        auto &context = require_context(ctx);
        const Config c = require_options(options);
        if (c.field != Field::TropicalMax)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.semifield': the closing is defined for "
                 "TROPICAL_MAX (dilation, then the adjoint TROPICAL_MIN erosion), got %d", options->semifield);
        if (c.channels_add)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.channels_add': must be 0 for a closing");
        const auto &ti = require_tensor(input, "input");
        const auto &tk = require_tensor(kernel, "kernel");
        auto &to = const_cast<sk_tensor &>(require_tensor(output, "output"));
        const Geometry g = check_geometry(c, ti, tk);
        for (int a = 0; a < c.rank; ++a) {
            const Axis &ax = g.axis[kAxes - c.rank + a];
            if (ax.stride != 1)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.stride[%d]': a closing needs stride 1, got %lld",
                     a, static_cast<long long>(ax.stride));
            if (ax.m != ax.n)
                fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options': a closing needs padding_begin + padding_end = "
                     "dilation (k - 1) on every axis (SAME padding); axis %d gives %lld outputs for %lld inputs",
                     a, static_cast<long long>(ax.m), static_cast<long long>(ax.n));
        }
        if (c.groups != g.in_channels || g.group_in != 1 || g.out_channels != g.in_channels)
            fail(SK_ERROR_SHAPE, "argument 'kernel': a closing is depthwise: options.groups must equal the %lld "
                 "input channels and the kernel be (C_in, 1, ...) or, with group broadcasting, (1, 1, ...); got "
                 "groups %lld and kernel %s", static_cast<long long>(g.in_channels),
                 static_cast<long long>(c.groups), shape_string(tk).c_str());
        const DType dtype = require_float_dtype(ti, "input");
        require_dtype(tk, "kernel", dtype);
        require_on_context_device(ti, "input", context);
        require_on_context_device(tk, "kernel", context);
        require_same_shape(to, "output", ti, "input");
        require_dtype(to, "output", dtype);
        require_output(to, "output", context, {{&ti, "input"}, {&tk, "kernel"}});
        context.activate();
        if (dtype == DType::Float32)
            closing_entry<float>(context, c, g, ti, tk, to);
        else
            closing_entry<double>(context, c, g, ti, tk, to);
    });
}

SK_API sk_status sk_quadratic_kernel(sk_context *ctx, int32_t form, const sk_tensor *params,
                                     sk_tensor *kernel) {
    return guarded(ctx, "sk_quadratic_kernel", [&] {
        auto &context = require_context(ctx);
        const auto f = require_form(form);
        const auto &tp = require_tensor(params, "params");
        auto &tk = const_cast<sk_tensor &>(require_tensor(kernel, "kernel"));
        require_params(tp, f);
        require_grid(tk, "kernel", tp);
        const DType dtype = require_float_dtype(tp, "params");
        require_dtype(tk, "kernel", dtype);
        require_on_context_device(tp, "params", context);
        require_output(tk, "kernel", context, {{&tp, "params"}});
        if (element_count(tk) == 0) return;
        context.activate();
        auto run = [&](auto zero) {
            using T = decltype(zero);
            const auto Q = make_quadratic<T>(f, tp, tk);
            if (context.is_cuda())
                SK_CUDA_BACKEND(semiconv::quadratic_kernel_cuda<T>(context, Q, grid_view<T>(tk)));
            else
                semiconv::quadratic_kernel_cpu<T>(context, Q, grid_view<T>(tk));
        };
        if (dtype == DType::Float32)
            run(0.0f);
        else
            run(0.0);
    });
}

SK_API sk_status sk_quadratic_kernel_backward(sk_context *ctx, int32_t form,
                                              const sk_tensor *params,
                                              const sk_tensor *grad_kernel,
                                              sk_tensor *grad_params) {
    return guarded(ctx, "sk_quadratic_kernel_backward", [&] {
        auto &context = require_context(ctx);
        const auto f = require_form(form);
        const auto &tp = require_tensor(params, "params");
        const auto &tg = require_tensor(grad_kernel, "grad_kernel");
        auto &tgp = const_cast<sk_tensor &>(require_tensor(grad_params, "grad_params"));
        require_params(tp, f);
        require_grid(tg, "grad_kernel", tp);
        const DType dtype = require_float_dtype(tp, "params");
        require_dtype(tg, "grad_kernel", dtype);
        require_same_shape(tgp, "grad_params", tp, "params");
        require_dtype(tgp, "grad_params", dtype);
        require_on_context_device(tp, "params", context);
        require_on_context_device(tg, "grad_kernel", context);
        require_output(tgp, "grad_params", context, {{&tp, "params"}, {&tg, "grad_kernel"}});
        if (element_count(tgp) == 0) return;
        context.activate();
        auto run = [&](auto zero) {
            using T = decltype(zero);
            const auto Q = make_quadratic<T>(f, tp, tg);
            const auto gk = grid_view<const T>(tg);
            const auto gp = grid_view<T>(tgp);
            if (context.is_cuda())
                SK_CUDA_BACKEND(semiconv::quadratic_backward_cuda<T>(context, Q, gk, gp));
            else
                semiconv::quadratic_backward_cpu<T>(context, Q, gk, gp);
        };
        if (dtype == DType::Float32)
            run(0.0f);
        else
            run(0.0);
    });
}

}  // extern "C"
