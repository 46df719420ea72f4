#include "fuzz_common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace skfuzz {

namespace {

using i128 = __int128;

// Extents the decoder substitutes for a plausible one.
int64_t huge_extent(FuzzedDataProvider &in) {
    static const int64_t values[] = {int64_t(1) << 31, (int64_t(1) << 32) + 1, int64_t(1) << 40,
                                     int64_t(1) << 62, std::numeric_limits<int64_t>::max(),
                                     std::numeric_limits<int32_t>::max(), 65536, 1 << 20};
    return values[in.ConsumeIntegralInRange<std::size_t>(0, std::size(values) - 1)];
}

int64_t odd_stride(FuzzedDataProvider &in) {
    static const int64_t values[] = {-1, -2, -7, std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<int64_t>::max(), int64_t(1) << 40,
                                     int64_t(1) << 61, 0, 1, 2, 3};
    return values[in.ConsumeIntegralInRange<std::size_t>(0, std::size(values) - 1)];
}

int clamped_rank(const sk_tensor &t) { return t.rank < 0 || t.rank > SK_MAX_RANK ? 0 : t.rank; }
bool valid_rank(const sk_tensor &t) { return t.rank >= 0 && t.rank <= SK_MAX_RANK; }

// Lowest and highest element offsets the descriptor addresses ([0, 0] when empty: the
// library must not read an empty tensor, but its data pointer still points at one element).
struct Span {
    i128 lo = 0, hi = 0;
    bool empty = false;
};
Span span_of(const sk_tensor &t) {
    Span s;
    const int rank = clamped_rank(t);
    for (int d = 0; d < rank; ++d)
        if (t.shape[d] <= 0) s.empty = true;
    if (s.empty) return s;
    for (int d = 0; d < rank; ++d) {
        // Clamped so that sums of eight terms times an element size stay far inside i128.
        const i128 bound = i128(1) << 100;
        const i128 term = std::max(-bound, std::min(bound, i128(t.shape[d] - 1) * t.strides[d]));
        (term < 0 ? s.lo : s.hi) += term;
    }
    return s;
}

uint64_t saturating_mul(uint64_t a, uint64_t b) {
    if (a == 0 || b == 0) return 0;
    if (a > std::numeric_limits<uint64_t>::max() / b) return std::numeric_limits<uint64_t>::max();
    return a * b;
}

// A context shared by every input of the process (creating one per input would dominate).
sk_context *shared_context() {
    static sk_context *ctx = [] {
        sk_context *c = nullptr;
        if (sk_context_create(SK_DEVICE_CPU, 0, &c) != SK_OK) {
            std::fprintf(stderr, "cannot create a CPU context: %s\n", sk_last_error());
            std::abort();
        }
        return c;
    }();
    return ctx;
}

template <class T>
T float_value(FuzzedDataProvider &in) {
    switch (in.ConsumeIntegralInRange<int>(0, 31)) {
        case 0: return std::numeric_limits<T>::quiet_NaN();
        case 1: return std::numeric_limits<T>::infinity();
        case 2: return -std::numeric_limits<T>::infinity();
        case 3: return T(-0.0);
        case 4: return std::numeric_limits<T>::denorm_min();
        case 5: return std::numeric_limits<T>::max();
        case 6: return std::numeric_limits<T>::lowest();
        case 7: return T(1e30);
        case 8: return T(-1e30);
        default: return T(in.ConsumeIntegralInRange<int>(-64, 64)) / T(8);
    }
}

template <class T>
T int_value(FuzzedDataProvider &in, int64_t lo, int64_t hi) {
    switch (in.ConsumeIntegralInRange<int>(0, 23)) {
        case 0: return std::numeric_limits<T>::min();
        case 1: return std::numeric_limits<T>::max();
        case 2: return T(-1);
        case 3: return static_cast<T>(lo - 1);
        case 4: return static_cast<T>(hi + 1);
        default: return static_cast<T>(in.ConsumeIntegralInRange<int64_t>(lo, std::max(lo, hi)));
    }
}

}  // namespace

