// The streaming quantizer: exact sizes, several outputs from one pass, verification, cancel,
// NaN input, refusals, imatrix use, and every file type on stories260K.

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"
#include "quant/imatrixfile.h"
#include "codecs/quantkernels.h"
#include "quant/quantizer.h"
#include "quant/quantplan.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <limits>

using namespace QuantFit;
using QuantFit::Test::fileContent;

namespace {

/// Records every report; requests cancellation after `cancelAfter` reports (0 = never).
class RecordingContext : public JobContext
{
public:
    explicit RecordingContext(int cancelAfter = 0)
        : JobContext({}, 0)
        , m_cancelAfter(cancelAfter)
    {
    }
    std::vector<Progress> reports;

protected:
    void report(const Progress &p) override
    {
        reports.push_back(p);
        if (m_cancelAfter && int(reports.size()) >= m_cancelAfter)
            requestCancel();
    }

private:
    int m_cancelAfter;
};

QString makeModel(const QString &dir, std::uint32_t layers = 2, std::uint32_t embd = 256,
                  std::uint32_t ff = 512)
{
    SyntheticModelOptions o;
    o.nLayers = layers;
    o.nEmbd = embd;
    o.nFf = ff;
    o.nHeads = 8;
    o.nHeadsKv = 4;
    o.nVocab = 512;
    const QString path = dir + QStringLiteral("/model.gguf");
    NullJobContext ctx;
    writeSyntheticModel(path, o, ctx);
    return path;
}

QuantizeTarget targetFor(const GgufFile &in, FileType ft, const QString &out,
                         const QuantOptions &o = {})
{
    return {makeQuantPlan(in.metadata(), in.tensors(), ft, o), out};
}

// An importance matrix for every layer matrix of `in` (as llama-imatrix records them: no
// token_embd, no output), with varying made-up statistics.
ImportanceMatrix imatrixFor(const GgufFile &in)
{
    ImportanceMatrix m;
    m.datasets << QStringLiteral("made-up.txt");
    m.chunkCount = 3;
    for (const auto &t : in.tensors()) {
        if (!t.name.startsWith("blk.") || t.effectiveDims() < 2)
            continue;
        ImportanceEntry e;
        e.name = t.name;
        e.nColumns = t.ne[0];
        e.nMatrices = t.ne[2];
        for (std::uint64_t c = 0; c < t.ne[0] * t.ne[2]; ++c)
            e.sumSquares.push_back(1.0f + float((c * 37) % 11));
        e.counts.assign(t.ne[2], 3.0f);
        m.entries.push_back(e);
    }
    return m;
}

QuantOptions withImatrix(const ImportanceMatrix &m)
{
    QuantOptions o;
    o.hasImatrix = true;
    o.imatrix = ImatrixSummary{QStringLiteral("made-up.imatrix"), m.datasets.value(0),
                               std::uint32_t(m.entries.size()), m.chunkCount};
    return o;
}

} // namespace

class TestQuantizer : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_oddModel; // 320-wide rows (320 % 256 = 64) and a 160-wide FFN: every fallback
    QString m_model;    // 2 layers, 256 wide, FFN 512

private slots:
    void initTestCase();
    void writtenSizeEqualsPlan_data();
    void writtenSizeEqualsPlan();
    void severalTypesInOnePass();
    void cancelLeavesNothing();
    void progressIsReportedInBytes();
    void nanRowIsAnError();
    void outputEqualsInputRefused();
    void unsupportedTypeRefused();
    void imatrixIsRecordedAndChecked();
    void expertStacksUseTheirImatrixSlice();
    void defaultOutputName();
    void storiesEveryFileType();
};

void TestQuantizer::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(QDir(m_dir.path()).mkdir(QStringLiteral("odd")));
    m_oddModel = makeModel(m_dir.filePath(QStringLiteral("odd")), 2, 320, 160);
    m_model = makeModel(m_dir.path());
}

void TestQuantizer::writtenSizeEqualsPlan_data()
{
    QTest::addColumn<int>("fileType");
    for (const auto &f : allFileTypes()) {
        if (f.supported)
            QTest::newRow(f.name.data()) << int(f.fileType);
    }
}

