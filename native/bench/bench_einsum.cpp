// sk_bench configurations of the semiring einsum, on the sizes of the public anchor
// (torch-semiring-einsum, ../shared/anchors and issue 6): "bij,bjk->bik" 16 x 256^3 (log fwd,
// log fwd+bwd, max, Viterbi = max with argmax), "ij,jk->ik" 2048^3 (log fwd, fwd+bwd, max,
// Viterbi, real) and "bi,bij,bj->b" with B = 64, 512^2 (log fwd). Inputs ~ N(0, 1), one plan
// compiled per configuration (outside the timed loop: the plan is the reusable compiled equation),
// no workspace limit, upstream gradient 1.
// Throughput: 2 x (product of every index extent) "FLOP-equivalents" per pass (a semiring multiply
// and add per term of the naive sum; fwd+bwd counts 3 passes).
#include <map>

#include "bench.h"

namespace skbench {
namespace {

enum class EinsumPhase { Forward, ForwardBackward, Argmax };

struct EinsumConfig {
    std::string equation;
    std::vector<std::vector<int64_t>> shapes;  // one per operand
    int32_t semiring;
    EinsumPhase phase;
    int32_t dtype;
};

const char *semiring_label(int32_t s) {
    switch (s) {
        case SK_SEMIRING_LOG: return "log";
        case SK_SEMIRING_MAX: return "max";
        case SK_SEMIRING_MIN: return "min";
        case SK_SEMIRING_REAL: return "real";
        default: return "bool";
    }
}

const char *phase_name(EinsumPhase p, int32_t semiring) {
    switch (p) {
        case EinsumPhase::Forward: return semiring == SK_SEMIRING_LOG ? "fwd" : semiring_label(semiring);
        case EinsumPhase::ForwardBackward: return "fwd+bwd";
        default: return "viterbi";
    }
}

// The product of the extents of every distinct letter of the equation (the naive sum's terms).
double naive_terms(const EinsumConfig &c) {
    std::map<char, int64_t> extent;
    const std::string inputs = c.equation.substr(0, c.equation.find("->"));
    size_t operand = 0, axis = 0;
    for (char ch : inputs) {
        if (ch == ',') {
            ++operand;
            axis = 0;
            continue;
        }
        extent[ch] = c.shapes[operand][axis++];
    }
    double terms = 1;
    for (const auto &e : extent) terms *= static_cast<double>(e.second);
    return terms;
}

class Plan {
public:
    explicit Plan(const EinsumConfig &c) {
        sk_einsum_options options{};
        options.struct_size = sizeof(options);
        options.semiring = c.semiring;
        std::vector<int32_t> ranks;
        std::vector<int64_t> extents;
        for (const auto &s : c.shapes) {
            ranks.push_back(static_cast<int32_t>(s.size()));
            extents.insert(extents.end(), s.begin(), s.end());
        }
        check(sk_einsum_plan_create(c.equation.c_str(), static_cast<int32_t>(c.shapes.size()), ranks.data(),
                                    extents.data(), &options, &plan_),
              "sk_einsum_plan_create");
        int32_t rank = 0;
        int64_t shape[SK_MAX_RANK] = {};
        check(sk_einsum_plan_output_shape(plan_, &rank, shape), "sk_einsum_plan_output_shape");
        output_shape.assign(shape, shape + rank);
        check(sk_einsum_plan_summed_count(plan_, &summed), "sk_einsum_plan_summed_count");
    }
    ~Plan() { sk_einsum_plan_destroy(plan_); }
    Plan(const Plan &) = delete;
    Plan &operator=(const Plan &) = delete;
    const sk_einsum_plan *get() const { return plan_; }
    std::vector<int64_t> output_shape;
    int32_t summed = 0;

private:
    sk_einsum_plan *plan_ = nullptr;
};

class EinsumCase : public Case {
public:
    EinsumCase(const EinsumConfig &c, Context &ctx, bool rotate) : c_(c), ctx_(ctx), plan_(c) {
        double bytes = 0;
        for (const auto &s : c.shapes) {
            double n = 1;
            for (int64_t e : s) n *= static_cast<double>(e);
            bytes += n * static_cast<double>(element_bytes(c.dtype));
        }
        const size_t sets = rotation_sets(rotate, bytes);
        for (size_t s = 0; s < sets; ++s) {
            FastRandom z(500 + 31 * s);
            std::vector<std::unique_ptr<DeviceTensor>> operands;
            for (const auto &shape : c.shapes) {
                operands.push_back(std::make_unique<DeviceTensor>(ctx, c.dtype, shape));
                operands.back()->fill([&](size_t) { return z.normal(); });
            }
            operands_.push_back(std::move(operands));
        }
        out_ = std::make_unique<DeviceTensor>(ctx, c.dtype, plan_.output_shape);
        if (c.phase == EinsumPhase::Argmax) {
            std::vector<int64_t> shape = plan_.output_shape;
            shape.push_back(plan_.summed);
            argmax_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT32, shape);
        }
        if (c.phase == EinsumPhase::ForwardBackward) {
            grad_out_ = std::make_unique<DeviceTensor>(ctx, c.dtype, plan_.output_shape);
            grad_out_->fill([](size_t) { return 1.0; });
            for (const auto &shape : c.shapes) grads_.push_back(std::make_unique<DeviceTensor>(ctx, c.dtype, shape));
        }
    }

