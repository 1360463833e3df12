#include "measurepage.h"

#include "charts/liveperplexitychart.h"
#include "comparepanel.h"
#include "jobs/jobrunner.h"
#include "jobs/taskjobs.h"
#include "models/resultsmodel.h"
#include "gguf/ggufreader.h"
#include "model/modelinfo.h"
#include "util/error.h"
#include "util/units.h"
#include "widgets/jobprogresswidget.h"

#include <QBoxLayout>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>

using namespace QuantFit;

MeasurePage::MeasurePage(JobRunner *runner, ResultsModel *results, QWidget *parent)
    : QWidget(parent)
    , m_runner(runner)
    , m_results(results)
    , m_models(new QListWidget(this))
    , m_addModels(new QPushButton(tr("A&dd…"), this))
    , m_removeModels(new QPushButton(tr("R&emove"), this))
    , m_base(new QLineEdit(this))
    , m_browseBase(new QPushButton(tr("Choose…"), this))
    , m_sampleText(new QRadioButton(tr("Built-&in sample text"), this))
    , m_fileText(new QRadioButton(tr("Te&xt file or archive member:"), this))
    , m_textPath(new QLineEdit(this))
    , m_browseText(new QPushButton(tr("Choose…"), this))
    , m_context(new QSpinBox(this))
    , m_chunks(new QSpinBox(this))
    , m_runButton(new QPushButton(tr("&Run"), this))
    , m_progress(new JobProgressWidget(false, this))
    , m_chart(new LivePerplexityChart(this))
    , m_live(new QLabel(this))
    , m_summary(new QLabel(this))
    , m_resultsView(new QTableView(this))
    , m_addResult(new QPushButton(tr("Add result &file…"), this))
    , m_deleteResult(new QPushButton(tr("De&lete result"), this))
    , m_compare(new ComparePanel(runner, this))
{
    // Names for tests and accessibility tools, which find the widgets by them.
    m_models->setObjectName(QStringLiteral("models"));
    m_base->setObjectName(QStringLiteral("base"));
    m_textPath->setObjectName(QStringLiteral("textFile"));
    m_runButton->setObjectName(QStringLiteral("run"));
    m_progress->setObjectName(QStringLiteral("progress"));
    m_chart->setObjectName(QStringLiteral("liveChart"));
    m_live->setObjectName(QStringLiteral("liveValue"));
    m_summary->setObjectName(QStringLiteral("summary"));
    m_resultsView->setObjectName(QStringLiteral("results"));
    m_compare->setObjectName(QStringLiteral("compare"));

    QFont big = m_runButton->font();
    big.setBold(true);
    m_runButton->setFont(big);
    m_runButton->setMinimumHeight(m_runButton->sizeHint().height() * 3 / 2);
    auto *left = new QWidget(this);
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(createModelBox(), 1);
    leftLayout->addWidget(createEvaluationBox());
    leftLayout->addWidget(m_runButton);
    leftLayout->addWidget(m_progress);
    left->setMinimumWidth(360);
    left->setMaximumWidth(460);

    m_tabs = new QTabWidget(this);
    m_tabs->addTab(createLiveTab(), tr("Live ru&n"));
    m_tabs->addTab(createResultsTab(), tr("&Saved results"));
    m_tabs->addTab(m_compare, tr("Compare o&utputs"));
    if (m_results->rowCount() > 0)
        m_tabs->setCurrentIndex(1); // nothing live yet: show what was measured before

    auto *split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(left);
    split->addWidget(m_tabs);
    split->setStretchFactor(1, 1);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(split);
    m_progress->setVisible(false);

    restoreSettings();
    connectControls();
}

//
// layout
//

