// CTC: CPU vs CUDA equivalence for every entry point (loss with each reduction, both gradient
// forms, fused log-softmax, posteriors, forced alignment), bitwise determinism on the device,
// every chain-kernel geometry (2 to 32 states per thread), long inputs (T = 10^5 float32), large
// alphabets, grouped processing under a workspace limit, host- and device-resident targets and
// lengths, and device-pointer validation. Needs a CUDA device: without one the binary reports
// "skipped" (exit 77) unless SK_REQUIRE_CUDA=1, which makes it a failure.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "ctc_reference.h"
#include "cuda_test_util.h"

using namespace sktest;

namespace {

template <class T>
Ld tolerance() {
    return std::is_same_v<T, float> ? Ld(3e-5) : Ld(1e-10);
}

// Every element: equal infinities / NaN, else |got - want| <= tol (1 + |want|). Reports the
// worst few mismatches.
template <class T>
void compare(const std::vector<T> &got, const std::vector<T> &want, Ld tol, const std::string &label) {
    CHECK_MSG(got.size() == want.size(), label << ": sizes differ");
    int bad = 0;
    for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
        const Ld g = got[i], w = want[i];
        bool ok;
        if (std::isnan(w))
            ok = std::isnan(g);
        else if (std::isinf(w))
            ok = g == w;
        else
            ok = std::isfinite(g) && std::fabs(g - w) <= tol * (1 + std::fabs(w));
        if (!ok && bad++ < 5)
            CHECK_MSG(false, label << "[" << i << "]: cuda " << static_cast<double>(g) << " cpu " << static_cast<double>(w));
    }
}

struct IndexMirrors {
    // Index tensors on the device (or, with on_host, the host descriptors themselves).
    IndexTensors host;
    std::unique_ptr<DeviceMirror<int32_t>> t32, in32, tl32;
    std::unique_ptr<DeviceMirror<int64_t>> t64, in64, tl64;
    bool on_host;
    IndexMirrors(sk_context *gpu, IndexTensors h, bool host_resident) : host(std::move(h)), on_host(host_resident) {
        if (on_host) return;
        if (host.t64)
            t64 = std::make_unique<DeviceMirror<int64_t>>(gpu, host.targets64);
        else
            t32 = std::make_unique<DeviceMirror<int32_t>>(gpu, host.targets32);
        if (host.l64) {
            in64 = std::make_unique<DeviceMirror<int64_t>>(gpu, host.in64);
            tl64 = std::make_unique<DeviceMirror<int64_t>>(gpu, host.tl64);
        } else {
            in32 = std::make_unique<DeviceMirror<int32_t>>(gpu, host.in32);
            tl32 = std::make_unique<DeviceMirror<int32_t>>(gpu, host.tl32);
        }
    }
    sk_tensor *targets() { return on_host ? host.targets() : (host.t64 ? t64->d() : t32->d()); }
    sk_tensor *input_lengths() { return on_host ? host.input_lengths() : (host.l64 ? in64->d() : in32->d()); }
    sk_tensor *target_lengths() { return on_host ? host.target_lengths() : (host.l64 ? tl64->d() : tl32->d()); }
};

struct Settings {
    int32_t reduction = SK_CTC_REDUCTION_NONE;
    int32_t zero_infinity = 0;
    bool index_on_host = false;
    bool check_paths_exactly = true;
    bool skip_align = false;
    bool skip_posteriors = false;
};

