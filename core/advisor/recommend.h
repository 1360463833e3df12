#pragma once

// Internal to core/advisor: sized models, the per-model decision flow and the brief's priority
// rows. The GUI uses advisor.h only.

#include "advisor.h"

#include "gguf/ggufvalue.h"
#include "gguf/tensorinfo.h"
#include "quant/quantplan.h"

#include <functional>
#include <memory>
#include <vector>

namespace QuantFit {

class Catalog;
struct ModelInfo;

/// Exact sizes of one level: tensor data (the weights in memory) and the whole file.
struct LevelSize {
    FileType fileType = FileType::F16;
    std::uint64_t weightsBytes = 0;
    std::uint64_t fileBytes = 0;
};

/// A model with the sizes of every advisor level, from QuantPlan.
struct SizedModel {
    ModelShape shape;
    std::uint64_t nParams = 0;
    std::vector<LevelSize> levels; ///< advisorLevels() order
    std::vector<LevelSize> iquantLevels; ///< iquantLevels() order
    std::vector<LevelSize> otherLevels; ///< the remaining file types (I-quants too), by file size
};

/// Returns the (cached) sizes of a shape.
using Sizer = std::function<std::shared_ptr<const SizedModel>(const ModelShape &)>;

/// Plans every level over `tensors`; `extraHeaderBytes` is added (aligned) to each file size;
/// `tensorTypes` are `--tensor-type` items applied to every quantized level.
SizedModel sizeFromPlans(const ModelShape &shape, const GgufMetadata &metadata,
                         const std::vector<GgufTensorInfo> &tensors,
                         std::uint64_t extraHeaderBytes,
                         const std::vector<TensorTypeOverride> &tensorTypes = {});
/// Rows of every level for filled-in options (reserve and context set). `shape` gives the
/// memory facts (it may differ from sized.shape in facts that do not change sizes, such as the
/// sliding window).
ModelAdvice buildAdvice(const ModelShape &shape, const SizedModel &sized,
                        const AdviceOptions &options);
/// Sizes `shape` and builds its rows; the context is capped at the model's maximum.
ModelAdvice adviceFor(const ModelShape &shape, const AdviceOptions &options, const Sizer &sizer);
ModelShape shapeFromModelInfo(const ModelInfo &info, const GgufMetadata &metadata,
                              const QString &path);

//
// shared by recommend.cpp (one model) and priorityrows.cpp (a machine)
//

/// Comfortable at `ft` (the fit badge); Q8_0 also needs room for context: its weights take at
/// most half of the usable memory (the brief's guideline 3).
bool comfortableAt(const ModelAdvice &advice, FileType ft);
/// The levels below Q3_K_M the decision flow chooses among by estimated quality: the I-quants
/// from IQ3_M down to IQ2_XXS, and Q2_K.
const std::vector<FileType> &levelsBelowQ3();
/// The fitting level of levelsBelowQ3() with the lowest estimated perplexity increase.
const QuantRow *bestFitBelowQ3(const ModelAdvice &advice);
/// Decimal GB as the brief writes them; small sizes get more decimals.
QString adviceGb(std::uint64_t bytes);
/// The numbers of one level, one sentence each: file, memory parts, room left, estimates.
QStringList levelReasons(const ModelAdvice &advice, const QuantRow &row);
/// For a mixture of experts: parameters to hold against parameters read per token, and the
/// MXFP4 experts of gpt-oss; empty for dense models.
QStringList moeFacts(const ModelAdvice &advice);

/// The brief's decision flow for one model: fills advice.recommendation and marks the row.
void recommendQuant(ModelAdvice &advice, const Catalog &catalog, const Sizer &sizer);
/// The brief's priority rows for a machine (priorityrows.cpp).
SystemAdvice recommendSystem(const AdviceOptions &options, const Catalog &catalog,
                             const Sizer &sizer);

} // namespace QuantFit
