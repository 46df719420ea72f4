// Every bad-input path of the HMM entry points returns the right status, a message that names
// the argument (on the thread and on the context), and leaves every output untouched. Each
// input check runs through all four ops of the form it concerns.
#include <cstring>
#include <functional>

#include "test_util.h"

using namespace sktest;

namespace {

bool mentions(const char *message, const char *word) { return std::strstr(message, word) != nullptr; }

// B = 2, T = 3, N = 4, float32, outputs filled with the sentinel 99.
struct Problem {
    // edge form
    HostTensor<float> potentials{{2, 3, 4, 4}, 0.1f};
    // both forms
    HostTensor<float> initial{{4}, 0.0f};
    HostTensor<int64_t> lengths{{2}, 3};
    HostTensor<int32_t> lengths32{{2}, 3};
    bool int32_lengths = false;
    // factored form
    HostTensor<float> transition{{4, 4}, -1.0f}, emission{{2, 3, 4}, -0.5f};
    // outputs
    HostTensor<float> log_partition{{2}, 99.0f}, marginals{{2, 3, 4}, 99.0f}, score{{2}, 99.0f};
    HostTensor<int32_t> path{{2, 3}, 99};
    HostTensor<float> grad{{2}, 1.0f};
    HostTensor<float> grad_potentials{{2, 3, 4, 4}, 99.0f}, grad_initial{{4}, 99.0f},
        grad_transition{{4, 4}, 99.0f}, grad_emission{{2, 3, 4}, 99.0f};
    sk_hmm_options options{};
    bool no_initial = false;  // pass NULL for 'initial' (ROW0)

