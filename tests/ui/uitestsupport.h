#pragma once

#include <QByteArray>
#include <QDir>
#include <QTemporaryDir>

/// Points the app's data and settings folders (XDG) into `dir`, so tests never touch the user's.
/// Call before the first QSettings or QStandardPaths use.
inline void isolateAppFolders(const QTemporaryDir &dir)
{
    qputenv("XDG_DATA_HOME", QDir(dir.path()).filePath(QStringLiteral("data")).toUtf8());
    qputenv("XDG_CONFIG_HOME", QDir(dir.path()).filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_CACHE_HOME", QDir(dir.path()).filePath(QStringLiteral("cache")).toUtf8());
}
