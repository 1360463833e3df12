// The b10472 per-tensor rules on synthetic models (docs/quantization.md): every expected type
// below is derived by hand from the rules and written out, never computed by the planner. The
// models are the kinds llama.cpp's own rules were checked on: 16 layers with GQA 4, tied
// embeddings with 288/416-wide rows (fallbacks), 200-wide ffn_down rows (f16 and "no fallback"),
// a 4-layer MoE with 8 experts, and 80-layer models for the 70B bump; plus --tensor-type,
// --pure, --prune-layers and the importance-matrix requirement.

#include "gguf/ggufwriter.h"
#include "model/syntheticmodel.h"
#include "quant/quantmix.h"
#include "quant/quantplan.h"
#include "util/error.h"

#include <QTest>

#include <map>
#include <set>

using namespace QuantFit;

namespace {

using G = GgmlType;
using F = FileType;

GgufLayout model(std::uint32_t layers, std::uint32_t embd, std::uint32_t ff, std::uint32_t heads,
                 std::uint32_t kvHeads, bool tied = false, GgmlType type = GgmlType::F16)
{
    SyntheticModelOptions o;
    o.nLayers = layers;
    o.nEmbd = embd;
    o.nFf = ff;
    o.nHeads = heads;
    o.nHeadsKv = kvHeads;
    o.nVocab = 512;
    o.tiedEmbeddings = tied;
    o.type = type;
    return syntheticModelLayout(o);
}

// Metadata and tensor infos of a model of another architecture: the llama keys renamed.
GgufLayout asArchitecture(const GgufLayout &llama, const QByteArray &arch)
{
    GgufLayout out;
    for (const auto &e : llama.metadata.entries()) {
        QByteArray key = e.key;
        if (key.startsWith("llama."))
            key = arch + key.mid(5);
        out.metadata.set(key, key == "general.architecture" ? GgufValue::fromString(arch) : e.value);
    }
    out.tensors = llama.tensors;
    return out;
}

const PlannedTensor &find(const QuantPlan &plan, const QByteArray &name)
{
    for (const auto &p : plan.tensors) {
        if (p.name == name)
            return p;
    }
    qFatal("tensor %s not in plan", name.constData());
}

G typeOf(const QuantPlan &plan, const QByteArray &name)
{
    return find(plan, name).targetType;
}

QByteArray blk(int i, const char *rest)
{
    return "blk." + QByteArray::number(i) + '.' + rest;
}

QuantOptions imatrixOptions(bool on)
{
    QuantOptions o;
    o.hasImatrix = on;
    return o;
}

// The layers more(i, 16) picks, as listed in docs/quantization.md.
const std::set<int> kMore16 = {0, 1, 4, 7, 10, 13, 14, 15};

// Expected type of a 2-D weight of the 16-layer, GQA 4 model (n_gqa = 4, n_expert = 0, not
// tied, n = n_attention_wv = 16, so n/8 = 2, n/16 = 1, 7n/8 = 14): the "Resulting mixes"
// table of docs/quantization.md at that shape.
G expected16(F ft, bool imatrix, const QByteArray &name)
{
    const int i = name.startsWith("blk.") ? name.split('.').at(1).toInt() : -1;
    const bool token = name == "token_embd.weight";
    const bool output = name == "output.weight";
    const bool v = name.contains("attn_v."), k = name.contains("attn_k."),
               q = name.contains("attn_q."), o = name.contains("attn_output."),
               gate = name.contains("ffn_gate."), up = name.contains("ffn_up."),
               down = name.contains("ffn_down.");
    const bool more = kMore16.count(i) == 1;
    const G def = defaultTypeFor(ft);
    switch (ft) {
    case F::F32:
    case F::F16:
    case F::BF16:
    case F::Q4_1:
    case F::Q5_1:
    case F::Q3_K_S:
    case F::Q5_K_S:
    case F::Q6_K:
    case F::TQ1_0:
    case F::TQ2_0:
    case F::Q2_0:
    case F::Q1_0:
        if (output && typeFacts(def).isQuantized)
            return G::Q6_K;
        if (token && (ft == F::TQ1_0 || ft == F::TQ2_0 || ft == F::Q2_0))
            return G::Q4_K;
        return def;
    case F::Q4_0:
    case F::Q5_0:
        if (output)
            return G::Q6_K;
        if (down && imatrix && i < 2)
            return ft == F::Q4_0 ? G::Q4_1 : G::Q5_1;
        return def;
    case F::Q8_0:
    case F::MXFP4_MOE:
        return G::Q8_0; // output stays Q8_0; MXFP4 only for 3-D expert stacks
    case F::Q2_K:
        return output ? G::Q6_K : v ? G::Q4_K : (down || o) ? G::Q3_K : G::Q2_K;
    case F::Q2_K_S:
        return output ? G::Q6_K : v ? G::Q4_K : (down && i < 2) ? G::Q4_K : G::Q2_K;
    case F::Q3_K_M:
        if (output)
            return G::Q6_K;
        if (v)
            return i < 2 ? G::Q5_K : G::Q4_K;
        if (down)
            return i < 1 ? G::Q5_K : G::Q4_K;
        return o ? G::Q4_K : G::Q3_K;
    case F::Q3_K_L:
        return output ? G::Q6_K : (v || down || o) ? G::Q5_K : G::Q3_K;
    case F::Q4_K_S:
        if (output)
            return G::Q6_K;
        if (v)
            return i < 4 ? G::Q5_K : G::Q4_K;
        return down && i < 2 ? G::Q5_K : G::Q4_K;
    case F::Q4_K_M:
    case F::Q5_K_M:
        if (output)
            return G::Q6_K;
        return (v || down) && more ? G::Q6_K : def;
    case F::IQ4_NL:
    case F::IQ4_XS:
        if (output)
            return G::Q6_K;
        if (v)
            return G::Q5_K;
        return down && !imatrix && i < 2 ? G::Q5_K : def;
    case F::IQ3_S:
        return output ? G::Q6_K : v ? G::Q4_K : G::IQ3_S;
    case F::IQ3_M:
        if (output)
            return G::Q6_K;
        if (v || o)
            return G::Q4_K;
        return down && i < 2 ? G::Q4_K : G::IQ3_S;
    case F::IQ3_XS:
        if (output)
            return G::Q6_K;
        if (v)
            return G::Q4_K;
        if (q || k)
            return G::IQ3_XXS;
        if (gate || up)
            return i >= 2 && i < 14 ? G::IQ3_XXS : G::IQ3_S;
        return G::IQ3_S;
    case F::IQ3_XXS:
        if (output)
            return G::Q5_K;
        if (token || o)
            return G::IQ3_S;
        if (v)
            return G::Q4_K;
        if (q || k)
            return G::IQ2_S;
        if (down && !imatrix)
            return i < 2 ? G::Q4_K : G::Q3_K;
        return G::IQ3_XXS;
    case F::IQ2_XXS:
    case F::IQ2_XS:
    case F::IQ1_S:
    case F::IQ1_M:
        if (output)
            return G::Q5_K;
        if (token)
            return G::Q2_K;
        if (v)
            return G::Q4_K;
        if (down && i < 2)
            return G::Q2_K;
        if (o && (ft == F::IQ1_S || ft == F::IQ1_M))
            return G::IQ2_XXS;
        return def;
    case F::IQ2_S:
    case F::IQ2_M:
        if (output)
            return G::Q5_K;
        if (v)
            return G::Q4_K;
        if (token || o || (down && i < 2))
            return G::IQ3_S;
        return def;
    default:
        break;
    }
    qFatal("no expectation for %s", qPrintable(fileTypeName(ft)));
}

// The first tensor in output order needing an imatrix is blk.0.attn_k.weight for every mix that
// needs one (output.weight and token_embd.weight are exempt), with this type.
std::optional<G> firstRequiring(F ft, bool imatrix)
{
    switch (ft) {
    case F::Q2_K_S: return G::Q2_K;
    case F::IQ2_XXS: return G::IQ2_XXS;
    case F::IQ2_XS:
    case F::IQ2_S: return G::IQ2_XS;
    case F::IQ2_M:
    case F::IQ3_XXS: return G::IQ2_S;
    case F::IQ3_XS: return G::IQ3_XXS;
    case F::IQ1_S: return G::IQ1_S;
    case F::IQ1_M: return G::IQ1_M;
    default: Q_UNUSED(imatrix); return std::nullopt;
    }
}

} // namespace

