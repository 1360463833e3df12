#include "archivetext.h"

#include "regularfile.h"
#include "util/error.h"

#include <QFile>
#include <QFileInfo>
#include <QStringList>

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace QuantFit {

namespace {

bool looksLikeArchive(const QString &path)
{
    static const char *const kSuffixes[] = {".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz",
                                            ".tar.zst", ".tzst", ".tar.bz2", ".tbz2", ".7z"};
    const QString lower = path.toLower();
    for (const char *s : kSuffixes) {
        if (lower.endsWith(QLatin1String(s)))
            return true;
    }
    return false;
}

struct ArchiveDeleter {
    void operator()(archive *a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

QString archiveMessage(archive *a)
{
    const char *msg = archive_error_string(a);
    return msg ? QString::fromLocal8Bit(msg) : QStringLiteral("unknown libarchive error");
}

ArchivePtr openArchive(const QString &path)
{
    ArchivePtr a(archive_read_new());
    if (!a)
        throw Error(QStringLiteral("cannot read archive '%1': out of memory").arg(path));
    archive_read_support_filter_all(a.get());
    archive_read_support_format_all(a.get());
    if (archive_read_open_filename(a.get(), QFile::encodeName(path).constData(), 1 << 16)
        != ARCHIVE_OK)
        throw IoError(path, QStringLiteral("open archive"), archiveMessage(a.get()));
    return a;
}

QString normalizedMember(QString name)
{
    while (name.startsWith(QLatin1String("./")))
        name.remove(0, 2);
    return name;
}

/// Reads member `member` (or the only file when `member` is empty) of `path`.
QByteArray readArchiveMember(const QString &path, const QString &member, std::uint64_t maxBytes)
{
    ArchivePtr a = openArchive(path);
    const QString wanted = normalizedMember(member);
    QStringList files;
    archive_entry *entry = nullptr;
    QByteArray found;
    bool haveFound = false;
    for (;;) {
        const int rc = archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF)
            break;
        if (rc < ARCHIVE_WARN)
            throw IoError(path, QStringLiteral("read archive"), archiveMessage(a.get()));
        if (archive_entry_filetype(entry) != AE_IFREG)
            continue;
        const char *rawName = archive_entry_pathname_utf8(entry);
        if (!rawName)
            rawName = archive_entry_pathname(entry);
        const QString name = normalizedMember(QString::fromUtf8(rawName ? rawName : ""));
        files << name;
        if (!wanted.isEmpty() && name != wanted)
            continue;
        if (wanted.isEmpty() && haveFound)
            continue; // counting members to report that the choice is ambiguous
        if (archive_entry_size_is_set(entry)
            && std::uint64_t(archive_entry_size(entry)) > maxBytes)
            throw Error(QStringLiteral("'%1:%2' is %3 bytes, more than the %4 bytes allowed for a "
                                       "text")
                            .arg(path, name)
                            .arg(archive_entry_size(entry))
                            .arg(maxBytes));
        QByteArray data;
        char buffer[1 << 16];
        for (;;) {
            const la_ssize_t n = archive_read_data(a.get(), buffer, sizeof buffer);
            if (n < 0)
                throw IoError(path + u':' + name, QStringLiteral("read"), archiveMessage(a.get()));
            if (n == 0)
                break;
            if (std::uint64_t(data.size()) + std::uint64_t(n) > maxBytes)
                throw Error(QStringLiteral("'%1:%2' is more than the %3 bytes allowed for a text")
                                .arg(path, name)
                                .arg(maxBytes));
            data.append(buffer, n);
        }
        found = std::move(data);
        haveFound = true;
        if (!wanted.isEmpty())
            return found;
    }
    if (wanted.isEmpty() && files.size() == 1 && haveFound)
        return found;
    QStringList shown = files.mid(0, 10);
    if (files.size() > 10)
        shown << QStringLiteral("... (%1 in all)").arg(files.size());
    const QString list = files.isEmpty() ? QStringLiteral("it holds no files")
                                         : QStringLiteral("members: ") + shown.join(u", ");
    if (wanted.isEmpty())
        throw Error(QStringLiteral("archive '%1' holds %2 files: name one as '%1:MEMBER' (%3)")
                        .arg(path)
                        .arg(files.size())
                        .arg(list));
    throw Error(QStringLiteral("archive '%1' has no member '%2' (%3)").arg(path, wanted, list));
}

} // namespace

std::optional<std::uint64_t> findInvalidUtf8(std::span<const std::uint8_t> bytes)
{
    const std::size_t n = bytes.size();
    std::size_t i = 0;
    while (i < n) {
        const std::uint8_t b = bytes[i];
        if (b < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0, minCp = 0;
        if ((b & 0xE0) == 0xC0) {
            len = 2, cp = b & 0x1F, minCp = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3, cp = b & 0x0F, minCp = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4, cp = b & 0x07, minCp = 0x10000;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        for (std::size_t k = 1; k < len; ++k) {
            const std::uint8_t c = bytes[i + k];
            if ((c & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (c & 0x3F);
        }
        if (cp < minCp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return std::nullopt;
}

namespace {

// The archive of "ARCHIVE:MEMBER": the part before the first ':' whose left side is an existing
// file (paths may contain ':' themselves); -1 when there is none.
qsizetype archiveColon(const QString &source)
{
    for (qsizetype colon = source.indexOf(u':'); colon > 0;
         colon = source.indexOf(u':', colon + 1)) {
        if (QFileInfo(source.left(colon)).isFile())
            return colon;
    }
    return -1;
}

} // namespace

bool textSourceExists(const QString &source)
{
    return QFileInfo(source).isFile() || archiveColon(source) > 0;
}

QByteArray readTextSource(const QString &source, std::uint64_t maxBytes)
{
    QString archivePath;
    QString member;
    QByteArray data;
    const QFileInfo info(source);
    if (info.exists() && !info.isFile())
        requireRegularFile(source); // names what it is instead (directory, pipe, device)
    if (info.isFile()) {
        if (looksLikeArchive(source))
            archivePath = source;
    } else {
        if (const qsizetype colon = archiveColon(source); colon > 0) {
            archivePath = source.left(colon);
            member = source.mid(colon + 1);
        }
        if (archivePath.isEmpty())
            throw IoError(source, QStringLiteral("open"),
                          source.contains(u':')
                              ? QStringLiteral("no such file (an archive member is named as "
                                               "ARCHIVE:MEMBER)")
                              : QStringLiteral("No such file or directory"));
        if (member.isEmpty())
            throw Error(QStringLiteral("'%1': the member name after ':' is empty").arg(source));
    }
    data = archivePath.isEmpty() ? readRegularFile(source, maxBytes, QStringLiteral("a text"))
                                 : readArchiveMember(archivePath, member, maxBytes);
    const auto bytes = std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t *>(data.constData()), std::size_t(data.size()));
    if (const auto bad = findInvalidUtf8(bytes))
        throw FormatError(source, *bad, QStringLiteral("text"),
                          QStringLiteral("invalid UTF-8 (byte 0x%1); the evaluation text must be "
                                         "UTF-8")
                              .arg(bytes[*bad], 2, 16, QLatin1Char('0')));
    return data;
}

} // namespace QuantFit
