// CPU vs CUDA equivalence of the semifield convolution (forward, provenance, backward with and
// without the saved tensors, closing, quadratic kernels and their gradients, the root
// semifield's negative-value check), and bitwise determinism on the device. Needs a CUDA
// device: without one the binary reports "skipped" (exit 77) unless SK_REQUIRE_CUDA=1.
#include <cstring>

#include "cuda_test_util.h"
#include "semiconv_test_util.h"

using namespace sktest;

namespace {

// Tropical results are computed with the same additions and comparisons on both devices: equal
// bits. The smooth semifields may differ by contraction (FMA) and the device's exp / pow.
// `scale_atol`: an absolute tolerance on top, for float32 kernel gradients of the smooth
// semifields: each entry is a sum over B x H x W terms of both signs, accumulated in float32 in
// a different order on each device (the CPU sequentially, the GPU in per-block trees), so two
// correct results differ by more than 5e-5 of a small entry; they are compared within 2e-4 of
// the largest entry instead.
template <class T>
void compare(const std::string &what, const std::vector<T> &gpu, const std::vector<T> &cpu, bool exact,
             bool scale_atol = false) {
    const Ld tol = std::is_same_v<T, float> ? Ld(5e-5) : Ld(1e-11);
    Ld atol = tol;
    if (scale_atol && std::is_same_v<T, float>) {
        Ld largest = 0;
        for (T v : cpu)
            if (std::isfinite(v)) largest = std::max(largest, std::fabs(Ld(v)));
        atol = std::max(tol, Ld(2e-4) * largest);
    }
    int bad = 0;
    for (size_t e = 0; e < cpu.size(); ++e) {
        const bool ok = exact ? (std::isnan(cpu[e]) ? std::isnan(gpu[e]) : gpu[e] == cpu[e])
                              : close(gpu[e], cpu[e], tol, atol);
        if (!ok && bad++ < 3) CHECK_MSG(false, what << " element " << e << ": cuda " << gpu[e] << " vs cpu " << cpu[e]);
    }
}

// A depthwise 2-D case (groups = channels, one kernel row per channel), kernel k x k.
ConvCase depthwise_case(const std::string &name, int64_t batch, int64_t channels, int64_t ny, int64_t nx, int64_t k,
                        int32_t padding = SK_SEMICONV_PADDING_SAME) {
    ConvCase cc;
    cc.name = name;
    cc.batch = batch;
    cc.in_channels = cc.kernel_rows = cc.groups = channels;
    cc.n = {ny, nx, 1};
    cc.k = {k, k, 1};
    cc.padding_mode = padding;
    return cc;
}

// Bitwise equality (NaN included).
template <class T>
bool same_bits(const std::vector<T> &a, const std::vector<T> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// odd_kernel puts +inf, NaN and 0 into the kernel: values for which a padded tap is not a no-op
// term, so the register-blocked forward takes its valid-tap loop (see semiconv_cuda.cu).
template <class T>
void equivalence(const ConvCase &cc, std::mt19937_64 &rng, bool nan_input, bool odd_kernel = false,
                 bool infinite_input = false, bool wide_positive_input = false) {
    Context cpu, gpu(SK_DEVICE_CUDA, 0);
    CHECK(gpu.ctx != nullptr);
    if (!gpu.ctx) return;
    HostTensor<T> in(cc.input_shape()), k(cc.kernel_shape()), g(cc.output_shape());
    fill_for(cc, in, rng);
    fill_for(cc, k, rng);
    fill_uniform(g, rng, -1, 1);
    if (nan_input) in.storage[in.storage.size() / 3] = NAN;
    if (infinite_input) {  // both signs: for T+ / T- one of them can make a NaN term with a -inf/+inf kernel
        in.storage[in.storage.size() / 5] = std::numeric_limits<T>::infinity();
        in.storage[in.storage.size() / 7] = -std::numeric_limits<T>::infinity();
    }
    if (wide_positive_input) {  // 1e-6 .. 1e6, every 7th value 0, one +inf: the root semifield's special terms
        std::uniform_real_distribution<double> decade(-6, 6);
        for (size_t e = 0; e < in.storage.size(); ++e) in.storage[e] = e % 7 == 3 ? T(0) : T(std::pow(10.0, decade(rng)));
        in.storage[in.storage.size() / 2] = std::numeric_limits<T>::infinity();
    }
    if (odd_kernel) {
        k.storage[0] = std::numeric_limits<T>::infinity();
        if (k.storage.size() > 2) k.storage[k.storage.size() / 2] = cc.semifield == SK_SEMIFIELD_ROOT ? T(0) : T(NAN);
    }
    HostTensor<T> out(cc.output_shape()), gi(cc.input_shape()), gk(cc.kernel_shape());
    HostTensor<int32_t> prov(cc.provenance_shape());
    auto o = cc.options();
    const bool tropical = cc.tropical();
    CHECK_OK(sk_semiconv_forward(cpu, &o, in.d(), k.d(), out.d(), tropical ? prov.d() : nullptr));
    CHECK_OK(sk_semiconv_backward(cpu, &o, in.d(), k.d(), out.d(), tropical ? prov.d() : nullptr, g.d(), gi.d(),
                                  gk.d()));

    DeviceMirror<T> din(gpu, in), dk(gpu, k), dg(gpu, g);
    DeviceMirror<T> dout(gpu, HostTensor<T>(cc.output_shape(), T(-777)));
    DeviceMirror<int32_t> dprov(gpu, HostTensor<int32_t>(cc.provenance_shape(), -777));
    DeviceMirror<T> dgi(gpu, HostTensor<T>(cc.input_shape(), T(-777))), dgk(gpu, HostTensor<T>(cc.kernel_shape(), T(-777)));
    CHECK_OK(sk_semiconv_forward(gpu, &o, din.d(), dk.d(), dout.d(), tropical ? dprov.d() : nullptr));
    CHECK_OK(sk_semiconv_backward(gpu, &o, din.d(), dk.d(), dout.d(), tropical ? dprov.d() : nullptr, dg.d(), dgi.d(),
                                  dgk.d()));
    const std::string name = describe(cc) + (std::is_same_v<T, float> ? " float32" : " float64");
    compare(name + " output", dout.download(), out.storage, tropical);
    if (tropical) CHECK_MSG(dprov.download() == prov.storage, name << ": provenance differs");
    // Six decades of root inputs: weights (v/out)^(p-1) from ~1 to ~60 with upstream gradients
    // of both signs cancel in float32 as in the kernel gradient (float64 is checked tightly).
    compare(name + " grad_input", dgi.download(), gi.storage, false, wide_positive_input);
    compare(name + " grad_kernel", dgk.download(), gk.storage, false, !tropical);

    // Recomputed provenance / output on the device: the same bits as with the saved ones, and
    // a second run gives the same bits again (no atomics).
    DeviceMirror<T> dgi2(gpu, HostTensor<T>(cc.input_shape())), dgk2(gpu, HostTensor<T>(cc.kernel_shape()));
    CHECK_OK(sk_semiconv_backward(gpu, &o, din.d(), dk.d(), nullptr, nullptr, dg.d(), dgi2.d(), dgk2.d()));
    CHECK_MSG(same_bits(dgi2.download(), dgi.download()) && same_bits(dgk2.download(), dgk.download()),
              name << ": device backward not reproducible / recomputation differs");
    DeviceMirror<T> dout2(gpu, HostTensor<T>(cc.output_shape()));
    CHECK_OK(sk_semiconv_forward(gpu, &o, din.d(), dk.d(), dout2.d(), nullptr));
    CHECK_MSG(same_bits(dout2.download(), dout.download()), name << ": device forward not reproducible");
}

TEST(cpu_and_cuda_agree_on_every_case) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(71);
    for (const auto &geometry : geometry_cases())
        for (auto cc : with_semifields(geometry)) {
            equivalence<float>(cc, rng, false);
            equivalence<double>(cc, rng, false);
            if (cc.tropical()) {
                cc.channels_add = true;
                equivalence<float>(cc, rng, false);
                equivalence<double>(cc, rng, true);
            }
        }
}

TEST(cpu_and_cuda_agree_with_nan_inputs) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(72);
    for (auto cc : with_semifields(geometry_cases()[5])) equivalence<double>(cc, rng, true);
}

