// Block codecs (docs/formats.md "Tensor types"), table-driven over allTypeFacts(): every type with kernels gets a
// row, so a new type is tested the day it is added to the table.

#include "codecbounds.h"

#include "gguf/ggmltype.h"
#include "codecs/quantkernels.h"
#include "util/error.h"
#include "util/fp16.h"

#include <QTest>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <vector>

using namespace QuantFit;

Q_DECLARE_METATYPE(QuantFit::GgmlType)

namespace {

// Block size and bytes per block from ggml's type_traits in ggml.c (docs/formats.md "Tensor types").
const std::map<std::string_view, std::pair<int, int>> kSpecBlocks = {
    {"f32", {1, 4}},      {"f16", {1, 2}},      {"bf16", {1, 2}},     {"q8_0", {32, 34}},
    {"q5_1", {32, 24}},   {"q5_0", {32, 22}},   {"q4_1", {32, 20}},   {"q4_0", {32, 18}},
    {"iq4_nl", {32, 18}}, {"q6_K", {256, 210}}, {"q5_K", {256, 176}}, {"q4_K", {256, 144}},
    {"iq4_xs", {256, 136}}, {"q3_K", {256, 110}}, {"iq3_s", {256, 110}}, {"iq3_xxs", {256, 98}},
    {"q2_K", {256, 84}},  {"iq2_s", {256, 82}}, {"iq2_xs", {256, 74}}, {"iq2_xxs", {256, 66}},
    {"tq2_0", {256, 66}}, {"iq1_m", {256, 56}}, {"tq1_0", {256, 54}}, {"iq1_s", {256, 50}},
    {"mxfp4", {32, 17}},  {"q8_k", {256, 292}},
    // the newest ggml types (MXFP4, NVFP4, Q1_0, Q2_0)
    {"nvfp4", {64, 36}},  {"q1_0", {128, 18}},  {"q2_0", {64, 18}},
};

std::vector<float> randomRow(std::mt19937 &rng, std::int64_t n, bool heavyTailed)
{
    std::vector<float> x(static_cast<std::size_t>(n));
    std::normal_distribution<float> gauss(0.f, 1.f);
    std::student_t_distribution<float> student(3.f);
    for (auto &v : x)
        v = heavyTailed ? student(rng) : gauss(rng);
    return x;
}

struct RoundTrip {
    std::vector<std::uint8_t> q;
    std::vector<float> y;
};

RoundTrip roundTrip(GgmlType type, const std::vector<float> &x, const float *importance = nullptr)
{
    const TypeFacts &f = typeFacts(type);
    RoundTrip r;
    r.q.resize(rowBytes(f, x.size()));
    r.y.resize(x.size());
    kernelsFor(type).quantizeRow(x.data(), r.q.data(), std::int64_t(x.size()), importance);
    kernelsFor(type).dequantizeRow(r.q.data(), r.y.data(), std::int64_t(x.size()));
    return r;
}

std::vector<std::uint8_t> bytesOf(std::initializer_list<int> v)
{
    std::vector<std::uint8_t> b;
    for (int i : v)
        b.push_back(std::uint8_t(i));
    return b;
}

void putHalf(std::vector<std::uint8_t> &b, std::size_t offset, std::uint16_t h)
{
    b[offset] = std::uint8_t(h & 0xFF);
    b[offset + 1] = std::uint8_t(h >> 8);
}

std::vector<float> dequantize(GgmlType type, const std::vector<std::uint8_t> &block)
{
    const TypeFacts &f = typeFacts(type);
    std::vector<float> y(f.blockSize);
    dequantizeRow(type, block, y);
    return y;
}

const float kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                              1,    13,   25,  38,  53,  69,  89,  113};

} // namespace

