// extern "C" entry points of the einsum family: plan creation (parse + plan), queries, forward
// and backward. Every argument is validated before any output is written.
#include <cstddef>
#include <string>
#include <vector>

#include "capi/capi_guard.h"
#include "capi/validate.h"
#include "einsum/einsum.h"

struct sk_einsum_plan {
    sk::einsum::Compiled compiled;
};

namespace sk::capi {
namespace {

using einsum::Compiled;
using einsum::TensorRef;

struct EinsumOptions {
    Semiring semiring;
    int zero_gradient;
    index_t workspace_limit;
};

EinsumOptions require_einsum_options(const sk_einsum_options *options) {
    if (!options) fail(SK_ERROR_NULL_POINTER, "argument 'options' is NULL");
    require_options_size(options->struct_size,
                         offsetof(sk_einsum_options, workspace_limit_bytes) + sizeof(int64_t),
                         "sk_einsum_options", sizeof(sk_einsum_options));
    if (options->semiring < SK_SEMIRING_LOG || options->semiring > SK_SEMIRING_BOOLEAN)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.semiring': unknown semiring %d",
             options->semiring);
    if (options->zero_gradient != SK_EINSUM_ZERO_GRADIENT_ZERO &&
        options->zero_gradient != SK_EINSUM_ZERO_GRADIENT_NAN)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.zero_gradient': expected 0 (ZERO) or 1 "
             "(NAN), got %d", options->zero_gradient);
    if (options->workspace_limit_bytes < 0)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.workspace_limit_bytes': must be >= 0, "
             "got %lld", static_cast<long long>(options->workspace_limit_bytes));
    return {static_cast<Semiring>(options->semiring), options->zero_gradient,
            options->workspace_limit_bytes};
}

const Compiled &require_plan(const sk_einsum_plan *plan) {
    if (!plan) fail(SK_ERROR_NULL_POINTER, "argument 'plan' is NULL");
    return plan->compiled;
}

TensorRef ref_of(const sk_tensor &t) {
    TensorRef r;
    r.data = t.data;
    r.rank = t.rank;
    for (int d = 0; d < t.rank; ++d) {
        r.shape[d] = t.shape[d];
        r.stride[d] = t.strides[d];
    }
    return r;
}

