// Regression tests for the bugs the libFuzzer harnesses (native/fuzz) found, one TEST per
// finding, each named after what went wrong. The crashing fuzz inputs themselves are kept in
// native/fuzz/regressions/<family>/ and replayed by ci/fuzz.sh.
#include <cstring>
#include <limits>

#include "test_util.h"

using namespace sktest;

namespace {

bool mentions(const char *message, const char *word) { return std::strstr(message, word) != nullptr; }

// A descriptor with huge extents and broadcast (0) strides: a one-element span, but more
// elements than an int64 can count.
sk_tensor broadcast_giant(float *data, int rank) {
    sk_tensor t{};
    t.data = data;
    t.dtype = SK_DTYPE_FLOAT32;
    t.device_type = SK_DEVICE_CPU;
    t.rank = rank;
    for (int d = 0; d < rank; ++d) {
        t.shape[d] = int64_t(1) << 62;
        t.strides[d] = 0;
    }
    return t;
}

}  // namespace

// validate.cpp's element_count multiplied the extents of a stride-0 descriptor without overflow
// checks (signed overflow, UBSan: "4611686018427387904 * 3 cannot be represented"), reached
// from require_no_self_overlap on an output. Such descriptors are now rejected by the common
// tensor check, for inputs and outputs alike, before anything multiplies the extents.
TEST(element_count_overflow_is_a_shape_error) {
    Context ctx;
    float storage[4] = {1, 2, 3, 4};
    HostTensor<float> a{{2, 2}, 1.0f}, b{{2, 2}, 1.0f}, c{{2, 2}, 99.0f};
    auto o = matmul_options(SK_SEMIRING_LOG);

    sk_tensor giant_out = broadcast_giant(storage, 3);
    giant_out.shape[0] = 3;
    CHECK_EQ(sk_semiring_matmul(ctx, &o, a.d(), b.d(), &giant_out, nullptr), SK_ERROR_SHAPE);
    CHECK_MSG(mentions(sk_last_error(), "'c'") && mentions(sk_last_error(), "elements"),
              sk_last_error());

    sk_tensor giant_in = broadcast_giant(storage, 2);
    CHECK_EQ(sk_semiring_matmul(ctx, &o, &giant_in, b.d(), c.d(), nullptr), SK_ERROR_SHAPE);
    CHECK_MSG(mentions(sk_last_error(), "'a'") && mentions(sk_last_error(), "elements"),
              sk_last_error());
    for (float x : c.storage) CHECK_EQ(x, 99.0f);
    for (float x : storage) CHECK(x >= 1.0f && x <= 4.0f);
}

// The same overflow in element_count for an *empty* descriptor (one extent 0, the others huge):
// require_tensor skips the span and count checks of empty tensors, and element_count multiplied
// the huge extents before reaching the 0 (found through require_disjoint's byte_range on the
// fuzzer's second run). element_count now returns 0 for an empty shape before multiplying.
// Under UBSan (ci/test.sh's sanitizer pass) the old code aborts here.
TEST(empty_tensor_with_huge_extents_counts_zero) {
    Context ctx;
    float storage[4] = {1, 2, 3, 4};
    auto o = matmul_options(SK_SEMIRING_LOG);
    // A valid call with empty operands and output whose other extents are huge:
    // a (1, 2^62, 0) x b (1, 0, 0) -> c (2^62, 2^62, 0). Nothing to compute; the output checks
    // (self-overlap, disjointness) count c's elements, which overflowed before the fix.
    sk_tensor a = broadcast_giant(storage, 3), b = broadcast_giant(storage, 3), c = broadcast_giant(storage, 3);
    a.shape[0] = 1, a.shape[2] = 0;
    b.shape[0] = 1, b.shape[1] = 0, b.shape[2] = 0;
    c.shape[2] = 0;
    CHECK_OK(sk_semiring_matmul(ctx, &o, &a, &b, &c, nullptr));
    CHECK_OK(sk_semiring_matmul_backward(ctx, &o, &a, &b, &c, nullptr, &c, &a, nullptr));
    for (float x : storage) CHECK(x >= 1.0f && x <= 4.0f);
}

