#include "generationargs.h"

#include "cliargs.h"

#include "util/error.h"

#include <limits>

namespace QuantFit::Cli {

void addGenerationOptions(QCommandLineParser &parser, int defaultTokens)
{
    parser.addOption({{QStringLiteral("p"), QStringLiteral("prompt")},
                      QStringLiteral("Prompt text (required)."), QStringLiteral("TEXT")});
    parser.addOption({{QStringLiteral("n"), QStringLiteral("n-predict")},
                      QStringLiteral("Tokens to generate (default %1).").arg(defaultTokens),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("seed"), QStringLiteral("Sampling seed (default 0)."),
                      QStringLiteral("S")});
    parser.addOption({QStringLiteral("temp"),
                      QStringLiteral("Temperature; 0 = greedy (default 0)."), QStringLiteral("T")});
    parser.addOption({QStringLiteral("top-k"), QStringLiteral("Top-k cut; 0 = off (default 40)."),
                      QStringLiteral("K")});
    parser.addOption({QStringLiteral("top-p"), QStringLiteral("Top-p cut; 1 = off (default 0.95)."),
                      QStringLiteral("P")});
    parser.addOption({QStringLiteral("threads"), QStringLiteral("Threads (default: all cores)."),
                      QStringLiteral("N")});
}

GenerationOptions generationOptionsFrom(const QCommandLineParser &parser, const QString &command,
                                        int defaultTokens, int minTokens)
{
    if (!parser.isSet(QStringLiteral("p")))
        throw Error(QStringLiteral("%1: a prompt is required (-p TEXT)").arg(command));
    GenerationOptions gen;
    gen.nPredict = int(intOption(parser, QStringLiteral("n"), defaultTokens, minTokens, 1 << 20));
    gen.sampler.seed = std::uint64_t(intOption(parser, QStringLiteral("seed"), 0, 0,
                                               std::numeric_limits<qint64>::max()));
    gen.sampler.temperature = doubleOption(parser, QStringLiteral("temp"), 0.0, 0.0, 100.0);
    gen.sampler.topK = int(intOption(parser, QStringLiteral("top-k"), 40, 0, 1 << 24));
    gen.sampler.topP = doubleOption(parser, QStringLiteral("top-p"), 0.95, 0.0, 1.0);
    return gen;
}

} // namespace QuantFit::Cli