class TestQuantMixRules : public QObject
{
    Q_OBJECT

private slots:
    void categories();
    void moreBits();
    void denseGqa4_data();
    void denseGqa4();
    void neverQuantized();
    void tiedEmbeddingsAndFallbacks();
    void rowsOf200();
    void mixtureOfExperts();
    void is70B();
    void tensorTypeOrderAndCounters();
    void tensorTypeSpelling();
    void tensorTypeWithPureAndFloat();
    void tensorTypeUsageErrors_data();
    void tensorTypeUsageErrors();
    void dedicatedOptionsSkipFallback();
    void pruneLayers();
    void pruneLayersParsing();
    void keepSplitOrder();
    void mtpLayersCount();
};

void TestQuantMixRules::categories()
{
    using C = TensorCategory;
    QCOMPARE(tensorCategory("output.weight"), C::Output);
    QCOMPARE(tensorCategory("token_embd.weight"), C::TokenEmbedding);
    QCOMPARE(tensorCategory("per_layer_token_embd.weight"), C::TokenEmbedding);
    QCOMPARE(tensorCategory("blk.0.attn_qkv.weight"), C::AttnQkv);
    QCOMPARE(tensorCategory("blk.0.attn_kv_b.weight"), C::AttnKvB);
    QCOMPARE(tensorCategory("blk.0.attn_v.weight"), C::AttnV);
    QCOMPARE(tensorCategory("blk.3.ffn_up_exps.weight"), C::FfnUp);
    QCOMPARE(tensorCategory("blk.3.ffn_gate_shexp.weight"), C::FfnGate);
    QCOMPARE(tensorCategory("blk.3.ffn_down_exps.weight"), C::FfnDown);
    QCOMPARE(tensorCategory("blk.3.ffn_norm.weight"), C::Other);
    QCOMPARE(tensorCategory("output_norm.weight"), C::Other);
    for (C c : {C::AttnV, C::AttnQkv, C::AttnKvB})
        QVERIFY(isAttnVLike(c));
    QVERIFY(!isAttnVLike(C::AttnK));
}

void TestQuantMixRules::moreBits()
{
    // Written out from the definition: i < n/8, i >= 7n/8 or (i - n/8) % 3 == 2. For n = 2 only
    // layer 1 qualifies (0 < 0, 0 >= 1 and 0 % 3 == 2 are all false); llama.cpp's Q4_K_M file of
    // the 2-layer synth-a model agrees (blk.0.attn_v q4_K, blk.1.attn_v q6_K).
    const std::map<int, std::set<int>> lists = {
        {22, {0, 1, 4, 7, 10, 13, 16, 19, 20, 21}},
        {28, {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27}},
        {2, {1}},
        {16, kMore16},
    };
    for (const auto &[n, set] : lists) {
        for (int i = 0; i < n; ++i)
            QCOMPARE(useMoreBits(i, n), set.count(i) == 1);
    }
}

void TestQuantMixRules::denseGqa4_data()
{
    QTest::addColumn<int>("fileType");
    QTest::addColumn<bool>("imatrix");
    for (const auto &f : allFileTypes()) {
        if (!f.supported)
            continue;
        for (bool im : {false, true})
            QTest::newRow(qPrintable(QStringLiteral("%1%2")
                                         .arg(QLatin1String(f.name.data(), qsizetype(f.name.size())),
                                              im ? QStringLiteral("+imatrix") : QString())))
                << int(f.fileType) << im;
    }
}

