#pragma once

// CPU forward pass of the decoder-only architectures of archparts.h (llama, mistral, qwen2,
// qwen3, qwen3moe, Mixtral-style llama with experts, gpt-oss, gemma2, gemma3, phi3): one pass
// whose per-architecture parts (norms, attention variants, FFN kinds, expert routing) are
// switched by the architecture's ArchParts row, not a copy of the llama path per architecture.
// Weights stay in the memory-mapped GgufFile in their stored type: every matrix product reads the
// quantized rows directly (no dequantized copy of the model); the 3-D expert tensors are used one
// expert slice at a time. Activations are F32. Memory is the mapped model + the KV cache +
// buffers proportional to the batch.

#include "archparts.h"

#include "gguf/ggmltype.h"
#include "model/modelinfo.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace QuantFit {

class GgufFile;
class JobContext;

/// One weight matrix inside the mapped file: nOut rows of nIn values of `type`. Row o starts at
/// data + o * rowBytes. `bias` (F32, nOut values) is null when the model has none.
struct WeightMatrix {
    QByteArray name;
    GgmlType type = GgmlType::F32;
    const std::uint8_t *data = nullptr;
    std::int64_t nIn = 0;
    std::int64_t nOut = 0;
    std::uint64_t rowBytes = 0;
    const float *bias = nullptr;

    bool present() const { return data != nullptr; }
};

/// A 3-D expert tensor (`blk.N.ffn_{gate,up,down}_exps.weight`, ne = [nIn, nOut, nExperts]):
/// expert e is the 2-D slice of rows e*nOut .. e*nOut + nOut - 1, read in place. `biases`
/// (gpt-oss) holds nExperts rows of nOut floats, or is null.
struct ExpertTensor {
    WeightMatrix all; ///< nOut = rows of one expert; data = expert 0
    int nExperts = 0;
    const float *biases = nullptr;

    bool present() const { return all.present(); }
    /// The view of expert `e` (0 <= e < nExperts), with its bias row.
    WeightMatrix expert(int e) const
    {
        WeightMatrix w = all;
        w.data += std::uint64_t(e) * std::uint64_t(all.nOut) * all.rowBytes;
        w.bias = biases ? biases + std::int64_t(e) * all.nOut : nullptr;
        return w;
    }
};

/// Hyper-parameters of the forward pass, resolved from metadata with llama.cpp's defaults.
struct LlamaHParams {
    int nEmbd = 0;
    int nLayers = 0;
    int nHeads = 0;
    int nHeadsKv = 0;
    int headDim = 0;
    int nRot = 0;
    int nFf = 0;
    int nVocab = 0;
    int nCtxTrain = 0;
    float rmsEps = 1e-5f;
    float ropeFreqBase = 10000.0f;
    float ropeFreqScale = 1.0f;
    float ropeAttnFactor = 1.0f;
    bool ropeYarn = false;
    int ropeYarnOrigCtx = 0;
    RopeType ropeType = RopeType::Normal;
    // sliding-window layers (Layer::swa): window and their own RoPE base and scale
    int nSwa = 0;
    float ropeFreqBaseSwa = 10000.0f;
    float ropeFreqScaleSwa = 1.0f;
    // experts (0 for dense models)
    int nExperts = 0;
    int nExpertsUsed = 0;
    int nFfExpert = 0;
    /// Attention scores are multiplied by kqScale; with preScaleQuery q is multiplied by it
    /// instead (before the cache products), as gemma and phi3 do.
    float kqScale = 1.0f;
    bool preScaleQuery = false;
    float attnSoftcap = 0.0f;  ///< 0 = none
    float finalSoftcap = 0.0f; ///< 0 = none
    float embedScale = 0.0f;   ///< 0 = none, else embeddings are multiplied by it
};

/// A loaded model: validated tensor views into a shared GgufFile plus hyper-parameters.
/// Immutable and thread-safe after construction; many sessions may share one model.
///
/// Throws Error naming the architecture when it is not implemented (archparts.h) or uses a part
/// the pass does not implement (naming it), Error when the file has no tensors (a
/// vocabulary-only file), and FormatError/Error naming the key or tensor when a required one is
/// missing, has the wrong shape or a type we cannot read.
class LlamaModel
{
public:
    explicit LlamaModel(std::shared_ptr<const GgufFile> file);
    ~LlamaModel();
    LlamaModel(const LlamaModel &) = delete;
    LlamaModel &operator=(const LlamaModel &) = delete;

    /// Convenience: maps `path` and loads it.
    static std::shared_ptr<const LlamaModel> open(const QString &path);

