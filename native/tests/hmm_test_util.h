// Helpers for the HMM tests: a problem description with float64 master values, tensors built
// from it in several memory layouts, C API wrappers returning dense results, and the
// brute-force reference that enumerates every state path in long double.
#pragma once

#include <functional>
#include <numeric>

#include "test_util.h"

namespace sktest {

enum class HmmForm { Edge, Factored };

// Dense master values; the reference reads them rounded to the tested dtype.
struct HmmCase {
    HmmForm form = HmmForm::Edge;
    int32_t convention = SK_HMM_INITIAL_SEPARATE;
    int64_t B = 1, T = 1, N = 1;
    std::vector<int64_t> lengths;
    std::vector<double> potentials;  // B*T*N*N (edge)
    std::vector<double> initial;     // N or B*N (edge SEPARATE, factored)
    bool initial_shared = true;
    std::vector<double> transition;  // N*N or B*N*N (factored)
    bool transition_shared = true;
    std::vector<double> emission;    // B*T*N (factored)

    double &pot(int64_t b, int64_t t, int64_t i, int64_t j) {
        return potentials[static_cast<size_t>(((b * T + t) * N + i) * N + j)];
    }
    double &init(int64_t b, int64_t j) {
        return initial[static_cast<size_t>((initial_shared ? 0 : b) * N + j)];
    }
    double &trans(int64_t b, int64_t i, int64_t j) {
        return transition[static_cast<size_t>(((transition_shared ? 0 : b) * N + i) * N + j)];
    }
    double &em(int64_t b, int64_t t, int64_t j) { return emission[static_cast<size_t>((b * T + t) * N + j)]; }
    bool uses_initial() const { return form == HmmForm::Factored || convention == SK_HMM_INITIAL_SEPARATE; }

