// QuantPlan and the mix rules against the dense LLaMA table of docs/quantization.md ("Resulting
// mixes"), and against the files llama.cpp itself wrote (llama-quantized in the shared test data
// folder).

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "model/syntheticmodel.h"
#include "quant/imatrixfile.h"
#include "quant/quantmix.h"
#include "quant/quantplan.h"
#include "util/error.h"

#include <QFile>
#include <QTest>

#include <functional>
#include <set>

using namespace QuantFit;

namespace {

using G = GgmlType;
using F = FileType;

// Layers that get "more bits" (docs/quantization.md, "What the rules look at"), written out, not
// computed.
std::set<int> moreBitsLayers(int n)
{
    std::set<int> s;
    if (n == 32) {
        s = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    } else if (n == 80) {
        for (int i = 0; i <= 9; ++i)
            s.insert(i);
        for (int i = 12; i <= 69; i += 3)
            s.insert(i);
        for (int i = 70; i <= 79; ++i)
            s.insert(i);
    }
    return s;
}

struct Shape {
    int nLayers;
    int nEmbd;
    int nFf;
    int nHeads;
    int nHeadsKv;
};

GgufLayout layoutFor(const Shape &s, bool tied = false)
{
    SyntheticModelOptions o;
    o.nLayers = std::uint32_t(s.nLayers);
    o.nEmbd = std::uint32_t(s.nEmbd);
    o.nFf = std::uint32_t(s.nFf);
    o.nHeads = std::uint32_t(s.nHeads);
    o.nHeadsKv = std::uint32_t(s.nHeadsKv);
    o.nVocab = 512;
    o.tiedEmbeddings = tied;
    return syntheticModelLayout(o);
}

// Expected type per tensor from the table of docs/quantization.md, "Resulting mixes" (no imatrix,
// dense, not falcon).
struct Row {
    G tokenEmbd, output;
    std::function<G(int i, int n, int gqa)> attnV;
    std::function<G(int i, int n)> ffnDown;
    G attnOutput, rest;
};

Row rowFor(F ft, const std::set<int> &more)
{
    auto fixed = [](G t) { return [t](int, int, int) { return t; }; };
    auto fixedD = [](G t) { return [t](int, int) { return t; }; };
    switch (ft) {
    case F::Q4_0: return {G::Q4_0, G::Q6_K, fixed(G::Q4_0), fixedD(G::Q4_0), G::Q4_0, G::Q4_0};
    case F::Q4_1: return {G::Q4_1, G::Q6_K, fixed(G::Q4_1), fixedD(G::Q4_1), G::Q4_1, G::Q4_1};
    case F::Q5_0: return {G::Q5_0, G::Q6_K, fixed(G::Q5_0), fixedD(G::Q5_0), G::Q5_0, G::Q5_0};
    case F::Q5_1: return {G::Q5_1, G::Q6_K, fixed(G::Q5_1), fixedD(G::Q5_1), G::Q5_1, G::Q5_1};
    case F::Q8_0: return {G::Q8_0, G::Q8_0, fixed(G::Q8_0), fixedD(G::Q8_0), G::Q8_0, G::Q8_0};
    case F::Q2_K:
        return {G::Q2_K, G::Q6_K, [](int, int, int g) { return g >= 4 ? G::Q4_K : G::Q3_K; },
                fixedD(G::Q3_K), G::Q3_K, G::Q2_K};
    case F::Q2_K_S:
        return {G::Q2_K, G::Q6_K, [](int, int, int g) { return g >= 4 ? G::Q4_K : G::Q2_K; },
                [](int i, int n) { return i < n / 8 ? G::Q4_K : G::Q2_K; }, G::Q2_K, G::Q2_K};
    case F::Q3_K_S: return {G::Q3_K, G::Q6_K, fixed(G::Q3_K), fixedD(G::Q3_K), G::Q3_K, G::Q3_K};
    case F::Q3_K_M:
        return {G::Q3_K, G::Q6_K, [](int i, int, int) { return i < 2 ? G::Q5_K : G::Q4_K; },
                [](int i, int n) { return i < n / 16 ? G::Q5_K : G::Q4_K; }, G::Q4_K, G::Q3_K};
    case F::Q3_K_L: return {G::Q3_K, G::Q6_K, fixed(G::Q5_K), fixedD(G::Q5_K), G::Q5_K, G::Q3_K};
    case F::Q4_K_S:
        return {G::Q4_K, G::Q6_K, [](int i, int, int) { return i < 4 ? G::Q5_K : G::Q4_K; },
                [](int i, int n) { return i < n / 8 ? G::Q5_K : G::Q4_K; }, G::Q4_K, G::Q4_K};
    case F::Q4_K_M:
        return {G::Q4_K, G::Q6_K,
                [more](int i, int, int) { return more.count(i) ? G::Q6_K : G::Q4_K; },
                [more](int i, int) { return more.count(i) ? G::Q6_K : G::Q4_K; }, G::Q4_K, G::Q4_K};
    case F::Q5_K_S: return {G::Q5_K, G::Q6_K, fixed(G::Q5_K), fixedD(G::Q5_K), G::Q5_K, G::Q5_K};
    case F::Q5_K_M:
        return {G::Q5_K, G::Q6_K,
                [more](int i, int, int) { return more.count(i) ? G::Q6_K : G::Q5_K; },
                [more](int i, int) { return more.count(i) ? G::Q6_K : G::Q5_K; }, G::Q5_K, G::Q5_K};
    case F::Q6_K: return {G::Q6_K, G::Q6_K, fixed(G::Q6_K), fixedD(G::Q6_K), G::Q6_K, G::Q6_K};
    case F::IQ4_NL:
        return {G::IQ4_NL, G::Q6_K, [](int, int, int g) { return g >= 4 ? G::Q5_K : G::IQ4_NL; },
                [](int i, int n) { return i < n / 8 ? G::Q5_K : G::IQ4_NL; }, G::IQ4_NL, G::IQ4_NL};
    case F::IQ4_XS:
        return {G::IQ4_XS, G::Q6_K, [](int, int, int g) { return g >= 4 ? G::Q5_K : G::IQ4_XS; },
                [](int i, int n) { return i < n / 8 ? G::Q5_K : G::IQ4_XS; }, G::IQ4_XS, G::IQ4_XS};
    case F::F32: return {G::F32, G::F32, fixed(G::F32), fixedD(G::F32), G::F32, G::F32};
    case F::F16: return {G::F16, G::F16, fixed(G::F16), fixedD(G::F16), G::F16, G::F16};
    case F::BF16: return {G::BF16, G::BF16, fixed(G::BF16), fixedD(G::BF16), G::BF16, G::BF16};
    default: break;
    }
    qFatal("no table row");
}

int layerOf(const QByteArray &name)
{
    return name.startsWith("blk.") ? name.split('.').at(1).toInt() : -1;
}

const PlannedTensor &find(const QuantPlan &plan, const QByteArray &name)
{
    for (const auto &p : plan.tensors) {
        if (p.source.name == name)
            return p;
    }
    qFatal("tensor %s not in plan", name.constData());
}

} // namespace

