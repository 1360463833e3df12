#pragma once

// Budget-fitted mixes (docs/quantization.md, "Fitting a mix to a budget"): one type per tensor
// chosen so that the output file is at most a byte budget, exactly from the plan, and the
// predicted quality loss is least.
//
//  1. Costs are measured: a sample of each candidate tensor's rows (all of it when small) is
//     quantized with every candidate type and dequantized again; the relative squared error,
//     weighted per column by the importance matrix when one is given, is scaled by the tensor's
//     sensitivity (fitSensitivity()). A fused tensor costs the sum of its parts; a stack of
//     experts the mean of its experts, weighted by the imatrix's routing counts when given.
//  2. Tensors llama-quantize protects (output.weight, token_embd.weight, attn_v of GQA models)
//     start from the type the base mix (the largest standard mix within the budget) gives them
//     and never take a type of more error or fewer bytes.
//  3. Allocation: every tensor starts at its cheapest candidate; upgrades are taken along each
//     tensor's lower convex hull of (bytes, cost) by the largest cost saved per byte while they
//     fit (the Lagrangian solution), then any single upgrade that still fits, best first. The
//     base mix's own assignment, improved the same way, is kept instead when it predicts less.
//     With calibration (FitOptions::calibrate) the sensitivity is measured instead: each
//     candidate tensor alone is quantized at its probe type (fitProbeType) inside the model, the
//     mean KL divergence of the logits from the source's is measured, and the tensor's
//     sensitivity becomes that KLD / the probe type's relative error, so every candidate costs
//     relative error x measured sensitivity and the probe type's cost is its measured KLD.
//  4. The result is a QuantPlan of the nearest standard file type whose candidates are all
//     decided by the recipe's --tensor-type items, with a quantize.recipe note.

#include "quantmix.h"
#include "quantplan.h"
#include "recipe.h"

#include "gguf/ggufvalue.h"
#include "gguf/tensorinfo.h"

#include <QString>

#include <cstdint>
#include <functional>
#include <vector>

