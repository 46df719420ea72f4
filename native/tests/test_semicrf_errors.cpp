// Every bad-input path of the semi-CRF entry points returns the right status, a message that
// names the argument (on the thread and on the context), and leaves every output untouched.
// Each input check runs through all six entry points.
#include <cstring>
#include <functional>
#include <string>

#include "test_util.h"

using namespace sktest;

namespace {

bool mentions(const char *message, const char *word) { return std::strstr(message, word) != nullptr; }

// B = 2, T = 4, C = 3, K = 2, float32, outputs filled with the sentinel 99. A valid gold
// segmentation: sequence 0 [0,2) [2,4), sequence 1 [0,1) [1,3) (lengths 4 and 3).
struct Problem {
    HostTensor<float> scores{{2, 4, 3}, 0.1f}, cumulative{{2, 5, 3}, 0.1f};
    HostTensor<float> transition{{3, 3}, -0.5f}, duration_bias{{2, 3}, 0.0f}, start{{3}, 0.0f};
    HostTensor<float> proj_start{{2, 4, 3}, 0.0f}, proj_end{{2, 4, 3}, 0.0f};
    HostTensor<int64_t> lengths{{2}, 4};
    HostTensor<int32_t> gold_segments{{2, 3, 3}, 0}, gold_counts{{2}, 2}, gold_labels{{2, 4}, 1};
    bool use_labels = false;
    bool use_cumulative = false;
    // optional inputs passed (each may be switched off)
    bool with_start = true, with_proj = true;
    // outputs
    HostTensor<float> value{{2}, 99.0f}, grad_scores{{2, 4, 3}, 99.0f}, grad_transition{{3, 3}, 99.0f},
        grad_duration_bias{{2, 3}, 99.0f}, grad_start{{3}, 99.0f}, grad_proj_start{{2, 4, 3}, 99.0f},
        grad_proj_end{{2, 4, 3}, 99.0f}, boundary{{2, 4}, 99.0f}, coverage{{2, 4, 3}, 99.0f};
    HostTensor<int32_t> segments{{2, 4, 3}, 99}, segment_counts{{2}, 99}, label_path{{2, 4}, 99};
    HostTensor<float> upstream{{2}, 1.0f};
    sk_semicrf_options options{};
    // Replacements for single arguments (nullptr = use the default above).
    std::function<void()> mutate;

