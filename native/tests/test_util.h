// Helpers for the native tests: host tensors with descriptors, random data, and the brute-force
// reference of the semiring matmul computed from the semiring definitions in long double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "semiring_kernels.h"
#include "test_framework.h"

namespace sktest {

template <class T>
constexpr int32_t dtype_of() {
    if constexpr (std::is_same_v<T, float>) return SK_DTYPE_FLOAT32;
    if constexpr (std::is_same_v<T, double>) return SK_DTYPE_FLOAT64;
    if constexpr (std::is_same_v<T, int32_t>) return SK_DTYPE_INT32;
    return SK_DTYPE_INT64;
}

// A host tensor: owned storage plus a descriptor. The descriptor may describe a view (strides)
// over a larger storage.
template <class T>
struct HostTensor {
    std::vector<T> storage;
    sk_tensor desc{};

    HostTensor() = default;
    explicit HostTensor(std::vector<int64_t> shape, T fill = T(0)) {
        int64_t n = 1;
        for (auto e : shape) n *= e;
        storage.assign(static_cast<std::size_t>(std::max<int64_t>(n, 1)), fill);
        desc.data = storage.data();
        desc.dtype = dtype_of<T>();
        desc.device_type = SK_DEVICE_CPU;
        desc.rank = static_cast<int32_t>(shape.size());
        int64_t stride = 1;
        for (int d = desc.rank - 1; d >= 0; --d) {
            desc.shape[d] = shape[static_cast<std::size_t>(d)];
            desc.strides[d] = stride;
            stride *= shape[static_cast<std::size_t>(d)];
        }
    }
    HostTensor(const HostTensor &o) : storage(o.storage), desc(o.desc) { desc.data = storage.data(); }
    HostTensor &operator=(const HostTensor &o) {
        storage = o.storage;
        desc = o.desc;
        desc.data = storage.data();
        return *this;
    }
    sk_tensor *d() { return &desc; }
    int rank() const { return desc.rank; }
    // Element at a full index (batch dims first), honouring the descriptor's strides.
    T &at(std::initializer_list<int64_t> idx) {
        int64_t off = 0;
        int d = 0;
        for (auto i : idx) off += i * desc.strides[d++];
        return storage[static_cast<std::size_t>(off)];
    }
    // (b, i, j) for rank 2 or 3 (rank 2 ignores b; batch extent 1 broadcasts).
    T &at3(int64_t b, int64_t i, int64_t j) {
        if (desc.rank == 2) return storage[static_cast<std::size_t>(i * desc.strides[0] + j * desc.strides[1])];
        const int64_t bb = desc.shape[0] == 1 ? 0 : b;
        return storage[static_cast<std::size_t>(bb * desc.strides[0] + i * desc.strides[1] + j * desc.strides[2])];
    }
    int64_t rows() const { return desc.shape[desc.rank - 2]; }
    int64_t cols() const { return desc.shape[desc.rank - 1]; }
};

// A (rows x cols) matrix stored column-major: the transposed-layout view of a row-major buffer.
template <class T>
HostTensor<T> column_major(std::vector<int64_t> shape) {
    std::vector<int64_t> swapped = shape;
    std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
    HostTensor<T> t(swapped);
    const int r = t.desc.rank;
    std::swap(t.desc.shape[r - 1], t.desc.shape[r - 2]);
    std::swap(t.desc.strides[r - 1], t.desc.strides[r - 2]);
    return t;
}

// A view with padded rows: row stride = cols + pad (exercises non-contiguous strides).
template <class T>
HostTensor<T> padded_rows(std::vector<int64_t> shape, int64_t pad) {
    std::vector<int64_t> wide = shape;
    wide.back() += pad;
    HostTensor<T> t(wide);
    t.desc.shape[t.desc.rank - 1] = shape.back();
    return t;
}

template <class T>
void fill_uniform(HostTensor<T> &t, std::mt19937_64 &rng, double lo, double hi) {
    std::uniform_real_distribution<double> dist(lo, hi);
    for (auto &x : t.storage) x = static_cast<T>(dist(rng));
}

// ---- brute-force reference ----------------------------------------------------------------

using Ld = long double;

struct RefEntry {
    Ld value;
    int32_t argmax;
};

// Directly from the definitions: enumerate k, combine with the semiring's plus in long double.
inline RefEntry reference_entry(int32_t semiring, const std::vector<Ld> &terms_a,
                                const std::vector<Ld> &terms_b) {
    const Ld inf = std::numeric_limits<Ld>::infinity();
    const size_t k = terms_a.size();
    switch (semiring) {
        case SK_SEMIRING_REAL: {
            Ld s = 0;
            for (size_t t = 0; t < k; ++t) s += terms_a[t] * terms_b[t];
            return {s, -1};
        }
        case SK_SEMIRING_LOG: {
            Ld hi = -inf;
            bool nan = false;
            for (size_t t = 0; t < k; ++t) {
                Ld v = terms_a[t] + terms_b[t];
                if (std::isnan(v)) nan = true;
                hi = std::max(hi, v);
            }
            if (nan) return {std::numeric_limits<Ld>::quiet_NaN(), -1};
            if (hi == -inf || hi == inf) return {hi, -1};
            Ld s = 0;
            for (size_t t = 0; t < k; ++t) s += std::exp(terms_a[t] + terms_b[t] - hi);
            return {hi + std::log(s), -1};
        }
        case SK_SEMIRING_MAX:
        case SK_SEMIRING_MIN: {
            const bool is_max = semiring == SK_SEMIRING_MAX;
            Ld best = is_max ? -inf : inf;
            int32_t where = -1;
            for (size_t t = 0; t < k; ++t) {
                Ld v = terms_a[t] + terms_b[t];
                if (std::isnan(v)) return {v, static_cast<int32_t>(t)};
                if (is_max ? v > best : v < best) {
                    best = v;
                    where = static_cast<int32_t>(t);
                }
            }
            return {best, where};
        }
        default: {  // boolean
            bool any = false;
            for (size_t t = 0; t < k; ++t) {
                if (std::isnan(terms_a[t]) || std::isnan(terms_b[t]))
                    return {std::numeric_limits<Ld>::quiet_NaN(), -1};
                any = any || (terms_a[t] != 0 && terms_b[t] != 0);
            }
            return {any ? Ld(1) : Ld(0), -1};
        }
    }
}

struct Reference {
    int64_t batch, m, n, k;
    std::vector<Ld> value;  // (batch, m, n)
    std::vector<int32_t> argmax;
    Ld &v(int64_t b, int64_t i, int64_t j) { return value[static_cast<size_t>((b * m + i) * n + j)]; }
    int32_t &idx(int64_t b, int64_t i, int64_t j) { return argmax[static_cast<size_t>((b * m + i) * n + j)]; }
};

template <class T>
Reference reference_matmul(int32_t semiring, HostTensor<T> &a, HostTensor<T> &b, int64_t batch) {
    Reference r{batch, a.rows(), b.cols(), a.cols(), {}, {}};
    r.value.resize(static_cast<size_t>(batch * r.m * r.n));
    r.argmax.resize(r.value.size());
    std::vector<Ld> ta(static_cast<size_t>(r.k)), tb(static_cast<size_t>(r.k));
    for (int64_t bi = 0; bi < batch; ++bi)
        for (int64_t i = 0; i < r.m; ++i)
            for (int64_t j = 0; j < r.n; ++j) {
                for (int64_t t = 0; t < r.k; ++t) {
                    ta[static_cast<size_t>(t)] = a.at3(bi, i, t);
                    tb[static_cast<size_t>(t)] = b.at3(bi, t, j);
                }
                RefEntry e = reference_entry(semiring, ta, tb);
                r.v(bi, i, j) = e.value;
                r.idx(bi, i, j) = e.argmax;
            }
    return r;
}

// |x - ref| <= atol + rtol |ref|, with equal infinities and NaN matching NaN.
inline bool close(Ld x, Ld ref, Ld rtol, Ld atol) {
    if (std::isnan(ref)) return std::isnan(x);
    if (std::isinf(ref)) return x == ref;
    if (!std::isfinite(x)) return false;
    return std::fabs(x - ref) <= atol + rtol * std::fabs(ref);
}

inline sk_matmul_options matmul_options(int32_t semiring) {
    sk_matmul_options o{};
    o.struct_size = sizeof(sk_matmul_options);
    o.semiring = semiring;
    return o;
}

inline const char *semiring_label(int32_t s) {
    switch (s) {
        case SK_SEMIRING_LOG: return "log";
        case SK_SEMIRING_MAX: return "max";
        case SK_SEMIRING_REAL: return "real";
        case SK_SEMIRING_MIN: return "min";
        default: return "boolean";
    }
}

// Owns a CPU or CUDA context for a test's scope.
struct Context {
    sk_context *ctx = nullptr;
    explicit Context(int32_t device_type = SK_DEVICE_CPU, int32_t device_index = 0) {
        if (sk_context_create(device_type, device_index, &ctx) != SK_OK) ctx = nullptr;
    }
    ~Context() { sk_context_destroy(ctx); }
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;
    operator sk_context *() const { return ctx; }
};

}  // namespace sktest
