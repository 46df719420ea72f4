// Every bad-input path of the C API returns the right status, a message that names the
// argument, and leaves every output untouched.
#include <cstring>

#include "test_util.h"

using namespace sktest;

namespace {

bool mentions(const char *message, const char *word) { return std::strstr(message, word) != nullptr; }

// A valid float32 problem a (2,3,4) x b (2,4,5) -> c (2,3,5), outputs filled with a sentinel.
struct Problem {
    HostTensor<float> a{{2, 3, 4}, 0.5f}, b{{2, 4, 5}, 0.25f}, c{{2, 3, 5}, 99.0f};
    HostTensor<int32_t> argmax{{2, 3, 5}, 99};
    HostTensor<float> g{{2, 3, 5}, 1.0f}, ga{{2, 3, 4}, 99.0f}, gb{{2, 4, 5}, 99.0f};
    bool outputs_untouched() const {
        for (float x : c.storage) if (x != 99.0f) return false;
        for (int32_t x : argmax.storage) if (x != 99) return false;
        for (float x : ga.storage) if (x != 99.0f) return false;
        for (float x : gb.storage) if (x != 99.0f) return false;
        return true;
    }
};

// Expects `status` with a message (thread and context) containing `word`, outputs untouched.
void expect_error(sk_context *ctx, sk_status status, sk_status expected, const char *word,
                  const Problem &p, const char *label) {
    CHECK_MSG(status == expected, label << ": got " << sk_status_name(status) << " want "
                                        << sk_status_name(expected) << " (" << sk_last_error() << ")");
    CHECK_MSG(mentions(sk_last_error(), word), label << ": message '" << sk_last_error()
                                                     << "' does not mention '" << word << "'");
    if (ctx)
        CHECK_MSG(std::strcmp(sk_context_last_error(ctx), sk_last_error()) == 0,
                  label << ": context message differs: " << sk_context_last_error(ctx));
    CHECK_MSG(p.outputs_untouched(), label << ": an output was written");
}

sk_status forward(sk_context *ctx, Problem &p, int32_t semiring, bool argmax = false) {
    auto o = matmul_options(semiring);
    return sk_semiring_matmul(ctx, &o, p.a.d(), p.b.d(), p.c.d(), argmax ? p.argmax.d() : nullptr);
}

}  // namespace

TEST(null_pointers) {
    Context ctx;
    Problem p;
    auto o = matmul_options(SK_SEMIRING_LOG);
    expect_error(nullptr, sk_semiring_matmul(nullptr, &o, p.a.d(), p.b.d(), p.c.d(), nullptr),
                 SK_ERROR_NULL_POINTER, "ctx", p, "null ctx");
    expect_error(ctx, sk_semiring_matmul(ctx, nullptr, p.a.d(), p.b.d(), p.c.d(), nullptr),
                 SK_ERROR_NULL_POINTER, "options", p, "null options");
    expect_error(ctx, sk_semiring_matmul(ctx, &o, nullptr, p.b.d(), p.c.d(), nullptr),
                 SK_ERROR_NULL_POINTER, "'a'", p, "null a");
    expect_error(ctx, sk_semiring_matmul(ctx, &o, p.a.d(), nullptr, p.c.d(), nullptr),
                 SK_ERROR_NULL_POINTER, "'b'", p, "null b");
    expect_error(ctx, sk_semiring_matmul(ctx, &o, p.a.d(), p.b.d(), nullptr, nullptr),
                 SK_ERROR_NULL_POINTER, "'c'", p, "null c");
    Problem q;
    q.a.desc.data = nullptr;
    expect_error(ctx, forward(ctx, q, SK_SEMIRING_LOG), SK_ERROR_NULL_POINTER, "'a'", q, "null a data");
    expect_error(ctx, sk_semiring_matmul_backward(ctx, &o, p.a.d(), p.b.d(), nullptr, nullptr, p.g.d(), p.ga.d(), p.gb.d()),
                 SK_ERROR_NULL_POINTER, "'c'", p, "log backward without c");
    expect_error(ctx, sk_semiring_matmul_backward(ctx, &o, p.a.d(), p.b.d(), p.c.d(), nullptr, nullptr, p.ga.d(), p.gb.d()),
                 SK_ERROR_NULL_POINTER, "grad_c", p, "null grad_c");
}

