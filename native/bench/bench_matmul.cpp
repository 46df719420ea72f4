// sk_bench configurations of the batched semiring matmul: einsum-shaped products with a fixed
// semiring, dtype and size, forward or forward + backward. Inputs are uniform in [-3, 3] without
// zeros (boolean operands random 0/1 with 1 % ones). GFLOP/s-equivalent counts 2*B*M*N*K per
// forward and 6*B*M*N*K per forward + backward. Besides the CPU comparison, 64 sampled entries
// of the forward are checked against a long-double brute force from the semiring definitions.
#include <algorithm>
#include <limits>

#include "bench.h"

namespace skbench {
namespace {

enum class Phase { Forward, ForwardBackward };

struct MatmulConfig {
    int32_t semiring;
    int32_t dtype;
    bool argmax;
    Phase phase;
    int64_t batch, m, k, n;
};

const char *semiring_name(int32_t s) {
    switch (s) {
        case SK_SEMIRING_LOG: return "log";
        case SK_SEMIRING_MAX: return "max";
        case SK_SEMIRING_REAL: return "real";
        case SK_SEMIRING_MIN: return "min";
        default: return "boolean";
    }
}

struct HostSet {
    std::vector<double> a, b, g;
};

HostSet random_set(const MatmulConfig &c, std::mt19937_64 &rng) {
    HostSet h;
    const size_t na = static_cast<size_t>(c.batch * c.m * c.k), nb = static_cast<size_t>(c.batch * c.k * c.n),
                 nc = static_cast<size_t>(c.batch * c.m * c.n);
    std::uniform_real_distribution<double> u(-3.0, 3.0), ug(-1.0, 1.0), unit(0.0, 1.0);
    auto draw = [&](size_t n) {
        std::vector<double> v(n);
        for (auto &x : v) {
            if (c.semiring == SK_SEMIRING_BOOLEAN) {
                x = unit(rng) < 0.01 ? 1.0 : 0.0;
            } else {
                do x = u(rng);
                while (x == 0.0);
            }
        }
        return v;
    };
    h.a = draw(na);
    h.b = draw(nb);
    h.g.resize(nc);
    for (auto &x : h.g) {
        do x = ug(rng);
        while (x == 0.0);
    }
    return h;
}

// Brute-force entry in long double from the semiring definitions.
long double reference_entry(const MatmulConfig &c, const HostSet &h, int64_t bi, int64_t i, int64_t j) {
    const long double inf = std::numeric_limits<long double>::infinity();
    auto A = [&](int64_t t) { return static_cast<long double>(h.a[static_cast<size_t>((bi * c.m + i) * c.k + t)]); };
    auto B = [&](int64_t t) { return static_cast<long double>(h.b[static_cast<size_t>((bi * c.k + t) * c.n + j)]); };
    switch (c.semiring) {
        case SK_SEMIRING_REAL: {
            long double s = 0;
            for (int64_t t = 0; t < c.k; ++t) s += A(t) * B(t);
            return s;
        }
        case SK_SEMIRING_LOG: {
            long double hi = -inf, s = 0;
            for (int64_t t = 0; t < c.k; ++t) hi = std::max(hi, A(t) + B(t));
            for (int64_t t = 0; t < c.k; ++t) s += std::exp(A(t) + B(t) - hi);
            return hi + std::log(s);
        }
        case SK_SEMIRING_MAX:
        case SK_SEMIRING_MIN: {
            const bool is_max = c.semiring == SK_SEMIRING_MAX;
            long double best = is_max ? -inf : inf;
            for (int64_t t = 0; t < c.k; ++t) best = is_max ? std::max(best, A(t) + B(t)) : std::min(best, A(t) + B(t));
            return best;
        }
        default: {
            bool any = false;
            for (int64_t t = 0; t < c.k; ++t) any = any || (A(t) != 0 && B(t) != 0);
            return any ? 1.0L : 0.0L;
        }
    }
}

class MatmulCase : public Case {
public:
    MatmulCase(const MatmulConfig &c, Context &ctx, bool rotate) : c_(c), ctx_(ctx) {
        options_.struct_size = sizeof(sk_matmul_options);
        options_.semiring = c.semiring;
        const double set_bytes =
            static_cast<double>(element_bytes(c.dtype)) * static_cast<double>(c.batch * (c.m * c.k + c.k * c.n + c.m * c.n));
        std::mt19937_64 rng(12345);
        const size_t n = rotation_sets(rotate, set_bytes);
        for (size_t s = 0; s < n; ++s) {
            HostSet h = random_set(c, rng);
            a_.push_back(std::make_unique<DeviceTensor>(ctx, c.dtype, shape(c.m, c.k)));
            b_.push_back(std::make_unique<DeviceTensor>(ctx, c.dtype, shape(c.k, c.n)));
            g_.push_back(std::make_unique<DeviceTensor>(ctx, c.dtype, shape(c.m, c.n)));
            a_.back()->upload(h.a);
            b_.back()->upload(h.b);
            g_.back()->upload(h.g);
            if (s == 0) host0_ = std::move(h);
        }
        out_ = std::make_unique<DeviceTensor>(ctx, c.dtype, shape(c.m, c.n));
        if (c.argmax) idx_ = std::make_unique<DeviceTensor>(ctx, SK_DTYPE_INT32, shape(c.m, c.n));
        if (c.phase == Phase::ForwardBackward) {
            ga_ = std::make_unique<DeviceTensor>(ctx, c.dtype, shape(c.m, c.k));
            gb_ = std::make_unique<DeviceTensor>(ctx, c.dtype, shape(c.k, c.n));
        }
    }

