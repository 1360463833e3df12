#include "machineprofile.h"

#include "system/gpuinfo.h"
#include "system/measuredspeed.h"
#include "system/systeminfo.h"

#include <algorithm>

namespace QuantFit {

namespace {

constexpr double GBps = 1e9;
constexpr double TFLOPS = 1e12;
constexpr std::uint64_t GBytes = 1000ull * 1000 * 1000;

QString gbText(std::uint64_t bytes)
{
    return QString::number(double(bytes) / 1e9, 'f', 1);
}

// Plain desktop CPU side: DDR5-5600, two 64-bit channels = 5600e6 x 16 bytes = 89.6 GB/s
// (JEDEC DDR5 transfer rate x bus width). Prompt throughput of an 8-16 core desktop CPU in
// llama.cpp: about 1.5 TFLOPS effective (docs/advisor.md, "Speed").
void setDesktopCpu(MachineProfile &m)
{
    m.cpuBandwidth = 89.6 * GBps * kCpuBandwidthEfficiency;
    m.cpuBandwidthSource = QStringLiteral("DDR5-5600 dual channel, 89.6 GB/s published x %1 "
                                          "(generation efficiency)")
                               .arg(kCpuBandwidthEfficiency);
    m.cpuFlops = 1.5 * TFLOPS;
    m.cpuFlopsSource = QStringLiteral("typical 8-16 core desktop CPU, 1.5 TFLOPS effective");
}

MachineProfile cpuPreset(const QString &id, std::uint64_t ramGb)
{
    MachineProfile m = cpuOnlyMachine(ramGb * GBytes);
    m.id = id;
    m.origin = QStringLiteral("preset");
    return m;
}

MachineProfile strixHalo(const QString &id, std::uint64_t ramGb, std::uint64_t carveOutGb)
{
    MachineProfile m;
    m.id = id;
    m.name = QStringLiteral("AMD Ryzen AI Max+ 395 (Strix Halo) mini PC, %1 GB").arg(ramGb);
    m.origin = QStringLiteral("preset");
    m.kind = MachineKind::ApuUnified;
    m.ramBytes = ramGb * GBytes;
    m.ramSource = QStringLiteral("preset: %1 GB LPDDR5X-8000").arg(ramGb);
    // AMD's product page: LPDDR5X-8000 on a 256-bit bus = 8000e6 x 32 bytes = 256 GB/s, shared
    // by CPU and GPU. The CPU cores alone reach less; we give them the same figure.
    m.cpuBandwidth = 256 * GBps * kApuBandwidthEfficiency;
    m.cpuBandwidthSource =
        QStringLiteral("LPDDR5X-8000, 256-bit: 256 GB/s (AMD specification) x %1")
            .arg(kApuBandwidthEfficiency);
    m.cpuFlops = 2.0 * TFLOPS;
    m.cpuFlopsSource = QStringLiteral("16 Zen 5 cores, 2 TFLOPS effective (estimate)");
    m.gpuName = QStringLiteral("Radeon 8060S (40 CU, RDNA 3.5)");
    m.gpuDedicatedBytes = carveOutGb * GBytes;
    m.gpuSharedBytes = linuxDefaultGttBytes(m.ramBytes - m.gpuDedicatedBytes);
    m.gpuMemorySource =
        QStringLiteral("firmware VRAM carve-out %1 GB (BIOS \"UMA frame buffer size\", its "
                       "largest setting) + GTT %2 GB (Linux default: half of the %3 GB the OS "
                       "sees)")
            .arg(carveOutGb)
            .arg(gbText(m.gpuSharedBytes), gbText(m.ramBytes - m.gpuDedicatedBytes));
    m.gpuBandwidth = 256 * GBps * kApuBandwidthEfficiency;
    m.gpuBandwidthSource = QStringLiteral("256 GB/s (AMD specification) x %1")
                               .arg(kApuBandwidthEfficiency);
    m.gpuFlops = 6.0 * TFLOPS;
    m.gpuFlopsSource = QStringLiteral("6 TFLOPS effective (Vulkan; calibrated on a published "
                                      "gpt-oss-20b pp512 run, docs/advisor.md)");
    m.notes << QStringLiteral("The GTT is set by the kernel parameter ttm.pages_limit=N (4 KiB "
                              "pages; older kernels amdgpu.gttsize=MiB): a small carve-out "
                              "(0.5 GB) with a GTT near the whole RAM gives the GPU the most. "
                              "Give the real values with --vram (carve-out) and --gpu-limit "
                              "(GTT).");
    return m;
}

MachineProfile mac(const QString &id, const QString &name, std::uint64_t ramGb,
                   double bandwidthGBps, double tflops)
{
    MachineProfile m;
    m.id = id;
    m.name = QStringLiteral("%1, %2 GB").arg(name).arg(ramGb);
    m.origin = QStringLiteral("preset");
    m.kind = MachineKind::AppleUnified;
    m.ramBytes = ramGb * GBytes;
    m.ramSource = QStringLiteral("preset: %1 GB unified memory").arg(ramGb);
    m.cpuBandwidth = bandwidthGBps * GBps * 0.5;
    m.cpuBandwidthSource = QStringLiteral("half of the chip's %1 GB/s (the CPU cores reach "
                                          "about half of it)")
                               .arg(bandwidthGBps);
    m.cpuFlops = 1.0 * TFLOPS;
    m.cpuFlopsSource = QStringLiteral("1 TFLOPS effective (estimate)");
    m.gpuName = name.section(QLatin1Char('('), 1).chopped(1);
    m.gpuSharedBytes = appleDefaultGpuLimitBytes(m.ramBytes);
    m.gpuMemorySource =
        QStringLiteral("macOS default GPU working-set limit %1 GB (%2 of RAM; Metal's "
                       "recommendedMaxWorkingSetSize)")
            .arg(gbText(m.gpuSharedBytes),
                 ramGb <= 36 ? QStringLiteral("2/3") : QStringLiteral("3/4"));
    m.gpuBandwidth = bandwidthGBps * GBps * kAppleBandwidthEfficiency;
    m.gpuBandwidthSource = QStringLiteral("%1 GB/s (Apple specification) x %2")
                               .arg(bandwidthGBps)
                               .arg(kAppleBandwidthEfficiency);
    m.gpuFlops = tflops * TFLOPS;
    m.gpuFlopsSource = QStringLiteral("%1 TFLOPS effective (Metal, estimate from published "
                                      "llama-bench pp512 runs, docs/advisor.md)")
                           .arg(tflops);
    m.notes << QStringLiteral("Raise the GPU limit with `sudo sysctl iogpu.wired_limit_mb=N` "
                              "(until the next reboot) and give it with --gpu-limit; leave "
                              "8 GB or more to macOS.");
    return m;
}

MachineProfile pc(const QString &id, std::uint64_t ramGb, const QString &gpu,
                  std::uint64_t vramGb, double bandwidthGBps, double tflops, double pcieGBps)
{
    MachineProfile m = cpuOnlyMachine(ramGb * GBytes);
    m.id = id;
    m.origin = QStringLiteral("preset");
    m.kind = MachineKind::DiscreteGpu;
    m.name = QStringLiteral("PC, %1 GB RAM + %2 %3 GB").arg(ramGb).arg(gpu).arg(vramGb);
    m.gpuName = gpu;
    m.gpuDedicatedBytes = vramGb * GiB; // GPU memory is sold in binary gigabytes
    m.gpuMemorySource = QStringLiteral("%1 GiB VRAM (NVIDIA specification)").arg(vramGb);
    m.gpuBandwidth = bandwidthGBps * GBps * kGpuBandwidthEfficiency;
    m.gpuBandwidthSource = QStringLiteral("%1 GB/s (NVIDIA specification) x %2")
                               .arg(bandwidthGBps)
                               .arg(kGpuBandwidthEfficiency);
    m.gpuFlops = tflops * TFLOPS;
    m.gpuFlopsSource = QStringLiteral("%1 TFLOPS effective (CUDA, docs/advisor.md)").arg(tflops);
    m.pcieBandwidth = pcieGBps * GBps;
    return m;
}

std::vector<MachineProfile> buildPresets()
{
    std::vector<MachineProfile> p;
    p.push_back(cpuPreset(QStringLiteral("pc-32gb"), 32));
    p.push_back(cpuPreset(QStringLiteral("pc-64gb"), 64));
    p.push_back(cpuPreset(QStringLiteral("pc-128gb"), 128));
    p.push_back(strixHalo(QStringLiteral("strix-halo-64"), 64, 48));
    p.push_back(strixHalo(QStringLiteral("strix-halo-128"), 128, 96));
    // Apple specifications: M4 Pro 273 GB/s, M4 Max 14/32-core 410 GB/s, 16/40-core 546 GB/s,
    // M2 Ultra 800 GB/s.
    p.push_back(mac(QStringLiteral("macbook-pro-36"),
                    QStringLiteral("MacBook Pro (M4 Max 32-core GPU)"), 36, 410, 9));
    p.push_back(mac(QStringLiteral("macbook-pro-48"),
                    QStringLiteral("MacBook Pro (M4 Pro 20-core GPU)"), 48, 273, 5));
    p.push_back(mac(QStringLiteral("mac-studio-64"),
                    QStringLiteral("Mac Studio (M4 Max 40-core GPU)"), 64, 546, 11));
    p.push_back(mac(QStringLiteral("mac-studio-128"),
                    QStringLiteral("Mac Studio (M4 Max 40-core GPU)"), 128, 546, 11));
    p.push_back(mac(QStringLiteral("mac-studio-192"),
                    QStringLiteral("Mac Studio (M2 Ultra 76-core GPU)"), 192, 800, 16));
    // NVIDIA specifications (memory data rate x bus width): RTX 3060 12 GB 360 GB/s, RTX 4060 Ti
    // 16 GB 288, RTX 5080 960, RTX 3090 936, RTX 4090 1008, RTX 5090 1792. PCIe 4.0 x16 about
    // 25 GB/s in practice, 5.0 x16 about 50.
    p.push_back(pc(QStringLiteral("pc-32gb-gpu12"), 32, QStringLiteral("RTX 3060"),
                   12, 360, 18, 25));
    p.push_back(pc(QStringLiteral("pc-32gb-gpu16"), 32, QStringLiteral("RTX 4060 Ti"),
                   16, 288, 20, 12));
    p.push_back(pc(QStringLiteral("pc-32gb-gpu24"), 32, QStringLiteral("RTX 3090"),
                   24, 936, 50, 25));
    p.push_back(pc(QStringLiteral("pc-32gb-gpu32"), 32, QStringLiteral("RTX 5090"),
                   32, 1792, 95, 50));
    p.push_back(pc(QStringLiteral("pc-64gb-gpu16"), 64, QStringLiteral("RTX 5080"),
                   16, 960, 55, 50));
    p.push_back(pc(QStringLiteral("pc-64gb-gpu24"), 64, QStringLiteral("RTX 4090"),
                   24, 1008, 75, 25));
    p.push_back(pc(QStringLiteral("pc-64gb-gpu32"), 64, QStringLiteral("RTX 5090"),
                   32, 1792, 95, 50));
    p.push_back(pc(QStringLiteral("pc-128gb-gpu24"), 128, QStringLiteral("RTX 4090"),
                   24, 1008, 75, 25));
    return p;
}

} // namespace

QString machineKindName(MachineKind kind)
{
    switch (kind) {
    case MachineKind::CpuOnly:
        return QStringLiteral("CPU only");
    case MachineKind::AppleUnified:
        return QStringLiteral("unified memory (Apple Silicon)");
    case MachineKind::ApuUnified:
        return QStringLiteral("unified memory (AMD APU)");
    case MachineKind::DiscreteGpu:
        return QStringLiteral("discrete GPU + system RAM");
    }
    return {};
}

const std::vector<MachineProfile> &machinePresets()
{
    static const std::vector<MachineProfile> presets = buildPresets();
    return presets;
}

std::optional<MachineProfile> findMachinePreset(const QString &id)
{
    for (const MachineProfile &m : machinePresets())
        if (m.id.compare(id, Qt::CaseInsensitive) == 0)
            return m;
    return std::nullopt;
}

std::uint64_t appleDefaultGpuLimitBytes(std::uint64_t ramBytes)
{
    // Apple sells binary gigabytes: "36 GB" is 36 GiB, and it still gets 2/3.
    return ramBytes <= 36 * GiB ? ramBytes / 3 * 2 : ramBytes / 4 * 3;
}

std::uint64_t linuxDefaultGttBytes(std::uint64_t osRamBytes)
{
    return osRamBytes / 2;
}

MachineProfile cpuOnlyMachine(std::uint64_t ramBytes)
{
    MachineProfile m;
    m.id = QStringLiteral("custom");
    m.origin = QStringLiteral("custom");
    m.kind = MachineKind::CpuOnly;
    m.ramBytes = ramBytes;
    m.name = QStringLiteral("PC, %1 GB RAM").arg(gbText(ramBytes));
    m.ramSource = QStringLiteral("given: %1 GB").arg(gbText(ramBytes));
    setDesktopCpu(m);
    return m;
}

MachineProfile detectedMachine(const SystemInfo &system, const std::vector<GpuDevice> &gpus,
                               const std::optional<MeasuredSpeed> &measured)
{
    MachineProfile m = cpuOnlyMachine(system.totalRamBytes);
    m.id = QStringLiteral("detected");
    m.origin = QStringLiteral("detected");
    m.name = QStringLiteral("This machine");
    m.ramSource = QStringLiteral("detected: MemTotal %1 GB (/proc/meminfo)")
                      .arg(gbText(system.totalRamBytes));
    if (system.cpuThreads > 0) {
        // About 100 GFLOPS per hardware thread effective (docs/advisor.md, "Speed").
        m.cpuFlops = 0.1 * TFLOPS * system.cpuThreads;
        m.cpuFlopsSource = QStringLiteral("%1 threads x 0.1 TFLOPS effective (estimate)")
                               .arg(system.cpuThreads);
    }
    for (const GpuDevice &g : gpus) {
        if (g.driver == QLatin1String("amdgpu") && g.integrated) {
            m.kind = MachineKind::ApuUnified;
            m.gpuName = g.describe();
            // MemTotal already lacks the carve-out: the physical RAM is the sum.
            m.ramBytes = system.totalRamBytes + g.vramBytes;
            m.gpuDedicatedBytes = g.vramBytes;
            m.gpuSharedBytes = g.gttBytes;
            m.gpuMemorySource = QStringLiteral("detected: %1 (mem_info_vram_total carve-out + "
                                               "mem_info_gtt_total in /sys/class/drm/%2/device)")
                                    .arg(g.describe(), g.card);
            m.gpuBandwidth = m.cpuBandwidth;
            m.gpuBandwidthSource = QStringLiteral("the system RAM's (not detected: give "
                                                  "--gpu-bandwidth)");
            m.gpuFlops = 4 * TFLOPS;
            m.gpuFlopsSource = QStringLiteral("4 TFLOPS effective (integrated GPU, estimate)");
            m.notes << QStringLiteral("Integrated GPU: the GTT is set by ttm.pages_limit (older "
                                      "kernels amdgpu.gttsize).");
            break;
        }
        if (g.vramBytes > 0) {
            m.kind = MachineKind::DiscreteGpu;
            m.gpuName = g.describe();
            m.gpuDedicatedBytes = g.vramBytes;
            m.gpuMemorySource = QStringLiteral("detected: mem_info_vram_total of %1").arg(g.card);
            m.gpuBandwidth = 400 * GBps * kGpuBandwidthEfficiency;
            m.gpuBandwidthSource = QStringLiteral("400 GB/s assumed x %1 (not detected: give "
                                                  "--gpu-bandwidth)")
                                       .arg(kGpuBandwidthEfficiency);
            m.gpuFlops = 20 * TFLOPS;
            m.gpuFlopsSource = QStringLiteral("20 TFLOPS effective assumed");
            m.pcieBandwidth = 25 * GBps;
            break;
        }
        m.notes << QStringLiteral("%1: its driver does not publish the memory size; give it "
                                  "with --vram and --gpu-bandwidth.")
                       .arg(g.describe());
    }
    // The CPU's generation: with the compute ceiling measured, the two-ceiling estimate from
    // the streaming read and the per-type rates (speed.h), and QuantFit's measured generation
    // replaces it for the model it ran; from an older record without the rates, the measured
    // generation stands in for the bandwidth as before.
    const double readBytes = measured ? std::max(measured->readBytesPerSecond,
                                                 measured->readBytesPerCpuSecond)
                                      : 0.0;
    if (measured && !measured->dotRates.isEmpty()) {
        for (const MeasuredDotRate &r : measured->dotRates)
            if (const auto type = ggmlTypeFromName(r.type))
                m.cpuDotRates.push_back({*type, r.bytesPerSecond});
        m.cpuDotThreads = measured->dotThreads;
        m.cpuDotSource = QStringLiteral("measured here: one-token products from the caches "
                                        "(quantfit-cli bandwidth, %1 threads, %2)")
                             .arg(measured->dotThreads)
                             .arg(measured->dotDate.toString(Qt::ISODate));
    }
    if (measured && measured->generationBytesPerSecond() > 0) {
        m.measuredGeneration = {.modelFile = measured->generationModel,
                                .tokensPerSecond = measured->generatedTokensPerSecond,
                                .bytesPerToken = double(measured->bytesPerToken),
                                .threads = measured->generationThreads,
                                .date = measured->generationDate.toString(Qt::ISODate)};
    }
    if (measured && readBytes > 0 && (!m.cpuDotRates.empty()
                                      || measured->generationBytesPerSecond() <= 0)) {
        const bool perCpu = measured->readBytesPerCpuSecond > measured->readBytesPerSecond;
        m.cpuBandwidth = readBytes * kMeasuredCpuBandwidthEfficiency;
        m.cpuBandwidthSource =
            QStringLiteral("measured here: %1 GB/s streaming read (quantfit-cli bandwidth, %2 "
                           "threads%3) x %4")
                .arg(readBytes / GBps, 0, 'f', 1)
                .arg(perCpu ? measured->readCpuThreads : measured->readThreads)
                .arg(perCpu ? QStringLiteral(", per CPU-second of the threads") : QString())
                .arg(kMeasuredCpuBandwidthEfficiency);
    } else if (measured && measured->generationBytesPerSecond() > 0) {
        m.cpuBandwidth = measured->generationBytesPerSecond();
        m.cpuBandwidthSource =
            QStringLiteral("QuantFit's own generation measured here: %1 tokens/s x %2 MB per "
                           "token on %3 (%4 threads, %5)")
                .arg(measured->generatedTokensPerSecond, 0, 'f', 2)
                .arg(double(measured->bytesPerToken) / 1e6, 0, 'f', 1)
                .arg(measured->generationModel)
                .arg(measured->generationThreads)
                .arg(measured->generationDate.toString(Qt::ISODate));
    } else {
        m.notes << QStringLiteral("RAM bandwidth assumed (DDR5 dual channel); run "
                                  "`quantfit-cli bandwidth` to measure it.");
    }
    if (measured && measured->promptFlops > 0) {
        m.cpuFlops = measured->promptFlops;
        m.cpuFlopsSource = QStringLiteral("QuantFit's own prompt processing measured here: %1 "
                                          "tokens/s on %2 (%3 threads)")
                               .arg(measured->promptTokensPerSecond, 0, 'f', 1)
                               .arg(measured->generationModel)
                               .arg(measured->generationThreads);
    }
    if (m.kind == MachineKind::ApuUnified && readBytes > 0) {
        m.gpuBandwidth = readBytes * kMeasuredCpuBandwidthEfficiency;
        m.gpuBandwidthSource = QStringLiteral("the RAM's, measured by quantfit-cli bandwidth");
    }
    return m;
}

MachineProfile applyOverrides(MachineProfile m, const MachineOverrides &o)
{
    const bool changed = o.ramBytes || o.vramBytes || o.gpuLimitBytes || o.gpuBandwidth
        || o.cpuBandwidth || o.measuredCpuBandwidth;
    if (!changed)
        return m;
    if (m.origin == QLatin1String("preset")) {
        m.origin = QStringLiteral("custom");
        m.name += QStringLiteral(" (custom values)");
    }
    if (o.ramBytes) {
        m.ramBytes = *o.ramBytes;
        m.ramSource = QStringLiteral("given: %1 GB").arg(gbText(m.ramBytes));
        if (m.kind == MachineKind::AppleUnified && !o.gpuLimitBytes) {
            m.gpuSharedBytes = appleDefaultGpuLimitBytes(m.ramBytes);
            m.gpuMemorySource = QStringLiteral("macOS default GPU working-set limit %1 GB")
                                    .arg(gbText(m.gpuSharedBytes));
        }
    }
    if (o.vramBytes) {
        if (m.kind == MachineKind::CpuOnly) {
            m.kind = MachineKind::DiscreteGpu;
            m.gpuName = QStringLiteral("GPU");
            m.gpuBandwidth = 400 * GBps * kGpuBandwidthEfficiency;
            m.gpuBandwidthSource = QStringLiteral("400 GB/s assumed x %1 (give --gpu-bandwidth)")
                                       .arg(kGpuBandwidthEfficiency);
            m.gpuFlops = 20 * TFLOPS;
            m.gpuFlopsSource = QStringLiteral("20 TFLOPS effective assumed");
            m.pcieBandwidth = 25 * GBps;
        }
        m.gpuDedicatedBytes = *o.vramBytes;
        m.gpuMemorySource = QStringLiteral("given: %1 GB %2")
                                .arg(gbText(m.gpuDedicatedBytes),
                                     m.kind == MachineKind::ApuUnified
                                         ? QStringLiteral("carve-out")
                                         : QStringLiteral("VRAM"));
    }
    if (o.gpuLimitBytes) {
        if (m.kind == MachineKind::AppleUnified || m.kind == MachineKind::ApuUnified) {
            m.gpuSharedBytes = *o.gpuLimitBytes;
            m.gpuMemorySource += QStringLiteral("; given: %1 GB %2")
                                     .arg(gbText(m.gpuSharedBytes),
                                          m.kind == MachineKind::AppleUnified
                                              ? QStringLiteral("GPU limit (iogpu.wired_limit_mb)")
                                              : QStringLiteral("GTT (ttm.pages_limit)"));
        } else {
            m.gpuDedicatedBytes = *o.gpuLimitBytes;
            m.gpuMemorySource = QStringLiteral("given: %1 GB").arg(gbText(m.gpuDedicatedBytes));
        }
    }
    if (o.gpuBandwidth) {
        const double eff = m.kind == MachineKind::AppleUnified ? kAppleBandwidthEfficiency
            : m.kind == MachineKind::ApuUnified                ? kApuBandwidthEfficiency
                                                               : kGpuBandwidthEfficiency;
        m.gpuBandwidth = *o.gpuBandwidth * eff;
        m.gpuBandwidthSource =
            QStringLiteral("given: %1 GB/s x %2").arg(*o.gpuBandwidth / GBps).arg(eff);
    }
    if (o.cpuBandwidth) {
        m.cpuBandwidth = *o.cpuBandwidth * kCpuBandwidthEfficiency;
        m.cpuBandwidthSource = QStringLiteral("given: %1 GB/s x %2")
                                   .arg(*o.cpuBandwidth / GBps)
                                   .arg(kCpuBandwidthEfficiency);
    }
    if (o.measuredCpuBandwidth) {
        m.cpuBandwidth = *o.measuredCpuBandwidth * kMeasuredCpuBandwidthEfficiency;
        m.cpuBandwidthSource = QStringLiteral("measured: %1 GB/s x %2")
                                   .arg(*o.measuredCpuBandwidth / GBps)
                                   .arg(kMeasuredCpuBandwidthEfficiency);
    }
    return m;
}

} // namespace QuantFit
