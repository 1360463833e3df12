#pragma once

#include "advisor/advisor.h"

#include <QAbstractTableModel>

/// The advisor's rows for one model as a table: one row per quant level with bits per weight,
/// size, total memory at the context, headroom, longest context, fit badge (text and colour),
/// and the quality and speed estimates. The recommended row is bold and highlighted.
class AdviceTableModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column {
        Quant,
        Bits,
        Size,
        Total,
        Headroom,
        LongestContext,
        Fit,
        Quality,
        Speed,
        ColumnCount
    };
    static constexpr int FileTypeRole = Qt::UserRole + 1;

    explicit AdviceTableModel(QObject *parent = nullptr);

    void setAdvice(const QuantFit::ModelAdvice &advice);
    const std::vector<QuantFit::QuantRow> &rows() const { return m_rows; }
    int recommendedRow() const;

    /// The badge as words with a symbol, so it never depends on colour alone.
    static QString badgeText(QuantFit::FitBadge badge);
    static QColor badgeColor(QuantFit::FitBadge badge);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<QuantFit::QuantRow> m_rows;
    std::uint32_t m_context = 0;
};
