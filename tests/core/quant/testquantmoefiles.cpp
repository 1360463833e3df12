// Mixture-of-experts conversions against llama.cpp b10472's llama-quantize (shared test data,
// arch/): the three MoE sources (qwen3moe and Mixtral in F32, gpt-oss with MXFP4 experts,
// requantized as `llama-quantize --allow-requantize`) each made Q4_K_M and Q2_K. For each of the
// six reference files: our plan gives the tensor order, types, shapes and bytes of
// quant-tensor-types.csv and the reference file's exact size, the advisor predicts that size for
// the source (and the tensor list it builds from the model's shape alone gives the same tensor
// bytes), and our output is identical to the reference byte for byte (a mismatch names the
// first differing tensor). The rules exercised: the n_expert == 8 bumps, row-length fallbacks,
// the router kept in F32, the "more bits" layers of ffn_down_exps, 3-D expert stacks quantized
// per expert.

#include "testsupport.h"

#include "advisor/advisor.h"
#include "advisor/recommend.h"
#include "advisor/shapetensors.h"
#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "model/modelinfo.h"
#include "quant/imatrixfile.h"
#include "quant/quantizer.h"
#include "quant/quantplan.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QTemporaryDir>
#include <QTest>

#include <random>

using namespace QuantFit;
using QuantFit::Test::fileContent;

namespace {

// One row of quant-tensor-types.csv: file,tensor,type,ne,bytes (ne innermost first, "256x512").
struct CsvTensor {
    QByteArray name;
    QString type;
    QString ne;
    std::uint64_t bytes = 0;
};

QString neText(const GgufTensorInfo &t)
{
    QStringList dims;
    for (std::uint32_t d = 0; d < t.nDims; ++d)
        dims << QString::number(t.ne[d]);
    return dims.join(QLatin1Char('x'));
}

// Where two files first differ, by what: metadata, a tensor's info, a tensor's data, or the
// bytes between (header padding).
QString firstDifference(const QString &oursPath, const QString &theirsPath)
{
    const GgufFile ours = GgufFile::open(oursPath);
    const GgufFile theirs = GgufFile::open(theirsPath);
    if (!(ours.metadata() == theirs.metadata()))
        return QStringLiteral("metadata differs");
    if (ours.tensors().size() != theirs.tensors().size())
        return QStringLiteral("%1 tensors, reference %2")
            .arg(ours.tensors().size())
            .arg(theirs.tensors().size());
    for (std::size_t i = 0; i < ours.tensors().size(); ++i) {
        const GgufTensorInfo &a = ours.tensors()[i];
        const GgufTensorInfo &b = theirs.tensors()[i];
        const QString name = QString::fromUtf8(b.name);
        if (a.name != b.name)
            return QStringLiteral("tensor %1 is %2, reference %3")
                .arg(i)
                .arg(QString::fromUtf8(a.name), name);
        if (a.type != b.type)
            return QStringLiteral("tensor %1 has type %2, reference %3")
                .arg(name, ggmlTypeName(a.type), ggmlTypeName(b.type));
        if (neText(a) != neText(b) || a.offset != b.offset)
            return QStringLiteral("tensor %1: shape %2 at %3, reference %4 at %5")
                .arg(name, neText(a))
                .arg(a.offset)
                .arg(neText(b))
                .arg(b.offset);
        const auto da = ours.tensorData(i);
        const auto db = theirs.tensorData(i);
        if (!std::equal(da.begin(), da.end(), db.begin(), db.end())) {
            const auto at = std::mismatch(da.begin(), da.end(), db.begin()).first - da.begin();
            return QStringLiteral("tensor %1 (%2): data differs at byte %3 of %4")
                .arg(name, ggmlTypeName(a.type))
                .arg(at)
                .arg(da.size());
        }
    }
    return QStringLiteral("headers or padding differ (sizes %1 and %2)")
        .arg(ours.fileSize())
        .arg(theirs.fileSize());
}

} // namespace

class TestQuantMoeFiles : public QObject
{
    Q_OBJECT

    QString m_dir;
    QHash<QString, std::vector<CsvTensor>> m_csv; // by reference file name
    QHash<QString, std::uint64_t> m_referenceBytes; // reference.csv's bytes column

