#pragma once

// Conversion as one request: what `quantfit-cli quantize` and the app's Convert page both run.
// The shells translate their arguments or widgets into a ConversionRequest; everything after
// that (reading or computing the importance matrix, naming outputs, planning, the disk check,
// writing, verifying) happens here, once.

#include "gguf/filetype.h"
#include "quant/imatrixfile.h"
#include "quant/quantplan.h"

#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <vector>

namespace QuantFit {

class GgufFile;
class JobContext;

/// Calibration defaults: llama-imatrix's context of 512 tokens, and at most 100 chunks (51,200
/// tokens, about what the usual published imatrix runs use: ~100 chunks of a few hundred KB of
/// mixed text). More chunks change the quantized weights little and cost time linearly.
constexpr int kCalibrationDefaultCtx = 512;
constexpr int kCalibrationDefaultChunks = 100;

/// Computing the importance matrix within the conversion (`quantize --calibration`): the source
/// is evaluated over a text exactly as `quantfit-cli imatrix` does (imatrixtask.h), then the
/// outputs are quantized with that matrix, as `quantize --imatrix` would with the saved file.
struct CalibrationRequest {
    QString textSource;               ///< file or ARCHIVE:MEMBER; empty: the built-in sample text
    int nCtx = kCalibrationDefaultCtx;
    int nChunks = kCalibrationDefaultChunks; ///< at most this many chunks; -1: the whole text
    int nBatch = 2048;
    /// Also write the matrix here (GGUF; legacy for a .dat name). Written as soon as it is
    /// computed, so a failed or cancelled quantization stage does not lose the calibration.
    QString saveImatrixPath;
};

/// Everything a conversion needs, as llama-quantize's options plus where to write.
struct ConversionRequest {
    QString sourcePath;
    std::vector<FileType> fileTypes;  ///< one output per type, from one pass over the source
    /// Exactly one of these or neither: an output file (one type only), or a folder that gets
    /// NAME-TYPE.gguf per type (created when missing). Neither: defaultOutputFolder().
    QString outputFile;
    QString outputFolder;
    /// Plan options (--pure, --output-tensor-type, --include-weights, --override-kv ...).
    /// `hasImatrix` and `imatrix` are filled in from imatrixPath, whatever they hold here.
    QuantOptions options;
    QString imatrixPath;              ///< llama.cpp .dat or GGUF imatrix; empty: none
    /// Compute the importance matrix from a text first; exclusive with imatrixPath.
    std::optional<CalibrationRequest> calibration;
    int nThreads = 0;                 ///< 0: all cores
    bool verify = true;               ///< re-open each output and check it against its plan
};

/// One output of a prepared conversion.
struct ConversionTarget {
    FileType fileType = FileType::F32;
    QString outputPath;
    std::optional<QuantPlan> plan;    ///< absent when planning failed (see error)
    QString error;
    /// Set when the plan needs an importance matrix and the request has none: the conversion
    /// will be refused with this message (a dry run only reports it).
    QString imatrixMissing;
};

/// The result of prepareConversion: plans, sizes and warnings, nothing written.
struct ConversionPreparation {
    std::vector<ConversionTarget> targets;
    std::optional<ImatrixSummary> imatrix;  ///< what the outputs will record about the imatrix
    QStringList warnings;                   ///< "Q4_K_M: ..." and imatrix notes
    std::uint64_t totalOutputBytes = 0;     ///< of the targets that have a plan
    std::optional<std::uint64_t> freeBytes; ///< of the output folder; nullopt: unknown

    /// Every target planned, writable by this build and given the imatrix it needs.
    bool isReady() const;
    /// The first target error as an Error (named by file type), or none.
    void throwIfNotReady() const;
};

/// Where a conversion of `sourcePath` writes when the request names no output: the source's own
/// folder, or convertedModelsFolder() when the source lies in a runner's store (LM Studio,
/// Ollama, the HF cache, llama.cpp's cache) — writing into a store is a hand-off the user asks
/// for, never a side effect. Outputs of a store model are named after it ("<model>-<tag>-TYPE"
/// for an Ollama blob), wherever they go.
QString defaultOutputFolder(const QString &sourcePath);

/// The importance matrix of a request, read and filtered by --include/--exclude-weights.
/// nullopt when the request names none (or computes it by calibration). Throws Error for
/// include/exclude without an imatrix or both together, and for an imatrix file together with
/// calibration; IoError / FormatError from reading the file.
std::optional<ImportanceMatrix> loadConversionImatrix(const ConversionRequest &request);

/// Plans every target against `source` (metadata suffices) and `imatrix` (from
/// loadConversionImatrix, or the calibration's result). Before a calibration has run (imatrix
/// null) the plans assume its matrix: the quantize.imatrix.* keys are sized from the request, so
/// the sizes are exact and mixes that need a matrix are accepted. Pure apart from asking the
/// free disk space; fast (milliseconds), so the app calls it on every change for its preview and
/// the CLI for --dry-run. Per-target planning errors are returned in the targets; request errors
/// (no types, an output file with several types) are thrown as Error.
ConversionPreparation prepareConversion(const ConversionRequest &request, const GgufFile &source,
                                        const ImportanceMatrix *imatrix);

/// One written file.
struct ConversionOutput {
    FileType fileType = FileType::F32;
    QString path;                     ///< the (first) file
    QStringList files;                ///< every file written (several with --keep-split)
    std::uint64_t predictedBytes = 0; ///< from the plan
    std::uint64_t actualBytes = 0;    ///< on disk after writing
    double bitsPerWeight = 0;         ///< of the tensor data
    bool verified = false;            ///< re-opened and matched the plan
};

/// What the calibration stage did.
struct CalibrationResult {
    int nChunks = 0;                  ///< chunks of nCtx tokens evaluated
    int nCtx = 0;
    std::size_t nEntries = 0;         ///< weight tensors in the matrix
    double ppl = 0;                   ///< of the calibration text, along the way
    double pplError = 0;
    double seconds = 0;
    QString savedPath;                ///< where the matrix was saved; empty: not saved
};

struct ConversionResult {
    std::vector<ConversionOutput> outputs;
    std::optional<ImatrixSummary> imatrix;
    std::optional<CalibrationResult> calibration;
    QStringList warnings;
    std::uint64_t inputBytes = 0;     ///< tensor bytes read from the source
    double seconds = 0;
};

/// Runs the whole conversion: opens the source, reads the imatrix, prepares (throwing the first
/// target error), refuses an output equal to the source or to another output, creates the
/// output folder, writes every target in one streaming pass through atomic outputs (the disk is
/// checked against the exact planned size first) and verifies them. Progress: stage
/// "Quantizing", bytes of source tensors. Throws Error / IoError / FormatError; Cancelled leaves
/// no output behind.
///
/// With calibration the text is read and the free disk space checked before anything runs,
/// then two stages share one continuous progress bar: "Calibrating" (the importance matrix;
/// metric "calibration PPL"), then "Quantizing". The bar's units are estimated CPU time (see
/// conversiontask.cpp), so the ETA covers both stages; no rate is reported. Cancel is honoured
/// within a layer's evaluation or a row chunk in either stage.
ConversionResult runConversion(const ConversionRequest &request, JobContext &ctx);

} // namespace QuantFit
