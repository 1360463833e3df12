#include "uitestsupport.h"

#include "advisor/advisor.h"
#include "catalog/modelshape.h"
#include "eval/evalresult.h"
#include "models/advicetablemodel.h"
#include "models/resultsmodel.h"
#include "pages/advisepage.h"
#include "widgets/memorybar.h"

#include <QAbstractItemModel>
#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTest>
#include <QToolButton>
#include <QTreeWidget>

namespace {

QAbstractItemModel *levels(const AdvisePage &page)
{
    return page.findChild<QTableView *>(QStringLiteral("levels"))->model();
}

// The quant of the table's starred row, empty when none is recommended.
QString recommendedQuant(const AdvisePage &page)
{
    const QAbstractItemModel *model = levels(page);
    for (int r = 0; r < model->rowCount(); ++r) {
        const QString text = model->index(r, 0).data().toString();
        if (text.endsWith(QStringLiteral(" ★")))
            return text.chopped(2);
    }
    return {};
}

// "Llama 3.1 8B Q8_0": the model and quant of a priority row, empty when the row is absent.
QString priorityRow(const AdvisePage &page, QuantFit::Priority priority)
{
    const auto *rows = page.findChild<QTreeWidget *>(QStringLiteral("rows"));
    for (int i = 0; i < rows->topLevelItemCount(); ++i) {
        if (rows->topLevelItem(i)->text(0) == QuantFit::priorityName(priority))
            return rows->topLevelItem(i)->text(1);
    }
    return {};
}

QString labelText(const AdvisePage &page, const char *name)
{
    const auto *label = page.findChild<QLabel *>(QLatin1String(name));
    return label ? label->text() : QString();
}

MemoryBar *memoryBar(const AdvisePage &page)
{
    return page.findChild<MemoryBar *>(QStringLiteral("memoryBar"));
}

} // namespace

// Expected values are the product brief's "Recommendations by System" tables
// (restated in the README, "Recommendation"): the "Best balance"/"Best fit" row per RAM size;
// and its decision flow for one model ("Start with Q4_K_M", "No memory to spare -> is quality
// critical?").
class TestUiAdvise : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void ramChangesTheRecommendation();
    void recommendationIsLaidOutAsGiven();
    void memoryBarFollowsRamInstantly();
    void tableListsEveryLevelWithBadges();
    void fitPlanBelongsToItsModel();
    void enteredShapeIsAdvised();
    void iquantRecommendationDrivesConvert();
    void measuredQualityReplacesEstimate();
    void layoutShowsEveryLevel();
    void machineIsRemembered();

private:
    QTemporaryDir m_dir;
};

void TestUiAdvise::initTestCase()
{
    QVERIFY(m_dir.isValid());
    isolateAppFolders(m_dir);
}

void TestUiAdvise::ramChangesTheRecommendation()
{
    using QuantFit::Priority;
    AdvisePage page;
    page.show();
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));

    // 32 GB: "Best balance | Qwen3 14B Q6_K" (the current ladder; tests/core/advisor derives
    // the rows). The page says when its background rows are done.
    QSignalSpy idle(&page, &AdvisePage::idle);
    page.setRamGb(32);
    QVERIFY(idle.wait(20000));
    QVERIFY(!page.isBusy());
    const QString at32 = priorityRow(page, Priority::BestBalance);
    QVERIFY2(at32.contains(QStringLiteral("14B")) && at32.endsWith(QStringLiteral("Q6_K")), qPrintable(at32));

    const QString rec32 = recommendedQuant(page); // 70B on 32 GB: at most a low level

    // 64 GB: "Best balance | Qwen3 32B Q4_K_M"
    page.setRamGb(64);
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
    const QString at64 = priorityRow(page, Priority::BestBalance);
    QVERIFY2(at64.contains(QStringLiteral("32B")) && at64.endsWith(QStringLiteral("Q4_K_M")), qPrintable(at64));
    const QString rec64 = recommendedQuant(page);
    QVERIFY(!rec64.isEmpty());
    QVERIFY(rec64 != rec32);

    // 128 GB: "Best balance | gpt-oss 120B Q8_0" (its published MXFP4 file)
    page.setRamGb(128);
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
    const QString at128 = priorityRow(page, Priority::BestBalance);
    QVERIFY2(at128.contains(QStringLiteral("120B")) && at128.endsWith(QStringLiteral("Q8_0")), qPrintable(at128));
    QVERIFY(!recommendedQuant(page).isEmpty());
    QVERIFY(recommendedQuant(page) != rec32);
    QVERIFY(labelText(page, "headline").contains(recommendedQuant(page)));
}

