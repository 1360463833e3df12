#include "llamamodel.h"

#include "matmul.h"

#include "gguf/ggufreader.h"
#include "util/error.h"

namespace QuantFit {

namespace {

// The architectures whose forward pass is the LLaMA graph (inferencesession.cpp), with their RoPE
// mode (normal or NeoX, as llama.cpp's `llama_model_rope_type` assigns it). qwen2 adds Q/K/V
// biases, which are optional for all of them.
struct ArchEntry {
    const char *name;
    RopeType rope;
};
constexpr ArchEntry kArchitectures[] = {
    {"llama", RopeType::Normal},
    {"mistral", RopeType::Normal},
    {"qwen2", RopeType::Neox},
};

QString fileLabel(const GgufFile &file)
{
    return file.path().isEmpty() ? QStringLiteral("<buffer>") : file.path();
}

class Loader
{
public:
    Loader(const GgufFile &file, std::vector<std::vector<float>> &owned)
        : m_file(file), m_owned(owned)
    {
    }

    const GgufTensorInfo *find(const QByteArray &name) const { return m_file.findTensor(name); }

    const GgufTensorInfo &require(const QByteArray &name) const
    {
        const auto *t = find(name);
        if (!t)
            throw Error(QStringLiteral("'%1': required tensor '%2' is missing")
                            .arg(fileLabel(m_file), QString::fromUtf8(name)));
        return *t;
    }

    // A 1-D vector of n floats (norm weights, biases, rope factors). F32 is used in place; other
    // types are decoded into a small owned buffer (vectors only, never matrices).
    const float *vector(const GgufTensorInfo &t, std::int64_t n) const
    {
        if (t.nElements() != std::uint64_t(n))
            throw Error(QStringLiteral("'%1': tensor '%2' has %3 elements, expected %4")
                            .arg(fileLabel(m_file), QString::fromUtf8(t.name))
                            .arg(t.nElements())
                            .arg(n));
        const auto data = m_file.tensorData(t);
        if (t.type == GgmlType::F32
            && reinterpret_cast<std::uintptr_t>(data.data()) % alignof(float) == 0)
            return reinterpret_cast<const float *>(data.data());
        WeightMatrix view = matrixView(t, n, 1);
        std::vector<float> values(static_cast<std::size_t>(n));
        Infer::decodeRow(view, 0, values.data());
        m_owned.push_back(std::move(values));
        return m_owned.back().data();
    }

    const float *optionalVector(const QByteArray &name, std::int64_t n) const
    {
        const auto *t = find(name);
        return t ? vector(*t, n) : nullptr;
    }

    WeightMatrix matrix(const QByteArray &name, std::int64_t nIn, std::int64_t nOut) const
    {
        WeightMatrix w = matrixView(require(name), nIn, nOut);
        QByteArray biasName = name;
        if (biasName.endsWith(".weight")) {
            biasName.chop(7);
            biasName += ".bias";
            w.bias = optionalVector(biasName, nOut);
        }
        return w;
    }

private:
    WeightMatrix matrixView(const GgufTensorInfo &t, std::int64_t nIn, std::int64_t nOut) const
    {
        if (t.ne[0] != std::uint64_t(nIn) || t.nRows() != std::uint64_t(nOut))
            throw Error(QStringLiteral("'%1': tensor '%2' has shape [%3, %4], expected [%5, %6]")
                            .arg(fileLabel(m_file), QString::fromUtf8(t.name))
                            .arg(t.ne[0])
                            .arg(t.nRows())
                            .arg(nIn)
                            .arg(nOut));
        if (!Infer::canDecode(t.type))
            throw Error(QStringLiteral("'%1': tensor '%2' has type %3, which inference cannot read")
                            .arg(fileLabel(m_file), QString::fromUtf8(t.name),
                                 ggmlTypeName(t.type)));
        WeightMatrix w;
        w.name = t.name;
        w.type = t.type;
        w.data = m_file.tensorData(t).data();
        w.nIn = nIn;
        w.nOut = nOut;
        w.rowBytes = t.rowBytes();
        if (w.rowBytes * std::uint64_t(nOut) > t.nBytes)
            throw Error(QStringLiteral("'%1': tensor '%2' is shorter than its shape")
                            .arg(fileLabel(m_file), QString::fromUtf8(t.name)));
        return w;
    }

