#pragma once

#include "advisor/advisor.h"

#include <QAbstractTableModel>

#include <optional>

/// Advise's "Fit exactly" level: one file whose per-tensor types are chosen so that its weights
/// take what the machine leaves at the chosen context (tasks/fittask.h, `--fit-ram`). The size is
/// the budget the fit is bounded by (the fitted plan is at most this, and in practice within a
/// fraction of a percent of it); quality and speed are interpolated by size between the standard
/// levels around it.
struct ExactFit {
    std::uint64_t budgetBytes = 0;     ///< weights: RAM - KV cache - compute - runtime - reserve
    std::uint64_t fileBytesBound = 0;  ///< budget + the header of the standard files
    std::uint32_t contextTokens = 0;
    QuantFit::KvCacheType kvType = QuantFit::KvCacheType::F16;
    QuantFit::MemoryBreakdown memory;  ///< at the context, with the budget as weights
    std::int64_t headroomBytes = 0;    ///< RAM - total at kMinContext
    QuantFit::FitBadge badge = QuantFit::FitBadge::Tight;
    double bitsPerWeight = 0;          ///< budget bits / parameters
    QuantFit::QuantRow below;          ///< the largest standard level within the budget
    QuantFit::QuantRow above;          ///< the smallest standard level above it
    double pplIncreasePercent = 0;     ///< interpolated by weights between below and above
    double relativeSpeed = 1;          ///< the same
    std::size_t insertAt = 0;          ///< index into ModelAdvice::rows it is shown before
    std::uint64_t nParams = 0;
    /// Which model the row is of (setAdvice's `source`): a plan is kept or taken only for the
    /// same one, so two files of one parameter count at one budget never share a plan.
    QString source;
    /// The fitted plan's tensor data (tasks/fitpreview.h) once planned: then the size is exact.
    std::optional<std::uint64_t> plannedTensorBytes;
    QString plannedNearestMix;         ///< its general.file_type name
    QString planError;                 ///< why it could not be planned
    std::uint64_t fileBytes() const    ///< exact when planned, else the bound
    {
        return plannedTensorBytes ? fileBytesBound - (budgetBytes - *plannedTensorBytes) : fileBytesBound;
    }
};

/// The "Fit exactly" level of `advice` (its RAM, reserve, context, KV type, flash attention and
/// slots), or nullopt when the budget is not strictly between two standard levels (Q2_K .. Q8_0):
/// then a standard level already fits exactly enough, or nothing does.
std::optional<ExactFit> exactFitFor(const QuantFit::ModelAdvice &advice);

/// The advisor's rows for one model as a table: one row per quant level with bits per weight,
/// size, total memory at the context, headroom, longest context, fit badge (text and colour),
/// and the quality and speed estimates (or the user's measurements, marked "measured"). The
/// recommended row is bold and highlighted. A "Fit exactly" row (exactFitFor) sits between the
/// levels around it.
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

    /// `source` names the model beyond its shape (an opened file's path); the shape's facts are
    /// added to it, so a catalog entry or an entered shape needs none.
    void setAdvice(const QuantFit::ModelAdvice &advice, const QString &source = {});
    /// The standard levels (without the fit row), in the advisor's order.
    const std::vector<QuantFit::QuantRow> &rows() const { return m_rows; }
    /// The level shown in table row `row`; nullptr for the fit row or out of range.
    const QuantFit::QuantRow *levelAt(int row) const;
    /// Table row of the recommended level, -1 when none of the table's levels is recommended.
    int recommendedRow() const;
    /// Table row of "Fit exactly", -1 when there is none.
    int fitRow() const;
    const std::optional<ExactFit> &exactFit() const { return m_fit; }
    /// The fitted plan of the fit row's budget `budgetBytes` (ignored when the row changed since):
    /// its tensor bytes and nearest standard mix, or the error that stopped it.
    /// `source` is the row's ExactFit::source when the plan was started.
    void setPlannedFit(const QString &source, std::uint64_t budgetBytes, std::uint64_t tensorBytes,
                       const QString &nearestMix);
    void setFitPlanError(const QString &source, std::uint64_t budgetBytes, const QString &error);

    /// The badge as words with a symbol, so it never depends on colour alone.
    static QString badgeText(QuantFit::FitBadge badge);
    static QColor badgeColor(QuantFit::FitBadge badge);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    /// Index into m_rows of table row `row`; -1 for the fit row.
    int levelIndex(int row) const;
    QVariant fitData(int column, int role) const;

    std::vector<QuantFit::QuantRow> m_rows;
    std::optional<ExactFit> m_fit;
    std::uint32_t m_context = 0;
};