void TestQuantizer::writtenSizeEqualsPlan()
{
    QFETCH(int, fileType);
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_oddModel);
    const QString out = dir.filePath(QStringLiteral("out.gguf"));
    // The mixes that need one get an imatrix (docs/quantization.md, "Importance matrix").
    const ImportanceMatrix m = imatrixFor(input);
    const bool needsImatrix = fileTypeFacts(FileType(fileType)).needsImatrix;
    const QuantizeTarget t = targetFor(input, FileType(fileType), out,
                                       needsImatrix ? withImatrix(m) : QuantOptions{});
    // (On this model every 256-block type falls back, so no tensor actually needs it.)
    QVERIFY(!t.plan.imatrixRequiredBy);
    QuantizeOptions qo;
    qo.imatrix = needsImatrix ? &m : nullptr;
    NullJobContext ctx;
    if (!t.plan.refusal.isEmpty()) {
        // 320-wide rows fit neither Q1_0 (128) nor a fallback: llama-quantize stops, so do we,
        // before anything is written.
        QCOMPARE(FileType(fileType), FileType::Q1_0);
        QVERIFY_THROWS_EXCEPTION(Error, quantize(input, {t}, qo, ctx));
        QCOMPARE(Test::filesIn(dir.path()), QStringList());
        return;
    }
    const QuantizeResult r = quantize(input, {t}, qo, ctx);
    QCOMPARE(r.outputs.size(), std::size_t(1));
    QCOMPARE(std::uint64_t(QFileInfo(out).size()), t.plan.outputFileBytes);
    QCOMPARE(r.outputs[0].fileBytes, t.plan.outputFileBytes);
    QCOMPARE(r.outputs[0].files, QStringList({out}));
    verifyQuantizedFile(out, t.plan);
    const GgufFile written = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
    QCOMPARE(written.metadata().uintOr("general.file_type", 999), std::uint64_t(fileType));
    QCOMPARE(written.metadata().uintOr("general.quantization_version", 0), 2u);
    QCOMPARE(Test::filesIn(dir.path()), QStringList({"out.gguf"}));
}

void TestQuantizer::severalTypesInOnePass()
{
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_model);
    const QString a = dir.filePath(QStringLiteral("a.gguf"));
    const QString b = dir.filePath(QStringLiteral("b.gguf"));
    NullJobContext ctx;
    QuantizeOptions options;
    options.nThreads = 3;
    quantize(input, {targetFor(input, FileType::Q4_K_M, a), targetFor(input, FileType::Q8_0, b)},
             options, ctx);
    // Each equals a separate single-type run with one thread: output does not depend on the
    // pass layout or threading.
    const QString a1 = dir.filePath(QStringLiteral("a1.gguf"));
    const QString b1 = dir.filePath(QStringLiteral("b1.gguf"));
    options.nThreads = 1;
    quantize(input, {targetFor(input, FileType::Q4_K_M, a1)}, options, ctx);
    quantize(input, {targetFor(input, FileType::Q8_0, b1)}, options, ctx);
    QVERIFY(fileContent(a) == fileContent(a1));
    QVERIFY(fileContent(b) == fileContent(b1));
    QVERIFY(fileContent(a) != fileContent(b));
}

void TestQuantizer::cancelLeavesNothing()
{
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_model);
    for (int after : {1, 3, 6}) {
        RecordingContext ctx(after);
        const QString out = dir.filePath(QStringLiteral("out.gguf"));
        QVERIFY_THROWS_EXCEPTION(Cancelled,
                                 quantize(input,
                                          {targetFor(input, FileType::Q4_K_M, out),
                                           targetFor(input, FileType::Q6_K,
                                                     dir.filePath(QStringLiteral("b.gguf")))},
                                          {}, ctx));
        QCOMPARE(Test::filesIn(dir.path()), QStringList());
        QVERIFY(ctx.reports.size() >= std::size_t(after));
    }
}

