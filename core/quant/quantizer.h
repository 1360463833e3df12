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
        QString path;                ///< the (first) file
        std::uint64_t fileBytes = 0; ///< of all its files
        QStringList files;           ///< every file: path alone, or the --keep-split shards
    };
    std::vector<Output> outputs;
    std::uint64_t inputBytes = 0; ///< tensor bytes read from the input
    double seconds = 0;
    QStringList warnings;         ///< imatrix entries not found, size notes, ...
};

/// Executes plans: streams every tensor of the memory-mapped `input` once, converting row chunks
/// on `nThreads` workers, and writes each target through GgufWriters (temporary files renamed
/// into place when complete; a plan with several output files, --keep-split, writes
/// shardOutputPath() of each). Several targets share the one pass over the input.
///
/// Progress: stage "Quantizing", total = input tensor bytes, advance per chunk (MB/s rate).
/// Cancellation is checked after every chunk (well under 250 ms each); Cancelled leaves no
/// output and no temporary. Peak memory is bounded by a fixed batch size, not by the model.
///
/// Refused before any output exists (Error): an output path equal to the input or another
/// output, a target type without codec, too little disk for the planned bytes, a plan that needs
/// an importance matrix when none is given (imatrixRequirementMessage) or a tensor that needs
/// one the imatrix has no entry for ("Missing importance matrix for tensor ..."), an imatrix
/// entry of the wrong size or with a non-finite value. While writing: a row holding NaN/Inf
/// ("tensor 'x' row N contains ..."); IoError on write failures; Cancelled.
QuantizeResult quantize(const GgufFile &input, const std::vector<QuantizeTarget> &targets,
                        const QuantizeOptions &options, JobContext &ctx);

/// Re-opens written file `shard` of a plan and checks tensor count, names, shapes, types,
/// offsets, metadata and file size against it. Throws Error naming the first mismatch.
void verifyQuantizedFile(const QString &path, const QuantPlan &plan, std::uint32_t shard = 0);

/// The path of output file `shard` (0-based) of `nShards`: `outputPath` itself for one file,
/// else llama.cpp's split names, `OUT-00001-of-00003.gguf` for `OUT.gguf` (or `OUT`).
QString shardOutputPath(const QString &outputPath, std::uint32_t shard, std::uint32_t nShards);

/// `dir/model-Q4_K_M.gguf` for `dir/model.gguf` (a trailing "-F16"/"-F32"/... type suffix of the
/// input name is replaced rather than extended; the "-00001-of-00003" of a split model's first
/// file is dropped, as the output is one file).
QString defaultOutputPath(const QString &inputPath, FileType fileType);

} // namespace QuantFit
