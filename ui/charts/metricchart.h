#pragma once

#include "chartdata.h"
#include "chartview.h"

/// Perplexity or KL divergence against bits per weight, one point per measured (filled, with
/// error bars) or estimated (hollow) quant.
class MetricChart : public ChartView
{
    Q_OBJECT

public:
    explicit MetricChart(QWidget *parent = nullptr);

    /// `title` says whose measurements these are (empty: no title).
    void setData(const QString &metricName, const QList<ChartMetricPoint> &points,
                 const QString &title = {});
};
