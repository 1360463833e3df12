#include "memorybreakdownchart.h"

#include "common/palette.h"

#include <qcustomplot.h>

#include <cmath>

MemoryBreakdownChart::MemoryBreakdownChart(QWidget *parent)
    : ChartView(parent)
{
    plot()->yAxis->setLabel(tr("Memory (GB)"));
    // The legend goes in its own row under the axes: inside, it would cover bars or the RAM line.
    QCustomPlot *p = plot();
    p->legend->setVisible(true);
    p->legend->setFillOrder(QCPLegend::foColumnsFirst);
    p->axisRect()->insetLayout()->take(p->legend);
    p->plotLayout()->addElement(1, 0, p->legend);
    p->plotLayout()->setRowStretchFactor(1, 0.001);
    p->legend->setMargins(QMargins(4, 2, 4, 2));
    plot()->setInteractions({});
    setData({}, 0);
}

void MemoryBreakdownChart::setData(const QList<ChartMemoryColumn> &columns, double ramBytes)
{
    QCustomPlot *p = plot();
    p->clearPlottables();
    p->clearItems();
    m_columns = int(columns.size());

    struct Layer {
        QString name;
        QColor color;
        double ChartMemoryColumn::*field;
    };
    const Layer layers[] = {
        {tr("Weights"), Palette::weights(), &ChartMemoryColumn::weightsBytes},
        {tr("KV cache"), Palette::kvCache(), &ChartMemoryColumn::kvBytes},
        {tr("Compute"), Palette::compute(), &ChartMemoryColumn::computeBytes},
        {tr("Reserve"), Palette::reserve(), &ChartMemoryColumn::reserveBytes},
    };
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    QCPBars *below = nullptr;
    double maxTotal = 0;
    for (const Layer &layer : layers) {
        auto *bars = new QCPBars(p->xAxis, p->yAxis);
        bars->setName(layer.name);
        bars->setBrush(layer.color);
        bars->setPen(QPen(layer.color.darker(140)));
        bars->setWidth(0.7);
        for (int i = 0; i < columns.size(); ++i)
            bars->addData(i + 1, columns[i].*layer.field / 1e9);
        if (below)
            bars->moveAbove(below);
        below = bars;
    }
    for (int i = 0; i < columns.size(); ++i) {
        const auto &c = columns[i];
        ticker->addTick(i + 1, c.recommended ? c.name + QStringLiteral(" ★") : c.name);
        maxTotal = std::max(maxTotal, c.weightsBytes + c.kvBytes + c.computeBytes + c.reserveBytes);
    }
    p->xAxis->setTicker(ticker);
    p->xAxis->setTickLabelRotation(columns.size() > 8 ? 45 : 0);
    p->xAxis->setRange(0.3, columns.size() + 0.7);
    if (ramBytes > 0) {
        auto *line = new QCPItemStraightLine(p);
        line->point1->setCoords(0, ramBytes / 1e9);
        line->point2->setCoords(1, ramBytes / 1e9);
        line->setPen(QPen(QColor(0xd0, 0x30, 0x30), 1.5, Qt::DashLine));
        auto *label = new QCPItemText(p);
        label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
        label->position->setCoords(0.99, ramBytes / 1e9);
        label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
        label->setText(tr("RAM %1 GB").arg(std::round(ramBytes / 1e8) / 10)); // 5.3, not 5
        label->setColor(QColor(0xd0, 0x30, 0x30));
        // Stays readable where it crosses a bar.
        QColor back = palette().color(QPalette::Base);
        back.setAlpha(220);
        label->setBrush(back);
        label->setPadding(QMargins(3, 1, 3, 1));
        maxTotal = std::max(maxTotal, ramBytes);
    }
    if (columns.isEmpty())
        showEmptyMessage(tr("Choose a model on the Advise page"));
    p->yAxis->setRange(0, std::max(maxTotal / 1e9 * 1.25, 1.0));
    applyPalette();
}
