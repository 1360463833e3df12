// Your models (ui/pages/modelspage): the same list as `quantfit-cli models` for a fake home with
// one model in each runner's store, search, Advise/Convert/Measure hand-over, a quantized model
// offering its full-precision file, a broken file shown with its error, and the whole path a
// new user takes: pick the Ollama model, convert it, add the result to (a stand-in) Ollama with
// the source's template, without anything written to a store unasked.

#include "fakestores.h"
#include "testsupport.h"
#include "uitestsupport.h"

#include "jobs/jobrunner.h"
#include "mainwindow/mainwindow.h"
#include "models/discoveredmodelsmodel.h"
#include "pages/advisepage.h"
#include "pages/convertpage.h"
#include "pages/measurepage.h"
#include "pages/modelspage.h"
#include "widgets/handoffpanel.h"

#include <QDateTime>
#include <QDirIterator>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableView>
#include <QTest>
#include <QThread>
#include <QCheckBox>
#include <QLabel>

using namespace QuantFit;
using namespace QuantFit::Test;

namespace {

QStringList snapshot(const QString &root)
{
    QStringList out;
    QDirIterator it(root, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        out << QStringLiteral("%1 %2 %3")
                   .arg(it.filePath())
                   .arg(it.fileInfo().size())
                   .arg(it.fileInfo().lastModified().toMSecsSinceEpoch());
    }
    out.sort();
    return out;
}

QStringList names(const ModelsPage &page)
{
    QStringList out;
    for (const DiscoveredModel &m : page.models())
        out << m.name;
    return out;
}

void scan(ModelsPage &page)
{
    QSignalSpy done(&page, &ModelsPage::scanFinished);
    page.refresh();
    QVERIFY(done.wait(30000));
}

} // namespace

class TestUiModelsPage : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void listsTheSameModelsAsTheCli();
    void searchNarrowsTheList();
    void aChosenModelGoesToAdviseConvertAndMeasure();
    void aBrokenFileShowsItsErrorAndNothingIsWritten();
    void pickConvertAndHandToOllama();
    void handAnHfModelToLmStudio();

private:
    QString home(const QString &rel) const { return m_home.home + QLatin1Char('/') + rel; }

    QTemporaryDir m_dir;
    FakeHome m_home;
};

void TestUiModelsPage::initTestCase()
{
    QVERIFY(m_dir.isValid());
    isolateAppFolders(m_dir);
    m_home = buildFakeHome(m_dir.filePath(QStringLiteral("home")));
    qputenv("HOME", m_home.home.toUtf8());
    qputenv("USER", "ada");
    for (const char *v : {"XDG_CACHE_HOME", "OLLAMA_MODELS", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                          "HF_HOME", "LLAMA_CACHE"})
        qunsetenv(v);
    // A stand-in ollama that records what it was asked and the Modelfile it was given.
    const QString bin = m_dir.filePath(QStringLiteral("bin"));
    writeFile(bin + QStringLiteral("/ollama"), R"(#!/bin/sh
printf '%s\n' "$@" > "$QUANTFIT_TEST_RECORD/args"
cp "$4" "$QUANTFIT_TEST_RECORD/Modelfile"
echo "success"
)");
    QVERIFY(QFile::setPermissions(bin + QStringLiteral("/ollama"), QFileDevice::ReadOwner
                                                                      | QFileDevice::WriteOwner
                                                                      | QFileDevice::ExeOwner));
    qputenv("PATH", bin.toUtf8() + ':' + qgetenv("PATH"));
    QVERIFY(QDir().mkpath(m_dir.filePath(QStringLiteral("record"))));
    qputenv("QUANTFIT_TEST_RECORD", m_dir.filePath(QStringLiteral("record")).toUtf8());
}

