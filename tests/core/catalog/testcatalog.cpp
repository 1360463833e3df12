// The built-in catalog: loads from the compiled-in resource, holds the issue's models with their
// published config.json facts, and rejects malformed entries with a message naming the field.

#include "catalog/catalog.h"
#include "util/error.h"

#include <QTest>

using namespace QuantFit;

class TestCatalog : public QObject
{
    Q_OBJECT

private slots:
    void builtInLoads()
    {
        const auto catalog = Catalog::builtIn();
        QVERIFY(catalog);
        QVERIFY(catalog->models().size() >= 40);
        for (const ModelShape &m : catalog->models())
            validateShape(m, m.id); // throws on an inconsistent entry
    }

    void requiredModels_data()
    {
        QTest::addColumn<QString>("id");
        for (const char *id : {"llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.2-1b",
                 "llama-3.2-3b", "llama-3.3-70b", "llama-2-13b", "qwen2.5-0.5b", "qwen2.5-1.5b",
                 "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b",
                 "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b",
                 "mistral-7b-v0.3", "mistral-nemo-12b", "mistral-small-24b", "mistral-large-123b",
                 "mixtral-8x7b", "mixtral-8x22b", "gemma-2-2b", "gemma-2-9b", "gemma-2-27b",
                 "gemma-3-1b", "gemma-3-4b", "gemma-3-12b", "gemma-3-27b", "phi-3.5-mini",
                 "phi-4-14b", "deepseek-r1-distill-qwen-7b", "deepseek-r1-distill-llama-8b",
                 "command-r-35b", "yi-34b", "codellama-34b"})
            QTest::newRow(id) << QString::fromLatin1(id);
    }
    void requiredModels()
    {
        QFETCH(QString, id);
        QVERIFY2(Catalog::builtIn()->find(id), qPrintable(id));
    }

    // Published config.json of meta-llama/Llama-3.1-70B.
    void llama31_70bFacts()
    {
        const ModelShape &m = Catalog::builtIn()->get(QStringLiteral("llama-3.1-70b"));
        QCOMPARE(m.nLayers, 80u);
        QCOMPARE(m.nEmbd, 8192u);
        QCOMPARE(m.nFf, 28672u);
        QCOMPARE(m.nHeads, 64u);
        QCOMPARE(m.nHeadsKv, 8u);
        QCOMPARE(m.headDim, 128u);
        QCOMPARE(m.nVocab, 128256u);
        QCOMPARE(m.nCtxMax, 131072u);
        QVERIFY(!m.tiedEmbeddings);
    }

    void moeAndSlidingFacts()
    {
        const auto catalog = Catalog::builtIn();
        const ModelShape &mixtral = catalog->get(QStringLiteral("mixtral-8x7b"));
        QCOMPARE(mixtral.nExperts, 8u);
        QCOMPARE(mixtral.nExpertsUsed, 2u);
        QCOMPARE(mixtral.nFfExpert, 14336u);
        // Gemma 2: every other layer uses a 4096-token window.
        const ModelShape &gemma2 = catalog->get(QStringLiteral("gemma-2-9b"));
        QCOMPARE(gemma2.slidingWindow, 4096u);
        QCOMPARE(gemma2.nSlidingLayers, 21u);
        QVERIFY(gemma2.tiedEmbeddings);
        // Gemma 3 27B: 62 layers, one global per six -> layers 5, 11, ..., 59 global (10).
        const ModelShape &gemma3 = catalog->get(QStringLiteral("gemma-3-27b"));
        QCOMPARE(gemma3.nSlidingLayers, 52u);
        QCOMPARE(gemma3.slidingWindow, 1024u);
    }

    // The 2025-26 entries' facts (their config.json files; docs/advisor-data.md).
    void currentModelFacts()
    {
        const auto catalog = Catalog::builtIn();
        const ModelShape &oss = catalog->get(QStringLiteral("gpt-oss-120b"));
        QCOMPARE(oss.nLayers, 36u);
        QCOMPARE(oss.nExperts, 128u);
        QCOMPARE(oss.nExpertsUsed, 4u);
        QCOMPARE(oss.headDim, 64u);
        QVERIFY(oss.expertsMxfp4);
        QCOMPARE(oss.source, QStringLiteral("openai/gpt-oss-120b"));
        // Every other layer attends through a 128-token window, from layer 0.
        QVERIFY(oss.isSlidingLayer(0));
        QVERIFY(!oss.isSlidingLayer(1));
        const ModelShape &air = catalog->get(QStringLiteral("glm-4.5-air"));
        QCOMPARE(air.nBlocks(), 47u); // 46 layers + the MTP layer
        QVERIFY(!air.isMoeLayer(0));  // first_k_dense_replace 1
        QVERIFY(air.isMoeLayer(1));
        const ModelShape &maverick = catalog->get(QStringLiteral("llama-4-maverick"));
        QVERIFY(!maverick.isMoeLayer(0)); // interleave_moe_layer_step 2: layers 1, 3, ...
        QVERIFY(maverick.isMoeLayer(1));
        const ModelShape &next = catalog->get(QStringLiteral("qwen3-next-80b-a3b"));
        // full_attention_interval 4: layers 3, 7, ... attend, the rest are delta-net layers.
        QVERIFY(next.isRecurrentLayer(0));
        QVERIFY(!next.isRecurrentLayer(3));
        QCOMPARE(next.nFullLayers(), 12u);
        const ModelShape &r1 = catalog->get(QStringLiteral("deepseek-r1"));
        QVERIFY(r1.isMla());
        QCOMPARE(r1.kvLoraRank + r1.ropeHeadDim, 576u);
        QVERIFY(catalog->get(QStringLiteral("mistral-small-3.2-24b")).hasVision());
    }

