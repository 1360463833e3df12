#pragma once

#include "jobs/progress.h"

#include <QPointer>
#include <QWidget>

class Job;
class QLabel;
class QProgressBar;
class QPushButton;

/// Progress of one job: stage text, a determinate bar, percent, throughput, ETA and a Cancel
/// button. Compact mode (status bar) puts everything on one line. Knows nothing of pages.
class JobProgressWidget : public QWidget
{
    Q_OBJECT

public:
    explicit JobProgressWidget(bool compact, QWidget *parent = nullptr);

    /// Follows `job` until it finishes; the widget then shows the outcome until the next job.
    void attach(Job *job);
    Job *job() const;
    void setProgress(const QuantFit::Progress &progress);
    void showOutcome(const QString &text);

    /// "42%  ·  85.3 MB/s  ·  ETA 12s" style parts, computed from a Progress record.
    static QString percentText(const QuantFit::Progress &progress);
    static QString rateText(const QuantFit::Progress &progress);
    static QString etaText(const QuantFit::Progress &progress);

private:
    bool m_compact;
    QPointer<Job> m_job;
    QLabel *m_stage;
    QProgressBar *m_bar;
    QLabel *m_rate;
    QLabel *m_eta;
    QPushButton *m_cancel;
};
