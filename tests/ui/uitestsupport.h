#pragma once

#include <QByteArray>
#include <QDir>
#include <QPushButton>
#include <QTemporaryDir>

/// Points the app's data and settings folders (XDG) into `dir`, so tests never touch the user's.
/// Call before the first QSettings or QStandardPaths use.
inline void isolateAppFolders(const QTemporaryDir &dir)
{
    qputenv("XDG_DATA_HOME", QDir(dir.path()).filePath(QStringLiteral("data")).toUtf8());
    qputenv("XDG_CONFIG_HOME", QDir(dir.path()).filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_CACHE_HOME", QDir(dir.path()).filePath(QStringLiteral("cache")).toUtf8());
}

/// The push button under `parent` whose text is exactly `text` (mnemonics included), as a user
/// finds it by its label; nullptr when there is none.
inline QPushButton *buttonWithText(QWidget *parent, const QString &text)
{
    for (QPushButton *b : parent->findChildren<QPushButton *>())
        if (b->text() == text)
            return b;
    return nullptr;
}