void TestQuantMixRules::denseGqa4()
{
    QFETCH(int, fileType);
    QFETCH(bool, imatrix);
    const F ft = F(fileType);
    const GgufLayout layout = model(16, 256, 512, 8, 2); // GQA 4
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, ft, imatrixOptions(imatrix));
    QVERIFY(plan.refusal.isEmpty());
    QCOMPARE(plan.nFallbacks, 0u);
    int nRules = 0;
    for (const auto &p : plan.tensors) {
        const G want = p.source.effectiveDims() == 1 ? G::F32 : expected16(ft, imatrix, p.name);
        if (p.targetType != want)
            QFAIL(qPrintable(QStringLiteral("%1: got %2, expected %3 (%4)")
                                 .arg(QString::fromUtf8(p.name), ggmlTypeName(p.targetType),
                                      ggmlTypeName(want), p.note)));
        nRules += p.decidedBy == TypeDecision::MixRules;
    }
    // 16 x 7 layer matrices + token_embd + output decided by the rules when the bulk type is
    // quantized; none when it is a float type.
    QCOMPARE(nRules, typeFacts(defaultTypeFor(ft)).isQuantized ? 16 * 7 + 2 : 0);
    // The importance-matrix requirement: exactly the mixes the file-type table marks.
    const auto first = firstRequiring(ft, imatrix);
    QCOMPARE(plan.imatrixRequiredBy.has_value(), first.has_value());
    QCOMPARE(fileTypeFacts(ft).needsImatrix, first.has_value());
    if (first) {
        QCOMPARE(plan.imatrixRequiredBy->tensor, QByteArray("blk.0.attn_k.weight"));
        QCOMPARE(plan.imatrixRequiredBy->type, *first);
        const QString message = imatrixRequirementMessage(plan);
        QVERIFY2(message.contains(QLatin1String("requires an importance matrix"))
                     && message.contains(QLatin1String("blk.0.attn_k.weight"))
                     && message.contains(ggmlTypeName(*first)),
                 qPrintable(message));
    }
}

void TestQuantMixRules::neverQuantized()
{
    QuantOptions o;
    auto t = [](const QByteArray &name, std::uint64_t ne0 = 256, std::uint64_t ne1 = 256) {
        GgufTensorInfo info;
        info.name = name;
        info.ne = {ne0, ne1, 1, 1};
        return info;
    };
    for (const char *name : {"blk.0.ffn_gate_inp.weight", "blk.0.altup_proj.weight",
                             "blk.0.laurel_l.weight", "per_layer_model_proj.weight",
                             "blk.0.ssm_conv1d.weight", "blk.0.shortconv.conv.weight",
                             "blk.0.indexer.k_proj.weight", "blk.0.time_mix_w0.weight",
                             "blk.0.time_mix_g2.weight", "blk.0.attn_rel_b.weight",
                             "v.position_embd.weight", "v.patch_embd.weight",
                             "mm.a.code_embd.weight", "position_embd.weight", "token_types.weight",
                             "blk.0.attn_norm.weight", "blk.0.attn_q.bias",
                             "blk.0.ffn_gate_tid2eid.weight"})
        QVERIFY2(!isQuantizableTensor(t(name), o), name);
    QVERIFY(!isQuantizableTensor(t("blk.0.attn_q.weight", 256, 1), o)); // 1-D after trimming
    QVERIFY(isQuantizableTensor(t("blk.0.attn_q.weight"), o));
    QVERIFY(isQuantizableTensor(t("per_layer_token_embd.weight"), o));
    o.leaveOutputTensor = true;
    QVERIFY(!isQuantizableTensor(t("output.weight"), o));
}

void TestQuantMixRules::tiedEmbeddingsAndFallbacks()
{
    // 8 layers, tied, rows of 288 (attention, gate, up; 288 % 256 = 32, 288 % 32 = 0) and 416
    // (ffn_down; 416 % 256 = 160, 416 % 64 = 32), GQA 2. more(i, 8) = {0, 3, 6, 7}.
    const GgufLayout layout = model(8, 288, 416, 8, 4, true);
    const std::set<int> more8 = {0, 3, 6, 7};
    {
        const QuantPlan p = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
        // Tied: token_embd takes rule O; 288 % 256 != 0 sends it to Q8_0 (no fallback needed).
        QCOMPARE(typeOf(p, "token_embd.weight"), G::Q8_0);
        for (int i = 0; i < 8; ++i) {
            QCOMPARE(typeOf(p, blk(i, "attn_q.weight")), G::Q5_0); // Q4_K -> Q5_0
            QCOMPARE(typeOf(p, blk(i, "attn_v.weight")), more8.count(i) ? G::Q8_0 : G::Q5_0);
            QCOMPARE(typeOf(p, blk(i, "ffn_down.weight")), more8.count(i) ? G::Q8_0 : G::Q5_0);
        }
        QCOMPARE(p.nFallbacks, 8u * 7u); // every layer matrix; token_embd went to Q8_0 by rule
        QVERIFY(p.warnings.join(u'\n').contains(QLatin1String("56 of 74 tensor(s) required fallback")));
    }
    // b10472's table: Q2_K and Q3_K fall back to Q4_0 (c392e50: IQ4_NL).
    const QuantPlan q2 = makeQuantPlan(layout.metadata, layout.tensors, F::Q2_K);
    QCOMPARE(typeOf(q2, "blk.0.attn_q.weight"), G::Q4_0);     // Q2_K
    QCOMPARE(typeOf(q2, "blk.0.attn_v.weight"), G::Q4_0);     // Q3_K (GQA 2)
    QCOMPARE(typeOf(q2, "blk.0.ffn_down.weight"), G::Q4_0);   // Q3_K
    QCOMPARE(typeOf(q2, "token_embd.weight"), G::Q8_0);
    const QuantPlan q3 = makeQuantPlan(layout.metadata, layout.tensors, F::Q3_K_S);
    QCOMPARE(typeOf(q3, "blk.5.ffn_up.weight"), G::Q4_0);
    const QuantPlan q5 = makeQuantPlan(layout.metadata, layout.tensors, F::Q5_K_M);
    QCOMPARE(typeOf(q5, "blk.1.attn_q.weight"), G::Q5_1);     // Q5_K -> Q5_1
    QCOMPARE(typeOf(q5, "blk.0.ffn_down.weight"), G::Q8_0);   // Q6_K -> Q8_0
    const QuantPlan iq4 = makeQuantPlan(layout.metadata, layout.tensors, F::IQ4_XS);
    QCOMPARE(typeOf(iq4, "blk.0.attn_q.weight"), G::IQ4_NL);  // IQ4_XS -> IQ4_NL
    QCOMPARE(typeOf(iq4, "blk.0.ffn_down.weight"), G::Q5_1); // Q5_K (i < n/8) -> Q5_1
    QCOMPARE(typeOf(iq4, "blk.1.ffn_down.weight"), G::IQ4_NL);
    // Q2_0 (block 64): tied token_embd 288 % 64 != 0 -> Q8_0 by rule O; the rest -> Q4_0.
    const QuantPlan q20 = makeQuantPlan(layout.metadata, layout.tensors, F::Q2_0);
    QCOMPARE(typeOf(q20, "token_embd.weight"), G::Q8_0);
    QCOMPARE(typeOf(q20, "blk.2.attn_k.weight"), G::Q4_0);
    QCOMPARE(typeOf(q20, "blk.2.ffn_down.weight"), G::Q4_0);
    // Q1_0 (block 128) has no fallback: llama-quantize stops at the first layer matrix.
    const QuantPlan q10 = makeQuantPlan(layout.metadata, layout.tensors, F::Q1_0);
    QVERIFY(!q10.isWritable());
    QVERIFY2(q10.refusal.startsWith(QLatin1String("tensor 'blk.0.attn_k.weight': no tensor type "
                                                  "fallback is defined for type q1_0")),
             qPrintable(q10.refusal));
    // --output-tensor-type reaches a tied token_embd through rule O, so the fallback applies.
    QuantOptions o;
    o.outputTensorType = G::Q4_K;
    const QuantPlan tiedOut = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QCOMPARE(typeOf(tiedOut, "token_embd.weight"), G::Q5_0);
    QCOMPARE(find(tiedOut, "token_embd.weight").decidedBy, TypeDecision::MixRules);
}