std::string shape_text(const std::vector<index_t> &shape) {
    std::string s = "[";
    for (std::size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
    return s + "]";
}

void require_shape(const sk_tensor &t, const char *name, const std::vector<index_t> &shape) {
    bool same = t.rank == static_cast<int>(shape.size());
    for (int d = 0; same && d < t.rank; ++d) same = t.shape[d] == shape[static_cast<std::size_t>(d)];
    if (!same)
        fail(SK_ERROR_SHAPE, "argument '%s': expected shape %s (the plan's), got %s", name,
             shape_text(shape).c_str(), shape_string(t).c_str());
}

std::vector<index_t> output_shape(const Compiled &c) {
    std::vector<index_t> s;
    for (int l : c.equation.output) s.push_back(c.equation.extent[static_cast<std::size_t>(l)]);
    return s;
}

// The validated operands: names, descriptors and the common dtype.
struct Operands {
    std::vector<std::string> names;
    std::vector<const sk_tensor *> tensors;
    std::vector<TensorRef> refs;
    DType dtype = DType::Float32;
};

Operands require_operands(const sk_tensor *const *operands, const Compiled &c, const sk_context &ctx) {
    if (!operands) fail(SK_ERROR_NULL_POINTER, "argument 'operands' is NULL");
    Operands ops;
    const std::size_t n = c.equation.operand_dims.size();
    for (std::size_t i = 0; i < n; ++i) ops.names.push_back("operands[" + std::to_string(i) + "]");
    for (std::size_t i = 0; i < n; ++i) {
        const char *name = ops.names[i].c_str();
        const sk_tensor &t = require_tensor(operands[i], name);
        require_shape(t, name, c.equation.operand_shape[i]);
        if (i == 0) ops.dtype = require_float_dtype(t, name);
        else require_dtype(t, name, ops.dtype);
        require_on_context_device(t, name, ctx);
        ops.tensors.push_back(&t);
        ops.refs.push_back(ref_of(t));
    }
    return ops;
}

NamedInputs named(const Operands &ops) {
    NamedInputs in;
    for (std::size_t i = 0; i < ops.tensors.size(); ++i) in.emplace_back(ops.tensors[i], ops.names[i].c_str());
    return in;
}

// argmax: int32 or int64, shape output + [S]. Returns true for int64.
bool require_argmax_tensor(const sk_tensor &argmax, const Compiled &c, const sk_context &ctx) {
    if (!is_selection(c.semiring))
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'argmax': only the max and min semirings have an "
             "argmax (the plan's semiring is %s)", semiring_name(c.semiring));
    if (argmax.dtype != SK_DTYPE_INT32 && argmax.dtype != SK_DTYPE_INT64)
        fail(SK_ERROR_DTYPE, "argument 'argmax': expected int32 or int64, got %s",
             dtype_name(static_cast<DType>(argmax.dtype)));
    std::vector<index_t> shape = output_shape(c);
    if (shape.size() + 1 > SK_MAX_RANK)
        fail(SK_ERROR_SHAPE, "argument 'argmax': the output has rank %zu, so the argmax would need "
             "rank %zu > SK_MAX_RANK", shape.size(), shape.size() + 1);
    shape.push_back(static_cast<index_t>(c.equation.summed.size()));
    require_shape(argmax, "argmax", shape);
    require_on_context_device(argmax, "argmax", ctx);
    return argmax.dtype == SK_DTYPE_INT64;
}

template <class T>
void dispatch_forward(sk_context &ctx, const Compiled &c, const Operands &ops, const sk_tensor &out,
                      const sk_tensor *argmax) {
    const TensorRef o = ref_of(out);
    TensorRef a;
    if (argmax) a = ref_of(*argmax);
    ctx.activate();
    einsum::forward<T>(ctx, c, ops.refs, o, argmax ? &a : nullptr, argmax && argmax->dtype == SK_DTYPE_INT64);
}

template <class T>
void dispatch_backward(sk_context &ctx, const Compiled &c, const Operands &ops, const sk_tensor *out,
                       const sk_tensor *argmax, const sk_tensor &grad_out,
                       const std::vector<sk_tensor *> &grads) {
    TensorRef o, a;
    if (out) o = ref_of(*out);
    if (argmax) a = ref_of(*argmax);
    std::vector<TensorRef> g(grads.size());
    std::vector<const TensorRef *> gp(grads.size(), nullptr);
    for (std::size_t i = 0; i < grads.size(); ++i)
        if (grads[i]) {
            g[i] = ref_of(*grads[i]);
            gp[i] = &g[i];
        }
    ctx.activate();
    einsum::backward<T>(ctx, c, ops.refs, out ? &o : nullptr, argmax ? &a : nullptr,
                        argmax && argmax->dtype == SK_DTYPE_INT64, ref_of(grad_out), gp);
}

}  // namespace
}  // namespace sk::capi

using namespace sk;
using namespace sk::capi;

