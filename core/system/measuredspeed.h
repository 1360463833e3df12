#pragma once

// What QuantFit measured about this machine's speed, kept in one small JSON file so that the
// advisor can use it later: the streaming-read bandwidth (`quantfit-cli bandwidth`) and
// QuantFit's own generation speed on a model (`quantfit-cli bandwidth --generate MODEL`), with
// the bytes that model reads per generated token, and the same run's prompt throughput; and the
// rate at which QuantFit's generation kernels multiply each weight type from the CPU caches
// (the compute ceiling, measured by the same command). The file is
// `$XDG_DATA_HOME/QuantFit/quantfit/machine-speed.json` (QStandardPaths' generic data location,
// beside the results folder); QUANTFIT_MACHINE_SPEED_FILE overrides the path.

#include <QDateTime>
#include <QList>
#include <QString>

#include <cstdint>
#include <optional>

namespace QuantFit {

/// One weight type's one-token matrix-product rate from the caches (infer/dotthroughput.h).
struct MeasuredDotRate {
    QString type;              ///< ggml name: "q4_K", "f16", ...
    double bytesPerSecond = 0; ///< weight bytes per second of wall time
};

struct MeasuredSpeed {
    // quantfit-cli bandwidth
    double readBytesPerSecond = 0; ///< best over the thread counts; 0: not measured
    int readThreads = 0;           ///< the thread count that gave it
    /// Best over the thread counts of the bytes read per CPU-second of the threads x threads:
    /// the rate when nothing else takes the cores (0: not measured).
    double readBytesPerCpuSecond = 0;
    int readCpuThreads = 0;
    QDateTime readDate;
    // quantfit-cli bandwidth --generate MODEL
    double generatedTokensPerSecond = 0; ///< 0: not measured
    std::uint64_t bytesPerToken = 0;     ///< weights read per generated token of that model
    QString generationModel;             ///< file name
    int generationThreads = 0;
    QDateTime generationDate;
    /// The same run's prompt: tokens/s (wall time) x FLOPs per prompt token; 0: not measured.
    double promptFlops = 0;
    double promptTokensPerSecond = 0;
    // quantfit-cli bandwidth: the compute ceiling per weight type
    QList<MeasuredDotRate> dotRates; ///< empty: not measured
    int dotThreads = 0;
    QDateTime dotDate;

    /// Bytes per second QuantFit's own generation read (tokens/s x bytes per token); 0 when
    /// no generation was measured.
    double generationBytesPerSecond() const
    {
        return generatedTokensPerSecond * double(bytesPerToken);
    }
};

/// The default file (see above).
QString measuredSpeedPath();
/// Reads the file; nullopt when it is absent, unreadable or not a speed record (a damaged file
/// is the same as none: measuring again replaces it).
std::optional<MeasuredSpeed> loadMeasuredSpeed(const QString &path = measuredSpeedPath());
/// Writes the file atomically (creating its folder). Throws IoError.
void saveMeasuredSpeed(const MeasuredSpeed &speed, const QString &path = measuredSpeedPath());

} // namespace QuantFit
