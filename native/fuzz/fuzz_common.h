// Shared machinery of the libFuzzer harnesses (one fuzz_FAMILY.cpp per family, see
// native/fuzz/README.md): a decoder that turns fuzz bytes into sk_tensor descriptors backed by
// memory the harness owns, and a checker of the C API's contract around every call.
//
// The decoder starts from the shapes a family proposes (TensorPlan: a plausible call) and then,
// driven by the fuzz bytes, perturbs them: NULL descriptors, ranks 0..8 and invalid ranks,
// extents 0 / off by one / huge / negative, strides contiguous / permuted / padded / broadcast /
// overlapping / negative / huge, dtype and device codes valid and invalid, NULL data, data
// pointers inside another tensor's buffer (aliasing), element values NaN / +-inf / -0 /
// denormal, integer values (lengths, labels) in and out of their range.
//
// What the harness never does: hand the library a descriptor whose data pointer covers less
// memory than the descriptor claims. The C API trusts sizes like any C API; such a call would be
// the caller's bug, not the library's. Every buffer is sized from the final shape and strides
// (negative strides included); when that span would exceed the memory cap, the strides of the
// largest dimensions are set to 0 (a broadcast) until it fits. So any sanitizer report is a real
// library bug.
//
// The contract checked around every call (Checker::after):
//   - the status is a known code and never SK_ERROR_INTERNAL (that is a bug by definition);
//   - a failing call leaves a non-empty sk_last_error() that names the function, equal to
//     sk_context_last_error(ctx) when a context was given, and writes no byte of any buffer;
//   - a successful call writes no buffer that no output descriptor points into;
//   - any crash or sanitizer report (ASan, UBSan, LSan) aborts the run (libFuzzer records it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "semiring_kernels.h"

namespace skfuzz {

// Caps that keep every input fast and small: bytes of all buffers of one input, and the
// work estimate (largest element count times largest extent) above which a call is skipped
// because a *valid* call of that size could legitimately run for minutes.
constexpr std::size_t kArenaBytesCap = std::size_t(1) << 20;
constexpr std::size_t kTensorBytesCap = std::size_t(1) << 18;
constexpr uint64_t kWorkCap = uint64_t(1) << 22;

// What a family proposes for one argument before the fuzz bytes perturb it.
struct TensorPlan {
    const char *name;            // for diagnostics
    int32_t dtype;               // sk_dtype
    std::vector<int64_t> shape;  // row-major plausible shape
    bool output = false;         // written by the call (the checker tracks its buffer)
    bool optional = false;       // NULL is a valid value (it is then chosen more often)
    // Integer tensors: the plausible value range [lo, hi] (lengths, labels); the decoder also
    // emits values just outside it and extremes.
    int64_t lo = 0, hi = 0;
};

// One owned buffer. Descriptors point into it; `written` says whether an output does.
struct Buffer {
    std::vector<unsigned char> bytes;  // the memory (heap: ASan sees overruns past its end)
    std::vector<unsigned char> snapshot;
    bool written = false;
};

class Fuzz {
public:
    Fuzz(const uint8_t *data, std::size_t size) : in_(data, size) {}

    FuzzedDataProvider &in() { return in_; }
    bool coin(unsigned one_in) { return in_.ConsumeIntegralInRange<unsigned>(0, one_in - 1) == 0; }
    int64_t small(int64_t lo, int64_t hi) { return in_.ConsumeIntegralInRange<int64_t>(lo, hi); }

    // A descriptor for the plan, perturbed by the fuzz bytes; NULL sometimes.
    sk_tensor *tensor(const TensorPlan &plan);
    // An options struct of the given type: its fields are filled by the caller from the
    // returned pointer; struct_size is valid, too small, too large, or garbage, and the memory
    // behind it is exactly max(8, min(struct_size, sizeof(T))) bytes so that reading past what
    // struct_size declares is an ASan report. NULL sometimes.
    template <class T>
    T *options() {
        if (coin(48)) return nullptr;
        int64_t size = static_cast<int64_t>(sizeof(T));
        switch (small(0, 15)) {
            case 0: size = 0; break;
            case 1: size = small(1, static_cast<int64_t>(sizeof(T)) - 1); break;
            case 2: size = static_cast<int64_t>(sizeof(T)) + small(1, 64); break;
            case 3: size = in_.ConsumeIntegral<int64_t>(); break;
            default: break;
        }
        const std::size_t bytes = size < 8                                  ? 8
                                  : static_cast<uint64_t>(size) < sizeof(T) ? static_cast<std::size_t>(size)
                                                                            : sizeof(T);
        auto storage = std::make_unique<unsigned char[]>(bytes);
        // Fields past the declared size hold garbage; the library must not read them.
        for (std::size_t i = 8; i < bytes; ++i) storage[i] = in_.ConsumeIntegral<unsigned char>();
        *reinterpret_cast<int64_t *>(storage.get()) = size;
        options_.push_back(std::move(storage));
        // Within the allocation: fields the caller may set (it checks offsets with field()).
        allocated_options_bytes_ = bytes;
        return reinterpret_cast<T *>(options_.back().get());
    }
    // Whether the last options() allocation covers the field at [offset, offset + 4).
    bool field(std::size_t offset) const { return offset + 4 <= allocated_options_bytes_; }
    // An enum-like value: mostly one of the valid codes [lo, hi], sometimes an invalid one.
    int32_t code(int32_t lo, int32_t hi);

    // Whether the call these descriptors make is cheap enough to run (see kWorkCap).
    bool affordable() const;

    // The context: one CPU context per process, NULL sometimes, thread count and workspace limit
    // varied by the fuzz bytes.
    sk_context *context();

    // Snapshots every buffer before the call; after() checks the contract around it.
    void before();
    void after(const char *function, sk_context *ctx, sk_status status);

private:
    void fill(Buffer &buffer, const sk_tensor &t, const TensorPlan &plan, std::size_t offset_bytes);
    sk_tensor *finish(sk_tensor &t, const TensorPlan &plan);

    FuzzedDataProvider in_;
    std::deque<Buffer> buffers_;
    std::deque<sk_tensor> descriptors_;
    std::vector<bool> outputs_;  // per descriptor: whether the plan is an output
    std::vector<std::unique_ptr<unsigned char[]>> options_;
    std::size_t allocated_options_bytes_ = 0;
    std::size_t arena_bytes_ = 0;
};

// Makes one call through `body` (returning its sk_status) when affordable, with the contract
// checked around it.
template <class F>
void call(Fuzz &f, const char *function, sk_context *ctx, F &&body) {
    if (!f.affordable()) return;
    f.before();
    const sk_status status = body();
    f.after(function, ctx, status);
}

// Aborts (libFuzzer reports it as a crash) with a message when a property does not hold.
[[noreturn]] void violation(const char *function, const std::string &what);

// The element size the harness assumes for a dtype code (8 for unknown codes: the largest).
std::size_t element_size(int32_t dtype);

}  // namespace skfuzz
