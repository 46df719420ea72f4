// CPU vs CUDA equivalence of the HMM family through the C API (forward, marginals, Viterbi,
// backward; both forms and conventions, every kernel path, strided layouts, both dtypes),
// bitwise reproducibility on the device, lengths in device memory, T = 10^5 without drift, and
// device-side argument errors. Needs a CUDA device: without one the binary reports "skipped"
// (exit 77) unless SK_REQUIRE_CUDA=1, which makes it a failure.
#include <memory>

#include "cuda_test_util.h"
#include "hmm_test_util.h"

using namespace sktest;

namespace {

// Every op's outputs, dense.
template <class T>
struct Results {
    std::vector<T> log_partition, best, marginals, max_marginals, score;
    std::vector<int32_t> path;
    HmmGrads<T> log_grads, max_grads;
};

// Runs every op of the family on the CPU context (host tensors as they are) or on the CUDA
// context (inputs and outputs mirrored on the device), with the given upstream gradient.
template <class T>
Results<T> run_all(sk_context *ctx, bool device, HmmCase &c, HmmTensors<T> &x, HmmLayout layout,
                   const std::vector<double> &g) {
    Results<T> r;
    std::unique_ptr<DeviceMirror<T>> pot, init, trans, em;
    std::unique_ptr<DeviceMirror<int64_t>> len;
    auto in = [&](HostTensor<T> &t, std::unique_ptr<DeviceMirror<T>> &m) -> sk_tensor * {
        if (!device) return t.d();
        m = std::make_unique<DeviceMirror<T>>(ctx, t);
        return m->d();
    };
    sk_tensor *potentials = c.form == HmmForm::Edge ? in(x.potentials, pot) : nullptr;
    sk_tensor *initial = c.uses_initial() ? in(x.initial, init) : nullptr;
    sk_tensor *transition = c.form == HmmForm::Factored ? in(x.transition, trans) : nullptr;
    sk_tensor *emission = c.form == HmmForm::Factored ? in(x.emission, em) : nullptr;
    sk_tensor *lengths = x.lengths();  // host lengths work for both contexts
    // An output: a host tensor, or its device mirror; fetch() returns the dense result.
    struct Out {
        HostTensor<T> host;
        std::unique_ptr<DeviceMirror<T>> mirror;
        sk_tensor *d() { return mirror ? mirror->d() : host.d(); }
        std::vector<T> fetch() {
            if (!mirror) return dense(host);
            HostTensor<T> h = mirror->host();
            return dense(h);
        }
    };
    auto out = [&](std::vector<int64_t> shape, HmmLayout lay) {
        Out o;
        o.host = layout_tensor<T>(shape, lay);
        for (auto &v : o.host.storage) v = T(-777);
        if (device) o.mirror = std::make_unique<DeviceMirror<T>>(ctx, o.host);
        return o;
    };
    HostTensor<T> up({c.B});
    for (int64_t b = 0; b < c.B; ++b) up.storage[static_cast<size_t>(b)] = static_cast<T>(g[static_cast<size_t>(b)]);
    std::unique_ptr<DeviceMirror<T>> up_mirror;
    sk_tensor *grad = device ? (up_mirror = std::make_unique<DeviceMirror<T>>(ctx, up))->d() : up.d();
    const auto B = c.B, Tn = c.T, N = c.N;
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        const auto o = hmm_options(semiring, c.convention);
        const bool log = semiring == SK_SEMIRING_LOG;
        Out lp = out({B}, HmmLayout::Contiguous), marg = out({B, Tn, N}, layout), lp2 = out({B}, HmmLayout::Contiguous);
        if (c.form == HmmForm::Edge) {
            CHECK_OK(sk_hmm_edge_forward(ctx, &o, potentials, initial, lengths, lp.d()));
            CHECK_OK(sk_hmm_edge_marginals(ctx, &o, potentials, initial, lengths, marg.d(), lp2.d()));
        } else {
            CHECK_OK(sk_hmm_factored_forward(ctx, &o, initial, transition, emission, lengths, lp.d()));
            CHECK_OK(sk_hmm_factored_marginals(ctx, &o, initial, transition, emission, lengths, marg.d(), lp2.d()));
        }
        (log ? r.log_partition : r.best) = lp.fetch();
        (log ? r.marginals : r.max_marginals) = marg.fetch();
        compare_results(lp2.fetch(), log ? r.log_partition : r.best, 0, "marginals' log_partition vs forward");
        // Gradients.
        HmmGrads<T> &gr = log ? r.log_grads : r.max_grads;
        auto like = [&](HostTensor<T> &t) {
            return out(std::vector<int64_t>(t.desc.shape, t.desc.shape + t.desc.rank), layout);
        };
        if (c.form == HmmForm::Edge) {
            Out gp = like(x.potentials);
            Out gi = c.uses_initial() ? like(x.initial) : Out{};
            CHECK_OK(sk_hmm_edge_backward(ctx, &o, potentials, initial, lengths, grad, gp.d(), c.uses_initial() ? gi.d() : nullptr));
            gr.potentials = gp.fetch();
            if (c.uses_initial()) gr.initial = gi.fetch();
        } else {
            Out gi = like(x.initial), gt = like(x.transition), ge = like(x.emission);
            CHECK_OK(sk_hmm_factored_backward(ctx, &o, initial, transition, emission, lengths, grad, gi.d(), gt.d(), ge.d()));
            gr.initial = gi.fetch();
            gr.transition = gt.fetch();
            gr.emission = ge.fetch();
        }
    }
    // Viterbi.
    const auto o = hmm_options(SK_SEMIRING_MAX, c.convention);
    Out score = out({B}, HmmLayout::Contiguous);
    HostTensor<int32_t> path({B, Tn}, -777);
    std::unique_ptr<DeviceMirror<int32_t>> path_mirror;
    sk_tensor *path_d = device ? (path_mirror = std::make_unique<DeviceMirror<int32_t>>(ctx, path))->d() : path.d();
    if (c.form == HmmForm::Edge)
        CHECK_OK(sk_hmm_edge_viterbi(ctx, &o, potentials, initial, lengths, score.d(), path_d));
    else
        CHECK_OK(sk_hmm_factored_viterbi(ctx, &o, initial, transition, emission, lengths, score.d(), path_d));
    r.score = score.fetch();
    r.path = device ? path_mirror->download() : path.storage;
    return r;
}