void TestQuantMixRules::rowsOf200()
{
    // 4 layers, GQA 4, ffn_down rows of 200 (200 % 32 = 8): K-quants fall back twice, to f16;
    // types without a fallback stop.
    const GgufLayout layout = model(4, 256, 200, 8, 2);
    const QuantPlan km = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    for (int i = 0; i < 4; ++i)
        QCOMPARE(typeOf(km, blk(i, "ffn_down.weight")), G::F16);
    QCOMPARE(typeOf(km, "blk.0.ffn_up.weight"), G::Q4_K); // 256-wide rows are fine
    QVERIFY(km.isWritable());
    QCOMPARE(km.nFallbacks, 4u);
    const QuantPlan iq = makeQuantPlan(layout.metadata, layout.tensors, F::IQ3_S);
    QCOMPARE(typeOf(iq, "blk.3.ffn_down.weight"), G::F16); // IQ3_S -> IQ4_NL -> f16
    for (F ft : {F::Q4_0, F::Q5_1, F::Q8_0, F::IQ4_NL, F::MXFP4_MOE}) {
        const QuantPlan p = makeQuantPlan(layout.metadata, layout.tensors, ft);
        QVERIFY(!p.isWritable());
        const G bulk = ft == F::MXFP4_MOE ? G::Q8_0 : defaultTypeFor(ft);
        QVERIFY2(p.refusal == QStringLiteral("tensor 'blk.0.ffn_down.weight': no tensor type "
                                             "fallback is defined for type %1 (its rows have 200 "
                                             "values, not a multiple of the block size 32)")
                                  .arg(ggmlTypeName(bulk)),
                 qPrintable(p.refusal));
    }
}

void TestQuantMixRules::mixtureOfExperts()
{
    // 4 layers, 8 experts as 3-D stacks, GQA 4, plus a shared expert; more(i, 4) = {2, 3}.
    GgufLayout layout;
    auto &md = layout.metadata;
    md.set("general.architecture", GgufValue::fromString(QByteArray("llama")));
    md.set("llama.block_count", GgufValue::u32(4));
    md.set("llama.attention.head_count", GgufValue::u32(8));
    md.set("llama.attention.head_count_kv", GgufValue::u32(2));
    md.set("llama.expert_count", GgufValue::u32(8));
    auto add = [&](const QByteArray &name, std::uint64_t a, std::uint64_t b, std::uint64_t c = 1) {
        GgufTensorInfo t;
        t.name = name;
        t.ne = {a, b, c, 1};
        t.nDims = t.effectiveDims();
        t.type = G::F16;
        layout.tensors.push_back(t);
    };
    add("token_embd.weight", 256, 512);
    add("output.weight", 256, 512);
    add("output_norm.weight", 256, 1);
    for (int i = 0; i < 4; ++i) {
        add(blk(i, "attn_q.weight"), 256, 256);
        add(blk(i, "attn_k.weight"), 256, 64);
        add(blk(i, "attn_v.weight"), 256, 64);
        add(blk(i, "attn_output.weight"), 256, 256);
        add(blk(i, "ffn_gate_inp.weight"), 256, 8);
        add(blk(i, "ffn_gate_exps.weight"), 256, 512, 8);
        add(blk(i, "ffn_up_exps.weight"), 256, 512, 8);
        add(blk(i, "ffn_down_exps.weight"), 512, 256, 8);
        add(blk(i, "ffn_down_shexp.weight"), 512, 256);
    }
    layout.finalize();
    const QuantPlan mx = makeQuantPlan(layout.metadata, layout.tensors, F::MXFP4_MOE);
    QCOMPARE(typeOf(mx, "output.weight"), G::Q8_0);
    QCOMPARE(typeOf(mx, "token_embd.weight"), G::Q8_0);
    for (int i = 0; i < 4; ++i) {
        for (const char *n : {"ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"})
            QCOMPARE(typeOf(mx, blk(i, n)), G::MXFP4);
        for (const char *n : {"attn_q.weight", "attn_v.weight", "attn_output.weight",
                              "ffn_down_shexp.weight"})
            QCOMPARE(typeOf(mx, blk(i, n)), G::Q8_0);
        QCOMPARE(typeOf(mx, blk(i, "ffn_gate_inp.weight")), G::F16); // the router is copied
    }
    const QuantPlan km = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(typeOf(km, blk(i, "attn_v.weight")), G::Q8_0);
        QCOMPARE(typeOf(km, blk(i, "attn_k.weight")), G::Q8_0);
        QCOMPARE(typeOf(km, blk(i, "attn_output.weight")), G::Q5_K);
        QCOMPARE(typeOf(km, blk(i, "attn_q.weight")), G::Q4_K);
        // The layer comes from the name (two ffn_down tensors per layer).
        const G down = i >= 2 ? G::Q6_K : G::Q4_K;
        QCOMPARE(typeOf(km, blk(i, "ffn_down_exps.weight")), down);
        QCOMPARE(typeOf(km, blk(i, "ffn_down_shexp.weight")), down);
    }
    const QuantPlan iq =
        makeQuantPlan(layout.metadata, layout.tensors, F::IQ2_XXS, imatrixOptions(true));
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(typeOf(iq, blk(i, "attn_v.weight")), G::Q4_K);       // n_expert >= 4
        QCOMPARE(typeOf(iq, blk(i, "attn_k.weight")), G::Q4_K);       // n_expert == 8
        QCOMPARE(typeOf(iq, blk(i, "attn_output.weight")), G::Q5_K);  // n_expert == 8
        QCOMPARE(typeOf(iq, blk(i, "ffn_down_exps.weight")), G::IQ2_XXS); // counter < 4/8 never
    }
    // A MoE tensor whose layer cannot be read from its name is an error, as in llama-quantize.
    GgufLayout bad = layout;
    bad.tensors.back().name = "extra.ffn_down.weight";
    try {
        (void)makeQuantPlan(bad.metadata, bad.tensors, F::Q4_K_M);
        QFAIL("accepted");
    } catch (const Error &e) {
        QCOMPARE(e.message(),
                 QStringLiteral("Failed to determine layer for tensor extra.ffn_down.weight"));
    }
}