    Problem() {
        options.struct_size = sizeof(sk_semicrf_options);
        options.semiring = SK_SEMIRING_LOG;
        lengths.at({1}) = 3;
        const int32_t rows[2][2][3] = {{{0, 2, 0}, {2, 4, 1}}, {{0, 1, 2}, {1, 3, 0}}};
        for (int b = 0; b < 2; ++b)
            for (int j = 0; j < 2; ++j)
                for (int f = 0; f < 3; ++f) gold_segments.at({b, j, f}) = rows[b][j][f];
    }
    sk_tensor *x() { return use_cumulative ? cumulative.d() : scores.d(); }
    sk_tensor *st() { return with_start ? start.d() : nullptr; }
    sk_tensor *ps() { return with_proj ? proj_start.d() : nullptr; }
    sk_tensor *pe() { return with_proj ? proj_end.d() : nullptr; }
    sk_tensor *gs() { return use_labels ? nullptr : gold_segments.d(); }
    sk_tensor *gc() { return use_labels ? nullptr : gold_counts.d(); }
    sk_tensor *gl() { return use_labels ? gold_labels.d() : nullptr; }
    bool outputs_untouched() const {
        for (const auto *t : {&value, &grad_scores, &grad_transition, &grad_duration_bias, &grad_start, &grad_proj_start,
                              &grad_proj_end, &boundary, &coverage})
            for (float v : t->storage)
                if (v != 99.0f) return false;
        for (const auto *t : {&segments, &segment_counts, &label_path})
            for (int32_t v : t->storage)
                if (v != 99) return false;
        return true;
    }
};

enum class Op { Forward, Backward, Viterbi, Marginals, Gold, GoldBackward };
const Op kOps[] = {Op::Forward, Op::Backward, Op::Viterbi, Op::Marginals, Op::Gold, Op::GoldBackward};
const char *op_name(Op op) {
    const char *names[] = {"forward", "backward", "viterbi", "marginals", "gold_score", "gold_score_backward"};
    return names[static_cast<int>(op)];
}

sk_status call(sk_context *ctx, Problem &p, Op op) {
    sk_semicrf_options o = p.options;
    if (op == Op::Viterbi && o.semiring == SK_SEMIRING_LOG) o.semiring = SK_SEMIRING_MAX;
    switch (op) {
        case Op::Forward:
            return sk_semicrf_forward(ctx, &o, p.x(), p.transition.d(), p.duration_bias.d(), p.st(), p.ps(), p.pe(),
                                      p.lengths.d(), p.value.d());
        case Op::Backward:
            return sk_semicrf_backward(ctx, &o, p.x(), p.transition.d(), p.duration_bias.d(), p.st(), p.ps(), p.pe(),
                                       p.lengths.d(), p.upstream.d(), p.use_cumulative ? nullptr : p.grad_scores.d(),
                                       p.grad_transition.d(), p.grad_duration_bias.d(),
                                       p.with_start ? p.grad_start.d() : nullptr,
                                       p.with_proj ? p.grad_proj_start.d() : nullptr,
                                       p.with_proj ? p.grad_proj_end.d() : nullptr, p.value.d());
        case Op::Viterbi:
            return sk_semicrf_viterbi(ctx, &o, p.x(), p.transition.d(), p.duration_bias.d(), p.st(), p.ps(), p.pe(),
                                      p.lengths.d(), p.value.d(), p.segments.d(), p.segment_counts.d(),
                                      p.label_path.d());
        case Op::Marginals:
            return sk_semicrf_marginals(ctx, &o, p.x(), p.transition.d(), p.duration_bias.d(), p.st(), p.ps(), p.pe(),
                                        p.lengths.d(), p.boundary.d(), p.coverage.d(), p.value.d());
        case Op::Gold:
            return sk_semicrf_gold_score(ctx, &o, p.x(), p.transition.d(), p.duration_bias.d(), p.st(), p.ps(), p.pe(),
                                         p.lengths.d(), p.gs(), p.gc(), p.gl(), p.value.d());
        default:
            return sk_semicrf_gold_score_backward(
                ctx, &o, p.x(), p.transition.d(), p.duration_bias.d(), p.st(), p.ps(), p.pe(), p.lengths.d(), p.gs(),
                p.gc(), p.gl(), p.upstream.d(), p.use_cumulative ? nullptr : p.grad_scores.d(), p.grad_transition.d(),
                p.grad_duration_bias.d(), p.with_start ? p.grad_start.d() : nullptr,
                p.with_proj ? p.grad_proj_start.d() : nullptr, p.with_proj ? p.grad_proj_end.d() : nullptr,
                p.value.d());
    }
}

// Runs `op` on a fresh problem changed by `change`, expects `status` and a message naming `word`.
void expect_error(Op op, const std::function<void(Problem &)> &change, sk_status status, const char *word,
                  const char *what) {
    Context ctx;
    Problem p;
    change(p);
    const sk_status got = call(ctx, p, op);
    CHECK_MSG(got == status, what << " (" << op_name(op) << "): expected " << sk_status_name(status) << ", got "
              << sk_status_name(got) << ": " << sk_last_error());
    CHECK_MSG(mentions(sk_last_error(), word), what << " (" << op_name(op) << "): message '" << sk_last_error()
              << "' does not name '" << word << "'");
    CHECK_MSG(mentions(sk_context_last_error(ctx), word), what << ": context message");
    CHECK_MSG(p.outputs_untouched(), what << " (" << op_name(op) << "): an output was written");
}

void expect_error_all(const std::function<void(Problem &)> &change, sk_status status, const char *word,
                      const char *what) {
    for (Op op : kOps) expect_error(op, change, status, word, what);
}

}  // namespace

