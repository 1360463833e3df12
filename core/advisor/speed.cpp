#include "speed.h"

#include "memorymodel.h"

#include <algorithm>

namespace QuantFit {

namespace {

double expertShare(const ModelShape &s)
{
    return s.isMoe() && s.nExperts > 0 ? double(s.nExpertsUsed) / double(s.nExperts) : 1.0;
}

QString gbText(double bytes)
{
    return QString::number(bytes / 1e9, 'f', 2);
}

QString typeLabel(GgmlType type)
{
    return ggmlTypeName(type).toUpper(); // "Q4_K", "IQ4_XS", "F16"
}

// The CPU's compute ceiling: seconds the measured one-token products take for these bytes,
// per type (`share` of them read per token). Types without a measured rate add nothing; their
// bytes are counted in `unrated`.
struct CpuCompute {
    const MachineProfile &m;
    double seconds = 0;
    double unrated = 0;
    std::vector<std::pair<GgmlType, double>> bytesByType; // for the basis

    void add(const TypeBytes &tb, double share)
    {
        for (const auto &[type, bytes] : tb.bytes)
            addBytes(type, double(bytes) * share);
    }
    void addBytes(GgmlType type, double bytes)
    {
        const double rate = m.cpuDotRate(type);
        if (rate > 0)
            seconds += bytes / rate;
        else
            unrated += bytes;
        for (auto &e : bytesByType) {
            if (e.first == type) {
                e.second += bytes;
                return;
            }
        }
        bytesByType.emplace_back(type, bytes);
    }
    /// The type whose products take the most time ("MXFP4 rows at 16 GB/s").
    std::pair<GgmlType, double> main() const
    {
        std::pair<GgmlType, double> best{GgmlType::F32, 0};
        double bestSeconds = -1;
        for (const auto &e : bytesByType) {
            const double rate = m.cpuDotRate(e.first);
            const double seconds = rate > 0 ? e.second / rate : 0;
            if (seconds > bestSeconds) {
                bestSeconds = seconds;
                best = e;
            }
        }
        return best;
    }
};

} // namespace

// The layers a token runs: not the multi-token-prediction blocks after them.
static std::size_t runLayers(const ModelShape &s, const WeightMap &w)
{
    return std::min<std::size_t>(w.layers.size(), s.nLayers);
}

double activeParameters(const ModelShape &s, const WeightMap &w)
{
    double active = double(w.outputParams);
    for (std::size_t i = 0; i < runLayers(s, w); ++i)
        active += double(w.layers[i].denseParams) + double(w.layers[i].expertParams) * expertShare(s);
    return active;
}

double bytesPerGeneratedToken(const ModelShape &s, const WeightMap &w, std::uint32_t context,
                              KvCacheType kvType)
{
    double bytes = double(w.outputBytes) + double(w.inputRowBytes)
        + double(kvCacheBytes(s, context, kvType)) + double(recurrentStateBytes(s));
    for (std::size_t i = 0; i < runLayers(s, w); ++i)
        bytes += double(w.layers[i].denseBytes) + double(w.layers[i].expertBytes) * expertShare(s);
    return bytes;
}

SpeedEstimate estimateSpeed(const MachineProfile &m, const ModelShape &s, const WeightMap &w,
                            const Placement &p)
{
    SpeedEstimate e;
    e.activeParams = activeParameters(s, w);
    e.totalParams = double(w.inputParams + w.outputParams);
    for (const LayerWeights &l : w.layers)
        e.totalParams += double(l.denseParams + l.expertParams);
    if (!p.fits()) {
        e.basis << QStringLiteral("No speed: the model does not fit this machine.");
        return e;
    }

    // Generation: bytes per device.
    const double share = expertShare(s);
    const double statePerLayer = double(recurrentStateBytes(s)) / std::max(1u, s.nLayers);
    double hostWeightBytes = 0; // weights in RAM that a GPU prompt pass copies (no token_embd)
    double cpuExpertParams = 0, cpuDenseParams = 0;
    CpuCompute compute{m, 0, 0, {}};
    for (std::uint32_t i = 0; i < s.nLayers; ++i) {
        const LayerWeights &l = w.layers[i];
        const double dense = double(l.denseBytes);
        const double experts = double(l.expertBytes) * share;
        const double kvPerLayer =
            double(kvCacheLayerBytes(s, i, p.contextTokens, p.kvType)) + statePerLayer;
        if (p.layerOnGpu(i)) {
            e.gpuBytesPerToken += dense + kvPerLayer;
            if (p.expertsOnGpu(i)) {
                e.gpuBytesPerToken += experts;
            } else {
                e.cpuBytesPerToken += experts;
                compute.add(l.expertTypes, share);
                hostWeightBytes += double(l.expertBytes);
                cpuExpertParams += double(l.expertParams) * share;
            }
        } else {
            e.cpuBytesPerToken += dense + experts + kvPerLayer;
            compute.add(l.denseTypes, 1.0);
            compute.add(l.expertTypes, share);
            // attention reads the F16 (or quantized) cache with one-row products like these
            compute.addBytes(p.kvType == KvCacheType::F16  ? GgmlType::F16
                             : p.kvType == KvCacheType::Q8_0 ? GgmlType::Q8_0
                                                             : GgmlType::Q4_0,
                             kvPerLayer);
            hostWeightBytes += double(l.denseBytes + l.expertBytes);
            cpuDenseParams += double(l.denseParams);
            cpuExpertParams += double(l.expertParams) * share;
        }
    }
    (p.outputOnGpu() ? e.gpuBytesPerToken : e.cpuBytesPerToken) += double(w.outputBytes);
    if (!p.outputOnGpu()) {
        hostWeightBytes += double(w.outputBytes);
        cpuDenseParams += double(w.outputParams);
        compute.add(w.outputTypes, 1.0);
    }
    e.cpuBytesPerToken += double(w.inputRowBytes);

    double seconds = 0;
    if (e.gpuBytesPerToken > 0 && m.gpuBandwidth > 0)
        seconds += e.gpuBytesPerToken / m.gpuBandwidth;
    const double cpuMemorySeconds =
        e.cpuBytesPerToken > 0 && m.cpuBandwidth > 0 ? e.cpuBytesPerToken / m.cpuBandwidth : 0;
    // Two ceilings on the CPU: reading the bytes, and the products over them at this CPU's
    // measured rates; the slower one sets the time (the other overlaps it).
    const bool rated = !m.cpuDotRates.empty() && e.cpuBytesPerToken > 0;
    e.cpuComputeSecondsPerToken = rated ? compute.seconds : 0;
    e.cpuMemorySecondsPerToken = cpuMemorySeconds;
    e.cpuComputeBound = rated && compute.seconds > cpuMemorySeconds;
    seconds += std::max(cpuMemorySeconds, e.cpuComputeSecondsPerToken);
    e.generationTokensPerSecond = seconds > 0 ? 1.0 / seconds : 0;

    e.basis << QStringLiteral("Generation reads %1 GB per token (%2 billion active of %3 billion "
                              "parameters%4, and the KV cache at %5 tokens).")
                   .arg(gbText(e.gpuBytesPerToken + e.cpuBytesPerToken))
                   .arg(e.activeParams / 1e9, 0, 'f', 1)
                   .arg(e.totalParams / 1e9, 0, 'f', 1)
                   .arg(s.isMoe() ? QStringLiteral(": the shared part plus %1 of %2 experts")
                                        .arg(s.nExpertsUsed)
                                        .arg(s.nExperts)
                                  : QString())
                   .arg(p.contextTokens);
    if (e.gpuBytesPerToken > 0)
        e.basis << QStringLiteral("GPU: %1 GB per token at %2 GB/s effective (%3) = %4 ms.")
                       .arg(gbText(e.gpuBytesPerToken))
                       .arg(m.gpuBandwidth / 1e9, 0, 'f', 0)
                       .arg(m.gpuBandwidthSource)
                       .arg(1e3 * e.gpuBytesPerToken / m.gpuBandwidth, 0, 'f', 1);
    // (one row of token_embd alone is not worth a line)
    if (e.cpuBytesPerToken > 0.01 * (e.gpuBytesPerToken + e.cpuBytesPerToken)
        && m.cpuBandwidth > 0) {
        const QString read = QStringLiteral("%1 GB per token at %2 GB/s effective (%3) = %4 ms")
                                 .arg(gbText(e.cpuBytesPerToken))
                                 .arg(m.cpuBandwidth / 1e9, 0, 'f', 1)
                                 .arg(m.cpuBandwidthSource)
                                 .arg(1e3 * cpuMemorySeconds, 0, 'f', 1);
        if (!rated) {
            e.basis << QStringLiteral("CPU: %1.").arg(read);
        } else {
            const auto [mainType, mainBytes] = compute.main();
            const QString products =
                QStringLiteral("the products take %1 ms at this CPU's measured rates (%2 rows at "
                               "%3 GB/s with %4 threads)%5")
                    .arg(1e3 * compute.seconds, 0, 'f', 1)
                    .arg(typeLabel(mainType))
                    .arg(m.cpuDotRate(mainType) / 1e9, 0, 'f', 1)
                    .arg(m.cpuDotThreads)
                    .arg(compute.unrated > 0.01 * e.cpuBytesPerToken
                             ? QStringLiteral("; %1 GB of types without a measured rate count "
                                              "at the bandwidth only")
                                   .arg(gbText(compute.unrated))
                             : QString());
            if (e.cpuComputeBound)
                e.basis << QStringLiteral("CPU: compute-bound on this CPU: %1; reading %2 would "
                                          "take less.")
                               .arg(products, read);
            else
                e.basis << QStringLiteral("CPU: memory-bound: %1; %2.").arg(read, products);
        }
    }

    // Prompt processing.
    double attention = 4.0 * s.nLayers * double(s.qDim()) * (kPromptBenchTokens / 2.0);
    double expertFlops = 0, denseFlops = 2.0 * double(w.outputParams);
    for (std::size_t i = 0; i < runLayers(s, w); ++i) {
        const LayerWeights &l = w.layers[i];
        denseFlops += 2.0 * double(l.denseParams);
        expertFlops += 2.0 * double(l.expertParams) * share;
    }
    e.flopsPerToken = denseFlops + expertFlops + attention;
    const double weighted = denseFlops + attention + expertFlops / kMoePromptEfficiency;
    double ppSeconds = 0;
    if (p.nGpuLayers > 0 && m.gpuFlops > 0) {
        if (m.kind == MachineKind::DiscreteGpu) {
            ppSeconds = weighted / m.gpuFlops;
            if (hostWeightBytes > 0 && m.pcieBandwidth > 0)
                ppSeconds += hostWeightBytes / m.pcieBandwidth / kUbatchTokens;
        } else {
            const double cpuWeighted = 2.0 * cpuDenseParams
                + 2.0 * cpuExpertParams / kMoePromptEfficiency;
            ppSeconds = (weighted - cpuWeighted) / m.gpuFlops
                + (m.cpuFlops > 0 ? cpuWeighted / m.cpuFlops : 0);
        }
    } else if (m.cpuFlops > 0) {
        ppSeconds = weighted / m.cpuFlops;
    }
    e.promptTokensPerSecond = ppSeconds > 0 ? 1.0 / ppSeconds : 0;
    const bool onGpu = p.nGpuLayers > 0 && m.gpuFlops > 0;
    e.basis << QStringLiteral("Prompt: %1 GFLOP per token (2 x active parameters + attention at "
                              "a %2-token prompt%3) at %4 TFLOPS effective (%5)%6.")
                   .arg(e.flopsPerToken / 1e9, 0, 'f', 1)
                   .arg(kPromptBenchTokens)
                   .arg(s.isMoe() ? QStringLiteral("; expert products at half the rate")
                                  : QString())
                   .arg((onGpu ? m.gpuFlops : m.cpuFlops) / 1e12, 0, 'f', 1)
                   .arg(onGpu ? m.gpuFlopsSource : m.cpuFlopsSource)
                   .arg(onGpu && m.kind == MachineKind::DiscreteGpu && hostWeightBytes > 0
                            ? QStringLiteral(", plus copying the %1 GB in RAM over PCIe at %2 "
                                             "GB/s once per %3-token batch")
                                  .arg(gbText(hostWeightBytes))
                                  .arg(m.pcieBandwidth / 1e9, 0, 'f', 0)
                                  .arg(kUbatchTokens)
                            : QString());
    return e;
}

} // namespace QuantFit
