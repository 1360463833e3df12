// quantfit-cli quantize IN.gguf [OUT.gguf] TYPE[,TYPE...] [options]
// Argument order and options as llama-quantize (tools/quantize/quantize.cpp); several types in one call
// write several files from one pass over the input.

#include "cliargs.h"
#include "command.h"
#include "handoffargs.h"

#include "gguf/ggufreader.h"
#include "jobs/consolecontext.h"
#include "tasks/conversiontask.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QMap>

#include <optional>

namespace QuantFit::Cli {

namespace {

QString supportedTypeNames()
{
    QStringList names;
    for (const auto &f : allFileTypes()) {
        if (f.supported)
            names << QString::fromLatin1(f.name.data(), qsizetype(f.name.size()));
    }
    return names.join(QStringLiteral(", "));
}

std::vector<FileType> parseFileTypes(const QString &text)
{
    std::vector<FileType> types;
    for (const QString &part : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        const auto ft = fileTypeFromName(part.trimmed());
        if (!ft)
            throw Error(QStringLiteral("unknown file type '%1' (expected one of: %2)")
                            .arg(part, supportedTypeNames()));
        if (!fileTypeFacts(*ft).supported)
            throw Error(QStringLiteral("file type %1 is not supported yet (supported: %2)")
                            .arg(fileTypeName(*ft), supportedTypeNames()));
        if (std::find(types.begin(), types.end(), *ft) == types.end())
            types.push_back(*ft);
    }
    if (types.empty())
        throw Error(QStringLiteral("no file type given (expected one of: %1)").arg(supportedTypeNames()));
    return types;
}

std::optional<GgmlType> typeOption(const QCommandLineParser &parser, const QString &name)
{
    if (!parser.isSet(name))
        return std::nullopt;
    const QString v = parser.value(name);
    const auto t = ggmlTypeFromName(v);
    if (!t || !typeFacts(*t).canQuantize || typeFacts(*t).runtimeOnly)
        throw Error(QStringLiteral("option --%1: '%2' is not a tensor type we can write "
                                   "(e.g. q8_0, q6_K, q4_K, f16)")
                        .arg(name, v));
    return t;
}

QString shapeText(const GgufTensorInfo &t)
{
    QStringList dims;
    std::uint32_t n = 1;
    for (std::uint32_t d = 0; d < 4; ++d) {
        if (t.ne[d] > 1)
            n = d + 1;
    }
    for (std::uint32_t d = 0; d < n; ++d)
        dims << QString::number(t.ne[d]);
    return dims.join(QStringLiteral(" x "));
}

void printPlan(const QuantPlan &plan, const QString &inputPath, const QString &outputPath)
{
    QString text = QStringLiteral("plan: %1 -> %2 (%3)\n")
                       .arg(inputPath, outputPath, fileTypeName(plan.fileType));
    text += QStringLiteral("  %1 %2 %3    %4 %5  %6\n")
                .arg(QStringLiteral("tensor"), -34)
                .arg(QStringLiteral("shape"), -18)
                .arg(QStringLiteral("source"), -7)
                .arg(QStringLiteral("target"), -7)
                .arg(QStringLiteral("bytes"), 12)
                .arg(QStringLiteral("note"));
    struct Total {
        int count = 0;
        std::uint64_t bytes = 0;
    };
    QMap<QString, Total> totals;
    for (const auto &p : plan.tensors) {
        const QString target = ggmlTypeName(p.targetType);
        text += QStringLiteral("  %1 %2 %3 -> %4 %5  %6\n")
                    .arg(QString::fromUtf8(p.source.name), -34)
                    .arg(shapeText(p.source), -18)
                    .arg(ggmlTypeName(p.source.type), -7)
                    .arg(target, -7)
                    .arg(p.targetBytes, 12)
                    .arg(p.note);
        auto &t = totals[target];
        ++t.count;
        t.bytes += p.targetBytes;
    }
    text += QStringLiteral("totals by type:\n");
    for (auto it = totals.cbegin(); it != totals.cend(); ++it)
        text += QStringLiteral("  %1 %2 tensors %3 bytes (%4)\n")
                    .arg(it.key(), -7)
                    .arg(it->count, 5)
                    .arg(it->bytes, 14)
                    .arg(formatBytes(it->bytes));
    const std::uint64_t n = plan.nElements();
    text += QStringLiteral("output size: %1 bytes (%2), %3 bits per weight\n")
                .arg(plan.outputFileBytes)
                .arg(formatBytes(plan.outputFileBytes))
                .arg(n ? 8.0 * double(plan.targetTensorBytes) / double(n) : 0.0, 0, 'f', 3);
    out(text);
}

int runQuantize(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Converts a GGUF model to one or more quantized file types with "
                       "llama-quantize's per-tensor type choice. Without OUT the file is written "
                       "next to IN as NAME-TYPE.gguf.\nTypes: ") + supportedTypeNames());
    parser.addPositionalArgument(QStringLiteral("IN.gguf"), QStringLiteral("Input model."));
    parser.addPositionalArgument(QStringLiteral("[OUT.gguf]"),
                                 QStringLiteral("Output file (a folder with several types)."));
    parser.addPositionalArgument(QStringLiteral("TYPE[,TYPE...]"),
                                 QStringLiteral("File type(s), e.g. Q4_K_M or Q4_K_M,Q5_K_M,Q8_0."));
    auto flag = [&](const char *name, const char *help) {
        parser.addOption(QCommandLineOption(QLatin1String(name), QLatin1String(help)));
    };
    auto value = [&](const char *name, const char *help, const char *valueName) {
        parser.addOption(QCommandLineOption(QLatin1String(name), QLatin1String(help),
                                            QLatin1String(valueName)));
    };
    flag("allow-requantize", "Allow converting an already quantized input (lower quality).");
    flag("leave-output-tensor", "Keep output.weight in its input type.");
    flag("pure", "No mix rules: every quantizable tensor gets the type's default block type.");
    value("output-tensor-type", "Tensor type for output.weight (e.g. q8_0).", "TYPE");
    value("token-embedding-type", "Tensor type for token_embd.weight (e.g. q8_0).", "TYPE");
    value("imatrix", "Importance matrix (llama.cpp .dat or GGUF imatrix).", "FILE");
    value("include-weights", "Use the imatrix only for tensors whose name contains S "
                             "(repeatable).", "S");
    value("exclude-weights", "Do not use the imatrix for tensors whose name contains S "
                             "(repeatable).", "S");
    value("override-kv", "Set KEY in the output metadata: TYPE is int, float, bool or str "
                         "(repeatable), e.g. tokenizer.ggml.add_bos_token=bool:false.",
          "KEY=TYPE:VALUE");
    flag("dry-run", "Print the plan (type and bytes per tensor, totals) and the exact output "
                    "size; write nothing.");
    flag("no-verify", "Do not re-open and check the written file.");
    value("threads", "Worker threads (default: all cores).", "N");
    flag("quiet", "No progress display.");
    addHandoffOptions(parser);
    if (!parseArgs(parser, QStringLiteral("quantize"), args, 2, 3))
        return 0;

