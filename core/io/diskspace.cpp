#include "diskspace.h"

#include "util/error.h"
#include "util/units.h"

#include <QDir>
#include <QFileInfo>
#include <QStorageInfo>

namespace QuantFit {

std::optional<std::uint64_t> availableDiskBytes(const QString &path)
{
    if (path.isEmpty())
        return std::nullopt;
    QFileInfo existing(QDir::cleanPath(QFileInfo(path).absoluteFilePath()));
    while (!existing.exists()) {
        const QString parent = existing.absolutePath();
        if (parent == existing.absoluteFilePath())
            return std::nullopt; // reached the root without finding anything
        existing = QFileInfo(parent);
    }
    const QStorageInfo storage(existing.isDir() ? existing.absoluteFilePath()
                                                : existing.absolutePath());
    if (!storage.isValid() || !storage.isReady() || storage.bytesAvailable() < 0)
        return std::nullopt;
    return std::uint64_t(storage.bytesAvailable());
}

void requireDiskSpace(const QString &path, std::uint64_t bytes)
{
    const auto free = availableDiskBytes(path);
    if (free && *free < bytes)
        throw IoError(path, QStringLiteral("write"),
                      QStringLiteral("not enough disk space: the output needs %1 (%2 bytes), %3 "
                                     "are free")
                          .arg(formatBytes(bytes))
                          .arg(bytes)
                          .arg(formatBytes(*free)));
}

} // namespace QuantFit
