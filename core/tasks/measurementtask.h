#pragma once

// Measurement as one request: perplexity of one or several models, or their KL divergence
// against a full-precision base (a model whose logits are computed first, or base logits saved
// earlier). `quantfit-cli perplexity` and the app's Measure page both run it and get the same
// records back.

#include "eval/baselogits.h"
#include "eval/evalresult.h"
#include "infer/llamamodel.h"

#include <QString>
#include <QStringList>

#include <functional>
#include <vector>

namespace QuantFit {

class JobContext;

/// The name the built-in sample text carries in records ("built-in sample").
QString builtInSampleName();
/// The built-in sample evaluation text (UTF-8): a short English text written for QuantFit.
QByteArray builtInSampleText();

struct MeasurementRequest {
    QStringList modelPaths;           ///< measured one after another, one in memory at a time
    /// A full-precision model: its own perplexity is measured first (a record with isBase), its
    /// scored logits kept, and every model is then compared with them (KL divergence).
    QString basePath;
    /// Base logits saved earlier (ours or llama.cpp's --kl-divergence-base file): every model is
    /// compared with them; the text, context and chunks come from the file.
    QString baseLogitsPath;
    /// Evaluation text: a file or ARCHIVE:MEMBER; empty: the built-in sample.
    QString textSource;
    int nCtx = 512;
    int nChunks = -1;                 ///< -1: every whole chunk
    int nBatch = 2048;
    int nThreads = 0;                 ///< 0: all cores
    KvStorageType kvType = KvStorageType::F16;
    /// llama.cpp's flash-attention numerics (its CPU default); false: those of `-fa off`.
    bool flashAttention = true;
    /// Keep the scored logits here: of the base model when basePath is set, else of the one
    /// model measured.
    QString saveBaseLogitsPath;
    BaseRecordLimits baseLimits;
    bool baseLlamaCppFormat = false;  ///< save in llama.cpp's layout instead of ours
    QString producer;                 ///< written into each record ("quantfit-cli 0.1.0")
    /// After every chunk, on the worker thread: the model's index in modelPaths (-1 for the
    /// base model) and the running figures.
    std::function<void(int model, const ChunkReport &report)> onChunk;
    /// After each model, on the worker thread, with its finished record (the app saves it at
    /// once, so models finished before a cancel keep their results).
    std::function<void(const MeasurementRecord &record)> onRecord;
};

struct MeasurementResult {
    std::vector<MeasurementRecord> records; ///< the base model's first when measured
    QStringList notes;                      ///< e.g. "using the base file's context of 512"
};

/// Runs the request. Throws Error for a bad request (no model, a base model and a base file
/// together, --save-base with several models, a text shorter than two contexts, another
/// vocabulary than the base's), IoError / FormatError from the files, Cancelled when asked
/// (records reported through onRecord before that stay valid; a base file being written is
/// discarded).
MeasurementResult runMeasurement(const MeasurementRequest &request, JobContext &ctx);

} // namespace QuantFit
