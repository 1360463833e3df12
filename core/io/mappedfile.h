#pragma once

#include <QFile>
#include <QString>

#include <cstdint>
#include <span>

namespace QuantFit {

/// A read-only memory map of a whole file. Throws IoError when the file cannot be opened or
/// mapped. An empty file maps to an empty span. The input is never written.
class MappedFile
{
public:
    explicit MappedFile(const QString &path);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    std::span<const std::uint8_t> bytes() const { return {m_data, m_size}; }
    std::uint64_t size() const { return m_size; }
    const QString &path() const { return m_path; }

private:
    QString m_path;
    QFile m_file;
    const std::uint8_t *m_data = nullptr;
    std::uint64_t m_size = 0;
};

} // namespace QuantFit
