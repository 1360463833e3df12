#include "machineargs.h"

#include "cliargs.h"

#include "system/gpuinfo.h"
#include "system/measuredspeed.h"
#include "system/systeminfo.h"
#include "util/error.h"

#include <QJsonArray>

namespace QuantFit::Cli {

namespace {

QString gb(double bytes)
{
    const double v = bytes / 1e9;
    return QString::number(v, 'f', v >= 10 ? 1 : 2);
}

QString tps(double v)
{
    return QString::number(v, 'f', v >= 100 ? 0 : 1);
}

QJsonObject deviceJson(const DeviceMemory &d)
{
    return {{QStringLiteral("weightsBytes"), double(d.weightsBytes)},
            {QStringLiteral("kvCacheBytes"), double(d.kvCacheBytes)},
            {QStringLiteral("computeBytes"), double(d.computeBytes)},
            {QStringLiteral("overheadBytes"), double(d.overheadBytes)},
            {QStringLiteral("totalBytes"), double(d.totalBytes())}};
}

QString deviceLine(const QString &label, const DeviceMemory &d, const QString &of)
{
    return QStringLiteral("  %1 %2 GB = weights %3 + KV cache %4 + compute %5%6 GB%7\n")
        .arg(label, -11)
        .arg(gb(double(d.totalBytes())), gb(double(d.weightsBytes)), gb(double(d.kvCacheBytes)),
             gb(double(d.computeBytes)),
             d.overheadBytes ? QStringLiteral(" + runtime %1").arg(gb(double(d.overheadBytes)))
                             : QString(),
             of);
}

} // namespace

void addMachineOptions(QCommandLineParser &parser)
{
    parser.addOption({QStringLiteral("machine"),
                      QStringLiteral("Machine profile: a preset id, 'detect' (this machine) or "
                                     "'list' (print the presets). With a GPU: placement, memory "
                                     "per device and tokens/s."),
                      QStringLiteral("ID")});
    parser.addOption({QStringLiteral("vram"),
                      QStringLiteral("GPU memory in GB: a discrete GPU's VRAM or an APU's "
                                     "firmware carve-out (adds a GPU to a plain machine)."),
                      QStringLiteral("GB")});
    parser.addOption({QStringLiteral("gpu-limit"),
                      QStringLiteral("System RAM the GPU may use, in GB: a Mac's raised limit "
                                     "(iogpu.wired_limit_mb) or an APU's GTT."),
                      QStringLiteral("GB")});
    parser.addOption({QStringLiteral("gpu-bandwidth"),
                      QStringLiteral("GPU memory bandwidth in GB/s (published figure)."),
                      QStringLiteral("GB/s")});
    parser.addOption({QStringLiteral("cpu-bandwidth"),
                      QStringLiteral("System RAM bandwidth in GB/s (published figure; a value "
                                     "from 'quantfit-cli bandwidth' with --measured-bandwidth)."),
                      QStringLiteral("GB/s")});
    parser.addOption({QStringLiteral("measured-bandwidth"),
                      QStringLiteral("System RAM bandwidth measured by 'quantfit-cli "
                                     "bandwidth', in GB/s."),
                      QStringLiteral("GB/s")});
    parser.addOption({QStringLiteral("quant"),
                      QStringLiteral("With --machine: place this level instead of the "
                                     "suggested one."),
                      QStringLiteral("TYPE")});
    parser.addOption({QStringLiteral("parallel"),
                      QStringLiteral("llama-server slots (-np): sequences served at once; "
                                     "sliding-window caches grow with them (default 4, "
                                     "llama-server's)."),
                      QStringLiteral("N")});
}

bool machineRequested(const QCommandLineParser &parser)
{
    for (const char *name : {"machine", "vram", "gpu-limit", "gpu-bandwidth", "cpu-bandwidth",
                             "measured-bandwidth"})
        if (parser.isSet(QLatin1String(name)))
            return true;
    return false;
}

MachineProfile machineFrom(const QCommandLineParser &parser, std::optional<double> ramGb)
{
    MachineProfile base;
    const QString id = parser.value(QStringLiteral("machine"));
    if (id.isEmpty()) {
        if (!ramGb)
            throw Error(QStringLiteral("advise: give --machine ID (or 'detect'), or --ram GB"));
        base = cpuOnlyMachine(std::uint64_t(*ramGb * 1e9));
        ramGb.reset();
    } else if (id == QLatin1String("detect")) {
        base = detectedMachine(SystemInfo::current(), detectGpus(), loadMeasuredSpeed());
    } else if (const auto preset = findMachinePreset(id)) {
        base = *preset;
    } else {
        QStringList ids;
        for (const MachineProfile &m : machinePresets())
            ids << m.id;
        throw Error(QStringLiteral("option --machine: unknown machine '%1' (presets: %2; or "
                                   "'detect', 'list')")
                        .arg(id, ids.join(QStringLiteral(", "))));
    }
    MachineOverrides o;
    if (ramGb)
        o.ramBytes = std::uint64_t(*ramGb * 1e9);
    const auto gbOption = [&](const char *name) -> std::optional<std::uint64_t> {
        if (!parser.isSet(QLatin1String(name)))
            return std::nullopt;
        return std::uint64_t(doubleOption(parser, QLatin1String(name), 0, 0.001, 1e6) * 1e9);
    };
    const auto bwOption = [&](const char *name) -> std::optional<double> {
        if (!parser.isSet(QLatin1String(name)))
            return std::nullopt;
        return doubleOption(parser, QLatin1String(name), 0, 0.1, 1e5) * 1e9;
    };
    o.vramBytes = gbOption("vram");
    o.gpuLimitBytes = gbOption("gpu-limit");
    o.gpuBandwidth = bwOption("gpu-bandwidth");
    o.cpuBandwidth = bwOption("cpu-bandwidth");
    o.measuredCpuBandwidth = bwOption("measured-bandwidth");
    return applyOverrides(base, o);
}

QString machineListText()
{
    QString text = QStringLiteral("%1 %2 %3 %4 %5 %6\n")
                       .arg(QStringLiteral("id"), -16)
                       .arg(QStringLiteral("kind"), -31)
                       .arg(QStringLiteral("RAM GB"), 7)
                       .arg(QStringLiteral("GPU GB"), 7)
                       .arg(QStringLiteral("GPU GB/s"), 9)
                       .arg(QStringLiteral("name"));
    for (const MachineProfile &m : machinePresets())
        text += QStringLiteral("%1 %2 %3 %4 %5 %6\n")
                    .arg(m.id, -16)
                    .arg(machineKindName(m.kind), -31)
                    .arg(gb(double(m.ramBytes)), 7)
                    .arg(m.hasGpu() ? gb(double(m.gpuLimitBytes())) : QStringLiteral("-"), 7)
                    .arg(m.hasGpu() ? QString::number(m.gpuBandwidth / 1e9, 'f', 0)
                                    : QStringLiteral("-"),
                         9)
                    .arg(m.name);
    text += QStringLiteral("\nGPU GB/s is the effective figure (published bandwidth x the "
                           "generation efficiency). Also: --machine detect (this machine), and "
                           "custom values with --ram, --vram, --gpu-limit, --gpu-bandwidth, "
                           "--cpu-bandwidth.\n");
    return text;
}

QJsonObject machineListJson()
{
    QJsonArray presets;
    for (const MachineProfile &m : machinePresets())
        presets.append(machineJson(m));
    return {{QStringLiteral("machines"), presets}};
}

QString machineText(const MachineProfile &m)
{
    QString text = QStringLiteral("Machine: %1 [%2, %3]\n")
                       .arg(m.name, m.id, machineKindName(m.kind));
    text += QStringLiteral("  RAM %1 GB (%2)\n").arg(gb(double(m.ramBytes)), m.ramSource);
    if (m.hasGpu()) {
        text += QStringLiteral("  GPU %1: may use %2 GB (%3)\n")
                    .arg(m.gpuName, gb(double(m.gpuLimitBytes())), m.gpuMemorySource);
        text += QStringLiteral("  GPU bandwidth %1 GB/s effective (%2)\n")
                    .arg(m.gpuBandwidth / 1e9, 0, 'f', 0)
                    .arg(m.gpuBandwidthSource);
    }
    text += QStringLiteral("  CPU bandwidth %1 GB/s effective (%2)\n")
                .arg(m.cpuBandwidth / 1e9, 0, 'f', 1)
                .arg(m.cpuBandwidthSource);
    if (!m.cpuDotRates.empty()) {
        QStringList rates;
        for (const CpuDotRate &r : m.cpuDotRates)
            rates << QStringLiteral("%1 %2").arg(ggmlTypeName(r.type).toUpper())
                         .arg(r.bytesPerSecond / 1e9, 0, 'f', 0);
        text += QStringLiteral("  CPU compute ceiling, GB/s of weights (%1): %2\n")
                    .arg(m.cpuDotSource, rates.join(QStringLiteral(", ")));
    }
    if (m.measuredGeneration.tokensPerSecond > 0)
        text += QStringLiteral("  QuantFit's generation measured here: %1 tokens/s on %2 (%3 "
                               "threads, %4)\n")
                    .arg(m.measuredGeneration.tokensPerSecond, 0, 'f', 1)
                    .arg(m.measuredGeneration.modelFile)
                    .arg(m.measuredGeneration.threads)
                    .arg(m.measuredGeneration.date);
    for (const QString &n : m.notes)
        text += QStringLiteral("  Note: %1\n").arg(n);
    return text;
}

QJsonObject machineJson(const MachineProfile &m)
{
    QJsonArray rates;
    for (const CpuDotRate &r : m.cpuDotRates)
        rates.append(QJsonObject{{QStringLiteral("type"), ggmlTypeName(r.type)},
                                 {QStringLiteral("bytesPerSecond"), r.bytesPerSecond}});
    const MeasuredGeneration &g = m.measuredGeneration;
    QJsonObject o{{QStringLiteral("id"), m.id},
            {QStringLiteral("name"), m.name},
            {QStringLiteral("origin"), m.origin},
            {QStringLiteral("kind"), machineKindName(m.kind)},
            {QStringLiteral("ramBytes"), double(m.ramBytes)},
            {QStringLiteral("ramSource"), m.ramSource},
            {QStringLiteral("systemRamBytes"), double(m.systemRamBytes())},
            {QStringLiteral("gpuName"), m.gpuName},
            {QStringLiteral("gpuDedicatedBytes"), double(m.gpuDedicatedBytes)},
            {QStringLiteral("gpuSharedBytes"), double(m.gpuSharedBytes)},
            {QStringLiteral("gpuLimitBytes"), double(m.gpuLimitBytes())},
            {QStringLiteral("gpuMemorySource"), m.gpuMemorySource},
            {QStringLiteral("gpuBandwidthBytesPerSecond"), m.gpuBandwidth},
            {QStringLiteral("gpuBandwidthSource"), m.gpuBandwidthSource},
            {QStringLiteral("gpuFlops"), m.gpuFlops},
            {QStringLiteral("gpuFlopsSource"), m.gpuFlopsSource},
            {QStringLiteral("cpuBandwidthBytesPerSecond"), m.cpuBandwidth},
            {QStringLiteral("cpuBandwidthSource"), m.cpuBandwidthSource},
            {QStringLiteral("cpuFlops"), m.cpuFlops},
            {QStringLiteral("cpuFlopsSource"), m.cpuFlopsSource},
            {QStringLiteral("notes"), QJsonArray::fromStringList(m.notes)},
            {QStringLiteral("cpuDotRates"), rates},
            {QStringLiteral("cpuDotThreads"), m.cpuDotThreads},
            {QStringLiteral("cpuDotSource"), m.cpuDotSource}};
    if (g.tokensPerSecond > 0)
        o.insert(QStringLiteral("measuredGeneration"),
                 QJsonObject{{QStringLiteral("modelFile"), g.modelFile},
                             {QStringLiteral("tokensPerSecond"), g.tokensPerSecond},
                             {QStringLiteral("bytesPerToken"), g.bytesPerToken},
                             {QStringLiteral("threads"), g.threads},
                             {QStringLiteral("date"), g.date}});
    return o;
}

QString machineAdviceText(const MachineAdvice &a)
{
    const LevelPlacement &l = a.chosenLevel();
    const Placement &p = l.placement;
    QString text = QStringLiteral("\n") + machineText(a.machine);
    text += QStringLiteral("\n%1 on this machine: %2 (%3)\n")
                .arg(a.model.name, l.name, placementModeName(p.mode));
    text += QStringLiteral("Why this level: %1\n").arg(a.chosenReason);
    if (!a.moeNote.isEmpty())
        text += a.moeNote + QLatin1Char('\n');
    text += QStringLiteral("Placement:\n");
    for (const QString &e : p.explanation)
        text += QStringLiteral("  %1\n").arg(e);
    text += QStringLiteral("Memory at %1 tokens:\n").arg(p.contextTokens);
    if (a.machine.hasGpu())
        text += deviceLine(QStringLiteral("GPU"), p.gpu,
                           QStringLiteral(" of %1 GB").arg(gb(double(p.gpuLimitBytes))));
    text += deviceLine(QStringLiteral("system RAM"), p.host,
                       QStringLiteral("; with the %1 GB reserve%2: %3 of %4 GB")
                           .arg(gb(double(p.reserveBytes)),
                                a.machine.gpuSharesRam() ? QStringLiteral(" and the GPU's share")
                                                         : QString(),
                                gb(double(p.ramUsedBytes)), gb(double(p.systemRamBytes))));
    text += QStringLiteral("Longest context with this placement: %1 tokens (KV cache %2)\n")
                .arg(p.longestContextTokens)
                .arg(p.nGpuLayers >= a.model.nLayers ? QStringLiteral("on the GPU")
                     : p.nGpuLayers == 0             ? QStringLiteral("in system RAM")
                                                     : QStringLiteral("split with the layers"));
    if (p.fits()) {
        text += (l.speed.generationMeasured
                     ? QStringLiteral("Speed: generation %1 tokens/s (measured), prompt %2 "
                                      "tokens/s (estimate)\n")
                     : QStringLiteral("Speed (estimate): generation %1 tokens/s, prompt %2 "
                                      "tokens/s\n"))
                    .arg(tps(l.speed.generationTokensPerSecond),
                         tps(l.speed.promptTokensPerSecond));
        for (const QString &b : l.speed.basis)
            text += QStringLiteral("  %1\n").arg(b);
        text += QStringLiteral("Run it:\n  %1\n").arg(p.llamaCommand);
        if (!p.lmStudio.isEmpty())
            text += QStringLiteral("  LM Studio: %1\n").arg(p.lmStudio);
        if (!p.ollama.isEmpty())
            text += QStringLiteral("  Ollama: %1\n").arg(p.ollama);
    }
    if (a.levels.size() > 1) {
        text += QStringLiteral("\nEvery level on this machine (at %1 tokens):\n")
                    .arg(p.contextTokens);
        text += QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8\n")
                    .arg(QStringLiteral("quant"), -10)
                    .arg(QStringLiteral("weights GB"), 10)
                    .arg(QStringLiteral("placement"), -15)
                    .arg(QStringLiteral("-ngl"), 5)
                    .arg(QStringLiteral("n-cpu-moe"), 9)
                    .arg(QStringLiteral("longest ctx"), 11)
                    .arg(QStringLiteral("tg t/s"), 7)
                    .arg(QStringLiteral("pp t/s"), 7);
        for (std::size_t i = 0; i < a.levels.size(); ++i) {
            const LevelPlacement &x = a.levels[i];
            text += QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8\n")
                        .arg(x.name + (i == a.chosen ? QStringLiteral("*") : QString()), -10)
                        .arg(gb(double(x.weightsBytes)), 10)
                        .arg(placementModeName(x.placement.mode), -15)
                        .arg(x.placement.fits() ? QString::number(x.placement.nGpuLayers)
                                                : QStringLiteral("-"),
                             5)
                        .arg(x.placement.fits() ? QString::number(x.placement.nCpuMoe)
                                                : QStringLiteral("-"),
                             9)
                        .arg(x.placement.longestContextTokens, 11)
                        .arg(x.placement.fits() ? tps(x.speed.generationTokensPerSecond)
                                                : QStringLiteral("-"),
                             7)
                        .arg(x.placement.fits() ? tps(x.speed.promptTokensPerSecond)
                                                : QStringLiteral("-"),
                             7);
        }
    }
    return text;
}

QJsonObject machineAdviceJson(const MachineAdvice &a)
{
    QJsonArray levels;
    for (std::size_t i = 0; i < a.levels.size(); ++i) {
        const LevelPlacement &l = a.levels[i];
        const Placement &p = l.placement;
        levels.append(QJsonObject{
            {QStringLiteral("quant"), l.name},
            {QStringLiteral("suggested"), i == a.chosen},
            {QStringLiteral("weightsBytes"), double(l.weightsBytes)},
            {QStringLiteral("placement"), placementModeName(p.mode)},
            {QStringLiteral("fits"), p.fits()},
            {QStringLiteral("nGpuLayers"), qint64(p.nGpuLayers)},
            {QStringLiteral("nCpuMoe"), qint64(p.nCpuMoe)},
            {QStringLiteral("contextTokens"), qint64(p.contextTokens)},
            {QStringLiteral("longestContextTokens"), qint64(p.longestContextTokens)},
            {QStringLiteral("gpu"), deviceJson(p.gpu)},
            {QStringLiteral("systemRam"), deviceJson(p.host)},
            {QStringLiteral("reserveBytes"), double(p.reserveBytes)},
            {QStringLiteral("ramUsedBytes"), double(p.ramUsedBytes)},
            {QStringLiteral("gpuLimitBytes"), double(p.gpuLimitBytes)},
            {QStringLiteral("explanation"), QJsonArray::fromStringList(p.explanation)},
            {QStringLiteral("llamaCommand"), p.llamaCommand},
            {QStringLiteral("lmStudio"), p.lmStudio},
            {QStringLiteral("ollama"), p.ollama},
            {QStringLiteral("generationTokensPerSecond"), l.speed.generationTokensPerSecond},
            {QStringLiteral("generationMeasured"), l.speed.generationMeasured},
            {QStringLiteral("cpuComputeBound"), l.speed.cpuComputeBound},
            {QStringLiteral("cpuMemoryMsPerToken"), 1e3 * l.speed.cpuMemorySecondsPerToken},
            {QStringLiteral("cpuComputeMsPerToken"), 1e3 * l.speed.cpuComputeSecondsPerToken},
            {QStringLiteral("promptTokensPerSecond"), l.speed.promptTokensPerSecond},
            {QStringLiteral("gpuBytesPerToken"), l.speed.gpuBytesPerToken},
            {QStringLiteral("cpuBytesPerToken"), l.speed.cpuBytesPerToken},
            {QStringLiteral("activeParams"), l.speed.activeParams},
            {QStringLiteral("totalParams"), l.speed.totalParams},
            {QStringLiteral("flopsPerToken"), l.speed.flopsPerToken},
            {QStringLiteral("speedBasis"), QJsonArray::fromStringList(l.speed.basis)}});
    }
    return {{QStringLiteral("machine"), machineJson(a.machine)},
            {QStringLiteral("suggested"), a.chosenLevel().name},
            {QStringLiteral("suggestedReason"), a.chosenReason},
            {QStringLiteral("moeNote"), a.moeNote},
            {QStringLiteral("levels"), levels}};
}

} // namespace QuantFit::Cli
