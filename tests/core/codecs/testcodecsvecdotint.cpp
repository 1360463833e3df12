// The integer form of the block types (vecdot.h DotIntForm, docs/formats.md "Integer form") and
// the 8-bit activation dots built on it, for every type that has one:
//  - scale * code - min reproduces dequantizeRow() bit for bit (the dequantizers are checked
//    against llama.cpp's files elsewhere), on quantized rows and on blocks of random bytes;
//  - the AVX2 decoders give exactly the portable decoder's codes, scales and mins;
//  - the AVX2 and AVX-512 dots equal the portable reference up to float summation order: both
//    compute the same exact int32 sums per sub-block, then scale and add them in a different
//    order (SIMD lanes), so they may differ by the rounding of the partial sums. The bound used is
//    (number of sub-blocks + 64) * 2^-24 * sum|term| (one rounding per addition along the longest
//    chain), far below any quantization effect;
//  - edge activations (all +127, all -127, alternating, zero blocks) and weights from random
//    bytes (every code, hostile scales included) keep that agreement.

#include "gguf/ggmltype.h"
#include "codecs/quantkernels.h"
#include "codecs/vecdot.h"
#include "util/error.h"
#include "util/fp16.h"

#include <QTest>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace QuantFit;

Q_DECLARE_METATYPE(QuantFit::GgmlType)

class TestCodecsVecDotInt : public QObject
{
    Q_OBJECT

private slots:
    void intFormReproducesDequantizer_data();
    void intFormReproducesDequantizer();
    void avx2DecoderEqualsPortable_data();
    void avx2DecoderEqualsPortable();
    void simdDotsEqualReference_data();
    void simdDotsEqualReference();
    void formsAndActivationTypes();
    void decodeRefusesBadInput();
};

namespace {

void addIntTypes()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (dotIntForm(f.type))
            QTest::newRow(f.name.data()) << f.type;
    }
}

std::vector<float> dequantized(GgmlType type, const std::vector<std::uint8_t> &row, std::int64_t n)
{
    std::vector<float> y(std::size_t(n), 0.f);
    kernelsFor(type).dequantizeRow(row.data(), y.data(), n);
    return y;
}

// A row of `nBlocks` blocks of random bytes, each redrawn until it dequantizes to finite values
// (a random fp16 scale field is infinite or NaN one time in 32).
std::vector<std::uint8_t> randomBytesRow(GgmlType type, int nBlocks, std::mt19937 &rng)
{
    const TypeFacts &f = typeFacts(type);
    std::vector<std::uint8_t> row(std::size_t(nBlocks) * f.blockBytes);
    std::vector<std::uint8_t> block(f.blockBytes);
    std::vector<float> y(f.blockSize);
    for (int b = 0; b < nBlocks; ++b) {
        for (;;) {
            for (auto &v : block)
                v = std::uint8_t(rng());
            kernelsFor(type).dequantizeRow(block.data(), y.data(), f.blockSize);
            bool finite = true;
            for (float v : y)
                finite = finite && std::isfinite(v) && std::fabs(v) < 1e30f;
            if (finite)
                break;
        }
        std::memcpy(row.data() + std::size_t(b) * f.blockBytes, block.data(), f.blockBytes);
    }
    return row;
}

std::vector<std::uint8_t> quantizedRow(GgmlType type, std::int64_t n, std::mt19937 &rng)
{
    std::student_t_distribution<float> dist(4.f);
    std::vector<float> w(static_cast<std::size_t>(n));
    for (auto &v : w)
        v = dist(rng);
    std::vector<std::uint8_t> q(rowBytes(typeFacts(type), n));
    kernelsFor(type).quantizeRow(w.data(), q.data(), n, nullptr);
    return q;
}

struct IntRow {
    std::vector<std::int8_t> codes;
    std::vector<float> scales;
    std::vector<float> mins;
};

IntRow decode(DotPath path, GgmlType type, const std::vector<std::uint8_t> &row, std::int64_t n)
{
    const DotIntForm form = *dotIntForm(type);
    IntRow r;
    r.codes.assign(std::size_t(n), 0);
    r.scales.assign(std::size_t(n / form.subBlock), 0.f);
    r.mins.assign(r.scales.size(), 0.f);
    decodeIntRowWith(path, type, row.data(), n, r.codes.data(), r.scales.data(), r.mins.data());
    return r;
}