void TestQuantMixRules::is70B()
{
    // Metadata-only plans of 80-layer models (GQA 8): Q4_K_S gives attn_v Q5_K for i < 4 and
    // Q4_K after, which the 70B rule lifts to Q5_K; Q3_K_S lifts Q3_K likewise.
    const GgufLayout llama = model(80, 256, 512, 8, 1);
    const GgufLayout mha = model(80, 256, 512, 8, 8);
    const GgufLayout qwen = asArchitecture(llama, "qwen2");
    const GgufLayout qwen79 = asArchitecture(model(79, 256, 512, 8, 1), "qwen2");
    const GgufLayout jais = asArchitecture(model(68, 256, 512, 8, 1), "jais2");
    const GgufLayout gemma = asArchitecture(llama, "gemma");
    struct Case {
        const GgufLayout *layout;
        bool is70B;
    };
    for (const Case &c : {Case{&llama, true}, Case{&qwen, true}, Case{&jais, true},
                          Case{&mha, false}, Case{&qwen79, false}, Case{&gemma, false}}) {
        const QString arch = c.layout->metadata.stringOr("general.architecture");
        const QuantPlan s = makeQuantPlan(c.layout->metadata, c.layout->tensors, F::Q4_K_S);
        QCOMPARE(typeOf(s, "blk.2.attn_v.weight"), G::Q5_K);
        QVERIFY2(typeOf(s, "blk.40.attn_v.weight") == (c.is70B ? G::Q5_K : G::Q4_K), qPrintable(arch));
        const QuantPlan q3 = makeQuantPlan(c.layout->metadata, c.layout->tensors, F::Q3_K_S);
        QVERIFY2(typeOf(q3, "blk.40.attn_v.weight") == (c.is70B ? G::Q5_K : G::Q3_K), qPrintable(arch));
        QCOMPARE(typeOf(q3, "blk.40.attn_q.weight"), G::Q3_K);
    }
}

