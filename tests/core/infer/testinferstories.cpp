// Sanity of the forward pass on a real trained model (stories260K, llama.cpp's test model):
// greedy continuation of "Once upon a time" is English-looking text made of ordinary word
// pieces. Exact values (perplexity) are checked by the eval tests.

#include "testsupport.h"

#include "infer/generator.h"
#include "infer/llamamodel.h"

#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"

#include <QFileInfo>
#include <QRegularExpression>
#include <QTest>

using namespace QuantFit;

class TestInferStories : public QObject
{
    Q_OBJECT

private:
    QString m_path;

private slots:
    void initTestCase()
    {
        const QString dir = Test::sharedTestData();
        if (dir.isEmpty())
            QSKIP("shared test data (../shared/testdata) not found");
        m_path = dir + QStringLiteral("/models/stories260K.gguf");
        if (!QFileInfo::exists(m_path))
            QSKIP("models/stories260K.gguf not in the shared test data");
    }

    void greedyContinuationIsEnglish()
    {
        auto model = LlamaModel::open(m_path);
        QCOMPARE(model->hparams().ropeType, RopeType::Normal);
        const auto &md = model->file().metadata();
        const QStringList vocab = md.find("tokenizer.ggml.tokens")->toStringList();
        QCOMPARE(model->nVocab(), int(vocab.size()));
        auto id = [&](const QString &piece) {
            const auto i = vocab.indexOf(piece);
            if (i < 0)
                qFatal("piece missing from the vocabulary");
            return std::int32_t(i);
        };
        const QString sp(QChar(0x2581));
        const std::vector<std::int32_t> prompt = {1, id(sp + QStringLiteral("Once")),
                                                  id(sp + QStringLiteral("upon")),
                                                  id(sp + QStringLiteral("a")),
                                                  id(sp + QStringLiteral("time"))};
        InferenceSession session(model, {.nCtx = 128, .nThreads = 2});
        NullJobContext ctx;
        GenerationOptions options;
        options.nPredict = 40;
        const auto result = generate(session, prompt, options, {}, ctx);
        QVERIFY(!result.tokens.empty());

        QString text;
        for (const std::int32_t t : result.tokens) {
            QVERIFY(t >= 0 && t < model->nVocab());
            if (t == 2)
                break; // </s>
            QVERIFY2(t > 2 + 256, qPrintable(QStringLiteral("control or byte token %1").arg(t)));
            text += vocab[t];
        }
        text.replace(sp, QStringLiteral(" "));
        qInfo("continuation: %s", qPrintable(text));
        static const QRegularExpression english(QStringLiteral("^[A-Za-z ,.!?'\"]+$"));
        QVERIFY2(english.match(text).hasMatch(), qPrintable(text));
        const QStringList words = text.split(QLatin1Char(' '), Qt::SkipEmptyParts);
        QVERIFY(words.size() >= 8);
        int common = 0;
        for (const QString &w : words) {
            static const QStringList commonWords = {
                QStringLiteral("the"), QStringLiteral("a"), QStringLiteral("was"),
                QStringLiteral("there"), QStringLiteral("and"), QStringLiteral("she"),
                QStringLiteral("he"), QStringLiteral("to"), QStringLiteral("little")};
            if (commonWords.contains(w.toLower()))
                ++common;
        }
        QVERIFY2(common >= 3, qPrintable(text));
    }

    void batchedLogitsMatchIncremental()
    {
        // The same 20 tokens as one batch and one by one: identical predictions.
        auto model = LlamaModel::open(m_path);
        std::vector<std::int32_t> tokens = {1};
        for (int i = 0; i < 19; ++i)
            tokens.push_back(259 + (i * 37) % 200);
        InferenceSession batched(model, {.nCtx = 32, .nThreads = 2, .kvType = KvStorageType::F32});
        const auto all = batched.evaluate(tokens, true);
        InferenceSession single(model, {.nCtx = 32, .nThreads = 1, .kvType = KvStorageType::F32});
        const std::size_t nVocab = std::size_t(model->nVocab());
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            const auto row = single.evaluate(std::span(tokens).subspan(t, 1));
            for (std::size_t v = 0; v < nVocab; ++v)
                QVERIFY(std::abs(row[v] - all[t * nVocab + v]) < 1e-4f * (1 + std::abs(row[v])));
        }
    }
};

QTEST_APPLESS_MAIN(TestInferStories)
#include "testinferstories.moc"