// Kernels with +inf, NaN (0 for the root semifield) on the 3x3, 5x5 and 7x7 depthwise shapes the
// register-blocked forward serves, with and without channels_add.
TEST(cpu_and_cuda_agree_with_odd_kernel_values) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(75);
    for (int64_t kk : {3, 5, 7}) {
        const ConvCase cc =
            depthwise_case("depthwise 2x3x21x70 k=" + std::to_string(kk) + " same, odd kernel values", 2, 3, 21, 70, kk);
        for (auto c : with_semifields(cc)) {
            // float64 for the odd kernels: with +inf/0 taps the root semifield's float32 kernel
            // gradient (weights (v/out)^(p-1), p = 0.7, upstream gradients of both signs) cancels
            // too much for the float32 tolerance under a different summation order.
            equivalence<double>(c, rng, false, true);
            equivalence<double>(c, rng, true, true);
            equivalence<float>(c, rng, false, false);
        }
    }
}

// A larger depthwise 'same' problem (the benchmark's shape at a smaller batch): many blocks,
// long kernel-gradient reductions.
TEST(cpu_and_cuda_agree_on_a_larger_depthwise_problem) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(73);
    const ConvCase cc = depthwise_case("depthwise 2x8x40x40 k=5 same", 2, 8, 40, 40, 5);
    for (auto c : with_semifields(cc)) equivalence<float>(c, rng, false);
}

