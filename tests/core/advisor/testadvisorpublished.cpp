// The advisor held to published numbers for the 2025-26 catalog: file sizes of GGUFs on Hugging
// Face made with standard llama-quantize mixes, parameter and tensor counts and buffer sizes that
// llama.cpp logged. Every expected value below is copied from the cited page or log, never from
// QuantFit's output; sizes given with two decimals are compared within 0.1 %.

#include "advisor/advisor.h"
#include "advisor/memorymodel.h"
#include "advisor/recommend.h"
#include "advisor/shapetensors.h"
#include "catalog/catalog.h"
#include "gguf/ggmltype.h"
#include "model/modelinfo.h"
#include "quant/quantplan.h"

#include <QTest>

#include <cmath>
#include <map>

using namespace QuantFit;

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kMiB = 1024.0 * 1024.0;

const ModelShape &model(const char *id)
{
    return Catalog::builtIn()->get(QString::fromLatin1(id));
}

ModelAdvice advise(const char *id)
{
    AdviceOptions o;
    o.ramBytes = 4'000'000'000'000ull;
    return Advisor().adviseModel(QString::fromLatin1(id), o);
}

std::uint64_t mixFileBytes(const ModelAdvice &a, FileType type)
{
    if (const QuantRow *r = a.row(type))
        return r->fileBytes;
    for (const MixSize &m : a.otherMixes) {
        if (m.fileType == type)
            return m.fileBytes;
    }
    return 0;
}

QuantPlan planOf(const char *id, FileType type)
{
    const ShapeTensors st = buildShapeTensors(model(id));
    QuantOptions o;
    o.allowRequantize = true;
    o.tensorTypes = st.tensorTypes;
    return makeQuantPlan(st.metadata, st.tensors, type, o);
}

} // namespace

class TestAdvisorPublished : public QObject
{
    Q_OBJECT

private slots:
    // File sizes in decimal GB as the publishers' model cards list them (two decimals).
    void publishedFileSizes_data()
    {
        QTest::addColumn<QString>("id");
        QTest::addColumn<int>("fileType");
        QTest::addColumn<double>("gb");
        // bartowski/openai_gpt-oss-20b-GGUF (llama.cpp b6096): "gpt-oss-20b-Q6_K.gguf Q6_K
        // 12.04GB ... Q6_K with all FFN kept at MXFP4_MOE".
        QTest::newRow("gpt-oss-20b Q6_K") << "gpt-oss-20b" << int(FileType::Q6_K) << 12.04;
        // bartowski/Qwen_Qwen3-30B-A3B-GGUF (llama.cpp b5200): Q8_0 32.48GB, Q6_K 25.10GB,
        // Q5_K_M 21.74GB, Q5_K_S 21.10GB, bf16 61.10GB.
        QTest::newRow("qwen3-30b-a3b Q8_0") << "qwen3-30b-a3b" << int(FileType::Q8_0) << 32.48;
        QTest::newRow("qwen3-30b-a3b Q6_K") << "qwen3-30b-a3b" << int(FileType::Q6_K) << 25.10;
        QTest::newRow("qwen3-30b-a3b Q5_K_M") << "qwen3-30b-a3b" << int(FileType::Q5_K_M)
                                              << 21.74;
        QTest::newRow("qwen3-30b-a3b Q5_K_S") << "qwen3-30b-a3b" << int(FileType::Q5_K_S)
                                              << 21.10;
        QTest::newRow("qwen3-30b-a3b BF16") << "qwen3-30b-a3b" << int(FileType::BF16) << 61.10;
    }
    void publishedFileSizes()
    {
        QFETCH(QString, id);
        QFETCH(int, fileType);
        QFETCH(double, gb);
        const ModelAdvice a = advise(id.toLatin1().constData());
        const double ours = double(mixFileBytes(a, FileType(fileType))) / 1e9;
        QVERIFY2(std::abs(ours / gb - 1) < 0.001,
                 qPrintable(QStringLiteral("%1: %2 GB, published %3").arg(id).arg(ours).arg(gb)));
    }