TEST(valid_problem_succeeds_for_every_op) {
    for (Op op : kOps)
        for (int labels = 0; labels < 2; ++labels) {
            Context ctx;
            Problem p;
            p.use_labels = labels;
            CHECK_MSG(call(ctx, p, op) == SK_OK, op_name(op) << ": " << sk_last_error());
            CHECK(!p.outputs_untouched());
        }
}

TEST(null_context_and_options) {
    for (Op op : kOps) {
        Problem p;
        CHECK_EQ(call(nullptr, p, op), SK_ERROR_NULL_POINTER);
        CHECK(mentions(sk_last_error(), "ctx"));
        CHECK(p.outputs_untouched());
        Context ctx;
        CHECK_EQ(sk_semicrf_forward(ctx, nullptr, p.x(), p.transition.d(), p.duration_bias.d(), nullptr, nullptr,
                                    nullptr, p.lengths.d(), p.value.d()),
                 SK_ERROR_NULL_POINTER);
        CHECK(mentions(sk_last_error(), "options"));
    }
}

TEST(bad_options) {
    expect_error_all([](Problem &p) { p.options.struct_size = 8; }, SK_ERROR_INVALID_ARGUMENT, "struct_size", "short struct");
    expect_error_all([](Problem &p) { p.options.semiring = SK_SEMIRING_REAL; }, SK_ERROR_INVALID_ARGUMENT, "options.semiring", "real semiring");
    expect_error_all([](Problem &p) { p.options.semiring = 17; }, SK_ERROR_INVALID_ARGUMENT, "options.semiring", "unknown semiring");
    expect_error_all([](Problem &p) { p.options.input = 2; }, SK_ERROR_INVALID_ARGUMENT, "options.input", "unknown input");
    expect_error_all([](Problem &p) { p.options.zero_centre = 2; }, SK_ERROR_INVALID_ARGUMENT, "options.zero_centre", "flag 2");
    expect_error_all([](Problem &p) {
        p.use_cumulative = true;
        p.options.input = SK_SEMICRF_INPUT_CUMULATIVE;
        p.options.zero_centre = 1;
    }, SK_ERROR_INVALID_ARGUMENT, "options.zero_centre", "centring cumulative scores");
    expect_error_all([](Problem &p) { p.options.flash_semicrf_compat = -1; }, SK_ERROR_INVALID_ARGUMENT, "options.flash_semicrf_compat", "compat -1");
    expect_error_all([](Problem &p) { p.options.infeasible_gradient = 5; }, SK_ERROR_INVALID_ARGUMENT, "options.infeasible_gradient", "convention 5");
    expect_error_all([](Problem &p) { p.options.reserved = 1; }, SK_ERROR_INVALID_ARGUMENT, "options.reserved", "reserved");
    // Viterbi with the log semiring explicitly requested.
    Context ctx;
    Problem p;
    sk_semicrf_options o = p.options;
    CHECK_EQ(sk_semicrf_viterbi(ctx, &o, p.x(), p.transition.d(), p.duration_bias.d(), nullptr, nullptr, nullptr,
                                p.lengths.d(), p.value.d(), nullptr, nullptr, nullptr),
             SK_ERROR_INVALID_ARGUMENT);
    CHECK(mentions(sk_last_error(), "SK_SEMIRING_MAX"));
    CHECK(p.outputs_untouched());
}

