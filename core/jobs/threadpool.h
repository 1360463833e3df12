#pragma once

// A persistent set of worker threads for short parallel regions (one generated token runs about
// ten of them per layer: starting and joining threads for each would cost more than the work).
// Workers spin briefly after a region, then sleep on a futex (std::atomic::wait), so a burst of
// regions is dispatched without system calls and an idle pool costs nothing.

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

/// The chunks 0 .. nChunks - 1 of a parallel region split into one contiguous run per thread.
/// Thread i takes the chunks of run i in ascending order; once it is empty, it takes chunks from
/// the back of the other runs, so a thread that started late (or never) leaves no work behind
/// and each thread still reads mostly contiguous memory: two threads taking alternate chunks
/// from one counter made row-dot products stream interleaved pieces of a matrix, which two
/// cores read no faster than one. Thread-safe: every chunk is returned exactly once.
class ChunkRuns {
public:
    /// nThreads >= 1 runs of nearly equal length.
    ChunkRuns(std::uint64_t nChunks, int nThreads);

    /// The next chunk for `thread` (0 <= thread < nThreads), or nullopt when none is left.
    std::optional<std::uint64_t> take(int thread);

private:
    // One cache line per run: the front (low 32 bits) and end (high 32 bits) of the chunks
    // left, relative to m_first[run]; owner and thieves change it with compare-and-swap.
    struct alignas(64) Run {
        std::atomic<std::uint64_t> range{0};
    };
    std::unique_ptr<Run[]> m_runs;
    std::vector<std::uint64_t> m_first;
    int m_nRuns = 1;
};

} // namespace QuantFit
