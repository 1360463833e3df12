#include "sizequalitychart.h"

#include "common/palette.h"

#include <qcustomplot.h>

#include <algorithm>

SizeQualityChart::SizeQualityChart(QWidget *parent)
    : ChartView(parent)
{
    plot()->xAxis->setLabel(tr("File size (GB)"));
    plot()->yAxis->setLabel(tr("Perplexity increase over full precision (%)"));
    plot()->legend->setVisible(true);
    plot()->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    setData({}, {}, 0, {});
}

void SizeQualityChart::setData(const QString &title, const QList<ChartQuantPoint> &points,
                               double limitBytes, const QString &limitLabel)
{
    QCustomPlot *p = plot();
    p->clearGraphs();
    p->clearItems();
    setTitle(title, 1);
    const QColor accent = Palette::weights();

    QCPGraph *estimates = p->addGraph();
    estimates->setName(tr("Estimate"));
    estimates->setLineStyle(QCPGraph::lsNone);
    estimates->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(accent, 1.6),
                                               Qt::NoBrush, 9));
    QCPGraph *measured = p->addGraph();
    measured->setName(tr("Measured"));
    measured->setLineStyle(QCPGraph::lsNone);
    measured->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(accent.darker(130), 1.6),
                                              QBrush(accent), 9));
    QCPGraph *rec = p->addGraph();
    rec->setName(tr("Recommended"));
    rec->setLineStyle(QCPGraph::lsNone);
    rec->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(0x2e, 0xa0, 0x43), 2.5),
                                         Qt::NoBrush, 17));

    // Sizes in GB, or in MB for small models (the demo model is a few MB).
    double largest = 0;
    for (const ChartQuantPoint &pt : points)
        largest = std::max(largest, pt.sizeBytes);
    const bool megabytes = largest > 0 && largest < 1e9;
    const double unit = megabytes ? 1e6 : 1e9;
    p->xAxis->setLabel(megabytes ? tr("File size (MB)") : tr("File size (GB)"));

    QStringList estTips, measTips, recTips;
    double maxX = 0, maxY = 0, minY = 0;
    const QColor fg = palette().color(QPalette::WindowText);
    QList<PointLabel> labels;
    QList<QPointF> unlabelled;
    // A measurement sits beside its level's estimate, whose label names it; one without an
    // estimate of its name (a budget-fitted "fit ~Q3_K_L", or any measurement when no
    // estimates are shown) gets its own label.
    QStringList estimateNames;
    for (const ChartQuantPoint &pt : points)
        if (!pt.measured)
            estimateNames << pt.name;
    for (const ChartQuantPoint &pt : points) {
        const double x = pt.sizeBytes / unit;
        if (pt.measured) {
            measured->addData(x, pt.qualityLossPct);
            measTips << pt.tooltip;
        } else {
            estimates->addData(x, pt.qualityLossPct);
            estTips << pt.tooltip;
        }
        if (pt.recommended) {
            rec->addData(x, pt.qualityLossPct);
            recTips << pt.tooltip;
        }
        maxX = std::max(maxX, x);
        maxY = std::max(maxY, pt.qualityLossPct);
        minY = std::min(minY, pt.qualityLossPct);
        if (pt.measured && (pt.name.isEmpty() || estimateNames.contains(pt.name))) {
            unlabelled.append(QPointF(x, pt.qualityLossPct));
        } else {
            // Neighbouring levels (Q4_K_S/Q4_K_M) sit close together: ChartView places each
            // label on a free side of its point, the recommended one first.
            auto *label = new QCPItemText(p);
            label->setText(pt.recommended ? pt.name + tr(" (recommended)") : pt.name);
            label->setColor(fg);
            const PointLabel placed{label, x, pt.qualityLossPct, pt.recommended ? 10 : 5};
            if (pt.recommended) {
                QFont f = font();
                f.setBold(true);
                label->setFont(f);
                labels.prepend(placed);
            } else {
                labels.append(placed);
            }
        }
    }
    if (estimates->dataCount() == 0)
        estimates->removeFromLegend();
    if (measured->dataCount() == 0)
        measured->removeFromLegend();
    if (rec->dataCount() == 0)
        rec->removeFromLegend();
    setHoverTargets({{measured, measTips}, {estimates, estTips}});

    QCPItemText *limitCaption = nullptr;
    const double lx = limitBytes / unit;
    if (limitBytes > 0 && !points.isEmpty() && lx > 3 * maxX) {
        // The limit is far off to the right: every level fits. Say so instead of squashing
        // all points against the axis.
        auto *label = new QCPItemText(p);
        label->position->setType(QCPItemPosition::ptAxisRectRatio);
        label->position->setCoords(0.5, 0.02);
        label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignTop);
        label->setText(tr("%1 is %2 GB: every level fits").arg(limitLabel).arg(limitBytes / 1e9, 0, 'f', 1));
        label->setColor(QColor(0x2e, 0xa0, 0x43));
    } else if (limitBytes > 0) {
        auto *line = new QCPItemStraightLine(p);
        line->point1->setCoords(lx, 0);
        line->point2->setCoords(lx, 1);
        line->setPen(QPen(QColor(0xd0, 0x30, 0x30), 1.5, Qt::DashLine));
        auto *label = new QCPItemText(p);
        label->position->setType(QCPItemPosition::ptPlotCoords);
        label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
        label->position->setCoords(lx, 0.45);
        label->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
        label->setPadding(QMargins(0, 0, 6, 0));
        label->setText(limitLabel);
        label->setColor(QColor(0xd0, 0x30, 0x30));
        limitCaption = label;
        QColor back = palette().color(QPalette::Base);
        back.setAlpha(220);
        label->setBrush(back);
        maxX = std::max(maxX, lx);
    }
    setPointLabels(labels, unlabelled,
                   limitCaption ? QList<QCPItemText *>{limitCaption} : QList<QCPItemText *>{});
    if (points.isEmpty())
        showEmptyMessage(tr("Choose a model on the Advise page"));
    p->xAxis->setRange(0, std::max(maxX * 1.15, 1e-3));
    // A measured file can beat full precision on a short text (a negative loss): keep it in view.
    p->yAxis->setRange(std::min({-0.5, -maxY * 0.08, minY - (maxY - minY) * 0.08}),
                       std::max(maxY * 1.15, 1.0));
    applyPalette();
}
