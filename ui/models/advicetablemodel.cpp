#include "advicetablemodel.h"

#include "util/units.h"
#include "widgets/quanttips.h"

#include <QApplication>
#include <QColor>
#include <QFont>
#include <QLocale>
#include <QPalette>

using namespace QuantFit;

AdviceTableModel::AdviceTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void AdviceTableModel::setAdvice(const ModelAdvice &advice)
{
    if (int(advice.rows.size()) == int(m_rows.size())) {
        // Same levels: update in place so selection and scroll position survive a slider drag.
        m_rows = advice.rows;
        m_context = advice.options.contextTokens;
        emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        emit headerDataChanged(Qt::Horizontal, 0, ColumnCount - 1);
        return;
    }
    beginResetModel();
    m_rows = advice.rows;
    m_context = advice.options.contextTokens;
    endResetModel();
}

int AdviceTableModel::recommendedRow() const
{
    for (std::size_t i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].recommended)
            return int(i);
    return -1;
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
    return parent.isValid() ? 0 : int(m_rows.size());
}

int AdviceTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

static QString signedGB(std::int64_t bytes)
{
    const QString s = formatGB(std::uint64_t(bytes < 0 ? -bytes : bytes), 1);
    return bytes < 0 ? QStringLiteral("−") + s : s;
}

QVariant AdviceTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_rows.size()))
        return {};
    const QuantRow &r = m_rows[std::size_t(index.row())];
    const int col = index.column();
    switch (role) {
    case Qt::DisplayRole:
        switch (col) {
        case Quant: return r.recommended ? r.name + QStringLiteral(" ★") : r.name;
        case Bits: return QString::number(r.bitsPerWeight, 'f', 2);
        case Size: return formatGB(r.fileBytes, 1);
        case Total: return formatGB(r.memory.totalBytes(), 1);
        case Headroom: return signedGB(r.headroomBytes);
        case LongestContext:
            return r.longestContextTokens ? QLocale().toString(r.longestContextTokens) : tr("—");
        case Fit: return badgeText(r.badge);
        case Quality:
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
    case Quality: return tr("Quality (est.)");
    case Speed: return tr("Speed");
    }
    return {};
}