TEST(closing_and_quadratic_kernels_agree) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(74);
    Context cpu, gpu(SK_DEVICE_CUDA, 0);
    for (int64_t kk : {2, 3, 4, 5}) {
        ConvCase cc;
        cc.name = "closing";
        cc.n = {9, 7, 1};
        cc.k = {kk, kk, 1};
        cc.in_channels = cc.kernel_rows = cc.groups = 2;
        cc.padding_mode = SK_SEMICONV_PADDING_SAME;
        HostTensor<float> in(cc.input_shape()), k(cc.kernel_shape()), out(cc.input_shape());
        fill_uniform(in, rng, -3, 3);
        fill_uniform(k, rng, -1, 0);
        auto o = cc.options();
        CHECK_OK(sk_semiconv_closing(cpu, &o, in.d(), k.d(), out.d()));
        DeviceMirror<float> din(gpu, in), dk(gpu, k), dout(gpu, HostTensor<float>(cc.input_shape(), -777.0f));
        CHECK_OK(sk_semiconv_closing(gpu, &o, din.d(), dk.d(), dout.d()));
        compare("closing k=" + std::to_string(kk), dout.download(), out.storage, true);
    }
    for (int32_t form : {SK_QUADRATIC_ISOTROPIC, SK_QUADRATIC_ANISOTROPIC, SK_QUADRATIC_CHOLESKY}) {
        const int64_t P = form == SK_QUADRATIC_ISOTROPIC ? 1 : 3;
        HostTensor<double> params({3, 2, P}), kernel({3, 2, 5, 4}), gk({3, 2, 5, 4}), gp({3, 2, P});
        fill_uniform(params, rng, -0.7, 0.7);
        fill_uniform(gk, rng, -1, 1);
        CHECK_OK(sk_quadratic_kernel(cpu, form, params.d(), kernel.d()));
        CHECK_OK(sk_quadratic_kernel_backward(cpu, form, params.d(), gk.d(), gp.d()));
        DeviceMirror<double> dparams(gpu, params), dgk(gpu, gk);
        DeviceMirror<double> dkernel(gpu, HostTensor<double>({3, 2, 5, 4}, -777)), dgp(gpu, HostTensor<double>({3, 2, P}, -777));
        CHECK_OK(sk_quadratic_kernel(gpu, form, dparams.d(), dkernel.d()));
        CHECK_OK(sk_quadratic_kernel_backward(gpu, form, dparams.d(), dgk.d(), dgp.d()));
        compare("quadratic kernel form " + std::to_string(form), dkernel.download(), kernel.storage, false);
        compare("quadratic gradient form " + std::to_string(form), dgp.download(), gp.storage, false);
    }
}

