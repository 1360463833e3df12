#pragma once

#include <QByteArray>

#include <cstdint>

namespace QuantFit {

/// Facts about this machine. Values the system cannot tell are 0. Free disk space is a fact of
/// a path, not of the machine: io/diskspace.h.
struct SystemInfo {
    std::uint64_t totalRamBytes = 0;
    std::uint64_t availableRamBytes = 0; ///< MemAvailable: free without swapping
    int cpuThreads = 0;

    /// Reads /proc/meminfo on Linux (sysconf elsewhere) and the ideal thread count.
    static SystemInfo current();
};

/// Parses /proc/meminfo text ("MemTotal:  16314588 kB" lines). Missing keys give 0.
SystemInfo parseMeminfo(const QByteArray &text);

} // namespace QuantFit