    Problem() {
        options.struct_size = sizeof(sk_hmm_options);
        options.semiring = SK_SEMIRING_LOG;
    }
    sk_tensor *init() { return no_initial ? nullptr : initial.d(); }
    sk_tensor *len() { return int32_lengths ? lengths32.d() : lengths.d(); }
    bool outputs_untouched() const {
        for (const auto *t : {&log_partition, &marginals, &score, &grad_potentials, &grad_initial, &grad_transition, &grad_emission})
            for (float x : t->storage)
                if (x != 99.0f) return false;
        for (int32_t x : path.storage)
            if (x != 99) return false;
        return true;
    }
};

enum class Op { Forward, Backward, Marginals, Viterbi };
const Op kOps[] = {Op::Forward, Op::Backward, Op::Marginals, Op::Viterbi};
const char *op_name(Op op) {
    switch (op) {
        case Op::Forward: return "forward";
        case Op::Backward: return "backward";
        case Op::Marginals: return "marginals";
        default: return "viterbi";
    }
}

sk_status call_edge(sk_context *ctx, Problem &p, Op op) {
    sk_hmm_options o = p.options;
    if (op == Op::Viterbi && o.semiring == SK_SEMIRING_LOG) o.semiring = SK_SEMIRING_MAX;
    switch (op) {
        case Op::Forward: return sk_hmm_edge_forward(ctx, &o, p.potentials.d(), p.init(), p.len(), p.log_partition.d());
        case Op::Backward:
            return sk_hmm_edge_backward(ctx, &o, p.potentials.d(), p.init(), p.len(), p.grad.d(), p.grad_potentials.d(),
                                        p.no_initial ? nullptr : p.grad_initial.d());
        case Op::Marginals:
            return sk_hmm_edge_marginals(ctx, &o, p.potentials.d(), p.init(), p.len(), p.marginals.d(), p.log_partition.d());
        default: return sk_hmm_edge_viterbi(ctx, &o, p.potentials.d(), p.init(), p.len(), p.score.d(), p.path.d());
    }
}

sk_status call_factored(sk_context *ctx, Problem &p, Op op) {
    sk_hmm_options o = p.options;
    if (op == Op::Viterbi && o.semiring == SK_SEMIRING_LOG) o.semiring = SK_SEMIRING_MAX;
    switch (op) {
        case Op::Forward:
            return sk_hmm_factored_forward(ctx, &o, p.init(), p.transition.d(), p.emission.d(), p.len(), p.log_partition.d());
        case Op::Backward:
            return sk_hmm_factored_backward(ctx, &o, p.init(), p.transition.d(), p.emission.d(), p.len(), p.grad.d(),
                                            p.grad_initial.d(), p.grad_transition.d(), p.grad_emission.d());
        case Op::Marginals:
            return sk_hmm_factored_marginals(ctx, &o, p.init(), p.transition.d(), p.emission.d(), p.len(),
                                             p.marginals.d(), p.log_partition.d());
        default:
            return sk_hmm_factored_viterbi(ctx, &o, p.init(), p.transition.d(), p.emission.d(), p.len(), p.score.d(),
                                           p.path.d());
    }
}

void expect(sk_context *ctx, sk_status status, sk_status expected, const char *word, const Problem &p,
            const std::string &label) {
    CHECK_MSG(status == expected, label << ": got " << sk_status_name(status) << " want " << sk_status_name(expected)
                                        << " (" << sk_last_error() << ")");
    CHECK_MSG(mentions(sk_last_error(), word), label << ": message '" << sk_last_error() << "' does not mention '" << word << "'");
    if (ctx)
        CHECK_MSG(std::strcmp(sk_context_last_error(ctx), sk_last_error()) == 0,
                  label << ": context message differs: " << sk_context_last_error(ctx));
    CHECK_MSG(p.outputs_untouched(), label << ": an output was written");
}

using Mutation = std::function<void(Problem &)>;

// Runs the mutation through every op of the form (or the listed ones).
void edge_case(sk_context *ctx, const char *label, sk_status status, const char *word, const Mutation &mutate,
               std::vector<Op> ops = {Op::Forward, Op::Backward, Op::Marginals, Op::Viterbi}) {
    for (Op op : ops) {
        Problem p;
        mutate(p);
        expect(ctx, call_edge(ctx, p, op), status, word, p, std::string("edge ") + op_name(op) + ": " + label);
    }
}

void factored_case(sk_context *ctx, const char *label, sk_status status, const char *word, const Mutation &mutate,
                   std::vector<Op> ops = {Op::Forward, Op::Backward, Op::Marginals, Op::Viterbi}) {
    for (Op op : ops) {
        Problem p;
        mutate(p);
        expect(ctx, call_factored(ctx, p, op), status, word, p, std::string("factored ") + op_name(op) + ": " + label);
    }
}

void both(sk_context *ctx, const char *label, sk_status status, const char *word, const Mutation &mutate,
          std::vector<Op> ops = {Op::Forward, Op::Backward, Op::Marginals, Op::Viterbi}) {
    edge_case(ctx, label, status, word, mutate, ops);
    factored_case(ctx, label, status, word, mutate, ops);
}

void set_shape(HostTensor<float> &t, std::vector<int64_t> shape) { t = HostTensor<float>(shape, t.storage.empty() ? 0.0f : t.storage[0]); }

}  // namespace

TEST(valid_problem_succeeds) {
    Context ctx;
    for (Op op : kOps) {
        Problem p, q;
        CHECK_OK(call_edge(ctx, p, op));
        CHECK_OK(call_factored(ctx, q, op));
    }
}

