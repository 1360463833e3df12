#pragma once

// Importance-matrix collection as llama-imatrix does it (tools/imatrix/imatrix.cpp): the text is
// evaluated in chunks exactly as for perplexity (perplexity.h: empty cache, BOS replacement, all
// positions of every chunk evaluated), and for every matrix product whose weight is named "blk.*"
// (plus output.weight with processOutput) the squares of the input activations are summed per input
// column. Steps of fewer than 16 tokens are skipped, as llama.cpp skips small ubatches. Expert
// products (3-D ffn_*_exps tensors, llama.cpp's mul_mat_id) are never skipped: the rows routed
// to expert e add into e's slice of the sums and to e's count, so an entry holds one matrix per
// expert and experts that no token reached keep count 0 (llama-quantize then uses importance 1
// for them). The perplexity of the second half of each chunk is computed along the way.

#include "perplexity.h"

#include "quant/imatrixfile.h"

#include <QByteArray>

#include <cstdint>
#include <map>
#include <vector>

namespace QuantFit {

/// Accumulates squared activations per weight tensor and input column. observe() matches
/// InferenceSession's MatmulObserver; it is called on the evaluating thread only (not
/// thread-safe). Sums are kept in double and rounded to float in result().
class ImatrixCollector
{
public:
    explicit ImatrixCollector(bool processOutput = false) : m_processOutput(processOutput) {}

    /// x is row-major [nTokens x nCols]. Throws Error when a tensor's width changes.
    void observe(const QByteArray &tensorName, const float *x, int nTokens, int nCols);
    /// The rows routed to `expert` (of nExperts) of a 3-D tensor; matches ExpertMatmulObserver.
    /// Throws Error when a tensor's width or expert count changes.
    void observeExpert(const QByteArray &tensorName, int expert, int nExperts, const float *x,
                       int nTokens, int nCols);

    /// Adds an existing matrix's sums and counts (llama-imatrix --in-file). Throws Error for a
    /// width or matrix count that disagrees with what was observed.
    void merge(const ImportanceMatrix &matrix);

    std::size_t nTensors() const { return m_entries.size(); }
    /// Activations accumulated for `tensorName` (0 when never observed; the sum over experts
    /// for an expert tensor).
    std::uint64_t count(const QByteArray &tensorName) const;
    ImportanceMatrix result(const QStringList &datasets, std::uint32_t chunkCount,
                            std::uint32_t chunkSize) const;

private:
    struct Entry {
        std::size_t nColumns = 0;
        std::vector<double> sumSquares;   ///< nColumns per matrix
        std::vector<std::uint64_t> counts; ///< one per matrix (experts; 1 for dense)
    };
    Entry &entry(const QByteArray &tensorName, int nCols, int nMatrices);
    bool m_processOutput;
    std::map<QByteArray, Entry> m_entries;
};

constexpr int kImatrixMinTokens = 16;

struct ImatrixOptions {
    int nCtx = 512;
    int nChunks = -1;         ///< -1: every whole chunk
    int nBatch = 2048;
    int nThreads = 0;
    bool processOutput = false;
    KvStorageType kvType = KvStorageType::F16;
    bool flashAttention = true; ///< llama.cpp's default attention numerics
    /// Matrices to start from (--in-file): their sums, counts, chunks and datasets add up.
    std::vector<ImportanceMatrix> inputs;
    std::function<void(const ChunkReport &)> onChunk;
};

struct ImatrixRunResult {
    ImportanceMatrix matrix;
    PerplexityResult perplexity;
};

/// Collects the importance matrix of `model` over `text`. Throws Error for a text shorter than
/// two contexts or bad options, Cancelled when asked. Progress as computePerplexity.
ImatrixRunResult collectImatrix(std::shared_ptr<const LlamaModel> model, const EvalTokens &text,
                                const ImatrixOptions &options, JobContext &ctx);

} // namespace QuantFit
