#include "baselogits.h"

#include "io/atomicoutput.h"
#include "util/bytereader.h"
#include "util/checkedmath.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

namespace QuantFit {

namespace {

constexpr char kMagic[8] = {'Q', 'F', 'K', 'L', 'B', 'A', 'S', 'E'};
constexpr std::uint64_t kRecordFixedBytes = 16;
constexpr std::uint64_t kEntryBytes = 8;
constexpr double kDenseTailRange = 40.0; ///< nats below the last listed log-prob

template <typename T>
void appendLe(std::vector<std::uint8_t> &out, T value)
{
    static_assert(std::is_trivially_copyable_v<T>);
    static_assert(std::endian::native == std::endian::little, "little-endian host assumed");
    std::uint8_t b[sizeof(T)];
    std::memcpy(b, &value, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
}

} // namespace

//
// encoding
//

void encodeBaseRecord(std::span<const float> logits, std::uint32_t next,
                      const BaseRecordLimits &limits, std::vector<std::uint8_t> &out)
{
    Q_ASSERT(!logits.empty() && next < logits.size() && limits.maxEntries > 0);
    const LogitRowStats s = logitRowStats(logits);
    const float nllBase = -(logits[next] - s.max - float(s.logSum));

    const std::size_t nVocab = logits.size();
    const std::size_t k = std::min<std::size_t>(limits.maxEntries, nVocab);
    std::vector<std::uint32_t> order(nVocab);
    std::iota(order.begin(), order.end(), 0u);
    std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(k), order.end(),
                      [&](std::uint32_t a, std::uint32_t b) {
                          return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                      });

    // Probabilities in double from the double log-probs; the tail is the total minus the listed
    // head, which loses nothing in double for any tail mass that matters (≥ 1e-15).
    const double logSum = s.logSum;
    auto logProb = [&](std::uint32_t i) { return double(logits[i]) - double(s.max) - logSum; };
    double total = 0;
    for (std::size_t i = 0; i < nVocab; ++i)
        total += std::exp(logProb(std::uint32_t(i)));
    double head = 0;
    std::size_t n = 0;
    while (n < k) {
        head += std::exp(logProb(order[n]));
        ++n;
        if (n == nVocab || (total - head) / total <= double(limits.tailMassTarget))
            break;
    }
    const double tail = n == nVocab ? 0.0 : std::max(0.0, (total - head) / total);
    const bool dense = n < nVocab && tail > double(limits.denseTailAbove);

