// Semifield convolution on the CPU against the long-double brute-force reference
// (semiconv_test_util.h): every semifield on 1-D, 2-D and 3-D geometries with strides, dilations,
// every padding form, groups and group broadcasting, conv and corr, channels_add; provenance and
// its tie rule; NaN propagation and exact skipping of padded taps; overflow-prone root and log
// inputs; gradients against central finite differences; quadratic kernels and their parameter
// gradients; the closing's extensivity; float32 and float64; thread-count independence.
#include "semiconv_test_util.h"

using namespace sktest;

namespace {

template <class T>
Ld tolerance() {
    return std::is_same_v<T, float> ? Ld(2e-5) : Ld(1e-12);
}

struct Run {
    template <class T>
    static sk_status forward(sk_context *ctx, const ConvCase &cc, HostTensor<T> &in, HostTensor<T> &k,
                             HostTensor<T> &out, HostTensor<int32_t> *prov) {
        auto o = cc.options();
        return sk_semiconv_forward(ctx, &o, in.d(), k.d(), out.d(), prov ? prov->d() : nullptr);
    }
};

template <class T>
void check_against_reference(sk_context *ctx, const ConvCase &cc, HostTensor<T> &in, HostTensor<T> &k,
                             bool check_provenance = true) {
    HostTensor<T> out(cc.output_shape(), T(-777));
    HostTensor<int32_t> prov(cc.provenance_shape(), -777);
    CHECK_OK(Run::forward(ctx, cc, in, k, out, cc.tropical() ? &prov : nullptr));
    const RefConv ref = reference_semiconv(cc, in, k);
    int bad = 0;
    for (int64_t f = 0; f < numel(out); ++f) {
        const Ld got = out.storage[static_cast<size_t>(f)];
        const Ld want = ref.value[static_cast<size_t>(f)];
        if (!close(got, want, tolerance<T>(), tolerance<T>()) && bad++ < 3)
            CHECK_MSG(false, describe(cc) << " output " << f << ": " << got << " vs " << want);
    }
    if (cc.tropical() && check_provenance)
        for (int64_t f = 0; f < numel(prov); ++f)
            if (prov.storage[static_cast<size_t>(f)] != ref.provenance[static_cast<size_t>(f)] && bad++ < 3)
                CHECK_MSG(false, describe(cc) << " provenance " << f << ": " << prov.storage[static_cast<size_t>(f)]
                                              << " vs " << ref.provenance[static_cast<size_t>(f)]);
}

template <class T>
void forward_every_case() {
    Context ctx;
    std::mt19937_64 rng(11);
    for (const auto &geometry : geometry_cases())
        for (auto cc : with_semifields(geometry)) {
            HostTensor<T> in(cc.input_shape()), k(cc.kernel_shape());
            fill_for(cc, in, rng);
            fill_for(cc, k, rng);
            check_against_reference(ctx, cc, in, k);
            if (cc.tropical()) {  // channels_add
                cc.channels_add = true;
                check_against_reference(ctx, cc, in, k);
            }
        }
}

TEST(forward_matches_reference_float64) { forward_every_case<double>(); }
TEST(forward_matches_reference_float32) { forward_every_case<float>(); }

// Ties go to the first term in scanning order: for corr the lowest kernel index, for conv the
// lowest input position (the highest kernel index); -1 where nothing beats the zero.
TEST(tropical_ties_go_to_the_first_term) {
    Context ctx;
    for (int32_t kind : {SK_SEMICONV_CORRELATION, SK_SEMICONV_CONVOLUTION})
        for (int32_t field : {SK_SEMIFIELD_TROPICAL_MAX, SK_SEMIFIELD_TROPICAL_MIN}) {
            ConvCase cc;
            cc.name = "ties";
            cc.semifield = field;
            cc.kind = kind;
            cc.rank = 2;
            cc.in_channels = 2;
            cc.kernel_rows = 1;
            cc.batch = 1;
            cc.n = {4, 4, 1};
            cc.k = {2, 3, 1};
            cc.padding_mode = SK_SEMICONV_PADDING_SAME;
            HostTensor<double> in(cc.input_shape(), 1.0), k(cc.kernel_shape(), 0.0);
            check_against_reference(ctx.ctx, cc, in, k);
            HostTensor<double> out(cc.output_shape());
            HostTensor<int32_t> prov(cc.provenance_shape());
            CHECK_OK(Run::forward(ctx.ctx, cc, in, k, out, &prov));
            // Output (0, 0), same padding: rows (0, 1), columns (1, 1). Step ty = 0 reads row 0;
            // step tx = 0 reads column -1 (padding), tx = 1 column 0: the first term is step
            // (0, 1) of channel 0, kernel element (0, 1) for corr, mirrored (1, 1) for conv.
            const int32_t kidx = kind == SK_SEMICONV_CORRELATION ? 0 * 3 + 1 : (1 - 0) * 3 + (2 - 1);
            CHECK_EQ(prov.at({0, 0, 0, 0}), kidx);
            // All -inf (T+) / +inf (T-) input: nothing beats the zero.
            HostTensor<double> dead(cc.input_shape(),
                                    field == SK_SEMIFIELD_TROPICAL_MAX ? -INFINITY : INFINITY);
            CHECK_OK(Run::forward(ctx.ctx, cc, dead, k, out, &prov));
            for (auto v : prov.storage) CHECK_EQ(v, -1);
        }
}

// A T+ convolution with an all-zero kernel, depthwise, is max pooling.
TEST(zero_kernel_tropical_max_is_max_pooling) {
    Context ctx;
    std::mt19937_64 rng(5);
    for (int64_t kk : {2, 3, 5}) {
        ConvCase cc;
        cc.name = "maxpool";
        cc.in_channels = cc.kernel_rows = cc.groups = 3;
        cc.n = {9, 8, 1};
        cc.k = {kk, kk, 1};
        cc.stride = {2, 2, 1};
        cc.padding_mode = SK_SEMICONV_PADDING_SAME;
        HostTensor<float> in(cc.input_shape()), k(cc.kernel_shape(), 0.0f), out(cc.output_shape());
        fill_uniform(in, rng, -5, 5);
        CHECK_OK(Run::forward<float>(ctx, cc, in, k, out, nullptr));
        for (int64_t b = 0; b < cc.batch; ++b)
            for (int64_t c = 0; c < 3; ++c)
                for (int64_t y = 0; y < cc.m(0); ++y)
                    for (int64_t x = 0; x < cc.m(1); ++x) {
                        float best = -INFINITY;
                        for (int64_t i = y * 2 - cc.pb(0); i < y * 2 - cc.pb(0) + kk; ++i)
                            for (int64_t j = x * 2 - cc.pb(1); j < x * 2 - cc.pb(1) + kk; ++j)
                                if (i >= 0 && i < 9 && j >= 0 && j < 8) best = std::max(best, in.at({b, c, i, j}));
                        CHECK_EQ(out.at({b, c, y, x}), best);
                    }
    }
}

// NaN in a read value reaches exactly the outputs whose windows read it.
TEST(nan_propagates_to_the_windows_that_read_it) {
    Context ctx;
    std::mt19937_64 rng(3);
    for (auto cc : with_semifields(geometry_cases()[5])) {
        HostTensor<double> in(cc.input_shape()), k(cc.kernel_shape());
        fill_for(cc, in, rng);
        fill_for(cc, k, rng);
        in.at({1, 2, 3, 2}) = NAN;
        check_against_reference(ctx.ctx, cc, in, k);
        HostTensor<double> out(cc.output_shape());
        CHECK_OK(Run::forward<double>(ctx, cc, in, k, out, nullptr));
        int nans = 0;
        for (auto v : out.storage) nans += std::isnan(v) ? 1 : 0;
        CHECK_MSG(nans > 0 && nans < numel(out), describe(cc) << ": " << nans << " NaN outputs");
        // NaN in the kernel poisons the outputs of its row (where its tap is not padding).
        HostTensor<double> k2 = k;
        k2.at({0, 0, 1, 1}) = NAN;
        check_against_reference(ctx.ctx, cc, in, k2);
    }
}

// Padded taps contribute nothing, not zero (x) w: a +inf kernel value at a tap that is padding
// for some outputs must not turn them into NaN or infinity there.
TEST(padded_taps_are_skipped_exactly) {
    Context ctx;
    std::mt19937_64 rng(8);
    ConvCase base;
    base.name = "1d pads (2,2) k=3";
    base.rank = 1;
    base.n = {6, 1, 1};
    base.k = {3, 1, 1};
    base.pad_begin = {2, 0, 0};
    base.pad_end = {2, 0, 0};
    base.kernel_rows = 1;
    base.in_channels = 1;
    base.batch = 1;
    for (auto cc : with_semifields(base)) {
        HostTensor<double> in(cc.input_shape()), k(cc.kernel_shape());
        fill_for(cc, in, rng);
        fill_for(cc, k, rng);
        k.at({0, 0, 0}) = INFINITY;  // T-: x - inf = -inf wins the min
        if (cc.semifield == SK_SEMIFIELD_LOG && cc.mu < 0) k.at({0, 0, 0}) = -INFINITY;
        HostTensor<double> out(cc.output_shape());
        CHECK_OK(Run::forward<double>(ctx, cc, in, k, out, nullptr));
        // Outputs 0 and 1 read tap 0 at input positions -2, -1 (padding): finite there.
        CHECK_MSG(std::isfinite(out.at({0, 0, 0})) && std::isfinite(out.at({0, 0, 1})),
                  describe(cc) << ": " << out.at({0, 0, 0}) << ", " << out.at({0, 0, 1}));
        // Output 2 reads tap 0 at input 0: the infinite term decides it (or is the zero for p<0).
        if (cc.semifield != SK_SEMIFIELD_ROOT || cc.p > 0) CHECK(std::isinf(out.at({0, 0, 2})));
        check_against_reference(ctx.ctx, cc, in, k);
    }
}

// Scaled root and shifted log-sum-exp: no overflow where the naive forms overflow in float32.
TEST(root_and_log_do_not_overflow_in_float32) {
    Context ctx;
    std::mt19937_64 rng(4);
    ConvCase cc;
    cc.name = "overflow";
    cc.rank = 2;
    cc.n = {5, 5, 1};
    cc.k = {3, 3, 1};
    cc.padding_mode = SK_SEMICONV_PADDING_SAME;
    for (double p : {3.0, -3.0}) {
        cc.semifield = SK_SEMIFIELD_ROOT;
        cc.p = p;
        HostTensor<float> in(cc.input_shape()), k(cc.kernel_shape());
        fill_uniform(in, rng, 1e6, 4e6);  // x w ~ 1e13: (x w)^3 overflows float32
        fill_uniform(k, rng, 1e6, 4e6);
        if (p < 0) {  // (x w)^-3 underflows for small values: use tiny ones
            fill_uniform(in, rng, 1e-7, 4e-7);
            fill_uniform(k, rng, 1e-7, 4e-7);
        }
        check_against_reference(ctx.ctx, cc, in, k);
    }
    for (double mu : {1.0, -1.0}) {
        cc.semifield = SK_SEMIFIELD_LOG;
        cc.mu = mu;
        HostTensor<float> in(cc.input_shape()), k(cc.kernel_shape());
        // mu (x + w) ~ 180: exp overflows float32
        fill_uniform(in, rng, std::min(80 * mu, 100 * mu), std::max(80 * mu, 100 * mu));
        fill_uniform(k, rng, std::min(80 * mu, 100 * mu), std::max(80 * mu, 100 * mu));
        check_against_reference(ctx.ctx, cc, in, k);
    }
}

// Strided (non-contiguous) inputs and outputs, and results independent of the thread count.
TEST(strided_views_and_thread_count_independence) {
    std::mt19937_64 rng(6);
    for (auto cc : with_semifields(geometry_cases()[6])) {
        HostTensor<double> in = padded_rows<double>(cc.input_shape(), 3), k(cc.kernel_shape());
        fill_for(cc, in, rng);
        fill_for(cc, k, rng);
        Context one, two;
        CHECK_OK(sk_context_set_num_threads(one, 1));
        CHECK_OK(sk_context_set_num_threads(two, 3));
        check_against_reference(one.ctx, cc, in, k);
        HostTensor<double> a = padded_rows<double>(cc.output_shape(), 2), b(cc.output_shape()), g(cc.output_shape());
        HostTensor<double> gi1(cc.input_shape()), gi2(cc.input_shape()), gk1(cc.kernel_shape()), gk2(cc.kernel_shape());
        fill_uniform(g, rng, -1, 1);
        CHECK_OK(Run::forward<double>(one, cc, in, k, a, nullptr));
        CHECK_OK(Run::forward<double>(two, cc, in, k, b, nullptr));
        auto o = cc.options();
        CHECK_OK(sk_semiconv_backward(one, &o, in.d(), k.d(), a.d(), nullptr, g.d(), gi1.d(), gk1.d()));
        CHECK_OK(sk_semiconv_backward(two, &o, in.d(), k.d(), b.d(), nullptr, g.d(), gi2.d(), gk2.d()));
        bool same = true;
        for (int64_t f = 0; f < numel(b); ++f) {
            const auto idx = multi_index(cc.output_shape(), f);
            same = same && std::memcmp(&element(a, idx), &element(b, idx), sizeof(double)) == 0;
        }
        same = same && std::memcmp(gi1.storage.data(), gi2.storage.data(), gi1.storage.size() * sizeof(double)) == 0;
        same = same && std::memcmp(gk1.storage.data(), gk2.storage.data(), gk1.storage.size() * sizeof(double)) == 0;
        CHECK_MSG(same, describe(cc) << ": results differ between 1 and 3 threads");
    }
}

// ---- gradients -----------------------------------------------------------------------------

// L = sum g * output over the outputs where the reference output is finite (g = 0 elsewhere).
template <class T>
Ld loss(sk_context *ctx, const ConvCase &cc, HostTensor<T> &in, HostTensor<T> &k, HostTensor<T> &g) {
    HostTensor<T> out(cc.output_shape());
    CHECK_OK(Run::forward<T>(ctx, cc, in, k, out, nullptr));
    Ld s = 0;
    for (size_t e = 0; e < out.storage.size(); ++e)
        if (g.storage[e] != 0) s += Ld(g.storage[e]) * out.storage[e];
    return s;
}

void check_gradients_by_finite_differences(const ConvCase &cc, std::mt19937_64 &rng) {
    Context ctx;
    HostTensor<double> in(cc.input_shape()), k(cc.kernel_shape()), g(cc.output_shape());
    fill_for(cc, in, rng);
    fill_for(cc, k, rng);
    fill_uniform(g, rng, -1, 1);
    const RefConv ref = reference_semiconv(cc, in, k);
    for (size_t e = 0; e < g.storage.size(); ++e)
        if (!std::isfinite(ref.value[e])) g.storage[e] = 0;
    HostTensor<double> out(cc.output_shape()), gi(cc.input_shape(), -777), gk(cc.kernel_shape(), -777);
    HostTensor<int32_t> prov(cc.provenance_shape());
    CHECK_OK(Run::forward<double>(ctx, cc, in, k, out, cc.tropical() ? &prov : nullptr));
    auto o = cc.options();
    CHECK_OK(sk_semiconv_backward(ctx, &o, in.d(), k.d(), out.d(), cc.tropical() ? prov.d() : nullptr, g.d(),
                                  gi.d(), gk.d()));
    const double h = 1e-6;
    int bad = 0;
    auto check = [&](HostTensor<double> &x, HostTensor<double> &grad, const char *what) {
        for (size_t e = 0; e < x.storage.size(); ++e) {
            const double keep = x.storage[e];
            x.storage[e] = keep + h;
            const Ld up = loss(ctx, cc, in, k, g);
            x.storage[e] = keep - h;
            const Ld down = loss(ctx, cc, in, k, g);
            x.storage[e] = keep;
            const Ld fd = (up - down) / (2 * h);
            if (!close(grad.storage[e], fd, 1e-5, 1e-6) && bad++ < 4)
                CHECK_MSG(false, describe(cc) << " d/d" << what << "[" << e << "]: " << grad.storage[e] << " vs "
                                              << "finite difference " << fd);
        }
    };
    check(in, gi, "input");
    check(k, gk, "kernel");
    // Without the saved provenance / output the backward recomputes them: the same bits.
    HostTensor<double> gi2(cc.input_shape()), gk2(cc.kernel_shape());
    CHECK_OK(sk_semiconv_backward(ctx, &o, in.d(), k.d(), nullptr, nullptr, g.d(), gi2.d(), gk2.d()));
    CHECK_MSG(gi.storage == gi2.storage && gk.storage == gk2.storage,
              describe(cc) << ": recomputed backward differs from the one with saved tensors");
    // Each gradient alone equals the one computed together.
    HostTensor<double> gk3(cc.kernel_shape());
    CHECK_OK(sk_semiconv_backward(ctx, &o, in.d(), k.d(), out.d(), cc.tropical() ? prov.d() : nullptr, g.d(),
                                  nullptr, gk3.d()));
    CHECK(gk3.storage == gk.storage);
}

TEST(gradients_match_finite_differences) {
    std::mt19937_64 rng(21);
    const auto geometries = geometry_cases();
    for (size_t i : {size_t(0), size_t(2), size_t(3), size_t(5), size_t(6), size_t(8)})
        for (auto cc : with_semifields(geometries[i])) {
            check_gradients_by_finite_differences(cc, rng);
            if (cc.tropical()) {
                cc.channels_add = true;
                check_gradients_by_finite_differences(cc, rng);
            }
        }
}

// Tropical backward routes the upstream gradient through the provenance exactly: with ties
// everywhere (constant input, zero kernel) each output's gradient lands on its first term.
TEST(tropical_backward_routes_through_the_provenance) {
    Context ctx;
    for (int32_t field : {SK_SEMIFIELD_TROPICAL_MAX, SK_SEMIFIELD_TROPICAL_MIN}) {
        ConvCase cc;
        cc.name = "routing";
        cc.semifield = field;
        cc.rank = 1;
        cc.n = {5, 1, 1};
        cc.k = {3, 1, 1};
        cc.padding_mode = SK_SEMICONV_PADDING_SAME;
        cc.batch = 1;
        cc.in_channels = 1;
        cc.kernel_rows = 1;
        HostTensor<double> in(cc.input_shape(), 2.0), k(cc.kernel_shape(), 0.0), out(cc.output_shape());
        HostTensor<double> g(cc.output_shape()), gi(cc.input_shape()), gk(cc.kernel_shape());
        HostTensor<int32_t> prov(cc.provenance_shape());
        for (int64_t y = 0; y < 5; ++y) g.at({0, 0, y}) = double(1 << y);
        CHECK_OK(Run::forward<double>(ctx, cc, in, k, out, &prov));
        auto o = cc.options();
        CHECK_OK(sk_semiconv_backward(ctx, &o, in.d(), k.d(), nullptr, prov.d(), g.d(), gi.d(), gk.d()));
        // corr, pads (1,1): output y's first term is input max(y-1, 0) at tap (y == 0 ? 1 : 0).
        const double expect_in[5] = {1 + 2, 4, 8, 16, 0};
        for (int64_t i = 0; i < 5; ++i) CHECK_EQ(gi.at({0, 0, i}), expect_in[i]);
        const double sign = field == SK_SEMIFIELD_TROPICAL_MAX ? 1 : -1;
        CHECK_EQ(gk.at({0, 0, 0}), sign * (2 + 4 + 8 + 16));
        CHECK_EQ(gk.at({0, 0, 1}), sign * 1);
        CHECK_EQ(gk.at({0, 0, 2}), 0.0);
        // A caller-made provenance is followed as given; -1 and out-of-window taps route nothing.
        prov.at({0, 0, 0}) = 2;
        prov.at({0, 0, 1}) = -1;
        prov.at({0, 0, 2}) = 77;
        CHECK_OK(sk_semiconv_backward(ctx, &o, in.d(), k.d(), nullptr, prov.d(), g.d(), gi.d(), gk.d()));
        CHECK_EQ(gi.at({0, 0, 1}), 1.0);  // output 0, tap 2 reads input 1
        CHECK_EQ(gi.at({0, 0, 0}), 0.0);
        CHECK_EQ(gk.at({0, 0, 2}), sign * 1);
        CHECK_EQ(gk.at({0, 0, 0}), sign * (8 + 16));
    }
}

// float32 gradients agree with float64 ones.
TEST(float32_gradients_agree_with_float64) {
    std::mt19937_64 rng(31);
    Context ctx;
    for (auto cc : with_semifields(geometry_cases()[5])) {
        HostTensor<double> in(cc.input_shape()), k(cc.kernel_shape()), g(cc.output_shape());
        fill_for(cc, in, rng);
        fill_for(cc, k, rng);
        fill_uniform(g, rng, -1, 1);
        HostTensor<float> inf_(cc.input_shape()), kf(cc.kernel_shape()), gf(cc.output_shape());
        for (size_t e = 0; e < in.storage.size(); ++e) in.storage[e] = inf_.storage[e] = float(in.storage[e]);
        for (size_t e = 0; e < k.storage.size(); ++e) k.storage[e] = kf.storage[e] = float(k.storage[e]);
        for (size_t e = 0; e < g.storage.size(); ++e) g.storage[e] = gf.storage[e] = float(g.storage[e]);
        HostTensor<double> gi(cc.input_shape()), gk(cc.kernel_shape());
        HostTensor<float> gif(cc.input_shape()), gkf(cc.kernel_shape());
        auto o = cc.options();
        CHECK_OK(sk_semiconv_backward(ctx, &o, in.d(), k.d(), nullptr, nullptr, g.d(), gi.d(), gk.d()));
        CHECK_OK(sk_semiconv_backward(ctx, &o, inf_.d(), kf.d(), nullptr, nullptr, gf.d(), gif.d(), gkf.d()));
        for (size_t e = 0; e < gi.storage.size(); ++e)
            CHECK_MSG(close(gif.storage[e], gi.storage[e], 1e-4, 1e-4), describe(cc) << " grad_input " << e);
        for (size_t e = 0; e < gk.storage.size(); ++e)
            CHECK_MSG(close(gkf.storage[e], gk.storage[e], 1e-4, 1e-4), describe(cc) << " grad_kernel " << e);
    }
}

// ---- quadratic kernels ---------------------------------------------------------------------

// -u^T S^-1 u from the covariance built as documented and inverted explicitly.
Ld reference_quadratic(int32_t form, const Ld *p, Ld y, Ld x) {
    Ld s00, s01, s11;
    if (form == SK_QUADRATIC_ISOTROPIC) {
        s00 = s11 = std::exp(2 * p[0]);
        s01 = 0;
    } else if (form == SK_QUADRATIC_ANISOTROPIC) {
        const Ld c = std::cos(p[0]), s = std::sin(p[0]);
        const Ld a = std::exp(2 * p[1]), b = std::exp(2 * p[2]);
        // R diag(a, b) R^T with R = [[c, -s], [s, c]]
        s00 = c * c * a + s * s * b;
        s01 = c * s * a - s * c * b;
        s11 = s * s * a + c * c * b;
    } else {
        const Ld s1 = std::exp(p[0]), s2 = std::exp(p[1]), rho = std::tanh(p[2]);
        s00 = s1 * s1;
        s01 = rho * s1 * s2;
        s11 = s2 * s2;
    }
    const Ld det = s00 * s11 - s01 * s01;
    return -(y * y * s11 - 2 * y * x * s01 + x * x * s00) / det;
}

template <class T>
void quadratic_case(int32_t form, int64_t kh, int64_t kw, std::mt19937_64 &rng) {
    Context ctx;
    const int64_t P = form == SK_QUADRATIC_ISOTROPIC ? 1 : 3;
    HostTensor<T> params({2, 3, P}), kernel({2, 3, kh, kw}, T(-777));
    fill_uniform(params, rng, -0.8, 0.8);
    CHECK_OK(sk_quadratic_kernel(ctx, form, params.d(), kernel.d()));
    for (int64_t a = 0; a < 2; ++a)
        for (int64_t b = 0; b < 3; ++b) {
            Ld p[3];
            for (int64_t j = 0; j < P; ++j) p[j] = params.at({a, b, j});
            for (int64_t i = 0; i < kh; ++i)
                for (int64_t j = 0; j < kw; ++j) {
                    const Ld want = reference_quadratic(form, p, i - Ld(kh - 1) / 2, j - Ld(kw - 1) / 2);
                    const Ld got = kernel.at({a, b, i, j});
                    CHECK_MSG(close(got, want, tolerance<T>() * 10, tolerance<T>() * 10),
                              "form " << form << " (" << i << "," << j << "): " << got << " vs " << want);
                    CHECK(got <= 0);
                }
            if (kh % 2 == 1 && kw % 2 == 1) CHECK_EQ(kernel.at({a, b, kh / 2, kw / 2}), T(0));
        }
    // Parameter gradients against finite differences of L = sum grad_kernel * kernel.
    if constexpr (std::is_same_v<T, double>) {
        HostTensor<double> gk({2, 3, kh, kw}), gp({2, 3, P}, -777);
        fill_uniform(gk, rng, -1, 1);
        CHECK_OK(sk_quadratic_kernel_backward(ctx, form, params.d(), gk.d(), gp.d()));
        auto loss_of = [&]() {
            HostTensor<double> kk({2, 3, kh, kw});
            CHECK_OK(sk_quadratic_kernel(ctx, form, params.d(), kk.d()));
            Ld s = 0;
            for (size_t e = 0; e < kk.storage.size(); ++e) s += Ld(gk.storage[e]) * kk.storage[e];
            return s;
        };
        for (size_t e = 0; e < params.storage.size(); ++e) {
            const double keep = params.storage[e], h = 1e-6;
            params.storage[e] = keep + h;
            const Ld up = loss_of();
            params.storage[e] = keep - h;
            const Ld down = loss_of();
            params.storage[e] = keep;
            const Ld fd = (up - down) / (2 * h);
            CHECK_MSG(close(gp.storage[e], fd, 1e-6, 1e-7),
                      "form " << form << " d/dparam[" << e << "]: " << gp.storage[e] << " vs " << fd);
        }
    }
}

TEST(quadratic_kernels_and_parameter_gradients) {
    std::mt19937_64 rng(41);
    for (int32_t form : {SK_QUADRATIC_ISOTROPIC, SK_QUADRATIC_ANISOTROPIC, SK_QUADRATIC_CHOLESKY})
        for (auto [kh, kw] : {std::pair<int64_t, int64_t>{3, 3}, {4, 4}, {5, 3}, {1, 1}}) {
            quadratic_case<double>(form, kh, kw, rng);
            quadratic_case<float>(form, kh, kw, rng);
        }
}

// With theta = 0 the first sigma acts on the row (y) axis.
TEST(anisotropic_first_sigma_is_the_row_axis) {
    Context ctx;
    HostTensor<double> params({1, 1, 3}), kernel({1, 1, 3, 3});
    params.at({0, 0, 0}) = 0;
    params.at({0, 0, 1}) = std::log(2.0);  // s1 = 2 on rows
    params.at({0, 0, 2}) = std::log(0.5);  // s2 = 0.5 on columns
    CHECK_OK(sk_quadratic_kernel(ctx, SK_QUADRATIC_ANISOTROPIC, params.d(), kernel.d()));
    CHECK(std::fabs(kernel.at({0, 0, 2, 1}) - (-0.25)) < 1e-15);  // y = 1, x = 0: -1/s1^2
    CHECK(std::fabs(kernel.at({0, 0, 1, 2}) - (-4.0)) < 1e-15);   // y = 0, x = 1: -1/s2^2
}

// ---- closing -------------------------------------------------------------------------------

template <class T>
void closing_case(int rank, int64_t kk, int64_t dil, bool broadcast, std::mt19937_64 &rng) {
    Context ctx;
    ConvCase cc;
    cc.name = "closing";
    cc.rank = rank;
    cc.n = {7, 6, 5};
    cc.k = {kk, kk, kk};
    cc.dilation = {dil, dil, dil};
    cc.padding_mode = SK_SEMICONV_PADDING_SAME;
    cc.in_channels = 3;
    cc.groups = 3;
    cc.kernel_rows = broadcast ? 1 : 3;
    cc.broadcast = broadcast;
    for (int32_t kind : {SK_SEMICONV_CONVOLUTION, SK_SEMICONV_CORRELATION}) {
        cc.kind = kind;
        HostTensor<T> in(cc.input_shape()), k(cc.kernel_shape()), out(cc.input_shape(), T(-777));
        // Dyadic values (multiples of 1/16 and 1/8): every x + w - w is exact, so the closing
        // must be >= the input exactly; random values below allow the rounding of x + w - w.
        fill_uniform(in, rng, -3, 3);
        fill_uniform(k, rng, -1, 0);
        for (auto &x : in.storage) x = std::round(x * 16) / 16;
        for (auto &x : k.storage) x = std::round(x * 8) / 8;
        auto o = cc.options();
        CHECK_OK(sk_semiconv_closing(ctx, &o, in.d(), k.d(), out.d()));
        int bad = 0;
        for (size_t e = 0; e < in.storage.size(); ++e)
            if (!(out.storage[e] >= in.storage[e]) && bad++ < 3)
                CHECK_MSG(false, "closing rank " << rank << " k=" << kk << " kind " << kind << " element " << e
                                                 << ": " << out.storage[e] << " < input " << in.storage[e]);
        fill_uniform(in, rng, -3, 3);
        fill_uniform(k, rng, -1, 0);
        CHECK_OK(sk_semiconv_closing(ctx, &o, in.d(), k.d(), out.d()));
        const T ulps = 4 * std::numeric_limits<T>::epsilon() * 4;  // |x|, |w| <= 4
        for (size_t e = 0; e < in.storage.size(); ++e)
            if (!(out.storage[e] >= in.storage[e] - ulps) && bad++ < 3)
                CHECK_MSG(false, "closing rank " << rank << " k=" << kk << " kind " << kind << " element " << e
                                                 << ": " << out.storage[e] << " < input " << in.storage[e]);
        // The closing is the T+ dilation followed by the T- erosion of the opposite kind with
        // the padding swapped (checked with two public forward calls: the same bits).
        HostTensor<T> dilated(cc.input_shape()), closed(cc.input_shape());
        CHECK_OK(sk_semiconv_forward(ctx, &o, in.d(), k.d(), dilated.d(), nullptr));
        ConvCase er = cc;
        er.semifield = SK_SEMIFIELD_TROPICAL_MIN;
        er.kind = kind == SK_SEMICONV_CONVOLUTION ? SK_SEMICONV_CORRELATION : SK_SEMICONV_CONVOLUTION;
        er.padding_mode = SK_SEMICONV_PADDING_EXPLICIT;
        for (int a = 0; a < rank; ++a) {
            er.pad_begin[a] = cc.pe(a);
            er.pad_end[a] = cc.pb(a);
        }
        auto eo = er.options();
        CHECK_OK(sk_semiconv_forward(ctx, &eo, dilated.d(), k.d(), closed.d(), nullptr));
        CHECK(closed.storage == out.storage);
        // Idempotent: closing a closing changes nothing.
        HostTensor<T> again(cc.input_shape());
        CHECK_OK(sk_semiconv_closing(ctx, &o, out.d(), k.d(), again.d()));
        for (size_t e = 0; e < again.storage.size(); ++e)
            CHECK_MSG(close(again.storage[e], out.storage[e], 1e-5, 1e-5), "closing not idempotent at " << e);
    }
}

TEST(closing_is_extensive_for_k_2_to_5) {
    std::mt19937_64 rng(51);
    for (int64_t kk : {2, 3, 4, 5}) {
        closing_case<double>(1, kk, 1, false, rng);
        closing_case<double>(2, kk, 1, false, rng);
        closing_case<float>(2, kk, 2, true, rng);
        closing_case<float>(3, kk > 3 ? 3 : kk, 1, false, rng);
    }
}

// Empty batch: nothing to compute, success.
TEST(empty_batch_is_a_no_op) {
    Context ctx;
    ConvCase cc = geometry_cases()[4];
    cc.batch = 0;
    HostTensor<double> in(cc.input_shape()), k(cc.kernel_shape(), 1.0), out(cc.output_shape());
    CHECK_OK(Run::forward<double>(ctx, cc, in, k, out, nullptr));
    HostTensor<double> g(cc.output_shape()), gk(cc.kernel_shape(), -777.0);
    auto o = cc.options();
    CHECK_OK(sk_semiconv_backward(ctx, &o, in.d(), k.d(), nullptr, nullptr, g.d(), nullptr, gk.d()));
    for (auto v : gk.storage) CHECK_EQ(v, 0.0);
}

}  // namespace

TEST_MAIN()
