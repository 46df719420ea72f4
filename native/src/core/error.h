// Errors inside the library are C++ exceptions carrying an sk_status; the C API layer turns
// them into a status code plus a message (see capi/capi_guard.h). Nothing else throws across
// the boundary.
#pragma once

#include <cstdarg>
#include <stdexcept>
#include <string>

#include "semiring_kernels.h"

namespace sk {

class Error : public std::runtime_error {
public:
    Error(sk_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    sk_status status() const noexcept { return status_; }

private:
    sk_status status_;
};

// printf-style message formatting.
std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void fail(sk_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

}  // namespace sk

// Throws an sk::Error with a formatted message when the condition is false.
#define SK_REQUIRE(cond, status, ...)                 \
    do {                                              \
        if (!(cond)) ::sk::fail((status), __VA_ARGS__); \
    } while (0)
