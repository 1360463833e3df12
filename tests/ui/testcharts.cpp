#include "uitestsupport.h"

#include "charts/memorybreakdownchart.h"
#include "charts/metricchart.h"
#include "charts/sizequalitychart.h"
#include "models/resultsmodel.h"
#include "pages/chartspage.h"

#include <QComboBox>

#include <QFile>
#include <QImage>
#include <QTest>

class TestUiCharts : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void sizeQualityPlotsEstimatesAndMeasurements();
    void exportWritesEveryFormat_data();
    void exportWritesEveryFormat();
    void exportRejectsUnknownFormat();
    void chartsPageShowsMeasuredModel();

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
    base.fileBytes = 56e6;
    base.bitsPerWeight = 32;
    base.textSource = QStringLiteral("built-in sample");
    base.context = 128;
    base.chunks = 6;
    base.ppl = 10.0;
    base.pplError = 0.5;
    QVERIFY(!results.save(base).isEmpty());
    MeasurementRecord q4 = base;
    q4.modelPath = QStringLiteral("/m/demo-Q4_K_M.gguf");
    q4.fileType = QStringLiteral("Q4_K_M");
    q4.fileBytes = 9e6;
    q4.bitsPerWeight = 4.9;
    q4.ppl = 10.5; // +5 % over the base
    QVERIFY(!results.save(q4).isEmpty());

    ChartsPage page(&results);
    auto *choice = page.findChild<QComboBox *>();
    QVERIFY(choice);
    const int index = choice->findData(QStringLiteral("demo"));
    QVERIFY(index > 0);
    choice->setCurrentIndex(index);
    // Both measurements are plotted (filled), nothing estimated.
    QCOMPARE(page.sizeQualityChart()->pointCount(), 2);
    QCOMPARE(page.metricChart()->pointCount(), 2);
}

QTEST_MAIN(TestUiCharts)
#include "testcharts.moc"
