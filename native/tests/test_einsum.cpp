// Semiring einsum on the CPU: random valid equations (1-4 operands, diagonals, "...",
// broadcasting, scalars, extent-0 labels, empty outputs) against the naive long double reference
// for every semiring, argmax (Viterbi) against brute force, gradients against the exact
// reference and finite differences, ties, -inf / NaN, blocking under a workspace limit,
// thread-count independence, plan reuse, and parser errors that name the position.
#include <cstring>

#include "einsum_test_util.h"

using namespace sktest;

namespace {

const int32_t kSemirings[] = {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN,
                              SK_SEMIRING_BOOLEAN};

bool is_selection(int32_t s) { return s == SK_SEMIRING_MAX || s == SK_SEMIRING_MIN; }
bool has_gradient(int32_t s) { return s != SK_SEMIRING_BOOLEAN; }

template <class T>
Ld tol_of() {
    return std::is_same_v<T, float> ? Ld(2e-4) : Ld(1e-10);
}

// Everything one run of a Case needs.
template <class T>
struct Run {
    const Case &c;
    std::vector<HostTensor<T>> ops;
    HostTensor<T> out, grad_out;
    std::vector<HostTensor<T>> grads;

    Run(const Case &cs, int32_t semiring, std::mt19937_64 &rng, bool strided) : c(cs) {
        for (auto &s : c.shapes) {
            ops.push_back(strided_tensor<T>(s, rng, strided));
            fill_for(ops.back(), semiring, rng);
            grads.push_back(strided_tensor<T>(s, rng, strided));
            for (auto &x : grads.back().storage) x = T(12345);
        }
        out = strided_tensor<T>(output_shape(c), rng, strided);
        for (auto &x : out.storage) x = T(-777);
        grad_out = strided_tensor<T>(output_shape(c), rng, strided);
        fill_uniform(grad_out, rng, -1, 1);
    }
    std::vector<const sk_tensor *> operand_ptrs() {
        std::vector<const sk_tensor *> p;
        for (auto &t : ops) p.push_back(&t.desc);
        return p;
    }
    std::vector<sk_tensor *> grad_ptrs() {
        std::vector<sk_tensor *> p;
        for (auto &t : grads) p.push_back(&t.desc);
        return p;
    }
    std::vector<HostTensor<T> *> op_refs() {
        std::vector<HostTensor<T> *> p;
        for (auto &t : ops) p.push_back(&t);
        return p;
    }
};

std::vector<int64_t> argmax_shape(const Case &c) {
    auto s = output_shape(c);
    s.push_back(static_cast<int64_t>(c.summed.size()));
    return s;
}

// Compares a strided result with a dense row-major reference.
template <class T>
int compare_values(HostTensor<T> &got, const std::vector<Ld> &want, const std::vector<Ld> *magnitude,
                   Ld tol, const std::string &what) {
    int bad = 0;
    std::vector<int64_t> shape(got.desc.shape, got.desc.shape + got.desc.rank);
    int64_t n = 0;
    for_each_index(shape, [&](const std::vector<int64_t> &idx) {
        const Ld x = got.storage[static_cast<size_t>(offset_of<T>(got.desc, idx))];
        const Ld w = want[static_cast<size_t>(n)];
        const Ld scale = magnitude ? (*magnitude)[static_cast<size_t>(n)] : std::fabs(w);
        if (!close(x, w, 0, tol * (1 + scale)) && bad++ < 3)
            CHECK_MSG(false, what << " element " << n << ": got " << static_cast<double>(x) << " want "
                                  << static_cast<double>(w));
        ++n;
    });
    return bad;
}

template <class T, class I>
int compare_argmax(HostTensor<I> &got, const std::vector<int64_t> &want, const std::string &what) {
    int bad = 0;
    std::vector<int64_t> shape(got.desc.shape, got.desc.shape + got.desc.rank);
    int64_t n = 0;
    for_each_index(shape, [&](const std::vector<int64_t> &idx) {
        const int64_t x = got.storage[static_cast<size_t>(offset_of<I>(got.desc, idx))];
        if (x != want[static_cast<size_t>(n)] && bad++ < 3)
            CHECK_MSG(false, what << " argmax entry " << n << ": got " << x << " want " << want[static_cast<size_t>(n)]);
        ++n;
    });
    return bad;
}

// Gradients compared with a scale of the largest reference entry.
template <class T>
int compare_grads(Run<T> &run, const EinsumRef &ref, Ld tol, const std::string &what) {
    int bad = 0;
    for (size_t i = 0; i < run.ops.size(); ++i) {
        Ld scale = 1;
        for (Ld x : ref.grad[i])
            if (std::isfinite(x)) scale = std::max(scale, std::fabs(x));
        bad += compare_values(run.grads[i], ref.grad[i], nullptr, tol * scale,
                              what + " grad[" + std::to_string(i) + "]");
    }
    return bad;
}

// One Case, one semiring, one dtype: forward (+ argmax) and backward against the reference.
template <class T>
void check_case(sk_context *ctx, const Case &c, int32_t semiring, std::mt19937_64 &rng, bool strided,
                bool int64_argmax, const std::string &label) {
    sk_einsum_plan *plan = make_plan(c, semiring);
    if (!plan) {
        CHECK_MSG(false, label << ": plan creation failed for " << c.equation);
        return;
    }
    Run<T> run(c, semiring, rng, strided);
    const std::string what = label + " '" + c.equation + "' " + semiring_label(semiring);
    auto ops = run.operand_ptrs();
    HostTensor<int32_t> am32(argmax_shape(c), -9);
    HostTensor<int64_t> am64(argmax_shape(c), -9);
    sk_tensor *am = is_selection(semiring) ? (int64_argmax ? am64.d() : am32.d()) : nullptr;
    CHECK_OK(sk_einsum_forward(ctx, plan, ops.data(), run.out.d(), am));
    const EinsumRef ref = reference_einsum(c, semiring, run.op_refs(), &run.grad_out);
    int bad = compare_values(run.out, ref.value, semiring == SK_SEMIRING_REAL ? &ref.magnitude : nullptr,
                             tol_of<T>(), what);
    if (is_selection(semiring))
        bad += int64_argmax ? compare_argmax<T>(am64, ref.argmax, what) : compare_argmax<T>(am32, ref.argmax, what);
    if (has_gradient(semiring)) {
        auto grads = run.grad_ptrs();
        // MAX/MIN: alternately with the forward's argmax and with none (recomputed).
        const sk_tensor *given = (is_selection(semiring) && (rng() & 1)) ? am : nullptr;
        CHECK_OK(sk_einsum_backward(ctx, plan, ops.data(), run.out.d(), given, run.grad_out.d(), grads.data()));
        bad += compare_grads(run, ref, tol_of<T>() * 10, what);
    }
    if (bad) std::fprintf(stderr, "    (case %s, shapes:", c.equation.c_str());
    if (bad) {
        for (auto &s : c.shapes) {
            std::fprintf(stderr, " [");
            for (auto e : s) std::fprintf(stderr, "%lld ", static_cast<long long>(e));
            std::fprintf(stderr, "]");
        }
        std::fprintf(stderr, ")\n");
    }
    sk_einsum_plan_destroy(plan);
}

}  // namespace