// Runs every entry point on the CPU and on the device and compares.
template <class T>
void equivalence(const CtcCase &k, const CtcForm &f, const Settings &st, std::mt19937_64 &rng, const std::string &label) {
    Context cpu, gpu(SK_DEVICE_CUDA, 0);
    CHECK(gpu.ctx != nullptr);
    if (!gpu.ctx) return;
    const Ld tol = tolerance<T>();
    auto x = make_log_probs<T>(k, f, NAN);  // NaN past every input length must not leak
    auto idx = make_index_tensors(k, f);
    IndexMirrors didx(gpu, idx, st.index_on_host);
    DeviceMirror<T> dx(gpu, x);
    const bool none = st.reduction == SK_CTC_REDUCTION_NONE;
    HostTensor<T> g = none ? HostTensor<T>({k.B}) : scalar<T>(T(0.625));
    if (none) fill_uniform(g, rng, -2, 2);
    DeviceMirror<T> dg(gpu, g);
    const auto loss_shape = none ? std::vector<int64_t>{k.B} : std::vector<int64_t>{};

    for (int32_t form : {SK_CTC_GRADIENT_LOG_PROBS, SK_CTC_GRADIENT_FUSED_LOGITS}) {
        auto o = ctc_options(k, f, st.reduction, form, st.zero_infinity);
        HostTensor<T> loss(loss_shape, T(-5)), grad = like_log_probs<T>(k, f, T(-5));
        CHECK_OK(sk_ctc_loss_backward(cpu, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), g.d(),
                                      grad.d(), loss.d()));
        DeviceMirror<T> dloss(gpu, HostTensor<T>(loss_shape, T(-7))), dgrad(gpu, like_log_probs<T>(k, f, T(-7)));
        CHECK_OK(sk_ctc_loss_backward(gpu, &o, dx.d(), didx.targets(), didx.input_lengths(), didx.target_lengths(),
                                      dg.d(), dgrad.d(), dloss.d()));
        const std::string l2 = label + (form ? " fused" : " true");
        compare(dloss.download(), loss.storage, tol, l2 + " backward loss");
        const auto first = dgrad.download();
        compare(first, grad.storage, tol, l2 + " gradient");
        // bitwise reproducible
        CHECK_OK(sk_ctc_loss_backward(gpu, &o, dx.d(), didx.targets(), didx.input_lengths(), didx.target_lengths(),
                                      dg.d(), dgrad.d(), nullptr));
        CHECK_MSG(std::memcmp(first.data(), dgrad.download().data(), first.size() * sizeof(T)) == 0,
                  l2 << ": gradient not bitwise reproducible");
        // forward alone
        DeviceMirror<T> dloss2(gpu, HostTensor<T>(loss_shape, T(-7)));
        CHECK_OK(sk_ctc_loss(gpu, &o, dx.d(), didx.targets(), didx.input_lengths(), didx.target_lengths(), dloss2.d()));
        compare(dloss2.download(), loss.storage, tol, l2 + " forward loss");
    }
    {  // fused log-softmax on the same values used as logits
        auto o = ctc_options(k, f, st.reduction, SK_CTC_GRADIENT_LOG_PROBS, st.zero_infinity);
        HostTensor<T> loss(loss_shape, T(-5)), grad = like_log_probs<T>(k, f, T(-5));
        CHECK_OK(sk_ctc_loss_fused_logits(cpu, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                                          g.d(), loss.d(), grad.d()));
        DeviceMirror<T> dloss(gpu, HostTensor<T>(loss_shape, T(-7))), dgrad(gpu, like_log_probs<T>(k, f, T(-7)));
        CHECK_OK(sk_ctc_loss_fused_logits(gpu, &o, dx.d(), didx.targets(), didx.input_lengths(), didx.target_lengths(),
                                          dg.d(), dloss.d(), dgrad.d()));
        compare(dloss.download(), loss.storage, tol, label + " fused-logits loss");
        compare(dgrad.download(), grad.storage, tol, label + " fused-logits gradient");
        DeviceMirror<T> dloss2(gpu, HostTensor<T>(loss_shape, T(-7)));
        CHECK_OK(sk_ctc_loss_fused_logits(gpu, &o, dx.d(), didx.targets(), didx.input_lengths(), didx.target_lengths(),
                                          nullptr, dloss2.d(), nullptr));
        compare(dloss2.download(), loss.storage, tol, label + " fused-logits loss only");
    }
    auto o = ctc_options(k, f);
    if (!st.skip_posteriors) {
        const int64_t W = 2 * k.max_target() + 2;
        HostTensor<T> post({k.B, k.T, W}, T(-5));
        CHECK_OK(sk_ctc_posteriors(cpu, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), post.d()));
        DeviceMirror<T> dpost(gpu, HostTensor<T>({k.B, k.T, W}, T(-7)));
        CHECK_OK(sk_ctc_posteriors(gpu, &o, dx.d(), didx.targets(), didx.input_lengths(), didx.target_lengths(), dpost.d()));
        compare(dpost.download(), post.storage, tol, label + " posteriors");
    }
    if (st.skip_align) return;
    HostTensor<int32_t> path({k.B, k.T}, -5), spans({k.B, k.max_target() + 1, 2}, -5);
    HostTensor<T> scores({k.B, k.T}, T(-5)), score({k.B}, T(-5));
    CHECK_OK(sk_ctc_forced_align(cpu, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), path.d(),
                                 spans.d(), scores.d(), score.d()));
    DeviceMirror<int32_t> dpath(gpu, HostTensor<int32_t>({k.B, k.T}, -7)),
        dspans(gpu, HostTensor<int32_t>({k.B, k.max_target() + 1, 2}, -7));
    DeviceMirror<T> dscores(gpu, HostTensor<T>({k.B, k.T}, T(-7))), dscore(gpu, HostTensor<T>({k.B}, T(-7)));
    CHECK_OK(sk_ctc_forced_align(gpu, &o, dx.d(), didx.targets(), didx.input_lengths(), didx.target_lengths(),
                                 dpath.d(), dspans.d(), dscores.d(), dscore.d()));
    compare(dscore.download(), score.storage, tol, label + " viterbi score");
    const auto gpath = dpath.download();
    const auto gscores = dscores.download();
    if (st.check_paths_exactly) {
        CHECK_MSG(gpath == path.storage, label << ": viterbi path differs");
        CHECK_MSG(dspans.download() == spans.storage, label << ": spans differ");
        compare(gscores, scores.storage, Ld(0), label + " frame scores");
        return;
    }
    // Long inputs: float rounding may break near-ties differently. The device path must be a
    // valid alignment whose score (recomputed here) is the optimum.
    const auto gscore = dscore.download();
    for (int64_t b = 0; b < k.B; ++b) {
        const int64_t Tb = k.input_length[static_cast<size_t>(b)];
        if (path.at({b, 0}) == -1 && Tb > 0) {
            for (int64_t t = 0; t < k.T; ++t) CHECK(gpath[static_cast<size_t>(b * k.T + t)] == -1);
            continue;
        }
        Ld total = 0;
        std::vector<int32_t> collapsed;
        for (int64_t t = 0; t < Tb; ++t) {
            const int32_t c = gpath[static_cast<size_t>(b * k.T + t)];
            CHECK(c >= 0 && c < k.C);
            if (c < 0 || c >= k.C) return;
            total += static_cast<T>(k.at(b, t, c));
            if (c != k.blank && (t == 0 || gpath[static_cast<size_t>(b * k.T + t - 1)] != c)) collapsed.push_back(c);
        }
        CHECK_MSG(collapsed == k.targets[static_cast<size_t>(b)], label << " b=" << b << ": device path is not an alignment");
        CHECK_MSG(std::fabs(total - Ld(score.storage[static_cast<size_t>(b)])) <= 1e-4L * (1 + std::fabs(total)),
                  label << " b=" << b << ": device path scores " << static_cast<double>(total) << ", optimum "
                        << score.storage[static_cast<size_t>(b)]);
        CHECK(std::fabs(Ld(gscore[static_cast<size_t>(b)]) - total) <= 1e-4L * (1 + std::fabs(total)));
    }
}

