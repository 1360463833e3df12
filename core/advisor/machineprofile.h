#pragma once

// Machine profiles: where a model's bytes can live and how fast each place is read.
//
// Three kinds of machine (docs/advisor.md, "Machines", has the table of presets and sources):
//   CPU only:     system RAM; generation reads weights at the RAM's bandwidth.
//   Unified:      one memory that CPU and GPU share, but the GPU may use only part of it.
//     Apple Silicon: Metal's recommendedMaxWorkingSetSize, which macOS sets to about 2/3 of RAM
//       up to 36 GB and about 3/4 above (llama.cpp logs: 10922.67 MB on 16 GB, 49152 MiB on
//       64 GB); `sudo sysctl iogpu.wired_limit_mb=N` raises it until the next reboot.
//     AMD APUs (Ryzen AI Max "Strix Halo"): the firmware's VRAM carve-out (taken from RAM before
//       the OS boots) plus the GTT, the system RAM the amdgpu driver lets the GPU map: by default
//       half of the RAM the OS sees, set with the kernel parameter ttm.pages_limit=N (4 KiB
//       pages; older kernels: amdgpu.gttsize=MiB).
//   Discrete GPU: its own VRAM plus system RAM, joined by PCIe.
// Every limit carries the sentence that says where it comes from; the CLI and the Advise page
// print them with the figures.

#include "gguf/ggmltype.h"

#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <vector>

namespace QuantFit {

struct GpuDevice;
struct MeasuredSpeed;
struct SystemInfo;

enum class MachineKind {
    CpuOnly,
    AppleUnified,
    ApuUnified,
    DiscreteGpu,
};
QString machineKindName(MachineKind kind); ///< "CPU only", "unified memory (Apple)", ...

/// Generation reads weights at this share of a device's published bandwidth (docs/advisor.md,
/// "Speed": the typical ratio in published llama-bench tg128 runs).
constexpr double kGpuBandwidthEfficiency = 0.70;
constexpr double kAppleBandwidthEfficiency = 0.65;
constexpr double kApuBandwidthEfficiency = 0.65;
constexpr double kCpuBandwidthEfficiency = 0.60;
/// Of a bandwidth measured on this machine by `quantfit-cli bandwidth` (already what a
/// streaming read achieves): generation adds compute between the reads.
constexpr double kMeasuredCpuBandwidthEfficiency = 0.85;

/// How fast this CPU multiplies one token by weights of a type held in its caches
/// (`quantfit-cli bandwidth`, infer/dotthroughput.h): the compute ceiling of generation.
struct CpuDotRate {
    GgmlType type = GgmlType::F32;
    double bytesPerSecond = 0; ///< weight bytes per second with MachineProfile::cpuDotThreads
};

/// QuantFit's own generation measured on this machine (`quantfit-cli bandwidth --generate`).
struct MeasuredGeneration {
    QString modelFile;           ///< file name of the model it ran
    double tokensPerSecond = 0;  ///< per CPU-second of its threads x threads; 0: none
    double bytesPerToken = 0;
    int threads = 0;
    QString date;                ///< ISO date
};

/// One machine. Bytes are bytes, bandwidths bytes per second, throughputs FLOP per second.
struct MachineProfile {
    QString id;     ///< "strix-halo-128", "detected", "custom"
    QString name;   ///< "AMD Ryzen AI Max+ 395 mini PC, 128 GB"
    QString origin; ///< "preset", "detected", "custom"
    MachineKind kind = MachineKind::CpuOnly;

    std::uint64_t ramBytes = 0; ///< physical RAM (unified: all of it, carve-out included)
    QString ramSource;
    double cpuBandwidth = 0; ///< what generation on the CPU reads at (efficiency applied)
    QString cpuBandwidthSource;
    double cpuFlops = 0;     ///< effective prompt-processing throughput of the CPU
    QString cpuFlopsSource;
    /// The compute ceiling per weight type, measured here; empty: generation on the CPU is
    /// taken as bound by the bandwidth alone (the presets).
    std::vector<CpuDotRate> cpuDotRates;
    int cpuDotThreads = 0;
    QString cpuDotSource;
    /// QuantFit's generation measured here: replaces the estimate for that model file.
    MeasuredGeneration measuredGeneration;

