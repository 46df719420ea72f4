// Checks for CUDA runtime calls and kernel launches in the CUDA backends. A failure throws
// sk::Error (SK_ERROR_CUDA, or SK_ERROR_OUT_OF_MEMORY for an allocation failure) whose message
// names the call, the CUDA error and the source line; the C API turns it into a status code.
//
//   SK_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream));
//   kernel<<<grid, block, smem, stream>>>(...);
//   SK_CUDA_CHECK_LAUNCH("matmul: gemm kernel");
//
// A launch check catches configuration errors (bad grid, too much shared memory) right away;
// faults inside a kernel surface at the next checked call on the stream.
#pragma once

#include <cuda_runtime_api.h>

#include "core/error.h"

namespace sk {

inline void cuda_check(cudaError_t code, const char *what, const char *file, int line) {
    if (code == cudaSuccess) return;
    (void)cudaGetLastError();  // clears the error unless it is sticky (then the context is lost)
    fail(code == cudaErrorMemoryAllocation ? SK_ERROR_OUT_OF_MEMORY : SK_ERROR_CUDA,
         "%s failed: %s (%s) at %s:%d", what, cudaGetErrorString(code), cudaGetErrorName(code),
         file, line);
}

}  // namespace sk

#define SK_CUDA_CHECK(call) ::sk::cuda_check((call), #call, __FILE__, __LINE__)
#define SK_CUDA_CHECK_LAUNCH(what) ::sk::cuda_check(cudaGetLastError(), (what), __FILE__, __LINE__)