    // The model's scores, the single definition the reference uses.
    double start_score(int64_t b, int64_t j) {
        if (form == HmmForm::Factored) return init(b, j) + em(b, 0, j);
        if (convention == SK_HMM_INITIAL_ROW0) return pot(b, 0, 0, j);
        return init(b, j);
    }
    double edge_score(int64_t b, int64_t t, int64_t i, int64_t j) {
        if (form == HmmForm::Factored) return trans(b, i, j) + em(b, t, j);
        return pot(b, t, i, j);
    }
    // Rounds every value to T (what the library sees).
    template <class T_>
    HmmCase rounded() const {
        HmmCase c = *this;
        for (auto *v : {&c.potentials, &c.initial, &c.transition, &c.emission})
            for (auto &x : *v) x = static_cast<double>(static_cast<T_>(x));
        return c;
    }
};

// A random case: values uniform in [lo, hi].
inline HmmCase random_case(HmmForm form, int64_t B, int64_t T, int64_t N, std::vector<int64_t> lengths,
                           std::mt19937_64 &rng, double lo = -2, double hi = 2,
                           bool initial_shared = true, bool transition_shared = true,
                           int32_t convention = SK_HMM_INITIAL_SEPARATE) {
    HmmCase c;
    c.form = form;
    c.convention = convention;
    c.B = B;
    c.T = T;
    c.N = N;
    c.lengths = lengths;
    c.initial_shared = initial_shared;
    c.transition_shared = transition_shared;
    std::uniform_real_distribution<double> d(lo, hi);
    auto fill = [&](std::vector<double> &v, int64_t n) {
        v.resize(static_cast<size_t>(n));
        for (auto &x : v) x = d(rng);
    };
    if (form == HmmForm::Edge) {
        fill(c.potentials, B * T * N * N);
        if (convention == SK_HMM_INITIAL_SEPARATE) fill(c.initial, (initial_shared ? 1 : B) * N);
    } else {
        fill(c.initial, (initial_shared ? 1 : B) * N);
        fill(c.transition, (transition_shared ? 1 : B) * N * N);
        fill(c.emission, B * T * N);
    }
    return c;
}

// ---- tensors in several layouts ----------------------------------------------------------------

enum class HmmLayout { Contiguous, Strided };

// A tensor of `shape` whose memory order lists dimensions from outermost to innermost, with
// `pad` extra elements after the innermost dimension.
template <class T>
HostTensor<T> ordered_tensor(std::vector<int64_t> shape, std::vector<int> order, int64_t pad) {
    HostTensor<T> t;
    const int rank = static_cast<int>(shape.size());
    int64_t stride = 1;
    t.desc.rank = rank;
    t.desc.dtype = dtype_of<T>();
    t.desc.device_type = SK_DEVICE_CPU;
    for (int k = rank - 1; k >= 0; --k) {
        const int d = order[static_cast<size_t>(k)];
        t.desc.shape[d] = shape[static_cast<size_t>(d)];
        t.desc.strides[d] = stride;
        stride *= shape[static_cast<size_t>(d)] + (k == rank - 1 ? pad : 0);
    }
    t.storage.assign(static_cast<size_t>(std::max<int64_t>(stride, 1)), T(-7777));
    t.desc.data = t.storage.data();
    return t;
}

template <class T>
HostTensor<T> layout_tensor(std::vector<int64_t> shape, HmmLayout layout) {
    const int rank = static_cast<int>(shape.size());
    std::vector<int> order(static_cast<size_t>(rank));
    std::iota(order.begin(), order.end(), 0);
    if (layout == HmmLayout::Contiguous) return ordered_tensor<T>(shape, order, 0);
    // Strided: reverse the order of the last two dimensions and swap the first two (time-major
    // for batched tensors), with a padded innermost dimension.
    if (rank >= 2) std::swap(order[static_cast<size_t>(rank - 1)], order[static_cast<size_t>(rank - 2)]);
    if (rank >= 3) std::swap(order[0], order[1]);
    return ordered_tensor<T>(shape, order, 2);
}

template <class T>
struct HmmTensors {
    HostTensor<T> potentials, initial, transition, emission;
    HostTensor<int64_t> lengths64;
    HostTensor<int32_t> lengths32;
    bool use_int32 = false;
    const HmmCase *c = nullptr;

    sk_tensor *lengths() { return use_int32 ? lengths32.d() : lengths64.d(); }
    sk_tensor *initial_ptr() { return c->uses_initial() ? initial.d() : nullptr; }
};

template <class T>
HmmTensors<T> make_tensors(HmmCase &c, HmmLayout layout = HmmLayout::Contiguous, bool int32_lengths = false) {
    HmmTensors<T> x;
    x.c = &c;
    x.use_int32 = int32_lengths;
    const int64_t B = c.B, T_ = c.T, N = c.N;
    if (c.form == HmmForm::Edge) {
        x.potentials = layout_tensor<T>({B, T_, N, N}, layout);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T_; ++t)
                for (int64_t i = 0; i < N; ++i)
                    for (int64_t j = 0; j < N; ++j) x.potentials.at({b, t, i, j}) = static_cast<T>(c.pot(b, t, i, j));
    } else {
        x.emission = layout_tensor<T>({B, T_, N}, layout);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T_; ++t)
                for (int64_t j = 0; j < N; ++j) x.emission.at({b, t, j}) = static_cast<T>(c.em(b, t, j));
        x.transition = c.transition_shared ? layout_tensor<T>({N, N}, layout) : layout_tensor<T>({B, N, N}, layout);
        for (int64_t b = 0; b < (c.transition_shared ? 1 : B); ++b)
            for (int64_t i = 0; i < N; ++i)
                for (int64_t j = 0; j < N; ++j) {
                    if (c.transition_shared)
                        x.transition.at({i, j}) = static_cast<T>(c.trans(b, i, j));
                    else
                        x.transition.at({b, i, j}) = static_cast<T>(c.trans(b, i, j));
                }
    }
    if (c.uses_initial()) {
        if (c.initial_shared) {
            x.initial = ordered_tensor<T>({N}, {0}, 0);
            if (layout == HmmLayout::Strided) {  // stride 3
                x.initial.storage.assign(static_cast<size_t>(3 * N), T(-7777));
                x.initial.desc.data = x.initial.storage.data();
                x.initial.desc.strides[0] = 3;
            }
            for (int64_t j = 0; j < N; ++j) x.initial.at({j}) = static_cast<T>(c.init(0, j));
        } else {
            x.initial = layout_tensor<T>({B, N}, layout);
            for (int64_t b = 0; b < B; ++b)
                for (int64_t j = 0; j < N; ++j) x.initial.at({b, j}) = static_cast<T>(c.init(b, j));
        }
    }
    x.lengths64 = HostTensor<int64_t>({B});
    x.lengths32 = HostTensor<int32_t>({B});
    for (int64_t b = 0; b < B; ++b) {
        x.lengths64.storage[static_cast<size_t>(b)] = c.lengths[static_cast<size_t>(b)];
        x.lengths32.storage[static_cast<size_t>(b)] = static_cast<int32_t>(c.lengths[static_cast<size_t>(b)]);
    }
    return x;
}