    // llama.cpp's load log prints the tensor data ("file size = X GiB (Y BPW)").
    void loggedTensorBytes_data()
    {
        QTest::addColumn<QString>("id");
        QTest::addColumn<int>("fileType");
        QTest::addColumn<double>("gib");
        QTest::addColumn<double>("bpw");
        // ggml-org/gpt-oss-120b-GGUF loaded by llama.cpp (ggml-org/llama.cpp issue #15253):
        // "file type = MXFP4 MoE", "file size = 59.02 GiB (4.34 BPW)".
        QTest::newRow("gpt-oss-120b MXFP4_MOE")
            << "gpt-oss-120b" << int(FileType::MXFP4_MOE) << 59.02 << 4.34;
        // ubergarm/GLM-4.5-Air-GGUF model card: "BF16 205.811 GiB (16.004 BPW)", "Q8_0
        // 109.381 GiB (8.505 BPW)" (F16 has the size of BF16).
        QTest::newRow("glm-4.5-air F16") << "glm-4.5-air" << int(FileType::F16) << 205.811
                                         << 16.004;
        QTest::newRow("glm-4.5-air Q8_0") << "glm-4.5-air" << int(FileType::Q8_0) << 109.381
                                          << 8.505;
        // Qwen3-30B-A3B Q4_K_M loaded by llama.cpp (ggml-org/llama.cpp issue #14235): "file
        // type = Q4_K - Medium", "file size = 17.28 GiB (4.86 BPW)".
        QTest::newRow("qwen3-30b-a3b Q4_K_M")
            << "qwen3-30b-a3b" << int(FileType::Q4_K_M) << 17.28 << 4.86;
    }
    void loggedTensorBytes()
    {
        QFETCH(QString, id);
        QFETCH(int, fileType);
        QFETCH(double, gib);
        QFETCH(double, bpw);
        const QuantPlan plan = planOf(id.toLatin1().constData(), FileType(fileType));
        const double ours = double(plan.targetTensorBytes) / kGiB;
        // Two or three decimals as printed: within half a unit of the last digit.
        const double unit = gib >= 100 ? 0.0005 : 0.005;
        QVERIFY2(std::abs(ours - gib) <= unit,
                 qPrintable(QStringLiteral("%1: %2 GiB, logged %3").arg(id).arg(ours).arg(gib)));
        const ModelAdvice a = advise(id.toLatin1().constData());
        const double oursBpw = 8.0 * double(plan.targetTensorBytes) / double(a.nParams);
        QVERIFY2(std::abs(oursBpw - bpw) <= (gib >= 100 ? 0.0005 : 0.005),
                 qPrintable(QString::number(oursBpw, 'f', 4)));
    }

    // The same gpt-oss-120b log: 687 tensors, "type f32: 433", "type q8_0: 146",
    // "type mxfp4: 108" — the router stays F32, attention and embeddings are Q8_0.
    void gptOss120bTensorTypes()
    {
        const QuantPlan plan = planOf("gpt-oss-120b", FileType::MXFP4_MOE);
        std::map<GgmlType, int> counts;
        for (const PlannedTensor &t : plan.tensors)
            ++counts[t.targetType];
        QCOMPARE(int(plan.tensors.size()), 687);
        QCOMPARE(counts[GgmlType::F32], 433);
        QCOMPARE(counts[GgmlType::Q8_0], 146);
        QCOMPARE(counts[GgmlType::MXFP4], 108);
    }

    // The same Qwen3-30B-A3B log: "type f32: 241 tensors", "type q4_K: 289 tensors",
    // "type q6_K: 49 tensors" (579 in all).
    void qwen3MoeTensorTypes()
    {
        const QuantPlan plan = planOf("qwen3-30b-a3b", FileType::Q4_K_M);
        std::map<GgmlType, int> counts;
        for (const PlannedTensor &t : plan.tensors)
            ++counts[t.targetType];
        QCOMPARE(int(plan.tensors.size()), 579);
        QCOMPARE(counts[GgmlType::F32], 241);
        QCOMPARE(counts[GgmlType::Q4_K], 289);
        QCOMPARE(counts[GgmlType::Q6_K], 49);
    }