TEST(random_equations_every_semiring_float64) {
    Context ctx;
    std::mt19937_64 rng(20261123);
    for (int n = 0; n < 500; ++n) {
        const Case c = random_case(rng);
        for (int32_t s : kSemirings) check_case<double>(ctx, c, s, rng, n % 2 == 1, n % 3 == 0, "f64 #" + std::to_string(n));
    }
}

TEST(random_equations_every_semiring_float32) {
    Context ctx;
    std::mt19937_64 rng(777);
    for (int n = 0; n < 200; ++n) {
        const Case c = random_case(rng);
        for (int32_t s : kSemirings) check_case<float>(ctx, c, s, rng, n % 2 == 0, n % 2 == 1, "f32 #" + std::to_string(n));
    }
}

TEST(fixed_equations_every_semiring) {
    Context ctx;
    std::mt19937_64 rng(5);
    const std::vector<std::pair<std::string, std::vector<std::vector<int64_t>>>> cases = {
        {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}},
        {"ij,jk->ik", {{7, 9}, {9, 6}}},
        {"bi,bij,bj->b", {{3, 4}, {3, 4, 5}, {3, 5}}},
        {"abc,cd,db->a", {{2, 3, 4}, {4, 2}, {2, 3}}},
        {"ii->i", {{4, 4}}},
        {"iij,jk->ik", {{3, 3, 2}, {2, 4}}},
        {"...ij,...jk->...ik", {{2, 3, 4}, {4, 2}}},
        {"...ij,...jk->ik...", {{2, 1, 3, 4}, {3, 4, 2}}},
        {"ij->", {{3, 5}}},
        {"ij->ji", {{3, 5}}},
        {"i,j->ij", {{3}, {4}}},
        {" A b , b A -> ", {{3, 4}, {4, 3}}},
        {",i->i", {{}, {4}}},
        {"i,i,i->i", {{5}, {5}, {1}}},
        {"ij,jk,kl,lm->im", {{2, 3}, {3, 4}, {4, 3}, {3, 2}}},
        {"ik,ij->i", {{3, 4}, {3, 2}}},
        {"ijk,jkl->il", {{2, 3, 4}, {3, 4, 2}}},
        {"bij,bkj->bik", {{2, 3, 4}, {2, 5, 4}}},
        {"ij,ij->ij", {{3, 4}, {3, 4}}},
        {"bij,bjk->bik", {{2, 40, 50}, {2, 50, 30}}},  // sizes where the matmul's fast paths engage
        {"ij,jk->ki", {{33, 70}, {70, 17}}},
    };
    int n = 0;
    for (auto &[eq, shapes] : cases) {
        const Case c = make_case(eq, shapes);
        for (int32_t s : kSemirings) {
            check_case<double>(ctx, c, s, rng, n % 2 == 0, n % 2 == 1, "fixed");
            check_case<float>(ctx, c, s, rng, n % 2 == 1, n % 2 == 0, "fixed f32");
        }
        ++n;
    }
}

