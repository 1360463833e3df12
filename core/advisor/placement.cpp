#include "placement.h"

#include "memorymodel.h"
#include "shapetensors.h"

#include "gguf/ggufreader.h"
#include "quant/quantplan.h"
#include "util/error.h"

#include <QFileInfo>

#include <algorithm>
#include <cstring>

namespace QuantFit {

namespace {

constexpr std::uint64_t MiB = 1024ull * 1024;
constexpr std::uint64_t kDiscreteGpuMarginBytes = 512 * MiB;

// "blk.12.ffn_up_exps.weight" -> 12; -1 for tensors outside the layers.
int layerOf(const QByteArray &name)
{
    if (!name.startsWith("blk."))
        return -1;
    const qsizetype dot = name.indexOf('.', 4);
    bool ok = false;
    const int n = name.mid(4, dot - 4).toInt(&ok);
    return ok && dot > 4 ? n : -1;
}

bool isExpertTensor(const QByteArray &name)
{
    return name.contains("_exps.") || name.endsWith("_exps");
}

void addTensor(WeightMap &map, const QByteArray &name, GgmlType type, std::uint64_t bytes,
               std::uint64_t params, std::uint64_t rowBytes)
{
    const int layer = layerOf(name);
    if (layer >= 0 && std::size_t(layer) < map.layers.size()) {
        LayerWeights &l = map.layers[std::size_t(layer)];
        if (isExpertTensor(name)) {
            l.expertBytes += bytes;
            l.expertParams += params;
            l.expertTypes.add(type, bytes);
        } else {
            l.denseBytes += bytes;
            l.denseParams += params;
            l.denseTypes.add(type, bytes);
        }
    } else if (name.startsWith("output.") || name.startsWith("output_norm")) {
        map.outputBytes += bytes;
        map.outputParams += params;
        map.outputTypes.add(type, bytes);
    } else {
        map.inputBytes += bytes;
        map.inputParams += params;
        if (name.startsWith("token_embd."))
            map.inputRowBytes += rowBytes;
    }
}

QString gb(std::uint64_t bytes)
{
    return QString::number(double(bytes) / 1e9, 'f', 1);
}

struct Fit {
    DeviceMemory gpu, host;
    std::uint64_t gpuInRam = 0;
    bool gpuFits = false;
    bool hostFits = false;
};

struct Layout {
    const MachineProfile &machine;
    const ModelShape &shape;
    const WeightMap &weights;
    const PlacementOptions &options;
    bool fa;
    std::uint64_t reserve;
    std::uint64_t gpuLimit;

