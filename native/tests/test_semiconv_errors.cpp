// Every bad-input path of the semifield convolution entry points returns the right status, a
// message naming the argument (on the thread and on the context), and leaves every output
// untouched (the root semifield's negative-value check included: it runs before any write).
#include <cstring>
#include <functional>

#include "semiconv_test_util.h"

using namespace sktest;

namespace {

bool mentions(const char *message, const char *word) { return std::strstr(message, word) != nullptr; }

// A valid 2-D problem: B = 2, C = 2, 5 x 5, kernel (2, 2, 3, 3), T+, corr, explicit padding 0;
// outputs filled with the sentinel 99.
struct Fixture {
    ConvCase cc;
    sk_semiconv_options options{};
    HostTensor<float> input{{2, 2, 5, 5}, 1.0f}, kernel{{2, 2, 3, 3}, 0.5f};
    HostTensor<float> output{{2, 2, 3, 3}, 99.0f}, grad_output{{2, 2, 3, 3}, 1.0f};
    HostTensor<int32_t> provenance{{2, 2, 3, 3}, 99};
    HostTensor<float> grad_input{{2, 2, 5, 5}, 99.0f}, grad_kernel{{2, 2, 3, 3}, 99.0f};
    HostTensor<float> closed{{2, 2, 5, 5}, 99.0f};
    // quadratic kernels
    HostTensor<float> params{{2, 3, 3}, 0.1f}, qkernel{{2, 3, 3, 3}, 99.0f}, qgrad{{2, 3, 3, 3}, 1.0f},
        qgrad_params{{2, 3, 3}, 99.0f};
    int32_t form = SK_QUADRATIC_CHOLESKY;
    // When set, replaces the descriptor passed for that argument (NULL allowed).
    std::function<sk_tensor *(const char *, sk_tensor *)> swap = [](const char *, sk_tensor *t) { return t; };
    const sk_semiconv_options *opts = &options;

