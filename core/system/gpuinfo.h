#pragma once

// GPUs of this machine as Linux's DRM subsystem shows them in sysfs, read without any vendor
// library: /sys/class/drm/cardN/device/ holds the PCI ids (vendor, device), the driver link and,
// for amdgpu, the memory the driver manages (mem_info_vram_total: dedicated VRAM or, on an APU,
// the firmware carve-out; mem_info_gtt_total: system RAM the GPU may map through the GTT, set by
// the ttm.pages_limit kernel parameter, formerly amdgpu.gttsize). NVIDIA's driver publishes no
// memory size there; such a GPU is listed with 0 VRAM and the user gives it (--vram).

#include <QString>

#include <cstdint>
#include <vector>

namespace QuantFit {

struct GpuDevice {
    QString card;               ///< "card0"
    QString driver;             ///< "amdgpu", "nvidia", "i915", "xe", ... (empty: unknown)
    std::uint16_t vendorId = 0; ///< PCI vendor: 0x1002 AMD, 0x10de NVIDIA, 0x8086 Intel
    std::uint16_t deviceId = 0;
    std::uint64_t vramBytes = 0; ///< 0: not published
    std::uint64_t gttBytes = 0;  ///< 0: not published
    /// Integrated (shares system RAM): amdgpu without a VRAM vendor (the driver names the
    /// memory chips' vendor only for dedicated VRAM), or an Intel i915/xe GPU without VRAM.
    bool integrated = false;

    QString vendorName() const; ///< "AMD", "NVIDIA", "Intel", or "PCI vendor 0x...."
    /// "AMD GPU 0x1586 (amdgpu, integrated): VRAM 0.5 GB, GTT 64.0 GB"
    QString describe() const;
};

/// Reads every cardN (not connector entries like card0-DP-1) under `drmRoot`, sorted by card
/// number. Unreadable or malformed files give 0 / empty fields, never an error; devices that
/// are not PCI GPUs (no vendor file) are skipped.
std::vector<GpuDevice> detectGpus(const QString &drmRoot = QStringLiteral("/sys/class/drm"));

} // namespace QuantFit
