#include "jobcontext.h"

#include "util/error.h"

namespace QuantFit {

double Progress::etaSeconds() const
{
    if (done == 0 || total == 0 || elapsedSeconds <= 0 || done >= total)
        return done >= total && total ? 0.0 : -1.0;
    return elapsedSeconds * double(total - done) / double(done);
}

JobContext::JobContext(Sink sink, int minIntervalMs)
    : m_sink(std::move(sink))
    , m_minIntervalMs(minIntervalMs)
{
    m_timer.start();
}

void JobContext::setStage(const QString &stage, std::uint64_t total)
{
    {
        std::lock_guard lock(m_mutex);
        m_stage = stage;
        if (total)
            m_total = total;
    }
    maybeReport(true);
}

void JobContext::setTotal(std::uint64_t total)
{
    std::lock_guard lock(m_mutex);
    m_total = total;
}

void JobContext::setRateUnit(const QString &unit, double unitsPerRateUnit)
{
    std::lock_guard lock(m_mutex);
    m_rateUnit = unit;
    m_unitsPerRateUnit = unitsPerRateUnit > 0 ? unitsPerRateUnit : 1.0;
}

void JobContext::advance(std::uint64_t units)
{
    m_done.fetch_add(units, std::memory_order_relaxed);
    maybeReport(false);
}

void JobContext::setMetric(const QString &name, double value, std::optional<double> error)
{
    {
        std::lock_guard lock(m_mutex);
        m_metricName = name;
        m_metric = value;
        m_metricError = error;
    }
    maybeReport(true);
}

void JobContext::flush()
{
    maybeReport(true);
}

void JobContext::throwIfCancelled() const
{
    if (isCancelled())
        throw Cancelled();
}

double JobContext::elapsedSeconds() const
{
    return double(m_timer.nsecsElapsed()) / 1e9;
}

Progress JobContext::snapshot() const
{
    std::lock_guard lock(m_mutex);
    Progress p;
    p.stage = m_stage;
    p.done = m_done.load(std::memory_order_relaxed);
    p.total = m_total;
    p.elapsedSeconds = elapsedSeconds();
    p.metricName = m_metricName;
    p.metric = m_metric;
    p.metricError = m_metricError;
    p.rateUnit = m_rateUnit;
    if (p.elapsedSeconds > 0)
        p.rate = double(p.done) / m_unitsPerRateUnit / p.elapsedSeconds;
    return p;
}

void JobContext::maybeReport(bool force)
{
    const qint64 now = m_timer.elapsed();
    if (!force) {
        qint64 last = m_lastReportMs.load(std::memory_order_relaxed);
        if (now - last < m_minIntervalMs)
            return;
        if (!m_lastReportMs.compare_exchange_strong(last, now))
            return; // another thread reports this slot
    } else {
        m_lastReportMs.store(now, std::memory_order_relaxed);
    }
    const Progress p = snapshot();
    std::lock_guard lock(m_mutex);
    report(p);
}

void JobContext::report(const Progress &progress)
{
    if (m_sink)
        m_sink(progress);
}

} // namespace QuantFit
