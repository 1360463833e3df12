// ThreadPool: every piece of a region's work done exactly once over many short regions (the
// publish / join / close protocol), nested and concurrent regions refused and handled by
// parallelFor's fallback, exceptions rethrown with the pool still usable, start and stop.

#include "jobs/parallel.h"
#include "jobs/threadpool.h"

#include <QTest>

#include <atomic>
#include <map>
#include <mutex>
#include <tuple>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace QuantFit;

namespace {

// One region of a chunk loop on `pool`: every chunk counted once in `hits`.
bool runChunks(ThreadPool &pool, int nThreads, std::vector<std::atomic<int>> &hits)
{
    std::atomic<std::size_t> next{0};
    return pool.tryRun(nThreads, [&](int) {
        for (std::size_t c; (c = next.fetch_add(1)) < hits.size();)
            hits[c].fetch_add(1);
    });
}

} // namespace

class TestJobsThreadPool : public QObject
{
    Q_OBJECT

private slots:
    void manyShortRegionsDoAllWorkOnce()
    {
        ThreadPool pool(4);
        QCOMPARE(pool.threadCount(), 4);
        for (int region = 0; region < 20000; ++region) {
            std::vector<std::atomic<int>> hits(std::size_t(1 + region % 7));
            QVERIFY(runChunks(pool, 1 + region % 4, hits));
            for (const auto &h : hits)
                QCOMPARE(h.load(), 1);
        }
    }

    void workersJoinLongRegions()
    {
        // A region long enough for the workers to join: more than one thread takes part.
        ThreadPool pool(3);
        std::mutex m;
        std::set<std::thread::id> ids;
        std::atomic<int> next{0};
        for (int attempt = 0; attempt < 50 && ids.size() < 2; ++attempt) {
            next = 0;
            QVERIFY(pool.tryRun(3, [&](int) {
                while (next.fetch_add(1) < 200) {
                    {
                        std::lock_guard lock(m);
                        ids.insert(std::this_thread::get_id());
                    }
                    std::this_thread::sleep_for(std::chrono::microseconds(100));
                }
            }));
        }
        QVERIFY(ids.size() >= 2);
    }

    void callerAloneFinishesTheWork()
    {
        // fn(0) does everything; the region returns without waiting for workers that never
        // joined (they find nothing left).
        ThreadPool pool(2);
        std::vector<std::atomic<int>> hits(1000);
        QVERIFY(runChunks(pool, 2, hits));
        for (const auto &h : hits)
            QCOMPARE(h.load(), 1);
    }

    void nestedRegionIsRefused()
    {
        ThreadPool pool(2);
        bool innerAccepted = true;
        QVERIFY(pool.tryRun(1, [&](int) { innerAccepted = pool.tryRun(2, [](int) {}); }));
        QVERIFY(!innerAccepted);
        QVERIFY(pool.tryRun(2, [](int) {})); // usable again
    }

    void nestedParallelForCompletes()
    {
        std::atomic<int> count{0};
        parallelFor(8, 2, [&](std::uint64_t) {
            parallelFor(16, 2, [&](std::uint64_t) { count.fetch_add(1); });
        });
        QCOMPARE(count.load(), 8 * 16);
    }

    void concurrentCallersAllComplete()
    {
        std::atomic<int> count{0};
        std::vector<std::thread> callers;
        for (int c = 0; c < 3; ++c) {
            callers.emplace_back([&] {
                for (int r = 0; r < 300; ++r)
                    parallelFor(10, 0, [&](std::uint64_t) { count.fetch_add(1); });
            });
        }
        for (auto &t : callers)
            t.join();
        QCOMPARE(count.load(), 3 * 300 * 10);
    }

    void exceptionIsRethrownAndPoolStaysUsable()
    {
        ThreadPool pool(2);
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, pool.tryRun(2, [](int i) {
            if (i == 0)
                throw std::runtime_error("chunk failed");
        }));
        std::vector<std::atomic<int>> hits(100);
        QVERIFY(runChunks(pool, 2, hits));
        for (const auto &h : hits)
            QCOMPARE(h.load(), 1);
    }

    void singleThreadPoolRunsInline()
    {
        ThreadPool pool(1);
        QCOMPARE(pool.threadCount(), 1);
        const auto caller = std::this_thread::get_id();
        std::thread::id ran;
        QVERIFY(pool.tryRun(4, [&](int) { ran = std::this_thread::get_id(); }));
        QCOMPARE(ran, caller);
    }

    void chunkRunsGiveEveryChunkOnceInOwnOrder()
    {
        // One thread alone: its own run in ascending order, then the other runs from the back.
        ChunkRuns runs(10, 3); // runs [0, 3), [3, 6), [6, 10)
        std::vector<std::uint64_t> order;
        while (const auto c = runs.take(1))
            order.push_back(*c);
        const std::vector<std::uint64_t> expected{3, 4, 5, 9, 8, 7, 6, 2, 1, 0};
        QCOMPARE(order, expected);
        QVERIFY(!runs.take(0));
    }

    void chunkRunsShareUnderContention()
    {
        // Threads taking concurrently (and some never taking): every chunk exactly once.
        for (const auto &[nChunks, nThreads, nActive] :
             {std::tuple{1000u, 4, 4}, {1000u, 4, 1}, {7u, 8, 3}, {100000u, 2, 2}}) {
            ChunkRuns runs(nChunks, nThreads);
            std::vector<std::atomic<int>> hits(nChunks);
            std::vector<std::thread> threads;
            for (int t = 0; t < nActive; ++t)
                threads.emplace_back([&, t] {
                    while (const auto c = runs.take(t))
                        hits[std::size_t(*c)].fetch_add(1);
                });
            for (auto &t : threads)
                t.join();
            for (const auto &h : hits)
                QCOMPARE(h.load(), 1);
        }
    }

    void parallelForThreadsReadContiguousRuns()
    {
        // With two threads that both take part, each thread's chunks form few contiguous
        // stretches (its own run, then what it took from the other's back), not alternate
        // chunks: at most 3 breaks per thread in 4096 chunks of a region.
        ThreadPool::shared();
        std::vector<int> owner(4096, -1);
        std::mutex m;
        std::map<std::thread::id, int> ids;
        parallelFor(owner.size(), 2, [&](std::uint64_t c) {
            std::lock_guard lock(m);
            owner[c] = ids.emplace(std::this_thread::get_id(), int(ids.size())).first->second;
        });
        int breaks = 0;
        for (std::size_t i = 1; i < owner.size(); ++i)
            breaks += owner[i] != owner[i - 1];
        QVERIFY2(breaks <= 3, qPrintable(QStringLiteral("%1 changes of thread").arg(breaks)));
    }

    void startAndStopManyPools()
    {
        for (int i = 0; i < 50; ++i) {
            ThreadPool pool(3);
            if (i % 2) {
                std::vector<std::atomic<int>> hits(10);
                QVERIFY(runChunks(pool, 3, hits));
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestJobsThreadPool)
#include "testjobsthreadpool.moc"
