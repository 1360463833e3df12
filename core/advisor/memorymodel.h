#pragma once

// Memory that llama.cpp (CPU backend) needs to run a model, besides the mapped weights.
//
// KV cache (llama.cpp llama-kv-cache): per layer a K and a V tensor of n_embd_k_gqa x cells
// elements, n_embd_k_gqa = KV heads x head dim, so
//   bytes = 2 x layers x KV heads x head dim x cells x bytes per element
// with bytes per element f16 2, q8_0 34/32, q4_0 18/32 (ggml block sizes). Full-attention layers
// hold `context` cells, padded to a multiple of 256 as llama.cpp does. Sliding-window layers
// (Gemma 2/3) hold only their window: llama.cpp's interleaved-SWA cache sizes them
// min(context, pad256(window + n_ubatch)).
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
//   output: logits n_vocab x T x 4 + final norm n_embd x T x 4 (every token is an output
//       while reserving)
// Checked against llama.cpp logs: Llama-2-7B at n_ctx 512 reports a 70.50 MiB CPU compute
// buffer = logits 62.5 MiB + norm 8 MiB; Llama-3-8B reports 258.50 MiB for small contexts
// (logits 250.5 + 8) and about 560 MiB at n_ctx 8192 without flash attention (KQ 512 MiB +
// mask 16 MiB + activations); a Mistral-7B-shaped model logs 164 MiB at n_ctx 2048 and 2144 MiB
// at 32768, exactly the formula. (Newer llama-server builds reserve logits for one output per
// sequence only; the output term then overestimates by up to n_vocab x 512 x 4 bytes, which is
// on the safe side.)
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

/// KV bytes per token counting every layer at full context (the sliding window ignored).
double kvBytesPerToken(const ModelShape &shape, KvCacheType type);
/// KV-cache bytes for `context` tokens, sliding-window layers capped.
std::uint64_t kvCacheBytes(const ModelShape &shape, std::uint32_t context, KvCacheType type);
/// Compute-buffer bytes at `context` (see the formula above).
std::uint64_t computeBufferBytes(const ModelShape &shape, std::uint32_t context,
                                 bool flashAttention);
/// Output buffer + fixed process overhead.
std::uint64_t runtimeOverheadBytes(const ModelShape &shape);
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
