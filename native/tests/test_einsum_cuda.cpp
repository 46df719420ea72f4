// CPU vs CUDA equivalence of the semiring einsum: random valid equations and the fixed shapes of
// the issue, every semiring, float32 and float64, strided operands; forward values, argmax
// (int32 and int64), backward (with and without a given argmax), blocking under a workspace
// limit, the single-step fast paths (every layout and value case they handle or decline), and
// bitwise determinism on the device. Needs a CUDA device: without one the binary
// reports "skipped" (exit 77) unless SK_REQUIRE_CUDA=1, which makes it a failure.
#include <cstring>
#include <memory>

#include "cuda_test_util.h"
#include "einsum_test_util.h"

using namespace sktest;

namespace {

bool is_selection(int32_t s) { return s == SK_SEMIRING_MAX || s == SK_SEMIRING_MIN; }

// |got - want| <= tol (1 + |want|) elementwise over the whole storage (identical layouts), with
// NaN matching NaN and infinities matching exactly.
template <class T>
int compare(const std::vector<T> &got, const std::vector<T> &want, Ld tol, const std::string &what) {
    int bad = 0;
    for (size_t e = 0; e < got.size(); ++e)
        if (!close(got[e], want[e], 0, tol * (1 + std::fabs(Ld(want[e])))) && bad++ < 3)
            CHECK_MSG(false, what << " storage[" << e << "]: cuda " << got[e] << " cpu " << want[e]);
    return bad;
}

// Operand values beyond fill_for: a row of operand 0 at the semiring zero (its first index along
// every dimension but the last), or small integers (exact ties for MAX/MIN).
enum class Fill { Random, ZeroRow, Integers };

template <class T>
void special_fill(HostTensor<T> &t, size_t operand, int32_t semiring, Fill fill, std::mt19937_64 &rng) {
    if (fill == Fill::Integers)
        for (auto &x : t.storage) x = static_cast<T>(static_cast<int>(rng() % 5) - 2);
    if (fill != Fill::ZeroRow || operand != 0 || t.desc.rank == 0) return;
    const T zero = semiring == SK_SEMIRING_REAL ? T(0) : semiring == SK_SEMIRING_MIN ? T(INFINITY) : T(-INFINITY);
    for (int64_t e = 0; e < t.desc.shape[t.desc.rank - 1]; ++e)
        t.storage[static_cast<size_t>(e * t.desc.strides[t.desc.rank - 1])] = zero;
}

template <class T>
void equivalence(const Case &c, int32_t semiring, std::mt19937_64 &rng, bool strided, bool int64_argmax,
                 int64_t workspace_limit, const std::string &label, int32_t convention = SK_EINSUM_ZERO_GRADIENT_ZERO,
                 Fill fill = Fill::Random) {
    Context cpu, gpu(SK_DEVICE_CUDA, 0);
    CHECK(gpu.ctx != nullptr);
    if (!gpu.ctx) return;
    sk_einsum_plan *plan = make_plan(c, semiring, convention, workspace_limit);
    if (!plan) return;
    const std::string what = label + " '" + c.equation + "' " + semiring_label(semiring);
    const bool sel = is_selection(semiring);
    const bool grad = semiring != SK_SEMIRING_BOOLEAN;
    std::vector<HostTensor<T>> ops, grads;
    for (auto &s : c.shapes) {
        ops.push_back(strided_tensor<T>(s, rng, strided));
        fill_for(ops.back(), semiring, rng);
        special_fill(ops.back(), ops.size() - 1, semiring, fill, rng);
        grads.push_back(strided_tensor<T>(s, rng, strided));
        for (auto &x : grads.back().storage) x = T(-777);  // as the device copies: gaps compare equal
    }
    auto am_shape = output_shape(c);
    am_shape.push_back(static_cast<int64_t>(c.summed.size()));
    HostTensor<T> out = strided_tensor<T>(output_shape(c), rng, strided);
    for (auto &x : out.storage) x = T(-777);
    HostTensor<T> g = strided_tensor<T>(output_shape(c), rng, strided);
    fill_uniform(g, rng, -1, 1);
    HostTensor<int32_t> am32(am_shape, -9);
    HostTensor<int64_t> am64(am_shape, -9);
    // The device outputs start from these untouched copies (all -777), never from CPU results.
    const HostTensor<T> out_initial = out;
    const std::vector<HostTensor<T>> grads_initial = grads;

    // CPU
    std::vector<const sk_tensor *> hops;
    std::vector<sk_tensor *> hgrads;
    for (size_t i = 0; i < ops.size(); ++i) {
        hops.push_back(ops[i].d());
        hgrads.push_back(grads[i].d());
    }
    sk_tensor *ham = sel ? (int64_argmax ? am64.d() : am32.d()) : nullptr;
    CHECK_OK(sk_einsum_forward(cpu, plan, hops.data(), out.d(), ham));
    if (grad) CHECK_OK(sk_einsum_backward(cpu, plan, hops.data(), out.d(), ham, g.d(), hgrads.data()));

    // CUDA, outputs pre-filled with a sentinel
    std::vector<std::unique_ptr<DeviceMirror<T>>> dops, dgrads;
    std::vector<const sk_tensor *> dop_ptrs;
    std::vector<sk_tensor *> dgrad_ptrs;
    for (size_t i = 0; i < ops.size(); ++i) {
        dops.push_back(std::make_unique<DeviceMirror<T>>(gpu, ops[i]));
        dgrads.push_back(std::make_unique<DeviceMirror<T>>(gpu, grads_initial[i]));
        dop_ptrs.push_back(dops.back()->d());
        dgrad_ptrs.push_back(dgrads.back()->d());
    }
    DeviceMirror<T> dout(gpu, out_initial), dg(gpu, g);
    DeviceMirror<int32_t> dam32(gpu, HostTensor<int32_t>(am_shape, -9));
    DeviceMirror<int64_t> dam64(gpu, HostTensor<int64_t>(am_shape, -9));
    sk_tensor *dam = sel ? (int64_argmax ? dam64.d() : dam32.d()) : nullptr;
    CHECK_OK(sk_einsum_forward(gpu, plan, dop_ptrs.data(), dout.d(), dam));
    const Ld tol = std::is_same_v<T, float> ? Ld(1e-4) : Ld(1e-10);
    compare(dout.download(), out.storage, tol, what + " out");
    if (sel) {
        if (int64_argmax) CHECK_MSG(dam64.download() == am64.storage, what << " argmax (int64)");
        else CHECK_MSG(dam32.download() == am32.storage, what << " argmax (int32)");
    }
    if (grad) {
        // Half the MAX/MIN cases pass no argmax, so the device recomputes it.
        const sk_tensor *given = (sel && (rng() & 1)) ? dam : nullptr;
        CHECK_OK(sk_einsum_backward(gpu, plan, dop_ptrs.data(), dout.d(), given, dg.d(), dgrad_ptrs.data()));
        for (size_t i = 0; i < ops.size(); ++i) {
            Ld scale = 1;
            for (T x : grads[i].storage)
                if (std::isfinite(x) && x != T(-777)) scale = std::max(scale, std::fabs(Ld(x)));  // (not the gaps)
            compare(dgrads[i]->download(), grads[i].storage, tol * 10 * scale,
                    what + " grad[" + std::to_string(i) + "]");
        }
    }
    sk_einsum_plan_destroy(plan);
}

}  // namespace

