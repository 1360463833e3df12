#include "fitcalibration.h"

#include "measurementtask.h"

#include "eval/baselogits.h"
#include "eval/evaltext.h"
#include "gguf/ggufreader.h"
#include "infer/llamamodel.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "quant/quantmix.h"
#include "util/error.h"
#include "util/units.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <mutex>

namespace QuantFit {

namespace {

QString durationText(double seconds)
{
    if (seconds < 120)
        return QStringLiteral("%1 s").arg(std::max(1.0, std::round(seconds)));
    if (seconds < 7200)
        return QStringLiteral("%1 min").arg(std::round(seconds / 60));
    return QStringLiteral("%1 h").arg(seconds / 3600, 0, 'f', 1);
}

// Weights one token passes through: every matrix (2-D and up), routed expert stacks at the
// share of experts a token uses; the token embedding is a row lookup unless it is also the
// output head (no output.weight).
std::uint64_t activeWeightsOf(const GgufFile &source)
{
    const GgufMetadata &md = source.metadata();
    const QByteArray arch = md.stringOr("general.architecture").toUtf8();
    const std::uint64_t nExperts = md.uintOr(arch + ".expert_count", 0);
    const std::uint64_t nUsed = md.uintOr(arch + ".expert_used_count", 0);
    const bool hasOutput = source.findTensor("output.weight") != nullptr;
    std::uint64_t n = 0;
    for (const GgufTensorInfo &t : source.tensors()) {
        if (t.effectiveDims() < 2)
            continue;
        if (t.name == "token_embd.weight" && hasOutput)
            continue;
        if (t.name.contains("_exps") && nExperts > 0 && nUsed > 0 && nUsed < nExperts)
            n += t.nElements() / nExperts * nUsed;
        else
            n += t.nElements();
    }
    return n;
}

// The measured KLDs of the last few calibrations in this process, so that the app's Advise
// row, Convert's preview and Convert's run of the same fit measure once. The key holds
// everything the KLDs depend on: the file (path, size, modification time), the tokens, the
// chunking, and per probe its tensor, type and importance values; not the thread count (the
// passes sum in position order: tests/core/tasks/testtasksfitcalibration.cpp).
class CalibrationCache
{
public:
    static QByteArray keyOf(const GgufFile &source, const FitCalibrationText &text,
                            const std::vector<FitProbe> &probes)
    {
        QCryptographicHash h(QCryptographicHash::Sha256);
        const auto addNumber = [&h](auto v) {
            h.addData(QByteArrayView(reinterpret_cast<const char *>(&v), sizeof v));
        };
        for (const QString &path : source.filePaths()) {
            const QFileInfo info(path);
            if (!info.isFile())
                return {}; // a model held in memory: not cached
            h.addData(info.absoluteFilePath().toUtf8());
            addNumber(info.size());
            addNumber(info.lastModified().toMSecsSinceEpoch());
        }
        h.addData(QByteArrayView(reinterpret_cast<const char *>(text.tokens.tokens.data()),
                                 qsizetype(text.tokens.tokens.size() * sizeof(std::int32_t))));
        addNumber(text.tokens.addBos);
        addNumber(text.tokens.bosId);
        addNumber(text.nChunks);
        addNumber(text.nCtx);
        for (const FitProbe &p : probes) {
            h.addData(p.tensor.name);
            addNumber(int(p.type));
            const std::vector<float> &w = *p.importance;
            addNumber(w.size());
            h.addData(QByteArrayView(reinterpret_cast<const char *>(w.data()),
                                     qsizetype(w.size() * sizeof(float))));
        }
        return h.result();
    }

    std::optional<std::vector<double>> find(const QByteArray &key)
    {
        const std::lock_guard lock(m_mutex);
        for (const auto &[k, v] : m_entries) {
            if (k == key)
                return v;
        }
        return std::nullopt;
    }

