// libFuzzer harness of the semifield convolution family: sk_semiconv_forward, _backward,
// _closing, sk_quadratic_kernel and sk_quadratic_kernel_backward with fuzzed descriptors,
// geometry (strides, dilations, paddings, groups) and options (see fuzz_common.h).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "fuzz_common.h"

using skfuzz::Fuzz;
using skfuzz::TensorPlan;

namespace {

// Whether the options allocation covers the 8-byte field at offset.
bool field8(const Fuzz &f, std::size_t offset) { return f.field(offset + 4); }

int64_t geometry_value(Fuzz &f, int64_t lo, int64_t hi) {
    if (!f.coin(16)) return f.small(lo, hi);
    static const int64_t odd[] = {0, -1, int64_t(1) << 40, (int64_t(1) << 40) + 1, int64_t(1) << 62,
                                  std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
    return odd[f.small(0, 6)];
}

double parameter_value(Fuzz &f) {
    switch (f.small(0, 11)) {
        case 0: return 0.0;
        case 1: return std::numeric_limits<double>::quiet_NaN();
        case 2: return std::numeric_limits<double>::infinity();
        case 3: return -std::numeric_limits<double>::infinity();
        case 4: return 1e300;
        case 5: return std::numeric_limits<double>::denorm_min();
        default: return static_cast<double>(f.small(-16, 16)) / 4.0;
    }
}

// The plausible geometry of one call, written into the options the library reads.
struct Geometry {
    int rank = 1;
    int64_t batch = 1, groups = 1, group_in = 1, kernel_rows = 1;
    bool broadcast = false, channels_add = false;
    int mode = SK_SEMICONV_PADDING_VALID;
    int64_t n[3] = {1, 1, 1}, k[3] = {1, 1, 1}, stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1};
    int64_t pad_begin[3] = {0, 0, 0}, pad_end[3] = {0, 0, 0};
};

sk_semiconv_options *semiconv_options(Fuzz &f, Geometry &g, bool closing) {
    g.rank = static_cast<int>(f.small(1, 3));
    g.batch = f.small(0, 2);
    g.groups = f.small(1, 3);
    g.group_in = f.small(closing ? 1 : 0, closing ? 1 : 2);
    g.broadcast = f.coin(3);
    g.kernel_rows = closing ? (g.broadcast ? 1 : g.groups) : (g.broadcast ? f.small(1, 2) : g.groups * f.small(1, 2));
    g.channels_add = !closing && f.coin(5);
    g.mode = static_cast<int>(f.small(SK_SEMICONV_PADDING_EXPLICIT, SK_SEMICONV_PADDING_SAME));
    for (int a = 0; a < 3; ++a) {
        g.n[a] = f.small(1, g.rank == 3 ? 3 : 5);
        g.k[a] = f.small(1, 3);
        g.stride[a] = closing ? 1 : geometry_value(f, 1, 2);
        g.dilation[a] = geometry_value(f, 1, 2);
        g.pad_begin[a] = geometry_value(f, 0, 2);
        // A closing needs padding totals d (k - 1): often given exactly (when the values are small).
        const bool exact_total = closing && f.coin(2) && g.dilation[a] >= 1 && g.dilation[a] <= 2 && g.pad_begin[a] >= 0 && g.pad_begin[a] <= 2;
        g.pad_end[a] = exact_total ? g.dilation[a] * (g.k[a] - 1) - g.pad_begin[a] : geometry_value(f, 0, 2);
    }
    auto *o = f.options<sk_semiconv_options>();
    if (!o) return o;
    if (f.field(offsetof(sk_semiconv_options, semifield)))
        o->semifield = closing && !f.coin(8) ? SK_SEMIFIELD_TROPICAL_MAX : f.code(SK_SEMIFIELD_TROPICAL_MAX, SK_SEMIFIELD_LOG);
    if (f.field(offsetof(sk_semiconv_options, spatial_rank)))
        o->spatial_rank = f.coin(24) ? f.code(0, 4) : g.rank;
    if (f.field(offsetof(sk_semiconv_options, kind))) o->kind = f.code(SK_SEMICONV_CONVOLUTION, SK_SEMICONV_CORRELATION);
    if (f.field(offsetof(sk_semiconv_options, padding_mode))) o->padding_mode = f.coin(24) ? f.code(0, 3) : g.mode;
    if (f.field(offsetof(sk_semiconv_options, groups)))
        o->groups = f.coin(24) ? f.code(-1, 4) : static_cast<int32_t>(g.groups);
    if (f.field(offsetof(sk_semiconv_options, group_broadcast))) o->group_broadcast = f.coin(24) ? f.code(0, 2) : g.broadcast;
    if (f.field(offsetof(sk_semiconv_options, channels_add)))
        o->channels_add = f.coin(24) ? f.code(0, 2) : g.channels_add;
    if (f.field(offsetof(sk_semiconv_options, reserved))) o->reserved = f.coin(16) ? 1 : 0;
    if (field8(f, offsetof(sk_semiconv_options, p))) o->p = parameter_value(f);
    if (field8(f, offsetof(sk_semiconv_options, mu))) o->mu = parameter_value(f);
    for (int a = 0; a < 3; ++a) {
        if (field8(f, offsetof(sk_semiconv_options, stride) + 8 * static_cast<std::size_t>(a))) o->stride[a] = g.stride[a];
        if (field8(f, offsetof(sk_semiconv_options, dilation) + 8 * static_cast<std::size_t>(a))) o->dilation[a] = g.dilation[a];
        if (field8(f, offsetof(sk_semiconv_options, padding_begin) + 8 * static_cast<std::size_t>(a)))
            o->padding_begin[a] = g.pad_begin[a];
        if (field8(f, offsetof(sk_semiconv_options, padding_end) + 8 * static_cast<std::size_t>(a)))
            o->padding_end[a] = g.pad_end[a];
    }
    return o;
}

// The output extent of one axis as the header defines it (a guess when the geometry is odd:
// the library must then reject the call, whatever shape the harness proposes).
int64_t output_extent(const Geometry &g, int a) {
    const int64_t n = g.n[a], k = g.k[a], s = g.stride[a], d = g.dilation[a];
    if (s < 1 || s > 64 || d < 1 || d > 64 || g.pad_begin[a] < 0 || g.pad_begin[a] > 64 || g.pad_end[a] < 0 ||
        g.pad_end[a] > 64)
        return 1;
    int64_t pb = g.pad_begin[a], pe = g.pad_end[a];
    if (g.mode == SK_SEMICONV_PADDING_VALID) pb = pe = 0;
    if (g.mode == SK_SEMICONV_PADDING_SAME) {
        pb = d * (k - 1) / 2;
        pe = d * (k - 1) - pb;
    }
    const int64_t span = n + pb + pe - d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

struct Shapes {
    std::vector<int64_t> input, kernel, output, provenance;
};

Shapes shapes_of(Fuzz &f, const Geometry &g) {
    Shapes s;
    const int64_t in_channels = g.groups * g.group_in;
    const int64_t out_channels = g.broadcast ? g.groups * g.kernel_rows : g.kernel_rows;
    s.input = {g.batch, in_channels};
    s.kernel = {g.kernel_rows, g.group_in};
    s.output = {g.batch, out_channels};
    s.provenance = {g.batch, out_channels};
    if (g.channels_add) s.provenance.push_back(g.group_in);
    for (int a = 0; a < g.rank; ++a) {
        s.input.push_back(g.n[a]);
        s.kernel.push_back(g.k[a]);
        const int64_t m = output_extent(g, a) + (f.coin(16) ? f.small(-1, 1) : 0);
        s.output.push_back(m);
        s.provenance.push_back(m);
    }
    return s;
}

void convolution(Fuzz &f, sk_context *ctx, int op) {
    Geometry g;
    sk_semiconv_options *options = semiconv_options(f, g, op == 2);
    const Shapes s = shapes_of(f, g);
    const int32_t dtype = f.coin(2) ? SK_DTYPE_FLOAT32 : SK_DTYPE_FLOAT64;
    sk_tensor *input = f.tensor({"input", dtype, s.input});
    sk_tensor *kernel = f.tensor({"kernel", dtype, s.kernel});
    switch (op) {
        case 0: {
            sk_tensor *output = f.tensor({"output", dtype, s.output, true});
            TensorPlan provenance{"provenance", SK_DTYPE_INT32, s.provenance, true, true};
            sk_tensor *prov = f.tensor(provenance);
            skfuzz::call(f, "sk_semiconv_forward", ctx,
                         [&] { return sk_semiconv_forward(ctx, options, input, kernel, output, prov); });
            break;
        }
        case 1: {
            sk_tensor *output = f.tensor({"output", dtype, s.output, false, true});
            TensorPlan provenance{"provenance", SK_DTYPE_INT32, s.provenance, false, true};
            provenance.lo = -1;
            provenance.hi = 8;  // flat indices of a few taps; larger ones must be rejected
            sk_tensor *prov = f.tensor(provenance);
            sk_tensor *grad_output = f.tensor({"grad_output", dtype, s.output});
            sk_tensor *grad_input = f.tensor({"grad_input", dtype, s.input, true, true});
            sk_tensor *grad_kernel = f.tensor({"grad_kernel", dtype, s.kernel, true, true});
            skfuzz::call(f, "sk_semiconv_backward", ctx, [&] {
                return sk_semiconv_backward(ctx, options, input, kernel, output, prov, grad_output, grad_input,
                                            grad_kernel);
            });
            break;
        }
        default: {
            sk_tensor *output = f.tensor({"output", dtype, s.input, true});
            skfuzz::call(f, "sk_semiconv_closing", ctx,
                         [&] { return sk_semiconv_closing(ctx, options, input, kernel, output); });
            break;
        }
    }
}

void quadratic(Fuzz &f, sk_context *ctx, bool backward) {
    const int32_t form = f.code(SK_QUADRATIC_ISOTROPIC, SK_QUADRATIC_CHOLESKY);
    const int64_t n0 = f.small(0, 3), n1 = f.small(0, 2), kh = f.small(1, 5), kw = f.small(1, 5);
    const int64_t count = form == SK_QUADRATIC_ISOTROPIC ? 1 : 3;
    const int32_t dtype = f.coin(2) ? SK_DTYPE_FLOAT32 : SK_DTYPE_FLOAT64;
    sk_tensor *params = f.tensor({"params", dtype, {n0, n1, f.coin(16) ? 2 : count}});
    if (!backward) {
        sk_tensor *kernel = f.tensor({"kernel", dtype, {n0, n1, kh, kw}, true});
        skfuzz::call(f, "sk_quadratic_kernel", ctx, [&] { return sk_quadratic_kernel(ctx, form, params, kernel); });
    } else {
        sk_tensor *grad_kernel = f.tensor({"grad_kernel", dtype, {n0, n1, kh, kw}});
        sk_tensor *grad_params = f.tensor({"grad_params", dtype, {n0, n1, count}, true});
        skfuzz::call(f, "sk_quadratic_kernel_backward", ctx,
                     [&] { return sk_quadratic_kernel_backward(ctx, form, params, grad_kernel, grad_params); });
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    Fuzz f(data, size);
    sk_context *ctx = f.context();
    const int op = static_cast<int>(f.small(0, 4));
    if (op < 3) convolution(f, ctx, op);
    else quadratic(f, ctx, op == 4);
    return 0;
}
