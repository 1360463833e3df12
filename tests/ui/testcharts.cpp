#include "uitestsupport.h"

#include "charts/memorybreakdownchart.h"
#include "charts/metricchart.h"
#include "charts/sizequalitychart.h"
#include "models/resultsmodel.h"
#include "pages/chartspage.h"

#include <QComboBox>
#include <qcustomplot.h>

#include <QDateTime>
#include <QFile>
#include <QImage>
#include <QTest>

#include <cmath>

using QuantFit::MeasurementRecord;

class TestUiCharts : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void sizeQualityPlotsEstimatesAndMeasurements();
    void crowdedLabelsDoNotOverlap();
    void exportWritesEveryFormat_data();
    void exportWritesEveryFormat();
    void exportRejectsUnknownFormat();
    void chartsPageShowsMeasuredModel();
    void fittedFileIsItsOwnLabelledPoint();

private:
    QTemporaryDir m_dir;
};

void TestUiCharts::initTestCase()
{
    QVERIFY(m_dir.isValid());
    isolateAppFolders(m_dir);
}

static QList<ChartQuantPoint> samplePoints()
{
    QList<ChartQuantPoint> points;
    points.append({QStringLiteral("Q4_K_M"), 42.5e9, 4.85, 1.2, false, true, QStringLiteral("Q4_K_M estimate")});
    points.append({QStringLiteral("Q8_0"), 75e9, 8.5, 0.1, false, false, QStringLiteral("Q8_0 estimate")});
    points.append({QStringLiteral("Q4_K_M"), 42.6e9, 4.85, 1.4, true, false, QStringLiteral("Q4_K_M measured")});
    return points;
}

void TestUiCharts::sizeQualityPlotsEstimatesAndMeasurements()
{
    SizeQualityChart chart;
    chart.setData(QStringLiteral("Llama 3.1 70B"), samplePoints(), 50e9, QStringLiteral("64 GB"));
    // 2 estimates + 1 measurement + 1 recommendation ring.
    QCOMPARE(chart.pointCount(), 4);
}

// The Qwen2.5 14B cluster at 32 GB: Q4_K_S .. Q5_K_M within 2 GB and 3 points of quality, the
// recommended Q6_K beside them, a measured point in the middle and the RAM limit caption. At
// two widget sizes, no two texts may overlap and no label may cover another point's marker.
void TestUiCharts::crowdedLabelsDoNotOverlap()
{
    QList<ChartQuantPoint> points;
    const struct {
        const char *name;
        double gb, loss;
        bool recommended;
    } levels[] = {{"Q2_K", 5.8, 43.8, false}, {"Q3_K_S", 6.7, 16.0, false}, {"Q3_K_M", 7.3, 8.6, false},
                  {"Q4_K_S", 8.6, 3.0, false}, {"Q4_K_M", 9.0, 2.4, false}, {"Q5_K_S", 10.3, 1.0, false},
                  {"Q5_K_M", 10.5, 0.8, false}, {"Q6_K", 12.1, 0.3, true}, {"Q8_0", 15.7, 0.1, false},
                  {"F16", 29.5, 0.0, false}};
    for (const auto &l : levels)
        points.append({QString::fromLatin1(l.name), l.gb * 1e9, 0, l.loss, false, l.recommended, {}});
    points.append({QStringLiteral("Q4_K_M"), 9.05e9, 0, 2.0, true, false, {}});
    SizeQualityChart chart;
    chart.setData(QStringLiteral("Qwen2.5 14B"), points, 25.4e9, QStringLiteral("largest file that fits"));
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    for (const QSize size : {QSize(1200, 420), QSize(800, 360)}) {
        chart.resize(size);
        QTRY_COMPARE(chart.plot()->size(), size);
        chart.plot()->replot();
        QList<QRectF> texts;
        QStringList names;
        for (int i = 0; i < chart.plot()->itemCount(); ++i) {
            auto *t = qobject_cast<QCPItemText *>(chart.plot()->item(i));
            if (!t || t->text().isEmpty())
                continue;
            // The text's own box, without the padding that holds it off its point, less the
            // pixel of line spacing above and below the glyphs (the font's leading).
            QRectF box = QRectF(t->topLeft->pixelPosition(), t->bottomRight->pixelPosition()).normalized();
            const QMargins pad = t->padding();
            box = box.adjusted(pad.left(), pad.top() + 1, -pad.right(), -pad.bottom() - 1);
            texts.append(box);
            names.append(t->text());
        }
        QCOMPARE(texts.size(), 11); // ten level labels + the limit caption
        for (int i = 0; i < texts.size(); ++i)
            for (int j = i + 1; j < texts.size(); ++j)
                QVERIFY2(!texts[i].intersects(texts[j]),
                         qPrintable(QStringLiteral("%1 overlaps %2 at %3x%4").arg(names[i], names[j])
                                        .arg(size.width()).arg(size.height())));
        for (const ChartQuantPoint &p : points) {
            const QPointF c(chart.plot()->xAxis->coordToPixel(p.sizeBytes / 1e9),
                            chart.plot()->yAxis->coordToPixel(p.qualityLossPct));
            const QRectF marker(c.x() - 4, c.y() - 4, 8, 8);
            for (int i = 0; i < texts.size(); ++i)
                QVERIFY2(!texts[i].intersects(marker),
                         qPrintable(QStringLiteral("%1 covers the %2 marker at %3x%4").arg(names[i], p.name)
                                        .arg(size.width()).arg(size.height())));
        }
    }
}

