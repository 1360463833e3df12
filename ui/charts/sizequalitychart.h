#pragma once

#include "chartdata.h"
#include "chartview.h"

/// File size against quality loss for every quant level of one model: estimates hollow,
/// measurements filled, the recommendation ringed and labelled, and a vertical line at the
/// largest file that still fits the RAM at the chosen context.
class SizeQualityChart : public ChartView
{
    Q_OBJECT

public:
    explicit SizeQualityChart(QWidget *parent = nullptr);

    /// `limitBytes` 0 hides the limit line.
    void setData(const QString &title, const QList<ChartQuantPoint> &points, double limitBytes,
                 const QString &limitLabel);
};
