#include "fitpreview.h"

#include "fitcalibration.h"

#include "advisor/shapetensors.h"
#include "gguf/ggufreader.h"

namespace QuantFit {

FitResult planFitForBudget(const ModelShape &shape, const GgufFile *file,
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
        std::optional<FitCalibrationText> text;
        const FitCalibrationSettings settings;
        const FitSensitivityChoice choice = chooseFitSensitivity(
            *file, o.base, FitSensitivityMode::Auto, settings, o.nThreads, text);
        o.sensitivityReason = choice.noteReason;
        if (choice.measured) {
            o.calibrationText = text->noteText();
            // The calibration's model maps the file itself (the caller's may be a plain object).
            auto shared = std::make_shared<const GgufFile>(GgufFile::open(file->path()));
            o.calibrate = makeFitCalibrator(std::move(shared), std::move(*text), settings,
                                            o.nThreads, {});
        }
        return fitMix(file->metadata(), file->tensors(), o, fileRowSource(*file), ctx);
    }
    const ShapeTensors st = buildShapeTensors(shape);
    return fitMix(st.metadata, st.tensors, o, syntheticRowSource(), ctx);
}

} // namespace QuantFit
