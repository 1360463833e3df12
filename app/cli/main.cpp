// quantfit-cli: dispatches to the subcommand named by the first argument. Every failure ends as
// one "error: ..." line on stderr and exit status 1; Ctrl+C during a long job exits with 130.

#include "command.h"

#include "util/error.h"
#include "util/units.h"

#include <QCoreApplication>

#include <algorithm>
#include <exception>
#include <new>

using namespace QuantFit;
using namespace QuantFit::Cli;

namespace {

void printUsage()
{
    auto commands = commandTable();
    std::sort(commands.begin(), commands.end(),
              [](const Command &a, const Command &b) { return a.name < b.name; });
    QString text = QStringLiteral("usage: quantfit-cli COMMAND [ARGS...]\n\n"
                                  "QuantFit %1: size, quantize and measure GGUF models.\n\n"
                                  "Commands:\n")
                       .arg(QLatin1String(QUANTFIT_VERSION));
    for (const auto &c : commands)
        text += QStringLiteral("  %1 %2\n").arg(c.name, -12).arg(c.summary);
    text += QStringLiteral("\nRun 'quantfit-cli COMMAND --help' for a command's options.\n");
    out(text);
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("quantfit-cli"));
    QCoreApplication::setApplicationVersion(QLatin1String(QUANTFIT_VERSION));

    QStringList args = QCoreApplication::arguments().mid(1);
    if (args.isEmpty() || args.first() == QLatin1String("--help")
        || args.first() == QLatin1String("-h") || args.first() == QLatin1String("help")) {
        printUsage();
        return args.isEmpty() ? 1 : 0;
    }
    if (args.first() == QLatin1String("--version")) {
        out(QStringLiteral("quantfit-cli %1\n").arg(QLatin1String(QUANTFIT_VERSION)));
        return 0;
    }
    const QString name = args.takeFirst();
    const auto &table = commandTable();
    const auto it = std::find_if(table.begin(), table.end(),
                                 [&](const Command &c) { return c.name == name; });
    if (it == table.end()) {
        err(QStringLiteral("error: unknown command '%1' (run 'quantfit-cli --help' for the list)\n")
                .arg(name));
        return 1;
    }
    try {
        return it->run(args);
    } catch (const Cancelled &) {
        err(QStringLiteral("\ncancelled\n"));
        return 130;
    } catch (const Error &e) {
        // Messages quote names and values from files: nothing in them may act on the terminal.
        err(QStringLiteral("error: %1\n").arg(escapeControlCharacters(e.message(), true)));
    } catch (const std::bad_alloc &) {
        err(QStringLiteral("error: out of memory\n"));
    } catch (const std::exception &e) {
        err(QStringLiteral("error: %1\n").arg(QString::fromLocal8Bit(e.what())));
    }
    return 1;
}
