#include "chartview.h"

#include <qcustomplot.h>

#include <QBoxLayout>
#include <QEvent>
#include <QFileInfo>
#include <QFontMetricsF>
#include <QToolTip>

#include <algorithm>
#include <cmath>
#include <limits>

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
    connect(m_plot, &QCustomPlot::afterLayout, this, &ChartView::placePointLabels);
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

void ChartView::setTitle(const QString &title, int sizeDelta)
{
    QCPLayoutGrid *layout = m_plot->plotLayout();
    if (layout->rowCount() > 1) {
        layout->removeAt(0);
        layout->simplify();
    }
    if (title.isEmpty())
        return;
    layout->insertRow(0);
    auto *t = new QCPTextElement(m_plot, title,
                                 QFont(font().family(), font().pointSize() + sizeDelta, QFont::Bold));
    t->setTextColor(palette().color(QPalette::WindowText));
    layout->addElement(0, 0, t);
}

void ChartView::setPointLabels(const QList<PointLabel> &labels, const QList<QPointF> &obstacles,
                               const QList<QCPItemText *> &fixedTexts)
{
    m_labels = labels;
    m_obstacles = obstacles;
    m_leaders.clear();
    for (int i = 0; i < labels.size(); ++i) {
        auto *line = new QCPItemLine(m_plot);
        QColor c = palette().color(QPalette::WindowText);
        c.setAlpha(110);
        line->setPen(QPen(c, 0.8));
        line->setVisible(false);
        m_leaders.append(line);
    }
    m_fixedTexts.clear();
    for (QCPItemText *t : fixedTexts)
        m_fixedTexts.append(t);
}

void ChartView::placePointLabels()
{
    // Items cleared since setPointLabels (clearItems deletes them): forget them.
    for (const PointLabel &l : std::as_const(m_labels)) {
        if (!l.item) {
            m_labels.clear();
            m_obstacles.clear();
            m_leaders.clear();
            m_fixedTexts.clear();
            return;
        }
    }
    if (m_labels.isEmpty())
        return;
    const QRectF area = m_plot->axisRect()->rect();
    const auto toPixel = [this](double key, double value) {
        return QPointF(m_plot->xAxis->coordToPixel(key), m_plot->yAxis->coordToPixel(value));
    };
    // The markers come first in `taken` (index i = label i's own point), grown by a margin so
    // that a label never sits so close to another point that it seems to name it.
    constexpr double kMargin = 5;
    QList<QRectF> taken;
    for (const PointLabel &l : std::as_const(m_labels)) {
        const QPointF c = toPixel(l.key, l.value);
        const double r = l.markerRadius + kMargin;
        taken.append(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r));
    }
    for (const QPointF &o : std::as_const(m_obstacles)) {
        const QPointF c = toPixel(o.x(), o.y());
        const double r = 5 + kMargin;
        taken.append(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r));
    }
    for (const QPointer<QCPItemText> &t : std::as_const(m_fixedTexts))
        if (t)
            taken.append(QRectF(t->topLeft->pixelPosition(), t->bottomRight->pixelPosition()).normalized());
    const auto overlap = [&](const QRectF &rect, qsizetype own) {
        double sum = 0;
        for (qsizetype k = 0; k < taken.size(); ++k) {
            if (k == own)
                continue;
            const QRectF i = rect.intersected(taken.at(k));
            sum += i.width() * i.height();
        }
        const QRectF inside = rect.intersected(area);
        sum += 4 * (rect.width() * rect.height() - inside.width() * inside.height());
        return sum;
    };
    for (int index = 0; index < m_labels.size(); ++index) {
        const PointLabel &l = m_labels.at(index);
        const QPointF a = toPixel(l.key, l.value);
        const QSizeF s = QFontMetricsF(l.item->font())
                             .boundingRect(QRectF(), Qt::TextDontClip, l.item->text())
                             .size();
        const double w = s.width(), ht = s.height();
        struct Candidate {
            QRectF text;
            bool far; ///< joined to its point by a leader line
        };
        QList<Candidate> candidates;
        // Next to the point: right-above, right-below, left-above, left-below, above, below,
        // right, left.
        const double g = l.markerRadius + 2, h = g / 2;
        candidates.append({QRectF(a.x() + g, a.y() - h - ht, w, ht), false});
        candidates.append({QRectF(a.x() + g, a.y() + h, w, ht), false});
        candidates.append({QRectF(a.x() - g - w, a.y() - h - ht, w, ht), false});
        candidates.append({QRectF(a.x() - g - w, a.y() + h, w, ht), false});
        candidates.append({QRectF(a.x() - w / 2, a.y() - g - ht, w, ht), false});
        candidates.append({QRectF(a.x() - w / 2, a.y() + g, w, ht), false});
        candidates.append({QRectF(a.x() + g + 1, a.y() - ht / 2, w, ht), false});
        candidates.append({QRectF(a.x() - g - 1 - w, a.y() - ht / 2, w, ht), false});
        // Crowded: further out on rings around the point, in the same order of directions.
        constexpr double kDegrees[] = {-45, 45, -135, 135, -90, 90, 0, 180, -20, 20, -160, 160, -65, 65, -115, 115};
        for (int ring = 1; ring <= 8; ++ring) {
            const double reach = g + ring * ht * 0.9;
            for (double deg : kDegrees) {
                const double rad = deg * M_PI / 180.0;
                const QPointF centre(a.x() + std::cos(rad) * (reach + w / 2),
                                     a.y() + std::sin(rad) * (reach + ht / 2));
                candidates.append({QRectF(centre.x() - w / 2, centre.y() - ht / 2, w, ht), true});
            }
        }
        const Candidate *best = &candidates[0];
        double bestScore = std::numeric_limits<double>::infinity();
        for (const Candidate &c : std::as_const(candidates)) {
            // A pixel of air around the text; areas below a hundredth of a pixel count as none.
            const double score = std::max(0.0, overlap(c.text.adjusted(-1, -1, 1, 1), index));
            if (score < bestScore) {
                best = &c;
                bestScore = score;
            }
            if (score < 1e-2)
                break;
        }
        // Pixel placement, recomputed at every layout (resize, drag, zoom, export).
        l.item->position->setType(QCPItemPosition::ptAbsolute);
        l.item->position->setCoords(best->text.center());
        l.item->setPositionAlignment(Qt::AlignCenter);
        l.item->setPadding(QMargins());
        taken.append(best->text);
        if (QCPItemLine *leader = index < m_leaders.size() ? m_leaders.at(index).data() : nullptr) {
            leader->setVisible(best->far);
            if (best->far) {
                // From the edge of the marker to the nearest point of the text's box.
                const QRectF &t = best->text;
                const QPointF to(std::clamp(a.x(), t.left(), t.right()),
                                 std::clamp(a.y(), t.top(), t.bottom()));
                const QPointF d = to - a;
                const double len = std::hypot(d.x(), d.y());
                const QPointF from = len > 0 ? a + d * (l.markerRadius / len) : a;
                leader->start->setType(QCPItemPosition::ptAbsolute);
                leader->start->setCoords(from);
                leader->end->setType(QCPItemPosition::ptAbsolute);
                leader->end->setCoords(to);
            }
        }
    }
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