TEST(bad_scores) {
    expect_error_all([](Problem &p) { p.scores.desc.rank = 2; }, SK_ERROR_SHAPE, "scores", "rank 2");
    expect_error_all([](Problem &p) { p.scores.desc.shape[2] = 0; }, SK_ERROR_SHAPE, "scores", "C = 0");
    expect_error_all([](Problem &p) { p.scores.desc.dtype = SK_DTYPE_INT32; }, SK_ERROR_DTYPE, "scores", "int32 scores");
    expect_error_all([](Problem &p) { p.scores.desc.data = nullptr; }, SK_ERROR_NULL_POINTER, "scores", "null data");
    expect_error_all([](Problem &p) { p.scores.desc.device_type = SK_DEVICE_CUDA; }, SK_ERROR_DEVICE, "scores", "scores on CUDA");
    expect_error_all([](Problem &p) {
        p.use_cumulative = true;
        p.options.input = SK_SEMICRF_INPUT_CUMULATIVE;
        p.cumulative.desc.shape[1] = 0;
    }, SK_ERROR_SHAPE, "scores", "cumulative without rows");
    // Per-position scores passed as cumulative (T+1 rows expected): proj_* then mismatch T.
    expect_error_all([](Problem &p) { p.options.input = SK_SEMICRF_INPUT_CUMULATIVE; }, SK_ERROR_SHAPE, "proj_start",
                     "scores read as cumulative");
    expect_error_all([](Problem &p) { p.scores.desc.shape[0] = 3; }, SK_ERROR_SHAPE, "proj_start", "batch mismatch");
    expect_error_all([](Problem &p) { p.scores.desc.shape[0] = 3; p.with_proj = false; }, SK_ERROR_SHAPE, "lengths",
                     "batch mismatch without boundary scores");
}

TEST(bad_parameters) {
    expect_error_all([](Problem &p) { p.duration_bias.desc.shape[0] = 0; }, SK_ERROR_SHAPE, "duration_bias", "K = 0");
    expect_error_all([](Problem &p) { p.duration_bias.desc.rank = 1; }, SK_ERROR_SHAPE, "duration_bias", "rank 1");
    expect_error_all([](Problem &p) { p.duration_bias.desc.shape[1] = 2; }, SK_ERROR_SHAPE, "duration_bias", "C mismatch");
    expect_error_all([](Problem &p) { p.duration_bias.desc.dtype = SK_DTYPE_FLOAT64; }, SK_ERROR_DTYPE, "duration_bias", "dtype");
    expect_error_all([](Problem &p) { p.transition.desc.shape[1] = 2; }, SK_ERROR_SHAPE, "transition", "(3, 2)");
    expect_error_all([](Problem &p) { p.transition.desc.rank = 1; }, SK_ERROR_SHAPE, "transition", "rank 1");
    expect_error_all([](Problem &p) {
        p.transition = HostTensor<float>({3, 3, 3}, 0.0f);  // (K = 3?) but K = 2
    }, SK_ERROR_SHAPE, "transition", "(3, C, C) with K = 2");
    expect_error_all([](Problem &p) { p.transition.desc.dtype = SK_DTYPE_FLOAT64; }, SK_ERROR_DTYPE, "transition", "dtype");
    expect_error_all([](Problem &p) { p.start.desc.shape[0] = 4; }, SK_ERROR_SHAPE, "start", "start (4)");
    expect_error_all([](Problem &p) { p.start.desc.rank = 2; }, SK_ERROR_SHAPE, "start", "start rank 2");
    expect_error_all([](Problem &p) { p.proj_start.desc.shape[1] = 5; }, SK_ERROR_SHAPE, "proj_start", "proj_start T");
    expect_error_all([](Problem &p) { p.proj_end.desc.shape[0] = 1; }, SK_ERROR_SHAPE, "proj_end", "proj_end B");
    expect_error_all([](Problem &p) { p.proj_end.desc.dtype = SK_DTYPE_FLOAT64; }, SK_ERROR_DTYPE, "proj_end", "proj_end dtype");
    expect_error_all([](Problem &p) { p.transition.desc = p.transition.desc, p.transition.desc.data = nullptr; },
                     SK_ERROR_NULL_POINTER, "transition", "transition data");
}

