// quantfit-bench COMMAND [ARGS...]: runs one benchmark subcommand (see bench.h).

#include "bench.h"

#include "util/error.h"

#include <QCoreApplication>
#include <QFile>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace QuantFit::Bench {

std::vector<BenchCommand> &benchCommands()
{
    static std::vector<BenchCommand> commands;
    return commands;
}

BenchRegistration::BenchRegistration(const QString &name, const QString &summary,
                                     std::function<int(const QStringList &)> run)
{
    benchCommands().push_back({name, summary, std::move(run)});
}

namespace {

std::uint64_t statusKiB(const char *field)
{
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return 0;
    const QByteArray prefix = QByteArray(field) + ':';
    for (const QByteArray &line : f.readAll().split('\n')) {
        if (line.startsWith(prefix))
            return line.mid(prefix.size()).trimmed().split(' ').value(0).toULongLong();
    }
    return 0;
}

} // namespace

std::uint64_t peakRssBytes()
{
    return statusKiB("VmHWM") * 1024;
}

std::uint64_t currentRssBytes()
{
    return statusKiB("VmRSS") * 1024;
}

bool resetPeakRss()
{
    QFile f(QStringLiteral("/proc/self/clear_refs"));
    return f.open(QIODevice::WriteOnly) && f.write("5") == 1;
}

namespace {

double cpuSeconds(clockid_t clock)
{
    timespec ts{};
    ::clock_gettime(clock, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

} // namespace

double processCpuSeconds()
{
    return cpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
}

double threadCpuSeconds()
{
    return cpuSeconds(CLOCK_THREAD_CPUTIME_ID);
}

void print(const QString &line)
{
    const QByteArray b = (line + QLatin1Char('\n')).toUtf8();
    std::fwrite(b.constData(), 1, std::size_t(b.size()), stdout);
    std::fflush(stdout);
}

} // namespace QuantFit::Bench

int main(int argc, char **argv)
{
    using namespace QuantFit::Bench;
    QCoreApplication app(argc, argv);
    QStringList args = QCoreApplication::arguments().mid(1);
    auto commands = benchCommands();
    std::sort(commands.begin(), commands.end(),
              [](const auto &a, const auto &b) { return a.name < b.name; });
    if (args.isEmpty() || args.first() == QLatin1String("--help")) {
        QString text = QStringLiteral("usage: quantfit-bench COMMAND [ARGS...]\n\nCommands:\n");
        for (const auto &c : commands)
            text += QStringLiteral("  %1 %2\n").arg(c.name, -12).arg(c.summary);
        print(text);
        return args.isEmpty() ? 1 : 0;
    }
    const QString name = args.takeFirst();
    for (const auto &c : commands) {
        if (c.name != name)
            continue;
        try {
            return c.run(args);
        } catch (const QuantFit::Error &e) {
            std::fprintf(stderr, "error: %s\n", e.message().toUtf8().constData());
        } catch (const std::exception &e) {
            std::fprintf(stderr, "error: %s\n", e.what());
        }
        return 1;
    }
    std::fprintf(stderr, "error: unknown command '%s'\n", name.toUtf8().constData());
    return 1;
}
