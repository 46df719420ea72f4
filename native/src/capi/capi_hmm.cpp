// extern "C" entry points of the HMM family: validate every argument (naming it), then
// dispatch on device and dtype. Nothing is written before every check has passed.
#include <cstddef>
#include <cstring>
#include <vector>

#include "capi/capi_guard.h"
#include "capi/validate.h"
#include "core/device.h"
#include "hmm/hmm.h"

namespace sk::capi {
namespace {


using hmm::Form;
using hmm::InitialConvention;

enum class Op { Forward, Backward, Marginals, Viterbi };

struct Options {
    Semiring semiring;
    InitialConvention convention;
};

Options require_hmm_options(const sk_hmm_options *o, Form form, Op op) {
    if (!o) fail(SK_ERROR_NULL_POINTER, "argument 'options' is NULL");
    require_options_size(o->struct_size, offsetof(sk_hmm_options, initial_convention) + sizeof(int32_t),
                         "sk_hmm_options", sizeof(sk_hmm_options));
    if (o->semiring != SK_SEMIRING_LOG && o->semiring != SK_SEMIRING_MAX)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.semiring': the HMM ops take "
             "SK_SEMIRING_LOG or SK_SEMIRING_MAX, got %d", o->semiring);
    if (op == Op::Viterbi && o->semiring != SK_SEMIRING_MAX)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.semiring': Viterbi decoding needs "
             "SK_SEMIRING_MAX, got the log semiring");
    if (o->initial_convention != SK_HMM_INITIAL_SEPARATE && o->initial_convention != SK_HMM_INITIAL_ROW0)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.initial_convention': unknown value %d",
             o->initial_convention);
    if (form == Form::Factored && o->initial_convention != SK_HMM_INITIAL_SEPARATE)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.initial_convention': the factored form "
             "takes its own initial vector and needs SK_HMM_INITIAL_SEPARATE (ROW0 is for the edge form)");
    return {static_cast<Semiring>(o->semiring), static_cast<InitialConvention>(o->initial_convention)};
}

using Named = std::pair<const sk_tensor *, const char *>;

// The validated inputs of one call.
struct Inputs {
    Form form = Form::Edge;
    Options options{};
    DType dtype = DType::Float32;
    hmm::Shape shape;
    const sk_tensor *potentials = nullptr, *initial = nullptr, *transition = nullptr,
                    *emission = nullptr, *lengths = nullptr;
    std::vector<index_t> lengths_host;
    std::vector<Named> all() const {
        return {{potentials, "potentials"}, {initial, "initial"}, {transition, "transition"},
                {emission, "emission"}, {lengths, "lengths"}};
    }
};

long long ll(index_t x) { return static_cast<long long>(x); }

void require_extent(const sk_tensor &t, const char *name, int dim, index_t want, const char *what) {
    if (t.shape[dim] != want)
        fail(SK_ERROR_SHAPE, "argument '%s': extent %lld in dimension %d must equal %s = %lld "
             "(shape %s)", name, ll(t.shape[dim]), dim, what, ll(want), shape_string(t).c_str());
}

void require_float_input(const sk_tensor &t, const char *name, DType dtype, const sk_context &ctx) {
    require_dtype(t, name, dtype);
    require_on_context_device(t, name, ctx);
}

// (N) shared or (B, N).
void require_initial(const sk_tensor *initial, const Inputs &in, const sk_context &ctx) {
    const auto &t = require_tensor(initial, "initial");
    require_rank(t, "initial", 1, 2);
    if (t.rank == 2) require_extent(t, "initial", 0, in.shape.batch, "the batch B");
    require_extent(t, "initial", t.rank - 1, in.shape.states, "the number of states N");
    require_float_input(t, "initial", in.dtype, ctx);
}

