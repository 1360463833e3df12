// The helpers of util/units.h: sizes and counts as users read them, bits per weight, and the
// escaping of characters that would act on a terminal when strings from files are printed.

#include "util/units.h"

#include <QTest>

using namespace QuantFit;

class TestUnits : public QObject
{
    Q_OBJECT

private slots:
    void sizes()
    {
        QCOMPARE(formatBytes(96), QStringLiteral("96 B"));
        QCOMPARE(formatBytes(4ull * GiB + GiB / 2), QStringLiteral("4.50 GiB"));
        QCOMPARE(formatGB(4'370'000'000ull), QStringLiteral("4.37 GB"));
    }

    void bitsPerWeight_data()
    {
        QTest::addColumn<std::uint64_t>("bytes");
        QTest::addColumn<std::uint64_t>("elements");
        QTest::addColumn<double>("bits");
        // One block of each kind: bytes x 8 / weights.
        QTest::newRow("Q4_K block") << std::uint64_t(144) << std::uint64_t(256) << 4.5;
        QTest::newRow("Q8_0 block") << std::uint64_t(34) << std::uint64_t(32) << 8.5;
        QTest::newRow("Q6_K block") << std::uint64_t(210) << std::uint64_t(256) << 6.5625;
        QTest::newRow("F16 value") << std::uint64_t(2) << std::uint64_t(1) << 16.0;
        // A whole model: 4 GiB for 8 billion weights.
        QTest::newRow("8e9 weights, 4 GiB") << 4 * GiB << std::uint64_t(8'000'000'000)
                                            << 4.294967296;
        QTest::newRow("no weights") << std::uint64_t(100) << std::uint64_t(0) << 0.0;
    }

    void bitsPerWeight()
    {
        QFETCH(std::uint64_t, bytes);
        QFETCH(std::uint64_t, elements);
        QFETCH(double, bits);
        QCOMPARE(QuantFit::bitsPerWeight(bytes, elements), bits);
    }

    void escapes_data()
    {
        QTest::addColumn<QString>("in");
        QTest::addColumn<bool>("keepNewlines");
        QTest::addColumn<QString>("out");
        QTest::newRow("plain") << QStringLiteral("Llama 3.1 8B — Q4_K_M") << false
                               << QStringLiteral("Llama 3.1 8B — Q4_K_M");
        QTest::newRow("ansi colour") << QStringLiteral("\x1b[31mRED\x1b[0m") << false
                                     << QStringLiteral("\\x1b[31mRED\\x1b[0m");
        QTest::newRow("line breaks") << QStringLiteral("a\r\nb\tc") << false << QStringLiteral("a\\r\\nb\\tc");
        QTest::newRow("kept newline") << QStringLiteral("a\nb\rc") << true << QStringLiteral("a\nb\\rc");
        QTest::newRow("bell, NUL, DEL") << QString(QStringLiteral("x\ay")) + QChar(0) + QChar(0x7f) << false
                                        << QStringLiteral("x\\x07y\\x00\\x7f");
        QTest::newRow("C1 NEL") << QString(QChar(0x85)) << false << QStringLiteral("\\u0085");
        QTest::newRow("bidi override") << QString(QStringLiteral("abc")) + QChar(0x202e) + QStringLiteral("fdp.exe")
                                       << false << QStringLiteral("abc\\u202efdp.exe");
        QTest::newRow("bidi isolate") << QString(QChar(0x2066)) << false << QStringLiteral("\\u2066");
        QTest::newRow("emoji and CJK kept") << QStringLiteral("🦙 日本語") << false << QStringLiteral("🦙 日本語");
    }

    void escapes()
    {
        QFETCH(QString, in);
        QFETCH(bool, keepNewlines);
        QFETCH(QString, out);
        QCOMPARE(escapeControlCharacters(in, keepNewlines), out);
    }
};

QTEST_APPLESS_MAIN(TestUnits)
#include "testunits.moc"
