// The pieces every benchmark configuration of sk_bench shares: the C API wrapped in small RAII
// types, the comparison of a device's outputs with the CPU path, and the Case/Spec interface that
// each family's bench_FAMILY.cpp implements. Only the public C header is used.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "semiring_kernels.h"

namespace skbench {

inline void check(sk_status status, const char *what) {
    if (status != SK_OK)
        throw std::runtime_error(std::string(what) + " failed: " + sk_status_name(status) + ": " + sk_last_error());
}

inline size_t element_bytes(int32_t dtype) {
    return dtype == SK_DTYPE_FLOAT64 || dtype == SK_DTYPE_INT64 ? 8 : 4;
}

inline const char *dtype_name(int32_t dtype) {
    switch (dtype) {
        case SK_DTYPE_FLOAT32: return "f32";
        case SK_DTYPE_FLOAT64: return "f64";
        case SK_DTYPE_INT32: return "i32";
        default: return "i64";
    }
}

struct Context {
    sk_context *ctx = nullptr;
    int32_t type;
    explicit Context(int32_t device_type) : type(device_type) {
        check(sk_context_create(device_type, 0, &ctx), "sk_context_create");
    }
    ~Context() { sk_context_destroy(ctx); }
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;
    void synchronize() { check(sk_context_synchronize(ctx), "sk_context_synchronize"); }
};

// One contiguous tensor in memory of the context's device (row-major strides).
class DeviceTensor {
public:
    DeviceTensor(Context &c, int32_t dtype, std::vector<int64_t> shape) : ctx_(c.ctx) {
        desc_.dtype = dtype;
        desc_.device_type = c.type;
        desc_.device_index = 0;
        desc_.rank = static_cast<int32_t>(shape.size());
        int64_t count = 1;
        for (int d = desc_.rank - 1; d >= 0; --d) {
            desc_.shape[d] = shape[static_cast<size_t>(d)];
            desc_.strides[d] = count;
            count *= shape[static_cast<size_t>(d)];
        }
        count_ = static_cast<size_t>(count);
        const int64_t bytes = static_cast<int64_t>(std::max<size_t>(count_, 1) * element_bytes(dtype));
        check(sk_malloc(ctx_, bytes, &ptr_), "sk_malloc");
        desc_.data = ptr_;
    }
    ~DeviceTensor() { sk_free(ctx_, ptr_); }
    DeviceTensor(const DeviceTensor &) = delete;
    DeviceTensor &operator=(const DeviceTensor &) = delete;

    sk_tensor *d() { return &desc_; }
    size_t count() const { return count_; }

    // Uploads values given as doubles, converted to the tensor's dtype (ints are truncated).
    void upload(const std::vector<double> &v) {
        if (v.size() != count_) throw std::logic_error("upload: wrong element count");
        switch (desc_.dtype) {
            case SK_DTYPE_FLOAT32: copy_in(std::vector<float>(v.begin(), v.end())); break;
            case SK_DTYPE_FLOAT64: copy_in(v); break;
            case SK_DTYPE_INT32: copy_in(std::vector<int32_t>(v.begin(), v.end())); break;
            default: copy_in(std::vector<int64_t>(v.begin(), v.end())); break;
        }
    }
    // Fills the tensor with value(e) for e = 0..count-1, converted to the dtype on the host (for
    // inputs too large to stage as doubles first).
    template <class F>
    void fill(F value) {
        switch (desc_.dtype) {
            case SK_DTYPE_FLOAT32: copy_in(generate<float>(value)); break;
            case SK_DTYPE_FLOAT64: copy_in(generate<double>(value)); break;
            case SK_DTYPE_INT32: copy_in(generate<int32_t>(value)); break;
            default: copy_in(generate<int64_t>(value)); break;
        }
    }
    // The contents as doubles, whatever the dtype.
    std::vector<double> values() const {
        switch (desc_.dtype) {
            case SK_DTYPE_FLOAT32: return widen(copy_out<float>());
            case SK_DTYPE_FLOAT64: return copy_out<double>();
            case SK_DTYPE_INT32: return widen(copy_out<int32_t>());
            default: return widen(copy_out<int64_t>());
        }
    }

private:
    template <class T>
    void copy_in(const std::vector<T> &host) {
        check(sk_memcpy(ctx_, ptr_, desc_.device_type, host.data(), SK_DEVICE_CPU,
                        static_cast<int64_t>(host.size() * sizeof(T))),
              "sk_memcpy");
    }
    template <class T, class F>
    std::vector<T> generate(F value) const {
        std::vector<T> host(count_);
        for (size_t e = 0; e < count_; ++e) host[e] = static_cast<T>(value(e));
        return host;
    }
    template <class T>
    std::vector<T> copy_out() const {
        std::vector<T> out(count_);
        check(sk_memcpy(ctx_, out.data(), SK_DEVICE_CPU, ptr_, desc_.device_type,
                        static_cast<int64_t>(count_ * sizeof(T))),
              "sk_memcpy");
        return out;
    }
    template <class T>
    static std::vector<double> widen(const std::vector<T> &v) {
        return std::vector<double>(v.begin(), v.end());
    }

