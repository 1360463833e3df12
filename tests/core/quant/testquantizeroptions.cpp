// The quantizer with llama-quantize's b10472 options, end to end on small synthetic models:
// --prune-layers (renamed tensors, imatrix looked up by the original layer), --keep-split (one
// output file per input file, gguf-split's keys), and the importance-matrix requirements
// (refused before anything is written, with llama-quantize's words).

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"
#include "codecs/quantkernels.h"
#include "quant/imatrixfile.h"
#include "quant/quantizer.h"
#include "quant/quantplan.h"
#include "tasks/conversiontask.h"
#include "util/error.h"

#include <QDir>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace QuantFit;

namespace {

using G = GgmlType;
using F = FileType;

QString makeModel(const QString &path, std::uint32_t layers)
{
    SyntheticModelOptions o;
    o.nLayers = layers;
    o.nEmbd = 256;
    o.nFf = 512;
    o.nHeads = 8;
    o.nHeadsKv = 2;
    o.nVocab = 512;
    NullJobContext ctx;
    writeSyntheticModel(path, o, ctx);
    return path;
}

// An imatrix for every layer matrix (as llama-imatrix records them), values depending on the
// tensor's name so that using the wrong entry shows.
ImportanceMatrix imatrixFor(const GgufFile &in)
{
    ImportanceMatrix m;
    m.datasets << QStringLiteral("made-up.txt");
    m.chunkCount = 2;
    for (const auto &t : in.tensors()) {
        if (!t.name.startsWith("blk.") || t.effectiveDims() < 2)
            continue;
        ImportanceEntry e;
        e.name = t.name;
        e.nColumns = t.ne[0];
        const std::size_t salt = std::size_t(qHash(t.name) % 97);
        for (std::uint64_t c = 0; c < t.ne[0]; ++c)
            e.sumSquares.push_back(0.5f + float((c * 13 + salt) % 29));
        e.counts = {2.0f};
        m.entries.push_back(e);
    }
    return m;
}

QuantOptions optionsWith(const ImportanceMatrix &m)
{
    QuantOptions o;
    o.hasImatrix = true;
    o.imatrix = ImatrixSummary{QStringLiteral("made-up.imatrix"), m.datasets.value(0),
                               std::uint32_t(m.entries.size()), m.chunkCount};
    return o;
}

// gguf-split's layout: NAME-0000i-of-0000n.gguf, consecutive runs of the source's tensors (file i
// starts at tensor starts[i], or equal runs), all metadata in the first file, split.no /
// split.count / split.tensors.count in every file.
QStringList writeSplit(const GgufFile &source, const QString &prefix, int n,
                       std::vector<std::size_t> starts = {})
{
    const auto &tensors = source.tensors();
    const std::size_t per = (tensors.size() + std::size_t(n) - 1) / std::size_t(n);
    for (int i = int(starts.size()); i < n; ++i)
        starts.push_back(std::min(tensors.size(), std::size_t(i) * per));
    starts.push_back(tensors.size());
    QStringList paths;
    for (int i = 0; i < n; ++i) {
        GgufLayout layout;
        if (i == 0)
            layout.metadata = source.metadata();
        layout.metadata.set("split.no", GgufValue::fromUInt(GgufValueType::UINT16, std::uint64_t(i)));
        layout.metadata.set("split.count", GgufValue::fromUInt(GgufValueType::UINT16, std::uint64_t(n)));
        layout.metadata.set("split.tensors.count", GgufValue::i32(std::int32_t(tensors.size())));
        std::vector<QByteArray> data;
        for (std::size_t k = starts[std::size_t(i)]; k < starts[std::size_t(i) + 1]; ++k) {
            GgufTensorInfo t = tensors[k];
            t.shard = 0;
            layout.tensors.push_back(t);
            const auto bytes = source.tensorData(tensors[k]);
            data.emplace_back(reinterpret_cast<const char *>(bytes.data()), qsizetype(bytes.size()));
        }
        paths << SplitFileName{prefix, std::uint32_t(i + 1), std::uint32_t(n)}.pathOf(
            std::uint64_t(i + 1));
        writeGgufFile(paths.last(), std::move(layout), data);
    }
    return paths;
}

QString errorOf(const std::function<void()> &f)
{
    try {
        f();
    } catch (const Error &e) {
        return e.message();
    }
    return {};
}

} // namespace

class TestQuantizerOptions : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model; // 4 layers, F32

