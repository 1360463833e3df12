// AtomicOutput: the target appears only on commit; an abandoned output leaves nothing; the
// input can never be the output.

#include "testsupport.h"

#include "io/atomicoutput.h"
#include "io/mappedfile.h"
#include "util/error.h"

#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;

class TestAtomicOutput : public QObject
{
    Q_OBJECT

private slots:
    void commitRenamesIntoPlace()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("out.bin"));
        {
            AtomicOutput out(path, 10);
            out.write(QByteArray("hello"));
            out.writeZeros(5);
            QVERIFY(!QFileInfo::exists(path)); // still a temporary
            QCOMPARE(out.bytesWritten(), std::uint64_t(10));
            out.commit();
        }
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), QByteArray("hello") + QByteArray(5, '\0'));
        QCOMPARE(Test::filesIn(dir.path()), QStringList{QStringLiteral("out.bin")});
    }

    void abandonedOutputLeavesNothing()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("out.bin"));
        try {
            AtomicOutput out(path);
            out.write(QByteArray("partial"));
            throw Error(QStringLiteral("simulated failure"));
        } catch (const Error &) {
        }
        QVERIFY(Test::filesIn(dir.path()).isEmpty());
    }

    void existingFileSurvivesAFailedRewrite()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("keep.bin"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("original");
        f.close();
        {
            AtomicOutput out(path);
            out.write(QByteArray("new content"));
        } // not committed
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), QByteArray("original"));
    }

    void missingFolderAndNoSpace()
    {
        QTemporaryDir dir;
        QVERIFY_THROWS_EXCEPTION(IoError, AtomicOutput(dir.filePath(QStringLiteral("no/such/dir/x.bin"))));
        // More than any disk holds: refused before writing.
        QVERIFY_THROWS_EXCEPTION(IoError, AtomicOutput(dir.filePath(QStringLiteral("huge.bin")), 1ull << 62));
        QVERIFY(Test::filesIn(dir.path()).isEmpty());
    }

    void outputEqualToInputIsRefused()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("in.gguf"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("x");
        f.close();
        QVERIFY_THROWS_EXCEPTION(Error, ensureDistinctOutput(path, path));
        QVERIFY_THROWS_EXCEPTION(Error, ensureDistinctOutput(path, dir.path() + QStringLiteral("/./in.gguf")));
        QFile::link(path, dir.filePath(QStringLiteral("link.gguf")));
        QVERIFY_THROWS_EXCEPTION(Error, ensureDistinctOutput(path, dir.filePath(QStringLiteral("link.gguf"))));
        ensureDistinctOutput(path, dir.filePath(QStringLiteral("other.gguf"))); // fine
    }

    void mappedFile()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("m.bin"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("abcdef");
        f.close();
        MappedFile m(path);
        QCOMPARE(m.size(), std::uint64_t(6));
        QCOMPARE(char(m.bytes()[2]), 'c');
        QVERIFY_THROWS_EXCEPTION(IoError, MappedFile(dir.filePath(QStringLiteral("missing"))));
    }
};

QTEST_APPLESS_MAIN(TestAtomicOutput)
#include "testatomicoutput.moc"
