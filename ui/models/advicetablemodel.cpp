#include "advicetablemodel.h"

#include "advisor/memorymodel.h"
#include "util/units.h"
#include "widgets/quanttips.h"

#include <QApplication>
#include <QColor>
#include <QFont>
#include <QLocale>
#include <QPalette>

#include <algorithm>

using namespace QuantFit;

std::optional<ExactFit> exactFitFor(const ModelAdvice &a)
{
    const std::uint64_t ram = a.options.ramBytes;
    const std::uint64_t reserve = a.options.reserveBytes.value_or(defaultReserveBytes(ram));
    const std::uint32_t context = a.options.contextTokens;
    const std::uint64_t rest = memoryAt(a.model, 0, context, a.options, reserve).totalBytes();
    if (ram == 0 || rest >= ram)
        return std::nullopt;
    ExactFit f;
    f.budgetBytes = ram - rest;
    // The standard levels around the budget; F16 is no candidate of the fit.
    const QuantRow *below = nullptr;
    const QuantRow *above = nullptr;
    for (const QuantRow &r : a.rows) {
        if (r.fileType == FileType::F16)
            continue;
        const std::uint64_t w = r.memory.weightsBytes;
        if (w <= f.budgetBytes && (!below || w > below->memory.weightsBytes))
            below = &r;
        if (w > f.budgetBytes && (!above || w < above->memory.weightsBytes))
            above = &r;
    }
    if (!below || !above || below->memory.weightsBytes == f.budgetBytes)
        return std::nullopt;
    f.below = *below;
    f.above = *above;
    f.insertAt = std::size_t(below - a.rows.data()) + 1;
    f.contextTokens = context;
    f.kvType = a.options.kvType;
    f.memory = memoryAt(a.model, f.budgetBytes, context, a.options, reserve);
    f.badge = fitBadge(f.memory, ram);
    f.headroomBytes = std::int64_t(ram)
        - std::int64_t(memoryAt(a.model, f.budgetBytes, kMinContext, a.options, reserve).totalBytes());
    f.fileBytesBound = f.budgetBytes + (below->fileBytes - below->memory.weightsBytes);
    f.nParams = a.nParams;
    f.bitsPerWeight = a.nParams ? 8.0 * double(f.budgetBytes) / double(a.nParams) : 0;
    const double t = double(f.budgetBytes - below->memory.weightsBytes)
                     / double(above->memory.weightsBytes - below->memory.weightsBytes);
    f.pplIncreasePercent = below->pplIncreasePercent
                           + t * (above->pplIncreasePercent - below->pplIncreasePercent);
    f.relativeSpeed = below->relativeSpeed + t * (above->relativeSpeed - below->relativeSpeed);
    return f;
}

AdviceTableModel::AdviceTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void AdviceTableModel::setAdvice(const ModelAdvice &advice, const QString &source)
{
    std::optional<ExactFit> fit = advice.rows.empty() ? std::nullopt : exactFitFor(advice);
    if (fit) {
        const ModelShape &m = advice.model;
        fit->source = QStringLiteral("%1|%2|%3 %4 %5 %6 %7 %8 %9")
                          .arg(source, m.id)
                          .arg(m.nLayers).arg(m.nEmbd).arg(m.nFf).arg(m.nHeadsKv).arg(m.nVocab)
                          .arg(m.nExperts).arg(m.nFfExpert);
    }
    if (fit && m_fit && fit->budgetBytes == m_fit->budgetBytes && fit->nParams == m_fit->nParams
        && fit->source == m_fit->source) {
        // Same budget of the same model (a measurement or the quality checkbox changed): the
        // plan still holds.
        fit->plannedTensorBytes = m_fit->plannedTensorBytes;
        fit->plannedNearestMix = m_fit->plannedNearestMix;
        fit->planError = m_fit->planError;
        fit->bitsPerWeight = m_fit->bitsPerWeight;
    }
    const bool sameLayout = advice.rows.size() == m_rows.size() && fit.has_value() == m_fit.has_value()
                            && (!fit || fit->insertAt == m_fit->insertAt);
    if (sameLayout && !m_rows.empty()) {
        // Same levels: update in place so selection and scroll position survive a slider drag.
        m_rows = advice.rows;
        m_fit = std::move(fit);
        m_context = advice.options.contextTokens;
        emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        emit headerDataChanged(Qt::Horizontal, 0, ColumnCount - 1);
        return;
    }
    beginResetModel();
    m_rows = advice.rows;
    m_fit = std::move(fit);
    m_context = advice.options.contextTokens;
    endResetModel();
}

