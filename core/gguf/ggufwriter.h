#pragma once

#include "ggufvalue.h"
#include "tensorinfo.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace QuantFit {

class AtomicOutput;

/// Layout of a GGUF file to be written: metadata and tensor infos with their final types and
/// shapes. `finalize()` assigns sequential aligned offsets (docs/formats.md, "What the writer
/// does"), after which the exact file size is known before any byte is written.
class GgufLayout
{
public:
    GgufMetadata metadata;
    std::vector<GgufTensorInfo> tensors;

    /// Alignment from general.alignment (UINT32 power of two) or 32.
    std::uint32_t alignment() const;
    /// Computes nBytes and offsets; validates names (unique, <= 63 bytes) and row/block sizes.
    /// Throws Error naming the tensor on a bad shape.
    void finalize();
    /// Bytes of header, metadata and tensor infos, padded to the alignment: where data begins.
    /// Computed without serializing; equal to serializeHeader().size().
    std::uint64_t dataOffset() const;
    /// Exact size of the file: data offset + every tensor padded to the alignment. Needs
    /// finalize() first (tensor sizes).
    std::uint64_t fileBytes() const;
    /// The serialized header (magic .. tensor infos, padded to the data offset).
    QByteArray serializeHeader() const;
};

/// Streams a GGUF file: header first (offsets are known from the layout), then each tensor's
/// bytes in layout order, each padded. Writes go to an AtomicOutput, so the target appears only
/// on commit(); destroying an uncommitted writer removes the temporary file.
class GgufWriter
{
public:
    /// Opens the temporary output for `path` and checks that `layout.fileBytes()` fit on disk.
    GgufWriter(const QString &path, GgufLayout layout);
    ~GgufWriter();

    const GgufLayout &layout() const { return m_layout; }
    /// Appends bytes of the current tensor; tensors are written in layout order, and a tensor is
    /// complete when exactly nBytes were written (padding is added automatically).
    void writeTensorData(std::span<const std::uint8_t> bytes);
    /// Index of the tensor being written (== tensors.size() when all are complete).
    std::size_t currentTensor() const { return m_current; }
    /// Checks every tensor was written completely, flushes and renames into place.
    void commit();

private:
    void writeRaw(std::span<const std::uint8_t> bytes);
    void advanceFinishedTensors();

    GgufLayout m_layout;
    std::unique_ptr<AtomicOutput> m_out;
    std::size_t m_current = 0;
    std::uint64_t m_writtenInTensor = 0;
};

/// Convenience: writes a whole file whose tensor data is in memory (tests, small models).
void writeGgufFile(const QString &path, GgufLayout layout,
                   const std::vector<QByteArray> &tensorData);

} // namespace QuantFit
