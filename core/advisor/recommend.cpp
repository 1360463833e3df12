#include "recommend.h"

#include "estimates.h"

#include "catalog/catalog.h"
#include "util/units.h"

#include <algorithm>

// The brief's decision flow for one model, as implemented here (the README's "Recommendation"
// section has the long form; priorityrows.cpp has the rows for a machine):
//
// Decision flow for one model ("Choosing Quantization"):
//   1. Start with Q4_K_M (guideline 1).
//   2. Memory to spare (the next level up is comfortable) -> go up one level, repeatedly:
//      Q4_K_M -> Q5_K_M -> Q6_K (guideline 2) -> Q8_0 only with room for context (guideline 3):
//      comfortable and its weights take at most half of the usable memory.
//   3. No memory to spare (Q4_K_M fits but is tight): quality critical -> name a smaller model at
//      a higher quant; otherwise stay at Q4_K_M.
//   4. Q4_K_M does not fit: go down to Q3_K_M, only because it is necessary (guideline 4);
//      when that does not fit either, to the mix with the best estimated quality that fits
//      among Q2_K and the I-quants down to IQ2_XXS (IQ2_M is smaller than Q2_K and loses less,
//      so Q2_K is rarely it). An I-quant that needs an importance matrix says so, and that
//      QuantFit computes one (`quantize --calibration`). IQ1_S/IQ1_M are listed, never
//      recommended: they lose several times what IQ2_XXS does. Name a smaller model at a
//      higher quant as well.

namespace QuantFit {

namespace {


std::uint64_t usableBytes(const ModelAdvice &a)
{
    return a.options.ramBytes - *a.options.reserveBytes;
}

bool fits(const ModelAdvice &a, FileType ft)
{
    const QuantRow *r = a.row(ft);
    return r && r->badge != FitBadge::DoesNotFit;
}

bool roomForContext(const ModelAdvice &a, FileType ft)
{
    const QuantRow *r = a.row(ft);
    return r && r->memory.weightsBytes * 2 <= usableBytes(a);
}



// RAM as people name it: "64 GB", "25.3 GB".
QString ramText(std::uint64_t bytes)
{
    const bool whole = bytes % 1'000'000'000ull == 0;
    return formatGB(bytes, whole ? 0 : 1);
}



/// The sentence every recommendation of a mix that needs an importance matrix carries.
QString imatrixSentence(const QuantRow &r)
{
    return QStringLiteral("%1 needs an importance matrix: QuantFit computes one from a text "
                          "while converting (quantize --calibration TEXT, or a calibration text "
                          "on the Convert page), and a text of the model's domain is best.")
        .arg(r.name);
}

QString badgeWhy(const ModelAdvice &a, FileType ft)
{
    const QuantRow *r = a.row(ft);
    if (!r)
        return {};
    return QStringLiteral("%1 %2 (total %3 of %4)")
        .arg(r->name, fitBadgeName(r->badge), adviceGb(r->memory.totalBytes()), adviceGb(a.options.ramBytes));
}

struct Alternative {
    QString id;
    QString name;
    FileType fileType = FileType::Q5_K_M;
};

/// A smaller catalog model that is comfortable at Q5_K_M or above: same family first, then the
/// ladder's models (the strongest of their size class), then the largest by parameters.
std::optional<Alternative> findAlternative(const ModelAdvice &a, const Catalog &catalog,
                                           const Sizer &sizer)
{
    const double params = a.model.paramsBillions > 0 ? a.model.paramsBillions
                                                      : double(a.nParams) / 1e9;
    std::vector<const ModelShape *> candidates;
    for (const ModelShape &m : catalog.models()) {
        // Cheap filter before planning: Q5_K_M at about 5.7 bits must fit the usable memory.
        if (m.paramsBillions >= params || m.id == a.model.id)
            continue;
        if (m.paramsBillions * 1e9 * 5.7 / 8 > double(usableBytes(a)))
            continue;
        candidates.push_back(&m);
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](const ModelShape *x, const ModelShape *y) {
                         const bool fx = x->family == a.model.family;
                         const bool fy = y->family == a.model.family;
                         if (fx != fy)
                             return fx;
                         if (x->lineup != y->lineup)
                             return x->lineup;
                         return x->paramsBillions > y->paramsBillions;
                     });
    for (const ModelShape *m : candidates) {
        const ModelAdvice other = adviceFor(*m, a.options, sizer);
        std::optional<FileType> best;
        for (FileType ft : {FileType::Q5_K_M, FileType::Q6_K, FileType::Q8_0}) {
            if (comfortableAt(other, ft))
                best = ft;
        }
        if (best)
            return Alternative{m->id, m->name, *best};
    }
    return std::nullopt;
}

} // namespace

