// Dot-product kernels (vecdot.h): portable, AVX2 and AVX-512 paths against each other
// (relative tolerance) and against dequantize-then-dot in double, for every type we can read.
// The integer form and its decoders are tested in testcodecsvecdotint.cpp.

#include "gguf/ggmltype.h"
#include "codecs/quantkernels.h"
#include "codecs/vecdot.h"
#include "util/error.h"
#include "util/fp16.h"

#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace QuantFit;

Q_DECLARE_METATYPE(QuantFit::GgmlType)

class TestCodecsVecDot : public QObject
{
    Q_OBJECT

private slots:
    void matchesReference_data();
    void matchesReference();
    void dotRowsMatchesDotRow();
    void q8Activations_data();
    void q8Activations();
    void q8_1MinTermUsesBlockSum_data();
    void q8_1MinTermUsesBlockSum();
    void misalignedRows_data();
    void misalignedRows();
    void unsupportedTypeThrows();
};

void TestCodecsVecDot::matchesReference_data()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (kernelsFor(f.type).dequantizeRow) {
            QVERIFY(canDot(f.type));
            QVERIFY2(hasAvx2Dot(f.type), f.name.data());
            QTest::newRow(f.name.data()) << f.type;
        } else {
            QVERIFY(!canDot(f.type));
        }
    }
}

// Tolerance: the float kernels sum n products in a different order than the double reference;
// each partial sum carries a relative error of about n_terms * 2^-24 of the sum of |products|.
// With n = 4096 that bound is 2.4e-4 * sum|w x|; we check against 1e-4 * sum|w x| + tiny,
// which real kernels meet by far (blocked sums keep the chains short).
void TestCodecsVecDot::matchesReference()
{
    QFETCH(GgmlType, type);
    const TypeFacts &f = typeFacts(type);
    std::mt19937 rng(42);
    std::student_t_distribution<float> dist(4.f);
    for (int trial = 0; trial < 4; ++trial) {
        // Float types also get a length that leaves a scalar tail after the SIMD loops.
        const std::int64_t n = trial == 3 && f.blockSize == 1 ? 4096 + 13 : 4096;
        std::vector<float> w(n);
        std::vector<float> x(n);
        for (auto &v : w)
            v = dist(rng);
        for (auto &v : x)
            v = dist(rng);
        std::vector<std::uint8_t> q(rowBytes(f, n));
        std::vector<float> y(n);
        kernelsFor(type).quantizeRow(w.data(), q.data(), n, nullptr);
        kernelsFor(type).dequantizeRow(q.data(), y.data(), n);
        double ref = 0;
        double absSum = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            ref += double(y[i]) * x[i];
            absSum += std::fabs(double(y[i]) * x[i]);
        }
        const double tol = 1e-4 * absSum + 1e-6;
        const float portable = dotRowWith(DotPath::Portable, type, q.data(), x.data(), n);
        const float avx2 = dotRowWith(DotPath::Avx2, type, q.data(), x.data(), n);
        const float avx512 = dotRowWith(DotPath::Avx512, type, q.data(), x.data(), n);
        const float autoPath = dotRow(type, q.data(), x.data(), n);
        QVERIFY2(std::fabs(portable - ref) <= tol,
                 qPrintable(QStringLiteral("portable %1 vs %2").arg(portable).arg(ref)));
        QVERIFY2(std::fabs(avx2 - ref) <= tol,
                 qPrintable(QStringLiteral("avx2 %1 vs %2").arg(avx2).arg(ref)));
        QVERIFY2(std::fabs(avx2 - portable) <= tol,
                 qPrintable(QStringLiteral("avx2 %1 vs portable %2").arg(avx2).arg(portable)));
        QVERIFY2(std::fabs(avx512 - ref) <= tol,
                 qPrintable(QStringLiteral("avx512 %1 vs %2").arg(avx512).arg(ref)));
        QCOMPARE(autoPath, cpuHasAvx512() ? avx512 : cpuHasAvx2Fma() ? avx2 : portable);
    }
    if (!cpuHasAvx2Fma())
        qInfo("CPU without AVX2/FMA/F16C: only the portable path was exercised");
    else if (!cpuHasAvx512())
        qInfo("CPU without AVX-512 VNNI: the AVX-512 path fell back to AVX2");
}

