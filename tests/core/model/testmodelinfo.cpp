// Tensor roles from names, and ModelInfo of a synthetic model whose counts are worked out by hand.

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
    void classify_data()
    {
        QTest::addColumn<QByteArray>("name");
        QTest::addColumn<int>("role");
        QTest::addColumn<int>("layer");
        QTest::newRow("embd") << QByteArray("token_embd.weight") << int(TensorRole::TokenEmbedding) << -1;
        QTest::newRow("output") << QByteArray("output.weight") << int(TensorRole::Output) << -1;
        QTest::newRow("output_norm") << QByteArray("output_norm.weight") << int(TensorRole::OutputNorm) << -1;
        QTest::newRow("v") << QByteArray("blk.12.attn_v.weight") << int(TensorRole::AttnV) << 12;
        QTest::newRow("down") << QByteArray("blk.0.ffn_down.weight") << int(TensorRole::FfnDown) << 0;
        QTest::newRow("experts") << QByteArray("blk.3.ffn_down_exps.weight") << int(TensorRole::FfnDownExps) << 3;
        QTest::newRow("bias") << QByteArray("blk.1.attn_q.bias") << int(TensorRole::Bias) << 1;
        QTest::newRow("norm") << QByteArray("blk.7.attn_norm.weight") << int(TensorRole::AttnNorm) << 7;
        QTest::newRow("qk norm") << QByteArray("blk.7.attn_q_norm.weight") << int(TensorRole::OtherNorm) << 7;
        QTest::newRow("bad layer") << QByteArray("blk.x.attn_v.weight") << int(TensorRole::Other) << -1;
    }

    void classify()
    {
        QFETCH(QByteArray, name);
        QFETCH(int, role);
        QFETCH(int, layer);
        const auto n = classifyTensor(name);
        QCOMPARE(int(n.role), role);
        QCOMPARE(n.layer, layer);
    }

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