    const GgufFile &m_file;
    std::vector<std::vector<float>> &m_owned;
};

int checkedDim(const GgufFile &file, std::uint64_t value, const char *key, bool required = true)
{
    if ((required && value == 0) || value > (1u << 24))
        throw FormatError(fileLabel(file), 0, QString::fromLatin1(key),
                          value == 0 ? QStringLiteral("missing or zero")
                                     : QStringLiteral("value %1 is out of range").arg(value));
    return int(value);
}

} // namespace

LlamaModel::LlamaModel(std::shared_ptr<const GgufFile> file) : m_file(std::move(file))
{
    const GgufFile &f = *m_file;
    const QString label = fileLabel(f);
    const auto &md = f.metadata();
    const QString arch = md.stringOr("general.architecture");
    const ArchEntry *entry = nullptr;
    for (const auto &a : kArchitectures) {
        if (arch == QLatin1String(a.name))
            entry = &a;
    }
    if (!entry)
        throw Error(QStringLiteral("'%1': architecture '%2' is not supported for inference "
                                   "(supported: llama, mistral, qwen2)")
                        .arg(label, arch.isEmpty() ? QStringLiteral("(none)") : arch));
    if (f.tensors().empty())
        throw Error(QStringLiteral("'%1' holds only a vocabulary (no tensors): inference needs a "
                                   "model file with weights")
                        .arg(label));

    m_info = modelInfoFrom(f);
    const QByteArray a = arch.toUtf8();
    if (m_info.nExperts > 0)
        throw Error(QStringLiteral("'%1': mixture-of-experts models (%2 experts) are not supported "
                                   "for inference")
                        .arg(label)
                        .arg(m_info.nExperts));

    m_hp.nEmbd = checkedDim(f, m_info.nEmbd, "embedding_length");
    m_hp.nLayers = checkedDim(f, m_info.nLayers, "block_count");
    m_hp.nHeads = checkedDim(f, m_info.nHeads, "attention.head_count");
    m_hp.nHeadsKv = checkedDim(f, m_info.nHeadsKv, "attention.head_count_kv");
    m_hp.headDim = checkedDim(f, m_info.headDim, "attention.key_length");
    m_hp.nRot = checkedDim(f, m_info.nRot, "rope.dimension_count");
    m_hp.nCtxTrain = checkedDim(f, m_info.nCtxTrain, "context_length");
    if (m_info.headDimV && m_info.headDimV != m_info.headDim)
        throw FormatError(label, 0, QString::fromUtf8(a + ".attention.value_length"),
                          QStringLiteral("must equal the key length %1").arg(m_info.headDim));
    if (m_hp.nHeads % m_hp.nHeadsKv != 0)
        throw FormatError(label, 0, QString::fromUtf8(a + ".attention.head_count_kv"),
                          QStringLiteral("%1 does not divide the head count %2")
                              .arg(m_hp.nHeadsKv)
                              .arg(m_hp.nHeads));
    if (m_hp.nRot != m_hp.headDim || m_hp.nRot % 2 != 0)
        throw FormatError(label, 0, QString::fromUtf8(a + ".rope.dimension_count"),
                          QStringLiteral("%1 must equal the (even) head size %2")
                              .arg(m_hp.nRot)
                              .arg(m_hp.headDim));
    if (!md.contains(a + ".attention.layer_norm_rms_epsilon"))
        throw FormatError(label, 0, QString::fromUtf8(a + ".attention.layer_norm_rms_epsilon"),
                          QStringLiteral("required key is missing"));
    m_hp.rmsEps = float(m_info.rmsEps);
    m_hp.ropeFreqBase = float(m_info.ropeFreqBase);
    m_hp.ropeType = entry->rope;

    // RoPE scaling (the rope.scaling.* keys and rope_freqs, as llama.cpp reads them).
    double factor = md.floatOr(a + ".rope.scaling.factor", 0.0);
    if (factor == 0.0)
        factor = md.floatOr(a + ".rope.scale_linear", 0.0);
    m_hp.ropeFreqScale = factor > 0.0 ? float(1.0 / factor) : 1.0f;
    const QString scalingType = md.stringOr(a + ".rope.scaling.type");
    if (scalingType == QLatin1String("none"))
        m_hp.ropeFreqScale = 1.0f;
    m_hp.ropeYarn = scalingType == QLatin1String("yarn");
    m_hp.ropeAttnFactor = float(md.floatOr(a + ".rope.scaling.attn_factor", 1.0));
    if (m_hp.ropeAttnFactor == 0.0f)
        m_hp.ropeAttnFactor = 1.0f;
    m_hp.ropeYarnOrigCtx =
        int(md.uintOr(a + ".rope.scaling.original_context_length", std::uint64_t(m_hp.nCtxTrain)));

    // Tensors.
    Loader load(f, m_owned);
    const auto &embd = load.require("token_embd.weight");
    if (embd.ne[0] != std::uint64_t(m_hp.nEmbd) || embd.nRows() == 0
        || embd.nRows() > (1u << 24))
        throw Error(QStringLiteral("'%1': tensor 'token_embd.weight' has shape [%2, %3], "
                                   "expected [%4, n_vocab]")
                        .arg(label)
                        .arg(embd.ne[0])
                        .arg(embd.nRows())
                        .arg(m_hp.nEmbd));
    m_hp.nVocab = int(embd.nRows());
    m_tokenEmbd = load.matrix("token_embd.weight", m_hp.nEmbd, m_hp.nVocab);
    m_outputNorm = load.vector(load.require("output_norm.weight"), m_hp.nEmbd);
    m_output = load.find("output.weight") ? load.matrix("output.weight", m_hp.nEmbd, m_hp.nVocab)
                                          : m_tokenEmbd;
    m_ropeFreqs = load.optionalVector("rope_freqs.weight", m_hp.nRot / 2);

    const std::int64_t qDim = std::int64_t(m_hp.nHeads) * m_hp.headDim;
    const std::int64_t kvDim = std::int64_t(m_hp.nHeadsKv) * m_hp.headDim;
    m_layers.resize(std::size_t(m_hp.nLayers));
    for (int l = 0; l < m_hp.nLayers; ++l) {
        const QByteArray p = "blk." + QByteArray::number(l) + '.';
        Layer &L = m_layers[std::size_t(l)];
        L.attnNorm = load.vector(load.require(p + "attn_norm.weight"), m_hp.nEmbd);
        L.wq = load.matrix(p + "attn_q.weight", m_hp.nEmbd, qDim);
        L.wk = load.matrix(p + "attn_k.weight", m_hp.nEmbd, kvDim);
        L.wv = load.matrix(p + "attn_v.weight", m_hp.nEmbd, kvDim);
        L.wo = load.matrix(p + "attn_output.weight", qDim, m_hp.nEmbd);
        L.ffnNorm = load.vector(load.require(p + "ffn_norm.weight"), m_hp.nEmbd);
        const auto &up = load.require(p + "ffn_up.weight");
        const std::int64_t nFf = std::int64_t(up.nRows());
        if (nFf <= 0 || nFf > (1 << 24))
            throw Error(QStringLiteral("'%1': tensor '%2' has an invalid shape")
                            .arg(label, QString::fromUtf8(up.name)));
        L.ffnGate = load.matrix(p + "ffn_gate.weight", m_hp.nEmbd, nFf);
        L.ffnUp = load.matrix(p + "ffn_up.weight", m_hp.nEmbd, nFf);
        L.ffnDown = load.matrix(p + "ffn_down.weight", nFf, m_hp.nEmbd);
        m_hp.nFf = std::max(m_hp.nFf, int(nFf));
    }
}

LlamaModel::~LlamaModel() = default;

std::shared_ptr<const LlamaModel> LlamaModel::open(const QString &path)
{
    auto file = std::make_shared<const GgufFile>(GgufFile::open(path));
    return std::make_shared<const LlamaModel>(std::move(file));
}

void LlamaModel::embedToken(std::int32_t token, std::span<float> out) const
{
    if (token < 0 || token >= m_hp.nVocab)
        throw Error(QStringLiteral("token id %1 is outside the vocabulary (0..%2)")
                        .arg(token)
                        .arg(m_hp.nVocab - 1));
    Q_ASSERT(out.size() >= std::size_t(m_hp.nEmbd));
    Infer::decodeRow(m_tokenEmbd, token, out.data());
}

} // namespace QuantFit
