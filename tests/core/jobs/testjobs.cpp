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
        std::atomic<int> ran{0};
        bool caught = false;
        try {
            parallelFor(10000, 3, [&](std::uint64_t c) {
                ++ran;
                if (c == 7)
                    throw Error(QStringLiteral("chunk 7 failed"));
            });
        } catch (const Error &e) {
            caught = e.message() == QStringLiteral("chunk 7 failed");
        }
        QVERIFY(caught);
        QVERIFY(ran < 10000); // the others stopped taking chunks
    }

    void cancelStopsWork()
    {
        JobContext ctx;
        std::atomic<int> ran{0};
        QVERIFY_THROWS_EXCEPTION(Cancelled, parallelFor(100000, 2, [&](std::uint64_t c) {
            ++ran;
            if (c == 50)
                ctx.requestCancel();
        }, &ctx));
        QVERIFY(ran < 100000);
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
