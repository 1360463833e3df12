#include "handoffpanel.h"

#include "jobs/handoffjobs.h"
#include "jobs/jobrunner.h"
#include "widgets/jobprogresswidget.h"

#include "discovery/lmstudiolayout.h"
#include "discovery/modeldiscovery.h"
#include "discovery/ollamastore.h"

#include <QDir>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

using namespace QuantFit;

HandoffPanel::HandoffPanel(JobRunner *runner, QWidget *parent)
    : QGroupBox(tr("Hand off to a runner"), parent)
    , m_runner(runner)
    , m_subject(new QLabel(tr("Choose a model in the list, or convert one.")))
    , m_ollamaName(new QLineEdit)
    , m_ollamaButton(new QPushButton(tr("Add to &Ollama")))
    , m_publisher(new QLineEdit)
    , m_repository(new QLineEdit)
    , m_lmStudioButton(new QPushButton(tr("Add to &LM Studio")))
    , m_progress(new JobProgressWidget(true))
    , m_log(new QPlainTextEdit)
{
    m_subject->setObjectName(QStringLiteral("handoffSubject"));
    m_ollamaName->setObjectName(QStringLiteral("ollamaName"));
    m_ollamaButton->setObjectName(QStringLiteral("addToOllama"));
    m_publisher->setObjectName(QStringLiteral("lmStudioPublisher"));
    m_repository->setObjectName(QStringLiteral("lmStudioRepository"));
    m_lmStudioButton->setObjectName(QStringLiteral("addToLmStudio"));
    m_log->setObjectName(QStringLiteral("handoffLog"));

    m_subject->setWordWrap(true);
    m_subject->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_ollamaName->setPlaceholderText(tr("name[:tag]"));
    m_ollamaName->setToolTip(tr("The name `ollama run` will know it by, e.g. mymodel:q4_k_m"));
    m_ollamaButton->setToolTip(tr("Write a Modelfile and run `ollama create` (or show the command "
                                  "when ollama is not installed)"));
    m_publisher->setToolTip(tr("First folder below LM Studio's models folder"));
    m_repository->setToolTip(tr("Second folder below LM Studio's models folder"));
    m_lmStudioButton->setToolTip(tr("Place the file in LM Studio's models folder: a hard link "
                                    "(no extra space) on the same disk, else a copy"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(2000);
    m_log->setMinimumHeight(80);
    m_progress->setVisible(false);

    auto *ollamaRow = new QHBoxLayout;
    ollamaRow->addWidget(m_ollamaName, 1);
    ollamaRow->addWidget(m_ollamaButton);
    auto *lmRow = new QHBoxLayout;
    lmRow->addWidget(m_publisher, 1);
    lmRow->addWidget(new QLabel(QStringLiteral("/")));
    lmRow->addWidget(m_repository, 2);
    lmRow->addWidget(m_lmStudioButton);
    auto *form = new QFormLayout;
    form->addRow(tr("File:"), m_subject);
    form->addRow(tr("Ollama:"), ollamaRow);
    form->addRow(tr("LM Studio:"), lmRow);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_progress);
    layout->addWidget(m_log, 1);

    connect(m_ollamaButton, &QPushButton::clicked, this, &HandoffPanel::addToOllama);
    connect(m_lmStudioButton, &QPushButton::clicked, this, &HandoffPanel::addToLmStudio);
    connect(m_ollamaName, &QLineEdit::returnPressed, this, &HandoffPanel::addToOllama);
    updateButtons();
}

void HandoffPanel::setSubject(const QString &ggufPath, const QString &sourcePath,
                              const QString &sourceManifest, const QString &note)
{
    m_path = ggufPath;
    m_sourcePath = sourcePath;
    m_sourceManifest = sourceManifest;
    if (ggufPath.isEmpty()) {
        m_subject->setText(tr("Choose a model in the list, or convert one."));
        updateButtons();
        return;
    }
    const QString shown = QDir::toNativeSeparators(ggufPath);
    m_subject->setText(note.isEmpty() ? shown : QStringLiteral("%1\n%2").arg(shown, note));
    // A blob of Ollama's (or a conversion named after one) is named after its model and tag.
    QString fileName = QFileInfo(ggufPath).fileName();
    const QString blobStem = QFileInfo(sourcePath).fileName();
    if (!sourcePath.isEmpty() && fileName.startsWith(blobStem)
        && blobStem.startsWith(QStringLiteral("sha256-")))
        fileName = modelFileStem(sourcePath) + fileName.mid(blobStem.size());
    else if (fileName.startsWith(QStringLiteral("sha256-")))
        fileName = modelFileStem(ggufPath);
    m_ollamaName->setText(ollamaNameFromFileName(fileName));
    const LmStudioPlacement p =
        lmStudioDefaultPlacement(ggufPath, sourcePath, DiscoveryEnvironment::current());
    setLmStudioFolders(p.publisher, p.repository);
    updateButtons();
}

QString HandoffPanel::ollamaName() const
{
    return m_ollamaName->text().trimmed();
}

void HandoffPanel::setLmStudioFolders(const QString &publisher, const QString &repository)
{
    m_publisher->setText(publisher);
    m_repository->setText(repository);
}

QString HandoffPanel::logText() const
{
    return m_log->toPlainText();
}

void HandoffPanel::addToOllama()
{
    if (m_path.isEmpty() || isBusy())
        return;
    QString why;
    if (!OllamaName::parse(ollamaName(), &why)) {
        log(tr("Not added: %1").arg(why));
        return;
    }
    OllamaHandoffRequest r;
    r.ggufPath = m_path;
    r.modelName = ollamaName();
    r.sourcePath = m_sourcePath;
    r.sourceManifest = m_sourceManifest;
    auto *job = new OllamaHandoffJob(r);
    connect(job, &OllamaHandoffJob::outputLine, this, [this](const QString &line) {
        log(QStringLiteral("ollama: %1").arg(line));
    });
    connect(job, &Job::succeeded, this, [this, job] {
        const OllamaHandoffResult &res = job->result();
        for (const QString &w : res.warnings)
            log(tr("Note: %1").arg(w));
        log(tr("Wrote %1%2")
                .arg(QDir::toNativeSeparators(res.modelfilePath),
                     res.settingsFrom.isEmpty()
                         ? QString()
                         : tr(" with the template and parameters of %1").arg(res.settingsFrom)));
        if (!res.ran)
            log(tr("ollama is not installed here (not found on PATH). To add the model, run:\n  %1")
                    .arg(res.command));
        else if (!res.succeeded())
            log(tr("ollama create failed (exit code %1). To try again: %2")
                    .arg(res.exitCode)
                    .arg(res.command));
        else
            log(tr("Added to Ollama as %1. Run it with: ollama run %1").arg(res.modelName));
        emit handoffFinished(QStringLiteral("ollama"), res.succeeded());
    });
    start(job, QStringLiteral("ollama"));
}

void HandoffPanel::addToLmStudio()
{
    if (m_path.isEmpty() || isBusy())
        return;
    const LmStudioPlacement placement{m_publisher->text(), m_repository->text()};
    for (const auto &[what, value] : {std::pair{tr("publisher"), placement.publisher},
                                      std::pair{tr("repository"), placement.repository}}) {
        const QString problem = lmStudioFolderNameProblem(what, value);
        if (!problem.isEmpty()) {
            log(tr("Not added: %1").arg(problem));
            return;
        }
    }
    LmStudioHandoffRequest r;
    r.ggufPath = m_path;
    r.sourcePath = m_sourcePath;
    r.placement = placement;
    auto *job = new LmStudioHandoffJob(r);
    connect(job, &Job::succeeded, this, [this, job] {
        const LmStudioHandoffResult &res = job->result();
        const QString target = QDir::toNativeSeparators(res.targetPath);
        switch (res.method) {
        case PlacementMethod::HardLink:
            log(tr("Added to LM Studio as %1 (a hard link: no extra disk space)").arg(target));
            break;
        case PlacementMethod::Copy:
            log(tr("Added to LM Studio as %1 (copied: another disk)").arg(target));
            break;
        case PlacementMethod::AlreadyThere:
            log(tr("Already in LM Studio as %1").arg(target));
            break;
        }
        emit handoffFinished(QStringLiteral("lmstudio"), true);
    });
    start(job, QStringLiteral("lmstudio"));
}

void HandoffPanel::start(Job *job, const QString &runner)
{
    connect(job, &Job::failed, this, [this, runner](const QString &message) {
        log(tr("Failed: %1").arg(message));
        emit handoffFinished(runner, false);
    });
    connect(job, &Job::cancelled, this, [this, runner] {
        log(tr("Cancelled; nothing was left behind."));
        emit handoffFinished(runner, false);
    });
    connect(job, &Job::finished, this, [this] {
        m_job.clear();
        updateButtons();
    });
    m_job = job;
    m_progress->setVisible(true);
    m_progress->attach(job);
    updateButtons();
    m_runner->start(job);
}

void HandoffPanel::log(const QString &line)
{
    m_log->appendPlainText(line);
}

void HandoffPanel::updateButtons()
{
    const bool ready = !m_path.isEmpty() && !isBusy();
    m_ollamaButton->setEnabled(ready);
    m_lmStudioButton->setEnabled(ready);
}
