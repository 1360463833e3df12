#pragma once

#include "quantplan.h"

#include <QString>
#include <QStringList>

#include <cstdint>
#include <vector>

namespace QuantFit {

class GgufFile;
class JobContext;
struct ImportanceMatrix;

/// One output of a conversion: the plan (from makeQuantPlan over the input's tensors) and where
/// to write it.
struct QuantizeTarget {
    QuantPlan plan;
    QString outputPath;
};

struct QuantizeOptions {
    int nThreads = 0;                          ///< worker threads; 0 = all cores
    bool verify = true;                        ///< re-open each output and check it against its plan
    const ImportanceMatrix *imatrix = nullptr; ///< already filtered (--include/--exclude-weights)
};

struct QuantizeResult {
    struct Output {
        QString path;
        std::uint64_t fileBytes = 0;
    };
    std::vector<Output> outputs;
    std::uint64_t inputBytes = 0; ///< tensor bytes read from the input
    double seconds = 0;
    QStringList warnings;         ///< imatrix entries not found, size notes, ...
};

/// Executes plans: streams every tensor of the memory-mapped `input` once, converting row chunks
/// on `nThreads` workers, and writes each target through a GgufWriter (temporary file renamed into
/// place when complete). Several targets share the one pass over the input.
///
/// Progress: stage "Quantizing", total = input tensor bytes, advance per chunk (MB/s rate).
/// Cancellation is checked after every chunk (well under 250 ms each); Cancelled leaves no
/// output and no temporary. Peak memory is bounded by a fixed batch size, not by the model.
///
/// Throws Error when an output path equals the input or another output, a target type has no
/// codec, the disk lacks the planned bytes, an imatrix entry has the wrong size or a row holds
/// NaN/Inf ("tensor 'x' row N contains ..."); IoError on write failures; Cancelled.
QuantizeResult quantize(const GgufFile &input, const std::vector<QuantizeTarget> &targets,
                        const QuantizeOptions &options, JobContext &ctx);

/// Re-opens a written file and checks tensor count, names, shapes, types, offsets, metadata and
/// file size against `plan`. Throws Error naming the first mismatch.
void verifyQuantizedFile(const QString &path, const QuantPlan &plan);

/// `dir/model-Q4_K_M.gguf` for `dir/model.gguf` (a trailing "-F16"/"-F32"/... type suffix of the
/// input name is replaced rather than extended; the "-00001-of-00003" of a split model's first
/// file is dropped, as the output is one file).
QString defaultOutputPath(const QString &inputPath, FileType fileType);

} // namespace QuantFit