TEST(null_arguments) {
    Context ctx;
    for (Op op : kOps) {
        Problem p;
        expect(nullptr, call_edge(nullptr, p, op), SK_ERROR_NULL_POINTER, "ctx", p, "null ctx");
        expect(nullptr, call_factored(nullptr, p, op), SK_ERROR_NULL_POINTER, "ctx", p, "null ctx");
    }
    Problem p;
    expect(ctx, sk_hmm_edge_forward(ctx, nullptr, p.potentials.d(), p.init(), p.len(), p.log_partition.d()),
           SK_ERROR_NULL_POINTER, "options", p, "null options");
    expect(ctx, sk_hmm_factored_viterbi(ctx, nullptr, p.init(), p.transition.d(), p.emission.d(), p.len(), p.score.d(), p.path.d()),
           SK_ERROR_NULL_POINTER, "options", p, "null options");
    expect(ctx, sk_hmm_edge_forward(ctx, &p.options, nullptr, p.init(), p.len(), p.log_partition.d()),
           SK_ERROR_NULL_POINTER, "'potentials'", p, "null potentials");
    expect(ctx, sk_hmm_edge_backward(ctx, &p.options, p.potentials.d(), nullptr, p.len(), p.grad.d(), p.grad_potentials.d(), nullptr),
           SK_ERROR_NULL_POINTER, "'initial'", p, "null initial (SEPARATE)");
    expect(ctx, sk_hmm_edge_marginals(ctx, &p.options, p.potentials.d(), p.init(), nullptr, p.marginals.d(), nullptr),
           SK_ERROR_NULL_POINTER, "'lengths'", p, "null lengths");
    expect(ctx, sk_hmm_edge_forward(ctx, &p.options, p.potentials.d(), p.init(), p.len(), nullptr),
           SK_ERROR_NULL_POINTER, "'log_partition'", p, "null log_partition");
    expect(ctx, sk_hmm_edge_marginals(ctx, &p.options, p.potentials.d(), p.init(), p.len(), nullptr, p.log_partition.d()),
           SK_ERROR_NULL_POINTER, "'marginals'", p, "null marginals");
    expect(ctx, sk_hmm_edge_backward(ctx, &p.options, p.potentials.d(), p.init(), p.len(), nullptr, p.grad_potentials.d(), nullptr),
           SK_ERROR_NULL_POINTER, "grad_log_partition", p, "null grad_log_partition");
    expect(ctx, sk_hmm_factored_forward(ctx, &p.options, nullptr, p.transition.d(), p.emission.d(), p.len(), p.log_partition.d()),
           SK_ERROR_NULL_POINTER, "'initial'", p, "null initial (factored)");
    expect(ctx, sk_hmm_factored_forward(ctx, &p.options, p.init(), nullptr, p.emission.d(), p.len(), p.log_partition.d()),
           SK_ERROR_NULL_POINTER, "'transition'", p, "null transition");
    expect(ctx, sk_hmm_factored_marginals(ctx, &p.options, p.init(), p.transition.d(), nullptr, p.len(), p.marginals.d(), nullptr),
           SK_ERROR_NULL_POINTER, "'emission'", p, "null emission");
    expect(ctx, sk_hmm_factored_backward(ctx, &p.options, p.init(), p.transition.d(), p.emission.d(), p.len(), nullptr,
                                         p.grad_initial.d(), nullptr, nullptr),
           SK_ERROR_NULL_POINTER, "grad_log_partition", p, "null grad (factored)");
    both(ctx, "null data", SK_ERROR_NULL_POINTER, "'lengths'", [](Problem &q) { q.lengths.desc.data = nullptr; });
    edge_case(ctx, "null data", SK_ERROR_NULL_POINTER, "'potentials'", [](Problem &q) { q.potentials.desc.data = nullptr; });
    factored_case(ctx, "null data", SK_ERROR_NULL_POINTER, "'emission'", [](Problem &q) { q.emission.desc.data = nullptr; });
    // Optional outputs may be NULL.
    Problem ok;
    ok.options.semiring = SK_SEMIRING_MAX;
    CHECK_OK(sk_hmm_edge_viterbi(ctx, &ok.options, ok.potentials.d(), ok.init(), ok.len(), nullptr, nullptr));
    CHECK_OK(sk_hmm_edge_marginals(ctx, &ok.options, ok.potentials.d(), ok.init(), ok.len(), ok.marginals.d(), nullptr));
    CHECK_OK(sk_hmm_factored_backward(ctx, &ok.options, ok.init(), ok.transition.d(), ok.emission.d(), ok.len(), ok.grad.d(),
                                      nullptr, nullptr, nullptr));
}

