// flashAttnRowF16(): the AVX-512 path equals the element-by-element reference bit for bit
// (rescales when the maximum grows, ties, an odd last position, widths that are not a multiple
// of 16, sinks above and below the maximum), and both stay within F16 accumulation error of
// the softmax-weighted mean of the values computed in double.

#include "infer/kernels.h"

#include "util/cpufeatures.h"
#include "util/fp16.h"

#include <QTest>

#include <cmath>
#include <cstring>
#include <random>

using namespace QuantFit;
using namespace QuantFit::Infer;

class TestInferFlashRow : public QObject
{
    Q_OBJECT

private slots:
    void simdEqualsReference_data()
    {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("dv");
        QTest::addColumn<int>("order"); // 0 random, 1 rising scores, 2 equal scores
        QTest::addColumn<int>("sinkKind"); // 0 none, 1 below the maximum, 2 above
        for (const int n : {1, 2, 3, 17, 64, 301})
            for (const int dv : {16, 24, 64, 80, 128})
                for (const int order : {0, 1, 2})
                    QTest::addRow("n %d dv %d order %d", n, dv, order) << n << dv << order
                                                                        << (n + dv) % 3;
    }

    void simdEqualsReference()
    {
        QFETCH(int, n);
        QFETCH(int, dv);
        QFETCH(int, order);
        QFETCH(int, sinkKind);
        std::mt19937 rng(std::uint32_t(n * 131 + dv * 7 + order));
        std::normal_distribution<float> g(0.f, 3.f);
        std::vector<float> scores(static_cast<std::size_t>(n));
        for (int j = 0; j < n; ++j)
            scores[std::size_t(j)] = order == 0 ? g(rng) : order == 1 ? 0.25f * float(j) : 1.5f;
        const std::size_t stride = std::size_t(n) + 5;
        std::vector<std::uint16_t> v(std::size_t(dv) * stride);
        for (auto &h : v)
            h = fp32ToFp16(g(rng));
        float maxScore = -INFINITY;
        for (const float s : scores)
            maxScore = std::max(maxScore, s);
        const float sinkValue = sinkKind == 1 ? maxScore - 2.f : maxScore + 1.f;
        const float *sink = sinkKind ? &sinkValue : nullptr;

        std::vector<float> simd(static_cast<std::size_t>(dv));
        std::vector<float> ref(static_cast<std::size_t>(dv));
        flashAttnRowF16(scores.data(), n, v.data(), stride, dv, sink, simd.data());
        flashAttnRowF16Portable(scores.data(), n, v.data(), stride, dv, sink, ref.data());
        QVERIFY(std::memcmp(simd.data(), ref.data(), simd.size() * sizeof(float)) == 0);

        // softmax(scores, sink) . v in double
        double denom = sink ? std::exp(double(*sink) - maxScore) : 0.0;
        for (const float s : scores)
            denom += std::exp(double(s) - maxScore);
        for (int d = 0; d < dv; ++d) {
            double num = 0;
            double absNum = 0;
            for (int j = 0; j < n; ++j) {
                const double p = std::exp(double(scores[std::size_t(j)]) - maxScore);
                const double x = fp16ToFp32(v[std::size_t(d) * stride + std::size_t(j)]);
                num += p * x;
                absNum += p * std::fabs(x);
            }
            // F16 accumulation: a relative error of 2^-11 per step, n steps at most.
            const double bound = (absNum / denom) * (n + 1) * 0x1p-11 + 1e-6;
            QVERIFY2(std::fabs(double(ref[std::size_t(d)]) - num / denom) <= bound,
                     qPrintable(QStringLiteral("element %1: %2, expected %3 (bound %4)")
                                    .arg(d).arg(ref[std::size_t(d)]).arg(num / denom).arg(bound)));
        }
        if (!cpuFeatures().avx512)
            qInfo("CPU without AVX-512: both calls ran the reference");
    }
};

QTEST_APPLESS_MAIN(TestInferFlashRow)
#include "testinferflashrow.moc"