// The one-pass backward (plane_backward_kernel: depthwise planes, stride 1, dilation 1, 3/5/7
// taps): convolution (mirrored) and correlation, 'same', 'valid' and uneven explicit padding,
// planes that span several 32 x 32 input tiles with partial edge tiles, NaN inputs, every
// semifield, float32 and float64; integer inputs (ties: the provenance decides); the gradient
// w.r.t. one argument only (the other NULL).
TEST(cpu_and_cuda_agree_on_the_one_pass_backward) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(76);
    for (int64_t kk : {3, 5, 7}) {
        for (int32_t padding : {SK_SEMICONV_PADDING_SAME, SK_SEMICONV_PADDING_VALID, SK_SEMICONV_PADDING_EXPLICIT}) {
            for (int32_t kind : {SK_SEMICONV_CORRELATION, SK_SEMICONV_CONVOLUTION}) {
                ConvCase cc = depthwise_case("depthwise 2x3x45x70 k=" + std::to_string(kk) + " padding " +
                                                 std::to_string(padding) + " kind " + std::to_string(kind),
                                             2, 3, 45, 70, kk, padding);
                cc.kind = kind;
                cc.pad_begin = {kk - 1, 0, 0};  // explicit: all before on y, all after on x
                cc.pad_end = {0, kk - 1, 0};
                for (const auto &c : with_semifields(cc)) {
                    equivalence<float>(c, rng, false);
                    equivalence<double>(c, rng, true);
                }
            }
        }
    }
    // Infinite inputs (the blocked forward's tiles that may hold NaN terms take the NaN-aware
    // comparison), with finite and with odd kernels, tropical semifields.
    for (int64_t kk : {3, 5}) {
        ConvCase cc = depthwise_case("depthwise 2x3x40x70 k=" + std::to_string(kk) + " same, infinite inputs", 2, 3, 40,
                                     70, kk);
        for (int32_t field : {SK_SEMIFIELD_TROPICAL_MAX, SK_SEMIFIELD_TROPICAL_MIN}) {
            cc.semifield = field;
            equivalence<float>(cc, rng, false, false, true);
            equivalence<double>(cc, rng, false, true, true);
        }
    }
    // Root semifield over six decades with zeros and one +inf (the log2-domain forward window and
    // backward weights; non-finite exponents take RootField::weight's rules), p on both sides of
    // 0 and 1 and p = 1 itself (0 * log2(0) is NaN there: the exact rule gives weight 1).
    for (int64_t kk : {3, 5}) {
        ConvCase cc = depthwise_case("depthwise 2x3x40x70 k=" + std::to_string(kk) + " same, wide root inputs", 2, 3,
                                     40, 70, kk);
        cc.semifield = SK_SEMIFIELD_ROOT;
        for (double p : {2.0, 1.0, 0.7, -1.5}) {
            cc.p = p;
            equivalence<float>(cc, rng, false, false, false, true);
            equivalence<double>(cc, rng, false, false, false, true);
            equivalence<double>(cc, rng, false, true, false, true);
        }
    }
    // Ties everywhere: small integer inputs and kernel, the same provenance on both devices.
    const ConvCase cc = depthwise_case("depthwise ties k=3", 1, 2, 33, 33, 3);
    Context cpu, gpu(SK_DEVICE_CUDA, 0);
    HostTensor<float> in(cc.input_shape()), k(cc.kernel_shape(), 0.0f), g(cc.output_shape());
    std::uniform_int_distribution<int> level(0, 2);
    for (auto &v : in.storage) v = static_cast<float>(level(rng));
    fill_uniform(g, rng, -1, 1);
    HostTensor<float> out(cc.output_shape()), gi(cc.input_shape()), gk(cc.kernel_shape());
    HostTensor<int32_t> prov(cc.provenance_shape());
    auto o = cc.options();
    CHECK_OK(sk_semiconv_forward(cpu, &o, in.d(), k.d(), out.d(), prov.d()));
    CHECK_OK(sk_semiconv_backward(cpu, &o, in.d(), k.d(), out.d(), prov.d(), g.d(), gi.d(), gk.d()));
    DeviceMirror<float> din(gpu, in), dk(gpu, k), dg(gpu, g), dout(gpu, HostTensor<float>(cc.output_shape()));
    DeviceMirror<int32_t> dprov(gpu, HostTensor<int32_t>(cc.provenance_shape()));
    CHECK_OK(sk_semiconv_forward(gpu, &o, din.d(), dk.d(), dout.d(), dprov.d()));
    CHECK_MSG(dprov.download() == prov.storage, "ties: provenance differs");
    DeviceMirror<float> dgi(gpu, HostTensor<float>(cc.input_shape(), -777.0f));
    DeviceMirror<float> dgk(gpu, HostTensor<float>(cc.kernel_shape(), -777.0f));
    CHECK_OK(sk_semiconv_backward(gpu, &o, din.d(), dk.d(), dout.d(), dprov.d(), dg.d(), dgi.d(), nullptr));
    compare("ties grad_input only", dgi.download(), gi.storage, false);
    for (float v : dgk.download()) CHECK_EQ(v, -777.0f);  // not requested: untouched
    CHECK_OK(sk_semiconv_backward(gpu, &o, din.d(), dk.d(), dout.d(), dprov.d(), dg.d(), nullptr, dgk.d()));
    compare("ties grad_kernel only", dgk.download(), gk.storage, false);
}

