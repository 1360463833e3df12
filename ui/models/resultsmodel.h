#pragma once

#include "advisor/estimates.h"
#include "eval/resultsstore.h"

#include <QAbstractTableModel>
#include <QList>
#include <QString>

/// The saved measurements of a ResultsStore (the folder the CLI's `perplexity --save` and
/// `results` use too), newest first.
class ResultsModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column { Model, Type, Bits, Size, Ppl, Kld, Speed, Text, When, ColumnCount };

    /// `folder` empty: ResultsStore::defaultFolder().
    explicit ResultsModel(const QString &folder = {}, QObject *parent = nullptr);

    QString folder() const { return m_store.folder(); }
    void reload();
    /// Saves `record` in the folder and lists it; returns the file path. Throws
    /// QuantFit::IoError.
    QString save(const QuantFit::MeasurementRecord &record);
    /// Copies a record file from elsewhere (e.g. `quantfit-cli perplexity --json` output) into
    /// the folder. Throws QuantFit::Error naming the file.
    QString importFile(const QString &path);
    /// Deletes the record of `row`. Throws QuantFit::IoError.
    void remove(int row);
    const QList<QuantFit::MeasurementRecord> &records() const { return m_records; }
    /// The records as the advisor matches them to quant levels (applyMeasuredQuality), newest
    /// first, each labelled "Q4_K_M measured on TEXT, DATE" as the CLI's `advise` labels them.
    std::vector<QuantFit::QualityMeasurement> qualityMeasurements() const;
    /// Files in the folder that are not readable records, one line each.
    const QStringList &problems() const { return m_problems; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

signals:
    void resultsChanged();

private:
    QuantFit::ResultsStore m_store;
    QList<QuantFit::MeasurementRecord> m_records;
    QStringList m_problems;
};
