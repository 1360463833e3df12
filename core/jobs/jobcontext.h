#pragma once

#include "progress.h"

#include <QElapsedTimer>
#include <QString>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>

namespace QuantFit {

/// What a long core function receives: a cancel flag and a progress sink. Plain C++; the same
/// function runs under the CLI (ConsoleContext), tests (recording contexts) and the GUI (Job).
///
/// Thread-safety: advance(), setMetric(), isCancelled() and throwIfCancelled() may be called
/// from any worker thread; setStage()/setTotal() from the coordinating thread.
/// Reports to the sink are throttled to at most one per `minIntervalMs`, plus every stage
/// change and the final one.
class JobContext
{
public:
    using Sink = std::function<void(const Progress &)>;

    explicit JobContext(Sink sink = {}, int minIntervalMs = 100);
    virtual ~JobContext() = default;

    void setStage(const QString &stage, std::uint64_t total = 0);
    void setTotal(std::uint64_t total);
    void setRateUnit(const QString &unit, double unitsPerRateUnit = 1.0);
    void advance(std::uint64_t units);
    void setMetric(const QString &name, double value, std::optional<double> error = {});
    /// Forces a report now (end of a stage, end of the job).
    void flush();

    void requestCancel() { m_cancelled.store(true, std::memory_order_relaxed); }
    /// Also cancelled when `parent` is: for a context that runs one stage of a larger job
    /// (set before the work starts; `parent` must outlive this context).
    void followCancel(const JobContext &parent) { m_cancelParent = &parent; }
    bool isCancelled() const
    {
        return m_cancelled.load(std::memory_order_relaxed)
            || (m_cancelParent && m_cancelParent->isCancelled());
    }
    /// Throws Cancelled when a cancel was requested.
    void throwIfCancelled() const;

    Progress snapshot() const;
    double elapsedSeconds() const;

protected:
    virtual void report(const Progress &progress);

private:
    void maybeReport(bool force);

    Sink m_sink;
    int m_minIntervalMs;
    std::atomic<bool> m_cancelled{false};
    const JobContext *m_cancelParent = nullptr;
    std::atomic<std::uint64_t> m_done{0};
    std::atomic<qint64> m_lastReportMs{-1000000};
    mutable std::mutex m_mutex; // guards the fields below and serializes reports
    QString m_stage;
    std::uint64_t m_total = 0;
    QString m_metricName;
    std::optional<double> m_metric;
    std::optional<double> m_metricError;
    QString m_rateUnit;
    double m_unitsPerRateUnit = 1.0;
    QElapsedTimer m_timer;
};

/// A context for code that does not report or cancel (tests, quick calls).
class NullJobContext : public JobContext
{
public:
    NullJobContext() : JobContext({}, 1000000) {}
};

} // namespace QuantFit