    void lookupIsCaseInsensitive()
    {
        QVERIFY(Catalog::builtIn()->find(QStringLiteral("Llama-3.1-8B")));
    }

    void unknownIdNamesIt()
    {
        try {
            Catalog::builtIn()->get(QStringLiteral("llama-9-1b"));
            QFAIL("expected an error");
        } catch (const Error &e) {
            QVERIFY(e.message().contains(QStringLiteral("unknown model id 'llama-9-1b'")));
            QVERIFY(e.message().contains(QStringLiteral("llama-3.1-8b"))); // a suggestion
        }
    }

    void badJson_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QString>("expected");
        const QByteArray good
            = R"({"id":"a","name":"A","family":"F","arch":"llama","params":1,"layers":2,"embd":64,)"
              R"("ffn":128,"heads":4,"kvHeads":2,"headDim":16,"vocab":300,"ctx":512,"tokenizer":"spm"})";
        QTest::newRow("not json") << QByteArray("{") << QStringLiteral("JSON");
        QTest::newRow("no models") << QByteArray(R"({"models":[]})") << QStringLiteral("models");
        QByteArray noLayers = good;
        noLayers.replace("\"layers\":2,", "");
        QTest::newRow("missing layers")
            << QByteArray(R"({"models":[)" + noLayers + "]}") << QStringLiteral("(a).layers");
        QByteArray badHeads = good;
        badHeads.replace("\"kvHeads\":2", "\"kvHeads\":3");
        QTest::newRow("heads not multiple") << QByteArray(R"({"models":[)" + badHeads + "]}")
                                            << QStringLiteral("multiple of KV heads");
        QTest::newRow("duplicate") << QByteArray(R"({"models":[)" + good + "," + good + "]}")
                                   << QStringLiteral("duplicate id 'a'");
        QByteArray fraction = good;
        fraction.replace("\"layers\":2", "\"layers\":2.5");
        QTest::newRow("fraction") << QByteArray(R"({"models":[)" + fraction + "]}")
                                  << QStringLiteral("expected an integer");
        auto with = [&](const char *extra) {
            QByteArray entry = good;
            const QByteArray tokenizer = "\"tokenizer\":\"spm\"";
            entry.replace(tokenizer, QByteArray(tokenizer + "," + extra));
            return QByteArray(R"({"models":[)" + entry + "]}");
        };
        QTest::newRow("active above total")
            << with(R"("experts":4,"expertsUsed":1,"expertFfn":32,"activeParams":2)")
            << QStringLiteral("active parameters");
        QTest::newRow("shared without width")
            << with(R"("experts":4,"expertsUsed":1,"expertFfn":32,"sharedExperts":1)")
            << QStringLiteral("shared FFN width");
        QTest::newRow("latent without rope")
            << with(R"("kvLoraRank":32,"vHeadDim":16)") << QStringLiteral("latent attention");
        QTest::newRow("recurrent without state")
            << with(R"("recurrentLayers":1)") << QStringLiteral("recurrent layers need");
        QTest::newRow("too many special layers")
            << with(R"("recurrentLayers":2,"ssmConvKernel":4,"ssmKeyHeads":1,"ssmValueHeads":1,)"
                    R"("ssmKeyHeadDim":8,"ssmValueHeadDim":8,"swaWindow":64,"swaLayers":1)")
            << QStringLiteral("exceed layers");
        QTest::newRow("lineup without reason")
            << with(R"("lineup":true,"mmlu":50)") << QStringLiteral("lineupWhy");
    }
    void badJson()
    {
        QFETCH(QByteArray, json);
        QFETCH(QString, expected);
        try {
            Catalog::fromJson(json, QStringLiteral("test.json"));
            QFAIL("expected a FormatError");
        } catch (const FormatError &e) {
            QVERIFY2(e.message().contains(expected), qPrintable(e.message()));
            QVERIFY(e.message().contains(QStringLiteral("test.json")));
        }
    }
};

QTEST_APPLESS_MAIN(TestCatalog)
#include "testcatalog.moc"
