#pragma once

#include <QString>

#include <algorithm>

#include <cstdint>
#include <optional>

namespace QuantFit {

/// The shape facts sizing needs, for one model: from a catalog entry (published config.json
/// values) or from an opened GGUF (ModelInfo). Widths are in elements, counts are plain numbers.
struct ModelShape {
    QString id;          ///< catalog id ("llama-3.1-70b"); the file name for an opened GGUF
    QString name;        ///< display name ("Llama 3.1 70B")
    QString family;      ///< "Llama 3.1", "Qwen2.5", ...
    QString architecture = QStringLiteral("llama"); ///< llama.cpp architecture name
    double paramsBillions = 0; ///< published parameter count (total, for MoE), in billions

    std::uint32_t nLayers = 0;
    std::uint32_t nEmbd = 0;
    std::uint32_t nFf = 0;       ///< dense FFN width (0 for pure MoE layers)
    std::uint32_t nHeads = 0;
    std::uint32_t nHeadsKv = 0;
    std::uint32_t headDim = 0;
    std::uint32_t nVocab = 0;
    std::uint32_t nCtxMax = 0;   ///< trained / published maximum context
    bool tiedEmbeddings = false; ///< no output.weight: the LM head reuses token_embd

    std::uint32_t nExperts = 0;     ///< MoE: experts per layer (0 = dense)
    std::uint32_t nExpertsUsed = 0; ///< MoE: experts active per token
    std::uint32_t nFfExpert = 0;    ///< MoE: FFN width of one expert

    std::uint32_t slidingWindow = 0;  ///< tokens of the local-attention window (0 = none)
    std::uint32_t nSlidingLayers = 0; ///< layers that use the window (the rest attend globally)

    bool qkvBias = false;     ///< Qwen2: attn_q/k/v biases
    bool qkNorm = false;      ///< per-head Q/K norms where the architecture leaves them optional
    bool ropeFreqs = false;   ///< Llama 3.1+: rope_freqs.weight (llama3 rope scaling)

    bool bpeTokenizer = true;     ///< BPE (tokens, types, merges) or SPM (tokens, scores, types)
    std::uint32_t nMerges = 0;    ///< BPE merges (0 = estimate from the vocab size)

    std::optional<double> mmlu; ///< published MMLU (5-shot), for choosing between models
    /// The strongest current model of one of the brief's size classes (8B, 13B, 34B, 70B,
    /// 405B, and the MoE classes 64-128 GB machines run); the priority rows choose among these.
    bool lineup = false;
    QString lineupReason; ///< why this model stands for its size class (shown with the row)

    QString source;                  ///< where the facts come from: Hugging Face repo id
    double activeParamsBillions = 0; ///< MoE: published parameters used per token (0 = dense)

    // Mixture-of-experts details beyond the routed experts (GLM-4.5, DeepSeek, Llama 4, Kimi).
    std::uint32_t nSharedExperts = 0; ///< always-active shared experts per MoE layer
    std::uint32_t nFfShared = 0;      ///< FFN width of the shared expert(s) together
    std::uint32_t nDenseLeadLayers = 0; ///< leading layers with a dense FFN (first_k_dense_replace)
    std::uint32_t moeLayerStep = 1;   ///< every n-th layer is MoE, the others dense (Llama 4: 2)
    std::uint32_t nNextnLayers = 0;   ///< multi-token-prediction layers stored after the others
    bool expertsMxfp4 = false;        ///< published files keep the expert stacks in MXFP4

    // Multi-head latent attention (DeepSeek V3, Kimi K2): the cache holds the compressed latent.
    std::uint32_t kvLoraRank = 0;  ///< latent width (0 = ordinary attention)
    std::uint32_t qLoraRank = 0;   ///< query low-rank width (0 = full query projection)
    std::uint32_t ropeHeadDim = 0; ///< rotary part of each K head (qk_rope_head_dim)
    std::uint32_t vHeadDim = 0;    ///< value head width (headDim is the whole K head)

    // Hybrid models (Qwen3-Next): linear-attention layers hold a fixed state, not a KV cache.
    std::uint32_t nRecurrentLayers = 0;  ///< layers without a KV cache
    std::uint32_t ssmConvKernel = 0;     ///< linear_conv_kernel_dim
    std::uint32_t ssmKeyHeads = 0;       ///< linear_num_key_heads
    std::uint32_t ssmValueHeads = 0;     ///< linear_num_value_heads
    std::uint32_t ssmKeyHeadDim = 0;     ///< linear_key_head_dim
    std::uint32_t ssmValueHeadDim = 0;   ///< linear_value_head_dim

    std::uint64_t mmprojBytes = 0; ///< vision projector (mmproj F16 GGUF) size; 0 = text only
    QString mmprojSource;          ///< the file the projector size is from

    bool isMoe() const { return nExperts > 1; }
    bool isMla() const { return kvLoraRank > 0; }
    bool hasVision() const { return mmprojBytes > 0; }
    double activeOrTotalBillions() const
    {
        return activeParamsBillions > 0 ? activeParamsBillions : paramsBillions;
    }
    /// Layers in the GGUF, multi-token-prediction layers included (block_count).
    std::uint32_t nBlocks() const { return nLayers + nNextnLayers; }
    /// Whether layer `i` (0-based) has routed experts.
    bool isMoeLayer(std::uint32_t i) const
    {
        return isMoe() && i >= nDenseLeadLayers && (i + 1) % std::max(1u, moeLayerStep) == 0;
    }
    /// Whether layer `i` attends through the sliding window. llama.cpp's layer patterns: of
    /// every `period` layers the last one is global (Gemma 2, gpt-oss: 2; Llama 4: 4; Gemma 3:
    /// 6), the period being layers / global layers.
    bool isSlidingLayer(std::uint32_t i) const
    {
        if (nSlidingLayers == 0 || i >= nLayers)
            return false;
        if (nSlidingLayers >= nLayers)
            return true;
        const std::uint32_t period = nLayers / (nLayers - nSlidingLayers);
        return i % period < period - 1;
    }
    /// Whether layer `i` is a recurrent (linear-attention) layer: of every `period` layers the
    /// last one has full attention (Qwen3-Next: full_attention_interval 4).
    bool isRecurrentLayer(std::uint32_t i) const
    {
        if (nRecurrentLayers == 0 || i >= nLayers)
            return false;
        if (nRecurrentLayers >= nLayers)
            return true;
        const std::uint32_t period = nLayers / (nLayers - nRecurrentLayers);
        return (i + 1) % period != 0;
    }
    std::uint32_t qDim() const { return nHeads * headDim; }
    std::uint32_t kvDim() const { return nHeadsKv * headDim; }
    /// Layers with a full-context KV cache (neither sliding-window nor recurrent).
    std::uint32_t nFullLayers() const { return nLayers - nSlidingLayers - nRecurrentLayers; }
};

} // namespace QuantFit