void TestQuantizer::progressIsReportedInBytes()
{
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_model);
    RecordingContext ctx;
    quantize(input, {targetFor(input, FileType::Q4_0, dir.filePath(QStringLiteral("o.gguf")))},
             {}, ctx);
    QVERIFY(!ctx.reports.empty());
    const std::uint64_t total = input.totalTensorBytes();
    std::uint64_t last = 0;
    std::uint64_t maxStep = 0;
    for (const auto &p : ctx.reports) {
        if (p.stage.startsWith(QLatin1String("Quantizing"))) {
            QCOMPARE(p.total, total);
            QVERIFY(p.done >= last);
            maxStep = std::max(maxStep, p.done - last);
            last = p.done;
        }
    }
    QCOMPARE(last, total);
    // Reported at least every chunk: no step larger than one chunk of F32 rows (1 MiB) or one
    // copied slice.
    QVERIFY2(maxStep <= 1024 * 1024, qPrintable(QString::number(maxStep)));
}

void TestQuantizer::nanRowIsAnError()
{
    QTemporaryDir dir;
    GgufLayout layout;
    layout.metadata.set("general.architecture", GgufValue::fromString(QByteArray("llama")));
    layout.metadata.set("llama.block_count", GgufValue::u32(1));
    GgufTensorInfo w;
    w.name = "blk.0.attn_q.weight";
    w.ne = {64, 8, 1, 1};
    w.nDims = 2;
    layout.tensors.push_back(w);
    std::vector<float> values(64 * 8, 0.5f);
    values[5 * 64 + 17] = std::numeric_limits<float>::quiet_NaN();
    const QString in = dir.filePath(QStringLiteral("nan.gguf"));
    writeGgufFile(in, layout,
                  {QByteArray(reinterpret_cast<const char *>(values.data()),
                              qsizetype(values.size() * 4))});
    const GgufFile input = GgufFile::open(in);
    NullJobContext ctx;
    try {
        quantize(input, {targetFor(input, FileType::Q8_0, dir.filePath(QStringLiteral("o.gguf")))},
                 {}, ctx);
        QFAIL("no error for a NaN row");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QLatin1String("blk.0.attn_q.weight")), qPrintable(e.message()));
        QVERIFY2(e.message().contains(QLatin1String("row 5")), qPrintable(e.message()));
        QVERIFY2(e.message().contains(QLatin1String("NaN")), qPrintable(e.message()));
    }
    QCOMPARE(Test::filesIn(dir.path()), QStringList({"nan.gguf"}));
}

void TestQuantizer::outputEqualsInputRefused()
{
    const QString in = m_model;
    const QByteArray before = fileContent(in);
    const GgufFile input = GgufFile::open(in);
    NullJobContext ctx;
    QVERIFY_THROWS_EXCEPTION(Error, quantize(input, {targetFor(input, FileType::Q8_0, in)}, {}, ctx));
    const QString alias = m_dir.path() + QStringLiteral("/./model.gguf");
    QVERIFY_THROWS_EXCEPTION(Error,
                             quantize(input, {targetFor(input, FileType::Q8_0, alias)}, {}, ctx));
    QVERIFY(fileContent(in) == before);
}

void TestQuantizer::unsupportedTypeRefused()
{
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_model);
    // Every file type has codecs now; a plan that asks for a type ggml has no quantizer for
    // (I8 is a plain integer storage type) must still be refused before anything is written.
    QuantizeTarget t = targetFor(input, FileType::Q4_0, dir.filePath("o.gguf"));
    QVERIFY(t.plan.isWritable());
    bool changed = false;
    for (auto &p : t.plan.tensors) {
        if (p.quantized && !changed) {
            p.targetType = GgmlType::I8;
            changed = true;
        }
    }
    QVERIFY(changed);
    QVERIFY(!t.plan.isWritable());
    NullJobContext ctx;
    QVERIFY_THROWS_EXCEPTION(Error, quantize(input, {t}, {}, ctx));
    QCOMPARE(Test::filesIn(dir.path()), QStringList());
}

