#include "modelinfo.h"

#include "gguf/ggufreader.h"
#include "util/error.h"

#include <map>

namespace QuantFit {

QString moeSummary(std::uint32_t nExperts, std::uint32_t nUsed, std::uint32_t nShared)
{
    if (nExperts <= 1)
        return {};
    QString s = QStringLiteral("MoE: %1 experts, %2 active").arg(nExperts).arg(nUsed);
    if (nShared > 0)
        s += QStringLiteral(", %1 shared").arg(nShared);
    return s;
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
    m.nExpertsShared = readCount(md, a + ".expert_shared_count", 0, fileName);
    m.tokenizerModel = md.stringOr("tokenizer.ggml.model");
    m.tokenizerPre = md.stringOr("tokenizer.ggml.pre");

    std::uint32_t vocab = readCount(md, a + ".vocab_size", 0, fileName);
    if (!vocab) {
        if (const auto *tokens = md.find("tokenizer.ggml.tokens"); tokens && tokens->isArray())
            vocab = std::uint32_t(tokens->arraySize());
    }

    bool hasOutput = false;
    bool hasTokenEmbd = false;
    bool hasSharedExpert = false;
    std::map<GgmlType, std::uint64_t> weightElements;
    for (const auto &t : tensors) {
        m.nParams += t.nElements();
        m.tensorBytes += t.nBytes;
        if (t.name == "output.weight")
            hasOutput = true;
        if (t.name == "token_embd.weight") {
            hasTokenEmbd = true;
            if (!vocab)
                vocab = std::uint32_t(t.ne[1]);
        }
        if (t.nDims >= 2)
            weightElements[t.type] += t.nElements();
        if (t.name.contains("_shexp."))
            hasSharedExpert = true;
    }
    if (m.nExpertsShared == 0 && hasSharedExpert && m.nExperts > 1)
        m.nExpertsShared = 1;
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
