// Reading llama.cpp's base-logits file (llama-perplexity --kl-divergence-base), so a KLD run can
// compare against a base that llama.cpp saved (docs/formats.md, "Base logits"). Layout, native
// little-endian:
//  1. magic "_logits_", int32 n_ctx, int32 n_vocab, int32 n_chunk
//  2. int32 tokens[n_chunk · n_ctx]
//  3. per chunk, per scored position (n_ctx − 1 − n_ctx/2 of them): nv = 2·ceil(n_vocab/2) + 4
//     uint16 slots: float32 scale, float32 min_lp, then n_vocab uint16 codes (padding 0);
//     log-prob_i = scale·code_i + min_lp.

#include "baselogits.h"

#include "util/checkedmath.h"
#include "util/error.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace QuantFit {

void encodeLlamaRecord(std::span<const float> logits, std::vector<std::uint8_t> &out)
{
    static_assert(std::endian::native == std::endian::little, "little-endian host assumed");
    const LogitRowStats s = logitRowStats(logits);
    float min = s.max;
    for (const float z : logits)
        min = std::min(min, z);
    min = std::max(min, s.max - 16.0f);
    const float scale = (s.max - min) / 65535.0f;
    const float minLp = min - s.max - float(s.logSum);
    const std::size_t nSlots = 2 * ((logits.size() + 1) / 2);
    const std::size_t at = out.size();
    out.resize(at + 8 + 2 * nSlots, 0);
    std::memcpy(out.data() + at, &scale, 4);
    std::memcpy(out.data() + at + 4, &minLp, 4);
    if (scale == 0)
        return; // all codes 0
    const float inverse = 1.0f / scale;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        const std::uint16_t code = logits[i] > min ? std::uint16_t(std::lround(inverse * (logits[i] - min))) : 0;
        std::memcpy(out.data() + at + 8 + 2 * i, &code, 2);
    }
}

BaseLogitsFile BaseLogitsFile::openLlama(const QString &path, std::shared_ptr<MappedFile> map)
{
    BaseLogitsFile f;
    f.m_format = Format::LlamaCpp;
    f.m_path = path;
    f.m_map = std::move(map);
    const auto bytes = f.m_map->bytes();
    if (bytes.size() < 20)
        throw FormatError(path, 8, QStringLiteral("n_ctx/n_vocab/n_chunk"), QStringLiteral("truncated file"));
    std::int32_t nCtx = 0, nVocab = 0, nChunk = 0;
    std::memcpy(&nCtx, bytes.data() + 8, 4);
    std::memcpy(&nVocab, bytes.data() + 12, 4);
    std::memcpy(&nChunk, bytes.data() + 16, 4);
    if (nCtx < 4 || nCtx > (1 << 24))
        throw FormatError(path, 8, QStringLiteral("n_ctx"), QStringLiteral("expected 4 .. 16777216, found %1").arg(nCtx));
    if (nVocab < 2 || nVocab > (1 << 24))
        throw FormatError(path, 12, QStringLiteral("n_vocab"), QStringLiteral("expected 2 .. 16777216, found %1").arg(nVocab));
    if (nChunk < 1)
        throw FormatError(path, 16, QStringLiteral("n_chunk"), QStringLiteral("expected at least 1, found %1").arg(nChunk));
    BaseLogitsHeader &h = f.m_header;
    h.nCtx = std::uint32_t(nCtx);
    h.nVocab = std::uint32_t(nVocab);
    h.nChunks = std::uint32_t(nChunk);
    h.limits = {h.nVocab, 0.0f, 0.0f};

    const std::uint64_t nTokens = std::uint64_t(nChunk) * std::uint64_t(nCtx);
    const std::uint64_t recordBytes = 2 * (2 * ((std::uint64_t(nVocab) + 1) / 2) + 4);
    const std::uint64_t nRecords = std::uint64_t(nChunk) * h.nScoredPerChunk();
    const auto records = checkedMul(nRecords, recordBytes);
    const auto total = records ? checkedAdd(20 + 4 * nTokens, *records) : std::nullopt;
    if (!total || *total != bytes.size())
        throw FormatError(path, 16, QStringLiteral("n_chunk"),
                          QStringLiteral("%1 chunks of %2 tokens with a vocabulary of %3 need %4 "
                                         "bytes, the file has %5")
                              .arg(nChunk)
                              .arg(nCtx)
                              .arg(nVocab)
                              .arg(total ? QString::number(*total) : QStringLiteral("overflow"))
                              .arg(bytes.size()));
    f.m_tokens.resize(nTokens);
    std::memcpy(f.m_tokens.data(), bytes.data() + 20, 4 * nTokens);
    for (std::uint64_t i = 0; i < nTokens; ++i) {
        if (f.m_tokens[i] < 0 || f.m_tokens[i] >= nVocab)
            throw FormatError(path, 20 + 4 * i, QStringLiteral("tokens[%1]").arg(i),
                              QStringLiteral("token id %1 outside the vocabulary of %2")
                                  .arg(f.m_tokens[i])
                                  .arg(nVocab));
    }
    f.m_recordOffsets.resize(nRecords);
    for (std::uint64_t i = 0; i < nRecords; ++i)
        f.m_recordOffsets[i] = 20 + 4 * nTokens + i * recordBytes;
    return f;
}

BaseLogitsRecord BaseLogitsFile::llamaRecord(std::uint64_t offset, std::uint32_t next) const
{
    const std::uint8_t *p = m_map->bytes().data() + offset;
    BaseLogitsRecord rec;
    rec.llamaCodes = true;
    std::memcpy(&rec.tailStep, p, 4);
    std::memcpy(&rec.tailMin, p + 4, 4);
    rec.tailCodes.resize(m_header.nVocab);
    std::memcpy(rec.tailCodes.data(), p + 8, 2 * std::size_t(m_header.nVocab));
    // The arg-max is the first largest code (the decoding is monotonic).
    std::uint32_t best = 0;
    for (std::uint32_t i = 1; i < m_header.nVocab; ++i) {
        if (rec.tailCodes[i] > rec.tailCodes[best])
            best = i;
    }
    rec.entries.push_back({best, rec.tailStep * float(rec.tailCodes[best]) + rec.tailMin});
    rec.nllBase = -(rec.tailStep * float(rec.tailCodes[next]) + rec.tailMin);
    return rec;
}

} // namespace QuantFit
