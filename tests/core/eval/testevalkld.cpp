// KL divergence and importance matrices on synthetic models (no shared data needed): the KLD
// ordering of quantization levels, imatrix-weighted quantization beating unweighted on a model
// with uneven activations, and the imatrix collector's arithmetic.

#include "eval/baselogits.h"
#include "eval/imatrixcollector.h"
#include "eval/perplexity.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "infer/llamamodel.h"
#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"
#include "quant/imatrixfile.h"
#include "quant/quantizer.h"
#include "util/error.h"

#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <random>

using namespace QuantFit;

namespace {

constexpr int kCtx = 64;
constexpr int kChunks = 4;

SyntheticModelOptions smallModel()
{
    SyntheticModelOptions o;
    o.nLayers = 2;
    o.nEmbd = 256; // K-quant rows need multiples of 256
    o.nFf = 512;
    o.nHeads = 4;
    o.nHeadsKv = 2;
    o.nVocab = 512;
    o.nCtx = 256;
    o.seed = 11;
    return o;
}

/// Random token ids (the models are random too: no text is needed to compare them).
EvalTokens randomTokens(int n, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::int32_t> id(3, 511);
    EvalTokens t;
    t.addBos = true;
    t.bosId = 1;
    t.sourceName = QStringLiteral("random tokens");
    t.tokens.push_back(1);
    while (int(t.tokens.size()) < n)
        t.tokens.push_back(id(rng));
    return t;
}

/// Copies `in` to `out` with the RMSNorm weights of every block scaled unevenly per column, so
/// the inputs of q/k/v and gate/up have a few very strong and many weak columns.
void writeUnevenCopy(const QString &in, const QString &out)
{
    const GgufFile f = GgufFile::open(in);
    GgufLayout layout;
    layout.metadata = f.metadata();
    layout.tensors = f.tensors();
    std::vector<QByteArray> data;
    for (const GgufTensorInfo &t : f.tensors()) {
        const auto bytes = f.tensorData(t);
        QByteArray copy(reinterpret_cast<const char *>(bytes.data()), qsizetype(bytes.size()));
        if (t.name.endsWith("_norm.weight") && t.name.startsWith("blk.")) {
            QCOMPARE(t.type, GgmlType::F32);
            float *w = reinterpret_cast<float *>(copy.data());
            for (std::uint64_t c = 0; c < t.ne[0]; ++c)
                w[c] *= c % 16 == 3 ? 8.0f : (c % 3 == 0 ? 0.25f : 1.0f);
        }
        data.push_back(copy);
    }
    writeGgufFile(out, layout, data);
}

QString quantizeTo(const QString &input, FileType type, const QString &out,
                   const ImportanceMatrix *imatrix = nullptr)
{
    const GgufFile f = GgufFile::open(input);
    QuantizeTarget target{.plan = makeQuantPlan(f.metadata(), f.tensors(), type), .outputPath = out};
    QuantizeOptions o;
    o.imatrix = imatrix;
    NullJobContext ctx;
    quantize(f, {target}, o, ctx);
    return out;
}

PerplexityOptions evalOptions()
{
    PerplexityOptions o;
    o.nCtx = kCtx;
    o.nBatch = kCtx;
    o.nChunks = kChunks;
    return o;
}

KldSummary kldAgainst(const QString &model, const BaseLogitsFile &base)
{
    NullJobContext ctx;
    const PerplexityResult r = computeKld(LlamaModel::open(model), base, true, 1, evalOptions(), ctx);
    return *r.kld;
}

} // namespace