class TestCodecs : public QObject
{
    Q_OBJECT

private slots:
    void bytesPerBlock_data();
    void bytesPerBlock();
    void factsAgreeWithKernels();
    void handBuiltQ8_0();
    void handBuiltQ4_0();
    void handBuiltQ4_1();
    void handBuiltQ5_0();
    void handBuiltQ4_K();
    void handBuiltQ6_K();
    void handBuiltIq4Nl();
    void handBuiltIq4Xs();
    void allZero_data();
    void allZero();
    void roundTripError_data();
    void roundTripError();
    void importanceLowersWeightedError_data();
    void importanceLowersWeightedError();
    void requantizeStable_data();
    void requantizeStable();
    void simdMatchesPortable_data();
    void simdMatchesPortable();
    void simdDequantizeMatchesPortable_data();
    void simdDequantizeMatchesPortable();
    void degenerateRows_data();
    void degenerateRows();
    void badArguments();
};

void TestCodecs::bytesPerBlock_data()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (kSpecBlocks.count(f.name))
            QTest::newRow(f.name.data()) << f.type;
    }
}

void TestCodecs::bytesPerBlock()
{
    QFETCH(GgmlType, type);
    const TypeFacts &f = typeFacts(type);
    const auto [block, bytes] = kSpecBlocks.at(f.name);
    QCOMPARE(int(f.blockSize), block);
    QCOMPARE(int(f.blockBytes), bytes);
}

// The facts table must be honest: canQuantize / canDequantize exactly where kernels exist.
void TestCodecs::factsAgreeWithKernels()
{
    int nImplemented = 0;
    for (const TypeFacts &f : allTypeFacts()) {
        const TypeKernels &k = kernelsFor(f.type);
        QVERIFY2(f.canQuantize == (k.quantizeRow != nullptr), f.name.data());
        QVERIFY2(f.canDequantize == (k.dequantizeRow != nullptr), f.name.data());
        nImplemented += k.dequantizeRow != nullptr;
    }
    QCOMPARE(nImplemented, 29);
}

// d = 0.5 (fp16 0x3800), q_j = j - 16: x_j = 0.5 * (j - 16).
void TestCodecs::handBuiltQ8_0()
{
    std::vector<std::uint8_t> b(34);
    putHalf(b, 0, 0x3800);
    for (int j = 0; j < 32; ++j)
        b[2 + j] = std::uint8_t(std::int8_t(j - 16));
    const auto y = dequantize(GgmlType::Q8_0, b);
    for (int j = 0; j < 32; ++j)
        QCOMPARE(y[j], 0.5f * float(j - 16));
}

// d = 2 (0x4000); byte j: low nibble j, high nibble 15 - j. Element j = 2 (j - 8),
// element j + 16 = 2 (15 - j - 8).
void TestCodecs::handBuiltQ4_0()
{
    std::vector<std::uint8_t> b(18);
    putHalf(b, 0, 0x4000);
    for (int j = 0; j < 16; ++j)
        b[2 + j] = std::uint8_t(j | ((15 - j) << 4));
    const auto y = dequantize(GgmlType::Q4_0, b);
    for (int j = 0; j < 16; ++j) {
        QCOMPARE(y[j], 2.f * float(j - 8));
        QCOMPARE(y[j + 16], 2.f * float(7 - j));
    }
}

// d = 0.25 (0x3400), m = -1 (0xBC00); byte j = j | (j << 4): x_j = x_{j+16} = 0.25 j - 1.
void TestCodecs::handBuiltQ4_1()
{
    std::vector<std::uint8_t> b(20);
    putHalf(b, 0, 0x3400);
    putHalf(b, 2, 0xBC00);
    for (int j = 0; j < 16; ++j)
        b[4 + j] = std::uint8_t(j | (j << 4));
    const auto y = dequantize(GgmlType::Q4_1, b);
    for (int j = 0; j < 16; ++j) {
        QCOMPARE(y[j], 0.25f * float(j) - 1.f);
        QCOMPARE(y[j + 16], 0.25f * float(j) - 1.f);
    }
}

