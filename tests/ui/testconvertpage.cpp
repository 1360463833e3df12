#include "testsupport.h"
#include "uitestsupport.h"

#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "jobs/job.h"
#include "jobs/jobrunner.h"
#include "pages/convertpage.h"
#include "quant/quantizer.h"
#include "tasks/imatrixtask.h"
#include "tasks/measurementtask.h"
#include "widgets/jobprogresswidget.h"

#include <QFile>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QRadioButton>
#include <QSpinBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTreeWidget>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTimer>
#include <QTest>

using namespace QuantFit;

class TestUiConvert : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void convertDemoModelByClicking();
    void sameRequestAsTheCliWithAnImatrix();
    void typesNeedingAnImatrixAreMarked();
    void calibrationRouteGatesConvert();
    void sameFileAsTheCliWithCalibration();
    void cancelLeavesNothing();

private:
    /// A tiny synthetic model (2 layers, 256 wide) and the built-in sample as a text file, once.
    void makeCalibrationInputs();
    /// The mix calibration is for: IQ2_M cannot be written without an importance matrix.
    static QString mixNeedingImatrix();

    QTemporaryDir m_dir;
    QString m_calSource;
    QString m_calText;
};

void TestUiConvert::initTestCase()
{
    QVERIFY(m_dir.isValid());
    isolateAppFolders(m_dir);
}

void TestUiConvert::convertDemoModelByClicking()
{
    JobRunner runner;
    ConvertPage page(&runner);
    page.show();
    // A tiny demo model (2 layers, 256 wide: ~1.4 M parameters) so the test takes seconds.
    SyntheticModelOptions tiny;
    tiny.nLayers = 2;
    tiny.nEmbd = 256;
    tiny.nFf = 512;
    tiny.nHeads = 4;
    tiny.nHeadsKv = 2;
    tiny.nVocab = 512;
    tiny.nCtx = 256;
    const QString demoPath = m_dir.filePath(QStringLiteral("demo/tiny-F32.gguf"));
    page.setDemoModelOptions(tiny, demoPath);
    QSignalSpy ready(&page, &ConvertPage::sourceReady);
    page.useDemoModel();
    QVERIFY(ready.wait(60000));
    QCOMPARE(page.sourcePath(), demoPath);

    const QString outDir = m_dir.filePath(QStringLiteral("out"));
    QVERIFY(QDir().mkpath(outDir));
    page.setOutputDir(outDir);
    page.setTargets({QStringLiteral("Q4_K_M")});
    auto *convert = page.findChild<QPushButton *>(QStringLiteral("convert"));
    auto *bar = page.findChild<JobProgressWidget *>(QStringLiteral("progress"))->findChild<QProgressBar *>();
    QVERIFY(convert && bar);
    QTRY_VERIFY(convert->isEnabled());
    QCOMPARE(page.request().outputFolder, outDir);

    int maxBar = 0;
    connect(bar, &QProgressBar::valueChanged, this,
            [&maxBar](int v) { maxBar = std::max(maxBar, v); });
    QSignalSpy finished(&page, &ConvertPage::conversionFinished);
    // The GUI thread keeps turning while the worker converts: the longest gap between ticks of
    // a 5 ms timer. The bound is loose (shared CI machines stall threads too); the figure is
    // printed for the record.
    QElapsedTimer clock;
    qint64 last = 0, longestGapMs = 0;
    QTimer ticker;
    connect(&ticker, &QTimer::timeout, this, [&] {
        const qint64 now = clock.elapsed();
        longestGapMs = std::max(longestGapMs, now - last);
        last = now;
    });
    clock.start();
    ticker.start(5);
    QTest::mouseClick(convert, Qt::LeftButton);
    QVERIFY(finished.wait(120000));
    ticker.stop();
    const qint64 totalMs = clock.elapsed();
    qInfo("longest GUI-thread gap while converting: %lld ms of %lld ms", longestGapMs, totalMs);
    // A conversion run on the GUI thread would freeze it for (nearly) the whole conversion. A
    // shared, sanitized CI machine can stall any thread now and then, so a single long gap fails
    // only when it also covers most of the conversion; the 250 ms target itself is watched by the
    // figure printed above, not by a timed assertion.
    QVERIFY2(longestGapMs < 250 || longestGapMs < totalMs * 9 / 10,
             qPrintable(QStringLiteral("%1 ms of %2 ms").arg(longestGapMs).arg(totalMs)));
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    QCOMPARE(bar->value(), bar->maximum()); // 100%
    QCOMPARE(maxBar, 1000);

    // The file verifies against an independently computed plan of the same source.
    const QString out = finished.at(0).at(1).toStringList().value(0);
    QCOMPARE(out, QDir(outDir).filePath(QStringLiteral("tiny-Q4_K_M.gguf")));
    QVERIFY(QFileInfo::exists(out));
    const GgufFile source = GgufFile::open(demoPath, GgufFile::Mode::MetadataOnly);
    const QuantPlan plan = makeQuantPlan(source.metadata(), source.tensors(), FileType::Q4_K_M);
    verifyQuantizedFile(out, plan);
    QCOMPARE(std::uint64_t(QFileInfo(out).size()), plan.outputFileBytes);
    const GgufFile written = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
    QCOMPARE(written.metadata().uintOr("general.file_type", 0), std::uint64_t(FileType::Q4_K_M)); // 15
    QVERIFY(page.findChild<QPlainTextEdit *>(QStringLiteral("log"))->toPlainText().contains(
        QStringLiteral("tiny-Q4_K_M.gguf")));
}

