#pragma once

// The measurement record: one perplexity or KL-divergence run of one model, as
// `quantfit-cli perplexity --json` prints it, the app saves it and both list it. One schema,
// versioned; docs/formats.md ("Measurement results") describes every key.

#include "perplexity.h"

#include <QByteArray>
#include <QDateTime>
#include <QJsonObject>
#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace QuantFit {

/// The "format" value of a record and the schema version this build writes. Readers accept
/// every version up to this one, the app's earlier "quantfit-measurement-1" files and the
/// unversioned `perplexity --json` output of earlier builds.
inline constexpr char kMeasurementFormat[] = "quantfit-measurement";
inline constexpr int kMeasurementVersion = 2;

/// One measured model. Numbers are in the units their names say; `id` is not stored (it is the
/// file name stem a ResultsStore gave the record).
struct MeasurementRecord {
    QString id;
    // what was measured
    QString modelPath;
    QString modelName;             ///< general.name, or the file name when absent
    QString fileType;              ///< "Q4_K_M" (general.file_type, or guessed)
    std::uint64_t fileBytes = 0;   ///< all files of the model
    std::uint64_t nParams = 0;
    double bitsPerWeight = 0;
    bool isBase = false;           ///< the full-precision base a KLD run compared against
    // how
    QString textSource;            ///< file, ARCHIVE:MEMBER or "built-in sample"
    QString basePath;              ///< base model or base-logits file (KLD runs), else empty
    int nCtx = 0;
    int nChunks = 0;
    int nBatch = 0;
    int nThreads = 0;
    QString kvType;                ///< "f16" or "f32"
    // what came out
    std::uint64_t nTokensScored = 0;
    double ppl = 0;
    double pplError = 0;
    std::vector<double> runningPpl; ///< after each chunk
    double seconds = 0;
    double tokensPerSecond = 0;
    std::optional<KldSummary> kld;
    QDateTime date;                ///< when the run finished (UTC when written)
    QString producer;              ///< "quantfit-cli 0.1.0", "quantfit 0.1.0"

    bool operator==(const MeasurementRecord &other) const;
};

/// The record of `run` with the facts of the measured file (model name, file type, size,
/// parameters, bits per weight) read from its headers. Throws what GgufFile::open throws.
MeasurementRecord measurementRecordFor(const PerplexityResult &run, const QString &modelPath);

/// JSON of a record in the current schema (version kMeasurementVersion).
QJsonObject measurementRecordToJson(const MeasurementRecord &record);
/// Indented UTF-8 JSON text.
QByteArray measurementRecordJsonText(const MeasurementRecord &record);

/// Reads a record of any known format (see kMeasurementFormat). Throws FormatError naming
/// `name` and the field when the object is not a measurement record or comes from a newer
/// schema version than this build reads.
MeasurementRecord measurementRecordFromJson(const QJsonObject &object, const QString &name);
/// The same from a file (at most 16 MiB, a regular file). Throws IoError / FormatError.
MeasurementRecord readMeasurementRecord(const QString &path);

} // namespace QuantFit