// The device scan of the root semifield rejects a negative value and writes nothing.
TEST(root_negative_check_on_the_device) {
    if (!require_device_or_skip()) return;
    Context gpu(SK_DEVICE_CUDA, 0);
    ConvCase cc = geometry_cases()[4];
    cc.semifield = SK_SEMIFIELD_ROOT;
    HostTensor<float> in(cc.input_shape(), 1.0f), k(cc.kernel_shape(), 1.0f);
    in.storage[in.storage.size() - 1] = -1.0f;
    DeviceMirror<float> din(gpu, in), dk(gpu, k), dout(gpu, HostTensor<float>(cc.output_shape(), 99.0f));
    auto o = cc.options();
    CHECK_EQ(sk_semiconv_forward(gpu, &o, din.d(), dk.d(), dout.d(), nullptr), SK_ERROR_INVALID_ARGUMENT);
    CHECK(std::strstr(sk_last_error(), "input") != nullptr);
    for (float v : dout.download()) CHECK_EQ(v, 99.0f);
    in.storage[in.storage.size() - 1] = 1.0f;
    DeviceMirror<float> din2(gpu, in);
    CHECK_OK(sk_semiconv_forward(gpu, &o, din2.d(), dk.d(), dout.d(), nullptr));

    // A negative kernel value, found by the dense scan too, named as the kernel.
    k.storage[0] = -0.5f;
    DeviceMirror<float> dk_negative(gpu, k);
    CHECK_EQ(sk_semiconv_forward(gpu, &o, din2.d(), dk_negative.d(), dout.d(), nullptr), SK_ERROR_INVALID_ARGUMENT);
    CHECK(std::strstr(sk_last_error(), "kernel") != nullptr);

    // A strided input (padded rows: the per-row scan): a negative value in the padding is not
    // part of the view and passes; one inside the view is found, on any row.
    HostTensor<float> padded = padded_rows<float>(cc.input_shape(), 3);
    for (auto &v : padded.storage) v = 1.0f;
    const int64_t row_stride = padded.desc.strides[padded.desc.rank - 2];
    padded.storage[row_stride - 1] = -1.0f;  // first row's padding
    DeviceMirror<float> dpad(gpu, padded);
    CHECK_OK(sk_semiconv_forward(gpu, &o, dpad.d(), dk.d(), dout.d(), nullptr));
    padded.storage[padded.storage.size() - row_stride] = -2.0f;  // last row, first column
    DeviceMirror<float> dpad_negative(gpu, padded);
    HostTensor<float> untouched(cc.output_shape(), 55.0f);
    DeviceMirror<float> dout2(gpu, untouched);
    CHECK_EQ(sk_semiconv_forward(gpu, &o, dpad_negative.d(), dk.d(), dout2.d(), nullptr), SK_ERROR_INVALID_ARGUMENT);
    CHECK(std::strstr(sk_last_error(), "input") != nullptr);
    for (float v : dout2.download()) CHECK_EQ(v, 55.0f);
}

}  // namespace

TEST_MAIN()
