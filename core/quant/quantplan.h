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

/// One --tensor-type item: tensors whose name the pattern matches (searched anywhere, the first
/// matching item wins) get `type`.
struct TensorTypeOverride {
    QString pattern; ///< lower-cased, as llama-quantize does
    GgmlType type = GgmlType::F32;
};

/// Parses llama-quantize's `PATTERN=TYPE` (docs/quantization.md, "Command line"): the pattern is
/// lower-cased and must be a valid regular expression; TYPE is a tensor type name this build can
/// write (q8_0, q4_K, iq4_nl, nvfp4, f16, ...; case-insensitive). Throws Error naming the item and
/// what is wrong: no '=', an empty pattern, an empty or unknown type, an invalid expression.
TensorTypeOverride parseTensorTypeOverride(const QString &text);

/// Parses the items of a --tensor-type-file: `PATTERN=TYPE` items separated by whitespace. Throws
/// Error naming `fileName` and the item.
std::vector<TensorTypeOverride> parseTensorTypeItems(const QString &text, const QString &fileName);

/// Parses --prune-layers `L0,L1,...`: non-negative layer numbers, returned sorted without
/// duplicates. Throws Error for anything else (empty items, signs, non-digits, overflow).
std::vector<int> parsePruneLayers(const QString &text);

/// Options of a conversion that change the plan (names as llama-quantize's flags).
struct QuantOptions {
    bool pure = false;                   ///< --pure: every quantizable tensor gets the default type
    bool leaveOutputTensor = false;      ///< --leave-output-tensor
    std::optional<GgmlType> outputTensorType;    ///< --output-tensor-type
    std::optional<GgmlType> tokenEmbeddingType;  ///< --token-embedding-type
    /// --tensor-type and --tensor-type-file items, in command-line order.
    std::vector<TensorTypeOverride> tensorTypes;
    /// --prune-layers: layer numbers to drop (sorted, unique); the rest are renumbered.
    std::vector<int> pruneLayers;
    /// --keep-split: a split input gives one output file per input file, with the same tensors.
    bool keepSplit = false;
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

/// What decided a tensor's type (docs/quantization.md, "Order of decisions").
enum class TypeDecision {
    NotCandidate,         ///< copied in its input type
    TokenEmbeddingOption, ///< --token-embedding-type (no fallback)
    OutputTensorOption,   ///< --output-tensor-type on output.weight (no fallback)
    FloatDefault,         ///< the file type's bulk type is F32, F16 or BF16
    Pattern,              ///< the first matching --tensor-type pattern
    Pure,                 ///< --pure: the bulk type
    MixRules,             ///< the per-tensor rules of the mix
};

/// One tensor of a plan.
struct PlannedTensor {
    GgufTensorInfo source;     ///< as in the input (offset relative to its file's data section)
    GgmlType targetType;       ///< what we will write
    std::uint64_t targetBytes; ///< exact data bytes of the target
    bool quantized;            ///< target differs from source (needs conversion)
    QString note;              ///< why, when a rule or fallback decided ("fallback: 172 % 32 != 0")
    /// The name in the output: source.name, or renumbered by --prune-layers. The imatrix is
    /// looked up by source.name.
    QByteArray name = source.name;
    TypeDecision decidedBy = TypeDecision::NotCandidate;
    bool fellBack = false;        ///< the row length forced the fallback type
    /// llama-quantize refuses this tensor without an imatrix (docs/quantization.md, "Importance
    /// matrix"); typeRequiresImportance(targetType) adds ggml's own requirement.
    bool requiresImatrix = false;
    std::uint32_t shard = 0;      ///< output file (--keep-split), 0 otherwise
};

/// The first tensor of a plan that cannot be written without an importance matrix.
struct ImatrixRequirement {
    QByteArray tensor; ///< output name
    GgmlType type = GgmlType::F32;
    QString why;       ///< "llama-quantize requires one for iq2_xxs", ...
};

/// The complete, pure result of choosing every tensor's type for a file type: the output's
/// tensor order, types and sizes, hence the exact output file size, before anything is written.
struct QuantPlan {
    FileType fileType;
    std::vector<PlannedTensor> tensors; ///< in output order (pruned tensors are absent)
    GgufMetadata outputMetadata;        ///< with general.file_type etc. set (of the first file)
    std::uint64_t outputFileBytes = 0;  ///< exact size of what the quantizer writes (all files)
    std::uint64_t sourceTensorBytes = 0;
    std::uint64_t targetTensorBytes = 0;
    QStringList warnings;
    std::uint32_t nFallbacks = 0;       ///< tensors whose row length forced another type
    /// Output files: 1, or with --keep-split the input's file count. Tensors are ordered by file.
    std::uint32_t nShards = 1;
    /// Set when some tensor needs an importance matrix (the first in output order). Without one
    /// the quantizer refuses the plan; a dry run only reports it.
    std::optional<ImatrixRequirement> imatrixRequiredBy;
    /// Why the plan cannot be written, as llama-quantize would stop (the first tensor whose rows
    /// fit neither the chosen type nor a fallback, or an explicit type they do not fit); empty
    /// when it can. Such tensors are planned as f16 so that sizes stay defined.
    QString refusal;

    /// The layout of output file `shard` (metadata, tensor infos with final types, offsets
    /// assigned). Files after the first hold only the split.* keys, as gguf-split writes them.
    GgufLayout outputLayout(std::uint32_t shard = 0) const;
    /// Exact size of output file `shard`.
    std::uint64_t shardFileBytes(std::uint32_t shard) const;
    /// Number of elements over all planned tensors.
    std::uint64_t nElements() const;
    /// Bits per weight of the output's tensor data (targetTensorBytes over nElements()).
    double bitsPerWeight() const;
    /// Whether the plan has no refusal and every target type has a codec in this build.
    bool isWritable() const;
};

/// The refusal for a plan that needs an importance matrix when none is given, in llama-quantize's
/// words plus the tensor, its type and why (empty when the plan needs none).
QString imatrixRequirementMessage(const QuantPlan &plan);

/// Computes the plan. Pure and fast (no I/O; well under 10 ms for an 80-layer model): the
/// advisor calls it to predict sizes. Works for every file type in the table, including those
/// whose codecs this build lacks (isWritable() then says false; the quantizer refuses them).
/// A plan that needs an importance matrix is still made (imatrixRequiredBy says so), and so is
/// one llama-quantize would stop on (refusal says why; isWritable() is false).
/// Throws Error for an unknown file type (Guessed), an invalid --tensor-type pattern, an expert
/// tensor without a readable layer, and, without allowRequantize, for an input tensor that is
/// block-quantized and would need converting ("requantizing from type X is disabled").
QuantPlan makeQuantPlan(const GgufMetadata &metadata, const std::vector<GgufTensorInfo> &tensors,
                        FileType fileType, const QuantOptions &options = {});

/// Output tensor order (docs/quantization.md, "Output file"): by layer number from `blk.N.` (others
/// first), then byte-wise by name. Returns indices into `tensors`. (With --keep-split the plan
/// orders by input file and offset instead.)
std::vector<std::size_t> outputTensorOrder(const std::vector<GgufTensorInfo> &tensors);

} // namespace QuantFit