TEST(bad_options) {
    Context ctx;
    both(ctx, "struct_size", SK_ERROR_INVALID_ARGUMENT, "struct_size", [](Problem &q) { q.options.struct_size = 8; });
    both(ctx, "real semiring", SK_ERROR_INVALID_ARGUMENT, "options.semiring", [](Problem &q) { q.options.semiring = SK_SEMIRING_REAL; });
    both(ctx, "min semiring", SK_ERROR_INVALID_ARGUMENT, "options.semiring", [](Problem &q) { q.options.semiring = SK_SEMIRING_MIN; });
    both(ctx, "unknown semiring", SK_ERROR_INVALID_ARGUMENT, "options.semiring", [](Problem &q) { q.options.semiring = 42; });
    both(ctx, "unknown convention", SK_ERROR_INVALID_ARGUMENT, "initial_convention", [](Problem &q) { q.options.initial_convention = 5; });
    factored_case(ctx, "row0 with the factored form", SK_ERROR_INVALID_ARGUMENT, "initial_convention",
                  [](Problem &q) { q.options.initial_convention = SK_HMM_INITIAL_ROW0; });
    Context c2;
    Problem p;
    expect(c2, sk_hmm_edge_viterbi(c2, &p.options, p.potentials.d(), p.init(), p.len(), p.score.d(), p.path.d()),
           SK_ERROR_INVALID_ARGUMENT, "SK_SEMIRING_MAX", p, "viterbi with the log semiring");
    expect(c2, sk_hmm_factored_viterbi(c2, &p.options, p.init(), p.transition.d(), p.emission.d(), p.len(), p.score.d(), p.path.d()),
           SK_ERROR_INVALID_ARGUMENT, "SK_SEMIRING_MAX", p, "factored viterbi with the log semiring");
    // ROW0 takes its start from potentials: 'initial' must be NULL, and so must 'grad_initial'.
    edge_case(ctx, "row0 with an initial", SK_ERROR_INVALID_ARGUMENT, "'initial' must be NULL",
              [](Problem &q) { q.options.initial_convention = SK_HMM_INITIAL_ROW0; });
    Problem r;
    r.options.initial_convention = SK_HMM_INITIAL_ROW0;
    expect(ctx, sk_hmm_edge_backward(ctx, &r.options, r.potentials.d(), nullptr, r.len(), r.grad.d(), r.grad_potentials.d(),
                                     r.grad_initial.d()),
           SK_ERROR_INVALID_ARGUMENT, "grad_initial", r, "row0 with grad_initial");
}

TEST(bad_shapes) {
    Context ctx;
    edge_case(ctx, "potentials rank 3", SK_ERROR_SHAPE, "'potentials'", [](Problem &q) { set_shape(q.potentials, {2, 3, 4}); });
    edge_case(ctx, "potentials not square", SK_ERROR_SHAPE, "'potentials'", [](Problem &q) { set_shape(q.potentials, {2, 3, 4, 5}); });
    edge_case(ctx, "zero states", SK_ERROR_SHAPE, "N = 0", [](Problem &q) { set_shape(q.potentials, {2, 3, 0, 0}); });
    factored_case(ctx, "zero states", SK_ERROR_SHAPE, "N = 0", [](Problem &q) { set_shape(q.emission, {2, 3, 0}); });
    both(ctx, "initial N", SK_ERROR_SHAPE, "'initial'", [](Problem &q) { set_shape(q.initial, {5}); });
    both(ctx, "initial batch", SK_ERROR_SHAPE, "'initial'", [](Problem &q) { set_shape(q.initial, {3, 4}); });
    both(ctx, "initial rank 3", SK_ERROR_SHAPE, "'initial'", [](Problem &q) { set_shape(q.initial, {2, 4, 1}); });
    factored_case(ctx, "emission rank 2", SK_ERROR_SHAPE, "'emission'", [](Problem &q) { set_shape(q.emission, {2, 3}); });
    factored_case(ctx, "transition not N x N", SK_ERROR_SHAPE, "'transition'", [](Problem &q) { set_shape(q.transition, {4, 5}); });
    factored_case(ctx, "transition batch", SK_ERROR_SHAPE, "'transition'", [](Problem &q) { set_shape(q.transition, {3, 4, 4}); });
    factored_case(ctx, "transition rank 1", SK_ERROR_SHAPE, "'transition'", [](Problem &q) { set_shape(q.transition, {16}); });
    both(ctx, "lengths extent", SK_ERROR_SHAPE, "'lengths'", [](Problem &q) { q.lengths = HostTensor<int64_t>({3}, 3); });
    both(ctx, "lengths rank 2", SK_ERROR_SHAPE, "'lengths'", [](Problem &q) { q.lengths = HostTensor<int64_t>({2, 1}, 3); });
    both(ctx, "negative extent", SK_ERROR_SHAPE, "negative", [](Problem &q) { q.initial.desc.shape[0] = -4; });
    both(ctx, "negative stride", SK_ERROR_SHAPE, "stride", [](Problem &q) { q.lengths.desc.strides[0] = -1; });
}