// The same conversion asked of the app and of quantfit-cli, with an importance matrix, gives
// byte-identical files: same quantize.imatrix.* keys, same data.
void TestUiConvert::sameRequestAsTheCliWithAnImatrix()
{
    SyntheticModelOptions tiny;
    tiny.nLayers = 2;
    tiny.nEmbd = 256;
    tiny.nFf = 512;
    tiny.nHeads = 4;
    tiny.nHeadsKv = 2;
    tiny.nVocab = 512;
    tiny.nCtx = 256;
    const QString source = m_dir.filePath(QStringLiteral("im/src-F32.gguf"));
    QVERIFY(QDir().mkpath(QFileInfo(source).absolutePath()));
    NullJobContext ctx;
    writeSyntheticModel(source, tiny, ctx);
    const QString text = m_dir.filePath(QStringLiteral("im/sample.txt"));
    {
        QFile f(text);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(builtInSampleText());
    }
    ImatrixRequest im;
    im.modelPath = source;
    im.textSource = text;
    im.outputPath = m_dir.filePath(QStringLiteral("im/src.imatrix.gguf"));
    im.nCtx = 64;
    im.nChunks = 3;
    runImatrix(im, ctx);

    // The app: source, one target, the advanced options with the imatrix.
    JobRunner runner;
    ConvertPage page(&runner);
    page.show();
    QSignalSpy ready(&page, &ConvertPage::sourceReady);
    page.setSource(source);
    QVERIFY(ready.wait(30000));
    const QString appDir = m_dir.filePath(QStringLiteral("im/app"));
    const QString cliDir = m_dir.filePath(QStringLiteral("im/cli"));
    QVERIFY(QDir().mkpath(appDir) && QDir().mkpath(cliDir));
    page.setOutputDir(appDir);
    page.setTargets({QStringLiteral("IQ4_XS")});
    page.findChild<QGroupBox *>(QStringLiteral("advanced"))->setChecked(true);
    page.findChild<QLineEdit *>(QStringLiteral("imatrix"))->setText(im.outputPath);
    auto *convert = page.findChild<QPushButton *>(QStringLiteral("convert"));
    QTRY_VERIFY(convert->isEnabled()); // after the imatrix was read
    QCOMPARE(page.request().imatrixPath, im.outputPath);
    QSignalSpy finished(&page, &ConvertPage::conversionFinished);
    QTest::mouseClick(convert, Qt::LeftButton);
    QVERIFY(finished.wait(120000));
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    const QString appFile = finished.at(0).at(1).toStringList().value(0);

    // The CLI, the same request in its words.
    const auto cli = Test::runCli({QStringLiteral("quantize"), source, cliDir, QStringLiteral("IQ4_XS"),
                                   QStringLiteral("--imatrix"), im.outputPath, QStringLiteral("--quiet")});
    QVERIFY2(cli.exitCode == 0, cli.err.constData());
    const QString cliFile = QDir(cliDir).filePath(QStringLiteral("src-IQ4_XS.gguf"));

    const GgufFile written = GgufFile::open(appFile, GgufFile::Mode::MetadataOnly);
    QCOMPARE(written.metadata().stringOr("quantize.imatrix.file"), im.outputPath);
    QCOMPARE(written.metadata().stringOr("quantize.imatrix.dataset"), QStringLiteral("sample.txt"));
    QCOMPARE(written.metadata().uintOr("quantize.imatrix.entries_count", 0), 14u);
    QCOMPARE(written.metadata().uintOr("quantize.imatrix.chunks_count", 0), 3u);
    const QByteArray app = Test::fileContent(appFile);
    QVERIFY(!app.isEmpty());
    QVERIFY(app == Test::fileContent(cliFile));
}

