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

// The very low-bit file types of rule X (docs/quantization.md, "What the rules look at").
bool isVeryLowBit(F ft)
{
    return isAnyOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ1_S, F::IQ2_S, F::IQ2_M, F::IQ1_M});
}

// Fragments of names llama-quantize never converts: tiny or precision-critical tensors of other
// architectures (MoE routers, RWKV mixing vectors, conv kernels, vision/audio position tables).
constexpr const char *kNeverQuantized[] = {
    "ffn_gate_inp.weight",        "ffn_gate_tid2eid.weight",   "altup",
    "laurel",                     "per_layer_model_proj",      "ssm_conv1d",
    "shortconv.conv.weight",      "indexer.k_proj.weight",     "indexer.q_proj.weight",
    "time_mix_first.weight",      "time_mix_w0.weight",        "time_mix_w1.weight",
    "time_mix_w2.weight",         "time_mix_v0.weight",        "time_mix_v1.weight",
    "time_mix_v2.weight",         "time_mix_a0.weight",        "time_mix_a1.weight",
    "time_mix_a2.weight",         "time_mix_g1.weight",        "time_mix_g2.weight",
    "time_mix_decay_w1.weight",   "time_mix_decay_w2.weight",  "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",          ".position_embd",            "sam.pos_embd",
    "sam.neck.",                  "sam.net_",                  ".rel_pos",
    ".patch_embd",                ".patch_merger",             "a.rvq.codebook",
    "mm.a.code_embd",
};

} // namespace

//
// categories and model facts
//

TensorCategory tensorCategory(const QByteArray &name)
{
    using C = TensorCategory;
    if (name == "output.weight")
        return C::Output;
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight")
        return C::TokenEmbedding;
    // Substring tests in llama.cpp's order: ffn_up before ffn_gate, fused QKV before attn_v.
    static constexpr std::pair<const char *, C> kParts[] = {
        {"attn_qkv.weight", C::AttnQkv},       {"attn_kv_b.weight", C::AttnKvB},
        {"attn_v.weight", C::AttnV},           {"attn_k.weight", C::AttnK},
        {"attn_q.weight", C::AttnQ},           {"attn_output.weight", C::AttnOutput},
        {"ffn_up", C::FfnUp},                  {"ffn_gate", C::FfnGate},
        {"ffn_down", C::FfnDown},
    };
    for (const auto &[part, category] : kParts) {
        if (contains(name, part))
            return category;
    }
    return C::Other;
}

bool isAttnVLike(TensorCategory c)
{
    return c == TensorCategory::AttnV || c == TensorCategory::AttnQkv
        || c == TensorCategory::AttnKvB;
}

bool MixModelFacts::isFalcon() const
{
    return architecture == QLatin1String("falcon");
}

bool MixModelFacts::is70B() const
{
    // llama.cpp reads the model type from the layer count without the MTP layers.
    const std::uint32_t n = nLayer - std::min(nLayerMtp, nLayer);
    if (architecture == QLatin1String("llama"))
        return n == 80 && nHead != nHeadKv && nExpert != 8;
    if (architecture == QLatin1String("deci") || architecture == QLatin1String("olmo")
        || architecture == QLatin1String("qwen2"))
        return n == 80;
    if (architecture == QLatin1String("jais2"))
        return n == 68;
    return false;
}

