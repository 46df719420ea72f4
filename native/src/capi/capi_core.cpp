// extern "C" entry points for versions, errors, devices, contexts and memory.
#include <cstring>
#include <string>

#include "capi/capi_guard.h"
#include "capi/validate.h"
#include "core/device.h"
#include "semiring_kernels.h"

#ifndef SK_VERSION_STRING
#define SK_VERSION_STRING "0.0.0"
#endif

namespace sk::capi {

namespace {
thread_local std::string thread_error;
}

void record_error(sk_context *ctx, const std::string &message) {
    try {
        thread_error = message;
        if (ctx) ctx->last_error = message;
    } catch (...) {
        // Out of memory while storing the message: the status code still reports the failure.
    }
}

}  // namespace sk::capi

using sk::capi::guarded;
using sk::capi::require_context;
using sk::capi::require_out_pointer;

extern "C" {

SK_API const char *sk_version_string(void) { return SK_VERSION_STRING; }
SK_API int32_t sk_version_major(void) { return SK_VERSION_MAJOR; }
SK_API int32_t sk_version_minor(void) { return SK_VERSION_MINOR; }
SK_API int32_t sk_version_patch(void) { return SK_VERSION_PATCH; }
SK_API int32_t sk_abi_version(void) { return SK_ABI_VERSION; }
SK_API int32_t sk_cuda_compiled(void) { return sk::device::cuda_compiled() ? 1 : 0; }

SK_API const char *sk_status_name(int32_t status) {
    switch (status) {
        case SK_OK: return "SK_OK";
        case SK_ERROR_INVALID_ARGUMENT: return "SK_ERROR_INVALID_ARGUMENT";
        case SK_ERROR_NULL_POINTER: return "SK_ERROR_NULL_POINTER";
        case SK_ERROR_SHAPE: return "SK_ERROR_SHAPE";
        case SK_ERROR_DTYPE: return "SK_ERROR_DTYPE";
        case SK_ERROR_DEVICE: return "SK_ERROR_DEVICE";
        case SK_ERROR_UNSUPPORTED: return "SK_ERROR_UNSUPPORTED";
        case SK_ERROR_OUT_OF_MEMORY: return "SK_ERROR_OUT_OF_MEMORY";
        case SK_ERROR_CUDA: return "SK_ERROR_CUDA";
        case SK_ERROR_INTERNAL: return "SK_ERROR_INTERNAL";
        default: return "SK_UNKNOWN_STATUS";
    }
}

SK_API const char *sk_last_error(void) { return sk::capi::thread_error.c_str(); }

SK_API const char *sk_context_last_error(const sk_context *ctx) {
    return ctx ? ctx->last_error.c_str() : "";
}

SK_API int64_t sk_last_error_copy(char *buf, int64_t capacity) {
    const std::string &message = sk::capi::thread_error;
    if (buf && capacity > 0) {
        const auto n = std::min<std::size_t>(message.size(), static_cast<std::size_t>(capacity - 1));
        std::memcpy(buf, message.data(), n);
        buf[n] = '\0';
    }
    return static_cast<int64_t>(message.size());
}

SK_API sk_status sk_cuda_device_count(int32_t *count) {
    return guarded(nullptr, "sk_cuda_device_count", [&] {
        *require_out_pointer(count, "count") = sk::device::cuda_device_count();
    });
}

SK_API const char *sk_cuda_unavailable_reason(void) {
    return sk::device::cuda_unavailable_reason().c_str();
}

SK_API sk_status sk_cuda_device_info(int32_t device_index, sk_device_info *info) {
    return guarded(nullptr, "sk_cuda_device_info", [&] {
        require_out_pointer(info, "info");
        sk_device_info result;
        sk::device::cuda_device_info(device_index, &result);
        *info = result;
    });
}

SK_API sk_status sk_context_create(int32_t device_type, int32_t device_index, sk_context **out) {
    return guarded(nullptr, "sk_context_create", [&] {
        require_out_pointer(out, "out");
        if (device_type != SK_DEVICE_CPU && device_type != SK_DEVICE_CUDA)
            sk::fail(SK_ERROR_DEVICE, "argument 'device_type': unknown device type %d", device_type);
        if (device_type == SK_DEVICE_CPU && device_index != 0)
            sk::fail(SK_ERROR_DEVICE, "argument 'device_index': must be 0 for the CPU, got %d",
                     device_index);
        *out = new sk_context(static_cast<sk::DeviceType>(device_type), device_index);
    });
}

SK_API sk_status sk_context_destroy(sk_context *ctx) {
    return guarded(nullptr, "sk_context_destroy", [&] { delete ctx; });
}

SK_API sk_status sk_context_device(const sk_context *ctx, int32_t *device_type,
                                   int32_t *device_index) {
    return guarded(nullptr, "sk_context_device", [&] {
        if (!ctx) sk::fail(SK_ERROR_NULL_POINTER, "argument 'ctx' is NULL");
        *require_out_pointer(device_type, "device_type") = static_cast<int32_t>(ctx->device_type());
        *require_out_pointer(device_index, "device_index") = ctx->device_index();
    });
}

SK_API sk_status sk_context_set_num_threads(sk_context *ctx, int32_t num_threads) {
    return guarded(ctx, "sk_context_set_num_threads", [&] {
        auto &c = require_context(ctx);
        if (num_threads < 0 || num_threads > 4096)
            sk::fail(SK_ERROR_INVALID_ARGUMENT,
                     "argument 'num_threads': %d is outside [0, 4096] (0 = hardware concurrency)",
                     num_threads);
        c.set_num_threads(num_threads);
    });
}

SK_API sk_status sk_context_num_threads(const sk_context *ctx, int32_t *num_threads) {
    return guarded(nullptr, "sk_context_num_threads", [&] {
        if (!ctx) sk::fail(SK_ERROR_NULL_POINTER, "argument 'ctx' is NULL");
        *require_out_pointer(num_threads, "num_threads") = ctx->num_threads();
    });
}

SK_API sk_status sk_context_set_workspace_limit(sk_context *ctx, int64_t bytes) {
    return guarded(ctx, "sk_context_set_workspace_limit", [&] {
        auto &c = require_context(ctx);
        if (bytes < 0)
            sk::fail(SK_ERROR_INVALID_ARGUMENT, "argument 'bytes': %lld is negative (0 = no limit)",
                     static_cast<long long>(bytes));
        c.workspace().set_limit(static_cast<std::size_t>(bytes));
    });
}

SK_API sk_status sk_context_workspace_bytes(const sk_context *ctx, int64_t *bytes) {
    return guarded(nullptr, "sk_context_workspace_bytes", [&] {
        if (!ctx) sk::fail(SK_ERROR_NULL_POINTER, "argument 'ctx' is NULL");
        *require_out_pointer(bytes, "bytes") = static_cast<int64_t>(ctx->workspace().held_bytes());
    });
}

SK_API sk_status sk_context_release_workspace(sk_context *ctx) {
    return guarded(ctx, "sk_context_release_workspace", [&] {
        auto &c = require_context(ctx);
        c.activate();
        c.workspace().release_cache();
    });
}

SK_API sk_status sk_context_synchronize(sk_context *ctx) {
    return guarded(ctx, "sk_context_synchronize", [&] {
        auto &c = require_context(ctx);
        c.activate();
        sk::device::stream_synchronize(c.stream());
    });
}

SK_API sk_status sk_malloc(sk_context *ctx, int64_t bytes, void **out) {
    return guarded(ctx, "sk_malloc", [&] {
        auto &c = require_context(ctx);
        require_out_pointer(out, "out");
        if (bytes < 0)
            sk::fail(SK_ERROR_INVALID_ARGUMENT, "argument 'bytes': %lld is negative",
                     static_cast<long long>(bytes));
        *out = sk::device::allocate(c.device_type(), c.device_index(), static_cast<std::size_t>(bytes));
    });
}

SK_API sk_status sk_free(sk_context *ctx, void *ptr) {
    return guarded(ctx, "sk_free", [&] {
        auto &c = require_context(ctx);
        if (c.is_cuda()) sk::device::stream_synchronize(c.stream());
        sk::device::release(c.device_type(), c.device_index(), ptr);
    });
}

SK_API sk_status sk_memcpy(sk_context *ctx, void *dst, int32_t dst_device_type, const void *src,
                           int32_t src_device_type, int64_t bytes) {
    return guarded(ctx, "sk_memcpy", [&] {
        auto &c = require_context(ctx);
        if (bytes < 0)
            sk::fail(SK_ERROR_INVALID_ARGUMENT, "argument 'bytes': %lld is negative",
                     static_cast<long long>(bytes));
        for (auto [type, name] : {std::pair{dst_device_type, "dst_device_type"},
                                  std::pair{src_device_type, "src_device_type"}}) {
            if (type != SK_DEVICE_CPU && type != SK_DEVICE_CUDA)
                sk::fail(SK_ERROR_DEVICE, "argument '%s': unknown device type %d", name, type);
            if (type == SK_DEVICE_CUDA && !c.is_cuda())
                sk::fail(SK_ERROR_DEVICE, "argument '%s': CUDA memory needs a CUDA context (this "
                         "context is on the cpu)", name);
        }
        if (bytes == 0) return;
        if (!dst) sk::fail(SK_ERROR_NULL_POINTER, "argument 'dst' is NULL");
        if (!src) sk::fail(SK_ERROR_NULL_POINTER, "argument 'src' is NULL");
        sk::device::copy(dst, static_cast<sk::DeviceType>(dst_device_type), src,
                         static_cast<sk::DeviceType>(src_device_type), static_cast<std::size_t>(bytes),
                         c.device_index(), c.stream());
    });
}

}  // extern "C"
