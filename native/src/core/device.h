// The library's only contact with the CUDA runtime outside kernels. Without CUDA compiled in,
// every query answers "no device" and every device allocation fails with SK_ERROR_DEVICE.
#pragma once

#include <cstddef>
#include <string>

#include "core/common.h"
#include "semiring_kernels.h"

namespace sk::device {

bool cuda_compiled();
// Number of devices, 0 when CUDA is not compiled in or the driver is absent or broken.
int cuda_device_count();
// Empty when CUDA is usable, otherwise why not.
const std::string &cuda_unavailable_reason();
void cuda_device_info(int device_index, sk_device_info *info);

// Throws SK_ERROR_DEVICE unless device_index names a visible CUDA device.
void require_cuda_device(int device_index, const char *argument);
void set_current(int device_index);

void *stream_create(int device_index);
void stream_destroy(void *stream);
void stream_synchronize(void *stream);

// Host allocations are 256-byte aligned; CUDA allocations come from cudaMalloc.
void *allocate(DeviceType type, int device_index, std::size_t bytes);
void release(DeviceType type, int device_index, void *ptr);
// Stream-ordered allocation for workspaces (cudaMallocAsync on the stream).
void *allocate_async(DeviceType type, int device_index, std::size_t bytes, void *stream);
void release_async(DeviceType type, int device_index, void *ptr, void *stream);

// Copies bytes in any direction on the stream and waits for completion.
void copy(void *dst, DeviceType dst_type, const void *src, DeviceType src_type, std::size_t bytes,
          int device_index, void *stream);

// Which device a pointer belongs to as far as the CUDA driver knows: returns true and the
// ordinal for device (or managed) memory, false for host memory or without CUDA.
bool pointer_device(const void *ptr, int *device_index);

}  // namespace sk::device