CtcCase random_case(std::mt19937_64 &rng, int64_t B, int64_t T, int64_t C, int64_t min_L, int64_t max_L,
                    int32_t blank, double repeat_bias = 0.2) {
    CtcCase k;
    k.T = T;
    k.B = B;
    k.C = C;
    k.blank = blank;
    std::uniform_int_distribution<int64_t> len(min_L, max_L);
    std::uniform_int_distribution<int64_t> frames(std::min<int64_t>(T, 2 * max_L + 2), T);
    for (int64_t b = 0; b < B; ++b) {
        k.targets.push_back(random_target(rng, len(rng), C, blank, repeat_bias));
        k.input_length.push_back(b == 0 ? T : frames(rng));
    }
    random_log_probs(k, rng, 3.0);
    return k;
}

}  // namespace

TEST(cuda_small_cases_every_form) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(101);
    for (int rep = 0; rep < 8; ++rep) {
        CtcCase k = random_case(rng, 7, 20 + rep, 3 + rep, 0, 6, static_cast<int32_t>(rep % (3 + rep)));
        // edge cases in one batch: empty target, zero frames, infeasible, all-identical labels
        k.targets[1] = {};
        k.input_length[2] = 0;
        k.targets[3] = std::vector<int32_t>(static_cast<size_t>(k.T), (k.blank + 1) % static_cast<int32_t>(k.C));
        k.targets[4] = std::vector<int32_t>(4, (k.blank + 1) % static_cast<int32_t>(k.C));
        k.input_length[4] = 7;  // exactly L + repeats
        CtcForm f;
        f.batch_major = rep & 1;
        f.concatenated = rep & 2;
        f.int64_targets = rep & 4;
        f.int64_lengths = rep % 3 == 0;
        f.class_pad = rep % 2;
        Settings st;
        st.reduction = rep % 3;
        st.zero_infinity = rep % 2;
        st.index_on_host = rep % 4 == 1;
        const std::string label = "small rep " + std::to_string(rep);
        equivalence<float>(k, f, st, rng, label + " f32");
        equivalence<double>(k, f, st, rng, label + " f64");
    }
}

