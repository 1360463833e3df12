#include "jobs/job.h"
#include "jobs/jobrunner.h"
#include "util/error.h"
#include "widgets/jobprogresswidget.h"

#include <QLabel>
#include <QProgressBar>
#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <atomic>

using namespace QuantFit;

class TestUiJob : public QObject
{
    Q_OBJECT

private slots:
    void progressArrivesInGuiThreadThrottled();
    void failureCarriesTheMessage();
    void cancelStopsTheWork();
    void progressWidgetShowsPercentAndEta();
};

void TestUiJob::progressArrivesInGuiThreadThrottled()
{
    JobRunner runner;
    // 40 chunks of 10 ms: ~400 ms of work, 40 advance() calls.
    auto *job = new Job(QStringLiteral("test"), [](JobContext &ctx) {
        ctx.setStage(QStringLiteral("Working"), 40);
        for (int i = 0; i < 40; ++i) {
            QThread::msleep(10);
            ctx.advance(1);
            ctx.throwIfCancelled();
        }
    });
    int reports = 0;
    bool allInGuiThread = true;
    std::uint64_t lastDone = 0;
    connect(job, &Job::progressChanged, this, [&](const Progress &p) {
        ++reports;
        allInGuiThread = allInGuiThread && QThread::currentThread() == thread();
        lastDone = p.done;
    });
    QSignalSpy succeeded(job, &Job::succeeded);
    QSignalSpy finished(job, &Job::finished);
    runner.start(job);
    QVERIFY(finished.wait(10000));
    QCOMPARE(succeeded.count(), 1);
    QVERIFY(allInGuiThread);
    QCOMPARE(lastDone, std::uint64_t(40)); // the final report always arrives
    // Throttled to ~10/s: far fewer than the 40 advances (stage change + final + ~4 timed).
    QVERIFY2(reports >= 2 && reports <= 12, qPrintable(QString::number(reports)));
}

void TestUiJob::failureCarriesTheMessage()
{
    JobRunner runner;
    auto *job = new Job(QStringLiteral("bad"), [](JobContext &) {
        throw Error(QStringLiteral("cannot open 'x.gguf': No such file or directory"));
    });
    QSignalSpy failed(job, &Job::failed);
    QSignalSpy finished(job, &Job::finished);
    runner.start(job);
    QVERIFY(finished.wait(5000));
    QCOMPARE(failed.count(), 1);
    QCOMPARE(failed.at(0).at(0).toString(), QStringLiteral("cannot open 'x.gguf': No such file or directory"));
}

void TestUiJob::cancelStopsTheWork()
{
    JobRunner runner;
    std::atomic<int> chunks{0};
    auto *job = new Job(QStringLiteral("long"), [&chunks](JobContext &ctx) {
        ctx.setStage(QStringLiteral("Working"), 100000);
        for (int i = 0; i < 100000; ++i) {
            QThread::msleep(5);
            ctx.advance(1);
            ++chunks;
            ctx.throwIfCancelled();
        }
    });
    QSignalSpy progress(job, &Job::progressChanged);
    QSignalSpy cancelled(job, &Job::cancelled);
    QSignalSpy finished(job, &Job::finished);
    runner.start(job);
    QVERIFY(progress.wait(5000));
    job->cancel();
    QVERIFY(finished.wait(5000));
    QCOMPARE(cancelled.count(), 1);
    QVERIFY(chunks < 100000);
    QTRY_VERIFY(!runner.isBusy()); // the runner forgets the job once finished() reaches it
}

void TestUiJob::progressWidgetShowsPercentAndEta()
{
    Progress p;
    p.stage = QStringLiteral("Quantizing blk.0.ffn_up.weight");
    p.done = 250;
    p.total = 1000;
    p.elapsedSeconds = 10;
    p.rate = 25;
    p.rateUnit = QStringLiteral("MB/s");
    // 25% done in 10 s: 30 s left at the same rate.
    QCOMPARE(JobProgressWidget::percentText(p), QStringLiteral("25.0%"));
    QCOMPARE(JobProgressWidget::etaText(p), QStringLiteral("ETA 30s"));
    QCOMPARE(JobProgressWidget::rateText(p), QStringLiteral("25.0 MB/s"));
    JobProgressWidget w(false);
    w.setProgress(p);
    QCOMPARE(w.findChild<QProgressBar *>(QStringLiteral("bar"))->value(), 250); // per-mille scale
    QVERIFY(w.findChild<QLabel *>(QStringLiteral("stage"))->text().contains(QStringLiteral("blk.0.ffn_up.weight")));
    QCOMPARE(w.findChild<QLabel *>(QStringLiteral("eta"))->text(), QStringLiteral("ETA 30s"));
}

QTEST_MAIN(TestUiJob)
#include "testjob.moc"