private slots:
    void initTestCase();
    void pruneLayersUsesOriginalImatrixEntries();
    void keepSplitRoundTrip();
    void splitInputMergedWithoutKeepSplit();
    void keepSplitWithAPrunedFile();
    void imatrixRequiredUpFront();
    void imatrixEntriesChecked();
    void conversionRequestRefusesWithoutImatrix();
};

void TestQuantizerOptions::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_model = makeModel(m_dir.filePath(QStringLiteral("m.gguf")), 4);
}

void TestQuantizerOptions::pruneLayersUsesOriginalImatrixEntries()
{
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_model);
    const ImportanceMatrix m = imatrixFor(input);
    QuantOptions o = optionsWith(m);
    o.pruneLayers = {1};
    const QString out = dir.filePath(QStringLiteral("pruned.gguf"));
    const QuantizeTarget t{makeQuantPlan(input.metadata(), input.tensors(), F::Q4_0, o), out};
    QuantizeOptions qo;
    qo.imatrix = &m;
    NullJobContext ctx;
    quantize(input, {t}, qo, ctx);

    const GgufFile written = GgufFile::open(out);
    QCOMPARE(written.metadata().uintOr("llama.block_count", 0), 3u);
    QCOMPARE(written.metadata().entries().back().key, QByteArray("llama.block_count"));
    QCOMPARE(written.tensors().size(), input.tensors().size() - 9);
    QVERIFY(!written.findTensor("blk.3.attn_q.weight"));
    // blk.1 of the output is blk.2 of the input, quantized with blk.2's imatrix entry.
    const auto *src = input.findTensor("blk.2.attn_q.weight");
    const auto *dst = written.findTensor("blk.1.attn_q.weight");
    QVERIFY(src && dst);
    QCOMPARE(dst->type, G::Q4_0);
    const auto *x = reinterpret_cast<const float *>(input.tensorData(*src).data());
    const std::vector<float> right = m.find("blk.2.attn_q.weight")->importance();
    const std::vector<float> wrong = m.find("blk.1.attn_q.weight")->importance();
    const auto data = written.tensorData(*dst);
    const std::size_t rowBytes = 256 / 32 * 18;
    std::size_t nDiffersFromWrong = 0;
    for (std::size_t r = 0; r < src->ne[1]; ++r) {
        std::vector<std::uint8_t> a(rowBytes), b(rowBytes);
        quantizeRow(G::Q4_0, std::span(x + r * 256, 256), a, right);
        quantizeRow(G::Q4_0, std::span(x + r * 256, 256), b, wrong);
        QVERIFY2(std::equal(a.begin(), a.end(), data.begin() + std::ptrdiff_t(r * rowBytes)),
                 qPrintable(QStringLiteral("row %1").arg(r)));
        nDiffersFromWrong += a != b;
    }
    QVERIFY(nDiffersFromWrong > 0); // the check can tell the entries apart
}