// d = 1 (0x3C00); qh = 0xAAAAAAAA (odd elements have bit 4); nibbles all 3:
// even j -> 3 - 16 = -13, odd j -> 19 - 16 = 3.
void TestCodecs::handBuiltQ5_0()
{
    std::vector<std::uint8_t> b(22);
    putHalf(b, 0, 0x3C00);
    for (int k = 0; k < 4; ++k)
        b[2 + k] = 0xAA;
    for (int j = 0; j < 16; ++j)
        b[6 + j] = 0x33;
    const auto y = dequantize(GgmlType::Q5_0, b);
    for (int j = 0; j < 32; ++j)
        QCOMPARE(y[j], j % 2 ? 3.f : -13.f);
}

// d = 1, dmin = 0.5; scale codes sc = {1,2,3,4,10,20,63,33}, min codes mn = {0,5,7,63,1,40,2,17}
// packed by hand (block_q3_K in ggml-common.h):
//   S[0..3] = sc0..3 | high2(sc4..7) << 6 = {1, 2|1<<6, 3|3<<6, 4|2<<6} = {1, 66, 195, 132}
//   S[4..7] = mn0..3 | high2(mn4..7) << 6 = {0, 5|2<<6, 7, 63|1<<6} = {0, 133, 7, 127}
//   S[8..11] = low4(sc4..7) | low4(mn4..7) << 4 = {10|1<<4, 4|8<<4, 15|2<<4, 1|1<<4}
//            = {26, 132, 47, 17}
// qs bytes all 0x53: sub-blocks j even read the low nibble (3), odd the high nibble (5).
void TestCodecs::handBuiltQ4_K()
{
    std::vector<std::uint8_t> b(144, 0x53);
    putHalf(b, 0, 0x3C00);
    putHalf(b, 2, 0x3800);
    const auto s = bytesOf({1, 66, 195, 132, 0, 133, 7, 127, 26, 132, 47, 17});
    std::copy(s.begin(), s.end(), b.begin() + 4);
    const int sc[8] = {1, 2, 3, 4, 10, 20, 63, 33};
    const int mn[8] = {0, 5, 7, 63, 1, 40, 2, 17};
    const auto y = dequantize(GgmlType::Q4_K, b);
    for (int e = 0; e < 256; ++e) {
        const int j = e / 32;
        const float q = j % 2 ? 5.f : 3.f;
        QCOMPARE(y[e], float(sc[j]) * q - 0.5f * float(mn[j]));
    }
}

// d = 0.25; scales[s] = s - 8; ql bytes 0x21 (low 1, high 2); qh bytes 0xE4 (2-bit fields
// 0, 1, 2, 3). In each half: elements +0..31 -> u = 1 -> q = -31; +32..63 -> u = 1 + 16 -> -15;
// +64..95 -> u = 2 + 32 -> 2; +96..127 -> u = 2 + 48 -> 18.
void TestCodecs::handBuiltQ6_K()
{
    std::vector<std::uint8_t> b(210);
    std::fill(b.begin(), b.begin() + 128, 0x21);
    std::fill(b.begin() + 128, b.begin() + 192, 0xE4);
    for (int s = 0; s < 16; ++s)
        b[192 + s] = std::uint8_t(std::int8_t(s - 8));
    putHalf(b, 208, 0x3400);
    const auto y = dequantize(GgmlType::Q6_K, b);
    const float q[4] = {-31, -15, 2, 18};
    for (int e = 0; e < 256; ++e)
        QCOMPARE(y[e], 0.25f * float(e / 16 - 8) * q[(e % 128) / 32]);
}

// d = 0.5; byte j = j | (15 - j) << 4: element j = 0.5 kv[j], element j + 16 = 0.5 kv[15 - j].
void TestCodecs::handBuiltIq4Nl()
{
    std::vector<std::uint8_t> b(18);
    putHalf(b, 0, 0x3800);
    for (int j = 0; j < 16; ++j)
        b[2 + j] = std::uint8_t(j | ((15 - j) << 4));
    const auto y = dequantize(GgmlType::IQ4_NL, b);
    for (int j = 0; j < 16; ++j) {
        QCOMPARE(y[j], 0.5f * kIq4Values[j]);
        QCOMPARE(y[j + 16], 0.5f * kIq4Values[15 - j]);
    }
}

