// Backward of the semiring matmul on the CPU: against the analytic long double reference for
// every layout, against finite differences (LOG, REAL), argmax routing (MAX, MIN), shared
// operands summed over the batch, -inf rows, and empty dimensions.
#include <cstring>

#include "test_util.h"

using namespace sktest;

namespace {

struct Grads {
    std::vector<Ld> a, b;  // shaped like the operands' storage index (b, i, t) / (b, t, j) dense
};

// dL/dA and dL/dB for L = sum grad_c * C, from the definitions, with the reference forward.
template <class T>
void reference_backward(int32_t semiring, HostTensor<T> &a, HostTensor<T> &b, HostTensor<T> &g,
                        int64_t batch, HostTensor<Ld> &ga, HostTensor<Ld> &gb) {
    Reference ref = reference_matmul(semiring, a, b, batch);
    for (auto &x : ga.storage) x = 0;
    for (auto &x : gb.storage) x = 0;
    for (int64_t bi = 0; bi < batch; ++bi)
        for (int64_t i = 0; i < ref.m; ++i)
            for (int64_t j = 0; j < ref.n; ++j) {
                const Ld up = g.at3(bi, i, j);
                const Ld c = ref.v(bi, i, j);
                for (int64_t t = 0; t < ref.k; ++t) {
                    Ld da = 0, db = 0;  // dC/dA[i,t], dC/dB[t,j]
                    if (semiring == SK_SEMIRING_REAL) {
                        da = b.at3(bi, t, j);
                        db = a.at3(bi, i, t);
                    } else if (semiring == SK_SEMIRING_LOG) {
                        if (c != -INFINITY) da = db = std::exp(Ld(a.at3(bi, i, t)) + b.at3(bi, t, j) - c);
                    } else {
                        da = db = (ref.idx(bi, i, j) == t) ? 1 : 0;
                    }
                    ga.at3(bi, i, t) += up * da;
                    gb.at3(bi, t, j) += up * db;
                }
            }
}

template <class T>
Ld max_abs(const std::vector<Ld> &v) {
    Ld m = 0;
    for (Ld x : v) m = std::max(m, std::fabs(x));
    return m;
}

template <class T>
int compare(HostTensor<T> &got, HostTensor<Ld> &want, Ld tol, const std::string &label) {
    const Ld scale = std::max<Ld>(1, max_abs<T>(want.storage));
    int bad = 0;
    const int64_t batch = got.rank() == 3 ? got.desc.shape[0] : 1;
    for (int64_t bi = 0; bi < batch; ++bi)
        for (int64_t i = 0; i < got.rows(); ++i)
            for (int64_t j = 0; j < got.cols(); ++j) {
                const Ld x = got.at3(bi, i, j), w = want.at3(bi, i, j);
                if (!(std::fabs(x - w) <= tol * scale) && bad++ < 4)
                    CHECK_MSG(false, label << " at (" << bi << "," << i << "," << j << "): got "
                                           << static_cast<double>(x) << " want " << static_cast<double>(w));
            }
    return bad;
}

template <class T>
void check_layout(sk_context *ctx, int32_t semiring, std::vector<int64_t> sa, std::vector<int64_t> sb,
                  std::vector<int64_t> sc, bool give_argmax, std::mt19937_64 &rng, const std::string &label) {
    HostTensor<T> a(sa), b(sb), c(sc), g(sc), ga(sa, T(777)), gb(sb, T(777));
    HostTensor<int32_t> argmax(sc);
    fill_uniform(a, rng, -2, 2);
    fill_uniform(b, rng, -2, 2);
    fill_uniform(g, rng, -1, 1);  // upstream gradient of mixed sign
    const int64_t batch = sc.size() == 3 ? sc[0] : 1;
    auto opts = matmul_options(semiring);
    const bool selection = semiring == SK_SEMIRING_MAX || semiring == SK_SEMIRING_MIN;
    CHECK_OK(sk_semiring_matmul(ctx, &opts, a.d(), b.d(), c.d(), selection ? argmax.d() : nullptr));
    CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, a.d(), b.d(), semiring == SK_SEMIRING_LOG ? c.d() : nullptr,
                                         (selection && give_argmax) ? argmax.d() : nullptr, g.d(), ga.d(), gb.d()));
    HostTensor<Ld> wa(sa), wb(sb);
    reference_backward(semiring, a, b, g, batch, wa, wb);
    const Ld tol = std::is_same_v<T, float> ? Ld(5e-5) : Ld(1e-11);
    compare(ga, wa, tol, label + " grad_a");
    compare(gb, wb, tol, label + " grad_b");
}

}  // namespace

