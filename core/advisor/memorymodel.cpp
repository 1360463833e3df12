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

std::uint32_t slidingCells(const ModelShape &s, std::uint32_t context)
{
    return std::uint32_t(
        std::min<std::uint64_t>(pad(context, 256), pad(s.slidingWindow + kUbatchTokens, 256)));
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
    return 2.0 * s.nLayers * double(kvRowBytes(s.kvDim(), type));
}

std::uint64_t kvCacheBytes(const ModelShape &s, std::uint32_t context, KvCacheType type)
{
    const std::uint64_t row = kvRowBytes(s.kvDim(), type);
    // llama.cpp pads the number of cells to a multiple of 256.
    const std::uint64_t cells = pad(context, 256);
    const std::uint64_t full = 2ull * s.nFullLayers() * row * cells;
    const std::uint64_t sliding =
        s.nSlidingLayers ? 2ull * s.nSlidingLayers * row * slidingCells(s, context) : 0;
    return full + sliding;
}

std::uint64_t computeBufferBytes(const ModelShape &s, std::uint32_t context, bool flashAttention)
{
    const std::uint64_t t = std::min(context, kUbatchTokens);
    const std::uint64_t tPadded = pad(t, 64);
    const std::uint64_t f32 = 4;
    const std::uint64_t maskElementBytes = flashAttention ? 2 : 4;

    // KV cells an attention layer sees: all of them, or the window for sliding layers.
    const std::uint64_t kFull = s.nFullLayers() ? pad(context, 256) : 0;
    const std::uint64_t kSliding = s.nSlidingLayers ? slidingCells(s, context) : 0;
    const std::uint64_t kMax = std::max(kFull, kSliding);

    std::uint64_t mask = 0;
    if (kFull)
        mask += kFull * tPadded * maskElementBytes;
    if (kSliding)
        mask += kSliding * tPadded * maskElementBytes;

    const std::uint64_t activations = (2ull * s.nEmbd + 2ull * s.qDim()) * t * f32;
    std::uint64_t attention = activations;
    if (!flashAttention)
        attention += std::uint64_t(s.nHeads) * kMax * t * f32;

    std::uint64_t ffn = 0;
    if (s.isMoe()) {
        ffn = (2ull * s.nEmbd + 2ull * s.nExperts
               + std::uint64_t(s.nExpertsUsed) * (2ull * s.nFfExpert + s.nEmbd))
              * t * f32;
    } else {
        const std::uint64_t upWidth = s.architecture == QLatin1String("phi3") ? 3ull * s.nFf
                                                                              : 2ull * s.nFf;
        ffn = (2ull * s.nEmbd + upWidth) * t * f32;
    }

    const std::uint64_t output = (std::uint64_t(s.nVocab) + s.nEmbd) * t * f32;
    return std::max({attention + mask, ffn + mask, output});
}

std::uint64_t runtimeOverheadBytes(const ModelShape &s)
{
    return std::uint64_t(s.nVocab) * 4 + kRuntimeFixedBytes;
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
    m.kvCacheBytes = kvCacheBytes(s, context, options.kvType);
    m.computeBytes = computeBufferBytes(s, context, effectiveFlashAttention(options));
    m.overheadBytes = runtimeOverheadBytes(s);
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