    out.reserve(out.size() + kRecordFixedBytes + kEntryBytes * n + (dense ? 8 + 2 * nVocab : 0));
    appendLe(out, nllBase);
    appendLe(out, float(tail));
    appendLe(out, std::uint32_t(n));
    appendLe(out, std::uint32_t(dense ? 1 : 0));
    for (std::size_t i = 0; i < n; ++i) {
        appendLe(out, order[i]);
        appendLe(out, float(logProb(order[i])));
    }
    if (!dense)
        return;
    // Why a linear 16-bit code over a fixed 40-nat range: the step (6e-4 nats) bounds the
    // rounding of every tail log-prob, and tokens 40 nats below the head carry nothing.
    std::vector<std::uint8_t> listed(nVocab, 0);
    for (std::size_t i = 0; i < n; ++i)
        listed[order[i]] = 1;
    const double top = double(float(logProb(order[n - 1])));
    double lowest = top;
    for (std::size_t i = 0; i < nVocab; ++i) {
        if (!listed[i])
            lowest = std::min(lowest, logProb(std::uint32_t(i)));
    }
    const float tailMin = float(std::max(lowest, top - kDenseTailRange));
    const float tailStep = float((top - double(tailMin)) / 65535.0);
    appendLe(out, tailMin);
    appendLe(out, tailStep);
    for (std::size_t i = 0; i < nVocab; ++i) {
        std::uint16_t code = 0;
        if (!listed[i] && tailStep > 0) {
            const double c = std::nearbyint((logProb(std::uint32_t(i)) - double(tailMin)) / double(tailStep));
            code = std::uint16_t(std::clamp(c, 0.0, 65535.0));
        }
        appendLe(out, code);
    }
}

//
// BaseLogitsWriter
//

BaseLogitsWriter::BaseLogitsWriter(const QString &path, const BaseLogitsHeader &header,
                                   std::span<const std::int32_t> tokens)
    : m_header(header)
    , m_out(std::make_unique<AtomicOutput>(path))
{
    if (std::uint64_t(tokens.size()) != std::uint64_t(header.nChunks) * header.nCtx)
        throw Error(QStringLiteral("base logits '%1': %2 tokens given for %3 chunks of %4")
                        .arg(path)
                        .arg(tokens.size())
                        .arg(header.nChunks)
                        .arg(header.nCtx));
    std::vector<std::uint8_t> h;
    if (header.llamaCppFormat) {
        const char magic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
        h.insert(h.end(), magic, magic + 8);
        appendLe(h, std::int32_t(header.nCtx));
        appendLe(h, std::int32_t(header.nVocab));
        appendLe(h, std::int32_t(header.nChunks));
        for (const std::int32_t t : tokens)
            appendLe(h, t);
        m_out->write(std::span<const std::uint8_t>(h));
        return;
    }
    h.insert(h.end(), kMagic, kMagic + 8);
    appendLe(h, kBaseLogitsVersion);
    appendLe(h, header.nCtx);
    appendLe(h, header.nVocab);
    appendLe(h, header.nChunks);
    appendLe(h, header.limits.maxEntries);
    appendLe(h, header.limits.tailMassTarget);
    appendLe(h, header.limits.denseTailAbove);
    appendLe(h, std::uint32_t(header.addBos ? 1 : 0));
    for (const std::int32_t t : tokens)
        appendLe(h, t);
    m_out->write(std::span<const std::uint8_t>(h));
}

BaseLogitsWriter::~BaseLogitsWriter() = default;

void BaseLogitsWriter::writeChunk(std::span<const std::uint8_t> records)
{
    if (m_chunks >= m_header.nChunks)
        throw Error(QStringLiteral("base logits '%1': more chunks written than the %2 declared")
                        .arg(m_out->path())
                        .arg(m_header.nChunks));
    m_out->write(records);
    ++m_chunks;
}

void BaseLogitsWriter::commit()
{
    if (m_chunks != m_header.nChunks)
        throw Error(QStringLiteral("base logits '%1': %2 of %3 chunks written")
                        .arg(m_out->path())
                        .arg(m_chunks)
                        .arg(m_header.nChunks));
    m_out->commit();
}

//
// BaseLogitsFile
//

BaseLogitsFile BaseLogitsFile::open(const QString &path)
{
    auto map = std::make_shared<MappedFile>(path);
    if (map->size() >= 8 && std::memcmp(map->bytes().data(), "_logits_", 8) == 0)
        return openLlama(path, std::move(map));
    BaseLogitsFile f;
    f.m_path = path;
    f.m_map = std::move(map);
    ByteReader r(f.m_map->bytes(), path);

    const auto magic = r.readBytes(8, QStringLiteral("magic"));
    if (std::memcmp(magic.data(), kMagic, 8) != 0)
        r.failAt(0, QStringLiteral("magic"),
                 QStringLiteral("expected \"QFKLBASE\" (written by perplexity --save-base) or "
                                "\"_logits_\" (llama-perplexity --kl-divergence-base)"));
    const auto version = r.read<std::uint32_t>(QStringLiteral("version"));
    if (version != kBaseLogitsVersion)
        r.failAt(8, QStringLiteral("version"),
                 QStringLiteral("expected %1, found %2").arg(kBaseLogitsVersion).arg(version));
    BaseLogitsHeader &h = f.m_header;
    const std::uint64_t ctxOffset = r.offset();
    h.nCtx = r.read<std::uint32_t>(QStringLiteral("n_ctx"));
    if (h.nCtx < 4 || h.nCtx > (1u << 24))
        r.failAt(ctxOffset, QStringLiteral("n_ctx"),
                 QStringLiteral("expected 4 .. 16777216, found %1").arg(h.nCtx));
    const std::uint64_t vocabOffset = r.offset();
    h.nVocab = r.read<std::uint32_t>(QStringLiteral("n_vocab"));
    if (h.nVocab < 2 || h.nVocab > (1u << 24))
        r.failAt(vocabOffset, QStringLiteral("n_vocab"),
                 QStringLiteral("expected 2 .. 16777216, found %1").arg(h.nVocab));
    h.nChunks = r.read<std::uint32_t>(QStringLiteral("n_chunks"));
    const std::uint64_t maxOffset = r.offset();
    h.limits.maxEntries = r.read<std::uint32_t>(QStringLiteral("max_entries"));
    if (h.limits.maxEntries == 0)
        r.failAt(maxOffset, QStringLiteral("max_entries"), QStringLiteral("expected > 0, found 0"));
    h.limits.tailMassTarget = r.read<float>(QStringLiteral("tail_mass_target"));
    h.limits.denseTailAbove = r.read<float>(QStringLiteral("dense_tail_above"));
    h.addBos = (r.read<std::uint32_t>(QStringLiteral("flags")) & 1u) != 0;

    const std::uint64_t nTokens = std::uint64_t(h.nChunks) * h.nCtx;
    const std::uint64_t nRecords = std::uint64_t(h.nChunks) * h.nScoredPerChunk();
    // Every record takes at least kRecordFixedBytes + one entry: check before sizing anything.
    const auto minBytes = checkedAdd(nTokens * 4, nRecords * (kRecordFixedBytes + kEntryBytes));
    if (!minBytes || *minBytes > r.remaining())
        r.fail(QStringLiteral("n_chunks"),
               QStringLiteral("%1 chunks of %2 tokens need at least %3 bytes, the file has %4 left")
                   .arg(h.nChunks)
                   .arg(h.nCtx)
                   .arg(minBytes ? QString::number(*minBytes) : QStringLiteral("overflow"))
                   .arg(r.remaining()));
    f.m_tokens.resize(nTokens);
    for (std::uint64_t i = 0; i < nTokens; ++i) {
        const std::uint64_t at = r.offset();
        const auto t = r.read<std::int32_t>(QStringLiteral("tokens"));
        if (t < 0 || std::uint32_t(t) >= h.nVocab)
            r.failAt(at, QStringLiteral("tokens[%1]").arg(i),
                     QStringLiteral("token id %1 outside the vocabulary of %2").arg(t).arg(h.nVocab));
        f.m_tokens[i] = t;
    }

    // Records are parsed without ByteReader: field names are only built on failure, since a
    // file holds up to millions of entries.
    const std::uint32_t maxN = std::min(h.limits.maxEntries, h.nVocab);
    const auto bytes = f.m_map->bytes();
    std::uint64_t pos = r.position();
    auto fail = [&](std::uint64_t at, std::uint64_t rec, const QString &what,
                    const QString &problem) {
        throw FormatError(path, at, QStringLiteral("record %1 %2").arg(rec).arg(what), problem);
    };
    auto load = [&](auto &value) {
        std::memcpy(&value, bytes.data() + pos, sizeof(value));
        pos += sizeof(value);
    };
    f.m_recordOffsets.resize(nRecords);
    for (std::uint64_t rec = 0; rec < nRecords; ++rec) {
        f.m_recordOffsets[rec] = pos;
        if (bytes.size() - pos < kRecordFixedBytes)
            fail(pos, rec, QStringLiteral("header"), QStringLiteral("truncated file"));
        float nll = 0, tail = 0;
        std::uint32_t n = 0, tailKind = 0;
        load(nll);
        load(tail);
        if (!(nll >= 0 && std::isfinite(nll)) || !(tail >= 0 && tail <= 1))
            fail(pos - 8, rec, QStringLiteral("nll_base/tail_mass"),
                 QStringLiteral("out of range: %1 / %2").arg(nll).arg(tail));
        load(n);
        if (n == 0 || n > maxN)
            fail(pos - 4, rec, QStringLiteral("n_entries"),
                 QStringLiteral("expected 1 .. %1, found %2").arg(maxN).arg(n));
        load(tailKind);
        if (tailKind > 1)
            fail(pos - 4, rec, QStringLiteral("tail_kind"),
                 QStringLiteral("expected 0 or 1, found %1").arg(tailKind));
        if (bytes.size() - pos < std::uint64_t(n) * kEntryBytes)
            fail(pos, rec, QStringLiteral("entries"), QStringLiteral("truncated file"));
        float prev = std::numeric_limits<float>::infinity();
        for (std::uint32_t e = 0; e < n; ++e) {
            std::uint32_t id = 0;
            float lp = 0;
            load(id);
            load(lp);
            if (id >= h.nVocab || !(lp <= 0) || lp > prev)
                fail(pos - 8, rec, QStringLiteral("entry %1").arg(e),
                     QStringLiteral("id %1 / log-prob %2: expected an id below %3 and "
                                    "non-increasing log-probs <= 0")
                         .arg(id)
                         .arg(lp)
                         .arg(h.nVocab));
            prev = lp;
        }
        if (tailKind == 1) {
            if (bytes.size() - pos < 8 + 2 * std::uint64_t(h.nVocab))
                fail(pos, rec, QStringLiteral("dense tail"), QStringLiteral("truncated file"));
            float tailMin = 0, tailStep = 0;
            load(tailMin);
            load(tailStep);
            if (!std::isfinite(tailMin) || !(tailStep >= 0 && std::isfinite(tailStep)))
                fail(pos - 8, rec, QStringLiteral("tail_min/tail_step"),
                     QStringLiteral("not finite: %1 / %2").arg(tailMin).arg(tailStep));
            pos += 2 * std::uint64_t(h.nVocab);
        }
    }
    if (pos != bytes.size())
        throw FormatError(path, pos, QStringLiteral("end of file"),
                          QStringLiteral("%1 unexpected bytes after the last record")
                              .arg(bytes.size() - pos));
    return f;
}

BaseLogitsRecord BaseLogitsFile::record(std::uint32_t chunk, std::uint32_t position) const
{
    Q_ASSERT(chunk < m_header.nChunks && position < m_header.nScoredPerChunk());
    const std::uint64_t index = std::uint64_t(chunk) * m_header.nScoredPerChunk() + position;
    if (m_format == Format::LlamaCpp) {
        const std::size_t next = std::size_t(chunk) * m_header.nCtx + m_header.nCtx / 2 + position + 1;
        return llamaRecord(m_recordOffsets[index], std::uint32_t(m_tokens[next]));
    }
    ByteReader r(m_map->bytes(), m_path);
    r.seek(m_recordOffsets[index]);
    BaseLogitsRecord rec;
    rec.nllBase = r.read<float>(QStringLiteral("nll_base"));
    rec.tailMass = r.read<float>(QStringLiteral("tail_mass"));
    const auto n = r.read<std::uint32_t>(QStringLiteral("n_entries"));
    const auto tailKind = r.read<std::uint32_t>(QStringLiteral("tail_kind"));
    rec.entries.resize(n);
    for (auto &e : rec.entries) {
        e.id = r.read<std::uint32_t>(QStringLiteral("id"));
        e.logProb = r.read<float>(QStringLiteral("log_prob"));
    }
    if (tailKind == 1) {
        rec.tailMin = r.read<float>(QStringLiteral("tail_min"));
        rec.tailStep = r.read<float>(QStringLiteral("tail_step"));
        const auto codes = r.readBytes(2 * std::uint64_t(m_header.nVocab), QStringLiteral("tail"));
        rec.tailCodes.resize(m_header.nVocab);
        std::memcpy(rec.tailCodes.data(), codes.data(), codes.size());
    }
    return rec;
}

//
// comparison
//

TokenComparison compareToBase(std::span<const float> logits, std::uint32_t next,
                              const BaseLogitsRecord &base, std::vector<std::uint8_t> &mark)
{
    TokenComparison c;
    const LogitRowStats s = logitRowStats(logits);
    c.nll = -double(logits[next] - s.max - float(s.logSum));
    c.nllBase = base.nllBase;
    c.sameTop = !base.entries.empty() && base.entries.front().id == s.argMax;

    const double shift = double(s.max) + s.logSum; // log q_i = z_i − shift
    if (base.llamaCodes) {
        // llama.cpp's sum: base log-probs at or below −16 are skipped, nothing renormalized.
        double kld = 0;
        for (std::size_t i = 0; i < logits.size() && i < base.tailCodes.size(); ++i) {
            const float lp = base.tailStep * float(base.tailCodes[i]) + base.tailMin;
            if (lp > -16.0f)
                kld += std::exp(double(lp)) * (double(lp) - (double(logits[i]) - shift));
        }
        c.kld = kld;
        return c;
    }
    mark.assign(logits.size(), 0);
    double kld = 0;
    for (const BaseLogitsEntry &e : base.entries) {
        mark[e.id] = 1;
        const double lp = e.logProb;
        kld += std::exp(lp) * (lp - (double(logits[e.id]) - shift));
    }
    const double rp = base.tailMass;
    if (rp > 0 && !base.tailCodes.empty() && base.tailCodes.size() == logits.size()) {
        // Dense tail: decode, renormalize to the exact r_p, sum exactly.
        double decodedMass = 0;
        for (std::size_t i = 0; i < logits.size(); ++i) {
            if (!mark[i])
                decodedMass += std::exp(double(base.tailMin) + double(base.tailStep) * base.tailCodes[i]);
        }
        const double shiftP = std::log(rp) - std::log(std::max(decodedMass, std::numeric_limits<double>::min()));
        double tailKld = 0, bound = 0;
        for (std::size_t i = 0; i < logits.size(); ++i) {
            if (mark[i])
                continue;
            const double lp = double(base.tailMin) + double(base.tailStep) * base.tailCodes[i] + shiftP;
            const double p = std::exp(lp);
            const double d = lp - (double(logits[i]) - shift);
            tailKld += p * d;
            bound += p * (1.0 + std::abs(d));
        }
        kld += tailKld;
        c.tailBound = double(base.tailStep) * bound;
    } else if (rp > 0) {
        double rq = 0;
        std::vector<double> tailLogQ;
        tailLogQ.reserve(logits.size() - base.entries.size());
        for (std::size_t i = 0; i < logits.size(); ++i) {
            if (mark[i])
                continue;
            const double lq = double(logits[i]) - shift;
            rq += std::exp(lq);
            tailLogQ.push_back(lq);
        }
        if (!tailLogQ.empty()) {
            rq = std::max(rq, std::numeric_limits<double>::min());
            const double bucket = rp * (std::log(rp) - std::log(rq));
            kld += bucket;
            // Upper bound of the tail's true contribution Σ p_i (log p_i − log q_i) given only
            // Σ p_i = r_p and p_i ≤ p_last: Σ p_i log p_i ≤ r_p log p_last, and −Σ p_i log q_i
            // is largest when p_last is poured onto the smallest q first.
            const double pLast = std::exp(double(base.entries.back().logProb));
            const std::size_t nFull = std::min<std::size_t>(std::size_t(rp / pLast), tailLogQ.size());
            const double rest = nFull < tailLogQ.size() ? rp - double(nFull) * pLast : 0.0;
            const std::size_t nth = std::min(nFull, tailLogQ.size() - 1);
            std::nth_element(tailLogQ.begin(), tailLogQ.begin() + std::ptrdiff_t(nth), tailLogQ.end());
            double cross = 0;
            for (std::size_t i = 0; i < nFull; ++i)
                cross -= pLast * tailLogQ[i];
            cross -= rest * tailLogQ[nth];
            const double upper = rp * std::log(pLast) + cross;
            c.tailBound = std::max(0.0, upper - bucket);
        }
    }
    c.kld = kld;
    return c;
}

} // namespace QuantFit
