#pragma once

// QuantFit base-logits file (written by `perplexity --save-base`, read by `--kl-base`).
// Our own compact format (docs/formats.md, "Base logits"), not llama.cpp's `_logits_` file, which
// keeps a uint16 for every vocabulary entry of every scored token (tens of GB for a 128k vocab).
// We keep, per scored token, the head of the base distribution exactly and the rest either as
// one exact mass (when it is small, the usual case for a trained model) or, when it is not, as
// 16-bit log-probs. All values little-endian:
//  1. magic "QFKLBASE" (8 bytes), uint32 version (= 1)
//  2. uint32 nCtx, uint32 nVocab, uint32 nChunks, uint32 maxEntries, float32 tailMassTarget,
//     float32 denseTailAbove, uint32 flags (bit 0: the vocabulary adds BOS)
//  3. int32 tokens[nChunks · nCtx]: the evaluated tokens as tokenized (BOS replacement not
//     applied), so a KLD run needs no text
//  4. for each chunk, for each of the nCtx − 1 − nCtx/2 scored positions (perplexity order), a
//     record:
//       float32 nllBase   −log p_base(next token), computed as for perplexity
//       float32 tailMass  r_p: base probability of every token not listed (summed in double)
//       uint32  nEntries  1 .. min(maxEntries, nVocab)
//       uint32  tailKind  0: the unlisted tokens are one bucket; 1: a dense tail follows
//       nEntries × { uint32 id, float32 logProb }  the most probable tokens, by descending
//                          log-prob (ties: lower id first); entries are added until r_p ≤
//                          tailMassTarget or maxEntries are listed
//       dense tail (only when r_p > denseTailAbove): float32 tailMin, float32 tailStep, then
//                          nVocab × uint16 code in id order (0 for listed ids); an unlisted
//                          token's log-prob is tailMin + tailStep·code, with tailMin =
//                          max(smallest log-prob, last listed − 40) and tailStep =
//                          (last listed − tailMin)/65535
//  5. nothing after the last record
//
// KLD from a record (see compareToBase): the listed tokens contribute p·(log p − log q) exactly
// (float32 log-probs, relative error 6e-8).
// - Bucket tail: r_p·log(r_p/r_q), r_q being the current model's mass on the unlisted tokens.
//   By the log-sum inequality this is a lower bound of their true contribution; the true value
//   exceeds it by r_p·KL(tail of p ‖ tail of q) (both normalized), so the relative error of the
//   KLD is about r_p ≤ denseTailAbove (1e-4 by default). tailBound reports a rigorous upper
//   bound of that excess (loose: it assumes the worst tail shape).
// - Dense tail: decoded log-probs renormalized to the exact r_p (rounding error ≤ tailStep ≈
//   6e-4 nats); tailBound reports the first-order bound tailStep·Σ_tail p·(1 + |log p/q|).
// Size per scored token: 16 + 8·nEntries bytes, plus 8 + 2·nVocab for a dense tail.

#include "evalstats.h"
#include "io/mappedfile.h"

#include <QString>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace QuantFit {

class AtomicOutput;

/// How much of each position's distribution is stored (see the file comment).
struct BaseRecordLimits {
    std::uint32_t maxEntries = 512;
    float tailMassTarget = 1e-6f;
    float denseTailAbove = 1e-4f;
};

struct BaseLogitsHeader {
    std::uint32_t nCtx = 0;
    std::uint32_t nVocab = 0;
    std::uint32_t nChunks = 0;
    BaseRecordLimits limits;
    bool addBos = false;
    bool llamaCppFormat = false; ///< write llama.cpp's `_logits_` layout instead (writer only)

    std::uint32_t nScoredPerChunk() const { return nCtx - 1 - nCtx / 2; }
};

constexpr std::uint32_t kBaseLogitsVersion = 1;

struct BaseLogitsEntry {
    std::uint32_t id;
    float logProb;
};