inline sk_hmm_options hmm_options(int32_t semiring, int32_t convention = SK_HMM_INITIAL_SEPARATE) {
    sk_hmm_options o{};
    o.struct_size = sizeof(sk_hmm_options);
    o.semiring = semiring;
    o.initial_convention = convention;
    return o;
}

// ---- configurations, kernel-path shapes, special cases ------------------------------------------

// One way of posing a problem: form, start convention, which parameters are per sequence, the
// memory layout of the tensors and the dtype of the lengths.
struct HmmConfig {
    HmmForm form;
    int32_t convention;
    bool initial_shared;
    bool transition_shared;
    HmmLayout layout;
    bool int32_lengths;
};

// Every form/convention/sharing combination, contiguous and strided.
inline std::vector<HmmConfig> hmm_configs() {
    std::vector<HmmConfig> out;
    for (HmmLayout layout : {HmmLayout::Contiguous, HmmLayout::Strided}) {
        out.push_back({HmmForm::Edge, SK_HMM_INITIAL_SEPARATE, true, true, layout, false});
        out.push_back({HmmForm::Edge, SK_HMM_INITIAL_SEPARATE, false, true, layout, true});
        out.push_back({HmmForm::Edge, SK_HMM_INITIAL_ROW0, true, true, layout, false});
        out.push_back({HmmForm::Factored, SK_HMM_INITIAL_SEPARATE, true, true, layout, true});
        out.push_back({HmmForm::Factored, SK_HMM_INITIAL_SEPARATE, false, false, layout, false});
        out.push_back({HmmForm::Factored, SK_HMM_INITIAL_SEPARATE, true, false, layout, false});
        out.push_back({HmmForm::Factored, SK_HMM_INITIAL_SEPARATE, false, true, layout, true});
    }
    return out;
}

inline std::string describe(const HmmConfig &cf, const std::string &what) {
    std::ostringstream os;
    os << (cf.form == HmmForm::Edge ? "edge" : "factored") << (cf.convention == SK_HMM_INITIAL_ROW0 ? "/row0" : "")
       << (cf.initial_shared ? "" : "/init(B,N)") << (cf.form == HmmForm::Factored && !cf.transition_shared ? "/trans(B,N,N)" : "")
       << (cf.layout == HmmLayout::Strided ? "/strided" : "") << (cf.int32_lengths ? "/int32" : "") << " " << what;
    return os.str();
}

inline HmmCase config_case(const HmmConfig &cf, int64_t B, int64_t T, int64_t N, std::vector<int64_t> lengths,
                           std::mt19937_64 &rng, double lo = -2, double hi = 2) {
    return random_case(cf.form, B, T, N, lengths, rng, lo, hi, cf.initial_shared, cf.transition_shared, cf.convention);
}