class TestQuantPlan : public QObject
{
    Q_OBJECT

private slots:
    void mixTable_data();
    void mixTable();
    void moreBitsMatchesSpecList();
    void tensorOrder();
    void tiedEmbeddingsUseOutputRule();
    void fallbackForOddWidths();
    void optionsOverrideAndPure();
    void leaveOutputTensor();
    void imatrixRules();
    void requantizeNeedsPermission();
    void mixtureOfExperts();
    void metadataKeys();
    void overrideKv_data();
    void overrideKv();
    void overrideKvOrder();
    void sizeMatchesWriterLayout();
    void bitsPerWeightOfAPlan();
    void matchesLlamaQuantize_data();
    void matchesLlamaQuantize();
};

void TestQuantPlan::mixTable_data()
{
    QTest::addColumn<int>("fileType");
    QTest::addColumn<int>("nLayers");
    QTest::addColumn<int>("nHeadsKv");
    const F types[] = {F::F32,    F::F16,    F::BF16,   F::Q8_0,   F::Q4_0,   F::Q4_1,  F::Q5_0,
                       F::Q5_1,   F::Q2_K,   F::Q2_K_S, F::Q3_K_S, F::Q3_K_M, F::Q3_K_L, F::Q4_K_S,
                       F::Q4_K_M, F::Q5_K_S, F::Q5_K_M, F::Q6_K,   F::IQ4_NL, F::IQ4_XS};
    for (F ft : types) {
        const QByteArray name = fileTypeName(ft).toLatin1();
        // 32 layers without GQA (7B-like), 32 layers GQA 4 (8B-like), 80 layers GQA 8 (70B-like).
        QTest::newRow(QByteArray(name + "/32L-mha").constData()) << int(ft) << 32 << 32;
        QTest::newRow(QByteArray(name + "/32L-gqa4").constData()) << int(ft) << 32 << 8;
        QTest::newRow(QByteArray(name + "/80L-gqa8").constData()) << int(ft) << 80 << 8;
    }
}

