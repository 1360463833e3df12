#include "perplexity.h"

#include "baselogits.h"

#include "gguf/filetype.h"
#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "util/error.h"

#include <QElapsedTimer>

#include <algorithm>

namespace QuantFit {

namespace {

// Scored positions are split into groups of this many for the worker threads: each position
// is one pass over the vocabulary (a few µs for 32k), so groups keep the scheduling cheap.
constexpr int kPositionsPerTask = 8;

// llama.cpp's default micro-batch (n_ubatch): a chunk's query rows per attention call are at most
// this, which decides the flash-attention kernel it uses (SessionOptions::attentionRows).
constexpr int kLlamaUbatch = 512;

void checkOptions(const PerplexityOptions &o)
{
    if (o.nCtx < 4)
        throw Error(QStringLiteral("context of %1 tokens is too small (at least 4)").arg(o.nCtx));
    if (o.nBatch < 1)
        throw Error(QStringLiteral("batch of %1 tokens is too small (at least 1)").arg(o.nBatch));
    if (o.nChunks == 0 || o.nChunks < -1)
        throw Error(QStringLiteral("chunk count %1: expected at least 1").arg(o.nChunks));
    if (o.nThreads < 0)
        throw Error(QStringLiteral("thread count %1: expected 0 (all cores) or more").arg(o.nThreads));
}

QString fileTypeOf(const LlamaModel &model)
{
    const ModelInfo &info = model.info();
    const QString name = fileTypeName(info.fileType ? *info.fileType : info.guessedFileType);
    // A budget-fitted mix (quantize --target-size ...) carries the nearest standard type only as
    // a name: records and charts call it "fit ~Q3_K_L" so it stands apart from the real Q3_K_L.
    if (model.file().metadata().contains("quantize.recipe"))
        return QStringLiteral("fit ~") + name;
    return name;
}

/// The chunk loop shared by perplexity and KLD: evaluates chunk k's tokens from an empty cache
/// and hands the logits of the scored positions to `score`, then reports.
class ChunkRunner
{
public:
    ChunkRunner(std::shared_ptr<const LlamaModel> model, int nCtx, int nChunks,
                const PerplexityOptions &options, JobContext &ctx)
        : m_model(std::move(model))
        , m_nCtx(nCtx)
        , m_nChunks(nChunks)
        , m_options(options)
        , m_ctx(ctx)
        , m_session(m_model, SessionOptions{.nCtx = nCtx,
                                            .nThreads = options.nThreads,
                                            .nBatch = std::min(options.nBatch, nCtx),
                                            .kvType = options.kvType,
                                            .flashAttention = options.flashAttention,
                                            .attentionRows = std::min({options.nBatch, nCtx,
                                                                       kLlamaUbatch})})
        , m_split(!options.matmulObserver && !options.expertObserver)
        , m_logits(std::size_t(m_split ? nCtx - nCtx / 2 : nCtx) * std::size_t(m_model->nVocab()))
        , m_lastLogits(m_split ? std::size_t(m_model->nVocab()) : 0)
    {
        if (options.matmulObserver)
            m_session.setMatmulObserver(options.matmulObserver);
        if (options.expertObserver)
            m_session.setExpertObserver(options.expertObserver);
        m_ctx.setRateUnit(QStringLiteral("tok/s"));
        m_ctx.setStage(options.stage.isEmpty() ? QStringLiteral("Perplexity") : options.stage,
                       std::uint64_t(nChunks) * std::uint64_t(nCtx));
        m_timer.start();
    }

    int first() const { return m_nCtx / 2; }
    int nScored() const { return m_nCtx - 1 - m_nCtx / 2; }
    int nThreads() const { return m_session.nThreads(); }

    /// Logits of position `pos` of the chunk just evaluated.
    std::span<const float> row(int pos) const
    {
        const std::size_t nVocab = std::size_t(m_model->nVocab());
        const int index = m_split ? pos - first() : pos;
        return {m_logits.data() + std::size_t(index) * nVocab, nVocab};
    }

    void evaluate(std::span<const std::int32_t> input)
    {
        m_session.reset();
        if (!m_split) {
            m_session.evaluate(input, 0, m_logits, true, &m_ctx);
            return;
        }
        // Why two calls: only positions ≥ n/2 are scored, so the first half needs no output
        // head and the logits buffer holds half a chunk (as llama-perplexity requests logits
        // for the second half only). Imatrix runs keep one call: all steps stay ≥ 16 tokens.
        const auto firstHalf = input.first(std::size_t(first()));
        m_session.evaluate(firstHalf, 0, m_lastLogits, false, &m_ctx);
        m_session.evaluate(input.subspan(std::size_t(first())), first(), m_logits, true, &m_ctx);
    }

    /// Runs `work(position index j, 0 .. nScored−1)` over all threads.
    void forEachScored(const std::function<void(int j)> &work)
    {
        const int n = nScored();
        const int nTasks = (n + kPositionsPerTask - 1) / kPositionsPerTask;
        parallelFor(std::uint64_t(nTasks), nThreads(), [&](std::uint64_t task) {
            const int begin = int(task) * kPositionsPerTask;
            const int end = std::min(n, begin + kPositionsPerTask);
            for (int j = begin; j < end; ++j)
                work(j);
        });
    }