// HMM, CPU backend: with B = 0 every input is empty, so T can be huge (here 2^62, broadcast) and
// for_each_sequence computed the per-sequence scratch size T * N, which overflowed (UBSan: "4611686018427387904 * 3",
// hmm_cpu.cpp Slot::carve) before finding there was no sequence to run. It now returns first.
// The shared parameters' gradients of an empty batch are sums over nothing: zeros.
TEST(hmm_empty_batch_with_huge_steps) {
    Context ctx;
    const int64_t n = 3, huge = int64_t(1) << 62;
    HostTensor<float> initial{{n}, 0.5f}, transition{{n, n}, 0.25f};
    HostTensor<float> grad_initial{{n}, 99.0f}, grad_transition{{n, n}, 99.0f};
    HostTensor<int32_t> lengths{{0}};
    HostTensor<float> emission_storage{{1}, 0.0f}, grad_storage{{1}, 0.0f};
    sk_tensor emission = *emission_storage.d();
    emission.rank = 3;
    emission.shape[0] = 0, emission.shape[1] = huge, emission.shape[2] = n;
    emission.strides[0] = emission.strides[1] = emission.strides[2] = 0;
    sk_tensor log_partition = *emission_storage.d();
    log_partition.rank = 1, log_partition.shape[0] = 0, log_partition.strides[0] = 1;
    sk_tensor grad_log_partition = *grad_storage.d();
    grad_log_partition.rank = 1, grad_log_partition.shape[0] = 0, grad_log_partition.strides[0] = 1;
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
        sk_hmm_options o{sizeof(sk_hmm_options), semiring, SK_HMM_INITIAL_SEPARATE};
        CHECK_OK(sk_hmm_factored_forward(ctx, &o, initial.d(), transition.d(), &emission, lengths.d(),
                                         &log_partition));
        CHECK_OK(sk_hmm_factored_backward(ctx, &o, initial.d(), transition.d(), &emission, lengths.d(),
                                          &grad_log_partition, grad_initial.d(), grad_transition.d(),
                                          nullptr));
        for (float x : grad_initial.storage) CHECK_EQ(x, 0.0f);
        for (float x : grad_transition.storage) CHECK_EQ(x, 0.0f);
    }
}

// Einsum: sk_einsum_plan_create accepted any extents, and the sizes derived from them overflowed
// int64 (UBSan: "4611686018427387904 * 8" in einsum_plan.cpp forward_workspace_bytes, reached
// from sk_einsum_plan_workspace_bytes, found by fuzz_einsum within seconds). compile() now rejects
// a plan with a node (operand in label space, intermediate, output) of more than 2^50 elements,
// which no workspace could hold, and counts an empty node as 0 before multiplying its extents.
TEST(einsum_plan_with_huge_extents_is_rejected) {
    const int64_t huge = int64_t(1) << 62;
    const int32_t ranks[2] = {2, 2};
    const int64_t shapes[4] = {huge, 1, 1, 1};  // "ab,bc->ac": a = 2^62
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL}) {
        sk_einsum_options o{sizeof(sk_einsum_options), semiring, SK_EINSUM_ZERO_GRADIENT_ZERO, 0};
        sk_einsum_plan *plan = nullptr;
        CHECK_EQ(sk_einsum_plan_create("ab,bc->ac", 2, ranks, shapes, &o, &plan), SK_ERROR_SHAPE);
        CHECK_MSG(mentions(sk_last_error(), "sk_einsum_plan_create") && mentions(sk_last_error(), "2^50"),
                  sk_last_error());
        CHECK(plan == nullptr);
    }
    // Still accepted: a large plan within the bound (its workspace is reported, without
    // overflow), and an empty one whose other extents are huge (every count is 0).
    sk_einsum_options o{sizeof(sk_einsum_options), SK_SEMIRING_LOG, SK_EINSUM_ZERO_GRADIENT_ZERO, 0};
    const int64_t large[4] = {int64_t(1) << 24, int64_t(1) << 24, int64_t(1) << 24, 1};
    sk_einsum_plan *plan = nullptr;
    CHECK_OK(sk_einsum_plan_create("ab,bc->ac", 2, ranks, large, &o, &plan));
    int64_t bytes = 0;
    CHECK_OK(sk_einsum_plan_workspace_bytes(plan, SK_DTYPE_FLOAT64, 1, &bytes));
    CHECK(bytes >= (int64_t(1) << 51));
    CHECK_OK(sk_einsum_plan_destroy(plan));
    const int32_t rank3[1] = {3};
    const int64_t empty[3] = {huge, huge, 0};  // "abc->c": abc is empty, the output too
    plan = nullptr;
    CHECK_OK(sk_einsum_plan_create("abc->c", 1, rank3, empty, &o, &plan));
    CHECK_OK(sk_einsum_plan_workspace_bytes(plan, SK_DTYPE_FLOAT32, 1, &bytes));
    CHECK(bytes >= 0);
    CHECK_OK(sk_einsum_plan_destroy(plan));
}

