#pragma once

#include <QList>
#include <QObject>
#include <QPointer>
#include <QThreadPool>

class Job;

/// Starts jobs on its own thread pool, one heavy job at a time (memory is the constraint; each
/// core function is parallel inside), deletes each job after it finished, and cancels and
/// waits for everything on shutdown.
class JobRunner : public QObject
{
    Q_OBJECT

public:
    explicit JobRunner(QObject *parent = nullptr);
    ~JobRunner() override;

    /// Takes ownership of `job` and queues it. Connect to the job's signals before calling.
    void start(Job *job);
    bool isBusy() const { return !m_jobs.isEmpty(); }
    QList<Job *> jobs() const;
    /// Requests cancellation of every queued and running job.
    void cancelAll();
    /// cancelAll() and block until the pool is idle (used on quit).
    void shutdown();

signals:
    void jobStarted(Job *job);
    void busyChanged(bool busy);

private:
    QThreadPool m_pool;
    QList<QPointer<Job>> m_jobs;
};
