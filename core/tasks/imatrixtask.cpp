#include "imatrixtask.h"

#include "eval/evaltext.h"
#include "eval/imatrixcollector.h"
#include "io/atomicoutput.h"
#include "jobs/jobcontext.h"
#include "util/error.h"

namespace QuantFit {

ImatrixFormat imatrixFormatFor(const ImatrixRequest &request)
{
    if (request.format)
        return *request.format;
    return request.outputPath.endsWith(QLatin1String(".dat"), Qt::CaseInsensitive)
               ? ImatrixFormat::Legacy
               : ImatrixFormat::Gguf;
}

ImatrixResult runImatrix(const ImatrixRequest &request, JobContext &ctx)
{
    if (request.textSource.isEmpty())
        throw Error(QStringLiteral("a calibration text is needed"));
    if (request.outputPath.isEmpty())
        throw Error(QStringLiteral("an output file is needed"));
    ensureDistinctOutput(request.modelPath, request.outputPath);

    ImatrixOptions o;
    o.nCtx = request.nCtx;
    o.nChunks = request.nChunks;
    o.nBatch = request.nBatch;
    o.nThreads = request.nThreads;
    o.processOutput = request.processOutput;
    o.onChunk = request.onChunk;
    for (const QString &in : request.inputPaths)
        o.inputs.push_back(readImportanceMatrix(in));

    const auto model = LlamaModel::open(request.modelPath);
    const EvalTokens text = loadEvalTokens(model->file(), request.textSource);
    const ImatrixRunResult run = collectImatrix(model, text, o, ctx);
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
