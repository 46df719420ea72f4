// extern "C" entry points of the batched semiring matmul: validate, then dispatch on device
// and dtype. Nothing is written before every check has passed.
#include <cstddef>

#include "capi/capi_guard.h"
#include "capi/validate.h"
#include "matmul/matmul.h"

namespace sk::capi {
namespace {

Semiring require_options(const sk_matmul_options *options) {
    if (!options) fail(SK_ERROR_NULL_POINTER, "argument 'options' is NULL");
    require_options_size(options->struct_size, offsetof(sk_matmul_options, reserved) + sizeof(int32_t),
                         "sk_matmul_options", sizeof(sk_matmul_options));
    if (options->semiring < SK_SEMIRING_LOG || options->semiring > SK_SEMIRING_BOOLEAN)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.semiring': unknown semiring %d",
             options->semiring);
    if (options->reserved != 0)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'options.reserved': must be 0, got %d",
             options->reserved);
    return static_cast<Semiring>(options->semiring);
}

// The shapes of a product: batch and (m, n, k), checked across a, b and c.
struct Product {
    matmul::Shape shape;
    int out_rank;
};

index_t rows_of(const sk_tensor &t) { return t.shape[t.rank - 2]; }
index_t cols_of(const sk_tensor &t) { return t.shape[t.rank - 1]; }

void require_batch(const sk_tensor &t, const char *name, index_t batch) {
    if (t.rank == 3 && t.shape[0] != 1 && t.shape[0] != batch)
        fail(SK_ERROR_SHAPE, "argument '%s': batch extent %lld must be 1 or the output's batch %lld "
             "(shape %s)", name, static_cast<long long>(t.shape[0]),
             static_cast<long long>(batch), shape_string(t).c_str());
}

Product check_product(const sk_tensor &a, const sk_tensor &b, const sk_tensor &c,
                      const char *c_name) {
    require_rank(a, "a", 2, 3);
    require_rank(b, "b", 2, 3);
    const int out_rank = (a.rank == 3 || b.rank == 3) ? 3 : 2;
    require_rank(c, c_name, out_rank, out_rank);
    Product p{};
    p.out_rank = out_rank;
    p.shape.m = rows_of(a);
    p.shape.k = cols_of(a);
    p.shape.n = cols_of(b);
    if (rows_of(b) != p.shape.k)
        fail(SK_ERROR_SHAPE, "arguments 'a' %s and 'b' %s: inner extents differ (%lld vs %lld)",
             shape_string(a).c_str(), shape_string(b).c_str(), static_cast<long long>(p.shape.k),
             static_cast<long long>(rows_of(b)));
    if (rows_of(c) != p.shape.m || cols_of(c) != p.shape.n)
        fail(SK_ERROR_SHAPE, "argument '%s': expected trailing extents [%lld, %lld] from 'a' %s and "
             "'b' %s, got shape %s", c_name, static_cast<long long>(p.shape.m),
             static_cast<long long>(p.shape.n), shape_string(a).c_str(), shape_string(b).c_str(),
             shape_string(c).c_str());
    p.shape.batch = out_rank == 3 ? c.shape[0] : 1;
    require_batch(a, "a", p.shape.batch);
    require_batch(b, "b", p.shape.batch);
    return p;
}

void require_argmax(const sk_tensor &argmax, const char *name, Semiring semiring,
                    const sk_tensor &c, const char *c_name, const sk_context &ctx) {
    if (!is_selection(semiring))
        fail(SK_ERROR_INVALID_ARGUMENT, "argument '%s': only the max and min semirings have an "
             "argmax (semiring is %s)", name, semiring_name(semiring));
    require_dtype(argmax, name, DType::Int32);
    require_same_shape(argmax, name, c, c_name);
    require_on_context_device(argmax, name, ctx);
}

template <class T>
void run_forward(sk_context &ctx, Semiring semiring, const Product &p, const sk_tensor &a,
                 const sk_tensor &b, sk_tensor &c, sk_tensor *argmax) {
    matmul::ForwardArgs<T> args{p.shape, semiring, as_view3<const T>(a), as_view3<const T>(b),
                                as_view3<T>(c), {}};
    if (argmax) args.argmax = as_view3<std::int32_t>(*argmax);
    if (p.shape.batch == 0 || p.shape.m == 0 || p.shape.n == 0) return;  // empty output
    ctx.activate();
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(matmul::forward_cuda(ctx, args));
    else
        matmul::forward_cpu(ctx, args);
}

