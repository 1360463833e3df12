// The per-token computation of llama.cpp's decoder graphs (src/models/*.cpp; the parts of each
// architecture are a row of archparts.h) over a batch of tokens:
//  1. embed each token (decode its token_embd row; gemma: times sqrt(n_embd))
//  2. per layer: RMSNorm -> Q, K, V products (fused or separate, + biases) -> per-head q/k
//     RMSNorm (qwen3, gemma3) -> RoPE on Q and K (the layer's base: sliding-window layers may
//     have their own; partial rotary) -> (gemma, phi3: q pre-scaled) -> K, V into the cache ->
//     causal attention per query head (sliding window, soft-capping, sinks) -> output product
//     -> (gemma: RMSNorm) -> residual; RMSNorm -> dense GLU (SwiGLU, GeGLU, fused gate+up) or the
//     expert block of moe.h -> (gemma: RMSNorm) -> residual
//  3. final RMSNorm, the LM head for the tokens whose logits are wanted, (gemma) soft-capping
// Attention follows llama.cpp's flash-attention kernels by default (the tiled one, F32 over the
// F16 cache, for micro-batches of 64+ rows; the one-row one, F16 q and value accumulator, below);
// with flashAttention off, q and the probabilities are rounded to F16 before they meet an F16
// cache, as its plain path converts them to the cache's dot type.

#include "llamamodel.h"

#include "kernels.h"
#include "matmul.h"
#include "moe.h"

#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "util/error.h"
#include "util/fp16.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

