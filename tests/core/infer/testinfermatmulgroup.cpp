// matmulGroup(): several products in one region (MoE experts in generation) give exactly what
// matmul() gives for each, and that lies within a rounding bound of the double sum over the
// dequantized weights and the activations rounded as llama.cpp rounds them; shared inputs,
// biases, the batched and float-weight tasks it hands to matmul(), one and two threads.

#include "infer/activationrounding.h"
#include "infer/matmul.h"

#include "codecs/quantkernels.h"

#include <QTest>

#include <cmath>
#include <cstring>
#include <random>

using namespace QuantFit;
using namespace QuantFit::Infer;

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

struct Weight {
    std::vector<std::uint8_t> data;
    std::vector<float> dequantized;
    std::vector<float> bias;
    WeightMatrix w;
};

Weight makeWeight(GgmlType type, int nIn, int nOut, std::uint32_t seed, bool withBias)
{
    Weight m;
    const auto wf = randomVector(std::size_t(nIn) * nOut, seed, 0.05f);
    const std::size_t rowBytes = QuantFit::rowBytes(typeFacts(type), nIn);
    m.data.resize(rowBytes * std::size_t(nOut));
    m.dequantized.resize(wf.size());
    for (int o = 0; o < nOut; ++o) {
        const auto src = std::span(wf).subspan(std::size_t(o) * nIn, std::size_t(nIn));
        const auto dst = std::span(m.data).subspan(std::size_t(o) * rowBytes, rowBytes);
        if (type == GgmlType::F32)
            std::memcpy(dst.data(), src.data(), rowBytes);
        else
            quantizeRow(type, src, dst);
        dequantizeRow(type, dst, std::span(m.dequantized).subspan(std::size_t(o) * nIn,
                                                                   std::size_t(nIn)));
    }
    if (withBias)
        m.bias = randomVector(std::size_t(nOut), seed + 1, 1.f);
    m.w.name = "group.weight";
    m.w.type = type;
    m.w.data = m.data.data();
    m.w.nIn = nIn;
    m.w.nOut = nOut;
    m.w.rowBytes = rowBytes;
    m.w.bias = withBias ? m.bias.data() : nullptr;
    return m;
}

} // namespace

class TestInferMatmulGroup : public QObject
{
    Q_OBJECT

private slots:
    void groupEqualsSeparateProducts_data()
    {
        QTest::addColumn<int>("nTokens");
        QTest::addColumn<int>("nThreads");
        QTest::addColumn<bool>("portable");
        for (const int t : {1, 3, 5}) { // 5: batched, handed to matmul()
            for (const int threads : {1, 2}) {
                QTest::addRow("%d tokens, %d threads", t, threads) << t << threads << false;
            }
            QTest::addRow("%d tokens, portable", t) << t << 2 << true;
        }
    }

    void groupEqualsSeparateProducts()
    {
        QFETCH(int, nTokens);
        QFETCH(int, nThreads);
        QFETCH(bool, portable);
        constexpr int nIn = 512;
        const auto xShared = randomVector(std::size_t(nIn) * nTokens, 7, 1.f);
        const auto xOwn = randomVector(std::size_t(nIn) * nTokens, 8, 1.f);
        std::vector<Weight> weights;
        weights.push_back(makeWeight(GgmlType::Q4_K, nIn, 200, 11, false)); // shared x
        weights.push_back(makeWeight(GgmlType::Q6_K, nIn, 77, 12, true));   // shared x
        weights.push_back(makeWeight(GgmlType::Q8_0, nIn, 130, 13, true));  // own x
        weights.push_back(makeWeight(GgmlType::Q4_0, nIn, 16, 14, false));  // shared x
        weights.push_back(makeWeight(GgmlType::F32, nIn, 40, 15, false));   // handed to matmul()
        const std::vector<const float *> xs{xShared.data(), xShared.data(), xOwn.data(),
                                            xShared.data(), xShared.data()};
        std::vector<std::vector<float>> yGroup(weights.size());
        std::vector<MatmulTask> tasks;
        for (std::size_t i = 0; i < weights.size(); ++i) {
            yGroup[i].assign(std::size_t(weights[i].w.nOut) * nTokens, -1.f);
            tasks.push_back({&weights[i].w, xs[i], yGroup[i].data()});
        }
        const MatmulOptions options{.nThreads = nThreads, .portable = portable};
        matmulGroup(tasks, nTokens, options);

        for (std::size_t i = 0; i < weights.size(); ++i) {
            const WeightMatrix &w = weights[i].w;
            std::vector<float> ySeparate(std::size_t(w.nOut) * nTokens);
            matmul(w, xs[i], nTokens, ySeparate.data(), options);
            for (std::size_t j = 0; j < ySeparate.size(); ++j)
                QCOMPARE(yGroup[i][j], ySeparate[j]);

            // Independent check: dequant(W) . round(x) (+ bias) in double.
            const ActivationType act = activationTypeFor(w.type);
            for (int t = 0; t < nTokens; ++t) {
                std::vector<float> xr(nIn);
                roundActivationsPortable(act, xs[i] + std::size_t(t) * nIn, xr.data(), nIn);
                for (std::int64_t o = 0; o < w.nOut; ++o) {
                    double sum = w.bias ? w.bias[o] : 0.0;
                    double absSum = std::fabs(sum);
                    for (int k = 0; k < nIn; ++k) {
                        const double p = double(weights[i].dequantized[std::size_t(o) * nIn + k])
                            * xr[std::size_t(k)];
                        sum += p;
                        absSum += std::fabs(p);
                    }
                    const double got = yGroup[i][std::size_t(t) * w.nOut + std::size_t(o)];
                    QVERIFY2(std::fabs(got - sum) <= 1e-5 * absSum + 1e-6,
                             qPrintable(QStringLiteral("task %1 token %2 row %3: %4, expected %5")
                                            .arg(i).arg(t).arg(o).arg(got).arg(sum)));
                }
            }
        }
    }

    void emptyGroupAndEmptyTasks()
    {
        matmulGroup({}, 1, {});
        Weight m = makeWeight(GgmlType::Q4_K, 256, 4, 3, false);
        m.w.nOut = 0;
        const auto x = randomVector(256, 4, 1.f);
        const MatmulTask task{&m.w, x.data(), nullptr};
        matmulGroup(std::span(&task, 1), 1, {});
    }
};

QTEST_APPLESS_MAIN(TestInferMatmulGroup)
#include "testinfermatmulgroup.moc"
