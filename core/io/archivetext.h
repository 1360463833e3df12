#pragma once

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <optional>
#include <span>

namespace QuantFit {

constexpr std::uint64_t kMaxTextBytes = 1ull << 30;

/// Reads a UTF-8 text named by `source`:
///  - a plain file path ("wiki.test.raw");
///  - "ARCHIVE:MEMBER", a member of a .zip, .tar, .tar.gz, .tar.xz, .tar.zst, .tar.bz2 or .7z
///    archive read through libarchive ("wikitext-2-raw-v1.zip:wikitext-2-raw/wiki.test.raw");
///  - an archive path alone when the archive holds exactly one file.
/// The split is made at the first ':' whose left part is an existing file, so paths containing
/// ':' still work. The text must be valid UTF-8 and at most `maxBytes` long.
/// Throws IoError (cannot open/read), Error (member missing: names the archive, the member and
/// lists the members found; text too large), FormatError (invalid UTF-8: names the byte offset).
QByteArray readTextSource(const QString &source, std::uint64_t maxBytes = kMaxTextBytes);

/// Whether `source` names something readTextSource() can open: an existing file, or
/// ARCHIVE:MEMBER whose archive exists (split as readTextSource splits it; the member itself is
/// checked only when read).
bool textSourceExists(const QString &source);

/// Offset of the first byte that does not start or continue a valid UTF-8 sequence (overlong
/// forms, surrogates and code points above U+10FFFF are invalid), or nullopt when all is valid.
std::optional<std::uint64_t> findInvalidUtf8(std::span<const std::uint8_t> bytes);

} // namespace QuantFit