void require_states(index_t n, const char *name, const sk_context &ctx) {
    if (n < 1) fail(SK_ERROR_SHAPE, "argument '%s': N = 0 states; at least one state is needed", name);
    if (ctx.is_cuda() && n > hmm::kCudaMaxStates)
        fail(SK_ERROR_UNSUPPORTED, "argument '%s': N = %lld states exceeds the CUDA kernels' limit "
             "of %lld (use a CPU context)", name, ll(n), ll(hmm::kCudaMaxStates));
}

// Reads lengths (host memory, or the context's CUDA device) and checks 1 <= lengths[b] <= T.
void require_lengths(const sk_tensor *lengths, Inputs &in, const sk_context &ctx) {
    const auto &t = require_tensor(lengths, "lengths");
    require_rank(t, "lengths", 1, 1);
    require_extent(t, "lengths", 0, in.shape.batch, "the batch B");
    if (t.dtype != SK_DTYPE_INT32 && t.dtype != SK_DTYPE_INT64)
        fail(SK_ERROR_DTYPE, "argument 'lengths': expected int32 or int64, got %s",
             dtype_name(static_cast<DType>(t.dtype)));
    const index_t batch = in.shape.batch;
    const std::size_t elem = dtype_size(static_cast<DType>(t.dtype));
    const std::size_t span = batch == 0 ? 0 : static_cast<std::size_t>((batch - 1) * t.strides[0] + 1);
    std::vector<unsigned char> bytes;
    const unsigned char *host = static_cast<const unsigned char *>(t.data);
    if (t.device_type != SK_DEVICE_CPU) {
        require_on_context_device(t, "lengths", ctx);
        bytes.resize(span * elem);
        device::copy(bytes.data(), DeviceType::Cpu, t.data, DeviceType::Cuda, bytes.size(),
                     ctx.device_index(), ctx.stream());
        host = bytes.data();
    }
    in.lengths_host.resize(static_cast<std::size_t>(batch));
    for (index_t b = 0; b < batch; ++b) {
        const unsigned char *p = host + static_cast<std::size_t>(b * t.strides[0]) * elem;
        index_t v;
        if (t.dtype == SK_DTYPE_INT32) {
            std::int32_t x;
            std::memcpy(&x, p, sizeof x);
            v = x;
        } else {
            std::int64_t x;
            std::memcpy(&x, p, sizeof x);
            v = x;
        }
        if (v < 1 || v > in.shape.steps)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'lengths': lengths[%lld] = %lld is outside "
                 "[1, T = %lld]", ll(b), ll(v), ll(in.shape.steps));
        in.lengths_host[static_cast<std::size_t>(b)] = v;
    }
    in.lengths = lengths;
}

Inputs check_edge(sk_context &ctx, const sk_hmm_options *options, const sk_tensor *potentials,
                  const sk_tensor *initial, const sk_tensor *lengths, Op op) {
    Inputs in;
    in.form = Form::Edge;
    in.options = require_hmm_options(options, Form::Edge, op);
    const auto &p = require_tensor(potentials, "potentials");
    require_rank(p, "potentials", 4, 4);
    if (p.shape[2] != p.shape[3])
        fail(SK_ERROR_SHAPE, "argument 'potentials': expected (B, T, N, N), the last two extents "
             "differ (shape %s)", shape_string(p).c_str());
    in.shape = {p.shape[0], p.shape[1], p.shape[2]};
    require_states(in.shape.states, "potentials", ctx);
    in.dtype = require_float_dtype(p, "potentials");
    require_on_context_device(p, "potentials", ctx);
    in.potentials = potentials;
    if (in.options.convention == InitialConvention::Row0) {
        if (initial)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'initial' must be NULL with "
                 "SK_HMM_INITIAL_ROW0 (the start scores are potentials[:, 0, 0, :])");
    } else {
        if (!initial)
            fail(SK_ERROR_NULL_POINTER, "argument 'initial' is NULL: SK_HMM_INITIAL_SEPARATE needs "
                 "the start scores (N) or (B, N)");
        require_initial(initial, in, ctx);
        in.initial = initial;
    }
    require_lengths(lengths, in, ctx);
    return in;
}