// Rounds every score to an integer: many exact MAX ties.
inline void make_integer_scores(HmmCase &c) {
    for (auto *v : {&c.potentials, &c.initial, &c.transition, &c.emission})
        for (auto &x : *v) x = std::round(x);
}

// B = 4, T = 5, N = 3: sequence 0 infeasible, sequence 1 NaN inside its length, NaN in the
// padding of sequence 2, a forbidden transition.
inline HmmCase inf_nan_case(HmmForm form, std::mt19937_64 &rng) {
    HmmCase c = random_case(form, 4, 5, 3, {5, 4, 3, 2}, rng, -2, 2, true, form == HmmForm::Factored);
    const double ninf = -std::numeric_limits<double>::infinity(), nan = std::nan("");
    for (int64_t i = 0; i < 3; ++i) {
        if (form == HmmForm::Factored) {
            c.em(0, 2, i) = ninf;
            c.em(2, 4, i) = nan;
        } else {
            for (int64_t j = 0; j < 3; ++j) {
                c.pot(0, 2, i, j) = ninf;
                c.pot(2, 4, i, j) = nan;
            }
        }
    }
    if (form == HmmForm::Factored) {
        c.em(1, 1, 2) = nan;
        c.trans(0, 0, 1) = ninf;
    } else {
        c.pot(1, 1, 2, 0) = nan;
        c.pot(3, 1, 0, 1) = ninf;
    }
    return c;
}

// Shapes that take every path of the CUDA kernels: register prefetch (N <= 64) with 32, 16, 8
// and 4 lanes per state; streamed register chunks (N = 70, 130); two passes over the states
// (N = 600 > 512 threads); both forms and conventions, shared and per-sequence parameters,
// strided layouts, mixed lengths including 1.
struct KernelShape {
    HmmForm form;
    int64_t B, T, N;
    std::vector<int64_t> lengths;
    int32_t convention;
    bool initial_shared, transition_shared;
    HmmLayout layout;
    HmmCase make(std::mt19937_64 &rng) const {
        return random_case(form, B, T, N, lengths, rng, -3, 2, initial_shared, transition_shared, convention);
    }
    std::string label() const {
        std::ostringstream os;
        os << (form == HmmForm::Edge ? "edge" : "factored") << " N=" << N << " T=" << T;
        return os.str();
    }
};

inline std::vector<KernelShape> kernel_path_shapes() {
    return {
        {HmmForm::Edge, 3, 6, 1, {6, 1, 3}, SK_HMM_INITIAL_SEPARATE, true, true, HmmLayout::Contiguous},
        {HmmForm::Edge, 3, 6, 3, {6, 1, 4}, SK_HMM_INITIAL_ROW0, true, true, HmmLayout::Strided},
        {HmmForm::Factored, 3, 7, 5, {7, 2, 5}, SK_HMM_INITIAL_SEPARATE, false, false, HmmLayout::Contiguous},
        {HmmForm::Factored, 2, 5, 12, {5, 4}, SK_HMM_INITIAL_SEPARATE, true, true, HmmLayout::Strided},
        {HmmForm::Edge, 2, 5, 50, {5, 3}, SK_HMM_INITIAL_SEPARATE, false, true, HmmLayout::Contiguous},
        {HmmForm::Factored, 2, 6, 64, {6, 1}, SK_HMM_INITIAL_SEPARATE, true, false, HmmLayout::Contiguous},
        {HmmForm::Edge, 2, 4, 70, {4, 2}, SK_HMM_INITIAL_ROW0, true, true, HmmLayout::Strided},
        {HmmForm::Factored, 2, 4, 130, {4, 3}, SK_HMM_INITIAL_SEPARATE, true, true, HmmLayout::Contiguous},
        {HmmForm::Factored, 1, 3, 600, {3}, SK_HMM_INITIAL_SEPARATE, true, true, HmmLayout::Contiguous},
    };
}