void TestQuantPlan::mixTable()
{
    QFETCH(int, fileType);
    QFETCH(int, nLayers);
    QFETCH(int, nHeadsKv);
    const F ft = F(fileType);
    const Shape shape = nLayers == 80 ? Shape{80, 8192, 28672, 64, nHeadsKv}
                                      : Shape{32, 4096, 11008, 32, nHeadsKv};
    const GgufLayout layout = layoutFor(shape);
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, ft);
    const int heads = nLayers == 80 ? 64 : 32;
    const int gqa = heads / nHeadsKv;
    const bool is70B = nLayers == 80 && gqa > 1;
    const Row row = rowFor(ft, moreBitsLayers(nLayers));

    QCOMPARE(plan.tensors.size(), layout.tensors.size());
    for (const auto &p : plan.tensors) {
        const QByteArray &name = p.source.name;
        const int i = layerOf(name);
        G expected;
        if (p.source.nDims == 1 || name.endsWith("_norm.weight"))
            expected = G::F32;
        else if (name == "token_embd.weight")
            expected = row.tokenEmbd;
        else if (name == "output.weight")
            expected = row.output;
        else if (name.contains("attn_v.weight")) {
            expected = row.attnV(i, nLayers, gqa);
            if (is70B && (expected == G::Q3_K || expected == G::Q4_K))
                expected = G::Q5_K;
        } else if (name.contains("ffn_down"))
            expected = row.ffnDown(i, nLayers);
        else if (name.contains("attn_output"))
            expected = row.attnOutput;
        else
            expected = row.rest;
        if (p.targetType != expected)
            QFAIL(qPrintable(QStringLiteral("%1: got %2, expected %3 (%4)")
                                 .arg(QString::fromUtf8(name), ggmlTypeName(p.targetType),
                                      ggmlTypeName(expected), p.note)));
        QCOMPARE(p.targetBytes, tensorBytes(expected, p.source.ne));
    }
    QCOMPARE(plan.nFallbacks, 0u);
}

void TestQuantPlan::moreBitsMatchesSpecList()
{
    for (int n : {32, 80}) {
        const auto set = moreBitsLayers(n);
        for (int i = 0; i < n; ++i)
            QCOMPARE(useMoreBits(i, n), set.count(i) == 1);
    }
    // n = 16: {0,1,4,7,10,13,14,15}
    const std::set<int> s16 = {0, 1, 4, 7, 10, 13, 14, 15};
    for (int i = 0; i < 16; ++i)
        QCOMPARE(useMoreBits(i, 16), s16.count(i) == 1);
}

void TestQuantPlan::tensorOrder()
{
    const GgufLayout layout = layoutFor({12, 256, 512, 8, 4});
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    // docs/quantization.md, "Output file": non-layer tensors first, then by layer number (2
    // before 10), byte-wise.
    QStringList names;
    for (const auto &p : plan.tensors)
        names << QString::fromUtf8(p.source.name);
    QCOMPARE(names.mid(0, 8),
             QStringList({"output.weight", "output_norm.weight", "token_embd.weight",
                          "blk.0.attn_k.weight", "blk.0.attn_norm.weight",
                          "blk.0.attn_output.weight", "blk.0.attn_q.weight",
                          "blk.0.attn_v.weight"}));
    QCOMPARE(names.mid(8, 4), QStringList({"blk.0.ffn_down.weight", "blk.0.ffn_gate.weight",
                                           "blk.0.ffn_norm.weight", "blk.0.ffn_up.weight"}));
    QCOMPARE(names.at(12), QStringLiteral("blk.1.attn_k.weight"));
    QCOMPARE(names.at(3 + 9 * 2), QStringLiteral("blk.2.attn_k.weight"));
    QCOMPARE(names.last(), QStringLiteral("blk.11.ffn_up.weight"));
}

