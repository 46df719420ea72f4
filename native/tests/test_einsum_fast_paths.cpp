// The single-step fast paths of the einsum (native/src/einsum/NOTES.md, "Fast paths"): a plan of
// one contraction runs its backward on the matmul engine's backward and takes its argmax straight
// from the matmul. Every case runs twice through the public API: the equation itself (one
// Contract step: the fast paths) and the same equation with one more operand, a scalar holding the
// semiring's one ("ij,jk,->ik"), whose plan has two steps and therefore takes the generic paths
// (trace, derived einsums, routing). Values, argmax and gradients must agree with each other
// and with the long double brute force of einsum_test_util.h, for every semiring with a gradient,
// float32 and float64, transposed and strided layouts, batch broadcasting, diagonals, strided
// gradient tensors, -inf rows, ties, both zero-gradient conventions, given and recomputed argmax;
// and the fast paths are bitwise reproducible and independent of the thread count.
#include <cstring>

#include "einsum_test_util.h"

using namespace sktest;

namespace {

const int32_t kGradSemirings[] = {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN};

bool is_selection(int32_t s) { return s == SK_SEMIRING_MAX || s == SK_SEMIRING_MIN; }

template <class T>
Ld tol_of() {
    return std::is_same_v<T, float> ? Ld(2e-4) : Ld(1e-10);
}

// The semiring's one (the value of the extra scalar operand of the generic twin).
double one_of(int32_t semiring) { return semiring == SK_SEMIRING_REAL ? 1.0 : 0.0; }

// The same equation with one more operand, a scalar: a two-step plan (the generic paths).
Case generic_twin(const Case &c) {
    const auto arrow = c.equation.find("->");
    std::vector<std::vector<int64_t>> shapes = c.shapes;
    shapes.push_back({});
    return make_case(c.equation.substr(0, arrow) + ",->" + c.equation.substr(arrow + 2), shapes);
}

std::vector<int64_t> argmax_shape(const Case &c) {
    auto s = output_shape(c);
    s.push_back(static_cast<int64_t>(c.summed.size()));
    return s;
}

template <class T>
std::vector<Ld> dense(HostTensor<T> &t) {
    std::vector<Ld> v;
    std::vector<int64_t> shape(t.desc.shape, t.desc.shape + t.desc.rank);
    for_each_index(shape, [&](const std::vector<int64_t> &idx) {
        v.push_back(static_cast<Ld>(t.storage[static_cast<size_t>(offset_of<T>(t.desc, idx))]));
    });
    return v;
}

enum class Argmax { None, Int32, Int64 };

// How one run lays out and calls things.
struct Setup {
    int32_t semiring = SK_SEMIRING_REAL;
    int32_t convention = SK_EINSUM_ZERO_GRADIENT_ZERO;
    bool strided_out = false;    // output / grad_out / argmax with permuted strides and gaps
    bool strided_grads = false;  // the caller's gradient tensors likewise
    Argmax argmax = Argmax::None;  // MAX/MIN: argmax requested by the forward
    bool give_argmax = false;      // ... and passed to the backward (else recomputed)
    int threads = 0;               // 0: the context's default
};

struct Outcome {
    std::vector<Ld> out;
    std::vector<Ld> argmax;
    std::vector<std::vector<Ld>> grads;  // per operand of the original equation
};

// Runs forward and backward of `c` (or of its generic twin) on the given operands. `layout_seed`
// fixes the strided layouts, so the fast and the generic run see the same ones.
template <class T>
Outcome run_case(const Case &c, bool generic, const Setup &s, std::vector<HostTensor<T>> &ops,
                 HostTensor<T> &grad_out_dense, uint64_t layout_seed) {
    Context ctx;
    if (s.threads > 0) CHECK_OK(sk_context_set_num_threads(ctx, s.threads));
    const Case run_c = generic ? generic_twin(c) : c;
    sk_einsum_plan *plan = make_plan(run_c, s.semiring, s.convention);
    Outcome r;
    if (!plan) return r;
    std::mt19937_64 layout(layout_seed);
    HostTensor<T> scalar({}, static_cast<T>(one_of(s.semiring)));
    std::vector<const sk_tensor *> op_ptrs;
    for (auto &t : ops) op_ptrs.push_back(t.d());
    if (generic) op_ptrs.push_back(scalar.d());
    HostTensor<T> out = strided_tensor<T>(output_shape(c), layout, s.strided_out);
    for (auto &x : out.storage) x = T(-777);
    HostTensor<T> grad_out = strided_tensor<T>(output_shape(c), layout, s.strided_out);
    {
        std::vector<int64_t> shape = output_shape(c);
        size_t n = 0;
        for_each_index(shape, [&](const std::vector<int64_t> &idx) {
            grad_out.storage[static_cast<size_t>(offset_of<T>(grad_out.desc, idx))] = grad_out_dense.storage[n++];
        });
    }
    HostTensor<int32_t> am32 = strided_tensor<int32_t>(argmax_shape(c), layout, s.strided_out);
    HostTensor<int64_t> am64 = strided_tensor<int64_t>(argmax_shape(c), layout, s.strided_out);
    for (auto &x : am32.storage) x = -9;
    for (auto &x : am64.storage) x = -9;
    sk_tensor *am = nullptr;
    if (is_selection(s.semiring) && s.argmax == Argmax::Int32) am = am32.d();
    if (is_selection(s.semiring) && s.argmax == Argmax::Int64) am = am64.d();
    CHECK_OK(sk_einsum_forward(ctx, plan, op_ptrs.data(), out.d(), am));
    r.out = dense(out);
    if (am) r.argmax = s.argmax == Argmax::Int32 ? dense(am32) : dense(am64);
    std::vector<HostTensor<T>> grads;
    for (auto &shape : c.shapes) {
        grads.push_back(strided_tensor<T>(shape, layout, s.strided_grads));
        for (auto &x : grads.back().storage) x = T(12345);
    }
    std::vector<sk_tensor *> grad_ptrs;
    for (auto &g : grads) grad_ptrs.push_back(g.d());
    if (generic) grad_ptrs.push_back(nullptr);
    CHECK_OK(sk_einsum_backward(ctx, plan, op_ptrs.data(), out.d(), s.give_argmax ? am : nullptr, grad_out.d(),
                                grad_ptrs.data()));
    for (auto &g : grads) r.grads.push_back(dense(g));
    sk_einsum_plan_destroy(plan);
    return r;
}

// got vs want, element by element: |got - want| <= tol * (1 + scale) (NaN matches NaN, equal
// infinities match). Reports the first few differences.
int compare(const std::vector<Ld> &got, const std::vector<Ld> &want, Ld tol, const std::string &what) {
    int bad = 0;
    if (got.size() != want.size()) {
        CHECK_MSG(false, what << ": " << got.size() << " elements, want " << want.size());
        return 1;
    }
    Ld scale = 1;
    for (Ld x : want)
        if (std::isfinite(x)) scale = std::max(scale, std::fabs(x));
    for (size_t n = 0; n < got.size(); ++n)
        if (!close(got[n], want[n], 0, tol * scale) && bad++ < 3)
            CHECK_MSG(false, what << " element " << n << ": got " << static_cast<double>(got[n]) << " want "
                                  << static_cast<double>(want[n]));
    return bad;
}

// The operands of a case: random values for the semiring, optionally an all-zero (semiring zero)
// row of operand 0 (its first index along every dimension but the last), optionally small
// integers (ties for MAX/MIN).
template <class T>
std::vector<HostTensor<T>> make_operands(const Case &c, int32_t semiring, std::mt19937_64 &rng, bool strided,
                                         bool zero_row, bool integers) {
    std::vector<HostTensor<T>> ops;
    for (auto &shape : c.shapes) {
        ops.push_back(strided_tensor<T>(shape, rng, strided));
        fill_for(ops.back(), semiring, rng, integers ? 0.0 : 0.05);
        if (integers)
            for (auto &x : ops.back().storage) x = static_cast<T>(static_cast<int>(rng() % 5) - 2);
    }
    if (zero_row && !c.shapes[0].empty()) {
        const T zero = semiring == SK_SEMIRING_REAL ? T(0) : semiring == SK_SEMIRING_MIN ? T(INFINITY) : T(-INFINITY);
        const auto &shape = c.shapes[0];
        for (int64_t t = 0; t < shape.back(); ++t) {
            std::vector<int64_t> idx(shape.size(), 0);
            idx.back() = t;
            ops[0].storage[static_cast<size_t>(offset_of<T>(ops[0].desc, idx))] = zero;
        }
    }
    return ops;
}

// One case: fast vs generic vs brute force. Returns the number of mismatches.
template <class T>
int check_fast_path(const Case &c, const Setup &s, std::mt19937_64 &rng, bool strided_ops, bool zero_row,
                    bool integers, const std::string &label) {
    auto ops = make_operands<T>(c, s.semiring, rng, strided_ops, zero_row, integers);
    HostTensor<T> grad_out(output_shape(c));
    fill_uniform(grad_out, rng, -1, 1);
    const uint64_t layout_seed = rng();
    const Outcome fast = run_case<T>(c, false, s, ops, grad_out, layout_seed);
    const Outcome generic = run_case<T>(c, true, s, ops, grad_out, layout_seed);
    std::vector<HostTensor<T> *> refs;
    for (auto &t : ops) refs.push_back(&t);
    const EinsumRef ref = reference_einsum(c, s.semiring, refs, &grad_out, s.convention == SK_EINSUM_ZERO_GRADIENT_NAN);
    const std::string what = label + " '" + c.equation + "' " + semiring_label(s.semiring) +
                             (std::is_same_v<T, float> ? " f32" : " f64");
    const Ld tol = tol_of<T>();
    int bad = compare(fast.out, ref.value, tol * (s.semiring == SK_SEMIRING_REAL ? 10 : 1), what + " out");
    bad += compare(fast.out, generic.out, tol, what + " out fast vs generic");
    if (!fast.argmax.empty()) {
        std::vector<Ld> want(ref.argmax.begin(), ref.argmax.end());
        bad += compare(fast.argmax, want, 0, what + " argmax");
        bad += compare(fast.argmax, generic.argmax, 0, what + " argmax fast vs generic");
    }
    for (size_t i = 0; i < c.shapes.size(); ++i) {
        const std::string g = what + " grad[" + std::to_string(i) + "]";
        bad += compare(fast.grads[i], ref.grad[i], tol * 10, g);
        bad += compare(fast.grads[i], generic.grads[i], tol * 20, g + " fast vs generic");
    }
    return bad;
}

// The equations whose plans are one Contract step, with the layouts the fast paths handle:
// plain and transposed operands and outputs, several batch labels, no batch, matrix-vector and
// dot products, two summed labels (S = 2), batch broadcasting (a shared operand), a diagonal
// operand, an output whose label groups need a copy.
std::vector<Case> single_step_cases() {
    return {
        make_case("bij,bjk->bik", {{3, 5, 6}, {3, 6, 4}}),
        make_case("ij,jk->ik", {{7, 9}, {9, 5}}),
        make_case("bji,bkj->bik", {{2, 6, 5}, {2, 4, 6}}),
        make_case("ik,kj->ji", {{5, 6}, {6, 4}}),
        make_case("abij,abjk->abik", {{2, 3, 4, 5}, {2, 3, 5, 2}}),
        make_case("abij,abjk->aibk", {{2, 3, 4, 5}, {2, 3, 5, 2}}),
        make_case("bij,bj->bi", {{3, 4, 5}, {3, 5}}),
        make_case("j,jk->k", {{6}, {6, 4}}),
        make_case("bj,bj->b", {{4, 7}, {4, 7}}),
        make_case("bijl,bjlk->bik", {{2, 4, 3, 2}, {2, 3, 2, 5}}),
        make_case("bij,bjk->bik", {{1, 5, 6}, {4, 6, 3}}),
        make_case("bij,bjk->bik", {{4, 5, 6}, {1, 6, 3}}),
        make_case("...ij,...jk->...ik", {{1, 1, 4, 5}, {2, 3, 5, 3}}),
        make_case("bii,bik->bk", {{2, 4, 4}, {2, 4, 3}}),
        make_case("bij,bjk->bik", {{1, 4, 5}, {1, 5, 3}}),
        make_case("bii,bik->bk", {{1, 4, 4}, {3, 4, 2}}),  // a shared diagonal operand
    };
}

// Equations that look like one matmul but keep the generic backward: a summed label broadcast
// in one operand, batch broadcasts of only some batch labels.
std::vector<Case> near_single_step_cases() {
    return {
        make_case("ij,jk->ik", {{3, 1}, {4, 5}}),
        make_case("...ij,...jk->...ik", {{2, 1, 4, 5}, {1, 3, 5, 3}}),
        make_case("abij,abjk->abik", {{1, 3, 4, 5}, {2, 3, 5, 2}}),
    };
}

template <class T>
void every_setup(const Case &c, std::mt19937_64 &rng, const std::string &label) {
    for (int32_t semiring : kGradSemirings) {
        for (int variant = 0; variant < 4; ++variant) {
            Setup s;
            s.semiring = semiring;
            s.strided_out = variant & 1;
            s.strided_grads = variant & 2;
            s.argmax = variant % 3 == 0 ? Argmax::Int32 : variant % 3 == 1 ? Argmax::Int64 : Argmax::None;
            s.give_argmax = s.argmax != Argmax::None && (variant & 2);
            const int bad = check_fast_path<T>(c, s, rng, variant >= 2, false, false, label);
            CHECK_MSG(bad == 0, label << " '" << c.equation << "' " << semiring_label(semiring) << " variant " << variant);
        }
    }
}

}  // namespace

