#pragma once

#include <QString>

#include <cstdint>
#include <stdexcept>

namespace QuantFit {

/// Base of every error core throws. `message()` is complete and user-facing: it names the object
/// that failed and the cause ("cannot open 'x.gguf': No such file or directory").
class Error : public std::runtime_error
{
public:
    explicit Error(const QString &message);
    QString message() const { return m_message; }

private:
    QString m_message;
};

/// Malformed input: names the file, the byte offset and the field, what was expected and what
/// was found. Thrown by every reader before anything is sized from the bad value.
class FormatError : public Error
{
public:
    FormatError(const QString &file, std::uint64_t offset, const QString &field,
                const QString &problem);

    QString file() const { return m_file; }
    std::uint64_t offset() const { return m_offset; }
    QString field() const { return m_field; }

private:
    QString m_file;
    std::uint64_t m_offset;
    QString m_field;
};

/// A file system operation failed: path, operation ("open", "write", "rename") and the system's
/// own message.
class IoError : public Error
{
public:
    IoError(const QString &path, const QString &operation, const QString &systemMessage);
    QString path() const { return m_path; }

private:
    QString m_path;
};

/// Not an error: the user asked to stop. Unwinds through RAII so temporaries are discarded.
class Cancelled : public std::exception
{
public:
    const char *what() const noexcept override { return "cancelled"; }
};

} // namespace QuantFit
