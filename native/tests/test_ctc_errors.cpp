// Every bad-input path of the CTC entry points returns the right status and a message naming the
// argument (on the thread and on the context), and leaves every output buffer untouched.
#include <cstring>

#include "ctc_reference.h"

using namespace sktest;

namespace {

bool mentions(const char *message, const char *word) { return std::strstr(message, word) != nullptr; }

// A valid problem: T = 5, B = 2, C = 4, blank 0, padded int32 targets; outputs hold sentinels.
struct Problem {
    HostTensor<float> log_probs{{5, 2, 4}, -1.3862944f};
    HostTensor<int32_t> targets{{2, 3}, 0};
    HostTensor<int32_t> input_lengths{{2}, 0}, target_lengths{{2}, 0};
    HostTensor<float> grad_loss{{2}, 1.0f};
    // outputs
    HostTensor<float> loss{{2}, 99.0f}, grad{{5, 2, 4}, 99.0f}, posteriors{{2, 5, 7}, 99.0f};
    HostTensor<float> frame_scores{{2, 5}, 99.0f}, score{{2}, 99.0f};
    HostTensor<int32_t> path{{2, 5}, 99}, spans{{2, 3, 2}, 99};
    sk_ctc_options o{};

    Problem() {
        const int32_t y[2][3] = {{1, 2, 3}, {2, 2, 0}};
        for (int64_t b = 0; b < 2; ++b)
            for (int64_t j = 0; j < 3; ++j) targets.at({b, j}) = y[b][j];
        input_lengths.storage = {5, 4};
        target_lengths.storage = {3, 2};
        o.struct_size = sizeof(sk_ctc_options);
    }
    bool outputs_untouched() const {
        for (float x : loss.storage) if (x != 99.0f) return false;
        for (float x : grad.storage) if (x != 99.0f) return false;
        for (float x : posteriors.storage) if (x != 99.0f) return false;
        for (float x : frame_scores.storage) if (x != 99.0f) return false;
        for (float x : score.storage) if (x != 99.0f) return false;
        for (int32_t x : path.storage) if (x != 99) return false;
        for (int32_t x : spans.storage) if (x != 99) return false;
        return true;
    }
    sk_status loss_call(sk_context *ctx) {
        return sk_ctc_loss(ctx, &o, log_probs.d(), targets.d(), input_lengths.d(), target_lengths.d(), loss.d());
    }
    sk_status backward_call(sk_context *ctx) {
        return sk_ctc_loss_backward(ctx, &o, log_probs.d(), targets.d(), input_lengths.d(), target_lengths.d(),
                                    grad_loss.d(), grad.d(), loss.d());
    }
    sk_status fused_call(sk_context *ctx) {
        return sk_ctc_loss_fused_logits(ctx, &o, log_probs.d(), targets.d(), input_lengths.d(), target_lengths.d(),
                                        grad_loss.d(), loss.d(), grad.d());
    }
    sk_status align_call(sk_context *ctx) {
        return sk_ctc_forced_align(ctx, &o, log_probs.d(), targets.d(), input_lengths.d(), target_lengths.d(),
                                   path.d(), spans.d(), frame_scores.d(), score.d());
    }
    sk_status posteriors_call(sk_context *ctx) {
        return sk_ctc_posteriors(ctx, &o, log_probs.d(), targets.d(), input_lengths.d(), target_lengths.d(),
                                 posteriors.d());
    }
    // Every entry point that reads the shared inputs.
    std::vector<std::pair<const char *, sk_status>> all_calls(sk_context *ctx) {
        return {{"sk_ctc_loss", loss_call(ctx)},
                {"sk_ctc_loss_backward", backward_call(ctx)},
                {"sk_ctc_loss_fused_logits", fused_call(ctx)},
                {"sk_ctc_forced_align", align_call(ctx)},
                {"sk_ctc_posteriors", posteriors_call(ctx)}};
    }
};

void expect_error(sk_context *ctx, sk_status status, sk_status expected, const char *word, const Problem &p,
                  const std::string &label) {
    CHECK_MSG(status == expected, label << ": got " << sk_status_name(status) << " want " << sk_status_name(expected)
                                        << " (" << sk_last_error() << ")");
    CHECK_MSG(mentions(sk_last_error(), word), label << ": message '" << sk_last_error() << "' does not mention '"
                                                     << word << "'");
    if (ctx)
        CHECK_MSG(std::strcmp(sk_context_last_error(ctx), sk_last_error()) == 0,
                  label << ": context message differs: " << sk_context_last_error(ctx));
    CHECK_MSG(p.outputs_untouched(), label << ": an output was written");
}

// Runs every entry point on a problem broken by `breaker` and expects the same error from each.
template <class F>
void expect_all(sk_context *ctx, F breaker, sk_status expected, const char *word, const std::string &label) {
    for (int which = 0; which < 5; ++which) {
        Problem p;
        breaker(p);
        sk_status st = SK_OK;
        const char *name = "";
        switch (which) {
            case 0: st = p.loss_call(ctx); name = "loss"; break;
            case 1: st = p.backward_call(ctx); name = "backward"; break;
            case 2: st = p.fused_call(ctx); name = "fused"; break;
            case 3: st = p.align_call(ctx); name = "align"; break;
            default: st = p.posteriors_call(ctx); name = "posteriors"; break;
        }
        // the fused entry point calls its float input 'logits'
        const bool renamed = which == 2 && std::strcmp(word, "log_probs") == 0;
        expect_error(ctx, st, expected, renamed ? "logits" : word, p, label + " (" + name + ")");
    }
}

}  // namespace

