// The measurement record (one JSON schema, versioned) and the results folder both shells share.
// Expected keys and values are the schema as docs/formats.md states it, written out here.

#include "eval/evalresult.h"
#include "eval/resultsstore.h"

#include "util/error.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;

namespace {

MeasurementRecord sampleRecord()
{
    MeasurementRecord r;
    r.modelPath = QStringLiteral("/m/model-Q4_K_M.gguf");
    r.modelName = QStringLiteral("Model 7B");
    r.fileType = QStringLiteral("Q4_K_M");
    r.fileBytes = 4683073536;
    r.nParams = 7241732096;
    r.bitsPerWeight = 4.89;
    r.textSource = QStringLiteral("wikitext-2-raw-v1.zip:wikitext-2-raw/wiki.test.raw");
    r.nCtx = 512;
    r.nChunks = 3;
    r.nBatch = 2048;
    r.nThreads = 2;
    r.kvType = QStringLiteral("f16");
    r.nTokensScored = 765;
    r.ppl = 6.25;
    r.pplError = 0.125;
    r.runningPpl = {5.5, 6.0, 6.25};
    r.seconds = 12.5;
    r.tokensPerSecond = 122.88;
    r.date = QDateTime(QDate(2026, 11, 27), QTime(1, 2, 3, 456), Qt::UTC);
    r.producer = QStringLiteral("quantfit-cli 0.1.0");
    return r;
}

KldSummary sampleKld()
{
    KldSummary s;
    s.nTokens = 1000;
    s.kldMean = 0.0125;
    s.kldMeanError = 0.0005;
    s.kldMedian = 0.008;
    s.kldP99 = 0.09;
    s.pplRatio = 1.015;
    s.pplDelta = 0.1;
    s.sameTopPercent = 94.5;
    s.rmsDpPercent = 3.25;
    return s;
}

void writeFile(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

} // namespace

class TestEvalResult : public QObject
{
    Q_OBJECT

private slots:
    void currentSchemaKeys()
    {
        const QJsonObject o = measurementRecordToJson(sampleRecord());
        QCOMPARE(o.value(u"format").toString(), QStringLiteral("quantfit-measurement"));
        QCOMPARE(o.value(u"version").toInt(), 2);
        QCOMPARE(o.value(u"model").toString(), QStringLiteral("/m/model-Q4_K_M.gguf"));
        QCOMPARE(o.value(u"model_name").toString(), QStringLiteral("Model 7B"));
        QCOMPARE(o.value(u"file_type").toString(), QStringLiteral("Q4_K_M"));
        QCOMPARE(o.value(u"file_bytes").toDouble(), 4683073536.0);
        QCOMPARE(o.value(u"parameters").toDouble(), 7241732096.0);
        QCOMPARE(o.value(u"n_batch").toInt(), 2048);
        QCOMPARE(o.value(u"kv_type").toString(), QStringLiteral("f16"));
        QCOMPARE(o.value(u"ppl").toDouble(), 6.25);
        QCOMPARE(o.value(u"ppl_error").toDouble(), 0.125);
        QCOMPARE(o.value(u"running_ppl").toArray().size(), 3);
        QCOMPARE(o.value(u"date").toString(), QStringLiteral("2026-11-27T01:02:03.456Z"));
        QVERIFY(!o.contains(u"kld"));
        QVERIFY(!o.contains(u"base"));
        QVERIFY(!o.contains(u"is_base"));
    }

    void roundTripThroughText()
    {
        MeasurementRecord r = sampleRecord();
        r.basePath = QStringLiteral("/m/model-F16.gguf");
        r.kld = sampleKld();
        const QJsonDocument doc = QJsonDocument::fromJson(measurementRecordJsonText(r));
        const MeasurementRecord back = measurementRecordFromJson(doc.object(), QStringLiteral("x.json"));
        QVERIFY(back == r);
        QCOMPARE(back.kld->kldMedian, 0.008);
        QCOMPARE(back.kld->nTokens, std::uint64_t(1000));
        // A field that differs makes the records differ.
        MeasurementRecord other = back;
        other.kld->kldP99 = 0.1;
        QVERIFY(!(other == r));
    }