// d = 1; sub-block codes 28 + ib (values ib - 4), packed by hand (docs/formats.md "Block layouts"):
//   low4 = {12, 13, 14, 15, 0, 1, 2, 3}, high2 = {1, 1, 1, 1, 2, 2, 2, 2}
//   scales_l = {12 | 13 << 4, 14 | 15 << 4, 0 | 1 << 4, 2 | 3 << 4} = {220, 254, 16, 50}
//   scales_h = 0b10'10'10'10'01'01'01'01 = 0xAA55
// qs all 0x9F: element j of a sub-block -> kv[15] = 113, element j + 16 -> kv[9] = 13.
void TestCodecs::handBuiltIq4Xs()
{
    std::vector<std::uint8_t> b(136, 0x9F);
    putHalf(b, 0, 0x3C00);
    putHalf(b, 2, 0xAA55);
    const auto s = bytesOf({220, 254, 16, 50});
    std::copy(s.begin(), s.end(), b.begin() + 4);
    const auto y = dequantize(GgmlType::IQ4_XS, b);
    for (int e = 0; e < 256; ++e) {
        const int ib = e / 32;
        QCOMPARE(y[e], float(ib - 4) * (e % 32 < 16 ? 113.f : 13.f));
    }
}

void TestCodecs::allZero_data()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (kernelsFor(f.type).quantizeRow)
            QTest::newRow(f.name.data()) << f.type;
    }
}

// ggml's reference quantizers: an all-zero block gives d = 0 (or -0) and dequantizes to zeros; Q4_0 codes
// are 8 (0x88), IQ4_NL indices 8 (0x88), Q6_K all bytes zero.
void TestCodecs::allZero()
{
    QFETCH(GgmlType, type);
    const std::vector<float> x(512, 0.f);
    const RoundTrip r = roundTrip(type, x);
    for (float v : r.y)
        QCOMPARE(v, 0.f);
    if (type == GgmlType::Q4_0 || type == GgmlType::IQ4_NL) {
        for (std::size_t b = 0; b < r.q.size(); b += 18) {
            // d is +-0: the reference computes 0 / -8 = -0.0 and stores fp16 0x8000, as ggml does.
            QCOMPARE(fp16ToFp32(std::uint16_t(r.q[b] | (r.q[b + 1] << 8))), 0.f);
            for (int j = 2; j < 18; ++j)
                QCOMPARE(int(r.q[b + j]), 0x88);
        }
    }
    if (type == GgmlType::Q6_K) {
        for (std::uint8_t v : r.q)
            QCOMPARE(int(v), 0);
    }
}

void TestCodecs::roundTripError_data()
{
    QTest::addColumn<GgmlType>("type");
    QTest::addColumn<bool>("heavyTailed");
    for (const TypeFacts &f : allTypeFacts()) {
        if (!kernelsFor(f.type).quantizeRow)
            continue;
        QTest::addRow("%s gaussian", f.name.data()) << f.type << false;
        QTest::addRow("%s student-t3", f.name.data()) << f.type << true;
    }
}

void TestCodecs::roundTripError()
{
    QFETCH(GgmlType, type);
    QFETCH(bool, heavyTailed);
    std::mt19937 rng(1234);
    double err = 0;
    double sumX2 = 0;
    for (int row = 0; row < 8; ++row) {
        const auto x = randomRow(rng, 2048, heavyTailed);
        const RoundTrip r = roundTrip(type, x);
        for (std::size_t i = 0; i < x.size(); ++i) {
            err += (double(r.y[i]) - x[i]) * (double(r.y[i]) - x[i]);
            sumX2 += double(x[i]) * x[i];
        }
    }
    const double rel = std::sqrt(err / sumX2);
    const double bound = QuantFit::Test::relRmseBound(typeFacts(type), heavyTailed);
    qInfo("%s %s: relative RMSE %.6g (bound %.3g)", ggmlTypeName(type).toLatin1().constData(),
          heavyTailed ? "student-t3" : "gaussian", rel, bound);
    QVERIFY2(rel <= bound, qPrintable(QStringLiteral("relative RMSE %1 > %2").arg(rel).arg(bound)));
}

