// A registry of "mixed op" workloads, one file per family (ops_<family>.cpp, linked by glob into
// test_determinism and test_leaks): each runs a fixed set of calls of its family on seeded inputs
// and returns every output byte, so a test can compare runs bitwise or repeat them many times.
// A family adds itself by dropping in ops_<family>.cpp with SK_RELIABILITY_OPS(name) { ... }.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../test_util.h"

namespace sktest::reliability {

// Output bytes of one workload run; `failures` counts calls that did not return SK_OK (with
// the first message kept), which the tests report.
struct Outputs {
    std::vector<unsigned char> bytes;
    int failures = 0;
    long calls = 0;  // C API calls made
    std::string first_error;
    template <class T>
    void add(const HostTensor<T> &t) {
        const auto *p = reinterpret_cast<const unsigned char *>(t.storage.data());
        bytes.insert(bytes.end(), p, p + t.storage.size() * sizeof(T));
    }
    void status(sk_status s, const char *what) {
        ++calls;
        if (s == SK_OK) return;
        if (failures++ == 0) first_error = std::string(what) + ": " + sk_last_error();
    }
};

// Hands the workload's tensors to the context: host descriptors for a CPU context; for a CUDA
// context a device copy of each tensor's storage (made on first use, reused after, so an output
// fed back as an input stays on the device), copied back by add().
class Io {
public:
    Io(sk_context *ctx, Outputs &out) : ctx_(ctx), out_(out) {
        int32_t type = SK_DEVICE_CPU, index = 0;
        sk_context_device(ctx, &type, &index);
        cuda_ = type == SK_DEVICE_CUDA;
    }
    ~Io() {
        for (auto &entry : mirrors_) sk_free(ctx_, entry.second.desc.data);
    }
    Io(const Io &) = delete;
    Io &operator=(const Io &) = delete;

    template <class T>
    sk_tensor *d(HostTensor<T> &t) {
        if (!cuda_) return t.d();
        auto found = mirrors_.find(t.storage.data());
        if (found != mirrors_.end()) return &found->second.desc;
        Mirror m{t.desc, static_cast<int64_t>(t.storage.size() * sizeof(T))};
        void *ptr = nullptr;
        out_.status(sk_malloc(ctx_, m.bytes, &ptr), "sk_malloc");
        out_.status(sk_memcpy(ctx_, ptr, SK_DEVICE_CUDA, t.storage.data(), SK_DEVICE_CPU, m.bytes), "sk_memcpy");
        m.desc.data = ptr;
        m.desc.device_type = SK_DEVICE_CUDA;
        m.desc.device_index = 0;
        return &mirrors_.emplace(t.storage.data(), m).first->second.desc;
    }
    // Appends t's bytes (from the device when it has a copy there) to the outputs.
    template <class T>
    void add(HostTensor<T> &t) {
        auto found = mirrors_.find(t.storage.data());
        if (found != mirrors_.end())
            out_.status(sk_memcpy(ctx_, t.storage.data(), SK_DEVICE_CPU, found->second.desc.data, SK_DEVICE_CUDA,
                                  found->second.bytes),
                        "sk_memcpy");
        out_.add(t);
    }

private:
    struct Mirror {
        sk_tensor desc;
        int64_t bytes;
    };
    sk_context *ctx_;
    Outputs &out_;
    bool cuda_ = false;
    std::map<const void *, Mirror> mirrors_;
};

// `size` scales the inputs: 0 = tiny (for 10^5-call loops), 1 = large enough that every
// backend path runs multi-threaded.
using Workload = std::function<Outputs(sk_context *ctx, int size)>;

struct Family {
    const char *name;
    Workload run;
};

inline std::vector<Family> &families() {
    static std::vector<Family> all;
    return all;
}

struct RegisterFamily {
    RegisterFamily(const char *name, Workload run) { families().push_back({name, std::move(run)}); }
};

#define SK_RELIABILITY_OPS(family)                                                               \
    static sktest::reliability::Outputs family##_workload(sk_context *ctx, int size);            \
    static sktest::reliability::RegisterFamily family##_registration(#family, family##_workload); \
    static sktest::reliability::Outputs family##_workload(sk_context *ctx, int size)

template <class T>
HostTensor<T> seeded(std::vector<int64_t> shape, std::mt19937_64 &rng, double lo = -3, double hi = 1) {
    HostTensor<T> t(std::move(shape));
    std::uniform_real_distribution<double> u(lo, hi);
    for (auto &x : t.storage) x = static_cast<T>(u(rng));
    return t;
}

}  // namespace sktest::reliability
