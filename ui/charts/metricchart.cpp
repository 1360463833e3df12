#include "metricchart.h"

#include "common/palette.h"

#include <qcustomplot.h>

#include <algorithm>
#include <map>

MetricChart::MetricChart(QWidget *parent)
    : ChartView(parent)
{
    plot()->xAxis->setLabel(tr("Bits per weight"));
    setData(tr("Perplexity"), {});
}

void MetricChart::setData(const QString &metricName, const QList<ChartMetricPoint> &input,
                          const QString &title)
{
    QCustomPlot *p = plot();
    p->clearPlottables();
    p->clearItems();
    setTitle(title);
    p->yAxis->setLabel(metricName);
    const QColor color = Palette::kvCache();

    QList<ChartMetricPoint> points = input;
    std::sort(points.begin(), points.end(),
              [](const auto &a, const auto &b) { return a.bitsPerWeight < b.bitsPerWeight; });

    QCPGraph *measured = p->addGraph();
    measured->setLineStyle(QCPGraph::lsLine);
    measured->setPen(QPen(color, 1.2));
    measured->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(color.darker(130)),
                                              QBrush(color), 8));
    QCPGraph *estimated = p->addGraph();
    estimated->setLineStyle(QCPGraph::lsNone);
    estimated->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(color, 1.5),
                                               Qt::NoBrush, 8));
    auto *errors = new QCPErrorBars(p->xAxis, p->yAxis);
    errors->setDataPlottable(measured);
    errors->setPen(QPen(color.darker(130)));

    QStringList measTips, estTips;
    QVector<double> err;
    double minX = 1e9, maxX = 0, minY = 1e300, maxY = -1e300;
    const QColor fg = palette().color(QPalette::WindowText);
    QList<PointLabel> labels;
    for (const auto &pt : points) {
        (pt.measured ? measured : estimated)->addData(pt.bitsPerWeight, pt.value);
        (pt.measured ? measTips : estTips) << pt.tooltip;
        if (pt.measured)
            err << pt.error;
        minX = std::min(minX, pt.bitsPerWeight);
        maxX = std::max(maxX, pt.bitsPerWeight);
        minY = std::min(minY, pt.value - pt.error);
        maxY = std::max(maxY, pt.value + pt.error);
        auto *label = new QCPItemText(p);
        label->setText(pt.name);
        label->setColor(fg);
        labels.append({label, pt.bitsPerWeight, pt.value, 5});
    }
    setPointLabels(labels);
    errors->setData(err);
    setHoverTargets({{measured, measTips}, {estimated, estTips}});
    if (points.isEmpty()) {
        showEmptyMessage(tr("Measure a quantized model to see its %1 here").arg(metricName));
        p->xAxis->setRange(0, 16);
        p->yAxis->setRange(0, 1);
    } else {
        const double padX = std::max(0.5, (maxX - minX) * 0.1);
        const double padY = std::max(1e-3, (maxY - minY) * 0.15);
        p->xAxis->setRange(minX - padX, maxX + padX * 2);
        p->yAxis->setRange(minY - padY, maxY + padY);
    }
    applyPalette();
}
