// The forward pass against a double-precision reference written separately (tinymodel.cpp),
// batching and cache behaviour, the matmul observer, cancellation and load errors.

#include "tinymodel.h"

#include "infer/llamamodel.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "util/error.h"

#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace QuantFit;
using namespace QuantFit::Test;

namespace {

std::vector<std::int32_t> someTokens(int n, int nVocab, int seed = 3)
{
    std::vector<std::int32_t> t;
    for (int i = 0; i < n; ++i)
        t.push_back((i * 17 + seed * 5 + i * i) % nVocab);
    return t;
}

// Largest |a - b| over a row, relative to the row's largest |b|.
double relError(const float *a, const std::vector<double> &b)
{
    double maxDiff = 0, maxRef = 1e-30;
    for (std::size_t i = 0; i < b.size(); ++i) {
        maxDiff = std::max(maxDiff, std::abs(double(a[i]) - b[i]));
        maxRef = std::max(maxRef, std::abs(b[i]));
    }
    return maxDiff / maxRef;
}

double maxRelDiff(const std::vector<float> &a, const std::vector<float> &b)
{
    double maxDiff = 0, maxRef = 1e-30;
    for (std::size_t i = 0; i < a.size(); ++i) {
        maxDiff = std::max(maxDiff, std::abs(double(a[i]) - double(b[i])));
        maxRef = std::max(maxRef, std::abs(double(b[i])));
    }
    return maxDiff / maxRef;
}

} // namespace

class TestInferForward : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_counter = 0;

    std::pair<TinyModel, std::shared_ptr<const LlamaModel>> build(const TinyConfig &cfg)
    {
        const QString path = m_dir.filePath(QStringLiteral("m%1.gguf").arg(++m_counter));
        TinyModel tiny = writeTinyModel(path, cfg);
        return {std::move(tiny), LlamaModel::open(path)};
    }

