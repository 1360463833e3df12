#pragma once

#include "sampler.h"

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace QuantFit {

class InferenceSession;
class JobContext;

struct GenerationOptions {
    int nPredict = 64;                    ///< tokens to generate at most
    std::vector<std::int32_t> stopTokens; ///< generation ends after producing one (EOS, EOT)
    SamplerParams sampler;
};

struct GenerationResult {
    std::vector<std::int32_t> tokens; ///< generated tokens (without the prompt)
    int nPromptTokens = 0;
    double promptSeconds = 0.0;       ///< prompt processing (batched)
    double generateSeconds = 0.0;     ///< everything after the prompt
    bool stoppedByToken = false;

    double promptTokensPerSecond() const
    {
        return promptSeconds > 0 ? nPromptTokens / promptSeconds : 0.0;
    }
    double generatedTokensPerSecond() const
    {
        return generateSeconds > 0 ? double(tokens.size()) / generateSeconds : 0.0;
    }
};

/// Resets `session`, evaluates `prompt` as one batch, then samples up to nPredict tokens,
/// feeding each back. `onToken` (optional) sees every generated token as it is produced and may
/// return false to stop. Stops early at a stop token or when the context is full. Throws Error
/// for an empty prompt or one longer than the context; Cancelled when `ctx` asks.
GenerationResult generate(InferenceSession &session, std::span<const std::int32_t> prompt,
                          const GenerationOptions &options,
                          const std::function<bool(std::int32_t)> &onToken, JobContext &ctx);

} // namespace QuantFit
