#include "conversiontask.h"

#include "imatrixtask.h"
#include "measurementtask.h"

#include "discovery/modeldiscovery.h"
#include "discovery/modelstores.h"
#include "gguf/ggufreader.h"
#include "io/atomicoutput.h"
#include "io/diskspace.h"
#include "jobs/jobcontext.h"
#include "quant/quantizer.h"
#include "util/error.h"
#include "util/units.h"

#include <QDir>
#include <QFileInfo>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>

namespace QuantFit {

namespace {

//
// calibration: names, the two stages' weights, the stage context
//

/// The text's name as the calibration reports it.
QString calibrationTextName(const CalibrationRequest &c)
{
    return c.textSource.isEmpty() ? builtInSampleName() : c.textSource;
}

/// quantize.imatrix.file: the file as given, as llama-quantize records it; a computed matrix
/// is named by where it was saved, or else by what it was computed from (there is no file).
QString imatrixLabel(const ConversionRequest &request)
{
    if (!request.calibration)
        return request.imatrixPath;
    if (!request.calibration->saveImatrixPath.isEmpty())
        return request.calibration->saveImatrixPath;
    return QStringLiteral("computed from %1").arg(calibrationTextName(*request.calibration));
}

ImatrixRequest imatrixRequestFor(const ConversionRequest &request)
{
    const CalibrationRequest &c = *request.calibration;
    ImatrixRequest r;
    r.modelPath = request.sourcePath;
    r.textSource = c.textSource;
    r.builtInSample = c.textSource.isEmpty();
    r.nCtx = c.nCtx;
    r.nChunks = c.nChunks;
    r.nBatch = c.nBatch;
    r.nThreads = request.nThreads;
    return r;
}

// The bar of a calibrated conversion runs in estimated one-core nanoseconds, so that both
// stages move it at about the same speed and the ETA holds across them. Measured in CPU time on
// an AVX-512 machine with a 107 M-parameter synthetic F16 model: evaluating 20,480 tokens took
// 57 CPU seconds (0.026-0.027 ns per token and weight; attention is small at 512-token
// contexts), and the row quantizers (AVX-512 paths, importance matrix given) take the
// nanoseconds per weight below. Only the ratios matter; a faster or slower machine scales both
// stages alike.
constexpr double kCalibrationNsPerTokenWeight = 0.027;

double quantizeNsPerWeight(GgmlType type)
{
    switch (type) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
        return 1;
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
        return 4;
    case GgmlType::IQ1_S:
        return 38;
    case GgmlType::IQ1_M:
        return 87;
    case GgmlType::IQ2_XXS:
        return 64;
    case GgmlType::IQ2_XS:
        return 85;
    case GgmlType::IQ2_S:
        return 54;
    case GgmlType::IQ3_XXS:
        return 113;
    case GgmlType::IQ3_S:
        return 73;
    default:
        return 20; // K-quants, IQ4_NL/IQ4_XS and the rest
    }
}

std::uint64_t calibrationCost(std::uint64_t nTokens, const GgufFile &source)
{
    std::uint64_t nWeights = 0;
    for (const GgufTensorInfo &t : source.tensors())
        nWeights += t.nElements();
    return std::uint64_t(std::llround(double(nTokens) * double(nWeights) * kCalibrationNsPerTokenWeight));
}

std::uint64_t quantizationCost(const std::vector<QuantizeTarget> &targets)
{
    double ns = 0;
    for (const QuantizeTarget &t : targets) {
        for (const PlannedTensor &p : t.plan.tensors)
            ns += p.quantized ? double(p.source.nElements()) * quantizeNsPerWeight(p.targetType)
                              : double(p.targetBytes) * 0.1; // a copy
    }
    return std::max<std::uint64_t>(1, std::uint64_t(std::llround(ns)));
}

/// One stage of a larger job as a JobContext of its own: whatever the stage reports fills
/// [start, start + span) of the parent's units, where start is what the parent had done when
/// the stage began. The stage's text (or a fixed one) and its metric are passed on, and the stage
/// is cancelled with the parent. Reports arrive on worker threads; forwarding is serialized.
class StageContext : public JobContext
{
public:
    StageContext(JobContext &parent, std::uint64_t span, QString stage = {},
                 QString metricName = {})
        : JobContext({}, 0)
        , m_parent(parent)
        , m_span(span)
        , m_stage(std::move(stage))
        , m_metricName(std::move(metricName))
    {
        followCancel(parent);
        if (!m_stage.isEmpty())
            m_parent.setStage(m_stage);
    }

