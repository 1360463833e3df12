// MXFP4, NVFP4, Q1_0, Q2_0, TQ1_0 and TQ2_0 beyond the table-driven tests of testcodecs.cpp:
// hand-built blocks and the rounding corners whose bytes the formats define (ties, the MXFP4
// exponent just below a power of two, the NVFP4 scale encoder's boundaries, signed zeros).

#include "codecs/blocksfp4.h"
#include "codecs/quantkernels.h"
#include "gguf/ggmltype.h"

#include <QTest>

#include <cmath>
#include <vector>

using namespace QuantFit;
using namespace QuantFit::Codec;

namespace {

std::vector<std::uint8_t> encode(GgmlType type, const std::vector<float> &x)
{
    std::vector<std::uint8_t> q(rowBytes(typeFacts(type), x.size()));
    quantizeRow(type, x, q);
    return q;
}

std::vector<float> decode(GgmlType type, const std::vector<std::uint8_t> &q)
{
    const TypeFacts &f = typeFacts(type);
    std::vector<float> y(q.size() / f.blockBytes * f.blockSize);
    dequantizeRow(type, q, y);
    return y;
}

} // namespace

class TestCodecsLowBit : public QObject
{
    Q_OBJECT

private slots:
    void mxfp4HandBuilt();
    void mxfp4Exponent();
    void fp4Ties();
    void nvfp4ScaleCodes();
    void nvfp4HandBuilt();
    void q1_0();
    void q2_0();
    void tq1_0();
    void tq2_0();
};

// e = 128: half scale 1. Byte 0 = 0x97: value 0 has code 7 (12), value 16 code 9 (-1).
void TestCodecsLowBit::mxfp4HandBuilt()
{
    std::vector<std::uint8_t> b(17, 0);
    b[0] = 128;
    b[1] = 0x97;
    const auto y = decode(GgmlType::MXFP4, b);
    QCOMPARE(y[0], 12.f);
    QCOMPARE(y[16], -1.f);
    QCOMPARE(y[1], 0.f);
    QCOMPARE(mxfp4HalfScale(0), std::ldexp(1.f, -128));
    QCOMPARE(mxfp4HalfScale(1), std::ldexp(1.f, -127));
    QCOMPARE(mxfp4HalfScale(254), std::ldexp(1.f, 126));
}

// The exponent is floor of log2(amax) rounded to float: for amax = 6, k = 2, e = 127 (half
// scale 0.5), so 6 is code 7 (12 * 0.5). Just below 8 the float logarithm rounds up to 3:
// e = 128, not the 127 the float's own exponent would give.
void TestCodecsLowBit::mxfp4Exponent()
{
    std::vector<float> x(32, 0.f);
    x[0] = 6.f;
    auto q = encode(GgmlType::MXFP4, x);
    QCOMPARE(int(q[0]), 127);
    QCOMPARE(q[1] & 15, 7);
    x[0] = std::nextafter(8.f, 0.f);
    q = encode(GgmlType::MXFP4, x);
    QCOMPARE(int(q[0]), 128);
    x[0] = 5.f; // not near a power of two: floor(log2 5) = 2
    q = encode(GgmlType::MXFP4, x);
    QCOMPARE(int(q[0]), 127);
    std::fill(x.begin(), x.end(), 0.f);
    q = encode(GgmlType::MXFP4, x);
    QCOMPARE(int(q[0]), 0);
}

// A value halfway between two code values takes the smaller magnitude (the first code);
// -0 takes code 0, never 8.
void TestCodecsLowBit::fp4Ties()
{
    std::vector<float> x(32, 0.f);
    x[0] = 6.f;    // e = 127, half scale 0.5
    x[1] = 2.5f;   // between 4 * 0.5 and 6 * 0.5: code 4 (value 4)
    x[2] = -0.75f; // between -1 * 0.5 and -2 * 0.5: code 9 (value -1)
    x[3] = -0.f;
    const auto q = encode(GgmlType::MXFP4, x);
    QCOMPARE(q[1 + 1] & 15, 4);
    QCOMPARE(q[1 + 2] & 15, 9);
    QCOMPARE(q[1 + 3] & 15, 0);
}

// UE4M3 corners: 2^-6 is the smallest normal (0x08); below it a subnormal code truncated after
// adding a half, 7.5 * 2^-9 already 7; the mantissa rounds half up on the first dropped bit, so
// 232 and 240 give 0x77 (240) and 248 saturates to 0x7E; 0x7F and 0x00 decode as 0.
void TestCodecsLowBit::nvfp4ScaleCodes()
{
    QCOMPARE(int(nvfp4EncodeScale(0.f)), 0);
    QCOMPARE(int(nvfp4EncodeScale(-1.f)), 0);
    QCOMPARE(int(nvfp4EncodeScale(std::ldexp(1.f, -6))), 0x08);
    QCOMPARE(int(nvfp4EncodeScale(7.5f * std::ldexp(1.f, -9))), 7);
    QCOMPARE(int(nvfp4EncodeScale(0.4f * std::ldexp(1.f, -9))), 0);
    QCOMPARE(int(nvfp4EncodeScale(1.f)), 7 << 3);
    QCOMPARE(int(nvfp4EncodeScale(232.f)), 0x77);
    QCOMPARE(int(nvfp4EncodeScale(240.f)), 0x77);
    QCOMPARE(int(nvfp4EncodeScale(247.f)), 0x77);
    QCOMPARE(int(nvfp4EncodeScale(248.f)), 0x7E);
    QCOMPARE(int(nvfp4EncodeScale(1e6f)), 0x7E);
    QCOMPARE(nvfp4HalfScale(0x7E), 224.f);
    QCOMPARE(nvfp4HalfScale(0x77), 120.f);
    QCOMPARE(nvfp4HalfScale(0x7F), 0.f);
    QCOMPARE(nvfp4HalfScale(0xFF), 240.f);
    QCOMPARE(nvfp4HalfScale(0x38), 0.5f);
    QCOMPARE(nvfp4HalfScale(0x01), std::ldexp(1.f, -10));
}