void TestQuantizerOptions::keepSplitRoundTrip()
{
    QTemporaryDir dir;
    const GgufFile whole = GgufFile::open(m_model);
    const QStringList parts = writeSplit(whole, dir.filePath(QStringLiteral("in")), 3);
    const GgufFile input = GgufFile::open(parts.first());
    QCOMPARE(input.shardCount(), 3u);
    QuantOptions o;
    o.keepSplit = true;
    const QuantizeTarget t{makeQuantPlan(input.metadata(), input.tensors(), F::Q4_K_M, o),
                           dir.filePath(QStringLiteral("out.gguf"))};
    QCOMPARE(t.plan.nShards, 3u);
    NullJobContext ctx;
    const QuantizeResult r = quantize(input, {t}, {}, ctx);
    const QStringList outs = {dir.filePath(QStringLiteral("out-00001-of-00003.gguf")),
                              dir.filePath(QStringLiteral("out-00002-of-00003.gguf")),
                              dir.filePath(QStringLiteral("out-00003-of-00003.gguf"))};
    QCOMPARE(r.outputs.front().files, outs);
    QCOMPARE(r.outputs.front().path, outs.first());
    std::uint64_t total = 0;
    for (const QString &p : outs)
        total += std::uint64_t(QFileInfo(p).size());
    QCOMPARE(total, t.plan.outputFileBytes);
    QCOMPARE(Test::filesIn(dir.path()).size(), 6); // 3 in, 3 out, nothing else

    // The reference: the same model, unsplit, quantized the usual way.
    const QuantizeTarget plain{makeQuantPlan(whole.metadata(), whole.tensors(), F::Q4_K_M),
                               dir.filePath(QStringLiteral("plain.gguf"))};
    quantize(whole, {plain}, {}, ctx);
    const GgufFile reference = GgufFile::open(plain.outputPath);

    for (int i = 0; i < 3; ++i) {
        const GgufFile in =
            GgufFile::open(parts[i], GgufFile::Mode::MetadataOnly, GgufFile::Split::ThisFile);
        const GgufFile out = GgufFile::open(outs[i], GgufFile::Mode::Full, GgufFile::Split::ThisFile);
        // The same tensors in the same file, in the input's order.
        QCOMPARE(out.tensors().size(), in.tensors().size());
        for (std::size_t k = 0; k < in.tensors().size(); ++k) {
            const auto &q = out.tensors()[k];
            QCOMPARE(q.name, in.tensors()[k].name);
            const auto *ref = reference.findTensor(q.name);
            QVERIFY(ref);
            QCOMPARE(q.type, ref->type);
            const auto a = out.tensorData(k);
            const auto b = reference.tensorData(*ref);
            QVERIFY2(std::equal(a.begin(), a.end(), b.begin(), b.end()), q.name.constData());
        }
        // gguf-split's keys: the first file has every key and the split keys last; the others
        // only the split keys.
        const auto &md = out.metadata();
        QCOMPARE(md.find("split.no")->type(), GgufValueType::UINT16);
        QCOMPARE(md.uintOr("split.no", 99), std::uint64_t(i));
        QCOMPARE(md.find("split.count")->type(), GgufValueType::UINT16);
        QCOMPARE(md.uintOr("split.count", 0), 3u);
        QCOMPARE(md.find("split.tensors.count")->type(), GgufValueType::INT32);
        QCOMPARE(md.find("split.tensors.count")->toInt64(), qint64(whole.tensors().size()));
        if (i == 0) {
            QCOMPARE(md.entries().back().key, QByteArray("split.tensors.count"));
            QCOMPARE(md.uintOr("general.file_type", 0), 15u);
            QCOMPARE(md.size(), reference.metadata().size() + 3);
        } else {
            QCOMPARE(md.size(), std::size_t(3));
        }
    }
    // The shards open as one model again.
    const GgufFile reopened = GgufFile::open(outs.first());
    QCOMPARE(reopened.shardCount(), 3u);
    QCOMPARE(reopened.tensors().size(), whole.tensors().size());
}

void TestQuantizerOptions::splitInputMergedWithoutKeepSplit()
{
    QTemporaryDir dir;
    const GgufFile whole = GgufFile::open(m_model);
    const QStringList parts = writeSplit(whole, dir.filePath(QStringLiteral("in")), 2);
    const GgufFile input = GgufFile::open(parts.first());
    const QuantizeTarget t{makeQuantPlan(input.metadata(), input.tensors(), F::Q8_0),
                           dir.filePath(QStringLiteral("merged.gguf"))};
    QCOMPARE(t.plan.nShards, 1u);
    NullJobContext ctx;
    quantize(input, {t}, {}, ctx);
    const QuantizeTarget plain{makeQuantPlan(whole.metadata(), whole.tensors(), F::Q8_0),
                               dir.filePath(QStringLiteral("plain.gguf"))};
    quantize(whole, {plain}, {}, ctx);
    QCOMPARE(Test::fileContent(t.outputPath), Test::fileContent(plain.outputPath));
}

