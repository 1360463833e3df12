#include "uitestsupport.h"

#include <QImage>
#include <QProcess>
#include <QSet>
#include <QTest>

class TestUiScreenshot : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void writesPngOfWindowSize_data();
    void writesPngOfWindowSize();
    void rejectsUnknownPage();
    void machineNeedsAKnownPreset();

private:
    QTemporaryDir m_dir;
};

void TestUiScreenshot::initTestCase()
{
    QVERIFY(m_dir.isValid());
    isolateAppFolders(m_dir);
}

void TestUiScreenshot::writesPngOfWindowSize_data()
{
    QTest::addColumn<QString>("page");
    for (const char *page : {"advise", "convert", "measure", "charts"})
        QTest::newRow(page) << QString::fromLatin1(page);
}

void TestUiScreenshot::writesPngOfWindowSize()
{
    QFETCH(QString, page);
    const QString file = m_dir.filePath(page + QStringLiteral(".png"));
    QProcess p;
    p.setProcessEnvironment(QProcessEnvironment::systemEnvironment());
    p.start(QStringLiteral(QUANTFIT_GUI_PATH),
            {QStringLiteral("--screenshot"), file, QStringLiteral("--page"), page,
             QStringLiteral("--ram"), QStringLiteral("64"), QStringLiteral("--model"),
             QStringLiteral("llama-3.1-70b"), QStringLiteral("--size"), QStringLiteral("1000x700")});
    QVERIFY(p.waitForFinished(120000));
    QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, p.readAllStandardError().constData());

    const QImage image(file);
    QVERIFY(!image.isNull());
    QCOMPARE(image.size(), QSize(1000, 700)); // the window's size
    // Not blank: a rendered page has text, frames and colours, i.e. many distinct pixels.
    QSet<QRgb> colours;
    for (int y = 0; y < image.height(); y += 3)
        for (int x = 0; x < image.width(); x += 3)
            colours.insert(image.pixel(x, y));
    QVERIFY2(colours.size() > 20, qPrintable(QString::number(colours.size())));
}

void TestUiScreenshot::rejectsUnknownPage()
{
    QProcess p;
    p.start(QStringLiteral(QUANTFIT_GUI_PATH),
            {QStringLiteral("--screenshot"), m_dir.filePath(QStringLiteral("x.png")),
             QStringLiteral("--page"), QStringLiteral("nowhere")});
    QVERIFY(p.waitForFinished(60000));
    QCOMPARE(p.exitCode(), 1);
    QVERIFY(p.readAllStandardError().contains("unknown page 'nowhere'"));
    QVERIFY(!QFile::exists(m_dir.filePath(QStringLiteral("x.png"))));
}

// --machine selects a preset of the Advise page's placement tab; an unknown id is an error that
// names it, and nothing is written.
void TestUiScreenshot::machineNeedsAKnownPreset()
{
    const QString file = m_dir.filePath(QStringLiteral("machine.png"));
    QProcess p;
    p.start(QStringLiteral(QUANTFIT_GUI_PATH),
            {QStringLiteral("--screenshot"), file, QStringLiteral("--page"), QStringLiteral("advise"),
             QStringLiteral("--model"), QStringLiteral("gpt-oss-20b"), QStringLiteral("--machine"),
             QStringLiteral("strix-halo-128"), QStringLiteral("--size"), QStringLiteral("1000x700")});
    QVERIFY(p.waitForFinished(120000));
    QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
    QCOMPARE(QImage(file).size(), QSize(1000, 700));

    const QString bad = m_dir.filePath(QStringLiteral("bad.png"));
    p.start(QStringLiteral(QUANTFIT_GUI_PATH),
            {QStringLiteral("--screenshot"), bad, QStringLiteral("--machine"), QStringLiteral("no-such-box")});
    QVERIFY(p.waitForFinished(120000));
    QCOMPARE(p.exitCode(), 1);
    QVERIFY(p.readAllStandardError().contains("unknown machine 'no-such-box'"));
    QVERIFY(!QFile::exists(bad));
}

QTEST_MAIN(TestUiScreenshot)
#include "testscreenshot.moc"