QGroupBox *MeasurePage::createModelBox()
{
    auto *box = new QGroupBox(tr("Models to measure"), this);
    m_models->setToolTip(tr("Checked models are measured one after another, and used by Compare outputs"));
    auto *modelButtons = new QHBoxLayout;
    modelButtons->addWidget(m_addModels);
    modelButtons->addWidget(m_removeModels);
    modelButtons->addStretch();
    auto *layout = new QVBoxLayout(box);
    layout->addWidget(m_models);
    layout->addLayout(modelButtons);
    auto *baseRow = new QHBoxLayout;
    m_base->setPlaceholderText(tr("optional: full-precision model for KL divergence"));
    m_base->setToolTip(tr("With a base model, its logits are saved once and every model is compared "
                          "with them: mean/median/99th-percentile KLD, same-top-token rate, PPL ratio"));
    baseRow->addWidget(m_base, 1);
    baseRow->addWidget(m_browseBase);
    auto *baseLabel = new QLabel(tr("&Base model:"), this);
    baseLabel->setBuddy(m_base);
    layout->addWidget(baseLabel);
    layout->addLayout(baseRow);
    return box;
}

QGroupBox *MeasurePage::createEvaluationBox()
{
    auto *box = new QGroupBox(tr("Evaluation"), this);
    auto *form = new QFormLayout(box);
    m_sampleText->setChecked(true);
    m_sampleText->setToolTip(tr("A short English text written for QuantFit and built into the app"));
    form->addRow(m_sampleText);
    auto *textRow = new QHBoxLayout;
    m_textPath->setPlaceholderText(tr("wiki.test.raw, or wikitext-2-raw-v1.zip:wikitext-2-raw/wiki.test.raw"));
    m_textPath->setToolTip(tr("A UTF-8 text file, or ARCHIVE:MEMBER for a file inside a .zip or .tar.* archive"));
    textRow->addWidget(m_textPath, 1);
    textRow->addWidget(m_browseText);
    form->addRow(m_fileText);
    form->addRow(textRow);
    m_context->setRange(16, 32768);
    m_context->setSingleStep(64);
    m_context->setValue(256);
    m_context->setSuffix(tr(" tokens"));
    m_context->setToolTip(tr("Tokens per chunk; the second half of each chunk is scored, as llama-perplexity does"));
    m_chunks->setRange(0, 100000);
    m_chunks->setValue(0);
    m_chunks->setSpecialValueText(tr("all"));
    form->addRow(tr("&Context:"), m_context);
    form->addRow(tr("Chun&ks:"), m_chunks);
    return box;
}

// The running value over the live curve, and the summary of each finished model.
QWidget *MeasurePage::createLiveTab()
{
    QFont liveFont = m_live->font();
    liveFont.setPointSizeF(liveFont.pointSizeF() * 1.4);
    liveFont.setBold(true);
    m_live->setFont(liveFont);
    m_live->setText(tr("Perplexity: —"));
    // Wraps: one line with a long file name, PPL, KLD, speed and ETA in the large bold font was
    // 1,190 pixels wide and pushed the main window past a 1400-pixel screen.
    m_live->setWordWrap(true);
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *tab = new QWidget(this);
    auto *layout = new QVBoxLayout(tab);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_live);
    layout->addWidget(m_chart, 1);
    layout->addWidget(m_summary);
    return tab;
}

QWidget *MeasurePage::createResultsTab()
{
    m_resultsView->setModel(m_results);
    m_resultsView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_resultsView->verticalHeader()->setVisible(false);
    m_resultsView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
    m_resultsView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_resultsView->horizontalHeader()->setStretchLastSection(true);
    m_addResult->setToolTip(tr("Add a measurement saved elsewhere, e.g. the output of "
                               "quantfit-cli perplexity --json"));
    // The folder is shared with `quantfit-cli results`; the label may be cut short, the tooltip
    // holds the whole path.
    auto *folder = new QLabel(tr("Results folder: %1").arg(QDir::toNativeSeparators(m_results->folder())), this);
    folder->setToolTip(QDir::toNativeSeparators(m_results->folder()));
    folder->setTextInteractionFlags(Qt::TextSelectableByMouse);
    folder->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    auto *tab = new QWidget(this);
    auto *layout = new QVBoxLayout(tab);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_resultsView, 1);
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(folder, 1);
    buttons->addWidget(m_addResult);
    buttons->addWidget(m_deleteResult);
    layout->addLayout(buttons);
    return tab;
}