void TestQuantMixRules::tensorTypeOrderAndCounters()
{
    const GgufLayout layout = model(16, 256, 512, 8, 2);
    // Without patterns, Q3_K_M gives attn_v Q5_K to the first two attn_v tensors (counter < 2)
    // and ffn_down Q5_K to counter 0 only (n/16 = 1).
    const QuantPlan plain = makeQuantPlan(layout.metadata, layout.tensors, F::Q3_K_M);
    QCOMPARE(typeOf(plain, "blk.1.attn_v.weight"), G::Q5_K);
    QCOMPARE(typeOf(plain, "blk.2.attn_v.weight"), G::Q4_K);
    QCOMPARE(typeOf(plain, "blk.1.ffn_down.weight"), G::Q4_K);
    // A pattern decides layer 0's attn_v and ffn_down: the rules and their counters skip them,
    // so layers 1 and 2 now take counters 0 and 1.
    QuantOptions o;
    o.tensorTypes = {parseTensorTypeOverride(QStringLiteral("blk\\.0\\.attn_v=q8_0")),
                     parseTensorTypeOverride(QStringLiteral("blk\\.0\\.ffn_down=q8_0")),
                     parseTensorTypeOverride(QStringLiteral("attn_v=q6_k"))};
    QuantPlan p = makeQuantPlan(layout.metadata, layout.tensors, F::Q3_K_M, o);
    QCOMPARE(typeOf(p, "blk.0.attn_v.weight"), G::Q8_0); // the first matching item wins
    QCOMPARE(find(p, "blk.0.attn_v.weight").decidedBy, TypeDecision::Pattern);
    QCOMPARE(typeOf(p, "blk.0.ffn_down.weight"), G::Q8_0);
    QCOMPARE(typeOf(p, "blk.1.ffn_down.weight"), G::Q5_K); // counter 0
    QCOMPARE(typeOf(p, "blk.2.ffn_down.weight"), G::Q4_K);
    for (int i = 1; i < 16; ++i)
        QCOMPARE(typeOf(p, blk(i, "attn_v.weight")), G::Q6_K); // third item, no rules
    // Only layer 0's attn_v pattern: attn_v of layers 1 and 2 get counters 0 and 1.
    o.tensorTypes.pop_back();
    p = makeQuantPlan(layout.metadata, layout.tensors, F::Q3_K_M, o);
    QCOMPARE(typeOf(p, "blk.2.attn_v.weight"), G::Q5_K);
    QCOMPARE(typeOf(p, "blk.3.attn_v.weight"), G::Q4_K);
    // A pattern naming the bulk type itself still stops the rules for that tensor.
    o.tensorTypes = {parseTensorTypeOverride(QStringLiteral("blk\\.0\\.attn_v=q3_k"))};
    p = makeQuantPlan(layout.metadata, layout.tensors, F::Q3_K_M, o);
    QCOMPARE(typeOf(p, "blk.0.attn_v.weight"), G::Q3_K);
    QCOMPARE(typeOf(p, "blk.2.attn_v.weight"), G::Q5_K);
    // Alternation matching the output and the token embedding, and the fallback after a pattern
    // (288-wide rows: q2_K -> Q4_0; q1_0 has none).
    const GgufLayout wide = model(4, 288, 512, 8, 2);
    o.tensorTypes = {parseTensorTypeOverride(QStringLiteral("^(output|token_embd)\\.weight$=q5_k")),
                     parseTensorTypeOverride(QStringLiteral("ffn_up=q2_k"))};
    p = makeQuantPlan(wide.metadata, wide.tensors, F::Q4_K_M, o);
    QCOMPARE(typeOf(p, "output.weight"), G::Q5_1);
    QCOMPARE(typeOf(p, "token_embd.weight"), G::Q5_1);
    QCOMPARE(typeOf(p, "blk.0.ffn_up.weight"), G::Q4_0);
    QVERIFY(find(p, "blk.0.ffn_up.weight").fellBack);
    o.tensorTypes = {parseTensorTypeOverride(QStringLiteral(".=q1_0"))};
    p = makeQuantPlan(wide.metadata, wide.tensors, F::Q4_K_M, o);
    QVERIFY(p.refusal.contains(QLatin1String("no tensor type fallback is defined for type q1_0")));
}

void TestQuantMixRules::tensorTypeSpelling()
{
    // Patterns are lower-cased (so \D becomes \d), types are case-insensitive.
    const TensorTypeOverride upper = parseTensorTypeOverride(QStringLiteral("BLK\\.\\D\\.ATTN_V=Q8_0"));
    QCOMPARE(upper.pattern, QStringLiteral("blk\\.\\d\\.attn_v"));
    QCOMPARE(upper.type, G::Q8_0);
    QCOMPARE(parseTensorTypeOverride(QStringLiteral("attn_v=NVFP4")).type, G::NVFP4);
    // The first '=' separates: "a=b=q4_0" names the type "b=q4_0".
    QVERIFY_THROWS_EXCEPTION(Error, parseTensorTypeOverride(QStringLiteral("a=b=q4_0")));
    const GgufLayout layout = model(12, 256, 512, 8, 2);
    QuantOptions o;
    o.tensorTypes = {upper};
    const QuantPlan p = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QCOMPARE(typeOf(p, "blk.3.attn_v.weight"), G::Q8_0);
    // \d is one digit: layers 10 and 11 go to the rules, with counters 0 and 1 (the pattern
    // decided layers 0-9); more(1, 12) is false, more(0, 12) true.
    QCOMPARE(typeOf(p, "blk.10.attn_v.weight"), G::Q6_K);
    QCOMPARE(typeOf(p, "blk.11.attn_v.weight"), G::Q4_K);
    // File items: whitespace-separated, in order.
    const auto items = parseTensorTypeItems(QStringLiteral("  attn_v=q8_0\n\tffn_down=Q6_K  \n"),
                                            QStringLiteral("types.txt"));
    QCOMPARE(items.size(), std::size_t(2));
    QCOMPARE(items[1].pattern, QStringLiteral("ffn_down"));
    QCOMPARE(items[1].type, G::Q6_K);
    try {
        parseTensorTypeItems(QStringLiteral("attn_v=q8_0 oops"), QStringLiteral("types.txt"));
        QFAIL("accepted");
    } catch (const Error &e) {
        QVERIFY2(e.message().startsWith(QLatin1String("--tensor-type-file 'types.txt', item 2 "
                                                      "'oops': no '='")),
                 qPrintable(e.message()));
    }
}

void TestQuantMixRules::tensorTypeWithPureAndFloat()
{
    const GgufLayout layout = model(4, 256, 512, 8, 2);
    QuantOptions o;
    o.pure = true;
    o.tensorTypes = {parseTensorTypeOverride(QStringLiteral("attn_v=q8_0"))};
    const QuantPlan pure = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    for (const auto &p : pure.tensors) {
        if (p.source.effectiveDims() < 2)
            continue;
        const bool v = p.name.contains("attn_v");
        QCOMPARE(p.targetType, v ? G::Q8_0 : G::Q4_K); // output and token_embd too
        QCOMPARE(p.decidedBy, v ? TypeDecision::Pattern : TypeDecision::Pure);
    }
    // A float file type ignores patterns (the dedicated options still apply).
    o.pure = false;
    o.outputTensorType = G::Q8_0;
    const QuantPlan f16 = makeQuantPlan(layout.metadata, layout.tensors, F::F16, o);
    QCOMPARE(typeOf(f16, "blk.0.attn_v.weight"), G::F16);
    QCOMPARE(typeOf(f16, "output.weight"), G::Q8_0);
    QCOMPARE(find(f16, "blk.0.attn_v.weight").decidedBy, TypeDecision::FloatDefault);
}

void TestQuantMixRules::tensorTypeUsageErrors_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("error");
    QTest::newRow("no =") << "attn_v" << "no '=' between the pattern and the type";
    QTest::newRow("empty pattern") << "=q8_0" << "the pattern is empty";
    QTest::newRow("empty type") << "attn_v=" << "the type is empty";
    QTest::newRow("unknown type") << "attn_v=q9_9" << "'q9_9' is not a tensor type";
    QTest::newRow("activation type") << "attn_v=q8_K" << "'q8_K' is not a tensor type";
    QTest::newRow("bad regex") << "(attn=q8_0" << "is not a valid regular expression";
}

