#pragma once

// The mixture-of-experts feed-forward block (docs/inference.md, "Mixture of experts"; llama.cpp's `build_moe_ffn` in
// src/llama-graph.cpp) over a batch of tokens:
//  1. router logits = ffn_gate_inp · h (+ router bias), one row per token
//  2. per token: gate (softmax over all experts, or the raw logits for gpt-oss), the
//     n_expert_used largest in descending order (ties to the lower index), their weights
//     (softmax of the selected logits for gpt-oss; optionally divided by their sum)
//  3. tokens grouped by expert: for each expert some token chose, its rows are gathered and
//     multiplied by that expert's slices of ffn_gate_exps / ffn_up_exps / ffn_down_exps (read in
//     place from the mapped 3-D tensors, so each expert's weights are read once per batch and
//     experts nobody chose are not touched), with expert biases when present
//  4. out = ((y_0 + y_1) + y_2) + ... over the token's slots, y_k = weight_k · expert output

#include "llamamodel.h"
#include "matmul.h"

#include <vector>

namespace QuantFit {
class JobContext;
}

namespace QuantFit::Infer {

/// Chooses the experts of `nTokens` tokens from their router logits ([nTokens x nExperts]):
/// writes `k` expert ids per token into `selected` and their weights into `weights` (both
/// [nTokens x k], slots in descending order of the gate value).
void routeTokens(const float *logits, int nTokens, int nExperts, int k, ExpertGating gating,
                 bool normalize, int *selected, float *weights);

/// Work buffers of moeFeedForward(), grown as needed and reused between calls.
struct MoeScratch {
    std::vector<float> logits, weights, rows, gate, up, down, slotOut;
    std::vector<int> selected, order, start;
};

struct MoeCall {
    const LlamaModel::Layer &layer;
    const LlamaHParams &hp;
    const ArchParts &parts;
    MatmulOptions matmul;
    JobContext *ctx = nullptr;
    const MatmulObserver *observer = nullptr;             ///< sees the router's input
    const ExpertMatmulObserver *expertObserver = nullptr; ///< sees each expert's inputs
};

/// out[t] = MoE(h[t]) for t < nTokens; `h` and `out` are row-major [nTokens x nEmbd].
void moeFeedForward(const MoeCall &call, const float *h, int nTokens, float *out,
                    MoeScratch &scratch);

/// Applies the gated activation `kind`: g[i] = act(g[i], u[i]) for i < n.
void applyGlu(FfnKind kind, float *g, const float *u, int n);

} // namespace QuantFit::Infer