    Fixture() {
        cc.name = "errors";
        cc.semifield = SK_SEMIFIELD_TROPICAL_MAX;
        cc.in_channels = 2;
        cc.kernel_rows = 2;
        options = cc.options();
    }
    sk_tensor *arg(const char *name, HostTensor<float> &t) { return swap(name, t.d()); }
    bool outputs_untouched() const {
        for (const auto *t : {&output, &grad_input, &grad_kernel, &closed, &qkernel, &qgrad_params})
            for (float x : t->storage)
                if (x != 99.0f) return false;
        for (int32_t x : provenance.storage)
            if (x != 99) return false;
        return true;
    }
};

enum class Op { Forward, Backward, Closing, Quadratic, QuadraticBackward };

sk_status call(sk_context *ctx, Fixture &f, Op op) {
    switch (op) {
        case Op::Forward:
            return sk_semiconv_forward(ctx, f.opts, f.arg("input", f.input), f.arg("kernel", f.kernel),
                                       f.arg("output", f.output), f.swap("provenance", f.provenance.d()));
        case Op::Backward:
            return sk_semiconv_backward(ctx, f.opts, f.arg("input", f.input), f.arg("kernel", f.kernel),
                                        f.arg("output", f.output), f.swap("provenance", f.provenance.d()),
                                        f.arg("grad_output", f.grad_output), f.arg("grad_input", f.grad_input),
                                        f.arg("grad_kernel", f.grad_kernel));
        case Op::Closing:
            return sk_semiconv_closing(ctx, f.opts, f.arg("input", f.input), f.arg("kernel", f.kernel),
                                       f.arg("closed", f.closed));
        case Op::Quadratic: return sk_quadratic_kernel(ctx, f.form, f.arg("params", f.params), f.arg("qkernel", f.qkernel));
        default:
            return sk_quadratic_kernel_backward(ctx, f.form, f.arg("params", f.params), f.arg("qgrad", f.qgrad),
                                                f.arg("qgrad_params", f.qgrad_params));
    }
}

// Runs op on a fixture modified by `edit`; expects `status` with a message containing `word`.
void expect(const char *what, Op op, sk_status status, const char *word, const std::function<void(Fixture &)> &edit,
            sk_context *override_ctx = nullptr, bool use_override = false) {
    Context ctx;
    Fixture f;
    edit(f);
    sk_context *c = use_override ? override_ctx : ctx.ctx;
    const sk_status st = call(c, f, op);
    CHECK_MSG(st == status, what << ": status " << sk_status_name(st) << ", expected " << sk_status_name(status)
                                 << " (" << sk_last_error() << ")");
    CHECK_MSG(mentions(sk_last_error(), word), what << ": message '" << sk_last_error() << "' lacks '" << word << "'");
    if (c) CHECK_MSG(mentions(sk_context_last_error(c), word), what << ": context message lacks '" << word << "'");
    CHECK_MSG(f.outputs_untouched(), what << ": an output was written");
}

// The valid fixture succeeds for every op (so each failure below is due to its one edit).
TEST(valid_fixture_succeeds) {
    Context ctx;
    for (Op op : {Op::Forward, Op::Backward, Op::Quadratic, Op::QuadraticBackward}) {
        Fixture f;
        CHECK_OK(call(ctx, f, op));
    }
    Fixture f;
    f.cc.groups = 2;
    f.cc.padding_mode = SK_SEMICONV_PADDING_SAME;
    f.options = f.cc.options();
    f.kernel = HostTensor<float>({2, 1, 3, 3}, 0.0f);
    CHECK_OK(call(ctx, f, Op::Closing));
}

TEST(bad_options) {
    const Op both[] = {Op::Forward, Op::Backward};
    for (Op op : both) {
        expect("NULL options", op, SK_ERROR_NULL_POINTER, "options", [](Fixture &f) { f.opts = nullptr; });
        expect("struct_size", op, SK_ERROR_INVALID_ARGUMENT, "struct_size",
               [](Fixture &f) { f.options.struct_size = 16; });
        expect("semifield", op, SK_ERROR_INVALID_ARGUMENT, "options.semifield", [](Fixture &f) { f.options.semifield = 9; });
        expect("rank 0", op, SK_ERROR_INVALID_ARGUMENT, "options.spatial_rank",
               [](Fixture &f) { f.options.spatial_rank = 0; });
        expect("rank 4", op, SK_ERROR_INVALID_ARGUMENT, "options.spatial_rank",
               [](Fixture &f) { f.options.spatial_rank = 4; });
        expect("kind", op, SK_ERROR_INVALID_ARGUMENT, "options.kind", [](Fixture &f) { f.options.kind = 5; });
        expect("padding mode", op, SK_ERROR_INVALID_ARGUMENT, "options.padding_mode",
               [](Fixture &f) { f.options.padding_mode = 7; });
        expect("groups 0", op, SK_ERROR_INVALID_ARGUMENT, "options.groups", [](Fixture &f) { f.options.groups = 0; });
        expect("group_broadcast 2", op, SK_ERROR_INVALID_ARGUMENT, "options.group_broadcast",
               [](Fixture &f) { f.options.group_broadcast = 2; });
        expect("channels_add 2", op, SK_ERROR_INVALID_ARGUMENT, "options.channels_add",
               [](Fixture &f) { f.options.channels_add = 2; });
        expect("channels_add with linear", op, SK_ERROR_INVALID_ARGUMENT, "options.channels_add", [](Fixture &f) {
            f.options.semifield = SK_SEMIFIELD_LINEAR;
            f.options.channels_add = 1;
        });
        expect("reserved", op, SK_ERROR_INVALID_ARGUMENT, "options.reserved", [](Fixture &f) { f.options.reserved = 1; });
        expect("p = 0", op, SK_ERROR_INVALID_ARGUMENT, "options.p", [](Fixture &f) {
            f.options.semifield = SK_SEMIFIELD_ROOT;
            f.options.p = 0;
        });
        expect("p = inf", op, SK_ERROR_INVALID_ARGUMENT, "options.p", [](Fixture &f) {
            f.options.semifield = SK_SEMIFIELD_ROOT;
            f.options.p = INFINITY;
        });
        expect("mu = 0", op, SK_ERROR_INVALID_ARGUMENT, "options.mu", [](Fixture &f) {
            f.options.semifield = SK_SEMIFIELD_LOG;
            f.options.mu = 0;
        });
        expect("mu = NaN", op, SK_ERROR_INVALID_ARGUMENT, "options.mu", [](Fixture &f) {
            f.options.semifield = SK_SEMIFIELD_LOG;
            f.options.mu = NAN;
        });
        expect("stride 0", op, SK_ERROR_INVALID_ARGUMENT, "options.stride[0]", [](Fixture &f) { f.options.stride[0] = 0; });
        expect("stride -1", op, SK_ERROR_INVALID_ARGUMENT, "options.stride[1]",
               [](Fixture &f) { f.options.stride[1] = -1; });
        expect("dilation 0", op, SK_ERROR_INVALID_ARGUMENT, "options.dilation[1]",
               [](Fixture &f) { f.options.dilation[1] = 0; });
        expect("padding_begin -1", op, SK_ERROR_INVALID_ARGUMENT, "options.padding_begin[0]",
               [](Fixture &f) { f.options.padding_begin[0] = -1; });
        expect("padding_end -1", op, SK_ERROR_INVALID_ARGUMENT, "options.padding_end[1]",
               [](Fixture &f) { f.options.padding_end[1] = -1; });
        expect("huge padding", op, SK_ERROR_INVALID_ARGUMENT, "options",
               [](Fixture &f) { f.options.padding_end[1] = int64_t(1) << 50; });
    }
}

TEST(bad_tensors) {
    for (Op op : {Op::Forward, Op::Backward}) {
        expect("NULL ctx", op, SK_ERROR_NULL_POINTER, "ctx", [](Fixture &) {}, nullptr, true);
        for (const char *name : {"input", "kernel", "output"}) {
            if (op == Op::Backward && std::strcmp(name, "output") == 0) continue;  // optional there
            expect(name, op, SK_ERROR_NULL_POINTER, name, [name](Fixture &f) {
                f.swap = [name](const char *n, sk_tensor *t) { return std::strcmp(n, name) == 0 ? nullptr : t; };
            });
        }
        expect("input rank", op, SK_ERROR_SHAPE, "input", [](Fixture &f) { f.input = HostTensor<float>({2, 2, 5}, 1.0f); });
        expect("kernel rank", op, SK_ERROR_SHAPE, "kernel",
               [](Fixture &f) { f.kernel = HostTensor<float>({2, 2, 3, 3, 1}, 1.0f); });
        expect("input dtype", op, SK_ERROR_DTYPE, "input", [](Fixture &f) { f.input.desc.dtype = SK_DTYPE_INT32; });
        expect("kernel dtype", op, SK_ERROR_DTYPE, "kernel", [](Fixture &f) { f.kernel.desc.dtype = SK_DTYPE_FLOAT64; });
        expect("channels vs groups", op, SK_ERROR_SHAPE, "input", [](Fixture &f) {
            f.options.groups = 2;
            f.input = HostTensor<float>({2, 3, 5, 5}, 1.0f);
        });
        expect("kernel channels", op, SK_ERROR_SHAPE, "kernel",
               [](Fixture &f) { f.kernel = HostTensor<float>({2, 3, 3, 3}, 1.0f); });
        expect("kernel rows vs groups", op, SK_ERROR_SHAPE, "kernel", [](Fixture &f) {
            f.options.groups = 2;
            f.kernel = HostTensor<float>({3, 1, 3, 3}, 1.0f);
        });
        expect("kernel extent 0", op, SK_ERROR_SHAPE, "kernel",
               [](Fixture &f) { f.kernel = HostTensor<float>({2, 2, 0, 3}, 1.0f); });
        expect("kernel larger than the valid input", op, SK_ERROR_SHAPE, "kernel", [](Fixture &f) {
            f.options.padding_mode = SK_SEMICONV_PADDING_VALID;
            f.input = HostTensor<float>({2, 2, 2, 5}, 1.0f);
        });
        expect("input on another device", op, SK_ERROR_DEVICE, "input", [](Fixture &f) {
            f.input.desc.device_type = SK_DEVICE_CUDA;
        });
        expect("null data", op, SK_ERROR_NULL_POINTER, "kernel", [](Fixture &f) { f.kernel.desc.data = nullptr; });
        expect("negative stride", op, SK_ERROR_SHAPE, "input", [](Fixture &f) { f.input.desc.strides[3] = -1; });
        expect("negative input, root", op, SK_ERROR_INVALID_ARGUMENT, "input", [](Fixture &f) {
            f.options.semifield = SK_SEMIFIELD_ROOT;
            f.input.at({1, 1, 4, 4}) = -0.5f;
            f.swap = [](const char *n, sk_tensor *t) { return std::strcmp(n, "provenance") == 0 ? nullptr : t; };
        });
        expect("negative kernel, root", op, SK_ERROR_INVALID_ARGUMENT, "kernel", [](Fixture &f) {
            f.options.semifield = SK_SEMIFIELD_ROOT;
            f.kernel.at({1, 0, 2, 0}) = -1e-30f;
            f.swap = [](const char *n, sk_tensor *t) { return std::strcmp(n, "provenance") == 0 ? nullptr : t; };
        });
        expect("provenance with linear", op, SK_ERROR_INVALID_ARGUMENT, "provenance",
               [](Fixture &f) { f.options.semifield = SK_SEMIFIELD_LINEAR; });
        expect("provenance dtype", op, SK_ERROR_DTYPE, "provenance",
               [](Fixture &f) { f.provenance.desc.dtype = SK_DTYPE_INT64; });
        expect("provenance shape", op, SK_ERROR_SHAPE, "provenance",
               [](Fixture &f) { f.provenance.desc.shape[3] = 2; });
        expect("provenance without the channel axis (channels_add)", op, SK_ERROR_SHAPE, "provenance",
               [](Fixture &f) { f.options.channels_add = 1; });
    }
    // forward outputs
    expect("output shape", Op::Forward, SK_ERROR_SHAPE, "output", [](Fixture &f) { f.output.desc.shape[2] = 4; });
    expect("output dtype", Op::Forward, SK_ERROR_DTYPE, "output", [](Fixture &f) { f.output.desc.dtype = SK_DTYPE_FLOAT64; });
    expect("output overlaps input", Op::Forward, SK_ERROR_INVALID_ARGUMENT, "output",
           [](Fixture &f) { f.output.desc.data = f.input.storage.data(); });
    expect("output self-overlap", Op::Forward, SK_ERROR_SHAPE, "output", [](Fixture &f) { f.output.desc.strides[1] = 0; });
    expect("provenance overlaps output", Op::Forward, SK_ERROR_INVALID_ARGUMENT, "provenance",
           [](Fixture &f) { f.provenance.desc.data = f.output.storage.data(); });
    // backward arguments
    expect("NULL grad_output", Op::Backward, SK_ERROR_NULL_POINTER, "grad_output", [](Fixture &f) {
        f.swap = [](const char *n, sk_tensor *t) { return std::strcmp(n, "grad_output") == 0 ? nullptr : t; };
    });
    expect("grad_output shape", Op::Backward, SK_ERROR_SHAPE, "grad_output",
           [](Fixture &f) { f.grad_output.desc.shape[3] = 4; });
    expect("grad_output dtype", Op::Backward, SK_ERROR_DTYPE, "grad_output",
           [](Fixture &f) { f.grad_output.desc.dtype = SK_DTYPE_FLOAT64; });
    expect("grad_input shape", Op::Backward, SK_ERROR_SHAPE, "grad_input",
           [](Fixture &f) { f.grad_input.desc.shape[3] = 4; });
    expect("grad_kernel dtype", Op::Backward, SK_ERROR_DTYPE, "grad_kernel",
           [](Fixture &f) { f.grad_kernel.desc.dtype = SK_DTYPE_FLOAT64; });
    expect("grad_input overlaps grad_output", Op::Backward, SK_ERROR_INVALID_ARGUMENT, "grad_input",
           [](Fixture &f) { f.grad_input.desc.data = f.grad_output.storage.data(); });
    expect("grad_kernel overlaps grad_input", Op::Backward, SK_ERROR_INVALID_ARGUMENT, "grad_kernel",
           [](Fixture &f) { f.grad_kernel.desc.data = f.grad_input.storage.data(); });
    expect("log output shape", Op::Backward, SK_ERROR_SHAPE, "output", [](Fixture &f) {
        f.options.semifield = SK_SEMIFIELD_LOG;
        f.output.desc.shape[2] = 4;
        f.swap = [](const char *n, sk_tensor *t) { return std::strcmp(n, "provenance") == 0 ? nullptr : t; };
    });
    expect("log output dtype", Op::Backward, SK_ERROR_DTYPE, "output", [](Fixture &f) {
        f.options.semifield = SK_SEMIFIELD_LOG;
        f.output.desc.dtype = SK_DTYPE_FLOAT64;
        f.swap = [](const char *n, sk_tensor *t) { return std::strcmp(n, "provenance") == 0 ? nullptr : t; };
    });
}

TEST(bad_closings) {
    auto depthwise = [](Fixture &f) {
        f.options.groups = 2;
        f.options.padding_mode = SK_SEMICONV_PADDING_SAME;
        f.kernel = HostTensor<float>({2, 1, 3, 3}, 0.0f);
    };
    expect("closing semifield", Op::Closing, SK_ERROR_INVALID_ARGUMENT, "options.semifield", [&](Fixture &f) {
        depthwise(f);
        f.options.semifield = SK_SEMIFIELD_LINEAR;
    });
    expect("closing channels_add", Op::Closing, SK_ERROR_INVALID_ARGUMENT, "options.channels_add", [&](Fixture &f) {
        depthwise(f);
        f.options.channels_add = 1;
    });
    expect("closing stride", Op::Closing, SK_ERROR_INVALID_ARGUMENT, "options.stride[1]", [&](Fixture &f) {
        depthwise(f);
        f.options.stride[1] = 2;
    });
    expect("closing padding", Op::Closing, SK_ERROR_INVALID_ARGUMENT, "padding", [&](Fixture &f) {
        depthwise(f);
        f.options.padding_mode = SK_SEMICONV_PADDING_VALID;
    });
    expect("closing not depthwise", Op::Closing, SK_ERROR_SHAPE, "kernel", [&](Fixture &f) {
        f.options.padding_mode = SK_SEMICONV_PADDING_SAME;
    });
    expect("closing output shape", Op::Closing, SK_ERROR_SHAPE, "output", [&](Fixture &f) {
        depthwise(f);
        f.closed.desc.shape[3] = 4;
    });
    expect("closing output overlaps input", Op::Closing, SK_ERROR_INVALID_ARGUMENT, "output", [&](Fixture &f) {
        depthwise(f);
        f.closed.desc.data = f.input.storage.data();
    });
}

TEST(bad_quadratic_kernels) {
    for (Op op : {Op::Quadratic, Op::QuadraticBackward}) {
        expect("form", op, SK_ERROR_INVALID_ARGUMENT, "form", [](Fixture &f) { f.form = 7; });
        expect("NULL params", op, SK_ERROR_NULL_POINTER, "params", [](Fixture &f) {
            f.swap = [](const char *n, sk_tensor *t) { return std::strcmp(n, "params") == 0 ? nullptr : t; };
        });
        expect("params rank", op, SK_ERROR_SHAPE, "params", [](Fixture &f) { f.params = HostTensor<float>({2, 3}, 0.1f); });
        expect("params count for isotropic", op, SK_ERROR_SHAPE, "params",
               [](Fixture &f) { f.form = SK_QUADRATIC_ISOTROPIC; });
        expect("params dtype", op, SK_ERROR_DTYPE, "params", [](Fixture &f) { f.params.desc.dtype = SK_DTYPE_INT64; });
    }
    expect("NULL kernel", Op::Quadratic, SK_ERROR_NULL_POINTER, "kernel", [](Fixture &f) {
        f.swap = [](const char *n, sk_tensor *t) { return std::strcmp(n, "qkernel") == 0 ? nullptr : t; };
    });
    expect("kernel rank", Op::Quadratic, SK_ERROR_SHAPE, "kernel",
           [](Fixture &f) { f.qkernel = HostTensor<float>({2, 3, 9}, 99.0f); });
    expect("kernel leading extents", Op::Quadratic, SK_ERROR_SHAPE, "kernel",
           [](Fixture &f) { f.qkernel = HostTensor<float>({3, 3, 3, 3}, 99.0f); });
    expect("kernel grid 0", Op::Quadratic, SK_ERROR_SHAPE, "kernel",
           [](Fixture &f) { f.qkernel = HostTensor<float>({2, 3, 0, 3}, 99.0f); });
    expect("kernel dtype", Op::Quadratic, SK_ERROR_DTYPE, "kernel",
           [](Fixture &f) { f.qkernel.desc.dtype = SK_DTYPE_FLOAT64; });
    expect("kernel overlaps params", Op::Quadratic, SK_ERROR_INVALID_ARGUMENT, "kernel",
           [](Fixture &f) { f.qkernel.desc.data = f.params.storage.data(); });
    expect("grad_kernel extents", Op::QuadraticBackward, SK_ERROR_SHAPE, "grad_kernel",
           [](Fixture &f) { f.qgrad = HostTensor<float>({2, 2, 3, 3}, 1.0f); });
    expect("grad_params shape", Op::QuadraticBackward, SK_ERROR_SHAPE, "grad_params",
           [](Fixture &f) { f.qgrad_params = HostTensor<float>({2, 3, 1}, 99.0f); });
    expect("grad_params dtype", Op::QuadraticBackward, SK_ERROR_DTYPE, "grad_params",
           [](Fixture &f) { f.qgrad_params.desc.dtype = SK_DTYPE_FLOAT64; });
}

}  // namespace

TEST_MAIN()