Inputs check_factored(sk_context &ctx, const sk_hmm_options *options, const sk_tensor *initial,
                      const sk_tensor *transition, const sk_tensor *emission,
                      const sk_tensor *lengths, Op op) {
    Inputs in;
    in.form = Form::Factored;
    in.options = require_hmm_options(options, Form::Factored, op);
    const auto &e = require_tensor(emission, "emission");
    require_rank(e, "emission", 3, 3);
    in.shape = {e.shape[0], e.shape[1], e.shape[2]};
    require_states(in.shape.states, "emission", ctx);
    in.dtype = require_float_dtype(e, "emission");
    require_on_context_device(e, "emission", ctx);
    in.emission = emission;
    require_initial(initial, in, ctx);
    in.initial = initial;
    const auto &tr = require_tensor(transition, "transition");
    require_rank(tr, "transition", 2, 3);
    if (tr.rank == 3) require_extent(tr, "transition", 0, in.shape.batch, "the batch B");
    require_extent(tr, "transition", tr.rank - 2, in.shape.states, "the number of states N");
    require_extent(tr, "transition", tr.rank - 1, in.shape.states, "the number of states N");
    require_float_input(tr, "transition", in.dtype, ctx);
    in.transition = transition;
    require_lengths(lengths, in, ctx);
    return in;
}

// ---- outputs ---------------------------------------------------------------------------------

// Validates an output of the given shape and dtype, disjoint from the inputs and from the
// outputs validated before it (collected in `outputs`).
void require_output_of(const sk_tensor *out, const char *name, std::vector<index_t> shape,
                       DType dtype, const Inputs &in, const sk_context &ctx,
                       std::vector<Named> &outputs) {
    const auto &t = require_tensor(out, name);
    bool same = t.rank == static_cast<int>(shape.size());
    for (int d = 0; same && d < t.rank; ++d) same = t.shape[d] == shape[static_cast<std::size_t>(d)];
    if (!same) {
        std::string want = "[";
        for (std::size_t d = 0; d < shape.size(); ++d) want += (d ? ", " : "") + std::to_string(shape[d]);
        fail(SK_ERROR_SHAPE, "argument '%s': expected shape %s, got %s", name, (want + "]").c_str(),
             shape_string(t).c_str());
    }
    require_dtype(t, name, dtype);
    require_on_context_device(t, name, ctx);
    require_no_self_overlap(t, name);
    for (const auto &[tensor, tensor_name] : in.all())
        if (tensor) require_disjoint(t, name, *tensor, tensor_name);
    for (const auto &[other, other_name] : outputs) require_disjoint(t, name, *other, other_name);
    outputs.push_back({out, name});
}

// A gradient output shaped like its input.
void require_gradient(const sk_tensor *grad, const char *name, const sk_tensor *input,
                      const char *input_name, const Inputs &in, const sk_context &ctx,
                      std::vector<Named> &outputs) {
    if (!input)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument '%s' must be NULL: there is no '%s' input "
             "(SK_HMM_INITIAL_ROW0)", name, input_name);
    std::vector<index_t> shape(input->shape, input->shape + input->rank);
    require_output_of(grad, name, shape, in.dtype, in, ctx, outputs);
}

// ---- dispatch --------------------------------------------------------------------------------

