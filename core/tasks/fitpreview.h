#pragma once

// The fitted mix behind Advise's "Fit exactly" row: the same choice as `quantize --fit-ram`
// (quant/fitmix.h), made for a budget of tensor data the advisor's memory model computed, on the
// model the page shows: an opened GGUF's own tensors and rows, or a catalog or entered shape's
// tensor list (advisor/shapetensors.h) with synthetic rows of make-model's statistics, as
// `quantfit-bench fit` times it (about 3 s for a 70B model on 2 cores).

#include "catalog/modelshape.h"
#include "quant/fitmix.h"

#include <cstdint>
#include <memory>

namespace QuantFit {

class GgufFile;
class JobContext;

/// Plans the fitted mix of at most `budgetBytes` of tensor data for `file` when given (its rows
/// are read; quantized files are requantized for the plan; sensitivities measured where quick,
/// as FitSensitivityMode::Auto decides for `quantize`), else for `shape` (documented factors:
/// there is no model to run). Nothing is written. Throws Error when the budget is below the
/// smallest mix the candidates allow, what reading the file throws, and Cancelled.
FitResult planFitForBudget(const ModelShape &shape, std::shared_ptr<const GgufFile> file,
                           std::uint64_t budgetBytes, JobContext &ctx);

} // namespace QuantFit
