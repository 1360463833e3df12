// Free disk space: the value the kernel reports for the volume (statvfs, asked independently),
// for an existing folder, an existing file and an output path whose folders do not exist yet;
// nullopt only when there is nothing to ask about.

#include "io/diskspace.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <sys/statvfs.h>

using namespace QuantFit;

namespace {

// Bytes available to an unprivileged user, straight from the kernel.
std::uint64_t kernelAvailableBytes(const QString &folder)
{
    struct statvfs st {};
    if (statvfs(QFile::encodeName(folder).constData(), &st) != 0)
        return 0;
    return std::uint64_t(st.f_bavail) * std::uint64_t(st.f_frsize);
}

// Other processes write to the same disk while the test runs: allow 256 MiB of drift.
bool near(std::uint64_t a, std::uint64_t b)
{
    const std::uint64_t drift = 256ull << 20;
    return a > b ? a - b <= drift : b - a <= drift;
}

} // namespace

class TestDiskSpace : public QObject
{
    Q_OBJECT

private slots:
    void existingFolderAndFile()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const std::uint64_t expected = kernelAvailableBytes(dir.path());
        QVERIFY(expected > 0);
        const auto folder = availableDiskBytes(dir.path());
        QVERIFY(folder.has_value());
        QVERIFY2(near(*folder, expected), qPrintable(QStringLiteral("%1 against %2")
                                                         .arg(*folder).arg(expected)));
        QFile file(dir.filePath(QStringLiteral("existing.bin")));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.close();
        const auto ofFile = availableDiskBytes(file.fileName());
        QVERIFY(ofFile.has_value());
        QVERIFY(near(*ofFile, expected));
    }

    void outputNotYetCreated()
    {
        // Two folder levels that do not exist: their closest existing parent counts.
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const auto future = availableDiskBytes(dir.filePath(QStringLiteral("a/b/out.gguf")));
        QVERIFY(future.has_value());
        QVERIFY(near(*future, kernelAvailableBytes(dir.path())));
        const auto relative = availableDiskBytes(QStringLiteral("no-such-folder/out.gguf"));
        QVERIFY(relative.has_value()); // resolved against the working folder
    }

    void unknown()
    {
        QVERIFY(!availableDiskBytes(QString()).has_value());
    }
};

QTEST_APPLESS_MAIN(TestDiskSpace)
#include "testdiskspace.moc"
