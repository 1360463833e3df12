// GPU detection from a fake sysfs tree, the bandwidth benchmark's summing paths against the
// portable reference, and the measured-speed file.

#include "system/gpuinfo.h"
#include "system/measuredspeed.h"
#include "system/membandwidth.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <numeric>
#include <vector>

using namespace QuantFit;

namespace {

void writeFile(const QString &path, const QByteArray &text)
{
    QDir().mkpath(path.section(QLatin1Char('/'), 0, -2));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text);
}

// cardN/device with the given attributes and a driver link like the kernel's
// (device/driver -> .../bus/pci/drivers/NAME).
void makeCard(const QString &root, const QString &card, const QString &driver,
              const QList<std::pair<const char *, QByteArray>> &attributes)
{
    const QString dev = root + QLatin1Char('/') + card + QStringLiteral("/device");
    QDir().mkpath(dev);
    for (const auto &[name, value] : attributes)
        writeFile(dev + QLatin1Char('/') + QLatin1String(name), value);
    if (!driver.isEmpty()) {
        const QString target = root + QStringLiteral("/bus/pci/drivers/") + driver;
        QDir().mkpath(target);
        QVERIFY(QFile::link(target, dev + QStringLiteral("/driver")));
    }
}

} // namespace

class TestSystemMachine : public QObject
{
    Q_OBJECT

private slots:
    void gpusFromFakeSysfs()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString root = dir.path();
        // An APU (Strix Halo: 0.5 GiB carve-out, 64 GiB GTT, no VRAM vendor), a discrete AMD GPU
        // (VRAM vendor named), an NVIDIA GPU (no memory files), a connector and junk.
        makeCard(root, QStringLiteral("card1"), QStringLiteral("amdgpu"),
                 {{"vendor", "0x1002\n"},
                  {"device", "0x1586\n"},
                  {"mem_info_vram_total", "536870912\n"},
                  {"mem_info_gtt_total", "68719476736\n"}});
        makeCard(root, QStringLiteral("card2"), QStringLiteral("amdgpu"),
                 {{"vendor", "0x1002\n"},
                  {"device", "0x744c\n"},
                  {"mem_info_vram_total", "25753026560\n"},
                  {"mem_info_gtt_total", "33554432000\n"},
                  {"mem_info_vram_vendor", "samsung\n"}});
        makeCard(root, QStringLiteral("card0"), QStringLiteral("nvidia"),
                 {{"vendor", "0x10de\n"}, {"device", "0x2684\n"}});
        makeCard(root, QStringLiteral("card0-DP-1"), QString(), {{"vendor", "0x10de\n"}});
        makeCard(root, QStringLiteral("card3"), QStringLiteral("amdgpu"),
                 {{"vendor", "garbage"},
                  {"mem_info_vram_total", "12x"}});
        makeCard(root, QStringLiteral("card4"), QStringLiteral("amdgpu"),
                 {{"vendor", "0x1002"},
                  {"mem_info_vram_total", "not a number"},
                  {"mem_info_gtt_total", "99999999999999999999999"}});
        QDir().mkpath(root + QStringLiteral("/renderD128/device"));

        const std::vector<GpuDevice> gpus = detectGpus(root);
        QCOMPARE(gpus.size(), std::size_t(4)); // card3 has no valid vendor
        QCOMPARE(gpus[0].card, QStringLiteral("card0"));
        QCOMPARE(gpus[0].vendorName(), QStringLiteral("NVIDIA"));
        QCOMPARE(gpus[0].driver, QStringLiteral("nvidia"));
        QCOMPARE(gpus[0].vramBytes, std::uint64_t(0));
        QVERIFY(!gpus[0].integrated);

        QCOMPARE(gpus[1].card, QStringLiteral("card1"));
        QCOMPARE(gpus[1].vendorId, std::uint16_t(0x1002));
        QCOMPARE(gpus[1].deviceId, std::uint16_t(0x1586));
        QCOMPARE(gpus[1].vramBytes, std::uint64_t(512) << 20);
        QCOMPARE(gpus[1].gttBytes, std::uint64_t(64) << 30);
        QVERIFY(gpus[1].integrated);

        QCOMPARE(gpus[2].card, QStringLiteral("card2"));
        QCOMPARE(gpus[2].vramBytes, std::uint64_t(25753026560));
        QVERIFY(!gpus[2].integrated);

        // Malformed numbers read as 0, never an error.
        QCOMPARE(gpus[3].card, QStringLiteral("card4"));
        QCOMPARE(gpus[3].vramBytes, std::uint64_t(0));
        QCOMPARE(gpus[3].gttBytes, std::uint64_t(0));
        QVERIFY(gpus[3].describe().contains(QStringLiteral("not published")));