void TestCodecsVecDot::dotRowsMatchesDotRow()
{
    const GgmlType type = GgmlType::Q4_K;
    const std::int64_t n = 512;
    const std::int64_t nRows = 5;
    const std::size_t stride = rowBytes(typeFacts(type), n) + 16; // padded rows
    std::mt19937 rng(3);
    std::normal_distribution<float> g;
    std::vector<float> x(n);
    for (auto &v : x)
        v = g(rng);
    std::vector<std::uint8_t> rows(stride * nRows);
    for (std::int64_t r = 0; r < nRows; ++r) {
        std::vector<float> w(n);
        for (auto &v : w)
            v = g(rng);
        kernelsFor(type).quantizeRow(w.data(), rows.data() + r * stride, n, nullptr);
    }
    std::vector<float> out(nRows);
    dotRows(type, rows.data(), stride, nRows, x.data(), n, out.data());
    for (std::int64_t r = 0; r < nRows; ++r)
        QCOMPARE(out[r], dotRow(type, rows.data() + r * stride, x.data(), n));
}

void TestCodecsVecDot::q8Activations_data()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (q8ActivationType(f.type)) {
            QVERIFY2(hasAvx2DotQ8(f.type), f.name.data());
            QTest::newRow(f.name.data()) << f.type;
        }
    }
}