// The advisor's recommendation shown as it is: headline, fit badge, reasons, steps, and the
// smaller alternative as a link that selects it.
void TestUiAdvise::recommendationIsLaidOutAsGiven()
{
    AdvisePage page;
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
    page.setRamGb(64);
    page.setContextTokens(8192);
    // 70B on 64 GB: the brief's start, Q4_K_M, fits with no memory to spare.
    QCOMPARE(recommendedQuant(page), QStringLiteral("Q4_K_M"));
    const QString headline = labelText(page, "headline");
    QVERIFY2(headline.contains(QStringLiteral("Llama 3.1 70B")) && headline.contains(QStringLiteral("64 GB"))
                 && headline.contains(QStringLiteral("Q4_K_M")),
             qPrintable(headline));
    QVERIFY(labelText(page, "badge").contains(QStringLiteral("Tight")));
    // The Q4_K_M file of Llama 3.1 70B is 42.5 GB (the usual Hugging Face GGUF pages).
    QVERIFY2(labelText(page, "reasons").contains(QStringLiteral("42.5 GB")), qPrintable(labelText(page, "reasons")));
    QVERIFY(labelText(page, "steps").contains(QStringLiteral("Start with Q4_K_M")));
    // The steps fold away behind their toggle.
    page.show();
    auto *steps = page.findChild<QLabel *>(QStringLiteral("steps"));
    QVERIFY(!steps->isVisible());
    QTest::mouseClick(page.findChild<QToolButton *>(QStringLiteral("stepsToggle")), Qt::LeftButton);
    QVERIFY(steps->isVisible());
    QVERIFY(labelText(page, "alternative").isEmpty());

    // Quality critical: "use a smaller model at a higher quant", named with a link.
    page.findChild<QCheckBox *>(QStringLiteral("qualityCritical"))->setChecked(true);
    auto *alternative = page.findChild<QLabel *>(QStringLiteral("alternative"));
    QVERIFY2(alternative->text().contains(QStringLiteral("Llama 3.1 8B")), qPrintable(alternative->text()));
    emit alternative->linkActivated(QStringLiteral("llama-3.1-8b"));
    QCOMPARE(page.currentModelId(), QStringLiteral("llama-3.1-8b"));
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
}

void TestUiAdvise::memoryBarFollowsRamInstantly()
{
    AdvisePage page;
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-8b")));
    MemoryBar *bar = memoryBar(page);
    QVERIFY(bar);
    page.setRamGb(32);
    // No event loop turn in between: the bar is updated synchronously.
    QCOMPARE(bar->capacityBytes(), std::uint64_t(32e9));
    const std::uint64_t total32 = bar->totalBytes();
    QVERIFY(total32 > 0);
    page.setRamGb(64);
    QCOMPARE(bar->capacityBytes(), std::uint64_t(64e9));
    page.setContextTokens(32768);
    // A longer context needs a larger KV cache (Llama 3.1 8B: 131072 bytes per token at f16).
    QVERIFY(bar->totalBytes() > total32);
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
}

void TestUiAdvise::tableListsEveryLevelWithBadges()
{
    AdvisePage page;
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
    page.setRamGb(64);
    QAbstractItemModel *model = levels(page);
    // Q2_K .. F16, the brief's table, and "Fit exactly" between Q5_K_M and Q6_K (the weights
    // budget at 8192 tokens lies between their 49.9 and 57.9 GB)
    QCOMPARE(model->rowCount(), 11);
    QCOMPARE(model->index(7, 0).data().toString(), QStringLiteral("Fit exactly"));
    QCOMPARE(model->index(6, 0).data().toString(), QStringLiteral("Q5_K_M"));
    QCOMPARE(model->index(8, 0).data().toString(), QStringLiteral("Q6_K"));
    bool sawFit = false, sawNoFit = false, sawRecommended = false;
    for (int r = 0; r < model->rowCount(); ++r) {
        const QString badge = model->index(r, 6).data().toString();
        sawFit = sawFit || badge.contains(QStringLiteral("Comfortable")) || badge.contains(QStringLiteral("Tight"));
        sawNoFit = sawNoFit || badge.contains(QStringLiteral("Does not fit"));
        sawRecommended = sawRecommended || model->index(r, 0).data().toString().contains(QStringLiteral("★"));
    }
    QVERIFY(sawFit);
    QVERIFY(sawNoFit); // F16 of a 70B model (141 GB) does not fit in 64 GB
    QVERIFY(sawRecommended);
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
}