extern "C" {

SK_API sk_status sk_einsum_plan_create(const char *equation, int32_t num_operands,
                                       const int32_t *ranks, const int64_t *shapes,
                                       const sk_einsum_options *options, sk_einsum_plan **out) {
    return guarded(nullptr, "sk_einsum_plan_create", [&] {
        if (!equation) fail(SK_ERROR_NULL_POINTER, "argument 'equation' is NULL");
        require_out_pointer(out, "out");
        const EinsumOptions o = require_einsum_options(options);
        if (num_operands < 1 || num_operands > SK_EINSUM_MAX_OPERANDS)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'num_operands': expected 1 to %d, got %d",
                 SK_EINSUM_MAX_OPERANDS, num_operands);
        if (!ranks) fail(SK_ERROR_NULL_POINTER, "argument 'ranks' is NULL");
        std::vector<std::vector<index_t>> operand_shapes;
        int64_t total = 0;
        for (int32_t i = 0; i < num_operands; ++i) {
            if (ranks[i] < 0 || ranks[i] > SK_MAX_RANK)
                fail(SK_ERROR_SHAPE, "argument 'ranks': ranks[%d] = %d is outside [0, %d]", i, ranks[i],
                     SK_MAX_RANK);
            total += ranks[i];
        }
        if (total > 0 && !shapes) fail(SK_ERROR_NULL_POINTER, "argument 'shapes' is NULL");
        int64_t offset = 0;
        for (int32_t i = 0; i < num_operands; ++i) {
            std::vector<index_t> s;
            for (int32_t d = 0; d < ranks[i]; ++d, ++offset) {
                if (shapes[offset] < 0)
                    fail(SK_ERROR_SHAPE, "argument 'shapes': operand %d dimension %d has negative "
                         "extent %lld", i, d, static_cast<long long>(shapes[offset]));
                s.push_back(shapes[offset]);
            }
            operand_shapes.push_back(s);
        }
        auto *plan = new sk_einsum_plan{
            einsum::compile(equation, operand_shapes, o.semiring, o.zero_gradient, o.workspace_limit)};
        *out = plan;
    });
}

SK_API sk_status sk_einsum_plan_destroy(sk_einsum_plan *plan) {
    return guarded(nullptr, "sk_einsum_plan_destroy", [&] { delete plan; });
}

SK_API sk_status sk_einsum_plan_output_shape(const sk_einsum_plan *plan, int32_t *rank,
                                             int64_t *shape) {
    return guarded(nullptr, "sk_einsum_plan_output_shape", [&] {
        const Compiled &c = require_plan(plan);
        require_out_pointer(rank, "rank");
        require_out_pointer(shape, "shape");
        const auto s = output_shape(c);
        *rank = static_cast<int32_t>(s.size());
        for (int d = 0; d < SK_MAX_RANK; ++d)
            shape[d] = d < static_cast<int>(s.size()) ? s[static_cast<std::size_t>(d)] : 0;
    });
}

SK_API sk_status sk_einsum_plan_summed_count(const sk_einsum_plan *plan, int32_t *count) {
    return guarded(nullptr, "sk_einsum_plan_summed_count", [&] {
        const Compiled &c = require_plan(plan);
        require_out_pointer(count, "count");
        *count = static_cast<int32_t>(c.equation.summed.size());
    });
}

SK_API sk_status sk_einsum_plan_workspace_bytes(const sk_einsum_plan *plan, int32_t dtype,
                                                int32_t backward, int64_t *bytes) {
    return guarded(nullptr, "sk_einsum_plan_workspace_bytes", [&] {
        const Compiled &c = require_plan(plan);
        if (dtype != SK_DTYPE_FLOAT32 && dtype != SK_DTYPE_FLOAT64)
            fail(SK_ERROR_DTYPE, "argument 'dtype': expected float32 (%d) or float64 (%d), got %d",
                 SK_DTYPE_FLOAT32, SK_DTYPE_FLOAT64, dtype);
        if (backward != 0 && backward != 1)
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'backward': expected 0 or 1, got %d", backward);
        require_out_pointer(bytes, "bytes");
        const std::size_t elem = dtype == SK_DTYPE_FLOAT32 ? 4 : 8;
        if (backward && c.semiring == Semiring::Boolean)
            fail(SK_ERROR_UNSUPPORTED, "the boolean semiring has no gradient");
        *bytes = backward ? einsum::backward_workspace_bytes(c, elem)
                          : einsum::forward_workspace_bytes(c.plan, c.equation.extent, elem,
                                                            is_selection(c.semiring));
    });
}

