// quantfit-cli compare MODEL_A MODEL_B ... -p PROMPT [-n N] [--seed S] [--temp T] [--top-k K]
//                      [--top-p P] [--threads N] [--width W]
// The brief's "same prompt, different quants": runs the same prompt through each model in turn
// (one model in memory at a time) and prints the continuations side by side, with the file
// size and prompt/generation tokens per second of each.

#include "cliargs.h"
#include "command.h"
#include "generationargs.h"

#include "jobs/consolecontext.h"
#include "tasks/generationtask.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QFileInfo>

namespace QuantFit::Cli {

namespace {

struct Column {
    QString title;
    QStringList header; // facts lines: size, speed
    QString text;
};

// Greedy word wrap to `width` characters; long words are split.
QStringList wrap(const QString &text, int width)
{
    QStringList lines;
    for (const QString &paragraph : text.split(QLatin1Char('\n'))) {
        QString line;
        for (QString word : paragraph.split(QLatin1Char(' '))) {
            while (word.size() > width) {
                if (!line.isEmpty()) {
                    lines << line;
                    line.clear();
                }
                lines << word.left(width);
                word = word.mid(width);
            }
            if (line.isEmpty())
                line = word;
            else if (line.size() + 1 + word.size() <= width)
                line += QLatin1Char(' ') + word;
            else {
                lines << line;
                line = word;
            }
        }
        lines << line;
    }
    return lines;
}

QString fit(const QString &s, int width)
{
    return s.size() > width ? s.left(width - 1) + QChar(0x2026) : s.leftJustified(width);
}

int runCompare(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Runs the same prompt through several models (e.g. different quants of one model) and "
        "prints the outputs side by side with tokens/s."));
    parser.addPositionalArgument(QStringLiteral("MODEL"), QStringLiteral("GGUF model files."),
                                 QStringLiteral("MODEL_A MODEL_B [...]"));
    addGenerationOptions(parser, 48);
    parser.addOption({QStringLiteral("width"),
                      QStringLiteral("Total output width in characters (default 120)."),
                      QStringLiteral("W")});
    if (!parseArgs(parser, QStringLiteral("compare"), args, 1, -1))
        return 0;
    TextGenerationRequest request;
    request.options = generationOptionsFrom(parser, QStringLiteral("compare"), 48, 1);
    request.nThreads = int(intOption(parser, QStringLiteral("threads"), 0, 0, 1024));
    const int totalWidth = int(intOption(parser, QStringLiteral("width"), 120, 20, 10000));
    request.prompt = parser.value(QStringLiteral("p"));
    request.modelPaths = parser.positionalArguments();

    ConsoleContext ctx(true);
    const TextGenerationResult result = runTextGeneration(request, ctx);
    std::vector<Column> columns;
    for (const GeneratedText &g : result.outputs) {
        Column col;
        col.title = QFileInfo(g.modelPath).fileName();
        col.text = QString::fromUtf8(g.continuation);
        for (QChar &ch : col.text) {
            // Control characters would break the columns (random models emit them).
            if (ch.category() == QChar::Other_Control && ch != QLatin1Char('\n'))
                ch = QChar(0xB7);
        }
        col.header << QStringLiteral("%1, %2 bpw").arg(formatBytes(g.fileBytes))
                          .arg(g.bitsPerWeight, 0, 'f', 2);
        col.header << QStringLiteral("prompt %1 tok/s").arg(g.promptTokensPerSecond, 0, 'f', 1);
        col.header << QStringLiteral("gen %1 tok/s (%2 tok)")
                          .arg(g.generatedTokensPerSecond, 0, 'f', 1)
                          .arg(g.nGenerated);
        columns.push_back(std::move(col));
    }
    const QString promptText = request.prompt;

    const int nCols = int(columns.size());
    const QString sep = QStringLiteral(" | ");
    const int width = std::max(16, (totalWidth - int(sep.size()) * (nCols - 1)) / nCols);
    std::vector<QStringList> bodies;
    std::size_t nLines = 0;
    for (const Column &c : columns) {
        QStringList lines = wrap(c.text.trimmed(), width);
        nLines = std::max(nLines, std::size_t(lines.size()));
        bodies.push_back(std::move(lines));
    }
    auto row = [&](const std::function<QString(int)> &cell) {
        QStringList cells;
        for (int c = 0; c < nCols; ++c)
            cells << fit(cell(c), width);
        Cli::out(cells.join(sep).trimmed() + QLatin1Char('\n'));
    };
    Cli::out(QStringLiteral("prompt: %1\n\n").arg(promptText));
    row([&](int c) { return columns[std::size_t(c)].title; });
    for (int h = 0; h < 3; ++h)
        row([&](int c) { return columns[std::size_t(c)].header.value(h); });
    row([&](int) { return QString(width, QLatin1Char('-')); });
    for (std::size_t l = 0; l < nLines; ++l)
        row([&](int c) { return bodies[std::size_t(c)].value(qsizetype(l)); });
    return 0;
}

const CommandRegistration reg(QStringLiteral("compare"),
                              QStringLiteral("Run one prompt through several models side by side"),
                              runCompare);

} // namespace

} // namespace QuantFit::Cli
