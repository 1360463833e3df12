#include "imatrixcollector.h"

#include "util/error.h"

#include <QFileInfo>

#include <algorithm>
#include <cmath>

namespace QuantFit {

ImatrixCollector::Entry &ImatrixCollector::entry(const QByteArray &tensorName, int nCols,
                                                 int nMatrices)
{
    Entry &e = m_entries[tensorName];
    if (e.counts.empty()) {
        e.nColumns = std::size_t(nCols);
        e.sumSquares.assign(std::size_t(nCols) * std::size_t(nMatrices), 0.0);
        e.counts.assign(std::size_t(nMatrices), 0);
    } else if (e.nColumns != std::size_t(nCols) || e.counts.size() != std::size_t(nMatrices)) {
        throw Error(QStringLiteral("imatrix: tensor '%1' was seen with %2 input columns and %3 "
                                   "matrices, and with %4 and %5")
                        .arg(QString::fromUtf8(tensorName))
                        .arg(e.nColumns)
                        .arg(e.counts.size())
                        .arg(nCols)
                        .arg(nMatrices));
    }
    return e;
}

namespace {

void addSquares(double *sum, const float *x, int nTokens, int nCols)
{
    for (int t = 0; t < nTokens; ++t) {
        const float *row = x + std::size_t(t) * std::size_t(nCols);
        for (int c = 0; c < nCols; ++c)
            sum[c] += double(row[c]) * double(row[c]);
    }
}

} // namespace

void ImatrixCollector::observe(const QByteArray &tensorName, const float *x, int nTokens, int nCols)
{
    // Why skip small steps: llama-imatrix ignores ubatches of fewer than 16 tokens, and we want
    // the same statistics from the same text.
    if (nTokens < kImatrixMinTokens || nCols <= 0)
        return;
    if (!tensorName.startsWith("blk.")
        && !(m_processOutput && tensorName == QByteArrayLiteral("output.weight")))
        return;
    Entry &e = entry(tensorName, nCols, 1);
    addSquares(e.sumSquares.data(), x, nTokens, nCols);
    e.counts[0] += std::uint64_t(nTokens);
}

void ImatrixCollector::observeExpert(const QByteArray &tensorName, int expert, int nExperts,
                                     const float *x, int nTokens, int nCols)
{
    if (nTokens <= 0 || nCols <= 0 || expert < 0 || expert >= nExperts)
        return;
    Entry &e = entry(tensorName, nCols, nExperts);
    addSquares(e.sumSquares.data() + std::size_t(expert) * e.nColumns, x, nTokens, nCols);
    e.counts[std::size_t(expert)] += std::uint64_t(nTokens);
}

void ImatrixCollector::merge(const ImportanceMatrix &matrix)
{
    for (const ImportanceEntry &in : matrix.entries) {
        if (in.nMatrices == 0 || in.counts.size() != in.nMatrices
            || in.sumSquares.size() != in.nColumns * in.nMatrices)
            throw Error(QStringLiteral("imatrix: cannot merge '%1': %2 sums and %3 counts for %4 "
                                       "matrices of %5 columns")
                            .arg(QString::fromUtf8(in.name))
                            .arg(in.sumSquares.size())
                            .arg(in.counts.size())
                            .arg(in.nMatrices)
                            .arg(in.nColumns));
        Entry &e = entry(in.name, int(in.nColumns), int(in.nMatrices));
        for (std::size_t i = 0; i < in.sumSquares.size(); ++i)
            e.sumSquares[i] += double(in.sumSquares[i]);
        for (std::size_t j = 0; j < in.nMatrices; ++j)
            e.counts[j] += std::uint64_t(std::llround(std::max(0.0f, in.counts[j])));
    }
}

std::uint64_t ImatrixCollector::count(const QByteArray &tensorName) const
{
    const auto it = m_entries.find(tensorName);
    if (it == m_entries.end())
        return 0;
    std::uint64_t total = 0;
    for (const std::uint64_t c : it->second.counts)
        total += c;
    return total;
}

ImportanceMatrix ImatrixCollector::result(const QStringList &datasets, std::uint32_t chunkCount,
                                          std::uint32_t chunkSize) const
{
    ImportanceMatrix m;
    m.datasets = datasets;
    m.chunkCount = chunkCount;
    m.chunkSize = chunkSize;
    for (const auto &[name, e] : m_entries) {
        // An entry no token reached at all is not written (llama-imatrix); one with some
        // unreached experts is, with their counts 0.
        if (std::all_of(e.counts.begin(), e.counts.end(), [](std::uint64_t c) { return c == 0; }))
            continue;
        ImportanceEntry out;
        out.name = name;
        out.nColumns = e.nColumns;
        out.nMatrices = e.counts.size();
        out.sumSquares.assign(e.sumSquares.begin(), e.sumSquares.end());
        out.counts.assign(e.counts.begin(), e.counts.end());
        m.entries.push_back(std::move(out));
    }
    return m;
}

ImatrixRunResult collectImatrix(std::shared_ptr<const LlamaModel> model, const EvalTokens &text,
                                const ImatrixOptions &options, JobContext &ctx)
{
    ImatrixCollector collector(options.processOutput);
    QStringList datasets;
    std::uint32_t previousChunks = 0;
    for (const ImportanceMatrix &in : options.inputs) {
        collector.merge(in);
        datasets += in.datasets;
        previousChunks += in.chunkCount;
    }
    PerplexityOptions p;
    p.nCtx = options.nCtx;
    p.nChunks = options.nChunks;
    p.nBatch = options.nBatch;
    p.nThreads = options.nThreads;
    p.kvType = options.kvType;
    p.flashAttention = options.flashAttention;
    p.onChunk = options.onChunk;
    p.stage = QStringLiteral("Importance matrix");
    p.matmulObserver = [&collector](const QByteArray &name, const float *x, int nTokens, int nCols) {
        collector.observe(name, x, nTokens, nCols);
    };
    p.expertObserver = [&collector](const QByteArray &name, int expert, int nExperts,
                                    const float *x, int nTokens, int nCols) {
        collector.observeExpert(name, expert, nExperts, x, nTokens, nCols);
    };
    ImatrixRunResult r;
    r.perplexity = computePerplexity(std::move(model), text, p, ctx);
    if (collector.nTensors() == 0)
        throw Error(QStringLiteral("imatrix: no activations were collected (every step had fewer "
                                   "than %1 tokens; use a larger --batch or --ctx)")
                        .arg(kImatrixMinTokens));
    const QString dataset = QFileInfo(text.sourceName).fileName();
    if (!dataset.isEmpty())
        datasets << dataset;
    r.matrix = collector.result(datasets, previousChunks + std::uint32_t(r.perplexity.nChunks),
                                std::uint32_t(options.nCtx));
    return r;
}

} // namespace QuantFit
