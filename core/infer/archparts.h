#pragma once

// The per-architecture parts of the one forward pass (inferencesession.cpp): which norms,
// attention variant, feed-forward kind and expert routing an architecture uses, as llama.cpp's
// graphs build them (src/models/{llama,qwen2,qwen3,qwen3moe,openai-moe,gemma2,gemma3,phi3}.cpp;
// docs/inference.md lists them). An architecture is one row of a table, not a code path: the
// session reads these flags and the hyper-parameters resolved from them.

#include <QString>

#include <optional>

namespace QuantFit {

enum class RopeType {
    Normal, ///< rotate adjacent pairs (2i, 2i+1): llama, mistral
    Neox,   ///< rotate (i, i + n_rot/2): qwen2, qwen3, gpt-oss, gemma, phi3
};

/// The gated activation of the feed-forward block (dense or expert).
enum class FfnKind {
    SwiGlu,    ///< silu(gate) * up
    GeGlu,     ///< gelu(gate) * up, through ggml's F16 GELU table
    SwiGluOai, ///< gpt-oss: clamped gate and up, sigmoid(1.702 g) and (up + 1)
};

/// How router logits become expert weights (llama.cpp's `build_moe_ffn` gating).
enum class ExpertGating {
    Softmax,       ///< softmax over all experts, top-k of the probabilities
    SoftmaxWeight, ///< top-k of the raw logits, softmax over the k selected ones
};

/// Where the SWA layers and their RoPE base come from.
enum class SlidingWindow {
    None,      ///< every layer global
    Optional,  ///< SWA when attention.sliding_window is present and > 0 (gemma3)
    Always,    ///< SWA with a default window (gemma2)
    Required,  ///< the key must be present (gpt-oss)
};

/// One architecture's parts. Tensor requirements follow from them (a post-FFN norm means
/// blk.N.post_ffw_norm.weight is required, and so on).
struct ArchParts {
    const char *name;
    RopeType rope;
    FfnKind ffn = FfnKind::SwiGlu;
    ExpertGating gating = ExpertGating::Softmax;
    bool normalizeExpertWeights = true; ///< w_k /= sum of the selected weights
    bool moeAllowed = false;            ///< expert_count > 0 is accepted
    bool moeRequired = false;           ///< every layer must be MoE
    bool qkNorm = false;                ///< per-head RMSNorm of q and k before RoPE
    bool postNorms = false;             ///< RMSNorm of the attention and FFN outputs (gemma)
    bool embedScale = false;            ///< embeddings times sqrtf(n_embd) (gemma)
    bool preScaleQuery = false;         ///< q *= 1/sqrt(head_dim) before attention (gemma, phi3)
    int preScaleEmbdLayers = 0;         ///< n_layer for which the query scale uses n_embd/n_head
    bool attnSoftcap = false;           ///< cap * tanh(s / cap) on attention scores (gemma2)
    bool finalSoftcapAlways = false;    ///< final logit soft-capping with default 30 (gemma2)
    bool finalSoftcapOptional = false;  ///< final_logit_softcapping when present (gemma3)
    bool attnSinks = false;             ///< blk.N.attn_sinks.weight required (gpt-oss)
    bool outputRequired = false;        ///< output.weight required (gpt-oss)
    bool lmHeadIsEmbedding = false;     ///< the LM head is token_embd even with output.weight
    bool ffnNormIsPostAttention = false;///< the pre-FFN norm is named post_attention_norm
    bool fusedGateUp = false;           ///< phi3: ffn_up holds gate then up (2 * n_ff rows)
    bool longRope = false;              ///< rope_factors_short / rope_factors_long (phi3)
    SlidingWindow swa = SlidingWindow::None;
    int swaDefaultWindow = 0;
    int swaDefaultPeriod = 2;
    std::optional<float> swaRopeBaseDefault = std::nullopt; ///< θ_base_swa when the key is absent (else θ_base)
    bool swaFreqScaleOne = false;       ///< SWA layers use freq_scale 1 (gemma3)
};

/// The parts of `architecture`, or null when the forward pass does not implement it.
const ArchParts *archPartsFor(const QString &architecture);

/// Names of the implemented architectures, comma-separated (for error messages).
QString supportedArchitectures();

} // namespace QuantFit
