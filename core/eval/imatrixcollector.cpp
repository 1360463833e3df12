#include "imatrixcollector.h"

#include "util/error.h"

#include <QFileInfo>

#include <cmath>

namespace QuantFit {

void ImatrixCollector::observe(const QByteArray &tensorName, const float *x, int nTokens, int nCols)
{
    // Why skip small steps: llama-imatrix ignores ubatches of fewer than 16 tokens, and we want
    // the same statistics from the same text.
    if (nTokens < kImatrixMinTokens || nCols <= 0)
        return;
    if (!tensorName.startsWith("blk.")
        && !(m_processOutput && tensorName == QByteArrayLiteral("output.weight")))
        return;
    Entry &e = m_entries[tensorName];
    if (e.sumSquares.empty()) {
        e.sumSquares.assign(std::size_t(nCols), 0.0);
    } else if (e.sumSquares.size() != std::size_t(nCols)) {
        throw Error(QStringLiteral("imatrix: tensor '%1' was seen with %2 and with %3 input columns")
                        .arg(QString::fromUtf8(tensorName))
                        .arg(e.sumSquares.size())
                        .arg(nCols));
    }
    double *sum = e.sumSquares.data();
    for (int t = 0; t < nTokens; ++t) {
        const float *row = x + std::size_t(t) * std::size_t(nCols);
        for (int c = 0; c < nCols; ++c)
            sum[c] += double(row[c]) * double(row[c]);
    }
    e.count += std::uint64_t(nTokens);
}

void ImatrixCollector::merge(const ImportanceMatrix &matrix)
{
    for (const ImportanceEntry &in : matrix.entries) {
        if (in.nMatrices != 1 || in.counts.size() != 1 || in.sumSquares.size() != in.nColumns)
            throw Error(QStringLiteral("imatrix: cannot merge '%1' (%2 matrices; only dense "
                                       "weights are collected)")
                            .arg(QString::fromUtf8(in.name))
                            .arg(in.nMatrices));
        Entry &e = m_entries[in.name];
        if (e.sumSquares.empty())
            e.sumSquares.assign(in.nColumns, 0.0);
        else if (e.sumSquares.size() != in.nColumns)
            throw Error(QStringLiteral("imatrix: '%1' has %2 columns in one input and %3 in another")
                            .arg(QString::fromUtf8(in.name))
                            .arg(e.sumSquares.size())
                            .arg(in.nColumns));
        for (std::size_t c = 0; c < in.nColumns; ++c)
            e.sumSquares[c] += double(in.sumSquares[c]);
        e.count += std::uint64_t(std::llround(std::max(0.0f, in.counts[0])));
    }
}

std::uint64_t ImatrixCollector::count(const QByteArray &tensorName) const
{
    const auto it = m_entries.find(tensorName);
    return it == m_entries.end() ? 0 : it->second.count;
}

ImportanceMatrix ImatrixCollector::result(const QStringList &datasets, std::uint32_t chunkCount,
                                          std::uint32_t chunkSize) const
{
    ImportanceMatrix m;
    m.datasets = datasets;
    m.chunkCount = chunkCount;
    m.chunkSize = chunkSize;
    for (const auto &[name, e] : m_entries) {
        if (e.count == 0)
            continue;
        ImportanceEntry out;
        out.name = name;
        out.nColumns = e.sumSquares.size();
        out.nMatrices = 1;
        out.sumSquares.assign(e.sumSquares.begin(), e.sumSquares.end());
        out.counts = {float(e.count)};
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
    p.onChunk = options.onChunk;
    p.stage = QStringLiteral("Importance matrix");
    p.matmulObserver = [&collector](const QByteArray &name, const float *x, int nTokens, int nCols) {
        collector.observe(name, x, nTokens, nCols);
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