// d/dX of sum_o g[o] out[o] by central differences of the library's own float64 forward.
TEST(gradients_match_finite_differences) {
    Context ctx;
    std::mt19937_64 rng(99);
    const std::vector<std::pair<std::string, std::vector<std::vector<int64_t>>>> cases = {
        {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 3}}},
        {"bi,bij,bj->b", {{2, 3}, {2, 3, 4}, {2, 4}}},
        {"abc,cd,db->a", {{2, 3, 2}, {2, 2}, {2, 3}}},
        {"ii->i", {{3, 3}}},
        {"...ij,...jk->...ik", {{2, 2, 3}, {1, 3, 2}}},
        {"ij,j->", {{3, 1}, {4}}},
    };
    for (int32_t semiring : {SK_SEMIRING_REAL, SK_SEMIRING_LOG}) {
        for (auto &[eq, shapes] : cases) {
            const Case c = make_case(eq, shapes);
            sk_einsum_plan *plan = make_plan(c, semiring);
            Run<double> run(c, semiring, rng, false);
            for (auto &op : run.ops) fill_uniform(op, rng, -1, 1);
            auto ops = run.operand_ptrs();
            auto grads = run.grad_ptrs();
            CHECK_OK(sk_einsum_forward(ctx, plan, ops.data(), run.out.d(), nullptr));
            CHECK_OK(sk_einsum_backward(ctx, plan, ops.data(), run.out.d(), nullptr, run.grad_out.d(), grads.data()));
            auto loss = [&]() {
                HostTensor<double> o(output_shape(c));
                CHECK_OK(sk_einsum_forward(ctx, plan, ops.data(), o.d(), nullptr));
                Ld sum = 0;
                for (size_t k = 0; k < o.storage.size(); ++k) sum += Ld(o.storage[k]) * run.grad_out.storage[k];
                return sum;
            };
            const double h = 1e-6;
            for (size_t i = 0; i < run.ops.size(); ++i)
                for (size_t k = 0; k < run.ops[i].storage.size(); ++k) {
                    const double keep = run.ops[i].storage[k];
                    run.ops[i].storage[k] = keep + h;
                    const Ld up = loss();
                    run.ops[i].storage[k] = keep - h;
                    const Ld down = loss();
                    run.ops[i].storage[k] = keep;
                    const Ld fd = (up - down) / (2 * h);
                    const Ld got = run.grads[i].storage[k];
                    CHECK_MSG(std::fabs(got - fd) <= 1e-6 * (1 + std::fabs(fd)),
                              eq << " " << semiring_label(semiring) << " grad[" << i << "][" << k << "] "
                                 << static_cast<double>(got) << " vs finite difference " << static_cast<double>(fd));
                }
            sk_einsum_plan_destroy(plan);
        }
    }
}

