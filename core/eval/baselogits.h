#pragma once

// QuantFit base-logits file (written by `perplexity --save-base`, read by `--kl-base`).
// Our own compact format, not llama.cpp's `_logits_` file (perplexity-and-kld.md §2.1), which
// keeps a uint16 for every vocabulary entry of every scored token (tens of GB for a 128k vocab).
// We keep, per scored token, only the head of the base distribution plus the exact mass of the
// rest. All values little-endian:
//  1. magic "QFKLBASE" (8 bytes), uint32 version (= 1)
//  2. uint32 nCtx, uint32 nVocab, uint32 nChunks, uint32 maxEntries, float32 tailMassTarget,
//     uint32 flags (bit 0: the vocabulary adds BOS)
//  3. int32 tokens[nChunks · nCtx]: the evaluated tokens as tokenized (BOS replacement not
//     applied), so a KLD run needs no text
//  4. for each chunk, for each of the nCtx − 1 − nCtx/2 scored positions (perplexity order), a
//     record:
//       float32 nllBase   −log p_base(next token), computed as for perplexity
//       float32 tailMass  base probability of every token not listed below (summed in double)
//       uint32  nEntries  1 .. min(maxEntries, nVocab)
//       nEntries × { uint32 id, float32 logProb }  the most probable tokens, by descending
//                          log-prob (ties: lower id first); entries are added until tailMass ≤
//                          tailMassTarget or maxEntries are listed
//  5. nothing after the last record
//
// KLD from a record (see compareToBase): the listed tokens contribute p·(log p − log q) exactly
// (log-probs stored as float32: relative error 6e-8); the unlisted tokens are one bucket,
// r_p·log(r_p/r_q) with r_q the current model's mass on them. By the log-sum inequality this is
// a lower bound of their true contribution T, and since every unlisted p_i is at most the last
// listed p (p_last), T ≤ r_p·(log p_last − min log q_tail). The per-token gap between the two is
// returned as tailBound; it is 0 when the whole vocabulary is listed, and at most
// tailMassTarget·(log p_last − min log q) otherwise (≈ 3e-5 nats for the defaults and a
// 30-nat spread). Size: 12 + 8·nEntries bytes per scored token.

#include "evalstats.h"
#include "io/mappedfile.h"

#include <QString>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace QuantFit {

class AtomicOutput;

struct BaseLogitsHeader {
    std::uint32_t nCtx = 0;
    std::uint32_t nVocab = 0;
    std::uint32_t nChunks = 0;
    std::uint32_t maxEntries = 512;
    float tailMassTarget = 1e-6f;
    bool addBos = false;

    std::uint32_t nScoredPerChunk() const { return nCtx - 1 - nCtx / 2; }
};

constexpr std::uint32_t kBaseLogitsVersion = 1;
constexpr std::uint64_t kBaseLogitsHeaderBytes = 8 + 4 + 6 * 4;

struct BaseLogitsEntry {
    std::uint32_t id;
    float logProb;
};

/// One scored position of the base model, decoded.
struct BaseLogitsRecord {
    float nllBase = 0;
    float tailMass = 0;
    std::vector<BaseLogitsEntry> entries;
};

/// Encodes the record of one position from the base model's full logit row and appends it to
/// `out`. `next` is the token that follows. Thread-safe (no shared state).
void encodeBaseRecord(std::span<const float> logits, std::uint32_t next, std::uint32_t maxEntries,
                      float tailMassTarget, std::vector<std::uint8_t> &out);

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
    static BaseLogitsFile open(const QString &path);

    const QString &path() const { return m_path; }
    const BaseLogitsHeader &header() const { return m_header; }
    std::span<const std::int32_t> tokens() const { return m_tokens; }
    /// Decodes record `position` (0 .. nScoredPerChunk−1) of chunk `chunk`.
    BaseLogitsRecord record(std::uint32_t chunk, std::uint32_t position) const;
    std::uint64_t fileBytes() const { return m_map ? m_map->size() : 0; }

private:
    QString m_path;
    BaseLogitsHeader m_header;
    std::vector<std::int32_t> m_tokens;
    std::vector<std::uint64_t> m_recordOffsets;
    std::shared_ptr<MappedFile> m_map;
};

/// Per-token comparison of a current model's logits with the base record (§3 of the spec, with
/// the exact KLD described above in place of llama.cpp's "skip log-probs ≤ −16").
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
