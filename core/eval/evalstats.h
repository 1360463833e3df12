#pragma once

// Statistics of perplexity and KL-divergence runs, as llama-perplexity computes them (`perplexity`
// and `kl_divergence` in llama.cpp's tools/perplexity/perplexity.cpp). Plain C++ over spans; no Qt.
// Not thread-safe: each accumulator belongs to one thread (merge() joins per-thread ones).

#include <cstdint>
#include <span>
#include <vector>

namespace QuantFit {

/// Log-softmax facts of one logit row: max, log of the sum of exp(z - max) (sum in double).
struct LogitRowStats {
    float max = 0;
    double logSum = 0;   ///< log Σ expf(z_i − max)
    std::uint32_t argMax = 0; ///< first index holding the maximum (strict '>' scan)
};

LogitRowStats logitRowStats(std::span<const float> logits);

/// −log softmax(logits)[next], computed as llama-perplexity does: nll = −(z_next − max − log S).
double tokenNll(std::span<const float> logits, std::uint32_t next);

/// Running perplexity over scored tokens: Σnll, Σnll², count (double).
class PerplexityAccumulator
{
public:
    void add(double nll)
    {
        m_sum += nll;
        m_sum2 += nll * nll;
        ++m_count;
    }
    void merge(const PerplexityAccumulator &other);

    std::uint64_t count() const { return m_count; }
    double meanNll() const { return m_count ? m_sum / double(m_count) : 0.0; }
    /// exp(mean nll); 1 when nothing was scored.
    double perplexity() const;
    /// σ·PPL with σ = sqrt(v/(count−1)), v = Σnll²/count − μ² (0 when v ≤ 0 or count < 2).
    double perplexityError() const;
    /// σ of the mean nll (the uncertainty of ln PPL).
    double meanNllError() const;
    double sum() const { return m_sum; }
    double sum2() const { return m_sum2; }

private:
    double m_sum = 0;
    double m_sum2 = 0;
    std::uint64_t m_count = 0;
};

/// Uncertainty of a mean as llama-perplexity computes it: sqrt(v/(N−1)) with v = S2/N − (S1/N)², if
/// v > 0 and N > 10; else 0.
double meanUncertainty(double sum1, double sum2, std::uint64_t n);
/// Covariance as llama-perplexity computes it: 0 if N < 10, else (Sab/N − (Sa/N)(Sb/N)) / (N−1).
double covariance(double sumA, double sumB, double sumAB, std::uint64_t n);
/// Percentile as llama-perplexity computes it, over an ascending vector: linear interpolation at
/// f·(N−1) (float math). f ≤ 0 gives the first, f ≥ 1 the last element; 0 for an empty vector.
float percentile(std::span<const float> sorted, double fraction);
/// Middle element, or the mean of the two middle ones for even N; 0 for an empty vector.
float median(std::span<const float> sorted);

/// Everything reported for one quantized model against its base (llama-perplexity's final KLD
/// report).
struct KldSummary {
    std::uint64_t nTokens = 0;
    double pplQ = 0, pplQError = 0;
    double pplBase = 0, pplBaseError = 0;
    double lnRatio = 0, lnRatioError = 0;    ///< mean ln(PPL(Q)/PPL(base))
    double pplRatio = 0, pplRatioError = 0;  ///< PPL(Q)/PPL(base)
    double pplDelta = 0, pplDeltaError = 0;  ///< PPL(Q) − PPL(base)
    double correlation = 0;                  ///< of ln PPL(Q) and ln PPL(base), 0..1
    double kldMean = 0, kldMeanError = 0;
    double kldMedian = 0, kldP90 = 0, kldP95 = 0, kldP99 = 0, kldP999 = 0, kldMax = 0, kldMin = 0;
    double kldTailBound = 0; ///< mean per-token upper bound of the base file's truncation error
    double sameTopPercent = 0, sameTopPercentError = 0;
    double rmsDpPercent = 0, rmsDpPercentError = 0;
    double meanDpPercent = 0, meanDpPercentError = 0;
    double maxAbsDpPercent = 0;
};

/// Accumulates the per-token quantities of a KLD run (nll, base nll, KLD, Δp, same top).
class KldAccumulator
{
public:
    void add(double nll, double nllBase, double kld, double kldTailBound, bool sameTop);
    void merge(const KldAccumulator &other);

    std::uint64_t count() const { return m_count; }
    const PerplexityAccumulator &current() const { return m_q; }
    const PerplexityAccumulator &base() const { return m_base; }
    double kldMean() const { return m_count ? m_kld / double(m_count) : 0.0; }
    double kldMeanError() const { return meanUncertainty(m_kld, m_kld2, m_count); }
    double sameTopPercent() const { return m_count ? 100.0 * double(m_sameTop) / double(m_count) : 0.0; }
    /// Everything of the final report. `withPercentiles` sorts copies of the kept values (median,
    /// p90 ..., min, max): O(N log N), for the end of a run; without, the running figures are O(1).
    KldSummary summary(bool withPercentiles = true) const;

private:
    PerplexityAccumulator m_q;
    PerplexityAccumulator m_base;
    double m_qBase = 0; ///< Σ nll·nll_base
    double m_kld = 0, m_kld2 = 0, m_tail = 0;
    double m_dp = 0, m_dp2 = 0, m_dp4 = 0, m_maxAbsDp = 0;
    std::uint64_t m_sameTop = 0;
    std::uint64_t m_count = 0;
    std::vector<float> m_klds;
    std::vector<float> m_dps;
};

} // namespace QuantFit
