// Helpers for the CPU-vs-CUDA tests (test_*_cuda*.cpp): device detection with the skip rule
// (exit 77 without a device unless SK_REQUIRE_CUDA=1), and host tensors mirrored on the device
// through the public C API (sk_malloc / sk_memcpy).
#pragma once

#include <cstdlib>
#include <cstring>

#include "test_util.h"

namespace sktest {

inline bool cuda_present() {
    int32_t count = 0;
    return sk_cuda_device_count(&count) == SK_OK && count > 0;
}

// True when a device is visible; otherwise marks the binary skipped, or failed when
// SK_REQUIRE_CUDA=1 (the GPU script sets it).
inline bool require_device_or_skip() {
    if (cuda_present()) return true;
    const char *required = std::getenv("SK_REQUIRE_CUDA");
    if (required && std::strcmp(required, "1") == 0)
        CHECK_MSG(false, "SK_REQUIRE_CUDA=1 but no CUDA device: " << sk_cuda_unavailable_reason());
    else
        skip(std::string("no CUDA device: ") + sk_cuda_unavailable_reason());
    return false;
}

// A host tensor mirrored on the device: the same shape and strides over a copy of the whole
// storage. download() returns the storage; host() a HostTensor view of it.
template <class T>
struct DeviceMirror {
    sk_context *ctx = nullptr;
    sk_tensor desc{};
    void *ptr = nullptr;
    size_t bytes = 0;
    DeviceMirror(sk_context *c, const HostTensor<T> &host) : ctx(c), desc(host.desc) {
        bytes = host.storage.size() * sizeof(T);
        CHECK_OK(sk_malloc(ctx, static_cast<int64_t>(bytes), &ptr));
        CHECK_OK(sk_memcpy(ctx, ptr, SK_DEVICE_CUDA, host.storage.data(), SK_DEVICE_CPU, static_cast<int64_t>(bytes)));
        desc.data = ptr;
        desc.device_type = SK_DEVICE_CUDA;
        desc.device_index = 0;
    }
    ~DeviceMirror() { sk_free(ctx, ptr); }
    DeviceMirror(const DeviceMirror &) = delete;
    DeviceMirror &operator=(const DeviceMirror &) = delete;
    std::vector<T> download() const {
        std::vector<T> out(bytes / sizeof(T));
        CHECK_OK(sk_memcpy(ctx, out.data(), SK_DEVICE_CPU, ptr, SK_DEVICE_CUDA, static_cast<int64_t>(bytes)));
        return out;
    }
    HostTensor<T> host() const {
        HostTensor<T> t;
        t.storage = download();
        t.desc = desc;
        t.desc.data = t.storage.data();
        t.desc.device_type = SK_DEVICE_CPU;
        return t;
    }
    sk_tensor *d() { return &desc; }
};

}  // namespace sktest