// Einsum CPU: a reduce step over an empty sum (a summed extent 0) offset its input pointer by
// the output position's offset even though it reads nothing; an empty operand may have a NULL
// data pointer, and offsetting NULL is undefined (UBSan: "applying non-zero offset 8 to null
// pointer", einsum.h reduce_entry, found by fuzz_einsum). The empty sum now leaves the pointer
// alone. The results are the semiring zeros. (clang's UBSan reports the NULL offset, GCC's does
// not: under ci/test.sh's GCC sanitizer build this test checks the results, and ci/fuzz.sh's
// replay of native/fuzz/regressions/einsum/empty-sum-null-operand, under clang, fails without
// the fix.)
TEST(einsum_empty_sum_over_null_operand) {
    Context ctx;
    const int32_t ranks[1] = {2};
    const int64_t shapes[2] = {3, 0};  // "ab->a", b = 0 summed
    sk_tensor operand{};
    operand.data = nullptr;  // valid for an empty tensor
    operand.dtype = SK_DTYPE_FLOAT64;
    operand.device_type = SK_DEVICE_CPU;
    operand.rank = 2;
    operand.shape[0] = 3, operand.shape[1] = 0;
    operand.strides[0] = 1, operand.strides[1] = 3;  // column-major: a has a nonzero stride
    const sk_tensor *operands[1] = {&operand};
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_MIN, SK_SEMIRING_REAL}) {
        sk_einsum_options o{sizeof(sk_einsum_options), semiring, SK_EINSUM_ZERO_GRADIENT_ZERO, 0};
        sk_einsum_plan *plan = nullptr;
        CHECK_OK(sk_einsum_plan_create("ab->a", 1, ranks, shapes, &o, &plan));
        HostTensor<double> out{{3}, 7.0};
        CHECK_OK(sk_einsum_forward(ctx, plan, operands, out.d(), nullptr));
        const double zero = semiring == SK_SEMIRING_REAL ? 0.0
                            : semiring == SK_SEMIRING_MIN ? std::numeric_limits<double>::infinity()
                                                          : -std::numeric_limits<double>::infinity();
        for (double x : out.storage) CHECK_EQ(x, zero);
        CHECK_OK(sk_einsum_plan_destroy(plan));
    }
}

