// ModelInfo of a synthetic model whose counts are worked out by hand.

#include "gguf/ggufwriter.h"
#include "model/modelinfo.h"
#include "model/syntheticmodel.h"
#include "util/error.h"

#include <QTest>

using namespace QuantFit;

class TestModelInfo : public QObject
{
    Q_OBJECT

private slots:
    void syntheticShape()
    {
        SyntheticModelOptions o;
        o.nLayers = 3;
        o.nEmbd = 128;
        o.nFf = 320;
        o.nHeads = 4;
        o.nHeadsKv = 2;
        o.nVocab = 300;
        o.nCtx = 256;
        const GgufLayout layout = syntheticModelLayout(o);
        const ModelInfo m = modelInfoFrom(layout.metadata, layout.tensors);
        QCOMPARE(m.architecture, QStringLiteral("llama"));
        QCOMPARE(m.nLayers, 3u);
        QCOMPARE(m.headDim, 32u);
        QCOMPARE(m.nHeadsKv, 2u);
        QCOMPARE(m.nVocab, 300u);
        QCOMPARE(m.tokenizerModel, QStringLiteral("llama"));
        // Parameters by hand: embeddings and head 2 * 128 * 300; per layer q,o 128*128 each,
        // k,v 128*64 each, gate/up/down 128*320 each, two norms of 128; final norm 128.
        const std::uint64_t perLayer = 2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 320 + 2 * 128;
        const std::uint64_t expected = 2 * 128 * 300 + 3 * perLayer + 128;
        QCOMPARE(m.nParams, expected);
        QCOMPARE(m.tensorBytes, expected * 4);
        QCOMPARE(m.bitsPerWeight(), 32.0);
        QVERIFY(!m.tiedEmbeddings);
        QCOMPARE(layout.tensors.size(), std::size_t(1 + 3 * 9 + 2));
        // KV bytes per token at f16: 2 (K and V) * layers * kv heads * head dim * 2 bytes.
        QCOMPARE(m.kvBytesPerToken(2.0), double(2 * 3 * 2 * 32 * 2));

        o.tiedEmbeddings = true;
        const GgufLayout tied = syntheticModelLayout(o);
        QVERIFY(modelInfoFrom(tied.metadata, tied.tensors).tiedEmbeddings);
    }

    void invalidOptions()
    {
        SyntheticModelOptions o;
        o.nHeads = 7; // does not divide 512
        QVERIFY_THROWS_EXCEPTION(Error, validate(o));
        o = {};
        o.nHeadsKv = 3;
        QVERIFY_THROWS_EXCEPTION(Error, validate(o));
        o = {};
        o.nVocab = 100;
        QVERIFY_THROWS_EXCEPTION(Error, validate(o));
    }
};

QTEST_APPLESS_MAIN(TestModelInfo)
#include "testmodelinfo.moc"
