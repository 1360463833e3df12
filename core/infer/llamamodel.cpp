#include "llamamodel.h"

#include "matmul.h"

#include "gguf/ggufreader.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>

namespace QuantFit {

namespace {

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

    // A 3-D expert tensor [nIn, nOut, nExperts] and its optional bias [nOut, nExperts].
    ExpertTensor experts(const QByteArray &name, std::int64_t nIn, std::int64_t nOut,
                         int nExperts) const
    {
        const auto &t = require(name);
        if (t.ne[2] != std::uint64_t(nExperts) || t.ne[1] != std::uint64_t(nOut))
            throw Error(QStringLiteral("'%1': tensor '%2' has shape [%3, %4, %5], expected "
                                       "[%6, %7, %8]")
                            .arg(fileLabel(m_file), QString::fromUtf8(name))
                            .arg(t.ne[0])
                            .arg(t.ne[1])
                            .arg(t.ne[2])
                            .arg(nIn)
                            .arg(nOut)
                            .arg(nExperts));
        ExpertTensor e;
        e.all = matrixView(t, nIn, nOut * nExperts);
        e.all.nOut = nOut;
        e.nExperts = nExperts;
        QByteArray biasName = name;
        biasName.chop(7);
        e.biases = optionalVector(biasName + ".bias", nOut * nExperts);
        return e;
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
    m_parts = archPartsFor(arch);
    if (!m_parts)
        throw Error(QStringLiteral("'%1': architecture '%2' is not supported for inference "
                                   "(supported: %3)")
                        .arg(label, arch.isEmpty() ? QStringLiteral("(none)") : arch,
                             supportedArchitectures()));
    const ArchParts &parts = *m_parts;
    if (f.tensors().empty())
        throw Error(QStringLiteral("'%1' holds only a vocabulary (no tensors): inference needs a "
                                   "model file with weights")
                        .arg(label));
    const auto unsupported = [&](const QString &what) {
        return Error(QStringLiteral("'%1': architecture '%2': %3 is not supported for inference")
                         .arg(label, arch, what));
    };
    for (const GgufTensorInfo &t : f.tensors()) {
        if (t.name.endsWith(".scale") || t.name.endsWith(".input_scale"))
            throw unsupported(QStringLiteral("the per-tensor scale tensor '%1' (NVFP4 scales)")
                                  .arg(QString::fromUtf8(t.name)));
    }

    m_info = modelInfoFrom(f);
    const QByteArray a = arch.toUtf8();
    const auto key = [&](const char *suffix) -> QByteArray { return a + '.' + suffix; };

    m_hp.nEmbd = checkedDim(f, m_info.nEmbd, "embedding_length");
    m_hp.nLayers = checkedDim(f, m_info.nLayers, "block_count");
    m_hp.nHeads = checkedDim(f, m_info.nHeads, "attention.head_count");
    m_hp.nHeadsKv = checkedDim(f, m_info.nHeadsKv, "attention.head_count_kv");
    m_hp.headDim = checkedDim(f, m_info.headDim, "attention.key_length");
    m_hp.nRot = checkedDim(f, m_info.nRot, "rope.dimension_count");
    m_hp.nCtxTrain = checkedDim(f, m_info.nCtxTrain, "context_length");
    if (m_info.headDimV && m_info.headDimV != m_info.headDim)
        throw FormatError(label, 0, QString::fromUtf8(key("attention.value_length")),
                          QStringLiteral("must equal the key length %1").arg(m_info.headDim));
    if (m_hp.nHeads % m_hp.nHeadsKv != 0)
        throw FormatError(label, 0, QString::fromUtf8(key("attention.head_count_kv")),
                          QStringLiteral("%1 does not divide the head count %2")
                              .arg(m_hp.nHeadsKv)
                              .arg(m_hp.nHeads));
    if (m_hp.nRot > m_hp.headDim || m_hp.nRot % 2 != 0)
        throw FormatError(label, 0, QString::fromUtf8(key("rope.dimension_count")),
                          QStringLiteral("%1 must be even and at most the head size %2")
                              .arg(m_hp.nRot)
                              .arg(m_hp.headDim));
    if (!md.contains(key("attention.layer_norm_rms_epsilon")))
        throw FormatError(label, 0, QString::fromUtf8(key("attention.layer_norm_rms_epsilon")),
                          QStringLiteral("required key is missing"));
    m_hp.rmsEps = float(m_info.rmsEps);
    m_hp.ropeFreqBase = float(m_info.ropeFreqBase);
    m_hp.ropeType = parts.rope;

    // RoPE scaling (the rope.scaling.* keys and rope_freqs, as llama.cpp reads them).
    double factor = md.floatOr(key("rope.scaling.factor"), 0.0);
    if (factor == 0.0)
        factor = md.floatOr(key("rope.scale_linear"), 0.0);
    m_hp.ropeFreqScale = factor > 0.0 ? float(1.0 / factor) : 1.0f;
    const QString scalingType = md.stringOr(key("rope.scaling.type"));
    if (scalingType == QLatin1String("none"))
        m_hp.ropeFreqScale = 1.0f;
    m_hp.ropeYarn = scalingType == QLatin1String("yarn");
    m_hp.ropeAttnFactor = float(md.floatOr(key("rope.scaling.attn_factor"), 1.0));
    if (m_hp.ropeAttnFactor == 0.0f)
        m_hp.ropeAttnFactor = 1.0f;
    m_hp.ropeYarnOrigCtx = int(
        md.uintOr(key("rope.scaling.original_context_length"), std::uint64_t(m_hp.nCtxTrain)));

    // Sliding-window layers and their RoPE (llama.cpp's llama-hparams.cpp and llama-model.cpp).
    int swaPeriod = 0;
    bool hasSwa = false;
    switch (parts.swa) {
    case SlidingWindow::None:
        break;
    case SlidingWindow::Optional:
        m_hp.nSwa = int(std::min<std::uint64_t>(md.uintOr(key("attention.sliding_window"), 0),
                                                1u << 24));
        hasSwa = m_hp.nSwa > 0;
        break;
    case SlidingWindow::Always:
        m_hp.nSwa = int(std::min<std::uint64_t>(
            md.uintOr(key("attention.sliding_window"), std::uint64_t(parts.swaDefaultWindow)),
            1u << 24));
        hasSwa = true;
        break;
    case SlidingWindow::Required:
        if (!md.contains(key("attention.sliding_window")))
            throw FormatError(label, 0, QString::fromUtf8(key("attention.sliding_window")),
                              QStringLiteral("required key is missing"));
        m_hp.nSwa = int(std::min<std::uint64_t>(md.uintOr(key("attention.sliding_window"), 0),
                                                1u << 24));
        hasSwa = true;
        break;
    }
    if (hasSwa && m_hp.nSwa <= 0)
        throw FormatError(label, 0, QString::fromUtf8(key("attention.sliding_window")),
                          QStringLiteral("a window of at least one token"));
    swaPeriod = int(std::min<std::uint64_t>(
        md.uintOr(key("attention.sliding_window_pattern"), std::uint64_t(parts.swaDefaultPeriod)),
        1u << 24));
    m_hp.ropeFreqBaseSwa = float(md.floatOr(
        key("rope.freq_base_swa"), parts.swaRopeBaseDefault.value_or(m_hp.ropeFreqBase)));
    m_hp.ropeFreqScaleSwa = parts.swaFreqScaleOne ? 1.0f : m_hp.ropeFreqScale;

    // Attention scale, soft-capping, embedding scale.
    // Why n_embd / n_head for one layer count: llama.cpp singles out Gemma 2 27B (46 layers)
    // and Gemma 3 27B (62 layers), whose query scale is not 1/sqrt(head_dim).
    const int scaleDim = parts.preScaleEmbdLayers == m_hp.nLayers
        ? std::max(1, m_hp.nEmbd / m_hp.nHeads)
        : m_hp.headDim;
    m_hp.kqScale = 1.0f / std::sqrt(float(scaleDim));
    m_hp.preScaleQuery = parts.preScaleQuery;
    if (parts.attnSoftcap)
        m_hp.attnSoftcap = float(md.floatOr(key("attn_logit_softcapping"), 50.0));
    if (parts.finalSoftcapAlways)
        m_hp.finalSoftcap = float(md.floatOr(key("final_logit_softcapping"), 30.0));
    else if (parts.finalSoftcapOptional)
        m_hp.finalSoftcap = float(md.floatOr(key("final_logit_softcapping"), 0.0));
    if (!(m_hp.attnSoftcap >= 0.0f) || !(m_hp.finalSoftcap >= 0.0f))
        throw FormatError(label, 0, QString::fromUtf8(key("attn_logit_softcapping")),
                          QStringLiteral("a soft-cap of 0 or more"));
    if (parts.embedScale)
        m_hp.embedScale = std::sqrt(float(m_hp.nEmbd));

    // Experts.
    m_hp.nExperts = int(m_info.nExperts);
    m_hp.nExpertsUsed = int(m_info.nExpertsUsed);
    if (m_hp.nExperts > 0 && !parts.moeAllowed)
        throw unsupported(QStringLiteral("mixture of experts (%1 experts)").arg(m_hp.nExperts));
    if (parts.moeRequired && m_hp.nExperts == 0)
        throw FormatError(label, 0, QString::fromUtf8(key("expert_count")),
                          QStringLiteral("required key is missing or zero"));
    if (m_hp.nExperts > 4096)
        throw FormatError(label, 0, QString::fromUtf8(key("expert_count")),
                          QStringLiteral("%1 experts: at most 4096").arg(m_hp.nExperts));
    if (m_hp.nExperts > 0 && (m_hp.nExpertsUsed <= 0 || m_hp.nExpertsUsed > m_hp.nExperts))
        throw FormatError(label, 0, QString::fromUtf8(key("expert_used_count")),
                          QStringLiteral("between 1 and the expert count %1, found %2")
                              .arg(m_hp.nExperts)
                              .arg(m_hp.nExpertsUsed));

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
    if (parts.outputRequired)
        load.require("output.weight");
    m_output = load.find("output.weight") && !parts.lmHeadIsEmbedding
        ? load.matrix("output.weight", m_hp.nEmbd, m_hp.nVocab)
        : m_tokenEmbd;
    m_ropeFreqs = load.optionalVector("rope_freqs.weight", m_hp.nRot / 2);
    // Why also by scaling type: llama.cpp's llama loader reads the long/short factors of files
    // whose rope scaling is `longrope`, as the phi3 loader always does.
    m_longRope = parts.longRope || scalingType == QLatin1String("longrope");
    if (m_longRope) {
        m_ropeFactorsShort = load.optionalVector("rope_factors_short.weight", m_hp.nRot / 2);
        m_ropeFactorsLong = load.optionalVector("rope_factors_long.weight", m_hp.nRot / 2);
    }

    const std::int64_t qDim = std::int64_t(m_hp.nHeads) * m_hp.headDim;
    const std::int64_t kvDim = std::int64_t(m_hp.nHeadsKv) * m_hp.headDim;
    const auto ffnWidth = [&](const GgufTensorInfo &t, std::uint64_t rows) {
        if (rows == 0 || rows > (1u << 24))
            throw Error(QStringLiteral("'%1': tensor '%2' has an invalid shape")
                            .arg(label, QString::fromUtf8(t.name)));
        return std::int64_t(rows);
    };
    m_layers.resize(std::size_t(m_hp.nLayers));
    for (int l = 0; l < m_hp.nLayers; ++l) {
        const QByteArray p = "blk." + QByteArray::number(l) + '.';
        Layer &L = m_layers[std::size_t(l)];
        L.attnNorm = load.vector(load.require(p + "attn_norm.weight"), m_hp.nEmbd);
        if (load.find(p + "attn_qkv.weight")) {
            L.wqkv = load.matrix(p + "attn_qkv.weight", m_hp.nEmbd, qDim + 2 * kvDim);
        } else {
            L.wq = load.matrix(p + "attn_q.weight", m_hp.nEmbd, qDim);
            L.wk = load.matrix(p + "attn_k.weight", m_hp.nEmbd, kvDim);
            L.wv = load.matrix(p + "attn_v.weight", m_hp.nEmbd, kvDim);
        }
        L.wo = load.matrix(p + "attn_output.weight", qDim, m_hp.nEmbd);
        if (parts.qkNorm) {
            L.qNorm = load.vector(load.require(p + "attn_q_norm.weight"), m_hp.headDim);
            L.kNorm = load.vector(load.require(p + "attn_k_norm.weight"), m_hp.headDim);
        }
        if (parts.postNorms) {
            L.postAttnNorm = load.vector(load.require(p + "post_attention_norm.weight"), m_hp.nEmbd);
            L.postFfnNorm = load.vector(load.require(p + "post_ffw_norm.weight"), m_hp.nEmbd);
        }
        if (parts.attnSinks)
            L.sinks = load.vector(load.require(p + "attn_sinks.weight"), m_hp.nHeads);
        L.swa = hasSwa && (swaPeriod == 0 || l % swaPeriod < swaPeriod - 1);
        L.ffnNorm = load.vector(
            load.require(p + (parts.ffnNormIsPostAttention ? "post_attention_norm.weight"
                                                           : "ffn_norm.weight")),
            m_hp.nEmbd);

        if (m_hp.nExperts > 0) {
            L.router = load.matrix(p + "ffn_gate_inp.weight", m_hp.nEmbd, m_hp.nExperts);
            if (!load.find(p + "ffn_gate_exps.weight"))
                throw unsupported(QStringLiteral("experts without '%1' (ungated experts)")
                                      .arg(QString::fromUtf8(p + "ffn_gate_exps.weight")));
            const auto &up = load.require(p + "ffn_up_exps.weight");
            const std::int64_t nFf = ffnWidth(up, up.ne[1]);
            L.gateExps = load.experts(p + "ffn_gate_exps.weight", m_hp.nEmbd, nFf, m_hp.nExperts);
            L.upExps = load.experts(p + "ffn_up_exps.weight", m_hp.nEmbd, nFf, m_hp.nExperts);
            L.downExps = load.experts(p + "ffn_down_exps.weight", nFf, m_hp.nEmbd, m_hp.nExperts);
            m_hp.nFfExpert = std::max(m_hp.nFfExpert, int(nFf));
            m_hp.nFf = std::max(m_hp.nFf, int(nFf));
        } else if (parts.fusedGateUp) {
            const auto &up = load.require(p + "ffn_up.weight");
            const std::int64_t rows = ffnWidth(up, up.nRows());
            if (rows % 2 != 0)
                throw Error(QStringLiteral("'%1': tensor '%2' holds gate and up: an even number "
                                           "of rows expected, found %3")
                                .arg(label, QString::fromUtf8(up.name))
                                .arg(rows));
            L.ffnUp = load.matrix(p + "ffn_up.weight", m_hp.nEmbd, rows);
            L.ffnDown = load.matrix(p + "ffn_down.weight", rows / 2, m_hp.nEmbd);
            m_hp.nFf = std::max(m_hp.nFf, int(rows / 2));
        } else {
            const auto &up = load.require(p + "ffn_up.weight");
            const std::int64_t nFf = ffnWidth(up, up.nRows());
            L.ffnGate = load.matrix(p + "ffn_gate.weight", m_hp.nEmbd, nFf);
            L.ffnUp = load.matrix(p + "ffn_up.weight", m_hp.nEmbd, nFf);
            L.ffnDown = load.matrix(p + "ffn_down.weight", nFf, m_hp.nEmbd);
            m_hp.nFf = std::max(m_hp.nFf, int(nFf));
        }
    }
}

LlamaModel::~LlamaModel() = default;

std::shared_ptr<const LlamaModel> LlamaModel::open(const QString &path)
{
    auto file = std::make_shared<const GgufFile>(GgufFile::open(path));
    return std::make_shared<const LlamaModel>(std::move(file));
}

LlamaModel::LlamaModel(const LlamaModel &base, std::shared_ptr<const LlamaModel> keepAlive)
    : m_file(base.m_file), m_info(base.m_info), m_hp(base.m_hp), m_tokenEmbd(base.m_tokenEmbd),
      m_output(base.m_output), m_outputNorm(base.m_outputNorm), m_ropeFreqs(base.m_ropeFreqs),
      m_ropeFactorsShort(base.m_ropeFactorsShort), m_ropeFactorsLong(base.m_ropeFactorsLong),
      m_longRope(base.m_longRope), m_parts(base.m_parts), m_layers(base.m_layers),
      m_base(std::move(keepAlive))
{
}

std::shared_ptr<const LlamaModel>
LlamaModel::withWeight(std::shared_ptr<const LlamaModel> base, const QByteArray &name,
                       GgmlType type, std::shared_ptr<const std::vector<std::uint8_t>> data)
{
    Q_ASSERT(base && data);
    const QString label = fileLabel(base->file());
    if (!Infer::canDecode(type))
        throw Error(QStringLiteral("'%1': tensor '%2' cannot be replaced by type %3, which "
                                   "inference cannot read")
                        .arg(label, QString::fromUtf8(name), ggmlTypeName(type)));
    std::shared_ptr<LlamaModel> m(new LlamaModel(*base, base));
    int replaced = 0;
    auto replace = [&](WeightMatrix &w, std::uint64_t nMatrices) {
        if (!w.present() || w.name != name)
            return;
        const std::uint64_t rb = rowBytes(typeFacts(type), std::uint64_t(w.nIn));
        const std::uint64_t need = rb * std::uint64_t(w.nOut) * nMatrices;
        if (data->size() < need)
            throw Error(QStringLiteral("'%1': the replacement of tensor '%2' has %3 bytes, %4 "
                                       "needed in %5")
                            .arg(label, QString::fromUtf8(name))
                            .arg(data->size())
                            .arg(need)
                            .arg(ggmlTypeName(type)));
        w.type = type;
        w.data = data->data();
        w.rowBytes = rb;
        ++replaced;
    };
    replace(m->m_tokenEmbd, 1);
    replace(m->m_output, 1);
    for (Layer &L : m->m_layers) {
        for (WeightMatrix *w : {&L.wqkv, &L.wq, &L.wk, &L.wv, &L.wo, &L.ffnGate, &L.ffnUp,
                                &L.ffnDown, &L.router})
            replace(*w, 1);
        for (ExpertTensor *e : {&L.gateExps, &L.upExps, &L.downExps})
            replace(e->all, std::uint64_t(std::max(e->nExperts, 1)));
    }
    if (replaced == 0)
        throw Error(QStringLiteral("'%1': no weight matrix named '%2' to replace")
                        .arg(label, QString::fromUtf8(name)));
    m->m_replacement = std::move(data);
    return m;
}

const float *LlamaModel::ropeFactorsFor(int nCtx) const
{
    if (m_longRope && (m_ropeFactorsShort || m_ropeFactorsLong))
        return nCtx > m_hp.ropeYarnOrigCtx ? m_ropeFactorsLong : m_ropeFactorsShort;
    return m_ropeFreqs;
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