TEST(bad_lengths) {
    expect_error_all([](Problem &p) { p.lengths.at({1}) = 0; }, SK_ERROR_INVALID_ARGUMENT, "lengths", "length 0");
    expect_error_all([](Problem &p) { p.lengths.at({0}) = 5; }, SK_ERROR_INVALID_ARGUMENT, "lengths", "length > T");
    expect_error_all([](Problem &p) { p.lengths.at({0}) = -3; }, SK_ERROR_INVALID_ARGUMENT, "lengths", "negative length");
    expect_error_all([](Problem &p) { p.lengths.desc.dtype = SK_DTYPE_FLOAT32; }, SK_ERROR_DTYPE, "lengths", "float lengths");
    expect_error_all([](Problem &p) { p.lengths.desc.shape[0] = 1; }, SK_ERROR_SHAPE, "lengths", "lengths (1)");
    expect_error_all([](Problem &p) { p.lengths.desc.rank = 2; }, SK_ERROR_SHAPE, "lengths", "lengths rank 2");
}

TEST(bad_outputs) {
    expect_error(Op::Forward, [](Problem &p) { p.value.desc.shape[0] = 3; }, SK_ERROR_SHAPE, "log_partition", "value (3)");
    expect_error(Op::Forward, [](Problem &p) { p.value.desc.dtype = SK_DTYPE_FLOAT64; }, SK_ERROR_DTYPE, "log_partition", "value dtype");
    expect_error(Op::Forward, [](Problem &p) { p.value.desc.data = p.scores.desc.data; }, SK_ERROR_INVALID_ARGUMENT,
                 "log_partition", "value overlaps scores");
    {
        Context ctx;
        Problem p;
        CHECK_EQ(sk_semicrf_forward(ctx, &p.options, p.x(), p.transition.d(), p.duration_bias.d(), nullptr, nullptr,
                                    nullptr, p.lengths.d(), nullptr),
                 SK_ERROR_NULL_POINTER);
        CHECK(mentions(sk_last_error(), "log_partition"));
    }
    expect_error(Op::Backward, [](Problem &p) { p.grad_scores.desc.shape[2] = 2; }, SK_ERROR_SHAPE, "grad_scores", "grad_scores");
    expect_error(Op::Backward, [](Problem &p) { p.grad_transition.desc.rank = 3; }, SK_ERROR_SHAPE, "grad_transition", "grad_transition");
    expect_error(Op::Backward, [](Problem &p) { p.grad_duration_bias.desc.dtype = SK_DTYPE_FLOAT64; }, SK_ERROR_DTYPE,
                 "grad_duration_bias", "grad_duration_bias dtype");
    expect_error(Op::Backward, [](Problem &p) { p.grad_proj_end.desc.data = p.grad_proj_start.desc.data; },
                 SK_ERROR_INVALID_ARGUMENT, "grad_proj_end", "two gradients share memory");
    expect_error(Op::Backward, [](Problem &p) { p.grad_scores.desc.strides[2] = 0; }, SK_ERROR_SHAPE, "grad_scores",
                 "self-overlapping gradient");
    expect_error(Op::Backward, [](Problem &p) { p.upstream.desc.shape[0] = 1; }, SK_ERROR_SHAPE, "grad_log_partition", "upstream (1)");
    expect_error(Op::Backward, [](Problem &p) { p.upstream.desc.data = nullptr; }, SK_ERROR_NULL_POINTER, "grad_log_partition", "upstream data");
    expect_error(Op::GoldBackward, [](Problem &p) { p.upstream.desc.dtype = SK_DTYPE_FLOAT64; }, SK_ERROR_DTYPE, "grad_score", "upstream dtype");
    expect_error(Op::Marginals, [](Problem &p) { p.boundary.desc.shape[1] = 5; }, SK_ERROR_SHAPE, "boundary", "boundary");
    expect_error(Op::Marginals, [](Problem &p) { p.coverage.desc.rank = 2; }, SK_ERROR_SHAPE, "coverage", "coverage");
    expect_error(Op::Viterbi, [](Problem &p) { p.segments.desc.shape[1] = 3; }, SK_ERROR_SHAPE, "segments", "capacity below T");
    expect_error(Op::Viterbi, [](Problem &p) { p.segments.desc.dtype = SK_DTYPE_INT64; }, SK_ERROR_DTYPE, "segments", "int64 segments");
    expect_error(Op::Viterbi, [](Problem &p) { p.label_path.desc.shape[1] = 3; }, SK_ERROR_SHAPE, "label_path", "label_path");
    expect_error(Op::Viterbi, [](Problem &p) { p.segment_counts.desc.dtype = SK_DTYPE_FLOAT32; }, SK_ERROR_DTYPE,
                 "segment_counts", "float counts");
    // Segments without counts; a gradient for an input that was not given.
    {
        Context ctx;
        Problem p;
        sk_semicrf_options o = p.options;
        o.semiring = SK_SEMIRING_MAX;
        CHECK_EQ(sk_semicrf_viterbi(ctx, &o, p.x(), p.transition.d(), p.duration_bias.d(), nullptr, nullptr, nullptr,
                                    p.lengths.d(), nullptr, p.segments.d(), nullptr, nullptr),
                 SK_ERROR_NULL_POINTER);
        CHECK(mentions(sk_last_error(), "segment_counts"));
        CHECK_EQ(sk_semicrf_backward(ctx, &p.options, p.x(), p.transition.d(), p.duration_bias.d(), nullptr, nullptr,
                                     nullptr, p.lengths.d(), p.upstream.d(), nullptr, nullptr, nullptr,
                                     p.grad_start.d(), nullptr, nullptr, nullptr),
                 SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "grad_start"));
        CHECK_EQ(sk_semicrf_backward(ctx, &p.options, p.x(), p.transition.d(), p.duration_bias.d(), nullptr, nullptr,
                                     nullptr, p.lengths.d(), p.upstream.d(), nullptr, nullptr, nullptr, nullptr,
                                     nullptr, p.grad_proj_end.d(), nullptr),
                 SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "grad_proj_end"));
        CHECK(p.outputs_untouched());
    }
}

