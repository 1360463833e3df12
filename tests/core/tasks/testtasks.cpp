// core/tasks: each long job as one request. Synthetic models from our own writer; expectations
// from the GGUF layout (the imatrix keys' bytes), the task contracts and independent runs of
// the lower-level functions.

#include "testsupport.h"

#include "eval/evalresult.h"
#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"
#include "tasks/conversiontask.h"
#include "tasks/generationtask.h"
#include "tasks/imatrixtask.h"
#include "tasks/measurementtask.h"
#include "util/error.h"

#include <algorithm>

#include <QDir>
#include <QFileInfo>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;

class TestTasks : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void prepareCountsTheImatrixKeys();
    void prepareNamesOutputsAndRefusesBadRequests();
    void conversionWritesVerifiedFiles();
    void conversionRefusesTheInputAsOutput();
    void conversionCancelLeavesNothing();
    void imatrixTaskWritesBothFormats();
    void calibratedConversionEqualsTwoSteps();
    void calibratedConversionRecordsTheText();
    void calibratedProgressIsOneContinuousBar();
    void calibratedCancelLeavesNothing_data();
    void calibratedCancelLeavesNothing();
    void calibrationRefusesBadRequestsBeforeWorking();
    void calibrationFromAQuantizedSource();
    void measurementRecordsCarryTheFileFacts();
    void measurementAgainstABaseModel();
    void measurementRefusesBadRequests();
    void generationRunsEveryModelWithOneStopRule();
    void generationRefusesAnEmptyPrompt();
    void utf8PrefixNeverSplitsACharacter();

private:
    QString path(const QString &name) const { return m_dir.filePath(name); }
    /// A calibrated request over m_model and m_text into `folder` (64-token chunks, 3 of them).
    ConversionRequest calibrated(const QString &folder) const;
    /// IQ2_M needs an importance matrix, the case calibration is for; Q4_K_M uses one too.
    static std::vector<FileType> calibrationTypes();

    QTemporaryDir m_dir;
    QString m_model;    ///< F32 synthetic model
    QString m_text;     ///< the built-in sample as a file
    QString m_imatrix;  ///< GGUF imatrix of m_model over m_text
};

void TestTasks::initTestCase()
{
    QVERIFY(m_dir.isValid());
    SyntheticModelOptions o;
    o.nLayers = 2;
    o.nEmbd = 256;
    o.nFf = 512;
    o.nHeads = 4;
    o.nHeadsKv = 2;
    o.nVocab = 512;
    o.nCtx = 256;
    o.name = QStringLiteral("tasks test model");
    m_model = path(QStringLiteral("tiny-F32.gguf"));
    NullJobContext ctx;
    writeSyntheticModel(m_model, o, ctx);

    m_text = path(QStringLiteral("sample.txt"));
    QFile f(m_text);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(builtInSampleText());
    f.close();

    ImatrixRequest r;
    r.modelPath = m_model;
    r.textSource = m_text;
    r.outputPath = path(QStringLiteral("tiny.imatrix.gguf"));
    r.nCtx = 64;
    r.nChunks = 4;
    const ImatrixResult im = runImatrix(r, ctx);
    QCOMPARE(im.nChunks, 4u);
    QCOMPARE(im.nEntries, std::size_t(14)); // 7 matrices per layer, 2 layers
    m_imatrix = im.path;
}

