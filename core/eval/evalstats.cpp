#include "evalstats.h"

#include <algorithm>
#include <cmath>

namespace QuantFit {

LogitRowStats logitRowStats(std::span<const float> logits)
{
    LogitRowStats s;
    if (logits.empty())
        return s;
    s.max = logits[0];
    for (std::size_t i = 1; i < logits.size(); ++i) {
        if (logits[i] > s.max) {
            s.max = logits[i];
            s.argMax = std::uint32_t(i);
        }
    }
    // Why float exp with a double sum: this is what llama-perplexity does, and the reference
    // values are reproduced to the last printed digit only with the same rounding.
    double sum = 0;
    for (const float z : logits)
        sum += double(std::exp(z - s.max));
    s.logSum = std::log(sum);
    return s;
}

double tokenNll(std::span<const float> logits, std::uint32_t next)
{
    const LogitRowStats s = logitRowStats(logits);
    const float lp = logits[next] - s.max - float(s.logSum);
    return -double(lp);
}

//
// PerplexityAccumulator
//

void PerplexityAccumulator::merge(const PerplexityAccumulator &other)
{
    m_sum += other.m_sum;
    m_sum2 += other.m_sum2;
    m_count += other.m_count;
}

double PerplexityAccumulator::perplexity() const
{
    return std::exp(meanNll());
}

double PerplexityAccumulator::meanNllError() const
{
    if (m_count < 2)
        return 0.0;
    const double mean = meanNll();
    const double v = m_sum2 / double(m_count) - mean * mean;
    return v > 0 ? std::sqrt(v / double(m_count - 1)) : 0.0;
}

double PerplexityAccumulator::perplexityError() const
{
    return meanNllError() * perplexity();
}

//
// helpers of the KLD report
//

double meanUncertainty(double sum1, double sum2, std::uint64_t n)
{
    if (n <= 10)
        return 0.0;
    const double f = sum1 / double(n);
    const double v = sum2 / double(n) - f * f;
    return v > 0 ? std::sqrt(v / double(n - 1)) : 0.0;
}

double covariance(double sumA, double sumB, double sumAB, std::uint64_t n)
{
    if (n < 10)
        return 0.0;
    const double N = double(n);
    return (sumAB / N - (sumA / N) * (sumB / N)) / (N - 1);
}

float percentile(std::span<const float> sorted, double fraction)
{
    if (sorted.empty())
        return 0.0f;
    if (fraction <= 0)
        return sorted.front();
    if (fraction >= 1)
        return sorted.back();
    const std::size_t n = sorted.size();
    const float p = float(fraction) * float(n - 1);
    const std::size_t k = std::size_t(p);
    const float t = p - float(k);
    return (1.0f - t) * sorted[k] + t * sorted[std::min(k + 1, n - 1)];
}

float median(std::span<const float> sorted)
{
    const std::size_t n = sorted.size();
    if (n == 0)
        return 0.0f;
    if (n % 2)
        return sorted[n / 2];
    return 0.5f * (sorted[n / 2 - 1] + sorted[n / 2]);
}

//
// KldAccumulator
//

void KldAccumulator::add(double nll, double nllBase, double kld, double kldTailBound, bool sameTop)
{
    m_q.add(nll);
    m_base.add(nllBase);
    m_qBase += nll * nllBase;
    m_kld += kld;
    m_kld2 += kld * kld;
    m_tail += kldTailBound;
    const double dp = std::exp(-nll) - std::exp(-nllBase);
    m_dp += dp;
    m_dp2 += dp * dp;
    m_dp4 += dp * dp * dp * dp;
    m_maxAbsDp = std::max(m_maxAbsDp, std::abs(dp));
    if (sameTop)
        ++m_sameTop;
    ++m_count;
    m_klds.push_back(float(kld));
    m_dps.push_back(float(dp));
}

void KldAccumulator::merge(const KldAccumulator &other)
{
    m_q.merge(other.m_q);
    m_base.merge(other.m_base);
    m_qBase += other.m_qBase;
    m_kld += other.m_kld;
    m_kld2 += other.m_kld2;
    m_tail += other.m_tail;
    m_dp += other.m_dp;
    m_dp2 += other.m_dp2;
    m_dp4 += other.m_dp4;
    m_maxAbsDp = std::max(m_maxAbsDp, other.m_maxAbsDp);
    m_sameTop += other.m_sameTop;
    m_count += other.m_count;
    m_klds.insert(m_klds.end(), other.m_klds.begin(), other.m_klds.end());
    m_dps.insert(m_dps.end(), other.m_dps.begin(), other.m_dps.end());
}

KldSummary KldAccumulator::summary(bool withPercentiles) const
{
    KldSummary s;
    const std::uint64_t n = m_count;
    s.nTokens = n;
    if (n == 0)
        return s;
    const double N = double(n);

    const double muQ = m_q.sum() / N;
    const double muB = m_base.sum() / N;
    const double uncQ = meanUncertainty(m_q.sum(), m_q.sum2(), n);
    const double uncB = meanUncertainty(m_base.sum(), m_base.sum2(), n);
    const double cov = covariance(m_q.sum(), m_base.sum(), m_qBase, n);
    s.pplQ = std::exp(muQ);
    s.pplQError = s.pplQ * uncQ;
    s.pplBase = std::exp(muB);
    s.pplBaseError = s.pplBase * uncB;
    s.correlation = uncQ > 0 && uncB > 0 ? cov / (uncQ * uncB) : 0.0;
    s.lnRatio = muQ - muB;
    const double v = uncQ * uncQ + uncB * uncB - 2 * cov;
    s.lnRatioError = v > 0 ? std::sqrt(v) : 0.0;
    s.pplRatio = std::exp(s.lnRatio);
    s.pplRatioError = s.pplRatio * s.lnRatioError;
    s.pplDelta = s.pplQ - s.pplBase;
    const double vd = s.pplQError * s.pplQError + s.pplBaseError * s.pplBaseError
                      - 2 * s.pplQ * s.pplBase * cov;
    s.pplDeltaError = vd > 0 ? std::sqrt(vd) : 0.0;

    s.kldMean = m_kld / N;
    s.kldMeanError = meanUncertainty(m_kld, m_kld2, n);
    s.kldTailBound = m_tail / N;
    if (withPercentiles) {
        std::vector<float> sorted = m_klds;
        std::sort(sorted.begin(), sorted.end());
        s.kldMin = sorted.front();
        s.kldMax = sorted.back();
        s.kldMedian = median(sorted);
        s.kldP90 = percentile(sorted, 0.90);
        s.kldP95 = percentile(sorted, 0.95);
        s.kldP99 = percentile(sorted, 0.99);
        s.kldP999 = percentile(sorted, 0.999);
    }

    const double pSame = double(m_sameTop) / N;
    s.sameTopPercent = 100.0 * pSame;
    s.sameTopPercentError = n > 1 ? 100.0 * std::sqrt(pSame * (1 - pSame) / (N - 1)) : 0.0;
    s.meanDpPercent = 100.0 * m_dp / N;
    s.meanDpPercentError = 100.0 * meanUncertainty(m_dp, m_dp2, n);
    const double rms = std::sqrt(m_dp2 / N);
    s.rmsDpPercent = 100.0 * rms;
    s.rmsDpPercentError = rms > 0 ? 100.0 * 0.5 / rms * meanUncertainty(m_dp2, m_dp4, n) : 0.0;
    s.maxAbsDpPercent = 100.0 * m_maxAbsDp;
    return s;
}

} // namespace QuantFit
