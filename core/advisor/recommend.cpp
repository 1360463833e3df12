#include "recommend.h"

#include "estimates.h"

#include "catalog/catalog.h"
#include "util/units.h"

#include <algorithm>

// The brief's guidance, as implemented here (the README's "Recommendation" section has the long
// form):
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
//
// Priority rows for a machine ("Recommendations by System"), over the brief's size ladder
// (catalog entries marked lineup: 8B, 13B, 34B, 70B, 405B):
//   Best balance:    the ladder model with the best estimated quality (published MMLU x
//                    (1 - estimated perplexity loss)) among those comfortable at Q4_K_M, or at
//                    Q3_K_M when Q4_K_M is not and Q3_K_M loses at most 5 % (large models);
//                    Q4_K_M for models of 30B and more, the decision flow's level for smaller
//                    ones (they lose more per level and cost little to upgrade: Q4_K_M +2.8 % on
//                    8B vs +1.2 % on 70B).
//   Higher quality:  the largest ladder model comfortable at Q5_K_M.
//   Maximum quality: the largest ladder model comfortable at Q6_K.
//   Maximum size:    the largest ladder model comfortable at any level, at its highest
//                    comfortable level; the next larger model is named with its real size
//                    when the brief would have suggested it.
//   Rows that repeat best balance at the same or a lower level are left out. Machines too small
//   for the ladder get the same rules over the whole catalog ("largest" instead of MMLU).

namespace QuantFit {

namespace {

// Estimated perplexity loss up to which Q3_K_M counts as "losing little" (70B: +3.6 %;
// 34B: +5.9 %; 8B: +10.5 %).
constexpr double kSmallLossPercent = 5.0;

const std::vector<FileType> kLadder = {FileType::Q2_K,   FileType::Q3_K_M, FileType::Q4_K_M,
                                       FileType::Q5_K_M, FileType::Q6_K,   FileType::Q8_0};

// Below Q3_K_M the decision flow chooses among these by estimated quality (recommendQuant).
const std::vector<FileType> kBelowQ3 = {
    FileType::IQ3_M,  FileType::IQ3_S, FileType::IQ3_XS, FileType::IQ3_XXS, FileType::IQ2_M,
    FileType::IQ2_S,  FileType::Q2_K,  FileType::IQ2_XS, FileType::IQ2_XXS,
};

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

bool comfortable(const ModelAdvice &a, FileType ft)
{
    const QuantRow *r = a.row(ft);
    if (!r || r->badge != FitBadge::Comfortable)
        return false;
    return ft != FileType::Q8_0 || roomForContext(a, ft);
}

// Decimal GB as the brief writes them; small models get more decimals.
QString gb(std::uint64_t bytes)
{
    return formatGB(bytes, bytes >= 10'000'000'000ull ? 1 : (bytes >= 1'000'000'000ull ? 2 : 3));
}

// RAM as people name it: "64 GB", "25.3 GB".
QString ramText(std::uint64_t bytes)
{
    const bool whole = bytes % 1'000'000'000ull == 0;
    return formatGB(bytes, whole ? 0 : 1);
}

/// The numbers of one level, one sentence each: file, memory parts, room left, estimates.
QStringList levelReasons(const ModelAdvice &a, const QuantRow &r)
{
    const MemoryBreakdown &m = r.memory;
    QStringList facts;
    facts << QStringLiteral("%1 is a %2 file, %3 bits per weight (the brief's formula %4 x %5 / 8 "
                            "gives %6).")
                 .arg(r.name, gb(r.fileBytes))
                 .arg(r.bitsPerWeight, 0, 'f', 2)
                 .arg(double(a.nParams) / 1e9, 0, 'f', 1)
                 .arg(r.nominalBits)
                 .arg(gb(r.simpleFormulaBytes));
    facts << QStringLiteral("At %1 tokens with a %2 KV cache it needs %3: weights %4 + KV cache %5 "
                            "+ compute %6 + runtime %7 + OS reserve %8.")
                 .arg(r.contextTokens)
                 .arg(kvCacheTypeName(a.options.kvType), gb(m.totalBytes()), gb(m.weightsBytes),
                      gb(m.kvCacheBytes), gb(m.computeBytes), gb(m.overheadBytes),
                      gb(m.reserveBytes));
    const QString ram = ramText(a.options.ramBytes);
    if (r.badge != FitBadge::DoesNotFit)
        facts << QStringLiteral("That leaves %1 of the %2 RAM; the longest context that fits is "
                                "%3 tokens.")
                     .arg(gb(std::uint64_t(r.freeAtContextBytes)), ram)
                     .arg(r.longestContextTokens);
    else if (r.longestContextTokens > 0)
        facts << QStringLiteral("That is %1 more than the %2 RAM; it fits with at most %3 tokens "
                                "of context.")
                     .arg(gb(std::uint64_t(-r.freeAtContextBytes)), ram)
                     .arg(r.longestContextTokens);
    else
        facts << QStringLiteral("That is %1 more than the %2 RAM, and it does not fit even with "
                                "256 tokens of context.")
                     .arg(gb(std::uint64_t(-r.freeAtContextBytes)), ram);
    facts << QStringLiteral("Estimates until measured: perplexity +%1% over F16, %2x the speed "
                            "of F16.")
                 .arg(r.pplIncreasePercent, 0, 'f', r.pplIncreasePercent < 1 ? 2 : 1)
                 .arg(r.relativeSpeed, 0, 'f', 2);
    return facts;
}

/// The fitting level of kBelowQ3 with the lowest estimated perplexity increase for this model.
const QuantRow *bestFitBelowQ3(const ModelAdvice &a)
{
    const QuantRow *best = nullptr;
    for (FileType ft : kBelowQ3) {
        const QuantRow *r = a.row(ft);
        if (r && r->badge != FitBadge::DoesNotFit
            && (!best || r->pplIncreasePercent < best->pplIncreasePercent))
            best = r;
    }
    return best;
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
        .arg(r->name, fitBadgeName(r->badge), gb(r->memory.totalBytes()), gb(a.options.ramBytes));
}

struct Alternative {
    QString id;
    QString name;
    FileType fileType = FileType::Q5_K_M;
};

/// A smaller catalog model that is comfortable at Q5_K_M or above: same family first, then the
/// largest by parameters.
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
                         return x->paramsBillions > y->paramsBillions;
                     });
    for (const ModelShape *m : candidates) {
        const ModelAdvice other = adviceFor(*m, a.options, sizer);
        std::optional<FileType> best;
        for (FileType ft : {FileType::Q5_K_M, FileType::Q6_K, FileType::Q8_0}) {
            if (comfortable(other, ft))
                best = ft;
        }
        if (best)
            return Alternative{m->id, m->name, *best};
    }
    return std::nullopt;
}

} // namespace

