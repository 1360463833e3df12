#include "quantmix.h"

#include "quantplan.h"

#include "util/error.h"

#include <algorithm>

namespace QuantFit {

namespace {

using G = GgmlType;
using F = FileType;

bool contains(const QByteArray &name, const char *part)
{
    return name.contains(part);
}

std::uint32_t firstLayerValue(const GgufMetadata &metadata, const QByteArray &key,
                              std::uint32_t fallback)
{
    const GgufValue *v = metadata.find(key);
    if (!v)
        return fallback;
    if (v->isArray()) {
        // Per-layer arrays: the rules read layer 0, as llama-quantize does.
        if (v->arraySize() == 0 || !v->at(0).isInteger())
            return fallback;
        return std::uint32_t(v->at(0).toUInt64());
    }
    return v->isInteger() ? std::uint32_t(v->toUInt64()) : fallback;
}

std::uint32_t blockSizeOf(GgmlType type)
{
    return typeFacts(type).blockSize;
}

bool isAnyOf(F ft, std::initializer_list<F> list)
{
    return std::find(list.begin(), list.end(), ft) != list.end();
}

// The very low-bit file types (docs/quantization.md, "What the rules look at").
bool isVeryLowBit(F ft)
{
    return isAnyOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ1_S, F::IQ2_S, F::IQ2_M, F::IQ1_M});
}

} // namespace

//
// model facts
//

bool MixModelFacts::isFalcon() const
{
    return architecture == QLatin1String("falcon");
}

bool MixModelFacts::is70B() const
{
    return architecture == QLatin1String("llama") && nLayer == 80 && nHead != nHeadKv;
}

MixModelFacts mixModelFacts(const GgufMetadata &metadata, const std::vector<GgufTensorInfo> &tensors)
{
    MixModelFacts f;
    f.architecture = metadata.stringOr("general.architecture");
    const QByteArray arch = f.architecture.toUtf8();
    f.nLayer = std::uint32_t(metadata.uintOr(arch + ".block_count", 0));
    f.nHead = firstLayerValue(metadata, arch + ".attention.head_count", 0);
    f.nHeadKv = firstLayerValue(metadata, arch + ".attention.head_count_kv", f.nHead);
    f.nExpert = std::uint32_t(metadata.uintOr(arch + ".expert_count", 0));
    for (const auto &t : tensors) {
        if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight")
            || contains(t.name, "attn_kv_b.weight"))
            ++f.nAttentionWv;
        else if (t.name == "output.weight")
            f.hasOutput = true;
    }
    return f;
}