namespace QuantFit {

namespace {

constexpr int kDefaultMaxCtx = 4096;
constexpr int kMaxCtx = 1 << 20;

float yarnRamp(float lo, float hi, int i)
{
    const float y = (float(i) - lo) / std::max(0.001f, hi - lo);
    return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

// The RoPE of one kind of layer: global layers use θ_base and freq_scale, sliding-window layers
// θ_base_swa and freq_scale_swa (ggml rope in src/ggml-cpu/ops.cpp; llama-model.cpp).
struct RopeParams {
    float base = 10000.0f;
    float freqScale = 1.0f;
    const float *factors = nullptr;

    bool operator==(const RopeParams &) const = default;
};

// cos/sin of every rotated pair for one position (as ggml's rope in src/ggml-cpu/ops.cpp).
void ropeTable(const LlamaHParams &hp, const RopeParams &rp, int pos, float *cosOut,
               float *sinOut)
{
    const int nPairs = hp.nRot / 2;
    const float *freqFactors = rp.factors;
    const float thetaScale = std::pow(rp.base, -2.0f / float(hp.nRot));
    float lo = 0.0f, hi = 0.0f;
    float mscale = hp.ropeAttnFactor;
    if (hp.ropeYarn) {
        const auto corr = [&](float b) {
            return float(hp.nRot) * std::log(float(hp.ropeYarnOrigCtx) / (b * 2.0f * float(M_PI)))
                / (2.0f * std::log(rp.base));
        };
        lo = std::max(0.0f, std::floor(corr(32.0f)));
        hi = std::min(float(hp.nRot - 1), std::ceil(corr(1.0f)));
        mscale *= 1.0f + 0.1f * std::log(1.0f / rp.freqScale);
    }
    float theta = float(pos);
    for (int i = 0; i < nPairs; ++i) {
        const float extrap = freqFactors ? theta / freqFactors[i] : theta;
        float th = rp.freqScale * extrap;
        if (hp.ropeYarn) {
            const float mix = yarnRamp(lo, hi, i);
            th = th * (1.0f - mix) + extrap * mix;
        }
        cosOut[i] = std::cos(th) * mscale;
        sinOut[i] = std::sin(th) * mscale;
        theta *= thetaScale;
    }
}

void applyRope(float *v, int nHeads, int headDim, int nRot, RopeType type, const float *c,
               const float *s)
{
    const int half = nRot / 2;
    for (int h = 0; h < nHeads; ++h) {
        float *x = v + std::int64_t(h) * headDim;
        for (int i = 0; i < half; ++i) {
            const int i0 = type == RopeType::Normal ? 2 * i : i;
            const int i1 = type == RopeType::Normal ? 2 * i + 1 : i + half;
            const float a = x[i0], b = x[i1];
            x[i0] = a * c[i] - b * s[i];
            x[i1] = a * s[i] + b * c[i];
        }
    }
}

// Runs fn(row) for rows [0, n), on threads when there is enough work.
template <typename Fn>
void forRows(int n, int nThreads, std::int64_t workPerRow, Fn &&fn)
{
    if (n < 2 || std::int64_t(n) * workPerRow < 65536) {
        for (int r = 0; r < n; ++r)
            fn(r);
        return;
    }
    const int rowsPerChunk = std::max(1, n / (nThreads * 4));
    const int nChunks = (n + rowsPerChunk - 1) / rowsPerChunk;
    parallelFor(std::uint64_t(nChunks), nThreads, [&](std::uint64_t chunk) {
        const int begin = int(chunk) * rowsPerChunk;
        const int end = std::min(n, begin + rowsPerChunk);
        for (int r = begin; r < end; ++r)
            fn(r);
    });
}

} // namespace

struct InferenceSession::Buffers {
    std::vector<float> x, xn, q, k, v, qkv, att, tmp, gate, up;
    // cos/sin per token for global layers and (when they differ) sliding-window layers
    std::vector<float> ropeCos, ropeSin, ropeCosSwa, ropeSinSwa;
    Infer::MoeScratch moe;
};

InferenceSession::InferenceSession(std::shared_ptr<const LlamaModel> model,
                                   const SessionOptions &options)
    : m_model(std::move(model)), m_buf(std::make_unique<Buffers>())
{
    const LlamaHParams &hp = m_model->hparams();
    m_nCtx = options.nCtx > 0 ? options.nCtx : std::min(hp.nCtxTrain, kDefaultMaxCtx);
    if (m_nCtx > kMaxCtx)
        throw Error(QStringLiteral("context of %1 tokens is too large (at most %2)")
                        .arg(m_nCtx)
                        .arg(kMaxCtx));
    m_nThreads = options.nThreads > 0 ? options.nThreads : defaultThreadCount();
    m_nBatch = std::clamp(options.nBatch, 1, m_nCtx);
    m_kvType = options.kvType;
    m_roundActivations = options.roundActivations;
    m_flashAttention = options.flashAttention;
    m_attentionRows = std::max(0, options.attentionRows);

    const std::size_t kvDim = std::size_t(hp.nHeadsKv) * std::size_t(hp.headDim);
    const std::size_t kvElements = std::size_t(hp.nLayers) * 2 * std::size_t(m_nCtx) * kvDim;
    m_kvElements = kvElements;
    try {
        if (m_kvType == KvStorageType::F16)
            m_kv16.reset(new std::uint16_t[kvElements]);
        else
            m_kv32.reset(new float[kvElements]);
    } catch (const std::bad_alloc &) {
        throw Error(QStringLiteral("cannot allocate the KV cache (%1 bytes for %2 tokens): "
                                   "not enough memory; use a shorter context")
                        .arg(kvCacheBytes())
                        .arg(m_nCtx));
    }

    const std::size_t nb = std::size_t(m_nBatch);
    const std::size_t qDim = std::size_t(hp.nHeads) * std::size_t(hp.headDim);
    Buffers &b = *m_buf;
    b.x.resize(nb * std::size_t(hp.nEmbd));
    b.xn.resize(nb * std::size_t(hp.nEmbd));
    b.tmp.resize(nb * std::size_t(hp.nEmbd));
    b.q.resize(nb * qDim);
    b.att.resize(nb * qDim);
    b.k.resize(nb * kvDim);
    b.v.resize(nb * kvDim);
    b.gate.resize(nb * std::size_t(hp.nFf));
    b.up.resize(nb * std::size_t(hp.nFf) * (m_model->parts().fusedGateUp ? 2 : 1));
    const auto &layers = m_model->layers();
    if (std::any_of(layers.begin(), layers.end(), [](const auto &L) { return L.wqkv.present(); }))
        b.qkv.resize(nb * (qDim + 2 * kvDim));
    b.ropeCos.resize(nb * std::size_t(hp.nRot / 2));
    b.ropeSin.resize(nb * std::size_t(hp.nRot / 2));
    b.ropeCosSwa.resize(nb * std::size_t(hp.nRot / 2));
    b.ropeSinSwa.resize(nb * std::size_t(hp.nRot / 2));
}

InferenceSession::~InferenceSession() = default;

std::uint64_t InferenceSession::kvCacheBytes() const
{
    return m_kvElements * (m_kvType == KvStorageType::F16 ? sizeof(std::uint16_t) : sizeof(float));
}

void InferenceSession::reset()
{
    m_nPast = 0;
}

std::vector<float> InferenceSession::evaluate(std::span<const std::int32_t> tokens,
                                              bool allLogits, JobContext *ctx)
{
    const std::size_t nVocab = std::size_t(m_model->nVocab());
    std::vector<float> logits(allLogits ? tokens.size() * nVocab : nVocab);
    evaluate(tokens, m_nPast, logits, allLogits, ctx);
    return logits;
}

void InferenceSession::evaluate(std::span<const std::int32_t> tokens, int nPast,
                                std::span<float> logitsOut, bool allLogits, JobContext *ctx)
{
    const int nVocab = m_model->nVocab();
    if (tokens.empty())
        throw Error(QStringLiteral("nothing to evaluate: no tokens"));
    if (nPast < 0 || nPast > m_nPast)
        throw Error(QStringLiteral("cannot continue at position %1: the cache holds %2 tokens")
                        .arg(nPast)
                        .arg(m_nPast));
    if (tokens.size() > std::size_t(m_nCtx - nPast))
        throw Error(QStringLiteral("%1 tokens after position %2 exceed the context of %3 tokens")
                        .arg(tokens.size())
                        .arg(nPast)
                        .arg(m_nCtx));
    const std::size_t need = (allLogits ? tokens.size() : 1) * std::size_t(nVocab);
    if (logitsOut.size() < need)
        throw Error(QStringLiteral("logits buffer holds %1 values, %2 needed")
                        .arg(logitsOut.size())
                        .arg(need));
    for (const std::int32_t t : tokens) {
        if (t < 0 || t >= nVocab)
            throw Error(QStringLiteral("token id %1 is outside the vocabulary (0..%2)")
                            .arg(t)
                            .arg(nVocab - 1));
    }

    m_nPast = nPast;
    const int n = int(tokens.size());
    for (int done = 0; done < n;) {
        const int nStep = std::min(m_nBatch, n - done);
        const bool last = done + nStep == n;
        Output output = Output::None;
        float *dst = nullptr;
        if (allLogits) {
            output = Output::All;
            dst = logitsOut.data() + std::size_t(done) * std::size_t(nVocab);
        } else if (last) {
            output = Output::Last;
            dst = logitsOut.data();
        }
        step(tokens.data() + done, nStep, nPast + done, dst, output, ctx);
        done += nStep;
    }
}

void InferenceSession::observe(const WeightMatrix &w, const float *x, int nTokens)
{
    if (m_observer)
        m_observer(w.name, x, nTokens, int(w.nIn));
}

void InferenceSession::step(const std::int32_t *tokens, int nTokens, int pos0, float *logits,
                            Output output, JobContext *ctx)
{
    const LlamaModel &model = *m_model;
    const LlamaHParams &hp = model.hparams();
    const ArchParts &parts = model.parts();
    const Infer::Kernels &kern = Infer::Kernels::best();
    const Infer::MatmulOptions mm{.nThreads = m_nThreads, .roundActivations = m_roundActivations};
    Buffers &b = *m_buf;
    const int nEmbd = hp.nEmbd;
    const int qDim = hp.nHeads * hp.headDim;
    const int kvDim = hp.nHeadsKv * hp.headDim;
    const int nPairs = hp.nRot / 2;
    const auto matmul = [&](const WeightMatrix &w, const float *x, int n, float *y) {
        observe(w, x, n);
        Infer::matmul(w, x, n, y, mm, ctx);
    };

    m_nPast = pos0; // what stays valid if this step fails or is cancelled

    const RopeParams ropeGlobal{.base = hp.ropeFreqBase,
                                .freqScale = hp.ropeFreqScale,
                                .factors = model.ropeFactorsFor(m_nCtx)};
    const RopeParams ropeSwa{.base = hp.ropeFreqBaseSwa,
                             .freqScale = hp.ropeFreqScaleSwa,
                             .factors = ropeGlobal.factors};
    const bool separateSwaRope = hp.nSwa > 0 && !(ropeSwa == ropeGlobal);
    for (int t = 0; t < nTokens; ++t) {
        float *x = b.x.data() + std::size_t(t) * nEmbd;
        model.embedToken(tokens[t], std::span<float>(x, std::size_t(nEmbd)));
        if (hp.embedScale != 0.0f) {
            for (int i = 0; i < nEmbd; ++i)
                x[i] *= hp.embedScale;
        }
        ropeTable(hp, ropeGlobal, pos0 + t, b.ropeCos.data() + std::size_t(t) * nPairs,
                  b.ropeSin.data() + std::size_t(t) * nPairs);
        if (separateSwaRope)
            ropeTable(hp, ropeSwa, pos0 + t, b.ropeCosSwa.data() + std::size_t(t) * nPairs,
                      b.ropeSinSwa.data() + std::size_t(t) * nPairs);
    }

    for (int l = 0; l < hp.nLayers; ++l) {
        if (ctx)
            ctx->throwIfCancelled();
        const LlamaModel::Layer &L = model.layers()[std::size_t(l)];
        const bool lastLayer = l == hp.nLayers - 1;

        // attention
        forRows(nTokens, m_nThreads, nEmbd, [&](int t) {
            kern.rmsNorm(b.x.data() + std::size_t(t) * nEmbd, L.attnNorm,
                         b.xn.data() + std::size_t(t) * nEmbd, nEmbd, hp.rmsEps);
        });
        if (L.wqkv.present()) {
            const int width = qDim + 2 * kvDim;
            matmul(L.wqkv, b.xn.data(), nTokens, b.qkv.data());
            for (int t = 0; t < nTokens; ++t) {
                const float *row = b.qkv.data() + std::size_t(t) * width;
                std::copy_n(row, qDim, b.q.data() + std::size_t(t) * qDim);
                std::copy_n(row + qDim, kvDim, b.k.data() + std::size_t(t) * kvDim);
                std::copy_n(row + qDim + kvDim, kvDim, b.v.data() + std::size_t(t) * kvDim);
            }
        } else {
            matmul(L.wq, b.xn.data(), nTokens, b.q.data());
            matmul(L.wk, b.xn.data(), nTokens, b.k.data());
            matmul(L.wv, b.xn.data(), nTokens, b.v.data());
        }
        const bool swaRope = L.swa && separateSwaRope;
        const float *ropeCos = swaRope ? b.ropeCosSwa.data() : b.ropeCos.data();
        const float *ropeSin = swaRope ? b.ropeSinSwa.data() : b.ropeSin.data();
        forRows(nTokens, m_nThreads, qDim, [&](int t) {
            float *q = b.q.data() + std::size_t(t) * qDim;
            float *k = b.k.data() + std::size_t(t) * kvDim;
            if (L.qNorm) {
                for (int h = 0; h < hp.nHeads; ++h)
                    kern.rmsNorm(q + h * hp.headDim, L.qNorm, q + h * hp.headDim, hp.headDim,
                                 hp.rmsEps);
                for (int h = 0; h < hp.nHeadsKv; ++h)
                    kern.rmsNorm(k + h * hp.headDim, L.kNorm, k + h * hp.headDim, hp.headDim,
                                 hp.rmsEps);
            }
            const float *c = ropeCos + std::size_t(t) * nPairs;
            const float *s = ropeSin + std::size_t(t) * nPairs;
            applyRope(q, hp.nHeads, hp.headDim, hp.nRot, hp.ropeType, c, s);
            applyRope(k, hp.nHeadsKv, hp.headDim, hp.nRot, hp.ropeType, c, s);
            if (hp.preScaleQuery) {
                for (int i = 0; i < qDim; ++i)
                    q[i] *= hp.kqScale;
            }
        });
        storeKv(l, nTokens, pos0);
        attention(l, nTokens, pos0, ctx);
        matmul(L.wo, b.att.data(), nTokens, b.tmp.data());
        if (L.postAttnNorm)
            forRows(nTokens, m_nThreads, nEmbd, [&](int t) {
                float *row = b.tmp.data() + std::size_t(t) * nEmbd;
                kern.rmsNorm(row, L.postAttnNorm, row, nEmbd, hp.rmsEps);
            });
        for (std::size_t i = 0, e = std::size_t(nTokens) * nEmbd; i < e; ++i)
            b.x[i] += b.tmp[i];

        // On the last layer only the rows whose logits are wanted go on (as llama.cpp does).
        int row0 = 0;
        int nRows = nTokens;
        if (lastLayer) {
            if (output == Output::None)
                break;
            if (output == Output::Last) {
                row0 = nTokens - 1;
                nRows = 1;
            }
        }
        float *x = b.x.data() + std::size_t(row0) * nEmbd;

        // feed-forward
        forRows(nRows, m_nThreads, nEmbd, [&](int t) {
            kern.rmsNorm(x + std::size_t(t) * nEmbd, L.ffnNorm,
                         b.xn.data() + std::size_t(t) * nEmbd, nEmbd, hp.rmsEps);
        });
        if (L.moe()) {
            const Infer::MoeCall call{.layer = L,
                                      .hp = hp,
                                      .parts = parts,
                                      .matmul = mm,
                                      .ctx = ctx,
                                      .observer = &m_observer,
                                      .expertObserver = &m_expertObserver};
            Infer::moeFeedForward(call, b.xn.data(), nRows, b.tmp.data(), b.moe);
        } else {
            const int nFf = int(L.ffnDown.nIn);
            if (parts.fusedGateUp) {
                // Why split rows: the fused product holds gate then up for each token.
                matmul(L.ffnUp, b.xn.data(), nRows, b.up.data());
                for (int t = 0; t < nRows; ++t) {
                    const float *row = b.up.data() + std::size_t(t) * 2 * nFf;
                    std::copy_n(row, nFf, b.gate.data() + std::size_t(t) * nFf);
                    std::memmove(b.up.data() + std::size_t(t) * nFf, row + nFf,
                                 sizeof(float) * std::size_t(nFf));
                }
            } else {
                matmul(L.ffnGate, b.xn.data(), nRows, b.gate.data());
                matmul(L.ffnUp, b.xn.data(), nRows, b.up.data());
            }
            forRows(nRows, m_nThreads, nFf * 8, [&](int t) {
                Infer::applyGlu(parts.ffn, b.gate.data() + std::size_t(t) * nFf,
                                b.up.data() + std::size_t(t) * nFf, nFf);
            });
            matmul(L.ffnDown, b.gate.data(), nRows, b.tmp.data());
        }
        if (L.postFfnNorm)
            forRows(nRows, m_nThreads, nEmbd, [&](int t) {
                float *row = b.tmp.data() + std::size_t(t) * nEmbd;
                kern.rmsNorm(row, L.postFfnNorm, row, nEmbd, hp.rmsEps);
            });
        for (std::size_t i = 0, e = std::size_t(nRows) * nEmbd; i < e; ++i)
            x[i] += b.tmp[i];

        if (lastLayer) {
            forRows(nRows, m_nThreads, nEmbd, [&](int t) {
                kern.rmsNorm(x + std::size_t(t) * nEmbd, model.outputNorm(),
                             b.xn.data() + std::size_t(t) * nEmbd, nEmbd, hp.rmsEps);
            });
            matmul(model.output(), b.xn.data(), nRows, logits);
            if (hp.finalSoftcap > 0.0f) {
                const float cap = hp.finalSoftcap;
                for (std::size_t i = 0, e = std::size_t(nRows) * model.nVocab(); i < e; ++i)
                    logits[i] = cap * std::tanh(logits[i] / cap);
            }
        }
    }
    m_nPast = pos0 + nTokens;
}

// Cache layout per layer: K as [nCtx][kvDim] (a row per position), V transposed as
// [kvDim][nCtx] (a row per dimension), so that both attention products are ordinary matrix
// products over rows: scores = K·q and output = Vᵀ·p.
void InferenceSession::storeKv(int layer, int nTokens, int pos0)
{
    const LlamaHParams &hp = m_model->hparams();
    const std::size_t kvDim = std::size_t(hp.nHeadsKv) * std::size_t(hp.headDim);
    const std::size_t nCtx = std::size_t(m_nCtx);
    const std::size_t layerStride = 2 * nCtx * kvDim;
    const std::size_t kOff = std::size_t(layer) * layerStride + std::size_t(pos0) * kvDim;
    const std::size_t vBase = std::size_t(layer) * layerStride + nCtx * kvDim;
    const std::size_t count = std::size_t(nTokens) * kvDim;
    const Buffers &b = *m_buf;
    if (m_kvType == KvStorageType::F16) {
        for (std::size_t i = 0; i < count; ++i)
            m_kv16[kOff + i] = fp32ToFp16(b.k[i]);
        for (int t = 0; t < nTokens; ++t)
            for (std::size_t d = 0; d < kvDim; ++d)
                m_kv16[vBase + d * nCtx + std::size_t(pos0 + t)] =
                    fp32ToFp16(b.v[std::size_t(t) * kvDim + d]);
    } else {
        std::memcpy(m_kv32.get() + kOff, b.k.data(), count * sizeof(float));
        for (int t = 0; t < nTokens; ++t)
            for (std::size_t d = 0; d < kvDim; ++d)
                m_kv32[vBase + d * nCtx + std::size_t(pos0 + t)] = b.v[std::size_t(t) * kvDim + d];
    }
}

// Causal attention for the batch, per KV head and block of query tokens: the queries of the
// nGqa heads sharing the KV head are gathered into rows, scores = K·q for the cached positions
// the block can see (from the oldest in a sliding window up to the block's last token), scaled
// and soft-capped, masked and soft-maxed per row (with the head's sink), then output = Vᵀ·p.
// Both products run through Infer::matmul on one thread each (the blocks are spread over
// threads). Flash attention (llama.cpp's tiled CPU kernel) keeps q and p in F32 against the
// cache values, its one-row kernel rounds q and sums the values in F16 (kernels.h); without
// flash attention matmul rounds q and p to the cache type first, as ggml's plain path.
void InferenceSession::attention(int layer, int nTokens, int pos0, JobContext *ctx)
{
    const LlamaHParams &hp = m_model->hparams();
    const LlamaModel::Layer &L = m_model->layers()[std::size_t(layer)];
    const Infer::Kernels &kern = Infer::Kernels::best();
    Buffers &b = *m_buf;
    const int headDim = hp.headDim;
    const int qDim = hp.nHeads * headDim;
    const std::size_t kvDim = std::size_t(hp.nHeadsKv) * std::size_t(headDim);
    const std::size_t nCtx = std::size_t(m_nCtx);
    const std::size_t layerStride = 2 * nCtx * kvDim;
    const std::size_t kBase = std::size_t(layer) * layerStride;
    const std::size_t vBase = kBase + nCtx * kvDim;
    const int nGqa = hp.nHeads / hp.nHeadsKv;
    const float scale = hp.preScaleQuery ? 1.0f : hp.kqScale;
    const float cap = hp.attnSoftcap;
    const int window = L.swa ? hp.nSwa : 0;
    const bool f16 = m_kvType == KvStorageType::F16;
    const std::size_t elementBytes = f16 ? 2 : 4;
    const auto *cache = f16 ? reinterpret_cast<const std::uint8_t *>(m_kv16.get())
                            : reinterpret_cast<const std::uint8_t *>(m_kv32.get());
    const bool flash = m_flashAttention;
    // Why two flash paths: llama.cpp's CPU kernel is tiled (all F32) for micro-batches of 64
    // rows or more when the value width is a whole number of AVX-512 vectors, and otherwise
    // goes row by row with q rounded to F16 and an F16 value accumulator (ggml-cpu ops.cpp,
    // flash_attn_ext). The F32 cache has no F16 rounding on either path.
    const int rows = m_attentionRows > 0 ? m_attentionRows : nTokens;
    const bool oneRow = flash && f16 && (rows < 64 || headDim % 16 != 0);
    const Infer::MatmulOptions mm{.nThreads = 1, .roundActivations = !flash || oneRow};

    // About 48 query rows per block, and enough blocks to keep every thread busy.
    int tokensPerBlock = std::max(1, 48 / nGqa);
    if (std::int64_t(hp.nHeadsKv) * ((nTokens + tokensPerBlock - 1) / tokensPerBlock)
        < 2 * m_nThreads)
        tokensPerBlock = std::max(1, nTokens * hp.nHeadsKv / (2 * m_nThreads));
    const int nBlocks = (nTokens + tokensPerBlock - 1) / tokensPerBlock;
    const std::uint64_t nChunks = std::uint64_t(hp.nHeadsKv) * std::uint64_t(nBlocks);

    parallelFor(nChunks, m_nThreads, [&](std::uint64_t chunk) {
        const int kvh = int(chunk % std::uint64_t(hp.nHeadsKv));
        const int t0 = int(chunk / std::uint64_t(hp.nHeadsKv)) * tokensPerBlock;
        const int t1 = std::min(nTokens, t0 + tokensPerBlock);
        const int nRows = (t1 - t0) * nGqa;
        const int nKv = pos0 + t1;
        // A sliding-window layer sees the `window` most recent positions, itself included.
        const int kStart = window > 0 ? std::max(0, pos0 + t0 - window + 1) : 0;
        const int nSeen = nKv - kStart;

        std::vector<float> q(std::size_t(nRows) * std::size_t(headDim));
        for (int t = t0; t < t1; ++t)
            for (int g = 0; g < nGqa; ++g)
                std::memcpy(q.data() + std::size_t((t - t0) * nGqa + g) * std::size_t(headDim),
                            b.q.data() + std::size_t(t) * qDim
                                + std::size_t(kvh * nGqa + g) * std::size_t(headDim),
                            sizeof(float) * std::size_t(headDim));

        WeightMatrix keys;
        keys.name = "cache.k";
        keys.type = f16 ? GgmlType::F16 : GgmlType::F32;
        keys.data = cache
            + (kBase + std::size_t(kStart) * kvDim + std::size_t(kvh) * std::size_t(headDim))
                * elementBytes;
        keys.nIn = headDim;
        keys.nOut = nSeen;
        keys.rowBytes = kvDim * elementBytes;
        std::vector<float> p(std::size_t(nRows) * std::size_t(nSeen));
        Infer::matmul(keys, q.data(), nRows, p.data(), mm);
        std::vector<float> out(std::size_t(nRows) * std::size_t(headDim));

        for (int r = 0; r < nRows; ++r) {
            float *row = p.data() + std::size_t(r) * std::size_t(nSeen);
            const int pos = pos0 + t0 + r / nGqa;
            const int lo = (window > 0 ? std::max(0, pos - window + 1) : 0) - kStart;
            const int hi = pos + 1 - kStart; // exclusive
            for (int j = lo; j < hi; ++j) {
                float s = row[j];
                if (cap > 0.0f)
                    s = flash ? cap * std::tanh(s * (scale / cap)) : cap * std::tanh(s / cap) * scale;
                else
                    s *= scale;
                row[j] = s;
            }
            const float *sink = L.sinks ? L.sinks + kvh * nGqa + r % nGqa : nullptr;
            if (oneRow) {
                const auto *v = reinterpret_cast<const std::uint16_t *>(cache)
                    + vBase + std::size_t(kvh) * std::size_t(headDim) * nCtx
                    + std::size_t(kStart + lo);
                Infer::flashAttnRowF16(row + lo, hi - lo, v, nCtx, headDim, sink,
                                       out.data() + std::size_t(r) * std::size_t(headDim));
                continue;
            }
            if (sink)
                Infer::softmaxWithSink(row + lo, hi - lo, *sink);
            else
                kern.softmax(row + lo, hi - lo);
            std::fill(row, row + lo, 0.0f);
            std::fill(row + hi, row + nSeen, 0.0f);
        }

        WeightMatrix values;
        values.name = "cache.v";
        values.type = keys.type;
        values.data = cache
            + (vBase + std::size_t(kvh) * std::size_t(headDim) * nCtx + std::size_t(kStart))
                * elementBytes;
        values.nIn = nSeen;
        values.nOut = headDim;
        values.rowBytes = nCtx * elementBytes;
        if (!oneRow)
            Infer::matmul(values, p.data(), nRows, out.data(), mm);

        for (int t = t0; t < t1; ++t)
            for (int g = 0; g < nGqa; ++g)
                std::memcpy(b.att.data() + std::size_t(t) * qDim
                                + std::size_t(kvh * nGqa + g) * std::size_t(headDim),
                            out.data() + std::size_t((t - t0) * nGqa + g) * std::size_t(headDim),
                            sizeof(float) * std::size_t(headDim));
    }, ctx);
}

} // namespace QuantFit
