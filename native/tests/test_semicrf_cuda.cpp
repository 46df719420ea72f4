// Semi-CRF family: the CUDA backend against the CPU backend, every entry point, on inputs and
// outputs mirrored into device memory. Exits 77 (skipped) without a CUDA device unless
// SK_REQUIRE_CUDA=1. Both backends run the same float64 per-sequence algorithm (semicrf.h), the
// CPU with one lane and the GPU with a thread block, so they agree to float64 rounding
// (the order of every sum is the same; only exp/log implementations differ).
#include <cmath>
#include <memory>

#include "cuda_test_util.h"
#include "semicrf_reference.h"

using namespace sktest;

namespace {

// Everything an op wrote, flattened: float outputs as long double, index outputs exactly.
struct Results {
    std::vector<Ld> values;
    std::vector<int64_t> indices;
};

// Runs every entry point on `ctx`; on a CUDA context, inputs and outputs are mirrored.
template <class T>
Results run_everything(sk_context *ctx, bool cuda, SemiCrfProblem<T> &p) {
    const int64_t B = p.cfg.batch, Tn = p.cfg.steps, C = p.cfg.labels;
    std::vector<std::unique_ptr<DeviceMirror<T>>> float_mirrors;
    std::vector<std::unique_ptr<DeviceMirror<int32_t>>> int_mirrors;
    std::vector<std::unique_ptr<DeviceMirror<int64_t>>> long_mirrors;
    auto dev = [&](HostTensor<T> &h) -> sk_tensor * {
        if (!cuda) return h.d();
        float_mirrors.emplace_back(new DeviceMirror<T>(ctx, h));
        return float_mirrors.back()->d();
    };
    auto dev_i = [&](HostTensor<int32_t> &h) -> sk_tensor * {
        if (!cuda) return h.d();
        int_mirrors.emplace_back(new DeviceMirror<int32_t>(ctx, h));
        return int_mirrors.back()->d();
    };
    auto dev_l = [&](HostTensor<int64_t> &h) -> sk_tensor * {
        if (!cuda) return h.d();
        long_mirrors.emplace_back(new DeviceMirror<int64_t>(ctx, h));
        return long_mirrors.back()->d();
    };
    Results r;
    auto collect = [&](HostTensor<T> &h, sk_tensor *d) {
        HostTensor<T> back = h;
        if (cuda)
            for (auto &m : float_mirrors)
                if (m->d() == d) back = m->host();
        for (auto v : back.storage) r.values.push_back(v);
    };
    auto collect_i = [&](HostTensor<int32_t> &h, sk_tensor *d) {
        HostTensor<int32_t> back = h;
        if (cuda)
            for (auto &m : int_mirrors)
                if (m->d() == d) back = m->host();
        for (auto v : back.storage) r.indices.push_back(v);
    };
    sk_tensor *x = dev(p.x), *tr = dev(p.transition), *db = dev(p.duration_bias);
    sk_tensor *st = p.cfg.with_start ? dev(p.start) : nullptr;
    sk_tensor *ps = p.cfg.with_proj ? dev(p.proj_start) : nullptr;
    sk_tensor *pe = p.cfg.with_proj ? dev(p.proj_end) : nullptr;
    sk_tensor *len = dev_l(p.lengths);
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        auto o = p.options();
        o.semiring = semiring;
        HostTensor<T> z({B}, T(-7));
        sk_tensor *zd = dev(z);
        CHECK_OK(sk_semicrf_forward(ctx, &o, x, tr, db, st, ps, pe, len, zd));
        collect(z, zd);
        HostTensor<T> up({B});
        for (int64_t b = 0; b < B; ++b) up.at({b}) = T(0.5 + b);
        sk_tensor *upd = dev(up);
        SemiCrfGrads<T> g(p);
        sk_tensor *gx = dev(g.x), *gt = dev(g.transition), *gd = dev(g.duration_bias);
        sk_tensor *gs = p.cfg.with_start ? dev(g.start) : nullptr;
        sk_tensor *gps = p.cfg.with_proj ? dev(g.proj_start) : nullptr;
        sk_tensor *gpe = p.cfg.with_proj ? dev(g.proj_end) : nullptr;
        sk_tensor *gv = dev(g.value);
        CHECK_OK(sk_semicrf_backward(ctx, &o, x, tr, db, st, ps, pe, len, upd, gx, gt, gd, gs, gps, gpe, gv));
        collect(g.x, gx);
        collect(g.transition, gt);
        collect(g.duration_bias, gd);
        if (gs) collect(g.start, gs);
        if (gps) collect(g.proj_start, gps);
        if (gpe) collect(g.proj_end, gpe);
        collect(g.value, gv);
        HostTensor<T> boundary({B, Tn}, T(-7)), coverage({B, Tn, C}, T(-7));
        sk_tensor *bd = dev(boundary), *cd = dev(coverage);
        CHECK_OK(sk_semicrf_marginals(ctx, &o, x, tr, db, st, ps, pe, len, bd, cd, nullptr));
        collect(boundary, bd);
        collect(coverage, cd);
        // Gold: the labelling "label t % C" and the segmentation into unit segments.
        HostTensor<int32_t> labels({B, Tn}), segs({B, Tn, 3}, -3), counts({B});
        for (int64_t b = 0; b < B; ++b) {
            counts.at({b}) = static_cast<int32_t>(p.length(b));
            for (int64_t t = 0; t < Tn; ++t) {
                labels.at({b, t}) = static_cast<int32_t>((t / 2) % C);
                segs.at({b, t, 0}) = static_cast<int32_t>(t);
                segs.at({b, t, 1}) = static_cast<int32_t>(t + 1);
                segs.at({b, t, 2}) = static_cast<int32_t>(t % C);
            }
        }
        sk_tensor *ld = dev_i(labels), *sd = dev_i(segs), *nd = dev_i(counts);
        for (int form = 0; form < 2; ++form) {
            HostTensor<T> score({B}, T(-7));
            sk_tensor *scd = dev(score);
            CHECK_OK(sk_semicrf_gold_score(ctx, &o, x, tr, db, st, ps, pe, len, form ? nullptr : sd, form ? nullptr : nd,
                                           form ? ld : nullptr, scd));
            collect(score, scd);
            SemiCrfGrads<T> h(p);
            sk_tensor *hx = dev(h.x), *ht = dev(h.transition), *hd = dev(h.duration_bias), *hv = dev(h.value);
            CHECK_OK(sk_semicrf_gold_score_backward(ctx, &o, x, tr, db, st, ps, pe, len, form ? nullptr : sd,
                                                    form ? nullptr : nd, form ? ld : nullptr, upd, hx, ht, hd, nullptr,
                                                    nullptr, nullptr, hv));
            collect(h.x, hx);
            collect(h.transition, ht);
            collect(h.duration_bias, hd);
            collect(h.value, hv);
        }
    }
    auto o = p.options();
    o.semiring = SK_SEMIRING_MAX;
    HostTensor<T> best({B});
    HostTensor<int32_t> segs({B, Tn, 3}, 9), counts({B}, 9), path({B, Tn}, 9);
    sk_tensor *bd = dev(best), *sd = dev_i(segs), *nd = dev_i(counts), *pd = dev_i(path);
    CHECK_OK(sk_semicrf_viterbi(ctx, &o, x, tr, db, st, ps, pe, len, bd, sd, nd, pd));
    collect(best, bd);
    collect_i(segs, sd);
    collect_i(counts, nd);
    collect_i(path, pd);
    return r;
}