// Ties go to the lowest index: one summed variable, several summed in one step, and MIN.
TEST(viterbi_ties_lowest_index) {
    Context ctx;
    for (int32_t semiring : {SK_SEMIRING_MAX, SK_SEMIRING_MIN}) {
        {  // "ij->i": every row constant
            const Case c = make_case("ij->i", {{3, 4}});
            sk_einsum_plan *plan = make_plan(c, semiring);
            HostTensor<double> x({3, 4}, 1.5), out({3});
            HostTensor<int64_t> am({3, 1}, -7);
            const sk_tensor *ops[] = {x.d()};
            CHECK_OK(sk_einsum_forward(ctx, plan, ops, out.d(), am.d()));
            for (int i = 0; i < 3; ++i) CHECK_EQ(am.storage[static_cast<size_t>(i)], 0);
            sk_einsum_plan_destroy(plan);
        }
        {  // "ijk->i" (j, k summed in one step): ties at (1, 2) and (2, 0) -> (1, 2)
            const Case c = make_case("ijk->i", {{2, 3, 3}});
            sk_einsum_plan *plan = make_plan(c, semiring);
            const double best = semiring == SK_SEMIRING_MAX ? 5 : -5;
            HostTensor<double> x({2, 3, 3}, 0.0), out({2});
            x.at({0, 1, 2}) = best;
            x.at({0, 2, 0}) = best;
            x.at({1, 2, 2}) = best;
            HostTensor<int32_t> am({2, 2}, -7);
            const sk_tensor *ops[] = {x.d()};
            CHECK_OK(sk_einsum_forward(ctx, plan, ops, out.d(), am.d()));
            CHECK_EQ(am.at({0, 0}), 1);
            CHECK_EQ(am.at({0, 1}), 2);
            CHECK_EQ(am.at({1, 0}), 2);
            CHECK_EQ(am.at({1, 1}), 2);
            CHECK_EQ(out.storage[0], best);
            sk_einsum_plan_destroy(plan);
        }
        {  // "ij,jk->ik" with all terms equal: j = 0
            const Case c = make_case("ij,jk->ik", {{2, 4}, {4, 3}});
            sk_einsum_plan *plan = make_plan(c, semiring);
            HostTensor<float> a({2, 4}, 1.0f), b({4, 3}, 2.0f), out({2, 3});
            HostTensor<int32_t> am({2, 3, 1}, -7);
            const sk_tensor *ops[] = {a.d(), b.d()};
            CHECK_OK(sk_einsum_forward(ctx, plan, ops, out.d(), am.d()));
            for (auto v : am.storage) CHECK_EQ(v, 0);
            for (auto v : out.storage) CHECK_EQ(v, 3.0f);
            sk_einsum_plan_destroy(plan);
        }
    }
}

// LOG: an output whose terms are all -inf has a zero gradient by default, NaN on request.
TEST(all_minus_infinity_log_gradient_convention) {
    Context ctx;
    const Case c = make_case("ij,jk->ik", {{2, 3}, {3, 2}});
    for (int32_t convention : {SK_EINSUM_ZERO_GRADIENT_ZERO, SK_EINSUM_ZERO_GRADIENT_NAN}) {
        sk_einsum_plan *plan = make_plan(c, SK_SEMIRING_LOG, convention);
        HostTensor<double> a({2, 3}, 0.5), b({3, 2}, 0.25), out({2, 2}), g({2, 2}, 1.0), ga({2, 3}), gb({3, 2});
        for (int j = 0; j < 3; ++j) a.at({0, j}) = -INFINITY;  // row 0 of the output is -inf
        const sk_tensor *ops[] = {a.d(), b.d()};
        sk_tensor *grads[] = {ga.d(), gb.d()};
        CHECK_OK(sk_einsum_forward(ctx, plan, ops, out.d(), nullptr));
        CHECK(out.at({0, 0}) == -INFINITY && out.at({0, 1}) == -INFINITY);
        CHECK(std::isfinite(out.at({1, 0})));
        CHECK_OK(sk_einsum_backward(ctx, plan, ops, out.d(), nullptr, g.d(), grads));
        const EinsumRef ref = reference_einsum(c, SK_SEMIRING_LOG, {&a, &b}, &g, convention == 1);
        for (int j = 0; j < 3; ++j) {
            if (convention == SK_EINSUM_ZERO_GRADIENT_ZERO) CHECK_EQ(ga.at({0, j}), 0.0);
            else CHECK(std::isnan(ga.at({0, j})));
            CHECK(std::isfinite(ga.at({1, j})));
        }
        // gb mixes a -inf row and a finite row: NaN poisons it only under the NaN convention.
        for (size_t k = 0; k < gb.storage.size(); ++k) {
            if (convention == SK_EINSUM_ZERO_GRADIENT_NAN) CHECK(std::isnan(gb.storage[k]));
            else CHECK(close(gb.storage[k], ref.grad[1][k], 0, 1e-12));
        }
        sk_einsum_plan_destroy(plan);
    }
}

