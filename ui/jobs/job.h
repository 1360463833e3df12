#pragma once

#include "jobs/jobcontext.h"
#include "jobs/progress.h"

#include <QObject>
#include <QRunnable>
#include <QString>

#include <functional>

/// Runs one synchronous core function on a worker thread. The function receives a JobContext
/// whose sink emits progressChanged(); Qt queues the signal into the GUI thread because the Job
/// lives there. Reports are throttled by JobContext to about ten per second, plus every stage
/// change and the final one.
///
/// Exactly one of succeeded(), failed() or cancelled() is emitted, then finished(). The work
/// function hands its result back by filling an object it captured (a shared_ptr the page owns),
/// so results stay typed without a QVariant round trip. No exception leaves run().
///
/// Lifetime: JobRunner keeps the Job alive until finished() arrives and then deletes it, so
/// a Job must only be started through a JobRunner.
class Job : public QObject, public QRunnable
{
    Q_OBJECT

public:
    using Work = std::function<void(QuantFit::JobContext &ctx)>;

    Job(const QString &title, Work work, QObject *parent = nullptr);
    ~Job() override;

    QString title() const { return m_title; }
    /// Thread-safe; the work stops at its next throwIfCancelled().
    void cancel();
    bool isCancelRequested() const;
    /// The last progress that reached the GUI thread.
    QuantFit::Progress lastProgress() const { return m_last; }

public: // QRunnable
    void run() override;

signals:
    void started();
    void progressChanged(const QuantFit::Progress &progress);
    void succeeded();
    void failed(const QString &message);
    void cancelled();
    void finished();

private:
    QString m_title;
    Work m_work;
    QuantFit::JobContext m_ctx;
    QuantFit::Progress m_last;
};