// 8-bit activations of `act` (Q8_0: fp16 d; Q8_1: fp16 d and fp16 s = d * sum(q), d the float
// scale; Q8_K: float d and bsums) from codes and block scales.
std::vector<std::uint8_t> activationBlocks(GgmlType act, const std::vector<std::int8_t> &q,
                                           const std::vector<float> &d)
{
    const TypeFacts &f = typeFacts(act);
    const std::size_t n = q.size();
    std::vector<std::uint8_t> out(rowBytes(f, std::int64_t(n)));
    for (std::size_t b = 0; b < n / f.blockSize; ++b) {
        std::uint8_t *p = out.data() + b * f.blockBytes;
        if (act == GgmlType::Q8_0) {
            const std::uint16_t h = fp32ToFp16(d[b]);
            std::memcpy(p, &h, 2);
            std::memcpy(p + 2, q.data() + 32 * b, 32);
        } else if (act == GgmlType::Q8_1) {
            int sum = 0;
            for (int j = 0; j < 32; ++j)
                sum += q[32 * b + j];
            const std::uint16_t h = fp32ToFp16(d[b]);
            const std::uint16_t s = fp32ToFp16(d[b] * float(sum));
            std::memcpy(p, &h, 2);
            std::memcpy(p + 2, &s, 2);
            std::memcpy(p + 4, q.data() + 32 * b, 32);
        } else {
            std::memcpy(p, &d[b], 4);
            std::memcpy(p + 4, q.data() + 256 * b, 256);
            for (int g = 0; g < 16; ++g) {
                std::int16_t s = 0;
                for (int j = 0; j < 16; ++j)
                    s = std::int16_t(s + q[256 * b + 16 * g + j]);
                std::memcpy(p + 260 + 2 * g, &s, 2);
            }
        }
    }
    return out;
}

} // namespace

void TestCodecsVecDotInt::intFormReproducesDequantizer_data()
{
    addIntTypes();
}

void TestCodecsVecDotInt::intFormReproducesDequantizer()
{
    QFETCH(GgmlType, type);
    const TypeFacts &f = typeFacts(type);
    const DotIntForm form = *dotIntForm(type);
    QCOMPARE(form.blockSize, int(f.blockSize));
    QCOMPARE(form.blockBytes, int(f.blockBytes));
    QVERIFY(form.subBlock == 16 || form.subBlock == 32);
    QCOMPARE(form.blockSize % form.subBlock, 0);
    std::mt19937 rng(5);
    const std::int64_t n = 1024;
    for (int trial = 0; trial < 6; ++trial) {
        const auto row = trial < 2 ? quantizedRow(type, n, rng)
                                   : randomBytesRow(type, int(n / f.blockSize), rng);
        const auto y = dequantized(type, row, n);
        const IntRow r = decode(DotPath::Portable, type, row, n);
        for (std::int64_t j = 0; j < n; ++j) {
            const std::size_t k = std::size_t(j / form.subBlock);
            const float v = r.scales[k] * float(r.codes[std::size_t(j)])
                - (form.affine ? r.mins[k] : 0.f);
            if (std::bit_cast<std::uint32_t>(v) != std::bit_cast<std::uint32_t>(y[std::size_t(j)])
                && !(v == 0 && y[std::size_t(j)] == 0))
                QFAIL(qPrintable(QStringLiteral("trial %1 element %2: %3 * %4 - %5 = %6, "
                                                "dequantized %7")
                                     .arg(trial)
                                     .arg(j)
                                     .arg(r.scales[k])
                                     .arg(r.codes[std::size_t(j)])
                                     .arg(form.affine ? r.mins[k] : 0.f)
                                     .arg(v)
                                     .arg(y[std::size_t(j)])));
        }
    }
}

void TestCodecsVecDotInt::avx2DecoderEqualsPortable_data()
{
    addIntTypes();
}

