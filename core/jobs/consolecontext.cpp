#include "consolecontext.h"

#include "util/units.h"

#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace QuantFit {

namespace {

std::atomic<ConsoleContext *> g_active{nullptr};

extern "C" void onInterrupt(int)
{
    // Only an atomic store: async-signal-safe.
    if (auto *ctx = g_active.load())
        ctx->requestCancel();
}

} // namespace

ConsoleContext::ConsoleContext(bool quiet)
    : JobContext({}, 250)
    , m_quiet(quiet)
    , m_tty(::isatty(STDERR_FILENO) == 1)
{
    g_active.store(this);
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
}

ConsoleContext::~ConsoleContext()
{
    finishLine();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    g_active.store(nullptr);
}

void ConsoleContext::finishLine()
{
    if (m_lineOpen && m_tty)
        std::fputc('\n', stderr);
    m_lineOpen = false;
}

void ConsoleContext::report(const Progress &p)
{
    if (m_quiet)
        return;
    QString line = p.stage;
    if (p.total)
        line += QStringLiteral("  %1%").arg(100.0 * p.fraction(), 5, 'f', 1);
    if (p.rate > 0 && !p.rateUnit.isEmpty())
        line += QStringLiteral("  %1 %2").arg(p.rate, 0, 'f', 1).arg(p.rateUnit);
    if (p.metric)
        line += QStringLiteral("  %1 %2").arg(p.metricName).arg(*p.metric, 0, 'f', 4)
                + (p.metricError ? QStringLiteral(" +/- %1").arg(*p.metricError, 0, 'f', 4)
                                 : QString());
    const double eta = p.etaSeconds();
    if (eta >= 0 && p.done < p.total)
        line += QStringLiteral("  ETA %1").arg(formatDuration(eta));
    const QByteArray bytes = line.toLocal8Bit();
    if (m_tty) {
        std::fprintf(stderr, "\r\033[K%s", bytes.constData());
        m_lineOpen = true;
    } else {
        std::fprintf(stderr, "%s\n", bytes.constData());
    }
    std::fflush(stderr);
}

} // namespace QuantFit