void TestQuantPlan::tiedEmbeddingsUseOutputRule()
{
    const GgufLayout layout = layoutFor({16, 256, 512, 8, 8}, true);
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    QCOMPARE(find(plan, "token_embd.weight").targetType, G::Q6_K);
    const QuantPlan q8 = makeQuantPlan(layout.metadata, layout.tensors, F::Q8_0);
    QCOMPARE(find(q8, "token_embd.weight").targetType, G::Q8_0);
    QuantOptions o;
    o.outputTensorType = G::Q8_0;
    const QuantPlan withType = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QCOMPARE(find(withType, "token_embd.weight").targetType, G::Q8_0);
}

void TestQuantPlan::fallbackForOddWidths()
{
    // n_embd 2880 (2880 % 256 = 64, 2880 % 32 = 0): Q4_K -> Q5_0, Q6_K -> Q8_0 (row-size
    // fallback).
    const GgufLayout wide = layoutFor({8, 2880, 512, 8, 8});
    const QuantPlan plan = makeQuantPlan(wide.metadata, wide.tensors, F::Q4_K_M);
    QCOMPARE(find(plan, "blk.3.attn_q.weight").targetType, G::Q5_0);
    QCOMPARE(find(plan, "output.weight").targetType, G::Q8_0); // rule O step 3
    QCOMPARE(find(plan, "blk.4.ffn_down.weight").targetType, G::Q4_K); // 512 wide
    QCOMPARE(find(plan, "blk.3.ffn_down.weight").targetType, G::Q6_K); // more(3, 8)
    QVERIFY(plan.nFallbacks > 0);
    QVERIFY(plan.refusal.isEmpty());
    // b10472: Q3_K (and Q2_K) fall back to Q4_0, no longer IQ4_NL.
    const QuantPlan q3 = makeQuantPlan(wide.metadata, wide.tensors, F::Q3_K_S);
    QCOMPARE(find(q3, "blk.3.attn_q.weight").targetType, G::Q4_0);
    const QuantPlan q5 = makeQuantPlan(wide.metadata, wide.tensors, F::Q5_K_S);
    QCOMPARE(find(q5, "blk.3.attn_q.weight").targetType, G::Q5_1);

    // stories260K-like: a 172-wide FFN fits no block type. K-quant mixes fall back twice, to
    // f16; types without a fallback (Q4_0, Q8_0, IQ4_NL) make llama-quantize stop: the plan
    // says why and cannot be written.
    const GgufLayout odd = layoutFor({5, 64, 172, 8, 4});
    for (F ft : {F::Q4_K_M, F::Q2_K}) {
        const QuantPlan p = makeQuantPlan(odd.metadata, odd.tensors, ft);
        QCOMPARE(find(p, "blk.2.ffn_down.weight").targetType, G::F16);
        QVERIFY(!p.warnings.isEmpty());
        QVERIFY(p.isWritable());
    }
    for (F ft : {F::Q4_0, F::Q8_0, F::IQ4_NL}) {
        const QuantPlan p = makeQuantPlan(odd.metadata, odd.tensors, ft);
        QVERIFY(!p.isWritable());
        QVERIFY2(p.refusal.contains(QStringLiteral("blk.0.ffn_down.weight': no tensor type "
                                                   "fallback is defined for type ")
                                    + ggmlTypeName(defaultTypeFor(ft))),
                 qPrintable(p.refusal));
    }
    // 64-wide rows: Q4_K_M attn tensors -> Q5_0 (64 % 32 == 0).
    const QuantPlan p = makeQuantPlan(odd.metadata, odd.tensors, F::Q4_K_M);
    QCOMPARE(find(p, "blk.2.attn_q.weight").targetType, G::Q5_0);
    QCOMPARE(find(p, "blk.2.ffn_gate.weight").targetType, G::Q5_0);
}

void TestQuantPlan::optionsOverrideAndPure()
{
    const GgufLayout layout = layoutFor({32, 4096, 11008, 32, 8});
    QuantOptions o;
    o.pure = true;
    const QuantPlan pure = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    for (const auto &p : pure.tensors)
        QCOMPARE(p.targetType, p.source.nDims == 1 ? G::F32 : G::Q4_K);
    o.outputTensorType = G::Q8_0;
    o.tokenEmbeddingType = G::F16;
    const QuantPlan both = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QCOMPARE(find(both, "output.weight").targetType, G::Q8_0);
    QCOMPARE(find(both, "token_embd.weight").targetType, G::F16);
    QCOMPARE(find(both, "blk.0.ffn_down.weight").targetType, G::Q4_K);
}