    /// The stage is over: its whole span counts as done.
    void finish() { forward(m_span); }

protected:
    void report(const Progress &p) override
    {
        if (m_stage.isEmpty() && !p.stage.isEmpty() && p.stage != m_lastStage) {
            m_lastStage = p.stage;
            m_parent.setStage(p.stage);
        }
        if (p.metric && p.metric != m_lastMetric) {
            m_lastMetric = p.metric;
            m_parent.setMetric(m_metricName.isEmpty() ? p.metricName : m_metricName, *p.metric,
                               p.metricError);
        }
        if (p.total)
            forward(std::uint64_t(double(m_span) * std::min(1.0, p.fraction())));
    }

private:
    void forward(std::uint64_t mapped)
    {
        std::lock_guard lock(m_forwardMutex);
        if (mapped <= m_forwarded)
            return;
        m_parent.advance(mapped - m_forwarded);
        m_forwarded = mapped;
    }

    JobContext &m_parent;
    const std::uint64_t m_span;
    const QString m_stage;
    const QString m_metricName;
    QString m_lastStage;           // report() runs under the base class's lock
    std::optional<double> m_lastMetric;
    std::mutex m_forwardMutex;
    std::uint64_t m_forwarded = 0;
};

//
// requests
//

const QString kCalibrationWithImatrix = QStringLiteral(
    "--calibration and --imatrix cannot be combined: the importance matrix is either computed "
    "from a text or read from a file");

bool isInRunnerStore(const QString &path)
{
    return !path.isEmpty()
        && storeContaining(path, defaultStoreLocations(DiscoveryEnvironment::current()));
}

// Where the outputs of a request go, decided once per request (finding a store reads the
// runners' settings, naming an Ollama blob reads its manifests).
struct OutputPlace {
    QString file;   ///< the request's output file, or empty
    QString folder; ///< the folder for NAME-TYPE.gguf; empty: next to the source
    QString source; ///< the path defaultOutputPath() names outputs after
};

OutputPlace outputPlaceFor(const ConversionRequest &request)
{
    OutputPlace place{request.outputFile, request.outputFolder, request.sourcePath};
    if (!place.file.isEmpty() || !isInRunnerStore(request.sourcePath))
        return place;
    if (place.folder.isEmpty())
        place.folder = convertedModelsFolder();
    place.source = QDir(place.folder).filePath(modelFileStem(request.sourcePath)
                                               + QStringLiteral(".gguf"));
    return place;
}

QString outputPathFor(const OutputPlace &place, FileType fileType)
{
    if (!place.file.isEmpty())
        return place.file;
    const QString name = defaultOutputPath(place.source, fileType);
    if (place.folder.isEmpty())
        return name;
    return QDir(place.folder).filePath(QFileInfo(name).fileName());
}

void checkRequest(const ConversionRequest &request)
{
    if (request.fileTypes.empty())
        throw Error(QStringLiteral("no file type given to convert to"));
    if (!request.outputFile.isEmpty() && !request.outputFolder.isEmpty())
        throw Error(QStringLiteral("an output file and an output folder cannot both be given"));
    if (!request.outputFile.isEmpty() && request.fileTypes.size() > 1)
        throw Error(QStringLiteral("with several types the output must be a folder ('%1' is a "
                                   "file name); or leave it out to write next to the input")
                        .arg(request.outputFile));
    if (request.calibration && !request.imatrixPath.isEmpty())
        throw Error(kCalibrationWithImatrix);
}

} // namespace

QString defaultOutputFolder(const QString &sourcePath)
{
    return isInRunnerStore(sourcePath) ? convertedModelsFolder()
                                       : QFileInfo(sourcePath).absolutePath();
}

bool ConversionPreparation::isReady() const
{
    return !targets.empty() && std::all_of(targets.begin(), targets.end(), [](const ConversionTarget &t) {
        return t.plan && t.error.isEmpty() && t.plan->isWritable() && t.imatrixMissing.isEmpty();
    });
}

void ConversionPreparation::throwIfNotReady() const
{
    for (const ConversionTarget &t : targets) {
        if (!t.error.isEmpty())
            throw Error(QStringLiteral("%1: %2").arg(fileTypeName(t.fileType), t.error));
        if (t.plan && !t.plan->refusal.isEmpty())
            throw Error(QStringLiteral("%1: %2").arg(fileTypeName(t.fileType), t.plan->refusal));
        if (t.plan && !t.plan->isWritable())
            throw Error(QStringLiteral("%1: this build cannot write every tensor type of the mix")
                            .arg(fileTypeName(t.fileType)));
    }
    if (targets.empty())
        throw Error(QStringLiteral("no file type given to convert to"));
}