TEST(bad_output_shapes) {
    Context ctx;
    const std::vector<Op> fwd = {Op::Forward}, bwd = {Op::Backward}, marg = {Op::Marginals}, vit = {Op::Viterbi};
    for (auto *runner : {&edge_case, &factored_case}) {
        (*runner)(ctx, "log_partition extent", SK_ERROR_SHAPE, "'log_partition'",
                  [](Problem &q) { set_shape(q.log_partition, {3}); }, fwd);
        (*runner)(ctx, "log_partition rank", SK_ERROR_SHAPE, "'log_partition'",
                  [](Problem &q) { set_shape(q.log_partition, {2, 1}); }, marg);
        (*runner)(ctx, "marginals shape", SK_ERROR_SHAPE, "'marginals'",
                  [](Problem &q) { set_shape(q.marginals, {2, 4, 4}); }, marg);
        (*runner)(ctx, "best_score extent", SK_ERROR_SHAPE, "'best_score'",
                  [](Problem &q) { set_shape(q.score, {1}); }, vit);
        (*runner)(ctx, "best_path shape", SK_ERROR_SHAPE, "'best_path'",
                  [](Problem &q) { q.path = HostTensor<int32_t>({2, 4}, 99); }, vit);
        (*runner)(ctx, "grad_log_partition extent", SK_ERROR_SHAPE, "grad_log_partition",
                  [](Problem &q) { q.grad = HostTensor<float>({3}, 1.0f); }, bwd);
        (*runner)(ctx, "grad_initial shape", SK_ERROR_SHAPE, "'grad_initial'",
                  [](Problem &q) { set_shape(q.grad_initial, {2, 4}); }, bwd);
    }
    edge_case(ctx, "grad_potentials shape", SK_ERROR_SHAPE, "'grad_potentials'",
              [](Problem &q) { set_shape(q.grad_potentials, {2, 3, 4, 3}); }, bwd);
    factored_case(ctx, "grad_transition shape", SK_ERROR_SHAPE, "'grad_transition'",
                  [](Problem &q) { set_shape(q.grad_transition, {2, 4, 4}); }, bwd);
    factored_case(ctx, "grad_emission shape", SK_ERROR_SHAPE, "'grad_emission'",
                  [](Problem &q) { set_shape(q.grad_emission, {2, 3, 5}); }, bwd);
}

