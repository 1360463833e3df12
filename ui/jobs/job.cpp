#include "job.h"

#include "util/error.h"

#include <exception>

Job::Job(const QString &title, Work work, QObject *parent)
    : QObject(parent)
    , m_title(title)
    , m_work(std::move(work))
    // The sink runs on worker threads; emitting a signal of this GUI-thread object from there
    // queues it, so the worker never touches a widget.
    , m_ctx([this](const QuantFit::Progress &p) { emit progressChanged(p); }, 100)
{
    qRegisterMetaType<QuantFit::Progress>();
    setAutoDelete(false);
    connect(this, &Job::progressChanged, this, [this](const QuantFit::Progress &p) { m_last = p; });
}

Job::~Job() = default;

void Job::cancel()
{
    m_ctx.requestCancel();
}

bool Job::isCancelRequested() const
{
    return m_ctx.isCancelled();
}

void Job::run()
{
    emit started();
    try {
        m_ctx.throwIfCancelled();
        m_work(m_ctx);
        m_ctx.flush();
        emit succeeded();
    } catch (const QuantFit::Cancelled &) {
        emit cancelled();
    } catch (const QuantFit::Error &e) {
        emit failed(e.message());
    } catch (const std::bad_alloc &) {
        emit failed(tr("%1: out of memory").arg(m_title));
    } catch (const std::exception &e) {
        emit failed(tr("%1 failed: %2").arg(m_title, QString::fromLocal8Bit(e.what())));
    } catch (...) {
        emit failed(tr("%1 failed with an unknown error").arg(m_title));
    }
    emit finished();
}