// ---- C API wrappers with dense results ---------------------------------------------------------

template <class T>
std::vector<T> dense(HostTensor<T> &t) {
    std::vector<T> out;
    const int r = t.desc.rank;
    std::vector<int64_t> idx(static_cast<size_t>(r), 0);
    int64_t n = 1;
    for (int d = 0; d < r; ++d) n *= t.desc.shape[d];
    out.reserve(static_cast<size_t>(n));
    for (int64_t e = 0; e < n; ++e) {
        int64_t rem = e, off = 0;
        for (int d = r - 1; d >= 0; --d) {
            const int64_t i = rem % t.desc.shape[d];
            rem /= t.desc.shape[d];
            off += i * t.desc.strides[d];
        }
        out.push_back(t.storage[static_cast<size_t>(off)]);
    }
    return out;
}

template <class T>
sk_status hmm_forward(sk_context *ctx, HmmCase &c, HmmTensors<T> &x, int32_t semiring, std::vector<T> &out) {
    HostTensor<T> lp({c.B}, T(-999));
    auto o = hmm_options(semiring, c.convention);
    sk_status st = c.form == HmmForm::Edge
                       ? sk_hmm_edge_forward(ctx, &o, x.potentials.d(), x.initial_ptr(), x.lengths(), lp.d())
                       : sk_hmm_factored_forward(ctx, &o, x.initial.d(), x.transition.d(), x.emission.d(),
                                                 x.lengths(), lp.d());
    out = lp.storage;
    out.resize(static_cast<size_t>(c.B));
    return st;
}

template <class T>
sk_status hmm_marginals(sk_context *ctx, HmmCase &c, HmmTensors<T> &x, int32_t semiring, std::vector<T> &marg,
                        std::vector<T> &lp_out, HmmLayout out_layout = HmmLayout::Contiguous) {
    HostTensor<T> m = layout_tensor<T>({c.B, c.T, c.N}, out_layout);
    HostTensor<T> lp({c.B}, T(-999));
    auto o = hmm_options(semiring, c.convention);
    sk_status st = c.form == HmmForm::Edge
                       ? sk_hmm_edge_marginals(ctx, &o, x.potentials.d(), x.initial_ptr(), x.lengths(), m.d(), lp.d())
                       : sk_hmm_factored_marginals(ctx, &o, x.initial.d(), x.transition.d(), x.emission.d(),
                                                   x.lengths(), m.d(), lp.d());
    marg = dense(m);
    lp_out = lp.storage;
    lp_out.resize(static_cast<size_t>(c.B));
    return st;
}

template <class T>
sk_status hmm_viterbi(sk_context *ctx, HmmCase &c, HmmTensors<T> &x, std::vector<T> &score,
                      std::vector<int32_t> &path) {
    HostTensor<T> s({c.B}, T(-999));
    HostTensor<int32_t> p({c.B, c.T}, -999);
    auto o = hmm_options(SK_SEMIRING_MAX, c.convention);
    sk_status st = c.form == HmmForm::Edge
                       ? sk_hmm_edge_viterbi(ctx, &o, x.potentials.d(), x.initial_ptr(), x.lengths(), s.d(), p.d())
                       : sk_hmm_factored_viterbi(ctx, &o, x.initial.d(), x.transition.d(), x.emission.d(),
                                                 x.lengths(), s.d(), p.d());
    score = s.storage;
    score.resize(static_cast<size_t>(c.B));
    path = p.storage;
    return st;
}

template <class T>
struct HmmGrads {
    std::vector<T> potentials, initial, transition, emission;  // dense, shaped like the inputs
};

