// JobContext throttling and cancellation, parallelFor coverage and error propagation.

#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "util/error.h"

#include <QTest>
#include <QThread>

#include <atomic>
#include <mutex>
#include <set>

using namespace QuantFit;

class TestJobs : public QObject
{
    Q_OBJECT

private slots:
    void everyChunkRunsOnce()
    {
        std::mutex m;
        std::multiset<std::uint64_t> seen;
        parallelFor(1000, 4, [&](std::uint64_t c) {
            std::lock_guard lock(m);
            seen.insert(c);
        });
        QCOMPARE(seen.size(), std::size_t(1000));
        for (std::uint64_t c = 0; c < 1000; ++c)
            QCOMPARE(seen.count(c), std::size_t(1));
    }

    void firstErrorIsRethrownAfterJoin()
    {
        // Chunk 7 throws. The chunks after it do not start their (1 ms) work until the throw has
        // begun, so the outcome does not depend on how the threads are scheduled: a slow unwind
        // (sanitizers, a loaded CI core) still takes far less than the ~5 s the remaining chunks
        // would need if the failure did not stop the other workers.
        std::atomic<int> ran{0};
        std::atomic<bool> throwing{false};
        bool caught = false;
        try {
            parallelFor(10000, 3, [&](std::uint64_t c) {
                ++ran;
                if (c == 7) {
                    throwing = true;
                    throw Error(QStringLiteral("chunk 7 failed"));
                }
                if (c > 7) {
                    for (int i = 0; i < 5000 && !throwing; ++i)
                        QThread::usleep(1000);
                    QThread::usleep(1000);
                }
            });
        } catch (const Error &e) {
            caught = e.message() == QStringLiteral("chunk 7 failed");
        }
        QVERIFY(caught);
        QVERIFY2(ran < 10000, qPrintable(QStringLiteral("%1 chunks ran").arg(ran.load())));
    }

    void cancelStopsWork()
    {
        // Chunks after 50 wait until the cancel request is visible, so every chunk taken after that
        // must be refused before its work runs: at most the chunks already running can finish.
        JobContext ctx;
        std::atomic<int> ran{0};
        QVERIFY_THROWS_EXCEPTION(Cancelled, parallelFor(100000, 2, [&](std::uint64_t c) {
            ++ran;
            if (c == 50)
                ctx.requestCancel();
            for (int i = 0; c > 50 && i < 5000 && !ctx.isCancelled(); ++i)
                QThread::usleep(1000);
        }, &ctx));
        QVERIFY2(ran <= 51 + 2, qPrintable(QStringLiteral("%1 chunks ran").arg(ran.load())));
    }

    void progressIsThrottledButStagesAndFlushAlwaysReport()
    {
        std::vector<Progress> reports;
        JobContext ctx([&](const Progress &p) { reports.push_back(p); }, 1000000);
        ctx.setStage(QStringLiteral("one"), 100);
        for (int i = 0; i < 100; ++i)
            ctx.advance(1);
        ctx.flush();
        // one report for the stage, none for the advances (interval not reached), one for flush
        QCOMPARE(reports.size(), std::size_t(2));
        QCOMPARE(reports.front().stage, QStringLiteral("one"));
        QCOMPARE(reports.back().done, std::uint64_t(100));
        QCOMPARE(reports.back().total, std::uint64_t(100));
        QCOMPARE(reports.back().fraction(), 1.0);
    }

    void progressReportsAtTheInterval()
    {
        int n = 0;
        JobContext ctx([&](const Progress &) { ++n; }, 20);
        ctx.setStage(QStringLiteral("s"), 1000);
        for (int i = 0; i < 10; ++i) {
            QThread::msleep(30);
            ctx.advance(1);
        }
        QVERIFY2(n >= 10, qPrintable(QString::number(n))); // stage report + one per advance
    }

    void eta()
    {
        Progress p;
        p.done = 25;
        p.total = 100;
        p.elapsedSeconds = 10;
        QCOMPARE(p.etaSeconds(), 30.0);
        p.done = 0;
        QVERIFY(p.etaSeconds() < 0);
    }
};

QTEST_APPLESS_MAIN(TestJobs)
#include "testjobs.moc"
