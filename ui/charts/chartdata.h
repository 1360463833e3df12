#pragma once

#include <QList>
#include <QString>

// Plain values the pages hand to the charts; no QCustomPlot here, so pages never see it.

/// One quant level of one model on the size/quality plane.
struct ChartQuantPoint {
    QString name;               ///< "Q4_K_M"
    double sizeBytes = 0;       ///< file size (exact prediction or measured file)
    double bitsPerWeight = 0;
    double qualityLossPct = 0;  ///< perplexity increase over full precision, percent
    bool measured = false;      ///< filled marker when measured, hollow when an estimate
    bool recommended = false;
    QString tooltip;
};

/// One stacked column of the memory breakdown.
struct ChartMemoryColumn {
    QString name;
    double weightsBytes = 0;
    double kvBytes = 0;
    double computeBytes = 0;
    double reserveBytes = 0;
    bool recommended = false;
};

/// A perplexity or KLD value against bits per weight.
struct ChartMetricPoint {
    QString name;
    double bitsPerWeight = 0;
    double value = 0;
    double error = 0;  ///< ± (0 = none)
    bool measured = true;
    QString tooltip;
};

/// Everything the Advise page publishes for the charts about the current model.
struct AdviceChartData {
    QString modelTitle;      ///< "Llama 3.1 70B", or the opened file's model name
    QString modelName;       ///< general.name of an opened GGUF (to match measurements)
    QList<ChartQuantPoint> quants;
    QList<ChartMemoryColumn> memory;
    double ramBytes = 0;
    double sizeLimitBytes = 0; ///< largest file that fits at the chosen context
    QString limitLabel;
};
