#pragma once

#include <QColor>
#include <QList>
#include <QString>
#include <QWidget>

#include <cstdint>

/// A stacked horizontal bar of memory parts (weights, KV cache, compute, reserve) against a
/// capacity (the RAM), with a legend that names every part and its size, so the reading never
/// depends on colour alone. Repaints immediately on every setParts()/setCapacity().
class MemoryBar : public QWidget
{
    Q_OBJECT

public:
    struct Part {
        QString label;
        std::uint64_t bytes = 0;
        QColor color;
    };

    explicit MemoryBar(QWidget *parent = nullptr);

    void setParts(const QList<Part> &parts);
    void setCapacity(std::uint64_t bytes, const QString &label);
    QList<Part> parts() const { return m_parts; }
    std::uint64_t capacityBytes() const { return m_capacityBytes; }
    std::uint64_t totalBytes() const;

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QList<Part> m_parts;
    std::uint64_t m_capacityBytes = 0;
    QString m_capacityLabel;
};
