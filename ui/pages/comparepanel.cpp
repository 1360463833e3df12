#include "comparepanel.h"

#include "jobs/jobrunner.h"
#include "jobs/taskjobs.h"
#include "util/units.h"

#include <QBoxLayout>
#include <QFileInfo>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>

using namespace QuantFit;

ComparePanel::ComparePanel(JobRunner *runner, QWidget *parent)
    : QWidget(parent)
    , m_runner(runner)
    , m_prompt(new QLineEdit(this))
    , m_nPredict(new QSpinBox(this))
    , m_button(new QPushButton(tr("&Generate and compare"), this))
    , m_status(new QLabel(this))
    , m_columns(new QWidget(this))
{
    m_prompt->setObjectName(QStringLiteral("prompt"));
    m_nPredict->setObjectName(QStringLiteral("tokens"));
    m_status->setObjectName(QStringLiteral("status"));
    m_columns->setObjectName(QStringLiteral("outputs"));
    auto *promptLabel = new QLabel(tr("&Prompt:"), this);
    promptLabel->setBuddy(m_prompt);
    m_prompt->setText(tr("Write a Python sorting algorithm"));
    m_nPredict->setRange(1, 2048);
    m_nPredict->setValue(48);
    m_nPredict->setSuffix(tr(" tokens"));
    m_button->setToolTip(tr("Run the prompt on every checked model (greedy) and show the outputs side by side"));
    auto *promptRow = new QHBoxLayout;
    promptRow->addWidget(promptLabel);
    promptRow->addWidget(m_prompt, 1);
    promptRow->addWidget(m_nPredict);
    promptRow->addWidget(m_button);
    m_status->setWordWrap(true);
    m_status->setText(tr("The same prompt on every checked model, greedy decoding, outputs side by side."));
    new QHBoxLayout(m_columns);
    auto *scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setWidget(m_columns);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(promptRow);
    layout->addWidget(m_status);
    layout->addWidget(scroll, 1);
    connect(m_button, &QPushButton::clicked, this, &ComparePanel::startRequested);
}

void ComparePanel::setStartEnabled(bool enabled)
{
    m_button->setEnabled(enabled);
}

Job *ComparePanel::start(const QStringList &paths)
{
    const QString prompt = m_prompt->text();
    if (paths.isEmpty() || prompt.trimmed().isEmpty()) {
        m_status->setText(tr("Check at least one model and enter a prompt."));
        return nullptr;
    }
    TextGenerationRequest request;
    request.modelPaths = paths;
    request.prompt = prompt;
    request.options.nPredict = m_nPredict->value(); // greedy: the default sampler at temperature 0
    auto *job = new TextGenerationJob(request);
    m_status->setText(tr("Running the prompt on %n model(s)…", nullptr, int(paths.size())));
    connect(job, &Job::succeeded, this, [this, job, prompt] {
        // Replace the previous columns with one per model.
        for (QWidget *old : m_columns->findChildren<QWidget *>(QString(), Qt::FindDirectChildrenOnly))
            old->deleteLater();
        for (const GeneratedText &g : job->result().outputs) {
            const QString title = tr("%1 — %2, %3 tokens, %4 tokens/s")
                                      .arg(QFileInfo(g.modelPath).fileName(), formatBytes(g.fileBytes))
                                      .arg(g.nGenerated)
                                      .arg(g.generatedTokensPerSecond, 0, 'f', 1);
            auto *box = new QGroupBox(title, m_columns);
            auto *edit = new QPlainTextEdit(prompt + QString::fromUtf8(g.continuation), box);
            edit->setReadOnly(true);
            edit->setMinimumWidth(260);
            auto *boxLayout = new QVBoxLayout(box);
            boxLayout->addWidget(edit);
            m_columns->layout()->addWidget(box);
        }
        m_status->setText(tr("Prompt: %1").arg(prompt));
        emit finished(true);
    });
    connect(job, &Job::failed, this, [this](const QString &message) {
        m_status->setText(tr("Failed: %1").arg(message));
        emit finished(false);
    });
    connect(job, &Job::cancelled, this, [this] {
        m_status->setText(tr("Cancelled."));
        emit finished(false);
    });
    m_runner->start(job);
    return job;
}
