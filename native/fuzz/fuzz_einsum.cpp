// libFuzzer harness of the einsum family: sk_einsum_plan_create with a fuzzed equation text
// (a plausible generated equation, then mutated; sometimes raw bytes), fuzzed operand ranks,
// extents and options; then every plan query (sk_einsum_plan_output_shape, _summed_count,
// _workspace_bytes), sk_einsum_forward (with and without argmax), sk_einsum_backward and
// sk_einsum_plan_destroy with fuzzed descriptors (see fuzz_common.h).
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "fuzz_common.h"

using skfuzz::Fuzz;
using skfuzz::TensorPlan;

namespace {

// The arguments of sk_einsum_plan_create.
struct Equation {
    std::string text;
    int32_t num_operands = 0;       // as passed (may be out of range)
    std::vector<int32_t> ranks;     // at least min(num_operands, 32) entries when num_operands > 0
    std::vector<int64_t> shapes;    // the sum of the valid ranks' extents
};

const char kLabels[] = "abcdefgAB";

// A plausible equation: 1..4 operands over a few labels with small extents, sometimes "..."
// and repeated labels (diagonals), an output naming some of the labels.
Equation generate(Fuzz &f) {
    Equation e;
    const int letters = static_cast<int>(f.small(1, 7));
    int64_t extent[sizeof kLabels];
    for (int l = 0; l < letters; ++l) extent[l] = f.coin(8) ? 0 : f.small(1, 4);
    const int64_t ellipsis_rank = f.small(0, 2);
    int64_t ellipsis_extent[2] = {f.small(1, 3), f.small(1, 3)};
    const int operands = static_cast<int>(f.small(1, 4));
    bool used[sizeof kLabels] = {};
    bool any_ellipsis = false;
    for (int i = 0; i < operands; ++i) {
        if (i) e.text += ',';
        const int rank = static_cast<int>(f.small(0, 4));
        const int ellipsis_at = f.coin(5) ? static_cast<int>(f.small(0, rank)) : -1;
        int32_t full_rank = 0;
        for (int d = 0; d <= rank; ++d) {
            if (d == ellipsis_at) {
                e.text += "...";
                any_ellipsis = true;
                // Right-aligned broadcasting: this operand may have fewer "..." dimensions.
                const int64_t dims = f.small(0, ellipsis_rank);
                for (int64_t k = ellipsis_rank - dims; k < ellipsis_rank; ++k, ++full_rank)
                    e.shapes.push_back(f.coin(4) ? 1 : ellipsis_extent[k]);
            }
            if (d == rank) break;
            const int l = static_cast<int>(f.small(0, letters - 1));
            used[l] = true;
            e.text += kLabels[l];
            e.shapes.push_back(f.coin(10) ? 1 : extent[l]);  // extent 1 broadcasts
            ++full_rank;
        }
        e.ranks.push_back(full_rank);
    }
    e.text += f.coin(12) ? "-> " : "->";
    if (any_ellipsis && f.coin(2)) e.text += "...";
    for (int l = 0; l < letters; ++l)
        if (used[l] && f.coin(2)) e.text.insert(e.text.end() - (f.coin(3) && e.text.back() == '.' ? 3 : 0), kLabels[l]);
    e.num_operands = operands;
    return e;
}

// Edits of the equation text: any byte inserted, deleted or replaced, with a bias towards the
// characters of the grammar.
void mutate_text(Fuzz &f, std::string &text) {
    static const char grammar[] = ",->. aZz09(";
    const int edits = static_cast<int>(f.small(1, 3));
    for (int i = 0; i < edits; ++i) {
        const std::size_t at = static_cast<std::size_t>(f.small(0, static_cast<int64_t>(text.size())));
        const char c = f.coin(2) ? grammar[f.small(0, sizeof grammar - 2)] : f.in().ConsumeIntegral<char>();
        switch (f.small(0, 2)) {
            case 0: text.insert(at, 1, c); break;
            case 1: if (at < text.size()) text.erase(at, 1); break;
            default: if (at < text.size()) text[at] = c; break;
        }
    }
}

// Ranks and extents that disagree with the equation, out of range, huge, negative; an
// operand count out of range or disagreeing with the equation.
void mutate_shapes(Fuzz &f, Equation &e) {
    if (f.coin(20)) {
        static const int32_t counts[] = {0, -1, SK_EINSUM_MAX_OPERANDS + 1, std::numeric_limits<int32_t>::max(),
                                         std::numeric_limits<int32_t>::min()};
        e.num_operands = f.coin(2) ? counts[f.small(0, 4)] : e.num_operands + static_cast<int32_t>(f.small(-1, 1));
    }
    // ranks[] must hold as many entries as a valid num_operands says.
    const int32_t needed = std::clamp<int32_t>(e.num_operands, 0, SK_EINSUM_MAX_OPERANDS);
    while (static_cast<int32_t>(e.ranks.size()) < needed) {
        const int32_t rank = static_cast<int32_t>(f.small(0, 2));
        e.ranks.push_back(rank);
        for (int32_t d = 0; d < rank; ++d) e.shapes.push_back(f.small(0, 3));
    }
    if (!e.ranks.empty() && f.coin(12)) {
        int32_t &r = e.ranks[static_cast<std::size_t>(f.small(0, static_cast<int64_t>(e.ranks.size()) - 1))];
        static const int32_t bad[] = {-1, SK_MAX_RANK + 1, std::numeric_limits<int32_t>::min(), 100};
        r = f.coin(2) ? std::clamp<int32_t>(r + static_cast<int32_t>(f.small(-1, 1)), 0, SK_MAX_RANK) : bad[f.small(0, 3)];
    }
    int64_t total = 0;  // what the library reads from shapes[] when every rank is valid
    for (int32_t i = 0; i < needed; ++i) total += std::clamp<int32_t>(e.ranks[static_cast<std::size_t>(i)], 0, SK_MAX_RANK);
    while (static_cast<int64_t>(e.shapes.size()) < total) e.shapes.push_back(f.small(0, 3));
    if (!e.shapes.empty() && f.coin(10)) {
        int64_t &x = e.shapes[static_cast<std::size_t>(f.small(0, static_cast<int64_t>(e.shapes.size()) - 1))];
        static const int64_t odd[] = {-1, 0, 2, int64_t(1) << 31, int64_t(1) << 40, int64_t(1) << 62,
                                      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
        x = odd[f.small(0, 7)];
    }
}

sk_einsum_options *einsum_options(Fuzz &f) {
    auto *o = f.options<sk_einsum_options>();
    if (!o) return o;
    if (f.field(offsetof(sk_einsum_options, semiring))) o->semiring = f.code(SK_SEMIRING_LOG, SK_SEMIRING_BOOLEAN);
    if (f.field(offsetof(sk_einsum_options, zero_gradient)))
        o->zero_gradient = f.code(SK_EINSUM_ZERO_GRADIENT_ZERO, SK_EINSUM_ZERO_GRADIENT_NAN);
    // An 8-byte field: covered when its second half is.
    if (f.field(offsetof(sk_einsum_options, workspace_limit_bytes) + 4)) {
        int64_t limit = 0;
        switch (f.small(0, 7)) {
            case 0: limit = f.small(1, 4096); break;
            case 1: limit = -f.small(1, 4); break;
            case 2: limit = std::numeric_limits<int64_t>::max(); break;
            default: break;
        }
        o->workspace_limit_bytes = limit;
    }
    return o;
}

int32_t semiring_of(Fuzz &f, const sk_einsum_options *o) {
    return o && f.field(offsetof(sk_einsum_options, semiring)) ? o->semiring : -1;
}

// Whether a valid call over these operand extents is cheap: the product of every operand
// extent (each at least 1) bounds both the number of terms and the output size.
bool plan_affordable(const Equation &e) {
    uint64_t product = 1;
    for (int64_t x : e.shapes) {
        const uint64_t v = static_cast<uint64_t>(std::max<int64_t>(x, 1));
        if (v > skfuzz::kWorkCap || product > skfuzz::kWorkCap / v) return false;
        product *= v;
    }
    return true;
}

// The operand descriptors of a compiled plan: plausibly the plan's shapes, perturbed.
std::vector<const sk_tensor *> operands(Fuzz &f, const Equation &e, int32_t dtype) {
    std::vector<const sk_tensor *> result;
    std::size_t offset = 0;
    for (int32_t i = 0; i < e.num_operands; ++i) {
        const int32_t rank = e.ranks[static_cast<std::size_t>(i)];
        std::vector<int64_t> shape(e.shapes.begin() + static_cast<std::ptrdiff_t>(offset),
                                   e.shapes.begin() + static_cast<std::ptrdiff_t>(offset + static_cast<std::size_t>(rank)));
        offset += static_cast<std::size_t>(rank);
        result.push_back(f.tensor({"operand", dtype, shape}));
    }
    return result;
}

void run(Fuzz &f, sk_context *ctx, const sk_einsum_plan *plan, const Equation &e, int32_t semiring) {
    int32_t out_rank = 0, summed = 0;
    int64_t out_shape[SK_MAX_RANK] = {};
    skfuzz::call(f, "sk_einsum_plan_output_shape", nullptr,
                 [&] { return sk_einsum_plan_output_shape(plan, &out_rank, out_shape); });
    skfuzz::call(f, "sk_einsum_plan_summed_count", nullptr,
                 [&] { return sk_einsum_plan_summed_count(plan, &summed); });
    // The same queries with missing arguments.
    if (f.coin(4)) {
        int32_t r = 0;
        int64_t s[SK_MAX_RANK];
        const int which = static_cast<int>(f.small(0, 3));
        skfuzz::call(f, "sk_einsum_plan_output_shape", nullptr, [&] {
            return sk_einsum_plan_output_shape(which == 0 ? nullptr : plan, which == 1 ? nullptr : &r,
                                               which == 2 ? nullptr : s);
        });
        skfuzz::call(f, "sk_einsum_plan_summed_count", nullptr,
                     [&] { return sk_einsum_plan_summed_count(which == 0 ? nullptr : plan, which == 1 ? nullptr : &r); });
    }
    {
        int64_t bytes = 0;
        const int32_t dtype = f.code(SK_DTYPE_FLOAT32, SK_DTYPE_FLOAT64);
        const int32_t backward = f.code(0, 1);
        const bool null_plan = f.coin(16), null_bytes = f.coin(16);
        skfuzz::call(f, "sk_einsum_plan_workspace_bytes", nullptr, [&] {
            return sk_einsum_plan_workspace_bytes(null_plan ? nullptr : plan, dtype, backward,
                                                  null_bytes ? nullptr : &bytes);
        });
    }
    if (!plan_affordable(e) || out_rank < 0 || out_rank > SK_MAX_RANK) return;

    const int32_t dtype = f.coin(2) ? SK_DTYPE_FLOAT32 : SK_DTYPE_FLOAT64;
    const std::vector<int64_t> shape(out_shape, out_shape + out_rank);
    std::vector<int64_t> argmax_shape = shape;
    argmax_shape.push_back(summed);
    int64_t largest = 1;
    for (int64_t x : e.shapes) largest = std::max(largest, x);
    const bool null_operands = f.coin(40);
    std::vector<const sk_tensor *> ops = operands(f, e, dtype);
    const sk_tensor *const *ops_arg = null_operands ? nullptr : ops.data();

    if (f.coin(2)) {
        sk_tensor *out = f.tensor({"out", dtype, shape, true});
        sk_tensor *argmax = nullptr;
        if (f.coin(2) || semiring == SK_SEMIRING_MAX || semiring == SK_SEMIRING_MIN)
            argmax = f.tensor({"argmax", f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64, argmax_shape, true, true});
        skfuzz::call(f, "sk_einsum_forward", ctx, [&] { return sk_einsum_forward(ctx, plan, ops_arg, out, argmax); });
    } else {
        sk_tensor *out = f.tensor({"out", dtype, shape, false, semiring != SK_SEMIRING_LOG});
        TensorPlan argmax_plan{"argmax", f.coin(2) ? SK_DTYPE_INT32 : SK_DTYPE_INT64, argmax_shape, false, true};
        argmax_plan.lo = -1;
        argmax_plan.hi = largest - 1;
        sk_tensor *argmax = f.tensor(argmax_plan);
        sk_tensor *grad_out = f.tensor({"grad_out", dtype, shape});
        std::vector<sk_tensor *> grads;
        std::size_t offset = 0;
        for (int32_t i = 0; i < e.num_operands; ++i) {
            const int32_t rank = e.ranks[static_cast<std::size_t>(i)];
            std::vector<int64_t> s(e.shapes.begin() + static_cast<std::ptrdiff_t>(offset),
                                   e.shapes.begin() + static_cast<std::ptrdiff_t>(offset + static_cast<std::size_t>(rank)));
            offset += static_cast<std::size_t>(rank);
            grads.push_back(f.tensor({"grad", dtype, s, true, true}));
        }
        sk_tensor *const *grads_arg = f.coin(8) ? nullptr : grads.data();
        skfuzz::call(f, "sk_einsum_backward", ctx, [&] {
            return sk_einsum_backward(ctx, plan, ops_arg, out, argmax, grad_out, grads_arg);
        });
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    Fuzz f(data, size);
    sk_context *ctx = f.context();
    Equation e = generate(f);
    if (f.coin(3)) mutate_text(f, e.text);
    if (f.coin(24)) e.text = f.in().ConsumeRandomLengthString(48);
    mutate_shapes(f, e);
    sk_einsum_options *options = einsum_options(f);
    const int32_t semiring = semiring_of(f, options);

    const bool null_equation = f.coin(64), null_ranks = f.coin(40), null_shapes = f.coin(40), null_out = f.coin(64);
    // A recognisable value in *out: a failing call must leave it alone.
    static int untouched_marker;
    sk_einsum_plan *const untouched = reinterpret_cast<sk_einsum_plan *>(&untouched_marker);
    sk_einsum_plan *plan = untouched;
    sk_status status = SK_OK;
    bool called = false;
    skfuzz::call(f, "sk_einsum_plan_create", nullptr, [&] {
        called = true;
        status = sk_einsum_plan_create(null_equation ? nullptr : e.text.c_str(), e.num_operands,
                                       null_ranks ? nullptr : e.ranks.data(), null_shapes ? nullptr : e.shapes.data(),
                                       options, null_out ? nullptr : &plan);
        return status;
    });
    if (!called) return 0;
    if (status != SK_OK) {
        if (plan != untouched) skfuzz::violation("sk_einsum_plan_create", "a failing call wrote *out");
        if (f.coin(8)) skfuzz::call(f, "sk_einsum_plan_destroy", nullptr, [&] { return sk_einsum_plan_destroy(nullptr); });
        return 0;
    }
    if (!plan || plan == untouched) skfuzz::violation("sk_einsum_plan_create", "succeeded without a plan");
    run(f, ctx, plan, e, semiring);
    // Destroyed outside call(): it must run whatever the descriptors (else the plan leaks).
    if (sk_einsum_plan_destroy(plan) != SK_OK) skfuzz::violation("sk_einsum_plan_destroy", sk_last_error());
    return 0;
}
