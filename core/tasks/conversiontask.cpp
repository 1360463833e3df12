#include "conversiontask.h"

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

namespace QuantFit {

namespace {

QString outputPathFor(const ConversionRequest &request, FileType fileType)
{
    if (!request.outputFile.isEmpty())
        return request.outputFile;
    const QString name = defaultOutputPath(request.sourcePath, fileType);
    if (request.outputFolder.isEmpty())
        return name;
    return QDir(request.outputFolder).filePath(QFileInfo(name).fileName());
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
}

} // namespace

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
    if (request.imatrixPath.isEmpty()) {
        if (!o.includeWeights.isEmpty() || !o.excludeWeights.isEmpty())
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
            options.imatrix = ImatrixSummary{request.imatrixPath, imatrix->datasets.value(0),
                                             std::uint32_t(imatrix->entries.size()),
                                             imatrix->chunkCount};
            prep.imatrix = options.imatrix;
        }
    }
    for (FileType ft : request.fileTypes) {
        ConversionTarget t;
        t.fileType = ft;
        t.outputPath = outputPathFor(request, ft);
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
    QString folder = request.outputFolder;
    if (folder.isEmpty())
        folder = QFileInfo(prep.targets.front().outputPath).absolutePath();
    prep.freeBytes = availableDiskBytes(folder);
    return prep;
}

ConversionResult runConversion(const ConversionRequest &request, JobContext &ctx)
{
    checkRequest(request);
    // Everything that can refuse the request happens before the first progress report, so a
    // refusal is the only thing a console shows.
    const GgufFile input = GgufFile::open(request.sourcePath);
    const std::optional<ImportanceMatrix> imatrix = loadConversionImatrix(request);
    ctx.throwIfCancelled();
    const ConversionPreparation prep = prepareConversion(request, input, imatrix ? &*imatrix : nullptr);
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
    if (!request.outputFolder.isEmpty() && !QDir().mkpath(request.outputFolder))
        throw IoError(request.outputFolder, QStringLiteral("create folder"),
                      QStringLiteral("cannot create the output folder"));

    QuantizeOptions qo;
    qo.nThreads = request.nThreads;
    qo.verify = request.verify;
    qo.imatrix = prep.imatrix ? &*imatrix : nullptr;
    const QuantizeResult written = quantize(input, targets, qo, ctx);

    ConversionResult result;
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