std::size_t element_size(int32_t dtype) {
    switch (dtype) {
        case SK_DTYPE_FLOAT32:
        case SK_DTYPE_INT32: return 4;
        default: return 8;
    }
}

void violation(const char *function, const std::string &what) {
    std::fprintf(stderr, "\n==== CONTRACT VIOLATION in %s: %s\n", function, what.c_str());
    std::fflush(stderr);
    std::abort();
}

int32_t Fuzz::code(int32_t lo, int32_t hi) {
    if (!coin(20)) return in_.ConsumeIntegralInRange<int32_t>(lo, hi);
    static const int32_t invalid[] = {-1, std::numeric_limits<int32_t>::min(),
                                      std::numeric_limits<int32_t>::max(), 100};
    if (coin(2)) return hi + 1;
    return invalid[in_.ConsumeIntegralInRange<std::size_t>(0, std::size(invalid) - 1)];
}

sk_tensor *Fuzz::tensor(const TensorPlan &plan) {
    if (plan.optional ? coin(3) : coin(40)) return nullptr;
    sk_tensor t{};
    t.dtype = plan.dtype;
    if (coin(24)) t.dtype = coin(4) ? code(SK_DTYPE_FLOAT32, SK_DTYPE_INT64) : (coin(2) ? 0 : 5);
    t.device_type = SK_DEVICE_CPU;
    if (coin(32)) {
        switch (small(0, 3)) {
            case 0: t.device_type = SK_DEVICE_CUDA; break;
            case 1: t.device_index = static_cast<int32_t>(small(-1, 2)); break;
            case 2: t.device_type = static_cast<int32_t>(small(2, 3)); break;
            default: t.device_type = -1; break;
        }
    }

    // Shape: the plan's, maybe with another rank, maybe with odd extents.
    std::vector<int64_t> shape = plan.shape;
    if (coin(16)) shape.resize(static_cast<std::size_t>(small(0, SK_MAX_RANK)), 1);
    for (auto &e : shape) {
        if (!coin(12)) continue;
        switch (small(0, 5)) {
            case 0: e = 0; break;
            case 1: e += 1; break;
            case 2: e -= 1; break;
            case 3: e = huge_extent(in_); break;
            case 4: e = -small(1, 3); break;
            default: e = small(0, 9); break;
        }
    }
    t.rank = static_cast<int32_t>(shape.size());
    if (coin(64)) {
        static const int32_t bad[] = {-1, SK_MAX_RANK + 1, 100, std::numeric_limits<int32_t>::min()};
        t.rank = bad[in_.ConsumeIntegralInRange<std::size_t>(0, std::size(bad) - 1)];
    }
    for (std::size_t d = 0; d < shape.size() && d < SK_MAX_RANK; ++d) t.shape[d] = shape[d];

    // Strides: contiguous mostly; sometimes another layout.
    const int rank = static_cast<int>(std::min<std::size_t>(shape.size(), SK_MAX_RANK));
    std::vector<int> order(static_cast<std::size_t>(rank));  // innermost last
    for (int d = 0; d < rank; ++d) order[static_cast<std::size_t>(d)] = d;
    const int layout = static_cast<int>(small(0, 11));
    if (layout == 5) std::reverse(order.begin(), order.end());  // column-major
    if (layout == 6 && rank > 1) std::swap(order[0], order[static_cast<std::size_t>(small(1, rank - 1))]);
    const int64_t pad = layout == 7 ? small(1, 3) : 0;
    int64_t stride = 1;
    for (int i = rank - 1; i >= 0; --i) {
        const int d = order[static_cast<std::size_t>(i)];
        t.strides[d] = stride;
        const i128 next = i128(stride) * std::max<int64_t>(t.shape[d], 1) + pad;
        if (next < (i128(1) << 50)) stride = static_cast<int64_t>(next);  // else finish() broadcasts
    }
    if (rank > 0) {
        const int d = static_cast<int>(small(0, rank - 1));
        if (layout == 8) t.strides[d] = 0;                            // broadcast
        if (layout == 9) t.strides[d] = t.strides[(d + 1) % rank];    // overlapping dims
        if (layout == 10) t.strides[d] = odd_stride(in_);             // negative / huge
        if (layout == 11) t.strides[d] = -t.strides[d];               // reversed
    }
    return finish(t, plan);
}

