#include "convertpage.h"

#include "fitpanel.h"
#include "recipeview.h"

#include "common/apppaths.h"
#include "gguf/filetype.h"
#include "io/archivetext.h"
#include "jobs/jobrunner.h"
#include "jobs/taskjobs.h"
#include "tasks/fittask.h"
#include "util/error.h"
#include "util/units.h"
#include "widgets/calibrationbox.h"
#include "widgets/conversionoptionsbox.h"
#include "widgets/jobprogresswidget.h"
#include "widgets/planpreview.h"
#include "widgets/quanttips.h"

#include <QBoxLayout>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QTime>
#include <QTreeWidget>
#include <QUrl>
#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>

#include <utility>

using namespace QuantFit;

static QString latin(std::string_view s)
{
    return QString::fromLatin1(s.data(), qsizetype(s.size()));
}

// A target item shows the mix's name, marked when it needs an importance matrix; the bare name
// is kept in this role (settings, setTargets()).
static constexpr int kNameRole = Qt::UserRole + 1;

// A calibration text source exists: empty (the built-in sample), a file, or ARCHIVE:MEMBER whose
// archive exists (the member is checked when the job reads it).
static bool calibrationTextExists(const QString &source)
{
    return source.isEmpty() || textSourceExists(source);
}

ConvertPage::ConvertPage(JobRunner *runner, QWidget *parent)
    : QWidget(parent)
    , m_runner(runner)
    , m_sourceEdit(new QLineEdit(this))
    , m_browseSource(new QPushButton(tr("&Browse…"), this))
    , m_useDemo(new QPushButton(tr("Use &demo model"), this))
    , m_sourceInfo(new QLabel(this))
    , m_targets(new QListWidget(this))
    , m_outputEdit(new QLineEdit(this))
    , m_browseOutput(new QPushButton(tr("Choose…"), this))
    , m_calibration(new CalibrationBox(this))
    , m_options(new ConversionOptionsBox(this))
    , m_preview(new PlanPreview(this))
    , m_convertButton(new QPushButton(tr("Conve&rt"), this))
    , m_progress(new JobProgressWidget(false, this))
    , m_log(new QPlainTextEdit(this))
    , m_outcome(new QTreeWidget(this))
    , m_measureButton(new QPushButton(tr("Measure &quality"), this))
    , m_showButton(new QPushButton(tr("Sho&w in folder"), this))
    , m_recipeButton(new QPushButton(tr("Re&cipe…"), this))
    , m_fit(new FitPanel(this))
{
    m_demoOptions.name = QStringLiteral("QuantFit demo");
    m_demoPath = AppPaths::demoModelPath();
    // Names for tests and accessibility tools, which find the widgets by them.
    m_sourceEdit->setObjectName(QStringLiteral("source"));
    m_targets->setObjectName(QStringLiteral("targets"));
    m_outputEdit->setObjectName(QStringLiteral("outputFolder"));
    m_calibration->setObjectName(QStringLiteral("calibration"));
    m_options->setObjectName(QStringLiteral("advanced"));
    m_preview->setObjectName(QStringLiteral("preview"));
    m_convertButton->setObjectName(QStringLiteral("convert"));
    m_progress->setObjectName(QStringLiteral("progress"));
    m_log->setObjectName(QStringLiteral("log"));
    m_outcome->setObjectName(QStringLiteral("outcome"));

    auto *previewBox = new QGroupBox(tr("Preview (dry run)"), this);
    m_previewBox = previewBox;
    auto *previewLayout = new QVBoxLayout(previewBox);
    previewLayout->addWidget(m_preview);

    auto *left = new QWidget(this);
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(createSourceBox());
    leftLayout->addWidget(createTargetBox());
    leftLayout->addWidget(m_fit);
    leftLayout->addWidget(m_calibration);
    leftLayout->addWidget(m_options);
    leftLayout->addWidget(previewBox, 1);

    auto *split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(left);
    split->addWidget(createRunPanel());
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(split);
    m_progress->setVisible(false);

    restoreSettings();
    connectControls();
    updatePreview();
}

