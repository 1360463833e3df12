#pragma once

#include <QSaveFile>
#include <QString>

#include <cstdint>
#include <span>

namespace QuantFit {

/// Write-to-temporary, rename-on-commit output (QSaveFile). The temporary lives in the target's
/// folder; it is removed if the object is destroyed without commit() (error or cancel), so a
/// half-written output never appears. Throws IoError on any failure.
class AtomicOutput
{
public:
    /// `expectedBytes` (if non-zero) is checked against the free space of the target's folder
    /// (skipped when the free space is unknown).
    explicit AtomicOutput(const QString &path, std::uint64_t expectedBytes = 0);
    ~AtomicOutput();

    void write(std::span<const std::uint8_t> bytes);
    void write(const QByteArray &bytes);
    void writeZeros(std::uint64_t n);
    std::uint64_t bytesWritten() const { return m_written; }
    void commit();
    const QString &path() const { return m_path; }

private:
    QString m_path;
    QSaveFile m_file;
    std::uint64_t m_written = 0;
    bool m_committed = false;
};

/// Refuses an output path that is (or resolves to) the input file. Throws Error.
void ensureDistinctOutput(const QString &inputPath, const QString &outputPath);

} // namespace QuantFit