    // llama.cpp's "model params" and tensor counts: gpt-oss-20b "model params = 20.91 B"
    // (ikawrakow/ik_llama.cpp issue #822, llama.cpp log), 459 tensors (the same log's
    // "459 tensors from gpt-oss-20b-mxfp4.gguf"); GLM-4.5-Air with its multi-token-prediction
    // layer: 803 tensors (ggml-org/llama.cpp PR #14939, "803 tensors from
    // glm-4.5-air-q3_K_M.gguf", block_count 47).
    void loggedCounts()
    {
        const ModelAdvice oss = advise("gpt-oss-20b");
        QCOMPARE(std::llround(double(oss.nParams) / 1e7), 2091L);
        QCOMPARE(buildShapeTensors(model("gpt-oss-20b")).tensors.size(), std::size_t(459));
        const ShapeTensors glm = buildShapeTensors(model("glm-4.5-air"));
        QCOMPARE(glm.tensors.size(), std::size_t(803));
        QCOMPARE(glm.metadata.uintOr("glm4moe.block_count", 0), 47ull);
    }

    // Mistral Nemo and Small use the Tekken tokenizer: llama.cpp logs
    // "tokenizer.ggml.pre = tekken", "tokenizer.ggml.merges arr[str,269443]". Without the count
    // the header estimate assumed vocab - 256 = 130816 merges, 2.6 MB short.
    void tekkenMerges()
    {
        for (const char *id : {"mistral-nemo-12b", "mistral-small-24b", "mistral-small-3.2-24b",
                               "devstral-small-24b", "magistral-small-24b"}) {
            QCOMPARE(model(id).nMerges, 269443u);
            ModelShape estimated = model(id);
            estimated.nMerges = 0;
            const std::uint64_t shortBy =
                estimatedVocabMetadataBytes(model(id)) - estimatedVocabMetadataBytes(estimated);
            // (269443 - 130816) merges of 8 + 10.1 bytes each.
            QVERIFY(std::abs(double(shortBy) - (269443 - 130816) * 18.1) <= 1);
        }
    }

    // gpt-oss-20b on Metal at n_ctx 4096, one sequence (llama.cpp PR #17609's log):
    //   "llama_kv_cache_iswa: creating SWA KV cache, size = 768 cells"
    //   "llama_kv_cache: size = 18.00 MiB (768 cells, 12 layers, 1/1 seqs)"
    //   "Metal compute buffer size = 404.00 MiB", "CPU compute buffer size = 15.15 MiB".
    void gptOss20bLoggedBuffers()
    {
        const ModelShape &m = model("gpt-oss-20b");
        std::uint64_t swa = 0;
        std::uint64_t full = 0;
        int swaLayers = 0;
        for (std::uint32_t i = 0; i < m.nLayers; ++i) {
            const std::uint64_t b = kvCacheLayerBytes(m, i, 4096, KvCacheType::F16, 1);
            if (m.isSlidingLayer(i)) {
                swa += b;
                ++swaLayers;
            } else {
                full += b;
            }
        }
        QCOMPARE(swaLayers, 12);
        QCOMPARE(double(swa), 18.0 * kMiB);
        // The 12 global layers hold all 4096 cells: 12 x 4096 x 2 x 512 x 2 bytes = 96 MiB.
        QCOMPARE(double(full), 96.0 * kMiB);
        QCOMPARE(kvCacheBytes(m, 4096, KvCacheType::F16, 1), swa + full);
        const GpuComputeBuffers gpu = gpuComputeBuffers(m, 4096, true, 1);
        QCOMPARE(double(gpu.deviceBytes), 404.0 * kMiB);
        QVERIFY2(std::abs(double(gpu.hostBytes) / kMiB - 15.15) < 0.005,
                 qPrintable(QString::number(double(gpu.hostBytes) / kMiB, 'f', 3)));
    }