TEST(valid_problem_runs_everywhere) {
    Context ctx;
    Problem p;
    for (auto &[name, st] : p.all_calls(ctx)) CHECK_MSG(st == SK_OK, name << ": " << sk_last_error());
    CHECK(!p.outputs_untouched());
}

TEST(null_pointers) {
    Context ctx;
    {
        Problem p;
        expect_error(nullptr, p.loss_call(nullptr), SK_ERROR_NULL_POINTER, "ctx", p, "null ctx");
    }
    {
        Problem p;
        expect_error(ctx, sk_ctc_loss(ctx, nullptr, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                      p.target_lengths.d(), p.loss.d()),
                     SK_ERROR_NULL_POINTER, "options", p, "null options");
        expect_error(ctx, sk_ctc_loss(ctx, &p.o, nullptr, p.targets.d(), p.input_lengths.d(), p.target_lengths.d(),
                                      p.loss.d()),
                     SK_ERROR_NULL_POINTER, "log_probs", p, "null log_probs");
        expect_error(ctx, sk_ctc_loss(ctx, &p.o, p.log_probs.d(), nullptr, p.input_lengths.d(), p.target_lengths.d(),
                                      p.loss.d()),
                     SK_ERROR_NULL_POINTER, "targets", p, "null targets");
        expect_error(ctx, sk_ctc_loss(ctx, &p.o, p.log_probs.d(), p.targets.d(), nullptr, p.target_lengths.d(),
                                      p.loss.d()),
                     SK_ERROR_NULL_POINTER, "input_lengths", p, "null input_lengths");
        expect_error(ctx, sk_ctc_loss(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(), nullptr,
                                      p.loss.d()),
                     SK_ERROR_NULL_POINTER, "target_lengths", p, "null target_lengths");
        expect_error(ctx, sk_ctc_loss(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                      p.target_lengths.d(), nullptr),
                     SK_ERROR_NULL_POINTER, "loss", p, "null loss");
        expect_error(ctx, sk_ctc_loss_backward(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                               p.target_lengths.d(), nullptr, p.grad.d(), nullptr),
                     SK_ERROR_NULL_POINTER, "grad_loss", p, "null grad_loss");
        expect_error(ctx, sk_ctc_loss_backward(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                               p.target_lengths.d(), p.grad_loss.d(), nullptr, nullptr),
                     SK_ERROR_NULL_POINTER, "grad_log_probs", p, "null grad_log_probs");
        expect_error(ctx, sk_ctc_loss_fused_logits(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                                   p.target_lengths.d(), nullptr, p.loss.d(), p.grad.d()),
                     SK_ERROR_NULL_POINTER, "grad_loss", p, "fused without grad_loss");
        expect_error(ctx, sk_ctc_loss_fused_logits(ctx, &p.o, nullptr, p.targets.d(), p.input_lengths.d(),
                                                   p.target_lengths.d(), p.grad_loss.d(), p.loss.d(), p.grad.d()),
                     SK_ERROR_NULL_POINTER, "logits", p, "null logits");
        expect_error(ctx, sk_ctc_forced_align(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                              p.target_lengths.d(), nullptr, nullptr, nullptr, nullptr),
                     SK_ERROR_NULL_POINTER, "path", p, "null path");
        expect_error(ctx, sk_ctc_posteriors(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                            p.target_lengths.d(), nullptr),
                     SK_ERROR_NULL_POINTER, "posteriors", p, "null posteriors");
    }
    expect_all(ctx, [](Problem &p) { p.log_probs.desc.data = nullptr; }, SK_ERROR_NULL_POINTER, "log_probs",
               "null log_probs data");
    expect_all(ctx, [](Problem &p) { p.targets.desc.data = nullptr; }, SK_ERROR_NULL_POINTER, "targets",
               "null targets data");
    expect_all(ctx, [](Problem &p) { p.target_lengths.desc.data = nullptr; }, SK_ERROR_NULL_POINTER,
               "target_lengths", "null target_lengths data");
}