TEST(nan_propagates_to_the_outputs_it_reaches) {
    Context ctx;
    const Case c = make_case("ij,jk->ik", {{3, 4}, {4, 2}});
    for (int32_t semiring : kSemirings) {
        sk_einsum_plan *plan = make_plan(c, semiring);
        HostTensor<double> a({3, 4}, 1.0), b({4, 2}, 1.0), out({3, 2});
        a.at({1, 2}) = NAN;
        const sk_tensor *ops[] = {a.d(), b.d()};
        CHECK_OK(sk_einsum_forward(ctx, plan, ops, out.d(), nullptr));
        for (int i = 0; i < 3; ++i)
            for (int k = 0; k < 2; ++k) CHECK_MSG(std::isnan(out.at({i, k})) == (i == 1), semiring_label(semiring));
        sk_einsum_plan_destroy(plan);
    }
}

// A summed label of extent 0 gives the semiring zero, argmax -1 and zero gradients; an empty
// output is computed as nothing.
TEST(empty_sums_and_empty_outputs) {
    Context ctx;
    const Case c = make_case("ij,jk->ik", {{2, 0}, {0, 3}});
    const double zero[] = {-INFINITY, -INFINITY, 0, INFINITY, 0};  // indexed by semiring code
    for (int32_t semiring : kSemirings) {
        sk_einsum_plan *plan = make_plan(c, semiring);
        HostTensor<double> a({2, 0}), b({0, 3}), out({2, 3}, 42.0);
        HostTensor<int32_t> am({2, 3, 1}, 5);
        const sk_tensor *ops[] = {a.d(), b.d()};
        CHECK_OK(sk_einsum_forward(ctx, plan, ops, out.d(), is_selection(semiring) ? am.d() : nullptr));
        for (double v : out.storage) CHECK_EQ(v, zero[semiring]);
        if (is_selection(semiring))
            for (int32_t v : am.storage) CHECK_EQ(v, -1);
        sk_einsum_plan_destroy(plan);
    }
    // Empty output: nothing is written, the call succeeds.
    const Case e = make_case("ij,jk->ik", {{0, 3}, {3, 2}});
    sk_einsum_plan *plan = make_plan(e, SK_SEMIRING_LOG);
    HostTensor<double> a({0, 3}), b({3, 2}, 1.0), out({0, 2}), g({0, 2}), ga({0, 3}), gb({3, 2}, 9.0);
    const sk_tensor *ops[] = {a.d(), b.d()};
    sk_tensor *grads[] = {ga.d(), gb.d()};
    CHECK_OK(sk_einsum_forward(ctx, plan, ops, out.d(), nullptr));
    CHECK_OK(sk_einsum_backward(ctx, plan, ops, out.d(), nullptr, g.d(), grads));
    for (double v : gb.storage) CHECK_EQ(v, 0.0);  // no output reads B: its gradient is 0
    sk_einsum_plan_destroy(plan);
    // Gradients through an extent-0 sum are 0 (the storage has room for one element).
    const Case z = make_case("ij,jk->ik", {{2, 0}, {0, 3}});
    for (int32_t semiring : {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        sk_einsum_plan *p = make_plan(z, semiring);
        HostTensor<double> za({2, 0}), zb({0, 3}), zo({2, 3}), zg({2, 3}, 1.0), zga({2, 0}), zgb({0, 3});
        const sk_tensor *zops[] = {za.d(), zb.d()};
        sk_tensor *zgrads[] = {zga.d(), zgb.d()};
        CHECK_OK(sk_einsum_forward(ctx, p, zops, zo.d(), nullptr));
        CHECK_OK(sk_einsum_backward(ctx, p, zops, zo.d(), nullptr, zg.d(), zgrads));
        sk_einsum_plan_destroy(p);
    }
}

// A workspace limit splits the output into blocks; the result equals the unblocked one.
TEST(workspace_limit_blocks_the_output) {
    Context ctx;
    std::mt19937_64 rng(3);
    const Case c = make_case("bij,bjk,bkl->bil", {{3, 40, 6}, {3, 6, 7}, {3, 7, 30}});
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL}) {
        sk_einsum_plan *whole = make_plan(c, semiring);
        int64_t need = 0;
        CHECK_OK(sk_einsum_plan_workspace_bytes(whole, SK_DTYPE_FLOAT64, 0, &need));
        CHECK(need > 0);
        sk_einsum_plan *blocked = make_plan(c, semiring, 0, need / 2);
        Run<double> run(c, semiring, rng, true);
        auto ops = run.operand_ptrs();
        HostTensor<double> o1(output_shape(c)), o2(output_shape(c));
        HostTensor<int64_t> a1(argmax_shape(c)), a2(argmax_shape(c));
        const bool sel = is_selection(semiring);
        CHECK_OK(sk_einsum_forward(ctx, whole, ops.data(), o1.d(), sel ? a1.d() : nullptr));
        CHECK_OK(sk_einsum_forward(ctx, blocked, ops.data(), o2.d(), sel ? a2.d() : nullptr));
        const EinsumRef ref = reference_einsum<double>(c, semiring, run.op_refs(), nullptr);
        compare_values(o2, ref.value, semiring == SK_SEMIRING_REAL ? &ref.magnitude : nullptr, 1e-10, "blocked");
        CHECK(o1.storage == o2.storage);
        if (sel) CHECK(a1.storage == a2.storage);
        // A limit below what one slice needs is a clear out-of-memory error.
        sk_einsum_plan *tiny = make_plan(c, semiring, 0, 64);
        CHECK_EQ(sk_einsum_forward(ctx, tiny, ops.data(), o2.d(), nullptr), SK_ERROR_OUT_OF_MEMORY);
        CHECK(std::strstr(sk_last_error(), "workspace_limit_bytes") != nullptr);
        sk_einsum_plan_destroy(tiny);
        sk_einsum_plan_destroy(whole);
        sk_einsum_plan_destroy(blocked);
    }
}

