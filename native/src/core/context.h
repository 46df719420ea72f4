// The context behind the opaque sk_context handle: one device, one CUDA stream, a workspace
// and a CPU thread pool created on first use. Used by one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "core/common.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "semiring_kernels.h"

struct sk_context {
    sk_context(sk::DeviceType type, int device_index);
    ~sk_context();
    sk_context(const sk_context &) = delete;
    sk_context &operator=(const sk_context &) = delete;

    sk::DeviceType device_type() const { return device_type_; }
    int device_index() const { return device_index_; }
    bool is_cuda() const { return device_type_ == sk::DeviceType::Cuda; }
    // The CUDA stream (cudaStream_t) of the context; nullptr for CPU contexts.
    void *stream() const { return stream_; }
    // Makes this context's device current on the calling thread (CUDA only).
    void activate() const;

    sk::ThreadPool &pool();
    void set_num_threads(int n);
    int num_threads() const;

    sk::Workspace &workspace() { return *workspace_; }
    const sk::Workspace &workspace() const { return *workspace_; }

    std::string last_error;

private:
    sk::DeviceType device_type_;
    int device_index_;
    void *stream_ = nullptr;
    std::unique_ptr<sk::Workspace> workspace_;
    int requested_threads_ = 0;
    std::unique_ptr<sk::ThreadPool> pool_;
};
