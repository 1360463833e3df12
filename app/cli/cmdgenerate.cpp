// quantfit-cli generate MODEL -p PROMPT [-n N] [--seed S] [--temp T] [--top-k K] [--top-p P]
//                       [--ctx N] [--threads N]
// Runs the prompt through the model and prints the continuation as it is produced (greedy at
// --temp 0, the default); timings go to stderr.

#include "cliargs.h"
#include "command.h"
#include "generationargs.h"

#include "jobs/consolecontext.h"
#include "tasks/generationtask.h"
#include "util/error.h"

#include <QCommandLineParser>
#include <QFileInfo>

#include <cstdio>

namespace QuantFit::Cli {

namespace {

int runGenerate(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Generates a continuation of PROMPT with MODEL (greedy unless --temp is above 0)."));
    parser.addPositionalArgument(QStringLiteral("MODEL"), QStringLiteral("GGUF model file."));
    addGenerationOptions(parser, 64);
    parser.addOption({QStringLiteral("ctx"),
                      QStringLiteral("Context length (default: prompt + N, at most the trained "
                                     "context)."),
                      QStringLiteral("N")});
    if (!parseArgs(parser, QStringLiteral("generate"), args, 1, 1))
        return 0;
    TextGenerationRequest request;
    request.options = generationOptionsFrom(parser, QStringLiteral("generate"), 64, 0);
    request.nThreads = int(intOption(parser, QStringLiteral("threads"), 0, 0, 1024));
    request.nCtx = int(intOption(parser, QStringLiteral("ctx"), 0, 1, 1 << 20));
    request.modelPaths = parser.positionalArguments();
    request.prompt = parser.value(QStringLiteral("p"));

    // The prompt as given, then the continuation as it is produced.
    const QByteArray promptUtf8 = request.prompt.toUtf8();
    bool promptShown = false;
    request.onText = [&](int, const QByteArray &text) {
        if (!promptShown) {
            std::fwrite(promptUtf8.constData(), 1, std::size_t(promptUtf8.size()), stdout);
            promptShown = true;
        }
        std::fwrite(text.constData(), 1, std::size_t(text.size()), stdout);
        std::fflush(stdout);
    };
    ConsoleContext ctx(true);
    const TextGenerationResult result = runTextGeneration(request, ctx);
    if (!promptShown)
        std::fwrite(promptUtf8.constData(), 1, std::size_t(promptUtf8.size()), stdout);
    std::fputc('\n', stdout);
    const GeneratedText &g = result.outputs.front();
    Cli::err(QStringLiteral("%1: prompt %2 tokens, %3 tokens/s; generated %4 tokens, %5 tokens/s "
                            "(%6 threads)\n")
                 .arg(QFileInfo(g.modelPath).fileName())
                 .arg(g.nPromptTokens)
                 .arg(g.promptTokensPerSecond, 0, 'f', 1)
                 .arg(g.nGenerated)
                 .arg(g.generatedTokensPerSecond, 0, 'f', 1)
                 .arg(g.nThreads));
    return 0;
}

const CommandRegistration reg(QStringLiteral("generate"),
                              QStringLiteral("Generate text from a prompt with a model"),
                              runGenerate);

} // namespace

} // namespace QuantFit::Cli
