// Integer dot products in the forward pass's matmul for every quantized weight type with an
// integer form (codecs/vecdot.h): the batched panel kernels (16-row AVX-512, 8-row AVX-VNNI)
// and the small-batch row dots (AVX-512, AVX2, portable) against dequant(W) . round(x) summed
// in double, round being llama.cpp's activation type for the weight (Q8_0, Q8_1 or Q8_K,
// activationrounding.h), and for Q4_1/Q5_1 (Q8_1) each block's min term m * fp16(d * sum(q)) as
// llama.cpp takes it; the two panel kernels bit-identical; the Q8 activation blocks equal to
// what roundActivations() gives.

#include "infer/activationrounding.h"
#include "infer/matmul.h"
#include "infer/matmulq8.h"

#include "codecs/quantkernels.h"
#include "codecs/vecdot.h"
#include "util/cpufeatures.h"
#include "util/fp16.h"

#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

using namespace QuantFit;
using namespace QuantFit::Infer;

Q_DECLARE_METATYPE(QuantFit::GgmlType)

namespace {

std::vector<float> randomVector(std::size_t n, std::uint32_t seed, float scale)
{
    std::mt19937 rng(seed);
    std::student_t_distribution<float> d(4.f);
    std::vector<float> v(n);
    for (auto &x : v)
        x = d(rng) * scale;
    return v;
}

struct Case {
    std::vector<std::uint8_t> wq;
    std::vector<float> wd; // dequantized weights
    std::vector<float> x;
    std::vector<float> xr; // rounded activations
    std::vector<float> bias;
    WeightMatrix w;
};

Case makeCase(GgmlType type, int nIn, int nOut, int nTokens)
{
    Case c;
    const auto wf = randomVector(std::size_t(nIn) * nOut, 41, 0.05f);
    c.x = randomVector(std::size_t(nIn) * nTokens, 42, 1.f);
    c.x[3] = 0.f;
    c.x[std::size_t(nIn) / 2] = -25.f; // a negative extreme for Q8_K
    c.bias = randomVector(std::size_t(nOut), 43, 1.f);
    const std::size_t rowBytes = QuantFit::rowBytes(typeFacts(type), nIn);
    c.wq.resize(rowBytes * std::size_t(nOut));
    c.wd.resize(wf.size());
    for (int o = 0; o < nOut; ++o) {
        quantizeRow(type, std::span(wf).subspan(std::size_t(o) * nIn, std::size_t(nIn)),
                    std::span(c.wq).subspan(std::size_t(o) * rowBytes, rowBytes));
        dequantizeRow(type, std::span(c.wq).subspan(std::size_t(o) * rowBytes, rowBytes),
                      std::span(c.wd).subspan(std::size_t(o) * nIn, std::size_t(nIn)));
    }
    c.xr.resize(c.x.size());
    for (int t = 0; t < nTokens; ++t)
        roundActivationsPortable(activationTypeFor(type), c.x.data() + std::size_t(t) * nIn,
                                 c.xr.data() + std::size_t(t) * nIn, nIn);
    c.w.name = "int.weight";
    c.w.type = type;
    c.w.data = c.wq.data();
    c.w.nIn = nIn;
    c.w.nOut = nOut;
    c.w.rowBytes = rowBytes;
    c.w.bias = c.bias.data();
    return c;
}

// llama.cpp's Q4_1/Q5_1 min term against the dequantized one, per weight block: the dot of a
// block is d_w * d_x * sum(c * q) + m * s with s = fp16(d * sum(q)) (d = amax/127 before its
// fp16 rounding; quantize_row_q8_1), while dequant(w) . round(x) holds m * fp16(d) * sum(q).
// Returns sum over blocks of m * (s - fp16(d) * sum(q)) for row o and token t, from the spec's
// formulas (codes round half to even, as the x86 quantizer).
double q8_1MinCorrection(const Case &c, int t, std::int64_t o)
{
    const std::int64_t nIn = c.w.nIn;
    const std::size_t blockBytes = typeFacts(c.w.type).blockBytes;
    double fix = 0;
    for (std::int64_t b = 0; b < nIn / 32; ++b) {
        const float *xb = c.x.data() + std::size_t(t * nIn + 32 * b);
        float amax = 0.f;
        for (int j = 0; j < 32; ++j)
            amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        int sum = 0;
        for (int j = 0; j < 32; ++j)
            sum += int(std::nearbyint(xb[j] * id));
        std::uint16_t mh; // Q4_1 and Q5_1 keep m at byte 2 of the block
        std::memcpy(&mh, c.wq.data() + std::size_t(o) * c.w.rowBytes + b * blockBytes + 2, 2);
        fix += double(fp16ToFp32(mh)) * (double(roundFp16(d * float(sum))) - double(roundFp16(d)) * sum);
    }
    return fix;
}

// y against the double sum over dequantized weights and rounded activations (with the Q8_1
// min-term correction); the bound is a few float roundings per sub-block partial sum of the
// |terms|.
QString compare(const Case &c, int nTokens, const std::vector<float> &y)
{
    const std::int64_t nIn = c.w.nIn;
    const std::int64_t nOut = c.w.nOut;
    const bool q81 = activationTypeFor(c.w.type) == ActivationType::Q8_1;
    for (int t = 0; t < nTokens; ++t) {
        for (std::int64_t o = 0; o < nOut; ++o) {
            double e = c.bias[std::size_t(o)];
            double mag = std::fabs(e);
            if (q81)
                e += q8_1MinCorrection(c, t, o);
            for (std::int64_t i = 0; i < nIn; ++i) {
                const double p = double(c.wd[std::size_t(o * nIn + i)]) * c.xr[std::size_t(t * nIn + i)];
                e += p;
                mag += std::fabs(p);
            }
            const float got = y[std::size_t(t * nOut + o)];
            if (!(std::fabs(got - e) <= 2e-6 * mag + 1e-30))
                return QStringLiteral("token %1 row %2: %3, expected %4 (sum |terms| %5)")
                    .arg(t).arg(o).arg(got).arg(e).arg(mag);
        }
    }
    return {};
}

void addTypes()
{
    QTest::addColumn<GgmlType>("type");
    for (const TypeFacts &f : allTypeFacts()) {
        if (dotIntForm(f.type))
            QTest::newRow(f.name.data()) << f.type;
    }
}

} // namespace