// Einsum: the MAX / MIN backward without a given argmax recomputes the forward with an argmax of
// rank output rank + 1 in an internal TensorRef of SK_MAX_RANK entries; for an output of rank 8
// it wrote shape[8] / stride[8] past the arrays (UBSan: "index 8 out of bounds for type
// 'sk::index_t[8]'" in selection_gradients, a stack overwrite; found by fuzz_einsum). TensorRef
// now holds SK_MAX_RANK + 1 entries. Checked against the hand-computed routing.
TEST(einsum_selection_backward_with_rank8_output) {
    Context ctx;
    // "abcdefgh,hi->abcdefgi": a..g of extent 1, h = i = 2; out[i] = max_h x[h] + y[h, i].
    const int32_t ranks[2] = {8, 2};
    const int64_t shapes[10] = {1, 1, 1, 1, 1, 1, 1, 2, 2, 2};
    HostTensor<double> x{{1, 1, 1, 1, 1, 1, 1, 2}}, y{{2, 2}};
    x.storage = {0.0, 1.0};
    y.storage = {0.0, 5.0, 0.0, 0.0};  // y[h][i]
    // i = 0: h = 1 wins (1 > 0); i = 1: h = 0 wins (5 > 1).
    const sk_tensor *operands[2] = {x.d(), y.d()};
    HostTensor<double> grad_out{{1, 1, 1, 1, 1, 1, 1, 2}, 1.0};
    HostTensor<double> gx{{1, 1, 1, 1, 1, 1, 1, 2}, 99.0}, gy{{2, 2}, 99.0};
    sk_tensor *grads[2] = {gx.d(), gy.d()};
    sk_einsum_options o{sizeof(sk_einsum_options), SK_SEMIRING_MAX, SK_EINSUM_ZERO_GRADIENT_ZERO, 0};
    sk_einsum_plan *plan = nullptr;
    CHECK_OK(sk_einsum_plan_create("abcdefgh,hi->abcdefgi", 2, ranks, shapes, &o, &plan));
    CHECK_OK(sk_einsum_backward(ctx, plan, operands, nullptr, nullptr, grad_out.d(), grads));
    CHECK_EQ(gx.storage[0], 1.0);
    CHECK_EQ(gx.storage[1], 1.0);
    const double expected_gy[4] = {0.0, 1.0, 1.0, 0.0};
    for (int k = 0; k < 4; ++k) CHECK_EQ(gy.storage[static_cast<std::size_t>(k)], expected_gy[k]);
    CHECK_OK(sk_einsum_plan_destroy(plan));
}

// Einsum: a diagonal operand ("ii") whose dimensions have extent 1 may carry any strides (only
// index 0 exists); operand_node summed them into the label's stride and overflowed (UBSan:
// "3 + 9223372036854775807" in einsum_run.cpp operand_node, reached from the LOG backward;
// found by fuzz_einsum). Strides of extent-0/1 dimensions are now left out of the sum.
TEST(einsum_diagonal_of_extent_one_with_huge_strides) {
    Context ctx;
    const int32_t ranks[2] = {2, 1};
    const int64_t shapes[3] = {1, 1, 1};  // "ii,i->i"
    HostTensor<double> x{{1, 1}, 0.5}, y{{1}, 0.25}, out{{1}, 99.0}, grad_out{{1}, 1.0};
    HostTensor<double> gx{{1, 1}, 99.0}, gy{{1}, 99.0};
    x.d()->strides[0] = 3;
    x.d()->strides[1] = std::numeric_limits<int64_t>::max();
    const sk_tensor *operands[2] = {x.d(), y.d()};
    sk_tensor *grads[2] = {gx.d(), gy.d()};
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_REAL, SK_SEMIRING_MAX}) {
        sk_einsum_options o{sizeof(sk_einsum_options), semiring, SK_EINSUM_ZERO_GRADIENT_ZERO, 0};
        sk_einsum_plan *plan = nullptr;
        CHECK_OK(sk_einsum_plan_create("ii,i->i", 2, ranks, shapes, &o, &plan));
        CHECK_OK(sk_einsum_forward(ctx, plan, operands, out.d(), nullptr));
        CHECK_EQ(out.storage[0], semiring == SK_SEMIRING_REAL ? 0.125 : 0.75);
        CHECK_OK(sk_einsum_backward(ctx, plan, operands, out.d(), nullptr, grad_out.d(), grads));
        // LOG and MAX: d out / d x = d out / d y = 1 (one term); REAL: y and x.
        CHECK_EQ(gx.storage[0], semiring == SK_SEMIRING_REAL ? 0.25 : 1.0);
        CHECK_EQ(gy.storage[0], semiring == SK_SEMIRING_REAL ? 0.5 : 1.0);
        CHECK_OK(sk_einsum_plan_destroy(plan));
    }
}

