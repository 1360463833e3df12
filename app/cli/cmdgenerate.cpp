// quantfit-cli generate MODEL -p PROMPT [-n N] [--seed S] [--temp T] [--top-k K] [--top-p P]
//                       [--ctx N] [--threads N]
// Runs the prompt through the model and prints the continuation as it is produced (greedy at
// --temp 0, the default); timings go to stderr.

#include "cliargs.h"
#include "command.h"
#include "generationargs.h"

#include "gguf/ggufreader.h"
#include "infer/generator.h"
#include "infer/llamamodel.h"
#include "jobs/consolecontext.h"
#include "tokenize/tokenizer.h"
#include "util/error.h"

#include <QCommandLineParser>
#include <QFileInfo>

#include <cstdio>

namespace QuantFit::Cli {

namespace {

// Length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence.
qsizetype completeUtf8Prefix(const QByteArray &bytes)
{
    qsizetype n = bytes.size();
    for (qsizetype back = 1; back <= 4 && back <= n; ++back) {
        const auto c = static_cast<unsigned char>(bytes[n - back]);
        if ((c & 0xC0) == 0x80)
            continue; // continuation byte: look further back for the lead
        int len = 1;
        if ((c & 0xE0) == 0xC0)
            len = 2;
        else if ((c & 0xF0) == 0xE0)
            len = 3;
        else if ((c & 0xF8) == 0xF0)
            len = 4;
        return back < len ? n - back : n;
    }
    return n;
}

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
    GenerationOptions gen = generationOptionsFrom(parser, QStringLiteral("generate"), 64, 0);
    const int nThreads = int(intOption(parser, QStringLiteral("threads"), 0, 0, 1024));

    const QString path = parser.positionalArguments().at(0);
    auto file = std::make_shared<const GgufFile>(GgufFile::open(path));
    auto model = std::make_shared<const LlamaModel>(file); // names an unsupported architecture
    const Tokenizer tokenizer = Tokenizer::fromMetadata(file->metadata(), path);
    const std::vector<std::int32_t> prompt =
        tokenizer.encode(parser.value(QStringLiteral("p")), true);
    if (prompt.empty())
        throw Error(QStringLiteral("generate: the prompt produced no tokens"));

    const int wantCtx = int(std::min<qint64>(qint64(prompt.size()) + gen.nPredict + 1,
                                             model->nCtxTrain()));
    const int nCtx = int(intOption(parser, QStringLiteral("ctx"), std::max(wantCtx, 1), 1,
                                   1 << 20));
    InferenceSession session(model, {.nCtx = nCtx, .nThreads = nThreads});

    // Prints the prompt as given, then the decoded continuation incrementally (whole UTF-8
    // characters only): the text after what decoding the prompt alone gives.
    std::vector<std::int32_t> all = prompt;
    const QByteArray promptUtf8 = parser.value(QStringLiteral("p")).toUtf8();
    std::fwrite(promptUtf8.constData(), 1, std::size_t(promptUtf8.size()), stdout);
    std::fflush(stdout);
    qsizetype printed = tokenizer.decode(prompt, true).size();
    auto flushText = [&](bool final) {
        const QByteArray text = tokenizer.decode(all, true);
        const qsizetype end = final ? text.size() : completeUtf8Prefix(text);
        if (end > printed) {
            std::fwrite(text.constData() + printed, 1, std::size_t(end - printed), stdout);
            std::fflush(stdout);
            printed = end;
        }
    };

    ConsoleContext ctx(true);
    const GenerationResult result = generate(
        session, prompt, gen,
        [&](std::int32_t token) {
            all.push_back(token);
            if (tokenizer.isEndOfGeneration(token))
                return false;
            flushText(false);
            return true;
        },
        ctx);
    flushText(true);
    std::fputc('\n', stdout);
    Cli::err(QStringLiteral("%1: prompt %2 tokens, %3 tokens/s; generated %4 tokens, %5 tokens/s "
                            "(%6 threads)\n")
                 .arg(QFileInfo(path).fileName())
                 .arg(result.nPromptTokens)
                 .arg(result.promptTokensPerSecond(), 0, 'f', 1)
                 .arg(result.tokens.size())
                 .arg(result.generatedTokensPerSecond(), 0, 'f', 1)
                 .arg(session.nThreads()));
    return 0;
}

const CommandRegistration reg(QStringLiteral("generate"),
                              QStringLiteral("Generate text from a prompt with a model"),
                              runGenerate);

} // namespace

} // namespace QuantFit::Cli