    QString path(const QString &name) const { return m_dir + QLatin1Char('/') + name; }

private slots:
    void initTestCase();
    void referenceFile_data();
    void referenceFile();
    void requantizeNeedsTheFlag();
    void expertSlicesAreIndependent();
};

void TestQuantMoeFiles::initTestCase()
{
    const QString data = Test::sharedTestData();
    m_dir = data + QStringLiteral("/arch");
    if (data.isEmpty() || !QFileInfo::exists(path(QStringLiteral("quant-tensor-types.csv"))))
        return; // the tests that need it skip; expertSlicesAreIndependent does not
    QFile csv(path(QStringLiteral("quant-tensor-types.csv")));
    QVERIFY(csv.open(QIODevice::ReadOnly));
    QCOMPARE(csv.readLine().trimmed(), QByteArray("file,tensor,type,ne,bytes"));
    while (!csv.atEnd()) {
        const QList<QByteArray> f = csv.readLine().trimmed().split(',');
        if (f.size() == 1 && f[0].isEmpty())
            continue;
        QCOMPARE(f.size(), 5);
        m_csv[QString::fromLatin1(f[0])].push_back(
            {f[1], QString::fromLatin1(f[2]), QString::fromLatin1(f[3]), f[4].toULongLong()});
    }
    QCOMPARE(m_csv.size(), 6);
    QFile ref(path(QStringLiteral("reference.csv")));
    QVERIFY(ref.open(QIODevice::ReadOnly));
    ref.readLine();
    while (!ref.atEnd()) {
        // file,arch,type,bytes,sha256,...
        const QList<QByteArray> f = ref.readLine().trimmed().split(',');
        if (f.size() > 3)
            m_referenceBytes[QString::fromLatin1(f[0])] = f[3].toULongLong();
    }
}

void TestQuantMoeFiles::referenceFile_data()
{
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("type");
    for (const char *model : {"qwen3moe", "mixtral", "gpt-oss"}) {
        for (const char *type : {"Q4_K_M", "Q2_K"})
            QTest::addRow("%s-%s", model, type) << QString::fromLatin1(model)
                                                << QString::fromLatin1(type);
    }
}