void TestUiModelsPage::listsTheSameModelsAsTheCli()
{
    JobRunner runner;
    ModelsPage page(&runner);
    scan(page);
    // The names `quantfit-cli models` prints for the same home (tests/cli/testclimodels.cpp).
    QCOMPARE(names(page), (QStringList{QStringLiteral("lmstudio-community/Tiny-GGUF/Tiny-F16.gguf"),
                                       QStringLiteral("lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf"),
                                       QStringLiteral("tiny:latest"),
                                       QStringLiteral("acme/Tiny-GGUF/tiny-f16.gguf"),
                                       QStringLiteral("acme_Tiny_tiny.gguf")}));
    const CliResult cli = runCli({QStringLiteral("models"), QStringLiteral("--json")});
    QCOMPARE(cli.exitCode, 0);
    for (const QString &n : names(page))
        QVERIFY2(QString::fromUtf8(cli.out).contains(QStringLiteral("\"name\": \"%1\"").arg(n)), qPrintable(n));
    auto *table = page.findChild<QTableView *>(QStringLiteral("modelsTable"));
    QCOMPARE(table->model()->rowCount(), 5);
    const QAbstractItemModel *m = table->model();
    QCOMPARE(m->data(m->index(2, DiscoveredModelsModel::Source)).toString(), QStringLiteral("Ollama"));
    QCOMPARE(m->data(m->index(2, DiscoveredModelsModel::Architecture)).toString(), QStringLiteral("llama"));
    QCOMPARE(m->data(m->index(2, DiscoveredModelsModel::Parameters)).toString(), QStringLiteral("75.5 K"));
    QCOMPARE(m->data(m->index(2, DiscoveredModelsModel::Type)).toString(), QStringLiteral("F16"));
    QCOMPARE(m->data(m->index(2, DiscoveredModelsModel::Context)).toString(), QStringLiteral("256"));
    QCOMPARE(m->data(m->index(2, DiscoveredModelsModel::Path)).toString(), m_home.ollamaBlob);
    auto *status = page.findChild<QLabel *>(QStringLiteral("modelsStatus"));
    QVERIFY2(status->text().startsWith(QStringLiteral("5 models in LM Studio, Ollama, HF cache, llama.cpp cache")),
             qPrintable(status->text()));
}

void TestUiModelsPage::searchNarrowsTheList()
{
    JobRunner runner;
    ModelsPage page(&runner);
    scan(page);
    auto *table = page.findChild<QTableView *>(QStringLiteral("modelsTable"));
    page.setSearchText(QStringLiteral("ollama"));
    QCOMPARE(table->model()->rowCount(), 1);
    page.setSearchText(QStringLiteral("tiny q8_0"));
    QCOMPARE(table->model()->rowCount(), 1);
    page.setSearchText(QStringLiteral("F16 acme"));
    QCOMPARE(table->model()->rowCount(), 2);
    page.setSearchText(QStringLiteral("nothing-like-this"));
    QCOMPARE(table->model()->rowCount(), 0);
    page.setSearchText({});
    QCOMPARE(table->model()->rowCount(), 5);
    // A source switched off is not scanned.
    QSignalSpy done(&page, &ModelsPage::scanFinished);
    page.findChild<QCheckBox *>(QStringLiteral("source-ollama"))->setChecked(false);
    QVERIFY(done.wait(30000));
    QVERIFY(!names(page).contains(QStringLiteral("tiny:latest")));
    QCOMPARE(names(page).size(), 4);
    page.findChild<QCheckBox *>(QStringLiteral("source-ollama"))->setChecked(true);
    QVERIFY(done.wait(30000));
}

