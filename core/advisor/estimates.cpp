#include "estimates.h"

#include "advisor.h"

#include <algorithm>
#include <cmath>

namespace QuantFit {

namespace {

// One row per level the advisor lists, in the brief's order. KLD: the scoreboard's rows without
// an importance matrix.
constexpr LevelFacts kLevels[] = {
    {FileType::Q2_K, 2.5, "Poor", "Maximum compression", 2.0, 56.5, 11.0, 0.445132},
    {FileType::Q3_K_S, 3.0, "Fair", "Very limited memory", 1.9, 20.0, 5.5, 0.228217},
    {FileType::Q3_K_M, 3.5, "Fair+", "Memory constrained", 1.8, 10.5, 3.6, 0.101913},
    {FileType::Q4_K_S, 4.25, "Good", "Small + fast", 1.65, 3.6, 1.6, 0.043136},
    {FileType::Q4_K_M, 4.5, "Good+", "Recommended balance", 1.6, 2.8, 1.2, 0.031273},
    {FileType::Q5_K_S, 5.0, "Very Good", "Quality focus", 1.5, 1.2, 0.5, 0.016595},
    {FileType::Q5_K_M, 5.5, "Very Good+", "Better quality", 1.5, 0.9, 0.4, 0.010762},
    {FileType::Q6_K, 6.5, "Excellent", "Near full quality", 1.4, 0.32, 0.12, 0.005452},
    {FileType::Q8_0, 8.0, "Near Perfect", "Maximum quality", 1.2, 0.02, 0.01, 0.001355},
    {FileType::F16, 16.0, "Perfect", "Full precision", 1.0, 0.0, 0.0, 0.0},
};

// The I-quant mixes, largest loss first. 8B: (PPL / 6.233160 - 1) x 100 from the scoreboard's
// "WT 10m" rows; 70B: that times the nearest K-quant's 70B/8B ratio (estimates.h); speed:
// 1.6 x tg128 / 71.93 (Q4_K_M) from the quantize README; nominal bits: the bulk block type,
// llama-quantize's default type of the mix (IQ2_XS for IQ2_S, IQ2_S for IQ2_M, IQ3_S for IQ3_XS
// and IQ3_M).
constexpr const char *kNeeds = "Needs an importance matrix";
constexpr const char *kBetter = "Better with an importance matrix";
constexpr LevelFacts kIQuants[] = {
    {FileType::IQ1_S, 1.5625, "Experimental", kNeeds, 1.77, 873.7, 170.4, 2.254554},
    {FileType::IQ1_M, 1.75, "Experimental", kNeeds, 1.62, 309.0, 60.3, 1.393084},
    {FileType::IQ2_XXS, 2.0625, "Better than Q2", kNeeds, 1.78, 126.1, 24.6, 0.812022},
    {FileType::IQ2_XS, 2.3125, "Better than Q2", kNeeds, 1.74, 72.6, 14.2, 0.546290},
    {FileType::IQ2_S, 2.3125, "Better than Q2", kNeeds, 1.72, 54.8, 10.7, 0.439197},
    {FileType::IQ2_M, 2.5625, "Better than Q2", kNeeds, 1.66, 38.0, 7.4, 0.325989},
    {FileType::IQ3_XXS, 3.0625, "Fair", kNeeds, 1.64, 19.7, 5.4, 0.183625},
    {FileType::IQ3_XS, 3.4375, "Better than Q3", kNeeds, 1.59, 14.9, 4.1, 0.138693},
    {FileType::IQ3_S, 3.4375, "Fair+", kBetter, 1.54, 11.7, 3.2, 0.111278},
    {FileType::IQ3_M, 3.4375, "Fair+", kBetter, 1.56, 10.7, 2.9, 0.102534},
    {FileType::IQ4_XS, 4.25, "Good", kBetter, 1.72, 3.6, 1.6, 0.036334},
    {FileType::IQ4_NL, 4.5, "Good", kBetter, 1.71, 3.6, 1.6, 0.035742},
};

const LevelFacts *find(const LevelFacts *begin, const LevelFacts *end, FileType type)
{
    const auto it = std::find_if(begin, end, [type](const LevelFacts &l) { return l.fileType == type; });
    return it == end ? nullptr : it;
}

const LevelFacts *anyFacts(FileType type)
{
    if (const LevelFacts *l = levelFacts(type))
        return l;
    return iquantFacts(type);
}

} // namespace

const LevelFacts *levelFacts(FileType type)
{
    return find(std::begin(kLevels), std::end(kLevels), type);
}

const LevelFacts *iquantFacts(FileType type)
{
    return find(std::begin(kIQuants), std::end(kIQuants), type);
}

double estimatedPplIncreasePercent(FileType type, double paramsBillions)
{
    const LevelFacts *l = anyFacts(type);
    if (!l)
        return 0;
    // Clamped: the anchors say nothing about toy models or beyond a trillion parameters.
    const double p = std::clamp(paramsBillions, 0.5, 1000.0);
    if (p <= 8)
        return l->pplIncrease8B * std::pow(8.0 / p, 0.3);
    if (p >= 70)
        return l->pplIncrease70B * std::pow(70.0 / p, 0.3);
    // Linear in log(parameters) between the anchors.
    const double t = std::log(p / 8.0) / std::log(70.0 / 8.0);
    return l->pplIncrease8B + t * (l->pplIncrease70B - l->pplIncrease8B);
}

double estimatedRelativeSpeed(FileType type)
{
    const LevelFacts *l = anyFacts(type);
    return l ? l->relativeSpeed : 1.0;
}

int applyMeasuredQuality(ModelAdvice &advice, const std::vector<QualityMeasurement> &runs)
{
    int replaced = 0;
    auto apply = [&](QuantRow &row) {
        for (const QualityMeasurement &run : runs) {
            if (run.isBase || !run.fileType || *run.fileType != row.fileType
                || run.nParams != advice.nParams || !(run.ppl > 0))
                continue;
            double ratio = run.pplRatio.value_or(0);
            if (!(ratio > 0)) {
                const auto base = std::find_if(runs.begin(), runs.end(), [&](const auto &b) {
                    return b.isBase && b.nParams == run.nParams && b.textSource == run.textSource
                           && b.nCtx == run.nCtx && b.ppl > 0;
                });
                if (base == runs.end())
                    continue;
                ratio = run.ppl / base->ppl;
            }
            row.pplIncreasePercent = std::max(0.0, (ratio - 1.0) * 100.0);
            if (run.meanKld)
                row.klDivergence8B = *run.meanKld;
            row.qualityMeasured = true;
            row.qualitySource = run.label;
            ++replaced;
            return; // the newest run of this level
        }
    };
    for (QuantRow &row : advice.rows)
        apply(row);
    for (QuantRow &row : advice.iquantRows)
        apply(row);
    return replaced;
}

} // namespace QuantFit