void TestUiCharts::exportWritesEveryFormat_data()
{
    QTest::addColumn<QString>("suffix");
    QTest::addColumn<QByteArray>("magic");
    QTest::newRow("png") << QStringLiteral("png") << QByteArray("\x89PNG");
    QTest::newRow("pdf") << QStringLiteral("pdf") << QByteArray("%PDF");
    if (ChartView::svgSupported())
        QTest::newRow("svg") << QStringLiteral("svg") << QByteArray("<?xml");
}

void TestUiCharts::exportWritesEveryFormat()
{
    QFETCH(QString, suffix);
    QFETCH(QByteArray, magic);
    MemoryBreakdownChart chart;
    chart.resize(800, 500);
    chart.setData({{QStringLiteral("Q4_K_M"), 42e9, 2.6e9, 1e9, 6e9, true},
                   {QStringLiteral("Q8_0"), 75e9, 2.6e9, 1e9, 6e9, false}}, 64e9);
    const QString path = m_dir.filePath(QStringLiteral("chart.") + suffix);
    QString error;
    QVERIFY2(chart.exportTo(path, &error), qPrintable(error));
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    QVERIFY(f.size() > 500);
    QVERIFY(f.read(magic.size()) == magic);
}

void TestUiCharts::exportRejectsUnknownFormat()
{
    MetricChart chart;
    QString error;
    QVERIFY(!chart.exportTo(m_dir.filePath(QStringLiteral("chart.bmpx")), &error));
    QVERIFY(error.contains(QStringLiteral("bmpx")));
}

void TestUiCharts::chartsPageShowsMeasuredModel()
{
    ResultsModel results;
    MeasurementRecord base;
    base.modelPath = QStringLiteral("/m/demo-F32.gguf");
    base.modelName = QStringLiteral("demo");
    base.fileType = QStringLiteral("F32");
    base.fileBytes = 56000000;
    base.bitsPerWeight = 32;
    base.textSource = QStringLiteral("built-in sample");
    base.nCtx = 128;
    base.nChunks = 6;
    base.ppl = 10.0;
    base.pplError = 0.5;
    QVERIFY(!results.save(base).isEmpty());
    MeasurementRecord q4 = base;
    q4.modelPath = QStringLiteral("/m/demo-Q4_K_M.gguf");
    q4.fileType = QStringLiteral("Q4_K_M");
    q4.fileBytes = 9000000;
    q4.bitsPerWeight = 4.9;
    q4.ppl = 10.5; // +5 % over the base
    QVERIFY(!results.save(q4).isEmpty());

    ChartsPage page(&results);
    auto *choice = page.findChild<QComboBox *>(QStringLiteral("model"));
    QVERIFY(choice);
    const int index = choice->findData(QStringLiteral("demo"));
    QVERIFY(index > 0);
    choice->setCurrentIndex(index);
    // Both measurements are plotted (filled), nothing estimated.
    QCOMPARE(page.findChild<SizeQualityChart *>(QStringLiteral("sizeQuality"))->pointCount(), 2);
    QCOMPARE(page.findChild<MetricChart *>(QStringLiteral("metric"))->pointCount(), 2);
}