void TestUiModelsPage::aChosenModelGoesToAdviseConvertAndMeasure()
{
    MainWindow window;
    auto *page = window.findChild<ModelsPage *>();
    QVERIFY(page);
    scan(*page);
    // The quantized LM Studio model offers its F16 sibling; Convert takes the sibling, and as it
    // lies in LM Studio's folder the output goes to QuantFit's folder, not into the store.
    QVERIFY(page->selectModel(m_home.lmStudioQuantized));
    auto *useSibling = page->findChild<QPushButton *>(QStringLiteral("useSibling"));
    QVERIFY(!useSibling->isHidden());
    QVERIFY(page->findChild<QLabel *>(QStringLiteral("modelDetails"))->text().contains(
        QStringLiteral("full-precision file is here too")));
    auto *convertPage = window.findChild<ConvertPage *>();
    QTest::mouseClick(page->findChild<QPushButton *>(QStringLiteral("convertModel")), Qt::LeftButton);
    QCOMPARE(window.currentPage(), MainWindow::Page::Convert);
    QCOMPARE(convertPage->sourcePath(), m_home.lmStudioModel);
    QCOMPARE(convertPage->findChild<QLineEdit *>(QStringLiteral("outputFolder"))->text(),
             home(QStringLiteral("Documents/QuantFit")));
    QTRY_VERIFY_WITH_TIMEOUT(!convertPage->isLoading(), 30000);

    // Advise for this exact file.
    window.showPage(MainWindow::Page::Models);
    QVERIFY(page->selectModel(m_home.hfModel));
    QTest::mouseClick(page->findChild<QPushButton *>(QStringLiteral("adviseModel")), Qt::LeftButton);
    QCOMPARE(window.currentPage(), MainWindow::Page::Advise);
    QTRY_COMPARE_WITH_TIMEOUT(window.findChild<AdvisePage *>()->currentModelId(), m_home.hfModel, 30000);

    // Measure.
    window.showPage(MainWindow::Page::Models);
    QVERIFY(page->selectModel(m_home.llamaCppModel));
    QTest::mouseClick(page->findChild<QPushButton *>(QStringLiteral("measureModel")), Qt::LeftButton);
    QCOMPARE(window.currentPage(), MainWindow::Page::Measure);
    QVERIFY(window.findChild<MeasurePage *>()->models().contains(m_home.llamaCppModel));
    QTRY_VERIFY_WITH_TIMEOUT(!window.isBusy(), 30000);
}

void TestUiModelsPage::aBrokenFileShowsItsErrorAndNothingIsWritten()
{
    const QString broken = home(QStringLiteral(".cache/llama.cpp/broken.gguf"));
    writeFile(broken, "GGUF\x03\x00\x00\x00 cut short");
    const QStringList before = snapshot(m_home.home);
    QThread::msleep(20);
    JobRunner runner;
    ModelsPage page(&runner);
    page.show(); // the first visit scans by itself
    QSignalSpy done(&page, &ModelsPage::scanFinished);
    QVERIFY(page.isScanning() || done.count() > 0);
    QVERIFY(done.count() > 0 || done.wait(30000));
    const int row = int(names(page).indexOf(QStringLiteral("broken.gguf")));
    QVERIFY(row >= 0);
    QVERIFY(!page.models()[std::size_t(row)].isReadable());
    auto *table = page.findChild<QTableView *>(QStringLiteral("modelsTable"));
    const QAbstractItemModel *m = table->model();
    QCOMPARE(m->data(m->index(row, DiscoveredModelsModel::Architecture)).toString(), QStringLiteral("unreadable"));
    QVERIFY(m->data(m->index(row, DiscoveredModelsModel::Path)).toString().contains(broken));
    QVERIFY(page.findChild<QLabel *>(QStringLiteral("modelsStatus"))->text().contains(QStringLiteral("1 cannot be read")));
    page.selectModel(broken);
    QVERIFY(!page.findChild<QPushButton *>(QStringLiteral("convertModel"))->isEnabled());
    QCOMPARE(snapshot(m_home.home), before);
    QFile::remove(broken);
}