sk_tensor *Fuzz::finish(sk_tensor &t, const TensorPlan &plan) {
    const std::size_t esize = element_size(t.dtype);
    // Shrink the span by broadcasting the widest dimensions until one tensor fits its cap.
    const std::size_t budget = std::min(kTensorBytesCap, kArenaBytesCap - std::min(kArenaBytesCap, arena_bytes_));
    for (;;) {
        const Span s = span_of(t);
        if ((s.hi - s.lo + 1) * i128(esize) <= i128(std::max<std::size_t>(budget, esize))) break;
        int widest = 0;
        i128 widest_term = -1;
        for (int d = 0; d < clamped_rank(t); ++d) {
            if (t.shape[d] <= 0) continue;
            i128 term = i128(t.shape[d] - 1) * t.strides[d];
            if (term < 0) term = -term;
            if (term > widest_term) widest_term = term, widest = d;
        }
        t.strides[widest] = 0;
    }
    const Span s = span_of(t);
    const std::size_t bytes = static_cast<std::size_t>((s.hi - s.lo + 1) * i128(esize));
    const std::size_t lead = static_cast<std::size_t>(-s.lo) * esize;  // before the data pointer

    // Data: own buffer, another tensor's buffer (aliasing), or NULL.
    Buffer *buffer = nullptr;
    std::size_t offset = 0;
    if (!buffers_.empty() && coin(6)) {
        Buffer &other = buffers_[in_.ConsumeIntegralInRange<std::size_t>(0, buffers_.size() - 1)];
        if (other.bytes.size() >= bytes) {
            const std::size_t slots = (other.bytes.size() - bytes) / esize;
            offset = in_.ConsumeIntegralInRange<std::size_t>(0, slots) * esize;
            buffer = &other;
        }
    }
    if (!buffer) {
        buffers_.emplace_back();
        buffer = &buffers_.back();
        buffer->bytes.resize(bytes);
        arena_bytes_ += bytes;
        fill(*buffer, t, plan, 0);
    }
    buffer->written = buffer->written || plan.output;
    t.data = buffer->bytes.data() + offset + lead;
    if (coin(48)) t.data = nullptr;
    descriptors_.push_back(t);
    outputs_.push_back(plan.output);
    return &descriptors_.back();
}

void Fuzz::fill(Buffer &buffer, const sk_tensor &t, const TensorPlan &plan, std::size_t offset_bytes) {
    const std::size_t esize = element_size(t.dtype);
    const std::size_t count = (buffer.bytes.size() - offset_bytes) / esize;
    unsigned char *base = buffer.bytes.data() + offset_bytes;
    const int64_t lo = plan.lo, hi = plan.hi;
    for (std::size_t i = 0; i < count; ++i) {
        unsigned char *p = base + i * esize;
        switch (t.dtype) {
            case SK_DTYPE_FLOAT32: { float v = float_value<float>(in_); std::memcpy(p, &v, 4); break; }
            case SK_DTYPE_FLOAT64: { double v = float_value<double>(in_); std::memcpy(p, &v, 8); break; }
            case SK_DTYPE_INT32: { int32_t v = int_value<int32_t>(in_, lo, hi); std::memcpy(p, &v, 4); break; }
            case SK_DTYPE_INT64: { int64_t v = int_value<int64_t>(in_, lo, hi); std::memcpy(p, &v, 8); break; }
            default: std::memset(p, 0x5A, esize); break;
        }
    }
}

