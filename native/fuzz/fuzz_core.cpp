// libFuzzer harness of the core entry points: versions, status names, errors, devices,
// contexts (create/destroy/threads/workspace/synchronize) and memory (sk_malloc, sk_free,
// sk_memcpy), as a fuzzed sequence of calls over a few contexts and allocations.
//
// Never done here because the C API cannot detect it (it trusts the caller like any C API):
// freeing a pointer twice or one sk_malloc did not return, copying more bytes than either buffer
// holds, using a destroyed context. Allocation sizes are either small (<= 1 MiB) or impossible
// (>= 2^62 bytes: must fail with SK_ERROR_OUT_OF_MEMORY), since a large possible allocation
// would only measure the machine.
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "fuzz_common.h"

using skfuzz::Fuzz;

namespace {

struct Allocation {
    sk_context *ctx;
    void *ptr;
    int64_t bytes;
};

struct State {
    std::vector<sk_context *> contexts;
    std::vector<Allocation> allocations;
    sk_context *pick(Fuzz &f) {
        if (contexts.empty() || f.coin(16)) return nullptr;
        return contexts[f.in().ConsumeIntegralInRange<std::size_t>(0, contexts.size() - 1)];
    }
};

// Checks a status-returning core call: known code, not internal, a fresh message on failure.
void check(Fuzz &f, const char *function, sk_context *ctx, sk_status status) {
    f.after(function, ctx, status);
}

int32_t device_type(Fuzz &f) { return f.code(SK_DEVICE_CPU, SK_DEVICE_CUDA); }

void step(Fuzz &f, State &s) {
    switch (f.small(0, 15)) {
        case 0: {
            sk_context *ctx = nullptr;
            const int32_t type = f.coin(4) ? device_type(f) : SK_DEVICE_CPU;
            const int32_t index = f.coin(4) ? f.code(0, 1) : 0;
            f.before();
            const sk_status st = sk_context_create(type, index, f.coin(32) ? nullptr : &ctx);
            check(f, "sk_context_create", nullptr, st);
            if (st == SK_OK) {
                if (!ctx) skfuzz::violation("sk_context_create", "SK_OK without a context");
                s.contexts.push_back(ctx);
            }
            break;
        }
        case 1: {
            if (s.contexts.empty()) break;
            const std::size_t i = f.in().ConsumeIntegralInRange<std::size_t>(0, s.contexts.size() - 1);
            sk_context *ctx = s.contexts[i];
            // Its allocations go first (freeing them after the context would be a caller bug).
            for (std::size_t a = s.allocations.size(); a-- > 0;)
                if (s.allocations[a].ctx == ctx) {
                    f.before();
                    check(f, "sk_free", ctx, sk_free(ctx, s.allocations[a].ptr));
                    s.allocations.erase(s.allocations.begin() + static_cast<std::ptrdiff_t>(a));
                }
            f.before();
            check(f, "sk_context_destroy", nullptr, sk_context_destroy(ctx));
            s.contexts.erase(s.contexts.begin() + static_cast<std::ptrdiff_t>(i));
            break;
        }
        case 2: {
            sk_context *ctx = s.pick(f);
            int32_t n = f.coin(4) ? f.in().ConsumeIntegral<int32_t>() : static_cast<int32_t>(f.small(0, 3));
            if (n > 8) n = f.coin(2) ? n : 4097;  // accepted values above 8 would spawn that many threads
            f.before();
            check(f, "sk_context_set_num_threads", ctx, sk_context_set_num_threads(ctx, n));
            int32_t got = 0;
            f.before();
            check(f, "sk_context_num_threads", nullptr, sk_context_num_threads(ctx, f.coin(16) ? nullptr : &got));
            break;
        }
        case 3: {
            sk_context *ctx = s.pick(f);
            const int64_t bytes = f.coin(2) ? f.small(-2, 1 << 20) : f.in().ConsumeIntegral<int64_t>();
            f.before();
            check(f, "sk_context_set_workspace_limit", ctx, sk_context_set_workspace_limit(ctx, bytes));
            break;
        }
        case 4: {
            sk_context *ctx = s.pick(f);
            int64_t held = -1;
            f.before();
            check(f, "sk_context_workspace_bytes", nullptr,
                  sk_context_workspace_bytes(ctx, f.coin(16) ? nullptr : &held));
            f.before();
            check(f, "sk_context_release_workspace", ctx, sk_context_release_workspace(ctx));
            f.before();
            check(f, "sk_context_synchronize", ctx, sk_context_synchronize(ctx));
            break;
        }
        case 5: {
            sk_context *ctx = s.pick(f);
            int32_t type = -1, index = -1;
            f.before();
            check(f, "sk_context_device", nullptr,
                  sk_context_device(ctx, f.coin(16) ? nullptr : &type, f.coin(16) ? nullptr : &index));
            break;
        }
        case 6:
        case 7: {
            sk_context *ctx = s.pick(f);
            int64_t bytes = f.small(-3, 1 << 20);
            if (f.coin(8)) bytes = f.coin(2) ? std::numeric_limits<int64_t>::max() : (int64_t(1) << 62) + f.small(0, 255);
            void *ptr = nullptr;
            f.before();
            const sk_status st = sk_malloc(ctx, bytes, f.coin(32) ? nullptr : &ptr);
            check(f, "sk_malloc", ctx, st);
            if (bytes >= (int64_t(1) << 62) && st == SK_OK)
                skfuzz::violation("sk_malloc", "an allocation of 2^62 bytes or more succeeded");
            if (st == SK_OK && ptr) {
                std::memset(ptr, 0xA5, static_cast<std::size_t>(bytes));  // the memory is usable
                s.allocations.push_back({ctx, ptr, bytes});
            }
            break;
        }
        case 8: {
            if (s.allocations.empty()) {
                f.before();
                check(f, "sk_free", nullptr, sk_free(s.pick(f), nullptr));
                break;
            }
            const std::size_t i = f.in().ConsumeIntegralInRange<std::size_t>(0, s.allocations.size() - 1);
            f.before();
            check(f, "sk_free", s.allocations[i].ctx, sk_free(s.allocations[i].ctx, s.allocations[i].ptr));
            s.allocations.erase(s.allocations.begin() + static_cast<std::ptrdiff_t>(i));
            break;
        }
        case 9: {
            // Copies between two allocations, within both (NULLs, device codes and negative
            // sizes fuzzed).
            if (s.allocations.empty()) break;
            const Allocation &dst = s.allocations[f.in().ConsumeIntegralInRange<std::size_t>(0, s.allocations.size() - 1)];
            const Allocation &src = s.allocations[f.in().ConsumeIntegralInRange<std::size_t>(0, s.allocations.size() - 1)];
            int64_t bytes = f.small(0, std::min(dst.bytes, src.bytes));
            if (dst.ptr == src.ptr) bytes = 0;  // overlapping copies are undefined, as for memcpy
            if (f.coin(16)) bytes = -f.small(1, 1 << 20);
            sk_context *ctx = f.coin(8) ? s.pick(f) : dst.ctx;
            f.before();
            check(f, "sk_memcpy", ctx,
                  sk_memcpy(ctx, f.coin(32) ? nullptr : dst.ptr, f.coin(8) ? device_type(f) : SK_DEVICE_CPU,
                            f.coin(32) ? nullptr : src.ptr, f.coin(8) ? device_type(f) : SK_DEVICE_CPU, bytes));
            break;
        }
        case 10: {
            char buffer[64];
            std::memset(buffer, 0x7F, sizeof buffer);
            const int64_t capacity = f.coin(4) ? f.small(-5, 0) : f.small(1, sizeof buffer);
            const int64_t length = sk_last_error_copy(f.coin(16) ? nullptr : buffer, capacity);
            if (length != static_cast<int64_t>(std::strlen(sk_last_error())))
                skfuzz::violation("sk_last_error_copy", "length differs from sk_last_error()");
            if (capacity > 0 && std::memchr(buffer, 0, static_cast<std::size_t>(capacity)) == nullptr &&
                buffer[0] != 0x7F)
                skfuzz::violation("sk_last_error_copy", "no terminating NUL within the capacity");
            break;
        }
        case 11: {
            const char *name = sk_status_name(f.in().ConsumeIntegral<int32_t>());
            if (!name || !*name) skfuzz::violation("sk_status_name", "empty name");
            break;
        }
        case 12: {
            sk_device_info info{};
            f.before();
            check(f, "sk_cuda_device_info", nullptr,
                  sk_cuda_device_info(f.code(0, 1), f.coin(16) ? nullptr : &info));
            int32_t count = -1;
            f.before();
            check(f, "sk_cuda_device_count", nullptr, sk_cuda_device_count(f.coin(16) ? nullptr : &count));
            if (!sk_cuda_unavailable_reason()) skfuzz::violation("sk_cuda_unavailable_reason", "NULL");
            break;
        }
        case 13: {
            const char *v = sk_version_string();
            if (!v || sk_abi_version() != SK_ABI_VERSION || sk_version_major() != SK_VERSION_MAJOR)
                skfuzz::violation("sk_version_string", "version mismatch");
            if (sk_cuda_compiled() != 0 && sk_cuda_compiled() != 1)
                skfuzz::violation("sk_cuda_compiled", "not 0 or 1");
            break;
        }
        default: {
            sk_context *ctx = s.pick(f);
            const char *message = sk_context_last_error(ctx);
            if (!message) skfuzz::violation("sk_context_last_error", "NULL");
            break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    Fuzz f(data, size);
    State s;
    for (int i = 0; i < 48 && f.in().remaining_bytes() > 0; ++i) step(f, s);
    for (const auto &a : s.allocations) sk_free(a.ctx, a.ptr);
    for (sk_context *ctx : s.contexts) sk_context_destroy(ctx);
    return 0;
}
