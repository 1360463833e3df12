#pragma once

#include <QString>
#include <QStringList>

#include <functional>
#include <vector>

namespace QuantFit::Cli {

/// A subcommand: `run` receives the arguments after the subcommand name and returns the exit
/// code. It may throw: main() turns any Error into one "error: ..." line and exit code 1.
struct Command {
    QString name;
    QString summary;
    std::function<int(const QStringList &args)> run;
};

std::vector<Command> &commandTable();

/// Registers a subcommand at static-initialization time (one per cmd*.cpp file).
struct CommandRegistration {
    CommandRegistration(const QString &name, const QString &summary,
                        std::function<int(const QStringList &)> run);
};

/// Prints to stdout/stderr in UTF-8.
void out(const QString &text);
void err(const QString &text);


} // namespace QuantFit::Cli