void TestQuantMoeFiles::referenceFile()
{
    if (m_csv.isEmpty())
        QSKIP("../shared/testdata/arch (quant-tensor-types.csv) is absent");
    QFETCH(QString, model);
    QFETCH(QString, type);
    const QString refName = QStringLiteral("synth-%1-%2.gguf").arg(model, type);
    const QString source = path(QStringLiteral("synth-%1.gguf").arg(model));
    const std::optional<FileType> ft = fileTypeFromName(type);
    QVERIFY(ft);
    const GgufFile input = GgufFile::open(source);
    QuantOptions o;
    o.allowRequantize = true; // gpt-oss's experts are MXFP4, as llama-quantize was told
    const QuantPlan plan = makeQuantPlan(input.metadata(), input.tensors(), *ft, o);
    QVERIFY2(plan.isWritable(), qPrintable(plan.refusal));

    // The plan: every tensor's name, type, shape and bytes as quant-tensor-types.csv lists them.
    const std::vector<CsvTensor> &expected = m_csv.value(refName);
    QCOMPARE(plan.tensors.size(), expected.size());
    std::uint64_t nExpertStacks = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const PlannedTensor &p = plan.tensors[i];
        const CsvTensor &e = expected[i];
        const QString what = QString::fromUtf8(e.name);
        QCOMPARE(p.name, e.name);
        QVERIFY2(ggmlTypeName(p.targetType).compare(e.type, Qt::CaseInsensitive) == 0,
                 qPrintable(QStringLiteral("%1: %2, reference %3")
                                .arg(what, ggmlTypeName(p.targetType), e.type)));
        QVERIFY2(neText(p.source) == e.ne, qPrintable(what));
        QVERIFY2(p.targetBytes == e.bytes,
                 qPrintable(QStringLiteral("%1: %2 bytes, reference %3")
                                .arg(what)
                                .arg(p.targetBytes)
                                .arg(e.bytes)));
        if (p.source.nDims == 3)
            ++nExpertStacks;
    }
    QCOMPARE(nExpertStacks, std::uint64_t(6)); // gate/up/down experts of 2 layers
    // The dry run says why: the router is kept, and a bumped expert stack names its rule and
    // then its fallback.
    for (const PlannedTensor &p : plan.tensors) {
        if (p.name.endsWith("ffn_gate_inp.weight"))
            QVERIFY2(!p.quantized && p.note.contains(QLatin1String("router")), qPrintable(p.note));
        if (p.name == "blk.1.ffn_down_exps.weight" && *ft == FileType::Q4_K_M)
            QVERIFY2(p.note.startsWith(QLatin1String("ffn_down"))
                         && p.note.contains(QLatin1String("then fallback")),
                     qPrintable(p.note));
    }
    QVERIFY(m_referenceBytes.contains(refName));
    QCOMPARE(plan.outputFileBytes, m_referenceBytes.value(refName));
    QCOMPARE(plan.outputFileBytes, std::uint64_t(QFileInfo(path(refName)).size()));

    // The advisor sizes the source with the same plan: the file size llama-quantize wrote.
    AdviceOptions ao;
    ao.ramBytes = std::uint64_t(32e9);
    const ModelAdvice advice = Advisor().adviseGguf(input, ao);
    const QuantRow *row = advice.row(*ft);
    QVERIFY(row);
    QCOMPARE(row->fileBytes, m_referenceBytes.value(refName));
    // A catalog entry or an entered shape is sized from the tensor list the advisor builds from
    // the shape alone: for these models it holds the same tensors, so the same tensor bytes.
    const ModelShape shape = shapeFromModelInfo(modelInfoFrom(input), input.metadata(), source);
    const ShapeTensors built = buildShapeTensors(shape);
    QuantOptions so = o;
    so.tensorTypes = built.tensorTypes;
    const QuantPlan shapePlan = makeQuantPlan(built.metadata, built.tensors, *ft, so);
    QCOMPARE(built.tensors.size(), input.tensors().size());
    QCOMPARE(shapePlan.targetTensorBytes, plan.targetTensorBytes);

    // The conversion: identical to llama-quantize's file, byte for byte.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString out = dir.filePath(refName);
    NullJobContext ctx;
    quantize(input, {{plan, out}}, {}, ctx);
    const QByteArray ours = fileContent(out);
    const QByteArray theirs = fileContent(path(refName));
    QVERIFY(!theirs.isEmpty());
    QVERIFY2(ours == theirs,
             qPrintable(refName + QStringLiteral(": ") + firstDifference(out, path(refName))));
    qInfo("%s: %lld bytes identical (%zu tensors, %u fallbacks)", qPrintable(refName),
          static_cast<long long>(ours.size()), plan.tensors.size(), plan.nFallbacks);
}

void TestQuantMoeFiles::requantizeNeedsTheFlag()
{
    if (m_csv.isEmpty())
        QSKIP("../shared/testdata/arch (quant-tensor-types.csv) is absent");
    // MXFP4 experts are block-quantized: converting them lowers quality twice, so like
    // llama-quantize the planner asks for --allow-requantize and names the tensor.
    const GgufFile input =
        GgufFile::open(path(QStringLiteral("synth-gpt-oss.gguf")), GgufFile::Mode::MetadataOnly);
    try {
        makeQuantPlan(input.metadata(), input.tensors(), FileType::Q4_K_M);
        QFAIL("an MXFP4 input was planned without allowRequantize");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QLatin1String("ffn_down_exps.weight"))
                     && e.message().contains(QLatin1String("requantizing from type mxfp4 is "
                                                           "disabled"))
                     && e.message().contains(QLatin1String("--allow-requantize")),
                 qPrintable(e.message()));
    }
    // MXFP4_MOE keeps the MXFP4 experts as they are: nothing is requantized, no flag needed.
    const QuantPlan keep = makeQuantPlan(input.metadata(), input.tensors(), FileType::MXFP4_MOE);
    for (const PlannedTensor &p : keep.tensors) {
        if (p.source.type == GgmlType::MXFP4)
            QVERIFY2(!p.quantized, p.name.constData());
    }
}