class TestInferMatmulInt : public QObject
{
    Q_OBJECT

private slots:
    void batchedIntegerPath_data() { addTypes(); }
    void batchedIntegerPath()
    {
        QFETCH(GgmlType, type);
        // 17 rows: one whole 16-row panel and a partial one (and 2 + 1 panels of 8); 13 tokens:
        // two full token blocks and a partial one.
        const int nIn = 512, nOut = 17, nTokens = 13;
        const Case c = makeCase(type, nIn, nOut, nTokens);
        if (!canMatmulInt8(c.w))
            QSKIP("this CPU has neither AVX-512 VNNI nor AVX-VNNI: no integer panels");
        std::vector<float> wide(std::size_t(nOut) * nTokens, -999.f);
        matmulInt8(c.w, c.x.data(), nTokens, wide.data(), 2, nullptr, true);
        const QString err = compare(c, nTokens, wide);
        QVERIFY2(err.isEmpty(), qPrintable(err));
        // matmul() takes the integer path for batches
        std::vector<float> viaMatmul(wide.size(), -999.f);
        matmul(c.w, c.x.data(), nTokens, viaMatmul.data(), {.nThreads = 2});
        QVERIFY(viaMatmul == wide);
        if (canMatmulInt8(c.w, false)) {
            // The 8-row AVX-VNNI kernel does the same float operations per output.
            std::vector<float> narrow(wide.size(), -999.f);
            matmulInt8(c.w, c.x.data(), nTokens, narrow.data(), 2, nullptr, false);
            QVERIFY(narrow == wide);
        } else {
            qInfo("no AVX-VNNI: the 8-row kernel was not compared");
        }
    }

    void smallBatchRowDots_data() { addTypes(); }
    void smallBatchRowDots()
    {
        QFETCH(GgmlType, type);
        const int nIn = 768 - 768 % int(typeFacts(type).blockSize), nOut = 70, nTokens = 2;
        const Case c = makeCase(type, nIn, nOut, nTokens);
        for (const auto &[portable, avx512] : {std::pair(false, true), std::pair(false, false),
                                               std::pair(true, false)}) {
            std::vector<float> y(std::size_t(nOut) * nTokens, -999.f);
            matmul(c.w, c.x.data(), nTokens, y.data(),
                   {.nThreads = 2, .portable = portable, .allowAvx512 = avx512});
            const QString err = compare(c, nTokens, y);
            QVERIFY2(err.isEmpty(), qPrintable(QStringLiteral("portable %1 avx512 %2: %3")
                                                   .arg(portable).arg(avx512).arg(err)));
        }
    }

