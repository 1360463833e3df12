#pragma once

// A persistent set of worker threads for short parallel regions (one generated token runs about
// ten of them per layer: starting and joining threads for each would cost more than the work).
// Workers spin briefly after a region, then sleep on a futex (std::atomic::wait), so a burst of
// regions is dispatched without system calls and an idle pool costs nothing.

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace QuantFit {

/// Runs one parallel region at a time on up to `threadCount()` threads: the calling thread and
/// threadCount() - 1 workers started by the constructor and joined by the destructor.
/// A region is a loop over shared work (typically chunks taken from an atomic counter): the
/// caller runs fn(0), and workers that are ready join with fn(1) .. fn(n - 1) while fn(0) runs.
/// The caller then waits only for the workers that joined, so a worker the OS has not scheduled
/// (a busy machine) never holds the region up: fn must finish all the work by itself if nobody
/// joins. Thread-safe: a region started while another runs (from another thread, or nested
/// inside a region) is refused by tryRun(), so callers can fall back to other means.
class ThreadPool {
public:
    /// Starts nThreads - 1 workers (nThreads >= 1).
    explicit ThreadPool(int nThreads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int threadCount() const { return int(m_workers.size()) + 1; }

    /// Runs fn(0) on the calling thread and fn(i), 0 < i < n, on the workers that join before
    /// fn(0) returns (see the class comment); returns when all that started have returned. n
    /// is clamped to [1, threadCount()]. The first exception thrown by any fn(i) is rethrown
    /// here after all finished. Returns false, without running anything, when another region
    /// is running on this pool.
    bool tryRun(int n, const std::function<void(int)> &fn);

    /// The process-wide pool with one thread per core (created on first use, never destroyed:
    /// its sleeping workers end with the process).
    static ThreadPool &shared();

private:
    void workerLoop(int index);
    void runOne(const std::function<void(int)> &fn, int i);

    // m_state: region generation (high 32 bits), kOpen while workers may join, and the number of
    // joined workers that have not returned (low bits). The region's fields below are written
    // before its generation is published and stay unchanged until it is closed and drained.
    static constexpr std::uint64_t kOpen = 1u << 31;
    static constexpr std::uint64_t kCountMask = kOpen - 1;

    std::vector<std::thread> m_workers;
    std::atomic<bool> m_busy{false};
    std::atomic<std::uint64_t> m_state{0};
    std::atomic<const std::function<void(int)> *> m_fn{nullptr};
    std::atomic<int> m_n{0};
    std::atomic<bool> m_quit{false};
    std::mutex m_errorMutex;
    std::exception_ptr m_error;
};

} // namespace QuantFit
