#pragma once

#include "charts/chartdata.h"

#include <QWidget>

class MemoryBreakdownChart;
class MetricChart;
class QComboBox;
class ResultsModel;
class SizeQualityChart;

/// Size against quality for the current model (estimates from the Advise page, measurements
/// from the results), the memory breakdown per quant and PPL/KLD against bits per weight, each
/// exportable as PNG, PDF or SVG.
class ChartsPage : public QWidget
{
    Q_OBJECT

public:
    ChartsPage(ResultsModel *results, QWidget *parent = nullptr);

    void setAdviceData(const AdviceChartData &data);

private:
    void refresh();
    void refreshModelChoice();
    void exportChart();

    ResultsModel *m_results;
    AdviceChartData m_advice;
    SizeQualityChart *m_sizeQuality;
    MemoryBreakdownChart *m_memory;
    MetricChart *m_metric;
    QComboBox *m_modelChoice;
    QComboBox *m_metricChoice;
    QComboBox *m_exportChoice;
};
