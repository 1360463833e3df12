#include "command.h"

#include <cstdio>

namespace QuantFit::Cli {

std::vector<Command> &commandTable()
{
    static std::vector<Command> table;
    return table;
}

CommandRegistration::CommandRegistration(const QString &name, const QString &summary,
                                         std::function<int(const QStringList &)> run)
{
    commandTable().push_back(Command{name, summary, std::move(run)});
}

void out(const QString &text)
{
    const QByteArray b = text.toUtf8();
    std::fwrite(b.constData(), 1, std::size_t(b.size()), stdout);
}

void err(const QString &text)
{
    std::fflush(stdout);
    const QByteArray b = text.toUtf8();
    std::fwrite(b.constData(), 1, std::size_t(b.size()), stderr);
}

} // namespace QuantFit::Cli
