#include "regularfile.h"

#include "util/error.h"

#include <QFile>
#include <QFileInfo>

#if defined(Q_OS_UNIX)
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#endif

namespace QuantFit {

void requireRegularFile(const QString &path)
{
#if defined(Q_OS_UNIX)
    struct stat st {};
    if (::stat(QFile::encodeName(path).constData(), &st) != 0)
        throw IoError(path, QStringLiteral("open"), QString::fromLocal8Bit(std::strerror(errno)));
    if (S_ISREG(st.st_mode))
        return;
    QString kind = QStringLiteral("not a regular file");
    if (S_ISDIR(st.st_mode))
        kind = QStringLiteral("it is a directory");
    else if (S_ISFIFO(st.st_mode))
        kind = QStringLiteral("it is a named pipe (FIFO), not a regular file");
    else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        kind = QStringLiteral("it is a device, not a regular file");
    else if (S_ISSOCK(st.st_mode))
        kind = QStringLiteral("it is a socket, not a regular file");
    throw IoError(path, QStringLiteral("open"), kind);
#else
    const QFileInfo info(path);
    if (!info.exists())
        throw IoError(path, QStringLiteral("open"), QStringLiteral("No such file or directory"));
    if (info.isDir())
        throw IoError(path, QStringLiteral("open"), QStringLiteral("it is a directory"));
    if (!info.isFile())
        throw IoError(path, QStringLiteral("open"), QStringLiteral("not a regular file"));
#endif
}

QByteArray readRegularFile(const QString &path, std::uint64_t maxBytes, const QString &what)
{
    requireRegularFile(path);
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        throw IoError(path, QStringLiteral("open"), f.errorString());
    const auto tooLarge = [&](std::uint64_t size) {
        return Error(QStringLiteral("'%1' is %2 bytes, more than the %3 bytes allowed for %4")
                         .arg(path)
                         .arg(size)
                         .arg(maxBytes)
                         .arg(what));
    };
    if (std::uint64_t(f.size()) > maxBytes)
        throw tooLarge(std::uint64_t(f.size()));
    QByteArray data = f.read(qint64(std::min<std::uint64_t>(maxBytes + 1, std::uint64_t(INT64_MAX))));
    if (f.error() != QFileDevice::NoError)
        throw IoError(path, QStringLiteral("read"), f.errorString());
    if (std::uint64_t(data.size()) > maxBytes)
        throw tooLarge(std::uint64_t(data.size()));
    return data;
}

} // namespace QuantFit