// Einsum: with no summed variable (S = 0) the argmax tensor (output shape + [0]) is empty, so its
// strides are not bounded by validation; trace_back still walked the output computing offsets
// from them and overflowed (UBSan: "9223372036854775807 + 2" in walk_offsets from
// trace_write_entry; found by fuzz_einsum), and the backward routed gradients through pointers
// formed from them (route_entry; found next). With S = 0 no offset is formed from its strides.
TEST(einsum_empty_argmax_with_huge_strides) {
    Context ctx;
    const int32_t ranks[2] = {1, 1};
    const int64_t shapes[2] = {3, 3};  // "i,i->i": nothing summed
    HostTensor<float> x{{3}, 1.0f}, y{{3}, 2.0f}, out{{3}, 99.0f};
    int32_t argmax_storage[1] = {7};
    sk_tensor argmax{};
    argmax.data = argmax_storage;
    argmax.dtype = SK_DTYPE_INT32;
    argmax.device_type = SK_DEVICE_CPU;
    argmax.rank = 2;
    argmax.shape[0] = 3, argmax.shape[1] = 0;
    argmax.strides[0] = std::numeric_limits<int64_t>::max(), argmax.strides[1] = 1;
    const sk_tensor *operands[2] = {x.d(), y.d()};
    for (int32_t semiring : {SK_SEMIRING_MAX, SK_SEMIRING_MIN}) {
        sk_einsum_options o{sizeof(sk_einsum_options), semiring, SK_EINSUM_ZERO_GRADIENT_ZERO, 0};
        sk_einsum_plan *plan = nullptr;
        CHECK_OK(sk_einsum_plan_create("i,i->i", 2, ranks, shapes, &o, &plan));
        CHECK_OK(sk_einsum_forward(ctx, plan, operands, out.d(), &argmax));
        for (float v : out.storage) CHECK_EQ(v, 3.0f);
        CHECK_EQ(argmax_storage[0], 7);
        // The backward with that argmax (route_gradients formed pointers from its strides too:
        // "addition of unsigned offset ... overflowed" in route_entry). Nothing is selected:
        // each operand element gets grad_out.
        HostTensor<float> grad_out{{3}, 1.5f}, gx{{3}, 99.0f}, gy{{3}, 99.0f};
        sk_tensor *grads[2] = {gx.d(), gy.d()};
        CHECK_OK(sk_einsum_backward(ctx, plan, operands, out.d(), &argmax, grad_out.d(), grads));
        for (float v : gx.storage) CHECK_EQ(v, 1.5f);
        for (float v : gy.storage) CHECK_EQ(v, 1.5f);
        CHECK_OK(sk_einsum_plan_destroy(plan));
    }
}

