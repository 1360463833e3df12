#pragma once

// Measured sensitivity for the budget fit (`quantize --target-size S`: by default where the
// estimate is within a minute, chooseFitSensitivity; `--calibrate` always): the FitCalibrator that
// quant/fitmix.h calls once the costs are measured. It lives here because it needs the forward pass
// (core/infer) and the KL divergence (core/eval), which core/quant may not use.
//
//  1. The source model's logits on the calibration text (nChunks chunks of nCtx tokens, as
//     llama-perplexity chunks and scores them) are kept in a temporary base-logits file.
//  2. For each candidate tensor (a fused tensor or a stack of experts is one probe, as it is one
//     unit of the fit) the whole tensor is quantized at its probe type (fitProbeType), put in
//     place of the source tensor in memory (LlamaModel::withWeight: no file is written, one
//     tensor's bytes are held at a time), and the mean KLD of the model's logits from the
//     source's is measured.
//  3. fitMix turns each KLD into a sensitivity: KLD / the probe type's relative error.
//
// Cost: one forward pass over the calibration tokens per candidate tensor plus one, estimated
// before it starts (estimateFitCalibration) and refused beyond maxSeconds unless forced. The KLDs
// are summed per position in position order, so they do not depend on the thread count.

#include "eval/perplexity.h"
#include "quant/fitmix.h"

#include <QString>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace QuantFit {

class GgufFile;
struct QuantOptions;

/// Default chunks and tokens per chunk: 8 x 128 (504 scored tokens), seconds for the small
/// models the fit is most often run on; the context is lowered to the model's when smaller.
constexpr int kFitCalibrationDefaultChunks = 8;
constexpr int kFitCalibrationDefaultCtx = 128;
/// Refused beyond this estimate unless forced: half an hour.
constexpr double kFitCalibrationMaxSeconds = 1800;
/// The default (auto) measures when the up-front estimate is at most this: a minute. Below it
/// the 51 README budgets were all measured (under 1 s to 35 s per fit on the references), and
/// a fit that waits a minute for a lower KLD is still quick next to the conversion of a model.
constexpr double kFitCalibrationAutoSeconds = 60;
/// CPU seconds per evaluated token and weight of the forward pass, the perplexity figure of one
/// AVX-512 core (README: 4,096 tokens of a 107 M-parameter model in 12 CPU seconds).
constexpr double kForwardSecondsPerTokenWeight = 0.027e-9;

struct FitCalibrationSettings {
    QString textSource;   ///< a file or ARCHIVE:MEMBER; empty: the built-in sample
    int nChunks = kFitCalibrationDefaultChunks;
    int nCtx = kFitCalibrationDefaultCtx;
    bool force = false;   ///< run even when the estimate exceeds maxSeconds
    double maxSeconds = kFitCalibrationMaxSeconds;
    /// FitSensitivityMode::Auto measures when the up-front estimate is at most this.
    double autoMaxSeconds = kFitCalibrationAutoSeconds;
    /// Reuse the KLDs of a calibration of the same file, text and probes made earlier in this
    /// process (the app's Advise row, Convert's preview and Convert's run of one fit measure
    /// once); no estimate is reported and no limit applies then.
    bool reuse = true;
};

struct FitCalibrationEstimate {
    int nProbes = 0;                ///< candidate tensors, one forward pass each
    int nChunks = 0;
    int nCtx = 0;
    std::uint64_t activeWeights = 0; ///< passed by one token (routed experts: the used share)
    int nThreads = 1;
    double seconds = 0;             ///< (nProbes + 1) passes; measured: the nProbes left
    /// From the source's own pass (its time x nProbes), not from kForwardSecondsPerTokenWeight.
    bool measured = false;
    /// "58 tensors x 8 chunks of 128 tokens through 6.3 M weights: about 5 s on 2 threads".
    QString text() const;
};

/// Which sensitivities a fit uses: `quantize`'s default, `--calibrate`, `--no-calibrate`;
/// Convert's fit panel.
enum class FitSensitivityMode {
    /// Measured when the forward pass runs the model and the up-front (a-priori) estimate for
    /// the threads in use is at most kFitCalibrationAutoSeconds; else the documented factors.
    Auto,
    Measured,   ///< always measured (refused beyond maxSeconds unless forced)
    Documented, ///< the documented factors (fitSensitivity in quant/fitmix.h)
};

