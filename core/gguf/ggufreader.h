#pragma once

// GGUF container layout (docs/formats.md, "GGUF"; the GGUF specification is docs/gguf.md in the
// ggml repository), read in this order:
//  1. magic "GGUF", uint32 version (2 or 3), uint64 tensor count, uint64 key/value count
//  2. key/value records: string key, uint32 value type, value (arrays: uint32 element type,
//     uint64 count, elements)
//  3. tensor-info records: string name, uint32 n_dims, uint64 ne[n_dims], uint32 type,
//     uint64 offset (relative to the data section)
//  4. zero padding to general.alignment (default 32): the data section starts there
//  5. tensor data, each tensor at data_offset + offset, padded to the alignment
// Every count and length is checked against the bytes that remain before anything is sized from
// it; every failure is a FormatError naming the file, the offset and the field.

#include "ggufvalue.h"
#include "tensorinfo.h"

#include "io/mappedfile.h"

#include <QByteArray>
#include <QHash>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace QuantFit {

constexpr std::uint32_t kGgufDefaultAlignment = 32;
constexpr std::uint64_t kGgufMaxStringBytes = 1ull << 30;
constexpr std::uint64_t kGgufMaxArrayItems = 1ull << 30;
constexpr std::uint32_t kGgufMaxArrayDepth = 8;
constexpr std::uint32_t kGgufMaxTensorName = 63; ///< bytes; ggml's GGML_MAX_NAME - 1
constexpr std::uint64_t kGgufSummaryArrayItems = 64; ///< longer arrays are skipped by Mode::Summary

/// A validated GGUF file: header, metadata, tensor infos and (in full mode) the mapped bytes.
/// Thread-safe for concurrent reads once constructed. Tensor data spans stay valid for the
/// lifetime of the GgufFile.
/// llama.cpp's names for the files of a split model (llama_split_path):
/// `PREFIX-00001-of-00003.gguf` is file 1 of 3.
struct SplitFileName {
    QString prefix;            ///< path without "-00001-of-00003.gguf"
    std::uint32_t number = 0;  ///< 1-based
    std::uint32_t count = 0;
    /// nullopt when `path` does not follow the pattern.
    static std::optional<SplitFileName> parse(const QString &path);
    /// The path of file `n` (1-based) of the same model.
    QString pathOf(std::uint64_t n) const;
};

class GgufFile
{
public:
    enum class Mode {
        Full,         ///< map the file; tensorData() is available
        MetadataOnly, ///< read headers only; tensorData() throws
        /// MetadataOnly, but arrays of more than kGgufSummaryArrayItems items (vocabularies)
        /// are checked and left out (they read as empty): for listing many files fast
        /// (core/discovery), not for planning, inspecting or tokenizing.
        Summary,
    };

    /// How open() treats a file that belongs to a split model.
    enum class Split {
        WholeModel, ///< open every file of the model (below)
        ThisFile,   ///< this file alone, as it is (its own tensors and metadata)
    };

    /// Whether the metadata says this file is one of several of a split model.
    bool isSplitPart() const;
    /// For a file opened with Split::ThisFile: opens the other files of its split model, as
    /// open() does (same checks and errors, same mode). On an error this file stays as it was.
    void openOtherFiles();

    /// Opens and validates `path`. Throws IoError (cannot open/map) or FormatError.
    ///
    /// A split model (llama.cpp's gguf-split: `NAME-00001-of-00003.gguf`, metadata split.no /
    /// split.count / split.tensors.count) opened by its first file is opened whole: the other
    /// files are found by their names, validated the same way and checked to belong (split.no
    /// in order, the same split.count, no tensor twice, split.tensors.count matches), and
    /// tensors() lists the tensors of every file (GgufTensorInfo::shard says which) while
    /// metadata() is the first file's, as llama.cpp reads it. Opening a later file is an Error
    /// naming the first one; a missing file is an IoError naming it.
    static GgufFile open(const QString &path, Mode mode = Mode::Full,
                         Split split = Split::WholeModel);
    /// Parses a complete file held in memory (tests, embedded data). `name` is used in messages.
    static GgufFile fromBuffer(QByteArray bytes, const QString &name = QStringLiteral("<buffer>"));

    const QString &path() const { return m_path; }
    /// Every file of the model: path() alone, or all files of a split model in order.
    QStringList filePaths() const;
    std::uint32_t shardCount() const { return std::uint32_t(1 + m_shards.size()); }
    /// Bytes of all files (fileSize() is the first file's).
    std::uint64_t totalFileSize() const;
    /// Byte offset of the tensor's data in its own file (the file filePaths()[info.shard]).
    std::uint64_t fileOffset(const GgufTensorInfo &info) const;
    /// Tensor data lives in read-only memory maps of the files (open() in full mode), not in a
    /// heap buffer (fromBuffer()): pages may be dropped and re-read.
    bool isMapped() const { return m_hasData && m_map != nullptr; }
    std::uint32_t version() const { return m_version; }
    std::uint32_t alignment() const { return m_alignment; }
    std::uint64_t dataOffset() const { return m_dataOffset; }
    std::uint64_t fileSize() const { return m_fileSize; }
    const GgufMetadata &metadata() const { return m_metadata; }
    const std::vector<GgufTensorInfo> &tensors() const { return m_tensors; }

    const GgufTensorInfo *findTensor(const QByteArray &name) const;
    std::optional<std::size_t> tensorIndex(const QByteArray &name) const;
    /// The tensor's bytes (nBytes long). Throws Error in metadata-only mode.
    std::span<const std::uint8_t> tensorData(std::size_t index) const;
    std::span<const std::uint8_t> tensorData(const GgufTensorInfo &info) const;

    /// Sum of tensor bytes (without padding).
    std::uint64_t totalTensorBytes() const;

private:
    static GgufFile openOne(const QString &path, Mode mode);
    void parse(std::span<const std::uint8_t> bytes, std::uint64_t fileSize, bool skipLargeArrays);

    QString m_path;
    std::uint32_t m_version = 0;
    std::uint32_t m_alignment = kGgufDefaultAlignment;
    std::uint64_t m_dataOffset = 0;
    std::uint64_t m_fileSize = 0;
    GgufMetadata m_metadata;
    std::vector<GgufTensorInfo> m_tensors;
    QHash<QByteArray, std::size_t> m_index;
    std::shared_ptr<MappedFile> m_map;
    QByteArray m_buffer;
    bool m_hasData = false;
    std::vector<std::shared_ptr<const GgufFile>> m_shards; ///< files 2..N of a split model
};

} // namespace QuantFit