void TestQuantMixRules::tensorTypeUsageErrors()
{
    QFETCH(QString, text);
    QFETCH(QString, error);
    try {
        (void)parseTensorTypeOverride(text);
        QFAIL("accepted");
    } catch (const Error &e) {
        QVERIFY2(e.message().startsWith(QStringLiteral("--tensor-type '%1': ").arg(text))
                     && e.message().contains(error),
                 qPrintable(e.message()));
    }
}

void TestQuantMixRules::dedicatedOptionsSkipFallback()
{
    // 288-wide rows: --token-embedding-type q4_K is taken as given, without fallback, so the
    // plan cannot be written; --output-tensor-type too.
    const GgufLayout layout = model(4, 288, 512, 8, 2);
    QuantOptions o;
    o.tokenEmbeddingType = G::Q4_K;
    QuantPlan p = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QVERIFY2(p.refusal.startsWith(QLatin1String("tensor 'token_embd.weight': "
                                                "--token-embedding-type q4_K needs rows that are "
                                                "a multiple of 256 values")),
             qPrintable(p.refusal));
    o = {};
    o.outputTensorType = G::IQ4_NL;
    o.tokenEmbeddingType = G::Q8_0;
    p = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QVERIFY(p.refusal.isEmpty());
    QCOMPARE(typeOf(p, "output.weight"), G::IQ4_NL);
    QCOMPARE(find(p, "output.weight").decidedBy, TypeDecision::OutputTensorOption);
    QCOMPARE(typeOf(p, "token_embd.weight"), G::Q8_0);
    // The options win over patterns, and per_layer_token_embd is a token embedding.
    GgufLayout withPle = layout;
    GgufTensorInfo ple = withPle.tensors.front();
    ple.name = "per_layer_token_embd.weight";
    withPle.tensors.push_back(ple);
    o.tensorTypes = {parseTensorTypeOverride(QStringLiteral("embd=q4_0"))};
    p = makeQuantPlan(withPle.metadata, withPle.tensors, F::Q4_K_M, o);
    QCOMPARE(typeOf(p, "per_layer_token_embd.weight"), G::Q8_0);
    // An IQ2_XXS token embedding is exempt from llama-quantize's check but ggml cannot make it
    // without importance data, which llama-imatrix never records for it.
    o = {};
    o.tokenEmbeddingType = G::IQ2_XXS;
    const GgufLayout wide = model(4, 256, 512, 8, 2);
    p = makeQuantPlan(wide.metadata, wide.tensors, F::Q4_K_M, o);
    QVERIFY(p.imatrixRequiredBy);
    QCOMPARE(p.imatrixRequiredBy->tensor, QByteArray("token_embd.weight"));
    QVERIFY(!find(p, "token_embd.weight").requiresImatrix);
    o.tokenEmbeddingType = G::IQ2_S; // ggml manages that one without
    p = makeQuantPlan(wide.metadata, wide.tensors, F::Q4_K_M, o);
    QVERIFY(!p.imatrixRequiredBy);
}

void TestQuantMixRules::pruneLayers()
{
    // 16 layers, GQA 4, with per-layer arrays of 16 items; prune 3 and 5.
    GgufLayout layout = model(16, 256, 512, 8, 2);
    std::vector<GgufValue> kv, ff;
    for (int i = 0; i < 16; ++i) {
        kv.push_back(GgufValue::u32(std::uint32_t(i % 2 ? 2 : 1)));
        ff.push_back(GgufValue::u32(std::uint32_t(1000 + i)));
    }
    layout.metadata.set("llama.attention.head_count_kv",
                        GgufValue::fromArray(GgufValueType::UINT32, kv));
    layout.metadata.set("llama.feed_forward_length", GgufValue::fromArray(GgufValueType::UINT32, ff));
    layout.metadata.set("llama.some_list",
                        GgufValue::fromArray(GgufValueType::UINT32,
                                             std::vector<GgufValue>(3, GgufValue::u32(7))));
    QuantOptions o;
    o.pruneLayers = parsePruneLayers(QStringLiteral("5,3"));
    const QuantPlan p = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    // Layers 0-2 keep their numbers, 4 -> 3, 6 -> 4, ..., 15 -> 13.
    const std::map<int, int> renamed = {{0, 0}, {1, 1}, {2, 2}, {4, 3}, {6, 4}, {15, 13}};
    for (const auto &[from, to] : renamed) {
        const PlannedTensor &t = find(p, blk(to, "attn_q.weight"));
        QCOMPARE(t.source.name, blk(from, "attn_q.weight"));
    }
    QCOMPARE(p.tensors.size(), layout.tensors.size() - 2 * 9);
    for (const auto &t : p.tensors) {
        QVERIFY(!t.source.name.startsWith("blk.3.") && !t.source.name.startsWith("blk.5."));
        QVERIFY(!t.name.startsWith("blk.14.") && !t.name.startsWith("blk.15."));
    }
    // Counters see the kept tensors: attn_v uses more(k, 14) over the 14 kept attn_v, ffn_down
    // more(k, 16) (n_layer stays 16), k = position among the kept layers.
    const std::set<int> more14 = {0, 3, 6, 9, 12, 13}; // i < 1, i >= 12, (i - 1) % 3 == 2
    for (int k = 0; k < 14; ++k) {
        QVERIFY(useMoreBits(k, 14) == (more14.count(k) == 1));
        QCOMPARE(typeOf(p, blk(k, "attn_v.weight")), more14.count(k) ? G::Q6_K : G::Q4_K);
        QCOMPARE(typeOf(p, blk(k, "ffn_down.weight")), kMore16.count(k) ? G::Q6_K : G::Q4_K);
    }
    // block_count is set last (after the other keys); per-layer arrays keep the kept layers'
    // items in place; other arrays are left alone.
    const GgufMetadata &md = p.outputMetadata;
    QCOMPARE(md.entries().back().key, QByteArray("llama.block_count"));
    QCOMPARE(md.find("llama.block_count")->type(), GgufValueType::UINT32);
    QCOMPARE(md.uintOr("llama.block_count", 0), 14u);
    const auto ffOut = md.find("llama.feed_forward_length")->toIntVector();
    QCOMPARE(ffOut, (std::vector<std::int64_t>{1000, 1001, 1002, 1004, 1006, 1007, 1008, 1009,
                                                1010, 1011, 1012, 1013, 1014, 1015}));
    QCOMPARE(md.find("llama.attention.head_count_kv")->arraySize(), std::size_t(14));
    QCOMPARE(md.find("llama.attention.head_count_kv")->elementType(), GgufValueType::UINT32);
    QCOMPARE(md.find("llama.some_list")->arraySize(), std::size_t(3));
    // In place: still right after llama.embedding_length, as in the input.
    for (std::size_t i = 1; i < md.entries().size(); ++i) {
        if (md.entries()[i].key == "llama.feed_forward_length")
            QCOMPARE(md.entries()[i - 1].key, QByteArray("llama.embedding_length"));
    }
    QCOMPARE(p.outputFileBytes, p.outputLayout().fileBytes());
    // Layers beyond the model are reported; pruning the first layer renumbers everything.
    o.pruneLayers = {0, 40};
    const QuantPlan p0 = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QCOMPARE(find(p0, "blk.0.attn_q.weight").source.name, QByteArray("blk.1.attn_q.weight"));
    QCOMPARE(p0.outputMetadata.uintOr("llama.block_count", 0), 15u);
    QVERIFY(p0.warnings.join(u'\n').contains(QLatin1String("no layer 40")));
}

