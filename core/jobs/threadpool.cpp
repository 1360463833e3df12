#include "threadpool.h"

#include "parallel.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>

namespace QuantFit {

namespace {

// How long an idle thread polls before it sleeps. Generation runs a region every 10-300 us and
// a futex wake-up costs tens of microseconds, so polling keeps a token's regions free of system
// calls; a pool left idle sleeps soon after, and on a busy machine the polling stays short.
constexpr auto kSpin = std::chrono::microseconds(300);

inline void cpuRelax()
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// Waits until `value` differs from `old` (polling for kSpin, then sleeping); returns it.
template <class T>
T waitChange(const std::atomic<T> &value, T old)
{
    T v = value.load(std::memory_order_acquire);
    if (v != old)
        return v;
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int i = 1;; ++i) {
        cpuRelax();
        v = value.load(std::memory_order_acquire);
        if (v != old)
            return v;
        if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline)
            break;
    }
    for (;;) {
        value.wait(old, std::memory_order_acquire);
        v = value.load(std::memory_order_acquire);
        if (v != old)
            return v;
    }
}

} // namespace

ThreadPool::ThreadPool(int nThreads)
{
    const int nWorkers = std::max(0, nThreads - 1);
    m_workers.reserve(std::size_t(nWorkers));
    for (int i = 1; i <= nWorkers; ++i)
        m_workers.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool()
{
    m_quit.store(true, std::memory_order_relaxed);
    const std::uint64_t gen = (m_state.load(std::memory_order_relaxed) >> 32) + 1;
    m_state.store(gen << 32, std::memory_order_release);
    m_state.notify_all();
    for (auto &t : m_workers)
        t.join();
}

ThreadPool &ThreadPool::shared()
{
    static ThreadPool *pool = new ThreadPool(defaultThreadCount());
    return *pool;
}

void ThreadPool::runOne(const std::function<void(int)> &fn, int i)
{
    try {
        fn(i);
    } catch (...) {
        std::lock_guard lock(m_errorMutex);
        if (!m_error)
            m_error = std::current_exception();
    }
}

void ThreadPool::workerLoop(int index)
{
    std::uint64_t seenGen = 0;
    std::uint64_t s = m_state.load(std::memory_order_acquire);
    for (;;) {
        // Wait for a new generation (changes of the joined count alone are not one).
        while ((s >> 32) == seenGen)
            s = waitChange(m_state, s);
        seenGen = s >> 32;
        if (m_quit.load(std::memory_order_acquire))
            return;
        const auto *fn = m_fn.load(std::memory_order_relaxed);
        const int n = m_n.load(std::memory_order_relaxed);
        if (index >= n)
            continue;
        // Join while this generation is open; a stale read of fn or n (a newer region was
        // published meanwhile) fails here, because the generation is part of the state.
        bool joined = false;
        while ((s >> 32) == seenGen && (s & kOpen)) {
            if (m_state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
                joined = true;
                break;
            }
        }
        if (!joined)
            continue;
        runOne(*fn, index);
        s = m_state.fetch_sub(1, std::memory_order_acq_rel) - 1;
        if ((s & kCountMask) == 0 && !(s & kOpen))
            m_state.notify_all(); // the caller waits for the last joined worker
    }
}

ChunkRuns::ChunkRuns(std::uint64_t nChunks, int nThreads)
{
    // Runs hold 32-bit offsets: with more than 2^32 chunks per thread (never in practice),
    // more runs than threads; the threads then take the extra runs as thieves.
    const std::uint64_t kMaxRun = 0xFFFFFFFFu;
    m_nRuns = std::max(1, nThreads);
    if ((nChunks + std::uint64_t(m_nRuns) - 1) / std::uint64_t(m_nRuns) > kMaxRun)
        m_nRuns = int((nChunks + kMaxRun - 1) / kMaxRun);
    m_runs.reset(new Run[std::size_t(m_nRuns)]);
    m_first.resize(std::size_t(m_nRuns));
    for (int r = 0; r < m_nRuns; ++r) {
        const std::uint64_t begin = nChunks * std::uint64_t(r) / std::uint64_t(m_nRuns);
        const std::uint64_t end = nChunks * std::uint64_t(r + 1) / std::uint64_t(m_nRuns);
        m_first[std::size_t(r)] = begin;
        m_runs[std::size_t(r)].range.store((end - begin) << 32, std::memory_order_relaxed);
    }
}

std::optional<std::uint64_t> ChunkRuns::take(int thread)
{
    const int own = thread % m_nRuns;
    {
        std::atomic<std::uint64_t> &range = m_runs[std::size_t(own)].range;
        std::uint64_t v = range.load(std::memory_order_relaxed);
        while ((v & 0xFFFFFFFFu) < (v >> 32)) {
            if (range.compare_exchange_weak(v, v + 1, std::memory_order_relaxed))
                return m_first[std::size_t(own)] + (v & 0xFFFFFFFFu);
        }
    }
    for (int k = 1; k < m_nRuns; ++k) {
        const int r = (own + k) % m_nRuns;
        std::atomic<std::uint64_t> &range = m_runs[std::size_t(r)].range;
        std::uint64_t v = range.load(std::memory_order_relaxed);
        while ((v & 0xFFFFFFFFu) < (v >> 32)) {
            const std::uint64_t last = (v >> 32) - 1;
            if (range.compare_exchange_weak(v, (last << 32) | (v & 0xFFFFFFFFu),
                                            std::memory_order_relaxed))
                return m_first[std::size_t(r)] + last;
        }
    }
    return std::nullopt;
}

bool ThreadPool::tryRun(int n, const std::function<void(int)> &fn)
{
    n = std::clamp(n, 1, threadCount());
    bool expected = false;
    if (!m_busy.compare_exchange_strong(expected, true, std::memory_order_acquire))
        return false;
    m_error = nullptr;
    if (n > 1) {
        m_fn.store(&fn, std::memory_order_relaxed);
        m_n.store(n, std::memory_order_relaxed);
        const std::uint64_t gen = (m_state.load(std::memory_order_relaxed) >> 32) + 1;
        m_state.store((gen << 32) | kOpen, std::memory_order_release);
        m_state.notify_all();
    }
    runOne(fn, 0);
    if (n > 1) {
        // Close the region, then wait for the workers that joined it.
        std::uint64_t s = m_state.fetch_and(~kOpen, std::memory_order_acq_rel) & ~kOpen;
        while ((s & kCountMask) != 0)
            s = waitChange(m_state, s);
    }
    std::exception_ptr error = std::move(m_error);
    m_error = nullptr;
    m_busy.store(false, std::memory_order_release);
    if (error)
        std::rethrow_exception(error);
    return true;
}

} // namespace QuantFit