void TestQuantPlan::leaveOutputTensor()
{
    const GgufLayout layout = layoutFor({4, 256, 512, 8, 8});
    QuantOptions o;
    o.leaveOutputTensor = true;
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QCOMPARE(find(plan, "output.weight").targetType, G::F32);
    QVERIFY(!find(plan, "output.weight").quantized);
}

void TestQuantPlan::imatrixRules()
{
    const GgufLayout layout = layoutFor({32, 4096, 11008, 32, 32});
    QuantOptions o;
    o.hasImatrix = true;
    // ffn_down rule: Q4_0/Q5_0 with an imatrix bump the first n/8 ffn_down to Q4_1/Q5_1; IQ4 loses the
    // Q5_K bump.
    const QuantPlan q4 = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_0, o);
    QCOMPARE(find(q4, "blk.3.ffn_down.weight").targetType, G::Q4_1);
    QCOMPARE(find(q4, "blk.4.ffn_down.weight").targetType, G::Q4_0);
    const QuantPlan q5 = makeQuantPlan(layout.metadata, layout.tensors, F::Q5_0, o);
    QCOMPARE(find(q5, "blk.0.ffn_down.weight").targetType, G::Q5_1);
    const QuantPlan iq = makeQuantPlan(layout.metadata, layout.tensors, F::IQ4_XS, o);
    QCOMPARE(find(iq, "blk.0.ffn_down.weight").targetType, G::IQ4_XS);
}

void TestQuantPlan::requantizeNeedsPermission()
{
    GgufLayout layout = layoutFor({2, 256, 512, 8, 8});
    for (auto &t : layout.tensors) {
        if (t.nDims == 2)
            t.type = G::Q8_0;
    }
    layout.finalize();
    QVERIFY_THROWS_EXCEPTION(Error, makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M));
    // Same type: copied, no permission needed.
    const QuantPlan same = makeQuantPlan(layout.metadata, layout.tensors, F::Q8_0);
    for (const auto &p : same.tensors)
        QVERIFY(!p.quantized);
    QuantOptions o;
    o.allowRequantize = true;
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QVERIFY(find(plan, "blk.1.attn_q.weight").quantized);
    QVERIFY(!plan.warnings.isEmpty());
}

void TestQuantPlan::mixtureOfExperts()
{
    // Mixtral-like: 8 layers, 8 experts merged as 3-D tensors, GQA 4.
    GgufLayout layout;
    auto &md = layout.metadata;
    md.set("general.architecture", GgufValue::fromString(QByteArray("llama")));
    md.set("llama.block_count", GgufValue::u32(8));
    md.set("llama.attention.head_count", GgufValue::u32(32));
    md.set("llama.attention.head_count_kv", GgufValue::u32(8));
    md.set("llama.expert_count", GgufValue::u32(8));
    auto add = [&](const QByteArray &name, std::uint64_t a, std::uint64_t b, std::uint64_t c = 1) {
        GgufTensorInfo t;
        t.name = name;
        t.ne = {a, b, c, 1};
        layout.tensors.push_back(t);
    };
    add("token_embd.weight", 4096, 32000);
    add("output.weight", 4096, 32000);
    add("output_norm.weight", 4096, 1);
    for (int i = 0; i < 8; ++i) {
        const QByteArray p = "blk." + QByteArray::number(i) + '.';
        add(p + "attn_norm.weight", 4096, 1);
        add(p + "attn_q.weight", 4096, 4096);
        add(p + "attn_k.weight", 4096, 1024);
        add(p + "attn_v.weight", 4096, 1024);
        add(p + "attn_output.weight", 4096, 4096);
        add(p + "ffn_gate_inp.weight", 4096, 8);
        add(p + "ffn_gate_exps.weight", 4096, 14336, 8);
        add(p + "ffn_up_exps.weight", 4096, 14336, 8);
        add(p + "ffn_down_exps.weight", 14336, 4096, 8);
    }
    layout.finalize();
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    // Per-tensor rules: 8 experts send attn_v and attn_k to Q8_0 and attn_output to Q5_K; the router stays.
    for (int i = 0; i < 8; ++i) {
        const QByteArray p = "blk." + QByteArray::number(i) + '.';
        QCOMPARE(find(plan, p + "attn_v.weight").targetType, G::Q8_0);
        QCOMPARE(find(plan, p + "attn_k.weight").targetType, G::Q8_0);
        QCOMPARE(find(plan, p + "attn_q.weight").targetType, G::Q4_K);
        QCOMPARE(find(plan, p + "attn_output.weight").targetType, G::Q5_K);
        QCOMPARE(find(plan, p + "ffn_gate_inp.weight").targetType, G::F32);
        QCOMPARE(find(plan, p + "ffn_up_exps.weight").targetType, G::Q4_K);
        // more(i, 8) = {0, 3, 6, 7}, layer taken from the name for MoE.
        const bool more = i == 0 || i == 3 || i == 6 || i == 7;
        QCOMPARE(find(plan, p + "ffn_down_exps.weight").targetType, more ? G::Q6_K : G::Q4_K);
        QCOMPARE(find(plan, p + "ffn_down_exps.weight").targetBytes,
                 std::uint64_t(14336 / 256) * (more ? 210 : 144) * 4096 * 8);
    }
}

