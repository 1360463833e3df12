#pragma once

// Per-level estimates shown beside the exact sizes. They are estimates, not measurements: the
// measure page replaces them with the user's own perplexity/KLD numbers.
//
// Quality: relative perplexity increase over F16 on Wikitext-2, from llama.cpp's published
// perplexity tables. The loss depends on model size (Q4_K_M: +2.8 % on Llama-3-8B, +1.2 % on
// Llama-2-70B), so there are two anchors, 8B and 70B, interpolated in log(parameters):
//   8B anchor (llama.cpp perplexity README, Llama 3 8B, F16 6.233): Q8_0 6.234, Q6_K 6.253,
//     Q5_K_M 6.289, Q4_K_M 6.407, Q3_K_M 6.888, Q2_K 9.752; _S levels interpolated by bits.
//   70B anchor (same README, Llama 2 70B): Q4_K_M +1.2 %; the other levels scaled from the
//     8B curve by the 70B/8B ratio observed for K-quants (smaller at high bits, larger at
//     2-3 bits).
// Beyond the anchors the loss grows (smaller models) or shrinks (larger ones) as (8/P)^0.3 and
// (70/P)^0.3, with P clamped to 0.5B..1000B.
//
// Speed: the brief's "Relative Speed" table (F16 1.0x ... Q2_K 2.0x), levels it omits
// interpolated by bits. Generation speed on CPU is bound by memory bandwidth, so this is a rough
// guide; quantfit-bench measures the real thing.

#include "gguf/filetype.h"

namespace QuantFit {

struct LevelFacts {
    FileType fileType;
    double nominalBits;   ///< the brief's "Bits" column
    const char *quality;  ///< the brief's "Quality" word
    const char *useCase;  ///< the brief's "Use Case"
    double relativeSpeed; ///< the brief's table (F16 = 1.0)
    double pplIncrease8B;  ///< % over F16, 8B anchor
    double pplIncrease70B; ///< % over F16, 70B anchor
};

/// Facts for one of advisorLevels(); nullptr for other file types.
const LevelFacts *levelFacts(FileType type);
/// Estimated perplexity increase in percent for a model of `paramsBillions`.
double estimatedPplIncreasePercent(FileType type, double paramsBillions);
/// Estimated relative generation speed (F16 = 1.0).
double estimatedRelativeSpeed(FileType type);

} // namespace QuantFit
