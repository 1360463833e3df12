#pragma once

#include <QList>
#include <QString>
#include <QWidget>

class QCustomPlot;
class QCPGraph;

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
    void applyPalette();
    void changeEvent(QEvent *event) override;
    void showEmptyMessage(const QString &text);

private:
    void onMouseMove(QMouseEvent *event);

    QCustomPlot *m_plot;
    QList<HoverTarget> m_hover;
};