// Target lengths that select every states-per-thread variant of the chain kernels (K = 2, 4, 8,
// 16, 32) for any SK_CTC_CHAIN_TARGET_THREADS from 32 to 512 (K is the smallest power of two
// >= 2 with ceil(S / K) <= the target), beyond seqdist's 511-label limit. Sequence 0 has exactly
// L labels, so the batch's largest S (which picks K) is 2L + 1. float32 runs mixed_chain_kernel,
// float64 chain_kernel.
TEST(cuda_every_chain_geometry) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(103);
    for (int64_t L : {10, 30, 60, 100, 200, 400, 900, 2000, 3000, 4200}) {
        CtcCase k = random_case(rng, L >= 2000 ? 2 : 3, 2 * L + 50, 40, std::max<int64_t>(L - 20, 0), L, 0, 0.1);
        k.targets[0] = random_target(rng, L, k.C, 0, 0.1);
        if (L >= 2000) {  // one long and one short sequence in the same launch
            k.targets[1] = random_target(rng, 30, k.C, 0);
            k.input_length[1] = 100;
        }
        CtcForm f;
        Settings st;
        st.check_paths_exactly = false;
        st.skip_posteriors = L > 2000;  // (B, T, 2L + 2) would not fit comfortably in host memory
        equivalence<float>(k, f, st, rng, "L=" + std::to_string(L) + " f32");
        if (L <= 900) equivalence<double>(k, f, st, rng, "L=" + std::to_string(L) + " f64");
    }
}

// The benchmark shapes (smaller batches): time-major, C from 5 to 5000.
TEST(cuda_benchmark_shapes) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(107);
    struct Shape {
        int64_t T, B, C, lo, hi;
    };
    for (const Shape &s : {Shape{500, 16, 20, 80, 100}, Shape{1000, 8, 64, 150, 200}, Shape{2000, 4, 5, 300, 400},
                           Shape{800, 8, 1024, 50, 150}, Shape{1500, 4, 5000, 100, 200}}) {
        CtcCase k = random_case(rng, s.B, s.T, s.C, s.lo, s.hi, 0, 0.1);
        Settings st;
        st.check_paths_exactly = false;
        st.reduction = SK_CTC_REDUCTION_MEAN;
        equivalence<float>(k, CtcForm{}, st, rng, "bench T=" + std::to_string(s.T) + " C=" + std::to_string(s.C));
    }
}

// float32 over 10^5 frames: the device recursion (float64 accumulation and stores) does not
// drift from the CPU's, and posteriors of states far below the running maximum keep their
// precision (float32 stores lost ~2e-4 here).
TEST(cuda_hundred_thousand_frames) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(109);
    CtcCase k = random_case(rng, 2, 100000, 12, 200, 300, 0, 0.1);
    CtcForm f;
    f.batch_major = true;
    Context cpu, gpu(SK_DEVICE_CUDA, 0);
    auto x = make_log_probs<float>(k, f);
    auto idx = make_index_tensors(k, f);
    auto o = ctc_options(k, f);
    HostTensor<float> loss({k.B});
    CHECK_OK(sk_ctc_loss(cpu, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), loss.d()));
    DeviceMirror<float> dx(gpu, x), dloss(gpu, HostTensor<float>({k.B}));
    CHECK_OK(sk_ctc_loss(gpu, &o, dx.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), dloss.d()));
    compare(dloss.download(), loss.storage, Ld(2e-6), "T=1e5 loss");
    HostTensor<float> g({k.B}, 1.0f);
    DeviceMirror<float> dg(gpu, g), dgrad(gpu, like_log_probs<float>(k, f, 0.0f));
    auto grad = like_log_probs<float>(k, f, 0.0f);
    CHECK_OK(sk_ctc_loss_backward(cpu, &o, x.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), g.d(),
                                  grad.d(), nullptr));
    CHECK_OK(sk_ctc_loss_backward(gpu, &o, dx.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), dg.d(),
                                  dgrad.d(), nullptr));
    compare(dgrad.download(), grad.storage, Ld(1e-4), "T=1e5 gradient");
}