void TestCodecs::importanceLowersWeightedError_data()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (kernelsFor(f.type).usesImportance)
            QTest::newRow(f.name.data()) << f.type;
    }
}

// With per-column importance spread over two orders of magnitude (the shape of real imatrix
// data), the importance-aware quantizer must lower sum_i imp_i (x_i - y_i)^2.
void TestCodecs::importanceLowersWeightedError()
{
    QFETCH(GgmlType, type);
    std::mt19937 rng(99);
    const std::int64_t n = 1024;
    std::vector<float> imp(n);
    std::lognormal_distribution<float> spread(0.f, 1.5f);
    for (auto &v : imp)
        v = spread(rng);
    double plain = 0;
    double weighted = 0;
    for (int row = 0; row < 16; ++row) {
        const auto x = randomRow(rng, n, row % 2 == 1);
        const RoundTrip a = roundTrip(type, x);
        const RoundTrip b = roundTrip(type, x, imp.data());
        for (std::int64_t i = 0; i < n; ++i) {
            plain += imp[i] * (double(a.y[i]) - x[i]) * (double(a.y[i]) - x[i]);
            weighted += imp[i] * (double(b.y[i]) - x[i]) * (double(b.y[i]) - x[i]);
        }
    }
    qInfo("%s: weighted error %.6g without, %.6g with importance (%.1f%% lower)",
          ggmlTypeName(type).toLatin1().constData(), plain, weighted,
          100.0 * (1.0 - weighted / plain));
    QVERIFY(weighted < plain);
}

void TestCodecs::requantizeStable_data()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (kernelsFor(f.type).quantizeRow)
            QTest::newRow(f.name.data()) << f.type;
    }
}

// Re-quantizing dequantized data: the float types and the single-scale symmetric types map a
// grid point back to itself exactly (their scale is recomputed from the extreme code, which the
// dequantized block reproduces), so their bytes must not change. The searching quantizers may
// pick another grid, but the second generation must stay close: its change must be no larger
// than the first generation's error.
void TestCodecs::requantizeStable()
{
    QFETCH(GgmlType, type);
    std::mt19937 rng(7);
    const auto x = randomRow(rng, 1024, false);
    const RoundTrip first = roundTrip(type, x);
    const RoundTrip second = roundTrip(type, first.y);
    const bool exact = type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16
        || type == GgmlType::Q8_0 || type == GgmlType::Q4_0 || type == GgmlType::Q5_0;
    if (exact) {
        QVERIFY(first.q == second.q);
        return;
    }
    double err1 = 0;
    double err2 = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        err1 += (double(first.y[i]) - x[i]) * (double(first.y[i]) - x[i]);
        err2 += (double(second.y[i]) - first.y[i]) * (double(second.y[i]) - first.y[i]);
    }
    QVERIFY2(err2 <= err1, qPrintable(QStringLiteral("%1 > %2").arg(err2).arg(err1)));
}

void TestCodecs::simdMatchesPortable_data()
{
    QTest::addColumn<GgmlType>("type");
    QTest::addColumn<bool>("withImportance");
    for (const TypeFacts &f : allTypeFacts()) {
        const TypeKernels &k = kernelsFor(f.type);
        if (!k.quantizeRow)
            continue;
        QTest::addRow("%s", f.name.data()) << f.type << false;
        if (k.usesImportance)
            QTest::addRow("%s imatrix", f.name.data()) << f.type << true;
    }
}