TEST(bad_dtypes) {
    Context ctx;
    edge_case(ctx, "potentials int32", SK_ERROR_DTYPE, "'potentials'", [](Problem &q) { q.potentials.desc.dtype = SK_DTYPE_INT32; });
    factored_case(ctx, "emission int64", SK_ERROR_DTYPE, "'emission'", [](Problem &q) { q.emission.desc.dtype = SK_DTYPE_INT64; });
    both(ctx, "initial float64", SK_ERROR_DTYPE, "'initial'", [](Problem &q) { q.initial.desc.dtype = SK_DTYPE_FLOAT64; });
    factored_case(ctx, "transition float64", SK_ERROR_DTYPE, "'transition'", [](Problem &q) { q.transition.desc.dtype = SK_DTYPE_FLOAT64; });
    both(ctx, "lengths float32", SK_ERROR_DTYPE, "'lengths'", [](Problem &q) { q.lengths.desc.dtype = SK_DTYPE_FLOAT32; });
    both(ctx, "unknown dtype", SK_ERROR_DTYPE, "'lengths'", [](Problem &q) { q.lengths.desc.dtype = 77; });
    const std::vector<Op> fwd = {Op::Forward}, bwd = {Op::Backward}, vit = {Op::Viterbi}, marg = {Op::Marginals};
    edge_case(ctx, "log_partition float64", SK_ERROR_DTYPE, "'log_partition'", [](Problem &q) { q.log_partition.desc.dtype = SK_DTYPE_FLOAT64; }, fwd);
    factored_case(ctx, "marginals int32", SK_ERROR_DTYPE, "'marginals'", [](Problem &q) { q.marginals.desc.dtype = SK_DTYPE_INT32; }, marg);
    both(ctx, "best_path int64", SK_ERROR_DTYPE, "'best_path'", [](Problem &q) { q.path.desc.dtype = SK_DTYPE_INT64; }, vit);
    both(ctx, "grad_log_partition float64", SK_ERROR_DTYPE, "grad_log_partition", [](Problem &q) { q.grad.desc.dtype = SK_DTYPE_FLOAT64; }, bwd);
    edge_case(ctx, "grad_potentials float64", SK_ERROR_DTYPE, "'grad_potentials'", [](Problem &q) { q.grad_potentials.desc.dtype = SK_DTYPE_FLOAT64; }, bwd);
    factored_case(ctx, "grad_emission int32", SK_ERROR_DTYPE, "'grad_emission'", [](Problem &q) { q.grad_emission.desc.dtype = SK_DTYPE_INT32; }, bwd);
    factored_case(ctx, "best_score float64", SK_ERROR_DTYPE, "'best_score'", [](Problem &q) { q.score.desc.dtype = SK_DTYPE_FLOAT64; }, vit);
}

TEST(bad_lengths) {
    Context ctx;
    for (int64_t bad : {int64_t(0), int64_t(-1), int64_t(4), int64_t(1) << 40}) {
        both(ctx, "lengths value int64", SK_ERROR_INVALID_ARGUMENT, "lengths[1]", [bad](Problem &q) { q.lengths.storage[1] = bad; });
        if (bad == (int64_t(1) << 40)) continue;
        both(ctx, "lengths value int32", SK_ERROR_INVALID_ARGUMENT, "lengths[0]", [bad](Problem &q) {
            q.int32_lengths = true;
            q.lengths32.storage[0] = static_cast<int32_t>(bad);
        });
    }
    // T = 0 with B > 0: no length can be valid.
    both(ctx, "T = 0", SK_ERROR_INVALID_ARGUMENT, "lengths[0]", [](Problem &q) {
        set_shape(q.potentials, {2, 0, 4, 4});
        set_shape(q.emission, {2, 0, 4});
    });
}

