#include "liveperplexitychart.h"

#include "common/palette.h"

#include <qcustomplot.h>

LivePerplexityChart::LivePerplexityChart(QWidget *parent)
    : ChartView(parent)
{
    QCustomPlot *p = plot();
    p->xAxis->setLabel(tr("Chunk"));
    p->yAxis->setLabel(tr("Perplexity (running)"));
    const QColor color = Palette::weights();
    QColor band = color;
    band.setAlpha(60);
    m_upper = p->addGraph();
    m_lower = p->addGraph();
    m_value = p->addGraph();
    m_upper->setPen(Qt::NoPen);
    m_lower->setPen(Qt::NoPen);
    m_upper->setBrush(band);
    m_upper->setChannelFillGraph(m_lower);
    m_value->setPen(QPen(color, 2));
    m_value->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    clear();
}

void LivePerplexityChart::clear()
{
    m_value->data()->clear();
    m_upper->data()->clear();
    m_lower->data()->clear();
    m_minY = m_maxY = 0;
    plot()->xAxis->setRange(0, 10);
    plot()->yAxis->setRange(0, 10);
    plot()->replot();
}

void LivePerplexityChart::addPoint(double chunk, double value, double error)
{
    const bool first = m_value->dataCount() == 0;
    m_value->addData(chunk, value);
    m_upper->addData(chunk, value + error);
    m_lower->addData(chunk, value - error);
    m_minY = first ? value - error : std::min(m_minY, value - error);
    m_maxY = first ? value + error : std::max(m_maxY, value + error);
    const double pad = std::max(0.05 * (m_maxY - m_minY), 0.01 * std::abs(m_maxY));
    plot()->xAxis->setRange(0.5, std::max(chunk + 0.5, 4.0));
    plot()->yAxis->setRange(m_minY - pad, m_maxY + pad);
    // queuedReplot coalesces many points arriving in one event-loop pass into one repaint.
    plot()->replot(QCustomPlot::rpQueuedReplot);
}

int LivePerplexityChart::count() const
{
    return m_value->dataCount();
}