TEST(single_step_fast_paths_match_generic_and_brute_force_float64) {
    std::mt19937_64 rng(61);
    for (const Case &c : single_step_cases()) every_setup<double>(c, rng, "f64");
}

TEST(single_step_fast_paths_match_generic_and_brute_force_float32) {
    std::mt19937_64 rng(62);
    for (const Case &c : single_step_cases()) every_setup<float>(c, rng, "f32");
}

TEST(near_single_step_equations_keep_the_generic_semantics) {
    std::mt19937_64 rng(63);
    for (const Case &c : near_single_step_cases()) {
        every_setup<double>(c, rng, "near f64");
        every_setup<float>(c, rng, "near f32");
    }
}

// Rows of operand 0 at the semiring zero: LOG outputs of -inf (gradient 0 under the ZERO
// convention, on the fast path; NaN under the NaN convention, on the generic path), MAX/MIN
// outputs at the zero (argmax -1, nothing routed), REAL zeros.
TEST(semiring_zero_rows_under_both_conventions) {
    std::mt19937_64 rng(64);
    const std::vector<Case> cases = {make_case("bij,bjk->bik", {{2, 4, 5}, {2, 5, 3}}),
                                     make_case("ij,jk->ik", {{4, 6}, {6, 3}}),
                                     make_case("bij,bjk->bik", {{1, 4, 5}, {3, 5, 3}}),
                                     make_case("bijl,bjlk->bik", {{2, 3, 2, 2}, {2, 2, 2, 4}})};
    for (const Case &c : cases)
        for (int32_t semiring : kGradSemirings)
            for (int32_t convention : {SK_EINSUM_ZERO_GRADIENT_ZERO, SK_EINSUM_ZERO_GRADIENT_NAN})
                for (int given = 0; given < 2; ++given) {
                    Setup s;
                    s.semiring = semiring;
                    s.convention = convention;
                    s.argmax = given ? Argmax::Int32 : Argmax::Int64;
                    s.give_argmax = given;
                    s.strided_grads = given;
                    CHECK_EQ(check_fast_path<double>(c, s, rng, given, true, false, "zero row f64"), 0);
                    CHECK_EQ(check_fast_path<float>(c, s, rng, !given, true, false, "zero row f32"), 0);
                }
}