// A budget-fitted file measured on the Measure page ("fit ~Q3_K_L": general.file_type is the
// nearest standard mix, Q3_K_L, plus a quantize.recipe note) shows on the size/quality chart
// among the Advise page's standard mixes: one filled point of its own, at its own size between
// Q3_K_M and Q4_K_M, labelled with its name, not merged with Q3_K_L's estimate; measured twice,
// it is still one point (the newest run).
void TestUiCharts::fittedFileIsItsOwnLabelledPoint()
{
    ResultsModel results;
    const QDateTime t0 = QDateTime::fromString(QStringLiteral("2026-12-01T10:00:00Z"), Qt::ISODate);
    auto record = [&](const QString &file, const QString &type, double bytes, double ratio,
                      int minutes) {
        MeasurementRecord r;
        r.modelPath = QStringLiteral("/m/") + file;
        r.modelName = QStringLiteral("fit-chart-model");
        r.fileType = type;
        r.fileBytes = bytes;
        r.bitsPerWeight = 8.0 * bytes / 70.6e9;
        r.textSource = QStringLiteral("built-in sample");
        r.nCtx = 128;
        r.nChunks = 16;
        r.ppl = 10.0 * ratio;
        QuantFit::KldSummary k;
        k.pplRatio = ratio;
        k.kldMean = (ratio - 1.0) / 2;
        r.kld = k;
        r.date = t0.addSecs(60 * minutes);
        QVERIFY(!results.save(r).isEmpty());
    };
    record(QStringLiteral("m-Q3_K_M.gguf"), QStringLiteral("Q3_K_M"), 34.3e9, 1.060, 0);
    record(QStringLiteral("m-Q4_K_M.gguf"), QStringLiteral("Q4_K_M"), 42.5e9, 1.025, 1);
    record(QStringLiteral("m-Q3_K_L-fit-38.30GB.gguf"), QStringLiteral("fit ~Q3_K_L"), 38.3e9, 1.050, 2);
    record(QStringLiteral("m-Q3_K_L-fit-38.30GB.gguf"), QStringLiteral("fit ~Q3_K_L"), 38.3e9, 1.040, 3);

    ChartsPage page(&results);
    AdviceChartData advice;
    advice.modelTitle = QStringLiteral("Fit chart model 70B");
    advice.modelName = QStringLiteral("fit-chart-model");
    advice.quants = {{QStringLiteral("Q3_K_M"), 34.3e9, 3.9, 6.5, false, false, {}},
                     {QStringLiteral("Q3_K_L"), 37.1e9, 4.2, 5.6, false, false, {}},
                     {QStringLiteral("Q4_K_M"), 42.5e9, 4.8, 2.7, false, true, {}}};
    advice.sizeLimitBytes = 50e9;
    advice.limitLabel = QStringLiteral("64 GB");
    page.setAdviceData(advice);
    page.resize(1200, 800);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));

    auto *chart = page.findChild<SizeQualityChart *>(QStringLiteral("sizeQuality"));
    QVERIFY(chart);
    QCustomPlot *plot = chart->plot();
    plot->replot();
    QCPGraph *measured = nullptr;
    QCPGraph *estimates = nullptr;
    for (int i = 0; i < plot->graphCount(); ++i) {
        if (plot->graph(i)->name() == QStringLiteral("Measured"))
            measured = plot->graph(i);
        if (plot->graph(i)->name() == QStringLiteral("Estimate"))
            estimates = plot->graph(i);
    }
    QVERIFY(measured && estimates);
    QCOMPARE(estimates->dataCount(), 3);
    // Q3_K_M, Q4_K_M and the fitted file once (its newest run: +4 %).
    QCOMPARE(measured->dataCount(), 3);
    int atFittedSize = 0;
    for (auto it = measured->data()->constBegin(); it != measured->data()->constEnd(); ++it) {
        if (qFuzzyCompare(it->key, 38.3)) {
            ++atFittedSize;
            QVERIFY2(std::abs(it->value - 4.0) < 1e-9, qPrintable(QString::number(it->value)));
        }
    }
    QCOMPARE(atFittedSize, 1);
    QVERIFY(38.3 > 34.3 && 38.3 < 42.5);

    // Its own label, next to its own point; the standard mixes' measurements carry none (their
    // estimates' labels name them), so each standard name appears once.
    QCPItemText *fitLabel = nullptr;
    QStringList texts;
    for (int i = 0; i < plot->itemCount(); ++i) {
        auto *t = qobject_cast<QCPItemText *>(plot->item(i));
        if (!t)
            continue;
        texts << t->text();
        if (t->text() == QStringLiteral("fit ~Q3_K_L"))
            fitLabel = t;
    }
    QVERIFY2(fitLabel, qPrintable(texts.join(QStringLiteral(", "))));
    QCOMPARE(texts.count(QStringLiteral("fit ~Q3_K_L")), 1);
    QCOMPARE(texts.count(QStringLiteral("Q3_K_M")), 1);
    QCOMPARE(texts.count(QStringLiteral("Q3_K_L")), 1);
    const QPointF point(plot->xAxis->coordToPixel(38.3), plot->yAxis->coordToPixel(4.0));
    const QRectF box =
        QRectF(fitLabel->topLeft->pixelPosition(), fitLabel->bottomRight->pixelPosition()).normalized();
    const QPointF c = box.center();
    QVERIFY2(std::hypot(c.x() - point.x(), c.y() - point.y()) < 80,
             qPrintable(QStringLiteral("label at %1,%2, point at %3,%4")
                            .arg(c.x()).arg(c.y()).arg(point.x()).arg(point.y())));
}

QTEST_MAIN(TestUiCharts)
#include "testcharts.moc"
