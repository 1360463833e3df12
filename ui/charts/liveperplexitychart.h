#pragma once

#include "chartview.h"

/// The running perplexity of a measurement as a line with its ± error band, one point per
/// evaluated chunk; appended live from progress reports.
class LivePerplexityChart : public ChartView
{
    Q_OBJECT

public:
    explicit LivePerplexityChart(QWidget *parent = nullptr);

    void clear();
    void addPoint(double chunk, double value, double error);
    int count() const;

private:
    QCPGraph *m_value = nullptr;
    QCPGraph *m_upper = nullptr;
    QCPGraph *m_lower = nullptr;
    double m_minY = 0;
    double m_maxY = 0;
};