std::optional<ImportanceMatrix> loadConversionImatrix(const ConversionRequest &request)
{
    const QuantOptions &o = request.options;
    if (!o.includeWeights.isEmpty() && !o.excludeWeights.isEmpty())
        throw Error(QStringLiteral("--include-weights and --exclude-weights cannot be combined"));
    if (request.calibration && !request.imatrixPath.isEmpty())
        throw Error(kCalibrationWithImatrix);
    if (request.imatrixPath.isEmpty()) {
        if (!request.calibration && (!o.includeWeights.isEmpty() || !o.excludeWeights.isEmpty()))
            throw Error(QStringLiteral("--include-weights/--exclude-weights need an importance matrix"));
        return std::nullopt;
    }
    ImportanceMatrix matrix = readImportanceMatrix(request.imatrixPath);
    matrix.filter(o.includeWeights, o.excludeWeights);
    return matrix;
}

ConversionPreparation prepareConversion(const ConversionRequest &request, const GgufFile &source,
                                        const ImportanceMatrix *imatrix)
{
    checkRequest(request);
    ConversionPreparation prep;
    QuantOptions options = request.options;
    options.hasImatrix = false;
    options.imatrix.reset();
    if (imatrix) {
        if (imatrix->entries.empty()) {
            prep.warnings << QStringLiteral("no importance matrix entries left after "
                                            "--include-weights/--exclude-weights");
        } else {
            // What llama-quantize records: the file name as given, the first dataset, the
            // entry and chunk counts.
            options.hasImatrix = true;
            options.imatrix = ImatrixSummary{imatrixLabel(request), imatrix->datasets.value(0),
                                             std::uint32_t(imatrix->entries.size()),
                                             imatrix->chunkCount};
            prep.imatrix = options.imatrix;
        }
    } else if (request.calibration) {
        // The matrix the calibration will compute, as far as the header is concerned: its
        // dataset is the text's file name, as collectImatrix names it; the counts are
        // fixed-size UINT32s (entries are not known yet).
        const CalibrationRequest &c = *request.calibration;
        const QString dataset = QFileInfo(calibrationTextName(c)).fileName();
        options.hasImatrix = true;
        options.imatrix = ImatrixSummary{imatrixLabel(request), dataset, 0,
                                         std::uint32_t(std::max(1, c.nChunks))};
        prep.imatrix = options.imatrix;
    }
    const OutputPlace place = outputPlaceFor(request);
    for (FileType ft : request.fileTypes) {
        ConversionTarget t;
        t.fileType = ft;
        t.outputPath = outputPathFor(place, ft);
        try {
            t.plan = makeQuantPlan(source.metadata(), source.tensors(), ft, options);
            for (const QString &w : t.plan->warnings)
                prep.warnings << QStringLiteral("%1: %2").arg(fileTypeName(ft), w);
            if (!options.hasImatrix && t.plan->imatrixRequiredBy) {
                t.imatrixMissing = imatrixRequirementMessage(*t.plan);
                prep.warnings << t.imatrixMissing;
            }
            prep.totalOutputBytes += t.plan->outputFileBytes;
        } catch (const Error &e) {
            t.error = e.message();
        }
        prep.targets.push_back(std::move(t));
    }
    prep.freeBytes = availableDiskBytes(QFileInfo(prep.targets.front().outputPath).absolutePath());
    return prep;
}

