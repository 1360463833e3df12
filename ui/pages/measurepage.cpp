#include "measurepage.h"

#include "apppaths.h"
#include "charts/liveperplexitychart.h"
#include "comparepanel.h"
#include "eval/baselogits.h"
#include "eval/evalresult.h"
#include "eval/evaltext.h"
#include "eval/perplexity.h"
#include "gguf/ggufreader.h"
#include "infer/llamamodel.h"
#include "jobs/job.h"
#include "jobs/jobrunner.h"
#include "models/resultsmodel.h"
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
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>

using namespace QuantFit;

static const QString kSampleResource = QStringLiteral(":/text/sample-evaluation.txt");

MeasurePage::MeasurePage(JobRunner *runner, ResultsModel *results, QWidget *parent)
    : QWidget(parent)
    , m_runner(runner)
    , m_results(results)
    , m_models(new QListWidget(this))
    , m_base(new QLineEdit(this))
    , m_sampleText(new QRadioButton(tr("Built-&in sample text"), this))
    , m_fileText(new QRadioButton(tr("Te&xt file or archive member:"), this))
    , m_textPath(new QLineEdit(this))
    , m_context(new QSpinBox(this))
    , m_chunks(new QSpinBox(this))
    , m_runButton(new QPushButton(tr("&Run"), this))
    , m_progress(new JobProgressWidget(false, this))
    , m_chart(new LivePerplexityChart(this))
    , m_live(new QLabel(this))
    , m_summary(new QLabel(this))
    , m_resultsView(new QTableView(this))
    , m_compare(new ComparePanel(runner, this))
{
    // Models
    auto *modelBox = new QGroupBox(tr("Models to measure"), this);
    m_models->setToolTip(tr("Checked models are measured one after another, and used by Compare outputs"));
    auto *add = new QPushButton(tr("A&dd…"), this);
    auto *remove = new QPushButton(tr("R&emove"), this);
    auto *modelButtons = new QHBoxLayout;
    modelButtons->addWidget(add);
    modelButtons->addWidget(remove);
    modelButtons->addStretch();
    auto *modelLayout = new QVBoxLayout(modelBox);
    modelLayout->addWidget(m_models);
    modelLayout->addLayout(modelButtons);
    auto *baseRow = new QHBoxLayout;
    auto *baseBrowse = new QPushButton(tr("Choose…"), this);
    m_base->setPlaceholderText(tr("optional: full-precision model for KL divergence"));
    m_base->setToolTip(tr("With a base model, its logits are saved once and every model is compared "
                          "with them: mean/median/99th-percentile KLD, same-top-token rate, PPL ratio"));
    baseRow->addWidget(m_base, 1);
    baseRow->addWidget(baseBrowse);
    auto *baseLabel = new QLabel(tr("&Base model:"), this);
    baseLabel->setBuddy(m_base);
    modelLayout->addWidget(baseLabel);
    modelLayout->addLayout(baseRow);

    // Text and settings
    auto *textBox = new QGroupBox(tr("Evaluation"), this);
    auto *textLayout = new QFormLayout(textBox);
    m_sampleText->setChecked(true);
    m_sampleText->setToolTip(tr("A short English text written for QuantFit and built into the app"));
    textLayout->addRow(m_sampleText);
    auto *textRow = new QHBoxLayout;
    auto *textBrowse = new QPushButton(tr("Choose…"), this);
    m_textPath->setPlaceholderText(tr("wiki.test.raw, or wikitext-2-raw-v1.zip:wikitext-2-raw/wiki.test.raw"));
    m_textPath->setToolTip(tr("A UTF-8 text file, or ARCHIVE:MEMBER for a file inside a .zip or .tar.* archive"));
    textRow->addWidget(m_textPath, 1);
    textRow->addWidget(textBrowse);
    textLayout->addRow(m_fileText);
    textLayout->addRow(textRow);
    m_context->setRange(16, 32768);
    m_context->setSingleStep(64);
    m_context->setValue(256);
    m_context->setSuffix(tr(" tokens"));
    m_context->setToolTip(tr("Tokens per chunk; the second half of each chunk is scored, as llama-perplexity does"));
    m_chunks->setRange(0, 100000);
    m_chunks->setValue(0);
    m_chunks->setSpecialValueText(tr("all"));
    textLayout->addRow(tr("&Context:"), m_context);
    textLayout->addRow(tr("Chun&ks:"), m_chunks);
    QFont big = m_runButton->font();
    big.setBold(true);
    m_runButton->setFont(big);
    m_runButton->setMinimumHeight(m_runButton->sizeHint().height() * 3 / 2);

    auto *left = new QWidget(this);
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(modelBox, 1);
    leftLayout->addWidget(textBox);
    leftLayout->addWidget(m_runButton);
    leftLayout->addWidget(m_progress);
    left->setMinimumWidth(360);
    left->setMaximumWidth(460);

    // Live run
    QFont liveFont = m_live->font();
    liveFont.setPointSizeF(liveFont.pointSizeF() * 1.4);
    liveFont.setBold(true);
    m_live->setFont(liveFont);
    m_live->setText(tr("Perplexity: —"));
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *liveBox = new QWidget(this);
    auto *liveLayout = new QVBoxLayout(liveBox);
    liveLayout->setContentsMargins(0, 0, 0, 0);
    liveLayout->addWidget(m_live);
    liveLayout->addWidget(m_chart, 1);
    liveLayout->addWidget(m_summary);

    // Saved results
    m_resultsView->setModel(m_results);
    m_resultsView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_resultsView->verticalHeader()->setVisible(false);
    m_resultsView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
    m_resultsView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_resultsView->horizontalHeader()->setStretchLastSection(true);
    auto *deleteResult = new QPushButton(tr("De&lete result"), this);
    auto *openFolder = new QPushButton(tr("Results folder: %1").arg(QDir::toNativeSeparators(AppPaths::resultsDir())), this);
    openFolder->setFlat(true);
    openFolder->setEnabled(false);
    auto *resultsBox = new QWidget(this);
    auto *resultsLayout = new QVBoxLayout(resultsBox);
    resultsLayout->setContentsMargins(0, 0, 0, 0);
    resultsLayout->addWidget(m_resultsView, 1);
    auto *resultsButtons = new QHBoxLayout;
    resultsButtons->addWidget(openFolder);
    resultsButtons->addStretch();
    resultsButtons->addWidget(deleteResult);
    resultsLayout->addLayout(resultsButtons);

    auto *tabs = new QTabWidget(this);
    m_tabs = tabs;
    tabs->addTab(liveBox, tr("Live ru&n"));
    tabs->addTab(resultsBox, tr("&Saved results"));
    tabs->addTab(m_compare, tr("Compare o&utputs"));
    if (m_results->rowCount() > 0)
        tabs->setCurrentIndex(1); // nothing live yet: show what was measured before

    auto *split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(left);
    split->addWidget(tabs);
    split->setStretchFactor(1, 1);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(split);
    m_progress->setVisible(false);

    QSettings settings;
    m_context->setValue(settings.value(QStringLiteral("measure/context"), 256).toInt());
    m_chunks->setValue(settings.value(QStringLiteral("measure/chunks"), 0).toInt());
    const QString text = settings.value(QStringLiteral("measure/text")).toString();
    if (!text.isEmpty()) {
        m_textPath->setText(text);
        m_fileText->setChecked(settings.value(QStringLiteral("measure/useFile"), false).toBool());
    }

    connect(add, &QPushButton::clicked, this, [this] {
        QSettings s;
        const QStringList paths = QFileDialog::getOpenFileNames(this, tr("Models to measure"),
            s.value(QStringLiteral("folders/open")).toString(), tr("GGUF models (*.gguf);;All files (*)"));
        for (const QString &p : paths)
            addModel(p);
        if (!paths.isEmpty())
            s.setValue(QStringLiteral("folders/open"), QFileInfo(paths.first()).absolutePath());
    });
    connect(remove, &QPushButton::clicked, this, [this] { qDeleteAll(m_models->selectedItems()); });
    connect(baseBrowse, &QPushButton::clicked, this, [this] {
        const QString p = QFileDialog::getOpenFileName(this, tr("Base model"), {}, tr("GGUF models (*.gguf)"));
        if (!p.isEmpty())
            setBaseModel(p);
    });
    connect(textBrowse, &QPushButton::clicked, this, [this] {
        QSettings s;
        const QString p = QFileDialog::getOpenFileName(this, tr("Evaluation text"),
            s.value(QStringLiteral("folders/text")).toString(),
            tr("Text or archive (*.txt *.raw *.zip *.tar *.tar.gz *.tgz *.tar.xz *.tar.bz2);;All files (*)"));
        if (p.isEmpty())
            return;
        s.setValue(QStringLiteral("folders/text"), QFileInfo(p).absolutePath());
        setTextSource(p);
    });
    connect(m_textPath, &QLineEdit::textEdited, this, [this] { m_fileText->setChecked(true); });
    connect(m_runButton, &QPushButton::clicked, this, &MeasurePage::startMeasurement);
    connect(m_compare, &ComparePanel::startRequested, this, &MeasurePage::startCompare);
    connect(m_compare, &ComparePanel::finished, this, &MeasurePage::compareFinished);
    connect(deleteResult, &QPushButton::clicked, this, [this] {
        const QModelIndex i = m_resultsView->currentIndex();
        if (i.isValid())
            m_results->remove(i.row());
    });
}

