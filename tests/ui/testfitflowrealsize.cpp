// Issue 13's "Done when" at real size, opt-in: a model whose standard mixes straddle a budget the
// Advise page can express (RAM in tenths of a GB, a real context), driven through the main
// window as a user would: open it on Advise, set RAM and context, select the "Fit exactly" row
// and press "Fit to this machine…"; on Convert, the recipe appears, the fit is converted, then
// Q3_K_M and Q4_K_M; all three are measured against the source on the built-in sample; Charts
// shows the fitted point between Q3_K_M and Q4_K_M, labelled.
//
// Takes minutes and a few GB of disk, so it runs only when the environment names a model:
//   QUANTFIT_REALSIZE_MODEL   an F16/F32 GGUF, e.g. TinyLlama-1.1B's shape from make-model
//   QUANTFIT_REALSIZE_RAM     RAM in GB for Advise (default: the tenth of a GB whose budget lies
//                             nearest the middle between Q3_K_M and Q4_K_M)
//   QUANTFIT_REALSIZE_CONTEXT context in tokens (default 32768)
//   QUANTFIT_REALSIZE_CHUNKS  chunks of 128 tokens to measure (default 8)
//   QUANTFIT_REALSIZE_OUT     folder for the converted files (default: a temporary folder)
//   QUANTFIT_REALSIZE_SHOTS   folder for screenshots of Advise, Convert and Charts (optional)
// The expectations come from the files on disk and from quantfit-cli's --fit-ram --dry-run (the
// same memory model, run as a separate process), not from figures the pages compute.

#include "testsupport.h"
#include "fitcharttest.h"
#include "uitestsupport.h"

#include "charts/sizequalitychart.h"
#include "gguf/ggufreader.h"
#include "mainwindow/mainwindow.h"
#include "models/advicetablemodel.h"
#include "models/resultsmodel.h"
#include "pages/advisepage.h"
#include "pages/chartspage.h"
#include "pages/convertpage.h"
#include "pages/fitpanel.h"
#include "pages/measurepage.h"

#include <qcustomplot.h>

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

#include <cmath>

using namespace QuantFit;

namespace {

QString envOr(const char *name, const QString &fallback = {})
{
    const QString v = qEnvironmentVariable(name);
    return v.isEmpty() ? fallback : v;
}

// The figures of `quantize SRC --fit-ram R --context C --dry-run` (tools/quantize's text form).
struct CliFit {
    std::uint64_t budgetBytes = 0;
    std::uint64_t tensorBytes = 0;
    std::uint64_t fileBytes = 0;
    QStringList recipe; ///< "PATTERN=TYPE" lines
};

std::optional<CliFit> parseCliFit(const QString &out)
{
    CliFit f;
    const auto number = [&](const QString &pattern) -> std::uint64_t {
        const auto m = QRegularExpression(pattern, QRegularExpression::MultilineOption).match(out);
        return m.hasMatch() ? m.captured(1).toULongLong() : 0;
    };
    f.budgetBytes = number(QStringLiteral(R"(weights of at most [^(]*\((\d+) bytes\))"));
    f.tensorBytes = number(QStringLiteral(R"(^\s*fitted: (\d+) bytes of tensor data)"));
    f.fileBytes = number(QStringLiteral(R"(^\s*output file: (\d+) bytes)"));
    const QString recipe = out.section(QStringLiteral("recipe (--tensor-type-file):\n"), 1)
                               .section(QStringLiteral("chosen types:"), 0, 0);
    static const QRegularExpression line(QStringLiteral(R"(^\s+(\S+=\S+)\s+\(\d+ tensors\)$)"),
                                         QRegularExpression::MultilineOption);
    for (auto it = line.globalMatch(recipe); it.hasNext();)
        f.recipe << it.next().captured(1);
    if (!f.budgetBytes || !f.tensorBytes || !f.fileBytes || f.recipe.isEmpty())
        return std::nullopt;
    return f;
}

QString mb(std::uint64_t bytes)
{
    return QString::number(double(bytes) / 1e6, 'f', 1) + QStringLiteral(" MB");
}

} // namespace

