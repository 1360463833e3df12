// The per-token computation of llama.cpp's LLaMA graph (`llm_build_llama`, src/models/llama.cpp)
// over a batch of tokens:
//  1. embed each token (decode its token_embd row)
//  2. per layer: RMSNorm -> Q, K, V products (+ biases) -> RoPE on Q and K -> K, V into the
//     cache -> causal attention per query head over the cached positions -> output product ->
//     residual; RMSNorm -> gate and up products -> SiLU(gate) * up -> down product -> residual
//  3. final RMSNorm and the LM head for the tokens whose logits are wanted
// With an F16 cache, q and the attention probabilities are rounded to F16 before they meet
// the cache, as llama.cpp's CPU backend converts them to the cache's dot type
// (activationrounding.h).

#include "llamamodel.h"

#include "kernels.h"
#include "matmul.h"

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

// cos/sin of every rotated pair for one position (as ggml's rope in src/ggml-cpu/ops.cpp).
void ropeTable(const LlamaHParams &hp, const float *freqFactors, int pos, float *cosOut,
               float *sinOut)
{
    const int nPairs = hp.nRot / 2;
    const float thetaScale = std::pow(hp.ropeFreqBase, -2.0f / float(hp.nRot));
    float lo = 0.0f, hi = 0.0f;
    float mscale = hp.ropeAttnFactor;
    if (hp.ropeYarn) {
        const auto corr = [&](float b) {
            return float(hp.nRot) * std::log(float(hp.ropeYarnOrigCtx) / (b * 2.0f * float(M_PI)))
                / (2.0f * std::log(hp.ropeFreqBase));
        };
        lo = std::max(0.0f, std::floor(corr(32.0f)));
        hi = std::min(float(hp.nRot - 1), std::ceil(corr(1.0f)));
        mscale *= 1.0f + 0.1f * std::log(1.0f / hp.ropeFreqScale);
    }
    float theta = float(pos);
    for (int i = 0; i < nPairs; ++i) {
        const float extrap = freqFactors ? theta / freqFactors[i] : theta;
        float th = hp.ropeFreqScale * extrap;
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
    std::vector<float> x, xn, q, k, v, att, tmp, gate, up, ropeCos, ropeSin;
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
    b.up.resize(nb * std::size_t(hp.nFf));
    b.ropeCos.resize(nb * std::size_t(hp.nRot / 2));
    b.ropeSin.resize(nb * std::size_t(hp.nRot / 2));
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
    const Infer::Kernels &kern = Infer::Kernels::best();
    const Infer::MatmulOptions mm{.nThreads = m_nThreads, .roundActivations = m_roundActivations};
    Buffers &b = *m_buf;
    const int nEmbd = hp.nEmbd;
    const int qDim = hp.nHeads * hp.headDim;
    const int kvDim = hp.nHeadsKv * hp.headDim;
    const int nPairs = hp.nRot / 2;

    m_nPast = pos0; // what stays valid if this step fails or is cancelled

    for (int t = 0; t < nTokens; ++t) {
        model.embedToken(tokens[t], std::span<float>(b.x.data() + std::size_t(t) * nEmbd,
                                                     std::size_t(nEmbd)));
        ropeTable(hp, model.ropeFreqs(), pos0 + t, b.ropeCos.data() + std::size_t(t) * nPairs,
                  b.ropeSin.data() + std::size_t(t) * nPairs);
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
        observe(L.wq, b.xn.data(), nTokens);
        Infer::matmul(L.wq, b.xn.data(), nTokens, b.q.data(), mm, ctx);
        observe(L.wk, b.xn.data(), nTokens);
        Infer::matmul(L.wk, b.xn.data(), nTokens, b.k.data(), mm, ctx);
        observe(L.wv, b.xn.data(), nTokens);
        Infer::matmul(L.wv, b.xn.data(), nTokens, b.v.data(), mm, ctx);
        forRows(nTokens, m_nThreads, qDim, [&](int t) {
            const float *c = b.ropeCos.data() + std::size_t(t) * nPairs;
            const float *s = b.ropeSin.data() + std::size_t(t) * nPairs;
            applyRope(b.q.data() + std::size_t(t) * qDim, hp.nHeads, hp.headDim, hp.nRot,
                      hp.ropeType, c, s);
            applyRope(b.k.data() + std::size_t(t) * kvDim, hp.nHeadsKv, hp.headDim, hp.nRot,
                      hp.ropeType, c, s);
        });
        storeKv(l, nTokens, pos0);
        attention(l, nTokens, pos0, ctx);
        observe(L.wo, b.att.data(), nTokens);
        Infer::matmul(L.wo, b.att.data(), nTokens, b.tmp.data(), mm, ctx);
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
        const int nFf = int(L.ffnUp.nOut);
        forRows(nRows, m_nThreads, nEmbd, [&](int t) {
            kern.rmsNorm(x + std::size_t(t) * nEmbd, L.ffnNorm,
                         b.xn.data() + std::size_t(t) * nEmbd, nEmbd, hp.rmsEps);
        });
        observe(L.ffnGate, b.xn.data(), nRows);
        Infer::matmul(L.ffnGate, b.xn.data(), nRows, b.gate.data(), mm, ctx);
        observe(L.ffnUp, b.xn.data(), nRows);
        Infer::matmul(L.ffnUp, b.xn.data(), nRows, b.up.data(), mm, ctx);
        forRows(nRows, m_nThreads, nFf * 8, [&](int t) {
            kern.swiglu(b.gate.data() + std::size_t(t) * nFf, b.up.data() + std::size_t(t) * nFf,
                        nFf);
        });
        observe(L.ffnDown, b.gate.data(), nRows);
        Infer::matmul(L.ffnDown, b.gate.data(), nRows, b.tmp.data(), mm, ctx);
        for (std::size_t i = 0, e = std::size_t(nRows) * nEmbd; i < e; ++i)
            x[i] += b.tmp[i];

        if (lastLayer) {
            forRows(nRows, m_nThreads, nEmbd, [&](int t) {
                kern.rmsNorm(x + std::size_t(t) * nEmbd, model.outputNorm(),
                             b.xn.data() + std::size_t(t) * nEmbd, nEmbd, hp.rmsEps);
            });
            observe(model.output(), b.xn.data(), nRows);
            Infer::matmul(model.output(), b.xn.data(), nRows, logits, mm, ctx);
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
// nGqa heads sharing the KV head are gathered into rows, scores = K·q for all cached positions
// up to the block's last token, masked and soft-maxed per row, then output = Vᵀ·p. Both
// products run through Infer::matmul on one thread each (the blocks are spread over threads);
// with an F16 cache, matmul rounds q and p to F16 first, as llama.cpp does.
void InferenceSession::attention(int layer, int nTokens, int pos0, JobContext *ctx)
{
    const LlamaHParams &hp = m_model->hparams();
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
    const float scale = 1.0f / std::sqrt(float(headDim));
    const bool f16 = m_kvType == KvStorageType::F16;
    const std::size_t elementBytes = f16 ? 2 : 4;
    const auto *cache = f16 ? reinterpret_cast<const std::uint8_t *>(m_kv16.get())
                            : reinterpret_cast<const std::uint8_t *>(m_kv32.get());
    const Infer::MatmulOptions mm{.nThreads = 1, .roundActivations = true};

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
        keys.data = cache + (kBase + std::size_t(kvh) * std::size_t(headDim)) * elementBytes;
        keys.nIn = headDim;
        keys.nOut = nKv;
        keys.rowBytes = kvDim * elementBytes;
        std::vector<float> p(std::size_t(nRows) * std::size_t(nKv));
        Infer::matmul(keys, q.data(), nRows, p.data(), mm);

        for (int r = 0; r < nRows; ++r) {
            float *row = p.data() + std::size_t(r) * std::size_t(nKv);
            const int valid = pos0 + t0 + r / nGqa + 1;
            for (int j = 0; j < valid; ++j)
                row[j] *= scale;
            kern.softmax(row, valid);
            std::fill(row + valid, row + nKv, 0.0f);
        }

        WeightMatrix values;
        values.name = "cache.v";
        values.type = keys.type;
        values.data = cache
            + (vBase + std::size_t(kvh) * std::size_t(headDim) * nCtx) * elementBytes;
        values.nIn = nKv;
        values.nOut = headDim;
        values.rowBytes = nCtx * elementBytes;
        std::vector<float> out(std::size_t(nRows) * std::size_t(headDim));
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
