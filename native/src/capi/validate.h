// Argument validation shared by every entry point. Each check names the argument and states
// what was expected and what was given; all checks run before any output is written.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "core/common.h"
#include "core/context.h"
#include "core/error.h"
#include "core/tensor.h"
#include "semiring_kernels.h"

namespace sk::capi {

std::string shape_string(const sk_tensor &t);
index_t element_count(const sk_tensor &t);

// Non-null descriptor with a sane rank, non-negative extents and strides, a known dtype and
// device, non-null data unless empty, and an element span that fits in 64-bit byte offsets.
const sk_tensor &require_tensor(const sk_tensor *t, const char *name);
void require_rank(const sk_tensor &t, const char *name, int rank_lo, int rank_hi);
void require_dtype(const sk_tensor &t, const char *name, DType dtype);
DType require_float_dtype(const sk_tensor &t, const char *name);
// The tensor lives on the context's device (and, where the CUDA driver can tell, its pointer
// really is memory of that kind).
void require_on_context_device(const sk_tensor &t, const char *name, const sk_context &ctx);
// No two index tuples of an output address the same element (no zero or interleaved strides).
void require_no_self_overlap(const sk_tensor &t, const char *name);
// The byte ranges touched by an output and an input do not intersect.
void require_disjoint(const sk_tensor &out, const char *out_name, const sk_tensor &in,
                      const char *in_name);
sk_context &require_context(sk_context *ctx);
// An options struct's leading struct_size must cover the `needed` bytes this ABI reads
// (struct_name and current_size only word the message).
void require_options_size(int64_t struct_size, std::size_t needed, const char *struct_name,
                          std::size_t current_size);
// Same rank and extents as `like`.
void require_same_shape(const sk_tensor &t, const char *name, const sk_tensor &like,
                        const char *like_name);
// A validated output: on the context's device, not overlapping itself or any of the inputs
// (null entries are skipped).
using NamedInputs = std::vector<std::pair<const sk_tensor *, const char *>>;
void require_output(const sk_tensor &out, const char *name, const sk_context &ctx,
                    const NamedInputs &inputs);
template <class T>
T *require_out_pointer(T *p, const char *name) {
    if (!p) fail(SK_ERROR_NULL_POINTER, "argument '%s' is NULL", name);
    return p;
}

// A rank-2 or rank-3 tensor as a View3 (rank 2: batch stride 0; extent 1: stride 0).
template <class T>
View3<T> as_view3(const sk_tensor &t) {
    if (t.rank == 2) return View3<T>{static_cast<T *>(t.data), 0, t.strides[0], t.strides[1]};
    return View3<T>{static_cast<T *>(t.data), t.shape[0] == 1 ? 0 : t.strides[0], t.strides[1],
                    t.strides[2]};
}

}  // namespace sk::capi