void TestUiConvert::makeCalibrationInputs()
{
    if (!m_calSource.isEmpty())
        return;
    SyntheticModelOptions tiny;
    tiny.nLayers = 2;
    tiny.nEmbd = 256;
    tiny.nFf = 512;
    tiny.nHeads = 4;
    tiny.nHeadsKv = 2;
    tiny.nVocab = 512;
    tiny.nCtx = 256;
    m_calSource = m_dir.filePath(QStringLiteral("cal/src-F32.gguf"));
    QVERIFY(QDir().mkpath(QFileInfo(m_calSource).absolutePath()));
    NullJobContext ctx;
    writeSyntheticModel(m_calSource, tiny, ctx);
    m_calText = m_dir.filePath(QStringLiteral("cal/domain.txt"));
    QFile f(m_calText);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(builtInSampleText());
}

QString TestUiConvert::mixNeedingImatrix()
{
    return fileTypeFacts(FileType::IQ2_M).supported ? QStringLiteral("IQ2_M")
                                                    : QStringLiteral("Q2_K_S");
}

// Every file type this build writes is offered; those llama-quantize refuses without an
// importance matrix (the file-type table's needsImatrix) carry the mark, the others do not.
void TestUiConvert::typesNeedingAnImatrixAreMarked()
{
    JobRunner runner;
    ConvertPage page(&runner);
    auto *targets = page.findChild<QListWidget *>(QStringLiteral("targets"));
    QVERIFY(targets);
    QStringList listed;
    for (int i = 0; i < targets->count(); ++i) {
        const QListWidgetItem *item = targets->item(i);
        const FileTypeFacts &facts = fileTypeFacts(FileType(item->data(Qt::UserRole).toInt()));
        const QString name = QString::fromLatin1(facts.name.data(), qsizetype(facts.name.size()));
        listed << name;
        QCOMPARE(item->text().startsWith(name), true);
        QCOMPARE(item->text().contains(QStringLiteral("(imatrix)")), facts.needsImatrix);
        QCOMPARE(item->toolTip().contains(QStringLiteral("Needs an importance matrix")),
                 facts.needsImatrix);
    }
    QStringList writable;
    for (const FileTypeFacts &f : allFileTypes()) {
        if (f.supported && f.fileType != FileType::Guessed)
            writable << QString::fromLatin1(f.name.data(), qsizetype(f.name.size()));
    }
    QCOMPARE(listed, writable);
    QVERIFY(page.findChild<QLabel *>(QStringLiteral("imatrixLegend"))->text().contains(
        QStringLiteral("needs an importance matrix")));
}