// A 3-D expert stack is n_expert independent matrices, expert e weighted by entries
// e*ne0 .. (e+1)*ne0 - 1 of the importance matrix (docs/quantization.md, "Mixture-of-experts
// models"): converting the stack must give, slice by slice, what converting each expert alone
// as a 2-D tensor with its own slice gives. Synthetic, so it runs without the shared data.
void TestQuantMoeFiles::expertSlicesAreIndependent()
{
    constexpr std::uint64_t nCols = 256, nRows = 8, nExperts = 4;
    const QByteArray name("blk.0.ffn_up_exps.weight");
    std::mt19937 rng(11);
    std::student_t_distribution<float> heavy(5.0f);
    std::uniform_real_distribution<float> positive(0.01f, 4.0f);
    std::vector<float> weights(nCols * nRows * nExperts);
    for (float &w : weights)
        w = 0.02f * heavy(rng);
    ImportanceEntry stackEntry{name, nCols, nExperts, {}, {3.0f, 1.0f, 7.0f, 0.0f}};
    stackEntry.sumSquares.resize(nCols * nExperts);
    for (float &v : stackEntry.sumSquares)
        v = positive(rng);

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    auto bytesOf = [](const float *p, std::uint64_t n) {
        return QByteArray(reinterpret_cast<const char *>(p), qsizetype(n * sizeof(float)));
    };
    // Writes a one-tensor model of `experts` experts and converts it (pure Q4_K_M: Q4_K) with
    // `entry` as its importance matrix; returns the converted tensor's bytes.
    auto convert = [&](const QString &stem, const float *data, std::uint64_t experts,
                       const ImportanceEntry &entry) {
        GgufLayout layout;
        layout.metadata.set("general.architecture", GgufValue::fromString(QByteArray("qwen3moe")));
        layout.metadata.set("qwen3moe.block_count", GgufValue::u32(1));
        layout.metadata.set("qwen3moe.expert_count", GgufValue::u32(std::uint32_t(experts)));
        GgufTensorInfo t;
        t.name = name;
        t.ne = {nCols, nRows, experts, 1};
        t.nDims = experts > 1 ? 3 : 2;
        layout.tensors.push_back(t);
        const QString in = dir.filePath(stem + QStringLiteral(".gguf"));
        writeGgufFile(in, layout, {bytesOf(data, nCols * nRows * experts)});
        const GgufFile input = GgufFile::open(in);
        ImportanceMatrix im;
        im.entries.push_back(entry);
        QuantOptions o;
        o.pure = true;
        o.hasImatrix = true;
        const QuantPlan plan = makeQuantPlan(input.metadata(), input.tensors(), FileType::Q4_K_M, o);
        const QString out = dir.filePath(stem + QStringLiteral("-Q4_K_M.gguf"));
        QuantizeOptions qo;
        qo.imatrix = &im;
        NullJobContext ctx;
        quantize(input, {{plan, out}}, qo, ctx);
        const GgufFile output = GgufFile::open(out);
        const auto d = output.tensorData(0);
        return QByteArray(reinterpret_cast<const char *>(d.data()), qsizetype(d.size()));
    };
    auto sliceEntry = [&](std::uint64_t e) {
        ImportanceEntry one{name, nCols, 1, {}, {stackEntry.counts[e]}};
        one.sumSquares.assign(stackEntry.sumSquares.begin() + std::ptrdiff_t(e * nCols),
                              stackEntry.sumSquares.begin() + std::ptrdiff_t((e + 1) * nCols));
        return one;
    };

    const QByteArray stack = convert(QStringLiteral("stack"), weights.data(), nExperts, stackEntry);
    const qsizetype sliceBytes = stack.size() / qsizetype(nExperts);
    QCOMPARE(sliceBytes, qsizetype(nRows * 144)); // one 144-byte Q4_K block per 256-value row
    for (std::uint64_t e = 0; e < nExperts; ++e) {
        const QByteArray alone = convert(QStringLiteral("expert%1").arg(e),
                                         weights.data() + e * nCols * nRows, 1, sliceEntry(e));
        QVERIFY2(alone == stack.mid(qsizetype(e) * sliceBytes, sliceBytes),
                 qPrintable(QStringLiteral("expert %1").arg(e)));
    }
    // The importance matters here, so the comparison above would see a wrong slice.
    const QByteArray otherSlice =
        convert(QStringLiteral("wrong"), weights.data(), 1, sliceEntry(2));
    QVERIFY(otherSlice != stack.mid(0, sliceBytes));
}

QTEST_APPLESS_MAIN(TestQuantMoeFiles)
#include "testquantmoefiles.moc"