//
// shared with priorityrows.cpp (declared in recommend.h)
//

const std::vector<FileType> &levelsBelowQ3()
{
    static const std::vector<FileType> levels = {
        FileType::IQ3_M, FileType::IQ3_S, FileType::IQ3_XS, FileType::IQ3_XXS, FileType::IQ2_M,
        FileType::IQ2_S, FileType::Q2_K,  FileType::IQ2_XS, FileType::IQ2_XXS,
    };
    return levels;
}

bool comfortableAt(const ModelAdvice &a, FileType ft)
{
    const QuantRow *r = a.row(ft);
    if (!r || r->badge != FitBadge::Comfortable)
        return false;
    // gpt-oss keeps its MXFP4 experts at every level: Q8_0 (the published MXFP4_MOE file) is
    // within 1 GB of Q4_K_M, so the room-for-context rule has nothing to save.
    return ft != FileType::Q8_0 || roomForContext(a, ft) || a.model.expertsMxfp4;
}

QString adviceGb(std::uint64_t bytes)
{
    return formatGB(bytes, bytes >= 10'000'000'000ull ? 1 : (bytes >= 1'000'000'000ull ? 2 : 3));
}

QStringList levelReasons(const ModelAdvice &a, const QuantRow &r)
{
    const MemoryBreakdown &m = r.memory;
    QStringList facts;
    facts << QStringLiteral("%1 is a %2 file, %3 bits per weight (the brief's formula %4 x %5 / 8 "
                            "gives %6).")
                 .arg(r.name, adviceGb(r.fileBytes))
                 .arg(r.bitsPerWeight, 0, 'f', 2)
                 .arg(double(a.nParams) / 1e9, 0, 'f', 1)
                 .arg(r.nominalBits)
                 .arg(adviceGb(r.simpleFormulaBytes));
    facts << QStringLiteral("At %1 tokens with a %2 KV cache it needs %3: weights %4 + KV cache %5 "
                            "+ compute %6 + runtime %7 + OS reserve %8%9.")
                 .arg(r.contextTokens)
                 .arg(kvCacheTypeName(a.options.kvType), adviceGb(m.totalBytes()), adviceGb(m.weightsBytes),
                      adviceGb(m.kvCacheBytes), adviceGb(m.computeBytes), adviceGb(m.overheadBytes),
                      adviceGb(m.reserveBytes),
                      m.visionBytes
                          ? QStringLiteral(" + vision projector %1").arg(adviceGb(m.visionBytes))
                          : QString());
    const QString ram = ramText(a.options.ramBytes);
    if (r.badge != FitBadge::DoesNotFit)
        facts << QStringLiteral("That leaves %1 of the %2 RAM; the longest context that fits is "
                                "%3 tokens.")
                     .arg(adviceGb(std::uint64_t(r.freeAtContextBytes)), ram)
                     .arg(r.longestContextTokens);
    else if (r.longestContextTokens > 0)
        facts << QStringLiteral("That is %1 more than the %2 RAM; it fits with at most %3 tokens "
                                "of context.")
                     .arg(adviceGb(std::uint64_t(-r.freeAtContextBytes)), ram)
                     .arg(r.longestContextTokens);
    else
        facts << QStringLiteral("That is %1 more than the %2 RAM, and it does not fit even with "
                                "256 tokens of context.")
                     .arg(adviceGb(std::uint64_t(-r.freeAtContextBytes)), ram);
    facts << moeFacts(a);
    facts << QStringLiteral("Estimates until measured: perplexity +%1% over F16, %2x the speed "
                            "of F16.")
                 .arg(r.pplIncreasePercent, 0, 'f', r.pplIncreasePercent < 1 ? 2 : 1)
                 .arg(r.relativeSpeed, 0, 'f', 2);
    return facts;
}

