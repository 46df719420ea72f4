// A small fixed-size CPU thread pool owned by a context. parallel_for splits [0, n) into
// contiguous chunks; the calling thread takes part, so a pool of one thread runs inline.
// Chunking is a pure function of (n, grain, thread count), so any work whose per-index result
// does not depend on the chunking is deterministic. Not re-entrant: a body must not call
// parallel_for on the same pool (kernels parallelise one loop level and run the rest inline).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sk {

class ThreadPool {
public:
    explicit ThreadPool(int num_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int num_threads() const { return num_threads_; }

    // Runs body(begin, end) over disjoint chunks covering [0, n), each at least `grain` long
    // (except the last). Rethrows the first exception a chunk threw, after all chunks end.
    void parallel_for(std::int64_t n, std::int64_t grain,
                      const std::function<void(std::int64_t, std::int64_t)> &body);

private:
    void worker_loop();
    void run_chunks(std::unique_lock<std::mutex> &lock);

    int num_threads_;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    const std::function<void(std::int64_t, std::int64_t)> *job_ = nullptr;
    std::int64_t job_n_ = 0;
    std::int64_t job_chunk_ = 0;
    std::int64_t next_chunk_ = 0;
    std::int64_t num_chunks_ = 0;
    std::int64_t chunks_done_ = 0;
    std::uint64_t generation_ = 0;
    std::exception_ptr error_;
    bool stopping_ = false;
};

// Hardware concurrency, at least 1.
int default_thread_count();

}  // namespace sk
