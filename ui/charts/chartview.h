#pragma once

#include <QList>
#include <QPointer>
#include <QString>
#include <QWidget>

class QCustomPlot;
class QCPGraph;
class QCPItemLine;
class QCPItemText;

/// Base of every chart: owns the QCustomPlot, follows the system palette (light/dark), shows a
/// tooltip for the data point under the mouse, and exports to PNG, PDF or SVG.
class ChartView : public QWidget
{
    Q_OBJECT

public:
    explicit ChartView(QWidget *parent = nullptr);
    ~ChartView() override;

    /// Writes the chart to `path`; the format follows the suffix (.png, .pdf, .svg). Returns
    /// false (and sets `error`) when the format is unknown or the file cannot be written.
    bool exportTo(const QString &path, QString *error = nullptr) const;
    static QStringList exportFilters();
    static bool svgSupported();

    QCustomPlot *plot() const { return m_plot; }
    /// Number of data points currently drawn (all graphs), for tests.
    int pointCount() const;

protected:
    struct HoverTarget {
        QCPGraph *graph = nullptr;
        QStringList tooltips; ///< one per data point, by index
    };
    void setHoverTargets(const QList<HoverTarget> &targets) { m_hover = targets; }

    /// A text naming one data point. Its place is chosen again at every layout (resize, drag,
    /// zoom, export at another size): right-above, right-below, left-above, left-below, above,
    /// below, right or left of the point, the first that overlaps no label placed before it,
    /// no data point (with a margin, so that it cannot seem to name a neighbour) and stays
    /// inside the plot; in a crowded cluster the same directions on rings further out, joined
    /// to the point by a thin leader line; when everything overlaps, the least overlap. Earlier
    /// labels in the list are placed first (put the important ones first).
    struct PointLabel {
        QPointer<QCPItemText> item; ///< null once the plot deletes it (clearItems)
        double key = 0;        ///< the point, in plot coordinates
        double value = 0;
        int markerRadius = 5;  ///< pixels kept clear around the point
    };
    /// `labels` are placed; `obstacles` (plot coordinates, radius 5 px) are data points without
    /// a label, and `fixedTexts` texts that stay where they are (a limit line's caption): labels
    /// must not cover either. Forgotten when the items are cleared.
    void setPointLabels(const QList<PointLabel> &labels, const QList<QPointF> &obstacles = {},
                        const QList<QCPItemText *> &fixedTexts = {});
    /// A bold title row above the plot (replacing any earlier one); empty removes it.
    /// `sizeDelta` points are added to the widget's font size.
    void setTitle(const QString &title, int sizeDelta = 0);
    void applyPalette();
    void changeEvent(QEvent *event) override;
    void showEmptyMessage(const QString &text);

private:
    void onMouseMove(QMouseEvent *event);
    void placePointLabels();

    QCustomPlot *m_plot;
    QList<HoverTarget> m_hover;
    QList<PointLabel> m_labels;
    QList<QPointer<QCPItemLine>> m_leaders; ///< one per label, shown for far placements
    QList<QPointF> m_obstacles;
    QList<QPointer<QCPItemText>> m_fixedTexts;
};