    size_t sets() const override { return operands_.size(); }

    void run(size_t s) override {
        std::vector<const sk_tensor *> operands;
        for (auto &t : operands_[s]) operands.push_back(t->d());
        check(sk_einsum_forward(ctx_.ctx, plan_.get(), operands.data(), out_->d(), argmax_ ? argmax_->d() : nullptr),
              "sk_einsum_forward");
        if (c_.phase != EinsumPhase::ForwardBackward) return;
        std::vector<sk_tensor *> grads;
        for (auto &g : grads_) grads.push_back(g->d());
        check(sk_einsum_backward(ctx_.ctx, plan_.get(), operands.data(), out_->d(), nullptr, grad_out_->d(),
                                 grads.data()),
              "sk_einsum_backward");
    }

    Outputs outputs() override {
        ctx_.synchronize();
        Outputs o;
        o.values.emplace_back("out", out_->values());
        for (size_t i = 0; i < grads_.size(); ++i) o.values.emplace_back("grad" + std::to_string(i), grads_[i]->values());
        if (argmax_) o.indices.emplace_back("argmax", argmax_->values());
        return o;
    }

private:
    EinsumConfig c_;
    Context &ctx_;
    Plan plan_;
    std::vector<std::vector<std::unique_ptr<DeviceTensor>>> operands_;
    std::unique_ptr<DeviceTensor> out_, argmax_, grad_out_;
    std::vector<std::unique_ptr<DeviceTensor>> grads_;
};

std::string shape_text(const std::vector<std::vector<int64_t>> &shapes) {
    std::string text;
    for (const auto &s : shapes) {
        if (!text.empty()) text += ",";
        for (size_t a = 0; a < s.size(); ++a) text += (a ? "x" : "") + std::to_string(s[a]);
    }
    return text;
}

Spec make_spec(const EinsumConfig &c) {
    Spec s;
    s.family = "einsum";
    s.phase = phase_name(c.phase, c.semiring);
    s.dtype = c.dtype;
    s.name = "einsum/" + c.equation + "/" + shape_text(c.shapes) + "/" + semiring_label(c.semiring) + "/" +
             dtype_name(c.dtype) + "/" + s.phase;
    s.params = "{\"equation\":\"" + c.equation + "\",\"shapes\":\"" + shape_text(c.shapes) + "\",\"semiring\":\"" +
               semiring_label(c.semiring) + "\"}";
    s.work = (c.phase == EinsumPhase::ForwardBackward ? 3.0 : 1.0) * 2.0 * naive_terms(c) / 1e9;
    s.work_unit = "GFLOP/s-eq";
    // The CPU and CUDA paths may block and order the sums differently (log, real); max/min and
    // argmax are exact.
    s.tolerance = c.dtype == SK_DTYPE_FLOAT32 ? 1e-4 : 1e-10;
    s.make = [c](Context &ctx, bool rotate) { return std::make_unique<EinsumCase>(c, ctx, rotate); };
    return s;
}

}  // namespace

std::vector<Spec> einsum_specs(bool quick) {
    const int64_t q = quick ? 4 : 1;
    const int64_t b = 16, n = 256 / q, big = 2048 / q, pb = 64 / q, pn = 512 / q;
    const std::string bmm = "bij,bjk->bik", mm = "ij,jk->ik", chain = "bi,bij,bj->b";
    const std::vector<std::vector<int64_t>> bmm_shapes{{b, n, n}, {b, n, n}}, mm_shapes{{big, big}, {big, big}},
        chain_shapes{{pb, pn}, {pb, pn, pn}, {pb, pn}};
    const int32_t f32 = SK_DTYPE_FLOAT32;
    std::vector<Spec> out;
    out.push_back(make_spec({bmm, bmm_shapes, SK_SEMIRING_LOG, EinsumPhase::Forward, f32}));
    out.push_back(make_spec({bmm, bmm_shapes, SK_SEMIRING_LOG, EinsumPhase::ForwardBackward, f32}));
    out.push_back(make_spec({bmm, bmm_shapes, SK_SEMIRING_MAX, EinsumPhase::Forward, f32}));
    out.push_back(make_spec({bmm, bmm_shapes, SK_SEMIRING_MAX, EinsumPhase::Argmax, f32}));
    out.push_back(make_spec({mm, mm_shapes, SK_SEMIRING_LOG, EinsumPhase::Forward, f32}));
    out.push_back(make_spec({mm, mm_shapes, SK_SEMIRING_LOG, EinsumPhase::ForwardBackward, f32}));
    out.push_back(make_spec({mm, mm_shapes, SK_SEMIRING_MAX, EinsumPhase::Forward, f32}));
    out.push_back(make_spec({mm, mm_shapes, SK_SEMIRING_MAX, EinsumPhase::Argmax, f32}));
    out.push_back(make_spec({mm, mm_shapes, SK_SEMIRING_REAL, EinsumPhase::Forward, f32}));
    out.push_back(make_spec({chain, chain_shapes, SK_SEMIRING_LOG, EinsumPhase::Forward, f32}));
    return out;
}

}  // namespace skbench
