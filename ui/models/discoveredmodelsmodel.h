#pragma once

#include "discovery/modeldiscovery.h"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>

#include <vector>

/// The models a scan found (core/discovery), one row each, with the columns of `quantfit-cli
/// models`. A model that could not be read shows its error in place of its facts.
class DiscoveredModelsModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column { Name, Source, Architecture, Parameters, Type, Size, Context, Path, ColumnCount };
    /// Numbers for sorting (Parameters, Size, Context); the display text is formatted.
    static constexpr int SortRole = Qt::UserRole + 1;

    explicit DiscoveredModelsModel(QObject *parent = nullptr);

    void setModels(std::vector<QuantFit::DiscoveredModel> models);
    const std::vector<QuantFit::DiscoveredModel> &models() const { return m_models; }
    const QuantFit::DiscoveredModel *modelAt(int row) const;
    /// The row of the model whose file is `path`, or -1.
    int rowOf(const QString &path) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<QuantFit::DiscoveredModel> m_models;
};

/// Search over a DiscoveredModelsModel: every word of the text must appear in the name,
/// aliases, source, architecture, type or path (case-insensitive).
class DiscoveredModelsFilter : public QSortFilterProxyModel
{
    Q_OBJECT

public:
    explicit DiscoveredModelsFilter(QObject *parent = nullptr);
    void setSearchText(const QString &text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QStringList m_words;
};
