// The whole conversion against the files llama.cpp b10472's llama-quantize wrote from
// synth-a-F32.gguf (llama-quantized in the shared test data folder): for every file, our plan
// and our output. Files made without an importance matrix must be identical byte for byte; the
// ten I-quant files, made with `--imatrix synth-a.imatrix`, too, when our output records the
// imatrix under the same name; with the same statistics as a GGUF imatrix
// (synth-a.imatrix.gguf) every tensor's data is identical and only quantize.imatrix.file
// differs. MXFP4_MOE is stored only as its --pure variant; the plain mix on a dense model is the
// Q8_0 file with another general.file_type.

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "quant/imatrixfile.h"
#include "quant/quantizer.h"
#include "quant/quantplan.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;
using QuantFit::Test::fileContent;

namespace {

struct Reference {
    QString name;  ///< synth-a-NAME.gguf
    FileType fileType;
    bool pure = false;
    bool imatrix = false; ///< made with --imatrix synth-a.imatrix
};

QString firstDifference(const QByteArray &a, const QByteArray &b)
{
    qsizetype at = 0;
    while (at < a.size() && at < b.size() && a[at] == b[at])
        ++at;
    return QStringLiteral("sizes %1 and %2, first difference at byte %3")
        .arg(a.size())
        .arg(b.size())
        .arg(at);
}

} // namespace

class TestQuantLlamaOutputs : public QObject
{
    Q_OBJECT

    QString m_dir;
    std::vector<Reference> m_refs;

    QString ref(const QString &name) const
    {
        return m_dir + QStringLiteral("/synth-a-%1.gguf").arg(name);
    }

private slots:
    void initTestCase();
    void withoutImatrix();
    void withLegacyImatrix();
    void withGgufImatrix();
};

void TestQuantLlamaOutputs::initTestCase()
{
    const QString data = Test::sharedTestData();
    m_dir = data + QStringLiteral("/llama-quantized");
    if (data.isEmpty() || !QFileInfo::exists(m_dir + QStringLiteral("/reference.csv")))
        QSKIP("../shared/testdata/llama-quantized is absent");
    QFile csv(m_dir + QStringLiteral("/reference.csv"));
    QVERIFY(csv.open(QIODevice::ReadOnly));
    csv.readLine();
    while (!csv.atEnd()) {
        const QString name = QString::fromLatin1(csv.readLine().trimmed().split(',').value(0));
        if (name.isEmpty() || name == u"F32") // F32 is the source itself
            continue;
        const auto ft = fileTypeFromName(name);
        QVERIFY2(ft, qPrintable(name));
        const GgufFile f = GgufFile::open(ref(name), GgufFile::Mode::MetadataOnly);
        m_refs.push_back({name, *ft, false, f.metadata().contains("quantize.imatrix.file")});
    }
    QCOMPARE(m_refs.size(), std::size_t(30));
    m_refs.push_back({QStringLiteral("MXFP4_MOE-pure"), FileType::MXFP4_MOE, true, false});
}

void TestQuantLlamaOutputs::withoutImatrix()
{
    const GgufFile input = GgufFile::open(m_dir + QStringLiteral("/synth-a-F32.gguf"));
    QTemporaryDir dir;
    std::vector<QuantizeTarget> targets;
    std::vector<const Reference *> refs;
    for (const Reference &r : m_refs) {
        if (r.imatrix)
            continue;
        QuantOptions o;
        o.pure = r.pure;
        targets.push_back({makeQuantPlan(input.metadata(), input.tensors(), r.fileType, o),
                           dir.filePath(r.name + QStringLiteral(".gguf"))});
        refs.push_back(&r);
    }
    // The plain MXFP4_MOE mix (not stored, README of the folder: the Q8_0 file, file type 38).
    targets.push_back({makeQuantPlan(input.metadata(), input.tensors(), FileType::MXFP4_MOE),
                       dir.filePath(QStringLiteral("MXFP4_MOE.gguf"))});
    QCOMPARE(targets.size(), std::size_t(22));
    NullJobContext ctx;
    quantize(input, targets, {}, ctx);
    std::uint64_t nBytes = 0;
    for (std::size_t i = 0; i + 1 < targets.size(); ++i) {
        const QByteArray ours = fileContent(targets[i].outputPath);
        const QByteArray theirs = fileContent(ref(refs[i]->name));
        QVERIFY2(!theirs.isEmpty(), qPrintable(refs[i]->name));
        QVERIFY2(ours == theirs, qPrintable(refs[i]->name + QStringLiteral(": ")
                                            + firstDifference(ours, theirs)));
        nBytes += std::uint64_t(ours.size());
    }
    QByteArray mxfp4 = fileContent(targets.back().outputPath);
    const QByteArray q8 = fileContent(ref(QStringLiteral("Q8_0")));
    QCOMPARE(mxfp4.size(), q8.size());
    qsizetype nDiffer = 0;
    for (qsizetype i = 0; i < q8.size(); ++i) {
        if (mxfp4[i] != q8[i]) {
            ++nDiffer;
            QCOMPARE(int(std::uint8_t(mxfp4[i])), 38); // general.file_type's low byte
            QCOMPARE(int(std::uint8_t(q8[i])), 7);
        }
    }
    QCOMPARE(nDiffer, qsizetype(1));
    qInfo("%zu llama-quantize files identical byte for byte (%llu bytes), plus MXFP4_MOE = Q8_0 "
          "but for general.file_type",
          targets.size() - 1, static_cast<unsigned long long>(nBytes));
}