void TestQuantizer::imatrixIsRecordedAndChecked()
{
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_model);
    ImportanceMatrix m;
    m.datasets << QStringLiteral("wiki.test.raw");
    m.chunkCount = 7;
    for (const auto &t : input.tensors()) {
        if (t.name.startsWith("blk.") && t.nDims == 2) {
            ImportanceEntry e;
            e.name = t.name;
            e.nColumns = t.ne[0];
            e.sumSquares.assign(t.ne[0], 3.0f);
            e.counts = {3.0f};
            m.entries.push_back(e);
        }
    }
    QuantOptions o;
    o.hasImatrix = true;
    o.imatrix = ImatrixSummary{QStringLiteral("im.dat"), QStringLiteral("wiki.test.raw"),
                               std::uint32_t(m.entries.size()), 7};
    const QString out = dir.filePath(QStringLiteral("o.gguf"));
    QuantizeOptions qo;
    qo.imatrix = &m;
    NullJobContext ctx;
    const QuantizeResult r = quantize(input, {targetFor(input, FileType::Q4_K_M, out, o)}, qo, ctx);
    const GgufFile written = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
    QCOMPARE(written.metadata().stringOr("quantize.imatrix.file"), QStringLiteral("im.dat"));
    QCOMPARE(written.metadata().find("quantize.imatrix.chunks_count")->toInt64(), 7);
    // token_embd and output have no entries: reported, not fatal.
    QVERIFY(r.warnings.join(QLatin1Char('\n')).contains(QLatin1String("token_embd.weight")));

    // A wrong-sized entry is fatal, before anything is written.
    m.entries.front().sumSquares.resize(100);
    m.entries.front().nColumns = 100;
    QFile::remove(out);
    QVERIFY_THROWS_EXCEPTION(Error, quantize(input, {targetFor(input, FileType::Q4_K_M, out, o)},
                                             qo, ctx));
    QVERIFY(!QFileInfo::exists(out));
}

void TestQuantizer::expertStacksUseTheirImatrixSlice()
{
    // A merged-expert tensor [64, 4, 3]: 3 experts of 4 rows; rows of expert e must be quantized
    // with imatrix values e*64 .. e*64+63 (docs/formats.md, "Importance matrices").
    QTemporaryDir dir;
    GgufLayout layout;
    layout.metadata.set("general.architecture", GgufValue::fromString(QByteArray("llama")));
    layout.metadata.set("llama.block_count", GgufValue::u32(1));
    layout.metadata.set("llama.expert_count", GgufValue::u32(3));
    GgufTensorInfo w;
    w.name = "blk.0.ffn_up_exps.weight";
    w.ne = {64, 4, 3, 1};
    layout.tensors.push_back(w);
    std::vector<float> values(64 * 4 * 3);
    for (std::size_t i = 0; i < values.size(); ++i)
        values[i] = std::sin(float(i) * 0.37f) * (1.0f + float(i % 7));
    const QString in = dir.filePath(QStringLiteral("moe.gguf"));
    writeGgufFile(in, layout, {QByteArray(reinterpret_cast<const char *>(values.data()),
                                          qsizetype(values.size() * 4))});
    ImportanceMatrix m;
    ImportanceEntry e;
    e.name = w.name;
    e.nColumns = 64;
    e.nMatrices = 3;
    for (int x = 0; x < 3; ++x) {
        for (int c = 0; c < 64; ++c)
            e.sumSquares.push_back(float((c * 7 + x * 13) % 11 + 1));
        e.counts.push_back(1.0f);
    }
    m.entries.push_back(e);
    const GgufFile input = GgufFile::open(in);
    QuantOptions o;
    o.hasImatrix = true;
    const QuantizeTarget t = targetFor(input, FileType::Q4_K_M, dir.filePath("o.gguf"), o);
    QCOMPARE(t.plan.tensors[0].targetType, GgmlType::Q5_0); // 64 columns: Q4_K falls back
    QuantizeOptions qo;
    qo.imatrix = &m;
    NullJobContext ctx;
    quantize(input, {t}, qo, ctx);
    const GgufFile out = GgufFile::open(dir.filePath("o.gguf"));
    const auto data = out.tensorData(0);
    const std::vector<float> imp = e.importance();
    const std::size_t rowBytes = 64 / 32 * 22;
    for (std::size_t r = 0; r < 12; ++r) {
        std::vector<std::uint8_t> expected(rowBytes);
        quantizeRow(GgmlType::Q5_0, std::span(values).subspan(r * 64, 64), expected,
                    std::span(imp).subspan(r / 4 * 64, 64));
        QVERIFY2(std::equal(expected.begin(), expected.end(), data.begin() + std::ptrdiff_t(r * rowBytes)),
                 qPrintable(QStringLiteral("row %1").arg(r)));
    }
}