// Einsum: an empty operand's strides are not bounded by validation (nothing is read from an empty
// tensor), yet the reduce's outer walk formed offsets from them for every output element, and a
// stride of 2^63 - 1 along a non-empty dimension overflowed (UBSan: "1 + 9223372036854775807" in
// walk_offsets from reduce_entry; found by a long fuzz_einsum run). An empty operand's strides
// are now left out of its node. The results are the semiring zeros; the backward too.
TEST(einsum_empty_operand_with_huge_strides) {
    Context ctx;
    const int32_t ranks[1] = {2};
    const int64_t shapes[2] = {3, 0};  // "ab->a", b = 0 summed, a = 3 kept
    float storage[1] = {5.0f};
    sk_tensor operand{};
    operand.data = storage;
    operand.dtype = SK_DTYPE_FLOAT32;
    operand.device_type = SK_DEVICE_CPU;
    operand.rank = 2;
    operand.shape[0] = 3, operand.shape[1] = 0;
    operand.strides[0] = std::numeric_limits<int64_t>::max(), operand.strides[1] = 1;
    const sk_tensor *operands[1] = {&operand};
    for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL}) {
        sk_einsum_options o{sizeof(sk_einsum_options), semiring, SK_EINSUM_ZERO_GRADIENT_ZERO, 0};
        sk_einsum_plan *plan = nullptr;
        CHECK_OK(sk_einsum_plan_create("ab->a", 1, ranks, shapes, &o, &plan));
        HostTensor<float> out{{3}, 7.0f};
        CHECK_OK(sk_einsum_forward(ctx, plan, operands, out.d(), nullptr));
        const float zero = semiring == SK_SEMIRING_REAL ? 0.0f : -std::numeric_limits<float>::infinity();
        for (float x : out.storage) CHECK_EQ(x, zero);
        // The gradient w.r.t. an empty operand is empty: the call succeeds and writes nothing.
        HostTensor<float> grad_out{{3}, 1.0f};
        float grad_storage[1] = {9.0f};
        sk_tensor grad = operand;
        grad.data = grad_storage;
        sk_tensor *grads[1] = {&grad};
        CHECK_OK(sk_einsum_backward(ctx, plan, operands, out.d(), nullptr, grad_out.d(), grads));
        CHECK_EQ(grad_storage[0], 9.0f);
        CHECK_OK(sk_einsum_plan_destroy(plan));
    }
}

// Einsum: make_walk merged adjacent dimensions when the outer stride equals the inner stride
// times its extent, computing that product without an overflow check; an empty argmax (whose
// strides validation does not bound) passed to the MAX / MIN backward overflowed it (UBSan:
// "2305843009213693952 * 4" in make_walk from check_argmax; found by a long fuzz_einsum run).
// An overflowing product now just means "not mergeable".
TEST(einsum_walk_merge_with_huge_strides) {
    Context ctx;
    const int32_t ranks[1] = {3};
    const int64_t shapes[3] = {0, 4, 3};  // "abk->ab": a = 0, so everything is empty
    float storage[1] = {1.0f};
    sk_tensor x{};
    x.data = storage;
    x.dtype = SK_DTYPE_FLOAT32;
    x.device_type = SK_DEVICE_CPU;
    x.rank = 3;
    x.shape[0] = 0, x.shape[1] = 4, x.shape[2] = 3;
    x.strides[0] = 12, x.strides[1] = 3, x.strides[2] = 1;
    sk_tensor out = x, grad_out = x, grad = x;
    out.rank = grad_out.rank = 2;
    out.strides[0] = grad_out.strides[0] = 4, out.strides[1] = grad_out.strides[1] = 1;
    grad.data = storage;
    int32_t argmax_storage[1] = {0};
    sk_tensor argmax{};
    argmax.data = argmax_storage;
    argmax.dtype = SK_DTYPE_INT32;
    argmax.device_type = SK_DEVICE_CPU;
    argmax.rank = 3;
    argmax.shape[0] = 0, argmax.shape[1] = 4, argmax.shape[2] = 1;
    argmax.strides[0] = 1, argmax.strides[1] = int64_t(1) << 61, argmax.strides[2] = 1;
    const sk_tensor *operands[1] = {&x};
    sk_tensor *grads[1] = {&grad};
    for (int32_t semiring : {SK_SEMIRING_MAX, SK_SEMIRING_MIN}) {
        sk_einsum_options o{sizeof(sk_einsum_options), semiring, SK_EINSUM_ZERO_GRADIENT_ZERO, 0};
        sk_einsum_plan *plan = nullptr;
        CHECK_OK(sk_einsum_plan_create("abk->ab", 1, ranks, shapes, &o, &plan));
        CHECK_OK(sk_einsum_backward(ctx, plan, operands, &out, &argmax, &grad_out, grads));
        CHECK_EQ(storage[0], 1.0f);  // nothing written: every tensor is empty
        CHECK_OK(sk_einsum_plan_destroy(plan));
    }
}