    ChunkReport finishChunk(int chunk, const PerplexityAccumulator &acc)
    {
        ChunkReport r;
        r.chunk = chunk + 1;
        r.nChunks = m_nChunks;
        r.ppl = acc.perplexity();
        r.pplError = acc.perplexityError();
        const double seconds = double(m_timer.nsecsElapsed()) / 1e9;
        const double tokens = double(r.chunk) * double(m_nCtx);
        r.tokensPerSecond = seconds > 0 ? tokens / seconds : 0.0;
        r.etaSeconds = seconds / double(r.chunk) * double(m_nChunks - r.chunk);
        m_ctx.advance(std::uint64_t(m_nCtx));
        // setMetric forces a report: limit it to ~10 per second for fast (small) models, but
        // always send the first and the last chunk.
        if (r.chunk == 1 || r.chunk == m_nChunks || seconds - m_lastMetricSeconds >= 0.1) {
            m_ctx.setMetric(QStringLiteral("PPL"), r.ppl, r.pplError);
            m_lastMetricSeconds = seconds;
        }
        return r;
    }

    void report(const ChunkReport &r)
    {
        if (m_options.onChunk)
            m_options.onChunk(r);
        m_ctx.throwIfCancelled();
    }

    double seconds() const { return double(m_timer.nsecsElapsed()) / 1e9; }

private:
    std::shared_ptr<const LlamaModel> m_model;
    int m_nCtx;
    int m_nChunks;
    const PerplexityOptions &m_options;
    JobContext &m_ctx;
    InferenceSession m_session;
    bool m_split;
    std::vector<float> m_logits;     ///< positions first() .. n−1 (all positions if !m_split)
    std::vector<float> m_lastLogits; ///< the first half's last-token logits (unused)
    QElapsedTimer m_timer;
    double m_lastMetricSeconds = 0;
};

PerplexityResult resultFrom(const LlamaModel &model, int nCtx, int nChunks,
                            const PerplexityAccumulator &acc, const ChunkRunner &runner)
{
    PerplexityResult r;
    r.modelPath = model.file().path();
    r.fileType = fileTypeOf(model);
    r.nCtx = nCtx;
    r.nChunks = nChunks;
    r.nTokensScored = acc.count();
    r.ppl = acc.perplexity();
    r.pplError = acc.perplexityError();
    r.seconds = runner.seconds();
    r.tokensPerSecond = r.seconds > 0 ? double(nChunks) * double(nCtx) / r.seconds : 0.0;
    r.date = QDateTime::currentDateTimeUtc();
    return r;
}

} // namespace

std::vector<std::int32_t> chunkInput(std::span<const std::int32_t> tokens, int chunk, int nCtx,
                                     bool addBos, std::int32_t bosId)
{
    const std::size_t start = std::size_t(chunk) * std::size_t(nCtx);
    Q_ASSERT(start + std::size_t(nCtx) <= tokens.size());
    std::vector<std::int32_t> input(tokens.begin() + std::ptrdiff_t(start),
                                    tokens.begin() + std::ptrdiff_t(start + std::size_t(nCtx)));
    // Why replace rather than prepend: llama-perplexity keeps chunks at exactly n_ctx tokens.
    if (addBos && bosId >= 0)
        input[0] = bosId;
    return input;
}

//
// perplexity, optionally saving base logits (in either format of docs/formats.md, "Base logits")
//

PerplexityResult computePerplexity(std::shared_ptr<const LlamaModel> model, const EvalTokens &text,
                                   const PerplexityOptions &options, JobContext &ctx)
{
    checkOptions(options);
    if (options.baseLimits.maxEntries == 0)
        throw Error(QStringLiteral("base logits: at least one listed token per position is needed"));
    const int n = options.nCtx;
    const std::uint64_t nTokens = text.tokens.size();
    if (nTokens < 2 * std::uint64_t(n))
        throw Error(QStringLiteral("'%1' has %2 tokens: you need at least %3 tokens (two contexts) "
                                   "to evaluate perplexity with a context of %4")
                        .arg(text.sourceName)
                        .arg(nTokens)
                        .arg(2 * std::uint64_t(n))
                        .arg(n));
    const std::uint64_t available = nTokens / std::uint64_t(n);
    const int nChunks = options.nChunks < 0 ? int(std::min<std::uint64_t>(available, INT32_MAX))
                                            : int(std::min<std::uint64_t>(available, options.nChunks));

    ChunkRunner runner(model, n, nChunks, options, ctx);
    const std::uint32_t nVocab = std::uint32_t(model->nVocab());
    for (const std::int32_t t : text.tokens) {
        if (t < 0 || std::uint32_t(t) >= nVocab)
            throw Error(QStringLiteral("'%1': token id %2 is outside the model's vocabulary of %3")
                            .arg(text.sourceName)
                            .arg(t)
                            .arg(nVocab));
    }

    std::unique_ptr<BaseLogitsWriter> writer;
    if (!options.saveBasePath.isEmpty()) {
        const BaseLogitsHeader header{.nCtx = std::uint32_t(n),
                                      .nVocab = nVocab,
                                      .nChunks = std::uint32_t(nChunks),
                                      .limits = options.baseLimits,
                                      .addBos = text.addBos,
                                      .llamaCppFormat = options.baseLlamaCppFormat};
        writer = std::make_unique<BaseLogitsWriter>(
            options.saveBasePath, header,
            std::span<const std::int32_t>(text.tokens.data(), std::size_t(nChunks) * n));
    }

    PerplexityResult result;
    PerplexityAccumulator acc;
    std::vector<double> nll(std::size_t(runner.nScored()));
    std::vector<std::vector<std::uint8_t>> records(writer ? nll.size() : 0);
    for (int k = 0; k < nChunks; ++k) {
        const std::vector<std::int32_t> input = chunkInput(text.tokens, k, n, text.addBos, text.bosId);
        runner.evaluate(input);
        const std::size_t start = std::size_t(k) * std::size_t(n);
        runner.forEachScored([&](int j) {
            const int pos = runner.first() + j;
            const auto next = std::uint32_t(text.tokens[start + std::size_t(pos) + 1]);
            nll[std::size_t(j)] = tokenNll(runner.row(pos), next);
            if (writer) {
                records[std::size_t(j)].clear();
                if (options.baseLlamaCppFormat)
                    encodeLlamaRecord(runner.row(pos), records[std::size_t(j)]);
                else
                    encodeBaseRecord(runner.row(pos), next, options.baseLimits, records[std::size_t(j)]);
            }
        });
        // Summed in position order so the result does not depend on the thread count.
        for (const double v : nll)
            acc.add(v);
        if (writer) {
            std::vector<std::uint8_t> chunkBytes;
            for (const auto &rec : records)
                chunkBytes.insert(chunkBytes.end(), rec.begin(), rec.end());
            writer->writeChunk(chunkBytes);
        }
        result.runningPpl.push_back(acc.perplexity());
        runner.report(runner.finishChunk(k, acc));
    }
    if (writer)
        writer->commit();

    PerplexityResult final = resultFrom(*model, n, nChunks, acc, runner);
    final.runningPpl = std::move(result.runningPpl);
    final.textSource = text.sourceName;
    final.basePath = options.saveBasePath;
    ctx.flush();
    return final;
}

//
// KL divergence against saved base logits
//

PerplexityResult computeKld(std::shared_ptr<const LlamaModel> model, const BaseLogitsFile &base,
                            bool addBos, std::int32_t bosId, const PerplexityOptions &options,
                            JobContext &ctx)
{
    const BaseLogitsHeader &h = base.header();
    PerplexityOptions o = options;
    o.nCtx = int(h.nCtx);
    o.saveBasePath.clear();
    if (o.stage.isEmpty())
        o.stage = QStringLiteral("KL divergence");
    checkOptions(o);
    if (std::uint32_t(model->nVocab()) != h.nVocab)
        throw Error(QStringLiteral("'%1' has a vocabulary of %2 tokens but the base logits '%3' "
                                   "were saved from a model with %4")
                        .arg(model->file().path())
                        .arg(model->nVocab())
                        .arg(base.path())
                        .arg(h.nVocab));
    const int n = o.nCtx;
    const int nChunks = o.nChunks < 0 ? int(h.nChunks) : std::min(int(h.nChunks), o.nChunks);
    if (nChunks < 1)
        throw Error(QStringLiteral("base logits '%1' hold no chunks").arg(base.path()));

    ChunkRunner runner(model, n, nChunks, o, ctx);
    const std::span<const std::int32_t> tokens = base.tokens();
    KldAccumulator acc;
    std::vector<TokenComparison> cmp(std::size_t(runner.nScored()));
    PerplexityResult result;
    for (int k = 0; k < nChunks; ++k) {
        const std::vector<std::int32_t> input = chunkInput(tokens, k, n, addBos, bosId);
        runner.evaluate(input);
        const std::size_t start = std::size_t(k) * std::size_t(n);
        runner.forEachScored([&](int j) {
            const int pos = runner.first() + j;
            const auto next = std::uint32_t(tokens[start + std::size_t(pos) + 1]);
            std::vector<std::uint8_t> mark;
            cmp[std::size_t(j)] = compareToBase(runner.row(pos), next,
                                                base.record(std::uint32_t(k), std::uint32_t(j)), mark);
        });
        for (const TokenComparison &c : cmp)
            acc.add(c.nll, c.nllBase, c.kld, c.tailBound, c.sameTop);
        result.runningPpl.push_back(acc.current().perplexity());
        ChunkReport report = runner.finishChunk(k, acc.current());
        report.kld = acc.summary(false);
        runner.report(report);
    }

    PerplexityResult final = resultFrom(*model, n, nChunks, acc.current(), runner);
    final.runningPpl = std::move(result.runningPpl);
    final.textSource = base.path();
    final.basePath = base.path();
    final.kld = acc.summary();
    ctx.flush();
    return final;
}

} // namespace QuantFit
