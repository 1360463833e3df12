#include "fittask.h"

#include "advisor/memorymodel.h"
#include "advisor/recommend.h"
#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "model/modelinfo.h"
#include "util/error.h"
#include "util/units.h"

#include <QDir>
#include <QFileInfo>

#include <map>

namespace QuantFit {

namespace {

// A budget in the decimal units the advisor and the app show RAM and file sizes in.
QString decimalSize(std::uint64_t bytes)
{
    return bytes >= GB ? formatGB(bytes, 2) : QStringLiteral("%1 MB").arg(double(bytes) / 1e6, 0, 'f', 1);
}

} // namespace

FitBudget fitBudgetFor(const GgufFile &source, const FitTarget &target)
{
    FitBudget b;
    switch (target.kind) {
    case FitTarget::Kind::FileSize:
        if (target.fileBytes == 0)
            throw Error(QStringLiteral("--target-size: the size must be more than 0 bytes"));
        b.bytes = target.fileBytes;
        b.kind = FitBudgetKind::FileBytes;
        b.description = QStringLiteral("a file of at most %1 (%2 bytes)")
                            .arg(decimalSize(b.bytes))
                            .arg(b.bytes);
        return b;
    case FitTarget::Kind::BitsPerWeight: {
        if (!(target.bitsPerWeight > 0) || target.bitsPerWeight > 32)
            throw Error(QStringLiteral("--target-bpw: expected bits per weight between 0 and 32, "
                                       "got %1")
                            .arg(target.bitsPerWeight));
        std::uint64_t nElements = 0;
        for (const GgufTensorInfo &t : source.tensors())
            nElements += t.nElements();
        b.bytes = std::uint64_t(double(nElements) * target.bitsPerWeight / 8.0);
        b.kind = FitBudgetKind::TensorBytes;
        b.description = QStringLiteral("%1 bits per weight: tensor data of at most %2 (%3 bytes)")
                            .arg(target.bitsPerWeight)
                            .arg(formatBytes(b.bytes))
                            .arg(b.bytes);
        return b;
    }
    case FitTarget::Kind::Machine:
        break;
    }
    if (target.ramBytes == 0)
        throw Error(QStringLiteral("--fit-ram: the RAM must be more than 0"));
    const ModelInfo info = modelInfoFrom(source);
    const ModelShape shape = shapeFromModelInfo(info, source.metadata(), source.path());
    AdviceOptions o;
    o.ramBytes = target.ramBytes;
    o.kvType = target.kvType;
    o.flashAttention = target.flashAttention;
    o.contextTokens =
        target.contextTokens ? target.contextTokens : std::min(kDefaultContext, shape.nCtxMax);
    if (o.contextTokens > shape.nCtxMax)
        throw Error(QStringLiteral("--context %1 exceeds the model's maximum context of %2 tokens")
                        .arg(o.contextTokens)
                        .arg(shape.nCtxMax));
    const std::uint64_t reserve =
        target.reserveBytes ? *target.reserveBytes : defaultReserveBytes(target.ramBytes);
    if (reserve >= target.ramBytes)
        throw Error(QStringLiteral("--reserve (%1) must be less than the RAM (%2)")
                        .arg(formatBytes(reserve), formatBytes(target.ramBytes)));
    o.reserveBytes = reserve;
    b.memoryWithoutWeights = memoryAt(shape, 0, o.contextTokens, o, reserve);
    const std::uint64_t rest = b.memoryWithoutWeights.totalBytes();
    if (rest >= target.ramBytes)
        throw Error(QStringLiteral("%1 of RAM leaves nothing for the weights at a context of %2 "
                                   "tokens: KV cache %3, compute %4, overhead %5 and reserve %6 "
                                   "take %7")
                        .arg(formatGB(target.ramBytes, 1))
                        .arg(o.contextTokens)
                        .arg(formatBytes(b.memoryWithoutWeights.kvCacheBytes),
                             formatBytes(b.memoryWithoutWeights.computeBytes),
                             formatBytes(b.memoryWithoutWeights.overheadBytes),
                             formatBytes(reserve), formatBytes(rest)));
    b.bytes = target.ramBytes - rest;
    b.kind = FitBudgetKind::TensorBytes;
    b.contextTokens = o.contextTokens;
    b.description = QStringLiteral("%1 of RAM at %2 tokens of context (KV %3): weights of at most "
                                   "%4 (%5 bytes)")
                        .arg(formatGB(target.ramBytes, 1))
                        .arg(o.contextTokens)
                        .arg(kvCacheTypeName(target.kvType), decimalSize(b.bytes))
                        .arg(b.bytes);
    return b;
}

FittedConversion planFittedConversion(const ConversionRequest &request, const FitTarget &target,
                                      JobContext &ctx)
{
    if (request.calibration)
        throw Error(QStringLiteral("a fitted mix needs its importance matrix first: compute it "
                                   "with `imatrix` and pass --imatrix FILE"));
    if (request.fileTypes.size() > 1)
        throw Error(QStringLiteral("a fitted mix writes one file; give no TYPE (or one)"));
    // Shared: a calibration's model maps the same file.
    const auto sharedSource = std::make_shared<const GgufFile>(GgufFile::open(request.sourcePath));
    const GgufFile &source = *sharedSource;
    const std::optional<ImportanceMatrix> imatrix = loadConversionImatrix(request);

    FittedConversion f;
    f.budget = fitBudgetFor(source, target);
    // What the header will record about the imatrix, as prepareConversion decides it.
    ConversionRequest probe = request;
    probe.fileTypes = {FileType::Q8_0};
    const ConversionPreparation probed =
        prepareConversion(probe, source, imatrix ? &*imatrix : nullptr);

    FitOptions o;
    o.budgetBytes = f.budget.bytes;
    o.budgetKind = f.budget.kind;
    o.budgetText = target.text;
    o.base = request.options;
    o.base.hasImatrix = probed.imatrix.has_value();
    o.base.imatrix = probed.imatrix;
    o.imatrix = imatrix && probed.imatrix ? &*imatrix : nullptr;
    o.nThreads = request.nThreads;
    f.sensitivity = applyFitSensitivity(o, sharedSource, target.sensitivity, target.calibration,
                                        target.onCalibrationEstimate);
    f.fit = fitMix(source.metadata(), source.tensors(), o, fileRowSource(source), ctx);

    f.request = request;
    f.request.fileTypes = {f.fit.nearestMix};
    f.request.options = f.fit.options;
    f.preparation = prepareConversion(f.request, source, imatrix ? &*imatrix : nullptr);
    if (request.outputFile.isEmpty()) {
        // Named after the budget, so that it never replaces the standard mix of the same type:
        // model-Q3_K_L.gguf -> model-Q3_K_L-fit-36.35GB.gguf.
        QString path = f.preparation.targets.front().outputPath;
        if (path.endsWith(QLatin1String(".gguf")))
            path.chop(5);
        f.request.outputFile =
            path + QStringLiteral("-fit-%1GB.gguf").arg(double(f.fit.plan.outputFileBytes) / 1e9, 0, 'f', 2);
        f.request.outputFolder.clear();
        f.preparation = prepareConversion(f.request, source, imatrix ? &*imatrix : nullptr);
    }
    f.preparation.throwIfNotReady();
    const QuantPlan &plan = *f.preparation.targets.front().plan;
    const std::uint64_t size = f.budget.kind == FitBudgetKind::FileBytes ? plan.outputFileBytes
                                                                        : plan.targetTensorBytes;
    if (size > f.budget.bytes)
        throw Error(QStringLiteral("internal: the fitted plan has %1 bytes, over the budget of %2")
                        .arg(size)
                        .arg(f.budget.bytes));
    return f;
}

ConversionResult runFittedConversion(const ConversionRequest &request, const FitTarget &target,
                                     JobContext &ctx, FitResult *fitOut)
{
    const FittedConversion f = planFittedConversion(request, target, ctx);
    if (fitOut)
        *fitOut = f.fit;
    if (request.outputFile.isEmpty()) {
        // The folder of the named output, made when missing as runConversion does for folders.
        const QString folder = QFileInfo(f.request.outputFile).absolutePath();
        if (!QDir().mkpath(folder))
            throw IoError(folder, QStringLiteral("create folder"),
                          QStringLiteral("cannot create the output folder"));
    }
    return runConversion(f.request, ctx);
}

QString fitSummaryText(const FittedConversion &fitted)
{
    const FitResult &r = fitted.fit;
    QString s = QStringLiteral("fit: %1\n").arg(fitted.budget.description);
    s += QStringLiteral("  base mix %1 (%2 bytes, predicted cost %3); named %4 (nearest standard "
                        "mix in size)\n")
             .arg(fileTypeName(r.baseMix))
             .arg(r.baseMixBytes)
             .arg(r.baseMixCost, 0, 'g', 5)
             .arg(fileTypeName(r.nearestMix));
    s += QStringLiteral("  fitted: %1 bytes of %2, %3 bits per weight, predicted cost %4 "
                        "(costs measured in %5 s, allocation %6 s)\n")
             .arg(r.fittedBytes)
             .arg(r.fittedBytes == r.plan.outputFileBytes ? QStringLiteral("file")
                                                          : QStringLiteral("tensor data"))
             .arg(r.plan.bitsPerWeight(), 0, 'f', 3)
             .arg(r.predictedCost, 0, 'g', 5)
             .arg(r.costSeconds, 0, 'f', 2)
             .arg(r.allocationSeconds, 0, 'f', 2);
    s += QStringLiteral("  output file: %1 bytes (%2)\n")
             .arg(r.plan.outputFileBytes)
             .arg(formatBytes(r.plan.outputFileBytes));
    s += QStringLiteral("  sensitivity: %1\n").arg(fitted.sensitivity.text());
    if (r.calibrated) {
        s += QStringLiteral("measured sensitivity (calibrated in %1 s: %2): tensor, probe type, "
                            "KLD with it alone at that type, sensitivity = KLD / relative error, "
                            "chosen type\n")
                 .arg(r.calibrationSeconds, 0, 'f', 2)
                 .arg(r.calibrationText);
        for (const FitTensor &t : r.tensors)
            s += QStringLiteral("  %1 %2 %3 %4 %5\n")
                     .arg(QString::fromUtf8(t.name), -34)
                     .arg(ggmlTypeName(t.probeType), -6)
                     .arg(t.measuredKld, 11, 'g', 4)
                     .arg(t.sensitivity, 11, 'g', 4)
                     .arg(ggmlTypeName(t.type));
    }
    s += QStringLiteral("recipe (--tensor-type-file):\n");
    for (const RecipeLine &l : r.recipe)
        s += QStringLiteral("  %1=%2  (%3 tensors)\n")
                 .arg(l.pattern, ggmlTypeName(l.type))
                 .arg(l.nTensors);
    std::map<GgmlType, std::pair<int, std::uint64_t>> perType;
    for (const FitTensor &t : r.tensors) {
        perType[t.type].first += 1;
        perType[t.type].second += t.chosen().bytes;
    }
    s += QStringLiteral("chosen types:\n");
    for (const auto &[type, nb] : perType)
        s += QStringLiteral("  %1 %2 tensors %3 bytes (%4)\n")
                 .arg(ggmlTypeName(type), -8)
                 .arg(nb.first, 5)
                 .arg(nb.second, 14)
                 .arg(formatBytes(nb.second));
    return s;
}

} // namespace QuantFit
