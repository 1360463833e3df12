#include "uitestsupport.h"

#include "charts/liveperplexitychart.h"
#include "jobs/jobrunner.h"
#include "models/resultsmodel.h"
#include "model/syntheticmodel.h"
#include "pages/chartspage.h"
#include "pages/measurepage.h"
#include "charts/sizequalitychart.h"
#include "charts/metricchart.h"
#include "jobs/jobcontext.h"
#include "gguf/ggufreader.h"
#include "tasks/conversiontask.h"
#include "testsupport.h"

#include <QComboBox>
#include <QGroupBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTest>

using namespace QuantFit;

namespace {

QString labelText(const QWidget &page, const char *name)
{
    const auto *label = page.findChild<QLabel *>(QLatin1String(name));
    return label ? label->text() : QString();
}

// What two runs of one request must agree on: everything measured and every setting; not the
// timing, the date, the thread count or who ran it.
void compareMeasured(const MeasurementRecord &a, const MeasurementRecord &b)
{
    QCOMPARE(a.modelPath, b.modelPath);
    QCOMPARE(a.modelName, b.modelName);
    QCOMPARE(a.fileType, b.fileType);
    QCOMPARE(a.fileBytes, b.fileBytes);
    QCOMPARE(a.nParams, b.nParams);
    QCOMPARE(a.bitsPerWeight, b.bitsPerWeight);
    QCOMPARE(a.isBase, b.isBase);
    QCOMPARE(a.textSource, b.textSource);
    QCOMPARE(a.basePath, b.basePath);
    QCOMPARE(a.nCtx, b.nCtx);
    QCOMPARE(a.nChunks, b.nChunks);
    QCOMPARE(a.kvType, b.kvType);
    QCOMPARE(a.nTokensScored, b.nTokensScored);
    QCOMPARE(a.ppl, b.ppl);
    QCOMPARE(a.pplError, b.pplError);
    QCOMPARE(a.runningPpl, b.runningPpl);
    QCOMPARE(a.kld.has_value(), b.kld.has_value());
    if (a.kld) {
        QCOMPARE(a.kld->kldMean, b.kld->kldMean);
        QCOMPARE(a.kld->kldP99, b.kld->kldP99);
        QCOMPARE(a.kld->sameTopPercent, b.kld->sameTopPercent);
        QCOMPARE(a.kld->pplRatio, b.kld->pplRatio);
    }
}

std::vector<MeasurementRecord> cliRecords(const QByteArray &json)
{
    std::vector<MeasurementRecord> out;
    const QJsonDocument doc = QJsonDocument::fromJson(json);
    if (doc.isObject())
        out.push_back(measurementRecordFromJson(doc.object(), QStringLiteral("stdout")));
    for (const QJsonValue v : doc.array())
        out.push_back(measurementRecordFromJson(v.toObject(), QStringLiteral("stdout")));
    return out;
}

} // namespace

class TestUiMeasure : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void measureShowsRunningValueAndFinishes();
    void compareOutputsRunsThePrompt();
    void klDivergenceAgainstABase();
    void cliResultAppearsOnTheChart();

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
    auto *chart = page.findChild<LivePerplexityChart *>(QStringLiteral("liveChart"));
    QVERIFY(chart);
    QTRY_VERIFY_WITH_TIMEOUT(chart->count() >= 1, 60000);
    QVERIFY(labelText(page, "liveValue").contains(QStringLiteral("PPL")));
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), 120000); // may already have arrived
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    QCOMPARE(chart->count(), 4);

    // Saved as JSON in the shared results folder and listed.
    QCOMPARE(results.records().size(), 1);
    const MeasurementRecord r = results.records().first();
    QCOMPARE(r.modelPath, m_model);
    QCOMPARE(r.nCtx, 64);
    QCOMPARE(r.nChunks, 4);
    QCOMPARE(r.modelName, QStringLiteral("tiny test model"));
    QVERIFY(r.ppl > 1.0);
    QVERIFY(r.pplError > 0.0);
    QCOMPARE(QDir(ResultsStore::defaultFolder()).entryList({QStringLiteral("*.json")}).size(), 1);
    QVERIFY(labelText(page, "summary").contains(QStringLiteral("perplexity")));

    // The same request from the CLI gives the same record; it sees the app's record too.
    const auto cli = Test::runCli({QStringLiteral("perplexity"), m_model, QStringLiteral("--sample"),
                                   QStringLiteral("-c"), QStringLiteral("64"), QStringLiteral("--chunks"),
                                   QStringLiteral("4"), QStringLiteral("--json")});
    QVERIFY2(cli.exitCode == 0, cli.err.constData());
    const std::vector<MeasurementRecord> fromCli = cliRecords(cli.out);
    QCOMPARE(fromCli.size(), std::size_t(1));
    compareMeasured(r, fromCli.front());
    const auto listed = Test::runCli({QStringLiteral("results"), QStringLiteral("--json")});
    QVERIFY2(listed.exitCode == 0, listed.err.constData());
    QCOMPARE(QJsonDocument::fromJson(listed.out).array().size(), 1);
    QCOMPARE(QJsonDocument::fromJson(listed.out).array().at(0).toObject().value(u"id").toString(), r.id);
}