/// One scored position of the base model, decoded.
struct BaseLogitsRecord {
    float nllBase = 0;
    float tailMass = 0;
    std::vector<BaseLogitsEntry> entries;
    float tailMin = 0;                    ///< dense tail only
    float tailStep = 0;
    std::vector<std::uint16_t> tailCodes; ///< nVocab codes when the tail is dense, else empty
    /// A record of llama.cpp's `_logits_` file: tailCodes hold every token's code (log-prob =
    /// tailMin + tailStep·code), entries only the arg-max; KLD is computed as llama.cpp does.
    bool llamaCodes = false;
};

/// Encodes the record of one position from the base model's full logit row and appends it to
/// `out`. `next` is the token that follows. Thread-safe (no shared state).
void encodeBaseRecord(std::span<const float> logits, std::uint32_t next,
                      const BaseRecordLimits &limits, std::vector<std::uint8_t> &out);

/// Encodes one position as llama.cpp's `_logits_` file does (tools/perplexity/perplexity.cpp):
/// scale and min_lp as two float32, then a uint16 code per vocabulary entry (padded to even).
void encodeLlamaRecord(std::span<const float> logits, std::vector<std::uint8_t> &out);

/// Writes a base-logits file through AtomicOutput: header and tokens at construction, then the
/// records of each chunk in order; commit() renames it into place and checks that every chunk
/// was written. Throws IoError / Error.
class BaseLogitsWriter
{
public:
    BaseLogitsWriter(const QString &path, const BaseLogitsHeader &header,
                     std::span<const std::int32_t> tokens);
    ~BaseLogitsWriter();

    /// Appends the already encoded records of the next chunk (nScoredPerChunk records).
    void writeChunk(std::span<const std::uint8_t> records);
    /// Number of chunks written so far.
    std::uint32_t chunksWritten() const { return m_chunks; }
    void commit();

private:
    BaseLogitsHeader m_header;
    std::unique_ptr<AtomicOutput> m_out;
    std::uint32_t m_chunks = 0;
};

/// A validated, memory-mapped base-logits file. Opening checks the whole file (header, every
/// record's counts, ids, order and the exact end) before anything is sized from it; every
/// failure is a FormatError naming the file, the offset and the field.
class BaseLogitsFile
{
public:
    enum class Format {
        QuantFit, ///< ours (this file's layout)
        LlamaCpp, ///< llama-perplexity --kl-divergence-base (docs/formats.md, "Base logits")
    };

    /// Opens either format (told apart by the magic).
    static BaseLogitsFile open(const QString &path);

    Format format() const { return m_format; }
    const QString &path() const { return m_path; }
    const BaseLogitsHeader &header() const { return m_header; }
    std::span<const std::int32_t> tokens() const { return m_tokens; }
    /// Decodes record `position` (0 .. nScoredPerChunk−1) of chunk `chunk`.
    BaseLogitsRecord record(std::uint32_t chunk, std::uint32_t position) const;
    std::uint64_t fileBytes() const { return m_map ? m_map->size() : 0; }

private:
    static BaseLogitsFile openLlama(const QString &path, std::shared_ptr<MappedFile> map);
    BaseLogitsRecord llamaRecord(std::uint64_t offset, std::uint32_t next) const;

    Format m_format = Format::QuantFit;
    QString m_path;
    BaseLogitsHeader m_header;
    std::vector<std::int32_t> m_tokens;
    std::vector<std::uint64_t> m_recordOffsets;
    std::shared_ptr<MappedFile> m_map;
};

/// Per-token comparison of a current model's logits with the base record (as llama-perplexity's
/// `kl_divergence` in tools/perplexity/perplexity.cpp, with the exact KLD described above in place
/// of llama.cpp's "skip log-probs ≤ −16" for our files, and llama.cpp's own sum for its files).
struct TokenComparison {
    double nll = 0;       ///< current model, as for perplexity
    double nllBase = 0;
    double kld = 0;       ///< KL(base ‖ current), nats
    double tailBound = 0; ///< upper bound of the error of kld from the unlisted tail
    bool sameTop = false; ///< argmax of current == argmax of base
};

/// `mark` is scratch space (resized to the vocabulary); one per thread.
TokenComparison compareToBase(std::span<const float> logits, std::uint32_t next,
                              const BaseLogitsRecord &base, std::vector<std::uint8_t> &mark);

} // namespace QuantFit
