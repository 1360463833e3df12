// cpuFeatures() (CPUID + XGETBV) against the kernel's own reading of the same CPU: the "flags"
// line of /proc/cpuinfo, where Linux lists avx2, fma, f16c and avx_vnni only when the CPU has
// them and the kernel enabled the AVX state.

#include "util/cpufeatures.h"

#include <QFile>
#include <QSet>
#include <QTest>

using namespace QuantFit;

class TestCpuFeatures : public QObject
{
    Q_OBJECT

private slots:
    void matchesProcCpuinfo()
    {
#if !defined(__x86_64__) && !defined(__i386__)
        QSKIP("CPUID features are read on x86 only");
#endif
        QFile f(QStringLiteral("/proc/cpuinfo"));
        if (!f.open(QIODevice::ReadOnly))
            QSKIP("/proc/cpuinfo is not readable here (not Linux?)");
        QSet<QByteArray> flags;
        for (const QByteArray &line : f.readAll().split('\n')) {
            if (line.startsWith("flags")) {
                for (const QByteArray &flag : line.mid(line.indexOf(':') + 1).simplified().split(' '))
                    flags.insert(flag);
                break;
            }
        }
        if (flags.isEmpty())
            QSKIP("/proc/cpuinfo has no flags line");
        const CpuFeatures &cpu = cpuFeatures();
        qInfo("avx2 %d fma %d f16c %d avx-vnni %d", cpu.avx2, cpu.fma, cpu.f16c, cpu.avxVnni);
        QCOMPARE(cpu.avx2, flags.contains("avx2"));
        QCOMPARE(cpu.fma, flags.contains("fma"));
        QCOMPARE(cpu.f16c, flags.contains("f16c"));
        // Kernels older than 5.16 do not list avx_vnni; only check the direction they can show.
        if (flags.contains("avx_vnni"))
            QVERIFY(cpu.avxVnni);
        QCOMPARE(cpu.avx2Fma(), cpu.avx2 && cpu.fma && cpu.f16c);
    }
};

QTEST_APPLESS_MAIN(TestCpuFeatures)
#include "testcpufeatures.moc"