void TestQuantMixRules::pruneLayersParsing()
{
    QCOMPARE(parsePruneLayers(QStringLiteral("3,0,2,2")), (std::vector<int>{0, 2, 3}));
    QCOMPARE(parsePruneLayers(QStringLiteral("7")), (std::vector<int>{7}));
    for (const char *bad : {"", "1,,2", "-1", "1,a", "+3", "1.5", "99999999999", " 1"}) {
        try {
            (void)parsePruneLayers(QString::fromLatin1(bad));
            QFAIL(bad);
        } catch (const Error &e) {
            const QString want = QStringLiteral("--prune-layers '%1'").arg(QLatin1String(bad));
            QVERIFY2(e.message().startsWith(want),
                     qPrintable(e.message()));
        }
    }
}

void TestQuantMixRules::keepSplitOrder()
{
    // Tensors of a split input (shard, offset) keep that order and their shard with
    // --keep-split; the split keys come last in the first file's metadata.
    GgufLayout layout = model(2, 256, 512, 8, 2);
    for (std::size_t i = 0; i < layout.tensors.size(); ++i) {
        layout.tensors[i].shard = i < 8 ? 0 : (i < 16 ? 1 : 2);
        layout.tensors[i].offset = 1000 * (100 - i); // reversed within each shard
    }
    layout.metadata.set("split.count", GgufValue::fromUInt(GgufValueType::UINT16, 3));
    QuantOptions o;
    o.keepSplit = true;
    const QuantPlan p = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M, o);
    QCOMPARE(p.nShards, 3u);
    QCOMPARE(p.tensors.size(), layout.tensors.size());
    QCOMPARE(p.tensors.front().name, layout.tensors[7].name);
    QCOMPARE(p.tensors.back().name, layout.tensors[16].name);
    for (std::size_t i = 1; i < p.tensors.size(); ++i)
        QVERIFY(p.tensors[i - 1].shard <= p.tensors[i].shard);
    const auto &entries = p.outputMetadata.entries();
    QCOMPARE(entries[entries.size() - 3].key, QByteArray("split.no"));
    QCOMPARE(entries[entries.size() - 2].value.type(), GgufValueType::UINT16);
    QCOMPARE(entries.back().key, QByteArray("split.tensors.count"));
    QCOMPARE(entries.back().value.type(), GgufValueType::INT32);
    QCOMPARE(entries.back().value.toInt64(), qint64(layout.tensors.size()));
    const GgufLayout second = p.outputLayout(1);
    QCOMPARE(second.metadata.size(), std::size_t(3));
    QCOMPARE(second.metadata.uintOr("split.no", 9), 1u);
    QCOMPARE(second.tensors.size(), std::size_t(8));
    std::uint64_t total = 0;
    for (std::uint32_t s = 0; s < 3; ++s)
        total += p.outputLayout(s).fileBytes();
    QCOMPARE(p.outputFileBytes, total);
    // Without --keep-split: one file, split keys removed, layer order.
    const QuantPlan merged = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    QCOMPARE(merged.nShards, 1u);
    QVERIFY(!merged.outputMetadata.contains("split.count"));
    QCOMPARE(merged.tensors.front().name, QByteArray("output.weight"));
}

void TestQuantMixRules::mtpLayersCount()
{
    // n_layer of the FFN rules is block_count, MTP layers included: with 16 blocks of which 2
    // are MTP layers, Q4_K_S gives ffn_down Q5_K to i < 16/8 = 2 (not 14/8 = 1).
    GgufLayout layout = model(16, 256, 512, 8, 2);
    layout.metadata.set("llama.nextn_predict_layers", GgufValue::u32(2));
    const QuantPlan p = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_S);
    QCOMPARE(typeOf(p, "blk.1.ffn_down.weight"), G::Q5_K);
    QCOMPARE(typeOf(p, "blk.2.ffn_down.weight"), G::Q4_K);
    // ... while the model-type test (70B) counts the layers without them.
    GgufLayout big = asArchitecture(model(82, 256, 512, 8, 1), "qwen2");
    big.metadata.set("qwen2.nextn_predict_layers", GgufValue::u32(2));
    const QuantPlan q = makeQuantPlan(big.metadata, big.tensors, F::Q3_K_S);
    QCOMPARE(typeOf(q, "blk.40.attn_v.weight"), G::Q5_K);
}

QTEST_APPLESS_MAIN(TestQuantMixRules)
#include "testquantmixrules.moc"