bool Fuzz::affordable() const {
    // A call whose descriptors carry something every entry point must reject before any work
    // (the API validates everything before computing) is always cheap to make, unless an
    // integer tensor (lengths, labels, argmax) claims so many elements that validating it is
    // expensive: the library reads those on the host (CTC copies them, one int64 per element),
    // and under ASan a failing operator new aborts instead of throwing std::bad_alloc.
    // Likewise any tensor claiming more than 2^26 elements: validation may size host tables by
    // its extents (CTC's per-sequence plan, B entries), legitimately, and such allocations are
    // libFuzzer "out-of-memory" reports. 
    for (const sk_tensor &t : descriptors_) {
        if (!valid_rank(t)) continue;
        const bool integer = t.dtype == SK_DTYPE_INT32 || t.dtype == SK_DTYPE_INT64;
        uint64_t count = 1;
        // (Zero extents count as 1 here: the library may size tables by the other extents of an
        // empty tensor too, e.g. CTC's plan by B when T = 0.)
        for (int d = 0; d < t.rank; ++d) count = saturating_mul(count, static_cast<uint64_t>(std::max<int64_t>(t.shape[d], 1)));
        if (count > (integer ? kWorkCap : (uint64_t(1) << 26))) return false;
    }
    uint64_t largest_count = 0, largest_extent = 1;
    for (std::size_t i = 0; i < descriptors_.size(); ++i) {
        const sk_tensor &t = descriptors_[i];
        if (!valid_rank(t) || t.dtype < SK_DTYPE_FLOAT32 || t.dtype > SK_DTYPE_INT64 ||
            t.device_type != SK_DEVICE_CPU || t.device_index != 0)
            return true;
        uint64_t count = 1;
        bool broadcast_dim = false;
        for (int d = 0; d < t.rank; ++d) {
            if (t.shape[d] < 0 || t.strides[d] < 0) return true;
            count = saturating_mul(count, static_cast<uint64_t>(t.shape[d]));
            largest_extent = std::max<uint64_t>(largest_extent, static_cast<uint64_t>(t.shape[d]));
            broadcast_dim = broadcast_dim || (t.shape[d] > 1 && t.strides[d] == 0);
        }
        if (outputs_[i] && broadcast_dim && count > 1) return true;  // self-overlapping output
        largest_count = std::max(largest_count, count);
    }
    return saturating_mul(largest_count, largest_extent) <= kWorkCap;
}

sk_context *Fuzz::context() {
    sk_context *ctx = shared_context();
    if (coin(16)) sk_context_set_num_threads(ctx, static_cast<int32_t>(small(1, 3)));
    sk_context_set_workspace_limit(ctx, coin(8) ? small(1, 1 << 16) : 0);
    if (coin(64)) return nullptr;
    return ctx;
}

namespace {
const char kSentinel[] = "sk_context_set_num_threads: argument 'ctx' is NULL";
}

void Fuzz::before() {
    for (auto &b : buffers_) b.snapshot = b.bytes;
    // Leave a known message behind, so that after() can tell a fresh message from a stale one.
    sk_context_set_num_threads(nullptr, 0);
    if (std::strcmp(sk_last_error(), kSentinel) != 0)
        violation("sk_context_set_num_threads", std::string("unexpected message '") + sk_last_error() + "'");
}

void Fuzz::after(const char *function, sk_context *ctx, sk_status status) {
    if (status < SK_OK || status > SK_ERROR_INTERNAL)
        violation(function, "unknown status code " + std::to_string(status));
    if (status == SK_ERROR_INTERNAL)
        violation(function, std::string("SK_ERROR_INTERNAL: ") + sk_last_error());
    if (status != SK_OK) {
        const std::string message = sk_last_error();
        // (The sentinel is a legitimate message of sk_context_set_num_threads itself.)
        const bool stale = message == kSentinel && std::strcmp(function, "sk_context_set_num_threads") != 0;
        if (message.empty() || stale)
            violation(function, "failed with " + std::string(sk_status_name(status)) +
                                    " but left no message of its own");
        if (message.rfind(function, 0) != 0)
            violation(function, "message does not name the function: '" + message + "'");
        if (ctx && message != sk_context_last_error(ctx))
            violation(function, "context message '" + std::string(sk_context_last_error(ctx)) +
                                    "' differs from the thread's '" + message + "'");
    }
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
        const Buffer &b = buffers_[i];
        if ((status != SK_OK || !b.written) && b.bytes != b.snapshot)
            violation(function, std::string(status == SK_OK ? "a buffer no output points into"
                                                            : "a failing call") +
                                    " changed memory (buffer " + std::to_string(i) + "); message: " +
                                    sk_last_error());
    }
}

}  // namespace skfuzz
