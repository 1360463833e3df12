#pragma once

// quantfit-bench: speed and memory figures (not tests). Each subcommand lives in its own
// bench*.cpp, registers itself with a static BenchRegistration, and is listed in bench.cmake:
// adding one is one line there.

#include <QString>
#include <QStringList>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace QuantFit::Bench {

struct BenchCommand {
    QString name;
    QString summary;
    std::function<int(const QStringList &args)> run; ///< args after the subcommand name
};

std::vector<BenchCommand> &benchCommands();

struct BenchRegistration {
    BenchRegistration(const QString &name, const QString &summary,
                      std::function<int(const QStringList &)> run);
};

/// Peak resident set size of this process in bytes (VmHWM of /proc/self/status), 0 if unknown.
std::uint64_t peakRssBytes();
/// Current resident set size (VmRSS).
std::uint64_t currentRssBytes();
/// Resets the peak to the current size (writes 5 to /proc/self/clear_refs); false if refused.
bool resetPeakRss();

/// Prints a line to stdout and flushes.
void print(const QString &line);

/// CPU seconds (user + system) of the process so far, all threads.
double processCpuSeconds();
/// CPU seconds of the calling thread so far.
double threadCpuSeconds();

/// Memory read bandwidth in GB/s (1e9 bytes/s): `nThreads` threads each streaming through its
/// share of a `bytes` buffer (much larger than the last-level cache), best of `reps` passes
/// (benchbandwidth.cpp).
double measureReadBandwidthGbps(std::size_t bytes, int nThreads, int reps);

} // namespace QuantFit::Bench
