#include "core/device.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.h"

#ifdef SK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sk::device {

namespace {

std::size_t round_up(std::size_t bytes, std::size_t alignment) {
    return (bytes + alignment - 1) / alignment * alignment;
}

#ifdef SK_HAVE_CUDA
[[noreturn]] void fail_cuda(cudaError_t code, const char *what) {
    fail(code == cudaErrorMemoryAllocation ? SK_ERROR_OUT_OF_MEMORY : SK_ERROR_CUDA,
         "%s failed: %s (%s)", what, cudaGetErrorString(code), cudaGetErrorName(code));
}
void check(cudaError_t code, const char *what) {
    if (code != cudaSuccess) {
        (void)cudaGetLastError();  // clear the sticky-free error state
        fail_cuda(code, what);
    }
}

struct Probe {
    int count = 0;
    std::string reason;
};

const Probe &probe() {
    static Probe result = [] {
        Probe p;
        cudaError_t code = cudaGetDeviceCount(&p.count);
        if (code != cudaSuccess) {
            (void)cudaGetLastError();
            p.count = 0;
            p.reason = std::string("CUDA runtime reports no usable device: ") +
                       cudaGetErrorString(code);
        } else if (p.count == 0) {
            p.reason = "no CUDA device is visible";
        }
        return p;
    }();
    return result;
}
#endif

}  // namespace

bool cuda_compiled() {
#ifdef SK_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

int cuda_device_count() {
#ifdef SK_HAVE_CUDA
    return probe().count;
#else
    return 0;
#endif
}

const std::string &cuda_unavailable_reason() {
#ifdef SK_HAVE_CUDA
    return probe().reason;
#else
    static const std::string reason = "the library was built without CUDA (SK_WITH_CUDA=OFF)";
    return reason;
#endif
}

void require_cuda_device(int device_index, const char *argument) {
    const int count = cuda_device_count();
    if (count == 0)
        fail(SK_ERROR_DEVICE, "%s: CUDA device %d requested but CUDA is unavailable: %s", argument,
             device_index, cuda_unavailable_reason().c_str());
    if (device_index < 0 || device_index >= count)
        fail(SK_ERROR_DEVICE, "%s: CUDA device index %d is out of range [0, %d)", argument,
             device_index, count);
}

void cuda_device_info(int device_index, sk_device_info *info) {
    require_cuda_device(device_index, "device_index");
#ifdef SK_HAVE_CUDA
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, device_index), "cudaGetDeviceProperties");
    std::memset(info, 0, sizeof(*info));
    const std::size_t name_length = strnlen(prop.name, sizeof(prop.name));
    std::memcpy(info->name, prop.name, std::min<std::size_t>(name_length, SK_DEVICE_NAME_CAPACITY - 1));
    info->compute_capability_major = prop.major;
    info->compute_capability_minor = prop.minor;
    info->multiprocessor_count = prop.multiProcessorCount;
    info->total_memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
#else
    (void)info;
#endif
}

void set_current(int device_index) {
#ifdef SK_HAVE_CUDA
    check(cudaSetDevice(device_index), "cudaSetDevice");
#else
    (void)device_index;
#endif
}

void *stream_create(int device_index) {
#ifdef SK_HAVE_CUDA
    set_current(device_index);
    cudaStream_t stream = nullptr;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    return stream;
#else
    require_cuda_device(device_index, "device_index");
    return nullptr;
#endif
}

void stream_destroy(void *stream) {
#ifdef SK_HAVE_CUDA
    if (stream) (void)cudaStreamDestroy(static_cast<cudaStream_t>(stream));
#else
    (void)stream;
#endif
}

void stream_synchronize(void *stream) {
#ifdef SK_HAVE_CUDA
    if (stream) check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
#else
    (void)stream;
#endif
}

void *allocate(DeviceType type, int device_index, std::size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (type == DeviceType::Cpu) {
        void *ptr = std::aligned_alloc(256, round_up(bytes, 256));
        if (!ptr) fail(SK_ERROR_OUT_OF_MEMORY, "host allocation of %zu bytes failed", bytes);
        return ptr;
    }
#ifdef SK_HAVE_CUDA
    set_current(device_index);
    void *ptr = nullptr;
    check(cudaMalloc(&ptr, bytes), "cudaMalloc");
    return ptr;
#else
    require_cuda_device(device_index, "device");
    return nullptr;
#endif
}

void release(DeviceType type, int device_index, void *ptr) {
    if (!ptr) return;
    if (type == DeviceType::Cpu) {
        std::free(ptr);
        return;
    }
#ifdef SK_HAVE_CUDA
    set_current(device_index);
    check(cudaFree(ptr), "cudaFree");
#else
    (void)device_index;
#endif
}

void *allocate_async(DeviceType type, int device_index, std::size_t bytes, void *stream) {
    if (type == DeviceType::Cpu) return allocate(type, device_index, bytes);
#ifdef SK_HAVE_CUDA
    set_current(device_index);
    void *ptr = nullptr;
    check(cudaMallocAsync(&ptr, bytes == 0 ? 1 : bytes, static_cast<cudaStream_t>(stream)),
          "cudaMallocAsync (workspace)");
    return ptr;
#else
    (void)stream;
    return allocate(type, device_index, bytes);
#endif
}

void release_async(DeviceType type, int device_index, void *ptr, void *stream) {
    if (!ptr) return;
    if (type == DeviceType::Cpu) return release(type, device_index, ptr);
#ifdef SK_HAVE_CUDA
    set_current(device_index);
    check(cudaFreeAsync(ptr, static_cast<cudaStream_t>(stream)), "cudaFreeAsync (workspace)");
#else
    (void)stream;
    (void)device_index;
#endif
}

void copy(void *dst, DeviceType dst_type, const void *src, DeviceType src_type, std::size_t bytes,
          int device_index, void *stream) {
    if (bytes == 0) return;
    if (dst_type == DeviceType::Cpu && src_type == DeviceType::Cpu) {
        std::memmove(dst, src, bytes);
        return;
    }
#ifdef SK_HAVE_CUDA
    set_current(device_index);
    auto s = static_cast<cudaStream_t>(stream);
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize after copy");
#else
    (void)device_index;
    (void)stream;
    fail(SK_ERROR_DEVICE, "a copy involving CUDA memory needs CUDA: %s",
         cuda_unavailable_reason().c_str());
#endif
}

bool pointer_device(const void *ptr, int *device_index) {
#ifdef SK_HAVE_CUDA
    if (cuda_device_count() == 0) return false;
    cudaPointerAttributes attributes;
    cudaError_t code = cudaPointerGetAttributes(&attributes, ptr);
    if (code != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    if (attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged) {
        *device_index = attributes.device;
        return true;
    }
    return false;
#else
    (void)ptr;
    (void)device_index;
    return false;
#endif
}

}  // namespace sk::device