// The 8-bit-activation path: integer block sums (AVX2) and the portable path against
// sum dequant(w) * dequant(xq) in double (same tolerance as above), and against the float
// reference dotRow(x): rounding x to 8 bits per block (relative step <= 1/127 of the block
// maximum) moves the sum by at most 0.5/127 * max|x| * sum|w|; we allow that bound.
// Q4_1/Q5_1 pair with Q8_1 (ggml's vec_dot_type): their min term is m * s per block, s the
// activation block's stored fp16(d * sum(q)), not m * fp16(d) * sum(q), so the double reference
// swaps that term of each block.
void TestCodecsVecDot::q8Activations()
{
    QFETCH(GgmlType, type);
    const TypeFacts &f = typeFacts(type);
    const GgmlType act = *q8ActivationType(type);
    QVERIFY(act == GgmlType::Q8_0 || act == GgmlType::Q8_1 || act == GgmlType::Q8_K);
    QCOMPARE(act == GgmlType::Q8_1, type == GgmlType::Q4_1 || type == GgmlType::Q5_1);
    const std::int64_t n = 4096;
    std::mt19937 rng(17);
    std::student_t_distribution<float> dist(4.f);
    for (int trial = 0; trial < 4; ++trial) {
        std::vector<float> w(n);
        std::vector<float> x(n);
        for (auto &v : w)
            v = dist(rng);
        for (auto &v : x)
            v = dist(rng);
        std::vector<std::uint8_t> q(rowBytes(f, n));
        std::vector<std::uint8_t> xq(rowBytes(typeFacts(act), n));
        kernelsFor(type).quantizeRow(w.data(), q.data(), n, nullptr);
        quantizeActivationRow(act, x.data(), xq.data(), n);
        std::vector<float> wd(n);
        std::vector<float> xd(n);
        kernelsFor(type).dequantizeRow(q.data(), wd.data(), n);
        double minFix = 0; // Q8_1: sum over blocks of m * (s - fp16(d) * sum(q))
        if (act == GgmlType::Q8_1) {
            // Q8_1 block: d fp16, s fp16, 32 int8 codes; Q4_1/Q5_1 keep m at byte 2.
            for (std::int64_t b = 0; b < n / 32; ++b) {
                const std::uint8_t *xb = xq.data() + 36 * b;
                std::uint16_t dh, sh, mh;
                std::memcpy(&dh, xb, 2);
                std::memcpy(&sh, xb + 2, 2);
                std::memcpy(&mh, q.data() + b * f.blockBytes + 2, 2);
                int sum = 0;
                for (int j = 0; j < 32; ++j) {
                    const int code = std::int8_t(xb[4 + j]);
                    xd[32 * b + j] = fp16ToFp32(dh) * float(code);
                    sum += code;
                }
                minFix += double(fp16ToFp32(mh))
                    * (double(fp16ToFp32(sh)) - double(fp16ToFp32(dh)) * sum);
            }
        } else {
            kernelsFor(act).dequantizeRow(xq.data(), xd.data(), n);
        }
        double ref = minFix;
        double absSum = 0;
        double absW = 0;
        double maxX = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            ref += double(wd[i]) * xd[i];
            absSum += std::fabs(double(wd[i]) * xd[i]);
            absW += std::fabs(double(wd[i]));
            maxX = std::max(maxX, std::fabs(double(x[i])));
        }
        const double tol = 1e-4 * absSum + 1e-6;
        const float portable = dotRowQ8With(DotPath::Portable, type, q.data(), xq.data(), n);
        const float avx2 = dotRowQ8With(DotPath::Avx2, type, q.data(), xq.data(), n);
        const float avx512 = dotRowQ8With(DotPath::Avx512, type, q.data(), xq.data(), n);
        QVERIFY2(std::fabs(avx512 - ref) <= tol,
                 qPrintable(QStringLiteral("avx512 %1 vs %2").arg(avx512).arg(ref)));
        QVERIFY2(std::fabs(portable - ref) <= tol,
                 qPrintable(QStringLiteral("portable %1 vs %2").arg(portable).arg(ref)));
        QVERIFY2(std::fabs(avx2 - ref) <= tol,
                 qPrintable(QStringLiteral("avx2 %1 vs %2").arg(avx2).arg(ref)));
        const float floatPath = dotRow(type, q.data(), x.data(), n);
        const double roundingBound = 0.5 / 127 * maxX * absW + tol;
        QVERIFY2(std::fabs(double(floatPath) - avx2) <= roundingBound,
                 qPrintable(QStringLiteral("float path %1 vs q8 %2").arg(floatPath).arg(avx2)));
        std::vector<float> out(1);
        dotRowsQ8(type, q.data(), q.size(), 1, xq.data(), n, out.data());
        QCOMPARE(out[0], dotRowQ8(type, q.data(), xq.data(), n));
    }
}

void TestCodecsVecDot::q8_1MinTermUsesBlockSum_data()
{
    QTest::addColumn<GgmlType>("type");
    QTest::newRow("q4_1") << GgmlType::Q4_1;
    QTest::newRow("q5_1") << GgmlType::Q5_1;
}