void MeasurePage::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("measure/context"), m_context->value());
    settings.setValue(QStringLiteral("measure/chunks"), m_chunks->value());
    settings.setValue(QStringLiteral("measure/text"), m_textPath->text());
    settings.setValue(QStringLiteral("measure/useFile"), m_fileText->isChecked());
}

void MeasurePage::addModel(const QString &path)
{
    if (path.isEmpty())
        return;
    const QString abs = QFileInfo(path).absoluteFilePath();
    for (int i = 0; i < m_models->count(); ++i)
        if (m_models->item(i)->data(Qt::UserRole).toString() == abs)
            return;
    auto *item = new QListWidgetItem(QFileInfo(abs).fileName(), m_models);
    item->setData(Qt::UserRole, abs);
    item->setToolTip(abs);
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

QString MeasurePage::liveValueText() const
{
    return m_live->text();
}

QString MeasurePage::summaryText() const
{
    return m_summary->text();
}

QString MeasurePage::compareText() const
{
    return m_compare->text();
}

QString MeasurePage::textSourceLabel() const
{
    return m_fileText->isChecked() && !m_textPath->text().trimmed().isEmpty()
               ? QFileInfo(m_textPath->text().trimmed()).fileName()
               : tr("built-in sample");
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

void MeasurePage::startMeasurement()
{
    if (m_running)
        return;
    m_queue = models();
    if (m_queue.isEmpty()) {
        log(tr("Add at least one model (checked) to measure."));
        return;
    }
    if (m_fileText->isChecked() && m_textPath->text().trimmed().isEmpty()) {
        log(tr("Choose a text file, or use the built-in sample text."));
        return;
    }
    m_failed = false;
    m_stopAll = false;
    m_baseReady = std::make_shared<std::atomic<bool>>(false);
    m_tabs->setCurrentIndex(0);
    setRunning(true);
    runNext();
}

// The job of one model: load, tokenize, perplexity (or KLD against a base computed first).
void MeasurePage::runNext()
{
    if (m_queue.isEmpty() || m_stopAll) {
        setRunning(false);
        emit measurementFinished(!m_failed && !m_stopAll);
        return;
    }
    const QString path = m_queue.takeFirst();
    const QString basePath = m_base->text().trimmed();
    const bool useFile = m_fileText->isChecked();
    const QString textSource = m_textPath->text().trimmed();
    const QString textLabel = textSourceLabel();
    const int nCtx = m_context->value();
    const int nChunks = m_chunks->value() == 0 ? -1 : m_chunks->value();
    QByteArray sample;
    if (!useFile) {
        QFile f(kSampleResource);
        if (f.open(QIODevice::ReadOnly))
            sample = f.readAll();
    }
    const QString baseLogits = AppPaths::dataDir() + QStringLiteral("/base-logits.qfbl");

    m_chart->clear();
    m_live->setText(tr("Perplexity of %1: starting…").arg(QFileInfo(path).fileName()));
    auto result = std::make_shared<PerplexityResult>();
    auto baseResult = std::make_shared<std::optional<PerplexityResult>>();
    auto facts = std::make_shared<MeasurementRecord>(); // filled by the worker, read after finished
    auto baseFacts = std::make_shared<MeasurementRecord>();
    const auto baseReady = m_baseReady;
    QPointer<MeasurePage> self(this);
    auto onChunk = [self](const ChunkReport &r) {
        // Called on the worker; hand a copy to the GUI thread.
        QMetaObject::invokeMethod(self.data(), [self, r] {
            if (!self)
                return;
            self->m_chart->addPoint(r.chunk, r.ppl, r.pplError);
            QString text = tr("[%1/%2]  PPL %3 ± %4").arg(r.chunk).arg(r.nChunks)
                               .arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4);
            if (r.kld)
                text += tr("   KLD %1 ± %2").arg(r.kld->kldMean, 0, 'f', 5).arg(r.kld->kldMeanError, 0, 'f', 5);
            text += tr("   %1 tok/s").arg(r.tokensPerSecond, 0, 'f', 1);
            if (r.etaSeconds >= 0)
                text += tr("   ETA %1").arg(formatDuration(r.etaSeconds));
            self->m_live->setText(text);
        }, Qt::QueuedConnection);
    };

    auto *job = new Job(tr("Measuring %1").arg(QFileInfo(path).fileName()), [=](JobContext &ctx) {
        PerplexityOptions options;
        options.nCtx = nCtx;
        options.nChunks = nChunks;
        if (!basePath.isEmpty()) {
            // The base run writes its scored logits once per Run (the first model's job); every
            // quantized model is then compared with them.
            if (!baseReady->load()) {
                auto baseModel = LlamaModel::open(basePath);
                const EvalTokens tokens = useFile ? loadEvalTokens(baseModel->file(), textSource)
                                                  : tokenizeEvalText(baseModel->file(), sample, textLabel);
                PerplexityOptions baseOptions = options;
                baseOptions.saveBasePath = baseLogits;
                ctx.setStage(tr("Base model %1").arg(QFileInfo(basePath).fileName()));
                *baseResult = computePerplexity(baseModel, tokens, baseOptions, ctx);
                const ModelInfo &info = baseModel->info();
                baseFacts->modelName = info.name;
                baseFacts->fileBytes = double(baseModel->file().totalFileSize());
                baseFacts->nParams = double(info.nParams);
                baseFacts->bitsPerWeight = info.bitsPerWeight();
                baseReady->store(true);
            }
            auto model = LlamaModel::open(path);
            const BaseLogitsFile base = BaseLogitsFile::open(baseLogits);
            bool addBos = false;
            std::int32_t bosId = -1;
            vocabularyBos(model->file(), addBos, bosId);
            options.onChunk = onChunk;
            *result = computeKld(model, base, addBos, bosId, options, ctx);
        } else {
            auto model = LlamaModel::open(path);
            const EvalTokens tokens = useFile ? loadEvalTokens(model->file(), textSource)
                                              : tokenizeEvalText(model->file(), sample, textLabel);
            options.onChunk = onChunk;
            *result = computePerplexity(model, tokens, options, ctx);
        }
        // Facts of the measured file for the result list and the charts.
        const GgufFile file = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
        const ModelInfo info = modelInfoFrom(file);
        result->modelPath = path;
        if (result->fileType.isEmpty())
            result->fileType = fileTypeName(info.fileType.value_or(info.guessedFileType));
        // Facts of the file for the record, read in the GUI thread after finished().
        result->basePath = basePath;
        facts->modelName = info.name;
        facts->fileBytes = double(file.totalFileSize());
        facts->nParams = double(info.nParams);
        facts->bitsPerWeight = info.bitsPerWeight();
    });
    m_progress->attach(job);
    m_progress->setVisible(true);

    connect(job, &Job::succeeded, this, [this, baseFacts, baseResult, textLabel, basePath] {
        // The base's own perplexity is a result too (the full-precision point of the charts).
        if (!baseResult->has_value())
            return;
        const PerplexityResult &b = **baseResult;
        MeasurementRecord r = *baseFacts;
        r.modelPath = basePath;
        r.fileType = b.fileType;
        r.textSource = textLabel;
        r.context = b.nCtx;
        r.chunks = b.nChunks;
        r.ppl = b.ppl;
        r.pplError = b.pplError;
        r.tokensPerSecond = b.tokensPerSecond;
        m_results->save(r);
    });
    connect(job, &Job::succeeded, this, [this, facts, result, textLabel, path] {
        MeasurementRecord r = *facts;
        r.modelPath = path;
        r.fileType = result->fileType;
        r.textSource = textLabel;
        r.context = result->nCtx;
        r.chunks = result->nChunks;
        r.ppl = result->ppl;
        r.pplError = result->pplError;
        r.tokensPerSecond = result->tokensPerSecond;
        r.basePath = result->basePath;
        if (result->kld) {
            r.kldMean = result->kld->kldMean;
            r.kldMeanError = result->kld->kldMeanError;
            r.kldMedian = result->kld->kldMedian;
            r.kldP99 = result->kld->kldP99;
            r.pplRatio = result->kld->pplRatio;
            r.sameTopPercent = result->kld->sameTopPercent;
        }
        QString error;
        const QString saved = m_results->save(r, &error);
        m_live->setText(tr("%1: PPL %2 ± %3").arg(QFileInfo(path).fileName())
                            .arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4));
        QString summary = tr("<b>%1</b> (%2, %3 bits/weight): perplexity <b>%4 ± %5</b> over %6 "
                             "chunks of %7 tokens, %8 tokens/s.")
                              .arg(QFileInfo(path).fileName(), r.fileType)
                              .arg(r.bitsPerWeight, 0, 'f', 2).arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4)
                              .arg(r.chunks).arg(r.context).arg(r.tokensPerSecond, 0, 'f', 1);
        if (result->kld) {
            const KldSummary &k = *result->kld;
            summary += tr("<br>Against the base: mean KLD <b>%1 ± %2</b>, median %3, 99th percentile %4; "
                          "PPL ratio %5; same top token %6%.")
                           .arg(k.kldMean, 0, 'f', 5).arg(k.kldMeanError, 0, 'f', 5)
                           .arg(k.kldMedian, 0, 'f', 5).arg(k.kldP99, 0, 'f', 5)
                           .arg(k.pplRatio, 0, 'f', 4).arg(k.sameTopPercent, 0, 'f', 2);
        }
        summary += saved.isEmpty() ? tr("<br>Could not save the result: %1").arg(error.toHtmlEscaped())
                                   : tr("<br>Saved to %1").arg(QDir::toNativeSeparators(saved).toHtmlEscaped());
        m_summary->setText(summary);
    });
    connect(job, &Job::failed, this, [this, path](const QString &message) {
        m_failed = true;
        m_summary->setText(tr("<b>%1 failed:</b> %2").arg(QFileInfo(path).fileName().toHtmlEscaped(),
                                                           message.toHtmlEscaped()));
    });
    connect(job, &Job::cancelled, this, [this] {
        m_stopAll = true;
        m_summary->setText(tr("Cancelled."));
    });
    connect(job, &Job::finished, this, [this] { runNext(); });
    m_runner->start(job);
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
