// Machine facts: /proc/meminfo parsing from a fixed text, and live values that must be plausible.

#include "system/systeminfo.h"

#include <QTest>

using namespace QuantFit;

class TestSystemInfo : public QObject
{
    Q_OBJECT

private slots:
    void parsesMeminfo()
    {
        const QByteArray text = "MemTotal:       16314588 kB\n"
                                "MemFree:         1234567 kB\n"
                                "MemAvailable:    8000000 kB\n"
                                "Buffers:          100000 kB\n";
        const SystemInfo info = parseMeminfo(text);
        QCOMPARE(info.totalRamBytes, 16314588ull * 1024);
        QCOMPARE(info.availableRamBytes, 8000000ull * 1024);
    }

    void ignoresGarbage()
    {
        const SystemInfo info = parseMeminfo("MemTotal: lots kB\n:\nnonsense\nMemAvailable:\n");
        QCOMPARE(info.totalRamBytes, 0ull);
        QCOMPARE(info.availableRamBytes, 0ull);
    }

    void currentIsPlausible()
    {
        const SystemInfo info = SystemInfo::current();
        QVERIFY(info.totalRamBytes > 64ull * 1024 * 1024);
        QVERIFY(info.availableRamBytes <= info.totalRamBytes);
        QVERIFY(info.cpuThreads >= 1);
    }
};

QTEST_APPLESS_MAIN(TestSystemInfo)
#include "testsysteminfo.moc"
