// The float32 CUDA chain (mixed_chain_kernel in native/src/ctc/ctc_cuda.cu) run on the host the
// way a block runs it: the shared per-thread helpers of ctc.h (mixed_label_states,
// mixed_chain_frame, mixed_log2_sum2/3) called for every thread of the block, frame by frame,
// with the thread-below exchange through the same double-buffered edge array (slot 0 = -inf,
// thread i publishes its top state in slot i + 1 after its update and reads slot i before
// it; a frame's reads all precede its writes, which is what the kernel's one barrier per frame
// guarantees). Compared with the long-double textbook recursion of ctc_reference.h.
//
// What this checks without a GPU: the parity rule (even K: blanks at even k, labels at odd k, in
// both directions), the skip flags of the reversed chain, the exchange, threads whose states run
// past S and whole threads past it, the base-2 units and their conversion back, the store
// layout of alpha and beta (same index arithmetic as the kernel: a per-thread row pointer and a
// per-frame step whose sign is the direction), every states-per-thread K the kernel is built
// for, empty targets, zero frames, -inf log-probabilities, NaN propagation; and the special
// values of the mixed steps (equal infinities, +inf, NaN) against log_sum_exp3. What it cannot
// check: the device's MUFU rounding (here exp2f / log2f of the C library), the loads, the
// prefetches and the launch.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ctc/ctc.h"
#include "ctc_reference.h"
#include "test_framework.h"

using namespace sktest;
namespace ctc = sk::ctc;

