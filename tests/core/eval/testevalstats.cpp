#include "eval/evalstats.h"

#include <QTest>

#include <cmath>
#include <vector>

using namespace QuantFit;

class TestEvalStats : public QObject
{
    Q_OBJECT

private slots:
    void tokenNllOfUniformRow()
    {
        const std::vector<float> logits(8, 3.0f);
        QVERIFY(std::abs(tokenNll(logits, 5) - std::log(8.0)) < 1e-6);
    }

    void tokenNllOfKnownRow()
    {
        // p = [0.5, 0.25, 0.125, 0.125] from logits that are shifted log-probs.
        const std::vector<float> logits{float(std::log(0.5)) + 7, float(std::log(0.25)) + 7,
                                        float(std::log(0.125)) + 7, float(std::log(0.125)) + 7};
        QVERIFY(std::abs(tokenNll(logits, 0) - std::log(2.0)) < 1e-6);
        QVERIFY(std::abs(tokenNll(logits, 3) - std::log(8.0)) < 1e-6);
        const LogitRowStats s = logitRowStats(logits);
        QCOMPARE(s.argMax, 0u);
        QVERIFY(std::abs(s.logSum - std::log(2.0)) < 1e-6); // Σ p/0.5 = 2
    }

    void argMaxTakesTheFirstOfEqualMaxima()
    {
        const std::vector<float> logits{1, 4, 2, 4};
        QCOMPARE(logitRowStats(logits).argMax, 1u);
    }

    void runningPerplexityAndError()
    {
        // nll 1, 2, 3: mean 2, v = 14/3 − 4 = 2/3, σ = sqrt(v / 2) = sqrt(1/3).
        PerplexityAccumulator acc;
        acc.add(1);
        acc.add(2);
        acc.add(3);
        QCOMPARE(acc.count(), 3u);
        QVERIFY(std::abs(acc.perplexity() - std::exp(2.0)) < 1e-12);
        QVERIFY(std::abs(acc.perplexityError() - std::exp(2.0) * std::sqrt(1.0 / 3.0)) < 1e-12);
        PerplexityAccumulator other;
        other.add(2);
        acc.merge(other);
        QCOMPARE(acc.count(), 4u);
        QVERIFY(std::abs(acc.meanNll() - 2.0) < 1e-12);
    }

    void emptyAndConstantAccumulators()
    {
        PerplexityAccumulator acc;
        QCOMPARE(acc.perplexity(), 1.0);
        QCOMPARE(acc.perplexityError(), 0.0);
        for (int i = 0; i < 5; ++i)
            acc.add(0.5);
        QCOMPARE(acc.perplexityError(), 0.0); // v == 0
    }

    void meanUncertaintyNeedsMoreThanTenValues()
    {
        QCOMPARE(meanUncertainty(10, 20, 10), 0.0);
        // 11 values: five 0, six 2 -> S1 = 12, S2 = 24; f = 12/11; v = 24/11 − f².
        const double f = 12.0 / 11.0;
        const double v = 24.0 / 11.0 - f * f;
        QVERIFY(std::abs(meanUncertainty(12, 24, 11) - std::sqrt(v / 10.0)) < 1e-15);
    }

    void covarianceNeedsTenValues()
    {
        QCOMPARE(covariance(1, 1, 1, 9), 0.0);
        QVERIFY(std::abs(covariance(10, 20, 30, 10) - (3.0 - 1.0 * 2.0) / 9.0) < 1e-15);
    }

    void percentileInterpolates()
    {
        const std::vector<float> v{1, 2, 3, 4};
        QCOMPARE(percentile(v, 0.0), 1.0f);
        QCOMPARE(percentile(v, 1.0), 4.0f);
        QCOMPARE(percentile(v, 0.5), 2.5f);   // p = 1.5
        QVERIFY(std::abs(percentile(v, 0.99) - 3.97f) < 1e-5f); // p = 2.97
        QCOMPARE(percentile(std::vector<float>{}, 0.5), 0.0f);
    }

    void medianOddAndEven()
    {
        QCOMPARE(median(std::vector<float>{1, 5, 9}), 5.0f);
        QCOMPARE(median(std::vector<float>{1, 5, 9, 11}), 7.0f);
    }

    void kldSummary()
    {
        KldAccumulator acc;
        // 20 tokens: current nll always ln 4 (p = 0.25), base nll ln 2 (p = 0.5); KLD 0.1 for
        // even tokens and 0.3 for odd; top token the same for 15 of 20.
        for (int i = 0; i < 20; ++i)
            acc.add(std::log(4.0), std::log(2.0), i % 2 ? 0.3 : 0.1, 0.0, i < 15);
        const KldSummary s = acc.summary();
        QCOMPARE(s.nTokens, 20u);
        QVERIFY(std::abs(s.pplQ - 4.0) < 1e-12);
        QVERIFY(std::abs(s.pplBase - 2.0) < 1e-12);
        QVERIFY(std::abs(s.pplRatio - 2.0) < 1e-12);
        QVERIFY(std::abs(s.pplDelta - 2.0) < 1e-12);
        QVERIFY(std::abs(s.lnRatio - std::log(2.0)) < 1e-12);
        QVERIFY(std::abs(s.kldMean - 0.2) < 1e-12);
        QVERIFY(std::abs(s.kldMedian - 0.2) < 1e-6); // mean of the middle 0.1 and 0.3
        QVERIFY(std::abs(s.kldMax - 0.3) < 1e-6);
        QVERIFY(std::abs(s.kldMin - 0.1) < 1e-6);
        QVERIFY(std::abs(s.kldP99 - 0.3) < 1e-6);
        QVERIFY(std::abs(s.sameTopPercent - 75.0) < 1e-12);
        QVERIFY(std::abs(s.sameTopPercentError - 100.0 * std::sqrt(0.75 * 0.25 / 19.0)) < 1e-9);
        QVERIFY(std::abs(s.rmsDpPercent - 25.0) < 1e-9);   // Δp = −0.25 every time
        QVERIFY(std::abs(s.meanDpPercent + 25.0) < 1e-9);
        QVERIFY(std::abs(s.maxAbsDpPercent - 25.0) < 1e-9);
        // KLD values alternate 0.1/0.3: variance 0.01, unc = sqrt(0.01 / 19).
        QVERIFY(std::abs(s.kldMeanError - std::sqrt(0.01 / 19.0)) < 1e-9);
    }
};

QTEST_APPLESS_MAIN(TestEvalStats)
#include "testevalstats.moc"
