#include "core/error.h"

#include <cstdio>
#include <vector>

#include "core/common.h"

namespace sk {

static std::string vformat(const char *fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int length = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (length < 0) return fmt;
    std::vector<char> buffer(static_cast<std::size_t>(length) + 1);
    std::vsnprintf(buffer.data(), buffer.size(), fmt, args);
    return std::string(buffer.data(), static_cast<std::size_t>(length));
}

std::string format(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::string text = vformat(fmt, args);
    va_end(args);
    return text;
}

void fail(sk_status status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::string text = vformat(fmt, args);
    va_end(args);
    throw Error(status, text);
}

const char *dtype_name(DType dtype) {
    switch (dtype) {
        case DType::Float32: return "float32";
        case DType::Float64: return "float64";
        case DType::Int32: return "int32";
        case DType::Int64: return "int64";
    }
    return "unknown dtype";
}

std::size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::Float32: return 4;
        case DType::Float64: return 8;
        case DType::Int32: return 4;
        case DType::Int64: return 8;
    }
    return 0;
}

const char *semiring_name(Semiring semiring) {
    switch (semiring) {
        case Semiring::Log: return "log";
        case Semiring::Max: return "max";
        case Semiring::Real: return "real";
        case Semiring::Min: return "min";
        case Semiring::Boolean: return "boolean";
    }
    return "unknown semiring";
}

const char *device_type_name(DeviceType device) {
    switch (device) {
        case DeviceType::Cpu: return "cpu";
        case DeviceType::Cuda: return "cuda";
    }
    return "unknown device";
}

}  // namespace sk