void TestUiAdvise::enteredShapeIsAdvised()
{
    AdvisePage page;
    // Llama 3.1 8B's published shape, entered by hand.
    QuantFit::ModelShape shape;
    shape.id = QStringLiteral("custom");
    shape.name = QStringLiteral("My 8B");
    shape.nLayers = 32;
    shape.nEmbd = 4096;
    shape.nFf = 14336;
    shape.nHeads = 32;
    shape.nHeadsKv = 8;
    shape.headDim = 128;
    shape.nVocab = 128256;
    shape.nCtxMax = 131072;
    shape.paramsBillions = 8.03;
    page.setRamGb(32);
    page.setCustomShape(shape);
    QCOMPARE(page.currentModelId(), QStringLiteral("custom"));
    // The ten levels; no fit row, since Q8_0 (8.5 GB) already leaves room on 32 GB.
    QCOMPARE(levels(page)->rowCount(), 10);
    QVERIFY(!recommendedQuant(page).isEmpty()); // an 8B model fits 32 GB
    // Back to the catalog drops the entered shape.
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
    QCOMPARE(page.currentModelId(), QStringLiteral("llama-3.1-70b"));
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
}

// Llama 3.1 405B on 128 GB: no level of the brief's table fits (Q2_K is 149 GB), the
// recommendation is an I-quant; the memory bar and "Convert with …" follow it.
void TestUiAdvise::iquantRecommendationDrivesConvert()
{
    AdvisePage page;
    page.show();
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-405b")));
    page.setRamGb(128);
    page.setContextTokens(8192);
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
    QCOMPARE(recommendedQuant(page), QString()); // not a row of the brief's table
    QVERIFY2(labelText(page, "headline").endsWith(QStringLiteral("IQ2_XXS")),
             qPrintable(labelText(page, "headline")));
    QVERIFY(labelText(page, "reasons").contains(QStringLiteral("importance matrix")));
    const QuantFit::ModelAdvice advice = QuantFit::Advisor().adviseModel(
        QStringLiteral("llama-3.1-405b"), [] {
            QuantFit::AdviceOptions o;
            o.ramBytes = 128'000'000'000ull;
            o.contextTokens = 8192;
            return o;
        }());
    const QuantFit::QuantRow *row = advice.row(QuantFit::FileType::IQ2_XXS);
    QVERIFY(row);
    QCOMPARE(memoryBar(page)->totalBytes(), row->memory.totalBytes());
    auto *convert = page.findChild<QPushButton *>(QStringLiteral("convert"));
    QVERIFY(convert->text().contains(QStringLiteral("IQ2_XXS")));
    QSignalSpy requested(&page, &AdvisePage::convertRequested);
    QTest::mouseClick(convert, Qt::LeftButton);
    QCOMPARE(requested.size(), 1);
    QCOMPARE(requested.at(0).at(0).toString(), QStringLiteral("IQ2_XXS"));
}

// Issue 12, deliverable 6: a quality the user measured replaces the published estimate of that
// level, labelled "measured". The record goes through the results folder as the Measure page
// saves it; the figure is the KLD run's PPL ratio - 1 (here 1.0250: +2.50 %).
void TestUiAdvise::measuredQualityReplacesEstimate()
{
    AdvisePage page;
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-8b")));
    page.setRamGb(32);
    QuantFit::AdviceOptions o;
    o.ramBytes = 32'000'000'000ull;
    const QuantFit::ModelAdvice advice = QuantFit::Advisor().adviseModel(QStringLiteral("llama-3.1-8b"), o);
    const int q4 = [&] {
        for (int r = 0; r < levels(page)->rowCount(); ++r)
            if (levels(page)->index(r, 0).data().toString().startsWith(QStringLiteral("Q4_K_M")))
                return r;
        return -1;
    }();
    QVERIFY(q4 >= 0);
    const QModelIndex quality = levels(page)->index(q4, AdviceTableModel::Quality);
    QVERIFY(!quality.data().toString().contains(QStringLiteral("measured")));

    ResultsModel results(m_dir.filePath(QStringLiteral("results")));
    QuantFit::MeasurementRecord record;
    record.modelPath = QStringLiteral("/models/Llama-3.1-8B-Q4_K_M.gguf");
    record.modelName = QStringLiteral("Llama 3.1 8B");
    record.fileType = QStringLiteral("Q4_K_M");
    record.nParams = advice.nParams; // the same model
    record.textSource = QStringLiteral("/data/wiki.test.raw");
    record.nCtx = 512;
    record.ppl = 7.175;
    record.kld = QuantFit::KldSummary{};
    record.kld->pplRatio = 1.0250;
    record.kld->kldMean = 0.0312;
    results.save(record);
    // Another model's run (different parameter count) of Q8_0 changes nothing.
    record.fileType = QStringLiteral("Q8_0");
    record.nParams = advice.nParams + 1000;
    results.save(record);

    page.setMeasurements(results.qualityMeasurements());
    QCOMPARE(quality.data().toString(), QStringLiteral("+2.50% measured"));
    QVERIFY(quality.data(Qt::ToolTipRole).toString().contains(QStringLiteral("wiki.test.raw")));
    QVERIFY(quality.data(Qt::ToolTipRole).toString().contains(QStringLiteral("0.0312")));
    for (int r = 0; r < levels(page)->rowCount(); ++r) {
        if (r != q4)
            QVERIFY(!levels(page)->index(r, AdviceTableModel::Quality).data().toString().contains(
                QStringLiteral("measured")));
    }
    QVERIFY(levels(page)->headerData(AdviceTableModel::Quality, Qt::Horizontal).toString().contains(
        QStringLiteral("measured")));
    // A different model: the estimates again.
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
    for (int r = 0; r < levels(page)->rowCount(); ++r)
        QVERIFY(!levels(page)->index(r, AdviceTableModel::Quality).data().toString().contains(
            QStringLiteral("measured")));
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
}

