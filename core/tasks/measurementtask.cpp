#include "measurementtask.h"

#include "eval/evaltext.h"
#include "eval/perplexity.h"
#include "gguf/ggufreader.h"
#include "io/atomicoutput.h"
#include "jobs/jobcontext.h"
#include "util/error.h"

#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>

// The sample text is a resource of this static library; register it explicitly (outside any
// namespace), or the linker would drop it.
static void initSampleTextResource()
{
    Q_INIT_RESOURCE(sampletext);
}

namespace QuantFit {

namespace {

QString kvTypeName(KvStorageType t)
{
    return t == KvStorageType::F32 ? QStringLiteral("f32") : QStringLiteral("f16");
}

void checkRequest(const MeasurementRequest &r)
{
    if (r.modelPaths.isEmpty())
        throw Error(QStringLiteral("no model to measure"));
    if (!r.basePath.isEmpty() && !r.baseLogitsPath.isEmpty())
        throw Error(QStringLiteral("a base model and a base-logits file cannot both be given"));
    if (!r.saveBaseLogitsPath.isEmpty() && !r.baseLogitsPath.isEmpty())
        throw Error(QStringLiteral("base logits cannot be saved while comparing against a saved "
                                   "base-logits file"));
    if (!r.saveBaseLogitsPath.isEmpty() && r.basePath.isEmpty() && r.modelPaths.size() > 1)
        throw Error(QStringLiteral("saving base logits needs exactly one model (or a base model)"));
    if (r.nCtx < 4)
        throw Error(QStringLiteral("the context must be at least 4 tokens (got %1)").arg(r.nCtx));
}

EvalTokens tokensFor(const GgufFile &model, const QString &textSource)
{
    if (textSource.isEmpty())
        return tokenizeEvalText(model, builtInSampleText(), builtInSampleName());
    return loadEvalTokens(model, textSource);
}

class Runner
{
public:
    Runner(const MeasurementRequest &request, JobContext &ctx) : m_request(request), m_ctx(ctx) {}

    PerplexityOptions optionsFor(int model) const
    {
        PerplexityOptions o;
        o.nCtx = m_request.nCtx;
        o.nChunks = m_request.nChunks;
        o.nBatch = m_request.nBatch;
        o.nThreads = m_request.nThreads;
        o.kvType = m_request.kvType;
        o.flashAttention = m_request.flashAttention;
        o.baseLimits = m_request.baseLimits;
        o.baseLlamaCppFormat = m_request.baseLlamaCppFormat;
        if (m_request.onChunk)
            o.onChunk = [this, model](const ChunkReport &r) { m_request.onChunk(model, r); };
        return o;
    }

    MeasurementRecord finish(const PerplexityResult &run, const QString &path, bool isBase)
    {
        MeasurementRecord r = measurementRecordFor(run, path);
        r.isBase = isBase;
        r.nBatch = m_request.nBatch;
        r.nThreads = m_request.nThreads;
        r.kvType = kvTypeName(m_request.kvType);
        r.producer = m_request.producer;
        if (m_request.onRecord)
            m_request.onRecord(r);
        m_result.records.push_back(r);
        return r;
    }

    /// The base model's perplexity, its scored logits written to `logitsPath`.
    void runBase(const QString &logitsPath)
    {
        const QString &path = m_request.basePath;
        ensureDistinctOutput(path, logitsPath);
        const auto model = LlamaModel::open(path);
        const EvalTokens tokens = tokensFor(model->file(), m_request.textSource);
        PerplexityOptions o = optionsFor(-1);
        o.saveBasePath = logitsPath;
        o.stage = QStringLiteral("Base model %1").arg(QFileInfo(path).fileName());
        PerplexityResult run = computePerplexity(model, tokens, o, m_ctx);
        run.textSource = tokens.sourceName;
        run.basePath.clear(); // the base's own record is a plain perplexity run
        m_baseText = tokens.sourceName;
        finish(run, path, true);
    }

    void runModels(const BaseLogitsFile *base, const QString &baseName)
    {
        const int n = int(m_request.modelPaths.size());
        for (int i = 0; i < n; ++i) {
            const QString &path = m_request.modelPaths[i];
            const auto model = LlamaModel::open(path);
            PerplexityOptions o = optionsFor(i);
            const QString which = n > 1 ? QStringLiteral(" (%1/%2)").arg(i + 1).arg(n) : QString();
            PerplexityResult run;
            if (base) {
                bool addBos = false;
                std::int32_t bosId = -1;
                vocabularyBos(model->file(), addBos, bosId);
                o.stage = QStringLiteral("KL divergence of %1%2").arg(QFileInfo(path).fileName(), which);
                run = computeKld(model, *base, addBos, bosId, o, m_ctx);
                run.basePath = baseName;
                run.textSource = m_baseText;
            } else {
                if (!m_request.saveBaseLogitsPath.isEmpty()) {
                    ensureDistinctOutput(path, m_request.saveBaseLogitsPath);
                    o.saveBasePath = m_request.saveBaseLogitsPath;
                }
                const EvalTokens tokens = tokensFor(model->file(), m_request.textSource);
                o.stage = QStringLiteral("Perplexity of %1%2").arg(QFileInfo(path).fileName(), which);
                run = computePerplexity(model, tokens, o, m_ctx);
                run.textSource = tokens.sourceName;
            }
            finish(run, path, false);
        }
    }

    /// The text a saved base file was made from is not stored in it: the record names the file.
    void setBaseText(const QString &text) { m_baseText = text; }
    MeasurementResult take() { return std::move(m_result); }
    MeasurementResult &result() { return m_result; }

private:
    const MeasurementRequest &m_request;
    JobContext &m_ctx;
    MeasurementResult m_result;
    QString m_baseText;
};

} // namespace

QString builtInSampleName()
{
    return QStringLiteral("built-in sample");
}

QByteArray builtInSampleText()
{
    initSampleTextResource();
    QFile f(QStringLiteral(":/quantfit/sample-evaluation.txt"));
    if (!f.open(QIODevice::ReadOnly))
        throw Error(QStringLiteral("the built-in sample text is missing from this build"));
    return f.readAll();
}

MeasurementResult runMeasurement(const MeasurementRequest &request, JobContext &ctx)
{
    checkRequest(request);
    Runner runner(request, ctx);
    if (!request.baseLogitsPath.isEmpty()) {
        const BaseLogitsFile base = BaseLogitsFile::open(request.baseLogitsPath);
        if (request.nCtx != int(base.header().nCtx))
            runner.result().notes << QStringLiteral("using the base file's context of %1 tokens")
                                         .arg(base.header().nCtx);
        runner.setBaseText(QStringLiteral("tokens of %1").arg(QFileInfo(request.baseLogitsPath).fileName()));
        runner.runModels(&base, request.baseLogitsPath);
    } else if (!request.basePath.isEmpty()) {
        // The base's logits go to the requested file, or to a temporary one removed at the end.
        QTemporaryDir scratch;
        QString logitsPath = request.saveBaseLogitsPath;
        if (logitsPath.isEmpty()) {
            if (!scratch.isValid())
                throw IoError(scratch.path(), QStringLiteral("create folder"), scratch.errorString());
            logitsPath = scratch.filePath(QStringLiteral("base.qfbl"));
        }
        runner.runBase(logitsPath);
        const BaseLogitsFile base = BaseLogitsFile::open(logitsPath);
        runner.runModels(&base, request.basePath);
    } else {
        runner.runModels(nullptr, {});
    }
    return runner.take();
}

} // namespace QuantFit
