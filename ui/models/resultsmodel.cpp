#include "resultsmodel.h"

#include "tasks/measuredquality.h"
#include "util/units.h"

#include <QFileInfo>

using namespace QuantFit;

ResultsModel::ResultsModel(const QString &folder, QObject *parent)
    : QAbstractTableModel(parent)
    , m_store(folder)
{
    reload();
}

void ResultsModel::reload()
{
    beginResetModel();
    m_problems.clear();
    const std::vector<MeasurementRecord> all = m_store.list(&m_problems);
    m_records = QList<MeasurementRecord>(all.begin(), all.end());
    endResetModel();
    emit resultsChanged();
}

QString ResultsModel::save(const MeasurementRecord &record)
{
    const QString path = m_store.save(record);
    reload();
    return path;
}

QString ResultsModel::importFile(const QString &path)
{
    const QString saved = m_store.import(path);
    reload();
    return saved;
}

void ResultsModel::remove(int row)
{
    if (row < 0 || row >= m_records.size())
        return;
    m_store.remove(m_records[row].id);
    reload();
}

std::vector<QualityMeasurement> ResultsModel::qualityMeasurements() const
{
    return QuantFit::qualityMeasurements({m_records.constData(), std::size_t(m_records.size())});
}

int ResultsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_records.size());
}

int ResultsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ResultsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_records.size())
        return {};
    const MeasurementRecord &r = m_records[index.row()];
    if (role == Qt::ToolTipRole) {
        QString tip = r.modelPath;
        if (!r.producer.isEmpty())
            tip += tr("\nmeasured by %1").arg(r.producer);
        if (r.isBase)
            tip += tr("\nthe full-precision base of a KL-divergence run");
        return tip;
    }
    if (role == Qt::TextAlignmentRole && index.column() >= Bits && index.column() <= Speed)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case Model: return QFileInfo(r.modelPath).fileName();
    case Type: return r.fileType;
    case Bits: return QString::number(r.bitsPerWeight, 'f', 2);
    case Size: return formatBytes(r.fileBytes);
    case Ppl: return QStringLiteral("%1 ± %2").arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4);
    case Kld:
        return r.kld ? QStringLiteral("%1 ± %2").arg(r.kld->kldMean, 0, 'f', 5).arg(r.kld->kldMeanError, 0, 'f', 5)
                     : QStringLiteral("—");
    case Speed: return QStringLiteral("%1").arg(r.tokensPerSecond, 0, 'f', 1);
    case Text: return QStringLiteral("%1, ctx %2, %3 chunks").arg(r.textSource).arg(r.nCtx).arg(r.nChunks);
    case When: return r.date.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm"));
    }
    return {};
}

QVariant ResultsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Model: return tr("Model file");
    case Type: return tr("Type");
    case Bits: return tr("Bits/weight");
    case Size: return tr("Size");
    case Ppl: return tr("Perplexity");
    case Kld: return tr("Mean KLD");
    case Speed: return tr("Tokens/s");
    case Text: return tr("Text");
    case When: return tr("Measured");
    }
    return {};
}