template <class T>
void compare(SemiCrfProblem<T> &p, Ld tol, const std::string &what) {
    Context cpu;
    Context gpu(SK_DEVICE_CUDA, 0);
    CHECK(gpu.ctx != nullptr);
    if (!gpu.ctx) return;
    const Results a = run_everything(cpu.ctx, false, p);
    const Results b = run_everything(gpu.ctx, true, p);
    CHECK_EQ(a.values.size(), b.values.size());
    CHECK(a.indices == b.indices);
    size_t bad = 0;
    for (size_t i = 0; i < a.values.size() && i < b.values.size(); ++i)
        if (!close(b.values[i], a.values[i], tol, tol)) {
            if (++bad <= 5)
                CHECK_MSG(false, what << ": value " << i << " cuda " << (double)b.values[i] << " vs cpu " << (double)a.values[i]);
        }
    CHECK_MSG(bad == 0, what << ": " << bad << " values differ");
}

}  // namespace

TEST(cuda_matches_cpu_on_every_entry_point) {
    if (!require_device_or_skip()) return;
    uint64_t seed = 1;
    for (int variant = 0; variant < 8; ++variant) {
        SemiCrfConfig c;
        c.batch = 3;
        c.steps = 37;
        c.labels = variant == 6 ? 33 : (variant == 7 ? 300 : 4);
        c.durations = variant % 3 == 0 ? 5 : (variant % 3 == 1 ? 1 : 60);
        c.duration_transitions = variant & 1;
        c.cumulative = variant == 2 || variant == 5;
        c.zero_centre = variant == 3;
        c.compat = variant >= 4;
        c.with_start = variant != 5;
        c.lengths = {37, 1, 20};
        SemiCrfProblem<double> p(c, seed++);
        compare(p, 1e-11, "float64 variant " + std::to_string(variant));
        SemiCrfProblem<float> pf(c, seed++);
        compare(pf, 2e-5, "float32 variant " + std::to_string(variant));
    }
}

// The forward's ring in shared memory (small K C) and in global memory (large K C) and a long
// sequence: forward, backward and Viterbi agree with the CPU.
TEST(cuda_long_sequences_and_large_rings) {
    if (!require_device_or_skip()) return;
    for (int variant = 0; variant < 2; ++variant) {
        SemiCrfConfig c;
        c.batch = 2;
        c.steps = variant ? 3000 : 100000;
        c.labels = variant ? 24 : 3;
        c.durations = variant ? 1000 : 16;
        c.lengths = {c.steps, c.steps / 2 + 1};
        SemiCrfProblem<double> p(c, 5 + variant);
        compare(p, 1e-9, "long variant " + std::to_string(variant));
    }
}

TEST_MAIN()