TEST(bad_devices) {
    Context ctx;
    both(ctx, "lengths on cuda", SK_ERROR_DEVICE, "'lengths'", [](Problem &q) { q.lengths.desc.device_type = SK_DEVICE_CUDA; });
    both(ctx, "initial on cuda", SK_ERROR_DEVICE, "'initial'", [](Problem &q) { q.initial.desc.device_type = SK_DEVICE_CUDA; });
    edge_case(ctx, "potentials on cuda", SK_ERROR_DEVICE, "'potentials'", [](Problem &q) { q.potentials.desc.device_type = SK_DEVICE_CUDA; });
    factored_case(ctx, "transition unknown device", SK_ERROR_DEVICE, "'transition'", [](Problem &q) { q.transition.desc.device_type = 3; });
    both(ctx, "cpu index 1", SK_ERROR_DEVICE, "'lengths'", [](Problem &q) { q.lengths.desc.device_index = 1; });
    edge_case(ctx, "log_partition on cuda", SK_ERROR_DEVICE, "'log_partition'",
              [](Problem &q) { q.log_partition.desc.device_type = SK_DEVICE_CUDA; }, {Op::Forward, Op::Marginals});
    factored_case(ctx, "grad_transition on cuda", SK_ERROR_DEVICE, "'grad_transition'",
                  [](Problem &q) { q.grad_transition.desc.device_type = SK_DEVICE_CUDA; }, {Op::Backward});
    both(ctx, "grad on cuda", SK_ERROR_DEVICE, "grad_log_partition", [](Problem &q) { q.grad.desc.device_type = SK_DEVICE_CUDA; },
         {Op::Backward});
}

TEST(overlapping_outputs) {
    Context ctx;
    // An output over an input.
    {
        Problem p;
        sk_tensor alias = p.log_partition.desc;
        alias.data = p.potentials.desc.data;
        const auto before = p.potentials.storage;
        CHECK(sk_hmm_edge_forward(ctx, &p.options, p.potentials.d(), p.init(), p.len(), &alias) == SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "'log_partition' overlaps") && mentions(sk_last_error(), "'potentials'"));
        CHECK(before == p.potentials.storage);
    }
    // Two outputs over each other.
    {
        Problem p;
        sk_tensor alias = p.grad_initial.desc;
        alias.data = p.grad_transition.desc.data;
        CHECK(sk_hmm_factored_backward(ctx, &p.options, p.init(), p.transition.d(), p.emission.d(), p.len(), p.grad.d(),
                                       &alias, p.grad_transition.d(), p.grad_emission.d()) == SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "overlaps"));
        CHECK(p.outputs_untouched());
    }
    // An output over the upstream gradient.
    {
        Problem q;
        // Room behind the upstream gradient, so the aliasing output overlaps it and nothing else
        // (whatever the allocator places next to it).
        q.grad.storage.resize(q.grad_potentials.storage.size());
        q.grad.desc.data = q.grad.storage.data();
        sk_tensor over = q.grad_potentials.desc;
        over.data = q.grad.desc.data;
        CHECK(sk_hmm_edge_backward(ctx, &q.options, q.potentials.d(), q.init(), q.len(), q.grad.d(), &over, nullptr) ==
              SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "grad_log_partition"));
    }
    // An output overlapping itself.
    edge_case(ctx, "self-overlapping marginals", SK_ERROR_SHAPE, "overlap",
              [](Problem &q) { q.marginals.desc.strides[2] = 0; }, {Op::Marginals});
    factored_case(ctx, "self-overlapping path", SK_ERROR_SHAPE, "overlap", [](Problem &q) { q.path.desc.strides[1] = 0; }, {Op::Viterbi});
}

TEST(workspace_limit_is_enforced_before_writing) {
    Context ctx;
    CHECK_OK(sk_context_set_workspace_limit(ctx, 256));
    for (Op op : kOps) {
        Problem p, q;
        expect(ctx, call_edge(ctx, p, op), SK_ERROR_OUT_OF_MEMORY, "workspace limit", p, std::string("edge ") + op_name(op));
        expect(ctx, call_factored(ctx, q, op), SK_ERROR_OUT_OF_MEMORY, "workspace limit", q, std::string("factored ") + op_name(op));
    }
    CHECK_OK(sk_context_set_workspace_limit(ctx, 0));
    Problem p;
    CHECK_OK(call_edge(ctx, p, Op::Backward));
}

TEST_MAIN()
