#include "comparepanel.h"

#include "gguf/ggufreader.h"
#include "infer/generator.h"
#include "infer/llamamodel.h"
#include "jobs/job.h"
#include "jobs/jobrunner.h"
#include "tokenize/tokenizer.h"

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

QString ComparePanel::text() const
{
    QStringList parts{m_status->text()};
    for (const QGroupBox *box : m_columns->findChildren<QGroupBox *>()) {
        parts << box->title();
        if (const auto *edit = box->findChild<QPlainTextEdit *>())
            parts << edit->toPlainText();
    }
    return parts.join(u'\n');
}

Job *ComparePanel::start(const QStringList &paths)
{
    const QString prompt = m_prompt->text();
    if (paths.isEmpty() || prompt.trimmed().isEmpty()) {
        m_status->setText(tr("Check at least one model and enter a prompt."));
        return nullptr;
    }
    const int nPredict = m_nPredict->value();
    auto outputs = std::make_shared<QStringList>(); // title, text, title, text, ...
    auto *job = new Job(tr("Comparing outputs"), [=](JobContext &ctx) {
        int index = 0;
        for (const QString &path : paths) {
            ctx.setStage(tr("Generating with %1 (%2/%3)").arg(QFileInfo(path).fileName()).arg(++index).arg(paths.size()),
                         std::uint64_t(paths.size()) * std::uint64_t(nPredict));
            auto model = LlamaModel::open(path);
            const Tokenizer tokenizer = Tokenizer::fromMetadata(model->file().metadata(), path);
            const std::vector<std::int32_t> ids = tokenizer.encode(QStringView(prompt), true);
            InferenceSession session(model, SessionOptions{.nCtx = std::min(2048, int(ids.size()) + nPredict + 8)});
            GenerationOptions options;
            options.nPredict = nPredict;
            if (tokenizer.eosId() >= 0)
                options.stopTokens.push_back(tokenizer.eosId());
            const GenerationResult g = generate(session, ids, options, [&ctx](std::int32_t) {
                ctx.advance(1);
                return true;
            }, ctx);
            const QString text = QString::fromUtf8(tokenizer.decode(g.tokens));
            *outputs << tr("%1 — %2 tokens, %3 tokens/s")
                            .arg(QFileInfo(path).fileName()).arg(g.tokens.size())
                            .arg(g.generatedTokensPerSecond(), 0, 'f', 1)
                     << prompt + text;
        }
    });
    m_status->setText(tr("Running the prompt on %n model(s)…", nullptr, int(paths.size())));
    connect(job, &Job::succeeded, this, [this, outputs, prompt] {
        // Replace the previous columns with one per model.
        for (QWidget *old : m_columns->findChildren<QWidget *>(QString(), Qt::FindDirectChildrenOnly))
            old->deleteLater();
        for (int i = 0; i + 1 < outputs->size(); i += 2) {
            auto *box = new QGroupBox(outputs->at(i), m_columns);
            auto *edit = new QPlainTextEdit(outputs->at(i + 1), box);
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