template <class T>
sk_status hmm_backward(sk_context *ctx, HmmCase &c, HmmTensors<T> &x, int32_t semiring, const std::vector<double> &g,
                       HmmGrads<T> &out, HmmLayout out_layout = HmmLayout::Contiguous) {
    HostTensor<T> up({c.B});
    for (int64_t b = 0; b < c.B; ++b) up.storage[static_cast<size_t>(b)] = static_cast<T>(g[static_cast<size_t>(b)]);
    auto o = hmm_options(semiring, c.convention);
    auto like = [&](HostTensor<T> &in) {
        std::vector<int64_t> shape(in.desc.shape, in.desc.shape + in.desc.rank);
        return layout_tensor<T>(shape, out_layout);
    };
    sk_status st;
    if (c.form == HmmForm::Edge) {
        HostTensor<T> gp = like(x.potentials);
        HostTensor<T> gi;
        if (c.uses_initial()) gi = like(x.initial);
        st = sk_hmm_edge_backward(ctx, &o, x.potentials.d(), x.initial_ptr(), x.lengths(), up.d(), gp.d(),
                                  c.uses_initial() ? gi.d() : nullptr);
        out.potentials = dense(gp);
        if (c.uses_initial()) out.initial = dense(gi);
    } else {
        HostTensor<T> gi = like(x.initial), gt = like(x.transition), ge = like(x.emission);
        st = sk_hmm_factored_backward(ctx, &o, x.initial.d(), x.transition.d(), x.emission.d(), x.lengths(), up.d(),
                                      gi.d(), gt.d(), ge.d());
        out.initial = dense(gi);
        out.transition = dense(gt);
        out.emission = dense(ge);
    }
    return st;
}

// ---- brute force ---------------------------------------------------------------------------------

struct HmmReference {
    int64_t B, T, N;
    std::vector<Ld> log_partition;    // B (LOG)
    std::vector<Ld> best;             // B (MAX)
    std::vector<int32_t> path;        // B*T, -1 past the length / when infeasible or NaN
    std::vector<Ld> node;             // B*T*N posteriors (LOG)
    std::vector<Ld> edge;             // B*T*N*N posteriors of (t-1 -> t) (LOG), 0 at t = 0
    Ld &node_at(int64_t b, int64_t t, int64_t j) { return node[static_cast<size_t>((b * T + t) * N + j)]; }
    Ld &edge_at(int64_t b, int64_t t, int64_t i, int64_t j) {
        return edge[static_cast<size_t>(((b * T + t) * N + i) * N + j)];
    }
    int32_t path_at(int64_t b, int64_t t) const { return path[static_cast<size_t>(b * T + t)]; }
};