    QString gpuName;                  ///< empty: no GPU
    std::uint64_t gpuDedicatedBytes = 0; ///< discrete VRAM, or an APU's firmware carve-out
    std::uint64_t gpuSharedBytes = 0;    ///< system RAM the GPU may use (Apple limit, APU GTT)
    QString gpuMemorySource;
    double gpuBandwidth = 0; ///< efficiency applied
    QString gpuBandwidthSource;
    double gpuFlops = 0;     ///< effective prompt-processing throughput
    QString gpuFlopsSource;
    double pcieBandwidth = 0; ///< discrete: host-to-GPU copies (prompt with weights in RAM)

    QStringList notes; ///< how to change a limit, what was not detected, ...

    bool hasGpu() const { return kind != MachineKind::CpuOnly && gpuLimitBytes() > 0; }
    /// What the GPU may hold.
    std::uint64_t gpuLimitBytes() const { return gpuDedicatedBytes + gpuSharedBytes; }
    /// RAM the operating system sees: an APU's carve-out is gone from it.
    std::uint64_t systemRamBytes() const
    {
        return kind == MachineKind::ApuUnified && gpuDedicatedBytes < ramBytes
            ? ramBytes - gpuDedicatedBytes
            : ramBytes;
    }
    /// The measured compute ceiling of `type` on the CPU; 0 when not measured.
    double cpuDotRate(GgmlType type) const
    {
        for (const CpuDotRate &r : cpuDotRates)
            if (r.type == type)
                return r.bytesPerSecond;
        return 0;
    }
    /// Whether GPU bytes beyond gpuDedicatedBytes come out of system RAM (unified machines).
    bool gpuSharesRam() const { return kind == MachineKind::AppleUnified
                                       || kind == MachineKind::ApuUnified; }
};

/// The presets, in display order.
const std::vector<MachineProfile> &machinePresets();
/// Case-insensitive lookup; nullopt when no preset has the id.
std::optional<MachineProfile> findMachinePreset(const QString &id);

/// macOS's default GPU working-set limit for `ramBytes` of unified memory (see above).
std::uint64_t appleDefaultGpuLimitBytes(std::uint64_t ramBytes);
/// Linux's default GTT for `osRamBytes` (RAM the OS sees): half of it.
std::uint64_t linuxDefaultGttBytes(std::uint64_t osRamBytes);

/// A plain CPU machine with `ramBytes` and DDR5 dual-channel bandwidth unless told otherwise.
MachineProfile cpuOnlyMachine(std::uint64_t ramBytes);

/// This machine: RAM and CPU from `system`, the first GPU with published memory from `gpus`
/// (an AMD APU becomes unified with its carve-out and GTT; a discrete AMD GPU uses its VRAM; a
/// GPU without published memory is only named in the notes), and the bandwidth or generation
/// speed QuantFit measured here when `measured` has one (it replaces the assumed bandwidth).
MachineProfile detectedMachine(const SystemInfo &system, const std::vector<GpuDevice> &gpus,
                               const std::optional<MeasuredSpeed> &measured);

/// Custom values over a base profile (a preset, the detected machine or cpuOnlyMachine):
/// every value given replaces the base's and says "given".
struct MachineOverrides {
    std::optional<std::uint64_t> ramBytes;
    std::optional<std::uint64_t> vramBytes;     ///< discrete VRAM or APU carve-out
    std::optional<std::uint64_t> gpuLimitBytes; ///< Apple: the raised wired limit; APU: the GTT
    std::optional<double> gpuBandwidth;         ///< published, bytes/s (efficiency applied here)
    std::optional<double> cpuBandwidth;         ///< published, bytes/s
    std::optional<double> measuredCpuBandwidth; ///< from `quantfit-cli bandwidth`, bytes/s
};
MachineProfile applyOverrides(MachineProfile base, const MachineOverrides &overrides);

} // namespace QuantFit
