// Forward semiring matmul on the CPU against the brute-force long double reference: every
// semiring, both dtypes, strided/broadcast layouts, blocking edges, ties, -inf, NaN, K = 0.
#include <cstring>

#include "test_util.h"

using namespace sktest;

namespace {

const int32_t kSemirings[] = {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL, SK_SEMIRING_MIN,
                              SK_SEMIRING_BOOLEAN};

template <class T>
Ld tolerance() {
    return std::is_same_v<T, float> ? Ld(2e-5) : Ld(1e-12);
}

enum class Layout { Plain, Batched, SharedA, SharedB, ColumnMajorB, PaddedA };

template <class T>
struct Case {
    HostTensor<T> a, b, c;
    HostTensor<int32_t> argmax;
    int64_t batch;
};

template <class T>
Case<T> make_case(Layout layout, int64_t batch, int64_t m, int64_t n, int64_t k) {
    Case<T> cs;
    cs.batch = layout == Layout::Plain ? 1 : batch;
    switch (layout) {
        case Layout::Plain:
            cs.a = HostTensor<T>({m, k});
            cs.b = HostTensor<T>({k, n});
            break;
        case Layout::Batched:
            cs.a = HostTensor<T>({batch, m, k});
            cs.b = HostTensor<T>({batch, k, n});
            break;
        case Layout::SharedA:
            cs.a = HostTensor<T>({1, m, k});
            cs.b = HostTensor<T>({batch, k, n});
            break;
        case Layout::SharedB:
            cs.a = HostTensor<T>({batch, m, k});
            cs.b = HostTensor<T>({k, n});
            break;
        case Layout::ColumnMajorB:
            cs.a = HostTensor<T>({batch, m, k});
            cs.b = column_major<T>({batch, k, n});
            break;
        case Layout::PaddedA:
            cs.a = padded_rows<T>({batch, m, k}, 3);
            cs.b = HostTensor<T>({batch, k, n});
            break;
    }
    if (layout == Layout::Plain) {
        cs.c = HostTensor<T>({m, n}, T(-12345));
        cs.argmax = HostTensor<int32_t>({m, n}, -7);
    } else {
        cs.c = HostTensor<T>({batch, m, n}, T(-12345));
        cs.argmax = HostTensor<int32_t>({batch, m, n}, -7);
    }
    return cs;
}

template <class T>
void fill_for(int32_t semiring, Case<T> &cs, std::mt19937_64 &rng) {
    if (semiring == SK_SEMIRING_BOOLEAN) {
        std::bernoulli_distribution coin(0.15);
        for (auto &x : cs.a.storage) x = coin(rng) ? T(1) : T(0);
        for (auto &x : cs.b.storage) x = coin(rng) ? T(1) : T(0);
    } else {
        fill_uniform(cs.a, rng, -3, 3);
        fill_uniform(cs.b, rng, -3, 3);
    }
}

// Runs the op and compares every output (and argmax where the semiring has one).
template <class T>
void check_against_reference(sk_context *ctx, int32_t semiring, Case<T> &cs, bool with_argmax,
                             const std::string &label) {
    auto opts = matmul_options(semiring);
    const bool selection = semiring == SK_SEMIRING_MAX || semiring == SK_SEMIRING_MIN;
    sk_tensor *argmax = (selection && with_argmax) ? cs.argmax.d() : nullptr;
    CHECK_OK(sk_semiring_matmul(ctx, &opts, cs.a.d(), cs.b.d(), cs.c.d(), argmax));
    Reference ref = reference_matmul(semiring, cs.a, cs.b, cs.batch);
    int bad = 0;
    for (int64_t bi = 0; bi < cs.batch; ++bi)
        for (int64_t i = 0; i < ref.m; ++i)
            for (int64_t j = 0; j < ref.n; ++j) {
                const Ld got = cs.c.at3(bi, i, j);
                const Ld tol = tolerance<T>() * (1 + (semiring == SK_SEMIRING_REAL ? std::sqrt(Ld(ref.k)) : 0));
                if (!close(got, ref.v(bi, i, j), tol, tol) && bad++ < 5)
                    CHECK_MSG(false, label << " value at (" << bi << "," << i << "," << j << "): got "
                                           << static_cast<double>(got) << " want "
                                           << static_cast<double>(ref.v(bi, i, j)));
                if (argmax && cs.argmax.at3(bi, i, j) != ref.idx(bi, i, j) && bad++ < 5)
                    CHECK_MSG(false, label << " argmax at (" << bi << "," << i << "," << j << "): got "
                                           << cs.argmax.at3(bi, i, j) << " want " << ref.idx(bi, i, j));
            }
}

template <class T>
void random_cases(const char *dtype_label) {
    Context ctx;
    std::mt19937_64 rng(1234);
    std::uniform_int_distribution<int64_t> size(1, 40);
    const Layout layouts[] = {Layout::Plain, Layout::Batched, Layout::SharedA, Layout::SharedB,
                              Layout::ColumnMajorB, Layout::PaddedA};
    for (int32_t semiring : kSemirings)
        for (Layout layout : layouts)
            for (int rep = 0; rep < 3; ++rep) {
                const int64_t m = size(rng), n = size(rng), k = size(rng);
                Case<T> cs = make_case<T>(layout, 3, m, n, k);
                fill_for(semiring, cs, rng);
                std::string label = std::string(dtype_label) + " " + semiring_label(semiring) +
                                    " layout " + std::to_string(static_cast<int>(layout)) + " m" +
                                    std::to_string(m) + " n" + std::to_string(n) + " k" + std::to_string(k);
                check_against_reference(ctx, semiring, cs, rep % 2 == 0, label);
            }
}

}  // namespace

