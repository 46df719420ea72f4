// Shared basics for every translation unit of the library, host or device.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define SK_HD __host__ __device__ __forceinline__
#define SK_DEVICE_CODE 1
#else
#define SK_HD inline
#endif

namespace sk {

using index_t = std::int64_t;

enum class DeviceType : std::int32_t { Cpu = 0, Cuda = 1 };
enum class DType : std::int32_t { Float32 = 1, Float64 = 2, Int32 = 3, Int64 = 4 };
enum class Semiring : std::int32_t { Log = 0, Max = 1, Real = 2, Min = 3, Boolean = 4 };

const char *dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);
const char *semiring_name(Semiring semiring);
const char *device_type_name(DeviceType device);

}  // namespace sk