    /// `base` with one weight replaced: the matrix or expert stack named `name` (token_embd also
    /// as the tied output head) reads `data`, the whole tensor in `type` with the original's
    /// shape, instead of the mapped bytes; everything else is shared with `base` (kept alive,
    /// as is `data`). For measuring what quantizing one tensor costs without writing a file.
    /// Throws Error when no weight matrix is named `name`, inference cannot read `type`, or
    /// `data` is shorter than the tensor in that type.
    static std::shared_ptr<const LlamaModel>
    withWeight(std::shared_ptr<const LlamaModel> base, const QByteArray &name, GgmlType type,
               std::shared_ptr<const std::vector<std::uint8_t>> data);

    const GgufFile &file() const { return *m_file; }
    const std::shared_ptr<const GgufFile> &sharedFile() const { return m_file; }
    const ModelInfo &info() const { return m_info; }
    const LlamaHParams &hparams() const { return m_hp; }
    int nVocab() const { return m_hp.nVocab; }
    int nEmbd() const { return m_hp.nEmbd; }
    int nCtxTrain() const { return m_hp.nCtxTrain; }

    /// One block. Absent optional parts have null pointers / !present().
    struct Layer {
        const float *attnNorm = nullptr; ///< [nEmbd]
        WeightMatrix wqkv;               ///< fused Q, K, V rows (phi3); then wq/wk/wv are absent
        WeightMatrix wq, wk, wv, wo;
        const float *qNorm = nullptr;    ///< [headDim], per head (qwen3, gemma3)
        const float *kNorm = nullptr;
        const float *postAttnNorm = nullptr; ///< [nEmbd] on the attention output (gemma)
        const float *sinks = nullptr;    ///< [nHeads] attention sink logits (gpt-oss)
        bool swa = false;                ///< sliding-window layer
        const float *ffnNorm = nullptr;  ///< [nEmbd]
        WeightMatrix ffnGate, ffnUp, ffnDown; ///< dense; ffnUp holds gate and up when fused
        const float *postFfnNorm = nullptr;   ///< [nEmbd] on the FFN output (gemma)
        WeightMatrix router;             ///< ffn_gate_inp [nEmbd -> nExperts] (+ bias)
        ExpertTensor gateExps, upExps, downExps;

        bool moe() const { return router.present(); }
    };

    const WeightMatrix &tokenEmbedding() const { return m_tokenEmbd; }
    const WeightMatrix &output() const { return m_output; } ///< token_embd when tied
    const float *outputNorm() const { return m_outputNorm; }
    const ArchParts &parts() const { return *m_parts; }
    const float *ropeFreqs() const { return m_ropeFreqs; } ///< nRot/2 factors or null
    /// The rope factors a session of `nCtx` tokens uses: rope_freqs, or for long-rope models
    /// rope_factors_long when nCtx exceeds the original context, else rope_factors_short.
    const float *ropeFactorsFor(int nCtx) const;
    const std::vector<Layer> &layers() const { return m_layers; }

    /// Dequantizes the embedding row of `token` into `out` (nEmbd floats). Throws Error for an
    /// id outside [0, nVocab).
    void embedToken(std::int32_t token, std::span<float> out) const;

private:
    LlamaModel(const LlamaModel &base, std::shared_ptr<const LlamaModel> keepAlive);

    std::shared_ptr<const GgufFile> m_file;
    ModelInfo m_info;
    LlamaHParams m_hp;
    WeightMatrix m_tokenEmbd;
    WeightMatrix m_output;
    const float *m_outputNorm = nullptr;
    const float *m_ropeFreqs = nullptr;
    const float *m_ropeFactorsShort = nullptr;
    const float *m_ropeFactorsLong = nullptr;
    bool m_longRope = false;
    const ArchParts *m_parts = nullptr;
    std::vector<Layer> m_layers;
    std::vector<std::vector<float>> m_owned; // decoded non-F32 vectors (norms, biases)
    // withWeight(): the model whose views (and m_owned) this one shares, and the replacement.
    std::shared_ptr<const LlamaModel> m_base;
    std::shared_ptr<const std::vector<std::uint8_t>> m_replacement;
};

/// Element type of the KV cache. llama.cpp's default is F16 (`type_k`, `type_v` of
/// llama_context_default_params).
enum class KvStorageType {
    F16,
    F32,
};

struct SessionOptions {
    int nCtx = 0;      ///< KV-cache length in tokens; 0 = the trained context, at most 4096
    int nThreads = 0;  ///< 0 = all cores
    int nBatch = 512;  ///< tokens per internal forward step (bounds the batch buffers)
    KvStorageType kvType = KvStorageType::F16;
    /// Round each product's input through the weight type's dot type (F16, BF16, Q8_0, Q8_1,
    /// Q8_K) as llama.cpp's CPU backend does (activationrounding.h), so results match its
    /// numbers; false keeps the activations exact F32. The observer sees unrounded values.
    bool roundActivations = true;
    /// Emulate llama.cpp's flash-attention kernel (its CPU default, `-fa auto`): F32 queries,
    /// scores, softmax and value sums over the (F16) cache. false emulates `-fa off`: q and the
    /// probabilities are rounded to the cache type before the two products.
    bool flashAttention = true;
    /// The query rows of the micro-batch llama.cpp would run, which decides its flash-attention
    /// kernel: the tiled one (F32) from 64 rows, the one-row kernel (q rounded to F16, F16 value
    /// accumulator) below. 0 = the tokens of each step, as in generation; perplexity sets its
    /// micro-batch, since it evaluates a chunk in two halves.
    int attentionRows = 0;
};

