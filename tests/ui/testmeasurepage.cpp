#include "uitestsupport.h"

#include "charts/liveperplexitychart.h"
#include "jobs/jobrunner.h"
#include "models/resultsmodel.h"
#include "model/syntheticmodel.h"
#include "pages/apppaths.h"
#include "pages/measurepage.h"
#include "jobs/jobcontext.h"
#include "gguf/ggufreader.h"
#include "quant/quantizer.h"

#include <QSignalSpy>
#include <QTest>

using namespace QuantFit;

class TestUiMeasure : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void measureShowsRunningValueAndFinishes();
    void compareOutputsRunsThePrompt();
    void klDivergenceAgainstABase();

private:
    QTemporaryDir m_dir;
    QString m_model;
};

void TestUiMeasure::initTestCase()
{
    QVERIFY(m_dir.isValid());
    isolateAppFolders(m_dir);
    SyntheticModelOptions tiny;
    tiny.nLayers = 2;
    tiny.nEmbd = 64;
    tiny.nFf = 128;
    tiny.nHeads = 4;
    tiny.nHeadsKv = 2;
    tiny.nVocab = 400;
    tiny.nCtx = 256;
    tiny.name = QStringLiteral("tiny test model");
    m_model = m_dir.filePath(QStringLiteral("tiny-F32.gguf"));
    NullJobContext ctx;
    writeSyntheticModel(m_model, tiny, ctx);
}

void TestUiMeasure::measureShowsRunningValueAndFinishes()
{
    JobRunner runner;
    ResultsModel results;
    MeasurePage page(&runner, &results);
    page.show();
    page.addModel(m_model);
    page.setTextSource({}); // the built-in sample text
    page.setContext(64);
    page.setChunks(4);
    QSignalSpy finished(&page, &MeasurePage::measurementFinished);
    page.startMeasurement();
    // A running value appears while chunks are evaluated, one curve point per chunk.
    QTRY_VERIFY_WITH_TIMEOUT(page.liveChart()->count() >= 1, 60000);
    QVERIFY(page.liveValueText().contains(QStringLiteral("PPL")));
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), 120000); // may already have arrived
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    QCOMPARE(page.liveChart()->count(), 4);

    // Saved as JSON in the app's data folder and listed.
    QCOMPARE(results.records().size(), 1);
    const MeasurementRecord &r = results.records().first();
    QCOMPARE(r.modelPath, m_model);
    QCOMPARE(r.context, 64);
    QCOMPARE(r.chunks, 4);
    QCOMPARE(r.modelName, QStringLiteral("tiny test model"));
    QVERIFY(r.ppl > 1.0);
    QVERIFY(r.pplError > 0.0);
    QCOMPARE(QDir(AppPaths::resultsDir()).entryList({QStringLiteral("*.json")}).size(), 1);
    QVERIFY(page.summaryText().contains(QStringLiteral("perplexity")));
}

void TestUiMeasure::compareOutputsRunsThePrompt()
{
    JobRunner runner;
    ResultsModel results;
    MeasurePage page(&runner, &results);
    page.addModel(m_model);
    QSignalSpy finished(&page, &MeasurePage::compareFinished);
    page.startCompare();
    QVERIFY(finished.wait(60000));
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    QVERIFY2(page.compareText().contains(QStringLiteral("tiny-F32.gguf")), qPrintable(page.compareText()));
}

void TestUiMeasure::klDivergenceAgainstABase()
{
    // A Q8_0 copy of the tiny model, written by the core quantizer.
    const QString q8 = m_dir.filePath(QStringLiteral("tiny-Q8_0.gguf"));
    {
        const GgufFile source = GgufFile::open(m_model);
        NullJobContext ctx;
        quantize(source, {{makeQuantPlan(source.metadata(), source.tensors(), FileType::Q8_0), q8}}, {}, ctx);
    }
    JobRunner runner;
    ResultsModel results;
    const qsizetype before = results.records().size();
    MeasurePage page(&runner, &results);
    page.addModel(q8);
    page.setBaseModel(m_model);
    page.setTextSource({});
    page.setContext(64);
    page.setChunks(3);
    QSignalSpy finished(&page, &MeasurePage::measurementFinished);
    page.startMeasurement();
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), 120000);
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    // The base's own perplexity and the Q8_0 run against it.
    QCOMPARE(results.records().size(), before + 2);
    const auto &records = results.records();
    const auto it = std::find_if(records.begin(), records.end(),
                                 [&](const MeasurementRecord &m) { return m.modelPath == q8; });
    QVERIFY(it != records.end());
    const MeasurementRecord &r = *it;
    QCOMPARE(r.fileType, QStringLiteral("Q8_0"));
    QVERIFY(std::any_of(records.begin(), records.end(), [&](const MeasurementRecord &m) {
        return m.modelPath == m_model && m.fileType == QStringLiteral("F32") && m.context == 64;
    }));
    QVERIFY(r.kldMean.has_value());
    QVERIFY(*r.kldMean >= 0.0);
    QVERIFY(*r.kldMean < 0.1); // Q8_0 is close to its F32 base
    QVERIFY(r.pplRatio.has_value());
    QVERIFY(page.summaryText().contains(QStringLiteral("mean KLD")));
}

QTEST_MAIN(TestUiMeasure)
#include "testmeasurepage.moc"