void TestQuantizer::defaultOutputName()
{
    QCOMPARE(defaultOutputPath(QStringLiteral("/m/llama-8b.gguf"), FileType::Q4_K_M),
             QStringLiteral("/m/llama-8b-Q4_K_M.gguf"));
    QCOMPARE(defaultOutputPath(QStringLiteral("/m/llama-8b-F16.gguf"), FileType::Q8_0),
             QStringLiteral("/m/llama-8b-Q8_0.gguf"));
    QCOMPARE(defaultOutputPath(QStringLiteral("/m/model-f32.gguf"), FileType::IQ4_XS),
             QStringLiteral("/m/model-IQ4_XS.gguf"));
    QCOMPARE(defaultOutputPath(QStringLiteral("/m/qwen-1.5b.gguf"), FileType::Q6_K),
             QStringLiteral("/m/qwen-1.5b-Q6_K.gguf"));
    // The first file of a split model converts to one whole file.
    QCOMPARE(defaultOutputPath(QStringLiteral("/m/Llama-70B-F16-00001-of-00004.gguf"), FileType::Q4_K_M),
             QStringLiteral("/m/Llama-70B-Q4_K_M.gguf"));
}

void TestQuantizer::storiesEveryFileType()
{
    const QString data = Test::sharedTestData();
    if (data.isEmpty())
        QSKIP("../shared/testdata is absent");
    const GgufFile input = GgufFile::open(data + QStringLiteral("/models/stories260K.gguf"));
    const ImportanceMatrix m = imatrixFor(input);
    QTemporaryDir dir;
    std::vector<QuantizeTarget> targets;
    QStringList refused;
    for (const auto &f : allFileTypes()) {
        if (!f.supported)
            continue;
        const QString out = dir.filePath(QStringLiteral("stories-%1.gguf")
                                             .arg(QLatin1String(f.name.data(), qsizetype(f.name.size()))));
        QuantizeTarget t = targetFor(input, f.fileType, out, withImatrix(m));
        // The 172-wide ffn_down fits no block type: mixes whose bulk type has no fallback
        // (Q4_0, Q8_0, IQ4_NL, MXFP4_MOE's Q8_0, Q1_0 ...) are refused as llama-quantize
        // refuses them; the others keep it in 16-bit float.
        if (!t.plan.refusal.isEmpty()) {
            QVERIFY2(t.plan.refusal.contains(QLatin1String("no tensor type fallback")),
                     qPrintable(t.plan.refusal));
            refused << QString::fromLatin1(f.name.data(), qsizetype(f.name.size()));
            continue;
        }
        targets.push_back(std::move(t));
    }
    QCOMPARE(refused, QStringList({"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "MXFP4_MOE",
                                   "Q1_0"}));
    QuantizeOptions qo;
    qo.imatrix = &m;
    NullJobContext ctx;
    const QuantizeResult r = quantize(input, targets, qo, ctx);
    QCOMPARE(r.outputs.size(), targets.size());
    for (const auto &t : targets) {
        QCOMPARE(std::uint64_t(QFileInfo(t.outputPath).size()), t.plan.outputFileBytes);
        const GgufFile written = GgufFile::open(t.outputPath);
        const auto *down = written.findTensor("blk.0.ffn_down.weight");
        QVERIFY(down);
        if (typeFacts(fileTypeFacts(t.plan.fileType).defaultType).isQuantized)
            QCOMPARE(down->type, GgmlType::F16);
    }
}

QTEST_APPLESS_MAIN(TestQuantizer)
#include "testquantizer.moc"