//
// layout
//

QGroupBox *ConvertPage::createSourceBox()
{
    auto *box = new QGroupBox(tr("Source model"), this);
    m_sourceEdit->setPlaceholderText(tr("A GGUF file (F32, F16 or BF16) — browse, drop it here, or use the demo model"));
    m_useDemo->setToolTip(tr("Generate a small synthetic LLaMA-style model (about 15 M parameters, "
                             "F32) in %1 and use it as the source").arg(QDir::toNativeSeparators(AppPaths::modelsDir())));
    auto *row = new QHBoxLayout;
    row->addWidget(m_sourceEdit, 1);
    row->addWidget(m_browseSource);
    row->addWidget(m_useDemo);
    m_sourceInfo->setWordWrap(true);
    m_sourceInfo->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *layout = new QVBoxLayout(box);
    layout->addLayout(row);
    layout->addWidget(m_sourceInfo);
    return box;
}

QGroupBox *ConvertPage::createTargetBox()
{
    auto *box = new QGroupBox(tr("Tar&get quants"), this);
    // Every file type this build writes, from the file-type table.
    int widest = 0;
    for (const FileTypeFacts &f : allFileTypes()) {
        if (!f.supported || f.fileType == FileType::Guessed)
            continue;
        const QString name = latin(f.name);
        const QString text = f.needsImatrix ? tr("%1 (imatrix)").arg(name) : name;
        auto *item = new QListWidgetItem(text, m_targets);
        item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable | Qt::ItemIsSelectable);
        item->setCheckState(Qt::Unchecked);
        item->setData(Qt::UserRole, int(f.fileType));
        item->setData(kNameRole, name);
        QString tip = quantTooltip(f.fileType);
        if (f.needsImatrix)
            tip += tr("<br><b>Needs an importance matrix</b>: give an imatrix file under "
                      "Advanced, or let QuantFit compute one from a calibration text.");
        item->setToolTip(tip);
        widest = std::max(widest, fontMetrics().horizontalAdvance(text));
    }
    m_targets->setFlow(QListView::LeftToRight);
    m_targets->setWrapping(true);
    m_targets->setResizeMode(QListView::Adjust);
    m_targets->setGridSize(QSize(widest + 44, fontMetrics().height() + 8));
    m_targets->setMaximumHeight(7 * (fontMetrics().height() + 8));
    auto *legend = new QLabel(tr("(imatrix): needs an importance matrix — an imatrix file under "
                                 "Advanced, or one computed from a calibration text."),
                              this);
    legend->setObjectName(QStringLiteral("imatrixLegend"));
    legend->setWordWrap(true);
    auto *layout = new QVBoxLayout(box);
    layout->addWidget(m_targets);
    layout->addWidget(legend);
    auto *outRow = new QHBoxLayout;
    auto *outLabel = new QLabel(tr("O&utput folder:"), this);
    outLabel->setBuddy(m_outputEdit);
    outRow->addWidget(outLabel);
    outRow->addWidget(m_outputEdit, 1);
    outRow->addWidget(m_browseOutput);
    layout->addLayout(outRow);
    m_outputEdit->setToolTip(tr("Files are named after the source and the quant: model-Q4_K_M.gguf"));
    return box;
}