template <class T>
void equivalence(HmmCase &c, HmmLayout layout, const std::string &label) {
    Context cpu, gpu(SK_DEVICE_CUDA, 0);
    CHECK(gpu.ctx != nullptr);
    if (!gpu.ctx) return;
    HmmTensors<T> x = make_tensors<T>(c, layout);
    std::vector<double> g(static_cast<size_t>(c.B));
    std::mt19937_64 rng(3);
    for (auto &v : g) v = std::uniform_real_distribution<double>(-2, 2)(rng);
    const Results<T> want = run_all(cpu.ctx, false, c, x, layout, g);
    const Results<T> got = run_all(gpu.ctx, true, c, x, layout, g);
    // The device uses fast-math exp/log (about 2 ulp) and other summation orders: LOG agrees to
    // a tolerance; MAX has no rounding-order freedom and agrees bit for bit (its transition and
    // initial sums: float64 sums of the same terms in another grouping).
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-10;
    compare_results(got.log_partition, want.log_partition, tol, label + " log_partition");
    compare_results(got.marginals, want.marginals, tol, label + " marginals");
    compare_results(got.best, want.best, 0, label + " max forward");
    compare_results(got.max_marginals, want.max_marginals, 0, label + " max marginals");
    compare_results(got.score, want.score, 0, label + " viterbi score");
    CHECK_MSG(got.path == want.path, label << " viterbi path");
    compare_results(got.log_grads.potentials, want.log_grads.potentials, tol, label + " log grad_potentials");
    compare_results(got.log_grads.initial, want.log_grads.initial, tol, label + " log grad_initial");
    compare_results(got.log_grads.transition, want.log_grads.transition, tol, label + " log grad_transition");
    compare_results(got.log_grads.emission, want.log_grads.emission, tol, label + " log grad_emission");
    compare_results(got.max_grads.potentials, want.max_grads.potentials, 0, label + " max grad_potentials");
    compare_results(got.max_grads.emission, want.max_grads.emission, 0, label + " max grad_emission");
    compare_results(got.max_grads.initial, want.max_grads.initial, 1e-12, label + " max grad_initial");
    compare_results(got.max_grads.transition, want.max_grads.transition, 1e-12, label + " max grad_transition");
}

}  // namespace