void MeasurePage::restoreSettings()
{
    QSettings settings;
    m_context->setValue(settings.value(QStringLiteral("measure/context"), 256).toInt());
    m_chunks->setValue(settings.value(QStringLiteral("measure/chunks"), 0).toInt());
    const QString text = settings.value(QStringLiteral("measure/text")).toString();
    if (!text.isEmpty()) {
        m_textPath->setText(text);
        m_fileText->setChecked(settings.value(QStringLiteral("measure/useFile"), false).toBool());
    }
}

void MeasurePage::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("measure/context"), m_context->value());
    settings.setValue(QStringLiteral("measure/chunks"), m_chunks->value());
    settings.setValue(QStringLiteral("measure/text"), m_textPath->text());
    settings.setValue(QStringLiteral("measure/useFile"), m_fileText->isChecked());
}

//
// controller
//

void MeasurePage::connectControls()
{
    connect(m_addModels, &QPushButton::clicked, this, &MeasurePage::browseModels);
    connect(m_removeModels, &QPushButton::clicked, this, [this] { qDeleteAll(m_models->selectedItems()); });
    connect(m_browseBase, &QPushButton::clicked, this, [this] {
        const QString p = QFileDialog::getOpenFileName(this, tr("Base model"), {}, tr("GGUF models (*.gguf)"));
        if (!p.isEmpty())
            setBaseModel(p);
    });
    connect(m_browseText, &QPushButton::clicked, this, &MeasurePage::browseText);
    connect(m_textPath, &QLineEdit::textEdited, this, [this] { m_fileText->setChecked(true); });
    connect(m_runButton, &QPushButton::clicked, this, &MeasurePage::startMeasurement);
    connect(m_compare, &ComparePanel::startRequested, this, &MeasurePage::startCompare);
    connect(m_compare, &ComparePanel::finished, this, &MeasurePage::compareFinished);
    connect(m_deleteResult, &QPushButton::clicked, this, &MeasurePage::deleteResult);
    connect(m_addResult, &QPushButton::clicked, this, &MeasurePage::importResultFile);
}

void MeasurePage::browseModels()
{
    QSettings s;
    const QStringList paths = QFileDialog::getOpenFileNames(this, tr("Models to measure"),
        s.value(QStringLiteral("folders/open")).toString(), tr("GGUF models (*.gguf);;All files (*)"));
    for (const QString &p : paths)
        addModel(p);
    if (!paths.isEmpty())
        s.setValue(QStringLiteral("folders/open"), QFileInfo(paths.first()).absolutePath());
}

void MeasurePage::browseText()
{
    QSettings s;
    const QString p = QFileDialog::getOpenFileName(this, tr("Evaluation text"),
        s.value(QStringLiteral("folders/text")).toString(),
        tr("Text or archive (*.txt *.raw *.zip *.tar *.tar.gz *.tgz *.tar.xz *.tar.bz2);;All files (*)"));
    if (p.isEmpty())
        return;
    s.setValue(QStringLiteral("folders/text"), QFileInfo(p).absolutePath());
    setTextSource(p);
}

void MeasurePage::deleteResult()
{
    const QModelIndex i = m_resultsView->currentIndex();
    if (!i.isValid())
        return;
    try {
        m_results->remove(i.row());
    } catch (const Error &e) {
        QMessageBox::warning(this, tr("Delete result"), e.message());
    }
}

