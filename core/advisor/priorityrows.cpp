#include "recommend.h"

#include "estimates.h"

#include "catalog/catalog.h"
#include "util/units.h"

#include <algorithm>

// The brief's priority rows for a machine ("Recommendations by System"), over its size ladder:
// the catalog entries marked lineup, the strongest current model of each size class with the
// reason shown (Qwen3 8B/14B/32B, Llama 3.3 70B, gpt-oss 120B, Qwen3 235B-A22B, DeepSeek-R1;
// a 2026 user's "34B" is not the brief's Code Llama 34B):
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

PriorityRow makeRow(Priority p, const ModelAdvice &a, FileType ft, const QString &why)
{
    PriorityRow row;
    row.priority = p;
    row.modelId = a.model.id;
    row.modelName = a.model.name;
    row.paramsBillions = a.model.paramsBillions;
    row.quant = *a.row(ft);
    row.explanation = why + QLatin1Char(' ') + levelReasons(a, row.quant).join(QLatin1Char(' '));
    if (!a.model.lineupReason.isEmpty())
        row.explanation += QLatin1Char(' ') + a.model.lineupReason;
    return row;
}

/// The four rows over `candidates` (sorted by parameters, ascending). With `byMmlu`, best balance
/// weighs the published MMLU; otherwise (the whole catalog, where few entries have one) the
/// largest comfortable model wins.
std::vector<PriorityRow> priorityRows(const std::vector<ModelAdvice> &candidates, bool byMmlu,
                                      const AdviceOptions &options, const Catalog &catalog,
                                      const Sizer &sizer, QStringList &notes)
{
    std::vector<PriorityRow> rows;
    const QString ram = adviceGb(options.ramBytes);

    // Best balance.
    const ModelAdvice *bestModel = nullptr;
    FileType bestLevel = FileType::Q4_K_M;
    double bestScore = -1;
    for (const ModelAdvice &a : candidates) {
        if (byMmlu && !a.model.mmlu)
            continue;
        std::optional<FileType> level;
        if (comfortableAt(a, FileType::Q4_K_M))
            level = FileType::Q4_K_M;
        else if (comfortableAt(a, FileType::Q3_K_M)
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
            if (a.model.expertsMxfp4 && comfortableAt(a, FileType::Q8_0)) {
                const std::uint64_t extra = a.row(FileType::Q8_0)->fileBytes
                                            - a.row(bestLevel)->fileBytes;
                why += QStringLiteral(" Its experts stay MXFP4 at every level, so Q8_0 (8-bit "
                                      "attention and embeddings: the published MXFP4_MOE file) "
                                      "costs only %1 more and is the one to use.")
                           .arg(adviceGb(extra));
                bestLevel = FileType::Q8_0;
            }
        } else {
            recommendQuant(a, catalog, sizer);
            // The flow may stop at a tight Q4_K_M; the row keeps a comfortable level.
            if (a.recommendation.fileType && comfortableAt(a, *a.recommendation.fileType))
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
            if (comfortableAt(*it, ft))
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
            if (comfortableAt(*it, ft))
                top = ft;
        }
        // Where only Q2_K (or nothing of the ladder) is comfortable, an I-quant that is
        // comfortable and loses less than Q2_K is the better file (IQ2_M for Qwen3 235B on
        // 128 GB: smaller and +38 % instead of +56 % on the 8B scoreboard).
        const QuantRow *q2Row = it->row(FileType::Q2_K);
        if (q2Row && (!top || *top == FileType::Q2_K)) {
            const QuantRow *bestIq = nullptr;
            for (FileType ft : levelsBelowQ3()) {
                const QuantRow *r = it->row(ft);
                if (r && ft != FileType::Q2_K && comfortableAt(*it, ft)
                    && r->pplIncreasePercent < q2Row->pplIncreasePercent
                    && (!bestIq || r->pplIncreasePercent < bestIq->pplIncreasePercent))
                    bestIq = r;
            }
            if (bestIq)
                top = bestIq->fileType;
        }
        if (!top)
            continue;
        const QuantRow *topRow = it->row(*top);
        PriorityRow row = makeRow(
            Priority::MaximumSize, *it, *top,
            QStringLiteral("%1 is the largest model that runs comfortably in %2; %3 is its best "
                           "comfortable level%4.")
                .arg(it->model.name, ram, fileTypeName(*top),
                     topRow->needsImatrix
                         ? QStringLiteral(" (it needs an importance matrix, which QuantFit "
                                          "computes while converting)")
                         : QString()));
        if (it != candidates.rbegin()) {
            const ModelAdvice &bigger = *std::prev(it);
            const QuantRow *q2 = bigger.row(FileType::Q2_K);
            if (q2 && double(q2->fileBytes) <= 1.5 * double(options.ramBytes)) {
                row.note = QStringLiteral("%1 at Q2_K is a %2 file and needs %3 in total at %4 "
                                          "tokens: it %5 in %6. (The brief's formula gives %7 "
                                          "x 2.5 / 8 = %8; the real Q2_K mix keeps attn_v, "
                                          "ffn_down and the output at higher types, %9 bits per "
                                          "weight on average.)")
                               .arg(bigger.model.name, adviceGb(q2->fileBytes),
                                    adviceGb(q2->memory.totalBytes()))
                               .arg(q2->contextTokens)
                               .arg(q2->badge == FitBadge::DoesNotFit
                                        ? QStringLiteral("does not fit")
                                        : QStringLiteral("fits only tightly"),
                                    ram)
                               .arg(double(bigger.nParams) / 1e9, 0, 'f', 0)
                               .arg(adviceGb(q2->simpleFormulaBytes))
                               .arg(q2->bitsPerWeight, 0, 'f', 2);
                const QuantRow *iq = bestFitBelowQ3(bigger);
                if (iq && iq->fileType != FileType::Q2_K)
                    row.note += QStringLiteral(" It fits at %1 (a %2 file, %3 in total, %4): an "
                                               "I-quant that %5 estimated +%6% perplexity.")
                                    .arg(iq->name, adviceGb(iq->fileBytes), adviceGb(iq->memory.totalBytes()),
                                         fitBadgeName(iq->badge),
                                         iq->needsImatrix
                                             ? QStringLiteral("needs an importance matrix "
                                                              "(QuantFit computes one while "
                                                              "converting) and loses an")
                                             : QStringLiteral("loses an"))
                                    .arg(iq->pplIncreasePercent, 0, 'f', 1);
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
        for (const std::vector<FileType> *levels : {&kLadder, &levelsBelowQ3()}) {
            for (FileType ft : *levels) {
                const QuantRow *r = a.row(ft);
                if (r && comfortableAt(a, ft) && q2 && r->pplIncreasePercent <= q2->pplIncreasePercent
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
                            .arg(adviceGb(result.options.ramBytes), m->name)
                            .arg(m->paramsBillions, 0, 'f', 1)
                            .arg(r.name, adviceGb(r.fileBytes), adviceGb(r.memory.totalBytes()))
                            .arg(r.contextTokens)
                            .arg(r.longestContextTokens)
                            .arg(r.needsImatrix ? QStringLiteral("; it needs an importance matrix, "
                                                                 "which QuantFit computes while "
                                                                 "converting")
                                                : QString());
        return;
    }
}

/// The brief's "405B at Q2_K, ~95 GB" row, corrected with the real sizes, for machines where
/// someone would consider it (64 to 256 GB).
void addBrief405bNote(SystemAdvice &result, const Catalog &catalog, const Sizer &sizer)
{
    const ModelShape *m = catalog.find(QStringLiteral("llama-3.1-405b"));
    const std::uint64_t ram = result.options.ramBytes;
    if (!m || ram < 64'000'000'000ull || ram > 256'000'000'000ull)
        return;
    const ModelAdvice a = adviceFor(*m, result.options, sizer);
    const QuantRow *q2 = a.row(FileType::Q2_K);
    if (!q2)
        return;
    QString note = QStringLiteral("The brief's \"405B Q2_K ~95GB\" is wrong: Llama 3.1 405B at "
                                  "Q2_K is a %1 file (%2 bits per weight; the mix keeps attn_v, "
                                  "ffn_down and the output at higher types) and needs %3 in total "
                                  "at %4 tokens, so it %5 in %6")
                       .arg(adviceGb(q2->fileBytes))
                       .arg(q2->bitsPerWeight, 0, 'f', 2)
                       .arg(adviceGb(q2->memory.totalBytes()))
                       .arg(q2->contextTokens)
                       .arg(q2->badge == FitBadge::DoesNotFit ? QStringLiteral("does not fit")
                                                              : QStringLiteral("fits"),
                            adviceGb(ram));
    for (const MixSize &mix : a.otherMixes) {
        if (mix.fileType == FileType::IQ1_M)
            note += QStringLiteral("; ~95 GB is the size of IQ1_M (%1, %2 bits per weight), which "
                                   "needs an importance matrix and loses much quality")
                        .arg(adviceGb(mix.fileBytes))
                        .arg(mix.bitsPerWeight, 0, 'f', 2);
    }
    result.notes << note + QLatin1Char('.');
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
        addBrief405bNote(result, catalog, sizer);
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
    QStringList ladderNames;
    for (const ModelShape &m : catalog.models()) {
        if (m.lineup)
            ladderNames << m.name;
    }
    result.notes.prepend(QStringLiteral("None of the size ladder (%1) runs comfortably in %2; "
                                        "these rows come from the whole catalog.")
                             .arg(ladderNames.join(QStringLiteral(", ")),
                                  adviceGb(result.options.ramBytes)));
    return result;
}

} // namespace QuantFit