// Every kernel path (kernel_path_shapes in hmm_test_util.h), and sizes nearer the targets.
TEST(cuda_matches_cpu) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(2026);
    std::vector<KernelShape> shapes = kernel_path_shapes();
    shapes.push_back({HmmForm::Factored, 4, 30, 12, {30, 4, 29, 1}, SK_HMM_INITIAL_SEPARATE, true, true, HmmLayout::Strided});
    shapes.push_back({HmmForm::Edge, 8, 100, 50, {100, 3, 99, 100, 50, 1, 77, 64}, SK_HMM_INITIAL_SEPARATE, false, true,
                      HmmLayout::Contiguous});
    shapes.push_back({HmmForm::Factored, 3, 40, 256, {40, 3, 17}, SK_HMM_INITIAL_SEPARATE, true, true, HmmLayout::Contiguous});
    shapes.push_back({HmmForm::Edge, 2, 6, 256, {6, 5}, SK_HMM_INITIAL_SEPARATE, true, true, HmmLayout::Contiguous});
    for (const KernelShape &s : shapes) {
        HmmCase c = s.make(rng);
        equivalence<float>(c, s.layout, s.label() + " f32");
        equivalence<double>(c, s.layout, s.label() + " f64");
    }
}

// -inf, NaN in one sequence and in the padding, and integer scores full of MAX ties.
TEST(cuda_handles_inf_nan_and_ties_like_the_cpu) {
    if (!require_device_or_skip()) return;
    std::mt19937_64 rng(73);
    for (HmmForm form : {HmmForm::Edge, HmmForm::Factored}) {
        const std::string name = form == HmmForm::Edge ? "edge" : "factored";
        HmmCase c = inf_nan_case(form, rng);
        equivalence<float>(c, HmmLayout::Contiguous, name + " inf/nan");
        HmmCase ties = random_case(form, 3, 6, 40, {6, 5, 2}, rng, -1, 1);
        make_integer_scores(ties);
        equivalence<float>(ties, HmmLayout::Contiguous, name + " ties");
    }
}

// Same inputs, same bits: the device results of two runs are identical (no float atomics).
TEST(cuda_is_bitwise_reproducible) {
    if (!require_device_or_skip()) return;
    Context gpu(SK_DEVICE_CUDA, 0);
    std::mt19937_64 rng(5);
    HmmCase c = random_case(HmmForm::Factored, 6, 80, 40, {80, 7, 80, 1, 33, 79}, rng);
    HmmTensors<float> x = make_tensors<float>(c);
    const std::vector<double> g = {1, -1, 0.5, 2, -0.25, 1};
    const Results<float> a = run_all(gpu.ctx, true, c, x, HmmLayout::Contiguous, g);
    const Results<float> b = run_all(gpu.ctx, true, c, x, HmmLayout::Contiguous, g);
    CHECK(a.log_partition == b.log_partition && a.marginals == b.marginals);
    CHECK(a.log_grads.initial == b.log_grads.initial && a.log_grads.transition == b.log_grads.transition &&
          a.log_grads.emission == b.log_grads.emission);
    CHECK(a.path == b.path && a.score == b.score);
}

// T = 10^5 on the device in float32: no drift against the float64 CPU run.
TEST(cuda_long_sequence_float32) {
    if (!require_device_or_skip()) return;
    Context cpu, gpu(SK_DEVICE_CUDA, 0);
    std::mt19937_64 rng(23);
    const int64_t T = 100000;
    HmmCase c = random_case(HmmForm::Factored, 2, T, 8, {T, 70001}, rng, -3, 0);
    HmmCase c32 = c.rounded<float>();
    HmmTensors<float> x32 = make_tensors<float>(c);
    HmmTensors<double> x64 = make_tensors<double>(c32);
    DeviceMirror<float> init(gpu, x32.initial), trans(gpu, x32.transition), em(gpu, x32.emission);
    HostTensor<float> lp({2}), marg({2, T, 8});
    DeviceMirror<float> dlp(gpu, lp), dmarg(gpu, marg);
    const auto o = hmm_options(SK_SEMIRING_LOG);
    CHECK_OK(sk_hmm_factored_marginals(gpu, &o, init.d(), trans.d(), em.d(), x32.lengths(), dmarg.d(), dlp.d()));
    std::vector<double> want_marg, want_lp;
    CHECK_OK(hmm_marginals(cpu.ctx, c32, x64, SK_SEMIRING_LOG, want_marg, want_lp));
    const auto got_lp = dlp.download(), got_marg = dmarg.download();
    for (size_t b = 0; b < 2; ++b) {
        const double rel = std::fabs(got_lp[b] - want_lp[b]) / std::fabs(want_lp[b]);
        std::fprintf(stderr, "  T=1e5 b=%zu: cuda f32 %.10g cpu f64 %.10g rel %.3g\n", b, static_cast<double>(got_lp[b]),
                     want_lp[b], rel);
        CHECK(rel <= 1e-6);
    }
    double worst = 0;
    for (size_t e = 0; e < want_marg.size(); ++e) worst = std::max(worst, std::fabs(got_marg[e] - want_marg[e]));
    std::fprintf(stderr, "  T=1e5: max |marginal cuda f32 - cpu f64| %.3g\n", worst);
    CHECK(worst <= 1e-5);
}