    const QStringList pos = parser.positionalArguments();
    ConversionRequest request;
    request.sourcePath = pos.at(0);
    request.fileTypes = parseFileTypes(pos.last());
    if (pos.size() == 3) {
        // OUT is a folder when it is one, else the output file (one type only).
        const QString given = pos.at(1);
        (QFileInfo(given).isDir() ? request.outputFolder : request.outputFile) = given;
    }
    QuantOptions &options = request.options;
    options.pure = parser.isSet(QStringLiteral("pure"));
    options.leaveOutputTensor = parser.isSet(QStringLiteral("leave-output-tensor"));
    options.allowRequantize = parser.isSet(QStringLiteral("allow-requantize"));
    options.outputTensorType = typeOption(parser, QStringLiteral("output-tensor-type"));
    options.tokenEmbeddingType = typeOption(parser, QStringLiteral("token-embedding-type"));
    options.includeWeights = parser.values(QStringLiteral("include-weights"));
    options.excludeWeights = parser.values(QStringLiteral("exclude-weights"));
    for (const QString &o : parser.values(QStringLiteral("override-kv")))
        options.metadataOverrides.push_back(parseMetadataOverride(o));
    request.imatrixPath = parser.value(QStringLiteral("imatrix"));
    request.nThreads = int(intOption(parser, QStringLiteral("threads"), 0, 0, 4096));
    request.verify = !parser.isSet(QStringLiteral("no-verify"));
    const HandoffPlan handoff = prepareHandoffs(parser, request);

    if (parser.isSet(QStringLiteral("dry-run"))) {
        const GgufFile source = GgufFile::open(request.sourcePath, GgufFile::Mode::MetadataOnly);
        const std::optional<ImportanceMatrix> imatrix = loadConversionImatrix(request);
        const ConversionPreparation prep =
            prepareConversion(request, source, imatrix ? &*imatrix : nullptr);
        for (const QString &w : prep.warnings)
            err(QStringLiteral("warning: %1\n").arg(w));
        prep.throwIfNotReady();
        for (const ConversionTarget &t : prep.targets)
            printPlan(*t.plan, request.sourcePath, t.outputPath);
        return 0;
    }

    ConsoleContext ctx(parser.isSet(QStringLiteral("quiet")));
    const ConversionResult result = runConversion(request, ctx);
    ctx.finishLine();
    for (const QString &w : result.warnings)
        err(QStringLiteral("warning: %1\n").arg(w));
    for (const ConversionOutput &o : result.outputs)
        out(QStringLiteral("wrote %1 (%2, %3, %4 bytes, %5 bpw)\n")
                .arg(o.path, fileTypeName(o.fileType), formatBytes(o.actualBytes))
                .arg(o.actualBytes)
                .arg(o.bitsPerWeight, 0, 'f', 2));
    const double mbps = result.seconds > 0 ? double(result.inputBytes) / 1e6 / result.seconds : 0;
    out(QStringLiteral("converted %1 of tensors in %2 s (%3 MB/s)\n")
            .arg(formatBytes(result.inputBytes))
            .arg(result.seconds, 0, 'f', 2)
            .arg(mbps, 0, 'f', 1));
    runHandoffs(handoff, request, result, ctx);
    return 0;
}

const CommandRegistration reg(QStringLiteral("quantize"),
                              QStringLiteral("Convert a GGUF model to quantized file types"),
                              runQuantize);

} // namespace

} // namespace QuantFit::Cli