// Convert button, progress, log, the outcome table and what to do with the written files.
QWidget *ConvertPage::createRunPanel()
{
    auto *panel = new QWidget(this);
    auto *layout = new QVBoxLayout(panel);
    layout->setContentsMargins(0, 0, 0, 0);
    m_convertButton->setDefault(true);
    m_convertButton->setMinimumHeight(m_convertButton->sizeHint().height() * 3 / 2);
    QFont big = m_convertButton->font();
    big.setBold(true);
    m_convertButton->setFont(big);
    layout->addWidget(m_convertButton);
    layout->addWidget(m_progress);
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(2000);
    m_log->setPlaceholderText(tr("Log"));
    layout->addWidget(m_log, 1);
    m_outcome->setHeaderLabels({tr("Written file"), tr("Predicted"), tr("Actual"), tr("Verified")});
    m_outcome->setRootIsDecorated(false);
    m_outcome->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_outcome->setMaximumHeight(8 * fontMetrics().height());
    layout->addWidget(m_outcome);
    auto *after = new QHBoxLayout;
    after->addStretch();
    after->addWidget(m_measureButton);
    after->addWidget(m_showButton);
    after->addWidget(m_recipeButton);
    layout->addLayout(after);
    m_recipeButton->setEnabled(false);
    m_recipeButton->setToolTip(tr("The written file's per-tensor types as --tensor-type-file lines, "
                                  "and its difference from another file"));
    m_measureButton->setEnabled(false);
    m_showButton->setEnabled(false);
    m_measureButton->setToolTip(tr("Open the written files on the Measure page, with the source as the base for KL divergence"));
    return panel;
}

void ConvertPage::restoreSettings()
{
    QSettings settings;
    m_outputEdit->setText(settings.value(QStringLiteral("convert/outputDir")).toString());
    setTargets(settings.value(QStringLiteral("convert/targets"), QStringList{QStringLiteral("Q4_K_M")})
                   .toStringList());
}

void ConvertPage::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("convert/outputDir"), m_outputEdit->text());
    QStringList checked;
    for (int i = 0; i < m_targets->count(); ++i)
        if (m_targets->item(i)->checkState() == Qt::Checked)
            checked << m_targets->item(i)->data(kNameRole).toString();
    settings.setValue(QStringLiteral("convert/targets"), checked);
}

// QWidget's destructor deletes the children after ours has run; a line edit losing focus then
// still emits editingFinished, whose handler would reach this half-destroyed page.
ConvertPage::~ConvertPage()
{
    m_sourceEdit->disconnect(this);
    m_outputEdit->disconnect(this);
    m_fit->disconnect(this); // its spin boxes' line edits lose focus the same way
}

//
// controller
//

void ConvertPage::connectControls()
{
    connect(m_browseSource, &QPushButton::clicked, this, &ConvertPage::browseSource);
    connect(m_useDemo, &QPushButton::clicked, this, &ConvertPage::useDemoModel);
    connect(m_browseOutput, &QPushButton::clicked, this, &ConvertPage::browseOutput);
    connect(m_sourceEdit, &QLineEdit::editingFinished, this, [this] {
        if (m_sourceEdit->text() != m_source.path)
            setSource(m_sourceEdit->text());
    });
    connect(m_targets, &QListWidget::itemChanged, this, &ConvertPage::updatePreview);
    connect(m_outputEdit, &QLineEdit::textChanged, this, &ConvertPage::updatePreview);
    connect(m_calibration, &CalibrationBox::changed, this, &ConvertPage::updatePreview);
    connect(m_options, &ConversionOptionsBox::imatrixChanged, this, &ConvertPage::loadImatrix);
    connect(m_options, &ConversionOptionsBox::optionsChanged, this, &ConvertPage::updatePreview);
    connect(m_convertButton, &QPushButton::clicked, this, &ConvertPage::startConversion);
    connect(m_fit, &FitPanel::previewRequested, this, &ConvertPage::previewFit);
    connect(m_fit, &FitPanel::changed, this, &ConvertPage::updatePreview);
    connect(m_recipeButton, &QPushButton::clicked, this, [this] {
        if (!m_finished.isEmpty())
            showRecipe(m_finished.first());
    });
    connect(m_measureButton, &QPushButton::clicked, this,
            [this] { emit measureRequested(m_finished, m_source.path); });
    connect(m_showButton, &QPushButton::clicked, this, [this] {
        if (!m_finished.isEmpty())
            QDesktopServices::openUrl(QUrl::fromLocalFile(QFileInfo(m_finished.first()).absolutePath()));
    });
}

QString ConvertPage::sourcePath() const
{
    return m_source.path;
}

void ConvertPage::log(const QString &line)
{
    m_log->appendPlainText(QTime::currentTime().toString(QStringLiteral("HH:mm:ss  ")) + line);
}

