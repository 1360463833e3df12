#include "imatrixtask.h"

#include "measurementtask.h"

#include "eval/evaltext.h"
#include "io/atomicoutput.h"
#include "jobs/jobcontext.h"
#include "util/error.h"

#include <algorithm>

namespace QuantFit {

ImatrixFormat imatrixFormatForPath(const QString &path)
{
    return path.endsWith(QLatin1String(".dat"), Qt::CaseInsensitive) ? ImatrixFormat::Legacy
                                                                      : ImatrixFormat::Gguf;
}

ImatrixFormat imatrixFormatFor(const ImatrixRequest &request)
{
    return request.format ? *request.format : imatrixFormatForPath(request.outputPath);
}

ImatrixComputation::ImatrixComputation(const ImatrixRequest &request) : m_request(request)
{
    if (request.textSource.isEmpty() && !request.builtInSample)
        throw Error(QStringLiteral("a calibration text is needed"));
    if (request.nCtx < 4)
        throw Error(QStringLiteral("the calibration context must be at least 4 tokens (got %1)")
                        .arg(request.nCtx));
    m_model = LlamaModel::open(request.modelPath);
    m_text = request.builtInSample
                 ? tokenizeEvalText(m_model->file(), builtInSampleText(), builtInSampleName())
                 : loadEvalTokens(m_model->file(), request.textSource);
    // The chunking of computePerplexity, known here so that a short text is refused before any
    // work starts.
    m_nCtx = request.nCtx;
    const std::uint64_t n = std::uint64_t(m_nCtx);
    const std::uint64_t nTokens = m_text.tokens.size();
    if (nTokens < 2 * n)
        throw Error(QStringLiteral("'%1' has %2 tokens: the importance matrix needs at least %3 "
                                   "(two contexts of %4)")
                        .arg(m_text.sourceName)
                        .arg(nTokens)
                        .arg(2 * n)
                        .arg(n));
    const std::uint64_t available = std::min<std::uint64_t>(nTokens / n, INT32_MAX);
    m_nChunks = request.nChunks < 0 ? int(available)
                                    : int(std::min<std::uint64_t>(available, request.nChunks));
}

ImatrixComputation::~ImatrixComputation() = default;

ImatrixRunResult ImatrixComputation::run(JobContext &ctx)
{
    ImatrixOptions o;
    o.nCtx = m_nCtx;
    o.nChunks = m_nChunks;
    o.nBatch = m_request.nBatch;
    o.nThreads = m_request.nThreads;
    o.processOutput = m_request.processOutput;
    o.flashAttention = m_request.flashAttention;
    o.onChunk = m_request.onChunk;
    for (const QString &in : m_request.inputPaths)
        o.inputs.push_back(readImportanceMatrix(in));
    return collectImatrix(m_model, m_text, o, ctx);
}

ImatrixResult runImatrix(const ImatrixRequest &request, JobContext &ctx)
{
    if (request.outputPath.isEmpty())
        throw Error(QStringLiteral("an output file is needed"));
    ensureDistinctOutput(request.modelPath, request.outputPath);

    ImatrixComputation computation(request);
    const ImatrixRunResult run = computation.run(ctx);
    const ImatrixFormat format = imatrixFormatFor(request);
    writeImportanceMatrix(request.outputPath, run.matrix, format);

    ImatrixResult r;
    r.path = request.outputPath;
    r.format = format;
    r.nEntries = run.matrix.entries.size();
    r.nChunks = run.matrix.chunkCount;
    r.nCtx = request.nCtx;
    r.ppl = run.perplexity.ppl;
    r.pplError = run.perplexity.pplError;
    r.seconds = run.perplexity.seconds;
    return r;
}

} // namespace QuantFit
