#pragma once

#include <cstdint>
#include <functional>

namespace QuantFit {

class JobContext;

/// Number of worker threads to use when the caller says 0 ("all cores").
int defaultThreadCount();

/// Runs `work(chunk)` for chunk = 0 .. nChunks-1 on up to `nThreads` threads (0 = all cores;
/// the calling thread is one of them). Each thread takes a contiguous run of chunks in order,
/// then helps with the others' (ChunkRuns, threadpool.h), so no chunk order is promised. The
/// threads are the shared ThreadPool's persistent workers (threadpool.h) when it is free and
/// has enough of them, else threads started for this call (nested or concurrent calls). The first
/// exception thrown by any chunk stops the others from taking new chunks and is rethrown here
/// after all threads joined (no exception crosses a thread). If `ctx` is given, cancellation is
/// checked before each chunk.
void parallelFor(std::uint64_t nChunks, int nThreads,
                 const std::function<void(std::uint64_t chunk)> &work, JobContext *ctx = nullptr);

} // namespace QuantFit
