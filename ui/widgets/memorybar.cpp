#include "memorybar.h"

#include "util/units.h"

#include <QPainter>
#include <QPainterPath>

#include <algorithm>
#include <cmath>

MemoryBar::MemoryBar(QWidget *parent)
    : QWidget(parent)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setToolTip(tr("Memory needed to run the model: weights, KV cache for the context, compute "
                  "buffers and the reserve kept for the OS, against the RAM."));
}

void MemoryBar::setParts(const QList<Part> &parts)
{
    m_parts = parts;
    update();
}

void MemoryBar::setCapacity(std::uint64_t bytes, const QString &label)
{
    m_capacityBytes = bytes;
    m_capacityLabel = label;
    update();
}

std::uint64_t MemoryBar::totalBytes() const
{
    std::uint64_t sum = 0;
    for (const auto &p : m_parts)
        sum += p.bytes;
    return sum;
}

QSize MemoryBar::sizeHint() const
{
    const int line = fontMetrics().height();
    return {480, 3 * line + 28};
}

QSize MemoryBar::minimumSizeHint() const
{
    return {200, sizeHint().height()};
}

void MemoryBar::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QPalette pal = palette();
    const int line = fontMetrics().height();
    const QRectF barRect(1, line + 4, width() - 2, line + 10);

    const std::uint64_t total = totalBytes();
    const double scaleMax = double(std::max<std::uint64_t>({total, m_capacityBytes, 1}));
    const double pxPerByte = barRect.width() / scaleMax;

    // Heading: total against capacity.
    p.setPen(pal.color(QPalette::WindowText));
    QString head = tr("Total %1").arg(QuantFit::formatGB(total, 1));
    if (m_capacityBytes) {
        // In tenths, as the RAM is set: "of 5.3 GB RAM", not "of 5 GB".
        head += tr(" of %1 GB %2").arg(std::round(double(m_capacityBytes) / 1e8) / 10).arg(m_capacityLabel);
        if (total > m_capacityBytes)
            head += tr("  (%1 over)").arg(QuantFit::formatGB(total - m_capacityBytes, 1));
        else
            head += tr("  (%1 free)").arg(QuantFit::formatGB(m_capacityBytes - total, 1));
    }
    p.drawText(QRectF(0, 0, width(), line + 2), Qt::AlignLeft | Qt::AlignVCenter, head);

    // Track and segments.
    QPainterPath clip;
    clip.addRoundedRect(barRect, 4, 4);
    p.fillPath(clip, pal.color(QPalette::Base));
    p.save();
    p.setClipPath(clip);
    double x = barRect.left();
    for (const auto &part : m_parts) {
        const double w = double(part.bytes) * pxPerByte;
        p.fillRect(QRectF(x, barRect.top(), w, barRect.height()), part.color);
        x += w;
    }
    p.restore();
    p.setPen(QPen(pal.color(QPalette::Mid), 1));
    p.drawPath(clip);

    // Capacity line.
    if (m_capacityBytes) {
        const double cx = barRect.left() + double(m_capacityBytes) * pxPerByte;
        const QColor limit = total > m_capacityBytes ? QColor(0xd0, 0x30, 0x30)
                                                     : pal.color(QPalette::WindowText);
        p.setPen(QPen(limit, 2, Qt::DashLine));
        p.drawLine(QPointF(cx - 1, barRect.top() - 3), QPointF(cx - 1, barRect.bottom() + 3));
    }

    // Legend: swatch + label + size for every part.
    double lx = 0;
    const double ly = barRect.bottom() + 6;
    p.setPen(pal.color(QPalette::WindowText));
    for (const auto &part : m_parts) {
        const QString text = QStringLiteral("%1 %2").arg(part.label, QuantFit::formatGB(part.bytes, 1));
        const double tw = fontMetrics().horizontalAdvance(text);
        if (lx + 16 + tw > width())
            break;
        p.fillRect(QRectF(lx, ly + 3, 10, line - 6), part.color);
        p.drawText(QRectF(lx + 14, ly, tw + 2, line), Qt::AlignLeft | Qt::AlignVCenter, text);
        lx += 14 + tw + 16;
    }
}
