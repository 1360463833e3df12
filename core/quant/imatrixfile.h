#pragma once

// Importance matrices (imatrix) as llama.cpp stores them (tools/imatrix/imatrix.cpp writes them;
// docs/formats.md, "Importance matrices").
//
// Legacy binary `.dat` (all little-endian int32 / float32):
//  1. int32 n_entries
//  2. per entry: int32 name_len, name bytes, int32 ncall, int32 nval, float values[nval]
//     (values = mean of squares * ncall)
//  3. optional: int32 last_chunk, then optional int32 dataset_len + dataset bytes
// GGUF (general.type = "imatrix"): keys imatrix.datasets (string[]), imatrix.chunk_count and
// imatrix.chunk_size (UINT32); per weight W, sorted by name: F32 tensors `W.in_sum2` [n_in, n_mat]
// and `W.counts` [1, n_mat] (and, in newer files, `W.in_sum`, ignored).
//
// Both are held in one form: per tensor the raw sums of squared activations and the number of
// activations per matrix, so the importance is sumSquares / count.

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <vector>

namespace QuantFit {

/// One weight tensor's statistics. For dense weights nMatrices = 1; for merged MoE experts one
/// matrix per expert, column c of expert e at index e * nColumns + c.
struct ImportanceEntry {
    QByteArray name;                ///< weight tensor name ("blk.0.attn_q.weight")
    std::uint64_t nColumns = 0;     ///< input width n_in (== ne[0] of the weight)
    std::uint64_t nMatrices = 1;
    std::vector<float> sumSquares;  ///< nColumns * nMatrices raw sums of x^2
    std::vector<float> counts;      ///< nMatrices activation counts

    /// Mean of squares per column (sumSquares / count; 1 where the count is 0), the values the
    /// codecs weight with (docs/formats.md, "Block layouts"). nColumns * nMatrices values.
    std::vector<float> importance() const;
};

/// A whole importance matrix with its provenance.
struct ImportanceMatrix {
    std::vector<ImportanceEntry> entries; ///< any order; writers sort by name
    QStringList datasets;                 ///< text files the statistics came from
    std::uint32_t chunkCount = 0;         ///< chunks processed
    std::uint32_t chunkSize = 0;          ///< tokens per chunk (n_ctx / n_parallel)

    const ImportanceEntry *find(const QByteArray &name) const;
    /// llama-quantize's --include-weights / --exclude-weights: keep only entries whose name
    /// contains any of `include` (when non-empty), then drop those containing any of `exclude`.
    void filter(const QStringList &include, const QStringList &exclude);
};

enum class ImatrixFormat {
    Legacy, ///< llama.cpp's binary imatrix.dat
    Gguf,   ///< the GGUF imatrix of newer llama.cpp
};

/// Reads either format (GGUF when the file starts with "GGUF", legacy otherwise). Throws IoError
/// when the file cannot be read and FormatError naming the offset/field for malformed content
/// (counts are checked against the file size before anything is allocated; a GGUF imatrix
/// lacking the imatrix.* keys, an in_sum2 without counts or a non-finite value is an error).
ImportanceMatrix readImportanceMatrix(const QString &path);
/// Parses a legacy `.dat` held in memory; `name` appears in messages.
ImportanceMatrix parseLegacyImatrix(const QByteArray &bytes, const QString &name);

/// Writes `matrix` atomically in `format`. Legacy files store ncall = the largest count of an
/// entry rounded up (at least 1) and values = mean * ncall, which llama.cpp reads back as the
/// same means. Throws IoError / Error.
void writeImportanceMatrix(const QString &path, const ImportanceMatrix &matrix,
                           ImatrixFormat format);
/// The legacy encoding of `matrix` (what writeImportanceMatrix(Legacy) writes).
QByteArray serializeLegacyImatrix(const ImportanceMatrix &matrix);

} // namespace QuantFit
