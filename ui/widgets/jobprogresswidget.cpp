#include "jobprogresswidget.h"

#include "jobs/job.h"
#include "util/units.h"

#include <QBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>

#include <cmath>

// The bar is an int range; work units are 64-bit bytes, so the bar runs in per-mille.
static constexpr int kBarScale = 1000;

JobProgressWidget::JobProgressWidget(bool compact, QWidget *parent)
    : QWidget(parent)
    , m_compact(compact)
    , m_stage(new QLabel(this))
    , m_bar(new QProgressBar(this))
    , m_rate(new QLabel(this))
    , m_eta(new QLabel(this))
    , m_cancel(new QPushButton(compact ? tr("Cancel") : tr("&Cancel"), this))
{
    // Names for tests and accessibility tools, which find the widgets by them.
    m_stage->setObjectName(QStringLiteral("stage"));
    m_bar->setObjectName(QStringLiteral("bar"));
    m_eta->setObjectName(QStringLiteral("eta"));
    m_cancel->setObjectName(QStringLiteral("cancel"));
    m_bar->setRange(0, kBarScale);
    m_bar->setValue(0);
    m_bar->setFormat(QStringLiteral("%p%"));
    m_cancel->setEnabled(false);
    m_cancel->setToolTip(tr("Stop the running job. A conversion that is cancelled leaves no file."));
    m_stage->setTextInteractionFlags(Qt::TextSelectableByMouse);

    if (compact) {
        auto *row = new QHBoxLayout(this);
        row->setContentsMargins(0, 0, 0, 0);
        m_stage->setMaximumWidth(360);
        m_bar->setMaximumWidth(160);
        m_bar->setMaximumHeight(fontMetrics().height() + 4);
        row->addWidget(m_stage);
        row->addWidget(m_bar);
        row->addWidget(m_rate);
        row->addWidget(m_eta);
        row->addWidget(m_cancel);
    } else {
        auto *col = new QVBoxLayout(this);
        col->setContentsMargins(0, 0, 0, 0);
        col->addWidget(m_stage);
        auto *row = new QHBoxLayout;
        row->addWidget(m_bar, 1);
        row->addWidget(m_cancel);
        col->addLayout(row);
        auto *info = new QHBoxLayout;
        info->addWidget(m_rate);
        info->addStretch();
        info->addWidget(m_eta);
        col->addLayout(info);
    }
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        if (m_job) {
            m_job->cancel();
            m_cancel->setEnabled(false);
            m_stage->setText(tr("Cancelling…"));
        }
    });
}

void JobProgressWidget::attach(Job *job)
{
    if (m_job)
        disconnect(m_job, nullptr, this, nullptr);
    m_job = job;
    m_bar->setValue(0);
    m_rate->clear();
    m_eta->clear();
    m_stage->setText(tr("%1: waiting…").arg(job->title()));
    m_cancel->setEnabled(true);
    setVisible(true);
    connect(job, &Job::progressChanged, this, &JobProgressWidget::setProgress);
    connect(job, &Job::succeeded, this, [this] {
        m_bar->setValue(kBarScale);
        showOutcome(tr("%1: done").arg(m_job ? m_job->title() : QString()));
    });
    connect(job, &Job::failed, this, [this](const QString &message) {
        showOutcome(tr("Failed: %1").arg(message));
    });
    connect(job, &Job::cancelled, this, [this] {
        m_bar->setValue(0);
        showOutcome(tr("%1: cancelled").arg(m_job ? m_job->title() : QString()));
    });
}

void JobProgressWidget::setProgress(const QuantFit::Progress &p)
{
    QString stage = p.stage;
    if (m_job && !m_compact && stage.isEmpty())
        stage = m_job->title();
    if (m_compact && m_job)
        stage = m_job->title() + QStringLiteral(": ") + p.stage;
    if (p.metric)
        stage += QStringLiteral("  ·  %1 %2").arg(p.metricName).arg(*p.metric, 0, 'f', 4);
    m_stage->setText(stage);
    m_stage->setToolTip(stage);
    if (p.total) {
        if (m_bar->maximum() == 0)
            m_bar->setRange(0, kBarScale);
        m_bar->setValue(int(std::lround(p.fraction() * kBarScale)));
    } else {
        m_bar->setRange(0, 0); // busy indicator until the stage knows its total
    }
    m_rate->setText(rateText(p));
    m_eta->setText(etaText(p));
}

void JobProgressWidget::showOutcome(const QString &text)
{
    if (m_bar->maximum() == 0)
        m_bar->setRange(0, kBarScale);
    m_stage->setText(text);
    m_stage->setToolTip(text);
    m_eta->clear();
    m_cancel->setEnabled(false);
}

QString JobProgressWidget::percentText(const QuantFit::Progress &p)
{
    return QStringLiteral("%1%").arg(p.fraction() * 100.0, 0, 'f', 1);
}

QString JobProgressWidget::rateText(const QuantFit::Progress &p)
{
    if (p.rate <= 0 || p.rateUnit.isEmpty())
        return {};
    return QStringLiteral("%1 %2").arg(p.rate, 0, 'f', p.rate < 10 ? 2 : 1).arg(p.rateUnit);
}

QString JobProgressWidget::etaText(const QuantFit::Progress &p)
{
    const double eta = p.etaSeconds();
    if (eta < 0)
        return {};
    return tr("ETA %1").arg(QuantFit::formatDuration(eta));
}

Job *JobProgressWidget::job() const
{
    return m_job;
}
