#include "mainwindow.h"

#include "jobs/job.h"
#include "jobs/jobrunner.h"
#include "models/resultsmodel.h"
#include "pages/advisepage.h"
#include "pages/chartspage.h"
#include "pages/convertpage.h"
#include "pages/measurepage.h"
#include "pages/modelspage.h"
#include "widgets/jobprogresswidget.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>

static constexpr int kMaxRecent = 8;

static QString droppedGguf(const QMimeData *mime)
{
    if (!mime || !mime->hasUrls())
        return {};
    for (const QUrl &url : mime->urls()) {
        if (url.isLocalFile() && url.toLocalFile().endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive))
            return url.toLocalFile();
    }
    return {};
}

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
    , m_runner(new JobRunner(this))
    , m_results(new ResultsModel({}, this))
    , m_tabs(new QTabWidget(this))
{
    setWindowTitle(tr("QuantFit"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/quantfit.svg")));
    m_advise = new AdvisePage(this);
    m_convert = new ConvertPage(m_runner, this);
    m_measure = new MeasurePage(m_runner, m_results, this);
    m_charts = new ChartsPage(m_results, this);
    m_models = new ModelsPage(m_runner, this);
    // Measured quality replaces the published estimates on the Advise page.
    const auto measured = [this] { m_advise->setMeasurements(m_results->qualityMeasurements()); };
    connect(m_results, &ResultsModel::resultsChanged, this, measured);
    measured();
    m_tabs->setDocumentMode(true);
    m_tabs->addTab(m_advise, tr("&Advise"));
    m_tabs->addTab(m_convert, tr("C&onvert"));
    m_tabs->addTab(m_measure, tr("&Measure"));
    m_tabs->addTab(m_charts, tr("Char&ts"));
    m_tabs->addTab(m_models, tr("&Your models"));
    m_tabs->setTabToolTip(0, tr("Which quant of which model fits your RAM, with how much context"));
    m_tabs->setTabToolTip(1, tr("Quantize a GGUF file into one or more quant levels"));
    m_tabs->setTabToolTip(2, tr("Measure perplexity and KL divergence of quantized models"));
    m_tabs->setTabToolTip(3, tr("Size against quality, memory breakdown, measured results"));
    m_tabs->setTabToolTip(4, tr("The GGUF models already on this machine (LM Studio, Ollama, "
                                "Hugging Face and llama.cpp caches), and handing files to a runner"));
    setCentralWidget(m_tabs);

    m_indicator = new JobProgressWidget(true, this);
    m_indicator->setObjectName(QStringLiteral("jobIndicator"));
    m_indicator->setVisible(false);
    statusBar()->addPermanentWidget(m_indicator, 1);
    connect(m_runner, &JobRunner::jobStarted, this, [this](Job *job) { m_indicator->attach(job); });

    connect(m_advise, &AdvisePage::convertRequested, this,
            [this](const QString &fileType, const QString &source) {
                m_convert->prefill(fileType, source);
                showPage(Page::Convert);
            });
    connect(m_advise, &AdvisePage::fitRequested, this,
            [this](const AdvisePage::FitRequest &fit) {
                if (!fit.sourcePath.isEmpty())
                    m_convert->setSource(fit.sourcePath);
                m_convert->fitToMachine(fit.ramBytes, fit.contextTokens, fit.kvType,
                                        fit.reserveBytes, fit.flashAttention);
                showPage(Page::Convert);
            });
    connect(m_advise, &AdvisePage::chartDataChanged, m_charts, &ChartsPage::setAdviceData);
    connect(m_convert, &ConvertPage::measureRequested, this,
            [this](const QStringList &paths, const QString &base) {
        m_measure->setBaseModel(base);
        for (const QString &p : paths)
            m_measure->addModel(p);
        showPage(Page::Measure);
    });
    connect(m_convert, &ConvertPage::fileOpened, this, &MainWindow::addRecentFile);
    connect(m_models, &ModelsPage::adviseRequested, this, [this](const QString &path) {
        showPage(Page::Advise);
        m_advise->openGguf(path);
    });
    connect(m_models, &ModelsPage::convertRequested, this,
            [this](const QString &path, const QString &outputFolder) {
                m_convert->setSource(path);
                if (!outputFolder.isEmpty())
                    m_convert->setOutputDir(outputFolder);
                showPage(Page::Convert);
            });
    connect(m_models, &ModelsPage::measureRequested, this, [this](const QString &path) {
        m_measure->addModel(path);
        showPage(Page::Measure);
    });
    connect(m_convert, &ConvertPage::conversionFinished, this,
            [this](bool success, const QStringList &outputs) {
                if (!success || outputs.isEmpty())
                    return;
                m_models->offerHandoff(outputs, m_convert->sourcePath());
                statusBar()->showMessage(tr("Converted. To run it in Ollama or LM Studio, use "
                                            "\"Hand off\" on the Your models page."), 10000);
            });
    connect(m_measure, &MeasurePage::fileOpened, this, &MainWindow::addRecentFile);
    connect(m_advise, &AdvisePage::fileOpened, this, &MainWindow::addRecentFile);
    connect(m_advise, &AdvisePage::idle, this, &MainWindow::emitIdleWhenDone);
    connect(m_convert, &ConvertPage::loadingFinished, this, &MainWindow::emitIdleWhenDone);
    connect(m_runner, &JobRunner::busyChanged, this, &MainWindow::emitIdleWhenDone);
    connect(m_models, &ModelsPage::scanFinished, this, &MainWindow::emitIdleWhenDone);

    createMenus();
    setAcceptDrops(true);
    qApp->installEventFilter(this);
    restoreSettings();
    m_advise->publishChartData();
}

MainWindow::~MainWindow()
{
    qApp->removeEventFilter(this);
    m_runner->shutdown();
}

void MainWindow::createMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *open = file->addAction(tr("&Open model…"), this, &MainWindow::openModelDialog);
    open->setShortcut(QKeySequence::Open);
    open->setToolTip(tr("Open a GGUF model file"));
    m_recentMenu = file->addMenu(tr("Open &recent"));
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu *view = menuBar()->addMenu(tr("&View"));
    const QString names[] = {tr("&Advise"), tr("C&onvert"), tr("&Measure"), tr("Char&ts"),
                             tr("&Your models")};
    for (int i = 0; i < 5; ++i) {
        QAction *a = view->addAction(names[i], this, [this, i] { m_tabs->setCurrentIndex(i); });
        a->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)));
    }

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About QuantFit"), this, &MainWindow::showAbout);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::showAbout()
{
    QMessageBox::about(
        this, tr("About QuantFit"),
        tr("<h3>QuantFit %1</h3>"
           "<p>Which quant of which model fits your RAM, converting GGUF files, and measuring "
           "what quantization costs in quality.</p>"
           "<p>Qt %2 (built with %3)<br>QCustomPlot 2.1<br>Compiler: GCC %4</p>")
            .arg(QStringLiteral(QUANTFIT_VERSION), QString::fromLatin1(qVersion()),
                 QStringLiteral(QT_VERSION_STR), QStringLiteral(__VERSION__)));
}