// With an imatrix the outputs carry quantize.imatrix.{file,dataset,entries_count,chunks_count}:
// each key costs 8 (length) + its name + 4 (type) + the value, a string being 8 + its bytes.
void TestTasks::prepareCountsTheImatrixKeys()
{
    const GgufFile source = GgufFile::open(m_model, GgufFile::Mode::MetadataOnly);
    ConversionRequest r;
    r.sourcePath = m_model;
    r.fileTypes = {FileType::Q4_K_M};
    const ConversionPreparation plain = prepareConversion(r, source, nullptr);
    QVERIFY(plain.isReady());
    QVERIFY(!plain.imatrix);

    r.imatrixPath = m_imatrix;
    const std::optional<ImportanceMatrix> im = loadConversionImatrix(r);
    QVERIFY(im);
    const ConversionPreparation with = prepareConversion(r, source, &*im);
    QVERIFY(with.imatrix);
    QCOMPARE(with.imatrix->fileName, m_imatrix);
    QCOMPARE(with.imatrix->dataset, QStringLiteral("sample.txt"));
    QCOMPARE(with.imatrix->entries, 14u);
    QCOMPARE(with.imatrix->chunks, 4u);
    const std::uint64_t keys = (8 + 21 + 4 + 8 + std::uint64_t(m_imatrix.toUtf8().size()))
                               + (8 + 24 + 4 + 8 + 10) + (8 + 30 + 4 + 4) + (8 + 29 + 4 + 4);
    const std::uint64_t headerPlain = plain.targets[0].plan->outputFileBytes - plain.targets[0].plan->targetTensorBytes;
    const std::uint64_t headerWith = with.targets[0].plan->outputFileBytes - with.targets[0].plan->targetTensorBytes;
    // The header grows by the keys, rounded to the 32-byte alignment of the data section.
    QVERIFY(headerWith >= headerPlain + keys);
    QVERIFY(headerWith < headerPlain + keys + 32);

    // --include-weights narrows the entries the file records.
    r.options.includeWeights = {QStringLiteral("ffn_down")};
    const std::optional<ImportanceMatrix> some = loadConversionImatrix(r);
    QCOMPARE(prepareConversion(r, source, &*some).imatrix->entries, 2u);
}

void TestTasks::prepareNamesOutputsAndRefusesBadRequests()
{
    const GgufFile source = GgufFile::open(m_model, GgufFile::Mode::MetadataOnly);
    ConversionRequest r;
    r.sourcePath = m_model;
    r.fileTypes = {FileType::Q8_0, FileType::Q4_0};
    ConversionPreparation p = prepareConversion(r, source, nullptr);
    QCOMPARE(p.targets.size(), std::size_t(2));
    QCOMPARE(p.targets[0].outputPath, path(QStringLiteral("tiny-Q8_0.gguf")));
    QCOMPARE(p.targets[1].outputPath, path(QStringLiteral("tiny-Q4_0.gguf")));
    QCOMPARE(p.totalOutputBytes, p.targets[0].plan->outputFileBytes + p.targets[1].plan->outputFileBytes);
    QVERIFY(p.freeBytes.has_value());

    r.outputFolder = path(QStringLiteral("out"));
    p = prepareConversion(r, source, nullptr);
    QCOMPARE(p.targets[1].outputPath, path(QStringLiteral("out/tiny-Q4_0.gguf")));

    r.outputFolder.clear();
    r.outputFile = path(QStringLiteral("one.gguf"));
    QVERIFY_THROWS_EXCEPTION(Error, prepareConversion(r, source, nullptr)); // two types, one file
    r.fileTypes = {};
    r.outputFile.clear();
    QVERIFY_THROWS_EXCEPTION(Error, prepareConversion(r, source, nullptr));

    r.fileTypes = {FileType::Q8_0};
    r.options.includeWeights = {QStringLiteral("attn")};
    QVERIFY_THROWS_EXCEPTION(Error, loadConversionImatrix(r)); // include without an imatrix
    r.imatrixPath = m_imatrix;
    r.options.excludeWeights = {QStringLiteral("ffn")};
    QVERIFY_THROWS_EXCEPTION(Error, loadConversionImatrix(r)); // include and exclude together
}

void TestTasks::conversionWritesVerifiedFiles()
{
    ConversionRequest r;
    r.sourcePath = m_model;
    r.fileTypes = {FileType::Q4_K_M, FileType::Q8_0};
    r.outputFolder = path(QStringLiteral("converted"));
    r.imatrixPath = m_imatrix;
    NullJobContext ctx;
    const ConversionResult result = runConversion(r, ctx);
    QCOMPARE(result.outputs.size(), std::size_t(2));
    for (const ConversionOutput &o : result.outputs) {
        QVERIFY(o.verified);
        QCOMPARE(o.actualBytes, o.predictedBytes);
        QCOMPARE(std::uint64_t(QFileInfo(o.path).size()), o.actualBytes);
        const GgufFile written = GgufFile::open(o.path, GgufFile::Mode::MetadataOnly);
        QCOMPARE(written.metadata().uintOr("general.file_type", 0), std::uint64_t(o.fileType));
        QCOMPARE(written.metadata().stringOr("quantize.imatrix.file"), m_imatrix);
        QCOMPARE(written.metadata().find("quantize.imatrix.entries_count")->type(), GgufValueType::UINT32);
    }
    QVERIFY(result.imatrix);
    QVERIFY(result.inputBytes > 0);
}

