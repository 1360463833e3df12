#pragma once

// Importance-matrix computation as one request: `quantfit-cli imatrix` runs it and writes the
// matrix; the conversion's calibration stage (`quantize --calibration`, conversiontask.h) runs
// the same computation and quantizes with the result, so both routes give the same matrix.

#include "eval/imatrixcollector.h"
#include "eval/perplexity.h"
#include "quant/imatrixfile.h"

#include <QString>
#include <QStringList>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace QuantFit {

class JobContext;

struct ImatrixRequest {
    QString modelPath;
    QString textSource;               ///< calibration text: file or ARCHIVE:MEMBER
    bool builtInSample = false;       ///< use the built-in sample text instead of textSource
    QString outputPath;               ///< runImatrix only
    /// nullopt: from the output's extension (.dat: legacy), else GGUF.
    std::optional<ImatrixFormat> format;
    int nCtx = 512;
    int nChunks = -1;                 ///< at most this many chunks; -1: the whole text
    int nBatch = 2048;
    int nThreads = 0;
    bool processOutput = false;       ///< also collect output.weight
    bool flashAttention = true;       ///< llama.cpp's default attention numerics (`-fa on`)
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
/// The format `path` is written in when none is asked for: legacy for ".dat", else GGUF.
ImatrixFormat imatrixFormatForPath(const QString &path);

/// A computation opened and checked but not yet run: the model is mapped and the text read and
/// tokenized, so every refusal happens here, before any progress, and the work ahead is known
/// (the conversion weighs its calibration stage by it). Not thread-safe; run() once.
class ImatrixComputation
{
public:
    /// Throws Error (no text, a text shorter than two contexts, bad options, a model the
    /// inference cannot run), IoError / FormatError from the files.
    explicit ImatrixComputation(const ImatrixRequest &request);
    ~ImatrixComputation();

    /// Chunks of nCtx tokens that run() evaluates.
    int nChunks() const { return m_nChunks; }
    std::uint64_t nTokens() const { return std::uint64_t(m_nChunks) * std::uint64_t(m_nCtx); }

    /// Evaluates the chunks and returns the matrix; nothing is written. Progress as
    /// computePerplexity (stage "Importance matrix", tokens, metric "PPL"). Throws Cancelled.
    ImatrixRunResult run(JobContext &ctx);

private:
    ImatrixRequest m_request;
    std::shared_ptr<const LlamaModel> m_model;
    EvalTokens m_text;
    int m_nCtx = 0;
    int m_nChunks = 0;
};

/// Evaluates the text, collects the matrix and writes it atomically. Throws Error (text shorter
/// than two contexts, output equal to the model), IoError / FormatError, Cancelled.
ImatrixResult runImatrix(const ImatrixRequest &request, JobContext &ctx);

} // namespace QuantFit
