#include "discoveredmodelsmodel.h"

#include "util/units.h"

#include <QBrush>
#include <QDir>
#include <QPalette>

using namespace QuantFit;

DiscoveredModelsModel::DiscoveredModelsModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void DiscoveredModelsModel::setModels(std::vector<DiscoveredModel> models)
{
    beginResetModel();
    m_models = std::move(models);
    endResetModel();
}

const DiscoveredModel *DiscoveredModelsModel::modelAt(int row) const
{
    return row >= 0 && std::size_t(row) < m_models.size() ? &m_models[std::size_t(row)] : nullptr;
}

int DiscoveredModelsModel::rowOf(const QString &path) const
{
    for (std::size_t i = 0; i < m_models.size(); ++i) {
        if (m_models[i].path == path)
            return int(i);
    }
    return -1;
}

int DiscoveredModelsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_models.size());
}

int DiscoveredModelsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant DiscoveredModelsModel::data(const QModelIndex &index, int role) const
{
    const DiscoveredModel *m = modelAt(index.row());
    if (!m)
        return {};
    const bool ok = m->isReadable();
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Name: return m->name;
        case Source: return modelSourceName(m->source);
        case Architecture: return ok ? m->architecture : tr("unreadable");
        case Parameters: return ok && m->nParams ? formatCount(m->nParams) : QString();
        case Type:
            return ok ? m->fileType + (m->fileTypeGuessed ? QStringLiteral("?") : QString())
                      : QString();
        case Size: return formatBytes(m->sizeBytes);
        case Context: return ok && m->contextLength ? QString::number(m->contextLength) : QString();
        case Path: return ok ? QDir::toNativeSeparators(m->path) : m->error;
        }
    }
    if (role == SortRole) {
        switch (index.column()) {
        case Parameters: return qulonglong(m->nParams);
        case Size: return qulonglong(m->sizeBytes);
        case Context: return m->contextLength;
        default: return data(index, Qt::DisplayRole).toString().toLower();
        }
    }
    if (role == Qt::ToolTipRole) {
        QStringList lines{m->name};
        if (!m->aliases.isEmpty())
            lines << tr("Also: %1").arg(m->aliases.join(QStringLiteral(", ")));
        lines << QDir::toNativeSeparators(m->path);
        if (!ok)
            lines << tr("Error: %1").arg(m->error);
        for (const QString &p : m->projectors)
            lines << tr("Vision projector: %1").arg(QDir::toNativeSeparators(p));
        if (!m->fullPrecisionSibling.isEmpty())
            lines << tr("Full precision: %1").arg(QDir::toNativeSeparators(m->fullPrecisionSibling));
        return lines.join(QLatin1Char('\n'));
    }
    if (role == Qt::ForegroundRole && !ok)
        return QBrush(QPalette().color(QPalette::Disabled, QPalette::Text));
    if (role == Qt::TextAlignmentRole
        && (index.column() == Parameters || index.column() == Size || index.column() == Context))
        return int(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

QVariant DiscoveredModelsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Name: return tr("Name");
    case Source: return tr("Source");
    case Architecture: return tr("Architecture");
    case Parameters: return tr("Parameters");
    case Type: return tr("Type");
    case Size: return tr("Size");
    case Context: return tr("Context");
    case Path: return tr("Path");
    }
    return {};
}

DiscoveredModelsFilter::DiscoveredModelsFilter(QObject *parent)
    : QSortFilterProxyModel(parent)
{
    setSortRole(DiscoveredModelsModel::SortRole);
}

void DiscoveredModelsFilter::setSearchText(const QString &text)
{
    m_words = text.simplified().toLower().split(QLatin1Char(' '), Qt::SkipEmptyParts);
    invalidateFilter();
}

bool DiscoveredModelsFilter::filterAcceptsRow(int sourceRow, const QModelIndex &) const
{
    const auto *source = qobject_cast<const DiscoveredModelsModel *>(sourceModel());
    const DiscoveredModel *m = source ? source->modelAt(sourceRow) : nullptr;
    if (!m)
        return false;
    const QString haystack = QStringList{m->name, m->aliases.join(QLatin1Char(' ')),
                                         modelSourceName(m->source), m->architecture, m->fileType,
                                         m->title, m->path}
                                 .join(QLatin1Char(' '))
                                 .toLower();
    for (const QString &w : m_words) {
        if (!haystack.contains(w))
            return false;
    }
    return true;
}