    void insert(const QByteArray &key, const std::vector<double> &kld)
    {
        const std::lock_guard lock(m_mutex);
        m_entries.emplace_back(key, kld);
        if (m_entries.size() > kEntries)
            m_entries.erase(m_entries.begin());
    }

private:
    static constexpr std::size_t kEntries = 8;
    std::mutex m_mutex;
    std::vector<std::pair<QByteArray, std::vector<double>>> m_entries;
};

CalibrationCache &calibrationCache()
{
    static CalibrationCache cache;
    return cache;
}

} // namespace

QString FitCalibrationEstimate::text() const
{
    return QStringLiteral("%1 tensors x %2 chunks of %3 tokens through %4 weights: about %5 on "
                          "%6 threads%7")
        .arg(nProbes)
        .arg(nChunks)
        .arg(nCtx)
        .arg(formatCount(activeWeights), durationText(seconds))
        .arg(nThreads)
        .arg(measured ? QStringLiteral(" (measured on the source's pass)") : QString());
}

FitCalibrationEstimate estimateFitCalibration(const GgufFile &source, int nProbes, int nChunks,
                                              int nCtx, int nThreads)
{
    FitCalibrationEstimate e;
    e.nProbes = nProbes;
    e.nChunks = nChunks;
    e.nCtx = nCtx;
    e.activeWeights = activeWeightsOf(source);
    e.nThreads = nThreads > 0 ? nThreads : defaultThreadCount();
    e.seconds = double(nProbes + 1) * double(nChunks) * double(nCtx) * double(e.activeWeights)
                * kForwardSecondsPerTokenWeight / double(e.nThreads);
    return e;
}

QString FitSensitivityChoice::text() const
{
    return QStringLiteral("%1 (%2)")
        .arg(measured ? QStringLiteral("measured sensitivity")
                      : QStringLiteral("documented sensitivity factors"),
             reason);
}

int fitProbeCount(const GgufFile &source, const QuantOptions &options)
{
    int n = 0;
    for (const GgufTensorInfo &t : source.tensors()) {
        if (isQuantizableTensor(t, options))
            ++n;
    }
    return n;
}

FitSensitivityChoice chooseFitSensitivity(const GgufFile &source, const QuantOptions &options,
                                          FitSensitivityMode mode,
                                          const FitCalibrationSettings &settings, int nThreads,
                                          std::optional<FitCalibrationText> &text)
{
    FitSensitivityChoice c;
    c.mode = mode;
    text.reset();
    if (mode == FitSensitivityMode::Documented) {
        c.reason = c.noteReason = QStringLiteral("calibration off");
        return c;
    }
    const int nProbes = fitProbeCount(source, options);
    if (mode == FitSensitivityMode::Measured) {
        text = loadFitCalibrationText(source, settings);
        c.estimate = estimateFitCalibration(source, nProbes, text->nChunks, text->nCtx, nThreads);
        c.measured = true;
        c.reason = c.noteReason = QStringLiteral("calibration on");
        return c;
    }

    // Auto: the forward pass must run the model and the built-in sample must tokenize into two
    // chunks, else the documented factors with the reason; a text given by name that cannot be
    // read is an error, as with --calibrate. Then the estimate decides.
    const QString limit = durationText(settings.autoMaxSeconds);
    const auto documented = [&](const QString &why, const QString &noteWhy) {
        c.measured = false;
        c.reason = QStringLiteral("auto: %1").arg(why);
        c.noteReason = QStringLiteral("auto: %1").arg(noteWhy);
        return c;
    };
    try {
        const LlamaModel check(std::shared_ptr<const GgufFile>(&source, [](const GgufFile *) {}));
        if (settings.textSource.isEmpty())
            text = loadFitCalibrationText(source, settings);
    } catch (const Error &err) {
        text.reset();
        return documented(QStringLiteral("cannot measure: %1").arg(err.message()),
                          QStringLiteral("the forward pass cannot measure this model"));
    }
    if (!text)
        text = loadFitCalibrationText(source, settings);
    c.estimate = estimateFitCalibration(source, nProbes, text->nChunks, text->nCtx, nThreads);
    if (c.estimate->seconds > settings.autoMaxSeconds) {
        text.reset();
        return documented(QStringLiteral("measuring would take %1, over the %2 auto limit")
                              .arg(c.estimate->text(), limit),
                          QStringLiteral("measuring estimated over %1").arg(limit));
    }
    c.measured = true;
    c.reason = QStringLiteral("auto: %1, within the %2 auto limit").arg(c.estimate->text(), limit);
    c.noteReason = QStringLiteral("auto: estimate within %1").arg(limit);
    return c;
}

QString FitCalibrationText::noteText() const
{
    return QStringLiteral("KLD of each tensor alone at Q4_K (or its fallback) on %1 chunks of %2 "
                          "tokens of %3")
        .arg(nChunks)
        .arg(nCtx)
        .arg(name);
}

FitCalibrationText loadFitCalibrationText(const GgufFile &source,
                                          const FitCalibrationSettings &settings)
{
    if (settings.nChunks < 1)
        throw Error(QStringLiteral("--calibration-chunks: expected at least 1, got %1")
                        .arg(settings.nChunks));
    if (settings.nCtx < 8)
        throw Error(QStringLiteral("--calibration-ctx: expected at least 8 tokens, got %1")
                        .arg(settings.nCtx));
    FitCalibrationText t;
    if (settings.textSource.isEmpty()) {
        t.name = builtInSampleName();
        t.tokens = tokenizeEvalText(source, builtInSampleText(), t.name);
    } else {
        t.tokens = loadEvalTokens(source, settings.textSource);
        // ARCHIVE:MEMBER keeps the member's name.
        t.name = QFileInfo(settings.textSource).fileName();
    }
    const std::uint64_t trained = source.metadata().uintOr(
        source.metadata().stringOr("general.architecture").toUtf8() + ".context_length", 0);
    t.nCtx = settings.nCtx;
    if (trained > 0 && trained < std::uint64_t(t.nCtx))
        t.nCtx = int(trained);
    const std::uint64_t nTokens = t.tokens.tokens.size();
    if (nTokens < 2 * std::uint64_t(t.nCtx))
        throw Error(QStringLiteral("calibration text '%1' has %2 tokens: at least %3 (two chunks "
                                   "of %4) are needed")
                        .arg(t.name)
                        .arg(nTokens)
                        .arg(2 * t.nCtx)
                        .arg(t.nCtx));
    t.nChunks = int(std::min<std::uint64_t>(nTokens / std::uint64_t(t.nCtx),
                                            std::uint64_t(settings.nChunks)));
    return t;
}

FitCalibrator makeFitCalibrator(std::shared_ptr<const GgufFile> source, FitCalibrationText text,
                                FitCalibrationSettings settings, int nThreads,
                                std::function<void(const FitCalibrationEstimate &)> onEstimate)
{
    return [source = std::move(source), text = std::move(text), settings, nThreads,
            onEstimate = std::move(onEstimate)](const std::vector<FitProbe> &probes,
                                                JobContext &ctx) {
        const QByteArray cacheKey =
            settings.reuse ? CalibrationCache::keyOf(*source, text, probes) : QByteArray();
        if (!cacheKey.isEmpty()) {
            if (auto cached = calibrationCache().find(cacheKey))
                return *cached;
        }
        FitCalibrationEstimate estimate = estimateFitCalibration(
            *source, int(probes.size()), text.nChunks, text.nCtx, nThreads);
        const auto check = [&] {
            if (onEstimate)
                onEstimate(estimate);
            if (estimate.seconds > settings.maxSeconds && !settings.force)
                throw Error(QStringLiteral("calibrating the fit of '%1' (%2 weights, %3 on disk) "
                                           "would take too long: %4 (the limit is %5); give "
                                           "--force-calibration to run it anyway, or fewer "
                                           "--calibration-chunks, or --no-calibrate (the "
                                           "documented factors)")
                                .arg(QFileInfo(source->path()).fileName(),
                                     formatCount(estimate.activeWeights),
                                     formatBytes(source->totalFileSize()), estimate.text(),
                                     durationText(settings.maxSeconds)));
        };
        check();

        const auto model = std::make_shared<const LlamaModel>(source);
        QTemporaryDir scratch;
        if (!scratch.isValid())
            throw IoError(scratch.path(), QStringLiteral("create folder"), scratch.errorString());
        const QString basePath = scratch.filePath(QStringLiteral("calibration-base.qfbl"));

        // One unit per evaluated chunk over the whole calibration, after the units of the
        // stages before (a context counts on across stages); the inner runs report to a silent
        // context that follows this one's cancel.
        ctx.setStage(QStringLiteral("Calibrating sensitivities"),
                     ctx.snapshot().done
                         + std::uint64_t(probes.size() + 1) * std::uint64_t(text.nChunks));
        NullJobContext inner;
        inner.followCancel(ctx);
        PerplexityOptions po;
        po.nCtx = text.nCtx;
        po.nChunks = text.nChunks;
        po.nThreads = nThreads;
        po.saveBasePath = basePath;
        po.onChunk = [&ctx](const ChunkReport &) { ctx.advance(1); };
        QElapsedTimer timer;
        timer.start();
        computePerplexity(model, text.tokens, po, inner);
        // Each probe costs about one such pass (plus quantizing one tensor).
        estimate.seconds = double(timer.nsecsElapsed()) / 1e9 * double(probes.size());
        estimate.measured = true;
        check();
        const BaseLogitsFile base = BaseLogitsFile::open(basePath);
        po.saveBasePath.clear();

        const FitRowSource rows = fileRowSource(*source);
        std::vector<double> kld(probes.size(), 0.0);
        for (std::size_t i = 0; i < probes.size(); ++i) {
            ctx.throwIfCancelled();
            const FitProbe &p = probes[i];
            auto bytes = std::make_shared<const std::vector<std::uint8_t>>(
                quantizeFitProbe(p, rows, nThreads, inner));
            const auto probed =
                LlamaModel::withWeight(model, p.tensor.name, p.type, std::move(bytes));
            const PerplexityResult r =
                computeKld(probed, base, text.tokens.addBos, text.tokens.bosId, po, inner);
            kld[i] = r.kld ? r.kld->kldMean : 0.0;
            ctx.setMetric(QStringLiteral("KLD"), kld[i]);
        }
        ctx.flush();
        if (!cacheKey.isEmpty())
            calibrationCache().insert(cacheKey, kld);
        return kld;
    };
}

FitSensitivityChoice applyFitSensitivity(FitOptions &options, std::shared_ptr<const GgufFile> source,
                                         FitSensitivityMode mode,
                                         const FitCalibrationSettings &settings,
                                         std::function<void(const FitCalibrationEstimate &)> onEstimate)
{
    std::optional<FitCalibrationText> text;
    FitSensitivityChoice choice =
        chooseFitSensitivity(*source, options.base, mode, settings, options.nThreads, text);
    options.sensitivityReason = choice.noteReason;
    if (choice.measured) {
        options.calibrationText = text->noteText();
        options.calibrate = makeFitCalibrator(std::move(source), std::move(*text), settings,
                                              options.nThreads, std::move(onEstimate));
    }
    return choice;
}

} // namespace QuantFit