void TestTasks::conversionRefusesTheInputAsOutput()
{
    ConversionRequest r;
    r.sourcePath = m_model;
    r.fileTypes = {FileType::Q8_0};
    r.outputFile = m_model;
    const QByteArray before = Test::fileContent(m_model);
    NullJobContext ctx;
    try {
        runConversion(r, ctx);
        QFAIL("accepted the input as output");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QStringLiteral("input")), qPrintable(e.message()));
    }
    QCOMPARE(Test::fileContent(m_model), before);
}

void TestTasks::conversionCancelLeavesNothing()
{
    const QString out = path(QStringLiteral("cancelled"));
    QVERIFY(QDir().mkpath(out));
    ConversionRequest r;
    r.sourcePath = m_model;
    r.fileTypes = {FileType::Q4_K_M};
    r.outputFolder = out;
    int reports = 0;
    JobContext ctx([&](const Progress &) {
        if (++reports == 1)
            ctx.requestCancel();
    }, 0);
    QVERIFY_THROWS_EXCEPTION(Cancelled, runConversion(r, ctx));
    QCOMPARE(Test::filesIn(out), QStringList());
}

void TestTasks::imatrixTaskWritesBothFormats()
{
    ImatrixRequest r;
    r.modelPath = m_model;
    r.textSource = m_text;
    r.outputPath = path(QStringLiteral("legacy.dat"));
    r.nCtx = 64;
    r.nChunks = 2;
    QCOMPARE(imatrixFormatFor(r), ImatrixFormat::Legacy);
    NullJobContext ctx;
    const ImatrixResult dat = runImatrix(r, ctx);
    QCOMPARE(dat.format, ImatrixFormat::Legacy);
    const ImportanceMatrix back = readImportanceMatrix(dat.path);
    QCOMPARE(back.entries.size(), std::size_t(14));
    QCOMPARE(back.chunkCount, 2u);
    QVERIFY(dat.ppl > 1);

    r.outputPath = m_model; // never over the model
    QVERIFY_THROWS_EXCEPTION(Error, runImatrix(r, ctx));
    r.outputPath = path(QStringLiteral("x.gguf"));
    r.textSource.clear();
    QVERIFY_THROWS_EXCEPTION(Error, runImatrix(r, ctx));
}

ConversionRequest TestTasks::calibrated(const QString &folder) const
{
    ConversionRequest r;
    r.sourcePath = m_model;
    r.fileTypes = calibrationTypes();
    r.outputFolder = folder;
    CalibrationRequest c;
    c.textSource = m_text;
    c.nCtx = 64;
    c.nChunks = 3;
    r.calibration = c;
    return r;
}

std::vector<FileType> TestTasks::calibrationTypes()
{
    if (fileTypeFacts(FileType::IQ2_M).supported)
        return {FileType::IQ2_M, FileType::Q4_K_M};
    return {FileType::Q4_K_M};
}

// One calibrated conversion equals the two steps it replaces, byte for byte: `imatrix` with the
// same text and settings, then `quantize --imatrix` with the saved file (whose name both record).
void TestTasks::calibratedConversionEqualsTwoSteps()
{
    const QString oneStep = path(QStringLiteral("cal-one"));
    const QString twoSteps = path(QStringLiteral("cal-two"));
    const QString saved = path(QStringLiteral("cal-saved.imatrix.gguf"));
    ConversionRequest r = calibrated(oneStep);
    r.calibration->saveImatrixPath = saved;
    NullJobContext ctx;
    const ConversionResult one = runConversion(r, ctx);
    QVERIFY(one.calibration);
    QCOMPARE(one.calibration->nChunks, 3);
    QCOMPARE(one.calibration->nEntries, std::size_t(14));
    QCOMPARE(one.calibration->savedPath, saved);
    QVERIFY(QFileInfo::exists(saved));

    ImatrixRequest im;
    im.modelPath = m_model;
    im.textSource = m_text;
    im.outputPath = path(QStringLiteral("cal-two.imatrix.gguf"));
    im.nCtx = 64;
    im.nChunks = 3;
    runImatrix(im, ctx);
    QCOMPARE(Test::fileContent(saved), Test::fileContent(im.outputPath)); // the same matrix

    ConversionRequest two;
    two.sourcePath = m_model;
    two.fileTypes = calibrationTypes();
    two.outputFolder = twoSteps;
    two.imatrixPath = saved;
    const ConversionResult second = runConversion(two, ctx);
    QVERIFY(!second.calibration);
    QCOMPARE(one.outputs.size(), second.outputs.size());
    for (std::size_t i = 0; i < one.outputs.size(); ++i) {
        QCOMPARE(one.outputs[i].actualBytes, one.outputs[i].predictedBytes);
        const QByteArray a = Test::fileContent(one.outputs[i].path);
        QVERIFY(!a.isEmpty());
        QVERIFY2(a == Test::fileContent(second.outputs[i].path),
                 qPrintable(fileTypeName(one.outputs[i].fileType)));
    }
}

