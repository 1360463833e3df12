#pragma once

#include <QByteArray>
#include <QString>

#include <cstdint>

namespace QuantFit {

/// Throws IoError(path, "open", why) unless `path` names a regular file (symbolic links
/// followed). Every input is checked with it before it is opened: a named pipe would block the
/// open forever, a character device such as /dev/zero reports size 0 and never ends, and a
/// directory or socket is not a file at all.
void requireRegularFile(const QString &path);

/// Reads a whole regular file of at most `maxBytes`; `what` names the file's role in the
/// message ("a text"). Throws IoError (not a regular file, cannot open or read) or Error (too
/// large: names the size and the limit). Never reads more than maxBytes + 1 bytes, even when the
/// file grows while it is read.
QByteArray readRegularFile(const QString &path, std::uint64_t maxBytes, const QString &what);

} // namespace QuantFit
