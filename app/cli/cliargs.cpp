#include "cliargs.h"

#include "command.h"

#include "util/error.h"

#include <QCoreApplication>

namespace QuantFit::Cli {

bool parseArgs(QCommandLineParser &parser, const QString &command, const QStringList &args,
               int minPositional, int maxPositional)
{
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    const QCommandLineOption help(QStringList{QStringLiteral("h"), QStringLiteral("help")},
                                  QStringLiteral("Show this help."));
    parser.addOption(help);
    QStringList full = args;
    full.prepend(QStringLiteral("quantfit-cli ") + command);
    if (!parser.parse(full))
        throw Error(QStringLiteral("%1: %2").arg(command, parser.errorText()));
    if (parser.isSet(help)) {
        // Qt names the program by its path; show the command as the user types it.
        QString text = parser.helpText();
        const QString program = QCoreApplication::arguments().value(0);
        if (!program.isEmpty())
            text.replace(QStringLiteral("Usage: ") + program,
                         QStringLiteral("Usage: quantfit-cli ") + command);
        out(text);
        return false;
    }
    const auto n = parser.positionalArguments().size();
    if (n < minPositional || (maxPositional >= 0 && n > maxPositional))
        throw Error(QStringLiteral("%1: wrong number of arguments (run 'quantfit-cli %1 --help')")
                        .arg(command));
    return true;
}

qint64 intOption(const QCommandLineParser &parser, const QString &name, qint64 fallback,
                 qint64 min, qint64 max)
{
    if (!parser.isSet(name))
        return fallback;
    bool ok = false;
    const QString text = parser.value(name);
    const qint64 v = text.toLongLong(&ok);
    if (!ok || v < min || v > max)
        throw Error(QStringLiteral("option --%1: expected a whole number from %2 to %3, got '%4'")
                        .arg(name).arg(min).arg(max).arg(text));
    return v;
}

double doubleOption(const QCommandLineParser &parser, const QString &name, double fallback,
                    double min, double max)
{
    if (!parser.isSet(name))
        return fallback;
    bool ok = false;
    const QString text = parser.value(name);
    const double v = text.toDouble(&ok);
    if (!ok || !(v >= min && v <= max))
        throw Error(QStringLiteral("option --%1: expected a number from %2 to %3, got '%4'")
                        .arg(name).arg(min).arg(max).arg(text));
    return v;
}

QCommandLineOption flashAttnOptionSpec()
{
    return QCommandLineOption(
        QStringList{QStringLiteral("fa"), QStringLiteral("flash-attn")},
        QStringLiteral("Attention numerics of llama.cpp's flash-attention kernel: on (default, "
                       "llama.cpp's CPU default), off (as llama.cpp's -fa off), or auto (= on)."),
        QStringLiteral("on|off|auto"));
}

bool flashAttnOption(const QCommandLineParser &parser)
{
    if (!parser.isSet(QStringLiteral("flash-attn")))
        return true;
    const QString v = parser.value(QStringLiteral("flash-attn")).toLower();
    if (v == QLatin1String("on") || v == QLatin1String("auto"))
        return true;
    if (v == QLatin1String("off"))
        return false;
    throw Error(QStringLiteral("option --flash-attn: expected on, off or auto, got '%1'")
                    .arg(parser.value(QStringLiteral("flash-attn"))));
}

} // namespace QuantFit::Cli