template <class T>
hmm::Model<T> make_model(const Inputs &in) {
    hmm::Model<T> m;
    m.form = in.form;
    m.semiring = in.options.semiring;
    m.convention = in.options.convention;
    m.shape = in.shape;
    m.lengths = in.lengths_host.data();
    if (const sk_tensor *p = in.potentials)
        m.potentials = {static_cast<const T *>(p->data), p->strides[0], p->strides[1], p->strides[2], p->strides[3]};
    if (const sk_tensor *t = in.initial) {
        m.initial_shared = t->rank == 1;
        m.initial = m.initial_shared
                        ? hmm::View2<const T>{static_cast<const T *>(t->data), 0, t->strides[0]}
                        : hmm::View2<const T>{static_cast<const T *>(t->data), t->strides[0], t->strides[1]};
    }
    if (const sk_tensor *t = in.transition) {
        m.transition_shared = t->rank == 2;
        m.transition = m.transition_shared
                           ? View3<const T>{static_cast<const T *>(t->data), 0, t->strides[0], t->strides[1]}
                           : View3<const T>{static_cast<const T *>(t->data), t->strides[0], t->strides[1], t->strides[2]};
    }
    if (const sk_tensor *e = in.emission)
        m.emission = {static_cast<const T *>(e->data), e->strides[0], e->strides[1], e->strides[2]};
    return m;
}

template <class T>
hmm::View1<T> view1(const sk_tensor *t) {
    if (!t) return {};
    return {static_cast<T *>(t->data), t->strides[0]};
}
template <class T>
hmm::View2<T> view2(const sk_tensor *t) {
    if (!t) return {};
    if (t->rank == 1) return {static_cast<T *>(t->data), 0, t->strides[0]};
    return {static_cast<T *>(t->data), t->strides[0], t->strides[1]};
}
template <class T>
View3<T> view3(const sk_tensor *t) {
    if (!t) return {};
    if (t->rank == 2) return {static_cast<T *>(t->data), 0, t->strides[0], t->strides[1]};
    return {static_cast<T *>(t->data), t->strides[0], t->strides[1], t->strides[2]};
}
template <class T>
hmm::View4<T> view4(const sk_tensor *t) {
    if (!t) return {};
    return {static_cast<T *>(t->data), t->strides[0], t->strides[1], t->strides[2], t->strides[3]};
}

template <class T>
void run_forward(sk_context &ctx, const Inputs &in, sk_tensor *log_partition) {
    hmm::ForwardArgs<T> a{make_model<T>(in), view1<T>(log_partition)};
    ctx.activate();
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(hmm::forward_cuda(ctx, a));
    else
        hmm::forward_cpu(ctx, a);
}

template <class T>
void run_marginals(sk_context &ctx, const Inputs &in, sk_tensor *marginals, sk_tensor *log_partition) {
    hmm::MarginalsArgs<T> a{make_model<T>(in), view3<T>(marginals), view1<T>(log_partition)};
    ctx.activate();
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(hmm::marginals_cuda(ctx, a));
    else
        hmm::marginals_cpu(ctx, a);
}

template <class T>
void run_viterbi(sk_context &ctx, const Inputs &in, sk_tensor *score, sk_tensor *path) {
    hmm::ViterbiArgs<T> a{make_model<T>(in), view1<T>(score), view2<std::int32_t>(path)};
    ctx.activate();
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(hmm::viterbi_cuda(ctx, a));
    else
        hmm::viterbi_cpu(ctx, a);
}

template <class T>
void run_backward(sk_context &ctx, const Inputs &in, const sk_tensor *grad, sk_tensor *grad_potentials,
                  sk_tensor *grad_initial, sk_tensor *grad_transition, sk_tensor *grad_emission) {
    hmm::BackwardArgs<T> a;
    a.model = make_model<T>(in);
    a.grad = view1<const T>(grad);
    a.grad_potentials = view4<T>(grad_potentials);
    a.grad_initial = view2<T>(grad_initial);
    a.grad_transition = view3<T>(grad_transition);
    a.grad_emission = view3<T>(grad_emission);
    ctx.activate();
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(hmm::backward_cuda(ctx, a));
    else
        hmm::backward_cpu(ctx, a);
}