class TestUiFitFlowRealSize : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model;
    QString m_shots;

    void shoot(QWidget *w, const QString &name)
    {
        if (m_shots.isEmpty())
            return;
        QVERIFY(QDir().mkpath(m_shots));
        QTest::qWait(200); // layouts settle (a table that just appeared) as a user would see them
        const QString path = QDir(m_shots).filePath(name);
        QVERIFY2(w->grab().save(path), qPrintable(path));
        qInfo().noquote() << "screenshot" << path;
    }

private slots:
    void initTestCase()
    {
        m_model = qEnvironmentVariable("QUANTFIT_REALSIZE_MODEL");
        if (m_model.isEmpty())
            QSKIP("opt-in: set QUANTFIT_REALSIZE_MODEL=model-F16.gguf (e.g. quantfit-cli make-model "
                  "M.gguf --layers 22 --embd 2048 --ff 5632 --heads 32 --kv-heads 4 --vocab 32000 "
                  "--ctx 32768 --type F16), optionally QUANTFIT_REALSIZE_RAM, _CONTEXT, _CHUNKS, "
                  "_OUT and _SHOTS; see the head of testfitflowrealsize.cpp");
        QVERIFY2(QFileInfo(m_model).isFile(), qPrintable(m_model + QStringLiteral(" does not exist")));
        m_model = QFileInfo(m_model).absoluteFilePath();
        m_shots = qEnvironmentVariable("QUANTFIT_REALSIZE_SHOTS");
        QVERIFY(m_dir.isValid());
        isolateAppFolders(m_dir);
    }

    void adviseFitConvertMeasureChart()
    {
        const int context = envOr("QUANTFIT_REALSIZE_CONTEXT", QStringLiteral("32768")).toInt();
        const int chunks = envOr("QUANTFIT_REALSIZE_CHUNKS", QStringLiteral("8")).toInt();
        const QString outDir = envOr("QUANTFIT_REALSIZE_OUT", m_dir.filePath(QStringLiteral("out")));
        QVERIFY(QDir().mkpath(outDir));
        QElapsedTimer clock;

        MainWindow window;
        window.resize(1400, 900);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        auto *advise = window.findChild<AdvisePage *>();
        auto *convert = window.findChild<ConvertPage *>();
        auto *measure = window.findChild<MeasurePage *>();
        auto *charts = window.findChild<ChartsPage *>();
        auto *results = window.findChild<ResultsModel *>();
        QVERIFY(advise && convert && measure && charts && results);

        // Advise: File > Open's path, then the context and the RAM.
        window.showPage(MainWindow::Page::Advise);
        window.openModel(m_model);
        QTRY_VERIFY_WITH_TIMEOUT(!advise->isBusy(), 120000);
        QCOMPARE(advise->currentModelId(), m_model);
        advise->setContextTokens(context);
        auto *table = advise->findChild<QTableView *>(QStringLiteral("levels"));
        auto *levels = qobject_cast<AdviceTableModel *>(table->model());
        QVERIFY(levels);
        const auto level = [&](const QString &name) -> const QuantRow * {
            for (const QuantRow &r : levels->rows())
                if (r.name == name)
                    return &r;
            return nullptr;
        };
        QVERIFY(level(QStringLiteral("Q3_K_M")) && level(QStringLiteral("Q4_K_M")));
        double ramGb = envOr("QUANTFIT_REALSIZE_RAM").toDouble();
        if (ramGb <= 0) {
            // What the levels leave besides the weights at this context (KV cache, compute,
            // runtime, reserve) is the same for every level; aim the budget at the middle.
            advise->setRamGb(1024);
            QTRY_VERIFY_WITH_TIMEOUT(!advise->isBusy(), 120000);
            const auto middle = [&] {
                const QuantRow *q3 = level(QStringLiteral("Q3_K_M"));
                const QuantRow *q4 = level(QStringLiteral("Q4_K_M"));
                const std::uint64_t rest = q3->memory.totalBytes() - q3->memory.weightsBytes;
                return std::round(double(rest + (q3->memory.weightsBytes + q4->memory.weightsBytes) / 2) / 1e8) / 10;
            };
            // The reserve depends on the RAM: aim again until the RAM stays.
            for (int i = 0; i < 8 && std::abs(middle() - ramGb) > 0.05; ++i) {
                ramGb = middle();
                advise->setRamGb(ramGb);
            }
        }
        advise->setRamGb(ramGb);
        QTRY_VERIFY_WITH_TIMEOUT(!advise->isBusy(), 120000);
        const QuantRow q3 = *level(QStringLiteral("Q3_K_M"));
        const QuantRow q4 = *level(QStringLiteral("Q4_K_M"));
        QVERIFY2(levels->fitRow() >= 0,
                 qPrintable(QStringLiteral("no Fit exactly row at %1 GB, context %2").arg(ramGb).arg(context)));
        const ExactFit fit0 = *levels->exactFit();
        qInfo().noquote() << QStringLiteral("Advise: %1 GB RAM, context %2: budget %3 (%4 bytes) between "
                                            "%5 (%6) and %7 (%8); Q3_K_M %9, Q4_K_M %10")
                                 .arg(ramGb).arg(context).arg(mb(fit0.budgetBytes)).arg(fit0.budgetBytes)
                                 .arg(fit0.below.name, mb(fit0.below.fileBytes), fit0.above.name,
                                      mb(fit0.above.fileBytes), mb(q3.fileBytes), mb(q4.fileBytes));
        QVERIFY2(q3.memory.weightsBytes <= fit0.budgetBytes && fit0.budgetBytes < q4.memory.weightsBytes,
                 "the budget is not between Q3_K_M and Q4_K_M: choose another QUANTFIT_REALSIZE_RAM");

        // Select the row, as a click would: its mix is planned on a worker and the size becomes
        // the plan's.
        clock.start();
        table->selectRow(levels->fitRow());
        QTRY_VERIFY_WITH_TIMEOUT(levels->exactFit() && (levels->exactFit()->plannedTensorBytes
                                                        || !levels->exactFit()->planError.isEmpty()),
                                 300000);
        QVERIFY2(levels->exactFit()->planError.isEmpty(), qPrintable(levels->exactFit()->planError));
        const ExactFit fit = *levels->exactFit();
        qInfo().noquote() << QStringLiteral("Advise planned the fit in %1 s: %2 bytes of tensor data, named %3")
                                 .arg(clock.elapsed() / 1000.0, 0, 'f', 1)
                                 .arg(*fit.plannedTensorBytes)
                                 .arg(fit.plannedNearestMix);
        QCOMPARE(fit.budgetBytes, fit0.budgetBytes);
        QVERIFY(*fit.plannedTensorBytes <= fit.budgetBytes);
        auto *adviseButton = advise->findChild<QPushButton *>(QStringLiteral("convert"));
        QCOMPARE(adviseButton->text(), QStringLiteral("F&it to this machine…"));
        QVERIFY(advise->findChild<QPushButton *>(QStringLiteral("fitExactlyButton"))->isEnabled());
        QApplication::processEvents();
        shoot(&window, QStringLiteral("realsize-advise.png"));

        // The same machine on the command line: same budget, same plan, same recipe.
        clock.start();
        const Test::CliResult cli =
            Test::runCli({QStringLiteral("quantize"), m_model, QStringLiteral("--fit-ram"), QString::number(ramGb),
                          QStringLiteral("--context"), QString::number(context), QStringLiteral("--dry-run")},
                         600000);
        QVERIFY2(cli.exitCode == 0 && !cli.crashed, cli.err.constData());
        const std::optional<CliFit> cliFit = parseCliFit(QString::fromUtf8(cli.out));
        QVERIFY2(cliFit, cli.out.right(3000).constData());
        qInfo().noquote() << QStringLiteral("quantfit-cli --fit-ram %1 --dry-run in %2 s: budget %3 bytes, "
                                            "tensors %4, file %5")
                                 .arg(ramGb).arg(clock.elapsed() / 1000.0, 0, 'f', 1)
                                 .arg(cliFit->budgetBytes).arg(cliFit->tensorBytes).arg(cliFit->fileBytes);
        QCOMPARE(fit.budgetBytes, cliFit->budgetBytes);
        QCOMPARE(*fit.plannedTensorBytes, cliFit->tensorBytes);

        // "Fit to this machine…": Convert with the fit checked for this machine, the recipe shown.
        QTest::mouseClick(adviseButton, Qt::LeftButton);
        QCOMPARE(window.currentPage(), MainWindow::Page::Convert);
        QTRY_VERIFY_WITH_TIMEOUT(!convert->isLoading(), 120000);
        QCOMPARE(convert->sourcePath(), m_model);
        FitPanel *panel = convert->fitPanel();
        const std::optional<FitTarget> target = panel->target();
        QVERIFY(target && target->kind == FitTarget::Kind::Machine);
        QCOMPARE(target->ramBytes, std::uint64_t(std::llround(ramGb * 1e9)));
        QCOMPARE(target->contextTokens, std::uint32_t(context));
        QCOMPARE(target->kvType, KvCacheType::F16);
        QTreeWidget *recipe = panel->recipeTree();
        QTRY_VERIFY_WITH_TIMEOUT(recipe->isVisible() && recipe->topLevelItemCount() > 0, 300000);
        QStringList shownRecipe;
        for (int i = 0; i < recipe->topLevelItemCount(); ++i)
            shownRecipe << recipe->topLevelItem(i)->text(0) + u'=' + recipe->topLevelItem(i)->text(1);
        QCOMPARE(shownRecipe, cliFit->recipe);
        QApplication::processEvents();
        shoot(&window, QStringLiteral("realsize-convert.png"));

        convert->setOutputDir(outDir);
        auto *convertButton = convert->findChild<QPushButton *>(QStringLiteral("convert"));
        QTRY_VERIFY(convertButton->isEnabled());
        clock.start();
        QSignalSpy fitted(convert, &ConvertPage::conversionFinished);
        QTest::mouseClick(convertButton, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!fitted.isEmpty(), 1800000);
        QCOMPARE(fitted.at(0).at(0).toBool(), true);
        const QString fitFile = fitted.at(0).at(1).toStringList().value(0);
        const std::uint64_t fitBytes = QFileInfo(fitFile).size();
        const std::uint64_t fitTensorBytes = GgufFile::open(fitFile).totalTensorBytes();
        qInfo().noquote() << QStringLiteral("converted the fit in %1 s: %2, %3 bytes (%4 of tensor data)")
                                 .arg(clock.elapsed() / 1000.0, 0, 'f', 1)
                                 .arg(QFileInfo(fitFile).fileName()).arg(fitBytes).arg(fitTensorBytes);
        QCOMPARE(fitBytes, cliFit->fileBytes);
        QVERIFY2(fitTensorBytes <= fit.budgetBytes, qPrintable(QStringLiteral("%1 > %2").arg(fitTensorBytes).arg(fit.budgetBytes)));
        auto *measureButton = buttonWithText(convert, QStringLiteral("Measure &quality"));
        QVERIFY(measureButton && measureButton->isEnabled());
        QTest::mouseClick(measureButton, Qt::LeftButton);
        QCOMPARE(window.currentPage(), MainWindow::Page::Measure);

        // Back on Convert: the fit unchecked, Q3_K_M and Q4_K_M in one pass.
        window.showPage(MainWindow::Page::Convert);
        panel->setChecked(false);
        convert->setTargets({QStringLiteral("Q3_K_M"), QStringLiteral("Q4_K_M")});
        QTRY_VERIFY(convertButton->isEnabled());
        clock.start();
        QSignalSpy converted(convert, &ConvertPage::conversionFinished);
        QTest::mouseClick(convertButton, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!converted.isEmpty(), 1800000);
        QCOMPARE(converted.at(0).at(0).toBool(), true);
        QString q3File, q4File;
        for (const QString &p : converted.at(0).at(1).toStringList())
            (p.contains(QStringLiteral("Q3_K_M")) ? q3File : q4File) = p;
        QVERIFY(q3File.contains(QStringLiteral("Q3_K_M")) && q4File.contains(QStringLiteral("Q4_K_M")));
        const std::uint64_t q3Bytes = QFileInfo(q3File).size();
        const std::uint64_t q4Bytes = QFileInfo(q4File).size();
        qInfo().noquote() << QStringLiteral("converted Q3_K_M and Q4_K_M in %1 s: %2 and %3 bytes")
                                 .arg(clock.elapsed() / 1000.0, 0, 'f', 1).arg(q3Bytes).arg(q4Bytes);
        // Advise's sizes are the files' (the plan the quantizer executes).
        QCOMPARE(q3Bytes, q3.fileBytes);
        QCOMPARE(q4Bytes, q4.fileBytes);
        // Issue 13: the budget, and the file, between the two.
        QVERIFY(GgufFile::open(q3File).totalTensorBytes() <= fit.budgetBytes);
        QVERIFY(fit.budgetBytes < GgufFile::open(q4File).totalTensorBytes());
        QVERIFY2(q3Bytes < fitBytes && fitBytes < q4Bytes,
                 qPrintable(QStringLiteral("%1 %2 %3").arg(q3Bytes).arg(fitBytes).arg(q4Bytes)));

        // Measure all three against the source on the built-in sample.
        QTest::mouseClick(measureButton, Qt::LeftButton);
        QCOMPARE(window.currentPage(), MainWindow::Page::Measure);
        QCOMPARE(measure->models().size(), 3);
        measure->setTextSource(QString());
        measure->setContext(128);
        measure->setChunks(chunks);
        QCOMPARE(measure->request().basePath, m_model);
        auto *run = measure->findChild<QPushButton *>(QStringLiteral("run"));
        clock.start();
        QSignalSpy measured(measure, &MeasurePage::measurementFinished);
        QTest::mouseClick(run, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!measured.isEmpty(), 3600000);
        QCOMPARE(measured.at(0).at(0).toBool(), true);
        qInfo().noquote() << QStringLiteral("measured 3 files and the base, %1 chunks of 128 tokens, in %2 s")
                                 .arg(chunks).arg(clock.elapsed() / 1000.0, 0, 'f', 1);
        std::map<QString, double> kld;
        for (const MeasurementRecord &r : results->records()) {
            if (r.isBase)
                continue;
            QVERIFY2(r.kld, qPrintable(r.modelPath + QStringLiteral(": no KLD")));
            QCOMPARE(r.basePath, m_model);
            kld[QFileInfo(r.modelPath).canonicalFilePath()] = r.kld->kldMean;
            qInfo().noquote() << QStringLiteral("%1: %2, PPL %3, KLD %4 ± %5")
                                     .arg(QFileInfo(r.modelPath).fileName(), mb(r.fileBytes))
                                     .arg(r.ppl, 0, 'f', 3).arg(r.kld->kldMean, 0, 'f', 4)
                                     .arg(r.kld->kldMeanError, 0, 'f', 4);
        }
        for (const QString &f : {q3File, fitFile, q4File})
            QVERIFY2(kld.count(QFileInfo(f).canonicalFilePath()) && kld[QFileInfo(f).canonicalFilePath()] > 0,
                     qPrintable(f + QStringLiteral(": no KLD recorded")));

        // Charts: three measured points, the fitted one between the two and labelled.
        window.showPage(MainWindow::Page::Charts);
        QCOMPARE(charts->findChild<QComboBox *>(QStringLiteral("model"))->currentIndex(), 0);
        auto *chart = charts->findChild<SizeQualityChart *>(QStringLiteral("sizeQuality"));
        QCustomPlot *plot = chart->plot();
        plot->replot();
        Test::verifyFitPointBetween(plot, q3Bytes, fitBytes, q4Bytes);
        if (QTest::currentTestFailed())
            return;
        // The window kept the size the user gave it through the run (the Measure page's live
        // line with a long file name widened it to 1,595 pixels).
        QCOMPARE(window.width(), 1400);
        // KL divergence, the measure that tells a random model's quants apart, in the lower chart.
        charts->findChild<QComboBox *>(QStringLiteral("metricChoice"))->setCurrentIndex(1);
        QApplication::processEvents();
        shoot(&window, QStringLiteral("realsize-charts.png"));
    }
};

// QTEST_MAIN, with Qt Test's 5-minute limit per test function raised to an hour (converting and
// measuring a model of a billion parameters takes minutes on a busy machine).
int main(int argc, char **argv)
{
    if (qEnvironmentVariableIsEmpty("QTEST_FUNCTION_TIMEOUT"))
        qputenv("QTEST_FUNCTION_TIMEOUT", "3600000");
    QApplication app(argc, argv);
    app.setAttribute(Qt::AA_Use96Dpi, true);
    TestUiFitFlowRealSize test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}

#include "testfitflowrealsize.moc"