/// Observes the input of every matrix product: `x` is row-major [nTokens x nCols] (nCols = the
/// weight's row length) and is what is multiplied by the tensor named `tensorName`. Called on
/// the thread that runs evaluate(), before the product, once per internal step. The pointer is
/// valid only during the call.
using MatmulObserver =
    std::function<void(const QByteArray &tensorName, const float *x, int nTokens, int nCols)>;

/// Observes the input of every expert product (llama.cpp's `mul_mat_id`): `x` holds the nTokens
/// rows routed to expert `expert` (of nExperts) of the 3-D tensor `tensorName`. Called on the
/// evaluating thread, whatever the number of tokens.
using ExpertMatmulObserver = std::function<void(const QByteArray &tensorName, int expert,
                                                int nExperts, const float *x, int nTokens,
                                                int nCols)>;

/// One sequence's state over a model: the KV cache for nCtx tokens and the work buffers.
/// Not thread-safe (one caller at a time); evaluate() itself runs on nThreads threads.
class InferenceSession
{
public:
    explicit InferenceSession(std::shared_ptr<const LlamaModel> model,
                              const SessionOptions &options = {});
    ~InferenceSession();

    const LlamaModel &model() const { return *m_model; }
    int nCtx() const { return m_nCtx; }
    int nThreads() const { return m_nThreads; }
    /// Tokens currently held in the KV cache (positions 0 .. nPast()-1).
    int nPast() const { return m_nPast; }
    std::uint64_t kvCacheBytes() const;

    /// Forgets the cached sequence (nPast() becomes 0).
    void reset();

    /// Runs `tokens` at positions nPast .. nPast + n - 1, attending to cached positions
    /// 0 .. nPast-1 (cache entries at nPast and beyond are discarded first; nPast <= nPast()).
    /// Writes logits row-major into `logitsOut`: [n x nVocab] when `allLogits`, else the last
    /// token's [nVocab] (the last layer's FFN then runs for the last token only, as llama.cpp).
    /// Long inputs are processed in steps of nBatch tokens. Throws Error for a token id outside
    /// the vocabulary, a position beyond nCtx, or a too-small `logitsOut`; Cancelled (between
    /// steps and layers) when `ctx` asks. Afterwards nPast() == nPast + n.
    void evaluate(std::span<const std::int32_t> tokens, int nPast, std::span<float> logitsOut,
                  bool allLogits, JobContext *ctx = nullptr);
    /// Convenience: appends `tokens` after nPast() and returns the logits.
    std::vector<float> evaluate(std::span<const std::int32_t> tokens, bool allLogits = false,
                                JobContext *ctx = nullptr);

    void setMatmulObserver(MatmulObserver observer) { m_observer = std::move(observer); }
    void setExpertObserver(ExpertMatmulObserver observer)
    {
        m_expertObserver = std::move(observer);
    }

private:
    struct Buffers;
    enum class Output {
        None, ///< no logits (an intermediate step of a last-token-only evaluation)
        Last, ///< the last token's logits
        All,  ///< logits of every token
    };
    void step(const std::int32_t *tokens, int nTokens, int pos0, float *logits, Output output,
              JobContext *ctx);
    void attention(int layer, int nTokens, int pos0, JobContext *ctx);
    void storeKv(int layer, int nTokens, int pos0);
    void observe(const WeightMatrix &w, const float *x, int nTokens);

    std::shared_ptr<const LlamaModel> m_model;
    int m_nCtx = 0;
    int m_nThreads = 1;
    int m_nBatch = 512;
    KvStorageType m_kvType = KvStorageType::F16;
    bool m_roundActivations = true;
    bool m_flashAttention = true;
    int m_attentionRows = 0;
    int m_nPast = 0;
    // Per layer: K [nCtx][kvDim], then V transposed [kvDim][nCtx]. Allocated without zeroing,
    // so pages count towards resident memory only once used; only written positions are read.
    std::size_t m_kvElements = 0;
    std::unique_ptr<std::uint16_t[]> m_kv16;
    std::unique_ptr<float[]> m_kv32;
    std::unique_ptr<Buffers> m_buf;
    MatmulObserver m_observer;
    ExpertMatmulObserver m_expertObserver;
};

} // namespace QuantFit