QStringList moeFacts(const ModelAdvice &a)
{
    const ModelShape &s = a.model;
    if (!s.isMoe())
        return {};
    QStringList facts;
    const double total = double(a.nParams) / 1e9;
    const double active = s.activeParamsBillions;
    if (active > 0)
        facts << QStringLiteral("%1 is a mixture of experts: %2B parameters to hold, %3B read per "
                                "token (%4 of %5 experts per layer), so memory follows the %2B and "
                                "speed the %3B.")
                     .arg(QString(s.name).remove(QStringLiteral(" (MoE)")))
                     .arg(total, 0, 'f', total < 100 ? 1 : 0)
                     .arg(active, 0, 'f', active < 10 ? 1 : 0)
                     .arg(s.nExpertsUsed)
                     .arg(s.nExperts);
    if (s.expertsMxfp4)
        facts << QStringLiteral("Its experts were trained in MXFP4 and every published file keeps "
                                "them so (sized here the same way), so the levels differ only in "
                                "the attention and embedding weights; MXFP4_MOE is the file "
                                "ggml-org publishes.");
    return facts;
}

const QuantRow *bestFitBelowQ3(const ModelAdvice &a)
{
    const QuantRow *best = nullptr;
    for (FileType ft : levelsBelowQ3()) {
        const QuantRow *r = a.row(ft);
        if (r && r->badge != FitBadge::DoesNotFit
            && (!best || r->pplIncreasePercent < best->pplIncreasePercent))
            best = r;
    }
    return best;
}

