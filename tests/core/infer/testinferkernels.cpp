// The forward pass's kernels: AVX2 paths against the portable ones and against values computed
// by hand or in double precision; matrix products against a double reference; the sampler.

#include "infer/activationrounding.h"
#include "infer/kernels.h"
#include "infer/matmul.h"
#include "infer/matmulq8.h"
#include "infer/sampler.h"

#include "codecs/quantkernels.h"
#include "util/fp16.h"

#include <QTest>

#include <cmath>
#include <random>

using namespace QuantFit;
using namespace QuantFit::Infer;

namespace {

std::vector<float> randomVector(int n, std::uint32_t seed, float scale = 1.0f)
{
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-scale, scale);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto &x : v)
        x = d(rng);
    return v;
}

} // namespace

class TestInferKernels : public QObject
{
    Q_OBJECT

private slots:
    void fastEqualsPortable_data()
    {
        QTest::addColumn<int>("n");
        for (int n : {1, 7, 8, 9, 31, 64, 100, 257, 1000})
            QTest::addRow("n=%d", n) << n;
    }

    void fastEqualsPortable()
    {
        QFETCH(int, n);
        if (!haveAvx2())
            QSKIP("this CPU has no AVX2/FMA/F16C: only the portable path runs");
        const Kernels &fast = Kernels::best();
        const Kernels &ref = Kernels::portable();
        const auto a = randomVector(n, 1);
        const auto b = randomVector(n, 2);
        std::vector<std::uint16_t> bh(a.size());
        double exact = 0, exactH = 0;
        for (int i = 0; i < n; ++i) {
            bh[std::size_t(i)] = fp32ToFp16(b[std::size_t(i)]);
            exact += double(a[std::size_t(i)]) * b[std::size_t(i)];
            exactH += double(a[std::size_t(i)]) * fp16ToFp32(bh[std::size_t(i)]);
        }
        const double tol = 1e-5 * std::sqrt(double(n)) + 1e-6;
        QVERIFY(std::abs(fast.dotF32(a.data(), b.data(), n) - exact) < tol);
        QVERIFY(std::abs(ref.dotF32(a.data(), b.data(), n) - exact) < tol);
        QVERIFY(std::abs(fast.dotF16(a.data(), bh.data(), n) - exactH) < tol);
        QVERIFY(std::abs(ref.dotF16(a.data(), bh.data(), n) - exactH) < tol);

        auto y1 = b, y2 = b;
        fast.axpyF32(0.7f, a.data(), y1.data(), n);
        ref.axpyF32(0.7f, a.data(), y2.data(), n);
        for (int i = 0; i < n; ++i)
            QVERIFY(std::abs(y1[std::size_t(i)] - y2[std::size_t(i)]) < 1e-6f);
        y1 = a;
        y2 = a;
        fast.axpyF16(-1.5f, bh.data(), y1.data(), n);
        ref.axpyF16(-1.5f, bh.data(), y2.data(), n);
        for (int i = 0; i < n; ++i)
            QVERIFY(std::abs(y1[std::size_t(i)] - y2[std::size_t(i)]) < 1e-6f);

        // softmax over a wide range (exp of large negative values must not break it)
        auto s1 = randomVector(n, 3, 40.0f), s2 = s1;
        fast.softmax(s1.data(), n);
        ref.softmax(s2.data(), n);
        double sum = 0;
        for (int i = 0; i < n; ++i) {
            QVERIFY(std::abs(s1[std::size_t(i)] - s2[std::size_t(i)])
                    <= 1e-6f * s2[std::size_t(i)] + 1e-30f);
            sum += s1[std::size_t(i)];
        }
        QVERIFY(std::abs(sum - 1.0) < 1e-5);

        auto g1 = randomVector(n, 4, 12.0f), g2 = g1;
        fast.swiglu(g1.data(), b.data(), n);
        ref.swiglu(g2.data(), b.data(), n);
        for (int i = 0; i < n; ++i)
            QVERIFY(std::abs(g1[std::size_t(i)] - g2[std::size_t(i)])
                    <= 1e-6f * (1 + std::abs(g2[std::size_t(i)])));

        std::vector<float> o1(a.size()), o2(a.size());
        fast.rmsNorm(a.data(), b.data(), o1.data(), n, 1e-5f);
        ref.rmsNorm(a.data(), b.data(), o2.data(), n, 1e-5f);
        double ss = 0;
        for (float v : a)
            ss += double(v) * v;
        const double r = 1.0 / std::sqrt(ss / n + 1e-5);
        for (int i = 0; i < n; ++i) {
            const double expected = a[std::size_t(i)] * r * b[std::size_t(i)];
            QVERIFY(std::abs(o1[std::size_t(i)] - expected) < 1e-5 * (1 + std::abs(expected)));
            QVERIFY(std::abs(o2[std::size_t(i)] - expected) < 1e-5 * (1 + std::abs(expected)));
        }
    }

