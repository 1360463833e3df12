#pragma once

// Where llama.cpp puts a model's bytes on a machine, and the settings that put them there.
//
// llama.cpp's rules (src/llama-model.cpp, load_tensors; common/arg.cpp):
//   - the input layer (token_embd) always stays in system RAM;
//   - `-ngl N` puts the LAST N repeating layers on the GPU; the output layer (output.weight,
//     output_norm) goes too when N > layers, so "everything" is N = layers + 1;
//   - `--n-cpu-moe M` keeps the expert tensors (ffn_*_exps) of the FIRST M layers in system RAM
//     while the rest of those layers (attention, norms, router, shared expert) stays on the GPU;
//   - the KV cache of a layer lives where the layer is (KV offload is on by default).
// For a model too big for the GPU we prefer, for an MoE model, all layers on the GPU with the
// experts of as few layers as needed in RAM (attention and KV cache stay fast; the experts are
// only a small share of each token's reads), and for a dense model the most whole layers that
// fit.
//
// Memory per device: weights + KV cache (memorymodel.h, per layer) + compute buffers. With a
// GPU, the device and host compute buffers are the memory model's gpuComputeBuffers(); when
// layers or experts run on the CPU, the CPU needs its own share of a compute buffer too (we
// charge the memory model's CPU buffer in proportion to the layers with weights in RAM, an
// estimate). The process overhead and the OS reserve are in RAM.
// A discrete GPU keeps 512 MiB free for the desktop and the driver's context.

#include "advisor.h"
#include "machineprofile.h"

#include "gguf/ggmltype.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace QuantFit {

class GgufFile;

/// Bytes per tensor type (the compute ceiling of generation depends on the type).
struct TypeBytes {
    std::vector<std::pair<GgmlType, std::uint64_t>> bytes; ///< one entry per type present

    void add(GgmlType type, std::uint64_t n);
};

/// Bytes and parameters of one repeating layer, split into the routed experts and the rest.
struct LayerWeights {
    std::uint64_t denseBytes = 0;   ///< attention, norms, router, shared expert, dense FFN
    std::uint64_t expertBytes = 0;  ///< ffn_*_exps (weights and biases)
    std::uint64_t denseParams = 0;
    std::uint64_t expertParams = 0;
    TypeBytes denseTypes;  ///< denseBytes by tensor type
    TypeBytes expertTypes; ///< expertBytes by tensor type
};

/// A model's tensor data at one quant level, by where llama.cpp places it.
struct WeightMap {
    std::uint64_t inputBytes = 0;  ///< token_embd and anything outside the layers but output
    std::uint64_t inputParams = 0;
    std::uint64_t inputRowBytes = 0; ///< one token's row of token_embd (read per token)
    std::uint64_t outputBytes = 0; ///< output.weight, output_norm
    std::uint64_t outputParams = 0;
    TypeBytes outputTypes;         ///< outputBytes by tensor type
    std::vector<LayerWeights> layers;

    std::uint64_t totalBytes() const;
};

/// The map of a catalog shape at `fileType` (the quantizer's plan over the tensor list the
/// conversion would write). Throws Error for a shape the tensor builder refuses.
WeightMap weightMapForShape(const ModelShape &shape, FileType fileType);
/// The map of an opened GGUF's real tensors.
WeightMap weightMapForFile(const GgufFile &file, std::uint32_t nLayers);

struct PlacementOptions {
    std::uint32_t contextTokens = 0; ///< must be > 0
    KvCacheType kvType = KvCacheType::F16;
    bool flashAttention = false;
    std::optional<std::uint64_t> reserveBytes; ///< OS reserve; default by system RAM
    /// Parallel sequences (llama-server -np); the command line states it, so the KV cache
    /// computed here is the one llama-server allocates.
    std::uint32_t nSlots = 1;
    QString modelFile = QStringLiteral("MODEL.gguf"); ///< for the command line
};

struct DeviceMemory {
    std::uint64_t weightsBytes = 0;
    std::uint64_t kvCacheBytes = 0;
    std::uint64_t computeBytes = 0;
    std::uint64_t overheadBytes = 0; ///< RAM only: process overhead
    std::uint64_t totalBytes() const
    {
        return weightsBytes + kvCacheBytes + computeBytes + overheadBytes;
    }
};

enum class PlacementMode {
    CpuOnly,       ///< no GPU, or nothing fits on it
    FullGpu,       ///< every layer and the output layer on the GPU
    ExpertOffload, ///< every layer on the GPU, the experts of the first layers in RAM
    LayerOffload,  ///< the last layers on the GPU, the first ones in RAM
    DoesNotFit,
};
QString placementModeName(PlacementMode mode);

struct Placement {
    PlacementMode mode = PlacementMode::DoesNotFit;
    std::uint32_t nLayers = 0;
    std::uint32_t nGpuLayers = 0; ///< -ngl (layers + 1 = all and the output layer)
    std::uint32_t nCpuMoe = 0;    ///< --n-cpu-moe
    std::uint32_t contextTokens = 0;
    KvCacheType kvType = KvCacheType::F16;
    bool flashAttention = false;
    DeviceMemory gpu;
    DeviceMemory host;
    std::uint64_t reserveBytes = 0;
    std::uint64_t gpuLimitBytes = 0;    ///< what the GPU may hold (margin taken off)
    std::uint64_t systemRamBytes = 0;   ///< what the OS sees
    /// RAM used in all: host total + reserve + the GPU's part that comes out of RAM (unified).
    std::uint64_t ramUsedBytes = 0;
    std::uint32_t longestContextTokens = 0; ///< with this placement; multiple of 256
    QStringList explanation; ///< why this placement, one sentence each
    QString llamaCommand;    ///< llama-server ... (empty when it does not fit)
    QString lmStudio;        ///< LM Studio's settings, or empty
    QString ollama;          ///< Ollama's, or empty

    bool fits() const { return mode != PlacementMode::DoesNotFit; }
    /// Whether layer `i`'s non-expert part is on the GPU.
    bool layerOnGpu(std::uint32_t i) const { return i + nGpuLayers >= nLayers
                                                    && nGpuLayers > 0; }
    bool expertsOnGpu(std::uint32_t i) const { return layerOnGpu(i) && i >= nCpuMoe; }
    bool outputOnGpu() const { return nGpuLayers > nLayers; }
};

/// Places `weights` of `shape` on `machine` at options.contextTokens. Throws Error when the
/// context is 0 or the map's layer count differs from the shape's.
Placement planPlacement(const MachineProfile &machine, const ModelShape &shape,
                        const WeightMap &weights, const PlacementOptions &options);

} // namespace QuantFit