template <class T>
void run_backward(sk_context &ctx, Semiring semiring, const Product &p, const sk_tensor &a,
                  const sk_tensor &b, const sk_tensor *c, const sk_tensor *argmax,
                  const sk_tensor &grad_c, sk_tensor *grad_a, sk_tensor *grad_b) {
    matmul::BackwardArgs<T> args{p.shape, semiring, as_view3<const T>(a), as_view3<const T>(b),
                                 {}, {}, as_view3<const T>(grad_c), {}, {}};
    if (c) args.c = as_view3<const T>(*c);
    if (argmax) args.argmax = as_view3<const std::int32_t>(*argmax);
    if (grad_a) args.grad_a = as_view3<T>(*grad_a);
    if (grad_b) args.grad_b = as_view3<T>(*grad_b);
    // A gradient of a shared operand (batch extent 1) keeps stride_b 0: the backends sum.
    if ((!grad_a || element_count(*grad_a) == 0) && (!grad_b || element_count(*grad_b) == 0)) return;
    if (!grad_a || element_count(*grad_a) == 0) args.grad_a.data = nullptr;
    if (!grad_b || element_count(*grad_b) == 0) args.grad_b.data = nullptr;
    ctx.activate();
    if (p.shape.batch == 0 || p.shape.m == 0 || p.shape.n == 0 || p.shape.k == 0) {
        // No term reaches the gradients: they are zero.
        for (sk_tensor *g : {grad_a, grad_b}) {
            if (!g || element_count(*g) == 0) continue;
            const index_t batch = g->rank == 3 ? g->shape[0] : 1;
            const auto view = as_view3<T>(*g);
            const index_t rows = g->shape[g->rank - 2], cols = g->shape[g->rank - 1];
            if (ctx.is_cuda())
                SK_CUDA_BACKEND(matmul::fill_cuda(ctx, view, batch, rows, cols, T(0)));
            else
                matmul::fill_cpu(ctx, view, batch, rows, cols, T(0));
        }
        return;
    }
    if (ctx.is_cuda())
        SK_CUDA_BACKEND(matmul::backward_cuda(ctx, args));
    else
        matmul::backward_cpu(ctx, args);
}

}  // namespace
}  // namespace sk::capi

using namespace sk;
using namespace sk::capi;

extern "C" {

SK_API sk_status sk_semiring_matmul(sk_context *ctx, const sk_matmul_options *options,
                                    const sk_tensor *a, const sk_tensor *b, sk_tensor *c,
                                    sk_tensor *argmax) {
    return guarded(ctx, "sk_semiring_matmul", [&] {
        auto &context = require_context(ctx);
        const Semiring semiring = require_options(options);
        const auto &ta = require_tensor(a, "a");
        const auto &tb = require_tensor(b, "b");
        auto &tc = const_cast<sk_tensor &>(require_tensor(c, "c"));
        const Product p = check_product(ta, tb, tc, "c");
        const DType dtype = require_float_dtype(ta, "a");
        require_dtype(tb, "b", dtype);
        require_dtype(tc, "c", dtype);
        require_on_context_device(ta, "a", context);
        require_on_context_device(tb, "b", context);
        require_output(tc, "c", context, {{&ta, "a"}, {&tb, "b"}});
        if (argmax) {
            require_tensor(argmax, "argmax");
            require_argmax(*argmax, "argmax", semiring, tc, "c", context);
            require_output(*argmax, "argmax", context, {{&ta, "a"}, {&tb, "b"}, {&tc, "c"}});
        }
        if (dtype == DType::Float32)
            run_forward<float>(context, semiring, p, ta, tb, tc, argmax);
        else
            run_forward<double>(context, semiring, p, ta, tb, tc, argmax);
    });
}

SK_API sk_status sk_semiring_matmul_backward(sk_context *ctx, const sk_matmul_options *options,
                                             const sk_tensor *a, const sk_tensor *b,
                                             const sk_tensor *c, const sk_tensor *argmax,
                                             const sk_tensor *grad_c, sk_tensor *grad_a,
                                             sk_tensor *grad_b) {
    return guarded(ctx, "sk_semiring_matmul_backward", [&] {
        auto &context = require_context(ctx);
        const Semiring semiring = require_options(options);
        if (!is_smooth(semiring) && !is_selection(semiring))
            fail(SK_ERROR_UNSUPPORTED, "the %s semiring has no gradient", semiring_name(semiring));
        const auto &ta = require_tensor(a, "a");
        const auto &tb = require_tensor(b, "b");
        const auto &tg = require_tensor(grad_c, "grad_c");
        const Product p = check_product(ta, tb, tg, "grad_c");
        const DType dtype = require_float_dtype(ta, "a");
        require_dtype(tb, "b", dtype);
        require_dtype(tg, "grad_c", dtype);
        require_on_context_device(ta, "a", context);
        require_on_context_device(tb, "b", context);
        require_on_context_device(tg, "grad_c", context);
        if (semiring == Semiring::Log) {
            if (!c) fail(SK_ERROR_NULL_POINTER, "argument 'c' is NULL: the log semiring backward "
                         "needs the forward output");
            require_tensor(c, "c");
            require_same_shape(*c, "c", tg, "grad_c");
            require_dtype(*c, "c", dtype);
            require_on_context_device(*c, "c", context);
        } else {
            c = nullptr;  // not read
        }
        if (argmax) {
            require_tensor(argmax, "argmax");
            require_argmax(*argmax, "argmax", semiring, tg, "grad_c", context);
        }
        const std::initializer_list<std::pair<const sk_tensor *, const char *>> inputs = {
            {&ta, "a"}, {&tb, "b"}, {c, "c"}, {argmax, "argmax"}, {&tg, "grad_c"}};
        if (grad_a) {
            require_tensor(grad_a, "grad_a");
            require_same_shape(*grad_a, "grad_a", ta, "a");
            require_dtype(*grad_a, "grad_a", dtype);
            require_output(*grad_a, "grad_a", context, inputs);
        }
        if (grad_b) {
            require_tensor(grad_b, "grad_b");
            require_same_shape(*grad_b, "grad_b", tb, "b");
            require_dtype(*grad_b, "grad_b", dtype);
            require_output(*grad_b, "grad_b", context, inputs);
            if (grad_a) require_disjoint(*grad_b, "grad_b", *grad_a, "grad_a");
        }
        if (dtype == DType::Float32)
            run_backward<float>(context, semiring, p, ta, tb, c, argmax, tg, grad_a, grad_b);
        else
            run_backward<double>(context, semiring, p, ta, tb, c, argmax, tg, grad_a, grad_b);
    });
}

}  // extern "C"