void TestQuantLlamaOutputs::withLegacyImatrix()
{
    // Recorded as "synth-a.imatrix", the path llama-quantize was given: whole files compare.
    const GgufFile input = GgufFile::open(m_dir + QStringLiteral("/synth-a-F32.gguf"));
    const ImportanceMatrix im = readImportanceMatrix(m_dir + QStringLiteral("/synth-a.imatrix"));
    QuantOptions o;
    o.hasImatrix = true;
    o.imatrix = ImatrixSummary{QStringLiteral("synth-a.imatrix"), im.datasets.value(0),
                               std::uint32_t(im.entries.size()), im.chunkCount};
    QTemporaryDir dir;
    std::vector<QuantizeTarget> targets;
    QStringList names;
    for (const Reference &r : m_refs) {
        if (!r.imatrix)
            continue;
        targets.push_back({makeQuantPlan(input.metadata(), input.tensors(), r.fileType, o),
                           dir.filePath(r.name + QStringLiteral(".gguf"))});
        names << r.name;
    }
    QCOMPARE(targets.size(), std::size_t(10));
    QuantizeOptions qo;
    qo.imatrix = &im;
    NullJobContext ctx;
    const QuantizeResult result = quantize(input, targets, qo, ctx);
    // token_embd and output have no entry (llama-imatrix does not record them): quantized
    // without one, as llama-quantize did.
    QVERIFY(result.warnings.join(u'\n').contains(
        QLatin1String("did not find weights for token_embd.weight")));
    std::uint64_t nBlocks = 0;
    std::uint64_t nTensors = 0;
    for (qsizetype i = 0; i < names.size(); ++i) {
        const QByteArray ours = fileContent(targets[std::size_t(i)].outputPath);
        const QByteArray theirs = fileContent(ref(names[i]));
        QVERIFY2(ours == theirs,
                 qPrintable(names[i] + QStringLiteral(": ") + firstDifference(ours, theirs)));
        for (const PlannedTensor &p : targets[std::size_t(i)].plan.tensors) {
            if (typeFacts(p.targetType).isQuantized) {
                ++nTensors;
                nBlocks += p.targetBytes / typeFacts(p.targetType).blockBytes;
            }
        }
    }
    qInfo("10 I-quant files identical byte for byte: %llu quantized tensors, %llu blocks",
          static_cast<unsigned long long>(nTensors), static_cast<unsigned long long>(nBlocks));
}

void TestQuantLlamaOutputs::withGgufImatrix()
{
    const GgufFile input = GgufFile::open(m_dir + QStringLiteral("/synth-a-F32.gguf"));
    const QString imPath = m_dir + QStringLiteral("/synth-a.imatrix.gguf");
    const ImportanceMatrix im = readImportanceMatrix(imPath);
    QuantOptions o;
    o.hasImatrix = true;
    o.imatrix = ImatrixSummary{QStringLiteral("synth-a.imatrix.gguf"), im.datasets.value(0),
                               std::uint32_t(im.entries.size()), im.chunkCount};
    QTemporaryDir dir;
    std::vector<QuantizeTarget> targets;
    QStringList names;
    for (const Reference &r : m_refs) {
        if (!r.imatrix)
            continue;
        targets.push_back({makeQuantPlan(input.metadata(), input.tensors(), r.fileType, o),
                           dir.filePath(r.name + QStringLiteral(".gguf"))});
        names << r.name;
    }
    QuantizeOptions qo;
    qo.imatrix = &im;
    NullJobContext ctx;
    quantize(input, targets, qo, ctx);
    std::uint64_t nBytes = 0;
    for (qsizetype i = 0; i < names.size(); ++i) {
        const GgufFile ours = GgufFile::open(targets[std::size_t(i)].outputPath);
        const GgufFile theirs = GgufFile::open(ref(names[i]));
        // Metadata: the same but for the imatrix file name.
        GgufMetadata a = ours.metadata();
        GgufMetadata b = theirs.metadata();
        QCOMPARE(a.stringOr("quantize.imatrix.file"), QStringLiteral("synth-a.imatrix.gguf"));
        QCOMPARE(b.stringOr("quantize.imatrix.file"), QStringLiteral("synth-a.imatrix"));
        a.set("quantize.imatrix.file", GgufValue::fromString(QByteArray("x")));
        b.set("quantize.imatrix.file", GgufValue::fromString(QByteArray("x")));
        QVERIFY(a == b);
        QCOMPARE(ours.tensors().size(), theirs.tensors().size());
        for (std::size_t t = 0; t < ours.tensors().size(); ++t) {
            const auto &x = ours.tensors()[t];
            const auto &y = theirs.tensors()[t];
            QCOMPARE(x.name, y.name);
            QCOMPARE(x.type, y.type);
            const auto dx = ours.tensorData(t);
            const auto dy = theirs.tensorData(t);
            QVERIFY2(std::equal(dx.begin(), dx.end(), dy.begin(), dy.end()),
                     qPrintable(names[i] + QLatin1Char(' ') + QString::fromUtf8(x.name)));
            nBytes += dx.size();
        }
    }
    qInfo("10 I-quant files from the GGUF imatrix: tensor data identical (%llu bytes)",
          static_cast<unsigned long long>(nBytes));
}

QTEST_APPLESS_MAIN(TestQuantLlamaOutputs)
#include "testquantllamaoutputs.moc"