void ConvertPage::setTargets(const QStringList &fileTypes)
{
    const QSignalBlocker block(m_targets);
    for (int i = 0; i < m_targets->count(); ++i) {
        QListWidgetItem *item = m_targets->item(i);
        const bool checked = fileTypes.contains(item->data(kNameRole).toString(), Qt::CaseInsensitive);
        item->setCheckState(checked ? Qt::Checked : Qt::Unchecked);
    }
    updatePreview();
}

void ConvertPage::setOutputDir(const QString &dir)
{
    m_outputEdit->setText(dir);
}

void ConvertPage::prefill(const QString &fileType, const QString &source)
{
    setTargets({fileType});
    if (!source.isEmpty())
        setSource(source);
    else if (!m_source.file)
        m_sourceInfo->setText(tr("%1 is checked. QuantFit converts GGUF files you have: open the model's "
                                 "F16/BF16 GGUF, or try it on the demo model.").arg(fileType));
}

void ConvertPage::setDemoModelOptions(const SyntheticModelOptions &options, const QString &path)
{
    m_demoOptions = options;
    if (!path.isEmpty())
        m_demoPath = path;
}

void ConvertPage::browseSource()
{
    QSettings settings;
    const QString dir = settings.value(QStringLiteral("folders/open")).toString();
    const QString path = QFileDialog::getOpenFileName(this, tr("Source GGUF"), dir,
                                                      tr("GGUF models (*.gguf);;All files (*)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("folders/open"), QFileInfo(path).absolutePath());
    setSource(path);
}

void ConvertPage::browseOutput()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Output folder"), m_outputEdit->text());
    if (!dir.isEmpty())
        m_outputEdit->setText(dir);
}

void ConvertPage::setSource(const QString &path)
{
    m_sourceEdit->setText(path);
    m_source = LoadedModel{};
    m_source.path = path;
    m_defaultOutputFolder = path.isEmpty() ? QString() : defaultOutputFolder(path);
    if (path.isEmpty()) {
        m_sourceInfo->clear();
        updatePreview();
        return;
    }
    m_sourceInfo->setText(tr("Reading %1…").arg(QFileInfo(path).fileName()));
    loadModelAsync(path, this, [this](const LoadedModel &m) {
        if (m.path == m_sourceEdit->text())
            onSourceLoaded(m);
        emit loadingFinished();
    });
}

void ConvertPage::onSourceLoaded(const LoadedModel &model)
{
    m_source = model;
    if (!model.file) {
        m_sourceInfo->setText(tr("<b>Cannot use this file:</b> %1").arg(model.error.toHtmlEscaped()));
        log(model.error);
    } else {
        const ModelInfo &i = model.info;
        const QString type = i.fileType ? fileTypeName(*i.fileType) : fileTypeName(i.guessedFileType);
        // The label also shows rich-text errors: names from the file are escaped.
        const QString size = model.file->shardCount() > 1
            ? tr("%1 in %2 files").arg(formatBytes(model.file->totalFileSize())).arg(model.file->shardCount())
            : formatBytes(model.file->fileSize());
        const QString architecture = i.isMoe()
            ? i.architecture + QStringLiteral(" · ") + i.moeSummary()
            : i.architecture;
        m_sourceInfo->setText(tr("%1 · %2 · %3 parameters · %4 layers · %5 · %6 (%7 bits/weight)")
                                  .arg((i.name.isEmpty() ? QFileInfo(model.path).fileName() : i.name).toHtmlEscaped(),
                                       architecture.toHtmlEscaped(), formatCount(i.nParams))
                                  .arg(i.nLayers)
                                  .arg(type, size)
                                  .arg(i.bitsPerWeight(), 0, 'f', 2));
        if (m_outputEdit->text().isEmpty())
            m_outputEdit->setText(QFileInfo(model.path).absolutePath());
        emit fileOpened(model.path);
        emit sourceReady();
    }
    updatePreview();
    if (std::exchange(m_previewFitWhenReady, false) && model.file)
        previewFit();
}

ConversionRequest ConvertPage::request() const
{
    ConversionRequest r;
    r.sourcePath = m_source.path;
    for (int i = 0; i < m_targets->count(); ++i) {
        const QListWidgetItem *item = m_targets->item(i);
        if (item->checkState() == Qt::Checked)
            r.fileTypes.push_back(FileType(item->data(Qt::UserRole).toInt()));
    }
    const QString dir = m_outputEdit->text().trimmed();
    r.outputFolder = dir.isEmpty() ? m_defaultOutputFolder : dir;
    r.verify = true;
    m_options->applyTo(r);
    if (!mixesNeedingCalibration().isEmpty())
        r.calibration = m_calibration->calibration();
    return r;
}

QStringList ConvertPage::mixesNeedingCalibration() const
{
    QuantFit::ConversionRequest r;
    m_options->applyTo(r);
    if (!r.imatrixPath.isEmpty())
        return {};
    QStringList names;
    for (int i = 0; i < m_targets->count(); ++i) {
        const QListWidgetItem *item = m_targets->item(i);
        if (item->checkState() == Qt::Checked
            && fileTypeFacts(FileType(item->data(Qt::UserRole).toInt())).needsImatrix)
            names << item->data(kNameRole).toString();
    }
    return names;
}

void ConvertPage::loadImatrix()
{
    const ConversionRequest r = request();
    if (r.imatrixPath == m_imatrixPath)
        return;
    m_imatrixPath = r.imatrixPath;
    m_imatrix.reset();
    m_imatrixError.clear();
    if (r.imatrixPath.isEmpty()) {
        updatePreview();
        return;
    }
    using Loaded = std::pair<std::shared_ptr<const ImportanceMatrix>, QString>;
    auto *watcher = new QFutureWatcher<Loaded>(this);
    connect(watcher, &QFutureWatcher<Loaded>::finished, this, [this, watcher, path = r.imatrixPath] {
        watcher->deleteLater();
        if (path != m_imatrixPath)
            return; // another file was chosen meanwhile
        std::tie(m_imatrix, m_imatrixError) = watcher->result();
        updatePreview();
    });
    watcher->setFuture(QtConcurrent::run([r]() -> Loaded {
        try {
            const std::optional<ImportanceMatrix> m = loadConversionImatrix(r);
            return {m ? std::make_shared<const ImportanceMatrix>(*m) : nullptr, QString()};
        } catch (const Error &e) {
            return {nullptr, e.message()};
        }
    }));
    updatePreview();
}

ConversionPreparation ConvertPage::preparation(QString *error) const
{
    const ConversionRequest r = request();
    if (!m_imatrixError.isEmpty()) {
        *error = tr("Importance matrix: %1").arg(m_imatrixError);
        return {};
    }
    if (!r.imatrixPath.isEmpty() && !m_imatrix) {
        *error = tr("Reading the importance matrix…");
        return {};
    }
    try {
        return prepareConversion(r, *m_source.file, m_imatrix.get());
    } catch (const Error &e) {
        *error = e.message();
        return {};
    }
}

void ConvertPage::updatePreview()
{
    // With a fit, the dry-run table stays empty and the fit's recipe table needs the height: the
    // table folds away and the preview gives up its stretch (a 22-layer model's 14 recipe lines
    // showed 5 at a time over an empty preview).
    m_preview->tree()->setVisible(!m_fit->isChecked());
    if (auto *column = qobject_cast<QBoxLayout *>(m_previewBox->parentWidget()->layout()))
        column->setStretchFactor(m_previewBox, m_fit->isChecked() ? 0 : 1);
    // Plans are pure and take milliseconds, so the preview follows every change directly.
    if (m_fit->isChecked()) {
        // A fit is planned on demand (its costs take seconds), not on every change.
        m_calibration->setVisible(false);
        m_preview->setEntries({}, request().outputFolder,
                              m_source.file ? tr("Fit to a budget: one file whose types are chosen "
                                                 "per tensor; Preview recipe shows them.")
                                            : tr("Choose a source model."));
        m_convertButton->setEnabled(m_source.file && !m_busy);
        m_fit->setPreviewEnabled(m_source.file && !m_busy);
        return;
    }
    QString message;
    ConversionPreparation prep;
    const QStringList needing = mixesNeedingCalibration();
    m_calibration->setVisible(!needing.isEmpty());
    m_calibration->setMixes(needing);
    if (!m_source.file)
        message = m_source.path.isEmpty() ? tr("Choose a source model.") : tr("Reading the source…");
    else if (request().fileTypes.empty())
        message = tr("Check at least one target quant.");
    else if (!needing.isEmpty() && !m_calibration->calibration())
        message = tr("<b>%1 cannot be written without an importance matrix.</b> Choose a "
                     "calibration text (or the built-in sample) above, or an imatrix file under "
                     "Advanced.")
                      .arg(needing.join(QStringLiteral(", ")));
    else if (!needing.isEmpty() && !calibrationTextExists(m_calibration->calibration()->textSource))
        message = tr("<b>The calibration text does not exist:</b> %1")
                      .arg(m_calibration->textFile().toHtmlEscaped());
    else
        prep = preparation(&message);
    QList<PlanPreview::Entry> entries;
    for (const ConversionTarget &t : prep.targets)
        entries.append({QFileInfo(t.outputPath).fileName(), t.outputPath, t.plan ? &*t.plan : nullptr, t.error});
    const bool ok = m_preview->setEntries(entries, request().outputFolder, message);
    m_convertButton->setEnabled(ok && prep.isReady() && !m_busy);
}

void ConvertPage::setBusy(bool busy)
{
    m_busy = busy;
    m_targets->setEnabled(!busy);
    m_calibration->setEnabled(!busy);
    m_options->setEnabled(!busy);
    m_sourceEdit->setEnabled(!busy);
    m_fit->setEnabled(!busy);
    updatePreview();
}

void ConvertPage::useDemoModel()
{
    if (QFileInfo::exists(m_demoPath)) {
        setSource(m_demoPath);
        return;
    }
    const QString path = m_demoPath;
    const SyntheticModelOptions options = m_demoOptions;
    auto *job = new Job(tr("Generating demo model"), [path, options](JobContext &ctx) {
        QDir().mkpath(QFileInfo(path).absolutePath());
        writeSyntheticModel(path, options, ctx);
    });
    log(tr("Generating the demo model in %1").arg(QDir::toNativeSeparators(path)));
    m_progress->attach(job);
    m_progress->setVisible(true);
    setBusy(true);
    connect(job, &Job::succeeded, this, [this, path] {
        log(tr("Demo model ready: %1").arg(formatBytes(std::uint64_t(QFileInfo(path).size()))));
        setSource(path);
    });
    connect(job, &Job::failed, this, [this](const QString &message) { log(tr("Error: %1").arg(message)); });
    connect(job, &Job::cancelled, this, [this] { log(tr("Cancelled.")); });
    connect(job, &Job::finished, this, [this] { setBusy(false); });
    m_runner->start(job);
}

void ConvertPage::startConversion()
{
    if (m_busy || !m_source.file)
        return;
    if (const auto target = m_fit->target()) {
        startFittedConversion(*target);
        return;
    }
    QString error;
    const ConversionPreparation prep = preparation(&error);
    if (!error.isEmpty() || !prep.isReady()) {
        try {
            prep.throwIfNotReady();
        } catch (const Error &e) {
            error = e.message();
        }
        log(tr("Error: %1").arg(error));
        return;
    }

    auto *job = new ConversionJob(request());
    m_finished.clear();
    m_outcome->clear();
    m_measureButton->setEnabled(false);
    m_showButton->setEnabled(false);
    for (const ConversionTarget &t : prep.targets)
        log(tr("Converting %1 → %2 (planned %3)")
                .arg(QFileInfo(m_source.path).fileName(), QFileInfo(t.outputPath).fileName(),
                     formatBytes(t.plan->outputFileBytes)));
    const ConversionRequest r = job->request();
    if (r.calibration)
        log(tr("First the importance matrix: at most %1 chunks of %2 tokens of %3")
                .arg(r.calibration->nChunks)
                .arg(r.calibration->nCtx)
                .arg(r.calibration->textSource.isEmpty()
                         ? tr("the built-in sample text")
                         : QDir::toNativeSeparators(r.calibration->textSource)));
    else if (prep.imatrix)
        log(tr("Importance matrix %1: %2 entries from %3 chunks")
                .arg(prep.imatrix->fileName).arg(prep.imatrix->entries).arg(prep.imatrix->chunks));
    m_progress->attach(job);
    m_progress->setVisible(true);
    setBusy(true);

    connect(job, &Job::succeeded, this, [this, job] {
        const ConversionResult &result = job->result();
        if (const auto &c = result.calibration)
            log(tr("Importance matrix computed: %1 tensors from %2 chunks of %3 tokens in %4 "
                   "(calibration text PPL %5)")
                    .arg(c->nEntries)
                    .arg(c->nChunks)
                    .arg(c->nCtx)
                    .arg(formatDuration(c->seconds))
                    .arg(c->ppl, 0, 'f', 2));
        for (const QString &w : result.warnings)
            log(tr("Note: %1").arg(w));
        for (const ConversionOutput &o : result.outputs) {
            const bool same = o.actualBytes == o.predictedBytes;
            auto *row = new QTreeWidgetItem(m_outcome);
            row->setText(0, QFileInfo(o.path).fileName());
            row->setToolTip(0, o.path);
            row->setText(1, formatBytes(o.predictedBytes));
            row->setText(2, formatBytes(o.actualBytes));
            // The task re-opened every output and checked it against its plan: success means
            // the tensor count, names, types, offsets and size all matched.
            row->setText(3, o.verified && same ? tr("✔ verified, size exact") : tr("✘ size differs"));
            row->setToolTip(3, tr("Re-opened and checked against the plan: tensor count, names, "
                                  "shapes, types, offsets, metadata and file size."));
            m_finished << o.path;
            log(tr("Wrote %1: %2 (predicted %3 bytes, actual %4 bytes)")
                    .arg(QDir::toNativeSeparators(o.path), formatBytes(o.actualBytes),
                         QLocale().toString(qulonglong(o.predictedBytes)),
                         QLocale().toString(qulonglong(o.actualBytes))));
        }
        log(tr("Done in %1 (%2 read)").arg(formatDuration(result.seconds), formatBytes(result.inputBytes)));
        conversionSucceeded();
    });
    startConversionJob(job);
}

//
// fitted mixes and recipes
//

void ConvertPage::fitToMachine(std::uint64_t ramBytes, std::uint32_t contextTokens, KvCacheType kv,
                               std::optional<std::uint64_t> reserveBytes, bool flashAttention)
{
    m_fit->setMachine(ramBytes, contextTokens, kv, reserveBytes, flashAttention);
    updatePreview();
    // "Fit to this machine" shows the recipe table at once: now, or when the source the Advise
    // page handed over has been read.
    m_previewFitWhenReady = isLoading();
    if (m_source.file && !m_previewFitWhenReady)
        previewFit();
}

// The request of a fit: the widgets' request without the checked mixes (the fit names the type)
// and without calibration (a fit takes an imatrix file).
static ConversionRequest fitRequestFrom(ConversionRequest r)
{
    r.fileTypes.clear();
    r.calibration.reset();
    return r;
}

void ConvertPage::previewFit()
{
    const auto target = m_fit->target();
    if (m_busy || !m_source.file || !target)
        return;
    auto fitted = std::make_shared<FittedConversion>();
    const ConversionRequest r = fitRequestFrom(request());
    auto *job = new Job(tr("Fitting %1").arg(QFileInfo(r.sourcePath).fileName()),
                        [fitted, r, t = *target](JobContext &ctx) {
                            *fitted = planFittedConversion(r, t, ctx);
                        });
    m_fit->showMessage(tr("Measuring each tensor's error per type…"));
    m_progress->attach(job);
    m_progress->setVisible(true);
    setBusy(true);
    connect(job, &Job::succeeded, this, [this, fitted] {
        m_fit->showFitted(*fitted);
        log(tr("Fit: %1 → %2 (%3), %4 recipe lines")
                .arg(fitted->budget.description, QFileInfo(fitted->request.outputFile).fileName(),
                     formatBytes(fitted->fit.plan.outputFileBytes))
                .arg(fitted->fit.recipe.size()));
    });
    connect(job, &Job::failed, this, [this](const QString &message) {
        m_fit->showMessage(tr("Error: %1").arg(message));
        log(tr("Error: %1").arg(message));
    });
    connect(job, &Job::cancelled, this, [this] { m_fit->showMessage(tr("Cancelled.")); });
    connect(job, &Job::finished, this, [this] { setBusy(false); });
    m_runner->start(job);
}

void ConvertPage::startFittedConversion(const FitTarget &target)
{
    auto result = std::make_shared<ConversionResult>();
    auto fit = std::make_shared<FitResult>();
    const ConversionRequest r = fitRequestFrom(request());
    auto *job = new Job(tr("Fitting and converting %1").arg(QFileInfo(r.sourcePath).fileName()),
                        [result, fit, r, target](JobContext &ctx) {
                            *result = runFittedConversion(r, target, ctx, fit.get());
                        });
    m_finished.clear();
    m_outcome->clear();
    m_measureButton->setEnabled(false);
    m_showButton->setEnabled(false);
    m_recipeButton->setEnabled(false);
    log(tr("Fitting %1 to %2").arg(QFileInfo(r.sourcePath).fileName(), target.text));
    m_progress->attach(job);
    m_progress->setVisible(true);
    setBusy(true);
    connect(job, &Job::succeeded, this, [this, result, fit] {
        for (const QString &w : result->warnings)
            log(tr("Note: %1").arg(w));
        for (const ConversionOutput &o : result->outputs) {
            auto *row = new QTreeWidgetItem(m_outcome);
            row->setText(0, QFileInfo(o.path).fileName());
            row->setToolTip(0, o.path);
            row->setText(1, formatBytes(o.predictedBytes));
            row->setText(2, formatBytes(o.actualBytes));
            row->setText(3, o.verified && o.actualBytes == o.predictedBytes
                                ? tr("✔ verified, size exact")
                                : tr("✘ size differs"));
            m_finished << o.path;
            log(tr("Wrote %1: %2, fitted (named %3; base mix %4, predicted loss %5 vs %6)")
                    .arg(QDir::toNativeSeparators(o.path), formatBytes(o.actualBytes),
                         fileTypeName(fit->nearestMix), fileTypeName(fit->baseMix))
                    .arg(fit->predictedCost, 0, 'g', 3)
                    .arg(fit->baseMixCost, 0, 'g', 3));
        }
        conversionSucceeded();
    });
    startConversionJob(job);
}

void ConvertPage::showRecipe(const QString &path)
{
    auto *view = new RecipeView(this);
    view->setObjectName(QStringLiteral("recipeView"));
    view->setWindowFlag(Qt::Window);
    view->setAttribute(Qt::WA_DeleteOnClose);
    view->setFile(path);
    view->show();
}

void ConvertPage::conversionSucceeded()
{
    m_measureButton->setEnabled(true);
    m_showButton->setEnabled(true);
    m_recipeButton->setEnabled(!m_finished.isEmpty());
    emit conversionFinished(true, m_finished);
}

void ConvertPage::startConversionJob(Job *job)
{
    connect(job, &Job::failed, this, [this](const QString &message) {
        log(tr("Error: %1").arg(message));
        emit conversionFinished(false, {});
    });
    connect(job, &Job::cancelled, this, [this] {
        log(tr("Cancelled; no file was left behind."));
        emit conversionFinished(false, {});
    });
    connect(job, &Job::finished, this, [this] { setBusy(false); });
    m_runner->start(job);
}
