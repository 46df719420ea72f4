// Every bad-argument path of the einsum entry points returns the right status and a message that
// names the argument (on the thread and, for calls with a context, on the context), and leaves
// every output untouched.
#include <cstring>
#include <functional>

#include "test_util.h"

using namespace sktest;

namespace {

bool mentions(const char *message, const char *word) { return std::strstr(message, word) != nullptr; }

// "bij,bjk->bik" with B = 2, I = 3, J = 4, K = 5 in float32; outputs hold the sentinel 99.
struct Problem {
    HostTensor<float> a{{2, 3, 4}, 0.5f}, b{{2, 4, 5}, -0.5f};
    HostTensor<float> out{{2, 3, 5}, 99.0f}, grad_out{{2, 3, 5}, 1.0f}, fwd{{2, 3, 5}, 0.0f};
    HostTensor<float> ga{{2, 3, 4}, 99.0f}, gb{{2, 4, 5}, 99.0f};
    HostTensor<int32_t> argmax{{2, 3, 5, 1}, 99};
    HostTensor<int32_t> good_argmax{{2, 3, 5, 1}, 0};
    sk_einsum_plan *plan_log = nullptr, *plan_max = nullptr, *plan_bool = nullptr, *plan_real = nullptr;
    const sk_tensor *ops[2];
    sk_tensor *grads[2];

    static sk_einsum_plan *plan(int32_t semiring) {
        sk_einsum_options o{};
        o.struct_size = sizeof(o);
        o.semiring = semiring;
        const int32_t ranks[] = {3, 3};
        const int64_t shapes[] = {2, 3, 4, 2, 4, 5};
        sk_einsum_plan *p = nullptr;
        CHECK_OK(sk_einsum_plan_create("bij,bjk->bik", 2, ranks, shapes, &o, &p));
        return p;
    }
    Problem() {
        plan_log = plan(SK_SEMIRING_LOG);
        plan_max = plan(SK_SEMIRING_MAX);
        plan_bool = plan(SK_SEMIRING_BOOLEAN);
        plan_real = plan(SK_SEMIRING_REAL);
        ops[0] = a.d();
        ops[1] = b.d();
        grads[0] = ga.d();
        grads[1] = gb.d();
    }
    ~Problem() {
        for (auto *p : {plan_log, plan_max, plan_bool, plan_real}) sk_einsum_plan_destroy(p);
    }
    bool untouched() const {
        for (const auto *t : {&out, &ga, &gb})
            for (float x : t->storage)
                if (x != 99.0f) return false;
        for (int32_t x : argmax.storage)
            if (x != 99) return false;
        return true;
    }
};

void expect(sk_context *ctx, sk_status got, sk_status want, const char *word, const Problem *p,
            const std::string &what) {
    CHECK_MSG(got == want, what << ": status " << sk_status_name(got) << " (want " << sk_status_name(want)
                                << "): " << sk_last_error());
    CHECK_MSG(mentions(sk_last_error(), word), what << ": message '" << sk_last_error() << "' lacks '" << word << "'");
    if (ctx) CHECK_MSG(mentions(sk_context_last_error(ctx), word), what << ": context message lacks '" << word << "'");
    if (p) CHECK_MSG(p->untouched(), what << ": an output was written");
}

sk_einsum_options options(int32_t semiring) {
    sk_einsum_options o{};
    o.struct_size = sizeof(o);
    o.semiring = semiring;
    return o;
}

}  // namespace