// A mix that needs an importance matrix, without an imatrix file: the calibration group shows
// and Convert stays disabled, with the reason in the preview, until a text or the built-in
// sample is chosen; an imatrix file makes the route unnecessary.
void TestUiConvert::calibrationRouteGatesConvert()
{
    makeCalibrationInputs();
    JobRunner runner;
    ConvertPage page(&runner);
    page.show();
    QSignalSpy ready(&page, &ConvertPage::sourceReady);
    page.setSource(m_calSource);
    QVERIFY(ready.wait(30000));
    page.setOutputDir(m_dir.filePath(QStringLiteral("cal")));
    auto *convert = page.findChild<QPushButton *>(QStringLiteral("convert"));
    auto *calibration = page.findChild<QGroupBox *>(QStringLiteral("calibration"));
    auto *preview = page.findChild<QWidget *>(QStringLiteral("preview"));
    QVERIFY(convert && calibration && preview);

    page.setTargets({QStringLiteral("Q4_K_M")});
    QVERIFY(!calibration->isVisible());
    QTRY_VERIFY(convert->isEnabled());

    const QString mix = mixNeedingImatrix();
    page.setTargets({mix});
    QVERIFY(calibration->isVisible());
    QVERIFY(!convert->isEnabled());
    QVERIFY(!page.request().calibration);
    const auto labels = preview->findChildren<QLabel *>();
    QVERIFY(std::any_of(labels.begin(), labels.end(), [&](const QLabel *l) {
        return l->text().contains(mix) && l->text().contains(QStringLiteral("importance matrix"));
    }));
    QVERIFY(page.findChild<QLabel *>(QStringLiteral("calibrationNote"))->text().contains(
        QStringLiteral("domain")));

    page.findChild<QRadioButton *>(QStringLiteral("calibrationSample"))->setChecked(true);
    QTRY_VERIFY(convert->isEnabled());
    QVERIFY(page.request().calibration);
    QVERIFY(page.request().calibration->textSource.isEmpty()); // the built-in sample

    page.findChild<QRadioButton *>(QStringLiteral("calibrationFile"))->setChecked(true);
    page.findChild<QLineEdit *>(QStringLiteral("calibrationPath"))->setText(QString());
    QTRY_VERIFY(!convert->isEnabled()); // a file route without a file
    page.findChild<QLineEdit *>(QStringLiteral("calibrationPath"))->setText(m_calText + QStringLiteral(".missing"));
    QTRY_VERIFY(!convert->isEnabled()); // a file that is not there
    QVERIFY(std::any_of(labels.begin(), labels.end(), [](const QLabel *l) {
        return l->text().contains(QStringLiteral("does not exist"));
    }));
    page.findChild<QLineEdit *>(QStringLiteral("calibrationPath"))->setText(m_calText);
    QTRY_VERIFY(convert->isEnabled());
    QCOMPARE(page.request().calibration->textSource, m_calText);

    // An imatrix file instead: no calibration.
    ImatrixRequest im;
    im.modelPath = m_calSource;
    im.textSource = m_calText;
    im.outputPath = m_dir.filePath(QStringLiteral("cal/gate.imatrix.gguf"));
    im.nCtx = 64;
    im.nChunks = 2;
    NullJobContext ctx;
    runImatrix(im, ctx);
    page.findChild<QGroupBox *>(QStringLiteral("advanced"))->setChecked(true);
    page.findChild<QLineEdit *>(QStringLiteral("imatrix"))->setText(im.outputPath);
    QTRY_VERIFY(convert->isEnabled());
    QVERIFY(!calibration->isVisible());
    QVERIFY(!page.request().calibration);
}

// Calibration in the app: the bar moves only forward through "Calibrating" then "Quantizing",
// and the file equals what `quantize --calibration` writes with the same text and settings.
void TestUiConvert::sameFileAsTheCliWithCalibration()
{
    makeCalibrationInputs();
    const QString mix = mixNeedingImatrix();
    const QString appDir = m_dir.filePath(QStringLiteral("cal/app"));
    const QString cliDir = m_dir.filePath(QStringLiteral("cal/cli"));
    QVERIFY(QDir().mkpath(appDir) && QDir().mkpath(cliDir));

    JobRunner runner;
    ConvertPage page(&runner);
    page.show();
    QSignalSpy ready(&page, &ConvertPage::sourceReady);
    page.setSource(m_calSource);
    QVERIFY(ready.wait(30000));
    page.setOutputDir(appDir);
    page.setTargets({mix});
    page.findChild<QRadioButton *>(QStringLiteral("calibrationFile"))->setChecked(true);
    page.findChild<QLineEdit *>(QStringLiteral("calibrationPath"))->setText(m_calText);
    page.findChild<QSpinBox *>(QStringLiteral("calibrationChunks"))->setValue(3);
    page.findChild<QSpinBox *>(QStringLiteral("calibrationCtx"))->setValue(64);
    auto *convert = page.findChild<QPushButton *>(QStringLiteral("convert"));
    QTRY_VERIFY(convert->isEnabled());

    auto *progress = page.findChild<JobProgressWidget *>(QStringLiteral("progress"));
    auto *bar = progress->findChild<QProgressBar *>(QStringLiteral("bar"));
    QList<int> values;
    connect(bar, &QProgressBar::valueChanged, this, [&](int v) { values << v; });
    // The stages as the job reports them (every stage change is reported at once; polling the
    // label could miss a stage shorter than the poll when the machine is loaded).
    QStringList stages;
    connect(&runner, &JobRunner::jobStarted, this, [&](Job *job) {
        connect(job, &Job::progressChanged, this, [&](const QuantFit::Progress &p) {
            const QString s = p.stage.section(QStringLiteral(":"), 0, 0);
            if (stages.isEmpty() || stages.last() != s)
                stages << s;
        });
    });
    QSignalSpy finished(&page, &ConvertPage::conversionFinished);
    QTest::mouseClick(convert, Qt::LeftButton);
    QVERIFY(finished.wait(120000));
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    for (qsizetype i = 1; i < values.size(); ++i)
        QVERIFY2(values[i] >= values[i - 1], qPrintable(QStringLiteral("%1 after %2").arg(values[i]).arg(values[i - 1])));
    QCOMPARE(values.last(), 1000);
    const qsizetype cal = stages.indexOf(QStringLiteral("Calibrating"));
    const auto quant = std::find_if(stages.begin(), stages.end(), [](const QString &s) {
        return s.startsWith(QLatin1String("Quantizing"));
    });
    QVERIFY2(cal >= 0 && quant != stages.end() && cal < quant - stages.begin(),
             qPrintable(stages.join(QStringLiteral(" | "))));
    QVERIFY(page.findChild<QPlainTextEdit *>(QStringLiteral("log"))->toPlainText().contains(
        QStringLiteral("Importance matrix computed")));

    const QString appFile = finished.at(0).at(1).toStringList().value(0);
    const auto cli = Test::runCli({QStringLiteral("quantize"), m_calSource, cliDir, mix,
                                   QStringLiteral("--calibration"), m_calText,
                                   QStringLiteral("--calibration-chunks"), QStringLiteral("3"),
                                   QStringLiteral("--calibration-ctx"), QStringLiteral("64"),
                                   QStringLiteral("--quiet")});
    QVERIFY2(cli.exitCode == 0, cli.err.constData());
    const QString cliFile = QDir(cliDir).filePath(QStringLiteral("src-%1.gguf").arg(mix));
    const GgufFile written = GgufFile::open(appFile, GgufFile::Mode::MetadataOnly);
    QCOMPARE(written.metadata().stringOr("quantize.imatrix.dataset"), QStringLiteral("domain.txt"));
    QCOMPARE(written.metadata().uintOr("quantize.imatrix.chunks_count", 0), 3u);
    const QByteArray app = Test::fileContent(appFile);
    QVERIFY(!app.isEmpty());
    QVERIFY(app == Test::fileContent(cliFile));
}