namespace QuantFit {

class GgufFile;
class JobContext;
struct ImportanceMatrix;

/// Fills `dst` (t.ne[0] floats) with row `row` of tensor `t` (0 <= row < t.nRows()). Called from
/// several threads at once.
using FitRowSource = std::function<void(const GgufTensorInfo &t, std::uint64_t row, float *dst)>;

/// Rows of the memory-mapped `file` (F32, F16, BF16 or any type we can read), dequantized. The
/// file must outlive the returned function.
FitRowSource fileRowSource(const GgufFile &file);
/// Synthetic rows for a tensor list without data (a catalog shape): heavy-tailed values
/// (Student-t, 5 degrees of freedom) with a log-normal scale per row, seeded from the tensor
/// name and row, the statistics of make-model's weights. Deterministic.
FitRowSource syntheticRowSource();

/// One tensor whose sensitivity calibration measures: quantize `tensor` whole at `type` (rows
/// from the fit's row source, weighted by `importance` when not empty: ne0 values per matrix),
/// put it in place of the source tensor, and measure the model's mean KLD.
struct FitProbe {
    GgufTensorInfo tensor;
    GgmlType type = GgmlType::Q4_K;
    double relativeError = 0;                     ///< of `type` on the sampled rows
    const std::vector<float> *importance = nullptr; ///< never null; may be empty
};

/// Measures the mean KLD of the model with each probe's tensor alone replaced (one value >= 0
/// per probe, in order). Runs on the calling thread (parallel inside); reports its own stage
/// on `ctx`; throws Cancelled when asked.
using FitCalibrator =
    std::function<std::vector<double>(const std::vector<FitProbe> &probes, JobContext &ctx)>;

/// What the budget bounds.
enum class FitBudgetKind {
    FileBytes,   ///< the output file (header included)
    TensorBytes, ///< the tensor data only (what the advisor's memory model counts as weights)
};

struct FitOptions {
    std::uint64_t budgetBytes = 0;
    FitBudgetKind budgetKind = FitBudgetKind::FileBytes;
    /// How the budget was given, for the note ("--target-size 38GB").
    QString budgetText;
    /// Options of the conversion: allowRequantize, hasImatrix, imatrix summary, metadata
    /// overrides. Type options (--pure, --tensor-type, ...) and --prune-layers are refused.
    QuantOptions base;
    /// Importance per tensor; with it the I-quants are candidates and errors are weighted.
    const ImportanceMatrix *imatrix = nullptr;
    /// Rows sampled per tensor: all rows of a tensor of at most kFitSampleAllElements elements,
    /// else enough rows for this many elements (at least 4, at most 64), evenly spaced.
    std::uint64_t sampleElements = 65536;
    int nThreads = 0; ///< 0: all cores
    /// Measured sensitivity (see the file comment); empty: the documented fitSensitivity().
    FitCalibrator calibrate;
    /// With calibrate: how it was measured, for the quantize.recipe note ("KLD on 1,024 tokens
    /// of X").
    QString calibrationText;
    /// Why these sensitivities (measured or documented) were used, for the quantize.recipe note
    /// ("auto: estimate within 60 s"); empty: no reason given.
    QString sensitivityReason;
};

constexpr std::uint64_t kFitSampleAllElements = 1u << 18;

/// One candidate type of one tensor.
struct FitCandidate {
    GgmlType type = GgmlType::F32;
    std::uint64_t bytes = 0;      ///< tensor data bytes in this type
    double relativeError = 0;     ///< measured on the sample: cost / sensitivity (one part: its own)
    double cost = 0;              ///< relativeError x sensitivity
};

/// One candidate tensor of the fit.
struct FitTensor {
    QByteArray name;
    TensorRole role = TensorRole::Other;
    /// The sum of its parts' documented factors (one part unless fused); calibrated: the
    /// measured KLD / the probe type's relative error.
    double sensitivity = 1;
    GgmlType probeType = GgmlType::F32; ///< calibrated only: the type measured in the model
    double measuredKld = -1;            ///< calibrated only: the model's KLD at probeType
    GgmlType baseType = GgmlType::F32;  ///< the base mix's type
    bool isProtected = false;           ///< floor at baseType (output, token_embd, GQA attn_v)
    GgmlType type = GgmlType::F32;      ///< chosen
    std::vector<FitCandidate> candidates; ///< allowed ones, by bytes ascending
    const FitCandidate &chosen() const;
};

struct FitResult {
    QuantPlan plan;                  ///< of nearestMix, every candidate decided by `recipe`
    QuantOptions options;            ///< base options + recipe items + quantize.recipe note
    std::vector<RecipeLine> recipe;
    std::vector<FitTensor> tensors;  ///< in plan order
    FileType baseMix = FileType::Q4_K_M;    ///< largest standard mix within the budget
    FileType nearestMix = FileType::Q4_K_M; ///< general.file_type: standard mix nearest in size
    std::uint64_t budgetBytes = 0;
    std::uint64_t fittedBytes = 0;   ///< what the budget bounds, of the fitted plan
    std::uint64_t baseMixBytes = 0;
    double predictedCost = 0;        ///< sum of the chosen costs
    double baseMixCost = 0;          ///< the same sum for the base mix's types
    QString note;                    ///< the quantize.recipe value
    double costSeconds = 0;          ///< measuring the costs
    double allocationSeconds = 0;
    bool calibrated = false;         ///< the sensitivities were measured (FitOptions::calibrate)
    QString calibrationText;         ///< FitOptions::calibrationText when calibrated
    double calibrationSeconds = 0;
    /// Standard mixes planned for the comparison, with their budget measure.
    std::vector<std::pair<FileType, std::uint64_t>> standardMixes;
};

/// Sensitivity of a tensor in the cost model (docs/quantization.md): the role's factor
/// (fitRoleSensitivity) times the layer's (fitLayerSensitivity). A fused tensor (attn_qkv, phi3's
/// gate+up ffn_up) is costed as the sum of its parts, each with its own role's factor.
double fitSensitivity(const QByteArray &name, std::uint32_t nLayers);
/// 1 for a weight matrix; 2 for output.weight (its error reaches the logits directly); 4 for
/// token_embd.weight (its rows are the whole residual stream where it starts, and every layer
/// reads them; measured on the references, docs/quantization.md). A tied token_embd, also the
/// output head, adds both.
double fitRoleSensitivity(TensorCategory category);
/// 1.5 in the first and last eighth of the layers (llama-quantize's use_more_bits layers) of a
/// model of at least 8 layers, else 1.
double fitLayerSensitivity(const QByteArray &name, std::uint32_t nLayers);

/// The type calibration measures a tensor at, among its candidates: Q4_K, else Q4_0 (rows not
/// a multiple of 256), else the candidate in the middle by bytes. Why one mid type for every
/// tensor rather than the base mix's: its KLD stands well above the noise of a short text for
/// every tensor (the protected tensors' Q6_K/Q8_0 would not), the measurements are comparable
/// across tensors, and Q4_K lies in the middle of the sizes a fit chooses between, so the
/// proportion KLD ~ relative squared error is extrapolated over the shortest distance.
GgmlType fitProbeType(const std::vector<FitCandidate> &candidates);

/// The whole tensor of `probe` quantized at its type, rows from `rows` (on nThreads workers):
/// ready to stand in for the source tensor (LlamaModel::withWeight). Throws Error for a type
/// we cannot write; Cancelled.
std::vector<std::uint8_t> quantizeFitProbe(const FitProbe &probe, const FitRowSource &rows,
                                           int nThreads, JobContext &ctx);

/// Chooses the mix. Progress: stage "Measuring tensor costs" (tensors), then allocation.
/// Throws Error when the budget is below the smallest size the candidates allow (naming it),
/// for refused options, and when no standard mix can be planned; Cancelled.
FitResult fitMix(const GgufMetadata &metadata, const std::vector<GgufTensorInfo> &tensors,
                 const FitOptions &options, const FitRowSource &rows, JobContext &ctx);

/// Parses a size: a number with unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB
/// (powers of 1024), case-insensitive ("38GB", "37.5 GiB", "900MB"). Throws Error naming the text.
std::uint64_t parseByteSize(const QString &text);

} // namespace QuantFit
