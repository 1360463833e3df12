#pragma once

#include "gguf/filetype.h"
#include "gguf/ggufvalue.h"
#include "gguf/tensorinfo.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <vector>

namespace QuantFit {

class GgufLayout;

/// What the output metadata records about an importance matrix (docs/quantization.md,
/// "Importance matrix").
struct ImatrixSummary {
    QString fileName;         ///< quantize.imatrix.file (truncated to 127 bytes)
    QString dataset;          ///< quantize.imatrix.dataset, when known
    std::uint32_t entries = 0; ///< quantize.imatrix.entries_count (UINT32, as current llama-quantize)
    std::uint32_t chunks = 0;  ///< quantize.imatrix.chunks_count (UINT32; written when > 0)
};

/// One --override-kv value: set (or replace) `key` in the output metadata.
struct MetadataOverride {
    QByteArray key;
    GgufValue value;
};

/// Parses llama-quantize's `KEY=TYPE:VALUE` (docs/quantization.md, "Command line"): TYPE int
/// (stored as UINT32 of its absolute value, as current llama-quantize does; the magnitude must
/// fit), float (FLOAT32), bool (true/false) or str. Throws Error naming what is wrong: no '=', an
/// empty or over-long key (at most 127 bytes), an unknown TYPE, a VALUE that is not of its type, or
/// a key the file format reserves (general.alignment decides the layout and must stay UINT32).
MetadataOverride parseMetadataOverride(const QString &text);

/// Options of a conversion that change the plan (names as llama-quantize's flags).
struct QuantOptions {
    bool pure = false;                   ///< --pure: every quantizable tensor gets the default type
    bool leaveOutputTensor = false;      ///< --leave-output-tensor
    std::optional<GgmlType> outputTensorType;    ///< --output-tensor-type
    std::optional<GgmlType> tokenEmbeddingType;  ///< --token-embedding-type
    bool allowRequantize = false;        ///< --allow-requantize
    bool hasImatrix = false;             ///< an importance matrix is given (affects some rules)
    QStringList includeWeights;          ///< --include-weights (imatrix only for these)
    QStringList excludeWeights;          ///< --exclude-weights
    /// When set, the quantize.imatrix.* keys are added to the output metadata (and counted in
    /// outputFileBytes). The quantizer fills it from the loaded imatrix.
    std::optional<ImatrixSummary> imatrix;
    /// --override-kv, in the order given; applied after general.file_type and before the
    /// quantize.imatrix.* keys, each replacing an existing key (moved to the end) or adding it.
    std::vector<MetadataOverride> metadataOverrides;
};

/// One tensor of a plan.
struct PlannedTensor {
    GgufTensorInfo source;     ///< as in the input (offset relative to the input's data section)
    GgmlType targetType;       ///< what we will write
    std::uint64_t targetBytes; ///< exact data bytes of the target
    bool quantized;            ///< target differs from source (needs conversion)
    QString note;              ///< why, when a rule or fallback decided ("fallback: 172 % 32 != 0")
};

/// The complete, pure result of choosing every tensor's type for a file type: the output's
/// tensor order, types and sizes, hence the exact output file size, before anything is written.
struct QuantPlan {
    FileType fileType;
    std::vector<PlannedTensor> tensors; ///< in output order
    GgufMetadata outputMetadata;        ///< with general.file_type etc. set
    std::uint64_t outputFileBytes = 0;  ///< exact size of the file the quantizer writes
    std::uint64_t sourceTensorBytes = 0;
    std::uint64_t targetTensorBytes = 0;
    QStringList warnings;
    std::uint32_t nFallbacks = 0;       ///< tensors whose row length forced another type

    /// The output file's layout (metadata, tensor infos with final types, offsets assigned).
    GgufLayout outputLayout() const;
    /// Number of elements over all planned tensors.
    std::uint64_t nElements() const;
    /// Bits per weight of the output's tensor data (targetTensorBytes over nElements()).
    double bitsPerWeight() const;
    /// Whether every target type can be written by this build's codecs.
    bool isWritable() const;
};

/// Computes the plan. Pure and fast (no I/O; well under 10 ms for an 80-layer model): the
/// advisor calls it to predict sizes. Works for every file type in the table, including those
/// whose codecs this build lacks (isWritable() then says false; the quantizer refuses them).
/// Throws Error for an unknown file type (Guessed), and, without allowRequantize, for an input
/// tensor that is block-quantized and would need converting ("requantizing from type X ...").
QuantPlan makeQuantPlan(const GgufMetadata &metadata, const std::vector<GgufTensorInfo> &tensors,
                        FileType fileType, const QuantOptions &options = {});

/// Output tensor order (docs/quantization.md, "Output file"): by layer number from `blk.N.` (others
/// first), then byte-wise by name. Returns indices into `tensors`.
std::vector<std::size_t> outputTensorOrder(const std::vector<GgufTensorInfo> &tensors);

} // namespace QuantFit