void TestQuantPlan::metadataKeys()
{
    GgufLayout layout = layoutFor({2, 256, 512, 8, 8});
    layout.metadata.set("split.count", GgufValue::fromUInt(GgufValueType::UINT16, 3));
    QuantOptions o;
    o.hasImatrix = true;
    o.imatrix = ImatrixSummary{QString(200, QLatin1Char('x')), QStringLiteral("wiki.txt"), 14, 100};
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F::Q5_K_M, o);
    const GgufMetadata &md = plan.outputMetadata;
    QCOMPARE(md.find("general.file_type")->type(), GgufValueType::UINT32);
    QCOMPARE(md.uintOr("general.file_type", 0), 17u);
    QCOMPARE(md.uintOr("general.quantization_version", 0), 2u);
    QVERIFY(!md.contains("split.count"));
    QCOMPARE(md.find("quantize.imatrix.file")->rawString().size(), 127);
    QCOMPARE(md.stringOr("quantize.imatrix.dataset"), QStringLiteral("wiki.txt"));
    QCOMPARE(md.find("quantize.imatrix.entries_count")->type(), GgufValueType::UINT32);
    QCOMPARE(md.find("quantize.imatrix.chunks_count")->type(), GgufValueType::UINT32);
    QCOMPARE(md.find("quantize.imatrix.chunks_count")->toInt64(), 100);
    // Every input key survives.
    for (const auto &e : layout.metadata.entries())
        QVERIFY2(md.contains(e.key) || e.key.startsWith("split."), e.key.constData());
    QCOMPARE(md.entries().back().key, QByteArray("quantize.imatrix.chunks_count"));
}

void TestQuantPlan::overrideKv_data()
{
    // Text, then the expected type and value, or an empty type and a word of the error.
    QTest::addColumn<QString>("text");
    QTest::addColumn<int>("type"); // GgufValueType, -1 for an error
    QTest::addColumn<QVariant>("value");
    const int err = -1;
    // Integers are stored as UINT32 of the absolute value, as current llama-quantize does.
    QTest::newRow("int") << "a.b=int:7" << int(GgufValueType::UINT32) << QVariant(7);
    QTest::newRow("negative int") << "a.b=int:-7" << int(GgufValueType::UINT32) << QVariant(7);
    QTest::newRow("int max") << "a=int:4294967295" << int(GgufValueType::UINT32) << QVariant(4294967295ll);
    QTest::newRow("float") << "a=float:0.25" << int(GgufValueType::FLOAT32) << QVariant(0.25);
    QTest::newRow("bool") << "tokenizer.ggml.add_bos_token=bool:false" << int(GgufValueType::BOOL) << QVariant(false);
    QTest::newRow("str with = and :") << "general.name=str:a=b:c" << int(GgufValueType::STRING) << QVariant("a=b:c");
    QTest::newRow("empty str") << "general.name=str:" << int(GgufValueType::STRING) << QVariant("");
    QTest::newRow("no =") << "a.b" << err << QVariant("no '='");
    QTest::newRow("empty key") << "=int:1" << err << QVariant("key is empty");
    QTest::newRow("long key") << QString(128, u'k') + "=int:1" << err << QVariant("at most 127");
    QTest::newRow("no :") << "a=int" << err << QVariant("no ':'");
    QTest::newRow("not int") << "a=int:1.5" << err << QVariant("not an integer");
    QTest::newRow("int range") << "a=int:4294967296" << err << QVariant("UINT32");
    QTest::newRow("negative range") << "a=int:-4294967296" << err << QVariant("UINT32");
    QTest::newRow("not float") << "a=float:abc" << err << QVariant("not a finite float");
    QTest::newRow("inf float") << "a=float:1e39" << err << QVariant("not a finite float");
    QTest::newRow("not bool") << "a=bool:1" << err << QVariant("true or false");
    QTest::newRow("long str") << "a=str:" + QString(128, u's') << err << QVariant("at most 127");
    QTest::newRow("type") << "a=u32:1" << err << QVariant("unknown TYPE 'u32'");
    QTest::newRow("alignment") << "general.alignment=int:64" << err << QVariant("cannot be overridden");
}

