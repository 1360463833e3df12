#include "chartspage.h"

#include "charts/memorybreakdownchart.h"
#include "charts/metricchart.h"
#include "charts/sizequalitychart.h"
#include "models/resultsmodel.h"
#include "util/units.h"

#include <QBoxLayout>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>

#include <map>

ChartsPage::ChartsPage(ResultsModel *results, QWidget *parent)
    : QWidget(parent)
    , m_results(results)
    , m_sizeQuality(new SizeQualityChart(this))
    , m_memory(new MemoryBreakdownChart(this))
    , m_metric(new MetricChart(this))
    , m_modelChoice(new QComboBox(this))
    , m_metricChoice(new QComboBox(this))
    , m_exportChoice(new QComboBox(this))
{
    // Names for tests and accessibility tools, which find the widgets by them.
    m_sizeQuality->setObjectName(QStringLiteral("sizeQuality"));
    m_memory->setObjectName(QStringLiteral("memory"));
    m_metric->setObjectName(QStringLiteral("metric"));
    m_modelChoice->setObjectName(QStringLiteral("model"));
    m_metricChoice->setObjectName(QStringLiteral("metricChoice"));
    m_metricChoice->addItem(tr("Perplexity"));
    m_metricChoice->addItem(tr("Mean KL divergence"));
    m_metricChoice->setToolTip(tr("Quality metric to plot against bits per weight"));
    m_exportChoice->addItem(tr("Size vs quality"));
    m_exportChoice->addItem(tr("Memory breakdown"));
    m_exportChoice->addItem(tr("Quality vs bits"));

    m_modelChoice->setToolTip(tr("Whose quant levels the size/quality chart shows: the Advise page's model "
                                 "(estimates and matching measurements), or a measured model"));
    auto *bar = new QHBoxLayout;
    auto *modelLabel = new QLabel(tr("M&odel:"), this);
    modelLabel->setBuddy(m_modelChoice);
    bar->addWidget(modelLabel);
    bar->addWidget(m_modelChoice);
    auto *metricLabel = new QLabel(tr("&Quality metric:"), this);
    metricLabel->setBuddy(m_metricChoice);
    bar->addWidget(metricLabel);
    bar->addWidget(m_metricChoice);
    bar->addStretch();
    auto *exportLabel = new QLabel(tr("Chart to e&xport:"), this);
    exportLabel->setBuddy(m_exportChoice);
    bar->addWidget(exportLabel);
    bar->addWidget(m_exportChoice);
    auto *exportButton = new QPushButton(tr("&Export…"), this);
    exportButton->setToolTip(tr("Save the chosen chart as PNG, PDF%1")
                                 .arg(ChartView::svgSupported() ? tr(" or SVG") : QString()));
    bar->addWidget(exportButton);

    // Two equal halves (a splitter would size them by the charts' differing size hints).
    auto *bottom = new QWidget(this);
    auto *bottomLayout = new QHBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    bottomLayout->addWidget(m_memory, 1);
    bottomLayout->addWidget(m_metric, 1);
    auto *split = new QSplitter(Qt::Vertical, this);
    split->addWidget(m_sizeQuality);
    split->addWidget(bottom);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(bar);
    layout->addWidget(split, 1);

    connect(exportButton, &QPushButton::clicked, this, &ChartsPage::exportChart);
    connect(m_metricChoice, &QComboBox::currentIndexChanged, this, &ChartsPage::refresh);
    connect(m_modelChoice, &QComboBox::currentIndexChanged, this, &ChartsPage::refresh);
    connect(m_results, &ResultsModel::resultsChanged, this, [this] {
        refreshModelChoice();
        refresh();
    });
    refreshModelChoice();
    refresh();
}

void ChartsPage::refreshModelChoice()
{
    const QSignalBlocker block(m_modelChoice);
    const QString current = m_modelChoice->currentData().toString();
    m_modelChoice->clear();
    m_modelChoice->addItem(tr("As on the Advise page"), QString());
    QStringList names;
    for (const auto &r : m_results->records())
        if (!r.modelName.isEmpty() && !names.contains(r.modelName))
            names << r.modelName;
    for (const QString &n : names)
        m_modelChoice->addItem(tr("Measured: %1").arg(n), n);
    m_modelChoice->setCurrentIndex(std::max(0, m_modelChoice->findData(current)));
}

void ChartsPage::setAdviceData(const AdviceChartData &data)
{
    m_advice = data;
    refresh();
}

// Measurements of the model the Advise page shows (by general.name); when none match, all of
// them, so a measurement is never hidden.
static QList<QuantFit::MeasurementRecord> relevant(const QList<QuantFit::MeasurementRecord> &all,
                                                  const QString &name)
{
    QList<QuantFit::MeasurementRecord> out;
    for (const auto &r : all)
        if (!name.isEmpty() && r.modelName == name)
            out.append(r);
    return out.isEmpty() ? all : out;
}

