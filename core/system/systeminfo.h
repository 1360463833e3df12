#pragma once

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <optional>

namespace QuantFit {

/// Facts about this machine. Values the system cannot tell are 0 / nullopt.
struct SystemInfo {
    std::uint64_t totalRamBytes = 0;
    std::uint64_t availableRamBytes = 0; ///< MemAvailable: free without swapping
    int cpuThreads = 0;

    /// Reads /proc/meminfo on Linux (sysconf elsewhere) and the ideal thread count.
    static SystemInfo current();
};

/// Parses /proc/meminfo text ("MemTotal:  16314588 kB" lines). Missing keys give 0.
SystemInfo parseMeminfo(const QByteArray &text);

/// Free bytes available to the user on the file system holding `path` (which need not exist yet:
/// its closest existing parent is used). nullopt when it cannot be determined.
std::optional<std::uint64_t> availableDiskBytes(const QString &path);

} // namespace QuantFit
