#pragma once

#include <QCommandLineParser>
#include <QString>
#include <QStringList>

namespace QuantFit::Cli {

/// Runs `parser` over a subcommand's arguments. Returns false when --help was printed (the
/// command then exits 0). Throws Error with the parser's message for unknown options or a wrong
/// number of positional arguments (`minPositional` .. `maxPositional`, -1 = unlimited).
bool parseArgs(QCommandLineParser &parser, const QString &command, const QStringList &args,
               int minPositional, int maxPositional);

/// Reads an integer/double option, throwing Error "option --x: expected ..., got '...'".
qint64 intOption(const QCommandLineParser &parser, const QString &name, qint64 fallback,
                 qint64 min, qint64 max);
double doubleOption(const QCommandLineParser &parser, const QString &name, double fallback,
                    double min, double max);

/// The `-fa` / `--flash-attn` option's help text and value (llama.cpp's spelling): on, off, or
/// auto (what llama.cpp's CPU backend then picks: on). Unset: on, llama.cpp's default. Throws
/// Error "option --flash-attn: expected on, off or auto, got '...'".
QCommandLineOption flashAttnOptionSpec();
bool flashAttnOption(const QCommandLineParser &parser);

} // namespace QuantFit::Cli