TEST(bad_gold_segmentations) {
    const Op gold_ops[] = {Op::Gold, Op::GoldBackward};
    for (Op op : gold_ops) {
        expect_error(op, [](Problem &p) { p.gold_segments.at({0, 1, 0}) = 1; }, SK_ERROR_INVALID_ARGUMENT,
                     "gold_segments", "overlapping segments");
        expect_error(op, [](Problem &p) { p.gold_segments.at({1, 1, 0}) = 2; p.gold_segments.at({1, 0, 1}) = 1; },
                     SK_ERROR_INVALID_ARGUMENT, "gold_segments", "gap");
        expect_error(op, [](Problem &p) { p.gold_segments.at({0, 0, 0}) = 1; }, SK_ERROR_INVALID_ARGUMENT,
                     "gold_segments", "first segment not at 0");
        expect_error(op, [](Problem &p) {  // [0, 3) has duration 3 > K = 2
            p.gold_segments.at({1, 0, 1}) = 3;
            p.gold_segments.at({1, 1, 0}) = 3;
        }, SK_ERROR_INVALID_ARGUMENT, "gold_segments", "duration above K");
        expect_error(op, [](Problem &p) { p.gold_segments.at({0, 1, 1}) = 2; }, SK_ERROR_INVALID_ARGUMENT,
                     "gold_segments", "empty segment");
        expect_error(op, [](Problem &p) { p.gold_segments.at({0, 1, 2}) = 3; }, SK_ERROR_INVALID_ARGUMENT,
                     "gold_segments", "label = C");
        expect_error(op, [](Problem &p) { p.gold_segments.at({0, 0, 2}) = -1; }, SK_ERROR_INVALID_ARGUMENT,
                     "gold_segments", "negative label");
        expect_error(op, [](Problem &p) { p.gold_counts.at({1}) = 1; }, SK_ERROR_INVALID_ARGUMENT, "gold_segments",
                     "segments do not cover the length");
        expect_error(op, [](Problem &p) {  // sequence 1 has length 3; a third segment runs past it
            p.gold_counts.at({1}) = 3;
            p.gold_segments.at({1, 2, 0}) = 3;
            p.gold_segments.at({1, 2, 1}) = 4;
        }, SK_ERROR_INVALID_ARGUMENT, "gold_segments", "past the length");
        expect_error(op, [](Problem &p) { p.gold_counts.at({0}) = 4; }, SK_ERROR_INVALID_ARGUMENT,
                     "gold_segment_counts", "count above S");
        expect_error(op, [](Problem &p) { p.gold_counts.at({0}) = 0; }, SK_ERROR_INVALID_ARGUMENT,
                     "gold_segment_counts", "count 0");
        expect_error(op, [](Problem &p) { p.gold_segments.desc.shape[2] = 2; }, SK_ERROR_SHAPE, "gold_segments", "rows of 2");
        expect_error(op, [](Problem &p) { p.gold_segments.desc.dtype = SK_DTYPE_FLOAT32; }, SK_ERROR_DTYPE,
                     "gold_segments", "float segments");
        expect_error(op, [](Problem &p) { p.gold_counts.desc.shape[0] = 3; }, SK_ERROR_SHAPE, "gold_segment_counts",
                     "counts (3)");
        expect_error(op, [](Problem &p) { p.gold_counts.desc.data = nullptr; }, SK_ERROR_NULL_POINTER,
                     "gold_segment_counts", "counts data");
        expect_error(op, [](Problem &p) { p.gold_labels.at({0, 2}) = 3; p.use_labels = true; },
                     SK_ERROR_INVALID_ARGUMENT, "gold_labels", "label = C");
        expect_error(op, [](Problem &p) { p.gold_labels.at({1, 0}) = -1; p.use_labels = true; },
                     SK_ERROR_INVALID_ARGUMENT, "gold_labels", "negative label");
        expect_error(op, [](Problem &p) { p.gold_labels.desc.shape[1] = 3; p.use_labels = true; }, SK_ERROR_SHAPE,
                     "gold_labels", "labels (B, 3)");
        // Both or neither annotation; counts with labels.
        Context ctx;
        Problem p;
        HostTensor<float> s({2}, 99.0f);
        CHECK_EQ(sk_semicrf_gold_score(ctx, &p.options, p.x(), p.transition.d(), p.duration_bias.d(), nullptr,
                                       nullptr, nullptr, p.lengths.d(), p.gold_segments.d(), p.gold_counts.d(),
                                       p.gold_labels.d(), s.d()),
                 SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "gold_labels"));
        CHECK_EQ(sk_semicrf_gold_score(ctx, &p.options, p.x(), p.transition.d(), p.duration_bias.d(), nullptr,
                                       nullptr, nullptr, p.lengths.d(), nullptr, nullptr, nullptr, s.d()),
                 SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "gold_segments"));
        CHECK_EQ(sk_semicrf_gold_score(ctx, &p.options, p.x(), p.transition.d(), p.duration_bias.d(), nullptr,
                                       nullptr, nullptr, p.lengths.d(), nullptr, p.gold_counts.d(),
                                       p.gold_labels.d(), s.d()),
                 SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "gold_segment_counts"));
        CHECK_EQ(sk_semicrf_gold_score(ctx, &p.options, p.x(), p.transition.d(), p.duration_bias.d(), nullptr,
                                       nullptr, nullptr, p.lengths.d(), p.gold_segments.d(), nullptr, nullptr, s.d()),
                 SK_ERROR_NULL_POINTER);
        CHECK(mentions(sk_last_error(), "gold_segment_counts"));
        for (float v : s.storage) CHECK(v == 99.0f);
    }
}

TEST_MAIN()
