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

    // A mixture-of-experts header written by hand (not by our synthetic writer): a qwen3moe
    // layer with 128 experts of which 8 are active, its tensors as llama.cpp converts them.
    void mixtureOfExperts()
    {
        GgufMetadata md;
        md.set("general.architecture", GgufValue::fromString(QByteArray("qwen3moe")));
        md.set("qwen3moe.block_count", GgufValue::u32(1));
        md.set("qwen3moe.embedding_length", GgufValue::u32(64));
        md.set("qwen3moe.attention.head_count", GgufValue::u32(2));
        md.set("qwen3moe.expert_count", GgufValue::u32(128));
        md.set("qwen3moe.expert_used_count", GgufValue::u32(8));
        md.set("qwen3moe.expert_feed_forward_length", GgufValue::u32(16));
        auto tensor = [](const char *name, std::uint64_t ne0, std::uint64_t ne1,
                         std::uint64_t ne2 = 1) {
            GgufTensorInfo t;
            t.name = name;
            t.nDims = ne2 > 1 ? 3 : (ne1 > 1 ? 2 : 1);
            t.ne = {ne0, ne1, ne2, 1};
            t.nBytes = ne0 * ne1 * ne2 * 4;
            return t;
        };
        std::vector<GgufTensorInfo> tensors{
            tensor("token_embd.weight", 64, 100),
            tensor("blk.0.ffn_gate_inp.weight", 64, 128),
            tensor("blk.0.ffn_gate_exps.weight", 64, 16, 128),
            tensor("blk.0.ffn_up_exps.weight", 64, 16, 128),
            tensor("blk.0.ffn_down_exps.weight", 16, 64, 128),
        };
        ModelInfo m = modelInfoFrom(md, tensors);
        QCOMPARE(m.nExperts, 128u);
        QCOMPARE(m.nExpertsUsed, 8u);
        QCOMPARE(m.nExpertsShared, 0u);
        QVERIFY(m.isMoe());
        QCOMPARE(m.moeSummary(), QStringLiteral("MoE: 128 experts, 8 active"));
        // Every expert counts: 64*100 + 64*128 + 3 stacks of 64*16*128.
        QCOMPARE(m.nParams, std::uint64_t(6400 + 8192 + 3 * 131072));

        // A shared expert named by the metadata (DeepSeek-style expert_shared_count) ...
        md.set("qwen3moe.expert_shared_count", GgufValue::u32(2));
        m = modelInfoFrom(md, tensors);
        QCOMPARE(m.nExpertsShared, 2u);
        QCOMPARE(m.moeSummary(), QStringLiteral("MoE: 128 experts, 8 active, 2 shared"));
        // ... or only by its tensors (Qwen2-MoE): one.
        GgufMetadata noKey = md;
        noKey.remove("qwen3moe.expert_shared_count");
        tensors.push_back(tensor("blk.0.ffn_up_shexp.weight", 64, 32));
        m = modelInfoFrom(noKey, tensors);
        QCOMPARE(m.nExpertsShared, 1u);
        QCOMPARE(m.moeSummary(), QStringLiteral("MoE: 128 experts, 8 active, 1 shared"));

        // Dense models have no MoE part.
        QCOMPARE(moeSummary(0, 0), QString());
        SyntheticModelOptions o;
        const GgufLayout dense = syntheticModelLayout(o);
        QVERIFY(modelInfoFrom(dense.metadata, dense.tensors).moeSummary().isEmpty());
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