void recommendQuant(ModelAdvice &a, const Catalog &catalog, const Sizer &sizer)
{
    QuantRecommendation rec;
    std::optional<FileType> chosen;
    QString deciding; // the first reason: why this level and not the next
    bool wantAlternative = false;
    const QString usable = gb(usableBytes(a));

    if (comfortable(a, FileType::Q4_K_M)) {
        rec.steps << QStringLiteral("Start with Q4_K_M: %1.").arg(badgeWhy(a, FileType::Q4_K_M));
        chosen = FileType::Q4_K_M;
        for (FileType next : {FileType::Q5_K_M, FileType::Q6_K, FileType::Q8_0}) {
            if (comfortable(a, next)) {
                rec.steps << QStringLiteral("Memory to spare: go up one level to %1 (%2).")
                                 .arg(fileTypeName(next), badgeWhy(a, next));
                chosen = next;
                continue;
            }
            const QuantRow *nextRow = a.row(next);
            if (next == FileType::Q8_0 && nextRow && nextRow->badge == FitBadge::Comfortable) {
                rec.steps << QStringLiteral("Stop before Q8_0: its weights (%1) take more than "
                                            "half of the usable %2, too little room for context.")
                                 .arg(gb(nextRow->memory.weightsBytes), usable);
                deciding = QStringLiteral("%1 is the highest level that runs comfortably with "
                                          "room for context: Q8_0's weights (%2) would take more "
                                          "than half of the usable %3.")
                               .arg(fileTypeName(*chosen), gb(nextRow->memory.weightsBytes), usable);
            } else {
                rec.steps << QStringLiteral("Stop: %1 would not be comfortable (%2).")
                                 .arg(fileTypeName(next), badgeWhy(a, next));
                deciding = nextRow ? QStringLiteral("%1 is the highest level that runs "
                                                    "comfortably: %2 would be %3, %4 in total.")
                                         .arg(fileTypeName(*chosen), fileTypeName(next),
                                              fitBadgeName(nextRow->badge),
                                              gb(nextRow->memory.totalBytes()))
                                   : QStringLiteral("%1 is the highest level that runs "
                                                    "comfortably.")
                                         .arg(fileTypeName(*chosen));
            }
            break;
        }
        if (deciding.isEmpty()) // went all the way up
            deciding = QStringLiteral("Q8_0 runs comfortably with room for context: its weights "
                                      "(%1) take at most half of the usable %2.")
                           .arg(gb(a.row(FileType::Q8_0)->memory.weightsBytes), usable);
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
        if (fits(a, FileType::Q3_K_M)) {
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
                                                                     : gb(q2->fileBytes))
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
                           .arg(a.model.name, ram, fileTypeName(*chosen));
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

//
// priority rows
//

namespace {

PriorityRow makeRow(Priority p, const ModelAdvice &a, FileType ft, const QString &why)
{
    PriorityRow row;
    row.priority = p;
    row.modelId = a.model.id;
    row.modelName = a.model.name;
    row.paramsBillions = a.model.paramsBillions;
    row.quant = *a.row(ft);
    row.explanation = why + QLatin1Char(' ') + levelReasons(a, row.quant).join(QLatin1Char(' '));
    return row;
}

} // namespace

namespace {

/// The four rows over `candidates` (sorted by parameters, ascending). With `byMmlu`, best balance
/// weighs the published MMLU; otherwise (the whole catalog, where few entries have one) the
/// largest comfortable model wins.
std::vector<PriorityRow> priorityRows(const std::vector<ModelAdvice> &candidates, bool byMmlu,
                                      const AdviceOptions &options, const Catalog &catalog,
                                      const Sizer &sizer, QStringList &notes)
{
    std::vector<PriorityRow> rows;
    const QString ram = gb(options.ramBytes);

    // Best balance.
    const ModelAdvice *bestModel = nullptr;
    FileType bestLevel = FileType::Q4_K_M;
    double bestScore = -1;
    for (const ModelAdvice &a : candidates) {
        if (byMmlu && !a.model.mmlu)
            continue;
        std::optional<FileType> level;
        if (comfortable(a, FileType::Q4_K_M))
            level = FileType::Q4_K_M;
        else if (comfortable(a, FileType::Q3_K_M)
                 && a.row(FileType::Q3_K_M)->pplIncreasePercent <= kSmallLossPercent)
            level = FileType::Q3_K_M; // only where Q3_K_M loses little (large models)
        if (!level)
            continue;
        const double merit = byMmlu ? *a.model.mmlu : a.model.paramsBillions;
        const double score = merit * (1.0 - a.row(*level)->pplIncreasePercent / 100.0);
        if (score > bestScore) {
            bestScore = score;
            bestModel = &a;
            bestLevel = *level;
        }
    }
    if (bestModel) {
        ModelAdvice a = *bestModel;
        const QString strength =
            byMmlu ? QStringLiteral("(published MMLU %1)").arg(*a.model.mmlu, 0, 'f', 1)
                   : QStringLiteral("(the largest that does)");
        QString why;
        if (a.model.paramsBillions >= 30) {
            why = bestLevel == FileType::Q4_K_M
                      ? QStringLiteral("%1 is the strongest model that runs comfortably at "
                                       "Q4_K_M in %2 %3; Q4_K_M is the brief's recommended "
                                       "balance.")
                      : QStringLiteral("%1 is the strongest model that runs comfortably in %2 "
                                       "%3, but only at Q3_K_M: Q4_K_M would not be "
                                       "comfortable. At this size Q3_K_M loses little (estimated "
                                       "+%4% perplexity), so the larger model at Q3_K_M beats a "
                                       "smaller one at Q4_K_M.");
            why = why.arg(a.model.name, ram, strength);
            if (bestLevel != FileType::Q4_K_M)
                why = why.arg(a.row(bestLevel)->pplIncreasePercent, 0, 'f', 1);
        } else {
            recommendQuant(a, catalog, sizer);
            // The flow may stop at a tight Q4_K_M; the row keeps a comfortable level.
            if (a.recommendation.fileType && comfortable(a, *a.recommendation.fileType))
                bestLevel = *a.recommendation.fileType;
            why = QStringLiteral("%1 is the strongest model that runs comfortably in %2 %3. A "
                                 "small model loses more per quant level, and upgrading costs "
                                 "little memory, so the decision flow goes up while memory is "
                                 "spare:")
                      .arg(a.model.name, ram, strength);
            why += QLatin1Char(' ') + a.recommendation.steps.join(QLatin1Char(' '));
        }
        rows.push_back(makeRow(Priority::BestBalance, a, bestLevel, why));
    }

    // Higher and maximum quality: the largest model comfortable at that level, unless it adds
    // nothing over best balance (the same model at the same or a lower level).
    auto largestAt = [&](FileType ft) -> const ModelAdvice * {
        for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
            if (comfortable(*it, ft))
                return &*it;
        }
        return nullptr;
    };
    auto redundant = [&](const ModelAdvice &a, FileType ft) {
        if (rows.empty() || rows.front().modelId != a.model.id)
            return false;
        const LevelFacts *mine = levelFacts(ft);
        const LevelFacts *best = levelFacts(rows.front().quant.fileType);
        return mine && best && mine->nominalBits <= best->nominalBits;
    };
    if (const ModelAdvice *a = largestAt(FileType::Q5_K_M); a && !redundant(*a, FileType::Q5_K_M))
        rows.push_back(makeRow(
            Priority::HigherQuality, *a, FileType::Q5_K_M,
            QStringLiteral("%1 is the largest model that runs comfortably at Q5_K_M in %2, a "
                           "slight quality gain over Q4_K_M.")
                .arg(a->model.name, ram)));
    if (const ModelAdvice *a = largestAt(FileType::Q6_K); a && !redundant(*a, FileType::Q6_K))
        rows.push_back(makeRow(
            Priority::MaximumQuality, *a, FileType::Q6_K,
            QStringLiteral("%1 is the largest model that runs comfortably at Q6_K in %2 (near "
                           "full quality). Q8_0 is kept for models whose weights leave at least "
                           "half of the memory for context.")
                .arg(a->model.name, ram)));

    // Maximum size.
    for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
        std::optional<FileType> top;
        for (FileType ft : kLadder) {
            if (comfortable(*it, ft))
                top = ft;
        }
        if (!top)
            continue;
        PriorityRow row = makeRow(
            Priority::MaximumSize, *it, *top,
            QStringLiteral("%1 is the largest model that runs comfortably in %2; its highest "
                           "comfortable level is %3.")
                .arg(it->model.name, ram, fileTypeName(*top)));
        if (it != candidates.rbegin()) {
            const ModelAdvice &bigger = *std::prev(it);
            const QuantRow *q2 = bigger.row(FileType::Q2_K);
            if (q2 && double(q2->fileBytes) <= 1.5 * double(options.ramBytes)) {
                row.note = QStringLiteral("%1 at Q2_K is a %2 file and needs %3 in total at %4 "
                                          "tokens: it %5 in %6. (The brief's formula gives %7 "
                                          "x 2.5 / 8 = %8; the real Q2_K mix keeps attn_v, "
                                          "ffn_down and the output at higher types, %9 bits per "
                                          "weight on average.)")
                               .arg(bigger.model.name, gb(q2->fileBytes),
                                    gb(q2->memory.totalBytes()))
                               .arg(q2->contextTokens)
                               .arg(q2->badge == FitBadge::DoesNotFit
                                        ? QStringLiteral("does not fit")
                                        : QStringLiteral("fits only tightly"),
                                    ram)
                               .arg(double(bigger.nParams) / 1e9, 0, 'f', 0)
                               .arg(gb(q2->simpleFormulaBytes))
                               .arg(q2->bitsPerWeight, 0, 'f', 2);
                const QuantRow *iq = bestFitBelowQ3(bigger);
                if (iq && iq->fileType != FileType::Q2_K)
                    row.note += QStringLiteral(" It fits at %1 (a %2 file, %3 in total, %4): an "
                                               "I-quant that %5 estimated +%6% perplexity.")
                                    .arg(iq->name, gb(iq->fileBytes), gb(iq->memory.totalBytes()),
                                         fitBadgeName(iq->badge),
                                         iq->needsImatrix
                                             ? QStringLiteral("needs an importance matrix "
                                                              "(QuantFit computes one while "
                                                              "converting) and loses an")
                                             : QStringLiteral("loses an"))
                                    .arg(iq->pplIncreasePercent, 0, 'f', 1);
                if (bigger.model.id == QLatin1String("llama-3.1-405b")) {
                    row.note += QStringLiteral(" The brief's \"405B Q2_K ~95GB\" is wrong");
                    for (const MixSize &m : bigger.otherMixes) {
                        if (m.fileType == FileType::IQ1_M)
                            row.note += QStringLiteral(": ~95 GB is the size of IQ1_M (%1, %2 "
                                                       "bits per weight), which needs an "
                                                       "importance matrix and loses much quality")
                                            .arg(gb(m.fileBytes))
                                            .arg(m.bitsPerWeight, 0, 'f', 2);
                    }
                    row.note += QLatin1Char('.');
                }
                notes << row.note;
            }
        }
        rows.push_back(row);
        break;
    }
    return rows;
}

/// Names the largest catalog model (any family, MoE included) that runs comfortably when it is
/// larger than the ladder's maximum-size row: the brief's ladder stops at Llama sizes.
void addLargestInCatalog(SystemAdvice &result, const Catalog &catalog, const Sizer &sizer)
{
    double floor = 0;
    for (const PriorityRow &r : result.rows) {
        if (r.priority == Priority::MaximumSize)
            floor = r.paramsBillions;
    }
    const double usable = double(result.options.ramBytes - *result.options.reserveBytes);
    std::vector<const ModelShape *> bigger;
    for (const ModelShape &m : catalog.models()) {
        // About 2.5 bits per weight is the smallest file at least as good as Q2_K (IQ2_S); skip
        // what cannot fit.
        if (m.paramsBillions > floor && m.paramsBillions * 1e9 * 2.5 / 8 <= usable)
            bigger.push_back(&m);
    }
    std::sort(bigger.begin(), bigger.end(), [](const ModelShape *x, const ModelShape *y) {
        return x->paramsBillions > y->paramsBillions;
    });
    for (const ModelShape *m : bigger) {
        const ModelAdvice a = adviceFor(*m, result.options, sizer);
        // The comfortable level with the best estimated quality: a K-quant of the ladder, or an
        // I-quant that loses no more than Q2_K does and is smaller (IQ2_M for Qwen3 235B on
        // 128 GB). "Largest model" keeps the ladder's floor, Q2_K quality.
        const QuantRow *q2 = a.row(FileType::Q2_K);
        const QuantRow *top = nullptr;
        for (const std::vector<FileType> *levels : {&kLadder, &kBelowQ3}) {
            for (FileType ft : *levels) {
                const QuantRow *r = a.row(ft);
                if (r && comfortable(a, ft) && q2 && r->pplIncreasePercent <= q2->pplIncreasePercent
                    && (!top || r->pplIncreasePercent < top->pplIncreasePercent))
                    top = r;
            }
        }
        if (!top)
            continue;
        const QuantRow &r = *top;
        result.notes << QStringLiteral("Beyond the brief's size ladder, the largest catalog model "
                                       "that runs comfortably in %1 is %2 (%3B parameters) at %4: "
                                       "a %5 file, %6 in total at %7 tokens, longest context %8 "
                                       "tokens%9.")
                            .arg(gb(result.options.ramBytes), m->name)
                            .arg(m->paramsBillions, 0, 'f', 1)
                            .arg(r.name, gb(r.fileBytes), gb(r.memory.totalBytes()))
                            .arg(r.contextTokens)
                            .arg(r.longestContextTokens)
                            .arg(r.needsImatrix ? QStringLiteral("; it needs an importance matrix, "
                                                                 "which QuantFit computes while "
                                                                 "converting")
                                                : QString());
        return;
    }
}

std::vector<ModelAdvice> sortedByParams(std::vector<ModelAdvice> list)
{
    std::sort(list.begin(), list.end(), [](const ModelAdvice &x, const ModelAdvice &y) {
        return x.model.paramsBillions < y.model.paramsBillions;
    });
    return list;
}

} // namespace