void MeasurePage::addModel(const QString &path)
{
    if (path.isEmpty())
        return;
    const QString abs = QFileInfo(path).absoluteFilePath();
    for (int i = 0; i < m_models->count(); ++i)
        if (m_models->item(i)->data(Qt::UserRole).toString() == abs)
            return;
    // The model line names a mixture of experts, as on the other pages ("MoE: 8 experts, 2
    // active"); the headers are read without the vocabulary, so this stays quick. A file that
    // cannot be read is still listed: the measurement then says what is wrong with it.
    QString moe;
    QString architecture;
    try {
        const ModelInfo info = modelInfoFrom(GgufFile::open(abs, GgufFile::Mode::Summary));
        architecture = info.architecture;
        if (info.isMoe())
            moe = info.moeSummary();
    } catch (const std::exception &) {
    }
    const QString name = QFileInfo(abs).fileName();
    auto *item = new QListWidgetItem(moe.isEmpty() ? name : tr("%1 · %2").arg(name, moe), m_models);
    item->setData(Qt::UserRole, abs);
    item->setToolTip(architecture.isEmpty() ? abs : tr("%1\n%2").arg(abs, architecture));
    item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
    item->setCheckState(Qt::Checked);
    emit fileOpened(abs);
}

void MeasurePage::setBaseModel(const QString &path)
{
    m_base->setText(path);
}

void MeasurePage::setContext(int tokens)
{
    m_context->setValue(tokens);
}

void MeasurePage::setChunks(int chunks)
{
    m_chunks->setValue(chunks);
}

void MeasurePage::setTextSource(const QString &source)
{
    m_textPath->setText(source);
    (source.isEmpty() ? m_sampleText : m_fileText)->setChecked(true);
}

QStringList MeasurePage::models() const
{
    QStringList out;
    for (int i = 0; i < m_models->count(); ++i)
        if (m_models->item(i)->checkState() == Qt::Checked)
            out << m_models->item(i)->data(Qt::UserRole).toString();
    return out;
}

void MeasurePage::log(const QString &line)
{
    m_summary->setText(line);
}

void MeasurePage::setRunning(bool running)
{
    m_running = running;
    m_runButton->setEnabled(!running);
    m_compare->setStartEnabled(!running);
}

MeasurementRequest MeasurePage::request() const
{
    MeasurementRequest r;
    r.modelPaths = models();
    r.basePath = m_base->text().trimmed();
    r.textSource = m_fileText->isChecked() ? m_textPath->text().trimmed() : QString();
    r.nCtx = m_context->value();
    r.nChunks = m_chunks->value() == 0 ? -1 : m_chunks->value();
    r.producer = QStringLiteral("quantfit %1").arg(QStringLiteral(QUANTFIT_VERSION));
    return r;
}

void MeasurePage::startMeasurement()
{
    if (m_running)
        return;
    const MeasurementRequest r = request();
    if (r.modelPaths.isEmpty()) {
        log(tr("Add at least one model (checked) to measure."));
        return;
    }
    if (m_fileText->isChecked() && r.textSource.isEmpty()) {
        log(tr("Choose a text file, or use the built-in sample text."));
        return;
    }
    m_tabs->setCurrentIndex(0);
    m_chart->clear();
    m_summaryText.clear();
    m_live->setText(tr("Perplexity: starting…"));
    setRunning(true);

    auto *job = new MeasurementJob(r);
    connect(job, &MeasurementJob::chunkMeasured, this, &MeasurePage::showChunk);
    connect(job, &MeasurementJob::recordReady, this, &MeasurePage::keepRecord);
    connect(job, &Job::failed, this, [this](const QString &message) {
        m_summaryText += tr("<b>Failed:</b> %1").arg(message.toHtmlEscaped());
        m_summary->setText(m_summaryText);
        emit measurementFinished(false);
    });
    connect(job, &Job::cancelled, this, [this] {
        m_summaryText += tr("Cancelled.");
        m_summary->setText(m_summaryText);
        emit measurementFinished(false);
    });
    connect(job, &Job::succeeded, this, [this] { emit measurementFinished(true); });
    connect(job, &Job::finished, this, [this] { setRunning(false); });
    m_progress->attach(job);
    m_progress->setVisible(true);
    m_runner->start(job);
}