void ChartsPage::refresh()
{
    // A measured model chosen explicitly: its measurements only, without the Advise estimates.
    const QString chosen = m_modelChoice->currentData().toString();
    const QString modelName = chosen.isEmpty() ? m_advice.modelName : chosen;
    const QList<QuantFit::MeasurementRecord> records = relevant(m_results->records(), modelName);

    // Measured quality loss needs a full-precision run of the same model, text and context.
    // One point per file, its newest measurement (records are newest first), at the file's own
    // size: a budget-fitted file ("fit ~Q3_K_L", general.file_type only the nearest standard
    // mix) is its own point between the standard mixes, never merged with Q3_K_L.
    QList<ChartQuantPoint> points = chosen.isEmpty() ? m_advice.quants : QList<ChartQuantPoint>{};
    QStringList plottedPaths;
    for (const auto &r : records) {
        if (r.modelName != modelName || modelName.isEmpty())
            continue;
        if (plottedPaths.contains(r.modelPath))
            continue;
        std::optional<double> ratio;
        if (r.kld && r.kld->pplRatio > 0)
            ratio = r.kld->pplRatio;
        if (!ratio) {
            for (const auto &b : records) {
                if ((b.fileType == u"F32" || b.fileType == u"F16" || b.fileType == u"BF16")
                    && b.modelName == r.modelName && b.textSource == r.textSource
                    && b.nCtx == r.nCtx && b.nChunks == r.nChunks && b.ppl > 0) {
                    ratio = r.ppl / b.ppl;
                    break;
                }
            }
        }
        if (!ratio)
            continue;
        ChartQuantPoint p;
        p.name = r.fileType;
        p.sizeBytes = r.fileBytes;
        p.bitsPerWeight = r.bitsPerWeight;
        p.qualityLossPct = (*ratio - 1.0) * 100.0;
        p.measured = true;
        p.tooltip = tr("%1 (measured)\n%2\nPerplexity %3 ± %4 (%5%6%)\nSize %7")
                        .arg(r.fileType, QFileInfo(r.modelPath).fileName())
                        .arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4)
                        .arg(p.qualityLossPct >= 0 ? QStringLiteral("+") : QString())
                        .arg(p.qualityLossPct, 0, 'f', 2)
                        .arg(QuantFit::formatBytes(std::uint64_t(r.fileBytes)));
        points.append(p);
        plottedPaths << r.modelPath;
    }
    if (chosen.isEmpty())
        m_sizeQuality->setData(m_advice.modelTitle, points, m_advice.sizeLimitBytes, m_advice.limitLabel);
    else
        m_sizeQuality->setData(tr("%1 — measured").arg(chosen), points, 0, {});
    m_memory->setData(m_advice.memory, m_advice.ramBytes);

    const bool kld = m_metricChoice->currentIndex() == 1;
    // Newest result per file and type (records are newest first).
    std::map<QString, ChartMetricPoint> latest;
    for (const auto &r : records) {
        if (kld && !r.kld)
            continue;
        const QString key = r.modelPath;
        if (latest.count(key))
            continue;
        ChartMetricPoint p;
        p.name = r.fileType;
        p.bitsPerWeight = r.bitsPerWeight;
        p.value = kld ? r.kld->kldMean : r.ppl;
        p.error = kld ? r.kld->kldMeanError : r.pplError;
        p.tooltip = tr("%1: %2 %3 ± %4\n%5 bits per weight\n%6")
                        .arg(r.fileType, kld ? tr("mean KLD") : tr("PPL"))
                        .arg(p.value, 0, 'f', kld ? 5 : 4).arg(p.error, 0, 'f', kld ? 5 : 4)
                        .arg(r.bitsPerWeight, 0, 'f', 2).arg(r.modelPath);
        latest.emplace(key, p);
    }
    QList<ChartMetricPoint> metricPoints;
    for (auto &[key, p] : latest)
        metricPoints.append(p);
    // Say whose measurements these are: the chosen model's, or all of them when it has none.
    QStringList measuredNames;
    bool ofThisModel = false;
    for (const auto &r : records) {
        if (!measuredNames.contains(r.modelName))
            measuredNames.append(r.modelName);
        ofThisModel = ofThisModel || (!modelName.isEmpty() && r.modelName == modelName);
    }
    QString metricTitle;
    if (!metricPoints.isEmpty())
        metricTitle = ofThisModel || modelName.isEmpty()
            ? tr("Measured: %1").arg(measuredNames.join(QStringLiteral(", ")))
            : tr("Measured: %1 (none of %2 yet)").arg(measuredNames.join(QStringLiteral(", ")), modelName);
    m_metric->setData(kld ? tr("Mean KL divergence") : tr("Perplexity"), metricPoints, metricTitle);
}

void ChartsPage::exportChart()
{
    ChartView *charts[] = {m_sizeQuality, m_memory, m_metric};
    const char *names[] = {"size-vs-quality", "memory-breakdown", "quality-vs-bits"};
    const int which = m_exportChoice->currentIndex();
    QSettings settings;
    const QString dir = settings.value(QStringLiteral("folders/export")).toString();
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export chart"), dir + u'/' + QLatin1String(names[which]) + QStringLiteral(".png"),
        ChartView::exportFilters().join(QStringLiteral(";;")));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("folders/export"), QFileInfo(path).absolutePath());
    QString error;
    if (!charts[which]->exportTo(path, &error))
        QMessageBox::warning(this, tr("Export chart"), error);
}
