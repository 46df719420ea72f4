#include "core/context.h"

#include "core/device.h"

sk_context::sk_context(sk::DeviceType type, int device_index)
    : device_type_(type), device_index_(device_index) {
    if (type == sk::DeviceType::Cuda) {
        sk::device::require_cuda_device(device_index, "device_index");
        stream_ = sk::device::stream_create(device_index);
    }
    workspace_ = std::make_unique<sk::Workspace>(type, device_index, stream_);
}

sk_context::~sk_context() {
    if (is_cuda()) {
        try {
            activate();
            sk::device::stream_synchronize(stream_);
        } catch (...) {
            // A failed device cannot be waited for; the resources are released regardless.
        }
    }
    workspace_.reset();
    pool_.reset();
    sk::device::stream_destroy(stream_);
}

void sk_context::activate() const {
    if (is_cuda()) sk::device::set_current(device_index_);
}

sk::ThreadPool &sk_context::pool() {
    if (!pool_)
        pool_ = std::make_unique<sk::ThreadPool>(
            requested_threads_ > 0 ? requested_threads_ : sk::default_thread_count());
    return *pool_;
}

void sk_context::set_num_threads(int n) {
    if (n == requested_threads_) return;
    requested_threads_ = n;
    pool_.reset();
}

int sk_context::num_threads() const {
    return requested_threads_ > 0 ? requested_threads_ : sk::default_thread_count();
}