// Random equations under a workspace limit of 3/4 of the need: blocked along an output label
// (same values and argmax as the reference), or a clear out-of-memory error when no block fits.
TEST(random_equations_blocked_under_a_workspace_limit) {
    Context ctx;
    std::mt19937_64 rng(2468);
    int blocked = 0;
    for (int n = 0; n < 500; ++n) {
        const Case c = random_case(rng, 40000, 12);  // larger extents: blocks must beat 256-byte alignment
        for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL}) {
            sk_einsum_plan *whole = make_plan(c, semiring);
            int64_t need = 0;
            CHECK_OK(sk_einsum_plan_workspace_bytes(whole, SK_DTYPE_FLOAT64, 0, &need));
            sk_einsum_plan_destroy(whole);
            if (need < 2) continue;
            sk_einsum_plan *plan = make_plan(c, semiring, 0, need * 3 / 4);
            Run<double> run(c, semiring, rng, n % 2 == 0);
            auto ops = run.operand_ptrs();
            HostTensor<int64_t> am(argmax_shape(c), -9);
            const bool sel = is_selection(semiring);
            const sk_status st = sk_einsum_forward(ctx, plan, ops.data(), run.out.d(), sel ? am.d() : nullptr);
            if (st == SK_OK) {
                ++blocked;
                const EinsumRef ref = reference_einsum<double>(c, semiring, run.op_refs(), nullptr);
                compare_values(run.out, ref.value, semiring == SK_SEMIRING_REAL ? &ref.magnitude : nullptr, 1e-10,
                               "blocked '" + c.equation + "'");
                if (sel) compare_argmax<double>(am, ref.argmax, "blocked '" + c.equation + "'");
            } else {
                CHECK_MSG(st == SK_ERROR_OUT_OF_MEMORY, c.equation << ": " << sk_last_error());
                CHECK(std::strstr(sk_last_error(), "workspace_limit_bytes") != nullptr);
                for (double x : run.out.storage) CHECK_EQ(x, -777.0);  // untouched
            }
            sk_einsum_plan_destroy(plan);
        }
    }
    std::fprintf(stderr, "  %d cases ran blocked\n", blocked);
    CHECK_MSG(blocked >= 100, "only " << blocked << " cases ran blocked");
}