        QVERIFY(detectGpus(root + QStringLiteral("/missing")).empty());
    }

    void sumPathsEqualReference_data()
    {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("offset");
        for (int n : {0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 4096, 4099})
            for (int offset : {0, 1, 3})
                QTest::addRow("n%d+%d", n, offset) << n << offset;
    }

    void sumPathsEqualReference()
    {
        QFETCH(int, n);
        QFETCH(int, offset);
        std::vector<std::uint64_t> words(std::size_t(n + offset + 1));
        std::uint64_t x = 0x9E3779B97F4A7C15ull;
        for (std::uint64_t &w : words) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w = x; // large values: the sum wraps modulo 2^64
        }
        // The expected sum by hand: std::accumulate in unsigned arithmetic.
        const std::uint64_t expected = std::accumulate(words.begin() + offset,
                                                       words.begin() + offset + n,
                                                       std::uint64_t(0));
        QCOMPARE(sumWordsReference(words.data() + offset, std::size_t(n)), expected);
        QCOMPARE(sumWords(words.data() + offset, std::size_t(n)), expected);
    }

    void bandwidthRuns()
    {
        BandwidthOptions options;
        options.bufferBytes = std::size_t(16) << 20;
        options.secondsPerStep = 0.05;
        options.threadCounts = {1, 2};
        QList<int> seen;
        const QList<BandwidthSample> samples =
            measureReadBandwidth(options, [&](const BandwidthSample &s) { seen << s.threads; });
        QCOMPARE(samples.size(), 2);
        QCOMPARE(seen, (QList<int>{1, 2}));
        for (const BandwidthSample &s : samples) {
            QVERIFY(s.bytesPerSecond > 1e8);        // any machine reads 100 MB/s
            QVERIFY(s.bytesPerCpuSecond >= s.bytesPerSecond * 0.5);
        }
    }

    void bandwidthRefusesBadOptions()
    {
        BandwidthOptions small;
        small.bufferBytes = 1 << 20;
        QVERIFY_THROWS_EXCEPTION(Error, measureReadBandwidth(small));
        BandwidthOptions threads;
        threads.bufferBytes = std::size_t(16) << 20;
        threads.threadCounts = {0};
        QVERIFY_THROWS_EXCEPTION(Error, measureReadBandwidth(threads));
        BandwidthOptions seconds;
        seconds.bufferBytes = std::size_t(16) << 20;
        seconds.secondsPerStep = 0;
        QVERIFY_THROWS_EXCEPTION(Error, measureReadBandwidth(seconds));
    }

    void measuredSpeedRoundTrip()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("sub/speed.json"));
        QVERIFY(!loadMeasuredSpeed(path));
        MeasuredSpeed s;
        s.readBytesPerSecond = 21.5e9;
        s.readThreads = 4;
        s.readDate = QDateTime(QDate(2026, 12, 3), QTime(4, 0), Qt::UTC);
        s.generatedTokensPerSecond = 70;
        s.bytesPerToken = 274'000'000;
        s.generationModel = QStringLiteral("synth.gguf");
        s.generationThreads = 1;
        s.generationDate = s.readDate;
        s.promptTokensPerSecond = 300;
        s.promptFlops = 2.5e11;
        s.readBytesPerCpuSecond = 55.5e9;
        s.readCpuThreads = 2;
        s.dotRates = {{QStringLiteral("q4_K"), 48e9}, {QStringLiteral("f16"), 85e9}};
        s.dotThreads = 2;
        s.dotDate = s.readDate;
        saveMeasuredSpeed(s, path);
        const auto back = loadMeasuredSpeed(path);
        QVERIFY(back);
        QCOMPARE(back->readBytesPerSecond, 21.5e9);
        QCOMPARE(back->readThreads, 4);
        QCOMPARE(back->readDate, s.readDate);
        QCOMPARE(back->bytesPerToken, std::uint64_t(274'000'000));
        QCOMPARE(back->generationModel, QStringLiteral("synth.gguf"));
        QCOMPARE(back->generationBytesPerSecond(), 70.0 * 274e6);
        QCOMPARE(back->promptTokensPerSecond, 300.0);
        QCOMPARE(back->promptFlops, 2.5e11);
        QCOMPARE(back->readBytesPerCpuSecond, 55.5e9);
        QCOMPARE(back->readCpuThreads, 2);
        QCOMPARE(back->dotRates.size(), 2);
        QCOMPARE(back->dotRates[0].type, QStringLiteral("q4_K"));
        QCOMPARE(back->dotRates[0].bytesPerSecond, 48e9);
        QCOMPARE(back->dotRates[1].type, QStringLiteral("f16"));
        QCOMPARE(back->dotThreads, 2);
        QCOMPARE(back->dotDate, s.readDate);

        // A record from before the compute ceiling has no rates.
        writeFile(path, "{\"format\": \"quantfit-machine-speed\", \"readBytesPerSecond\": 2e10}");
        const auto old = loadMeasuredSpeed(path);
        QVERIFY(old);
        QVERIFY(old->dotRates.isEmpty());
        QCOMPARE(old->readBytesPerSecond, 2e10);

        // A damaged or foreign file is the same as none.
        writeFile(path, "{\"format\": \"something else\"}");
        QVERIFY(!loadMeasuredSpeed(path));
        writeFile(path, "not json");
        QVERIFY(!loadMeasuredSpeed(path));
    }
};

QTEST_APPLESS_MAIN(TestSystemMachine)
#include "testsystemmachine.moc"