TEST(bad_options) {
    Context ctx;
    expect_all(ctx, [](Problem &p) { p.o.struct_size = 8; }, SK_ERROR_INVALID_ARGUMENT, "struct_size", "struct_size");
    expect_all(ctx, [](Problem &p) { p.o.layout = 2; }, SK_ERROR_INVALID_ARGUMENT, "options.layout", "layout");
    expect_all(ctx, [](Problem &p) { p.o.reduction = 3; }, SK_ERROR_INVALID_ARGUMENT, "options.reduction", "reduction");
    expect_all(ctx, [](Problem &p) { p.o.zero_infinity = 2; }, SK_ERROR_INVALID_ARGUMENT, "zero_infinity",
               "zero_infinity");
    expect_all(ctx, [](Problem &p) { p.o.gradient = 7; }, SK_ERROR_INVALID_ARGUMENT, "options.gradient", "gradient");
    expect_all(ctx, [](Problem &p) { p.o.reserved = 1; }, SK_ERROR_INVALID_ARGUMENT, "reserved", "reserved");
    expect_all(ctx, [](Problem &p) { p.o.blank = -1; }, SK_ERROR_INVALID_ARGUMENT, "options.blank", "blank -1");
    expect_all(ctx, [](Problem &p) { p.o.blank = 4; }, SK_ERROR_INVALID_ARGUMENT, "options.blank", "blank = C");
}

TEST(bad_dtypes) {
    Context ctx;
    expect_all(ctx, [](Problem &p) { p.log_probs.desc.dtype = SK_DTYPE_INT32; }, SK_ERROR_DTYPE, "log_probs",
               "int log_probs");
    expect_all(ctx, [](Problem &p) { p.targets.desc.dtype = SK_DTYPE_FLOAT32; }, SK_ERROR_DTYPE, "targets",
               "float targets");
    expect_all(ctx, [](Problem &p) { p.input_lengths.desc.dtype = SK_DTYPE_FLOAT64; }, SK_ERROR_DTYPE,
               "input_lengths", "float input_lengths");
    expect_all(ctx, [](Problem &p) { p.target_lengths.desc.dtype = 42; }, SK_ERROR_DTYPE, "target_lengths",
               "unknown dtype");
    {
        Problem p;
        p.loss.desc.dtype = SK_DTYPE_FLOAT64;
        expect_error(ctx, p.loss_call(ctx), SK_ERROR_DTYPE, "'loss'", p, "float64 loss for float32 input");
    }
    {
        Problem p;
        p.grad_loss.desc.dtype = SK_DTYPE_FLOAT64;
        expect_error(ctx, p.backward_call(ctx), SK_ERROR_DTYPE, "grad_loss", p, "grad_loss dtype");
    }
    {
        Problem p;
        p.grad.desc.dtype = SK_DTYPE_FLOAT64;
        expect_error(ctx, p.backward_call(ctx), SK_ERROR_DTYPE, "grad_log_probs", p, "grad dtype");
        expect_error(ctx, p.fused_call(ctx), SK_ERROR_DTYPE, "grad_logits", p, "fused grad dtype");
    }
    {
        Problem p;
        p.path.desc.dtype = SK_DTYPE_INT64;
        expect_error(ctx, p.align_call(ctx), SK_ERROR_DTYPE, "path", p, "int64 path");
    }
    {
        Problem p;
        p.spans.desc.dtype = SK_DTYPE_FLOAT32;
        expect_error(ctx, p.align_call(ctx), SK_ERROR_DTYPE, "spans", p, "float spans");
    }
    {
        Problem p;
        p.frame_scores.desc.dtype = SK_DTYPE_FLOAT64;
        expect_error(ctx, p.align_call(ctx), SK_ERROR_DTYPE, "frame_scores", p, "frame_scores dtype");
        p.frame_scores.desc.dtype = SK_DTYPE_FLOAT32;
        p.score.desc.dtype = SK_DTYPE_INT32;
        expect_error(ctx, p.align_call(ctx), SK_ERROR_DTYPE, "score", p, "score dtype");
    }
    {
        Problem p;
        p.posteriors.desc.dtype = SK_DTYPE_FLOAT64;
        expect_error(ctx, p.posteriors_call(ctx), SK_ERROR_DTYPE, "posteriors", p, "posteriors dtype");
    }
}