// Enumerates all N^L paths of every sequence. MAX ties: the path whose states, compared from the
// last position backwards, are smallest (the documented rule).
inline HmmReference brute_force(HmmCase c) {
    HmmReference r{c.B, c.T, c.N, {}, {}, {}, {}, {}};
    const Ld inf = std::numeric_limits<Ld>::infinity();
    r.log_partition.assign(static_cast<size_t>(c.B), 0);
    r.best.assign(static_cast<size_t>(c.B), 0);
    r.path.assign(static_cast<size_t>(c.B * c.T), -1);
    r.node.assign(static_cast<size_t>(c.B * c.T * c.N), 0);
    r.edge.assign(static_cast<size_t>(c.B * c.T * c.N * c.N), 0);
    for (int64_t b = 0; b < c.B; ++b) {
        const int64_t L = c.lengths[static_cast<size_t>(b)];
        int64_t count = 1;
        for (int64_t t = 0; t < L; ++t) count *= c.N;
        std::vector<Ld> score(static_cast<size_t>(count));
        std::vector<std::vector<int64_t>> paths(static_cast<size_t>(count), std::vector<int64_t>(static_cast<size_t>(L)));
        bool nan = false;
        Ld hi = -inf;
        Ld best = -inf;
        int64_t best_k = -1;
        for (int64_t k = 0; k < count; ++k) {
            auto &z = paths[static_cast<size_t>(k)];
            int64_t rem = k;
            for (int64_t t = 0; t < L; ++t) {
                z[static_cast<size_t>(t)] = rem % c.N;
                rem /= c.N;
            }
            Ld s = c.start_score(b, z[0]);
            for (int64_t t = 1; t < L; ++t) s += c.edge_score(b, t, z[static_cast<size_t>(t - 1)], z[static_cast<size_t>(t)]);
            score[static_cast<size_t>(k)] = s;
            if (std::isnan(s)) nan = true;
            hi = std::max(hi, s);
            bool take = false;
            if (s > best) take = true;
            else if (s == best && best_k >= 0) {
                const auto &w = paths[static_cast<size_t>(best_k)];
                for (int64_t t = L - 1; t >= 0; --t) {
                    if (z[static_cast<size_t>(t)] != w[static_cast<size_t>(t)]) {
                        take = z[static_cast<size_t>(t)] < w[static_cast<size_t>(t)];
                        break;
                    }
                }
            }
            if (take) {
                best = s;
                best_k = k;
            }
        }
        if (nan) {
            const Ld q = std::numeric_limits<Ld>::quiet_NaN();
            r.log_partition[static_cast<size_t>(b)] = q;
            r.best[static_cast<size_t>(b)] = q;
            for (int64_t t = 0; t < L; ++t)
                for (int64_t i = 0; i < c.N; ++i) {
                    r.node_at(b, t, i) = q;
                    if (t >= 1)
                        for (int64_t j = 0; j < c.N; ++j) r.edge_at(b, t, i, j) = q;
                }
            continue;
        }
        r.best[static_cast<size_t>(b)] = best;
        if (best > -inf)
            for (int64_t t = 0; t < L; ++t)
                r.path[static_cast<size_t>(b * c.T + t)] = static_cast<int32_t>(paths[static_cast<size_t>(best_k)][static_cast<size_t>(t)]);
        if (hi == -inf) {
            r.log_partition[static_cast<size_t>(b)] = -inf;
            continue;
        }
        Ld sum = 0;
        for (Ld s : score) sum += std::exp(s - hi);
        const Ld lz = hi + std::log(sum);
        r.log_partition[static_cast<size_t>(b)] = lz;
        for (int64_t k = 0; k < count; ++k) {
            const Ld p = std::exp(score[static_cast<size_t>(k)] - lz);
            const auto &z = paths[static_cast<size_t>(k)];
            for (int64_t t = 0; t < L; ++t) {
                r.node_at(b, t, z[static_cast<size_t>(t)]) += p;
                if (t >= 1) r.edge_at(b, t, z[static_cast<size_t>(t - 1)], z[static_cast<size_t>(t)]) += p;
            }
        }
    }
    return r;
}

// Gradients of sum_b g_b * result_b from the reference: LOG through the posteriors, MAX
// through the reference path. Dense, shaped like the case's inputs.
struct HmmRefGrads {
    std::vector<Ld> potentials, initial, transition, emission;
};