// Validation shared by the edge and factored spellings of each op, after the inputs.
void check_scores_output(const sk_tensor *out, const char *name, const Inputs &in,
                         const sk_context &ctx, std::vector<Named> &outputs) {
    require_output_of(out, name, {in.shape.batch}, in.dtype, in, ctx, outputs);
}

void do_forward(sk_context &ctx, const Inputs &in, sk_tensor *log_partition) {
    std::vector<Named> outputs;
    check_scores_output(log_partition, "log_partition", in, ctx, outputs);
    if (in.dtype == DType::Float32)
        run_forward<float>(ctx, in, log_partition);
    else
        run_forward<double>(ctx, in, log_partition);
}

void do_marginals(sk_context &ctx, const Inputs &in, sk_tensor *marginals, sk_tensor *log_partition) {
    std::vector<Named> outputs;
    require_output_of(marginals, "marginals", {in.shape.batch, in.shape.steps, in.shape.states},
                      in.dtype, in, ctx, outputs);
    if (log_partition) check_scores_output(log_partition, "log_partition", in, ctx, outputs);
    if (in.dtype == DType::Float32)
        run_marginals<float>(ctx, in, marginals, log_partition);
    else
        run_marginals<double>(ctx, in, marginals, log_partition);
}

void do_viterbi(sk_context &ctx, const Inputs &in, sk_tensor *best_score, sk_tensor *best_path) {
    std::vector<Named> outputs;
    if (best_score) check_scores_output(best_score, "best_score", in, ctx, outputs);
    if (best_path)
        require_output_of(best_path, "best_path", {in.shape.batch, in.shape.steps}, DType::Int32, in,
                          ctx, outputs);
    if (in.dtype == DType::Float32)
        run_viterbi<float>(ctx, in, best_score, best_path);
    else
        run_viterbi<double>(ctx, in, best_score, best_path);
}

void require_upstream(const sk_tensor *grad, const Inputs &in, const sk_context &ctx) {
    const auto &g = require_tensor(grad, "grad_log_partition");
    require_rank(g, "grad_log_partition", 1, 1);
    require_extent(g, "grad_log_partition", 0, in.shape.batch, "the batch B");
    require_float_input(g, "grad_log_partition", in.dtype, ctx);
}

}  // namespace
}  // namespace sk::capi

using namespace sk;
using namespace sk::capi;

extern "C" {

SK_API sk_status sk_hmm_edge_forward(sk_context *ctx, const sk_hmm_options *options,
                                     const sk_tensor *potentials, const sk_tensor *initial,
                                     const sk_tensor *lengths, sk_tensor *log_partition) {
    return guarded(ctx, "sk_hmm_edge_forward", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_edge(context, options, potentials, initial, lengths, Op::Forward);
        do_forward(context, in, log_partition);
    });
}

SK_API sk_status sk_hmm_factored_forward(sk_context *ctx, const sk_hmm_options *options,
                                         const sk_tensor *initial, const sk_tensor *transition,
                                         const sk_tensor *emission, const sk_tensor *lengths,
                                         sk_tensor *log_partition) {
    return guarded(ctx, "sk_hmm_factored_forward", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_factored(context, options, initial, transition, emission, lengths, Op::Forward);
        do_forward(context, in, log_partition);
    });
}

SK_API sk_status sk_hmm_edge_backward(sk_context *ctx, const sk_hmm_options *options,
                                      const sk_tensor *potentials, const sk_tensor *initial,
                                      const sk_tensor *lengths,
                                      const sk_tensor *grad_log_partition,
                                      sk_tensor *grad_potentials, sk_tensor *grad_initial) {
    return guarded(ctx, "sk_hmm_edge_backward", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_edge(context, options, potentials, initial, lengths, Op::Backward);
        require_upstream(grad_log_partition, in, context);
        std::vector<Named> outputs = {{grad_log_partition, "grad_log_partition"}};
        if (grad_potentials)
            require_gradient(grad_potentials, "grad_potentials", potentials, "potentials", in, context, outputs);
        if (grad_initial) require_gradient(grad_initial, "grad_initial", in.initial, "initial", in, context, outputs);
        if (in.dtype == DType::Float32)
            run_backward<float>(context, in, grad_log_partition, grad_potentials, grad_initial, nullptr, nullptr);
        else
            run_backward<double>(context, in, grad_log_partition, grad_potentials, grad_initial, nullptr, nullptr);
    });
}

