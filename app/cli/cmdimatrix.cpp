// quantfit-cli imatrix MODEL -f TEXT -o OUT [--chunks N] [--ctx N] [--batch N] [--threads N]
//                     [-fa on|off] [--output-format gguf|dat] [--process-output]

#include "cliargs.h"
#include "command.h"

#include "jobs/consolecontext.h"
#include "tasks/imatrixtask.h"
#include "util/error.h"

#include <QCommandLineParser>

#include <cstdio>

namespace QuantFit::Cli {

namespace {

int runImatrix(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Computes an importance matrix as llama-imatrix does: the text is evaluated in chunks "
        "of --ctx tokens and the squares of every weight matrix's input activations are summed "
        "per column. The output is the GGUF imatrix (default) or the legacy .dat "
        "(--output-format dat, or an OUT ending in .dat); `quantfit-cli quantize --imatrix` "
        "reads both. Experts' matrices (3-D weights) keep one count per expert in either format."));
    parser.addPositionalArgument(QStringLiteral("MODEL"), QStringLiteral("GGUF model."));
    auto add = [&](const QStringList &names, const QString &help, const QString &value = {}) {
        parser.addOption(QCommandLineOption(names, help, value));
    };
    add({QStringLiteral("f"), QStringLiteral("file")},
        QStringLiteral("Calibration text (a file or ARCHIVE:MEMBER)."), QStringLiteral("TEXT"));
    add({QStringLiteral("o"), QStringLiteral("output")}, QStringLiteral("Output file."),
        QStringLiteral("OUT"));
    add({QStringLiteral("c"), QStringLiteral("ctx")},
        QStringLiteral("Context per chunk (default 512)."), QStringLiteral("N"));
    add({QStringLiteral("chunks")}, QStringLiteral("Evaluate at most N chunks (default all)."),
        QStringLiteral("N"));
    add({QStringLiteral("b"), QStringLiteral("batch")},
        QStringLiteral("Tokens per forward step (default 2048)."), QStringLiteral("N"));
    add({QStringLiteral("t"), QStringLiteral("threads")},
        QStringLiteral("Threads (default all cores)."), QStringLiteral("N"));
    parser.addOption(flashAttnOptionSpec());
    add({QStringLiteral("output-format"), QStringLiteral("format")},
        QStringLiteral("gguf or dat (default: from OUT's extension, else gguf); --format is the "
                       "same option."),
        QStringLiteral("FORMAT"));
    add({QStringLiteral("process-output")},
        QStringLiteral("Also collect output.weight (as llama-imatrix --process-output)."));
    add({QStringLiteral("in-file")},
        QStringLiteral("Start from an existing imatrix (either format; repeatable): sums and "
                       "counts add up."),
        QStringLiteral("FILE"));
    add({QStringLiteral("quiet")}, QStringLiteral("Do not print the running perplexity."));
    if (!parseArgs(parser, QStringLiteral("imatrix"), args, 1, 1))
        return 0;
    if (!parser.isSet(QStringLiteral("file")))
        throw Error(QStringLiteral("imatrix: a calibration text is needed (-f TEXT)"));
    if (!parser.isSet(QStringLiteral("output")))
        throw Error(QStringLiteral("imatrix: an output file is needed (-o OUT)"));

    ImatrixRequest request;
    request.modelPath = parser.positionalArguments().at(0);
    request.textSource = parser.value(QStringLiteral("file"));
    request.outputPath = parser.value(QStringLiteral("output"));
    if (parser.isSet(QStringLiteral("output-format"))) {
        const QStringList given = parser.values(QStringLiteral("output-format"));
        const QString f = given.last().toLower();
        if (f == QLatin1String("gguf"))
            request.format = ImatrixFormat::Gguf;
        else if (f == QLatin1String("dat"))
            request.format = ImatrixFormat::Legacy;
        else
            throw Error(QStringLiteral("option --output-format: expected gguf or dat, got '%1'")
                            .arg(given.last()));
    }
    request.nCtx = int(intOption(parser, QStringLiteral("ctx"), 512, 4, 1 << 20));
    request.nChunks = int(intOption(parser, QStringLiteral("chunks"), -1, 1, INT32_MAX));
    request.nBatch = int(intOption(parser, QStringLiteral("batch"), 2048, 1, 1 << 20));
    request.nThreads = int(intOption(parser, QStringLiteral("threads"), 0, 1, 4096));
    request.processOutput = parser.isSet(QStringLiteral("process-output"));
    request.flashAttention = flashAttnOption(parser);
    request.inputPaths = parser.values(QStringLiteral("in-file"));
    if (!parser.isSet(QStringLiteral("quiet"))) {
        request.onChunk = [](const ChunkReport &r) {
            err(QStringLiteral("[%1]%2,").arg(r.chunk).arg(r.ppl, 0, 'f', 4));
            if (r.chunk == r.nChunks)
                err(QStringLiteral("\n"));
        };
    }

    ConsoleContext ctx(true);
    const ImatrixResult r = runImatrix(request, ctx);
    out(QStringLiteral("wrote %1: %2 tensors from %3 chunks of %4 tokens (%5 format); "
                       "PPL = %6 +/- %7\n")
            .arg(r.path)
            .arg(r.nEntries)
            .arg(r.nChunks)
            .arg(r.nCtx)
            .arg(r.format == ImatrixFormat::Gguf ? QStringLiteral("GGUF") : QStringLiteral("legacy .dat"))
            .arg(r.ppl, 0, 'f', 4)
            .arg(r.pplError, 0, 'f', 5));
    return 0;
}

const CommandRegistration reg(QStringLiteral("imatrix"),
                              QStringLiteral("Compute an importance matrix for quantization"),
                              runImatrix);

} // namespace

} // namespace QuantFit::Cli
