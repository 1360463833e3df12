#pragma once

// A conversion to a budget-fitted mix (`quantize --target-size/--target-bpw/--fit-ram`, the
// app's "Fit exactly" and "Fit to this machine"): the budget is turned into bytes (for a machine:
// what the advisor's memory model leaves for weights at the context), the mix is chosen by
// fitMix (quant/fitmix.h), and the result is an ordinary ConversionRequest of the nearest
// standard file type whose --tensor-type items are the fitted recipe, run by runConversion.
// Recipes and diffs of files (quant/recipe.h: header reads only) come with this header, so the
// app's recipe view reaches them through core/tasks as its pages must.

#include "conversiontask.h"
#include "fitcalibration.h"

#include "advisor/advisor.h"
#include "quant/fitmix.h"

#include <QString>

#include <cstdint>
#include <functional>
#include <optional>

namespace QuantFit {

/// What to fit to: exactly one of a file size, bits per weight, or a machine.
struct FitTarget {
    enum class Kind {
        FileSize,      ///< --target-size: bytes of the output file
        BitsPerWeight, ///< --target-bpw: tensor data bits / parameters
        Machine,       ///< --fit-ram: RAM minus KV cache, compute buffer, overhead and reserve
    };
    Kind kind = Kind::FileSize;
    std::uint64_t fileBytes = 0;
    double bitsPerWeight = 0;
    std::uint64_t ramBytes = 0;
    std::uint32_t contextTokens = 0;          ///< 0: min(8192, the model's maximum)
    KvCacheType kvType = KvCacheType::F16;
    std::optional<std::uint64_t> reserveBytes; ///< default: defaultReserveBytes(ram)
    bool flashAttention = false;
    QString text;                              ///< as given, for the note ("--target-size 38GB")
    /// Measured sensitivity (fitcalibration.h) or the documented factors: by default measured
    /// where the estimate is at most kFitCalibrationAutoSeconds, the same in the CLI and the app.
    FitSensitivityMode sensitivity = FitSensitivityMode::Auto;
    /// How to measure, when measured.
    FitCalibrationSettings calibration;
    /// When measured: sees the time estimate before the first forward pass and again measured
    /// on the source's pass (the CLI prints it).
    std::function<void(const FitCalibrationEstimate &)> onCalibrationEstimate;
};

/// A budget in bytes and what it bounds.
struct FitBudget {
    std::uint64_t bytes = 0;
    FitBudgetKind kind = FitBudgetKind::FileBytes;
    std::uint32_t contextTokens = 0;     ///< Machine: the context the budget leaves room for
    MemoryBreakdown memoryWithoutWeights; ///< Machine: KV, compute, overhead, reserve
    QString description;                 ///< "at most 38.00 GB file", "weights of 52.1 GB ..."
};

/// The budget of `target` for `source` (metadata suffices). Machine: weights may take
/// ram - memoryAt(shape, 0, context, ...).totalBytes(), from the advisor's memory model. Throws
/// Error for a zero size or bits, a RAM that leaves nothing for the weights at that context, or a
/// context beyond the model's maximum.
FitBudget fitBudgetFor(const GgufFile &source, const FitTarget &target);

struct FittedConversion {
    FitResult fit;
    FitSensitivityChoice sensitivity; ///< measured or documented, and why
    FitBudget budget;
    ConversionRequest request; ///< ready for runConversion (and prepareConversion for a preview)
    ConversionPreparation preparation;
};

/// Chooses the fitted mix for `request` (source, outputs, imatrix, options; its fileTypes are
/// replaced by the nearest standard mix). Reads sample rows of the memory-mapped source.
/// Progress: stage "Measuring tensor costs" (then "Calibrating sensitivities" when measured:
/// chooseFitSensitivity decides target.sensitivity first). Throws Error (refused options, an
/// imatrix calibration: use --imatrix; a measured sensitivity whose estimate exceeds its limit),
/// IoError/FormatError from reading, Cancelled.
FittedConversion planFittedConversion(const ConversionRequest &request, const FitTarget &target,
                                      JobContext &ctx);

/// Plans and writes in one job (planFittedConversion, then runConversion); the written file is
/// checked against the budget.
ConversionResult runFittedConversion(const ConversionRequest &request, const FitTarget &target,
                                     JobContext &ctx, FitResult *fitOut = nullptr);

/// One line per chosen type and a line per tensor kind: the recipe with bytes and predicted
/// cost, for --dry-run and the app's recipe table.
QString fitSummaryText(const FittedConversion &fitted);

} // namespace QuantFit
