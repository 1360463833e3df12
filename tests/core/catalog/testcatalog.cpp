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
