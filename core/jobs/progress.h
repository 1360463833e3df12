#pragma once

#include <QMetaType>
#include <QString>

#include <cstdint>
#include <optional>

namespace QuantFit {

/// A snapshot of a long operation: stage, work done out of total (64-bit units: bytes, rows,
/// tokens), and an optional live metric (running perplexity and its error). Percent and ETA are
/// computed by whoever shows it.
struct Progress {
    QString stage;             ///< "Quantizing blk.3.ffn_up.weight", "Chunk 4/50"
    std::uint64_t done = 0;
    std::uint64_t total = 0;
    double elapsedSeconds = 0; ///< since the job started
    QString metricName;        ///< "PPL", empty when none
    std::optional<double> metric;
    std::optional<double> metricError;
    double rate = 0;           ///< units per second over the whole run (0 = unknown)
    QString rateUnit;          ///< "MB/s", "tok/s"

    double fraction() const { return total ? double(done) / double(total) : 0.0; }
    /// Seconds left at the average rate so far; negative when unknown.
    double etaSeconds() const;
};

} // namespace QuantFit

Q_DECLARE_METATYPE(QuantFit::Progress)
