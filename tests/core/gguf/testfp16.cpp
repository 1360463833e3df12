// Half and bfloat16 conversions against values worked out by hand from IEEE 754.

#include "util/fp16.h"

#include <QTest>

#include <cmath>
#include <limits>

using namespace QuantFit;

class TestFp16 : public QObject
{
    Q_OBJECT

private slots:
    void toHalf_data()
    {
        QTest::addColumn<float>("value");
        QTest::addColumn<std::uint16_t>("bits");
        QTest::newRow("one") << 1.0f << std::uint16_t(0x3C00);
        QTest::newRow("minus two") << -2.0f << std::uint16_t(0xC000);
        QTest::newRow("zero") << 0.0f << std::uint16_t(0x0000);
        QTest::newRow("minus zero") << -0.0f << std::uint16_t(0x8000);
        QTest::newRow("max") << 65504.0f << std::uint16_t(0x7BFF);
        QTest::newRow("rounds to inf") << 65520.0f << std::uint16_t(0x7C00);
        QTest::newRow("just below inf rounding") << 65519.0f << std::uint16_t(0x7BFF);
        QTest::newRow("0.1") << 0.1f << std::uint16_t(0x2E66); // 0.0999755859375
        QTest::newRow("smallest normal") << 6.103515625e-05f << std::uint16_t(0x0400);
        QTest::newRow("smallest subnormal") << 5.9604644775390625e-08f << std::uint16_t(0x0001);
        QTest::newRow("half of smallest subnormal ties to even (0)") << 2.98023223876953125e-08f << std::uint16_t(0x0000);
        QTest::newRow("1.5x smallest subnormal ties to even (2)") << 8.94069671630859375e-08f << std::uint16_t(0x0002);
        // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties to even (1.0).
        QTest::newRow("tie to even down") << 1.00048828125f << std::uint16_t(0x3C00);
        // 1 + 3*2^-11 lies halfway between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
        QTest::newRow("tie to even up") << 1.00146484375f << std::uint16_t(0x3C02);
        QTest::newRow("inf") << std::numeric_limits<float>::infinity() << std::uint16_t(0x7C00);
    }

    void toHalf()
    {
        QFETCH(float, value);
        QFETCH(std::uint16_t, bits);
        QCOMPARE(fp32ToFp16(value), bits);
    }

    void halfToFloatIsExactForEveryPattern()
    {
        for (std::uint32_t h = 0; h < 0x10000; ++h) {
            const float f = fp16ToFp32(std::uint16_t(h));
            const std::uint32_t exp = (h >> 10) & 0x1F;
            if (exp == 0x1F && (h & 0x3FF)) {
                QVERIFY(std::isnan(f));
                continue;
            }
            // value = (-1)^s * 2^(e-15) * (1 + m/1024), or subnormal 2^-14 * m/1024
            const double m = double(h & 0x3FF);
            double expected = exp == 0 ? std::ldexp(m / 1024.0, -14)
                              : exp == 0x1F ? std::numeric_limits<double>::infinity()
                                            : std::ldexp(1.0 + m / 1024.0, int(exp) - 15);
            if (h & 0x8000)
                expected = -expected;
            QCOMPARE(double(f), expected);
            // And converting back gives the same bits.
            QCOMPARE(fp32ToFp16(f), std::uint16_t(h));
        }
    }

    void nanStaysNan()
    {
        QVERIFY(std::isnan(fp16ToFp32(fp32ToFp16(std::numeric_limits<float>::quiet_NaN()))));
        QVERIFY(std::isnan(bf16ToFp32(fp32ToBf16(std::numeric_limits<float>::quiet_NaN()))));
    }

    void bf16()
    {
        QCOMPARE(fp32ToBf16(1.0f), std::uint16_t(0x3F80));
        QCOMPARE(bf16ToFp32(0x3F80), 1.0f);
        // 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: ties to even -> 1.0.
        QCOMPARE(fp32ToBf16(1.00390625f), std::uint16_t(0x3F80));
        // 1 + 3*2^-8: halfway between 1+2^-7 (odd) and 1+2^-6: rounds up to even.
        QCOMPARE(fp32ToBf16(1.01171875f), std::uint16_t(0x3F82));
    }
};

QTEST_APPLESS_MAIN(TestFp16)
#include "testfp16.moc"