TEST(bad_ranks_and_shapes) {
    Context ctx;
    expect_all(ctx, [](Problem &p) { p.log_probs.desc.rank = 2; }, SK_ERROR_SHAPE, "log_probs", "rank 2 log_probs");
    expect_all(ctx, [](Problem &p) { p.targets.desc.rank = 3; p.targets.desc.shape[2] = 1; }, SK_ERROR_SHAPE,
               "targets", "rank 3 targets");
    expect_all(ctx, [](Problem &p) { p.input_lengths.desc.shape[0] = 3; p.input_lengths.storage.resize(3); p.input_lengths.desc.data = p.input_lengths.storage.data(); },
               SK_ERROR_SHAPE, "input_lengths", "input_lengths extent");
    expect_all(ctx, [](Problem &p) { p.target_lengths.desc.rank = 2; p.target_lengths.desc.shape[1] = 1; }, SK_ERROR_SHAPE,
               "target_lengths", "rank 2 target_lengths");
    expect_all(ctx, [](Problem &p) { p.targets.desc.shape[0] = 1; }, SK_ERROR_SHAPE, "targets", "padded batch");
    expect_all(ctx, [](Problem &p) {  // batch-major reading of a (5, 2, 4) tensor: B = 5
                   p.o.layout = SK_CTC_LAYOUT_BATCH_MAJOR;
               },
               SK_ERROR_SHAPE, "input_lengths", "layout changes the batch");
    expect_all(ctx, [](Problem &p) {  // concatenated: 5 labels expected, 4 given
                   p.targets = HostTensor<int32_t>({4}, 1);
               },
               SK_ERROR_SHAPE, "sum(target_lengths)", "concatenated size");
    expect_all(ctx, [](Problem &p) { p.log_probs.desc.shape[1] = -2; }, SK_ERROR_SHAPE, "negative", "negative extent");
    {
        Problem p;
        p.loss = HostTensor<float>({3}, 99.0f);
        expect_error(ctx, p.loss_call(ctx), SK_ERROR_SHAPE, "'loss'", p, "loss extent for reduction none");
    }
    {
        Problem p;
        p.o.reduction = SK_CTC_REDUCTION_SUM;  // loss must be a scalar
        expect_error(ctx, p.loss_call(ctx), SK_ERROR_SHAPE, "scalar", p, "vector loss for reduction sum");
        p.loss = HostTensor<float>({}, 99.0f);  // now the scalar loss is fine but grad_loss is (2)
        expect_error(ctx, p.backward_call(ctx), SK_ERROR_SHAPE, "grad_loss", p, "vector grad_loss for sum");
    }
    {
        Problem p;
        p.grad.desc.shape[2] = 3;
        expect_error(ctx, p.backward_call(ctx), SK_ERROR_SHAPE, "grad_log_probs", p, "grad shape");
    }
    {
        Problem p;
        p.posteriors = HostTensor<float>({2, 5, 6}, 99.0f);  // W = 6 < 2 * 3 + 1
        expect_error(ctx, p.posteriors_call(ctx), SK_ERROR_SHAPE, "posteriors", p, "posteriors width");
    }
    {
        Problem p;
        p.spans = HostTensor<int32_t>({2, 2, 2}, 99);  // W = 2 < 3
        expect_error(ctx, p.align_call(ctx), SK_ERROR_SHAPE, "spans", p, "spans width");
    }
    {
        Problem p;
        p.path = HostTensor<int32_t>({5, 2}, 99);  // (T, B) instead of (B, T)
        expect_error(ctx, p.align_call(ctx), SK_ERROR_SHAPE, "path", p, "path shape");
    }
    {
        Problem p;
        p.score = HostTensor<float>({3}, 99.0f);
        expect_error(ctx, p.align_call(ctx), SK_ERROR_SHAPE, "score", p, "score shape");
    }
}

