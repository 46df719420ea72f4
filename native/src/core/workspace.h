// A caching scratch allocator owned by a context. Ops take leases (RAII) in stack order; the
// memory of released leases is kept for the next op. On CUDA the chunks are stream-ordered
// allocations on the context's stream, so reusing a chunk for the next kernel is safe without
// synchronisation. A limit (bytes, 0 = none) bounds the total held.
#pragma once

#include <cstddef>
#include <vector>

#include "core/common.h"

namespace sk {

class Workspace {
public:
    Workspace(DeviceType type, int device_index, void *stream);
    ~Workspace();
    Workspace(const Workspace &) = delete;
    Workspace &operator=(const Workspace &) = delete;

    class Lease {
    public:
        Lease() = default;
        Lease(Lease &&other) noexcept;
        Lease &operator=(Lease &&other) noexcept;
        ~Lease();
        void *get() const { return ptr_; }
        template <class T>
        T *as() const { return static_cast<T *>(ptr_); }

    private:
        friend class Workspace;
        Lease(Workspace *owner, void *ptr, std::size_t offset_before)
            : owner_(owner), ptr_(ptr), offset_before_(offset_before) {}
        Workspace *owner_ = nullptr;
        void *ptr_ = nullptr;
        std::size_t offset_before_ = 0;
    };

    // Scratch of at least `bytes` bytes, 256-byte aligned, valid until the lease is destroyed.
    // `purpose` names the buffer in the out-of-memory message.
    Lease acquire(std::size_t bytes, const char *purpose);

    void set_limit(std::size_t bytes) { limit_ = bytes; }
    std::size_t limit() const { return limit_; }
    std::size_t held_bytes() const;
    // Frees every cached chunk; fails if a lease is outstanding.
    void release_cache();

private:
    struct Chunk {
        void *ptr;
        std::size_t size;
    };
    void release(std::size_t offset_before);
    void free_chunks();

    DeviceType type_;
    int device_index_;
    void *stream_;
    std::size_t limit_ = 0;
    std::vector<Chunk> chunks_;  // leases live in the last chunk; older chunks wait for coalescing
    std::size_t offset_ = 0;     // bump offset within the last chunk
    int outstanding_ = 0;
};

}  // namespace sk