void TestQuantizerOptions::keepSplitWithAPrunedFile()
{
    // File 2 holds exactly layer 1 (token_embd, then 9 tensors per layer): pruning it leaves an
    // output file with the split keys only, and the set still opens as one model.
    QTemporaryDir dir;
    const GgufFile whole = GgufFile::open(m_model);
    QCOMPARE(whole.tensors()[10].name, QByteArray("blk.1.attn_norm.weight"));
    QCOMPARE(whole.tensors()[19].name, QByteArray("blk.2.attn_norm.weight"));
    const QStringList parts = writeSplit(whole, dir.filePath(QStringLiteral("in")), 3, {0, 10, 19});
    const GgufFile input = GgufFile::open(parts.first());
    QuantOptions o;
    o.keepSplit = true;
    o.pruneLayers = {1};
    const QuantizeTarget t{makeQuantPlan(input.metadata(), input.tensors(), F::Q8_0, o),
                           dir.filePath(QStringLiteral("out.gguf"))};
    QCOMPARE(t.plan.nShards, 3u);
    NullJobContext ctx;
    quantize(input, {t}, {}, ctx);
    const GgufFile middle = GgufFile::open(dir.filePath(QStringLiteral("out-00002-of-00003.gguf")),
                                           GgufFile::Mode::MetadataOnly, GgufFile::Split::ThisFile);
    QCOMPARE(middle.tensors().size(), std::size_t(0));
    QCOMPARE(middle.metadata().size(), std::size_t(3));
    const GgufFile reopened =
        GgufFile::open(dir.filePath(QStringLiteral("out-00001-of-00003.gguf")));
    QCOMPARE(reopened.tensors().size(), whole.tensors().size() - 9);
    QCOMPARE(reopened.metadata().uintOr("llama.block_count", 0), 3u);
    QCOMPARE(reopened.metadata().find("split.tensors.count")->toInt64(),
             qint64(whole.tensors().size() - 9));
    // Renamed in place: the input's blk.2 is the output's blk.1, in the third file.
    const GgufTensorInfo *q = reopened.findTensor("blk.1.attn_q.weight");
    QVERIFY(q);
    QCOMPARE(q->shard, 2u);
}

void TestQuantizerOptions::imatrixRequiredUpFront()
{
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_model);
    NullJobContext ctx;
    const QString out = dir.filePath(QStringLiteral("o.gguf"));
    // Q2_K_S: the first tensor in output order that needs one is blk.0.attn_k.weight (Q2_K;
    // token_embd and output are exempt).
    const QuantizeTarget q2 = {makeQuantPlan(input.metadata(), input.tensors(), F::Q2_K_S), out};
    QString e = errorOf([&] { quantize(input, {q2}, {}, ctx); });
    QVERIFY2(e.startsWith(QLatin1String("Q2_K_S: this quantization requires an importance matrix"))
                 && e.contains(QLatin1String("offending tensor blk.0.attn_k.weight, target type q2_K")),
             qPrintable(e));
    QCOMPARE(Test::filesIn(dir.path()), QStringList());
    // IQ1_M, several types in one call: refused as a whole, nothing written.
    const QuantizeTarget q8 = {makeQuantPlan(input.metadata(), input.tensors(), F::Q8_0),
                               dir.filePath(QStringLiteral("q8.gguf"))};
    const QuantizeTarget iq1 = {makeQuantPlan(input.metadata(), input.tensors(), F::IQ1_M),
                                dir.filePath(QStringLiteral("iq1.gguf"))};
    e = errorOf([&] { quantize(input, {q8, iq1}, {}, ctx); });
    QVERIFY2(e.contains(QLatin1String("target type iq1_m")), qPrintable(e));
    QCOMPARE(Test::filesIn(dir.path()), QStringList());
    // IQ3_S and IQ3_M need none.
    const QuantizeTarget iq3 = {makeQuantPlan(input.metadata(), input.tensors(), F::IQ3_M), out};
    quantize(input, {iq3}, {}, ctx);
    QCOMPARE(Test::filesIn(dir.path()), QStringList({"o.gguf"}));
    const GgufFile written = GgufFile::open(out);
    QCOMPARE(written.findTensor("token_embd.weight")->type, G::IQ3_S);
}