// The AVX2 quantizers run independent sub-blocks in SIMD lanes with the reference's float
// operations; they must write exactly the bytes of the portable path, on awkward data too:
// tiny scales, sparse rows, all-zero super-blocks, constant blocks, all-positive rows, ties,
// zero importance.
void TestCodecs::simdMatchesPortable()
{
    QFETCH(GgmlType, type);
    QFETCH(bool, withImportance);
    const TypeFacts &f = typeFacts(type);
    std::mt19937 rng(5);
    std::student_t_distribution<float> student(2.5f);
    std::lognormal_distribution<float> spread(0.f, 2.f);
    for (int trial = 0; trial < 9; ++trial) {
        // The last trial has a block count that is not a multiple of 8 (SIMD groups + a tail).
        const std::int64_t n = trial == 8 ? 11 * std::int64_t(f.blockSize == 256 ? 256 : 32) : 1024;
        std::vector<float> x(n);
        std::vector<float> imp(n);
        for (std::int64_t i = 0; i < n; ++i) {
            x[i] = student(rng) * (trial == 0 ? 1e-3f : 1.f);
            imp[i] = trial == 7 && i % 3 == 0 ? 0.f : spread(rng);
        }
        if (trial == 1)
            for (int i = 0; i < 200; ++i)
                x[rng() % n] = 0;
        if (trial == 2)
            std::fill(x.begin() + 256, x.begin() + 512, 0.f);
        if (trial == 3)
            std::fill(x.begin() + 32, x.begin() + 64, 0.5f);
        if (trial == 4)
            for (auto &v : x)
                v = std::fabs(v);
        if (trial == 5)
            for (auto &v : x)
                v = std::round(v * 4) / 4;
        std::vector<std::uint8_t> portable(rowBytes(f, n));
        std::vector<std::uint8_t> simd(rowBytes(f, n));
        const float *w = withImportance ? imp.data() : nullptr;
        setQuantizePath(QuantizePath::Portable);
        kernelsFor(type).quantizeRow(x.data(), portable.data(), n, w);
        setQuantizePath(QuantizePath::Auto);
        kernelsFor(type).quantizeRow(x.data(), simd.data(), n, w);
        QVERIFY2(portable == simd, qPrintable(QStringLiteral("trial %1").arg(trial)));
    }
}

void TestCodecs::degenerateRows_data()
{
    QTest::addColumn<GgmlType>("type");
    QTest::addColumn<bool>("portable");
    for (const TypeFacts &f : allTypeFacts()) {
        if (!kernelsFor(f.type).quantizeRow)
            continue;
        QTest::addRow("%s simd", f.name.data()) << f.type << false;
        QTest::addRow("%s portable", f.name.data()) << f.type << true;
    }
}

// Finite rows that real files do contain now and then (found by fuzzing): blocks of subnormal
// values, where the scale d is non-zero but 1/d overflows to infinity, so x * (1/d) is inf or
// NaN (0 * inf) before the cast to a code; tiny normals; one outlier among subnormals; values
// near the largest finite float. Under the sanitizer build every cast must be defined. Where
// the scale fits fp16, the round trip stays finite and within the row's largest magnitude (a
// scale that underflows fp16 dequantizes to zero, an error of |x|); beyond fp16's range the
// stored scale is inf, as in llama.cpp, and only the absence of undefined behaviour is checked.
void TestCodecs::degenerateRows()
{
    QFETCH(GgmlType, type);
    QFETCH(bool, portable);
    const std::int64_t n = 512;
    const float sub = std::numeric_limits<float>::denorm_min();
    struct Case {
        const char *name;
        std::vector<float> x;
        bool fp16Range;
    };
    std::vector<Case> cases;
    auto fill = [](auto f) {
        std::vector<float> x(std::size_t(n), 0.f);
        for (std::int64_t i = 0; i < n; ++i)
            x[std::size_t(i)] = f(i);
        return x;
    };
    cases.push_back({"subnormal", fill([&](std::int64_t i) { return float(i % 7 + 1) * sub * 1000.f; }), true});
    cases.push_back({"subnormal + zeros", fill([&](std::int64_t i) { return i % 5 == 0 ? 1e-40f : 0.f; }), true});
    cases.push_back({"signed subnormal", fill([&](std::int64_t i) { return (i % 2 ? -1.f : 1.f) * float(i + 1) * sub; }), true});
    cases.push_back({"tiny normal", fill([&](std::int64_t i) { return (i % 3 - 1) * 1.5e-38f; }), true});
    cases.push_back({"outlier among subnormals", fill([&](std::int64_t i) { return i == 77 ? 3.f : 1e-41f; }), true});
    cases.push_back({"beyond fp16", fill([&](std::int64_t i) { return (i % 2 ? -3e38f : 1e30f); }), false});

    setQuantizePath(portable ? QuantizePath::Portable : QuantizePath::Auto);
    for (const Case &c : cases) {
        const RoundTrip r = roundTrip(type, c.x);
        if (!c.fp16Range)
            continue;
        float amax = 0;
        for (float v : c.x)
            amax = std::max(amax, std::fabs(v));
        for (std::int64_t i = 0; i < n; ++i) {
            const float y = r.y[std::size_t(i)];
            QVERIFY2(std::isfinite(y), qPrintable(QStringLiteral("%1: y[%2] = %3").arg(c.name).arg(i).arg(y)));
            QVERIFY2(std::fabs(y - c.x[std::size_t(i)]) <= 2 * amax,
                     qPrintable(QStringLiteral("%1: x[%2] = %3, y = %4").arg(c.name).arg(i).arg(c.x[std::size_t(i)]).arg(y)));
        }
    }
    setQuantizePath(QuantizePath::Auto);
}