void AdviceTableModel::setPlannedFit(const QString &source, std::uint64_t budgetBytes,
                                     std::uint64_t tensorBytes, const QString &nearestMix)
{
    if (!m_fit || m_fit->budgetBytes != budgetBytes || m_fit->source != source)
        return;
    m_fit->plannedTensorBytes = tensorBytes;
    m_fit->plannedNearestMix = nearestMix;
    if (m_fit->nParams)
        m_fit->bitsPerWeight = 8.0 * double(tensorBytes) / double(m_fit->nParams);
    emit dataChanged(index(fitRow(), 0), index(fitRow(), ColumnCount - 1));
}

void AdviceTableModel::setFitPlanError(const QString &source, std::uint64_t budgetBytes,
                                       const QString &error)
{
    if (!m_fit || m_fit->budgetBytes != budgetBytes || m_fit->source != source)
        return;
    m_fit->planError = error;
    emit dataChanged(index(fitRow(), 0), index(fitRow(), ColumnCount - 1));
}

int AdviceTableModel::levelIndex(int row) const
{
    if (!m_fit || row < int(m_fit->insertAt))
        return row;
    return row == int(m_fit->insertAt) ? -1 : row - 1;
}

const QuantRow *AdviceTableModel::levelAt(int row) const
{
    if (row < 0 || row >= rowCount())
        return nullptr;
    const int i = levelIndex(row);
    return i >= 0 ? &m_rows[std::size_t(i)] : nullptr;
}

int AdviceTableModel::recommendedRow() const
{
    for (int row = 0; row < rowCount(); ++row) {
        const QuantRow *r = levelAt(row);
        if (r && r->recommended)
            return row;
    }
    return -1;
}

int AdviceTableModel::fitRow() const
{
    return m_fit ? int(m_fit->insertAt) : -1;
}

QString AdviceTableModel::badgeText(FitBadge badge)
{
    switch (badge) {
    case FitBadge::Comfortable: return tr("✔ Comfortable");
    case FitBadge::Tight: return tr("⚠ Tight");
    case FitBadge::DoesNotFit: return tr("✘ Does not fit");
    }
    return {};
}

QColor AdviceTableModel::badgeColor(FitBadge badge)
{
    switch (badge) {
    case FitBadge::Comfortable: return QColor(0x2e, 0xa0, 0x43);
    case FitBadge::Tight: return QColor(0xd4, 0x8a, 0x00);
    case FitBadge::DoesNotFit: return QColor(0xd0, 0x30, 0x30);
    }
    return {};
}

int AdviceTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size()) + (m_fit ? 1 : 0);
}

int AdviceTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

// A file size in the Size column: two decimals below 10 GB, where the levels of a small model
// are tens of MB apart (one decimal showed Q4_K_S, the fit and Q4_K_M of a 1B model as 0.6 and
// 0.7 GB), one above.
static QString sizeGB(std::uint64_t bytes)
{
    return formatGB(bytes, bytes < 10 * std::uint64_t(GB) ? 2 : 1);
}

static QString signedGB(std::int64_t bytes)
{
    const QString s = formatGB(std::uint64_t(bytes < 0 ? -bytes : bytes), 1);
    return bytes < 0 ? QStringLiteral("−") + s : s;
}