void TestQuantPlan::overrideKv()
{
    QFETCH(QString, text);
    QFETCH(int, type);
    QFETCH(QVariant, value);
    if (type < 0) {
        try {
            (void)parseMetadataOverride(text);
            QFAIL("accepted");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(value.toString()), qPrintable(e.message()));
            QVERIFY2(e.message().contains(text.left(40)), qPrintable(e.message()));
        }
        return;
    }
    const MetadataOverride o = parseMetadataOverride(text);
    QCOMPARE(o.key, text.left(text.indexOf(u'=')).toUtf8());
    QCOMPARE(int(o.value.type()), type);
    switch (GgufValueType(type)) {
    case GgufValueType::UINT32: QCOMPARE(o.value.toInt64(), value.toLongLong()); break;
    case GgufValueType::FLOAT32: QCOMPARE(o.value.toDouble(), value.toDouble()); break;
    case GgufValueType::BOOL: QCOMPARE(o.value.toBool(), value.toBool()); break;
    default: QCOMPARE(QString::fromUtf8(o.value.rawString()), value.toString());
    }
}

// llama-quantize: the input keys, then quantization_version and file_type, then the overrides in
// the order given (an existing key is removed and appended), then the quantize.imatrix.* keys.
// The exact size still follows the metadata.
void TestQuantPlan::overrideKvOrder()
{
    const GgufLayout layout = layoutFor({2, 256, 512, 8, 8});
    QuantOptions o;
    o.metadataOverrides.push_back(parseMetadataOverride(QStringLiteral("general.name=str:Renamed")));
    o.metadataOverrides.push_back(parseMetadataOverride(QStringLiteral("x.new=int:3")));
    o.metadataOverrides.push_back(parseMetadataOverride(QStringLiteral("general.file_type=int:99")));
    o.hasImatrix = true;
    o.imatrix = ImatrixSummary{QStringLiteral("im.dat"), {}, 7, 0};
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QList<QByteArray> tail;
    for (const auto &e : plan.outputMetadata.entries())
        tail.append(e.key);
    tail = tail.mid(tail.size() - 6);
    QCOMPARE(tail, (QList<QByteArray>{"general.quantization_version", "general.name", "x.new",
                                      "general.file_type", "quantize.imatrix.file",
                                      "quantize.imatrix.entries_count"}));
    QCOMPARE(plan.outputMetadata.find("general.file_type")->type(), GgufValueType::UINT32);
    QCOMPARE(plan.outputMetadata.find("general.file_type")->toInt64(), 99);
    QCOMPARE(plan.outputMetadata.stringOr("general.name"), QStringLiteral("Renamed"));
    QCOMPARE(plan.outputFileBytes, plan.outputLayout().fileBytes());
    const QuantPlan plain = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    QVERIFY(plan.outputFileBytes > plain.outputFileBytes); // "x.new" and the imatrix keys added
}

void TestQuantPlan::sizeMatchesWriterLayout()
{
    const GgufLayout layout = layoutFor({3, 2880, 512, 8, 8}, true);
    for (const auto &f : allFileTypes()) {
        if (!f.supported)
            continue;
        const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, f.fileType);
        const GgufLayout out = plan.outputLayout();
        QCOMPARE(plan.outputFileBytes, out.fileBytes());
        std::uint64_t sum = 0;
        for (const auto &t : out.tensors)
            sum += t.nBytes;
        QCOMPARE(plan.targetTensorBytes, sum);
    }
}