// By hand: 32 activations of 1.0 give Q8_1 codes 127, d = 1/127 stored as fp16 0x2008
// (0.00787353515625) and s = fp16(4064 * (1/127)) = fp16(32.0) = 0x5000. A weight block with
// d = 0 and m = 1 is the constant 1, so llama.cpp's dot is m * s = 32 exactly; the old rule,
// m * fp16(d) * sum(q), gave 0.00787353515625 * 4064 = 31.998046875. Every path must give 32
// per block.
void TestCodecsVecDot::q8_1MinTermUsesBlockSum()
{
    QFETCH(GgmlType, type);
    const std::int64_t n = 96; // three blocks: a pair and an odd one for the AVX-512 loop
    const std::vector<float> x(std::size_t(n), 1.0f);
    std::vector<std::uint8_t> xq(std::size_t(n / 32 * 36));
    quantizeActivationRow(GgmlType::Q8_1, x.data(), xq.data(), n);
    for (std::int64_t b = 0; b < n / 32; ++b) {
        std::uint16_t dh, sh;
        std::memcpy(&dh, xq.data() + 36 * b, 2);
        std::memcpy(&sh, xq.data() + 36 * b + 2, 2);
        QCOMPARE(dh, std::uint16_t(0x2008));
        QCOMPARE(sh, std::uint16_t(0x5000));
        for (int j = 0; j < 32; ++j)
            QCOMPARE(int(std::int8_t(xq[std::size_t(36 * b + 4 + j)])), 127);
    }
    const std::size_t blockBytes = typeFacts(type).blockBytes;
    std::vector<std::uint8_t> row(std::size_t(n / 32) * blockBytes, 0x5A); // any codes
    for (std::int64_t b = 0; b < n / 32; ++b) {
        const std::uint16_t zero = 0, one = 0x3C00;
        std::memcpy(row.data() + b * blockBytes, &zero, 2);
        std::memcpy(row.data() + b * blockBytes + 2, &one, 2);
    }
    for (const DotPath path : {DotPath::Portable, DotPath::Avx2, DotPath::Avx512})
        QCOMPARE(dotRowQ8With(path, type, row.data(), xq.data(), n), 96.0f);
}

void TestCodecsVecDot::misalignedRows_data()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (kernelsFor(f.type).dequantizeRow)
            QTest::newRow(f.name.data()) << f.type;
    }
}

// A hostile file may place a tensor at any byte offset (general.alignment = 1): kernels must
// read such rows (no misaligned loads, which UBSan reports) with the same results.
void TestCodecsVecDot::misalignedRows()
{
    QFETCH(GgmlType, type);
    const TypeFacts &f = typeFacts(type);
    const std::int64_t n = 512 + (f.blockSize == 1 ? 3 : 0);
    std::mt19937 rng(8);
    std::normal_distribution<float> g;
    std::vector<float> w(n);
    std::vector<float> x(n);
    for (std::int64_t i = 0; i < n; ++i) {
        w[i] = g(rng);
        x[i] = g(rng);
    }
    const std::size_t bytes = rowBytes(f, n);
    std::vector<std::uint8_t> aligned(bytes);
    std::vector<std::uint8_t> shifted(bytes + 1);
    kernelsFor(type).quantizeRow(w.data(), aligned.data(), n, nullptr);
    std::copy(aligned.begin(), aligned.end(), shifted.begin() + 1);
    const std::uint8_t *odd = shifted.data() + 1;
    std::vector<float> ya(n);
    std::vector<float> yo(n);
    kernelsFor(type).dequantizeRow(aligned.data(), ya.data(), n);
    kernelsFor(type).dequantizeRow(odd, yo.data(), n);
    QVERIFY(ya == yo);
    QCOMPARE(dotRow(type, odd, x.data(), n), dotRow(type, aligned.data(), x.data(), n));
    QCOMPARE(dotRowWith(DotPath::Portable, type, odd, x.data(), n),
             dotRowWith(DotPath::Portable, type, aligned.data(), x.data(), n));
}

void TestCodecsVecDot::unsupportedTypeThrows()
{
    std::vector<std::uint8_t> q(256);
    std::vector<float> x(256);
    QVERIFY_THROWS_EXCEPTION(Error, dotRow(GgmlType::Q8_1, q.data(), x.data(), 256));
    QVERIFY_THROWS_EXCEPTION(Error, dotRow(GgmlType::Q4_0, q.data(), x.data(), 48));
    QVERIFY(!q8ActivationType(GgmlType::F16));
    QVERIFY_THROWS_EXCEPTION(Error, dotRowQ8(GgmlType::F16, q.data(), q.data(), 128));
    // Q4_0 with Q8_0 activations needs n to be a multiple of 32; Q4_K with Q8_K of 256.
    QVERIFY_THROWS_EXCEPTION(Error, dotRowQ8(GgmlType::Q4_K, q.data(), q.data(), 128));
}

QTEST_APPLESS_MAIN(TestCodecsVecDot)
#include "testcodecsvecdot.moc"