// Small integers make many exact ties: the argmax is the lowest flat index of the summed labels
// on both paths (and in the brute force), and the gradients follow it.
TEST(ties_take_the_lowest_index_on_the_fast_path) {
    std::mt19937_64 rng(65);
    const std::vector<Case> cases = {make_case("bij,bjk->bik", {{2, 5, 7}, {2, 7, 4}}),
                                     make_case("bijl,bjlk->bik", {{2, 3, 3, 2}, {2, 3, 2, 4}}),
                                     make_case("ji,kj->ik", {{6, 3}, {4, 6}})};
    for (const Case &c : cases)
        for (int32_t semiring : {SK_SEMIRING_MAX, SK_SEMIRING_MIN})
            for (int variant = 0; variant < 4; ++variant) {
                Setup s;
                s.semiring = semiring;
                s.argmax = variant & 1 ? Argmax::Int64 : Argmax::Int32;
                s.give_argmax = variant & 2;
                s.strided_out = variant == 1;
                CHECK_EQ(check_fast_path<double>(c, s, rng, variant & 1, false, true, "ties"), 0);
                CHECK_EQ(check_fast_path<float>(c, s, rng, variant & 2, false, true, "ties"), 0);
            }
}

// LOG values the fast backward does not take (a non-finite grad_out, an out of +inf or NaN): the
// fast plan falls back to the generic backward, so both plans agree (NaN where NaN).
TEST(log_backward_falls_back_on_non_finite_values) {
    const Case c = make_case("bij,bjk->bik", {{2, 3, 4}, {2, 4, 3}});
    std::mt19937_64 rng(66);
    for (int scenario = 0; scenario < 4; ++scenario)
        for (int32_t convention : {SK_EINSUM_ZERO_GRADIENT_ZERO, SK_EINSUM_ZERO_GRADIENT_NAN}) {
            auto ops = make_operands<double>(c, SK_SEMIRING_LOG, rng, false, scenario == 3, false);
            HostTensor<double> g(output_shape(c));
            fill_uniform(g, rng, -1, 1);
            if (scenario == 0) g.storage[4] = NAN;
            if (scenario == 1) g.storage[7] = INFINITY;
            if (scenario == 2) ops[0].storage[5] = INFINITY;  // out = +inf in its row
            if (scenario == 3) g.storage[0] = -INFINITY;     // on a -inf output row
            Setup s;
            s.semiring = SK_SEMIRING_LOG;
            s.convention = convention;
            const uint64_t seed = rng();
            const Outcome fast = run_case<double>(c, false, s, ops, g, seed);
            const Outcome generic = run_case<double>(c, true, s, ops, g, seed);
            CHECK_EQ(compare(fast.out, generic.out, 1e-12, "fallback out"), 0);
            for (size_t i = 0; i < 2; ++i) {
                CHECK_EQ(compare(fast.grads[i], generic.grads[i], 1e-10, "fallback grad " + std::to_string(i)), 0);
                // Non-finite gradients appear exactly where the einsum's definition puts them:
                // everywhere but for a -inf grad_out on a -inf row under the ZERO convention.
                int nonfinite = 0;
                for (Ld x : fast.grads[i]) nonfinite += std::isfinite(x) ? 0 : 1;
                const bool expect = !(scenario == 3 && convention == SK_EINSUM_ZERO_GRADIENT_ZERO);
                CHECK_MSG((nonfinite > 0) == expect, "scenario " << scenario << " grad " << i << ": "
                                                                  << nonfinite << " non-finite entries");
            }
        }
}

