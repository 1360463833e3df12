#include "estimates.h"

#include <algorithm>
#include <cmath>

namespace QuantFit {

namespace {

// One row per level the advisor lists, in the brief's order.
constexpr LevelFacts kLevels[] = {
    {FileType::Q2_K, 2.5, "Poor", "Maximum compression", 2.0, 56.5, 11.0},
    {FileType::Q3_K_S, 3.0, "Fair", "Very limited memory", 1.9, 20.0, 5.5},
    {FileType::Q3_K_M, 3.5, "Fair+", "Memory constrained", 1.8, 10.5, 3.6},
    {FileType::Q4_K_S, 4.25, "Good", "Small + fast", 1.65, 3.6, 1.6},
    {FileType::Q4_K_M, 4.5, "Good+", "Recommended balance", 1.6, 2.8, 1.2},
    {FileType::Q5_K_S, 5.0, "Very Good", "Quality focus", 1.5, 1.2, 0.5},
    {FileType::Q5_K_M, 5.5, "Very Good+", "Better quality", 1.5, 0.9, 0.4},
    {FileType::Q6_K, 6.5, "Excellent", "Near full quality", 1.4, 0.32, 0.12},
    {FileType::Q8_0, 8.0, "Near Perfect", "Maximum quality", 1.2, 0.02, 0.01},
    {FileType::F16, 16.0, "Perfect", "Full precision", 1.0, 0.0, 0.0},
};

} // namespace

const LevelFacts *levelFacts(FileType type)
{
    for (const LevelFacts &l : kLevels) {
        if (l.fileType == type)
            return &l;
    }
    return nullptr;
}

double estimatedPplIncreasePercent(FileType type, double paramsBillions)
{
    const LevelFacts *l = levelFacts(type);
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
    const LevelFacts *l = levelFacts(type);
    return l ? l->relativeSpeed : 1.0;
}

} // namespace QuantFit