TEST(results_do_not_depend_on_the_thread_count) {
    std::mt19937_64 rng(11);
    const Case c = make_case("bij,bjk,bk->bi", {{4, 40, 30}, {4, 30, 20}, {4, 20}});
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL}) {
        sk_einsum_plan *plan = make_plan(c, semiring);
        Run<float> run(c, semiring, rng, true);
        auto ops = run.operand_ptrs();
        std::vector<std::vector<float>> outs, grads;
        for (int threads : {1, 3}) {
            Context ctx;
            CHECK_OK(sk_context_set_num_threads(ctx, threads));
            HostTensor<float> out(output_shape(c));
            CHECK_OK(sk_einsum_forward(ctx, plan, ops.data(), out.d(), nullptr));
            outs.push_back(out.storage);
            auto g = run.grad_ptrs();
            CHECK_OK(sk_einsum_backward(ctx, plan, ops.data(), out.d(), nullptr, run.grad_out.d(), g.data()));
            grads.push_back(run.grads[1].storage);
        }
        CHECK(outs[0] == outs[1]);
        CHECK(grads[0] == grads[1]);
        sk_einsum_plan_destroy(plan);
    }
}

TEST(plan_queries_and_reuse_across_dtypes) {
    Context ctx;
    const Case c = make_case("...ij,jk->k...", {{2, 3, 4}, {4, 5}});
    sk_einsum_plan *plan = make_plan(c, SK_SEMIRING_MAX);
    int32_t rank = -1, count = -1;
    int64_t shape[SK_MAX_RANK];
    CHECK_OK(sk_einsum_plan_output_shape(plan, &rank, shape));
    CHECK_EQ(rank, 2);
    CHECK_EQ(shape[0], 5);
    CHECK_EQ(shape[1], 2);
    CHECK_OK(sk_einsum_plan_summed_count(plan, &count));
    CHECK_EQ(count, 2);  // i and j (letters by first appearance)
    int64_t f = 0, b = 0;
    CHECK_OK(sk_einsum_plan_workspace_bytes(plan, SK_DTYPE_FLOAT32, 0, &f));
    CHECK_OK(sk_einsum_plan_workspace_bytes(plan, SK_DTYPE_FLOAT64, 1, &b));
    CHECK(f > 0 && b > 0);
    std::mt19937_64 rng(1);
    for (int rep = 0; rep < 2; ++rep) {
        Run<float> r32(c, SK_SEMIRING_MAX, rng, false);
        Run<double> r64(c, SK_SEMIRING_MAX, rng, true);
        auto o32 = r32.operand_ptrs();
        auto o64 = r64.operand_ptrs();
        CHECK_OK(sk_einsum_forward(ctx, plan, o32.data(), r32.out.d(), nullptr));
        CHECK_OK(sk_einsum_forward(ctx, plan, o64.data(), r64.out.d(), nullptr));
        compare_values(r32.out, reference_einsum<float>(c, SK_SEMIRING_MAX, r32.op_refs(), nullptr).value, nullptr, 1e-5, "reuse f32");
        compare_values(r64.out, reference_einsum<double>(c, SK_SEMIRING_MAX, r64.op_refs(), nullptr).value, nullptr, 1e-12, "reuse f64");
    }
    sk_einsum_plan_destroy(plan);
}