// Scale byte 0x38 (1.0, half 0.5) for sub-block 1; its byte 0 = 0x7F: value 16 code 15 (-12),
// value 24 code 7 (12).
void TestCodecsLowBit::nvfp4HandBuilt()
{
    std::vector<std::uint8_t> b(36, 0);
    b[1] = 0x38;
    b[4 + 8] = 0x7F;
    const auto y = decode(GgmlType::NVFP4, b);
    QCOMPARE(y[16], -6.f);
    QCOMPARE(y[24], 6.f);
    QCOMPARE(y[0], 0.f);
    // Quantizing: sub-block max 6 -> scale 1.0 (0x38), 6 -> code 7.
    std::vector<float> x(64, 0.f);
    x[0] = 6.f;
    x[1] = -1.5f;
    const auto q = encode(GgmlType::NVFP4, x);
    QCOMPARE(int(q[0]), 0x38);
    QCOMPARE(q[4] & 15, 7);
    QCOMPARE(q[5] & 15, 11); // -3 * 0.5
}

// d = mean |x| = 0.5; bit set for x >= 0, including -0.
void TestCodecsLowBit::q1_0()
{
    std::vector<float> x(128);
    for (int j = 0; j < 128; ++j)
        x[std::size_t(j)] = j % 2 ? -0.25f : 0.75f;
    x[2] = -0.f;
    x[4] = 0.f;
    x[6] = 2.25f; // keeps the mean at 0.5: (61 * 0.75 + 2.25 + 64 * 0.25) / 128
    const auto q = encode(GgmlType::Q1_0, x);
    QCOMPARE(int(q[0] | (q[1] << 8)), 0x3800); // 0.5
    QCOMPARE(int(q[2]), 0x55);                 // values 0, 2, 4, 6 non-negative
    const auto y = decode(GgmlType::Q1_0, q);
    QCOMPARE(y[2], 0.5f);
    QCOMPARE(y[3], -0.5f);
}

// d = max |x| = 2: codes round(x / d) + 1 with ties away from zero, so +-d/2 go to +-d; code 3
// (+2d) is never written but decodes.
void TestCodecsLowBit::q2_0()
{
    std::vector<float> x(64, 0.f);
    x[0] = 2.f;
    x[1] = 1.f;
    x[2] = -1.f;
    x[3] = 0.99f;
    const auto q = encode(GgmlType::Q2_0, x);
    QCOMPARE(int(q[0] | (q[1] << 8)), 0x4000);
    QCOMPARE(int(q[2]), 2 | (2 << 2) | (0 << 4) | (1 << 6));
    std::vector<std::uint8_t> b(18, 0);
    b[1] = 0x40; // d = 2
    b[2] = 0xE4; // codes 0, 1, 2, 3
    const auto y = decode(GgmlType::Q2_0, b);
    QCOMPARE(y[0], -2.f);
    QCOMPARE(y[1], 0.f);
    QCOMPARE(y[2], 2.f);
    QCOMPARE(y[3], 4.f);
}

// d = 1; values 0, 32, 128 = +1, -1, +1, the rest 0. Byte 0 packs digits (2, 0, 1, 1, 2) of
// values 0, 32, 64, 96, 128: v = 176, stored ceil(176 * 256 / 243) = 186; all-zero digit
// bytes hold 121 -> 128; qh packs four 1s: 40 * 3 = 120 -> 127.
void TestCodecsLowBit::tq1_0()
{
    std::vector<float> x(256, 0.f);
    x[0] = 1.f;
    x[32] = -1.f;
    x[128] = 1.f;
    const auto q = encode(GgmlType::TQ1_0, x);
    QCOMPARE(int(q[0]), 186);
    for (int m = 1; m < 48; ++m)
        QCOMPARE(int(q[std::size_t(m)]), 128);
    for (int j = 48; j < 52; ++j)
        QCOMPARE(int(q[std::size_t(j)]), 127);
    QCOMPARE(int(q[52] | (q[53] << 8)), 0x3C00);
    const auto y = decode(GgmlType::TQ1_0, q);
    QCOMPARE(y, x);
}

// Byte 0 = 0b10'01'00'10: values 0, 32, 64, 96 have digits 2, 0, 1, 2.
void TestCodecsLowBit::tq2_0()
{
    std::vector<float> x(256, 0.f);
    x[0] = 3.f;
    x[32] = -3.f;
    x[96] = 2.f; // rounds to +d
    const auto q = encode(GgmlType::TQ2_0, x);
    QCOMPARE(int(q[0]), 0x92);
    QCOMPARE(int(q[1]), 0x55);
    QCOMPARE(int(q[64] | (q[65] << 8)), 0x4200); // 3.0
    const auto y = decode(GgmlType::TQ2_0, q);
    QCOMPARE(y[0], 3.f);
    QCOMPARE(y[32], -3.f);
    QCOMPARE(y[64], 0.f);
    QCOMPARE(y[96], 3.f);
}

QTEST_APPLESS_MAIN(TestCodecsLowBit)
#include "testcodecslowbit.moc"