    void softmaxByHand()
    {
        // exp(0) : exp(ln 2) : exp(ln 4) = 1 : 2 : 4
        for (const Kernels *k : {&Kernels::best(), &Kernels::portable()}) {
            std::vector<float> x(9, -1000.0f);
            x[0] = 0.0f;
            x[4] = std::log(2.0f);
            x[8] = std::log(4.0f);
            k->softmax(x.data(), 9);
            QVERIFY(std::abs(x[0] - 1.0f / 7) < 1e-6f);
            QVERIFY(std::abs(x[4] - 2.0f / 7) < 1e-6f);
            QVERIFY(std::abs(x[8] - 4.0f / 7) < 1e-6f);
            QVERIFY(x[1] < 1e-30f);
        }
    }

    void matmulMatchesReference_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("nIn");
        QTest::addColumn<int>("nOut");
        QTest::addColumn<int>("nTokens");
        for (int type : {int(GgmlType::F32), int(GgmlType::F16)}) {
            for (int nOut : {1, 15, 16, 17, 40}) {
                for (int nTokens : {1, 3, 4, 7, 13}) {
                    QTest::addRow("%s out=%d tokens=%d", type == 0 ? "f32" : "f16", nOut, nTokens)
                        << type << 72 << nOut << nTokens;
                }
            }
        }
    }

    void matmulMatchesReference()
    {
        QFETCH(int, type);
        QFETCH(int, nIn);
        QFETCH(int, nOut);
        QFETCH(int, nTokens);
        const auto wf = randomVector(nIn * nOut, 11);
        const auto x = randomVector(nIn * nTokens, 12);
        const auto bias = randomVector(nOut, 13);
        std::vector<std::uint16_t> wh(wf.size());
        std::vector<double> wd(wf.size());
        for (std::size_t i = 0; i < wf.size(); ++i) {
            wh[i] = fp32ToFp16(wf[i]);
            wd[i] = type == int(GgmlType::F16) ? double(fp16ToFp32(wh[i])) : double(wf[i]);
        }
        WeightMatrix w;
        w.name = "test.weight";
        w.type = GgmlType(type);
        w.data = type == int(GgmlType::F16) ? reinterpret_cast<const std::uint8_t *>(wh.data())
                                            : reinterpret_cast<const std::uint8_t *>(wf.data());
        w.nIn = nIn;
        w.nOut = nOut;
        w.rowBytes = std::uint64_t(nIn) * (type == int(GgmlType::F16) ? 2 : 4);
        w.bias = bias.data();

        for (bool portable : {false, true}) {
            for (int minBatched : {4, 1, 1000}) {
                std::vector<float> y(std::size_t(nTokens) * std::size_t(nOut), -999.0f);
                matmul(w, x.data(), nTokens, y.data(),
                       {.nThreads = 2, .portable = portable, .minBatchedTokens = minBatched,
                        .roundActivations = false});
                for (int t = 0; t < nTokens; ++t) {
                    for (int o = 0; o < nOut; ++o) {
                        double e = bias[std::size_t(o)];
                        for (int i = 0; i < nIn; ++i)
                            e += wd[std::size_t(o) * nIn + i] * x[std::size_t(t) * nIn + i];
                        const float got = y[std::size_t(t) * nOut + o];
                        if (std::abs(got - e) > 1e-5 * (1 + std::abs(e)))
                            QFAIL(qPrintable(QStringLiteral("t=%1 o=%2: %3 vs %4")
                                                 .arg(t).arg(o).arg(got).arg(e)));
                    }
                }
            }
        }
    }

    void integerPathMatchesRounded_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("nOut");
        QTest::addColumn<int>("nTokens");
        for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::IQ4_NL, GgmlType::IQ4_XS,
                              GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                              GgmlType::Q6_K})
            for (int nOut : {1, 7, 8, 9, 40})
                for (int nTokens : {4, 7, 13})
                    QTest::addRow("%s out=%d tokens=%d", qPrintable(ggmlTypeName(type)), nOut,
                                  nTokens)
                        << int(type) << nOut << nTokens;
    }

    void integerPathMatchesRounded()
    {
        // The integer path must give dequant(W) . round(x) (round = Q8_0 or Q8_K, per the
        // weight type), which the F32 path computes from the rounded activations; both against a
        // double-precision sum.
        QFETCH(int, type);
        QFETCH(int, nOut);
        QFETCH(int, nTokens);
        const GgmlType t = GgmlType(type);
        const int nIn = 512;
        const auto wf = randomVector(nIn * nOut, 31);
        auto x = randomVector(nIn * nTokens, 32, 4.0f);
        x[5] = 0.0f;
        x[300] = -11.0f; // a negative extreme for Q8_K
        const auto bias = randomVector(nOut, 33);
        const std::size_t rowBytes = std::size_t(QuantFit::rowBytes(typeFacts(t), nIn));
        std::vector<std::uint8_t> wq(rowBytes * std::size_t(nOut));
        std::vector<float> wd(wf.size());
        for (int o = 0; o < nOut; ++o) {
            quantizeRow(t, std::span(wf).subspan(std::size_t(o) * nIn, std::size_t(nIn)),
                        std::span(wq).subspan(std::size_t(o) * rowBytes, rowBytes));
            dequantizeRow(t, std::span(wq).subspan(std::size_t(o) * rowBytes, rowBytes),
                          std::span(wd).subspan(std::size_t(o) * nIn, std::size_t(nIn)));
        }
        std::vector<float> xr(x.size());
        for (int k = 0; k < nTokens; ++k)
            roundActivations(activationTypeFor(t), x.data() + k * nIn, xr.data() + k * nIn, nIn);
        WeightMatrix w;
        w.name = "int8.weight";
        w.type = t;
        w.data = wq.data();
        w.nIn = nIn;
        w.nOut = nOut;
        w.rowBytes = rowBytes;
        w.bias = bias.data();
        if (!canMatmulInt8(w))
            QSKIP("this CPU has no AVX-VNNI: the integer path is not used");
        std::vector<float> yInt(std::size_t(nTokens) * nOut), yF32(yInt.size());
        matmulInt8(w, x.data(), nTokens, yInt.data(), 2);
        matmul(w, x.data(), nTokens, yF32.data(), {.nThreads = 2, .portable = true});
        for (int k = 0; k < nTokens; ++k) {
            for (int o = 0; o < nOut; ++o) {
                double e = bias[std::size_t(o)];
                double mag = 1;
                for (int i = 0; i < nIn; ++i) {
                    const double p = double(wd[std::size_t(o) * nIn + i]) * xr[std::size_t(k) * nIn + i];
                    e += p;
                    mag += std::abs(p);
                }
                const std::size_t idx = std::size_t(k) * nOut + o;
                QVERIFY2(std::abs(yInt[idx] - e) < 2e-6 * mag,
                         qPrintable(QStringLiteral("%1 vs %2").arg(yInt[idx]).arg(e)));
                QVERIFY(std::abs(yF32[idx] - e) < 2e-6 * mag);
            }
        }
    }

    void activationRoundingByHand()
    {
        QCOMPARE(activationTypeFor(GgmlType::Q4_K), ActivationType::Q8_K);
        QCOMPARE(activationTypeFor(GgmlType::Q4_1), ActivationType::Q8_1);
        QCOMPARE(activationTypeFor(GgmlType::IQ4_NL), ActivationType::Q8_0);
        QCOMPARE(activationTypeFor(GgmlType::F32), ActivationType::F32);

        // Q8_0 with amax 127: d = 1, q = x rounded half to even.
        std::vector<float> x(32, 0.0f);
        x[0] = 127.0f;
        x[1] = 2.5f;
        x[2] = -3.5f;
        x[3] = 0.5f;
        x[4] = 1.5f;
        x[5] = -0.4f;
        std::vector<float> out(32, -1.0f);
        roundActivations(ActivationType::Q8_0, x.data(), out.data(), 32);
        const std::vector<float> expected = {127.0f, 2.0f, -4.0f, 0.0f, 2.0f, -0.0f};
        for (std::size_t i = 0; i < expected.size(); ++i)
            QCOMPARE(out[i], expected[i]);
        QCOMPARE(out[31], 0.0f);

        // Q8_0 with amax 63.5: d = 0.5 (exact in fp16), id = 2; 1.25 -> 2.5 -> 2 -> 1.0.
        x.assign(32, 0.0f);
        x[0] = 63.5f;
        x[1] = 1.25f;
        x[2] = 1.3f;
        roundActivations(ActivationType::Q8_0, x.data(), out.data(), 32);
        QCOMPARE(out[0], 63.5f);
        QCOMPARE(out[1], 1.0f);
        QCOMPARE(out[2], 1.5f);

        // Q8_K with the extreme negative: iscale = 1; the extreme positive: iscale = -1.
        std::vector<float> k(256, 0.0f), ko(256);
        k[0] = -127.0f;
        k[1] = 2.5f;
        k[2] = 100.2f;
        roundActivations(ActivationType::Q8_K, k.data(), ko.data(), 256);
        QCOMPARE(ko[0], -127.0f);
        QCOMPARE(ko[1], 2.0f);
        QCOMPARE(ko[2], 100.0f);
        k[0] = 127.0f;
        roundActivations(ActivationType::Q8_K, k.data(), ko.data(), 256);
        QCOMPARE(ko[0], 127.0f);
        QCOMPARE(ko[1], 2.0f);

        // F16 / BF16 rounding.
        const float v = 1.0f + 1.0f / 4096.0f; // between halves: rounds to 1 (even)
        roundActivations(ActivationType::F16, &v, out.data(), 1);
        QCOMPARE(out[0], 1.0f);
        const float b = 1.0f + 1.0f / 128.0f; // bf16 keeps 7 mantissa bits: exact
        roundActivations(ActivationType::BF16, &b, out.data(), 1);
        QCOMPARE(out[0], b);
    }

    void activationRoundingFastEqualsPortable()
    {
        for (const ActivationType type : {ActivationType::F16, ActivationType::BF16,
                                          ActivationType::Q8_0, ActivationType::Q8_K}) {
            for (const int n : {256, 512 + 40}) {
                auto x = randomVector(n, 21, 3.0f);
                x[7] = -9.0f;  // a negative extreme (Q8_K uses the signed value)
                x[300 % n] = 0.0f;
                std::vector<float> fast(x.size()), ref(x.size());
                roundActivations(type, x.data(), fast.data(), n);
                roundActivationsPortable(type, x.data(), ref.data(), n);
                QCOMPARE(fast, ref);
            }
        }
    }

    void samplerGreedy()
    {
        const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
        QCOMPARE(Sampler::greedy(logits), 1); // lowest id on ties
        Sampler s({.temperature = 0.0});
        QCOMPARE(s.sample(logits), 1);
        Sampler topOne({.temperature = 1.0, .topK = 1, .seed = 5});
        for (int i = 0; i < 20; ++i)
            QCOMPARE(topOne.sample(logits), 1);
        Sampler tinyP({.temperature = 1.0, .topK = 0, .topP = 1e-6, .seed = 5});
        QCOMPARE(tinyP.sample(logits), 1);
    }

    void samplerSeedAndDistribution()
    {
        // p(1) = 3/4 with logits {0, ln 3} at temperature 1.
        const std::vector<float> logits = {0.0f, std::log(3.0f)};
        Sampler a({.temperature = 1.0, .topK = 0, .topP = 1.0, .seed = 42});
        Sampler b({.temperature = 1.0, .topK = 0, .topP = 1.0, .seed = 42});
        int ones = 0;
        const int n = 4000;
        for (int i = 0; i < n; ++i) {
            const int t = a.sample(logits);
            QCOMPARE(b.sample(logits), t);
            ones += t;
        }
        QVERIFY2(std::abs(double(ones) / n - 0.75) < 0.03, qPrintable(QString::number(ones)));

        // Temperature 0.5 squares the odds: p(1) = 9/10.
        Sampler c({.temperature = 0.5, .topK = 0, .topP = 1.0, .seed = 1});
        ones = 0;
        for (int i = 0; i < n; ++i)
            ones += c.sample(logits);
        QVERIFY2(std::abs(double(ones) / n - 0.9) < 0.02, qPrintable(QString::number(ones)));

        // Top-p cuts on the raw distribution (0.6, 0.3, 0.1): 0.85 keeps two tokens; the
        // temperature (2) then applies to the survivors: p(0) = sqrt 6 / (sqrt 6 + sqrt 3).
        const std::vector<float> three = {std::log(6.0f), std::log(3.0f), 0.0f};
        Sampler d({.temperature = 2.0, .topK = 0, .topP = 0.85, .seed = 3});
        int zeros = 0;
        for (int i = 0; i < n; ++i) {
            const int t = d.sample(three);
            QVERIFY(t != 2);
            zeros += t == 0;
        }
        const double expected = std::sqrt(6.0) / (std::sqrt(6.0) + std::sqrt(3.0));
        QVERIFY2(std::abs(double(zeros) / n - expected) < 0.03, qPrintable(QString::number(zeros)));
    }
};

QTEST_APPLESS_MAIN(TestInferKernels)
#include "testinferkernels.moc"