TEST(wrong_rank_and_shapes) {
    Context ctx;
    {
        Problem p;
        p.a.desc.rank = 4;
        p.a.desc.shape[3] = 1;
        p.a.desc.strides[3] = 1;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "'a'", p, "rank 4 a");
    }
    {
        Problem p;
        p.b.desc.rank = 1;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "'b'", p, "rank 1 b");
    }
    {
        Problem p;
        p.b.desc.shape[1] = 3;  // inner extent 3 vs a's 4
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "inner", p, "inner mismatch");
    }
    {
        Problem p;
        p.c.desc.shape[2] = 4;  // expected 5 columns
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "'c'", p, "c columns");
    }
    {
        Problem p;
        p.a.desc.shape[0] = 3;  // batch 3 vs output batch 2
        p.a.storage.resize(3 * 3 * 4, 0.5f);
        p.a.desc.data = p.a.storage.data();
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "batch", p, "batch mismatch");
    }
    {
        Problem p;
        p.c.desc.rank = 2;  // a, b batched but c not
        p.c.desc.shape[0] = 3;
        p.c.desc.shape[1] = 5;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "'c'", p, "c rank");
    }
    {
        Problem p;
        p.a.desc.shape[1] = -1;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "negative", p, "negative extent");
    }
    {
        Problem p;
        p.b.desc.strides[2] = -1;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "stride", p, "negative stride");
    }
    {
        Problem p;
        p.a.desc.strides[0] = int64_t(1) << 62;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "'a'", p, "overflowing span");
    }
    {
        Problem p;
        p.ga.desc.shape[2] = 3;
        auto o = matmul_options(SK_SEMIRING_REAL);
        expect_error(ctx, sk_semiring_matmul_backward(ctx, &o, p.a.d(), p.b.d(), nullptr, nullptr, p.g.d(), p.ga.d(), p.gb.d()),
                     SK_ERROR_SHAPE, "grad_a", p, "grad_a shape");
    }
}

TEST(wrong_dtypes) {
    Context ctx;
    {
        Problem p;
        p.b.desc.dtype = SK_DTYPE_FLOAT64;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_DTYPE, "'b'", p, "b float64");
    }
    {
        Problem p;
        p.a.desc.dtype = SK_DTYPE_INT32;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_DTYPE, "'a'", p, "a int32");
    }
    {
        Problem p;
        p.c.desc.dtype = 42;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_DTYPE, "'c'", p, "unknown dtype");
    }
    {
        Problem p;
        p.argmax.desc.dtype = SK_DTYPE_INT64;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_MAX, true), SK_ERROR_DTYPE, "argmax", p, "argmax int64");
    }
}

TEST(unknown_or_wrong_device) {
    Context ctx;
    {
        Problem p;
        p.a.desc.device_type = 7;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_DEVICE, "'a'", p, "unknown device type");
    }
    {
        Problem p;
        p.c.desc.device_type = SK_DEVICE_CUDA;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_DEVICE, "'c'", p, "cuda tensor on cpu context");
    }
    {
        Problem p;
        p.b.desc.device_index = 1;
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_DEVICE, "'b'", p, "cpu index 1");
    }
    sk_context *bad = nullptr;
    CHECK(sk_context_create(9, 0, &bad) == SK_ERROR_DEVICE);
    CHECK(mentions(sk_last_error(), "device_type"));
    CHECK(bad == nullptr);
    int32_t count = -1;
    CHECK_OK(sk_cuda_device_count(&count));
    CHECK(sk_context_create(SK_DEVICE_CUDA, count, &bad) == SK_ERROR_DEVICE);
    CHECK(mentions(sk_last_error(), "device"));
    sk_device_info info;
    CHECK(sk_cuda_device_info(count, &info) == SK_ERROR_DEVICE);
    CHECK(sk_cuda_device_info(-1, &info) == SK_ERROR_DEVICE);
}