TEST(bad_lengths_and_labels) {
    Context ctx;
    expect_all(ctx, [](Problem &p) { p.input_lengths.storage[1] = -1; }, SK_ERROR_INVALID_ARGUMENT, "input_lengths",
               "negative input length");
    expect_all(ctx, [](Problem &p) { p.input_lengths.storage[0] = 6; }, SK_ERROR_INVALID_ARGUMENT, "input_lengths",
               "input length > T");
    expect_all(ctx, [](Problem &p) { p.target_lengths.storage[0] = -3; }, SK_ERROR_INVALID_ARGUMENT,
               "target_lengths", "negative target length");
    expect_all(ctx, [](Problem &p) { p.target_lengths.storage[1] = 4; }, SK_ERROR_INVALID_ARGUMENT,
               "target_lengths", "target length > S");
    expect_all(ctx, [](Problem &p) { p.targets.at({0, 1}) = 4; }, SK_ERROR_INVALID_ARGUMENT, "targets",
               "label = C");
    expect_all(ctx, [](Problem &p) { p.targets.at({1, 0}) = -1; }, SK_ERROR_INVALID_ARGUMENT, "targets",
               "negative label");
    expect_all(ctx, [](Problem &p) { p.targets.at({0, 2}) = 0; }, SK_ERROR_INVALID_ARGUMENT, "blank",
               "label equals blank");
    expect_all(ctx, [](Problem &p) {  // blank moved to 2: the target [1, 2, 3] now holds blank
                   p.o.blank = 2;
               },
               SK_ERROR_INVALID_ARGUMENT, "blank", "label equals a non-zero blank");
    {  // concatenated int64 targets with a bad label
        Problem p;
        HostTensor<int64_t> cat({5});
        cat.storage = {1, 2, 3, 2, 7};
        expect_error(ctx, sk_ctc_loss(ctx, &p.o, p.log_probs.d(), cat.d(), p.input_lengths.d(), p.target_lengths.d(),
                                      p.loss.d()),
                     SK_ERROR_INVALID_ARGUMENT, "targets", p, "concatenated bad label");
        cat.storage = {1, 2, 3, 0, 2};  // blank in the second sequence
        expect_error(ctx, sk_ctc_forced_align(ctx, &p.o, p.log_probs.d(), cat.d(), p.input_lengths.d(),
                                              p.target_lengths.d(), p.path.d(), nullptr, nullptr, nullptr),
                     SK_ERROR_INVALID_ARGUMENT, "blank", p, "concatenated blank label");
    }
    // entries past a target length are never validated (torch ignores them)
    Context ok;
    Problem p;
    p.targets.at({1, 2}) = -77;
    CHECK_OK(p.loss_call(ok));
}

