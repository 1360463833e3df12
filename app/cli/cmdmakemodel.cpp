// quantfit-cli make-model OUT.gguf [--layers N] [--embd N] [--ff N] [--heads N] [--kv-heads N]
//                                  [--vocab N] [--ctx N] [--seed S] [--type F32|F16] [--tied]

#include "cliargs.h"
#include "command.h"

#include "gguf/ggufwriter.h"
#include "jobs/consolecontext.h"
#include "model/syntheticmodel.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QFileInfo>

namespace QuantFit::Cli {

namespace {

int runMakeModel(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Writes a deterministic synthetic LLaMA-architecture model: heavy-tailed "
                       "weights with per-row scales and outlier columns, and a SentencePiece-style "
                       "vocabulary. Loads in llama.cpp like a converted model."));
    parser.addPositionalArgument(QStringLiteral("OUT.gguf"), QStringLiteral("Output file."));
    const SyntheticModelOptions defaults;
    auto opt = [&](const char *name, const QString &help, qint64 def) {
        parser.addOption(QCommandLineOption(QLatin1String(name),
                                            help + QStringLiteral(" (default %1).").arg(def),
                                            QStringLiteral("N")));
    };
    opt("layers", QStringLiteral("Transformer blocks"), defaults.nLayers);
    opt("embd", QStringLiteral("Embedding width"), defaults.nEmbd);
    opt("ff", QStringLiteral("Feed-forward width"), defaults.nFf);
    opt("heads", QStringLiteral("Attention heads"), defaults.nHeads);
    opt("kv-heads", QStringLiteral("Key/value heads (GQA)"), defaults.nHeadsKv);
    opt("vocab", QStringLiteral("Vocabulary size"), defaults.nVocab);
    opt("ctx", QStringLiteral("Trained context length"), defaults.nCtx);
    opt("seed", QStringLiteral("Random seed"), qint64(defaults.seed));
    parser.addOption(QCommandLineOption(QStringLiteral("type"),
                                        QStringLiteral("Weight type: F32 or F16 (default F32)."),
                                        QStringLiteral("TYPE")));
    parser.addOption(QCommandLineOption(QStringLiteral("tied"),
                                        QStringLiteral("Tie the output head to the embeddings.")));
    parser.addOption(QCommandLineOption(QStringLiteral("quiet"), QStringLiteral("No progress.")));
    if (!parseArgs(parser, QStringLiteral("make-model"), args, 1, 1))
        return 0;

    SyntheticModelOptions o;
    o.nLayers = std::uint32_t(intOption(parser, QStringLiteral("layers"), o.nLayers, 1, 512));
    o.nEmbd = std::uint32_t(intOption(parser, QStringLiteral("embd"), o.nEmbd, 8, 65536));
    o.nFf = std::uint32_t(intOption(parser, QStringLiteral("ff"), o.nFf, 8, 262144));
    o.nHeads = std::uint32_t(intOption(parser, QStringLiteral("heads"), o.nHeads, 1, 1024));
    o.nHeadsKv = std::uint32_t(intOption(parser, QStringLiteral("kv-heads"), o.nHeadsKv, 1, 1024));
    o.nVocab = std::uint32_t(intOption(parser, QStringLiteral("vocab"), o.nVocab, 260, 1000000));
    o.nCtx = std::uint32_t(intOption(parser, QStringLiteral("ctx"), o.nCtx, 16, 10000000));
    o.seed = std::uint64_t(intOption(parser, QStringLiteral("seed"), 1, 0,
                                     std::numeric_limits<qint64>::max()));
    o.tiedEmbeddings = parser.isSet(QStringLiteral("tied"));
    if (parser.isSet(QStringLiteral("type"))) {
        const QString t = parser.value(QStringLiteral("type")).toUpper();
        if (t == QLatin1String("F32"))
            o.type = GgmlType::F32;
        else if (t == QLatin1String("F16"))
            o.type = GgmlType::F16;
        else
            throw Error(QStringLiteral("option --type: expected F32 or F16, got '%1'")
                            .arg(parser.value(QStringLiteral("type"))));
    }
    const QString out = parser.positionalArguments().at(0);
    validate(o);
    const std::uint64_t bytes = syntheticModelLayout(o).fileBytes();
    ConsoleContext ctx(parser.isSet(QStringLiteral("quiet")));
    writeSyntheticModel(out, o, ctx);
    ctx.finishLine();
    Cli::out(QStringLiteral("wrote %1 (%2, %3 bytes)\n")
                 .arg(QFileInfo(out).filePath(), formatBytes(bytes))
                 .arg(bytes));
    return 0;
}

const CommandRegistration reg(QStringLiteral("make-model"),
                              QStringLiteral("Write a synthetic LLaMA-architecture test model"),
                              runMakeModel);

} // namespace

} // namespace QuantFit::Cli