TEST(bad_options_and_semiring_rules) {
    Context ctx;
    Problem p;
    auto o = matmul_options(17);
    expect_error(ctx, sk_semiring_matmul(ctx, &o, p.a.d(), p.b.d(), p.c.d(), nullptr), SK_ERROR_INVALID_ARGUMENT,
                 "semiring", p, "unknown semiring");
    o = matmul_options(SK_SEMIRING_LOG);
    o.reserved = 1;
    expect_error(ctx, sk_semiring_matmul(ctx, &o, p.a.d(), p.b.d(), p.c.d(), nullptr), SK_ERROR_INVALID_ARGUMENT,
                 "reserved", p, "reserved");
    o = matmul_options(SK_SEMIRING_LOG);
    o.struct_size = 4;
    expect_error(ctx, sk_semiring_matmul(ctx, &o, p.a.d(), p.b.d(), p.c.d(), nullptr), SK_ERROR_INVALID_ARGUMENT,
                 "struct_size", p, "struct_size");
    expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG, true), SK_ERROR_INVALID_ARGUMENT, "argmax", p,
                 "argmax with log");
    o = matmul_options(SK_SEMIRING_BOOLEAN);
    expect_error(ctx, sk_semiring_matmul_backward(ctx, &o, p.a.d(), p.b.d(), p.c.d(), nullptr, p.g.d(), p.ga.d(), p.gb.d()),
                 SK_ERROR_UNSUPPORTED, "boolean", p, "boolean backward");
    // argmax entries outside [-1, k) are rejected before any gradient is written.
    HostTensor<int32_t> wild({2, 3, 5}, 4);
    o = matmul_options(SK_SEMIRING_MAX);
    expect_error(ctx, sk_semiring_matmul_backward(ctx, &o, p.a.d(), p.b.d(), nullptr, wild.d(), p.g.d(), p.ga.d(), p.gb.d()),
                 SK_ERROR_INVALID_ARGUMENT, "argmax", p, "argmax out of range");
}

TEST(overlapping_outputs_are_rejected) {
    Context ctx;
    {
        Problem p;
        sk_tensor alias = p.c.desc;
        alias.data = p.a.desc.data;  // c written over a
        alias.shape[2] = 4;
        alias.strides[0] = 12;
        alias.strides[1] = 4;
        HostTensor<float> b2({2, 4, 4}, 0.1f);
        auto o = matmul_options(SK_SEMIRING_REAL);
        const std::vector<float> before = p.a.storage;
        CHECK(sk_semiring_matmul(ctx, &o, p.a.d(), b2.d(), &alias, nullptr) == SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "overlaps"));
        CHECK(before == p.a.storage);
    }
    {
        Problem p;
        p.c.desc.strides[2] = 0;  // every column the same element
        expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_SHAPE, "overlap", p, "self-overlapping c");
    }
}

TEST(workspace_limit_is_enforced_with_a_clear_message) {
    Context ctx;
    Problem p;
    CHECK_OK(sk_context_set_workspace_limit(ctx, 256));
    expect_error(ctx, forward(ctx, p, SK_SEMIRING_LOG), SK_ERROR_OUT_OF_MEMORY, "workspace limit", p, "limit");
    CHECK_OK(sk_context_set_workspace_limit(ctx, 0));
    CHECK_OK(forward(ctx, p, SK_SEMIRING_LOG));
    CHECK(sk_context_set_workspace_limit(ctx, -5) == SK_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(sk_context_last_error(ctx), "bytes"));
}

TEST_MAIN()