TEST(bad_devices) {
    Context ctx;
    expect_all(ctx, [](Problem &p) { p.log_probs.desc.device_type = SK_DEVICE_CUDA; }, SK_ERROR_DEVICE, "log_probs",
               "cuda log_probs on a cpu context");
    expect_all(ctx, [](Problem &p) { p.targets.desc.device_type = 7; }, SK_ERROR_DEVICE, "targets",
               "unknown device type");
    expect_all(ctx, [](Problem &p) { p.input_lengths.desc.device_index = 1; }, SK_ERROR_DEVICE, "input_lengths",
               "cpu index 1");
    expect_all(ctx, [](Problem &p) { p.target_lengths.desc.device_type = SK_DEVICE_CUDA; }, SK_ERROR_DEVICE,
               "target_lengths", "cuda target_lengths on a cpu context");
    {
        Problem p;
        p.loss.desc.device_type = SK_DEVICE_CUDA;
        expect_error(ctx, p.loss_call(ctx), SK_ERROR_DEVICE, "'loss'", p, "cuda loss");
    }
    {
        Problem p;
        p.grad_loss.desc.device_type = SK_DEVICE_CUDA;
        expect_error(ctx, p.backward_call(ctx), SK_ERROR_DEVICE, "grad_loss", p, "cuda grad_loss");
    }
}

TEST(overlapping_outputs) {
    Context ctx;
    {
        Problem p;
        sk_tensor alias = p.grad.desc;
        alias.data = p.log_probs.desc.data;  // gradient written over the input
        const auto before = p.log_probs.storage;
        CHECK(sk_ctc_loss_backward(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                   p.target_lengths.d(), p.grad_loss.d(), &alias, nullptr) == SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "overlaps"));
        CHECK(before == p.log_probs.storage);
    }
    {
        Problem p;
        p.grad.desc.strides[2] = 0;
        expect_error(ctx, p.backward_call(ctx), SK_ERROR_SHAPE, "overlap", p, "self-overlapping grad");
    }
    {
        Problem p;
        sk_tensor loss_alias = p.loss.desc;
        loss_alias.data = p.grad.desc.data;  // loss inside the gradient buffer
        const auto before = p.grad.storage;
        CHECK(sk_ctc_loss_backward(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                   p.target_lengths.d(), p.grad_loss.d(), p.grad.d(), &loss_alias) == SK_ERROR_INVALID_ARGUMENT);
        CHECK(mentions(sk_last_error(), "loss"));
        CHECK(before == p.grad.storage);
    }
    {
        Problem p;
        sk_tensor score_alias = p.score.desc;
        score_alias.data = p.frame_scores.desc.data;  // score inside frame_scores
        expect_error(ctx, sk_ctc_forced_align(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                              p.target_lengths.d(), p.path.d(), p.spans.d(), p.frame_scores.d(),
                                              &score_alias),
                     SK_ERROR_INVALID_ARGUMENT, "score", p, "score overlapping frame_scores");
    }
    {
        Problem p;
        sk_tensor path_alias = p.path.desc;
        path_alias.data = p.targets.desc.data;  // path written over the targets
        path_alias.shape[1] = 3;
        const auto before = p.targets.storage;
        CHECK(sk_ctc_forced_align(ctx, &p.o, p.log_probs.d(), p.targets.d(), p.input_lengths.d(),
                                  p.target_lengths.d(), &path_alias, nullptr, nullptr, nullptr) != SK_OK);
        CHECK(before == p.targets.storage);
    }
}

TEST(bad_lengths_on_every_index_type) {
    Context ctx;
    // int64 lengths and int64 padded targets take the same checks
    Problem p;
    HostTensor<int64_t> in64({2}), tl64({2}), t64({2, 3});
    in64.storage = {5, 9};
    tl64.storage = {3, 2};
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t j = 0; j < 3; ++j) t64.at({b, j}) = p.targets.at({b, j});
    expect_error(ctx, sk_ctc_loss(ctx, &p.o, p.log_probs.d(), t64.d(), in64.d(), tl64.d(), p.loss.d()),
                 SK_ERROR_INVALID_ARGUMENT, "input_lengths", p, "int64 input length > T");
    in64.storage[1] = 4;
    t64.at({0, 0}) = int64_t(1) << 40;
    expect_error(ctx, sk_ctc_loss(ctx, &p.o, p.log_probs.d(), t64.d(), in64.d(), tl64.d(), p.loss.d()),
                 SK_ERROR_INVALID_ARGUMENT, "targets", p, "int64 label beyond int32");
}

TEST_MAIN()
