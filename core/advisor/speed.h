#pragma once

// Tokens per second, estimated from bytes and FLOPs (docs/advisor.md, "Speed", has the checks
// against published llama-bench runs and the typical error).
//
// Generation (tg) reads, per token, every active weight once plus the KV cache:
//   bytes per layer = non-expert weights + routed experts x (experts used / experts)
//                     + the layer's KV cache at the context
//   plus the output layer and one row of token_embd.
// Each device reads its own part at its bandwidth (the profile's figure, efficiency applied),
// one after the other, so  time per token = sum over devices of bytes / bandwidth  and
// tg = 1 / time. When the profile has the CPU's measured compute ceiling (the detected machine
// after `quantfit-cli bandwidth`), the CPU's part is a two-ceiling roofline:
//   CPU time = max(bytes / bandwidth, sum over types of bytes(type) / rate(type))
// where rate(type) is how fast this CPU's generation kernels multiply one token by weights of
// that type held in the caches, with the threads generation uses (the KV cache counts at the
// rate of its type). Presets have no measured rates and keep bytes / bandwidth. Checked
// against QuantFit's own generation on synthetic models of six weight types and two MoE models
// (docs/advisor.md, "This machine's own figures").
//
// Prompt processing (pp, a 512-token prompt as llama-bench's pp512) is bound by arithmetic:
//   FLOPs per token = 2 x active parameters (output layer included, token_embd is a lookup)
//                     + attention 4 x layers x heads x head dim x 256 (the mean position)
// over the device's effective throughput; expert matrix products run on small per-expert
// batches and count at half the throughput (kMoePromptEfficiency). With a discrete GPU,
// llama.cpp computes large batches on the GPU and copies the weights that live in RAM over
// PCIe once per 512-token micro-batch; on unified machines the CPU computes its own layers.

#include "machineprofile.h"
#include "placement.h"

namespace QuantFit {

constexpr double kMoePromptEfficiency = 0.5;
constexpr std::uint32_t kPromptBenchTokens = 512;

struct SpeedEstimate {
    double generationTokensPerSecond = 0;
    double promptTokensPerSecond = 0;
    double gpuBytesPerToken = 0;   ///< read by the GPU per generated token
    double cpuBytesPerToken = 0;   ///< read by the CPU per generated token
    double activeParams = 0;       ///< per token (MoE: shared part + used experts' share)
    double totalParams = 0;
    double flopsPerToken = 0;      ///< prompt processing
    /// The CPU's two ceilings per generated token (seconds): reading its bytes at the
    /// bandwidth, and the products at the measured per-type rates (0 without them).
    double cpuMemorySecondsPerToken = 0;
    double cpuComputeSecondsPerToken = 0;
    bool cpuComputeBound = false;
    /// The generation figure is QuantFit's own measured speed on this model file, not an
    /// estimate (machineadvice.h).
    bool generationMeasured = false;
    /// One sentence per term: bytes, bandwidths and their sources, FLOPs, throughput.
    QStringList basis;
};

/// Active parameters per token of `weights` (see above).
double activeParameters(const ModelShape &shape, const WeightMap &weights);
/// Bytes generation reads per token with everything on one device, at `context` tokens.
double bytesPerGeneratedToken(const ModelShape &shape, const WeightMap &weights,
                              std::uint32_t context, KvCacheType kvType);

/// The estimate for a placement (a placement that does not fit gives zeros and a reason).
SpeedEstimate estimateSpeed(const MachineProfile &machine, const ModelShape &shape,
                            const WeightMap &weights, const Placement &placement);

} // namespace QuantFit
