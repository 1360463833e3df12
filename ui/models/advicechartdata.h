#pragma once

#include "charts/chartdata.h"

namespace QuantFit {
struct ModelAdvice;
}

/// The charts' view of one model's advice: a point per quant level (size, estimated quality
/// loss, recommendation), a memory column per level, and the largest file that fits the RAM at
/// the chosen context. `modelName` (general.name of an opened GGUF) lets measurements match.
AdviceChartData adviceChartData(const QuantFit::ModelAdvice &advice, const QString &modelName);