// Semifield convolution: with SAME padding the padding d (k - 1) / 2 was computed before the
// dilated kernel was bounded, so a dilation near 2^63 overflowed (UBSan: "9223372036854775807 * 2"
// in semiconv.h same_pad_begin, from check_geometry; found by fuzz_semiconv through
// sk_semiconv_closing). The bound d (k - 1) <= 2^40 is now checked first.
TEST(semiconv_same_padding_with_huge_dilation) {
    Context ctx;
    HostTensor<float> input{{1, 1, 4}, 1.0f}, kernel{{1, 1, 3}, 0.0f}, output{{1, 1, 4}, 99.0f};
    sk_semiconv_options o{};
    o.struct_size = sizeof(sk_semiconv_options);
    o.semifield = SK_SEMIFIELD_TROPICAL_MAX;
    o.spatial_rank = 1;
    o.kind = SK_SEMICONV_CORRELATION;
    o.padding_mode = SK_SEMICONV_PADDING_SAME;
    o.groups = 1;
    o.stride[0] = 1;
    o.dilation[0] = std::numeric_limits<int64_t>::max();
    CHECK_EQ(sk_semiconv_forward(ctx, &o, input.d(), kernel.d(), output.d(), nullptr), SK_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(mentions(sk_last_error(), "sk_semiconv_forward") && mentions(sk_last_error(), "2^40"), sk_last_error());
    CHECK_EQ(sk_semiconv_closing(ctx, &o, input.d(), kernel.d(), output.d()), SK_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(mentions(sk_last_error(), "2^40"), sk_last_error());
    for (float x : output.storage) CHECK_EQ(x, 99.0f);
    // The same geometry with dilation 1 is valid.
    o.dilation[0] = 1;
    CHECK_OK(sk_semiconv_forward(ctx, &o, input.d(), kernel.d(), output.d(), nullptr));
    for (float x : output.storage) CHECK_EQ(x, 1.0f);
}

TEST_MAIN()

// Semifield convolution: a one-tap kernel accepts any dilation (the dilated extent d (k - 1) is
// 0), yet the first valid tap of an output reading the padding was ceil(-start / d) computed as
// (-start + d - 1) / d, which overflowed for d near 2^63 (UBSan: "2 + 9223372036854775807" in
// valid_taps; found by ci/fuzz.sh's 60 s fuzz_semiconv run in CI). Now (-start - 1) / d + 1.
TEST(semiconv_one_tap_kernel_with_huge_dilation) {
    Context ctx;
    HostTensor<float> input{{1, 1, 4}}, kernel{{1, 1, 1}, 0.5f}, output{{1, 1, 6}, 99.0f};
    for (int i = 0; i < 4; ++i) input.storage[static_cast<std::size_t>(i)] = float(i);
    sk_semiconv_options o{};
    o.struct_size = sizeof(o);
    o.semifield = SK_SEMIFIELD_TROPICAL_MAX;
    o.spatial_rank = 1;
    o.kind = SK_SEMICONV_CORRELATION;
    o.padding_mode = SK_SEMICONV_PADDING_EXPLICIT;
    o.groups = 1;
    o.stride[0] = 1;
    o.dilation[0] = std::numeric_limits<int64_t>::max();
    o.padding_begin[0] = 2;
    o.padding_end[0] = 0;
    CHECK_OK(sk_semiconv_forward(ctx, &o, input.d(), kernel.d(), output.d(), nullptr));
    // Outputs 0 and 1 see only padding (the semifield's zero); output y >= 2 is input[y - 2] + w.
    CHECK_EQ(output.storage[0], -std::numeric_limits<float>::infinity());
    CHECK_EQ(output.storage[1], -std::numeric_limits<float>::infinity());
    for (int y = 2; y < 6; ++y) CHECK_EQ(output.storage[static_cast<std::size_t>(y)], float(y - 2) + 0.5f);
}