// Without --save-imatrix the file records what the matrix was computed from: quantize.imatrix.*
// keys as a file imatrix gives them (dataset = the text's file name, 14 entries: 7 matrices in
// each of 2 layers, 3 chunks), and the tensors equal those quantized with the same matrix read
// from a file.
void TestTasks::calibratedConversionRecordsTheText()
{
    ConversionRequest r = calibrated(path(QStringLiteral("cal-keys")));
    r.fileTypes = {r.fileTypes.front()};
    NullJobContext ctx;
    const GgufFile source = GgufFile::open(m_model, GgufFile::Mode::MetadataOnly);
    const ConversionPreparation planned = prepareConversion(r, source, nullptr);
    QVERIFY(planned.isReady()); // the mix that needs a matrix is accepted: one will be computed
    const ConversionResult result = runConversion(r, ctx);
    const ConversionOutput &o = result.outputs.front();
    QCOMPARE(o.actualBytes, planned.targets.front().plan->outputFileBytes); // exact before running

    const GgufFile written = GgufFile::open(o.path);
    const GgufMetadata &md = written.metadata();
    QCOMPARE(md.stringOr("quantize.imatrix.file"), QStringLiteral("computed from ") + m_text);
    QCOMPARE(md.stringOr("quantize.imatrix.dataset"), QStringLiteral("sample.txt"));
    QCOMPARE(md.find("quantize.imatrix.entries_count")->type(), GgufValueType::UINT32);
    QCOMPARE(md.uintOr("quantize.imatrix.entries_count", 0), 14u);
    QCOMPARE(md.uintOr("quantize.imatrix.chunks_count", 0), 3u);

    ConversionRequest withFile;
    withFile.sourcePath = m_model;
    withFile.fileTypes = r.fileTypes;
    withFile.outputFolder = path(QStringLiteral("cal-keys-file"));
    withFile.imatrixPath = path(QStringLiteral("cal-two.imatrix.gguf")); // same text and settings
    if (!QFileInfo::exists(withFile.imatrixPath))
        QSKIP("needs the matrix of calibratedConversionEqualsTwoSteps");
    const GgufFile other = GgufFile::open(runConversion(withFile, ctx).outputs.front().path);
    QCOMPARE(written.tensors().size(), other.tensors().size());
    for (std::size_t i = 0; i < written.tensors().size(); ++i) {
        const auto a = written.tensorData(i);
        const auto b = other.tensorData(i);
        QVERIFY2(std::equal(a.begin(), a.end(), b.begin(), b.end()),
                 written.tensors()[i].name.constData());
    }
}

// A recording context: every report, in order (interval 0, so nothing is throttled away).
struct Recorded {
    QString stage;
    std::uint64_t done = 0;
    std::uint64_t total = 0;
    QString metricName;
};