void MeasurePage::showChunk(int model, const ChunkReport &r)
{
    if (r.chunk == 1)
        m_chart->clear(); // a new model starts its curve
    m_chart->addPoint(r.chunk, r.ppl, r.pplError);
    const QStringList paths = models();
    const QString name = model < 0 ? QFileInfo(m_base->text().trimmed()).fileName()
                                   : QFileInfo(paths.value(model)).fileName();
    QString text = tr("%1 [%2/%3]  PPL %4 ± %5").arg(name).arg(r.chunk).arg(r.nChunks)
                       .arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4);
    if (r.kld)
        text += tr("   KLD %1 ± %2").arg(r.kld->kldMean, 0, 'f', 5).arg(r.kld->kldMeanError, 0, 'f', 5);
    text += tr("   %1 tok/s").arg(r.tokensPerSecond, 0, 'f', 1);
    if (r.etaSeconds >= 0)
        text += tr("   ETA %1").arg(formatDuration(r.etaSeconds));
    m_live->setText(text);
}

// Each finished model: saved at once (a later cancel keeps it) and summarised.
void MeasurePage::keepRecord(const MeasurementRecord &r)
{
    QString saved;
    QString error;
    try {
        saved = m_results->save(r);
    } catch (const Error &e) {
        error = e.message();
    }
    const QString file = QFileInfo(r.modelPath).fileName();
    m_live->setText(tr("%1: PPL %2 ± %3").arg(file).arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4));
    QString summary = tr("<b>%1</b>%2 (%3, %4 bits/weight): perplexity <b>%5 ± %6</b> over %7 "
                         "chunks of %8 tokens, %9 tokens/s.")
                          .arg(file.toHtmlEscaped(), r.isBase ? tr(" (base)") : QString(), r.fileType)
                          .arg(r.bitsPerWeight, 0, 'f', 2).arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4)
                          .arg(r.nChunks).arg(r.nCtx).arg(r.tokensPerSecond, 0, 'f', 1);
    if (r.kld) {
        const KldSummary &k = *r.kld;
        summary += tr("<br>Against the base: mean KLD <b>%1 ± %2</b>, median %3, 99th percentile %4; "
                      "PPL ratio %5; same top token %6%.")
                       .arg(k.kldMean, 0, 'f', 5).arg(k.kldMeanError, 0, 'f', 5)
                       .arg(k.kldMedian, 0, 'f', 5).arg(k.kldP99, 0, 'f', 5)
                       .arg(k.pplRatio, 0, 'f', 4).arg(k.sameTopPercent, 0, 'f', 2);
    }
    summary += saved.isEmpty() ? tr("<br>Could not save the result: %1").arg(error.toHtmlEscaped())
                               : tr("<br>Saved to %1").arg(QDir::toNativeSeparators(saved).toHtmlEscaped());
    m_summaryText += summary + QStringLiteral("<br>");
    m_summary->setText(m_summaryText);
}

void MeasurePage::importResultFile()
{
    QSettings s;
    const QStringList paths = QFileDialog::getOpenFileNames(this, tr("Add measurement results"),
        s.value(QStringLiteral("folders/results")).toString(), tr("Measurement records (*.json);;All files (*)"));
    QStringList failed;
    for (const QString &p : paths) {
        try {
            m_results->importFile(p);
        } catch (const Error &e) {
            failed << e.message();
        }
    }
    if (!paths.isEmpty())
        s.setValue(QStringLiteral("folders/results"), QFileInfo(paths.first()).absolutePath());
    if (!failed.isEmpty())
        QMessageBox::warning(this, tr("Add measurement results"), failed.join(u'\n'));
}

void MeasurePage::startCompare()
{
    if (m_running)
        return;
    Job *job = m_compare->start(models());
    m_tabs->setCurrentIndex(2);
    if (!job)
        return;
    m_progress->attach(job);
    m_progress->setVisible(true);
    setRunning(true);
    connect(job, &Job::finished, this, [this] { setRunning(false); });
}