namespace {

constexpr double kInfD = std::numeric_limits<double>::infinity();

// What one emulated launch of the chain for one sequence and one direction produces.
struct ChainRun {
    double log_z = -kInfD;            // forward only, natural log
    std::vector<double> store;        // [t * S + s]: alpha_t(s) forward, beta_t(s) reverse
};

// The block of ceil(S / K) threads rounded up to a warp multiple, as launch_chain sizes it
// (extra threads own only states past S), run over the sequence's frames.
// one_warp: the block is one warp and the state below comes by a shuffle (__shfl_up_sync of every
// lane's top state at the start of the frame; lane 0 receives its own value, which
// mixed_state_below replaces by -inf), as in mixed_chain_kernel<K, Mode, true>.
template <int K>
ChainRun emulate_chain(const CtcCase &k, int64_t b, bool reverse, bool one_warp = false) {
    constexpr int H = K / 2;
    const auto &y = k.targets[static_cast<size_t>(b)];
    const int64_t L = static_cast<int64_t>(y.size()), S = 2 * L + 1;
    const int64_t frames = k.input_length[static_cast<size_t>(b)];
    const int64_t threads = ((S + K - 1) / K + 31) / 32 * 32;
    ChainRun run;
    run.store.assign(static_cast<size_t>(std::max<int64_t>(frames, 0) * S), std::nan(""));
    struct Thread {
        double a[K];
        std::int32_t cls[H];
        std::uint32_t skip_bits;
        int64_t out;  // index of this thread's row in `store` (kernel: the `out` pointer)
        int stored;
    };
    std::vector<Thread> th(static_cast<size_t>(threads));
    // edge[parity][i + 1] = state iK + K-1 of thread i; slot 0 stays -inf.
    std::vector<double> edge[2];
    for (auto &e : edge) e.assign(static_cast<size_t>(threads + 1), -kInfD);
    const int64_t first_frame = reverse ? frames - 1 : 0;
    const int64_t out_step = reverse ? -S : S;
    for (int64_t i = 0; i < threads; ++i) {
        Thread &u = th[static_cast<size_t>(i)];
        const int64_t r0 = i * K;
        u.skip_bits = ctc::mixed_label_states<K>(y.data(), k.blank, S, reverse, r0, u.cls);
        for (int kk = 0; kk < K; ++kk) u.a[kk] = r0 + kk == 0 ? 0.0 : -kInfD;
        u.out = first_frame * S + (reverse ? S - 1 - r0 : r0);
        u.stored = r0 >= S ? 0 : (S - r0 >= K ? K : static_cast<int>(S - r0));
        edge[0][static_cast<size_t>(i + 1)] = u.a[K - 1];
    }
    CHECK(!one_warp || threads == 32);
    std::vector<double> lanes(static_cast<size_t>(threads));
    for (int64_t tau = 0; tau < frames; ++tau) {
        const int cur = static_cast<int>(tau & 1);
        for (int64_t i = 0; i < threads; ++i) lanes[static_cast<size_t>(i)] = th[static_cast<size_t>(i)].a[K - 1];
        const int64_t t = reverse ? frames - 1 - tau : tau;
        // The inputs as the float32 kernel sees them.
        const auto emission = [&](std::int32_t c) {
            return static_cast<double>(static_cast<float>(k.at(b, t, c)));
        };
        for (int64_t i = 0; i < threads; ++i) {
            Thread &u = th[static_cast<size_t>(i)];
            const double blank_e = emission(k.blank);
            double label_e[H];
            for (int j = 0; j < H; ++j) label_e[j] = emission(u.cls[j]);
            const double below = one_warp ? ctc::mixed_state_below(static_cast<int>(i), lanes[static_cast<size_t>(i > 0 ? i - 1 : 0)])
                                          : edge[cur][static_cast<size_t>(i)];
            ctc::mixed_chain_frame<K>(u.a, below, blank_e, label_e, u.skip_bits, [&](int kk, double combined, double value) {
                if (kk >= u.stored) return;
                const int64_t at = reverse ? u.out - kk : u.out + kk;
                CHECK(at >= 0 && at < static_cast<int64_t>(run.store.size()));
                if (at >= 0 && at < static_cast<int64_t>(run.store.size()))
                    run.store[static_cast<size_t>(at)] = (reverse ? combined : value) * ctc::kLn2;
            });
            u.out += out_step;
            edge[cur ^ 1][static_cast<size_t>(i + 1)] = u.a[K - 1];
        }
    }
    if (!reverse) {
        double last = -kInfD, before = -kInfD;
        for (int64_t i = 0; i < threads; ++i)
            for (int kk = 0; kk < K; ++kk) {
                const int64_t r = i * K + kk;
                if (r == S - 1) last = th[static_cast<size_t>(i)].a[kk] * ctc::kLn2;
                if (r == S - 2) before = th[static_cast<size_t>(i)].a[kk] * ctc::kLn2;
            }
        run.log_z = S == 1 ? last : sk::log_add_exp(last, before);
    }
    return run;
}

bool agrees(Ld got, Ld want, Ld tol) {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == want;
    return std::isfinite(got) && std::fabs(got - want) <= tol * (1 + std::fabs(want));
}

// log Z and the per-frame normalised state posteriors of every sequence against the reference.
template <int K>
void check_case(const CtcCase &k, const std::string &label, bool one_warp) {
    for (int64_t b = 0; b < k.B; ++b) {
        const std::string where =
            label + " K=" + std::to_string(K) + (one_warp ? " one warp" : "") + " b=" + std::to_string(b);
        const auto &y = k.targets[static_cast<size_t>(b)];
        const int64_t S = 2 * static_cast<int64_t>(y.size()) + 1, Tb = k.input_length[static_cast<size_t>(b)];
        if (Tb < static_cast<int64_t>(y.size()) + repeats(y)) continue;  // infeasible: never run
        const DpResult ref = reference_dp(k, b, true);
        const ChainRun fwd = emulate_chain<K>(k, b, false, one_warp);
        CHECK_MSG(agrees(fwd.log_z, ref.log_z, 2e-6L), where << ": log Z " << fwd.log_z << " want "
                                                            << static_cast<double>(ref.log_z));
        if (ref.log_z == -kInf || Tb == 0) continue;
        const ChainRun bwd = emulate_chain<K>(k, b, true, one_warp);
        int bad = 0;
        for (int64_t t = 0; t < Tb; ++t) {
            Ld hi = -kInf;
            for (int64_t s = 0; s < S; ++s)
                hi = std::max<Ld>(hi, Ld(fwd.store[static_cast<size_t>(t * S + s)]) +
                                          Ld(bwd.store[static_cast<size_t>(t * S + s)]));
            Ld total = 0;
            for (int64_t s = 0; s < S; ++s)
                total += std::exp(Ld(fwd.store[static_cast<size_t>(t * S + s)]) +
                                  Ld(bwd.store[static_cast<size_t>(t * S + s)]) - hi);
            for (int64_t s = 0; s < S; ++s) {
                const Ld g = std::exp(Ld(fwd.store[static_cast<size_t>(t * S + s)]) +
                                      Ld(bwd.store[static_cast<size_t>(t * S + s)]) - hi) /
                             total;
                const Ld want = ref.state_post[static_cast<size_t>(t * S + s)];
                if (!(std::fabs(g - want) <= 2e-5L) && bad++ < 3)
                    CHECK_MSG(false, where << " t=" << t << " s=" << s << ": posterior " << static_cast<double>(g)
                                           << " want " << static_cast<double>(want));
            }
        }
    }
}

template <int K>
void check_every_case(std::mt19937_64 &rng) {
    // Lengths around every thread boundary of this K (S = 2L + 1 just below, at, above K, 2K, 32K).
    for (int64_t L : {int64_t(0), int64_t(1), int64_t(K / 2 - 1 > 0 ? K / 2 - 1 : 2), int64_t(K / 2), int64_t(K),
                      int64_t(K + 3), int64_t(16 * K), int64_t(16 * K + 1)}) {
        if (L > 300) continue;  // the reference's full matrices stay small
        CtcCase k;
        k.B = 3;
        k.C = 7;
        k.blank = static_cast<int32_t>(rng() % 7);
        k.T = 2 * L + 12;
        for (int64_t b = 0; b < k.B; ++b) {
            k.targets.push_back(random_target(rng, L, k.C, k.blank, b == 1 ? 0.6 : 0.2));
            k.input_length.push_back(b == 2 ? L + repeats(k.targets.back()) : k.T);  // b = 2: tight
        }
        random_log_probs(k, rng, 3.0);
        // The block geometry the launch picks for the batch's largest S: one warp, or more.
        int64_t S_max = 1;
        for (const auto &y : k.targets) S_max = std::max<int64_t>(S_max, 2 * static_cast<int64_t>(y.size()) + 1);
        const bool one_warp = (S_max + K - 1) / K <= 32;
        check_case<K>(k, "L=" + std::to_string(L), one_warp);
        if (one_warp) check_case<K>(k, "L=" + std::to_string(L) + " (edge array)", false);
        // -inf log-probabilities (a class impossible at some frames), the blank among them.
        for (int64_t t = 0; t < k.T; t += 3) k.at(0, t, (t / 3) % k.C) = -kInf;
        check_case<K>(k, "L=" + std::to_string(L) + " with -inf", one_warp);
    }
}

template <int K>
void check_zero_frames_and_nan() {
    CtcCase k;
    k.B = 2;
    k.C = 4;
    k.T = 9;
    k.targets = {{}, {1, 2}};
    k.input_length = {0, 9};
    std::mt19937_64 rng(5);
    random_log_probs(k, rng);
    const ChainRun empty = emulate_chain<K>(k, 0, false);
    CHECK(empty.log_z == 0.0);  // T_b = 0 with an empty target: probability 1
    k.at(1, 4, 0) = std::nan("");
    const ChainRun with_nan = emulate_chain<K>(k, 1, false);
    CHECK(std::isnan(with_nan.log_z));
    CHECK(std::isnan(emulate_chain<K>(k, 1, false, true).log_z));
}

}  // namespace