QVariant AdviceTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const int col = index.column();
    const QuantRow *level = levelAt(index.row());
    if (!level)
        return fitData(col, role);
    const QuantRow &r = *level;
    switch (role) {
    case Qt::DisplayRole:
        switch (col) {
        case Quant: return r.recommended ? r.name + QStringLiteral(" ★") : r.name;
        case Bits: return QString::number(r.bitsPerWeight, 'f', 2);
        case Size: return sizeGB(r.fileBytes);
        case Total: return formatGB(r.memory.totalBytes(), 1);
        case Headroom: return signedGB(r.headroomBytes);
        case LongestContext:
            return r.longestContextTokens ? QLocale().toString(r.longestContextTokens) : tr("—");
        case Fit: return badgeText(r.badge);
        case Quality:
            if (r.qualityMeasured)
                return tr("+%1% measured").arg(r.pplIncreasePercent, 0, 'f', 2);
            return tr("%1 · +%2%").arg(r.qualityLabel).arg(r.pplIncreasePercent, 0, 'f', 1);
        case Speed: return QStringLiteral("%1×").arg(r.relativeSpeed, 0, 'f', 1);
        }
        break;
    case Qt::TextAlignmentRole:
        if (col != Quant && col != Fit && col != Quality)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case Qt::FontRole:
        if (r.recommended) {
            QFont f = QApplication::font();
            f.setBold(true);
            return f;
        }
        break;
    case Qt::ForegroundRole:
        if (col == Fit)
            return badgeColor(r.badge);
        break;
    case Qt::BackgroundRole:
        if (r.recommended) {
            // A translucent highlight keeps the normal text colour (and the badge colours)
            // readable in light and dark palettes.
            QColor c = QApplication::palette().color(QPalette::Highlight);
            c.setAlpha(70);
            return c;
        }
        break;
    case Qt::ToolTipRole:
        switch (col) {
        case Quant:
            return r.recommended ? quantTooltip(r.fileType) + tr("<br><b>★ Recommended</b> for this machine")
                                 : quantTooltip(r.fileType);
        case Size:
            return tr("Exact size of the file QuantFit would write: %1 bytes.\nThe brief's simple "
                      "formula (parameters × %2 bits / 8) gives %3.")
                .arg(QLocale().toString(qulonglong(r.fileBytes)))
                .arg(r.nominalBits)
                .arg(formatGB(r.simpleFormulaBytes, 1));
        case Total:
            return tr("At %1 tokens of context:\nweights %2\nKV cache %3\ncompute buffers %4\nruntime %5\nOS reserve %6")
                .arg(QLocale().toString(r.contextTokens), formatGB(r.memory.weightsBytes, 2),
                     formatGB(r.memory.kvCacheBytes, 2), formatGB(r.memory.computeBytes, 2),
                     formatGB(r.memory.overheadBytes, 2), formatGB(r.memory.reserveBytes, 2));
        case Headroom:
            return tr("RAM left over at the minimum context of %1 tokens").arg(kMinContext);
        case LongestContext:
            return tr("Largest context (a multiple of 256, at most the model's maximum) that fits in the RAM");
        case Fit:
            return tr("Comfortable: at most 75% of the RAM after the reserve is used.\n"
                      "Tight: fits, with little room.\nDoes not fit: needs more than the RAM.");
        case Quality:
            if (r.qualityMeasured)
                return tr("Measured on this model: perplexity +%1% over full precision%2 (%3). "
                          "It replaces the published estimate.")
                    .arg(r.pplIncreasePercent, 0, 'f', 2)
                    .arg(r.klDivergence8B > 0
                             ? tr(", mean KL divergence %1").arg(r.klDivergence8B, 0, 'f', 4)
                             : QString())
                    .arg(r.qualitySource);
            return tr("Estimated perplexity increase over F16, from published llama.cpp "
                      "measurements; an estimate until you measure it.");
        case Speed:
            return tr("Estimated generation speed relative to F16 (the brief's table); less memory "
                      "to read per token is faster.");
        }
        break;
    case FileTypeRole:
        return int(r.fileType);
    }
    return {};
}

