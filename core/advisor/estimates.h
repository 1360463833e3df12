#pragma once

// Per-level estimates shown beside the exact sizes. They are estimates, not measurements: the
// measure page replaces them with the user's own perplexity/KLD numbers.
//
// Quality: relative perplexity increase over F16 on Wikitext-2, from llama.cpp's published
// perplexity tables. The loss depends on model size (Q4_K_M: +2.8 % on Llama-3-8B, +1.2 % on
// Llama-2-70B), so there are two anchors, 8B and 70B, interpolated in log(parameters):
//   8B anchor (llama.cpp tools/perplexity/README.md, "LLaMA 3 8b Scoreboard", F16 6.233160,
//     no importance matrix): Q8_0 6.234, Q6_K 6.253, Q5_K_M 6.289, Q4_K_M 6.407, Q3_K_M 6.888,
//     Q2_K 9.752; _S levels interpolated by bits.
//   70B anchor (same README, Llama 2 70B): Q4_K_M +1.2 %; the other levels scaled from the
//     8B curve by the 70B/8B ratio observed for K-quants (smaller at high bits, larger at
//     2-3 bits).
// Beyond the anchors the loss grows (smaller models) or shrinks (larger ones) as (8/P)^0.3 and
// (70/P)^0.3, with P clamped to 0.5B..1000B.
//
// I-quants (IQ1_S ... IQ4_NL) come from the same scoreboard, made with an importance matrix
// from 10 M Wikitext tokens ("WT 10m"): IQ1_S 60.695, IQ1_M 25.494, IQ2_XXS 14.092, IQ2_XS
// 10.761, IQ2_S 9.651, IQ2_M 8.601, IQ3_XXS 7.458, IQ3_XS 7.163, IQ3_S 6.966, IQ3_M 6.898,
// IQ4_XS 6.460, IQ4_NL 6.456, and the mean KL divergence of each. No published table gives
// I-quants on a 70B model with the same method, so their 70B anchor is the 8B figure times the
// 70B/8B ratio of the K-quant nearest in bits: Q2_K (0.195) for IQ1/IQ2, Q3_K_S (0.275) for
// IQ3, Q4_K_S (0.444) for IQ4 — consistent with the I-quant PRs' observation (llama.cpp
// #4773, #5196, #5721) that large models lose much less at 2-3 bits.
//
// Speed: the brief's "Relative Speed" table (F16 1.0x ... Q2_K 2.0x), levels it omits
// interpolated by bits. The brief has no I-quant speeds: theirs are its Q4_K_M 1.6x scaled by
// the text-generation rates of llama.cpp's tools/quantize/README.md (Llama 3.1 8B, tg128:
// Q4_K_M 71.93 t/s; IQ2_M 74.44 ...). Generation speed on CPU is bound by memory bandwidth, so
// this is a rough guide; quantfit-bench measures the real thing.

#include "gguf/filetype.h"

#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace QuantFit {

struct LevelFacts {
    FileType fileType;
    double nominalBits;   ///< the brief's "Bits" column
    const char *quality;  ///< the brief's "Quality" word
    const char *useCase;  ///< the brief's "Use Case"
    double relativeSpeed; ///< the brief's table (F16 = 1.0)
    double pplIncrease8B;  ///< % over F16, 8B anchor
    double pplIncrease70B; ///< % over F16, 70B anchor
    double kld8B;          ///< published mean KL divergence vs F16, Llama 3 8B (0: none)
};

/// Facts for one of advisorLevels(); nullptr for other file types.
const LevelFacts *levelFacts(FileType type);

/// The same facts for the I-quant mixes (iquantLevels()); nominalBits is the bulk block type's
/// bits per weight, quality and useCase are our words (the brief's I-quant table where it has
/// one). nullptr for other file types.
const LevelFacts *iquantFacts(FileType type);

/// Estimated perplexity increase in percent for a model of `paramsBillions` (advisor levels and
/// I-quants; 0 for other types).
double estimatedPplIncreasePercent(FileType type, double paramsBillions);
/// Estimated relative generation speed (F16 = 1.0).
double estimatedRelativeSpeed(FileType type);

/// One perplexity run QuantFit measured (a results-store record, reduced to what matching
/// needs; the CLI and the app fill these so that core/advisor does not depend on core/eval).
struct QualityMeasurement {
    std::optional<FileType> fileType; ///< the measured file's type; nullopt when unknown
    std::uint64_t nParams = 0;        ///< of the measured file
    bool isBase = false;              ///< full precision (F32, F16, BF16): the reference
    double ppl = 0;
    std::optional<double> meanKld;    ///< against the base, when the run computed it
    std::optional<double> pplRatio;   ///< PPL / base PPL of a KLD run (needs no base record)
    QString textSource;               ///< same text and context are needed to compare
    int nCtx = 0;
    QString label;                    ///< "Q4_K_M, wiki.test.raw, 2026-12-01" for the reasons
};

struct ModelAdvice; // advisor.h

/// Replaces the estimates of the levels of `advice` that were measured on the same model (runs
/// with advice.nParams parameters): the perplexity increase becomes the KLD run's PPL ratio - 1,
/// or ppl / base ppl - 1 with a full-precision run of the same model on the same text and
/// context; the KLD the run's own. The newest run of a level wins (list order: newest first).
/// Returns how many rows were replaced.
int applyMeasuredQuality(ModelAdvice &advice, const std::vector<QualityMeasurement> &runs);

} // namespace QuantFit