void TestQuantizerOptions::imatrixEntriesChecked()
{
    QTemporaryDir dir;
    const GgufFile input = GgufFile::open(m_model);
    NullJobContext ctx;
    const QString out = dir.filePath(QStringLiteral("o.gguf"));
    ImportanceMatrix m = imatrixFor(input);
    QuantizeOptions qo;
    qo.imatrix = &m;

    // An entry missing for a tensor that needs one: refused before writing (llama-quantize
    // fails half-way there).
    ImportanceMatrix partial = m;
    partial.entries.erase(std::remove_if(partial.entries.begin(), partial.entries.end(),
                                         [](const ImportanceEntry &x) {
                                             return x.name == "blk.2.ffn_up.weight";
                                         }),
                          partial.entries.end());
    QuantizeOptions qp;
    qp.imatrix = &partial;
    const QuantizeTarget iq2 = {makeQuantPlan(input.metadata(), input.tensors(), F::IQ2_XXS,
                                              optionsWith(partial)), out};
    QString e = errorOf([&] { quantize(input, {iq2}, qp, ctx); });
    QVERIFY2(e.startsWith(QLatin1String("Missing importance matrix for tensor blk.2.ffn_up.weight "
                                        "in a very low-bit quantization")),
             qPrintable(e));
    QCOMPARE(Test::filesIn(dir.path()), QStringList());
    // With every entry it works; token_embd (Q2_K) and output (Q5_K) go without one.
    const QuantizeResult r = quantize(input, {{iq2.plan, out}}, qo, ctx);
    QVERIFY(r.warnings.join(u'\n').contains(
        QLatin1String("did not find weights for token_embd.weight")));
    QFile::remove(out);

    // An IQ2_XXS token embedding: exempt from llama-quantize's check, but ggml cannot make it
    // without importance data and llama-imatrix never records it.
    QuantOptions o = optionsWith(m);
    o.tokenEmbeddingType = G::IQ2_XXS;
    const QuantizeTarget te = {makeQuantPlan(input.metadata(), input.tensors(), F::Q4_K_M, o), out};
    e = errorOf([&] { quantize(input, {te}, qo, ctx); });
    QVERIFY2(e.startsWith(QLatin1String("tensor token_embd.weight: iq2_xxs cannot be quantized "
                                        "without importance data")),
             qPrintable(e));
    QCOMPARE(Test::filesIn(dir.path()), QStringList());

    // A wrong size is fatal, except for token embeddings (then not used).
    const QuantizeTarget q4 = {makeQuantPlan(input.metadata(), input.tensors(), F::Q4_K_M,
                                             optionsWith(m)), out};
    ImportanceMatrix bad = m;
    bad.entries.front().nColumns = 100;
    bad.entries.front().sumSquares.resize(100);
    qo.imatrix = &bad;
    e = errorOf([&] { quantize(input, {q4}, qo, ctx); });
    QVERIFY2(e == QStringLiteral("imatrix size 100 is different from tensor size 256 for %1")
                      .arg(QString::fromUtf8(bad.entries.front().name)),
             qPrintable(e));
    QCOMPARE(Test::filesIn(dir.path()), QStringList());
    ImportanceMatrix embd = m;
    ImportanceEntry te2;
    te2.name = "token_embd.weight";
    te2.nColumns = 7;
    te2.sumSquares.assign(7, 1.0f);
    te2.counts = {1.0f};
    embd.entries.push_back(te2);
    qo.imatrix = &embd;
    const QuantizeResult ok = quantize(input, {q4}, qo, ctx);
    QVERIFY(ok.warnings.join(u'\n').contains(QLatin1String("size 7 differs from tensor size 256 "
                                                           "for token_embd.weight")));
    QFile::remove(out);

    // Any non-finite number in the imatrix, used or not, is refused.
    ImportanceMatrix nan = m;
    nan.entries.back().sumSquares[3] = std::nanf("");
    qo.imatrix = &nan;
    e = errorOf([&] { quantize(input, {q4}, qo, ctx); });
    QVERIFY2(e.startsWith(QLatin1String("imatrix contains non-finite value")), qPrintable(e));
    QCOMPARE(Test::filesIn(dir.path()), QStringList());
}

void TestQuantizerOptions::conversionRequestRefusesWithoutImatrix()
{
    QTemporaryDir dir;
    ConversionRequest request;
    request.sourcePath = m_model;
    request.fileTypes = {F::IQ2_M};
    request.outputFolder = dir.filePath(QStringLiteral("sub"));
    // Preparing (what --dry-run and the app's preview do) only reports it.
    const GgufFile source = GgufFile::open(m_model, GgufFile::Mode::MetadataOnly);
    const ConversionPreparation prep = prepareConversion(request, source, nullptr);
    QVERIFY(!prep.isReady());
    prep.throwIfNotReady(); // a dry run goes on
    QVERIFY(prep.targets.front().imatrixMissing.contains(QLatin1String("target type iq2_s")));
    QVERIFY(prep.warnings.join(u'\n').contains(QLatin1String("requires an importance matrix")));
    // Running refuses before anything is made, the output folder included.
    NullJobContext ctx;
    const QString e = errorOf([&] { runConversion(request, ctx); });
    QVERIFY2(e.startsWith(QLatin1String("IQ2_M: this quantization requires an importance matrix")),
             qPrintable(e));
    QVERIFY(!QFileInfo::exists(request.outputFolder));
}

QTEST_APPLESS_MAIN(TestQuantizerOptions)
#include "testquantizeroptions.moc"