// The "Fit exactly" row: the budget as its size, the chosen context as the one it leaves, and
// figures interpolated between the levels around it, each said to be so.
QVariant AdviceTableModel::fitData(int col, int role) const
{
    const ExactFit &f = *m_fit;
    const bool measured = f.below.qualityMeasured && f.above.qualityMeasured;
    switch (role) {
    case Qt::DisplayRole:
        switch (col) {
        case Quant: return tr("Fit exactly");
        case Bits:
            return f.plannedTensorBytes ? QString::number(f.bitsPerWeight, 'f', 2)
                                        : QStringLiteral("≤ %1").arg(f.bitsPerWeight, 0, 'f', 2);
        case Size:
            return f.plannedTensorBytes ? sizeGB(f.fileBytes())
                                        : QStringLiteral("≤ %1").arg(sizeGB(f.fileBytesBound));
        case Total: return formatGB(f.memory.totalBytes(), 1);
        case Headroom: return signedGB(f.headroomBytes);
        case LongestContext: return QLocale().toString(f.contextTokens);
        case Fit: return badgeText(f.badge);
        case Quality:
            return measured ? tr("≈ +%1% interpolated from measured").arg(f.pplIncreasePercent, 0, 'f', 2)
                            : tr("≈ +%1% interpolated").arg(f.pplIncreasePercent, 0, 'f', 1);
        case Speed: return QStringLiteral("≈ %1×").arg(f.relativeSpeed, 0, 'f', 1);
        }
        break;
    case Qt::TextAlignmentRole:
        if (col != Quant && col != Fit && col != Quality)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case Qt::FontRole: {
        QFont font = QApplication::font();
        font.setItalic(true);
        return font;
    }
    case Qt::ForegroundRole:
        if (col == Fit)
            return badgeColor(f.badge);
        break;
    case Qt::ToolTipRole:
        switch (col) {
        case Quant:
        case Size:
        case Bits: {
            QString planned;
            if (f.plannedTensorBytes)
                planned = tr("<br>Planned: %1 bytes of tensor data, "
                             "about %2 with the header; named %3.")
                              .arg(QLocale().toString(qulonglong(*f.plannedTensorBytes)),
                                   formatGB(f.fileBytes(), 2), f.plannedNearestMix);
            else if (!f.planError.isEmpty())
                planned = tr("<br>Could not plan: %1").arg(f.planError.toHtmlEscaped());
            else
                planned = tr("<br>Select the row to plan the mix (seconds) and see its exact size.");
            return tr("One file whose per-tensor types are chosen so that its weights take what "
                      "this machine leaves at %1 tokens of context (KV cache %2): at most %3 of "
                      "weights, between %4 (%5) and %6 (%7). The plan is exact, so the file is "
                      "at most this size; Convert's \"Fit to a budget\" shows the chosen types "
                      "before writing (\"Fit to this machine…\").%8")
                .arg(QLocale().toString(f.contextTokens), kvCacheTypeName(f.kvType),
                     formatGB(f.budgetBytes, 2), f.below.name, formatGB(f.below.memory.weightsBytes, 1),
                     f.above.name, formatGB(f.above.memory.weightsBytes, 1), planned);
        }
        case Total:
            return tr("At %1 tokens of context:\nweights %2 (the budget)\nKV cache %3\ncompute "
                      "buffers %4\nruntime %5\nOS reserve %6")
                .arg(QLocale().toString(f.contextTokens), formatGB(f.memory.weightsBytes, 2),
                     formatGB(f.memory.kvCacheBytes, 2), formatGB(f.memory.computeBytes, 2),
                     formatGB(f.memory.overheadBytes, 2), formatGB(f.memory.reserveBytes, 2));
        case LongestContext:
            return tr("The fit is made for this context: a longer one needs a smaller file.");
        case Fit:
            return tr("By design the weights take all the room this context leaves.");
        case Quality:
        case Speed:
            return tr("Interpolated by size between %1 (+%2%%4) and %3 (+%5%%6), not measured: "
                      "measure the fitted file after converting to know.")
                .arg(f.below.name)
                .arg(f.below.pplIncreasePercent, 0, 'f', 2)
                .arg(f.above.name)
                .arg(f.below.qualityMeasured ? tr(", measured") : tr(", estimate"))
                .arg(f.above.pplIncreasePercent, 0, 'f', 2)
                .arg(f.above.qualityMeasured ? tr(", measured") : tr(", estimate"));
        case Headroom:
            return tr("RAM left over at the minimum context of %1 tokens").arg(kMinContext);
        }
        break;
    case FileTypeRole:
        return -1;
    }
    return {};
}

QVariant AdviceTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Quant: return tr("Quant");
    case Bits: return tr("Bits/weight");
    case Size: return tr("Size");
    case Total: return tr("Total @ %1").arg(QLocale().toString(m_context));
    case Headroom: return tr("Headroom");
    case LongestContext: return tr("Longest ctx");
    case Fit: return tr("Fit");
    case Quality: {
        const bool measured = std::any_of(m_rows.begin(), m_rows.end(),
                                          [](const QuantRow &r) { return r.qualityMeasured; });
        return measured ? tr("Quality (est. or measured)") : tr("Quality (est.)");
    }
    case Speed: return tr("Speed");
    }
    return {};
}