// Malformed equations: the status and the position in the message.
TEST(parser_errors_name_the_position) {
    struct Bad {
        const char *equation;
        std::vector<std::vector<int64_t>> shapes;
        sk_status status;
        const char *expect;
    };
    const std::vector<Bad> bad = {
        {"ij,jk", {{2, 3}, {3, 4}}, SK_ERROR_INVALID_ARGUMENT, "position 5: missing '->'"},
        {"ij,j#->i", {{2, 3}, {3, 4}}, SK_ERROR_INVALID_ARGUMENT, "position 4: unknown character '#'"},
        {"ij,jk->ix", {{2, 3}, {3, 4}}, SK_ERROR_INVALID_ARGUMENT, "position 8: output label 'x' does not appear"},
        {"ij,jk->ii", {{2, 3}, {3, 4}}, SK_ERROR_INVALID_ARGUMENT, "position 8: output label 'i' appears twice"},
        {"ij,jk->i,k", {{2, 3}, {3, 4}}, SK_ERROR_INVALID_ARGUMENT, "position 8: ',' in the output"},
        {"ij,jk->i->k", {{2, 3}, {3, 4}}, SK_ERROR_INVALID_ARGUMENT, "position 8: '->' may appear only once"},
        {"ij,jk,k->i", {{2, 3}, {3, 4}}, SK_ERROR_INVALID_ARGUMENT, "position 6: the equation has 3 operand terms"},
        {"ij->i", {{2, 3}, {3, 4}}, SK_ERROR_INVALID_ARGUMENT, "position 2: the equation has 1 operand terms"},
        {"ij,jk->ik", {{2, 3}, {4, 4}}, SK_ERROR_SHAPE, "position 3: label 'j' has extent 4 in operand 1 but 3"},
        {"ij,jk->ik", {{2, 3, 1}, {3, 4}}, SK_ERROR_SHAPE, "position 0: operand 0 has 2 labels but rank 3"},
        {"i..j->i", {{2, 3}}, SK_ERROR_INVALID_ARGUMENT, "position 1: '.' must be part of '...'"},
        {"...i...->i", {{2, 3}}, SK_ERROR_INVALID_ARGUMENT, "position 4: a second '...'"},
        {"ijk,k->ij", {{2, 3}, {3}}, SK_ERROR_SHAPE, "position 0: operand 0 has 3 labels but rank 2"},
        {"i-j->i", {{2, 3}}, SK_ERROR_INVALID_ARGUMENT, "position 1: '->' may appear only once"},
        {"ij->ijklmnopq", {{2, 3}}, SK_ERROR_INVALID_ARGUMENT, "position 6: output label 'k' does not appear"},
        {"i 1->i", {{2, 3}}, SK_ERROR_INVALID_ARGUMENT, "position 2: unknown character '1'"},
    };
    for (const auto &b : bad) {
        sk_einsum_options o{};
        o.struct_size = sizeof(o);
        o.semiring = SK_SEMIRING_REAL;
        std::vector<int32_t> ranks;
        std::vector<int64_t> shapes;
        for (auto &s : b.shapes) {
            ranks.push_back(static_cast<int32_t>(s.size()));
            shapes.insert(shapes.end(), s.begin(), s.end());
        }
        sk_einsum_plan *plan = reinterpret_cast<sk_einsum_plan *>(0x1);
        const sk_status st = sk_einsum_plan_create(b.equation, static_cast<int32_t>(ranks.size()), ranks.data(),
                                                   shapes.data(), &o, &plan);
        CHECK_MSG(st == b.status, b.equation << ": status " << sk_status_name(st) << " " << sk_last_error());
        CHECK_MSG(std::strstr(sk_last_error(), b.expect) != nullptr,
                  b.equation << ": message '" << sk_last_error() << "' lacks '" << b.expect << "'");
        CHECK(plan == reinterpret_cast<sk_einsum_plan *>(0x1));  // untouched
    }
    // Eight output labels are fine, nine are not (a rank-9 output).
    sk_einsum_options o{};
    o.struct_size = sizeof(o);
    const int32_t r[] = {8, 1};
    const int64_t s[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    sk_einsum_plan *plan = nullptr;
    CHECK_OK(sk_einsum_plan_create("abcdefgh,i->abcdefgh", 2, r, s, &o, &plan));
    sk_einsum_plan_destroy(plan);
    CHECK_EQ(sk_einsum_plan_create("abcdefgh,i->abcdefghi", 2, r, s, &o, &plan), SK_ERROR_SHAPE);
    CHECK(std::strstr(sk_last_error(), "position 12: the output has rank 9") != nullptr);
}

TEST_MAIN()