TEST(plan_create_rejects_bad_arguments) {
    const int32_t ranks[] = {2, 2};
    const int64_t shapes[] = {3, 4, 4, 5};
    sk_einsum_options o = options(SK_SEMIRING_LOG);
    sk_einsum_plan *plan = reinterpret_cast<sk_einsum_plan *>(0x1);
    auto create = [&](const char *eq, int32_t n, const int32_t *r, const int64_t *s, const sk_einsum_options *opt,
                      sk_einsum_plan **out) { return sk_einsum_plan_create(eq, n, r, s, opt, out); };
    expect(nullptr, create(nullptr, 2, ranks, shapes, &o, &plan), SK_ERROR_NULL_POINTER, "'equation'", nullptr, "equation");
    expect(nullptr, create("ij,jk->ik", 2, ranks, shapes, &o, nullptr), SK_ERROR_NULL_POINTER, "'out'", nullptr, "out");
    expect(nullptr, create("ij,jk->ik", 2, ranks, shapes, nullptr, &plan), SK_ERROR_NULL_POINTER, "'options'", nullptr, "options");
    sk_einsum_options bad = o;
    bad.struct_size = 8;
    expect(nullptr, create("ij,jk->ik", 2, ranks, shapes, &bad, &plan), SK_ERROR_INVALID_ARGUMENT, "struct_size", nullptr, "struct_size");
    bad = o;
    bad.semiring = 9;
    expect(nullptr, create("ij,jk->ik", 2, ranks, shapes, &bad, &plan), SK_ERROR_INVALID_ARGUMENT, "'options.semiring'", nullptr, "semiring");
    bad = o;
    bad.zero_gradient = 2;
    expect(nullptr, create("ij,jk->ik", 2, ranks, shapes, &bad, &plan), SK_ERROR_INVALID_ARGUMENT, "'options.zero_gradient'", nullptr, "zero_gradient");
    bad = o;
    bad.workspace_limit_bytes = -1;
    expect(nullptr, create("ij,jk->ik", 2, ranks, shapes, &bad, &plan), SK_ERROR_INVALID_ARGUMENT, "'options.workspace_limit_bytes'", nullptr, "limit");
    expect(nullptr, create("ij,jk->ik", 0, ranks, shapes, &o, &plan), SK_ERROR_INVALID_ARGUMENT, "'num_operands'", nullptr, "0 operands");
    expect(nullptr, create("ij,jk->ik", 33, ranks, shapes, &o, &plan), SK_ERROR_INVALID_ARGUMENT, "'num_operands'", nullptr, "33 operands");
    expect(nullptr, create("ij,jk->ik", 2, nullptr, shapes, &o, &plan), SK_ERROR_NULL_POINTER, "'ranks'", nullptr, "ranks");
    const int32_t big[] = {2, 9}, negative[] = {-1, 2};
    expect(nullptr, create("ij,jk->ik", 2, big, shapes, &o, &plan), SK_ERROR_SHAPE, "'ranks'", nullptr, "rank 9");
    expect(nullptr, create("ij,jk->ik", 2, negative, shapes, &o, &plan), SK_ERROR_SHAPE, "'ranks'", nullptr, "rank -1");
    expect(nullptr, create("ij,jk->ik", 2, ranks, nullptr, &o, &plan), SK_ERROR_NULL_POINTER, "'shapes'", nullptr, "shapes");
    const int64_t neg_shape[] = {3, -4, 4, 5};
    expect(nullptr, create("ij,jk->ik", 2, ranks, neg_shape, &o, &plan), SK_ERROR_SHAPE, "'shapes'", nullptr, "negative extent");
    CHECK(plan == reinterpret_cast<sk_einsum_plan *>(0x1));  // never written on failure
    CHECK_OK(sk_einsum_plan_destroy(nullptr));
}

TEST(plan_queries_reject_bad_arguments) {
    Problem p;
    int32_t rank = 0, count = 0;
    int64_t shape[SK_MAX_RANK], bytes = 0;
    expect(nullptr, sk_einsum_plan_output_shape(nullptr, &rank, shape), SK_ERROR_NULL_POINTER, "'plan'", nullptr, "shape plan");
    expect(nullptr, sk_einsum_plan_output_shape(p.plan_log, nullptr, shape), SK_ERROR_NULL_POINTER, "'rank'", nullptr, "rank");
    expect(nullptr, sk_einsum_plan_output_shape(p.plan_log, &rank, nullptr), SK_ERROR_NULL_POINTER, "'shape'", nullptr, "shape");
    expect(nullptr, sk_einsum_plan_summed_count(nullptr, &count), SK_ERROR_NULL_POINTER, "'plan'", nullptr, "count plan");
    expect(nullptr, sk_einsum_plan_summed_count(p.plan_log, nullptr), SK_ERROR_NULL_POINTER, "'count'", nullptr, "count");
    expect(nullptr, sk_einsum_plan_workspace_bytes(nullptr, SK_DTYPE_FLOAT32, 0, &bytes), SK_ERROR_NULL_POINTER, "'plan'", nullptr, "bytes plan");
    expect(nullptr, sk_einsum_plan_workspace_bytes(p.plan_log, SK_DTYPE_INT32, 0, &bytes), SK_ERROR_DTYPE, "'dtype'", nullptr, "bytes dtype");
    expect(nullptr, sk_einsum_plan_workspace_bytes(p.plan_log, SK_DTYPE_FLOAT32, 2, &bytes), SK_ERROR_INVALID_ARGUMENT, "'backward'", nullptr, "bytes backward");
    expect(nullptr, sk_einsum_plan_workspace_bytes(p.plan_log, SK_DTYPE_FLOAT32, 0, nullptr), SK_ERROR_NULL_POINTER, "'bytes'", nullptr, "bytes null");
    expect(nullptr, sk_einsum_plan_workspace_bytes(p.plan_bool, SK_DTYPE_FLOAT32, 1, &bytes), SK_ERROR_UNSUPPORTED, "boolean", nullptr, "bytes boolean");
}

