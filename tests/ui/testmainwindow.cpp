#include "uitestsupport.h"

#include "jobs/job.h"
#include "jobs/jobrunner.h"
#include "mainwindow/mainwindow.h"
#include "model/syntheticmodel.h"
#include "jobs/jobcontext.h"
#include "pages/advisepage.h"
#include "pages/convertpage.h"
#include "widgets/jobprogresswidget.h"

#include <QApplication>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QMenuBar>
#include <QMimeData>
#include <QSettings>
#include <QSignalSpy>
#include <QTableView>
#include <QTest>
#include <QThread>
#include <QUrl>

#include <atomic>

using namespace QuantFit;

class TestUiMainWindow : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void droppingAGgufAnywhereOpensIt();
    void settingsAreRemembered();
    void statusBarFollowsJobsAndQuitCancels();

private:
    QTemporaryDir m_dir;
    QString m_model;
};

void TestUiMainWindow::initTestCase()
{
    QVERIFY(m_dir.isValid());
    isolateAppFolders(m_dir);
    SyntheticModelOptions tiny;
    tiny.nLayers = 1;
    tiny.nEmbd = 64;
    tiny.nFf = 128;
    tiny.nHeads = 2;
    tiny.nHeadsKv = 1;
    tiny.nVocab = 300;
    tiny.nCtx = 512;
    m_model = m_dir.filePath(QStringLiteral("dropped.gguf"));
    NullJobContext ctx;
    writeSyntheticModel(m_model, tiny, ctx);
}

static void dropOn(QWidget *target, const QString &path)
{
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(path)});
    const QPointF pos(target->width() / 2.0, target->height() / 2.0);
    QDragEnterEvent enter(pos.toPoint(), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &drop);
    QVERIFY(drop.isAccepted());
}

void TestUiMainWindow::droppingAGgufAnywhereOpensIt()
{
    MainWindow window;
    window.show();
    auto *advise = window.findChild<AdvisePage *>();
    auto *convert = window.findChild<ConvertPage *>();
    QVERIFY(advise && convert);
    // On the Advise page, on the results table (a widget that knows nothing of files).
    window.showPage(MainWindow::Page::Advise);
    QSignalSpy idle(&window, &MainWindow::idle);
    dropOn(advise->findChild<QTableView *>(QStringLiteral("levels"))->viewport(), m_model);
    QVERIFY(idle.wait(30000));
    QTRY_VERIFY_WITH_TIMEOUT(!window.isBusy(), 30000);
    QCOMPARE(advise->currentModelId(), m_model);
    // On the Convert page it becomes the source.
    window.showPage(MainWindow::Page::Convert);
    QSignalSpy ready(convert, &ConvertPage::sourceReady);
    dropOn(window.menuBar(), m_model);
    QVERIFY(ready.wait(30000));
    QCOMPARE(convert->sourcePath(), m_model);
    QCOMPARE(QSettings().value(QStringLiteral("recentFiles")).toStringList().value(0), m_model);
}

void TestUiMainWindow::settingsAreRemembered()
{
    {
        MainWindow window;
        window.show();
        window.resize(1111, 777);
        QVERIFY(window.adviseFor(128.0, {}).isEmpty());
        window.showPage(MainWindow::Page::Charts);
        QTRY_VERIFY_WITH_TIMEOUT(!window.isBusy(), 30000);
        window.close();
    }
    MainWindow again;
    again.show();
    QCOMPARE(again.findChild<QDoubleSpinBox *>(QStringLiteral("ram"))->value(), 128.0);
    QCOMPARE(again.currentPage(), MainWindow::Page::Charts);
    QCOMPARE(again.size(), QSize(1111, 777));
    QTRY_VERIFY_WITH_TIMEOUT(!again.isBusy(), 30000);
}

void TestUiMainWindow::statusBarFollowsJobsAndQuitCancels()
{
    auto window = std::make_unique<MainWindow>();
    window->show();
    std::atomic<bool> stopped{false};
    auto *job = new Job(QStringLiteral("Endless"), [&stopped](JobContext &ctx) {
        ctx.setStage(QStringLiteral("Spinning"), 1000000);
        try {
            for (;;) {
                QThread::msleep(5);
                ctx.advance(1);
                ctx.throwIfCancelled();
            }
        } catch (...) {
            stopped = true;
            throw;
        }
    });
    QSignalSpy progress(job, &Job::progressChanged);
    window->findChild<JobRunner *>()->start(job);
    QVERIFY(progress.wait(5000));
    auto *indicator = window->findChild<JobProgressWidget *>(QStringLiteral("jobIndicator"));
    QVERIFY(indicator);
    QTRY_VERIFY(indicator->isVisible());
    QTRY_VERIFY(indicator->findChild<QLabel *>(QStringLiteral("stage"))->text().contains(QStringLiteral("Spinning")));
    // Destroying the window (quit) cancels the job and waits for it.
    window.reset();
    QVERIFY(stopped);
}

QTEST_MAIN(TestUiMainWindow)
#include "testmainwindow.moc"
