#include "modelinfo.h"

#include "gguf/ggufreader.h"
#include "util/error.h"


#include <array>
#include <map>

namespace QuantFit {

namespace {

struct RoleName {
    const char *suffix;
    TensorRole role;
};

// Per-layer tensor names (after "blk.N.") and their roles, gguf-format.md §5.
constexpr std::array kLayerRoles = {
    RoleName{"attn_norm", TensorRole::AttnNorm},
    RoleName{"attn_norm_2", TensorRole::OtherNorm},
    RoleName{"attn_q", TensorRole::AttnQ},
    RoleName{"attn_k", TensorRole::AttnK},
    RoleName{"attn_v", TensorRole::AttnV},
    RoleName{"attn_qkv", TensorRole::AttnQkv},
    RoleName{"attn_output", TensorRole::AttnOutput},
    RoleName{"attn_kv_b", TensorRole::AttnKvB},
    RoleName{"ffn_norm", TensorRole::FfnNorm},
    RoleName{"ffn_gate", TensorRole::FfnGate},
    RoleName{"ffn_up", TensorRole::FfnUp},
    RoleName{"ffn_down", TensorRole::FfnDown},
    RoleName{"ffn_gate_inp", TensorRole::FfnGateInp},
    RoleName{"ffn_gate_exps", TensorRole::FfnGateExps},
    RoleName{"ffn_up_exps", TensorRole::FfnUpExps},
    RoleName{"ffn_down_exps", TensorRole::FfnDownExps},
    RoleName{"ffn_gate_shexp", TensorRole::FfnGateShexp},
    RoleName{"ffn_up_shexp", TensorRole::FfnUpShexp},
    RoleName{"ffn_down_shexp", TensorRole::FfnDownShexp},
};

constexpr std::array kGlobalRoles = {
    RoleName{"token_embd", TensorRole::TokenEmbedding},
    RoleName{"output", TensorRole::Output},
    RoleName{"output_norm", TensorRole::OutputNorm},
    RoleName{"rope_freqs", TensorRole::RopeFreqs},
};

} // namespace

template <std::size_t N>
TensorRole roleOf(const std::array<RoleName, N> &table, const QByteArray &base, bool isBias)
{
    if (isBias)
        return TensorRole::Bias;
    for (const auto &rn : table) {
        if (base == rn.suffix)
            return rn.role;
    }
    return base.endsWith("_norm") ? TensorRole::OtherNorm : TensorRole::Other;
}

TensorName classifyTensor(const QByteArray &name)
{
    TensorName r;
    QByteArray base = name;
    const bool isBias = base.endsWith(".bias");
    if (base.endsWith(".weight"))
        base.chop(7);
    else if (isBias)
        base.chop(5);
    if (base.startsWith("blk.")) {
        const qsizetype dot = base.indexOf('.', 4);
        bool ok = false;
        const int layer = dot > 4 ? base.mid(4, dot - 4).toInt(&ok) : -1;
        if (ok && layer >= 0) {
            r.layer = layer;
            r.role = roleOf(kLayerRoles, base.mid(dot + 1), isBias);
            return r;
        }
    }
    r.role = roleOf(kGlobalRoles, base, isBias);
    return r;
}

QString tensorRoleName(TensorRole role)
{
    for (const auto &rn : kLayerRoles) {
        if (rn.role == role)
            return QString::fromLatin1(rn.suffix);
    }
    for (const auto &rn : kGlobalRoles) {
        if (rn.role == role)
            return QString::fromLatin1(rn.suffix);
    }
    switch (role) {
    case TensorRole::Bias:
        return QStringLiteral("bias");
    case TensorRole::OtherNorm:
        return QStringLiteral("norm");
    default:
        return QStringLiteral("other");
    }
}

double ModelInfo::kvBytesPerToken(double bytesPerElement) const
{
    // K and V per layer: nHeadsKv * headDim elements each.
    return double(nLayers) * double(nHeadsKv) * (double(headDim) + double(headDimV ? headDimV : headDim))
           * bytesPerElement;
}

namespace {

std::uint32_t readCount(const GgufMetadata &md, const QByteArray &key, std::uint32_t fallback,
                        const QString &fileName)
{
    const auto *v = md.find(key);
    if (!v)
        return fallback;
    if (v->isArray()) {
        // Per-layer form: the first layer's value (advisor uses it as representative).
        if (v->arraySize() == 0)
            return fallback;
        const auto &first = v->at(0);
        if (!first.isInteger())
            throw FormatError(fileName, 0, QString::fromUtf8(key),
                              QStringLiteral("expected an array of integers, found %1 items")
                                  .arg(ggufValueTypeName(v->elementType())));
        return std::uint32_t(first.toUInt64());
    }
    if (!v->isInteger())
        throw FormatError(fileName, 0, QString::fromUtf8(key),
                          QStringLiteral("expected an integer, found %1")
                              .arg(ggufValueTypeName(v->type())));
    return std::uint32_t(v->toUInt64());
}

} // namespace

ModelInfo modelInfoFrom(const GgufMetadata &md, const std::vector<GgufTensorInfo> &tensors,
                        const QString &fileName)
{
    ModelInfo m;
    m.architecture = md.stringOr("general.architecture");
    m.name = md.stringOr("general.name");
    const QByteArray a = m.architecture.toUtf8();
    m.nLayers = readCount(md, a + ".block_count", 0, fileName);
    m.nEmbd = readCount(md, a + ".embedding_length", 0, fileName);
    m.nFf = readCount(md, a + ".feed_forward_length", 0, fileName);
    m.nHeads = readCount(md, a + ".attention.head_count", 0, fileName);
    m.nHeadsKv = readCount(md, a + ".attention.head_count_kv", m.nHeads, fileName);
    const std::uint32_t defaultHeadDim = m.nHeads ? m.nEmbd / m.nHeads : 0;
    m.headDim = readCount(md, a + ".attention.key_length", defaultHeadDim, fileName);
    m.headDimV = readCount(md, a + ".attention.value_length", m.headDim, fileName);
    m.nCtxTrain = readCount(md, a + ".context_length", 0, fileName);
    m.nRot = readCount(md, a + ".rope.dimension_count", m.headDim, fileName);
    m.ropeFreqBase = md.floatOr(a + ".rope.freq_base", 10000.0);
    m.ropeScalingType = md.stringOr(a + ".rope.scaling.type");
    m.ropeScalingFactor = md.floatOr(a + ".rope.scaling.factor", 0.0);
    m.rmsEps = md.floatOr(a + ".attention.layer_norm_rms_epsilon", 1e-5);
    m.nExperts = readCount(md, a + ".expert_count", 0, fileName);
    m.nExpertsUsed = readCount(md, a + ".expert_used_count", 0, fileName);
    m.tokenizerModel = md.stringOr("tokenizer.ggml.model");
    m.tokenizerPre = md.stringOr("tokenizer.ggml.pre");

    std::uint32_t vocab = readCount(md, a + ".vocab_size", 0, fileName);
    if (!vocab) {
        if (const auto *tokens = md.find("tokenizer.ggml.tokens"); tokens && tokens->isArray())
            vocab = std::uint32_t(tokens->arraySize());
    }

    bool hasOutput = false;
    bool hasTokenEmbd = false;
    std::map<GgmlType, std::uint64_t> weightElements;
    for (const auto &t : tensors) {
        m.nParams += t.nElements();
        m.tensorBytes += t.nBytes;
        const auto role = classifyTensor(t.name).role;
        if (role == TensorRole::Output)
            hasOutput = true;
        if (role == TensorRole::TokenEmbedding) {
            hasTokenEmbd = true;
            if (!vocab)
                vocab = std::uint32_t(t.ne[1]);
        }
        if (t.nDims >= 2)
            weightElements[t.type] += t.nElements();
    }
    m.nVocab = vocab;
    m.tiedEmbeddings = hasTokenEmbd && !hasOutput;

    if (const auto *ft = md.find("general.file_type"); ft && ft->isInteger())
        m.fileType = static_cast<FileType>(ft->toUInt64());

    // The most common 2-D weight type names the mix when general.file_type is absent.
    GgmlType common = GgmlType::F32;
    std::uint64_t best = 0;
    for (const auto &[type, n] : weightElements) {
        if (n > best) {
            best = n;
            common = type;
        }
    }
    static const std::map<GgmlType, FileType> byType = {
        {GgmlType::F32, FileType::F32},       {GgmlType::F16, FileType::F16},
        {GgmlType::BF16, FileType::BF16},     {GgmlType::Q8_0, FileType::Q8_0},
        {GgmlType::Q4_0, FileType::Q4_0},     {GgmlType::Q4_1, FileType::Q4_1},
        {GgmlType::Q5_0, FileType::Q5_0},     {GgmlType::Q5_1, FileType::Q5_1},
        {GgmlType::Q2_K, FileType::Q2_K},     {GgmlType::Q3_K, FileType::Q3_K_M},
        {GgmlType::Q4_K, FileType::Q4_K_M},   {GgmlType::Q5_K, FileType::Q5_K_M},
        {GgmlType::Q6_K, FileType::Q6_K},     {GgmlType::IQ4_NL, FileType::IQ4_NL},
        {GgmlType::IQ4_XS, FileType::IQ4_XS}, {GgmlType::IQ2_XXS, FileType::IQ2_XXS},
        {GgmlType::IQ2_XS, FileType::IQ2_XS}, {GgmlType::IQ3_XXS, FileType::IQ3_XXS},
        {GgmlType::IQ1_S, FileType::IQ1_S},   {GgmlType::IQ3_S, FileType::IQ3_S},
        {GgmlType::IQ2_S, FileType::IQ2_M},   {GgmlType::IQ1_M, FileType::IQ1_M},
    };
    const auto it = byType.find(common);
    m.guessedFileType = it != byType.end() ? it->second : FileType::Guessed;
    return m;
}

ModelInfo modelInfoFrom(const GgufFile &file)
{
    return modelInfoFrom(file.metadata(), file.tensors(), file.path());
}

} // namespace QuantFit