void TestUiModelsPage::pickConvertAndHandToOllama()
{
    MainWindow window;
    window.show();
    auto *page = window.findChild<ModelsPage *>();
    auto *convertPage = window.findChild<ConvertPage *>();
    scan(*page);
    const QStringList ollamaStore = snapshot(m_home.ollamaModels);
    const QStringList lmStudioStore = snapshot(home(QStringLiteral(".lmstudio")));

    QVERIFY(page->selectModel(m_home.ollamaBlob));
    QSignalSpy ready(convertPage, &ConvertPage::sourceReady);
    QTest::mouseClick(page->findChild<QPushButton *>(QStringLiteral("convertModel")), Qt::LeftButton);
    QCOMPARE(convertPage->sourcePath(), m_home.ollamaBlob);
    QVERIFY(ready.count() > 0 || ready.wait(30000));
    convertPage->setTargets({QStringLiteral("Q8_0")});
    QCOMPARE(convertPage->request().outputFolder, home(QStringLiteral("Documents/QuantFit")));
    QSignalSpy converted(convertPage, &ConvertPage::conversionFinished);
    convertPage->startConversion();
    QVERIFY(converted.wait(120000));
    QVERIFY2(converted.first().at(0).toBool(), "conversion failed");
    const QStringList outputs = converted.first().at(1).toStringList();
    QCOMPARE(outputs.size(), 1);
    QVERIFY(outputs[0].startsWith(home(QStringLiteral("Documents/QuantFit/"))));

    // The conversion is offered for hand-off, named after the Ollama model it came from.
    HandoffPanel *panel = page->handoffPanel();
    QCOMPARE(panel->subject(), outputs[0]);
    QCOMPARE(panel->ollamaName(), QStringLiteral("tiny-latest-q8_0"));
    QSignalSpy handed(panel, &HandoffPanel::handoffFinished);
    QTest::mouseClick(panel->findChild<QPushButton *>(QStringLiteral("addToOllama")), Qt::LeftButton);
    QVERIFY(handed.wait(30000));
    QCOMPARE(handed.first().at(0).toString(), QStringLiteral("ollama"));
    QVERIFY2(handed.first().at(1).toBool(), qPrintable(panel->logText()));
    const QString record = m_dir.filePath(QStringLiteral("record"));
    const QByteArray args = fileContent(record + QStringLiteral("/args"));
    QVERIFY2(args.startsWith("create\ntiny-latest-q8_0:latest\n-f\n"), args.constData());
    QCOMPARE(fileContent(record + QStringLiteral("/Modelfile")),
             "FROM " + outputs[0].toUtf8() + "\n"
             "TEMPLATE \"{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT:\"\n"
             "SYSTEM You are \"tiny\".\n"
             "PARAMETER num_ctx 2048\n"
             "PARAMETER stop USER:\n"
             "PARAMETER stop </s>\n"
             "PARAMETER temperature 0.7\n");
    QVERIFY(panel->logText().contains(QStringLiteral("Added to Ollama as tiny-latest-q8_0:latest")));
    QTRY_VERIFY_WITH_TIMEOUT(!window.isBusy(), 30000);
    // Nothing was written to a store: the stand-in ollama adds nothing, and no conversion
    // output went next to its source.
    QCOMPARE(snapshot(m_home.ollamaModels), ollamaStore);
    QCOMPARE(snapshot(home(QStringLiteral(".lmstudio"))), lmStudioStore);
}

void TestUiModelsPage::handAnHfModelToLmStudio()
{
    JobRunner runner;
    ModelsPage page(&runner);
    scan(page);
    QVERIFY(page.selectModel(m_home.hfModel));
    HandoffPanel *panel = page.handoffPanel();
    QCOMPARE(panel->findChild<QLineEdit *>(QStringLiteral("lmStudioPublisher"))->text(), QStringLiteral("acme"));
    QCOMPARE(panel->findChild<QLineEdit *>(QStringLiteral("lmStudioRepository"))->text(), QStringLiteral("Tiny-GGUF"));
    QSignalSpy handed(panel, &HandoffPanel::handoffFinished);
    QSignalSpy rescanned(&page, &ModelsPage::scanFinished);
    QTest::mouseClick(panel->findChild<QPushButton *>(QStringLiteral("addToLmStudio")), Qt::LeftButton);
    QVERIFY(handed.wait(30000));
    QVERIFY2(handed.first().at(1).toBool(), qPrintable(panel->logText()));
    const QString target = home(QStringLiteral(".lmstudio/models/acme/Tiny-GGUF/tiny-f16.gguf"));
    QVERIFY(QFileInfo::exists(target));
    QVERIFY(panel->logText().contains(QStringLiteral("hard link")));
    // The list follows: the new file shows as an LM Studio model.
    QVERIFY(rescanned.wait(30000));
    QVERIFY(names(page).contains(QStringLiteral("acme/Tiny-GGUF/tiny-f16.gguf")));
    QVERIFY(page.selectModel(target));
    QCOMPARE(page.selectedModel()->source, ModelSource::LmStudio);
    QFile::remove(target);
}

QTEST_MAIN(TestUiModelsPage)
#include "testmodelspage.moc"