TEST(forward_rejects_bad_arguments) {
    Context ctx;
    Problem p;
    auto fwd = [&](sk_einsum_plan *plan, const sk_tensor *const *ops, sk_tensor *out, sk_tensor *am) {
        return sk_einsum_forward(ctx, plan, ops, out, am);
    };
    expect(nullptr, sk_einsum_forward(nullptr, p.plan_log, p.ops, p.out.d(), nullptr), SK_ERROR_NULL_POINTER, "'ctx'", &p, "ctx");
    expect(ctx, fwd(nullptr, p.ops, p.out.d(), nullptr), SK_ERROR_NULL_POINTER, "'plan'", &p, "plan");
    expect(ctx, fwd(p.plan_log, nullptr, p.out.d(), nullptr), SK_ERROR_NULL_POINTER, "'operands'", &p, "operands");
    const sk_tensor *missing[] = {p.a.d(), nullptr};
    expect(ctx, fwd(p.plan_log, missing, p.out.d(), nullptr), SK_ERROR_NULL_POINTER, "'operands[1]'", &p, "operand null");
    HostTensor<float> wrong({2, 3, 5}, 0.0f);
    const sk_tensor *wrong_shape[] = {wrong.d(), p.b.d()};
    expect(ctx, fwd(p.plan_log, wrong_shape, p.out.d(), nullptr), SK_ERROR_SHAPE, "'operands[0]'", &p, "operand shape");
    HostTensor<int32_t> ints({2, 3, 4}, 0);
    const sk_tensor *int_op[] = {ints.d(), p.b.d()};
    expect(ctx, fwd(p.plan_log, int_op, p.out.d(), nullptr), SK_ERROR_DTYPE, "'operands[0]'", &p, "operand int");
    HostTensor<double> dbl({2, 4, 5}, 0.0);
    const sk_tensor *mixed[] = {p.a.d(), dbl.d()};
    expect(ctx, fwd(p.plan_log, mixed, p.out.d(), nullptr), SK_ERROR_DTYPE, "'operands[1]'", &p, "mixed dtype");
    HostTensor<float> on_cuda = p.a;
    on_cuda.desc.device_type = SK_DEVICE_CUDA;
    const sk_tensor *cuda_op[] = {on_cuda.d(), p.b.d()};
    expect(ctx, fwd(p.plan_log, cuda_op, p.out.d(), nullptr), SK_ERROR_DEVICE, "'operands[0]'", &p, "operand device");
    HostTensor<float> neg = p.a;
    neg.desc.strides[1] = -4;
    const sk_tensor *neg_op[] = {neg.d(), p.b.d()};
    expect(ctx, fwd(p.plan_log, neg_op, p.out.d(), nullptr), SK_ERROR_SHAPE, "'operands[0]'", &p, "negative stride");
    expect(ctx, fwd(p.plan_log, p.ops, nullptr, nullptr), SK_ERROR_NULL_POINTER, "'out'", &p, "out null");
    HostTensor<float> small({2, 3, 4}, 99.0f);
    expect(ctx, fwd(p.plan_log, p.ops, small.d(), nullptr), SK_ERROR_SHAPE, "'out'", &p, "out shape");
    HostTensor<double> out64({2, 3, 5}, 99.0);
    expect(ctx, fwd(p.plan_log, p.ops, out64.d(), nullptr), SK_ERROR_DTYPE, "'out'", &p, "out dtype");
    HostTensor<float> alias = p.out;  // a copy with its own storage
    alias.desc.strides[0] = 0;         // both batches would write the same elements
    expect(ctx, fwd(p.plan_log, p.ops, alias.d(), nullptr), SK_ERROR_SHAPE, "'out'", &p, "out self overlap");
    HostTensor<float> over = p.out;
    over.desc.data = p.b.storage.data();
    expect(ctx, fwd(p.plan_log, p.ops, over.d(), nullptr), SK_ERROR_INVALID_ARGUMENT, "'out'", &p, "out overlaps b");
    expect(ctx, fwd(p.plan_log, p.ops, p.out.d(), p.argmax.d()), SK_ERROR_INVALID_ARGUMENT, "'argmax'", &p, "argmax on log");
    HostTensor<float> fam({2, 3, 5, 1}, 99.0f);
    expect(ctx, fwd(p.plan_max, p.ops, p.out.d(), fam.d()), SK_ERROR_DTYPE, "'argmax'", &p, "argmax dtype");
    HostTensor<int32_t> am_shape({2, 3, 5}, 99);
    expect(ctx, fwd(p.plan_max, p.ops, p.out.d(), am_shape.d()), SK_ERROR_SHAPE, "'argmax'", &p, "argmax shape");
    HostTensor<int32_t> am_alias = p.argmax;
    am_alias.desc.data = p.out.storage.data();
    expect(ctx, fwd(p.plan_max, p.ops, p.out.d(), am_alias.d()), SK_ERROR_INVALID_ARGUMENT, "'argmax'", &p, "argmax overlaps out");
    {  // a rank-8 output has no room for the argmax's S dimension
        sk_einsum_options o = options(SK_SEMIRING_MAX);
        const int32_t r[] = {8};
        const int64_t s[] = {1, 1, 1, 1, 1, 1, 1, 1};
        sk_einsum_plan *plan = nullptr;
        CHECK_OK(sk_einsum_plan_create("abcdefgh->abcdefgh", 1, r, s, &o, &plan));
        HostTensor<float> x({1, 1, 1, 1, 1, 1, 1, 1}, 1.0f), y({1, 1, 1, 1, 1, 1, 1, 1}, 99.0f);
        HostTensor<int32_t> am({1, 1, 1, 1, 1, 1, 1, 1}, 99);
        const sk_tensor *ops[] = {x.d()};
        expect(ctx, sk_einsum_forward(ctx, plan, ops, y.d(), am.d()), SK_ERROR_SHAPE, "'argmax'", &p, "argmax rank 9");
        CHECK(y.storage[0] == 99.0f);
        sk_einsum_plan_destroy(plan);
    }
}