    size_t sets() const override { return a_.size(); }

    void run(size_t s) override {
        sk_tensor *idx = idx_ ? idx_->d() : nullptr;
        check(sk_semiring_matmul(ctx_.ctx, &options_, a_[s]->d(), b_[s]->d(), out_->d(), idx), "sk_semiring_matmul");
        if (c_.phase == Phase::ForwardBackward)
            check(sk_semiring_matmul_backward(ctx_.ctx, &options_, a_[s]->d(), b_[s]->d(), out_->d(), idx, g_[s]->d(),
                                              ga_->d(), gb_->d()),
                  "sk_semiring_matmul_backward");
    }

    Outputs outputs() override {
        ctx_.synchronize();
        Outputs o;
        o.values.emplace_back("c", out_->values());
        if (ga_) {
            o.values.emplace_back("grad_a", ga_->values());
            o.values.emplace_back("grad_b", gb_->values());
        }
        if (idx_) o.indices.emplace_back("argmax", idx_->values());
        return o;
    }

    // Largest |got - ref| / scale over 64 random entries of set 0's forward; the scale is
    // sum_k |A B| for REAL (so cancellation does not inflate the error), max(|ref|, 1) otherwise.
    double reference_error() override {
        run(0);
        const std::vector<double> got = out_->values();
        std::mt19937_64 rng(99);
        double worst = 0;
        for (int s = 0; s < 64; ++s) {
            const int64_t bi = static_cast<int64_t>(rng() % static_cast<uint64_t>(c_.batch));
            const int64_t i = static_cast<int64_t>(rng() % static_cast<uint64_t>(c_.m));
            const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(c_.n));
            const long double ref = reference_entry(c_, host0_, bi, i, j);
            long double scale = std::max(std::fabs(ref), 1.0L);
            if (c_.semiring == SK_SEMIRING_REAL) {
                scale = 0;
                for (int64_t t = 0; t < c_.k; ++t)
                    scale += std::fabs(host0_.a[static_cast<size_t>((bi * c_.m + i) * c_.k + t)] *
                                       host0_.b[static_cast<size_t>((bi * c_.k + t) * c_.n + j)]);
            }
            const double x = got[static_cast<size_t>((bi * c_.m + i) * c_.n + j)];
            const double err = static_cast<double>(std::fabs(static_cast<long double>(x) - ref) / scale);
            worst = std::max(worst, std::isnan(err) ? std::numeric_limits<double>::infinity() : err);
        }
        return worst;
    }

private:
    std::vector<int64_t> shape(int64_t rows, int64_t cols) const {
        return c_.batch == 1 ? std::vector<int64_t>{rows, cols} : std::vector<int64_t>{c_.batch, rows, cols};
    }

