#pragma once

#include "chartdata.h"
#include "chartview.h"

/// Memory per quant level as stacked bars (weights, KV cache, compute, reserve) with the RAM as
/// a horizontal line.
class MemoryBreakdownChart : public ChartView
{
    Q_OBJECT

public:
    explicit MemoryBreakdownChart(QWidget *parent = nullptr);

    void setData(const QList<ChartMemoryColumn> &columns, double ramBytes);
    int columnCount() const { return m_columns; }

private:
    int m_columns = 0;
};
