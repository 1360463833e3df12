#include "archparts.h"

#include <QStringList>

namespace QuantFit {

namespace {

// One row per architecture (docs/inference.md, "Architectures"). llama covers Mixtral-style
// files (experts in every layer when expert_count > 0); qwen2 differs from llama only in its
// RoPE mode and the Q/K/V biases, which every architecture accepts when present.
const ArchParts kParts[] = {
    {.name = "llama", .rope = RopeType::Normal, .moeAllowed = true},
    {.name = "mistral", .rope = RopeType::Normal},
    {.name = "qwen2", .rope = RopeType::Neox},
    {.name = "qwen3", .rope = RopeType::Neox, .qkNorm = true},
    {.name = "qwen3moe",
     .rope = RopeType::Neox,
     .moeAllowed = true,
     .moeRequired = true,
     .qkNorm = true},
    {.name = "gpt-oss",
     .rope = RopeType::Neox,
     .ffn = FfnKind::SwiGluOai,
     .gating = ExpertGating::SoftmaxWeight,
     .normalizeExpertWeights = false,
     .moeAllowed = true,
     .moeRequired = true,
     .attnSinks = true,
     .outputRequired = true,
     .ffnNormIsPostAttention = true,
     .swa = SlidingWindow::Required,
     .swaDefaultPeriod = 2},
    {.name = "gemma3",
     .rope = RopeType::Neox,
     .ffn = FfnKind::GeGlu,
     .qkNorm = true,
     .postNorms = true,
     .embedScale = true,
     .preScaleQuery = true,
     .preScaleEmbdLayers = 62,
     .finalSoftcapOptional = true,
     .swa = SlidingWindow::Optional,
     .swaDefaultPeriod = 6,
     .swaRopeBaseDefault = 10000.0f,
     .swaFreqScaleOne = true},
    {.name = "gemma2",
     .rope = RopeType::Neox,
     .ffn = FfnKind::GeGlu,
     .postNorms = true,
     .embedScale = true,
     .preScaleQuery = true,
     .preScaleEmbdLayers = 46,
     .attnSoftcap = true,
     .finalSoftcapAlways = true,
     .lmHeadIsEmbedding = true,
     .swa = SlidingWindow::Always,
     .swaDefaultWindow = 4096,
     .swaDefaultPeriod = 2},
    {.name = "phi3",
     .rope = RopeType::Neox,
     .preScaleQuery = true,
     .fusedGateUp = true,
     .longRope = true},
};

} // namespace

const ArchParts *archPartsFor(const QString &architecture)
{
    for (const ArchParts &p : kParts) {
        if (architecture == QLatin1String(p.name))
            return &p;
    }
    return nullptr;
}

QString supportedArchitectures()
{
    QStringList names;
    for (const ArchParts &p : kParts)
        names << QString::fromLatin1(p.name);
    return names.join(QStringLiteral(", "));
}

} // namespace QuantFit