    // Q4_1/Q5_1 take the min term from the Q8_1 block sum in every path. By hand: 32
    // activations of 1.0 give codes 127, d = 1/127 (fp16 0.00787353515625) and s = fp16(4064 /
    // 127) = 32; weights with d = 0, m = 1 are the constant 1, so each 32-element block adds
    // m * s = 32 and a 512-element row gives 512 exactly. The old rule, m * fp16(d) * sum(q),
    // gave 16 * 31.998046875 = 511.96875.
    void q8_1MinTermUsesBlockSum_data()
    {
        QTest::addColumn<GgmlType>("type");
        QTest::newRow("q4_1") << GgmlType::Q4_1;
        QTest::newRow("q5_1") << GgmlType::Q5_1;
    }
    void q8_1MinTermUsesBlockSum()
    {
        QFETCH(GgmlType, type);
        const int nIn = 512, nOut = 20, nTokens = 20;
        const std::size_t blockBytes = typeFacts(type).blockBytes;
        const std::size_t rowBytes = std::size_t(nIn / 32) * blockBytes;
        std::vector<std::uint8_t> wq(rowBytes * nOut, 0xA5); // any codes
        for (std::size_t b = 0; b < wq.size() / blockBytes; ++b) {
            const std::uint16_t zero = 0, one = 0x3C00;
            std::memcpy(wq.data() + b * blockBytes, &zero, 2);
            std::memcpy(wq.data() + b * blockBytes + 2, &one, 2);
        }
        const WeightMatrix w{.name = "min.weight", .type = type, .data = wq.data(), .nIn = nIn,
                             .nOut = nOut, .rowBytes = rowBytes};
        const std::vector<float> x(std::size_t(nIn) * nTokens, 1.f);
        const std::vector<float> want(std::size_t(nOut) * nTokens, 512.f);
        if (canMatmulInt8(w)) {
            std::vector<float> y(want.size(), -999.f);
            matmulInt8(w, x.data(), nTokens, y.data(), 2, nullptr, true);
            QCOMPARE(y, want);
        }
        // batched (integer panels, or the row dots without them) and small batches, every path
        for (const int tokens : {nTokens, 2}) {
            for (const auto &[portable, avx512] : {std::pair(false, true), std::pair(false, false),
                                                   std::pair(true, false)}) {
                std::vector<float> y(std::size_t(nOut) * tokens, -999.f);
                matmul(w, x.data(), tokens, y.data(),
                       {.nThreads = 2, .portable = portable, .allowAvx512 = avx512});
                QVERIFY2(y == std::vector<float>(y.size(), 512.f),
                         qPrintable(QStringLiteral("tokens %1 portable %2 avx512 %3: %4")
                                        .arg(tokens).arg(portable).arg(avx512).arg(y[0])));
            }
        }
    }

    // The Q8 blocks decode to exactly the values roundActivations() gives; Q8_1's block sum is
    // fp16(amax/127 * sum(q)).
    void activationBlocksMatchRounding()
    {
        const std::int64_t n = 1024;
        auto x = randomVector(std::size_t(n), 44, 2.f);
        std::fill(x.begin() + 256, x.begin() + 512, 0.f); // an all-zero Q8_K block
        x[700] = -40.f;
        {
            // Q8_1: Q8_0's d and codes, 36-byte blocks with s at byte 2
            std::vector<std::uint8_t> q80(std::size_t(activationQ8Bytes(ActivationType::Q8_0, n)));
            std::vector<std::uint8_t> q81(std::size_t(activationQ8Bytes(ActivationType::Q8_1, n)));
            QCOMPARE(q81.size(), std::size_t(n / 32 * 36));
            quantizeActivationsQ8(ActivationType::Q8_0, x.data(), q80.data(), n);
            quantizeActivationsQ8(ActivationType::Q8_1, x.data(), q81.data(), n);
            for (std::int64_t b = 0; b < n / 32; ++b) {
                const std::uint8_t *p0 = q80.data() + 34 * b;
                const std::uint8_t *p1 = q81.data() + 36 * b;
                QCOMPARE(std::memcmp(p0, p1, 2), 0);
                QCOMPARE(std::memcmp(p0 + 2, p1 + 4, 32), 0);
                float amax = 0.f;
                int sum = 0;
                for (int j = 0; j < 32; ++j) {
                    amax = std::max(amax, std::fabs(x[std::size_t(32 * b + j)]));
                    sum += std::int8_t(p1[4 + j]);
                }
                std::uint16_t sh;
                std::memcpy(&sh, p1 + 2, 2);
                QCOMPARE(sh, fp32ToFp16(amax / 127.f * float(sum)));
            }
        }
        for (const auto &[type, act] : {std::pair(ActivationType::Q8_0, GgmlType::Q8_0),
                                       std::pair(ActivationType::Q8_K, GgmlType::Q8_K)}) {
            std::vector<std::uint8_t> blocks(std::size_t(activationQ8Bytes(type, n)));
            QCOMPARE(blocks.size(), rowBytes(typeFacts(act), n));
            quantizeActivationsQ8(type, x.data(), blocks.data(), n);
            std::vector<float> fromBlocks(static_cast<std::size_t>(n)), rounded(static_cast<std::size_t>(n));
            dequantizeRow(act, blocks, fromBlocks);
            roundActivations(type, x.data(), rounded.data(), n);
            // value for value (the rounding may keep a -0 where a block's code 0 gives +0)
            QVERIFY(fromBlocks == rounded);
            if (act == GgmlType::Q8_K) {
                // bsums: the sums of 16 codes
                for (int b = 0; b < n / 256; ++b) {
                    const std::uint8_t *p = blocks.data() + 292 * b;
                    for (int g = 0; g < 16; ++g) {
                        int sum = 0;
                        for (int j = 0; j < 16; ++j)
                            sum += std::int8_t(p[4 + 16 * g + j]);
                        std::int16_t stored;
                        std::memcpy(&stored, p + 260 + 2 * g, 2);
                        QCOMPARE(int(stored), sum);
                    }
                }
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestInferMatmulInt)
#include "testinfermatmulint.moc"