void TestTasks::calibratedProgressIsOneContinuousBar()
{
    std::vector<Recorded> reports;
    JobContext ctx([&](const Progress &p) { reports.push_back({p.stage, p.done, p.total, p.metricName}); }, 0);
    runConversion(calibrated(path(QStringLiteral("cal-progress"))), ctx);
    QVERIFY(reports.size() > 4);
    const std::uint64_t total = reports.back().total;
    QVERIFY(total > 0);
    QCOMPARE(reports.back().done, total); // ends full
    std::size_t calibrating = 0, quantizing = 0;
    bool quantizingStarted = false;
    for (std::size_t i = 0; i < reports.size(); ++i) {
        const Recorded &r = reports[i];
        QCOMPARE(r.total, total); // one bar: the total never changes
        if (i > 0)
            QVERIFY2(r.done >= reports[i - 1].done, qPrintable(QString::number(i)));
        QVERIFY(r.done <= total);
        if (r.stage.startsWith(QLatin1String("Calibrating"))) {
            QVERIFY(!quantizingStarted); // calibrating comes first, once
            ++calibrating;
        } else if (r.stage.startsWith(QLatin1String("Quantizing"))) {
            quantizingStarted = true;
            ++quantizing;
        }
    }
    // Each stage moved the bar: calibration reports per chunk (3), quantization per row chunk.
    QVERIFY(calibrating >= 3);
    QVERIFY(quantizing >= 2);
    const auto firstQuantizing = std::find_if(reports.begin(), reports.end(), [](const Recorded &r) {
        return r.stage.startsWith(QLatin1String("Quantizing"));
    });
    QVERIFY(firstQuantizing->done > 0 && firstQuantizing->done < total);
    QVERIFY(std::any_of(reports.begin(), reports.end(), [](const Recorded &r) {
        return r.metricName == QLatin1String("calibration PPL");
    }));
}

void TestTasks::calibratedCancelLeavesNothing_data()
{
    QTest::addColumn<QString>("stage");
    QTest::newRow("while calibrating") << QStringLiteral("Calibrating");
    QTest::newRow("while quantizing") << QStringLiteral("Quantizing");
}

// A cancel in either stage ends the job with Cancelled within that stage and no output; a
// matrix asked for with --save-imatrix stays once it was complete (before quantizing).
void TestTasks::calibratedCancelLeavesNothing()
{
    QFETCH(QString, stage);
    const QString out = path(QStringLiteral("cal-cancel-") + stage);
    QVERIFY(QDir().mkpath(out));
    ConversionRequest r = calibrated(out);
    r.calibration->saveImatrixPath = QDir(out).filePath(QStringLiteral("saved.imatrix.gguf"));
    QString stageAtCancel;
    JobContext *self = nullptr;
    JobContext ctx([&](const Progress &p) {
        if (stageAtCancel.isEmpty() && p.stage.startsWith(stage) && p.done > 0) {
            stageAtCancel = p.stage;
            self->requestCancel();
        }
    }, 0);
    self = &ctx;
    QVERIFY_THROWS_EXCEPTION(Cancelled, runConversion(r, ctx));
    QVERIFY(stageAtCancel.startsWith(stage));
    const QStringList left = Test::filesIn(out);
    if (stage == QLatin1String("Calibrating"))
        QCOMPARE(left, QStringList());
    else
        QCOMPARE(left, QStringList{QStringLiteral("saved.imatrix.gguf")});
}

void TestTasks::calibrationRefusesBadRequestsBeforeWorking()
{
    const QString out = path(QStringLiteral("cal-refused"));
    int reports = 0;
    JobContext ctx([&](const Progress &) { ++reports; }, 0);
    auto refused = [&](const ConversionRequest &r, const QString &expected) {
        try {
            runConversion(r, ctx);
            return QStringLiteral("accepted");
        } catch (const Error &e) {
            return e.message().contains(expected) ? QString() : e.message();
        }
    };
    ConversionRequest r = calibrated(out);
    r.imatrixPath = m_imatrix;
    QCOMPARE(refused(r, QStringLiteral("cannot be combined")), QString());
    QVERIFY_THROWS_EXCEPTION(Error, loadConversionImatrix(r));

    r = calibrated(out);
    r.calibration->nCtx = 1 << 14; // the sample text is far shorter than two such contexts
    QCOMPARE(refused(r, QStringLiteral("two contexts")), QString());

    r = calibrated(out);
    r.calibration->textSource = path(QStringLiteral("no-such-text.txt"));
    QCOMPARE(refused(r, QStringLiteral("no-such-text.txt")), QString());

    r = calibrated(out);
    r.calibration->saveImatrixPath = m_model; // never over the model
    QCOMPARE(refused(r, QStringLiteral("input")), QString());

    QCOMPARE(reports, 0); // nothing started
    QVERIFY(!QFileInfo::exists(out) || Test::filesIn(out).isEmpty());
}