    sk_context *ctx_;
    void *ptr_ = nullptr;
    sk_tensor desc_{};
    size_t count_ = 0;
};

// How far a device's output is from the CPU path's: relative Frobenius error over the entries
// finite in the reference; non-finite entries must match exactly (NaN with NaN).
struct Comparison {
    double rel_error = 0;
    int64_t nonfinite_mismatches = 0;
};

inline Comparison compare(const std::vector<double> &got, const std::vector<double> &want) {
    long double num = 0, den = 0;
    Comparison c;
    for (size_t e = 0; e < got.size(); ++e) {
        if (!std::isfinite(want[e])) {
            const bool same = std::isnan(want[e]) ? std::isnan(got[e]) : got[e] == want[e];
            if (!same) ++c.nonfinite_mismatches;
            continue;
        }
        const long double d = static_cast<long double>(got[e]) - want[e];
        num += d * d;
        den += static_cast<long double>(want[e]) * want[e];
    }
    c.rel_error = static_cast<double>(den == 0 ? std::sqrt(num) : std::sqrt(num / den));
    return c;
}

inline int64_t count_mismatches(const std::vector<double> &got, const std::vector<double> &want) {
    int64_t n = 0;
    for (size_t e = 0; e < got.size(); ++e) n += got[e] != want[e];
    return n;
}

// The outputs of one call, for comparing two devices: real-valued outputs compare with a
// tolerance, index outputs (argmax, paths, spans) must match exactly.
struct Outputs {
    std::vector<std::pair<std::string, std::vector<double>>> values;
    std::vector<std::pair<std::string, std::vector<double>>> indices;
};

// One problem instance of a configuration on one context: its inputs (one or more input sets,
// rotated by the timing loop so that they do not all sit in the GPU's L2) and its outputs.
class Case {
public:
    virtual ~Case() = default;
    virtual size_t sets() const = 0;
    // One timed unit of work on input set s (asynchronous on a CUDA context).
    virtual void run(size_t s) = 0;
    // The outputs of the last run (synchronises).
    virtual Outputs outputs() = 0;
    // Largest error of sampled outputs of set 0 against an independent long-double reference,
    // or -1 when the family has none in the harness (its equivalence is then checked against
    // the CPU path only, which the native tests check against brute force).
    virtual double reference_error() { return -1; }
};

// A named configuration. `make` builds its instance on a context; the same seed gives the same
// inputs on every device, so the CPU instance is the reference for the CUDA one.
struct Spec {
    std::string name;
    std::string family;
    std::string phase;  // "fwd", "fwd+bwd", "viterbi", ...
    int32_t dtype;
    std::string params;  // JSON object text with the sizes, e.g. {"B":8,"N":50,"T":1000}
    double work;         // work units per call for the throughput column (0: none)
    std::string work_unit;  // "GFLOP/s-eq", "Gcell/s", ...
    double tolerance;       // allowed relative error vs the CPU path
    std::function<std::unique_ptr<Case>(Context &, bool rotate_sets)> make;
};

// Each family's configurations; `quick` shrinks every size for a fast smoke run.
std::vector<Spec> matmul_specs(bool quick);
std::vector<Spec> hmm_specs(bool quick);
std::vector<Spec> ctc_specs(bool quick);
std::vector<Spec> semicrf_specs(bool quick);
std::vector<Spec> einsum_specs(bool quick);
std::vector<Spec> semiconv_specs(bool quick);

// Input sets needed so that the rotated sets exceed a 50 MB L2 (bytes per set given).
inline size_t rotation_sets(bool rotate, double bytes_per_set) {
    if (!rotate) return 1;
    const double n = std::ceil(150e6 / std::max(bytes_per_set, 1.0));
    return static_cast<size_t>(std::min(std::max(n, 1.0), 16.0));
}

// A fast reproducible generator for large inputs (splitmix64): uniform in [0, 1) and an
// approximately standard normal value (Irwin-Hall: the sum of the four 16-bit uniforms of one
// draw, rescaled to variance 1; benchmark data, not statistics).
class FastRandom {
public:
    explicit FastRandom(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double normal() {
        const uint64_t r = next();
        const double sum = static_cast<double>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48));
        return (sum * 0x1.0p-16 - 2.0) * 1.7320508075688772;
    }

private:
    uint64_t state_;
};

}  // namespace skbench