void MainWindow::openModelDialog()
{
    QSettings settings;
    const QString dir = settings.value(QStringLiteral("folders/open")).toString();
    const QString path = QFileDialog::getOpenFileName(this, tr("Open GGUF model"), dir,
                                                      tr("GGUF models (*.gguf);;All files (*)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("folders/open"), QFileInfo(path).absolutePath());
    openModel(path);
}

void MainWindow::openModel(const QString &path)
{
    switch (currentPage()) {
    case Page::Convert:
        m_convert->setSource(path);
        break;
    case Page::Measure:
        m_measure->addModel(path);
        break;
    case Page::Advise:
    case Page::Charts:
    case Page::Models:
        showPage(Page::Advise);
        m_advise->openGguf(path);
        break;
    }
    addRecentFile(path);
}

void MainWindow::addRecentFile(const QString &path)
{
    const QString abs = QFileInfo(path).absoluteFilePath();
    m_recentFiles.removeAll(abs);
    m_recentFiles.prepend(abs);
    while (m_recentFiles.size() > kMaxRecent)
        m_recentFiles.removeLast();
    QSettings().setValue(QStringLiteral("recentFiles"), m_recentFiles);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu()
{
    m_recentMenu->clear();
    int n = 0;
    for (const QString &path : std::as_const(m_recentFiles)) {
        ++n;
        const QString text = QStringLiteral("&%1 %2").arg(n).arg(QFileInfo(path).fileName());
        QAction *a = m_recentMenu->addAction(text, this, [this, path] { openModel(path); });
        a->setToolTip(path);
    }
    m_recentMenu->setEnabled(!m_recentFiles.isEmpty());
}

void MainWindow::showPage(Page page)
{
    m_tabs->setCurrentIndex(int(page));
}

MainWindow::Page MainWindow::currentPage() const
{
    return Page(m_tabs->currentIndex());
}

std::optional<MainWindow::Page> MainWindow::pageFromName(const QString &name)
{
    const QString n = name.toLower();
    if (n == u"advise")
        return Page::Advise;
    if (n == u"convert")
        return Page::Convert;
    if (n == u"measure")
        return Page::Measure;
    if (n == u"charts")
        return Page::Charts;
    if (n == u"models")
        return Page::Models;
    return std::nullopt;
}

QString MainWindow::adviseFor(std::optional<double> ramGb, const QString &model)
{
    if (ramGb)
        m_advise->setRamGb(*ramGb);
    if (model.isEmpty())
        return {};
    if (model.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive))
        openModel(model);
    else if (!m_advise->selectCatalogModel(model))
        return tr("unknown model id '%1'").arg(model);
    return {};
}

bool MainWindow::isBusy() const
{
    return m_advise->isBusy() || m_convert->isLoading() || m_runner->isBusy()
        || m_models->isScanning();
}

void MainWindow::emitIdleWhenDone()
{
    if (!isBusy())
        emit idle();
}

void MainWindow::restoreSettings()
{
    QSettings settings;
    if (!restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray()))
        resize(1180, 780);
    m_tabs->setCurrentIndex(settings.value(QStringLiteral("window/page"), 0).toInt());
    m_recentFiles = settings.value(QStringLiteral("recentFiles")).toStringList();
    rebuildRecentMenu();
}

void MainWindow::saveSettings()
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/page"), m_tabs->currentIndex());
    m_advise->saveSettings();
    m_convert->saveSettings();
    m_measure->saveSettings();
    m_models->saveSettings();
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (m_runner->isBusy()) {
        const auto answer = QMessageBox::question(
            this, tr("Quit QuantFit"),
            tr("A job is still running. Cancel it and quit? A conversion that is cancelled "
               "leaves no file behind."));
        if (answer != QMessageBox::Yes) {
            event->ignore();
            return;
        }
    }
    saveSettings();
    m_runner->shutdown();
    event->accept();
}

bool MainWindow::eventFilter(QObject *watched, QEvent *event)
{
    // A .gguf dropped on any widget of this window opens it, whatever the widget would do.
    if (event->type() == QEvent::DragEnter || event->type() == QEvent::DragMove
        || event->type() == QEvent::Drop) {
        auto *w = qobject_cast<QWidget *>(watched);
        auto *drop = static_cast<QDropEvent *>(event);
        if (w && w->window() == this && !droppedGguf(drop->mimeData()).isEmpty()) {
            if (event->type() == QEvent::Drop) {
                openModel(droppedGguf(drop->mimeData()));
            }
            drop->setDropAction(Qt::CopyAction);
            drop->accept();
            return true;
        }
    }
    return QMainWindow::eventFilter(watched, event);
}