// At 1280x800 (the app's screenshot size) the level table shows every row without scrolling,
// and the placement tab is one click away.
void TestUiAdvise::layoutShowsEveryLevel()
{
    AdvisePage page;
    page.resize(1280, 740); // the window minus menu, page tabs and status bar
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
    page.setRamGb(64);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));
    auto *table = page.findChild<QTableView *>(QStringLiteral("levels"));
    QVERIFY(table->isVisible());
    const int last = table->model()->rowCount() - 1;
    QCOMPARE(last, 10);
    const QRect lastRow = table->visualRect(table->model()->index(last, 0));
    QVERIFY2(lastRow.bottom() <= table->viewport()->height(),
             qPrintable(QStringLiteral("row %1 ends at %2 of %3").arg(last).arg(lastRow.bottom())
                            .arg(table->viewport()->height())));
    QVERIFY(page.selectMachine(QStringLiteral("strix-halo-128")));
    QVERIFY(page.findChild<QWidget *>(QStringLiteral("machinePanel"))->isVisible());
    QVERIFY(!table->isVisible());
    page.showLevels();
    QVERIFY(table->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
}

// The placement tab's machine comes back with the page, like RAM, model and context.
void TestUiAdvise::machineIsRemembered()
{
    const auto machine = [](const AdvisePage &page) {
        return page.findChild<QComboBox *>(QStringLiteral("machine"))->currentData().toString();
    };
    {
        AdvisePage page;
        QVERIFY(page.selectMachine(QStringLiteral("mac-studio-64")));
        page.saveSettings();
        QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 20000);
    }
    AdvisePage again;
    QCOMPARE(machine(again), QStringLiteral("mac-studio-64"));
    QVERIFY(again.selectMachine(QString())); // RAM only, for the tests after this one
    again.saveSettings();
    QTRY_VERIFY_WITH_TIMEOUT(!again.isBusy(), 20000);
}

// A planned "Fit exactly" row belongs to one model: the same advice for another file (an F16
// and its Q8_0 have one parameter count, so the same budget) starts unplanned, and a plan that
// finishes for the file no longer shown is dropped. Before, the row kept the first file's plan.
void TestUiAdvise::fitPlanBelongsToItsModel()
{
    QuantFit::AdviceOptions o;
    o.ramBytes = 64'000'000'000ull;
    const QuantFit::ModelAdvice advice = QuantFit::Advisor().adviseModel(QStringLiteral("llama-3.1-70b"), o);
    AdviceTableModel model;
    model.setAdvice(advice, QStringLiteral("/models/a-F16.gguf"));
    QVERIFY(model.exactFit());
    const std::uint64_t budget = model.exactFit()->budgetBytes;
    const QString sourceA = model.exactFit()->source;
    model.setPlannedFit(sourceA, budget, budget - 1000, QStringLiteral("Q5_K_M"));
    QCOMPARE(*model.exactFit()->plannedTensorBytes, budget - 1000);

    // A measurement of the same file changes nothing the plan depends on: it is kept.
    model.setAdvice(advice, QStringLiteral("/models/a-F16.gguf"));
    QVERIFY(model.exactFit()->plannedTensorBytes);

    model.setAdvice(advice, QStringLiteral("/models/a-Q8_0.gguf"));
    QCOMPARE(model.exactFit()->budgetBytes, budget);
    QVERIFY(model.exactFit()->source != sourceA);
    QVERIFY(!model.exactFit()->plannedTensorBytes);
    model.setPlannedFit(sourceA, budget, budget - 2000, QStringLiteral("Q5_K_M")); // late: the first file
    model.setFitPlanError(sourceA, budget, QStringLiteral("late"));
    QVERIFY(!model.exactFit()->plannedTensorBytes);
    QVERIFY(model.exactFit()->planError.isEmpty());
    model.setPlannedFit(model.exactFit()->source, budget, budget - 3000, QStringLiteral("Q5_K_M"));
    QCOMPARE(*model.exactFit()->plannedTensorBytes, budget - 3000);
}

QTEST_MAIN(TestUiAdvise)
#include "testadvisepage.moc"