// Special values of the two mixed steps: the rules of log_sum_exp3 (-inf only when all are -inf,
// +inf when one is +inf, NaN when one is NaN) and agreement with it (in base-2 units) elsewhere.
TEST(mixed_steps_special_values) {
    const double inf = kInfD, nan = std::nan("");
    const double values[] = {-inf, inf, nan, 0.0, -1.0, 2.5, -1000.0, 1e6, -1e6, 1e6 + 0.5, -3.0e-9};
    for (double x : values)
        for (double y : values) {
            const double got2 = ctc::mixed_log2_sum2(x, y);
            const double want2 = ctc::log_sum_exp3<double>(x * ctc::kLn2, y * ctc::kLn2, -inf) * ctc::kLog2e;
            CHECK_MSG(agrees(got2, want2, 1e-6L), "sum2(" << x << ", " << y << ") = " << got2 << ", want " << want2);
            for (double z : values) {
                const double got3 = ctc::mixed_log2_sum3(x, y, z);
                const double want3 =
                    ctc::log_sum_exp3<double>(x * ctc::kLn2, y * ctc::kLn2, z * ctc::kLn2) * ctc::kLog2e;
                CHECK_MSG(agrees(got3, want3, 1e-6L),
                          "sum3(" << x << ", " << y << ", " << z << ") = " << got3 << ", want " << want3);
            }
        }
}

// The mixed step's error is absolute (~1e-7) whatever the magnitude of the states.
TEST(mixed_steps_random_agree_with_long_double) {
    std::mt19937_64 rng(17);
    std::uniform_real_distribution<double> base(-1e7, 1e7), spread(-40, 40);
    for (int i = 0; i < 20000; ++i) {
        const double m = base(rng), x = m + spread(rng), y = m + spread(rng), z = m + spread(rng);
        const Ld lx = x, ly = y, lz = z, top = std::max({lx, ly, lz});
        const Ld want3 = top + std::log2(std::exp2(lx - top) + std::exp2(ly - top) + std::exp2(lz - top));
        const Ld want2 = std::max(lx, ly) + std::log2(std::exp2(lx - std::max(lx, ly)) + std::exp2(ly - std::max(lx, ly)));
        CHECK(std::fabs(Ld(ctc::mixed_log2_sum3(x, y, z)) - want3) <= 1e-6L);
        CHECK(std::fabs(Ld(ctc::mixed_log2_sum2(x, y)) - want2) <= 1e-6L);
    }
}

TEST(emulated_chain_every_states_per_thread) {
    std::mt19937_64 rng(23);
    check_every_case<2>(rng);
    check_every_case<4>(rng);
    check_every_case<8>(rng);
    check_every_case<16>(rng);
    check_every_case<32>(rng);
}

TEST(emulated_chain_zero_frames_and_nan) {
    check_zero_frames_and_nan<2>();
    check_zero_frames_and_nan<8>();
    check_zero_frames_and_nan<32>();
}

TEST_MAIN()