void TestCodecs::simdDequantizeMatchesPortable_data()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (kernelsFor(f.type).dequantizeRow)
            QTest::newRow(f.name.data()) << f.type;
    }
}

// Dequantization must be bit-identical on both paths for any bytes (random blocks reach every
// code, scale and sign); NaN scales only need to give NaN on both.
void TestCodecs::simdDequantizeMatchesPortable()
{
    QFETCH(GgmlType, type);
    const TypeFacts &f = typeFacts(type);
    const std::int64_t n = 2048;
    std::mt19937 rng(11);
    std::vector<std::uint8_t> q(rowBytes(f, n));
    for (auto &b : q)
        b = std::uint8_t(rng());
    std::vector<float> portable(n);
    std::vector<float> simd(n);
    setQuantizePath(QuantizePath::Portable);
    kernelsFor(type).dequantizeRow(q.data(), portable.data(), n);
    setQuantizePath(QuantizePath::Auto);
    kernelsFor(type).dequantizeRow(q.data(), simd.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
        const bool same = std::bit_cast<std::uint32_t>(portable[i])
                == std::bit_cast<std::uint32_t>(simd[i])
            || (std::isnan(portable[i]) && std::isnan(simd[i]));
        QVERIFY2(same, qPrintable(QStringLiteral("element %1: %2 vs %3")
                                      .arg(i)
                                      .arg(double(portable[i]))
                                      .arg(double(simd[i]))));
    }
}

void TestCodecs::badArguments()
{
    std::vector<float> x(48, 1.f);
    std::vector<std::uint8_t> q(1000);
    // 48 is not a multiple of 32.
    QVERIFY_THROWS_EXCEPTION(Error, quantizeRow(GgmlType::Q4_0, x, q));
    // Too small a destination.
    std::vector<float> x32(32, 1.f);
    QVERIFY_THROWS_EXCEPTION(Error, quantizeRow(GgmlType::Q8_0, x32, std::span(q).first(33)));
    // Unsupported type (an activation type with no codec).
    QVERIFY_THROWS_EXCEPTION(Error, quantizeRow(GgmlType::Q8_1, x, q));
    QVERIFY_THROWS_EXCEPTION(Error, dequantizeRow(GgmlType::Q8_1, q, x));
    // Importance of the wrong length.
    std::vector<float> imp(16, 1.f);
    QVERIFY_THROWS_EXCEPTION(Error, quantizeRow(GgmlType::Q4_K, std::vector<float>(256, 1.f), q,
                                                imp));
}

QTEST_APPLESS_MAIN(TestCodecs)
#include "testcodecs.moc"
