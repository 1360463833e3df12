#include "fitpreview.h"

#include "fitcalibration.h"

#include "advisor/shapetensors.h"
#include "gguf/ggufreader.h"

namespace QuantFit {

FitResult planFitForBudget(const ModelShape &shape, std::shared_ptr<const GgufFile> file,
                           std::uint64_t budgetBytes, JobContext &ctx)
{
    FitOptions o;
    o.budgetBytes = budgetBytes;
    o.budgetKind = FitBudgetKind::TensorBytes;
    o.budgetText = QStringLiteral("Advise: fit exactly");
    // An opened file is often already quantized: the plan only sizes the mix.
    o.base.allowRequantize = true;
    if (file) {
        // The default of `quantize --fit-ram` (auto), so that the row's size is the one the
        // command line and Convert's fit give.
        applyFitSensitivity(o, file, FitSensitivityMode::Auto, FitCalibrationSettings{});
        return fitMix(file->metadata(), file->tensors(), o, fileRowSource(*file), ctx);
    }
    const ShapeTensors st = buildShapeTensors(shape);
    return fitMix(st.metadata, st.tensors, o, syntheticRowSource(), ctx);
}

} // namespace QuantFit
