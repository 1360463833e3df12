#pragma once

// The bridge from QuantFit's saved measurements (eval/resultsstore) to the advisor's quality
// estimates (advisor/estimates: applyMeasuredQuality), shared by `quantfit-cli advise` and the
// Advise page so that both replace the same estimates by the same runs.

#include "advisor/estimates.h"
#include "eval/evalresult.h"

#include <span>
#include <vector>

namespace QuantFit {

/// One QualityMeasurement per record: its level, parameter count, perplexity, KLD figures and
/// text, a full-precision record (F32/F16/BF16 or marked as base) as the base, and a label
/// "Q4_K_M measured on TEXT, DATE".
std::vector<QualityMeasurement> qualityMeasurements(std::span<const MeasurementRecord> records);

} // namespace QuantFit