TEST(forward_random_float32) { random_cases<float>("f32"); }
TEST(forward_random_float64) { random_cases<double>("f64"); }

// Sizes beyond the CPU blocking (256 columns, 256-deep k blocks, 4-row tiles) and odd edges.
TEST(forward_blocking_edges) {
    Context ctx;
    std::mt19937_64 rng(7);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL, SK_SEMIRING_MIN}) {
        Case<float> cs = make_case<float>(Layout::Batched, 2, 13, 301, 517);
        fill_for(semiring, cs, rng);
        check_against_reference(ctx, semiring, cs, true, std::string("edges ") + semiring_label(semiring));
        Case<double> cd = make_case<double>(Layout::ColumnMajorB, 2, 9, 257, 260);
        fill_for(semiring, cd, rng);
        check_against_reference(ctx, semiring, cd, true, std::string("edges f64 ") + semiring_label(semiring));
    }
}

// Integer-valued inputs in a tiny range make many ties: argmax must be the lowest k.
TEST(forward_ties_take_lowest_k) {
    Context ctx;
    std::mt19937_64 rng(99);
    std::uniform_int_distribution<int> small(0, 2);
    for (int32_t semiring : {SK_SEMIRING_MAX, SK_SEMIRING_MIN}) {
        Case<float> cs = make_case<float>(Layout::Batched, 2, 17, 300, 300);
        for (auto &x : cs.a.storage) x = static_cast<float>(small(rng));
        for (auto &x : cs.b.storage) x = static_cast<float>(small(rng));
        check_against_reference(ctx, semiring, cs, true, std::string("ties ") + semiring_label(semiring));
    }
}

// Rows of A and columns of B that are entirely -inf: the result is the semiring zero, never NaN.
TEST(forward_minus_infinity_rows_and_columns) {
    Context ctx;
    std::mt19937_64 rng(5);
    const float ninf = -std::numeric_limits<float>::infinity();
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        Case<float> cs = make_case<float>(Layout::Batched, 2, 6, 7, 9);
        fill_for(semiring, cs, rng);
        for (int64_t t = 0; t < 9; ++t) cs.a.at3(0, 2, t) = ninf;  // a whole row
        for (int64_t t = 0; t < 9; ++t) cs.b.at3(1, t, 4) = ninf;  // a whole column
        cs.a.at3(1, 0, 3) = ninf;                                   // a single entry
        check_against_reference(ctx, semiring, cs, true, std::string("-inf ") + semiring_label(semiring));
        CHECK(cs.c.at3(0, 2, 0) == ninf);
        CHECK(cs.c.at3(1, 3, 4) == ninf);
        if (semiring == SK_SEMIRING_MAX) CHECK_EQ(cs.argmax.at3(0, 2, 0), -1);
    }
    // Min: +inf is its zero.
    Case<double> cm = make_case<double>(Layout::Plain, 1, 4, 5, 6);
    fill_for(SK_SEMIRING_MIN, cm, rng);
    for (int64_t t = 0; t < 6; ++t) cm.a.at3(0, 1, t) = std::numeric_limits<double>::infinity();
    check_against_reference(ctx, SK_SEMIRING_MIN, cm, true, "+inf min");
    CHECK_EQ(cm.argmax.at3(0, 1, 2), -1);
}

// Log fast path breakdown: rows and columns peak at different k, so S underflows and the entry
// must come from the exact path; compare to the reference to full precision.
TEST(forward_log_underflow_falls_back_exactly) {
    Context ctx;
    for (double gap : {50.0, 120.0, 900.0}) {
        Case<float> cs = make_case<float>(Layout::Plain, 1, 8, 8, 16);
        Case<double> cd = make_case<double>(Layout::Plain, 1, 8, 8, 16);
        for (int64_t i = 0; i < 8; ++i)
            for (int64_t t = 0; t < 16; ++t) {
                const double va = (t == i % 16) ? 0.0 : -gap - t;
                const double vb = (t == (i + 5) % 16) ? 0.0 : -gap - 2 * t;
                cs.a.at3(0, i, t) = static_cast<float>(va);
                cs.b.at3(0, t, i) = static_cast<float>(vb);
                cd.a.at3(0, i, t) = va;
                cd.b.at3(0, t, i) = vb;
            }
        check_against_reference(ctx, SK_SEMIRING_LOG, cs, false, "log underflow f32 gap " + std::to_string(gap));
        check_against_reference(ctx, SK_SEMIRING_LOG, cd, false, "log underflow f64 gap " + std::to_string(gap));
    }
}

