#pragma once

// The check both fit-flow tests end with, on the Charts page's size/quality chart.

#include <qcustomplot.h>

#include <QPointF>
#include <QRectF>
#include <QString>
#include <QStringList>
#include <QTest>

#include <cmath>
#include <cstdint>
#include <optional>

namespace QuantFit::Test {

/// The measured points of the standard files of `belowBytes` and `aboveBytes` and of the fitted
/// file of `fitBytes` are on `plot` (its x axis in MB or GB, as its label says), every measured
/// point is in view, the fitted one lies between the two, and it carries the only "fit ~" label,
/// drawn by its point. Fails the current test (QVERIFY) otherwise: callers check
/// QTest::currentTestFailed() after it.
inline void verifyFitPointBetween(QCustomPlot *plot, std::uint64_t belowBytes, std::uint64_t fitBytes,
                                  std::uint64_t aboveBytes)
{
    const QString axis = plot->xAxis->label();
    QVERIFY2(axis == QStringLiteral("File size (MB)") || axis == QStringLiteral("File size (GB)"),
             qPrintable(axis));
    const double unit = axis == QStringLiteral("File size (MB)") ? 1e6 : 1e9;
    QCPGraph *points = nullptr;
    for (int i = 0; i < plot->graphCount(); ++i)
        if (plot->graph(i)->name() == QStringLiteral("Measured"))
            points = plot->graph(i);
    QVERIFY(points);
    std::optional<double> belowY, aboveY, fitY;
    for (auto it = points->data()->constBegin(); it != points->data()->constEnd(); ++it) {
        // Every point in view, also one below full precision's perplexity (a random model on a
        // short text can measure lower than its source).
        QVERIFY2(plot->yAxis->range().contains(it->value) && plot->xAxis->range().contains(it->key),
                 qPrintable(QStringLiteral("%1 x %2, %3 %").arg(it->key).arg(unit).arg(it->value)));
        if (std::abs(it->key - double(belowBytes) / unit) < 1e-9)
            belowY = it->value;
        else if (std::abs(it->key - double(aboveBytes) / unit) < 1e-9)
            aboveY = it->value;
        else if (std::abs(it->key - double(fitBytes) / unit) < 1e-9)
            fitY = it->value;
    }
    QVERIFY2(belowY && aboveY && fitY, qPrintable(QStringLiteral("%1 measured points").arg(points->dataCount())));
    QCPItemText *label = nullptr;
    QStringList texts;
    for (int i = 0; i < plot->itemCount(); ++i) {
        auto *t = qobject_cast<QCPItemText *>(plot->item(i));
        if (!t)
            continue;
        texts << t->text();
        if (t->text().startsWith(QStringLiteral("fit ~")))
            label = t;
    }
    QVERIFY2(label, qPrintable(texts.join(QStringLiteral(", "))));
    QCOMPARE(texts.filter(QStringLiteral("fit ~")).size(), 1);
    const auto pixel = [&](std::uint64_t bytes, double y) {
        return QPointF(plot->xAxis->coordToPixel(double(bytes) / unit), plot->yAxis->coordToPixel(y));
    };
    const QPointF fitPoint = pixel(fitBytes, *fitY);
    QVERIFY(pixel(belowBytes, *belowY).x() < fitPoint.x() && fitPoint.x() < pixel(aboveBytes, *aboveY).x());
    // The label sits by its point.
    const QPointF c =
        QRectF(label->topLeft->pixelPosition(), label->bottomRight->pixelPosition()).normalized().center();
    const double distance = std::hypot(c.x() - fitPoint.x(), c.y() - fitPoint.y());
    QVERIFY2(distance < 80, qPrintable(QStringLiteral("label %1,%2 point %3,%4")
                                           .arg(c.x()).arg(c.y()).arg(fitPoint.x()).arg(fitPoint.y())));
}

} // namespace QuantFit::Test
