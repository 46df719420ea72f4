#include "core/workspace.h"

#include <algorithm>

#include "core/device.h"
#include "core/error.h"

namespace sk {

namespace {
constexpr std::size_t kAlignment = 256;
std::size_t align_up(std::size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }
}  // namespace

Workspace::Workspace(DeviceType type, int device_index, void *stream)
    : type_(type), device_index_(device_index), stream_(stream) {}

Workspace::~Workspace() {
    try {
        free_chunks();
    } catch (...) {
        // Destructors cannot report; the context is going away with its stream.
    }
}

Workspace::Lease::Lease(Lease &&other) noexcept
    : owner_(other.owner_), ptr_(other.ptr_), offset_before_(other.offset_before_) {
    other.owner_ = nullptr;
    other.ptr_ = nullptr;
}

Workspace::Lease &Workspace::Lease::operator=(Lease &&other) noexcept {
    if (this != &other) {
        if (owner_) owner_->release(offset_before_);
        owner_ = other.owner_;
        ptr_ = other.ptr_;
        offset_before_ = other.offset_before_;
        other.owner_ = nullptr;
        other.ptr_ = nullptr;
    }
    return *this;
}

Workspace::Lease::~Lease() {
    if (owner_) owner_->release(offset_before_);
}

std::size_t Workspace::held_bytes() const {
    std::size_t total = 0;
    for (const auto &chunk : chunks_) total += chunk.size;
    return total;
}

void Workspace::free_chunks() {
    for (auto &chunk : chunks_) device::release_async(type_, device_index_, chunk.ptr, stream_);
    chunks_.clear();
    offset_ = 0;
}

void Workspace::release_cache() {
    SK_REQUIRE(outstanding_ == 0, SK_ERROR_INTERNAL,
               "workspace released while %d leases are outstanding", outstanding_);
    free_chunks();
}

Workspace::Lease Workspace::acquire(std::size_t bytes, const char *purpose) {
    const std::size_t need = align_up(std::max<std::size_t>(bytes, 1));
    // With nothing outstanding, several chunks are merged into one large enough for all.
    if (outstanding_ == 0 && chunks_.size() > 1) {
        const std::size_t total = held_bytes();
        free_chunks();
        chunks_.push_back({device::allocate_async(type_, device_index_, total, stream_), total});
    }
    if (outstanding_ == 0) offset_ = 0;
    if (chunks_.empty() || chunks_.back().size - offset_ < need) {
        const std::size_t held = held_bytes();
        std::size_t size = std::max(need, chunks_.empty() ? need : chunks_.back().size * 2);
        if (limit_ != 0 && held + size > limit_) size = need;
        if (limit_ != 0 && held + size > limit_)
            fail(SK_ERROR_OUT_OF_MEMORY,
                 "workspace limit exceeded: %s needs %zu bytes, %zu are held and the limit is %zu "
                 "(raise it with sk_context_set_workspace_limit)",
                 purpose, need, held, limit_);
        chunks_.push_back({device::allocate_async(type_, device_index_, size, stream_), size});
        offset_ = 0;
    }
    Chunk &chunk = chunks_.back();
    const std::size_t before = offset_;
    void *ptr = static_cast<char *>(chunk.ptr) + offset_;
    offset_ += need;
    ++outstanding_;
    return Lease(this, ptr, before);
}

void Workspace::release(std::size_t offset_before) {
    --outstanding_;
    offset_ = offset_before;
}

}  // namespace sk