bool useMoreBits(std::int64_t i, std::int64_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

GgmlType defaultTypeFor(FileType fileType)
{
    if (const auto *f = fileTypeFactsFor(static_cast<std::uint32_t>(fileType)))
        return f->defaultType;
    throw Error(QStringLiteral("unknown file type %1").arg(static_cast<std::uint32_t>(fileType)));
}

bool isQuantizableTensor(const GgufTensorInfo &t, const MixModelFacts &facts,
                         const QuantOptions &options, FileType)
{
    const QByteArray &name = t.name;
    if (!name.endsWith("weight"))
        return false;
    if (t.effectiveDims() < 2)
        return false;
    if (contains(name, "_norm.weight"))
        return false;
    if (options.leaveOutputTensor && name == "output.weight")
        return false;
    if (contains(name, "ffn_gate_inp.weight"))
        return false;
    if (name == "position_embd.weight" || name == "token_types.weight")
        return false;
    static constexpr const char *kNever[] = {
        "ssm_conv1d.weight",       "time_mix_first.weight",    "time_mix_w1.weight",
        "time_mix_w2.weight",      "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    };
    for (const char *part : kNever) {
        if (contains(name, part))
            return false;
    }
    Q_UNUSED(facts);
    return true;
}

//
// the rules of docs/quantization.md, "Per-tensor rules", evaluated top-down
//

MixRules::MixRules(FileType fileType, const MixModelFacts &facts, const QuantOptions &options)
    : m_fileType(fileType)
    , m_defaultType(defaultTypeFor(fileType))
    , m_facts(facts)
    , m_options(options)
{
}

void MixRules::layerInfo(int counter, const QByteArray &name, int &i, int &n) const
{
    n = int(m_facts.nLayer);
    i = counter;
    if (m_facts.nExpert > 1) {
        // MoE models take the layer from the name: expert tensors are not one per layer in order.
        i = -1;
        if (name.startsWith("blk.")) {
            const qsizetype dot = name.indexOf('.', 4);
            bool ok = false;
            const int v = name.mid(4, dot - 4).toInt(&ok);
            if (ok)
                i = v;
        }
        if (i < 0 || i >= n)
            throw Error(QStringLiteral("tensor '%1': cannot determine its layer (0..%2)")
                            .arg(QString::fromUtf8(name))
                            .arg(n - 1));
    }
}

GgmlType MixRules::choose(const GgufTensorInfo &tensor, QString &note)
{
    GgmlType type = m_defaultType;
    const bool quantizedDefault = typeFacts(m_defaultType).isQuantized;
    if (!m_options.pure && quantizedDefault) {
        type = applyRules(tensor, type, note);
        type = applyFallback(tensor, type, note);
    }
    if (m_options.tokenEmbeddingType && tensor.name == "token_embd.weight") {
        type = *m_options.tokenEmbeddingType;
        note = QStringLiteral("--token-embedding-type");
    } else if (m_options.outputTensorType && tensor.name == "output.weight") {
        type = *m_options.outputTensorType;
        note = QStringLiteral("--output-tensor-type");
    }
    return type;
}

GgmlType MixRules::applyRules(const GgufTensorInfo &t, GgmlType type, QString &note)
{
    const QByteArray &name = t.name;
    const F ft = m_fileType;
    const auto &facts = m_facts;
    const std::uint32_t nGqa = facts.nGqa();
    const std::uint32_t nExpert = facts.nExpert;
    const bool falcon = facts.isFalcon();
    const bool hasImatrix = m_options.hasImatrix;
    const GgmlType before = type;
    auto explain = [&](const char *rule) {
        if (type != before)
            note = QString::fromLatin1(rule);
    };

    if (name == "output.weight" || (!facts.hasOutput && name == "token_embd.weight")) {
        // Rule O.
        if (m_options.outputTensorType) {
            type = *m_options.outputTensorType;
        } else if (falcon || t.ne[0] % blockSizeOf(m_defaultType) != 0) {
            type = G::Q8_0;
        } else if (isAnyOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ3_XXS, F::IQ1_S, F::IQ2_S, F::IQ2_M,
                                F::IQ1_M})) {
            type = G::Q5_K;
        } else if (type != G::Q8_0) {
            type = G::Q6_K;
        }
        explain("output tensor");
    } else if (name == "token_embd.weight") {
        // Rule E.
        if (m_options.tokenEmbeddingType)
            type = *m_options.tokenEmbeddingType;
        else if (isAnyOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ1_S, F::IQ1_M}))
            type = G::Q2_K;
        else if (isAnyOf(ft, {F::IQ2_S, F::IQ2_M, F::IQ3_XXS}))
            type = G::IQ3_S;
        else if (isAnyOf(ft, {F::TQ1_0, F::TQ2_0}))
            type = G::Q4_K;
        explain("token embedding");
    } else if (isVeryLowBit(ft)) {
        // Rule X.
        const bool s2 = isAnyOf(ft, {F::IQ2_S, F::IQ2_M});
        if (contains(name, "attn_v.weight")) {
            if (nGqa >= 4 || nExpert >= 4)
                type = G::Q4_K;
            else
                type = s2 ? G::IQ3_S : G::Q2_K;
            ++m_iAttentionWv;
            explain("attn_v bump");
        } else if (nExpert == 8 && contains(name, "attn_k.weight")) {
            type = G::Q4_K;
            explain("attn_k (8 experts)");
        } else if (contains(name, "ffn_down")) {
            if (m_iFfnDown < int(facts.nLayer / 8))
                type = s2 ? G::IQ3_S : G::Q2_K;
            ++m_iFfnDown;
            explain("ffn_down, first layers");
        } else if (contains(name, "attn_output.weight")) {
            if (nExpert == 8)
                type = G::Q5_K;
            else if (isAnyOf(ft, {F::IQ1_S, F::IQ1_M}))
                type = G::IQ2_XXS;
            else if (s2)
                type = G::IQ3_S;
            explain("attn_output");
        }
    } else if (contains(name, "attn_v.weight")) {
        // Rule V.
        const int i = m_iAttentionWv;
        const int nv = int(facts.nAttentionWv);
        if (ft == F::Q2_K)
            type = nGqa >= 4 ? G::Q4_K : G::Q3_K;
        else if (ft == F::Q2_K_S && nGqa >= 4)
            type = G::Q4_K;
        else if (ft == F::IQ3_XXS)
            type = nGqa >= 4 ? G::Q4_K : (hasImatrix ? G::IQ3_XXS : G::IQ3_S);
        else if ((ft == F::IQ3_XS || ft == F::IQ3_S) && nGqa >= 4)
            type = G::Q4_K;
        else if (ft == F::IQ3_M)
            type = G::Q4_K;
        else if (ft == F::Q3_K_M)
            type = i < 2 ? G::Q5_K : G::Q4_K;
        else if (ft == F::Q3_K_L)
            type = G::Q5_K;
        else if ((ft == F::IQ4_NL || ft == F::IQ4_XS) && nGqa >= 4)
            type = G::Q5_K;
        else if ((ft == F::Q4_K_M || ft == F::Q5_K_M) && useMoreBits(i, nv))
            type = G::Q6_K;
        else if (ft == F::Q4_K_S && i < 4)
            type = G::Q5_K;
        if (facts.is70B() && (type == G::Q3_K || type == G::Q4_K))
            type = G::Q5_K;
        if (nExpert == 8)
            type = G::Q8_0;
        ++m_iAttentionWv;
        explain("attn_v bump");
    } else if (contains(name, "attn_k.weight")) {
        // Rule K.
        if (nExpert == 8)
            type = G::Q8_0;
        else if (ft == F::IQ3_XS)
            type = G::IQ3_XXS;
        else if (ft == F::IQ3_XXS)
            type = G::IQ2_S;
        explain("attn_k");
    } else if (contains(name, "attn_q.weight")) {
        // Rule Q.
        if (ft == F::IQ3_XS)
            type = G::IQ3_XXS;
        else if (ft == F::IQ3_XXS)
            type = G::IQ2_S;
        explain("attn_q");
    } else if (contains(name, "ffn_down")) {
        // Rule D.
        int i = 0;
        int n = 0;
        layerInfo(m_iFfnDown, name, i, n);
        if (ft == F::Q2_K) {
            type = G::Q3_K;
        } else if (ft == F::Q2_K_S) {
            if (i < n / 8)
                type = G::Q4_K;
        } else if (ft == F::IQ3_XXS && !hasImatrix) {
            type = i < n / 8 ? G::Q4_K : G::Q3_K;
        } else if (ft == F::Q3_K_M) {
            type = i < n / 16 ? G::Q5_K : ((!falcon || useMoreBits(i, n)) ? G::Q4_K : G::Q3_K);
        } else if (ft == F::IQ3_M && (i < n / 8 || (nExpert == 8 && useMoreBits(i, n)))) {
            type = G::Q4_K;
        } else if (ft == F::Q3_K_L) {
            type = falcon ? G::Q4_K : G::Q5_K;
        } else if (ft == F::Q4_K_M) {
            if (falcon)
                type = i < n / 16 ? G::Q6_K : (useMoreBits(i, n) ? G::Q5_K : G::Q4_K);
            else if (useMoreBits(i, n))
                type = G::Q6_K;
        } else if (i < n / 8 && (ft == F::IQ4_NL || ft == F::IQ4_XS) && !hasImatrix) {
            type = G::Q5_K;
        } else if (ft == F::Q5_K_M && useMoreBits(i, n)) {
            type = G::Q6_K;
        } else if (ft == F::Q4_K_S && !falcon && i < n / 8) {
            type = G::Q5_K;
        } else if ((ft == F::Q4_0 || ft == F::Q5_0) && hasImatrix && i < n / 8) {
            type = ft == F::Q4_0 ? G::Q4_1 : G::Q5_1;
        }
        ++m_iFfnDown;
        explain("ffn_down bump");
    } else if (contains(name, "attn_output.weight")) {
        // Rule A.
        if (!falcon) {
            if (nExpert == 8) {
                if (isAnyOf(ft, {F::Q2_K, F::IQ3_XS, F::IQ3_XXS, F::Q3_K_S, F::Q3_K_M, F::IQ4_NL,
                                 F::Q4_K_S, F::Q4_K_M, F::IQ3_S, F::IQ3_M, F::IQ4_XS}))
                    type = G::Q5_K;
            } else {
                if (ft == F::Q2_K)
                    type = G::Q3_K;
                else if (ft == F::IQ3_XXS)
                    type = G::IQ3_S;
                else if (ft == F::Q3_K_M)
                    type = G::Q4_K;
                else if (ft == F::Q3_K_L)
                    type = G::Q5_K;
                else if (ft == F::IQ3_M)
                    type = G::Q4_K;
            }
        } else if (ft == F::Q3_K_L) {
            type = G::Q4_K;
        }
        explain("attn_output bump");
    } else if (contains(name, "attn_qkv.weight")) {
        // Rule QKV.
        if (isAnyOf(ft, {F::Q3_K_M, F::Q3_K_L, F::IQ3_M}))
            type = G::Q4_K;
        else if (ft == F::Q4_K_M)
            type = G::Q5_K;
        else if (ft == F::Q5_K_M)
            type = G::Q6_K;
        explain("attn_qkv bump");
    } else if (contains(name, "ffn_gate")) {
        // Rule G.
        int i = 0;
        int n = 0;
        layerInfo(m_iFfnGate, name, i, n);
        if (ft == F::IQ3_XS && i >= n / 8 && i < 7 * n / 8)
            type = G::IQ3_XXS;
        ++m_iFfnGate;
        explain("ffn_gate, middle layers");
    } else if (contains(name, "ffn_up")) {
        // Rule U.
        int i = 0;
        int n = 0;
        layerInfo(m_iFfnUp, name, i, n);
        if (ft == F::IQ3_XS && i >= n / 8 && i < 7 * n / 8)
            type = G::IQ3_XXS;
        ++m_iFfnUp;
        explain("ffn_up, middle layers");
    }
    return type;
}

