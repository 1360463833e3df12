#pragma once

// GGUF container layout (gguf-format.md §1), read in this order:
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

/// A validated GGUF file: header, metadata, tensor infos and (in full mode) the mapped bytes.
/// Thread-safe for concurrent reads once constructed. Tensor data spans stay valid for the
/// lifetime of the GgufFile.
class GgufFile
{
public:
    enum class Mode {
        Full,         ///< map the file; tensorData() is available
        MetadataOnly, ///< read headers only; tensorData() throws
    };

    /// Opens and validates `path`. Throws IoError (cannot open/map) or FormatError.
    static GgufFile open(const QString &path, Mode mode = Mode::Full);
    /// Parses a complete file held in memory (tests, embedded data). `name` is used in messages.
    static GgufFile fromBuffer(QByteArray bytes, const QString &name = QStringLiteral("<buffer>"));

    const QString &path() const { return m_path; }
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
    void parse(std::span<const std::uint8_t> bytes, std::uint64_t fileSize, bool headerOnly);

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
};

} // namespace QuantFit