// The inference evaluates quantized weights too: a Q8_0 source calibrates (the same 14 matrices
// are observed) and re-quantizes with --allow-requantize.
void TestTasks::calibrationFromAQuantizedSource()
{
    NullJobContext ctx;
    ConversionRequest q8;
    q8.sourcePath = m_model;
    q8.fileTypes = {FileType::Q8_0};
    q8.outputFolder = path(QStringLiteral("cal-q8"));
    const QString source = runConversion(q8, ctx).outputs.front().path;

    ConversionRequest r = calibrated(path(QStringLiteral("cal-from-q8")));
    r.sourcePath = source;
    r.fileTypes = {FileType::IQ4_XS};
    r.options.allowRequantize = true;
    const ConversionResult result = runConversion(r, ctx);
    QVERIFY(result.calibration);
    QCOMPARE(result.calibration->nEntries, std::size_t(14));
    const GgufFile written = GgufFile::open(result.outputs.front().path, GgufFile::Mode::MetadataOnly);
    QCOMPARE(written.metadata().uintOr("quantize.imatrix.entries_count", 0), 14u);
    QCOMPARE(written.metadata().uintOr("general.file_type", 0), std::uint64_t(FileType::IQ4_XS));
}

// The record of a run carries what the file says about itself and the settings of the run.
void TestTasks::measurementRecordsCarryTheFileFacts()
{
    MeasurementRequest r;
    r.modelPaths = {m_model};
    r.nCtx = 64;
    r.nChunks = 3;
    r.producer = QStringLiteral("test");
    int chunks = 0;
    std::vector<MeasurementRecord> reported;
    r.onChunk = [&](int model, const ChunkReport &c) {
        QCOMPARE(model, 0);
        QCOMPARE(c.chunk, ++chunks);
    };
    r.onRecord = [&](const MeasurementRecord &m) { reported.push_back(m); };
    NullJobContext ctx;
    const MeasurementResult result = runMeasurement(r, ctx);
    QCOMPARE(chunks, 3);
    QCOMPARE(result.records.size(), std::size_t(1));
    QCOMPARE(reported.size(), std::size_t(1));
    const MeasurementRecord &m = result.records.front();
    QVERIFY(m == reported.front());
    const GgufFile file = GgufFile::open(m_model, GgufFile::Mode::MetadataOnly);
    QCOMPARE(m.modelPath, m_model);
    QCOMPARE(m.modelName, QStringLiteral("tasks test model"));
    QCOMPARE(m.fileType, QStringLiteral("F32"));
    QCOMPARE(m.fileBytes, file.totalFileSize());
    QCOMPARE(m.bitsPerWeight, 32.0);
    QCOMPARE(m.textSource, builtInSampleName());
    QCOMPARE(m.nCtx, 64);
    QCOMPARE(m.nChunks, 3);
    QCOMPARE(m.kvType, QStringLiteral("f16"));
    QCOMPARE(m.producer, QStringLiteral("test"));
    // Second half of each chunk scored: positions 32..62 predict 31 tokens per chunk.
    QCOMPARE(m.nTokensScored, std::uint64_t(3 * 31));
    QCOMPARE(m.runningPpl.size(), std::size_t(3));
    QCOMPARE(m.runningPpl.back(), m.ppl);
    QVERIFY(!m.kld);
    QVERIFY(m.date.isValid());
}

// A base model: its own record first (isBase), then the quantized model compared with its
// logits; the base's PPL(Q) equals its own perplexity when compared with itself.
void TestTasks::measurementAgainstABaseModel()
{
    ConversionRequest c;
    c.sourcePath = m_model;
    c.fileTypes = {FileType::Q8_0};
    c.outputFolder = path(QStringLiteral("kld"));
    NullJobContext ctx;
    const QString q8 = runConversion(c, ctx).outputs.front().path;

    MeasurementRequest r;
    r.modelPaths = {q8, m_model};
    r.basePath = m_model;
    r.nCtx = 64;
    r.nChunks = 2;
    std::vector<int> modelsSeen;
    r.onChunk = [&](int model, const ChunkReport &rep) {
        if (rep.chunk == 1)
            modelsSeen.push_back(model);
    };
    const MeasurementResult result = runMeasurement(r, ctx);
    QCOMPARE(modelsSeen, (std::vector<int>{-1, 0, 1}));
    QCOMPARE(result.records.size(), std::size_t(3));
    const MeasurementRecord &base = result.records[0];
    QVERIFY(base.isBase);
    QVERIFY(!base.kld);
    const MeasurementRecord &q = result.records[1];
    QVERIFY(q.kld);
    QCOMPARE(q.basePath, m_model);
    QCOMPARE(q.fileType, QStringLiteral("Q8_0"));
    QVERIFY(q.kld->kldMean > 0);
    QCOMPARE(q.kld->pplBase, base.ppl);
    const MeasurementRecord &self = result.records[2];
    QVERIFY(self.kld);
    QCOMPARE(self.ppl, base.ppl);
    QVERIFY(self.kld->kldMean < 1e-6);
    QVERIFY(q.kld->kldMean > self.kld->kldMean);
}

