#pragma once

#include <QAbstractTableModel>
#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

/// One saved measurement (one JSON file in the app's results folder).
struct MeasurementRecord {
    QString id;               ///< file name stem in the results folder
    QString modelPath;
    QString modelName;        ///< general.name or the file name
    QString fileType;         ///< "Q4_K_M", "F32"
    double fileBytes = 0;
    double nParams = 0;
    double bitsPerWeight = 0;
    QString textSource;       ///< file, archive member or "built-in sample"
    int context = 0;
    int chunks = 0;
    double ppl = 0;
    double pplError = 0;
    double tokensPerSecond = 0;
    QString basePath;         ///< base model for KLD, empty when none
    std::optional<double> kldMean, kldMeanError, kldMedian, kldP99, pplRatio, sameTopPercent;
    QDateTime when;

    QJsonObject toJson() const;
    static MeasurementRecord fromJson(const QJsonObject &o);
};

/// The saved measurements, listed newest first; loads from and saves to AppPaths::resultsDir().
class ResultsModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column { Model, Type, Bits, Size, Ppl, Kld, Speed, Text, When, ColumnCount };

    explicit ResultsModel(QObject *parent = nullptr);

    void reload();
    /// Writes `record` as JSON (atomically) and adds it; returns the file path or empty on error.
    QString save(MeasurementRecord record, QString *error = nullptr);
    bool remove(int row);
    const QList<MeasurementRecord> &records() const { return m_records; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

signals:
    void resultsChanged();

private:
    QList<MeasurementRecord> m_records;
};