    // The app's records before this schema: camelCase keys and a few KLD figures.
    void readsTheAppsFirstFormat()
    {
        const QByteArray v1 = R"({"format": "quantfit-measurement-1", "modelPath": "/a/m-Q8_0.gguf",
            "modelName": "m", "fileType": "Q8_0", "fileBytes": 1000, "nParams": 900,
            "bitsPerWeight": 8.5, "text": "built-in sample", "context": 256, "chunks": 4,
            "ppl": 12.5, "pplError": 0.5, "tokensPerSecond": 99.5, "basePath": "/a/m-F32.gguf",
            "when": "2026-10-01T10:00:00.000", "kldMean": 0.02, "kldMeanError": 0.001,
            "kldMedian": 0.01, "kldP99": 0.2, "pplRatio": 1.01, "sameTopPercent": 97.5})";
        const MeasurementRecord r = measurementRecordFromJson(QJsonDocument::fromJson(v1).object(),
                                                              QStringLiteral("old.json"));
        QCOMPARE(r.modelPath, QStringLiteral("/a/m-Q8_0.gguf"));
        QCOMPARE(r.fileType, QStringLiteral("Q8_0"));
        QCOMPARE(r.fileBytes, std::uint64_t(1000));
        QCOMPARE(r.nCtx, 256);
        QCOMPARE(r.nChunks, 4);
        QCOMPARE(r.ppl, 12.5);
        QCOMPARE(r.basePath, QStringLiteral("/a/m-F32.gguf"));
        QVERIFY(r.date.isValid());
        QVERIFY(r.kld);
        QCOMPARE(r.kld->kldMean, 0.02);
        QCOMPARE(r.kld->sameTopPercent, 97.5);
    }

    // `perplexity --json` of earlier builds: the same snake_case keys, no format or version.
    void readsEarlierCliOutput()
    {
        const QByteArray old = R"({"model": "q.gguf", "file_type": "Q4_0", "text": "t.txt",
            "n_ctx": 128, "n_chunks": 2, "n_tokens_scored": 126, "ppl": 7.5, "ppl_error": 0.25,
            "running_ppl": [7, 7.5], "seconds": 1.5, "tokens_per_second": 170.5,
            "date": "2026-11-01T00:00:00Z"})";
        const MeasurementRecord r = measurementRecordFromJson(QJsonDocument::fromJson(old).object(),
                                                              QStringLiteral("cli.json"));
        QCOMPARE(r.modelPath, QStringLiteral("q.gguf"));
        QCOMPARE(r.nTokensScored, std::uint64_t(126));
        QCOMPARE(r.runningPpl, (std::vector<double>{7, 7.5}));
        QCOMPARE(r.date, QDateTime(QDate(2026, 11, 1), QTime(0, 0), Qt::UTC));
    }

    void refusals_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not a record") << QByteArray(R"({"something": 1})") << "not a measurement record";
        QTest::newRow("foreign format") << QByteArray(R"({"format": "other", "model": "m", "ppl": 1})")
                                        << "'other' is not a QuantFit measurement record";
        QTest::newRow("newer version")
            << QByteArray(R"({"format": "quantfit-measurement", "version": 3, "model": "m", "ppl": 1})")
            << "schema version 3";
        QTest::newRow("ppl not a number")
            << QByteArray(R"({"format": "quantfit-measurement", "version": 2, "model": "m", "ppl": "x"})")
            << "not a measurement record";
    }

    void refusals()
    {
        QFETCH(QByteArray, json);
        QFETCH(QString, expected);
        try {
            measurementRecordFromJson(QJsonDocument::fromJson(json).object(), QStringLiteral("other.json"));
            QFAIL("accepted");
        } catch (const FormatError &e) {
            QVERIFY2(e.message().contains(QStringLiteral("other.json")), qPrintable(e.message()));
            QVERIFY2(e.message().contains(expected), qPrintable(e.message()));
        }
    }

    void readFileRefusesBrokenJson()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("broken.json"));
        writeFile(path, "{\"model\": ");
        try {
            readMeasurementRecord(path);
            QFAIL("accepted");
        } catch (const FormatError &e) {
            QVERIFY(e.message().contains(path));
            QCOMPARE(e.field(), QStringLiteral("JSON"));
        }
    }

    // The store: save, list newest first, import a CLI output, skip foreign files, remove.
    void storeSavesListsImportsAndRemoves()
    {
        QTemporaryDir dir;
        const ResultsStore store(dir.filePath(QStringLiteral("results")));
        MeasurementRecord older = sampleRecord();
        older.date = QDateTime(QDate(2026, 1, 1), QTime(0, 0), Qt::UTC);
        MeasurementRecord newer = sampleRecord();
        newer.fileType = QStringLiteral("Q8_0");
        newer.modelPath = QStringLiteral("/m/model-Q8_0.gguf");
        const QString p1 = store.save(older);
        const QString p2 = store.save(newer);
        QVERIFY(QFile::exists(p1) && QFile::exists(p2) && p1 != p2);
        // Two records of one model at the same time do not overwrite each other.
        const QString p3 = store.save(older);
        QVERIFY(p3 != p1);

        writeFile(dir.filePath(QStringLiteral("results/notes.json")), "[1, 2]");
        const QString cliOutput = dir.filePath(QStringLiteral("cli.json"));
        MeasurementRecord fromCli = sampleRecord();
        fromCli.date = QDateTime(QDate(2027, 1, 1), QTime(0, 0), Qt::UTC);
        fromCli.kld = sampleKld();
        writeFile(cliOutput, measurementRecordJsonText(fromCli));
        store.import(cliOutput);

        QStringList problems;
        const std::vector<MeasurementRecord> all = store.list(&problems);
        QCOMPARE(all.size(), std::size_t(4));
        QCOMPARE(problems.size(), 1);
        QVERIFY(problems.front().contains(QStringLiteral("notes.json")));
        QCOMPARE(all.front().date, fromCli.date); // newest first
        QVERIFY(all.front().kld);
        QCOMPARE(all.back().date, older.date);
        QVERIFY(!all.front().id.isEmpty());
        QCOMPARE(store.pathOf(all.front().id).endsWith(QStringLiteral(".json")), true);

        store.remove(all.front().id);
        QCOMPARE(store.list().size(), std::size_t(3));
        QVERIFY_THROWS_EXCEPTION(IoError, store.remove(QStringLiteral("no-such-record")));
    }

    void storeFolderFromTheEnvironment()
    {
        qputenv("QUANTFIT_RESULTS_DIR", "/tmp/somewhere/results");
        QCOMPARE(ResultsStore::defaultFolder(), QStringLiteral("/tmp/somewhere/results"));
        qunsetenv("QUANTFIT_RESULTS_DIR");
        QVERIFY(ResultsStore::defaultFolder().endsWith(QStringLiteral("/QuantFit/quantfit/results")));
    }
};

QTEST_APPLESS_MAIN(TestEvalResult)
#include "testevalresult.moc"