// The generic LOG backward skips the derived einsum of a weight that is -inf everywhere (W- when
// grad_out >= 0, W+ when grad_out <= 0) and fills its result with -inf: multi-step plans (the
// generic path) against the brute force, with zero rows under both conventions, and a NaN in
// grad_out (a NaN weight: nothing is skipped).
TEST(generic_log_backward_skips_all_minus_infinity_weights) {
    std::mt19937_64 rng(68);
    const std::vector<Case> cases = {make_case("bij,bjk,bk->bi", {{2, 4, 5}, {2, 5, 3}, {2, 3}}),
                                     make_case("ij,jk,kl->il", {{3, 4}, {4, 5}, {5, 2}}),
                                     make_case("ij,jk->ik", {{3, 4}, {4, 2}})};
    for (const Case &c : cases)
        for (int sign = 0; sign < 4; ++sign)  // grad_out >= 0, <= 0, mixed, >= 0 with one NaN
            for (int32_t convention : {SK_EINSUM_ZERO_GRADIENT_ZERO, SK_EINSUM_ZERO_GRADIENT_NAN})
                for (bool zero_row : {false, true}) {
                    auto ops = make_operands<double>(c, SK_SEMIRING_LOG, rng, zero_row, zero_row, false);
                    HostTensor<double> g(output_shape(c));
                    fill_uniform(g, rng, sign == 2 ? -1 : 0, 1);
                    for (auto &x : g.storage) {
                        if (rng() % 4 == 0) x = 0;  // exact zeros: -inf in both weights
                        if (sign == 1) x = -x;
                    }
                    if (sign == 3) g.storage[1] = NAN;
                    Context ctx;
                    sk_einsum_plan *plan = make_plan(c, SK_SEMIRING_LOG, convention);
                    std::vector<const sk_tensor *> op_ptrs;
                    std::vector<HostTensor<double> *> refs;
                    std::vector<HostTensor<double>> grads;
                    std::vector<sk_tensor *> grad_ptrs;
                    for (auto &t : ops) {
                        op_ptrs.push_back(t.d());
                        refs.push_back(&t);
                        grads.emplace_back(std::vector<int64_t>(t.desc.shape, t.desc.shape + t.desc.rank), 12345.0);
                    }
                    for (auto &t : grads) grad_ptrs.push_back(t.d());
                    HostTensor<double> out(output_shape(c));
                    CHECK_OK(sk_einsum_forward(ctx, plan, op_ptrs.data(), out.d(), nullptr));
                    CHECK_OK(sk_einsum_backward(ctx, plan, op_ptrs.data(), out.d(), nullptr, g.d(), grad_ptrs.data()));
                    const EinsumRef ref = reference_einsum(c, SK_SEMIRING_LOG, refs, &g,
                                                           convention == SK_EINSUM_ZERO_GRADIENT_NAN);
                    for (size_t i = 0; i < ops.size(); ++i)
                        CHECK_EQ(compare(dense(grads[i]), ref.grad[i], 1e-10,
                                         "skip '" + c.equation + "' sign " + std::to_string(sign) + " grad[" +
                                             std::to_string(i) + "]"),
                                 0);
                    sk_einsum_plan_destroy(plan);
                }
}