TEST(random_equations_cpu_vs_cuda) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(424242);
    const int32_t semirings[] = {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN,
                                 SK_SEMIRING_BOOLEAN};
    for (int n = 0; n < 80; ++n) {
        const Case c = random_case(rng);
        for (int32_t s : semirings) {
            equivalence<double>(c, s, rng, n % 2 == 0, n % 3 == 0, 0, "f64 #" + std::to_string(n));
            equivalence<float>(c, s, rng, n % 2 == 1, n % 3 == 1, 0, "f32 #" + std::to_string(n));
        }
    }
}

TEST(issue_shapes_cpu_vs_cuda) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(7);
    const std::vector<std::pair<std::string, std::vector<std::vector<int64_t>>>> cases = {
        {"bij,bjk->bik", {{4, 64, 48}, {4, 48, 80}}},
        {"ij,jk->ik", {{96, 128}, {128, 72}}},
        {"bi,bij,bj->b", {{8, 64}, {8, 64, 64}, {8, 64}}},
        {"abc,cd,db->a", {{6, 5, 7}, {7, 4}, {4, 5}}},
        {"ii->i", {{33, 33}}},
        {"...ij,...jk->...ik", {{3, 1, 17, 9}, {2, 9, 11}}},
        {"ij,jk,kl,lm->im", {{20, 30}, {30, 40}, {40, 30}, {30, 20}}},
    };
    for (auto &[eq, shapes] : cases) {
        const Case c = make_case(eq, shapes);
        for (int32_t s : {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN, SK_SEMIRING_BOOLEAN}) {
            equivalence<float>(c, s, rng, true, false, 0, "issue f32");
            equivalence<double>(c, s, rng, false, true, 0, "issue f64");
        }
    }
}

TEST(blocked_cpu_vs_cuda) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(8);
    const Case c = make_case("bij,bjk,bkl->bil", {{3, 40, 6}, {3, 6, 7}, {3, 7, 30}});
    for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        sk_einsum_plan *whole = make_plan(c, s);
        int64_t need = 0;
        CHECK_OK(sk_einsum_plan_workspace_bytes(whole, SK_DTYPE_FLOAT32, 0, &need));
        sk_einsum_plan_destroy(whole);
        equivalence<float>(c, s, rng, true, true, need / 2, "blocked");
    }
}

