// Semifield convolution workload: 1-D, 2-D and 3-D depthwise, every semifield, forward (with
// provenance for the tropical ones) and backward; strides, dilations, explicit padding; a closing;
// quadratic kernels of every form with their backward; float32 and float64.
#include "reliability_ops.h"

using namespace sktest;
using namespace sktest::reliability;

namespace {
sk_semiconv_options conv_options(int32_t semifield, int32_t rank, int32_t groups) {
    sk_semiconv_options o{};
    o.struct_size = sizeof(o);
    o.semifield = semifield;
    o.spatial_rank = rank;
    o.kind = SK_SEMICONV_CONVOLUTION;
    o.padding_mode = SK_SEMICONV_PADDING_SAME;
    o.groups = groups;
    o.p = 2.0;
    o.mu = 1.5;
    for (int a = 0; a < 3; ++a) o.stride[a] = o.dilation[a] = 1;
    return o;
}

template <class T>
void convolutions(sk_context *ctx, int size, Outputs &out) {
    std::mt19937_64 rng(67 + sizeof(T));
    const int64_t b = size ? 2 : 1, c = size ? 4 : 2, n = size ? 20 : 4;
    for (int32_t rank : {1, 2, 3}) {
        std::vector<int64_t> in_shape{b, c}, k_shape{c, 1};
        for (int32_t a = 0; a < rank; ++a) {
            const int64_t extent = rank == 3 ? n / 2 : n;
            in_shape.push_back(extent);
            k_shape.push_back(3);
        }
        // Positive inputs so that the root semifield accepts them; the others do not mind.
        auto input = seeded<T>(in_shape, rng, 0.1, 2), kernel = seeded<T>(k_shape, rng, 0.1, 1);
        for (int32_t field : {SK_SEMIFIELD_TROPICAL_MAX, SK_SEMIFIELD_TROPICAL_MIN, SK_SEMIFIELD_LINEAR,
                              SK_SEMIFIELD_ROOT, SK_SEMIFIELD_LOG}) {
            Io io(ctx, out);
            sk_semiconv_options o = conv_options(field, rank, static_cast<int32_t>(c));
            const bool tropical = field == SK_SEMIFIELD_TROPICAL_MAX || field == SK_SEMIFIELD_TROPICAL_MIN;
            HostTensor<T> output(in_shape), grad_out = seeded<T>(in_shape, rng, 0.5, 2), grad_in(in_shape),
                grad_k(k_shape);
            HostTensor<int32_t> provenance(in_shape);
            out.status(sk_semiconv_forward(ctx, &o, io.d(input), io.d(kernel), io.d(output),
                                           tropical ? io.d(provenance) : nullptr),
                       "sk_semiconv_forward");
            io.add(output);
            if (tropical) io.add(provenance);
            out.status(sk_semiconv_backward(ctx, &o, io.d(input), io.d(kernel), io.d(output),
                                            tropical ? io.d(provenance) : nullptr, io.d(grad_out), io.d(grad_in),
                                            io.d(grad_k)),
                       "sk_semiconv_backward");
            io.add(grad_in);
            io.add(grad_k);
            if (field == SK_SEMIFIELD_TROPICAL_MAX) {
                HostTensor<T> closed(in_shape);
                out.status(sk_semiconv_closing(ctx, &o, io.d(input), io.d(kernel), io.d(closed)), "sk_semiconv_closing");
                io.add(closed);
            }
        }
    }
    // Strided, dilated, one group over all channels, explicit padding, correlation (2-D, T+ and log).
    {
        auto input = seeded<T>({b, 2 * c, n, n}, rng, -1, 1);
        for (int32_t field : {SK_SEMIFIELD_TROPICAL_MAX, SK_SEMIFIELD_LOG}) {
            Io io(ctx, out);
            sk_semiconv_options o = conv_options(field, 2, 1);
            o.padding_mode = SK_SEMICONV_PADDING_EXPLICIT;
            o.kind = SK_SEMICONV_CORRELATION;
            for (int a = 0; a < 2; ++a) {
                o.stride[a] = 2;
                o.dilation[a] = 2;
                o.padding_begin[a] = 1;
                o.padding_end[a] = 2;
            }
            // One group: kernel (C_out, C_in, 3, 3); output extent m = floor((n + 1 + 2 - 2 (3 - 1) - 1) / 2) + 1.
            HostTensor<T> wide_kernel = seeded<T>({c, 2 * c, 3, 3}, rng, -1, 1);
            const int64_t m = (n + 3 - 4 - 1) / 2 + 1;
            HostTensor<T> output({b, c, m, m}), grad_out = seeded<T>({b, c, m, m}, rng, 0.5, 2),
                grad_in({b, 2 * c, n, n}), grad_k({c, 2 * c, 3, 3});
            out.status(sk_semiconv_forward(ctx, &o, io.d(input), io.d(wide_kernel), io.d(output), nullptr),
                       "sk_semiconv_forward (strided)");
            io.add(output);
            out.status(sk_semiconv_backward(ctx, &o, io.d(input), io.d(wide_kernel), io.d(output), nullptr,
                                            io.d(grad_out), io.d(grad_in), io.d(grad_k)),
                       "sk_semiconv_backward (strided)");
            io.add(grad_in);
            io.add(grad_k);
        }
    }
    for (int32_t form : {SK_QUADRATIC_ISOTROPIC, SK_QUADRATIC_ANISOTROPIC, SK_QUADRATIC_CHOLESKY}) {
        Io io(ctx, out);
        const int64_t p = form == SK_QUADRATIC_ISOTROPIC ? 1 : 3;
        auto params = seeded<T>({c, 1, p}, rng, -0.5, 0.5);
        HostTensor<T> kernel({c, 1, 5, 4}), grad_params({c, 1, p});
        auto grad_kernel = seeded<T>({c, 1, 5, 4}, rng, -1, 1);
        out.status(sk_quadratic_kernel(ctx, form, io.d(params), io.d(kernel)), "sk_quadratic_kernel");
        io.add(kernel);
        out.status(sk_quadratic_kernel_backward(ctx, form, io.d(params), io.d(grad_kernel), io.d(grad_params)),
                   "sk_quadratic_kernel_backward");
        io.add(grad_params);
    }
}
}  // namespace

SK_RELIABILITY_OPS(semiconv) {
    Outputs out;
    convolutions<float>(ctx, size, out);
    convolutions<double>(ctx, size, out);
    return out;
}