TEST(backward_rejects_bad_arguments) {
    Context ctx;
    Problem p;
    CHECK_OK(sk_einsum_forward(ctx, p.plan_log, p.ops, p.fwd.d(), nullptr));
    auto bwd = [&](sk_einsum_plan *plan, const sk_tensor *out, const sk_tensor *am, const sk_tensor *g,
                   sk_tensor *const *grads) { return sk_einsum_backward(ctx, plan, p.ops, out, am, g, grads); };
    expect(nullptr, sk_einsum_backward(nullptr, p.plan_log, p.ops, p.fwd.d(), nullptr, p.grad_out.d(), p.grads),
           SK_ERROR_NULL_POINTER, "'ctx'", &p, "ctx");
    expect(ctx, bwd(nullptr, p.fwd.d(), nullptr, p.grad_out.d(), p.grads), SK_ERROR_NULL_POINTER, "'plan'", &p, "plan");
    expect(ctx, bwd(p.plan_bool, p.fwd.d(), nullptr, p.grad_out.d(), p.grads), SK_ERROR_UNSUPPORTED, "boolean", &p, "boolean");
    expect(ctx, sk_einsum_backward(ctx, p.plan_log, nullptr, p.fwd.d(), nullptr, p.grad_out.d(), p.grads),
           SK_ERROR_NULL_POINTER, "'operands'", &p, "operands");
    expect(ctx, bwd(p.plan_log, p.fwd.d(), nullptr, nullptr, p.grads), SK_ERROR_NULL_POINTER, "'grad_out'", &p, "grad_out null");
    HostTensor<float> g_small({2, 3}, 1.0f);
    expect(ctx, bwd(p.plan_log, p.fwd.d(), nullptr, g_small.d(), p.grads), SK_ERROR_SHAPE, "'grad_out'", &p, "grad_out shape");
    HostTensor<double> g64({2, 3, 5}, 1.0);
    expect(ctx, bwd(p.plan_log, p.fwd.d(), nullptr, g64.d(), p.grads), SK_ERROR_DTYPE, "'grad_out'", &p, "grad_out dtype");
    expect(ctx, bwd(p.plan_log, nullptr, nullptr, p.grad_out.d(), p.grads), SK_ERROR_NULL_POINTER, "'out'", &p, "log out null");
    HostTensor<float> out_small({2, 3, 4}, 0.0f);
    expect(ctx, bwd(p.plan_log, out_small.d(), nullptr, p.grad_out.d(), p.grads), SK_ERROR_SHAPE, "'out'", &p, "out shape");
    expect(ctx, bwd(p.plan_real, nullptr, p.good_argmax.d(), p.grad_out.d(), p.grads), SK_ERROR_INVALID_ARGUMENT,
           "'argmax'", &p, "argmax on real");
    HostTensor<int32_t> bad_values({2, 3, 5, 1}, 0);
    bad_values.storage[7] = 4;  // J = 4: out of range
    bad_values.storage[9] = -2;
    expect(ctx, bwd(p.plan_max, nullptr, bad_values.d(), p.grad_out.d(), p.grads), SK_ERROR_INVALID_ARGUMENT,
           "'argmax': 2 entries", &p, "argmax values");
    HostTensor<int64_t> am_shape({2, 3, 5, 2}, 0);
    expect(ctx, bwd(p.plan_max, nullptr, am_shape.d(), p.grad_out.d(), p.grads), SK_ERROR_SHAPE, "'argmax'", &p, "argmax shape");
    HostTensor<float> ga_wrong({2, 3, 5}, 99.0f);
    sk_tensor *g_shape[] = {ga_wrong.d(), p.gb.d()};
    expect(ctx, bwd(p.plan_log, p.fwd.d(), nullptr, p.grad_out.d(), g_shape), SK_ERROR_SHAPE, "'grads[0]'", &p, "grads shape");
    HostTensor<double> ga64({2, 3, 4}, 99.0);
    sk_tensor *g_dtype[] = {ga64.d(), p.gb.d()};
    expect(ctx, bwd(p.plan_log, p.fwd.d(), nullptr, p.grad_out.d(), g_dtype), SK_ERROR_DTYPE, "'grads[0]'", &p, "grads dtype");
    HostTensor<float> ga_alias = p.ga;
    ga_alias.desc.data = p.a.storage.data();
    sk_tensor *g_alias[] = {ga_alias.d(), p.gb.d()};
    expect(ctx, bwd(p.plan_log, p.fwd.d(), nullptr, p.grad_out.d(), g_alias), SK_ERROR_INVALID_ARGUMENT, "'grads[0]'", &p, "grads alias a");
    HostTensor<float> gb_alias = p.gb;
    gb_alias.desc.data = p.ga.storage.data();
    sk_tensor *g_pair[] = {p.ga.d(), gb_alias.d()};
    expect(ctx, bwd(p.plan_log, p.fwd.d(), nullptr, p.grad_out.d(), g_pair), SK_ERROR_INVALID_ARGUMENT, "'grads[1]'", &p, "grads overlap");
    HostTensor<float> g_over_out = p.ga;
    g_over_out.desc.data = p.grad_out.storage.data();
    sk_tensor *g_go[] = {g_over_out.d(), nullptr};
    expect(ctx, bwd(p.plan_log, p.fwd.d(), nullptr, p.grad_out.d(), g_go), SK_ERROR_INVALID_ARGUMENT, "'grads[0]'", &p, "grads over grad_out");
    // NULL entries and a NULL array skip gradients and succeed.
    sk_tensor *only_b[] = {nullptr, p.gb.d()};
    HostTensor<float> gb_ok({2, 4, 5}, 99.0f);
    only_b[1] = gb_ok.d();
    CHECK_OK(bwd(p.plan_log, p.fwd.d(), nullptr, p.grad_out.d(), only_b));
    CHECK_OK(bwd(p.plan_log, p.fwd.d(), nullptr, p.grad_out.d(), nullptr));
    CHECK(p.untouched());
}

TEST_MAIN()
