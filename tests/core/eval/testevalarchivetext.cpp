#include "io/archivetext.h"

#include "util/error.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <archive.h>
#include <archive_entry.h>

#include <utility>
#include <vector>

using namespace QuantFit;

namespace {

using Members = std::vector<std::pair<QByteArray, QByteArray>>;

/// Writes an archive with libarchive: format "zip" or "tar" with filter "", "gzip", "xz", "zstd".
bool writeArchive(const QString &path, const QString &format, const QString &filter,
                  const Members &members)
{
    archive *a = archive_write_new();
    bool ok = format == QLatin1String("zip") ? archive_write_set_format_zip(a) == ARCHIVE_OK
                                             : archive_write_set_format_pax_restricted(a) == ARCHIVE_OK;
    if (filter == QLatin1String("gzip"))
        ok = ok && archive_write_add_filter_gzip(a) == ARCHIVE_OK;
    else if (filter == QLatin1String("xz"))
        ok = ok && archive_write_add_filter_xz(a) == ARCHIVE_OK;
    else if (filter == QLatin1String("zstd"))
        ok = ok && archive_write_add_filter_zstd(a) == ARCHIVE_OK;
    ok = ok && archive_write_open_filename(a, QFile::encodeName(path).constData()) == ARCHIVE_OK;
    for (const auto &[name, data] : members) {
        if (!ok)
            break;
        archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name.constData());
        archive_entry_set_size(e, data.size());
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        ok = archive_write_header(a, e) == ARCHIVE_OK
             && archive_write_data(a, data.constData(), size_t(data.size())) == data.size();
        archive_entry_free(e);
    }
    ok = archive_write_close(a) == ARCHIVE_OK && ok;
    archive_write_free(a);
    return ok;
}

void writeFile(const QString &path, const QByteArray &data)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(data);
}

} // namespace

class TestEvalArchiveText : public QObject
{
    Q_OBJECT

private slots:
    void utf8Validation_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<qint64>("offset"); // -1: valid
        QTest::newRow("ascii") << QByteArray("hello\n") << qint64(-1);
        QTest::newRow("two three four") << QByteArray("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")
                                        << qint64(-1);
        QTest::newRow("lone continuation") << QByteArray("ab\x80") << qint64(2);
        QTest::newRow("overlong") << QByteArray("abc\xc0\xaf") << qint64(3);
        QTest::newRow("surrogate") << QByteArray("x\xed\xa0\x80") << qint64(1);
        QTest::newRow("above U+10FFFF") << QByteArray("\xf4\x90\x80\x80") << qint64(0);
        QTest::newRow("truncated") << QByteArray("ok \xe2\x82") << qint64(3);
        QTest::newRow("0xff") << QByteArray("12345\xff") << qint64(5);
    }

    void utf8Validation()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(qint64, offset);
        const auto r = findInvalidUtf8(std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t *>(bytes.constData()), std::size_t(bytes.size())));
        QCOMPARE(r ? qint64(*r) : qint64(-1), offset);
    }

    void plainFile()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("a:b.txt")); // a ':' in a plain name
        writeFile(path, "Once upon a time\n");
        QCOMPARE(readTextSource(path), QByteArray("Once upon a time\n"));
    }

    void invalidUtf8NamesTheOffset()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("bad.txt"));
        writeFile(path, "valid text, then \xff here");
        try {
            readTextSource(path);
            QFAIL("no error");
        } catch (const FormatError &e) {
            QCOMPARE(e.offset(), 17u);
            QVERIFY2(e.message().contains(QStringLiteral("UTF-8")), qPrintable(e.message()));
            QVERIFY2(e.message().contains(path), qPrintable(e.message()));
        }
    }

    void missingFile()
    {
        QVERIFY_THROWS_EXCEPTION(IoError, readTextSource(QStringLiteral("/nonexistent/x.txt")));
        QVERIFY_THROWS_EXCEPTION(IoError, readTextSource(QStringLiteral("/nonexistent/x.zip:a")));
    }

    void archiveMember_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("format");
        QTest::addColumn<QString>("filter");
        QTest::newRow("zip") << QStringLiteral("wikitext-2-raw-v1.zip") << QStringLiteral("zip")
                             << QString();
        QTest::newRow("tar.gz") << QStringLiteral("t.tar.gz") << QStringLiteral("tar")
                                << QStringLiteral("gzip");
        QTest::newRow("tar.xz") << QStringLiteral("t.tar.xz") << QStringLiteral("tar")
                                << QStringLiteral("xz");
        QTest::newRow("tar.zst") << QStringLiteral("t.tar.zst") << QStringLiteral("tar")
                                 << QStringLiteral("zstd");
    }

    void archiveMember()
    {
        QFETCH(QString, name);
        QFETCH(QString, format);
        QFETCH(QString, filter);
        QTemporaryDir dir;
        const QString path = dir.filePath(name);
        QByteArray big;
        for (int i = 0; i < 20000; ++i)
            big += "line " + QByteArray::number(i) + " \xc3\xa9\n"; // > one 64 KiB read
        QVERIFY(writeArchive(path, format, filter,
                             {{"wikitext-2-raw/wiki.train.raw", "train"},
                              {"wikitext-2-raw/wiki.test.raw", big},
                              {"wikitext-2-raw/bad.raw", "ab\xfe"}}));
        QCOMPARE(readTextSource(path + QStringLiteral(":wikitext-2-raw/wiki.test.raw")), big);
        QCOMPARE(readTextSource(path + QStringLiteral(":./wikitext-2-raw/wiki.train.raw")),
                 QByteArray("train"));
        try {
            readTextSource(path + QStringLiteral(":wikitext-2-raw/wiki.valid.raw"));
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(QStringLiteral("no member 'wikitext-2-raw/wiki.valid.raw'")),
                     qPrintable(e.message()));
            QVERIFY2(e.message().contains(QStringLiteral("wikitext-2-raw/wiki.test.raw")),
                     qPrintable(e.message()));
        }
        try {
            readTextSource(path + QStringLiteral(":wikitext-2-raw/bad.raw"));
            QFAIL("no error");
        } catch (const FormatError &e) {
            QCOMPARE(e.offset(), 2u);
        }
        // Several members and none named: the error asks for one.
        try {
            readTextSource(path);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(QStringLiteral("MEMBER")), qPrintable(e.message()));
        }
    }

    void singleMemberArchiveNeedsNoName()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("one.tar.gz"));
        QVERIFY(writeArchive(path, QStringLiteral("tar"), QStringLiteral("gzip"),
                             {{"only.txt", "just this"}}));
        QCOMPARE(readTextSource(path), QByteArray("just this"));
    }

    void sizeLimit()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("l.zip"));
        QVERIFY(writeArchive(path, QStringLiteral("zip"), QString(), {{"a.txt", QByteArray(5000, 'a')}}));
        QVERIFY_THROWS_EXCEPTION(Error, readTextSource(path + QStringLiteral(":a.txt"), 4096));
        const QString plain = dir.filePath(QStringLiteral("p.txt"));
        writeFile(plain, QByteArray(5000, 'a'));
        QVERIFY_THROWS_EXCEPTION(Error, readTextSource(plain, 4096));
    }

    void corruptArchive()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("c.tar.gz"));
        writeFile(path, QByteArray("\x1f\x8b\x08\x00garbage garbage garbage", 28));
        QVERIFY_THROWS_EXCEPTION(Error, readTextSource(path + QStringLiteral(":x")));
    }
};

QTEST_APPLESS_MAIN(TestEvalArchiveText)
#include "testevalarchivetext.moc"