void TestUiConvert::cancelLeavesNothing()
{
    JobRunner runner;
    ConvertPage page(&runner);
    page.show();
    // Big enough (default demo shape, ~15 M parameters) that converting takes a while.
    SyntheticModelOptions demo;
    const QString demoPath = m_dir.filePath(QStringLiteral("demo/demo-F32.gguf"));
    page.setDemoModelOptions(demo, demoPath);
    QSignalSpy ready(&page, &ConvertPage::sourceReady);
    page.useDemoModel();
    QVERIFY(ready.wait(120000));

    const QString outDir = m_dir.filePath(QStringLiteral("cancelled"));
    QVERIFY(QDir().mkpath(outDir));
    page.setOutputDir(outDir);
    page.setTargets({QStringLiteral("Q2_K"), QStringLiteral("Q3_K_M"), QStringLiteral("Q4_K_M"),
                     QStringLiteral("Q5_K_M"), QStringLiteral("Q6_K"), QStringLiteral("IQ4_XS")});
    auto *convert = page.findChild<QPushButton *>(QStringLiteral("convert"));
    auto *progress = page.findChild<JobProgressWidget *>(QStringLiteral("progress"));
    auto *bar = progress->findChild<QProgressBar *>();
    QTRY_VERIFY(convert->isEnabled());

    QSignalSpy finished(&page, &ConvertPage::conversionFinished);
    QTest::mouseClick(convert, Qt::LeftButton);
    // Cancel once the bar has moved, i.e. in the middle of writing.
    QTRY_VERIFY_WITH_TIMEOUT(bar->value() > 0 || !finished.isEmpty(), 60000);
    if (!finished.isEmpty())
        QSKIP("conversion finished before it could be cancelled");
    QTest::mouseClick(progress->findChild<QPushButton *>(QStringLiteral("cancel")), Qt::LeftButton);
    QVERIFY(finished.wait(30000));
    QCOMPARE(finished.at(0).at(0).toBool(), false);
    QVERIFY(page.findChild<QPlainTextEdit *>(QStringLiteral("log"))->toPlainText().contains(QStringLiteral("Cancelled")));
    QVERIFY(finished.at(0).at(1).toStringList().isEmpty());
    QCOMPARE(QuantFit::Test::filesIn(outDir), QStringList()); // no output, no temporary
}

QTEST_MAIN(TestUiConvert)
#include "testconvertpage.moc"