void TestQuantPlan::bitsPerWeightOfAPlan()
{
    // 2 layers, n_embd 256, n_ff 512, 8 heads and 8 KV heads, vocabulary 512. Matrices:
    // token_embd and output 256 x 512 each; per layer q, k, v, o 256 x 256, gate and up
    // 256 x 512, down 512 x 256. Vectors: two norms of 256 per layer and the final norm.
    const GgufLayout layout = layoutFor({2, 256, 512, 8, 8});
    const double matrices = 2 * 256 * 512 + 2 * (4 * 256 * 256 + 3 * 256 * 512);
    const double vectors = 2 * 2 * 256 + 256;
    QCOMPARE(makeQuantPlan(layout.metadata, layout.tensors, F::F32).bitsPerWeight(), 32.0);
    // F16 converts the matrices and keeps the norms in F32.
    QCOMPARE(makeQuantPlan(layout.metadata, layout.tensors, F::F16).bitsPerWeight(),
             (16 * matrices + 32 * vectors) / (matrices + vectors));
}

void TestQuantPlan::matchesLlamaQuantize_data()
{
    QTest::addColumn<QString>("type");
    QTest::addColumn<qint64>("bytes");
    const QString dir = Test::sharedTestData() + QStringLiteral("/llama-quantized");
    QFile csv(dir + QStringLiteral("/reference.csv"));
    if (Test::sharedTestData().isEmpty() || !csv.open(QIODevice::ReadOnly)) {
        QTest::newRow("absent") << QString() << qint64(0);
        return;
    }
    csv.readLine();
    while (!csv.atEnd()) {
        const QList<QByteArray> f = csv.readLine().trimmed().split(',');
        if (f.size() >= 2)
            QTest::newRow(f[0].constData()) << QString::fromLatin1(f[0]) << f[1].toLongLong();
    }
}

void TestQuantPlan::matchesLlamaQuantize()
{
    QFETCH(QString, type);
    QFETCH(qint64, bytes);
    if (type.isEmpty())
        QSKIP("../shared/testdata/llama-quantized is absent");
    const QString dir = Test::sharedTestData() + QStringLiteral("/llama-quantized");
    const GgufFile source = GgufFile::open(dir + QStringLiteral("/synth-a-F32.gguf"),
                                           GgufFile::Mode::MetadataOnly);
    const GgufFile reference = GgufFile::open(dir + QStringLiteral("/synth-a-%1.gguf").arg(type),
                                              GgufFile::Mode::MetadataOnly);
    const auto ft = fileTypeFromName(type);
    QVERIFY2(ft, qPrintable(QStringLiteral("reference.csv names a mix the file-type table lacks: ") + type));
    QVERIFY(fileTypeFacts(*ft).supported);
    QuantOptions options;
    // The I-quant references were written with `--imatrix synth-a.imatrix` (their README): the
    // plan then carries the same quantize.imatrix.* keys, made from our reading of that file.
    if (reference.metadata().contains("quantize.imatrix.file")) {
        const ImportanceMatrix im = readImportanceMatrix(dir + QStringLiteral("/synth-a.imatrix"));
        options.hasImatrix = true;
        options.imatrix = ImatrixSummary{QStringLiteral("synth-a.imatrix"), im.datasets.value(0),
                                         std::uint32_t(im.entries.size()), im.chunkCount};
    }
    const QuantPlan plan = makeQuantPlan(source.metadata(), source.tensors(), *ft, options);
    QCOMPARE(qint64(reference.fileSize()), bytes);
    // synth-a-F32.gguf is the source itself, not llama-quantize output (it lacks
    // general.quantization_version, which llama-quantize adds): only the types compare there.
    const bool isSource = *ft == FileType::F32;
    if (!isSource)
        QCOMPARE(qint64(plan.outputFileBytes), bytes);
    QCOMPARE(plan.tensors.size(), reference.tensors().size());
    for (std::size_t i = 0; i < plan.tensors.size(); ++i) {
        const auto &ours = plan.tensors[i];
        if (!isSource)
            QCOMPARE(ours.source.name, reference.tensors()[i].name);
        const GgufTensorInfo *found = reference.findTensor(ours.source.name);
        QVERIFY(found);
        const auto &theirs = *found;
        if (ours.targetType != theirs.type)
            QFAIL(qPrintable(QStringLiteral("%1: ours %2, llama.cpp %3")
                                 .arg(QString::fromUtf8(theirs.name), ggmlTypeName(ours.targetType),
                                      ggmlTypeName(theirs.type))));
    }
    if (!isSource) {
        QCOMPARE(plan.outputLayout().dataOffset(), reference.dataOffset());
        QVERIFY(plan.outputMetadata == reference.metadata());
    }
}

QTEST_APPLESS_MAIN(TestQuantPlan)
#include "testquantplan.moc"
