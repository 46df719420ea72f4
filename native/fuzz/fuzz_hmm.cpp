// libFuzzer harness of the HMM family: the eight sk_hmm_{edge,factored}_{forward,backward,
// marginals,viterbi} entry points with fuzzed descriptors and options (see fuzz_common.h).
#include <cstddef>

#include "fuzz_common.h"

using skfuzz::Fuzz;
using skfuzz::TensorPlan;

namespace {

struct Problem {
    int64_t batch, steps, states;
    int32_t dtype;
    sk_hmm_options *options;
    sk_tensor *lengths;
};

sk_hmm_options *hmm_options(Fuzz &f, bool edge) {
    auto *o = f.options<sk_hmm_options>();
    if (!o) return o;
    if (f.field(offsetof(sk_hmm_options, semiring))) o->semiring = f.code(SK_SEMIRING_LOG, SK_SEMIRING_MAX);
    if (f.field(offsetof(sk_hmm_options, initial_convention)))
        o->initial_convention = edge ? f.code(SK_HMM_INITIAL_SEPARATE, SK_HMM_INITIAL_ROW0)
                                     : (f.coin(16) ? f.code(0, 1) : SK_HMM_INITIAL_SEPARATE);
    return o;
}

TensorPlan floats(const char *name, const Problem &p, std::vector<int64_t> shape, bool output = false,
                  bool optional = false) {
    return {name, p.dtype, std::move(shape), output, optional};
}

void edge(Fuzz &f, sk_context *ctx, const Problem &p, int op) {
    const int64_t b = p.batch, t = p.steps, n = p.states;
    const bool row0 = p.options && f.field(offsetof(sk_hmm_options, initial_convention)) &&
                      p.options->initial_convention == SK_HMM_INITIAL_ROW0;
    sk_tensor *potentials = f.tensor(floats("potentials", p, {b, t, n, n}));
    const std::vector<int64_t> initial_shape = f.coin(2) ? std::vector<int64_t>{n} : std::vector<int64_t>{b, n};
    sk_tensor *initial = row0 && !f.coin(8) ? nullptr : f.tensor(floats("initial", p, initial_shape));
    switch (op) {
        case 0: {
            sk_tensor *log_partition = f.tensor(floats("log_partition", p, {b}, true));
            skfuzz::call(f, "sk_hmm_edge_forward", ctx, [&] {
                return sk_hmm_edge_forward(ctx, p.options, potentials, initial, p.lengths, log_partition);
            });
            break;
        }
        case 1: {
            sk_tensor *grad = f.tensor(floats("grad_log_partition", p, {b}));
            sk_tensor *grad_potentials = f.tensor(floats("grad_potentials", p, {b, t, n, n}, true, true));
            sk_tensor *grad_initial = f.tensor(floats("grad_initial", p, initial_shape, true, true));
            skfuzz::call(f, "sk_hmm_edge_backward", ctx, [&] {
                return sk_hmm_edge_backward(ctx, p.options, potentials, initial, p.lengths, grad,
                                            grad_potentials, grad_initial);
            });
            break;
        }
        case 2: {
            sk_tensor *marginals = f.tensor(floats("marginals", p, {b, t, n}, true));
            sk_tensor *log_partition = f.tensor(floats("log_partition", p, {b}, true, true));
            skfuzz::call(f, "sk_hmm_edge_marginals", ctx, [&] {
                return sk_hmm_edge_marginals(ctx, p.options, potentials, initial, p.lengths, marginals,
                                             log_partition);
            });
            break;
        }
        default: {
            sk_tensor *score = f.tensor(floats("best_score", p, {b}, true, true));
            sk_tensor *path = f.tensor({"best_path", SK_DTYPE_INT32, {b, t}, true, true});
            skfuzz::call(f, "sk_hmm_edge_viterbi", ctx, [&] {
                return sk_hmm_edge_viterbi(ctx, p.options, potentials, initial, p.lengths, score, path);
            });
            break;
        }
    }
}

void factored(Fuzz &f, sk_context *ctx, const Problem &p, int op) {
    const int64_t b = p.batch, t = p.steps, n = p.states;
    const std::vector<int64_t> initial_shape = f.coin(2) ? std::vector<int64_t>{n} : std::vector<int64_t>{b, n};
    const std::vector<int64_t> transition_shape =
        f.coin(2) ? std::vector<int64_t>{n, n} : std::vector<int64_t>{b, n, n};
    sk_tensor *initial = f.tensor(floats("initial", p, initial_shape));
    sk_tensor *transition = f.tensor(floats("transition", p, transition_shape));
    sk_tensor *emission = f.tensor(floats("emission", p, {b, t, n}));
    switch (op) {
        case 0: {
            sk_tensor *log_partition = f.tensor(floats("log_partition", p, {b}, true));
            skfuzz::call(f, "sk_hmm_factored_forward", ctx, [&] {
                return sk_hmm_factored_forward(ctx, p.options, initial, transition, emission, p.lengths,
                                               log_partition);
            });
            break;
        }
        case 1: {
            sk_tensor *grad = f.tensor(floats("grad_log_partition", p, {b}));
            sk_tensor *grad_initial = f.tensor(floats("grad_initial", p, initial_shape, true, true));
            sk_tensor *grad_transition = f.tensor(floats("grad_transition", p, transition_shape, true, true));
            sk_tensor *grad_emission = f.tensor(floats("grad_emission", p, {b, t, n}, true, true));
            skfuzz::call(f, "sk_hmm_factored_backward", ctx, [&] {
                return sk_hmm_factored_backward(ctx, p.options, initial, transition, emission, p.lengths,
                                                grad, grad_initial, grad_transition, grad_emission);
            });
            break;
        }
        case 2: {
            sk_tensor *marginals = f.tensor(floats("marginals", p, {b, t, n}, true));
            sk_tensor *log_partition = f.tensor(floats("log_partition", p, {b}, true, true));
            skfuzz::call(f, "sk_hmm_factored_marginals", ctx, [&] {
                return sk_hmm_factored_marginals(ctx, p.options, initial, transition, emission, p.lengths,
                                                 marginals, log_partition);
            });
            break;
        }
        default: {
            sk_tensor *score = f.tensor(floats("best_score", p, {b}, true, true));
            sk_tensor *path = f.tensor({"best_path", SK_DTYPE_INT32, {b, t}, true, true});
            skfuzz::call(f, "sk_hmm_factored_viterbi", ctx, [&] {
                return sk_hmm_factored_viterbi(ctx, p.options, initial, transition, emission, p.lengths,
                                               score, path);
            });
            break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    Fuzz f(data, size);
    sk_context *ctx = f.context();
    const bool is_edge = f.coin(2);
    const int op = static_cast<int>(f.small(0, 3));
    Problem p{};
    p.batch = f.small(0, 3);
    p.steps = f.small(1, 5);
    p.states = f.small(1, 4);
    p.dtype = f.coin(2) ? SK_DTYPE_FLOAT32 : SK_DTYPE_FLOAT64;
    p.options = hmm_options(f, is_edge);
    TensorPlan lengths{"lengths", f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64, {p.batch}};
    lengths.lo = 1;
    lengths.hi = p.steps;
    p.lengths = f.tensor(lengths);
    if (is_edge) edge(f, ctx, p, op);
    else factored(f, ctx, p, op);
    return 0;
}
