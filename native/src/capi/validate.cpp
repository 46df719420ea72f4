#include "capi/validate.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/device.h"
#include "core/error.h"

namespace sk::capi {

std::string shape_string(const sk_tensor &t) {
    std::string s = "[";
    for (int d = 0; d < t.rank; ++d) {
        if (d) s += ", ";
        s += std::to_string(t.shape[d]);
    }
    return s + "]";
}

index_t element_count(const sk_tensor &t) {
    // An empty tensor counts 0 before anything is multiplied: its other extents need not have a
    // product that fits (require_tensor bounds the count of non-empty tensors only).
    for (int d = 0; d < t.rank; ++d)
        if (t.shape[d] == 0) return 0;
    index_t n = 1;
    for (int d = 0; d < t.rank; ++d) n *= t.shape[d];
    return n;
}

static bool known_dtype(int32_t dtype) { return dtype >= SK_DTYPE_FLOAT32 && dtype <= SK_DTYPE_INT64; }

const sk_tensor &require_tensor(const sk_tensor *t, const char *name) {
    if (!t) fail(SK_ERROR_NULL_POINTER, "tensor argument '%s' is NULL", name);
    if (t->rank < 0 || t->rank > SK_MAX_RANK)
        fail(SK_ERROR_SHAPE, "argument '%s': rank %d is outside [0, %d]", name, t->rank, SK_MAX_RANK);
    if (!known_dtype(t->dtype))
        fail(SK_ERROR_DTYPE, "argument '%s': unknown dtype code %d", name, t->dtype);
    if (t->device_type != SK_DEVICE_CPU && t->device_type != SK_DEVICE_CUDA)
        fail(SK_ERROR_DEVICE, "argument '%s': unknown device type %d", name, t->device_type);
    if (t->device_index < 0 || (t->device_type == SK_DEVICE_CPU && t->device_index != 0))
        fail(SK_ERROR_DEVICE, "argument '%s': invalid device index %d for device type %s", name,
             t->device_index, t->device_type == SK_DEVICE_CPU ? "cpu" : "cuda");
    // Largest element offset must fit: sum (extent-1)*stride, each term checked for overflow.
    const index_t limit = std::numeric_limits<index_t>::max() / 8;
    index_t span = 0;
    bool empty = false;
    for (int d = 0; d < t->rank; ++d) {
        if (t->shape[d] < 0)
            fail(SK_ERROR_SHAPE, "argument '%s': negative extent %lld in dimension %d (shape %s)",
                 name, static_cast<long long>(t->shape[d]), d, shape_string(*t).c_str());
        if (t->strides[d] < 0)
            fail(SK_ERROR_SHAPE, "argument '%s': negative stride %lld in dimension %d", name,
                 static_cast<long long>(t->strides[d]), d);
        if (t->shape[d] == 0) empty = true;
    }
    if (!empty) {
        for (int d = 0; d < t->rank; ++d) {
            const index_t extent = t->shape[d] - 1;
            if (t->strides[d] != 0 && extent > (limit - span) / t->strides[d])
                fail(SK_ERROR_SHAPE, "argument '%s': shape %s with its strides spans more than "
                     "2^60 bytes", name, shape_string(*t).c_str());
            span += extent * t->strides[d];
        }
        // The element count must fit as well (broadcast strides of 0 keep the span small while
        // the extents' product may not fit in 64 bits; element_count relies on this).
        index_t count = 1;
        for (int d = 0; d < t->rank; ++d) {
            if (t->shape[d] > limit / count)
                fail(SK_ERROR_SHAPE, "argument '%s': shape %s has more than 2^60 elements", name,
                     shape_string(*t).c_str());
            count *= t->shape[d];
        }
        if (!t->data) fail(SK_ERROR_NULL_POINTER, "argument '%s': data pointer is NULL", name);
    }
    return *t;
}

void require_rank(const sk_tensor &t, const char *name, int rank_lo, int rank_hi) {
    if (t.rank < rank_lo || t.rank > rank_hi) {
        if (rank_lo == rank_hi)
            fail(SK_ERROR_SHAPE, "argument '%s': expected rank %d, got rank %d (shape %s)", name,
                 rank_lo, t.rank, shape_string(t).c_str());
        fail(SK_ERROR_SHAPE, "argument '%s': expected rank %d to %d, got rank %d (shape %s)", name,
             rank_lo, rank_hi, t.rank, shape_string(t).c_str());
    }
}

void require_dtype(const sk_tensor &t, const char *name, DType dtype) {
    if (t.dtype != static_cast<int32_t>(dtype))
        fail(SK_ERROR_DTYPE, "argument '%s': expected dtype %s, got %s", name, dtype_name(dtype),
             dtype_name(static_cast<DType>(t.dtype)));
}

DType require_float_dtype(const sk_tensor &t, const char *name) {
    if (t.dtype != SK_DTYPE_FLOAT32 && t.dtype != SK_DTYPE_FLOAT64)
        fail(SK_ERROR_DTYPE, "argument '%s': expected float32 or float64, got %s", name,
             dtype_name(static_cast<DType>(t.dtype)));
    return static_cast<DType>(t.dtype);
}

void require_on_context_device(const sk_tensor &t, const char *name, const sk_context &ctx) {
    const auto type = static_cast<DeviceType>(t.device_type);
    if (type != ctx.device_type() || t.device_index != ctx.device_index())
        fail(SK_ERROR_DEVICE, "argument '%s': tensor is on %s:%d but the context is on %s:%d",
             name, device_type_name(type), t.device_index, device_type_name(ctx.device_type()),
             ctx.device_index());
    // For CUDA tensors, ask the driver whether the pointer really is device memory of that
    // device. (CPU tensors are not probed: that would create a CUDA context in CPU-only users.)
    if (type != DeviceType::Cuda || element_count(t) == 0) return;
    int pointer_device = -1;
    if (!device::pointer_device(t.data, &pointer_device))
        fail(SK_ERROR_DEVICE, "argument '%s': descriptor says cuda:%d but the data pointer is not "
             "CUDA device memory", name, t.device_index);
    if (pointer_device != t.device_index)
        fail(SK_ERROR_DEVICE, "argument '%s': descriptor says cuda:%d but the memory belongs to "
             "cuda:%d", name, t.device_index, pointer_device);
}

void require_no_self_overlap(const sk_tensor &t, const char *name) {
    if (element_count(t) <= 1) return;
    // Sorted by stride, each dimension must step past everything the smaller ones span.
    std::vector<int> dims;
    for (int d = 0; d < t.rank; ++d)
        if (t.shape[d] > 1) dims.push_back(d);
    std::sort(dims.begin(), dims.end(), [&](int x, int y) { return t.strides[x] < t.strides[y]; });
    index_t covered = 0;  // largest offset reachable with the smaller-stride dimensions, plus 1
    for (int d : dims) {
        if (t.strides[d] < (covered == 0 ? 1 : covered))
            fail(SK_ERROR_SHAPE, "output argument '%s': strides make elements overlap (shape %s, "
                 "stride %lld in dimension %d)", name, shape_string(t).c_str(),
                 static_cast<long long>(t.strides[d]), d);
        covered = (covered == 0 ? 1 : covered) + (t.shape[d] - 1) * t.strides[d];
    }
}

namespace {
struct ByteRange {
    std::uintptr_t begin = 0, end = 0;  // [begin, end)
};
ByteRange byte_range(const sk_tensor &t) {
    if (element_count(t) == 0) return {};
    index_t span = 0;
    for (int d = 0; d < t.rank; ++d) span += (t.shape[d] - 1) * t.strides[d];
    const auto size = dtype_size(static_cast<DType>(t.dtype));
    const auto begin = reinterpret_cast<std::uintptr_t>(t.data);
    return {begin, begin + static_cast<std::uintptr_t>(span + 1) * size};
}
}  // namespace

void require_disjoint(const sk_tensor &out, const char *out_name, const sk_tensor &in,
                      const char *in_name) {
    const ByteRange a = byte_range(out), b = byte_range(in);
    if (a.begin == a.end || b.begin == b.end) return;
    if (a.begin < b.end && b.begin < a.end)
        fail(SK_ERROR_INVALID_ARGUMENT, "output argument '%s' overlaps the memory of argument '%s'",
             out_name, in_name);
}

void require_options_size(int64_t struct_size, std::size_t needed, const char *struct_name,
                          std::size_t current_size) {
    if (struct_size < static_cast<int64_t>(needed))
        fail(SK_ERROR_INVALID_ARGUMENT,
             "argument 'options': struct_size %lld is smaller than this ABI's %s (%zu)",
             static_cast<long long>(struct_size), struct_name, current_size);
}

sk_context &require_context(sk_context *ctx) {
    if (!ctx) fail(SK_ERROR_NULL_POINTER, "argument 'ctx' is NULL");
    return *ctx;
}

void require_same_shape(const sk_tensor &t, const char *name, const sk_tensor &like,
                        const char *like_name) {
    bool same = t.rank == like.rank;
    for (int d = 0; same && d < t.rank; ++d) same = t.shape[d] == like.shape[d];
    if (!same)
        fail(SK_ERROR_SHAPE, "argument '%s': expected the shape of '%s' %s, got %s", name, like_name,
             shape_string(like).c_str(), shape_string(t).c_str());
}

void require_output(const sk_tensor &out, const char *name, const sk_context &ctx,
                    const NamedInputs &inputs) {
    require_on_context_device(out, name, ctx);
    require_no_self_overlap(out, name);
    for (const auto &[in, in_name] : inputs)
        if (in) require_disjoint(out, name, *in, in_name);
}

}  // namespace sk::capi
