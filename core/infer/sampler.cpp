#include "sampler.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>

namespace QuantFit {

Sampler::Sampler(const SamplerParams &params) : m_params(params), m_rng(params.seed)
{
}

std::int32_t Sampler::greedy(std::span<const float> logits)
{
    if (logits.empty())
        throw Error(QStringLiteral("cannot sample from empty logits"));
    std::size_t best = 0;
    for (std::size_t i = 1; i < logits.size(); ++i) {
        if (logits[i] > logits[best])
            best = i;
    }
    return std::int32_t(best);
}

std::int32_t Sampler::sample(std::span<const float> logits)
{
    if (logits.empty())
        throw Error(QStringLiteral("cannot sample from empty logits"));
    if (m_params.temperature <= 0.0)
        return greedy(logits);

    // Candidates sorted by logit (descending, ties by id), cut to top-k.
    m_candidates.clear();
    m_candidates.reserve(logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) {
        if (!std::isnan(logits[i]))
            m_candidates.emplace_back(logits[i], std::int32_t(i));
    }
    if (m_candidates.empty())
        throw Error(QStringLiteral("cannot sample: every logit is NaN"));
    const auto byLogit = [](const auto &a, const auto &b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    std::size_t k = m_candidates.size();
    if (m_params.topK > 0 && std::size_t(m_params.topK) < k) {
        k = std::size_t(m_params.topK);
        std::partial_sort(m_candidates.begin(), m_candidates.begin() + std::ptrdiff_t(k),
                          m_candidates.end(), byLogit);
        m_candidates.resize(k);
    } else {
        std::sort(m_candidates.begin(), m_candidates.end(), byLogit);
    }

    // Top-p on the untempered distribution, then the temperature on the survivors: the order
    // of llama.cpp's default sampler chain (top_k, top_p, temperature, dist).
    const double maxLogit = m_candidates.front().first;
    std::vector<double> probs(k);
    double sum = 0.0;
    for (std::size_t i = 0; i < k; ++i) {
        probs[i] = std::exp(double(m_candidates[i].first) - maxLogit);
        sum += probs[i];
    }
    std::size_t keep = k;
    if (m_params.topP < 1.0) {
        double cumulative = 0.0;
        for (std::size_t i = 0; i < k; ++i) {
            cumulative += probs[i] / sum;
            if (cumulative >= m_params.topP) {
                keep = i + 1;
                break;
            }
        }
    }
    double keptSum = 0.0;
    for (std::size_t i = 0; i < keep; ++i) {
        probs[i] = std::exp((double(m_candidates[i].first) - maxLogit) / m_params.temperature);
        keptSum += probs[i];
    }

    // Inverse-CDF draw from a uniform double in [0, keptSum).
    const double u = double(m_rng() >> 11) * 0x1.0p-53 * keptSum;
    double acc = 0.0;
    for (std::size_t i = 0; i < keep; ++i) {
        acc += probs[i];
        if (u < acc)
            return m_candidates[i].second;
    }
    return m_candidates[keep - 1].second;
}

} // namespace QuantFit
