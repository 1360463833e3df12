#include "chartview.h"

#include <qcustomplot.h>

#include <QBoxLayout>
#include <QEvent>
#include <QFileInfo>
#include <QToolTip>

#ifdef QUANTFIT_HAVE_SVG
#include <QSvgGenerator>
#endif

ChartView::ChartView(QWidget *parent)
    : QWidget(parent)
    , m_plot(new QCustomPlot(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    m_plot->setMinimumHeight(220);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    m_plot->setMouseTracking(true);
    connect(m_plot, &QCustomPlot::mouseMove, this, &ChartView::onMouseMove);
    applyPalette();
}

ChartView::~ChartView() = default;

void ChartView::applyPalette()
{
    const QPalette pal = palette();
    const QColor fg = pal.color(QPalette::WindowText);
    QColor grid = fg;
    grid.setAlpha(40);
    m_plot->setBackground(pal.brush(QPalette::Base));
    for (QCPAxis *axis : m_plot->axisRect()->axes()) {
        axis->setBasePen(QPen(fg));
        axis->setTickPen(QPen(fg));
        axis->setSubTickPen(QPen(fg));
        axis->setTickLabelColor(fg);
        axis->setLabelColor(fg);
        axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
    }
    if (m_plot->legend) {
        m_plot->legend->setBrush(pal.brush(QPalette::Base));
        m_plot->legend->setTextColor(fg);
        m_plot->legend->setBorderPen(QPen(pal.color(QPalette::Mid)));
    }
    m_plot->replot();
}

void ChartView::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::PaletteChange)
        applyPalette();
    QWidget::changeEvent(event);
}

void ChartView::showEmptyMessage(const QString &text)
{
    auto *label = new QCPItemText(m_plot);
    label->position->setType(QCPItemPosition::ptAxisRectRatio);
    label->position->setCoords(0.5, 0.5);
    label->setText(text);
    label->setColor(palette().color(QPalette::PlaceholderText));
}

int ChartView::pointCount() const
{
    int n = 0;
    for (int i = 0; i < m_plot->graphCount(); ++i)
        n += m_plot->graph(i)->dataCount();
    return n;
}

void ChartView::onMouseMove(QMouseEvent *event)
{
    const QPointF pos = event->position();
    double best = 12.0; // pixels
    QString text;
    for (const HoverTarget &t : m_hover) {
        if (!t.graph || !t.graph->visible())
            continue;
        const auto data = t.graph->data();
        int index = 0;
        for (auto it = data->constBegin(); it != data->constEnd(); ++it, ++index) {
            const double px = t.graph->keyAxis()->coordToPixel(it->key);
            const double py = t.graph->valueAxis()->coordToPixel(it->value);
            const double d = std::hypot(px - pos.x(), py - pos.y());
            if (d < best && index < t.tooltips.size()) {
                best = d;
                text = t.tooltips.at(index);
            }
        }
    }
    if (text.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(m_plot->mapToGlobal(pos.toPoint()), text, m_plot);
}

QStringList ChartView::exportFilters()
{
    QStringList f{tr("PNG image (*.png)"), tr("PDF document (*.pdf)")};
    if (svgSupported())
        f.append(tr("SVG drawing (*.svg)"));
    return f;
}

bool ChartView::svgSupported()
{
#ifdef QUANTFIT_HAVE_SVG
    return true;
#else
    return false;
#endif
}

bool ChartView::exportTo(const QString &path, QString *error) const
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    const int w = std::max(m_plot->width(), 640);
    const int h = std::max(m_plot->height(), 400);
    bool ok = false;
    if (suffix == u"png") {
        ok = m_plot->savePng(path, w, h, 2.0);
    } else if (suffix == u"pdf") {
        ok = m_plot->savePdf(path, w, h);
    } else if (suffix == u"svg") {
#ifdef QUANTFIT_HAVE_SVG
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(QSize(w, h));
        svg.setViewBox(QRect(0, 0, w, h));
        svg.setTitle(QStringLiteral("QuantFit chart"));
        QCPPainter painter;
        if (painter.begin(&svg)) {
            m_plot->toPainter(&painter, w, h);
            ok = painter.end();
        }
#else
        if (error)
            *error = tr("SVG export is not available in this build; use PNG or PDF.");
        return false;
#endif
    } else {
        if (error)
            *error = tr("Unknown image format '%1': use .png, .pdf or .svg.").arg(suffix);
        return false;
    }
    if (!ok && error)
        *error = tr("Could not write '%1'.").arg(path);
    return ok;
}