// The single-step fast paths (one Contract step: backward on the matmul engine's backward, argmax
// straight from the matmul; see native/src/einsum/NOTES.md) on the device against the CPU, which
// runs the same orchestration: plain, transposed and multi-label groups, matrix-vector, S = 2,
// shared (batch-broadcast) operands, a diagonal operand, an output that needs a copy, k- and
// partial-batch broadcasts (generic backward), rows at the semiring zero under both
// zero-gradient conventions (LOG's NaN convention falls back to the generic backward), exact
// ties, strided layouts (gradients through a buffer and a scatter), int32 and int64 argmax.
TEST(single_step_fast_paths_cpu_vs_cuda) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(10);
    const std::vector<std::pair<std::string, std::vector<std::vector<int64_t>>>> cases = {
        {"bij,bjk->bik", {{16, 64, 64}, {16, 64, 64}}},
        {"ij,jk->ik", {{130, 70}, {70, 129}}},
        {"bji,bkj->bik", {{3, 40, 33}, {3, 50, 40}}},
        {"ik,kj->ji", {{45, 60}, {60, 38}}},
        {"abij,abjk->aibk", {{2, 3, 20, 25}, {2, 3, 25, 12}}},
        {"bij,bj->bi", {{5, 40, 50}, {5, 50}}},
        {"bijl,bjlk->bik", {{2, 24, 9, 4}, {2, 9, 4, 30}}},
        {"bij,bjk->bik", {{1, 35, 44}, {6, 44, 27}}},
        {"bij,bjk->bik", {{6, 35, 44}, {1, 44, 27}}},
        {"bii,bik->bk", {{1, 20, 20}, {4, 20, 13}}},
        {"ij,jk->ik", {{30, 1}, {25, 20}}},
        {"...ij,...jk->...ik", {{2, 1, 14, 15}, {1, 3, 15, 13}}},
    };
    for (auto &[eq, shapes] : cases) {
        const Case c = make_case(eq, shapes);
        for (int32_t s : {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN})
            for (int variant = 0; variant < 4; ++variant) {
                const bool strided = variant & 1;
                const bool int64_argmax = variant & 2;
                const int32_t convention = variant >= 2 ? SK_EINSUM_ZERO_GRADIENT_NAN : SK_EINSUM_ZERO_GRADIENT_ZERO;
                const Fill fill = is_selection(s) && variant == 3 ? Fill::Integers : variant % 2 ? Fill::ZeroRow : Fill::Random;
                equivalence<float>(c, s, rng, strided, int64_argmax, 0, "fast f32", convention, fill);
                equivalence<double>(c, s, rng, !strided, !int64_argmax, 0, "fast f64", convention, fill);
            }
    }
}

// Two device runs give bitwise identical outputs and gradients.
TEST(device_results_are_deterministic) {
    if (!require_device_or_skip()) return;
    Context gpu(SK_DEVICE_CUDA, 0);
    std::mt19937_64 rng(9);
    const Case c = make_case("bij,bjk->bik", {{4, 100, 70}, {4, 70, 90}});
    for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL, SK_SEMIRING_MIN}) {
        sk_einsum_plan *plan = make_plan(c, s);
        HostTensor<float> a({4, 100, 70}), b({4, 70, 90}), g({4, 100, 90});
        fill_for(a, s, rng);
        fill_for(b, s, rng);
        fill_uniform(g, rng, -1, 1);
        DeviceMirror<float> da(gpu, a), db(gpu, b), dg(gpu, g);
        std::vector<std::vector<float>> outs, grads, grads_b;
        std::vector<std::vector<int32_t>> argmaxes;
        const bool sel = is_selection(s);
        for (int rep = 0; rep < 2; ++rep) {
            DeviceMirror<float> dout(gpu, HostTensor<float>({4, 100, 90})), dga(gpu, HostTensor<float>({4, 100, 70}));
            DeviceMirror<float> dgb(gpu, HostTensor<float>({4, 70, 90}));
            DeviceMirror<int32_t> dam(gpu, HostTensor<int32_t>({4, 100, 90, 1}));
            const sk_tensor *ops[] = {da.d(), db.d()};
            sk_tensor *gr[] = {dga.d(), dgb.d()};
            CHECK_OK(sk_einsum_forward(gpu, plan, ops, dout.d(), sel ? dam.d() : nullptr));
            // MAX/MIN: the second run passes the forward's argmax (the fast path reads it in place).
            CHECK_OK(sk_einsum_backward(gpu, plan, ops, dout.d(), sel && rep == 1 ? dam.d() : nullptr, dg.d(), gr));
            outs.push_back(dout.download());
            grads.push_back(dga.download());
            grads_b.push_back(dgb.download());
            if (sel) argmaxes.push_back(dam.download());
        }
        CHECK(outs[0] == outs[1]);
        CHECK(grads[0] == grads[1]);
        CHECK(grads_b[0] == grads_b[1]);
        if (sel) CHECK(argmaxes[0] == argmaxes[1]);
        sk_einsum_plan_destroy(plan);
    }
}

TEST_MAIN()
