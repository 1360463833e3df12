#pragma once

// Importance-matrix computation as one request (`quantfit-cli imatrix`; the conversion's
// calibration stage will use it too).

#include "eval/perplexity.h"
#include "quant/imatrixfile.h"

#include <QString>
#include <QStringList>

#include <cstdint>
#include <functional>

namespace QuantFit {

class JobContext;

struct ImatrixRequest {
    QString modelPath;
    QString textSource;               ///< calibration text: file or ARCHIVE:MEMBER
    QString outputPath;
    /// nullopt: from the output's extension (.dat: legacy), else GGUF.
    std::optional<ImatrixFormat> format;
    int nCtx = 512;
    int nChunks = -1;
    int nBatch = 2048;
    int nThreads = 0;
    bool processOutput = false;       ///< also collect output.weight
    QStringList inputPaths;           ///< existing matrices to add to (--in-file)
    std::function<void(const ChunkReport &)> onChunk;  ///< worker thread, after every chunk
};

struct ImatrixResult {
    QString path;
    ImatrixFormat format = ImatrixFormat::Gguf;
    std::size_t nEntries = 0;
    std::uint32_t nChunks = 0;        ///< chunks in the matrix (inputs included)
    int nCtx = 0;
    double ppl = 0;                   ///< of the calibration text, along the way
    double pplError = 0;
    double seconds = 0;
};

/// The format a request writes (explicit, else by extension).
ImatrixFormat imatrixFormatFor(const ImatrixRequest &request);

/// Evaluates the text, collects the matrix and writes it atomically. Throws Error (text shorter
/// than two contexts, output equal to the model), IoError / FormatError, Cancelled.
ImatrixResult runImatrix(const ImatrixRequest &request, JobContext &ctx);

} // namespace QuantFit