TEST(backward_matches_reference_every_layout) {
    Context ctx;
    std::mt19937_64 rng(21);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_REAL, SK_SEMIRING_MAX, SK_SEMIRING_MIN})
        for (bool give_argmax : {true, false}) {
            const std::string s = std::string(semiring_label(semiring)) + (give_argmax ? " +argmax" : "");
            check_layout<double>(ctx, semiring, {7, 5}, {5, 9}, {7, 9}, give_argmax, rng, s + " plain f64");
            check_layout<double>(ctx, semiring, {3, 6, 11}, {3, 11, 4}, {3, 6, 4}, give_argmax, rng, s + " batched f64");
            check_layout<double>(ctx, semiring, {1, 6, 11}, {3, 11, 4}, {3, 6, 4}, give_argmax, rng, s + " shared A f64");
            check_layout<double>(ctx, semiring, {3, 6, 11}, {11, 4}, {3, 6, 4}, give_argmax, rng, s + " shared B f64");
            check_layout<float>(ctx, semiring, {2, 13, 300}, {2, 300, 270}, {2, 13, 270}, give_argmax, rng, s + " large f32");
        }
}

// Central differences of L = sum grad_c * C in float64 (LOG and REAL are smooth).
TEST(backward_matches_finite_differences) {
    Context ctx;
    std::mt19937_64 rng(8);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_REAL}) {
        HostTensor<double> a({2, 4, 6}), b({2, 6, 5}), c({2, 4, 5}), g({2, 4, 5}), ga({2, 4, 6}), gb({2, 6, 5});
        fill_uniform(a, rng, -2, 2);
        fill_uniform(b, rng, -2, 2);
        fill_uniform(g, rng, -1, 1);
        auto opts = matmul_options(semiring);
        CHECK_OK(sk_semiring_matmul(ctx, &opts, a.d(), b.d(), c.d(), nullptr));
        CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, a.d(), b.d(), c.d(), nullptr, g.d(), ga.d(), gb.d()));
        auto loss = [&]() {
            HostTensor<double> out({2, 4, 5});
            sk_semiring_matmul(ctx, &opts, a.d(), b.d(), out.d(), nullptr);
            double l = 0;
            for (size_t e = 0; e < out.storage.size(); ++e) l += out.storage[e] * g.storage[e];
            return l;
        };
        const double h = 1e-6;
        for (auto *pair : {&a, &b}) {
            auto &x = *pair;
            auto &gx = pair == &a ? ga : gb;
            for (size_t e = 0; e < x.storage.size(); e += 3) {
                const double saved = x.storage[e];
                x.storage[e] = saved + h;
                const double up = loss();
                x.storage[e] = saved - h;
                const double down = loss();
                x.storage[e] = saved;
                const double fd = (up - down) / (2 * h);
                CHECK_MSG(std::fabs(fd - gx.storage[e]) <= 1e-6 * (1 + std::fabs(fd)),
                          semiring_label(semiring) << " element " << e << ": fd " << fd << " analytic " << gx.storage[e]);
            }
        }
    }
}

// Entries that took the exact path in the log forward (S underflow) have exact gradients too.
TEST(backward_log_underflow_entries_are_exact) {
    Context ctx;
    for (double gap : {60.0, 800.0}) {
        HostTensor<double> a({6, 10}), b({10, 6}), c({6, 6}), g({6, 6}, 1.0), ga({6, 10}), gb({10, 6});
        HostTensor<float> af({6, 10}), bf({10, 6}), cf({6, 6}), gf({6, 6}, 1.0f), gaf({6, 10}), gbf({10, 6});
        for (int64_t i = 0; i < 6; ++i)
            for (int64_t t = 0; t < 10; ++t) {
                a.at3(0, i, t) = (t == i) ? 0.0 : -gap - t;
                b.at3(0, t, i) = (t == i + 3) ? 0.0 : -gap - 2.0 * t;
                af.at3(0, i, t) = static_cast<float>(a.at3(0, i, t));
                bf.at3(0, t, i) = static_cast<float>(b.at3(0, t, i));
            }
        auto opts = matmul_options(SK_SEMIRING_LOG);
        CHECK_OK(sk_semiring_matmul(ctx, &opts, a.d(), b.d(), c.d(), nullptr));
        CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, a.d(), b.d(), c.d(), nullptr, g.d(), ga.d(), gb.d()));
        CHECK_OK(sk_semiring_matmul(ctx, &opts, af.d(), bf.d(), cf.d(), nullptr));
        CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, af.d(), bf.d(), cf.d(), nullptr, gf.d(), gaf.d(), gbf.d()));
        HostTensor<Ld> wa({6, 10}), wb({10, 6});
        reference_backward(SK_SEMIRING_LOG, a, b, g, 1, wa, wb);
        compare(ga, wa, 1e-12, "underflow f64 grad_a");
        compare(gb, wb, 1e-12, "underflow f64 grad_b");
        HostTensor<Ld> wfa({6, 10}), wfb({10, 6});
        reference_backward(SK_SEMIRING_LOG, af, bf, gf, 1, wfa, wfb);
        // float32: each term exp(a + b - C) carries the rounding of arguments of size ~gap,
        // a relative error of about gap * 2^-24 (the conditioning, not the algorithm).
        const Ld f32_tol = 2e-7L * gap;
        compare(gaf, wfa, f32_tol, "underflow f32 grad_a");
        compare(gbf, wfb, f32_tol, "underflow f32 grad_b");
    }
}

