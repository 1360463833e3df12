#pragma once

// Memory that llama.cpp needs to run a model, besides the mapped weights. Figures follow
// llama.cpp b10472 (current as of this writing); docs/advisor-data.md lists the logs they are
// checked against and what older builds did differently.
//
// Context cells: llama.cpp pads n_ctx to a multiple of 256 (llama-context.cpp, since the change
// that made the padding unconditional; builds before it padded to 32 without flash attention
// and 256 with it). llama-server runs several sequences (auto: 4, with one unified KV cache of
// n_ctx cells shared by all of them); llama-cli and llama-bench run one.
//
// KV cache (llama-kv-cache): per layer a K and a V tensor of n_embd_k_gqa x cells elements,
// n_embd_k_gqa = KV heads x head dim, so
//   bytes = 2 x layers x KV heads x head dim x cells x bytes per element
// with bytes per element f16 2, q8_0 34/32, q4_0 18/32 (ggml block sizes). Full-attention layers
// hold all cells. Sliding-window (Gemma 2/3, gpt-oss) and chunked (Llama 4) layers hold
//   pad256(min(cells, window x slots + n_ubatch))      (llama-kv-cache-iswa)
// so llama-server's four slots hold four windows. Latent attention (DeepSeek V3, Kimi K2) caches
// only the compressed latent and the rotary key, kv_lora_rank + qk_rope_head_dim elements per
// token and layer, and no V at all (the V of the attention is a view of it). Recurrent layers
// (Qwen3-Next's gated delta-net) keep a fixed F32 state per sequence instead: conv state
// (kernel - 1) x (2 x key dim + value dim) and the delta-rule state key head dim x value dim x
// value heads, whatever the context.
//
// Compute buffer (llama.cpp reserves the worst-case graph for one micro-batch of
// n_ubatch = min(512, context) tokens and context KV cells; ggml-alloc reuses a tensor's memory
// as soon as its last consumer ran, and soft_max runs in place). The buffer is the peak over the
// graph of the live f32 activations, T = n_ubatch, K = context (the window for SWA layers):
//   attention without flash attention: KQ scores heads x K x T x 4
//       + residual, normed input, Q and KQV output: (2 x n_embd + 2 x heads x head_dim) x T x 4
//   attention with flash attention: no KQ matrix; the same activations only
//   KQ mask (live through all layers): K x pad64(T) x 4 bytes (f32), or x 2 (f16) with flash
//       attention; models with sliding-window layers keep a second mask for the window
//   feed-forward: (2 x n_embd + 2 x n_ff) x T x 4 (gate and up; the product is in place);
//       MoE: router logits and probabilities 2 x experts, and gate/up/down of the used experts
//       (and of the shared expert)
//   output: logits n_vocab x T x 4 + final norm n_embd x T x 4 (every token is an output
//       while reserving)
// Checked against llama.cpp logs: Llama-2-7B at n_ctx 512 reports a 70.50 MiB CPU compute
// buffer = logits 62.5 MiB + norm 8 MiB; Llama-3-8B reports 258.50 MiB for small contexts
// (logits 250.5 + 8) and about 560 MiB at n_ctx 8192 without flash attention (KQ 512 MiB +
// mask 16 MiB + activations); a Mistral-7B-shaped model logs 164 MiB at n_ctx 2048 and 2144 MiB
// at 32768, exactly the formula.
//
// GPU backends (CUDA, Metal, ROCm, Vulkan) with every layer on the GPU: the device buffer is the
// same peak, except that the output phase also holds the batch's input embeddings copied to the
// device (n_embd x T x 4 more: gpt-oss-20b on Metal logs 404.00 MiB = (201088 + 2 x 2880) x 512
// x 4). The host keeps a second, small compute buffer for the graph inputs: the embeddings
// looked up from token_embd (which stays in RAM) n_embd x T x 4, the f32 KQ masks (cells and
// window cells x T x 4) and the token, position and output-id arrays (gpt-oss-20b at 4096
// logs 15.15 MiB).
//
// Runtime overhead: the logits output buffer (n_vocab x 4 bytes per sequence) plus a fixed
// 256 MiB for the process, libraries, thread pools and graph metadata.
//
// A quantized V cache needs flash attention in llama.cpp; the advisor then assumes it is on.

#include "advisor.h"

#include <cstdint>

namespace QuantFit {

constexpr std::uint32_t kUbatchTokens = 512;
constexpr std::uint64_t kRuntimeFixedBytes = 256ull * 1024 * 1024;

/// KV bytes per token counting every layer that has a KV cache at full context (the sliding
/// window ignored; recurrent layers have none). Latent attention: the cached latent only.
double kvBytesPerToken(const ModelShape &shape, KvCacheType type);
/// KV-cache bytes for `context` tokens, sliding-window layers capped, for `nSlots` sequences
/// sharing one unified cache (llama-server's default; 1 for llama-cli and llama-bench).
std::uint64_t kvCacheBytes(const ModelShape &shape, std::uint32_t context, KvCacheType type,
                           std::uint32_t nSlots = 1);
/// The KV-cache bytes of layer `layer` alone (0 for a recurrent layer), same rules; the sum
/// over the layers is kvCacheBytes(). For placing layers on devices.
std::uint64_t kvCacheLayerBytes(const ModelShape &shape, std::uint32_t layer,
                                std::uint32_t context, KvCacheType type, std::uint32_t nSlots = 1);
/// Fixed state of the recurrent (linear-attention) layers for `nSlots` sequences; 0 for models
/// without any.
std::uint64_t recurrentStateBytes(const ModelShape &shape, std::uint32_t nSlots = 1);
/// Compute-buffer bytes at `context` on the CPU backend (see the formula above).
std::uint64_t computeBufferBytes(const ModelShape &shape, std::uint32_t context,
                                 bool flashAttention, std::uint32_t nSlots = 1);

/// The two compute buffers of a run with every layer on a GPU.
struct GpuComputeBuffers {
    std::uint64_t deviceBytes = 0; ///< on the GPU ("CUDA0 compute buffer size")
    std::uint64_t hostBytes = 0;   ///< in system RAM ("CUDA_Host compute buffer size")
};
GpuComputeBuffers gpuComputeBuffers(const ModelShape &shape, std::uint32_t context,
                                    bool flashAttention, std::uint32_t nSlots = 1);

/// Output buffer + fixed process overhead.
std::uint64_t runtimeOverheadBytes(const ModelShape &shape, std::uint32_t nSlots = 1);
/// Whether flash attention is in effect: asked for, or forced by a quantized V cache.
bool effectiveFlashAttention(const AdviceOptions &options);

/// Memory of one run: `weightsBytes` plus the above at `context`, plus the reserve.
MemoryBreakdown memoryAt(const ModelShape &shape, std::uint64_t weightsBytes,
                         std::uint32_t context, const AdviceOptions &options,
                         std::uint64_t reserveBytes);

/// Largest multiple of 256 <= the model maximum whose total fits in `options.ramBytes`
/// (0 when even 256 tokens do not fit). Binary search: total grows with the context.
std::uint32_t longestContext(const ModelShape &shape, std::uint64_t weightsBytes,
                             const AdviceOptions &options, std::uint64_t reserveBytes);

/// Badge for a total against the machine (thresholds in advisor.h).
FitBadge fitBadge(const MemoryBreakdown &memory, std::uint64_t ramBytes);

} // namespace QuantFit