//
// rows that do not fit the chosen block size (docs/quantization.md, "Row-size fallback")
//

GgmlType MixRules::applyFallback(const GgufTensorInfo &t, GgmlType type, QString &note)
{
    const std::uint64_t nx = t.ne[0];
    if (nx % blockSizeOf(type) == 0)
        return type;
    GgmlType fallback = G::F16;
    switch (type) {
    case G::TQ1_0:
    case G::TQ2_0:
        fallback = G::Q4_0;
        break;
    case G::IQ2_XXS:
    case G::IQ2_XS:
    case G::IQ2_S:
    case G::IQ3_XXS:
    case G::IQ3_S:
    case G::IQ1_S:
    case G::IQ1_M:
    case G::Q2_K:
    case G::Q3_K:
    case G::IQ4_XS:
        fallback = G::IQ4_NL;
        break;
    case G::Q4_K:
        fallback = G::Q5_0;
        break;
    case G::Q5_K:
        fallback = G::Q5_1;
        break;
    case G::Q6_K:
        fallback = G::Q8_0;
        break;
    default:
        // llama-quantize fails here ("Unsupported tensor size encountered"); we keep the
        // tensor in 16-bit float instead, so models with odd widths still convert.
        break;
    }
    if (nx % blockSizeOf(fallback) != 0)
        fallback = G::F16;
    note = QStringLiteral("fallback: %1 columns not divisible by %2 (%3)")
               .arg(nx)
               .arg(blockSizeOf(type))
               .arg(ggmlTypeName(type));
    ++m_nFallbacks;
    return fallback;
}

} // namespace QuantFit