    Fit evaluate(std::uint32_t ngl, std::uint32_t nCpuMoe, std::uint32_t context) const
    {
        Placement p;
        p.nLayers = shape.nBlocks();
        p.nGpuLayers = ngl;
        p.nCpuMoe = nCpuMoe;
        Fit f;
        std::uint32_t cpuWork = 0; // layers with some weights on the CPU
        std::uint32_t gpuLayers = 0; // run layers on the GPU (not the MTP blocks)
        for (std::uint32_t i = 0; i < shape.nBlocks(); ++i) {
            const LayerWeights &l = weights.layers[i];
            const std::uint64_t kv =
                kvCacheLayerBytes(shape, i, context, options.kvType, options.nSlots);
            if (p.layerOnGpu(i)) {
                gpuLayers += i < shape.nLayers ? 1 : 0;
                f.gpu.weightsBytes += l.denseBytes;
                f.gpu.kvCacheBytes += kv;
                if (p.expertsOnGpu(i)) {
                    f.gpu.weightsBytes += l.expertBytes;
                } else {
                    f.host.weightsBytes += l.expertBytes;
                    cpuWork += i < shape.nLayers ? 1 : 0;
                }
            } else {
                f.host.weightsBytes += l.denseBytes + l.expertBytes;
                f.host.kvCacheBytes += kv;
                cpuWork += i < shape.nLayers ? 1 : 0;
            }
        }
        f.host.weightsBytes += weights.inputBytes;
        (p.outputOnGpu() ? f.gpu : f.host).weightsBytes += weights.outputBytes;
        const std::uint64_t state = recurrentStateBytes(shape, options.nSlots);
        f.gpu.kvCacheBytes += state * gpuLayers / shape.nLayers;
        f.host.kvCacheBytes += state - state * gpuLayers / shape.nLayers;
        f.host.overheadBytes = runtimeOverheadBytes(shape, options.nSlots);
        if (gpuLayers > 0 || p.outputOnGpu()) {
            const GpuComputeBuffers buffers = gpuComputeBuffers(shape, context, fa, options.nSlots);
            f.gpu.computeBytes = buffers.deviceBytes;
            f.host.computeBytes = buffers.hostBytes
                + computeBufferBytes(shape, context, fa, options.nSlots) * cpuWork
                    / shape.nLayers;
        } else {
            f.host.computeBytes = computeBufferBytes(shape, context, fa, options.nSlots);
        }
        f.gpuInRam = machine.gpuSharesRam() && f.gpu.totalBytes() > machine.gpuDedicatedBytes
            ? f.gpu.totalBytes() - machine.gpuDedicatedBytes
            : 0;
        f.gpuFits = f.gpu.totalBytes() <= gpuLimit;
        f.hostFits = f.host.totalBytes() + reserve + f.gpuInRam <= machine.systemRamBytes();
        return f;
    }
};

QString commandLine(const Placement &p, const PlacementOptions &o)
{
    QString cmd = QStringLiteral("llama-server -m %1").arg(o.modelFile);
    if (p.nGpuLayers > 0 || p.mode == PlacementMode::CpuOnly)
        cmd += QStringLiteral(" -ngl %1").arg(p.nGpuLayers);
    if (p.nCpuMoe > 0)
        cmd += QStringLiteral(" --n-cpu-moe %1").arg(p.nCpuMoe);
    cmd += QStringLiteral(" -c %1 -np %2").arg(p.contextTokens).arg(o.nSlots);
    if (o.flashAttention)
        cmd += QStringLiteral(" -fa on");
    if (p.kvType != KvCacheType::F16)
        cmd += QStringLiteral(" -ctk %1 -ctv %1").arg(kvCacheTypeName(p.kvType));
    return cmd;
}

} // namespace

void TypeBytes::add(GgmlType type, std::uint64_t n)
{
    for (auto &entry : bytes) {
        if (entry.first == type) {
            entry.second += n;
            return;
        }
    }
    bytes.emplace_back(type, n);
}

std::uint64_t WeightMap::totalBytes() const
{
    std::uint64_t total = inputBytes + outputBytes;
    for (const LayerWeights &l : layers)
        total += l.denseBytes + l.expertBytes;
    return total;
}

WeightMap weightMapForShape(const ModelShape &shape, FileType fileType)
{
    // Every block of the file, the multi-token-prediction ones (GLM's NextN) included: llama.cpp
    // loads them as its last layers (they count in -ngl) but does not run them.
    const ShapeTensors st = buildShapeTensors(shape);
    QuantOptions options;
    options.allowRequantize = true;
    options.hasImatrix = fileTypeFacts(fileType).needsImatrix;
    options.tensorTypes = st.tensorTypes; // as the advisor sizes published files
    const QuantPlan plan = makeQuantPlan(st.metadata, st.tensors, fileType, options);
    WeightMap map;
    map.layers.resize(shape.nBlocks());
    for (const PlannedTensor &t : plan.tensors) {
        const std::uint64_t rows = std::max<std::uint64_t>(1, t.source.nRows());
        addTensor(map, t.name, t.targetType, t.targetBytes, t.source.nElements(),
                  t.targetBytes / rows);
    }
    return map;
}

WeightMap weightMapForFile(const GgufFile &file, std::uint32_t nLayers)
{
    WeightMap map;
    // Blocks past nLayers (multi-token-prediction blocks) are layers of their own, as in
    // llama.cpp's -ngl count.
    std::size_t nBlocks = nLayers;
    for (const GgufTensorInfo &t : file.tensors())
        if (const int layer = layerOf(t.name); layer >= 0 && layer < 65536)
            nBlocks = std::max(nBlocks, std::size_t(layer) + 1);
    map.layers.resize(nBlocks);
    for (const GgufTensorInfo &t : file.tensors()) {
        const std::uint64_t rows = std::max<std::uint64_t>(1, t.nRows());
        addTensor(map, t.name, t.type, t.nBytes, t.nElements(), t.nBytes / rows);
    }
    return map;
}

QString placementModeName(PlacementMode mode)
{
    switch (mode) {
    case PlacementMode::CpuOnly:
        return QStringLiteral("CPU only");
    case PlacementMode::FullGpu:
        return QStringLiteral("all on the GPU");
    case PlacementMode::ExpertOffload:
        return QStringLiteral("expert offload");
    case PlacementMode::LayerOffload:
        return QStringLiteral("layer offload");
    case PlacementMode::DoesNotFit:
        return QStringLiteral("does not fit");
    }
    return {};
}

Placement planPlacement(const MachineProfile &machine, const ModelShape &shape,
                        const WeightMap &weights, const PlacementOptions &options)
{
    if (options.contextTokens == 0)
        throw Error(QStringLiteral("placement: the context must be at least 1 token"));
    if (weights.layers.size() != shape.nBlocks() || shape.nLayers == 0)
        throw Error(QStringLiteral("placement: the weights have %1 layers, the model %2")
                        .arg(weights.layers.size())
                        .arg(shape.nBlocks()));
    const std::uint64_t systemRam = machine.systemRamBytes();
    const std::uint64_t reserve = options.reserveBytes.value_or(defaultReserveBytes(systemRam));
    std::uint64_t gpuLimit = machine.hasGpu() ? machine.gpuLimitBytes() : 0;
    if (machine.kind == MachineKind::DiscreteGpu)
        gpuLimit = gpuLimit > kDiscreteGpuMarginBytes ? gpuLimit - kDiscreteGpuMarginBytes : 0;
    const bool fa = options.flashAttention || options.kvType != KvCacheType::F16;
    const Layout layout{machine, shape, weights, options, fa, reserve, gpuLimit};
    // -ngl counts llama.cpp's layers: every block of the file, multi-token-prediction ones too.
    const std::uint32_t n = shape.nBlocks();
    const std::uint32_t ctx = options.contextTokens;

    Placement p;
    p.nLayers = n;
    p.contextTokens = ctx;
    p.kvType = options.kvType;
    p.flashAttention = fa;
    p.reserveBytes = reserve;
    p.gpuLimitBytes = gpuLimit;
    p.systemRamBytes = systemRam;

    // Choose (ngl, n-cpu-moe): the first candidate whose GPU part fits.
    std::optional<std::pair<std::uint32_t, std::uint32_t>> choice;
    if (machine.hasGpu()) {
        if (layout.evaluate(n + 1, 0, ctx).gpuFits) {
            choice = {n + 1, 0};
            p.mode = PlacementMode::FullGpu;
        } else if (shape.isMoe()) {
            for (std::uint32_t m = 1; m <= n && !choice; ++m)
                if (layout.evaluate(n + 1, m, ctx).gpuFits) {
                    choice = {n + 1, m};
                    p.mode = PlacementMode::ExpertOffload;
                }
        }
        if (!choice) {
            for (std::uint32_t k = n; k >= 1 && !choice; --k)
                if (layout.evaluate(k, 0, ctx).gpuFits) {
                    choice = {k, 0};
                    p.mode = PlacementMode::LayerOffload;
                }
        }
    }
    if (!choice) {
        choice = {0, 0};
        p.mode = PlacementMode::CpuOnly;
    }
    p.nGpuLayers = choice->first;
    p.nCpuMoe = choice->second;
    const Fit f = layout.evaluate(p.nGpuLayers, p.nCpuMoe, ctx);
    p.gpu = f.gpu;
    p.host = f.host;
    p.ramUsedBytes = f.host.totalBytes() + reserve + f.gpuInRam;
    if (!f.hostFits || (p.nGpuLayers > 0 && !f.gpuFits))
        p.mode = PlacementMode::DoesNotFit;

    // Longest context with a placement (both devices checked).
    const auto longestFor = [&](std::uint32_t ngl, std::uint32_t nCpuMoe) -> std::uint32_t {
        const auto fitsAt = [&](std::uint32_t steps) {
            const Fit g = layout.evaluate(ngl, nCpuMoe, steps * 256u);
            return g.hostFits && (ngl == 0 || g.gpuFits);
        };
        std::uint32_t hi = shape.nCtxMax / 256;
        if (hi == 0 || !fitsAt(1))
            return 0;
        if (fitsAt(hi))
            return hi * 256;
        std::uint32_t lo = 1;
        while (hi - lo > 1) {
            const std::uint32_t mid = lo + (hi - lo) / 2;
            (fitsAt(mid) ? lo : hi) = mid;
        }
        return lo * 256;
    };
    p.longestContextTokens = longestFor(p.nGpuLayers, p.nCpuMoe);

    // Why.
    const std::uint64_t total = weights.totalBytes();
    std::uint64_t expertTotal = 0;
    for (const LayerWeights &l : weights.layers)
        expertTotal += l.expertBytes;
    const QString gpuName = machine.gpuName.isEmpty() ? QStringLiteral("the GPU")
                                                       : machine.gpuName;
    switch (p.mode) {
    case PlacementMode::FullGpu:
        p.explanation << QStringLiteral("All %1 layers, the output layer and the KV cache fit in "
                                        "the %2 GB the GPU may use (%3 GB needed), so everything "
                                        "runs on the GPU (-ngl %4).")
                             .arg(n)
                             .arg(gb(gpuLimit), gb(p.gpu.totalBytes()))
                             .arg(n + 1);
        break;
    case PlacementMode::ExpertOffload:
        p.explanation << QStringLiteral("The weights (%1 GB, %2 GB of them routed experts) do not "
                                        "fit in the %3 GB the GPU may use. This is a "
                                        "mixture-of-experts model: every layer stays on the GPU "
                                        "with its attention, router, shared weights and KV cache, "
                                        "and the experts of the first %4 layers stay in system "
                                        "RAM (--n-cpu-moe %4).")
                             .arg(gb(total), gb(expertTotal), gb(gpuLimit))
                             .arg(p.nCpuMoe);
        p.explanation << QStringLiteral("A token reads only %1 of %2 experts per layer, so the "
                                        "CPU reads a small share of the bytes and the GPU keeps "
                                        "what every token needs; this beats moving whole layers.")
                             .arg(shape.nExpertsUsed)
                             .arg(shape.nExperts);
        break;
    case PlacementMode::LayerOffload:
        p.explanation << QStringLiteral("The weights (%1 GB) do not fit in the %2 GB the GPU may "
                                        "use: the last %3 of %4 layers go on the GPU (-ngl %3) "
                                        "and the first %5 run on the CPU from system RAM, with "
                                        "their share of the KV cache.")
                             .arg(gb(total), gb(gpuLimit))
                             .arg(p.nGpuLayers)
                             .arg(n)
                             .arg(n - p.nGpuLayers);
        if (shape.isMoe())
            p.explanation << QStringLiteral("Even with every layer's experts in RAM the GPU part "
                                            "does not fit, so whole layers move.");
        else
            p.explanation << QStringLiteral("A dense model reads every weight for every token, "
                                            "so the layers in RAM set the speed.");
        break;
    case PlacementMode::CpuOnly:
        p.explanation << (machine.hasGpu()
                              ? QStringLiteral("Not even one layer fits on the GPU next to its "
                                               "compute buffer: everything runs on the CPU.")
                              : QStringLiteral("No GPU: everything runs on the CPU from system "
                                               "RAM."));
        break;
    case PlacementMode::DoesNotFit:
        p.explanation << QStringLiteral("Does not fit: system RAM would need %1 GB (with the %2 "
                                        "GB reserve) of %3 GB%4.")
                             .arg(gb(p.ramUsedBytes), gb(reserve), gb(systemRam),
                                  machine.hasGpu() ? QStringLiteral(" after the GPU takes what "
                                                                    "it can")
                                                   : QString());
        break;
    }
    // More context than this placement allows: what moving a little more to RAM gives.
    if ((p.mode == PlacementMode::ExpertOffload || p.mode == PlacementMode::LayerOffload)
        && p.longestContextTokens < shape.nCtxMax) {
        const bool experts = p.mode == PlacementMode::ExpertOffload;
        const std::uint32_t target =
            std::min(shape.nCtxMax, 2 * std::max(p.longestContextTokens, ctx));
        std::uint32_t bestTokens = p.longestContextTokens, bestNgl = 0, bestNcm = 0;
        for (std::uint32_t step = 1; step <= n && bestTokens < target; ++step) {
            const std::uint32_t ngl = experts ? p.nGpuLayers
                                              : (p.nGpuLayers > step ? p.nGpuLayers - step : 0);
            const std::uint32_t ncm = experts ? p.nCpuMoe + step : 0;
            if (ngl == 0 || ncm > n)
                break;
            const std::uint32_t longer = longestFor(ngl, ncm);
            if (longer > bestTokens) {
                bestTokens = longer;
                bestNgl = ngl;
                bestNcm = ncm;
            }
        }
        if (bestNgl > 0)
            p.explanation << QStringLiteral("For more context, move a little more to RAM: %1 "
                                            "allows %2 tokens (this placement %3).")
                                 .arg(experts ? QStringLiteral("--n-cpu-moe %1").arg(bestNcm)
                                              : QStringLiteral("-ngl %1").arg(bestNgl))
                                 .arg(bestTokens)
                                 .arg(p.longestContextTokens);
    }
    if (shape.nNextnLayers > 0 && machine.hasGpu())
        p.explanation << QStringLiteral("llama.cpp counts %1 layers for -ngl: the %2 that run and "
                                        "%3 multi-token-prediction block%4 it loads as the last "
                                        "layer%4 but does not run (no KV cache, not read per "
                                        "token).")
                             .arg(n)
                             .arg(shape.nLayers)
                             .arg(shape.nNextnLayers)
                             .arg(shape.nNextnLayers > 1 ? QStringLiteral("s") : QString());
    if (machine.kind == MachineKind::DiscreteGpu && machine.hasGpu())
        p.explanation << QStringLiteral("The GPU may use %1 GB: its %2 GB less 512 MiB for the "
                                        "desktop and the driver's context.")
                             .arg(gb(gpuLimit), gb(machine.gpuLimitBytes()));
    if (p.fits()) {
        p.llamaCommand = commandLine(p, options);
        if (machine.hasGpu()) {
            const std::uint32_t lmLayers = std::min(p.nGpuLayers, n);
            p.lmStudio = QStringLiteral("GPU Offload: %1 of %2 layers").arg(lmLayers).arg(n);
            if (p.nCpuMoe > 0)
                p.lmStudio += QStringLiteral("; \"Number of layers for which to force MoE weights "
                                             "onto CPU\": %1")
                                  .arg(p.nCpuMoe);
            p.lmStudio += QStringLiteral("; Context Length: %1").arg(ctx);
            p.ollama = QStringLiteral("PARAMETER num_gpu %1 and PARAMETER num_ctx %2 in the "
                                      "Modelfile%3")
                           .arg(p.nGpuLayers)
                           .arg(ctx)
                           .arg(p.nCpuMoe > 0 ? QStringLiteral(" (Ollama has no setting for "
                                                               "expert offload; it offloads "
                                                               "whole layers)")
                                              : QString());
        }
    }
    return p;
}

} // namespace QuantFit