MixModelFacts mixModelFacts(const GgufMetadata &metadata,
                            const std::vector<GgufTensorInfo> &tensors)
{
    MixModelFacts f;
    f.architecture = metadata.stringOr("general.architecture");
    const QByteArray arch = f.architecture.toUtf8();
    f.nLayer = std::uint32_t(metadata.uintOr(arch + ".block_count", 0));
    f.nLayerMtp = std::uint32_t(metadata.uintOr(arch + ".nextn_predict_layers", 0));
    f.nHead = firstLayerValue(metadata, arch + ".attention.head_count", 0);
    f.nHeadKv = firstLayerValue(metadata, arch + ".attention.head_count_kv", f.nHead);
    f.nExpert = std::uint32_t(metadata.uintOr(arch + ".expert_count", 0));
    for (const auto &t : tensors) {
        const TensorCategory c = tensorCategory(t.name);
        if (isAttnVLike(c))
            ++f.nAttentionWv;
        else if (c == TensorCategory::Output)
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

bool isQuantizableTensor(const GgufTensorInfo &t, const QuantOptions &options)
{
    const QByteArray &name = t.name;
    if (t.effectiveDims() < 2 || !name.endsWith("weight") || contains(name, "_norm.weight"))
        return false;
    if (options.leaveOutputTensor && name == "output.weight")
        return false;
    if (name == "position_embd.weight" || name == "token_types.weight")
        return false;
    return std::none_of(std::begin(kNeverQuantized), std::end(kNeverQuantized),
                        [&](const char *part) { return contains(name, part); });
}

QString notQuantizedReason(const GgufTensorInfo &t, const QuantOptions &options)
{
    const QByteArray &name = t.name;
    if (t.effectiveDims() < 2 || isQuantizableTensor(t, options))
        return {};
    if (!name.endsWith("weight"))
        return QStringLiteral("not a weight: copied");
    if (contains(name, "_norm.weight"))
        return QStringLiteral("norm: copied");
    if (options.leaveOutputTensor && name == "output.weight")
        return QStringLiteral("--leave-output-tensor");
    if (contains(name, "ffn_gate_inp.weight"))
        return QStringLiteral("MoE router: never quantized (it decides which experts run)");
    return QStringLiteral("never quantized (llama-quantize keeps this kind of tensor)");
}

bool tensorRequiresImatrix(const QByteArray &name, GgmlType type, FileType fileType)
{
    const TensorCategory c = tensorCategory(name);
    if (c == TensorCategory::Output || c == TensorCategory::TokenEmbedding)
        return false;
    switch (type) {
    case G::IQ3_XXS:
    case G::IQ2_XXS:
    case G::IQ2_XS:
    case G::IQ2_S:
    case G::IQ1_M:
    case G::IQ1_S:
        return true;
    case G::Q2_K:
        return fileType == F::Q2_K_S;
    default:
        return false;
    }
}

bool typeRequiresImportance(GgmlType type)
{
    return type == G::IQ2_XXS || type == G::IQ2_XS || type == G::IQ1_S;
}

//
// the order of decisions (docs/quantization.md, "Order of decisions")
//

MixRules::MixRules(FileType fileType, const MixModelFacts &facts, const QuantOptions &options)
    : m_fileType(fileType)
    , m_defaultType(defaultTypeFor(fileType))
    , m_facts(facts)
    , m_options(options)
{
    for (const TensorTypeOverride &o : options.tensorTypes) {
        // Compiled once per plan: the patterns are tried against every candidate.
        QRegularExpression re(o.pattern);
        if (!re.isValid())
            throw Error(QStringLiteral("--tensor-type pattern '%1' is not a valid regular "
                                       "expression: %2 at offset %3")
                            .arg(o.pattern, re.errorString())
                            .arg(re.patternErrorOffset()));
        m_patterns.emplace_back(std::move(re), o.type);
    }
}

TypeChoice MixRules::choose(const GgufTensorInfo &tensor)
{
    TypeChoice c;
    const TensorCategory category = tensorCategory(tensor.name);
    if (m_options.tokenEmbeddingType && category == TensorCategory::TokenEmbedding) {
        c.type = *m_options.tokenEmbeddingType;
        c.decidedBy = TypeDecision::TokenEmbeddingOption;
        c.note = QStringLiteral("--token-embedding-type");
        return c;
    }
    if (m_options.outputTensorType && category == TensorCategory::Output) {
        c.type = *m_options.outputTensorType;
        c.decidedBy = TypeDecision::OutputTensorOption;
        c.note = QStringLiteral("--output-tensor-type");
        return c;
    }
    c.type = m_defaultType;
    if (!typeFacts(m_defaultType).isQuantized) {
        c.decidedBy = TypeDecision::FloatDefault;
        return c;
    }
    // The first matching pattern decides, and the mix rules (with their counters) do not run.
    const QString name = m_patterns.empty() ? QString() : QString::fromUtf8(tensor.name);
    const auto pattern = std::find_if(m_patterns.begin(), m_patterns.end(), [&](const auto &p) {
        return p.first.match(name).hasMatch();
    });
    if (pattern != m_patterns.end()) {
        c.type = pattern->second;
        c.decidedBy = TypeDecision::Pattern;
        c.note = QStringLiteral("--tensor-type %1").arg(pattern->first.pattern());
    } else if (m_options.pure) {
        c.decidedBy = TypeDecision::Pure;
    } else {
        c.decidedBy = TypeDecision::MixRules;
        c.type = applyRules(tensor, category, c.type, c.note);
    }
    const GgmlType before = c.type;
    c.type = applyFallback(tensor, c.type, c.note, c.refusal);
    c.fellBack = c.type != before;
    return c;
}

std::pair<int, int> MixRules::layerInfo(int counter, const QByteArray &name) const
{
    const int n = int(m_facts.nLayer);
    if (m_facts.nExpert <= 1)
        return {counter, n};
    // MoE models take the layer from the name: llama.cpp found expert tensors are not always
    // one per layer in order.
    bool ok = false;
    const qsizetype dot = name.indexOf('.', 4);
    const int i = name.startsWith("blk.") && dot > 4 ? name.mid(4, dot - 4).toInt(&ok) : -1;
    if (!ok)
        throw Error(QStringLiteral("Failed to determine layer for tensor %1")
                        .arg(QString::fromUtf8(name)));
    if (i < 0 || i >= n)
        throw Error(QStringLiteral("Bad layer %1 for tensor %2. Must be in [0, %3)")
                        .arg(i)
                        .arg(QString::fromUtf8(name))
                        .arg(n));
    return {i, n};
}

//
// the mix rules (docs/quantization.md, "Per-tensor rules"), first matching branch wins
//

GgmlType MixRules::applyRules(const GgufTensorInfo &t, TensorCategory category, GgmlType type,
                              QString &note)
{
    using C = TensorCategory;
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

    if (category == C::Output || (!facts.hasOutput && category == C::TokenEmbedding)) {
        // Rule O (tied embeddings are the output tensor too).
        if (m_options.outputTensorType)
            type = *m_options.outputTensorType;
        else if (ft == F::MXFP4_MOE)
            type = G::Q8_0;
        else if (falcon || t.ne[0] % blockSizeOf(m_defaultType) != 0)
            type = G::Q8_0;
        else if (isAnyOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ3_XXS, F::IQ1_S, F::IQ2_S, F::IQ2_M,
                              F::IQ1_M}))
            type = G::Q5_K;
        else if (type != G::Q8_0)
            type = G::Q6_K;
        explain(m_options.outputTensorType ? "--output-tensor-type (tied)" : "output tensor");
    } else if (ft == F::MXFP4_MOE) {
        // Rule M: expert stacks MXFP4, everything else Q8_0; no counters.
        type = t.ne[2] > 1 ? G::MXFP4 : G::Q8_0;
        explain("MXFP4_MOE: not an expert stack");
    } else if (category == C::TokenEmbedding) {
        // Rule E.
        if (isAnyOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ1_S, F::IQ1_M}))
            type = G::Q2_K;
        else if (isAnyOf(ft, {F::IQ2_S, F::IQ2_M, F::IQ3_XXS}))
            type = G::IQ3_S;
        else if (isAnyOf(ft, {F::TQ1_0, F::TQ2_0, F::Q2_0}))
            type = G::Q4_K;
        explain("token embedding");
    } else if (isVeryLowBit(ft)) {
        // Rule X.
        const bool s2 = isAnyOf(ft, {F::IQ2_S, F::IQ2_M});
        if (isAttnVLike(category)) {
            if (nGqa >= 4 || nExpert >= 4)
                type = G::Q4_K;
            else
                type = s2 ? G::IQ3_S : G::Q2_K;
            ++m_iAttentionWv;
            explain("attn_v bump");
        } else if (nExpert == 8 && category == C::AttnK) {
            type = G::Q4_K;
            explain("attn_k (8 experts)");
        } else if (category == C::FfnDown) {
            // The raw counter, even for MoE models.
            if (m_iFfnDown < int(facts.nLayer / 8))
                type = s2 ? G::IQ3_S : G::Q2_K;
            ++m_iFfnDown;
            explain("ffn_down, first layers");
        } else if (category == C::AttnOutput) {
            if (nExpert == 8)
                type = G::Q5_K;
            else if (isAnyOf(ft, {F::IQ1_S, F::IQ1_M}))
                type = G::IQ2_XXS;
            else if (s2)
                type = G::IQ3_S;
            explain("attn_output");
        }
    } else if (isAttnVLike(category)) {
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
        // 70B models share each attn_v among 8 heads: it is small, so more bits are cheap.
        if (facts.is70B() && (type == G::Q3_K || type == G::Q4_K))
            type = G::Q5_K;
        if (nExpert == 8)
            type = G::Q8_0;
        ++m_iAttentionWv;
        explain("attn_v bump");
    } else if (category == C::AttnK) {
        // Rule K.
        if (nExpert == 8)
            type = G::Q8_0;
        else if (ft == F::IQ3_XS)
            type = G::IQ3_XXS;
        else if (ft == F::IQ3_XXS)
            type = G::IQ2_S;
        explain("attn_k");
    } else if (category == C::AttnQ) {
        // Rule Q.
        if (ft == F::IQ3_XS)
            type = G::IQ3_XXS;
        else if (ft == F::IQ3_XXS)
            type = G::IQ2_S;
        explain("attn_q");
    } else if (category == C::FfnDown) {
        // Rule D.
        const auto [i, n] = layerInfo(m_iFfnDown, name);
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
            // Only with an imatrix, so a run without one stays what it always was.
            type = ft == F::Q4_0 ? G::Q4_1 : G::Q5_1;
        }
        ++m_iFfnDown;
        explain("ffn_down bump");
    } else if (category == C::AttnOutput) {
        // Rule A.
        if (!falcon) {
            if (nExpert == 8) {
                if (isAnyOf(ft, {F::Q2_K, F::IQ3_XS, F::IQ3_XXS, F::Q3_K_S, F::Q3_K_M, F::IQ4_NL,
                                 F::Q4_K_S, F::Q4_K_M, F::IQ3_S, F::IQ3_M, F::IQ4_XS}))
                    type = G::Q5_K;
            } else if (ft == F::Q2_K) {
                type = G::Q3_K;
            } else if (ft == F::IQ3_XXS) {
                type = G::IQ3_S;
            } else if (ft == F::Q3_K_M || ft == F::IQ3_M) {
                type = G::Q4_K;
            } else if (ft == F::Q3_K_L) {
                type = G::Q5_K;
            }
        } else if (ft == F::Q3_K_L) {
            type = G::Q4_K;
        }
        explain("attn_output bump");
    } else if (category == C::FfnGate || category == C::FfnUp) {
        // Rules G and U (llama.cpp's separate attn_qkv rule after A cannot be reached: fused QKV
        // tensors are attn_v-like and were decided by rule V or X above).
        const bool gate = category == C::FfnGate;
        const auto [i, n] = layerInfo(gate ? m_iFfnGate : m_iFfnUp, name);
        if (ft == F::IQ3_XS && i >= n / 8 && i < 7 * n / 8)
            type = G::IQ3_XXS;
        ++(gate ? m_iFfnGate : m_iFfnUp);
        explain(gate ? "ffn_gate, middle layers" : "ffn_up, middle layers");
    }
    return type;
}