    // llama-server's default four slots share one unified cache: the full-attention layers still
    // hold n_ctx cells, the window layers four windows plus a micro-batch
    // (llama-kv-cache-iswa.cpp: pad256(min(n_ctx, n_swa x n_seq + n_ubatch))). Gemma 3 27B at
    // 32768: 10 global layers x 32768 cells, 52 window layers x pad256(4 x 1024 + 512) = 4608.
    void serverSlotsMultiplyWindows()
    {
        const ModelShape &m = model("gemma-3-27b");
        const std::uint64_t row = 2 * 16 * 128 * 2; // K and V, 16 KV heads x 128, f16
        QCOMPARE(kvCacheBytes(m, 32768, KvCacheType::F16, 4),
                 10 * row * 32768 + 52 * row * 4608);
        QCOMPARE(kvCacheBytes(m, 32768, KvCacheType::F16, 1),
                 10 * row * 32768 + 52 * row * 1536);
        AdviceOptions o;
        QCOMPARE(o.parallelSlots, 4u);
    }

    // Latent attention (DeepSeek V3, Kimi K2): llama.cpp caches K rows of kv_lora_rank +
    // qk_rope_head_dim = 512 + 64 = 576 elements and no V at all (src/llama-kv-cache.cpp:
    // has_v = !is_mla): 61 layers x 576 x 2 bytes = 70,272 bytes per token at f16, against
    // 61 x 128 x (192 + 128) x 2 = 4,997,120 for the uncompressed heads.
    void latentAttentionCache()
    {
        QCOMPARE(kvBytesPerToken(model("deepseek-r1"), KvCacheType::F16), 70272.0);
        QCOMPARE(kvBytesPerToken(model("kimi-k2"), KvCacheType::F16), 70272.0);
        QCOMPARE(kvCacheBytes(model("deepseek-v3.1"), 32768, KvCacheType::F16, 1),
                 70272ull * 32768);
    }

    // Qwen3-Next: 12 of 48 layers attend (full_attention_interval 4) with 2 KV heads of 256;
    // the other 36 keep a fixed F32 state per sequence: conv (4 - 1) x (2 x 16 x 128 + 32 x 128)
    // = 24,576 values and delta-rule 128 x 128 x 32 = 524,288 values, 2,195,456 bytes a layer.
    void hybridState()
    {
        const ModelShape &m = model("qwen3-next-80b-a3b");
        QCOMPARE(kvBytesPerToken(m, KvCacheType::F16), 12.0 * 2 * 2 * 256 * 2);
        QCOMPARE(recurrentStateBytes(m, 1), 36ull * 2195456);
        QCOMPARE(recurrentStateBytes(m, 4), 4 * 36ull * 2195456);
        QCOMPARE(kvCacheBytes(m, 8192, KvCacheType::F16, 1), 12ull * 2 * 2 * 256 * 2 * 8192);
    }

    // Vision: the projector counts only when vision is on.
    void visionProjector()
    {
        AdviceOptions o;
        o.ramBytes = 64'000'000'000ull;
        const Advisor advisor;
        const ModelAdvice text = advisor.adviseModel(QStringLiteral("mistral-small-3.2-24b"), o);
        o.vision = true;
        const ModelAdvice vision = advisor.adviseModel(QStringLiteral("mistral-small-3.2-24b"), o);
        const QuantRow *t = text.row(FileType::Q4_K_M);
        const QuantRow *v = vision.row(FileType::Q4_K_M);
        QCOMPARE(t->memory.visionBytes, 0ull);
        QCOMPARE(v->memory.visionBytes, model("mistral-small-3.2-24b").mmprojBytes);
        QCOMPARE(v->memory.totalBytes() - t->memory.totalBytes(), v->memory.visionBytes);
        QVERIFY(v->longestContextTokens <= t->longestContextTokens);
    }

