#include "parallel.h"

#include "jobcontext.h"
#include "threadpool.h"

#include <QThread>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace QuantFit {

int defaultThreadCount()
{
    return std::max(1, QThread::idealThreadCount());
}

void parallelFor(std::uint64_t nChunks, int nThreads,
                 const std::function<void(std::uint64_t)> &work, JobContext *ctx)
{
    if (nChunks == 0)
        return;
    if (nThreads <= 0)
        nThreads = defaultThreadCount();
    nThreads = int(std::min<std::uint64_t>(std::uint64_t(nThreads), nChunks));

    // Each thread owns a contiguous run of chunks and takes them in order from its front; a
    // thread whose run is done takes chunks from the back of the others' runs. Why: threads
    // that share one counter take alternate chunks, and a row-dot product streaming small
    // interleaved pieces of a matrix from memory ran no faster on two cores than on one.
    ChunkRuns runs(nChunks, nThreads);
    std::atomic<bool> stop{false};
    std::exception_ptr firstError;
    std::mutex errorMutex;

    auto worker = [&](int index) {
        while (!stop.load(std::memory_order_relaxed)) {
            const std::optional<std::uint64_t> chunk = runs.take(index);
            if (!chunk)
                return;
            try {
                if (ctx)
                    ctx->throwIfCancelled();
                work(*chunk);
            } catch (...) {
                std::lock_guard lock(errorMutex);
                if (!firstError)
                    firstError = std::current_exception();
                stop.store(true, std::memory_order_relaxed);
                return;
            }
        }
    };

    // The shared pool's persistent workers when it is free and large enough (no thread start
    // per call: generation runs hundreds of short regions per second); else threads of our own.
    ThreadPool &pool = ThreadPool::shared();
    if (nThreads == 1 || (nThreads <= pool.threadCount()
                          && pool.tryRun(nThreads, [&](int i) { worker(i); }))) {
        if (nThreads == 1)
            worker(0);
        if (firstError)
            std::rethrow_exception(firstError);
        return;
    }
    std::vector<std::thread> threads;
    threads.reserve(std::size_t(nThreads - 1));
    for (int i = 1; i < nThreads; ++i)
        threads.emplace_back(worker, i);
    worker(0);
    for (auto &t : threads)
        t.join();
    if (firstError)
        std::rethrow_exception(firstError);
}

} // namespace QuantFit