//
// rows that do not fit the chosen block size (docs/quantization.md, "Row-size fallback")
//

GgmlType MixRules::applyFallback(const GgufTensorInfo &t, GgmlType type, QString &note,
                                 QString &refusal)
{
    const std::uint64_t nx = t.ne[0];
    if (nx % blockSizeOf(type) == 0)
        return type;
    GgmlType fallback;
    switch (type) {
    case G::IQ1_S:
    case G::IQ1_M:
    case G::IQ2_XXS:
    case G::IQ2_XS:
    case G::IQ2_S:
    case G::IQ3_XXS:
    case G::IQ3_S:
    case G::IQ4_XS:
        fallback = G::IQ4_NL;
        break;
    case G::Q2_0:
    case G::Q2_K:
    case G::Q3_K:
    case G::TQ1_0:
    case G::TQ2_0:
        fallback = G::Q4_0;
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
        // llama-quantize stops here. The plan keeps f16 as a stand-in so sizes stay defined
        // (the advisor), and refuses to be written.
        refusal = QStringLiteral("tensor '%1': no tensor type fallback is defined for type %2 "
                                 "(its rows have %3 values, not a multiple of the block size %4)")
                      .arg(QString::fromUtf8(t.name), ggmlTypeName(type))
                      .arg(nx)
                      .arg(blockSizeOf(type));
        note = QStringLiteral("no fallback for %1: cannot be written").arg(ggmlTypeName(type));
        ++m_nFallbacks;
        return G::F16;
    }
    // Rows that are not even a multiple of 32 fit no block type: 16-bit float.
    if (nx % blockSizeOf(fallback) != 0)
        fallback = G::F16;
    // Keep the rule that chose the type ("ffn_down bump, then fallback: ..."): with both in the
    // dry run, a user sees why a tensor ended where it did.
    const QString fallbackNote = QStringLiteral("fallback: %1 columns not divisible by %2 (%3)")
                                     .arg(nx)
                                     .arg(blockSizeOf(type))
                                     .arg(ggmlTypeName(type));
    note = note.isEmpty() ? fallbackNote : note + QStringLiteral(", then ") + fallbackNote;
    ++m_nFallbacks;
    return fallback;
}

} // namespace QuantFit