// An all -inf row makes C = -inf: its gradients are exactly 0, with no NaN anywhere.
TEST(backward_minus_infinity_gives_zero_gradient) {
    Context ctx;
    std::mt19937_64 rng(4);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        HostTensor<float> a({4, 5}), b({5, 3}), c({4, 3}), g({4, 3}), ga({4, 5}), gb({5, 3});
        fill_uniform(a, rng, -1, 1);
        fill_uniform(b, rng, -1, 1);
        fill_uniform(g, rng, -1, 1);
        for (int64_t t = 0; t < 5; ++t) a.at3(0, 1, t) = -INFINITY;
        auto opts = matmul_options(semiring);
        CHECK_OK(sk_semiring_matmul(ctx, &opts, a.d(), b.d(), c.d(), nullptr));
        CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, a.d(), b.d(), c.d(), nullptr, g.d(), ga.d(), gb.d()));
        for (int64_t t = 0; t < 5; ++t) CHECK_EQ(ga.at3(0, 1, t), 0.0f);
        for (float x : ga.storage) CHECK(std::isfinite(x));
        for (float x : gb.storage) CHECK(std::isfinite(x));
    }
}

// Only one gradient requested; the other pointer is NULL and nothing else is touched.
TEST(backward_single_gradient) {
    Context ctx;
    std::mt19937_64 rng(6);
    HostTensor<double> a({3, 4}), b({4, 2}), c({3, 2}), g({3, 2}), ga({3, 4}), gb({4, 2});
    fill_uniform(a, rng, -1, 1);
    fill_uniform(b, rng, -1, 1);
    fill_uniform(g, rng, -1, 1);
    auto opts = matmul_options(SK_SEMIRING_LOG);
    CHECK_OK(sk_semiring_matmul(ctx, &opts, a.d(), b.d(), c.d(), nullptr));
    CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, a.d(), b.d(), c.d(), nullptr, g.d(), nullptr, gb.d()));
    HostTensor<Ld> wa({3, 4}), wb({4, 2});
    reference_backward(SK_SEMIRING_LOG, a, b, g, 1, wa, wb);
    compare(gb, wb, 1e-12, "grad_b only");
}

// With N = 0 no term reaches A: its gradient is all zeros. With K = 0 both are empty.
TEST(backward_empty_dimensions) {
    Context ctx;
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_REAL, SK_SEMIRING_MAX}) {
        HostTensor<float> a({3, 4}), b({4, 0}), c({3, 0}), g({3, 0}), ga({3, 4}, 5.0f), gb({4, 0});
        auto opts = matmul_options(semiring);
        CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, a.d(), b.d(), c.d(), nullptr, g.d(), ga.d(), gb.d()));
        for (float x : ga.storage) CHECK_EQ(x, 0.0f);
        HostTensor<float> a0({3, 0}), b0({0, 2}), c0({3, 2}), g0({3, 2}, 1.0f), ga0({3, 0}), gb0({0, 2});
        CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, a0.d(), b0.d(), c0.d(), nullptr, g0.d(), ga0.d(), gb0.d()));
    }
}

TEST(backward_deterministic_across_thread_counts) {
    std::mt19937_64 rng(17);
    HostTensor<float> a({1, 40, 300}), b({3, 300, 260}), c({3, 40, 260}), g({3, 40, 260});
    fill_uniform(a, rng, -2, 2);
    fill_uniform(b, rng, -2, 2);
    fill_uniform(g, rng, -1, 1);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_REAL, SK_SEMIRING_MAX}) {
        std::vector<float> first_a, first_b;
        for (int threads : {1, 2, 3}) {
            Context ctx;
            CHECK_OK(sk_context_set_num_threads(ctx, threads));
            HostTensor<float> ga({1, 40, 300}), gb({3, 300, 260});
            auto opts = matmul_options(semiring);
            CHECK_OK(sk_semiring_matmul(ctx, &opts, a.d(), b.d(), c.d(), nullptr));
            CHECK_OK(sk_semiring_matmul_backward(ctx, &opts, a.d(), b.d(), c.d(), nullptr, g.d(), ga.d(), gb.d()));
            if (first_a.empty()) {
                first_a = ga.storage;
                first_b = gb.storage;
            } else {
                CHECK(std::memcmp(first_a.data(), ga.storage.data(), first_a.size() * 4) == 0);
                CHECK(std::memcmp(first_b.data(), gb.storage.data(), first_b.size() * 4) == 0);
            }
        }
    }
}

TEST_MAIN()
