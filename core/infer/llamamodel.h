#pragma once

// CPU forward pass of LLaMA-architecture models (llama.cpp's graph is `llm_build_llama` in
// src/models/llama.cpp): llama, mistral and qwen2 (QKV biases, NeoX RoPE); GQA; tied output;
// rope_freqs; RMSNorm eps from metadata. Weights stay in the memory-mapped GgufFile in their stored
// type: every matrix product reads the quantized rows directly (no dequantized copy of the model).
// Activations are F32. Memory is the mapped model + the KV cache + buffers proportional to the
// batch.

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

enum class RopeType {
    Normal, ///< rotate adjacent pairs (2i, 2i+1): llama, mistral
    Neox,   ///< rotate (i, i + n_rot/2): qwen2
};

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
};

/// A loaded model: validated tensor views into a shared GgufFile plus hyper-parameters.
/// Immutable and thread-safe after construction; many sessions may share one model.
///
/// Throws Error naming the architecture when it is not llama-family, Error when the file has no
/// tensors (a vocabulary-only file), and FormatError/Error naming the tensor when a required
/// tensor is missing, has the wrong shape or a type we cannot read.
class LlamaModel
{
public:
    explicit LlamaModel(std::shared_ptr<const GgufFile> file);
    ~LlamaModel();
    LlamaModel(const LlamaModel &) = delete;
    LlamaModel &operator=(const LlamaModel &) = delete;

    /// Convenience: maps `path` and loads it.
    static std::shared_ptr<const LlamaModel> open(const QString &path);

    const GgufFile &file() const { return *m_file; }
    const std::shared_ptr<const GgufFile> &sharedFile() const { return m_file; }
    const ModelInfo &info() const { return m_info; }
    const LlamaHParams &hparams() const { return m_hp; }
    int nVocab() const { return m_hp.nVocab; }
    int nEmbd() const { return m_hp.nEmbd; }
    int nCtxTrain() const { return m_hp.nCtxTrain; }

    struct Layer {
        const float *attnNorm = nullptr; ///< [nEmbd]
        WeightMatrix wq, wk, wv, wo;
        const float *ffnNorm = nullptr;  ///< [nEmbd]
        WeightMatrix ffnGate, ffnUp, ffnDown;
    };

    const WeightMatrix &tokenEmbedding() const { return m_tokenEmbd; }
    const WeightMatrix &output() const { return m_output; } ///< token_embd when tied
    const float *outputNorm() const { return m_outputNorm; }
    const float *ropeFreqs() const { return m_ropeFreqs; } ///< nRot/2 factors or null
    const std::vector<Layer> &layers() const { return m_layers; }

    /// Dequantizes the embedding row of `token` into `out` (nEmbd floats). Throws Error for an
    /// id outside [0, nVocab).
    void embedToken(std::int32_t token, std::span<float> out) const;

private:
    std::shared_ptr<const GgufFile> m_file;
    ModelInfo m_info;
    LlamaHParams m_hp;
    WeightMatrix m_tokenEmbd;
    WeightMatrix m_output;
    const float *m_outputNorm = nullptr;
    const float *m_ropeFreqs = nullptr;
    std::vector<Layer> m_layers;
    std::vector<std::vector<float>> m_owned; // decoded non-F32 vectors (norms, biases)
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
};

/// Observes the input of every matrix product: `x` is row-major [nTokens x nCols] (nCols = the
/// weight's row length) and is what is multiplied by the tensor named `tensorName`. Called on
/// the thread that runs evaluate(), before the product, once per internal step. The pointer is
/// valid only during the call.
using MatmulObserver =
    std::function<void(const QByteArray &tensorName, const float *x, int nTokens, int nCols)>;

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
    int m_nPast = 0;
    // Per layer: K [nCtx][kvDim], then V transposed [kvDim][nCtx]. Allocated without zeroing,
    // so pages count towards resident memory only once used; only written positions are read.
    std::size_t m_kvElements = 0;
    std::unique_ptr<std::uint16_t[]> m_kv16;
    std::unique_ptr<float[]> m_kv32;
    std::unique_ptr<Buffers> m_buf;
    MatmulObserver m_observer;
};

} // namespace QuantFit