void TestUiMeasure::compareOutputsRunsThePrompt()
{
    JobRunner runner;
    ResultsModel results;
    MeasurePage page(&runner, &results);
    page.addModel(m_model);
    auto *prompt = page.findChild<QLineEdit *>(QStringLiteral("prompt"));
    auto *tokens = page.findChild<QSpinBox *>(QStringLiteral("tokens"));
    QVERIFY(prompt && tokens);
    prompt->setText(QStringLiteral("Once upon a time"));
    tokens->setValue(16);
    QSignalSpy finished(&page, &MeasurePage::compareFinished);
    page.startCompare();
    QVERIFY(finished.wait(60000));
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    const auto boxes = page.findChild<QWidget *>(QStringLiteral("outputs"))->findChildren<QGroupBox *>();
    QCOMPARE(boxes.size(), 1);
    QVERIFY2(boxes.front()->title().contains(QStringLiteral("tiny-F32.gguf")), qPrintable(boxes.front()->title()));
    const QString shown = boxes.front()->findChild<QPlainTextEdit *>()->toPlainText();

    // The CLI's generate runs the same request (greedy, 16 tokens) and prints the same text.
    const auto cli = Test::runCli({QStringLiteral("generate"), m_model, QStringLiteral("-p"),
                                   QStringLiteral("Once upon a time"), QStringLiteral("-n"), QStringLiteral("16")});
    QVERIFY2(cli.exitCode == 0, cli.err.constData());
    QCOMPARE(QString::fromUtf8(cli.out).chopped(1), shown); // the CLI ends with a newline
}

void TestUiMeasure::klDivergenceAgainstABase()
{
    // A Q8_0 copy of the tiny model.
    const QString q8 = m_dir.filePath(QStringLiteral("tiny-Q8_0.gguf"));
    {
        ConversionRequest c;
        c.sourcePath = m_model;
        c.fileTypes = {FileType::Q8_0};
        c.outputFile = q8;
        NullJobContext ctx;
        runConversion(c, ctx);
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
    const auto base = std::find_if(records.begin(), records.end(), [&](const MeasurementRecord &m) {
        return m.modelPath == m_model && m.isBase && m.fileType == QStringLiteral("F32") && m.nCtx == 64;
    });
    QVERIFY(base != records.end());
    QVERIFY(r.kld.has_value());
    QVERIFY(r.kld->kldMean >= 0.0);
    QVERIFY(r.kld->kldMean < 0.1); // Q8_0 is close to its F32 base
    QVERIFY(r.kld->pplRatio > 0);
    QVERIFY(labelText(page, "summary").contains(QStringLiteral("mean KLD")));

    // The CLI with the same request: the base first, then the Q8_0 against it; equal records.
    const auto cli = Test::runCli({QStringLiteral("perplexity"), q8, QStringLiteral("--base"), m_model,
                                   QStringLiteral("--sample"), QStringLiteral("-c"), QStringLiteral("64"),
                                   QStringLiteral("--chunks"), QStringLiteral("3"), QStringLiteral("--json")});
    QVERIFY2(cli.exitCode == 0, cli.err.constData());
    const std::vector<MeasurementRecord> fromCli = cliRecords(cli.out);
    QCOMPARE(fromCli.size(), std::size_t(2));
    compareMeasured(*base, fromCli[0]);
    compareMeasured(r, fromCli[1]);
}

// A result measured with the CLI (--json to a file), added in the app, is plotted.
void TestUiMeasure::cliResultAppearsOnTheChart()
{
    const QString file = m_dir.filePath(QStringLiteral("cli-result.json"));
    const auto cli = Test::runCli({QStringLiteral("perplexity"), m_model, QStringLiteral("--sample"),
                                   QStringLiteral("-c"), QStringLiteral("64"), QStringLiteral("--chunks"),
                                   QStringLiteral("2"), QStringLiteral("--json")});
    QVERIFY2(cli.exitCode == 0, cli.err.constData());
    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(cli.out);
    }
    const QString folder = m_dir.filePath(QStringLiteral("chart-results"));
    ResultsModel results(folder);
    QCOMPARE(results.records().size(), 0);
    results.importFile(file);
    QCOMPARE(results.records().size(), 1);
    ChartsPage page(&results);
    auto *choice = page.findChild<QComboBox *>(QStringLiteral("model"));
    QVERIFY(choice);
    const int index = choice->findData(QStringLiteral("tiny test model"));
    QVERIFY(index > 0);
    choice->setCurrentIndex(index);
    // Perplexity over bits per weight shows the CLI's measurement.
    QCOMPARE(page.findChild<MetricChart *>(QStringLiteral("metric"))->pointCount(), 1);
}

QTEST_MAIN(TestUiMeasure)
#include "testmeasurepage.moc"