void TestCodecsVecDotInt::avx2DecoderEqualsPortable()
{
    QFETCH(GgmlType, type);
    if (!cpuHasAvx2Fma())
        QSKIP("CPU without AVX2/FMA/F16C: no AVX2 decoder to compare");
    const TypeFacts &f = typeFacts(type);
    std::mt19937 rng(6);
    const std::int64_t n = 2048;
    for (int trial = 0; trial < 6; ++trial) {
        const auto row = trial < 2 ? quantizedRow(type, n, rng)
                                   : randomBytesRow(type, int(n / f.blockSize), rng);
        const IntRow p = decode(DotPath::Portable, type, row, n);
        const IntRow a = decode(DotPath::Avx2, type, row, n);
        QVERIFY(p.codes == a.codes);
        QCOMPARE(std::memcmp(p.scales.data(), a.scales.data(), 4 * p.scales.size()), 0);
        QCOMPARE(std::memcmp(p.mins.data(), a.mins.data(), 4 * p.mins.size()), 0);
    }
}

void TestCodecsVecDotInt::simdDotsEqualReference_data()
{
    addIntTypes();
}

void TestCodecsVecDotInt::simdDotsEqualReference()
{
    QFETCH(GgmlType, type);
    const TypeFacts &f = typeFacts(type);
    const DotIntForm form = *dotIntForm(type);
    const GgmlType act = *q8ActivationType(type);
    const int actBlock = int(typeFacts(act).blockSize);
    std::mt19937 rng(9);
    // Lengths: one block (an odd count of 32-element blocks for the pairing AVX-512 loop), a few
    // blocks, eleven 32-element blocks (one step of eight for the legacy AVX-512 kernels and a
    // tail of three), a typical row.
    for (const std::int64_t n : {std::int64_t(std::max(f.blockSize, std::uint32_t(actBlock))),
                                 std::int64_t(768), std::int64_t(352), std::int64_t(4096)}) {
        if (n % f.blockSize || n % actBlock)
            continue;
        for (int trial = 0; trial < 8; ++trial) {
            const auto row = trial % 2 ? quantizedRow(type, n, rng)
                                       : randomBytesRow(type, int(n / f.blockSize), rng);
            std::vector<std::int8_t> q(static_cast<std::size_t>(n));
            std::uniform_int_distribution<int> code(-127, 127);
            for (std::size_t j = 0; j < q.size(); ++j) {
                switch (trial / 2) {
                case 0: q[j] = std::int8_t(code(rng)); break;
                case 1: q[j] = 127; break;
                case 2: q[j] = std::int8_t(j % 2 ? -127 : 127); break;
                default: q[j] = std::int8_t(j / 32 % 3 == 0 ? 0 : -127); break; // zero blocks
                }
            }
            std::vector<float> d(std::size_t(n / actBlock));
            std::uniform_real_distribution<float> scale(0.001f, 0.1f);
            for (auto &v : d)
                v = trial / 2 == 3 ? 0.0078125f : scale(rng);
            const auto xq = activationBlocks(act, q, d);
            // sum |term| over the integer form, for the bound
            const IntRow r = decode(DotPath::Portable, type, row, n);
            std::vector<float> xd(static_cast<std::size_t>(n));
            if (act == GgmlType::Q8_1) { // no dequantizer for the activation-only type
                for (std::int64_t j = 0; j < n; ++j)
                    xd[std::size_t(j)] = roundFp16(d[std::size_t(j / 32)]) * q[std::size_t(j)];
            } else {
                kernelsFor(act).dequantizeRow(xq.data(), xd.data(), n);
            }
            double absSum = 0;
            for (std::int64_t j = 0; j < n; ++j) {
                const std::size_t k = std::size_t(j / form.subBlock);
                absSum += std::fabs(double(r.scales[k]) * r.codes[std::size_t(j)] * xd[std::size_t(j)]);
                if (form.affine)
                    absSum += std::fabs(double(r.mins[k]) * xd[std::size_t(j)]);
            }
            const double tol = double(n / form.subBlock + 64) * 0x1p-24 * absSum + 1e-30;
            const float ref = dotRowQ8With(DotPath::Portable, type, row.data(), xq.data(), n);
            const float avx2 = dotRowQ8With(DotPath::Avx2, type, row.data(), xq.data(), n);
            const float avx512 = dotRowQ8With(DotPath::Avx512, type, row.data(), xq.data(), n);
            QVERIFY2(std::fabs(double(avx2) - ref) <= tol,
                     qPrintable(QStringLiteral("n %1 trial %2: avx2 %3, reference %4 (bound %5)")
                                    .arg(n).arg(trial).arg(avx2).arg(ref).arg(tol)));
            QVERIFY2(std::fabs(double(avx512) - ref) <= tol,
                     qPrintable(QStringLiteral("n %1 trial %2: avx512 %3, reference %4 (bound %5)")
                                    .arg(n).arg(trial).arg(avx512).arg(ref).arg(tol)));
            // Several rows at once (the legacy types' SIMD kernels take four at a time and
            // share the activation side): five different rows, each exactly its one-row dot.
            std::vector<std::uint8_t> five(row);
            for (int r = 1; r < 5; ++r) {
                const auto other = randomBytesRow(type, int(n / f.blockSize), rng);
                five.insert(five.end(), other.begin(), other.end());
            }
            for (const DotPath path : {DotPath::Avx2, DotPath::Avx512}) {
                std::vector<float> rows(5);
                dotRowsQ8With(path, type, five.data(), row.size(), 5, xq.data(), n, rows.data());
                for (std::size_t r = 0; r < 5; ++r)
                    QCOMPARE(rows[r], dotRowQ8With(path, type, five.data() + r * row.size(),
                                                   xq.data(), n));
            }
        }
    }
    if (!cpuHasAvx512())
        qInfo("CPU without AVX-512 VNNI: the AVX-512 path fell back to AVX2 or portable");
}