// Lengths in device memory give the same results as host lengths; a bad value there is caught
// (the lengths are copied to the host for validation) and nothing is written.
TEST(cuda_lengths_in_device_memory) {
    if (!require_device_or_skip()) return;
    Context gpu(SK_DEVICE_CUDA, 0);
    std::mt19937_64 rng(7);
    HmmCase c = random_case(HmmForm::Edge, 3, 5, 4, {5, 2, 4}, rng);
    HmmTensors<float> x = make_tensors<float>(c);
    DeviceMirror<float> pot(gpu, x.potentials), init(gpu, x.initial);
    DeviceMirror<int32_t> len32(gpu, x.lengths32);
    HostTensor<float> lp({3}, -777.0f);
    DeviceMirror<float> a(gpu, lp), b(gpu, lp);
    const auto o = hmm_options(SK_SEMIRING_LOG);
    CHECK_OK(sk_hmm_edge_forward(gpu, &o, pot.d(), init.d(), x.lengths(), a.d()));
    CHECK_OK(sk_hmm_edge_forward(gpu, &o, pot.d(), init.d(), len32.d(), b.d()));
    CHECK(a.download() == b.download());
    HostTensor<int32_t> bad({3}, 2);
    bad.storage[2] = 6;
    DeviceMirror<int32_t> dbad(gpu, bad);
    HostTensor<float> untouched({3}, -777.0f);
    DeviceMirror<float> out(gpu, untouched);
    CHECK(sk_hmm_edge_forward(gpu, &o, pot.d(), init.d(), dbad.d(), out.d()) == SK_ERROR_INVALID_ARGUMENT);
    CHECK(std::strstr(sk_last_error(), "lengths[2] = 6") != nullptr);
    CHECK(out.download() == untouched.storage);
}

// A host pointer described as device memory, more states than the kernels take, and the
// workspace limit: clear errors, outputs untouched.
TEST(cuda_argument_errors) {
    if (!require_device_or_skip()) return;
    Context gpu(SK_DEVICE_CUDA, 0);
    std::mt19937_64 rng(9);
    HmmCase c = random_case(HmmForm::Factored, 2, 4, 3, {4, 2}, rng);
    HmmTensors<float> x = make_tensors<float>(c);
    HostTensor<float> lp({2}, -777.0f);
    DeviceMirror<float> out(gpu, lp), init(gpu, x.initial), trans(gpu, x.transition), em(gpu, x.emission);
    const auto o = hmm_options(SK_SEMIRING_LOG);
    sk_tensor host_as_device = x.emission.desc;
    host_as_device.device_type = SK_DEVICE_CUDA;
    CHECK(sk_hmm_factored_forward(gpu, &o, init.d(), trans.d(), &host_as_device, x.lengths(), out.d()) == SK_ERROR_DEVICE);
    CHECK(std::strstr(sk_last_error(), "'emission'") != nullptr);
    // N = 4097: rejected from the emission's shape, before any other tensor is looked at.
    HostTensor<float> wide({1, 1, 4097}, 0.0f);
    DeviceMirror<float> dwide(gpu, wide);
    HostTensor<int64_t> one({1}, 1);
    HostTensor<float> lp1({1}, -777.0f);
    DeviceMirror<float> out1(gpu, lp1);
    CHECK(sk_hmm_factored_forward(gpu, &o, init.d(), trans.d(), dwide.d(), one.d(), out1.d()) == SK_ERROR_UNSUPPORTED);
    CHECK(std::strstr(sk_last_error(), "4096") != nullptr);
    CHECK(out1.download() == lp1.storage);
    CHECK_OK(sk_context_set_workspace_limit(gpu, 256));
    HostTensor<float> marg({2, 4, 3}, -777.0f);
    DeviceMirror<float> dmarg(gpu, marg);
    CHECK(sk_hmm_factored_marginals(gpu, &o, init.d(), trans.d(), em.d(), x.lengths(), dmarg.d(), out.d()) ==
          SK_ERROR_OUT_OF_MEMORY);
    CHECK(dmarg.download() == marg.storage && out.download() == lp.storage);
}

TEST_MAIN()