// NaN propagates to exactly the entries whose terms see it; max/min argmax points at it.
TEST(forward_nan_propagates) {
    Context ctx;
    std::mt19937_64 rng(11);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL, SK_SEMIRING_MIN}) {
        Case<float> cs = make_case<float>(Layout::Batched, 2, 5, 6, 7);
        fill_for(semiring, cs, rng);
        cs.a.at3(1, 3, 4) = std::numeric_limits<float>::quiet_NaN();
        cs.b.at3(0, 2, 5) = std::numeric_limits<float>::quiet_NaN();
        check_against_reference(ctx, semiring, cs, true, std::string("nan ") + semiring_label(semiring));
        CHECK(std::isnan(cs.c.at3(1, 3, 0)));
        CHECK(std::isnan(cs.c.at3(0, 0, 5)));
        CHECK(!std::isnan(cs.c.at3(0, 0, 4)));
    }
}

// +inf meeting -inf is NaN in every (+)-times semiring.
TEST(forward_opposite_infinities_give_nan) {
    Context ctx;
    std::mt19937_64 rng(12);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN}) {
        Case<double> cs = make_case<double>(Layout::Plain, 1, 3, 3, 4);
        fill_for(semiring, cs, rng);
        cs.a.at3(0, 1, 2) = std::numeric_limits<double>::infinity();
        cs.b.at3(0, 2, 1) = -std::numeric_limits<double>::infinity();
        check_against_reference(ctx, semiring, cs, true, std::string("inf-inf ") + semiring_label(semiring));
        CHECK(std::isnan(cs.c.at3(0, 1, 1)));
    }
}

TEST(forward_k_zero_gives_semiring_zero) {
    Context ctx;
    const double expected[] = {-INFINITY, -INFINITY, 0.0, INFINITY, 0.0};
    for (int32_t semiring : kSemirings) {
        HostTensor<double> a({2, 3, 0}), b({2, 0, 4}), c({2, 3, 4}, 42.0);
        HostTensor<int32_t> argmax({2, 3, 4}, 42);
        const bool selection = semiring == SK_SEMIRING_MAX || semiring == SK_SEMIRING_MIN;
        auto opts = matmul_options(semiring);
        CHECK_OK(sk_semiring_matmul(ctx, &opts, a.d(), b.d(), c.d(), selection ? argmax.d() : nullptr));
        for (double v : c.storage) CHECK_EQ(v, expected[semiring]);
        if (selection)
            for (int32_t v : argmax.storage) CHECK_EQ(v, -1);
    }
}

TEST(forward_empty_output_is_a_no_op) {
    Context ctx;
    HostTensor<float> a({0, 5}), b({5, 3}), c({0, 3});
    auto opts = matmul_options(SK_SEMIRING_LOG);
    CHECK_OK(sk_semiring_matmul(ctx, &opts, a.d(), b.d(), c.d(), nullptr));
    HostTensor<float> a3({0, 2, 5}), b3({0, 5, 3}), c3({0, 2, 3});
    CHECK_OK(sk_semiring_matmul(ctx, &opts, a3.d(), b3.d(), c3.d(), nullptr));
}

// The result is bitwise identical for any thread count and on repeated runs.
TEST(forward_deterministic_across_thread_counts) {
    std::mt19937_64 rng(3);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL}) {
        Case<float> base = make_case<float>(Layout::Batched, 2, 33, 270, 300);
        fill_for(semiring, base, rng);
        std::vector<float> first;
        for (int threads : {1, 2, 3, 0}) {
            for (int rep = 0; rep < 2; ++rep) {
                Context ctx;
                CHECK_OK(sk_context_set_num_threads(ctx, threads));
                Case<float> cs = base;
                auto opts = matmul_options(semiring);
                CHECK_OK(sk_semiring_matmul(ctx, &opts, cs.a.d(), cs.b.d(), cs.c.d(), nullptr));
                if (first.empty())
                    first = cs.c.storage;
                else
                    CHECK_MSG(std::memcmp(first.data(), cs.c.storage.data(), first.size() * sizeof(float)) == 0,
                              semiring_label(semiring) << " threads " << threads);
            }
        }
    }
}

TEST_MAIN()