// A workspace limit splits the batch into groups; results are bitwise those of one group.
TEST(cuda_grouped_batches_match) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(113);
    CtcCase k = random_case(rng, 9, 300, 30, 20, 60, 2);
    CtcForm f;
    auto x = make_log_probs<float>(k, f);
    auto idx = make_index_tensors(k, f);
    Context gpu(SK_DEVICE_CUDA, 0), limited(SK_DEVICE_CUDA, 0);
    CHECK_OK(sk_context_set_workspace_limit(limited, 2 * 300 * 121 * 4 * 3));  // about 1.5 sequences per group
    HostTensor<float> g({k.B}, 0.5f);
    auto o = ctc_options(k, f);
    std::vector<float> results[2];
    std::vector<int32_t> paths[2];
    int i = 0;
    for (sk_context *ctx : {gpu.ctx, limited.ctx}) {
        DeviceMirror<float> dx(ctx, x), dg(ctx, g), dgrad(ctx, like_log_probs<float>(k, f, 0.0f));
        DeviceMirror<int32_t> dpath(ctx, HostTensor<int32_t>({k.B, k.T}));
        CHECK_OK(sk_ctc_loss_backward(ctx, &o, dx.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(), dg.d(),
                                      dgrad.d(), nullptr));
        CHECK_OK(sk_ctc_forced_align(ctx, &o, dx.d(), idx.targets(), idx.input_lengths(), idx.target_lengths(),
                                     dpath.d(), nullptr, nullptr, nullptr));
        results[i] = dgrad.download();
        paths[i++] = dpath.download();
    }
    CHECK(results[0] == results[1]);
    CHECK(paths[0] == paths[1]);
}

TEST(cuda_rejects_wrong_memory) {
    if (!require_device_or_skip()) return;
    Context gpu(SK_DEVICE_CUDA, 0);
    std::mt19937_64 rng(127);
    CtcCase k = random_case(rng, 2, 10, 4, 1, 3, 0);
    CtcForm f;
    auto x = make_log_probs<float>(k, f);
    auto idx = make_index_tensors(k, f);
    auto o = ctc_options(k, f);
    HostTensor<float> loss({k.B}, 5.0f);
    // log_probs descriptor says cuda but points to host memory
    sk_tensor fake = x.desc;
    fake.device_type = SK_DEVICE_CUDA;
    DeviceMirror<float> dloss(gpu, loss);
    CHECK(sk_ctc_loss(gpu, &o, &fake, idx.targets(), idx.input_lengths(), idx.target_lengths(), dloss.d()) ==
          SK_ERROR_DEVICE);
    CHECK(std::strstr(sk_last_error(), "log_probs") != nullptr);
    for (float v : dloss.download()) CHECK_EQ(v, 5.0f);
    // targets descriptor says cpu but points to device memory
    DeviceMirror<int32_t> dtargets(gpu, idx.targets32);
    sk_tensor lying = dtargets.desc;
    lying.device_type = SK_DEVICE_CPU;
    DeviceMirror<float> dx(gpu, x);
    CHECK(sk_ctc_loss(gpu, &o, dx.d(), &lying, idx.input_lengths(), idx.target_lengths(), dloss.d()) == SK_ERROR_DEVICE);
    CHECK(std::strstr(sk_last_error(), "targets") != nullptr);
    for (float v : dloss.download()) CHECK_EQ(v, 5.0f);
    // a bad label in device-resident targets is found before anything is written
    auto bad = idx.targets32;
    bad.at({0, 0}) = 4;
    DeviceMirror<int32_t> dbad(gpu, bad);
    CHECK(sk_ctc_loss(gpu, &o, dx.d(), dbad.d(), idx.input_lengths(), idx.target_lengths(), dloss.d()) ==
          SK_ERROR_INVALID_ARGUMENT);
    CHECK(std::strstr(sk_last_error(), "targets") != nullptr);
    for (float v : dloss.download()) CHECK_EQ(v, 5.0f);
}

TEST_MAIN()
