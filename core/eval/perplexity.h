#pragma once

// Perplexity and KL divergence exactly by llama-perplexity's method (`perplexity` and
// `kl_divergence` in tools/perplexity/perplexity.cpp): non-overlapping chunks of nCtx tokens, each
// evaluated from an empty KV cache with its first token replaced by BOS when the vocabulary adds
// BOS, and only the predictions of positions nCtx/2 .. nCtx−2 scored (nCtx − 1 − nCtx/2 tokens per
// chunk).

#include "baselogits.h"
#include "evalstats.h"
#include "infer/llamamodel.h"

#include <QDateTime>
#include <QString>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace QuantFit {

class JobContext;

/// Tokens of an evaluation text with what chunking needs to know about the vocabulary.
struct EvalTokens {
    std::vector<std::int32_t> tokens;
    bool addBos = false;      ///< the vocabulary's add-BOS flag
    std::int32_t bosId = -1;
    QString sourceName;       ///< the text's name, for messages and result records
};

/// What is reported after every chunk (also through JobContext::setMetric("PPL", ppl, error)).
struct ChunkReport {
    int chunk = 0;            ///< 1-based
    int nChunks = 0;
    double ppl = 0;
    double pplError = 0;
    double tokensPerSecond = 0; ///< evaluated tokens (nCtx per chunk) per second so far
    double etaSeconds = -1;
    /// KLD runs only: the running statistics so far (percentiles not filled in).
    std::optional<KldSummary> kld;
};

struct PerplexityOptions {
    int nCtx = 512;
    int nChunks = -1;         ///< -1: every whole chunk of the text
    int nBatch = 2048;        ///< tokens per forward step (a chunk longer than this takes steps)
    int nThreads = 0;         ///< 0: all cores
    KvStorageType kvType = KvStorageType::F16; ///< llama.cpp's default
    /// llama.cpp's flash-attention numerics (its default); false: those of `-fa off`.
    bool flashAttention = true;
    /// When set, the base model's scored logits are saved there (baselogits.h).
    QString saveBasePath;
    BaseRecordLimits baseLimits;
    /// Save in llama.cpp's `_logits_` layout (for llama-perplexity --kl-divergence) instead.
    bool baseLlamaCppFormat = false;
    /// Called on the calling thread after every chunk (the CLI prints "[k]PPL,").
    std::function<void(const ChunkReport &)> onChunk;
    /// Progress stage name ("Perplexity"; KLD runs use "KL divergence" when left empty).
    QString stage;
    /// Sees the input of every matrix product (imatrix collection); called on the calling thread.
    MatmulObserver matmulObserver;
    /// Sees the input of every expert product (imatrix collection); called on the calling thread.
    ExpertMatmulObserver expertObserver;
};

/// A finished run: the record the GUI keeps and `--json` prints (evalresult.h).
struct PerplexityResult {
    QString modelPath;
    QString fileType;         ///< "Q4_K_M", from general.file_type or guessed
    QString textSource;
    QString basePath;         ///< the base-logits file written or compared against
    int nCtx = 0;
    int nChunks = 0;
    std::uint64_t nTokensScored = 0;
    double ppl = 0;
    double pplError = 0;
    std::vector<double> runningPpl; ///< after each chunk
    double seconds = 0;
    double tokensPerSecond = 0;
    std::optional<KldSummary> kld;  ///< KLD runs only
    QDateTime date;
};

/// Perplexity of `model` over `text`. Throws Error when the text has fewer than 2·nCtx tokens
/// ("... need at least 2n tokens ...") or options are out of range; IoError when the base file
/// cannot be written; Cancelled when `ctx` asks (a base file being written is discarded).
/// Progress: stage options.stage ("Perplexity"), total nChunks·nCtx tokens, advance per chunk
/// (rate unit "tok/s"), metric "PPL" with its error (at most ~10 reports/s; onChunk sees all).
PerplexityResult computePerplexity(std::shared_ptr<const LlamaModel> model, const EvalTokens &text,
                                   const PerplexityOptions &options, JobContext &ctx);

/// KL divergence of `model` against a saved base: the tokens, nCtx and chunk count come from the
/// file (options.nChunks may lower the count; nCtx, saveBasePath are ignored). `addBos`/`bosId`
/// are the current model's. Throws Error when the vocabulary sizes differ or the file's context
/// exceeds the model's KV limit; Cancelled when asked. Metric "PPL"; the summary is in
/// result.kld.
PerplexityResult computeKld(std::shared_ptr<const LlamaModel> model, const BaseLogitsFile &base,
                            bool addBos, std::int32_t bosId, const PerplexityOptions &options,
                            JobContext &ctx);

/// Chunk k's input: tokens[k·n .. k·n+n−1] with the first replaced by BOS when addBos.
std::vector<std::int32_t> chunkInput(std::span<const std::int32_t> tokens, int chunk, int nCtx,
                                     bool addBos, std::int32_t bosId);

} // namespace QuantFit
