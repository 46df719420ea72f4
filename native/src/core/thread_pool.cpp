#include "core/thread_pool.h"

#include <algorithm>

namespace sk {

int default_thread_count() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
    workers_.reserve(static_cast<std::size_t>(num_threads_ - 1));
    for (int t = 1; t < num_threads_; ++t) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto &worker : workers_) worker.join();
}

void ThreadPool::worker_loop() {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && next_chunk_ < num_chunks_); });
        if (stopping_) return;
        seen = generation_;
        run_chunks(lock);
    }
}

// Takes chunks until none is left; called with the lock held, returns with it held.
void ThreadPool::run_chunks(std::unique_lock<std::mutex> &lock) {
    while (next_chunk_ < num_chunks_) {
        const std::int64_t chunk = next_chunk_++;
        const auto *job = job_;
        const std::int64_t begin = chunk * job_chunk_;
        const std::int64_t end = std::min(job_n_, begin + job_chunk_);
        lock.unlock();
        std::exception_ptr thrown;
        try {
            (*job)(begin, end);
        } catch (...) {
            thrown = std::current_exception();
        }
        lock.lock();
        if (thrown && !error_) error_ = thrown;
        if (++chunks_done_ == num_chunks_) done_.notify_all();
    }
}

void ThreadPool::parallel_for(std::int64_t n, std::int64_t grain,
                              const std::function<void(std::int64_t, std::int64_t)> &body) {
    if (n <= 0) return;
    grain = std::max<std::int64_t>(1, grain);
    const std::int64_t max_chunks = (n + grain - 1) / grain;
    // A few chunks per thread balance uneven work without much scheduling overhead.
    const std::int64_t chunks = std::min<std::int64_t>(max_chunks, std::int64_t(num_threads_) * 4);
    if (num_threads_ == 1 || chunks <= 1) {
        body(0, n);
        return;
    }
    const std::int64_t chunk = (n + chunks - 1) / chunks;
    std::unique_lock<std::mutex> lock(mutex_);
    job_ = &body;
    job_n_ = n;
    job_chunk_ = chunk;
    next_chunk_ = 0;
    num_chunks_ = (n + chunk - 1) / chunk;
    chunks_done_ = 0;
    error_ = nullptr;
    ++generation_;
    wake_.notify_all();
    run_chunks(lock);  // the caller works too
    done_.wait(lock, [&] { return chunks_done_ == num_chunks_; });
    job_ = nullptr;
    num_chunks_ = 0;
    std::exception_ptr error = error_;
    error_ = nullptr;
    lock.unlock();
    if (error) std::rethrow_exception(error);
}

}  // namespace sk