SystemAdvice recommendSystem(const AdviceOptions &options, const Catalog &catalog,
                             const Sizer &sizer)
{
    SystemAdvice result;
    result.options = options;
    if (!result.options.reserveBytes)
        result.options.reserveBytes = defaultReserveBytes(options.ramBytes);
    // Each model's context is this, capped at its maximum.
    if (result.options.contextTokens == 0)
        result.options.contextTokens = kDefaultContext;

    std::vector<ModelAdvice> ladder;
    for (const ModelShape &m : catalog.models()) {
        if (m.lineup)
            ladder.push_back(adviceFor(m, result.options, sizer));
    }
    result.rows = priorityRows(sortedByParams(std::move(ladder)), true, result.options, catalog,
                               sizer, result.notes);
    if (!result.rows.empty()) {
        addLargestInCatalog(result, catalog, sizer);
        return result;
    }

    // Too little memory for the brief's ladder (its smallest is 8B): choose from the whole
    // catalog, skipping models whose Q2_K could not fit anyway.
    const double usable = double(result.options.ramBytes - *result.options.reserveBytes);
    std::vector<ModelAdvice> all;
    for (const ModelShape &m : catalog.models()) {
        if (m.paramsBillions * 1e9 * 2.5 / 8 <= usable)
            all.push_back(adviceFor(m, result.options, sizer));
    }
    result.rows = priorityRows(sortedByParams(std::move(all)), false, result.options, catalog,
                               sizer, result.notes);
    result.notes.prepend(QStringLiteral("None of the brief's size ladder (8B, 13B, 34B, 70B, "
                                        "405B) runs comfortably in %1; these rows come from the "
                                        "whole catalog.")
                             .arg(gb(result.options.ramBytes)));
    return result;
}

} // namespace QuantFit
