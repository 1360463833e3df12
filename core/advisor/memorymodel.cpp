#include "memorymodel.h"

#include <algorithm>

namespace QuantFit {

namespace {

std::uint64_t pad(std::uint64_t x, std::uint64_t to)
{
    return (x + to - 1) / to * to;
}

std::uint64_t kvRowBytes(std::uint64_t elements, KvCacheType type)
{
    switch (type) {
    case KvCacheType::F16:
        return elements * 2;
    case KvCacheType::Q8_0:
        return pad(elements, 32) / 32 * 34;
    case KvCacheType::Q4_0:
        return pad(elements, 32) / 32 * 18;
    }
    return elements * 2;
}

std::uint32_t slotCount(std::uint32_t nSlots)
{
    return std::max(1u, nSlots);
}

// Cells of the sliding-window cache (llama-kv-cache-iswa, b10472): the window of every
// sequence plus one micro-batch, at most the full cache, padded to 256.
std::uint64_t slidingCells(const ModelShape &s, std::uint32_t context, std::uint32_t nSlots)
{
    const std::uint64_t full = pad(context, 256);
    return pad(std::min<std::uint64_t>(full, std::uint64_t(s.slidingWindow) * slotCount(nSlots)
                                                 + kUbatchTokens),
               256);
}

// K and V row bytes of one layer and one cell.
std::uint64_t kvCellBytes(const ModelShape &s, KvCacheType type)
{
    if (s.isMla()) // latent + rotary key, no V
        return kvRowBytes(std::uint64_t(s.kvLoraRank) + s.ropeHeadDim, type);
    return 2 * kvRowBytes(s.kvDim(), type);
}

} // namespace

double kvBytesPerElement(KvCacheType type)
{
    switch (type) {
    case KvCacheType::F16:
        return 2.0;
    case KvCacheType::Q8_0:
        return 34.0 / 32.0;
    case KvCacheType::Q4_0:
        return 18.0 / 32.0;
    }
    return 2.0;
}

double kvBytesPerToken(const ModelShape &s, KvCacheType type)
{
    return double(s.nLayers - s.nRecurrentLayers) * double(kvCellBytes(s, type));
}

std::uint64_t kvCacheLayerBytes(const ModelShape &s, std::uint32_t layer, std::uint32_t context,
                                KvCacheType type, std::uint32_t nSlots)
{
    // Multi-token-prediction layers (i >= nLayers) get no cache in llama.cpp.
    if (layer >= s.nLayers || s.isRecurrentLayer(layer))
        return 0;
    const std::uint64_t cells = s.isSlidingLayer(layer) ? slidingCells(s, context, nSlots)
                                                        : pad(context, 256);
    return kvCellBytes(s, type) * cells;
}

std::uint64_t kvCacheBytes(const ModelShape &s, std::uint32_t context, KvCacheType type,
                           std::uint32_t nSlots)
{
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < s.nLayers; ++i)
        total += kvCacheLayerBytes(s, i, context, type, nSlots);
    return total;
}

std::uint64_t recurrentStateBytes(const ModelShape &s, std::uint32_t nSlots)
{
    if (s.nRecurrentLayers == 0)
        return 0;
    const std::uint64_t keyDim = std::uint64_t(s.ssmKeyHeads) * s.ssmKeyHeadDim;
    const std::uint64_t valueDim = std::uint64_t(s.ssmValueHeads) * s.ssmValueHeadDim;
    const std::uint64_t conv = std::uint64_t(s.ssmConvKernel - 1) * (2 * keyDim + valueDim);
    const std::uint64_t delta = std::uint64_t(s.ssmKeyHeadDim) * valueDim;
    return (conv + delta) * 4 * s.nRecurrentLayers * slotCount(nSlots);
}

namespace {

// The peak of the graph's live activations (see memorymodel.h); `extraOutput` is added to the
// output phase (the device copy of the input embeddings on a GPU).
std::uint64_t computePeak(const ModelShape &s, std::uint32_t context, bool flashAttention,
                          std::uint32_t nSlots, std::uint64_t extraOutput)
{
    const std::uint64_t t = std::min(context, kUbatchTokens);
    const std::uint64_t tPadded = pad(t, 64);
    const std::uint64_t f32 = 4;
    const std::uint64_t maskElementBytes = flashAttention ? 2 : 4;

    // KV cells an attention layer sees: all of them, or the window for sliding layers.
    const std::uint64_t kFull = s.nFullLayers() ? pad(context, 256) : 0;
    const std::uint64_t kSliding = s.nSlidingLayers ? slidingCells(s, context, nSlots) : 0;
    const std::uint64_t kMax = std::max(kFull, kSliding);

    std::uint64_t mask = 0;
    if (kFull)
        mask += kFull * tPadded * maskElementBytes;
    if (kSliding)
        mask += kSliding * tPadded * maskElementBytes;

    const std::uint64_t activations = (2ull * s.nEmbd + 2ull * s.qDim()) * t * f32;
    std::uint64_t attention = activations;
    if (!flashAttention && (kFull || kSliding))
        attention += std::uint64_t(s.nHeads) * kMax * t * f32;

    std::uint64_t ffn = 0;
    if (s.isMoe()) {
        ffn = (2ull * s.nEmbd + 2ull * s.nExperts
               + std::uint64_t(s.nExpertsUsed) * (2ull * s.nFfExpert + s.nEmbd)
               + (s.nSharedExperts ? 2ull * s.nFfShared + s.nEmbd : 0))
              * t * f32;
    }
    if (!s.isMoe() || s.nDenseLeadLayers > 0 || s.moeLayerStep > 1) {
        const std::uint64_t upWidth = s.architecture == QLatin1String("phi3") ? 3ull * s.nFf
                                                                              : 2ull * s.nFf;
        ffn = std::max<std::uint64_t>(ffn, (2ull * s.nEmbd + upWidth) * t * f32);
    }

    const std::uint64_t output = (std::uint64_t(s.nVocab) + s.nEmbd) * t * f32 + extraOutput;
    return std::max({attention + mask, ffn + mask, output});
}

} // namespace

