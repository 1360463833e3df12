#pragma once

#include <QString>

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
    bool ropeFreqs = false;   ///< Llama 3.1+: rope_freqs.weight (llama3 rope scaling)

    bool bpeTokenizer = true;     ///< BPE (tokens, types, merges) or SPM (tokens, scores, types)
    std::uint32_t nMerges = 0;    ///< BPE merges (0 = estimate from the vocab size)

    std::optional<double> mmlu; ///< published MMLU (5-shot), for choosing between models
    bool lineup = false;        ///< one of the brief's size ladder (8B, 13B, 34B, 70B, 405B)

    bool isMoe() const { return nExperts > 1; }
    std::uint32_t qDim() const { return nHeads * headDim; }
    std::uint32_t kvDim() const { return nHeadsKv * headDim; }
    std::uint32_t nFullLayers() const { return nLayers - nSlidingLayers; }
};

} // namespace QuantFit