    // An opened GGUF of the new architectures gets the same memory facts from its keys: a
    // DeepSeek MLA file (key_length 576 = kv_lora_rank 512 + rope 64, one KV head) caches 576
    // elements per layer and no V; a Qwen3-Next file (full_attention_interval 4, ssm.* keys)
    // keeps 12 of 48 layers with a KV cache and a fixed state in the others; gpt-oss's window
    // applies to every other layer.
    void ggufKeysGiveMemoryFacts()
    {
        ModelInfo ds;
        ds.architecture = QStringLiteral("deepseek2");
        ds.nLayers = 61;
        ds.nEmbd = 7168;
        ds.nFf = 18432;
        ds.nHeads = 128;
        ds.nHeadsKv = 1;
        ds.headDim = 576;
        ds.nVocab = 129280;
        ds.nCtxTrain = 163840;
        GgufMetadata dsKeys;
        dsKeys.set("deepseek2.attention.kv_lora_rank", GgufValue::u32(512));
        const ModelShape m = shapeFromModelInfo(ds, dsKeys, QStringLiteral("ds.gguf"));
        QCOMPARE(kvBytesPerToken(m, KvCacheType::F16), 61.0 * 576 * 2);

        ModelInfo next;
        next.architecture = QStringLiteral("qwen3next");
        next.nLayers = 48;
        next.nEmbd = 2048;
        next.nFf = 512;
        next.nHeads = 16;
        next.nHeadsKv = 2;
        next.headDim = 256;
        next.nVocab = 151936;
        next.nCtxTrain = 262144;
        GgufMetadata nextKeys;
        nextKeys.set("qwen3next.full_attention_interval", GgufValue::u32(4));
        nextKeys.set("qwen3next.ssm.conv_kernel", GgufValue::u32(4));
        nextKeys.set("qwen3next.ssm.state_size", GgufValue::u32(128));
        nextKeys.set("qwen3next.ssm.group_count", GgufValue::u32(16));
        nextKeys.set("qwen3next.ssm.time_step_rank", GgufValue::u32(32));
        nextKeys.set("qwen3next.ssm.inner_size", GgufValue::u32(4096));
        const ModelShape n = shapeFromModelInfo(next, nextKeys, QStringLiteral("next.gguf"));
        QCOMPARE(n.nRecurrentLayers, 36u);
        QCOMPARE(recurrentStateBytes(n, 1), recurrentStateBytes(model("qwen3-next-80b-a3b"), 1));
        QCOMPARE(kvBytesPerToken(n, KvCacheType::F16),
                 kvBytesPerToken(model("qwen3-next-80b-a3b"), KvCacheType::F16));

        ModelInfo oss;
        oss.architecture = QStringLiteral("gpt-oss");
        oss.nLayers = 24;
        oss.nEmbd = 2880;
        oss.nFf = 2880;
        oss.nHeads = 64;
        oss.nHeadsKv = 8;
        oss.headDim = 64;
        oss.nVocab = 201088;
        oss.nCtxTrain = 131072;
        GgufMetadata ossKeys;
        ossKeys.set("gpt-oss.attention.sliding_window", GgufValue::u32(128));
        const ModelShape o = shapeFromModelInfo(oss, ossKeys, QStringLiteral("oss.gguf"));
        QCOMPARE(o.nSlidingLayers, 12u);
        QCOMPARE(kvCacheBytes(o, 4096, KvCacheType::F16, 1),
                 kvCacheBytes(model("gpt-oss-20b"), 4096, KvCacheType::F16, 1));
    }

    // Every MoE entry carries total and active parameters, and its source.
    void catalogFacts()
    {
        for (const ModelShape &m : Catalog::builtIn()->models()) {
            QVERIFY2(!m.source.isEmpty(), qPrintable(m.id));
            if (m.isMoe()) {
                QVERIFY2(m.activeParamsBillions > 0, qPrintable(m.id));
                QVERIFY2(m.activeParamsBillions < m.paramsBillions / 2, qPrintable(m.id));
            }
        }
        for (const char *id : {"gpt-oss-120b", "gpt-oss-20b", "glm-4.5-air", "qwen3-30b-a3b",
                               "llama-3.3-70b"})
            QVERIFY2(Catalog::builtIn()->find(QString::fromLatin1(id)), id);
    }
};

QTEST_APPLESS_MAIN(TestAdvisorPublished)
#include "testadvisorpublished.moc"
