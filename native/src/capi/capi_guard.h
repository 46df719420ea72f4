// The boundary: every extern "C" function body runs inside guarded(), which converts C++
// exceptions into an sk_status and records the message on the context (if any) and on the
// calling thread. Nothing propagates across the C ABI.
#pragma once

#include <new>
#include <string>

#include "core/context.h"
#include "core/error.h"

// Calls into a CUDA backend. A build without CUDA cannot create a CUDA context, so the branch
// is unreachable there, but it still says what is missing instead of failing to link.
#ifdef SK_HAVE_CUDA
#define SK_CUDA_BACKEND(call) call
#else
#define SK_CUDA_BACKEND(call) \
    ::sk::fail(SK_ERROR_DEVICE, "this library was built without CUDA (SK_WITH_CUDA=OFF)")
#endif

namespace sk::capi {

void record_error(sk_context *ctx, const std::string &message);

template <class F>
sk_status guarded(sk_context *ctx, const char *function, F &&body) noexcept {
    try {
        body();
        return SK_OK;
    } catch (const Error &e) {
        record_error(ctx, std::string(function) + ": " + e.what());
        return e.status();
    } catch (const std::bad_alloc &) {
        record_error(ctx, std::string(function) + ": out of host memory");
        return SK_ERROR_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        record_error(ctx, std::string(function) + ": internal error: " + e.what());
        return SK_ERROR_INTERNAL;
    } catch (...) {
        record_error(ctx, std::string(function) + ": internal error: unknown exception");
        return SK_ERROR_INTERNAL;
    }
}

}  // namespace sk::capi