// Which types pair with which activations, and the forms the spec gives (docs/formats.md).
void TestCodecsVecDotInt::formsAndActivationTypes()
{
    const auto check = [](GgmlType t, int sub, bool affine, GgmlType act) {
        const auto form = dotIntForm(t);
        QVERIFY2(form, qPrintable(ggmlTypeName(t)));
        QCOMPARE(form->subBlock, sub);
        QCOMPARE(form->affine, affine);
        QCOMPARE(*q8ActivationType(t), act);
    };
    check(GgmlType::Q4_0, 32, false, GgmlType::Q8_0);
    check(GgmlType::Q4_1, 32, true, GgmlType::Q8_1);
    check(GgmlType::Q5_1, 32, true, GgmlType::Q8_1);
    check(GgmlType::MXFP4, 32, false, GgmlType::Q8_0);
    check(GgmlType::NVFP4, 16, false, GgmlType::Q8_0);
    check(GgmlType::Q1_0, 32, false, GgmlType::Q8_0);
    check(GgmlType::Q2_0, 32, false, GgmlType::Q8_0);
    check(GgmlType::Q2_K, 16, true, GgmlType::Q8_K);
    check(GgmlType::Q6_K, 16, false, GgmlType::Q8_K);
    check(GgmlType::IQ2_XXS, 32, false, GgmlType::Q8_K);
    check(GgmlType::IQ2_XS, 16, false, GgmlType::Q8_K);
    check(GgmlType::IQ1_M, 16, false, GgmlType::Q8_K);
    check(GgmlType::TQ1_0, 32, false, GgmlType::Q8_K);
    QVERIFY(!dotIntForm(GgmlType::F16));
    QVERIFY(!dotIntForm(GgmlType::Q8_K));
}

void TestCodecsVecDotInt::decodeRefusesBadInput()
{
    std::vector<std::uint8_t> row(1024);
    std::vector<std::int8_t> codes(1024);
    std::vector<float> s(64);
    QVERIFY_THROWS_EXCEPTION(Error, decodeIntRow(GgmlType::F32, row.data(), 256, codes.data(),
                                                 s.data(), s.data()));
    QVERIFY_THROWS_EXCEPTION(Error, decodeIntRow(GgmlType::IQ2_XXS, row.data(), 128, codes.data(),
                                                 s.data(), s.data()));
}

QTEST_APPLESS_MAIN(TestCodecsVecDotInt)
#include "testcodecsvecdotint.moc"
