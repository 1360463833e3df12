#include "resultsmodel.h"

#include "pages/apppaths.h"
#include "util/units.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSaveFile>

#include <algorithm>

static void putOpt(QJsonObject &o, const char *key, const std::optional<double> &v)
{
    if (v)
        o.insert(QLatin1String(key), *v);
}

static std::optional<double> getOpt(const QJsonObject &o, const char *key)
{
    const QJsonValue v = o.value(QLatin1String(key));
    return v.isDouble() ? std::optional<double>(v.toDouble()) : std::nullopt;
}

QJsonObject MeasurementRecord::toJson() const
{
    QJsonObject o{
        {QStringLiteral("format"), QStringLiteral("quantfit-measurement-1")},
        {QStringLiteral("modelPath"), modelPath},
        {QStringLiteral("modelName"), modelName},
        {QStringLiteral("fileType"), fileType},
        {QStringLiteral("fileBytes"), fileBytes},
        {QStringLiteral("nParams"), nParams},
        {QStringLiteral("bitsPerWeight"), bitsPerWeight},
        {QStringLiteral("text"), textSource},
        {QStringLiteral("context"), context},
        {QStringLiteral("chunks"), chunks},
        {QStringLiteral("ppl"), ppl},
        {QStringLiteral("pplError"), pplError},
        {QStringLiteral("tokensPerSecond"), tokensPerSecond},
        {QStringLiteral("basePath"), basePath},
        {QStringLiteral("when"), when.toString(Qt::ISODateWithMs)},
    };
    putOpt(o, "kldMean", kldMean);
    putOpt(o, "kldMeanError", kldMeanError);
    putOpt(o, "kldMedian", kldMedian);
    putOpt(o, "kldP99", kldP99);
    putOpt(o, "pplRatio", pplRatio);
    putOpt(o, "sameTopPercent", sameTopPercent);
    return o;
}

MeasurementRecord MeasurementRecord::fromJson(const QJsonObject &o)
{
    MeasurementRecord r;
    r.modelPath = o.value(QStringLiteral("modelPath")).toString();
    r.modelName = o.value(QStringLiteral("modelName")).toString();
    r.fileType = o.value(QStringLiteral("fileType")).toString();
    r.fileBytes = o.value(QStringLiteral("fileBytes")).toDouble();
    r.nParams = o.value(QStringLiteral("nParams")).toDouble();
    r.bitsPerWeight = o.value(QStringLiteral("bitsPerWeight")).toDouble();
    r.textSource = o.value(QStringLiteral("text")).toString();
    r.context = o.value(QStringLiteral("context")).toInt();
    r.chunks = o.value(QStringLiteral("chunks")).toInt();
    r.ppl = o.value(QStringLiteral("ppl")).toDouble();
    r.pplError = o.value(QStringLiteral("pplError")).toDouble();
    r.tokensPerSecond = o.value(QStringLiteral("tokensPerSecond")).toDouble();
    r.basePath = o.value(QStringLiteral("basePath")).toString();
    r.when = QDateTime::fromString(o.value(QStringLiteral("when")).toString(), Qt::ISODateWithMs);
    r.kldMean = getOpt(o, "kldMean");
    r.kldMeanError = getOpt(o, "kldMeanError");
    r.kldMedian = getOpt(o, "kldMedian");
    r.kldP99 = getOpt(o, "kldP99");
    r.pplRatio = getOpt(o, "pplRatio");
    r.sameTopPercent = getOpt(o, "sameTopPercent");
    return r;
}

ResultsModel::ResultsModel(QObject *parent)
    : QAbstractTableModel(parent)
{
    reload();
}

void ResultsModel::reload()
{
    beginResetModel();
    m_records.clear();
    const QDir dir(AppPaths::resultsDir());
    for (const QFileInfo &fi : dir.entryInfoList({QStringLiteral("*.json")}, QDir::Files)) {
        QFile f(fi.absoluteFilePath());
        if (!f.open(QIODevice::ReadOnly) || f.size() > 1 << 20)
            continue; // not ours or unreadable: ignore rather than fail the whole list
        const QJsonDocument doc = QJsonDocument::fromJson(f.readAll());
        if (!doc.isObject()
            || doc.object().value(QStringLiteral("format")) != QStringLiteral("quantfit-measurement-1"))
            continue;
        MeasurementRecord r = MeasurementRecord::fromJson(doc.object());
        r.id = fi.completeBaseName();
        m_records.append(r);
    }
    std::sort(m_records.begin(), m_records.end(),
              [](const auto &a, const auto &b) { return a.when > b.when; });
    endResetModel();
    emit resultsChanged();
}

QString ResultsModel::save(MeasurementRecord record, QString *error)
{
    if (!record.when.isValid())
        record.when = QDateTime::currentDateTime();
    const QString stem = QStringLiteral("%1-%2")
                             .arg(QFileInfo(record.modelPath).completeBaseName(),
                                  record.when.toString(QStringLiteral("yyyyMMdd-HHmmsszzz")));
    const QString path = AppPaths::resultsDir() + u'/' + stem + QStringLiteral(".json");
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)
        || f.write(QJsonDocument(record.toJson()).toJson()) < 0 || !f.commit()) {
        if (error)
            *error = tr("cannot write '%1': %2").arg(path, f.errorString());
        return {};
    }
    reload();
    return path;
}

bool ResultsModel::remove(int row)
{
    if (row < 0 || row >= m_records.size())
        return false;
    const bool ok = QFile::remove(AppPaths::resultsDir() + u'/' + m_records[row].id + QStringLiteral(".json"));
    reload();
    return ok;
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
    if (role == Qt::ToolTipRole)
        return r.modelPath;
    if (role == Qt::TextAlignmentRole && index.column() >= Bits && index.column() <= Speed)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case Model: return QFileInfo(r.modelPath).fileName();
    case Type: return r.fileType;
    case Bits: return QString::number(r.bitsPerWeight, 'f', 2);
    case Size: return QuantFit::formatBytes(std::uint64_t(r.fileBytes));
    case Ppl: return QStringLiteral("%1 ± %2").arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4);
    case Kld:
        return r.kldMean ? QStringLiteral("%1 ± %2").arg(*r.kldMean, 0, 'f', 5).arg(r.kldMeanError.value_or(0), 0, 'f', 5)
                         : QStringLiteral("—");
    case Speed: return QStringLiteral("%1").arg(r.tokensPerSecond, 0, 'f', 1);
    case Text: return QStringLiteral("%1, ctx %2, %3 chunks").arg(r.textSource).arg(r.context).arg(r.chunks);
    case When: return r.when.toString(QStringLiteral("yyyy-MM-dd HH:mm"));
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
