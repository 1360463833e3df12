#include "jobrunner.h"

#include "job.h"

JobRunner::JobRunner(QObject *parent)
    : QObject(parent)
{
    m_pool.setMaxThreadCount(1);
}

JobRunner::~JobRunner()
{
    shutdown();
}

void JobRunner::start(Job *job)
{
    job->setParent(this);
    m_jobs.append(job);
    connect(job, &Job::finished, this, [this, job] {
        m_jobs.removeAll(job);
        job->deleteLater();
        if (m_jobs.isEmpty())
            emit busyChanged(false);
    });
    if (m_jobs.size() == 1)
        emit busyChanged(true);
    emit jobStarted(job);
    m_pool.start(job);
}

QList<Job *> JobRunner::jobs() const
{
    QList<Job *> out;
    for (const auto &j : m_jobs)
        if (j)
            out.append(j);
    return out;
}

void JobRunner::cancelAll()
{
    for (const auto &j : m_jobs)
        if (j)
            j->cancel();
}

void JobRunner::shutdown()
{
    cancelAll();
    m_pool.waitForDone();
}