// The fast paths are bitwise reproducible: run to run and with 1 or 3 threads.
TEST(fast_paths_are_deterministic_and_thread_count_independent) {
    const Case c = make_case("bij,bjk->bik", {{3, 33, 41}, {1, 41, 29}});
    for (int32_t semiring : kGradSemirings) {
        std::mt19937_64 rng(67);
        auto ops = make_operands<float>(c, semiring, rng, true, true, false);
        HostTensor<float> g(output_shape(c));
        fill_uniform(g, rng, -1, 1);
        std::vector<Outcome> runs;
        for (int threads : {1, 3, 3}) {
            Setup s;
            s.semiring = semiring;
            s.argmax = Argmax::Int32;
            s.give_argmax = threads == 1;
            s.threads = threads;
            runs.push_back(run_case<float>(c, false, s, ops, g, 5));
        }
        for (size_t r = 1; r < runs.size(); ++r) {
            CHECK(runs[r].out == runs[0].out);
            CHECK(runs[r].argmax == runs[0].argmax);
            CHECK(runs[r].grads == runs[0].grads);
        }
    }
}

// A bad given argmax on a single-step plan is the einsum's error, and nothing is written.
TEST(bad_argmax_on_the_fast_path_is_rejected_before_writing) {
    Context ctx;
    const Case c = make_case("ij,jk->ik", {{3, 4}, {4, 2}});
    sk_einsum_plan *plan = make_plan(c, SK_SEMIRING_MAX);
    HostTensor<double> a({3, 4}, 1.0), b({4, 2}, 1.0), out({3, 2}), g({3, 2}, 1.0), ga({3, 4}, 7.0), gb({4, 2}, 7.0);
    HostTensor<int32_t> am({3, 2, 1}, 0);
    am.storage[3] = 4;  // outside [-1, 4)
    const sk_tensor *ops[] = {a.d(), b.d()};
    sk_tensor *grads[] = {ga.d(), gb.d()};
    CHECK_OK(sk_einsum_forward(ctx, plan, ops, out.d(), nullptr));
    CHECK_EQ(sk_einsum_backward(ctx, plan, ops, out.d(), am.d(), g.d(), grads), SK_ERROR_INVALID_ARGUMENT);
    CHECK(std::strstr(sk_last_error(), "argument 'argmax'") != nullptr);
    for (double x : ga.storage) CHECK_EQ(x, 7.0);
    for (double x : gb.storage) CHECK_EQ(x, 7.0);
    sk_einsum_plan_destroy(plan);
}

TEST_MAIN()