private slots:
    void matchesReference_data()
    {
        QTest::addColumn<int>("variant");
        QTest::addColumn<int>("nTokens");
        QTest::addColumn<int>("nThreads");
        QTest::newRow("llama gqa, batch of 9") << 0 << 9 << 2;
        QTest::newRow("llama gqa, batch of 3 (row path)") << 0 << 3 << 1;
        QTest::newRow("llama mha, 1 thread") << 1 << 12 << 1;
        QTest::newRow("qwen2 neox + biases + tied") << 2 << 10 << 2;
        QTest::newRow("rope_freqs + linear scaling") << 3 << 11 << 2;
        QTest::newRow("f16 weights") << 4 << 8 << 2;
        QTest::newRow("odd sizes (nOut not a multiple of 16)") << 5 << 7 << 2;
    }

    void matchesReference()
    {
        QFETCH(int, variant);
        QFETCH(int, nTokens);
        QFETCH(int, nThreads);
        TinyConfig cfg;
        switch (variant) {
        case 1:
            cfg.nHeadsKv = 4;
            break;
        case 2:
            cfg.arch = "qwen2";
            cfg.biases = true;
            cfg.tied = true;
            cfg.nHeadsKv = 1;
            break;
        case 3:
            cfg.ropeFreqs = true;
            cfg.ropeScale = 4.0;
            cfg.freqBase = 500000.0;
            break;
        case 4:
            cfg.type = GgmlType::F16;
            break;
        case 5:
            cfg.nEmbd = 48;
            cfg.nHeads = 3;
            cfg.nHeadsKv = 1;
            cfg.nFf = 40;
            cfg.nVocab = 37;
            cfg.nLayers = 3;
            break;
        default:
            break;
        }
        auto [tiny, model] = build(cfg);
        const auto tokens = someTokens(nTokens, cfg.nVocab);
        const auto ref = referenceForward(tiny, tokens);

        InferenceSession session(model, {.nCtx = 32, .nThreads = nThreads,
                                         .kvType = KvStorageType::F32, .roundActivations = false});
        const auto logits = session.evaluate(tokens, true);
        QCOMPARE(logits.size(), std::size_t(nTokens) * std::size_t(cfg.nVocab));
        QCOMPARE(session.nPast(), nTokens);
        for (int t = 0; t < nTokens; ++t) {
            const double err = relError(logits.data() + std::size_t(t) * cfg.nVocab,
                                        ref[std::size_t(t)]);
            if (err > 1e-4)
                QFAIL(qPrintable(QStringLiteral("position %1: relative error %2").arg(t).arg(err)));
        }
    }

    void f16CacheIsClose()
    {
        TinyConfig cfg;
        auto [tiny, model] = build(cfg);
        const auto tokens = someTokens(10, cfg.nVocab);
        const auto ref = referenceForward(tiny, tokens);
        InferenceSession session(model, {.nCtx = 16, .nThreads = 2});
        const auto logits = session.evaluate(tokens, true);
        for (int t = 0; t < 10; ++t)
            QVERIFY(relError(logits.data() + std::size_t(t) * cfg.nVocab, ref[std::size_t(t)]) < 5e-3);
        QCOMPARE(session.kvCacheBytes(), std::uint64_t(2 * 2 * 16 * 32 * 2)); // layers*(k,v)*ctx*kvDim*2B
    }

    void llamaCppActivationRoundingIsClose()
    {
        // F16 weights: activations rounded to F16 first, as llama.cpp does; close to exact.
        TinyConfig cfg;
        cfg.type = GgmlType::F16;
        auto [tiny, model] = build(cfg);
        const auto tokens = someTokens(6, cfg.nVocab);
        const auto ref = referenceForward(tiny, tokens);
        InferenceSession session(model, {.nCtx = 8, .nThreads = 2, .kvType = KvStorageType::F32});
        const auto logits = session.evaluate(tokens, true);
        double worst = 0;
        for (int t = 0; t < 6; ++t)
            worst = std::max(worst, relError(logits.data() + std::size_t(t) * cfg.nVocab,
                                             ref[std::size_t(t)]));
        QVERIFY2(worst < 5e-3, qPrintable(QString::number(worst)));
        QVERIFY(worst > 1e-7); // the rounding did happen
    }

    void batchedEqualsTokenByToken()
    {
        TinyConfig cfg;
        cfg.arch = "qwen2";
        cfg.biases = true;
        auto [tiny, model] = build(cfg);
        const auto tokens = someTokens(13, cfg.nVocab, 5);
        // F32 cache: with an F16 cache, the last-bit differences between the batched and the
        // single-token products can round K/V to neighbouring halves.
        InferenceSession batched(model, {.nCtx = 32, .nThreads = 2, .kvType = KvStorageType::F32});
        const auto all = batched.evaluate(tokens, true);

        InferenceSession single(model, {.nCtx = 32, .nThreads = 2, .kvType = KvStorageType::F32});
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            const auto row = single.evaluate(std::span(tokens).subspan(t, 1), false);
            const std::vector<float> expected(all.begin() + std::ptrdiff_t(t * cfg.nVocab),
                                              all.begin() + std::ptrdiff_t((t + 1) * cfg.nVocab));
            QVERIFY2(maxRelDiff(row, expected) < 1e-5, qPrintable(QString::number(t)));
        }

        // Internal steps of 4 tokens, and last-token-only output, give the same numbers.
        InferenceSession stepped(model, {.nCtx = 32, .nThreads = 1, .nBatch = 4,
                                         .kvType = KvStorageType::F32});
        const auto steppedAll = stepped.evaluate(tokens, true);
        QVERIFY(maxRelDiff(steppedAll, all) < 1e-5);
        stepped.reset();
        const auto last = stepped.evaluate(tokens, false);
        QCOMPARE(last.size(), std::size_t(cfg.nVocab));
        const std::vector<float> lastRow(all.end() - cfg.nVocab, all.end());
        QVERIFY(maxRelDiff(last, lastRow) < 1e-5);
    }

    void rewindOverwritesCache()
    {
        TinyConfig cfg;
        auto [tiny, model] = build(cfg);
        auto tokens = someTokens(8, cfg.nVocab);
        InferenceSession session(model, {.nCtx = 16, .nThreads = 2});
        session.evaluate(tokens, true);
        // Replace the last 3 tokens: positions 5..7 are recomputed from nPast = 5.
        std::vector<std::int32_t> tail = {1, 2, 3};
        std::vector<float> logits(std::size_t(cfg.nVocab));
        session.evaluate(tail, 5, logits, false);
        QCOMPARE(session.nPast(), 8);

        tokens.resize(5);
        tokens.insert(tokens.end(), tail.begin(), tail.end());
        InferenceSession fresh(model, {.nCtx = 16, .nThreads = 2});
        const auto expected = fresh.evaluate(tokens, false);
        QVERIFY(maxRelDiff(logits, expected) < 1e-5);
        QVERIFY_THROWS_EXCEPTION(Error, session.evaluate(tail, 9, logits, false));
    }

    void observerSeesEveryProduct()
    {
        TinyConfig cfg;
        cfg.nLayers = 2;
        auto [tiny, model] = build(cfg);
        InferenceSession session(model, {.nCtx = 16, .nThreads = 2});
        QStringList names;
        bool shapesOk = true;
        const auto *wq = model->file().findTensor("blk.0.attn_q.weight");
        const auto *down = model->file().findTensor("blk.0.ffn_down.weight");
        session.setMatmulObserver([&](const QByteArray &name, const float *x, int nTokens, int nCols) {
            names << QString::fromUtf8(name);
            if (nTokens != 5 || !x)
                shapesOk = false;
            if (name == wq->name && nCols != int(wq->ne[0]))
                shapesOk = false;
            if (name == down->name && nCols != int(down->ne[0]))
                shapesOk = false;
        });
        session.evaluate(someTokens(5, cfg.nVocab), true);
        QVERIFY(shapesOk);
        QCOMPARE(names.size(), 7 * cfg.nLayers + 1);
        QCOMPARE(names.first(), QStringLiteral("blk.0.attn_q.weight"));
        QVERIFY(names.contains(QStringLiteral("blk.1.ffn_down.weight")));
        QCOMPARE(names.last(), QStringLiteral("output.weight"));
    }

    void cancelKeepsCacheConsistent()
    {
        TinyConfig cfg;
        auto [tiny, model] = build(cfg);
        InferenceSession session(model, {.nCtx = 16, .nThreads = 2});
        session.evaluate(someTokens(4, cfg.nVocab), false);
        NullJobContext ctx;
        ctx.requestCancel();
        QVERIFY_THROWS_EXCEPTION(Cancelled, session.evaluate(someTokens(3, cfg.nVocab), false, &ctx));
        QCOMPARE(session.nPast(), 4);
    }

    void rejectsBadInput()
    {
        TinyConfig cfg;
        auto [tiny, model] = build(cfg);
        InferenceSession session(model, {.nCtx = 8, .nThreads = 1});
        const std::vector<std::int32_t> bad = {1, cfg.nVocab};
        try {
            session.evaluate(bad, false);
            QFAIL("no error for an out-of-vocabulary token");
        } catch (const Error &e) {
            QVERIFY(e.message().contains(QString::number(cfg.nVocab)));
        }
        QVERIFY_THROWS_EXCEPTION(Error, session.evaluate(someTokens(9, cfg.nVocab), false));
        std::vector<float> small(3);
        QVERIFY_THROWS_EXCEPTION(Error, session.evaluate(someTokens(2, cfg.nVocab), 0, small, false));
    }

    void unsupportedArchitectureIsNamed()
    {
        TinyConfig cfg;
        cfg.arch = "gpt2";
        const QString path = m_dir.filePath(QStringLiteral("gpt2.gguf"));
        writeTinyModel(path, cfg);
        try {
            LlamaModel::open(path);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(QStringLiteral("gpt2")), qPrintable(e.message()));
        }
    }

    void vocabularyOnlyFileIsRejected()
    {
        GgufLayout layout;
        layout.metadata.set("general.architecture", GgufValue::fromString(QByteArray("llama")));
        layout.metadata.set("tokenizer.ggml.tokens",
                            GgufValue::stringArray({QByteArray("a"), QByteArray("b")}));
        layout.finalize();
        const QString path = m_dir.filePath(QStringLiteral("vocab.gguf"));
        writeGgufFile(path, layout, {});
        try {
            LlamaModel::open(path);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(QStringLiteral("vocabulary")), qPrintable(e.message()));
        }
    }

    void missingTensorIsNamed()
    {
        TinyConfig cfg;
        const QString path = m_dir.filePath(QStringLiteral("full.gguf"));
        writeTinyModel(path, cfg);
        const GgufFile full = GgufFile::open(path);
        GgufLayout layout;
        layout.metadata = full.metadata();
        std::vector<QByteArray> data;
        for (const auto &t : full.tensors()) {
            if (t.name == "blk.1.ffn_up.weight")
                continue;
            layout.tensors.push_back(t);
            const auto bytes = full.tensorData(t);
            data.emplace_back(reinterpret_cast<const char *>(bytes.data()), qsizetype(bytes.size()));
        }
        layout.finalize();
        const QString broken = m_dir.filePath(QStringLiteral("broken.gguf"));
        writeGgufFile(broken, layout, data);
        try {
            LlamaModel::open(broken);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(QStringLiteral("blk.1.ffn_up.weight")),
                     qPrintable(e.message()));
        }
    }
};

QTEST_APPLESS_MAIN(TestInferForward)
#include "testinferforward.moc"