SK_API sk_status sk_hmm_factored_backward(sk_context *ctx, const sk_hmm_options *options,
                                          const sk_tensor *initial, const sk_tensor *transition,
                                          const sk_tensor *emission, const sk_tensor *lengths,
                                          const sk_tensor *grad_log_partition,
                                          sk_tensor *grad_initial, sk_tensor *grad_transition,
                                          sk_tensor *grad_emission) {
    return guarded(ctx, "sk_hmm_factored_backward", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_factored(context, options, initial, transition, emission, lengths, Op::Backward);
        require_upstream(grad_log_partition, in, context);
        std::vector<Named> outputs = {{grad_log_partition, "grad_log_partition"}};
        if (grad_initial) require_gradient(grad_initial, "grad_initial", initial, "initial", in, context, outputs);
        if (grad_transition)
            require_gradient(grad_transition, "grad_transition", transition, "transition", in, context, outputs);
        if (grad_emission)
            require_gradient(grad_emission, "grad_emission", emission, "emission", in, context, outputs);
        if (in.dtype == DType::Float32)
            run_backward<float>(context, in, grad_log_partition, nullptr, grad_initial, grad_transition, grad_emission);
        else
            run_backward<double>(context, in, grad_log_partition, nullptr, grad_initial, grad_transition, grad_emission);
    });
}

SK_API sk_status sk_hmm_edge_marginals(sk_context *ctx, const sk_hmm_options *options,
                                       const sk_tensor *potentials, const sk_tensor *initial,
                                       const sk_tensor *lengths, sk_tensor *marginals,
                                       sk_tensor *log_partition) {
    return guarded(ctx, "sk_hmm_edge_marginals", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_edge(context, options, potentials, initial, lengths, Op::Marginals);
        do_marginals(context, in, marginals, log_partition);
    });
}

SK_API sk_status sk_hmm_factored_marginals(sk_context *ctx, const sk_hmm_options *options,
                                           const sk_tensor *initial, const sk_tensor *transition,
                                           const sk_tensor *emission, const sk_tensor *lengths,
                                           sk_tensor *marginals, sk_tensor *log_partition) {
    return guarded(ctx, "sk_hmm_factored_marginals", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_factored(context, options, initial, transition, emission, lengths, Op::Marginals);
        do_marginals(context, in, marginals, log_partition);
    });
}

SK_API sk_status sk_hmm_edge_viterbi(sk_context *ctx, const sk_hmm_options *options,
                                     const sk_tensor *potentials, const sk_tensor *initial,
                                     const sk_tensor *lengths, sk_tensor *best_score,
                                     sk_tensor *best_path) {
    return guarded(ctx, "sk_hmm_edge_viterbi", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_edge(context, options, potentials, initial, lengths, Op::Viterbi);
        do_viterbi(context, in, best_score, best_path);
    });
}

SK_API sk_status sk_hmm_factored_viterbi(sk_context *ctx, const sk_hmm_options *options,
                                         const sk_tensor *initial, const sk_tensor *transition,
                                         const sk_tensor *emission, const sk_tensor *lengths,
                                         sk_tensor *best_score, sk_tensor *best_path) {
    return guarded(ctx, "sk_hmm_factored_viterbi", [&] {
        auto &context = require_context(ctx);
        const Inputs in = check_factored(context, options, initial, transition, emission, lengths, Op::Viterbi);
        do_viterbi(context, in, best_score, best_path);
    });
}

}  // extern "C"