class TestEvalKld : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_f32;
    QString m_uneven;

    QString path(const QString &name) const { return m_dir.filePath(name); }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_f32 = path(QStringLiteral("synth-F32.gguf"));
        NullJobContext ctx;
        writeSyntheticModel(m_f32, smallModel(), ctx);
        m_uneven = path(QStringLiteral("uneven-F32.gguf"));
        writeUnevenCopy(m_f32, m_uneven);
    }

    void kldAgainstItselfIsZero()
    {
        const QString base = path(QStringLiteral("self.qfkl"));
        PerplexityOptions o = evalOptions();
        o.saveBasePath = base;
        NullJobContext ctx;
        const PerplexityResult p = computePerplexity(LlamaModel::open(m_f32),
                                                     randomTokens(kCtx * kChunks + 5, 3), o, ctx);
        const BaseLogitsFile f = BaseLogitsFile::open(base);
        QCOMPARE(f.header().nChunks, std::uint32_t(kChunks));
        QCOMPARE(f.header().nCtx, std::uint32_t(kCtx));
        const KldSummary s = kldAgainst(m_f32, f);
        QCOMPARE(s.nTokens, std::uint64_t(kChunks * (kCtx - 1 - kCtx / 2)));
        QVERIFY2(std::abs(s.kldMean) < 1e-6, qPrintable(QString::number(s.kldMean)));
        QCOMPARE(s.sameTopPercent, 100.0);
        QVERIFY(std::abs(s.pplRatio - 1.0) < 1e-5);
        QVERIFY(std::abs(s.pplBase - p.ppl) / p.ppl < 1e-5);
        QVERIFY(s.rmsDpPercent < 1e-3);
    }

    void kldGrowsAsBitsShrink()
    {
        const QString base = path(QStringLiteral("base.qfkl"));
        PerplexityOptions o = evalOptions();
        o.saveBasePath = base;
        NullJobContext ctx;
        computePerplexity(LlamaModel::open(m_f32), randomTokens(kCtx * kChunks, 5), o, ctx);
        const BaseLogitsFile f = BaseLogitsFile::open(base);
        const FileType types[] = {FileType::F16, FileType::Q8_0, FileType::Q4_K_M, FileType::Q2_K};
        double previous = 0;
        for (const FileType t : types) {
            const QString q = quantizeTo(m_f32, t, path(QStringLiteral("synth-%1.gguf").arg(fileTypeName(t))));
            const KldSummary s = kldAgainst(q, f);
            qInfo("KLD(F32 -> %s) = %.3g +/- %.2g, median %.3g, p99 %.3g, same top %.2f%%, "
                  "RMS dp %.3f%%, PPL ratio %.5f, tail bound %.2g",
                  qPrintable(fileTypeName(t)), s.kldMean, s.kldMeanError, s.kldMedian, s.kldP99,
                  s.sameTopPercent, s.rmsDpPercent, s.pplRatio, s.kldTailBound);
            QVERIFY2(s.kldMean > previous,
                     qPrintable(QStringLiteral("%1: %2 <= %3").arg(fileTypeName(t)).arg(s.kldMean).arg(previous)));
            QVERIFY(s.kldMedian >= 0 && s.kldP99 >= s.kldMedian);
            previous = s.kldMean;
        }
    }

    void llamaCppBaseFormatAgrees()
    {
        // The same base saved in llama.cpp's layout gives the same statistics (llama.cpp's
        // 16-bit codes and its skipping of log-probs below −16 aside).
        const EvalTokens tokens = randomTokens(kCtx * kChunks, 5);
        const QString ours = path(QStringLiteral("base.qfkl"));
        const QString theirs = path(QStringLiteral("base-llama.kld"));
        NullJobContext ctx;
        PerplexityOptions o = evalOptions();
        o.saveBasePath = theirs;
        o.baseLlamaCppFormat = true;
        computePerplexity(LlamaModel::open(m_f32), tokens, o, ctx);
        const BaseLogitsFile f = BaseLogitsFile::open(theirs);
        QCOMPARE(f.format(), BaseLogitsFile::Format::LlamaCpp);
        const std::uint64_t nScored = std::uint64_t(kChunks) * (kCtx - 1 - kCtx / 2);
        QCOMPARE(f.fileBytes(), 20 + 4 * std::uint64_t(kCtx * kChunks) + nScored * (8 + 2 * 512));
        QVERIFY(QFile::exists(ours)); // from kldGrowsAsBitsShrink, same tokens
        const QString q = path(QStringLiteral("synth-Q8_0.gguf"));
        QVERIFY(QFile::exists(q));
        const KldSummary a = kldAgainst(q, BaseLogitsFile::open(ours));
        const KldSummary b = kldAgainst(q, f);
        qInfo("Q8_0: KLD %.6g (our base file) vs %.6g (llama.cpp layout); same top %.2f%% vs %.2f%%",
              a.kldMean, b.kldMean, a.sameTopPercent, b.sameTopPercent);
        QVERIFY(std::abs(a.kldMean - b.kldMean) < 0.02 * a.kldMean);
        QVERIFY(std::abs(a.pplBase - b.pplBase) < 1e-3 * a.pplBase);
        QVERIFY(std::abs(a.sameTopPercent - b.sameTopPercent) < 1.0);
    }

    void imatrixLowersKld_data()
    {
        QTest::addColumn<int>("fileType");
        QTest::newRow("Q4_K_M") << int(FileType::Q4_K_M);
        QTest::newRow("Q3_K_S") << int(FileType::Q3_K_S);
    }

    void imatrixLowersKld()
    {
        QFETCH(int, fileType);
        const FileType type = FileType(fileType);
        const EvalTokens tokens = randomTokens(kCtx * kChunks, 9);
        const QString base = path(QStringLiteral("uneven.qfkl"));
        if (!QFile::exists(base)) {
            PerplexityOptions o = evalOptions();
            o.saveBasePath = base;
            NullJobContext ctx;
            computePerplexity(LlamaModel::open(m_uneven), tokens, o, ctx);
        }
        ImatrixOptions io;
        io.nCtx = kCtx;
        io.nBatch = kCtx;
        io.nChunks = kChunks;
        NullJobContext ctx;
        const ImatrixRunResult im = collectImatrix(LlamaModel::open(m_uneven), tokens, io, ctx);
        QCOMPARE(im.matrix.entries.size(), std::size_t(2 * 7)); // q k v o gate up down per block
        const BaseLogitsFile f = BaseLogitsFile::open(base);
        const QString name = fileTypeName(type);
        const KldSummary plain = kldAgainst(
            quantizeTo(m_uneven, type, path(QStringLiteral("plain-%1.gguf").arg(name))), f);
        const KldSummary weighted = kldAgainst(
            quantizeTo(m_uneven, type, path(QStringLiteral("imatrix-%1.gguf").arg(name)), &im.matrix), f);
        qInfo("%s: KLD without imatrix %.4g, with %.4g", qPrintable(name), plain.kldMean, weighted.kldMean);
        QVERIFY2(weighted.kldMean < plain.kldMean,
                 qPrintable(QStringLiteral("%1 >= %2").arg(weighted.kldMean).arg(plain.kldMean)));
    }

    void imatrixFilesRoundTrip()
    {
        ImatrixOptions io;
        io.nCtx = kCtx;
        io.nChunks = 2;
        NullJobContext ctx;
        const ImatrixRunResult im =
            collectImatrix(LlamaModel::open(m_f32), randomTokens(kCtx * 2, 4), io, ctx);
        QCOMPARE(im.matrix.chunkCount, 2u);
        QCOMPARE(im.matrix.chunkSize, std::uint32_t(kCtx));
        const ImportanceEntry *q = im.matrix.find("blk.0.attn_q.weight");
        QVERIFY(q);
        QCOMPARE(q->nColumns, 256u);
        QCOMPARE(q->counts.at(0), float(2 * kCtx)); // every position of both chunks
        QVERIFY(im.matrix.find("blk.1.ffn_down.weight"));
        QCOMPARE(im.matrix.find("blk.1.ffn_down.weight")->nColumns, 512u);
        QVERIFY(!im.matrix.find("output.weight"));
        for (const ImatrixFormat format : {ImatrixFormat::Gguf, ImatrixFormat::Legacy}) {
            const QString out = path(format == ImatrixFormat::Gguf ? QStringLiteral("im.gguf")
                                                                   : QStringLiteral("im.dat"));
            writeImportanceMatrix(out, im.matrix, format);
            const ImportanceMatrix back = readImportanceMatrix(out);
            QCOMPARE(back.entries.size(), im.matrix.entries.size());
            const std::vector<float> a = q->importance();
            const std::vector<float> b = back.find("blk.0.attn_q.weight")->importance();
            QCOMPARE(a.size(), b.size());
            for (std::size_t i = 0; i < a.size(); ++i)
                QVERIFY(std::abs(a[i] - b[i]) <= 1e-5f * std::max(1.0f, a[i]));
        }
    }

    void imatrixSeesTheNormedEmbeddings()
    {
        // blk.0.attn_q's input is RMSNorm(embedding) · attn_norm (what llama-imatrix records for
        // attn_q, tools/imatrix/imatrix.cpp): recompute its per-column sums of squares in double
        // from the file and compare.
        const EvalTokens tokens = randomTokens(kCtx * 2, 21);
        ImatrixOptions io;
        io.nCtx = kCtx;
        io.nChunks = 2;
        NullJobContext ctx;
        const ImatrixRunResult im = collectImatrix(LlamaModel::open(m_f32), tokens, io, ctx);
        const ImportanceEntry *q = im.matrix.find("blk.0.attn_q.weight");
        QVERIFY(q);
        const GgufFile f = GgufFile::open(m_f32);
        const auto *embd = reinterpret_cast<const float *>(f.tensorData(*f.findTensor("token_embd.weight")).data());
        const auto *norm = reinterpret_cast<const float *>(f.tensorData(*f.findTensor("blk.0.attn_norm.weight")).data());
        const double eps = f.metadata().floatOr("llama.attention.layer_norm_rms_epsilon", 1e-5);
        const int n = 256;
        std::vector<double> expected(n, 0.0);
        for (int k = 0; k < 2; ++k) {
            const std::vector<std::int32_t> input = chunkInput(tokens.tokens, k, kCtx, true, 1);
            for (const std::int32_t t : input) {
                const float *h = embd + std::size_t(t) * n;
                double ms = 0;
                for (int c = 0; c < n; ++c)
                    ms += double(h[c]) * h[c];
                const double scale = 1.0 / std::sqrt(ms / n + eps);
                for (int c = 0; c < n; ++c) {
                    const double x = h[c] * scale * norm[c];
                    expected[std::size_t(c)] += x * x;
                }
            }
        }
        QCOMPARE(q->counts.at(0), float(2 * kCtx));
        for (int c = 0; c < n; ++c)
            QVERIFY2(std::abs(q->sumSquares[std::size_t(c)] - expected[std::size_t(c)]) <= 1e-4 * expected[std::size_t(c)] + 1e-6,
                     qPrintable(QStringLiteral("column %1: %2 vs %3").arg(c).arg(q->sumSquares[std::size_t(c)]).arg(expected[std::size_t(c)])));
    }

    void collectorSumsSquaresPerColumn()
    {
        ImatrixCollector c;
        // 16 tokens x 3 columns: token t has x = (t, 1, -2).
        std::vector<float> x;
        for (int t = 0; t < 16; ++t)
            x.insert(x.end(), {float(t), 1.0f, -2.0f});
        c.observe("blk.0.attn_q.weight", x.data(), 16, 3);
        c.observe("blk.0.attn_q.weight", x.data(), 15, 3); // fewer than 16 tokens: skipped
        c.observe("output.weight", x.data(), 16, 3);         // not a block weight
        c.observe("token_embd.weight", x.data(), 16, 3);
        QCOMPARE(c.nTensors(), std::size_t(1));
        QCOMPARE(c.count("blk.0.attn_q.weight"), 16u);
        const ImportanceMatrix m = c.result({QStringLiteral("t.txt")}, 1, 16);
        QCOMPARE(m.entries.size(), std::size_t(1));
        const ImportanceEntry &e = m.entries[0];
        QCOMPARE(e.sumSquares.at(0), 1240.0f); // Σ t², t = 0..15
        QCOMPARE(e.sumSquares.at(1), 16.0f);
        QCOMPARE(e.sumSquares.at(2), 64.0f);
        QCOMPARE(e.counts.at(0), 16.0f);
        QCOMPARE(m.datasets, QStringList{QStringLiteral("t.txt")});

        // --in-file: merged sums and counts add up.
        ImatrixCollector merged;
        merged.merge(m);
        merged.observe("blk.0.attn_q.weight", x.data(), 16, 3);
        const ImportanceMatrix twice = merged.result({}, 2, 16);
        QCOMPARE(twice.entries.at(0).sumSquares.at(0), 2480.0f);
        QCOMPARE(twice.entries.at(0).counts.at(0), 32.0f);
        ImportanceMatrix wrong = m;
        wrong.entries[0].nColumns = 2;
        wrong.entries[0].sumSquares.resize(2);
        QVERIFY_THROWS_EXCEPTION(Error, merged.merge(wrong));

        ImatrixCollector withOutput(true);
        withOutput.observe("output.weight", x.data(), 16, 3);
        QCOMPARE(withOutput.count("output.weight"), 16u);
        QVERIFY_THROWS_EXCEPTION(Error, c.observe("blk.0.attn_q.weight", x.data(), 16, 2));
    }

    void kldRefusesAnotherVocabulary()
    {
        const QString base = path(QStringLiteral("other.qfkl"));
        {
            BaseLogitsWriter w(base, BaseLogitsHeader{.nCtx = 8, .nVocab = 100, .nChunks = 1, .limits = {}},
                               std::vector<std::int32_t>(8, 1));
            std::vector<std::uint8_t> recs;
            for (int j = 0; j < 3; ++j)
                encodeBaseRecord(std::vector<float>(100, 0.0f), 1, {4, 0.0f, 1e-4f}, recs);
            w.writeChunk(recs);
            w.commit();
        }
        NullJobContext ctx;
        try {
            computeKld(LlamaModel::open(m_f32), BaseLogitsFile::open(base), true, 1, evalOptions(), ctx);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(QStringLiteral("vocabulary")), qPrintable(e.message()));
        }
    }
};

QTEST_APPLESS_MAIN(TestEvalKld)
#include "testevalkld.moc"