    MatmulConfig c_;
    Context &ctx_;
    sk_matmul_options options_{};
    HostSet host0_;
    std::vector<std::unique_ptr<DeviceTensor>> a_, b_, g_;
    std::unique_ptr<DeviceTensor> out_, idx_, ga_, gb_;
};

Spec make_spec(int32_t semiring, bool argmax, Phase phase, int32_t dtype, int64_t batch, int64_t size) {
    MatmulConfig c{semiring, dtype, argmax, phase, batch, size, size, size};
    const std::string einsum = batch == 1 ? "ij,jk->ik" : "bij,bjk->bik";
    Spec s;
    s.family = "matmul";
    s.phase = phase == Phase::Forward ? "fwd" : "fwd+bwd";
    s.dtype = dtype;
    s.name = std::string(semiring_name(semiring)) + (argmax ? "+argmax" : "") + "/" + einsum + "/" +
             (batch == 1 ? "" : std::to_string(batch) + "x") + std::to_string(size) + "^3/" + dtype_name(dtype) + "/" +
             s.phase;
    s.params = "{\"semiring\":\"" + std::string(semiring_name(semiring)) + "\",\"argmax\":" +
               (argmax ? "true" : "false") + ",\"einsum\":\"" + einsum + "\",\"batch\":" + std::to_string(batch) +
               ",\"m\":" + std::to_string(size) + ",\"k\":" + std::to_string(size) + ",\"n\":" + std::to_string(size) +
               "}";
    s.work = (phase == Phase::Forward ? 2.0 : 6.0) * static_cast<double>(batch) * static_cast<double>(size) *
             static_cast<double>(size) * static_cast<double>(size) / 1e9;
    s.work_unit = "GFLOP/s-eq";
    s.tolerance = dtype == SK_DTYPE_FLOAT32 ? 1e-4 : 1e-10;
    s.make = [c](Context &ctx, bool rotate) { return std::make_unique<MatmulCase>(c, ctx, rotate); };
    return s;
}

}  // namespace

// --quick shrinks every size (2048 -> 512, 16 x 256 -> 4 x 128, ...).
std::vector<Spec> matmul_specs(bool quick) {
    std::vector<Spec> out;
    const int64_t large = quick ? 512 : 2048, batched = quick ? 128 : 256, batch = quick ? 4 : 16;
    const int64_t f64_large = quick ? 256 : 1024, f64_bwd = quick ? 128 : 512;
    struct Shape {
        int64_t batch, size;
    };
    for (Shape sh : {Shape{batch, batched}, Shape{1, large}}) {
        for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL, SK_SEMIRING_MIN, SK_SEMIRING_BOOLEAN})
            out.push_back(make_spec(s, false, Phase::Forward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
        out.push_back(make_spec(SK_SEMIRING_MAX, true, Phase::Forward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
        out.push_back(make_spec(SK_SEMIRING_LOG, false, Phase::ForwardBackward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
        out.push_back(make_spec(SK_SEMIRING_REAL, false, Phase::ForwardBackward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
        out.push_back(make_spec(SK_SEMIRING_MAX, true, Phase::ForwardBackward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
    }
    for (int32_t s : {SK_SEMIRING_REAL, SK_SEMIRING_LOG}) {
        out.push_back(make_spec(s, false, Phase::Forward, SK_DTYPE_FLOAT64, 1, f64_large));
        out.push_back(make_spec(s, false, Phase::ForwardBackward, SK_DTYPE_FLOAT64, 1, f64_bwd));
    }
    // Tiny problems: the cost of one call through the C API (the JMH CallOverheadBenchmark
    // measures the same ops from Java; the difference is the Java layer's overhead).
    for (int32_t s : {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX})
        out.push_back(make_spec(s, false, Phase::Forward, SK_DTYPE_FLOAT32, 1, 4));
    return out;
}

}  // namespace skbench