std::uint64_t computeBufferBytes(const ModelShape &s, std::uint32_t context, bool flashAttention,
                                 std::uint32_t nSlots)
{
    return computePeak(s, context, flashAttention, nSlots, 0);
}

GpuComputeBuffers gpuComputeBuffers(const ModelShape &s, std::uint32_t context,
                                    bool flashAttention, std::uint32_t nSlots)
{
    const std::uint64_t t = std::min(context, kUbatchTokens);
    const std::uint64_t embeddings = std::uint64_t(s.nEmbd) * t * 4;
    GpuComputeBuffers b;
    b.deviceBytes = computePeak(s, context, flashAttention, nSlots, embeddings);
    // Host: the looked-up embeddings, the f32 masks (cast to f16 on the device for flash
    // attention), and the int32 token, position and output-id inputs with their alignment
    // (24 KiB: what the gpt-oss-20b log leaves after the first two, not derived).
    const std::uint64_t tPadded = pad(t, 64);
    const std::uint64_t kFull = s.nFullLayers() ? pad(context, 256) : 0;
    const std::uint64_t kSliding = s.nSlidingLayers ? slidingCells(s, context, nSlots) : 0;
    b.hostBytes = embeddings + (kFull + kSliding) * tPadded * 4 + 24 * 1024;
    return b;
}

std::uint64_t runtimeOverheadBytes(const ModelShape &s, std::uint32_t nSlots)
{
    return std::uint64_t(s.nVocab) * 4 * slotCount(nSlots) + kRuntimeFixedBytes;
}

bool effectiveFlashAttention(const AdviceOptions &options)
{
    return options.flashAttention || options.kvType != KvCacheType::F16;
}

MemoryBreakdown memoryAt(const ModelShape &s, std::uint64_t weightsBytes, std::uint32_t context,
                         const AdviceOptions &options, std::uint64_t reserveBytes)
{
    MemoryBreakdown m;
    m.weightsBytes = weightsBytes;
    const std::uint32_t nSlots = options.parallelSlots;
    // Recurrent layers' fixed state is counted with the cache it replaces.
    m.kvCacheBytes =
        kvCacheBytes(s, context, options.kvType, nSlots) + recurrentStateBytes(s, nSlots);
    m.computeBytes = computeBufferBytes(s, context, effectiveFlashAttention(options), nSlots);
    m.overheadBytes = runtimeOverheadBytes(s, nSlots);
    m.visionBytes = options.vision ? s.mmprojBytes : 0;
    m.reserveBytes = reserveBytes;
    return m;
}

std::uint32_t longestContext(const ModelShape &s, std::uint64_t weightsBytes,
                             const AdviceOptions &options, std::uint64_t reserveBytes)
{
    auto fits = [&](std::uint32_t steps) {
        return memoryAt(s, weightsBytes, steps * 256u, options, reserveBytes).totalBytes()
               <= options.ramBytes;
    };
    std::uint32_t lo = 0; // fits (0 = nothing)
    std::uint32_t hi = s.nCtxMax / 256;
    if (hi == 0 || !fits(1))
        return 0;
    if (fits(hi))
        return hi * 256;
    lo = 1;
    while (hi - lo > 1) {
        const std::uint32_t mid = lo + (hi - lo) / 2;
        if (fits(mid))
            lo = mid;
        else
            hi = mid;
    }
    return lo * 256;
}

FitBadge fitBadge(const MemoryBreakdown &m, std::uint64_t ramBytes)
{
    const std::uint64_t total = m.totalBytes();
    if (total > ramBytes)
        return FitBadge::DoesNotFit;
    const std::uint64_t usable = ramBytes > m.reserveBytes ? ramBytes - m.reserveBytes : 0;
    const std::uint64_t used = total - m.reserveBytes;
    // Comfortable: a quarter of the usable memory stays free for longer context and other apps.
    if (used * 4 <= usable * 3)
        return FitBadge::Comfortable;
    return FitBadge::Tight;
}

} // namespace QuantFit