namespace {

/// The plans of a ready preparation as quantizer targets; refuses what the quantizer would.
std::vector<QuantizeTarget> quantizeTargets(const ConversionRequest &request,
                                            const ConversionPreparation &prep)
{
    prep.throwIfNotReady();
    for (const ConversionTarget &t : prep.targets) {
        if (!t.imatrixMissing.isEmpty())
            throw Error(t.imatrixMissing);
    }
    std::vector<QuantizeTarget> targets;
    for (const ConversionTarget &t : prep.targets) {
        ensureDistinctOutput(request.sourcePath, t.outputPath);
        targets.push_back({*t.plan, t.outputPath});
    }
    return targets;
}

/// Before a calibration that may take hours: where the matrix is saved, and room for the
/// outputs (the quantizer checks again with the exact sizes).
void checkBeforeCalibrating(const ConversionRequest &request, const ConversionPreparation &prep)
{
    const QString &save = request.calibration->saveImatrixPath;
    if (!save.isEmpty()) {
        ensureDistinctOutput(request.sourcePath, save);
        for (const ConversionTarget &t : prep.targets) {
            if (QFileInfo(t.outputPath).absoluteFilePath() == QFileInfo(save).absoluteFilePath())
                throw Error(QStringLiteral("--save-imatrix '%1' is also an output file").arg(save));
        }
    }
    requireDiskSpace(QFileInfo(prep.targets.front().outputPath).absolutePath(),
                     prep.totalOutputBytes);
}

/// The calibration stage: computes the matrix as `quantfit-cli imatrix` does, saves it when
/// asked, and returns it filtered by --include/--exclude-weights, as `quantize --imatrix` would
/// read the saved file.
ImportanceMatrix calibrate(const ConversionRequest &request, ImatrixComputation &computation,
                           JobContext &ctx, std::uint64_t span, CalibrationResult &result)
{
    const CalibrationRequest &c = *request.calibration;
    StageContext stage(ctx, span,
                       QStringLiteral("Calibrating: importance matrix from %1 (%2 chunks of %3 "
                                      "tokens)")
                           .arg(QFileInfo(calibrationTextName(c)).fileName())
                           .arg(computation.nChunks())
                           .arg(c.nCtx),
                       QStringLiteral("calibration PPL"));
    ImatrixRunResult run = computation.run(stage);
    if (!c.saveImatrixPath.isEmpty()) {
        writeImportanceMatrix(c.saveImatrixPath, run.matrix, imatrixFormatForPath(c.saveImatrixPath));
        result.savedPath = c.saveImatrixPath;
    }
    stage.finish();
    result.nChunks = run.perplexity.nChunks;
    result.nCtx = c.nCtx;
    result.nEntries = run.matrix.entries.size();
    result.ppl = run.perplexity.ppl;
    result.pplError = run.perplexity.pplError;
    result.seconds = run.perplexity.seconds;
    run.matrix.filter(request.options.includeWeights, request.options.excludeWeights);
    return std::move(run.matrix);
}

} // namespace

ConversionResult runConversion(const ConversionRequest &request, JobContext &ctx)
{
    checkRequest(request);
    // Everything that can refuse the request happens before the first progress report, so a
    // refusal is the only thing a console shows.
    const GgufFile input = GgufFile::open(request.sourcePath);
    std::optional<ImportanceMatrix> imatrix = loadConversionImatrix(request);
    ctx.throwIfCancelled();
    ConversionPreparation prep = prepareConversion(request, input, imatrix ? &*imatrix : nullptr);
    std::vector<QuantizeTarget> targets = quantizeTargets(request, prep);
    std::unique_ptr<ImatrixComputation> calibration;
    if (request.calibration) {
        calibration = std::make_unique<ImatrixComputation>(imatrixRequestFor(request));
        checkBeforeCalibrating(request, prep);
    }
    if (request.outputFile.isEmpty()) {
        // The request's folder, or the default one for a store model: made when missing.
        const QString folder = QFileInfo(prep.targets.front().outputPath).absolutePath();
        if (!QDir().mkpath(folder))
            throw IoError(folder, QStringLiteral("create folder"),
                          QStringLiteral("cannot create the output folder"));
    }

    ConversionResult result;
    JobContext *quantizeCtx = &ctx;
    std::optional<StageContext> quantizeStage;
    if (calibration) {
        // One bar over both stages, in estimated CPU time.
        const std::uint64_t calibrateUnits = calibrationCost(calibration->nTokens(), input);
        const std::uint64_t quantizeUnits = quantizationCost(targets);
        ctx.setTotal(calibrateUnits + quantizeUnits);
        result.calibration.emplace();
        imatrix = calibrate(request, *calibration, ctx, calibrateUnits, *result.calibration);
        calibration.reset(); // the evaluation's buffers and mapping are not needed any more
        // The same plans with the matrix's real counts (the sizes do not change).
        prep = prepareConversion(request, input, &*imatrix);
        targets = quantizeTargets(request, prep);
        quantizeStage.emplace(ctx, quantizeUnits);
        quantizeCtx = &*quantizeStage;
    }

    QuantizeOptions qo;
    qo.nThreads = request.nThreads;
    qo.verify = request.verify;
    qo.imatrix = prep.imatrix ? &*imatrix : nullptr;
    const QuantizeResult written = quantize(input, targets, qo, *quantizeCtx);
    if (quantizeStage) {
        quantizeStage->finish();
        ctx.flush();
    }

    result.imatrix = prep.imatrix;
    result.warnings = prep.warnings + written.warnings;
    result.inputBytes = written.inputBytes;
    result.seconds = written.seconds;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        const QuantPlan &plan = targets[i].plan;
        ConversionOutput o;
        o.fileType = plan.fileType;
        o.path = written.outputs[i].path;
        o.files = written.outputs[i].files;
        o.predictedBytes = plan.outputFileBytes;
        o.actualBytes = written.outputs[i].fileBytes;
        o.bitsPerWeight = plan.bitsPerWeight();
        o.verified = request.verify;
        result.outputs.push_back(o);
    }
    return result;
}

} // namespace QuantFit