/// What a fit used and why, decided before any cost is measured (chooseFitSensitivity).
struct FitSensitivityChoice {
    FitSensitivityMode mode = FitSensitivityMode::Auto;
    bool measured = false;
    /// The up-front estimate when one was made (Auto and Measured).
    std::optional<FitCalibrationEstimate> estimate;
    /// Why, for people: "auto: about 5 s on 2 threads, within the 60 s auto limit". May name
    /// times and threads.
    QString reason;
    /// Why, for the quantize.recipe note: the same without times or thread counts, so that the
    /// file does not depend on them ("auto: estimate within 60 s").
    QString noteReason;
    /// "measured sensitivity (auto: ...)" or "documented sensitivity factors (off)".
    QString text() const;
};

/// The estimate for `source` (weights from the header) with `nProbes` probes.
FitCalibrationEstimate estimateFitCalibration(const GgufFile &source, int nProbes, int nChunks,
                                              int nCtx, int nThreads);

/// The text's tokens for the source's vocabulary, the chunk count and context clamped to what
/// the text and model allow. Throws Error when the text is too short for one chunk (naming it).
struct FitCalibrationText {
    EvalTokens tokens;
    int nChunks = 0;
    int nCtx = 0;
    QString name;   ///< file name or "built-in sample"
    /// For the quantize.recipe note: "KLD per tensor at Q4_K on 8 chunks of 128 tokens of X".
    QString noteText() const;
};
FitCalibrationText loadFitCalibrationText(const GgufFile &source,
                                          const FitCalibrationSettings &settings);

/// Candidate tensors of a fit of `source` with `options` (one probe each): llama-quantize's
/// quantizable tensors (isQuantizableTensor).
int fitProbeCount(const GgufFile &source, const QuantOptions &options);

/// Decides `mode` for `source` before the fit: Documented and Measured as asked (Measured loads
/// the text and throws what loading it throws). Auto checks that the forward pass runs the
/// model and the built-in sample tokenizes (else the documented factors, with the reason), then
/// measures when the estimate is at most settings.autoMaxSeconds. `text` receives the loaded
/// text when measured.
FitSensitivityChoice chooseFitSensitivity(const GgufFile &source, const QuantOptions &options,
                                          FitSensitivityMode mode,
                                          const FitCalibrationSettings &settings, int nThreads,
                                          std::optional<FitCalibrationText> &text);

/// The calibrator over the mapped `source` (shared with the model it loads) and its text.
/// `onEstimate` (may be empty) sees the estimate before any pass runs, and again measured after
/// the source's own pass (the a-priori figure is a single-core throughput; small models run
/// below it). Beyond settings.maxSeconds without settings.force, either time, the calibrator
/// throws Error naming the model's size and the estimate. Progress: stage "Calibrating
/// sensitivities", one unit per evaluated chunk, (nProbes + 1) x nChunks in all (after the
/// units of earlier stages); Cancelled between chunks and layers. With settings.reuse, the KLDs
/// of an identical calibration earlier in this process are returned without a pass.
FitCalibrator makeFitCalibrator(std::shared_ptr<const GgufFile> source, FitCalibrationText text,
                                FitCalibrationSettings settings, int nThreads,
                                std::function<void(const FitCalibrationEstimate &)> onEstimate);

/// The sensitivity model of fitting `source` with `options` (chooseFitSensitivity over
/// options.base and options.nThreads), applied to them: options.sensitivityReason always; when
/// measured, options.calibrationText and options.calibrate (makeFitCalibrator). What
/// `quantize`'s fit and Advise's "Fit exactly" row both do, so that they choose alike.
FitSensitivityChoice applyFitSensitivity(FitOptions &options, std::shared_ptr<const GgufFile> source,
                                         FitSensitivityMode mode,
                                         const FitCalibrationSettings &settings,
                                         std::function<void(const FitCalibrationEstimate &)> onEstimate = {});

} // namespace QuantFit