inline HmmRefGrads reference_gradients(HmmCase &c, HmmReference &r, int32_t semiring, const std::vector<double> &g) {
    HmmRefGrads out;
    const int64_t B = c.B, T = c.T, N = c.N;
    const bool max = semiring == SK_SEMIRING_MAX;
    if (c.form == HmmForm::Edge) out.potentials.assign(static_cast<size_t>(B * T * N * N), 0);
    if (c.uses_initial()) out.initial.assign(static_cast<size_t>((c.initial_shared ? 1 : B) * N), 0);
    if (c.form == HmmForm::Factored) {
        out.transition.assign(static_cast<size_t>((c.transition_shared ? 1 : B) * N * N), 0);
        out.emission.assign(static_cast<size_t>(B * T * N), 0);
    }
    for (int64_t b = 0; b < B; ++b) {
        const int64_t L = c.lengths[static_cast<size_t>(b)];
        const Ld gb = g[static_cast<size_t>(b)];
        const bool nan = std::isnan(r.best[static_cast<size_t>(b)]);
        auto node = [&](int64_t t, int64_t j) -> Ld {
            if (nan) return std::numeric_limits<Ld>::quiet_NaN();
            if (max) return r.path_at(b, t) == j ? 1 : 0;
            return r.node_at(b, t, j);
        };
        auto edge = [&](int64_t t, int64_t i, int64_t j) -> Ld {
            if (nan) return std::numeric_limits<Ld>::quiet_NaN();
            if (max) return (r.path_at(b, t - 1) == i && r.path_at(b, t) == j) ? 1 : 0;
            return r.edge_at(b, t, i, j);
        };
        for (int64_t j = 0; j < N; ++j) {
            const Ld p0 = gb * node(0, j);
            if (c.uses_initial()) out.initial[static_cast<size_t>((c.initial_shared ? 0 : b) * N + j)] += p0;
            if (c.form == HmmForm::Edge && c.convention == SK_HMM_INITIAL_ROW0)
                out.potentials[static_cast<size_t>(((b * T + 0) * N + 0) * N + j)] = p0;
        }
        for (int64_t t = 0; t < L; ++t)
            for (int64_t j = 0; j < N; ++j) {
                if (c.form == HmmForm::Factored) out.emission[static_cast<size_t>((b * T + t) * N + j)] = gb * node(t, j);
                if (t == 0) continue;
                for (int64_t i = 0; i < N; ++i) {
                    const Ld xi = gb * edge(t, i, j);
                    if (c.form == HmmForm::Edge)
                        out.potentials[static_cast<size_t>(((b * T + t) * N + i) * N + j)] = xi;
                    else
                        out.transition[static_cast<size_t>(((c.transition_shared ? 0 : b) * N + i) * N + j)] += xi;
                }
            }
    }
    return out;
}

// Compares a dense result with a reference: |x - r| <= atol + rtol |r|, NaN matches NaN,
// infinities match exactly. Reports the first few mismatches.
template <class T>
int compare_dense(const std::vector<T> &got, const std::vector<Ld> &want, Ld rtol, Ld atol, const std::string &label) {
    int bad = 0;
    if (got.size() != want.size()) {
        CHECK_MSG(false, label << ": size " << got.size() << " vs " << want.size());
        return 1;
    }
    for (size_t e = 0; e < got.size(); ++e)
        if (!close(Ld(got[e]), want[e], rtol, atol) && bad++ < 4)
            CHECK_MSG(false, label << " [" << e << "]: got " << static_cast<double>(got[e]) << " want "
                                   << static_cast<double>(want[e]));
    return bad;
}

// Two results of the same dtype (another backend, another emulation): |got - want| <= tol *
// max(1, |want|); NaN matches NaN and infinities match exactly; tol = 0 asks for equality.
template <class T>
void compare_results(const std::vector<T> &got, const std::vector<T> &want, double tol, const std::string &label) {
    CHECK_MSG(got.size() == want.size(), label << ": sizes " << got.size() << " vs " << want.size());
    int bad = 0;
    for (size_t e = 0; e < got.size() && e < want.size(); ++e) {
        const double g = got[e], w = want[e];
        const bool ok = (std::isnan(w) || std::isinf(w) || tol == 0) ? (std::isnan(w) ? std::isnan(g) : g == w)
                                                                     : std::fabs(g - w) <= tol * std::max(1.0, std::fabs(w));
        if (!ok && bad++ < 4) CHECK_MSG(false, label << " [" << e << "]: got " << g << " want " << w);
    }
}

template <class T>
constexpr double hmm_tolerance() {
    return std::is_same_v<T, float> ? 2e-5 : 1e-11;
}

}  // namespace sktest