SK_API sk_status sk_einsum_forward(sk_context *ctx, const sk_einsum_plan *plan,
                                   const sk_tensor *const *operands, sk_tensor *out,
                                   sk_tensor *argmax) {
    return guarded(ctx, "sk_einsum_forward", [&] {
        auto &context = require_context(ctx);
        const Compiled &c = require_plan(plan);
        const Operands ops = require_operands(operands, c, context);
        const NamedInputs inputs = named(ops);
        const sk_tensor &to = require_tensor(out, "out");
        require_shape(to, "out", output_shape(c));
        require_dtype(to, "out", ops.dtype);
        require_output(to, "out", context, inputs);
        if (argmax) {
            require_tensor(argmax, "argmax");
            require_argmax_tensor(*argmax, c, context);
            NamedInputs with_out = inputs;
            with_out.emplace_back(&to, "out");
            require_output(*argmax, "argmax", context, with_out);
        }
        if (ops.dtype == DType::Float32)
            dispatch_forward<float>(context, c, ops, to, argmax);
        else
            dispatch_forward<double>(context, c, ops, to, argmax);
    });
}

SK_API sk_status sk_einsum_backward(sk_context *ctx, const sk_einsum_plan *plan,
                                    const sk_tensor *const *operands, const sk_tensor *out,
                                    const sk_tensor *argmax, const sk_tensor *grad_out,
                                    sk_tensor *const *grads) {
    return guarded(ctx, "sk_einsum_backward", [&] {
        auto &context = require_context(ctx);
        const Compiled &c = require_plan(plan);
        if (c.semiring == Semiring::Boolean)
            fail(SK_ERROR_UNSUPPORTED, "the boolean semiring has no gradient");
        const Operands ops = require_operands(operands, c, context);
        NamedInputs inputs = named(ops);
        const auto out_shape = output_shape(c);
        const sk_tensor &tg = require_tensor(grad_out, "grad_out");
        require_shape(tg, "grad_out", out_shape);
        require_dtype(tg, "grad_out", ops.dtype);
        require_on_context_device(tg, "grad_out", context);
        inputs.emplace_back(&tg, "grad_out");
        if (c.semiring == Semiring::Log) {
            if (!out) fail(SK_ERROR_NULL_POINTER, "argument 'out' is NULL: the log semiring backward "
                           "needs the forward output");
            require_tensor(out, "out");
            require_shape(*out, "out", out_shape);
            require_dtype(*out, "out", ops.dtype);
            require_on_context_device(*out, "out", context);
            inputs.emplace_back(out, "out");
        } else {
            out = nullptr;  // not read
        }
        if (argmax) {
            require_tensor(argmax, "argmax");
            require_argmax_tensor(*argmax, c, context);
            inputs.emplace_back(argmax, "argmax");
        }
        const std::size_t n = ops.tensors.size();
        std::vector<sk_tensor *> gs(n, nullptr);
        std::vector<std::string> names;
        for (std::size_t i = 0; i < n; ++i) names.push_back("grads[" + std::to_string(i) + "]");
        for (std::size_t i = 0; grads && i < n; ++i) {
            if (!grads[i]) continue;
            const char *name = names[i].c_str();
            require_tensor(grads[i], name);
            require_shape(*grads[i], name, c.equation.operand_shape[i]);
            require_dtype(*grads[i], name, ops.dtype);
            require_output(*grads[i], name, context, inputs);
            for (std::size_t j = 0; j < i; ++j)
                if (gs[j]) require_disjoint(*grads[i], name, *gs[j], names[j].c_str());
            gs[i] = grads[i];
        }
        if (ops.dtype == DType::Float32)
            dispatch_backward<float>(context, c, ops, out, argmax, tg, gs);
        else
            dispatch_backward<double>(context, c, ops, out, argmax, tg, gs);
    });
}

}  // extern "C"
