#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace QuantFit {

/// How the next token is chosen from logits. temperature <= 0 is greedy (arg-max, lowest id on
/// ties); otherwise, in the order of llama.cpp's default chain: cut to the topK largest
/// (topK <= 0: all), then to the smallest prefix whose probability (softmax of the raw logits)
/// reaches topP (topP >= 1: all), then the survivors' logits are divided by the temperature,
/// renormalized and sampled with a generator seeded by `seed` (same seed, same choices).
struct SamplerParams {
    double temperature = 0.0;
    int topK = 40;
    double topP = 0.95;
    std::uint64_t seed = 0;
};

class Sampler
{
public:
    explicit Sampler(const SamplerParams &params = {});

    const SamplerParams &params() const { return m_params; }
    /// Picks a token id from `logits` (nVocab values). Throws Error on empty logits.
    std::int32_t sample(std::span<const float> logits);

    /// Arg-max of `logits` (lowest index on ties).
    static std::int32_t greedy(std::span<const float> logits);

private:
    SamplerParams m_params;
    std::mt19937_64 m_rng;
    std::vector<std::pair<float, std::int32_t>> m_candidates;
};

} // namespace QuantFit
