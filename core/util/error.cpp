#include "error.h"

namespace QuantFit {

Error::Error(const QString &message)
    : std::runtime_error(message.toStdString())
    , m_message(message)
{
}

FormatError::FormatError(const QString &file, std::uint64_t offset, const QString &field,
                         const QString &problem)
    : Error(QStringLiteral("%1: at offset %2, field '%3': %4")
                .arg(file)
                .arg(offset)
                .arg(field, problem))
    , m_file(file)
    , m_offset(offset)
    , m_field(field)
{
}

IoError::IoError(const QString &path, const QString &operation, const QString &systemMessage)
    : Error(QStringLiteral("cannot %1 '%2': %3").arg(operation, path, systemMessage))
    , m_path(path)
{
}

} // namespace QuantFit