void TestTasks::measurementRefusesBadRequests()
{
    NullJobContext ctx;
    MeasurementRequest r;
    QVERIFY_THROWS_EXCEPTION(Error, runMeasurement(r, ctx)); // no model
    r.modelPaths = {m_model, m_model};
    r.saveBaseLogitsPath = path(QStringLiteral("b.qfbl"));
    QVERIFY_THROWS_EXCEPTION(Error, runMeasurement(r, ctx)); // save with two models
    r.modelPaths = {m_model};
    r.saveBaseLogitsPath.clear();
    r.basePath = m_model;
    r.baseLogitsPath = path(QStringLiteral("b.qfbl"));
    QVERIFY_THROWS_EXCEPTION(Error, runMeasurement(r, ctx)); // both kinds of base
    r.basePath.clear();
    r.baseLogitsPath.clear();
    r.nCtx = 1 << 15; // the sample text is far shorter than two such contexts
    try {
        runMeasurement(r, ctx);
        QFAIL("accepted");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QStringLiteral("two contexts")), qPrintable(e.message()));
    }
}

void TestTasks::generationRunsEveryModelWithOneStopRule()
{
    TextGenerationRequest r;
    r.modelPaths = {m_model, m_model};
    r.prompt = QStringLiteral("Once upon a time");
    r.options.nPredict = 12;
    QByteArray streamed[2];
    r.onText = [&](int model, const QByteArray &text) { streamed[model] += text; };
    NullJobContext ctx;
    const TextGenerationResult result = runTextGeneration(r, ctx);
    QCOMPARE(result.outputs.size(), std::size_t(2));
    for (int i = 0; i < 2; ++i) {
        const GeneratedText &g = result.outputs[std::size_t(i)];
        QCOMPARE(g.continuation, streamed[i]); // what was streamed is the whole continuation
        QVERIFY(g.nGenerated >= 1 && g.nGenerated <= 12);
        QVERIFY(g.nPromptTokens >= 2);
        QCOMPARE(g.fileType, QStringLiteral("F32"));
    }
    // Greedy decoding: the same model gives the same text.
    QCOMPARE(result.outputs[0].continuation, result.outputs[1].continuation);
}

void TestTasks::generationRefusesAnEmptyPrompt()
{
    TextGenerationRequest r;
    r.modelPaths = {m_model};
    r.prompt = QStringLiteral("   ");
    NullJobContext ctx;
    try {
        runTextGeneration(r, ctx);
        QFAIL("accepted");
    } catch (const Error &e) {
        QVERIFY(e.message().contains(QStringLiteral("prompt is empty")));
    }
}

void TestTasks::utf8PrefixNeverSplitsACharacter()
{
    const QByteArray euro("\xe2\x82\xac"); // U+20AC, three bytes
    QCOMPARE(completeUtf8Prefix(QByteArray("ab")), qsizetype(2));
    QCOMPARE(completeUtf8Prefix(QByteArray("a") + euro), qsizetype(4));
    QCOMPARE(completeUtf8Prefix(QByteArray("a") + euro.left(2)), qsizetype(1));
    QCOMPARE(completeUtf8Prefix(QByteArray("a") + euro.left(1)), qsizetype(1));
    QCOMPARE(completeUtf8Prefix(QByteArray("\xf0\x9f\x98")), qsizetype(0)); // 3 of a 4-byte emoji
    QCOMPARE(completeUtf8Prefix(QByteArray()), qsizetype(0));
}

QTEST_APPLESS_MAIN(TestTasks)
#include "testtasks.moc"