void recommendQuant(ModelAdvice &a, const Catalog &catalog, const Sizer &sizer)
{
    QuantRecommendation rec;
    std::optional<FileType> chosen;
    QString deciding; // the first reason: why this level and not the next
    bool wantAlternative = false;
    const QString usable = adviceGb(usableBytes(a));

    if (comfortableAt(a, FileType::Q4_K_M)) {
        rec.steps << QStringLiteral("Start with Q4_K_M: %1.").arg(badgeWhy(a, FileType::Q4_K_M));
        chosen = FileType::Q4_K_M;
        for (FileType next : {FileType::Q5_K_M, FileType::Q6_K, FileType::Q8_0}) {
            if (comfortableAt(a, next)) {
                rec.steps << QStringLiteral("Memory to spare: go up one level to %1 (%2).")
                                 .arg(fileTypeName(next), badgeWhy(a, next));
                chosen = next;
                continue;
            }
            const QuantRow *nextRow = a.row(next);
            if (next == FileType::Q8_0 && nextRow && nextRow->badge == FitBadge::Comfortable) {
                rec.steps << QStringLiteral("Stop before Q8_0: its weights (%1) take more than "
                                            "half of the usable %2, too little room for context.")
                                 .arg(adviceGb(nextRow->memory.weightsBytes), usable);
                deciding = QStringLiteral("%1 is the highest level that runs comfortably with "
                                          "room for context: Q8_0's weights (%2) would take more "
                                          "than half of the usable %3.")
                               .arg(fileTypeName(*chosen), adviceGb(nextRow->memory.weightsBytes), usable);
            } else {
                rec.steps << QStringLiteral("Stop: %1 would not be comfortable (%2).")
                                 .arg(fileTypeName(next), badgeWhy(a, next));
                deciding = nextRow ? QStringLiteral("%1 is the highest level that runs "
                                                    "comfortably: %2 would be %3, %4 in total.")
                                         .arg(fileTypeName(*chosen), fileTypeName(next),
                                              fitBadgeName(nextRow->badge),
                                              adviceGb(nextRow->memory.totalBytes()))
                                   : QStringLiteral("%1 is the highest level that runs "
                                                    "comfortably.")
                                         .arg(fileTypeName(*chosen));
            }
            break;
        }
        if (deciding.isEmpty() && a.model.expertsMxfp4) { // went all the way up
            deciding = QStringLiteral("MXFP4_MOE, the published file: the Q8_0 row (experts in "
                                      "MXFP4 as trained, 8-bit attention and embeddings: the "
                                      "same tensors) runs comfortably and, with the experts in "
                                      "MXFP4 at every level, is within %1 of Q4_K_M.")
                           .arg(adviceGb(a.row(FileType::Q8_0)->fileBytes
                                         - a.row(FileType::Q4_K_M)->fileBytes));
            rec.publishedAs = FileType::MXFP4_MOE;
        }
        else if (deciding.isEmpty())
            deciding = QStringLiteral("Q8_0 runs comfortably with room for context: its weights "
                                      "(%1) take at most half of the usable %2.")
                           .arg(adviceGb(a.row(FileType::Q8_0)->memory.weightsBytes), usable);
    } else if (fits(a, FileType::Q4_K_M)) {
        rec.steps << QStringLiteral("Start with Q4_K_M: %1; no memory to spare.")
                         .arg(badgeWhy(a, FileType::Q4_K_M));
        chosen = FileType::Q4_K_M;
        if (a.options.qualityCritical) {
            rec.steps << QStringLiteral("Quality is critical: prefer a smaller model at a higher "
                                        "quant.");
            deciding = QStringLiteral("No memory to spare: Q4_K_M fits, but only tightly, and with "
                                      "quality critical a smaller model at a higher quant is the "
                                      "better choice.");
            wantAlternative = true;
        } else {
            rec.steps << QStringLiteral("Quality is not critical: stay at Q4_K_M.");
            deciding = QStringLiteral("No memory to spare: Q4_K_M fits, but only tightly; with "
                                      "quality not critical it stays at Q4_K_M, the brief's "
                                      "balance.");
        }
    } else {
        rec.steps << QStringLiteral("Start with Q4_K_M: %1.").arg(badgeWhy(a, FileType::Q4_K_M));
        // IQ4_XS is about 10 % smaller than Q4_K_M and loses far less than Q3_K_M (Llama 3 8B:
        // +3.6 % against +10.5 % perplexity), with or without an importance matrix.
        const QuantRow *iq4 = a.row(FileType::IQ4_XS);
        const QuantRow *q3 = a.row(FileType::Q3_K_M);
        if (iq4 && fits(a, FileType::IQ4_XS)
            && (!q3 || iq4->pplIncreasePercent < q3->pplIncreasePercent)) {
            rec.steps << QStringLiteral("Go down to IQ4_XS because it is necessary (%1): it "
                                        "loses less than Q3_K_M (estimated +%2% against +%3% "
                                        "perplexity); an importance matrix improves it further.")
                             .arg(badgeWhy(a, FileType::IQ4_XS))
                             .arg(iq4->pplIncreasePercent, 0, 'f', 1)
                             .arg(q3 ? q3->pplIncreasePercent : 0.0, 0, 'f', 1);
            deciding = QStringLiteral("IQ4_XS is the best level that fits (estimated +%1% "
                                      "perplexity): Q4_K_M does not fit, and IQ4_XS, %2 smaller, "
                                      "loses less than Q3_K_M.")
                           .arg(iq4->pplIncreasePercent, 0, 'f', 1)
                           .arg(adviceGb(a.row(FileType::Q4_K_M)->fileBytes - iq4->fileBytes));
            chosen = FileType::IQ4_XS;
        } else if (fits(a, FileType::Q3_K_M)) {
            const double loss = a.row(FileType::Q3_K_M)->pplIncreasePercent;
            rec.steps << QStringLiteral("Go down to Q3_K_M because it is necessary (%1); expect "
                                        "noticeable quality loss (estimated +%2% perplexity).")
                             .arg(badgeWhy(a, FileType::Q3_K_M))
                             .arg(loss, 0, 'f', 1);
            deciding = QStringLiteral("Q3_K_M is the highest level that fits, at a noticeable "
                                      "quality loss (estimated +%1% perplexity): Q4_K_M does not "
                                      "fit.")
                           .arg(loss, 0, 'f', 1);
            chosen = FileType::Q3_K_M;
        } else if (const QuantRow *best = bestFitBelowQ3(a)) {
            const QuantRow *q2 = a.row(FileType::Q2_K);
            QString compare;
            if (q2 && best->fileType != FileType::Q2_K)
                compare = QStringLiteral(" (Q2_K: %1, +%2%)")
                              .arg(q2->badge == FitBadge::DoesNotFit ? QStringLiteral("does not fit")
                                                                     : adviceGb(q2->fileBytes))
                              .arg(q2->pplIncreasePercent, 0, 'f', 1);
            rec.steps << QStringLiteral("Not Q3_K_M either: %1.")
                             .arg(badgeWhy(a, FileType::Q3_K_M));
            rec.steps << QStringLiteral("Go down to %1 because it is necessary: of the smaller "
                                        "mixes that fit it has the best estimated quality, +%2% "
                                        "perplexity%3.")
                             .arg(best->name)
                             .arg(best->pplIncreasePercent, 0, 'f', 1)
                             .arg(compare);
            if (best->needsImatrix)
                rec.steps << imatrixSentence(*best);
            deciding = QStringLiteral("%1 is the best mix that fits, at a large quality loss "
                                      "(estimated +%2% perplexity): Q4_K_M and Q3_K_M do not fit.")
                           .arg(best->name)
                           .arg(best->pplIncreasePercent, 0, 'f', 1);
            chosen = best->fileType;
        } else {
            rec.steps << QStringLiteral("Not even Q2_K or IQ2_XXS, the smallest mix worth "
                                        "recommending, fits: %1.")
                             .arg(badgeWhy(a, FileType::IQ2_XXS));
        }
        rec.belowStart = chosen.has_value();
        wantAlternative = true;
    }

    if (wantAlternative) {
        if (const auto alt = findAlternative(a, catalog, sizer)) {
            rec.alternativeModelId = alt->id;
            rec.alternativeModelName = alt->name;
            rec.alternativeFileType = alt->fileType;
            rec.steps << QStringLiteral("Smaller model at a higher quant: %1 at %2 is comfortable.")
                             .arg(alt->name, fileTypeName(alt->fileType));
        } else {
            rec.steps << QStringLiteral("No smaller catalog model is comfortable at Q5_K_M or "
                                        "above on this machine.");
        }
    }

    rec.fileType = chosen;
    const QString ram = ramText(a.options.ramBytes);
    if (chosen) {
        const QuantRow &row = *a.row(*chosen);
        for (std::vector<QuantRow> *list : {&a.rows, &a.iquantRows}) {
            for (QuantRow &r : *list)
                r.recommended = r.fileType == *chosen;
        }
        rec.fit = row.badge;
        rec.headline = QStringLiteral("Recommended for %1 on %2: %3")
                           .arg(a.model.name, ram,
                                rec.publishedAs
                                    ? QStringLiteral("%1 (the %2 row: the same file)")
                                          .arg(fileTypeName(*rec.publishedAs),
                                               fileTypeName(*chosen))
                                    : fileTypeName(*chosen));
        rec.reasons << deciding << levelReasons(a, row);
        if (row.needsImatrix)
            rec.reasons << imatrixSentence(row);
    } else {
        rec.headline = QStringLiteral("%1 does not fit in %2 at any level with %3 tokens of "
                                      "context")
                           .arg(a.model.name, ram)
                           .arg(a.options.contextTokens);
        // What the smallest recommendable mix would need: how far off the machine is.
        const QuantRow *smallest = a.row(FileType::IQ2_XXS);
        if (!smallest)
            smallest = a.row(FileType::Q2_K);
        if (smallest) {
            const QStringList facts = levelReasons(a, *smallest);
            rec.reasons << QStringLiteral("Not even Q2_K, the smallest K-quant level, or IQ2_XXS, "
                                          "the smallest mix worth recommending, fits.")
                        << facts.mid(0, 3);
        }
    }
    a.recommendation = rec;
}

} // namespace QuantFit
