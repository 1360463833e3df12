// quantfit-cli quantize IN.gguf [OUT.gguf] TYPE[,TYPE...] [options]
// Argument order and options as llama-quantize (tools/quantize/quantize.cpp); several types in one call
// write several files from one pass over the input.

#include "cliargs.h"
#include "command.h"
#include "handoffargs.h"

#include "gguf/ggufreader.h"
#include "jobs/consolecontext.h"
#include "quant/quantizer.h"
#include "tasks/conversiontask.h"
#include "tasks/fittask.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QFile>
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
        if (part.trimmed().compare(QLatin1String("COPY"), Qt::CaseInsensitive) == 0)
            throw Error(QStringLiteral("COPY (llama-quantize's copy without converting) is not "
                                       "supported; convert to F32, F16 or BF16 instead"));
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

// --tensor-type and --tensor-type-file items in command-line order (a file's items go where the
// file was named), as llama-quantize collects them.
std::vector<TensorTypeOverride> tensorTypeItems(const QCommandLineParser &parser)
{
    const QStringList patterns = parser.values(QStringLiteral("tensor-type"));
    const QStringList files = parser.values(QStringLiteral("tensor-type-file"));
    qsizetype nextPattern = 0;
    qsizetype nextFile = 0;
    std::vector<TensorTypeOverride> items;
    for (const QString &option : parser.optionNames()) {
        if (option == u"tensor-type") {
            items.push_back(parseTensorTypeOverride(patterns.at(nextPattern++)));
        } else if (option == u"tensor-type-file") {
            const QString path = files.at(nextFile++);
            QFile f(path);
            if (!f.open(QIODevice::ReadOnly))
                throw IoError(path, QStringLiteral("open"), f.errorString());
            // A list of patterns, not a model: anything large is a wrong file.
            constexpr qint64 kMaxBytes = 1 << 20;
            if (f.size() > kMaxBytes)
                throw Error(QStringLiteral("--tensor-type-file '%1': %2 bytes; a file of "
                                           "PATTERN=TYPE items is expected (at most %3 bytes)")
                                .arg(path)
                                .arg(f.size())
                                .arg(kMaxBytes));
            const auto more = parseTensorTypeItems(QString::fromUtf8(f.read(kMaxBytes)), path);
            items.insert(items.end(), more.begin(), more.end());
        }
    }
    return items;
}

QString decisionText(const PlannedTensor &p)
{
    switch (p.decidedBy) {
    case TypeDecision::NotCandidate: return QStringLiteral("copy");
    case TypeDecision::TokenEmbeddingOption:
    case TypeDecision::OutputTensorOption: return QStringLiteral("option");
    case TypeDecision::FloatDefault: return QStringLiteral("float");
    case TypeDecision::Pattern: return QStringLiteral("pattern");
    case TypeDecision::Pure: return QStringLiteral("pure");
    case TypeDecision::MixRules: return QStringLiteral("rules");
    }
    return {};
}

// --calibration and its settings; the settings alone are an error (they would be ignored).
// With a fitted mix and without --calibration, --calibration-chunks/-ctx belong to the fit's
// measured sensitivity (fitCalibrationOption).
std::optional<CalibrationRequest> calibrationOption(const QCommandLineParser &parser, bool fitting)
{
    if (parser.isSet(QStringLiteral("calibrate"))) {
        if (parser.isSet(QStringLiteral("calibration"))
            || parser.isSet(QStringLiteral("save-imatrix")))
            throw Error(QStringLiteral("--calibrate measures the fit's sensitivities; it cannot "
                                       "be combined with --calibration/--save-imatrix (compute "
                                       "the imatrix first and pass --imatrix FILE)"));
        return std::nullopt;
    }
    if (fitting && !parser.isSet(QStringLiteral("calibration"))) {
        if (parser.isSet(QStringLiteral("save-imatrix")))
            throw Error(QStringLiteral("--save-imatrix needs --calibration TEXT"));
        return std::nullopt;
    }
    if (!parser.isSet(QStringLiteral("calibration"))) {
        for (const char *o : {"calibration-chunks", "calibration-ctx", "save-imatrix"}) {
            if (parser.isSet(QLatin1String(o)))
                throw Error(QStringLiteral("--%1 needs --calibration TEXT").arg(QLatin1String(o)));
        }
        return std::nullopt;
    }
    CalibrationRequest c;
    c.textSource = parser.value(QStringLiteral("calibration"));
    if (c.textSource.isEmpty())
        throw Error(QStringLiteral("--calibration: a text file is needed"));
    c.nChunks = int(intOption(parser, QStringLiteral("calibration-chunks"),
                              kCalibrationDefaultChunks, -1, INT32_MAX));
    if (c.nChunks == 0)
        throw Error(QStringLiteral("--calibration-chunks: expected at least 1 (or -1 for the "
                                   "whole text)"));
    c.nCtx = int(intOption(parser, QStringLiteral("calibration-ctx"), kCalibrationDefaultCtx, 4,
                           1 << 20));
    c.saveImatrixPath = parser.value(QStringLiteral("save-imatrix"));
    return c;
}

QString shapeText(const GgufTensorInfo &t)
{
    QStringList dims;
    for (std::uint32_t d = 0; d < t.effectiveDims(); ++d)
        dims << QString::number(t.ne[d]);
    return dims.join(QStringLiteral(" x "));
}

void printPlan(const QuantPlan &plan, const QString &inputPath, const QString &outputPath)
{
    QString text = QStringLiteral("plan: %1 -> %2 (%3)\n")
                       .arg(inputPath, outputPath, fileTypeName(plan.fileType));
    for (std::uint32_t s = 0; plan.nShards > 1 && s < plan.nShards; ++s)
        text += QStringLiteral("  file %1: %2 (%3 bytes)\n")
                    .arg(s + 1)
                    .arg(shardOutputPath(outputPath, s, plan.nShards))
                    .arg(plan.shardFileBytes(s));
    text += QStringLiteral("  %1 %2 %3    %4 %5  %6 %7\n")
                .arg(QStringLiteral("tensor"), -34)
                .arg(QStringLiteral("shape"), -18)
                .arg(QStringLiteral("source"), -7)
                .arg(QStringLiteral("target"), -7)
                .arg(QStringLiteral("bytes"), 12)
                .arg(QStringLiteral("by"), -7)
                .arg(QStringLiteral("note"));
    struct Total {
        int count = 0;
        std::uint64_t bytes = 0;
    };
    QMap<QString, Total> totals;
    for (const auto &p : plan.tensors) {
        const QString target = ggmlTypeName(p.targetType);
        QString note = p.note;
        if (p.name != p.source.name)
            note = QStringLiteral("was %1%2%3").arg(QString::fromUtf8(p.source.name),
                                                  note.isEmpty() ? QString() : QStringLiteral("; "),
                                                  note);
        if (plan.nShards > 1)
            note = QStringLiteral("file %1%2%3").arg(p.shard + 1).arg(
                note.isEmpty() ? QString() : QStringLiteral("; "), note);
        text += QStringLiteral("  %1 %2 %3 -> %4 %5  %6 %7\n")
                    .arg(QString::fromUtf8(p.name), -34)
                    .arg(shapeText(p.source), -18)
                    .arg(ggmlTypeName(p.source.type), -7)
                    .arg(target, -7)
                    .arg(p.targetBytes, 12)
                    .arg(decisionText(p), -7)
                    .arg(note);
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
    text += QStringLiteral("output size: %1 bytes (%2), %3 bits per weight\n")
                .arg(plan.outputFileBytes)
                .arg(formatBytes(plan.outputFileBytes))
                .arg(plan.bitsPerWeight(), 0, 'f', 3);
    out(text);
}

// --target-size, --target-bpw or --fit-ram (with --context, --kv-type, --reserve): the fitted
// mix's target, or none.
std::optional<FitTarget> fitTargetOption(const QCommandLineParser &parser)
{
    const bool size = parser.isSet(QStringLiteral("target-size"));
    const bool bpw = parser.isSet(QStringLiteral("target-bpw"));
    const bool ram = parser.isSet(QStringLiteral("fit-ram"));
    if (int(size) + int(bpw) + int(ram) > 1)
        throw Error(QStringLiteral("give one of --target-size, --target-bpw and --fit-ram"));
    if (!ram) {
        for (const char *o : {"context", "kv-type", "reserve", "flash-attn"}) {
            if (parser.isSet(QLatin1String(o)))
                throw Error(QStringLiteral("--%1 needs --fit-ram GB").arg(QLatin1String(o)));
        }
    }
    FitTarget t;
    if (size) {
        t.kind = FitTarget::Kind::FileSize;
        t.fileBytes = parseByteSize(parser.value(QStringLiteral("target-size")));
        t.text = QStringLiteral("--target-size ") + parser.value(QStringLiteral("target-size"));
    } else if (bpw) {
        t.kind = FitTarget::Kind::BitsPerWeight;
        t.bitsPerWeight = doubleOption(parser, QStringLiteral("target-bpw"), 0, 0.5, 32);
        t.text = QStringLiteral("--target-bpw ") + parser.value(QStringLiteral("target-bpw"));
    } else if (ram) {
        t.kind = FitTarget::Kind::Machine;
        t.ramBytes = std::uint64_t(doubleOption(parser, QStringLiteral("fit-ram"), 0, 0.001, 1e6)
                                   * 1e9);
        t.contextTokens =
            std::uint32_t(intOption(parser, QStringLiteral("context"), 0, 1, 1ll << 30));
        if (parser.isSet(QStringLiteral("kv-type"))) {
            const QString kvName = parser.value(QStringLiteral("kv-type"));
            const auto kv = kvCacheTypeFromName(kvName);
            if (!kv)
                throw Error(QStringLiteral("option --kv-type: expected f16, q8_0 or q4_0, got '%1'")
                                .arg(kvName));
            t.kvType = *kv;
        }
        if (parser.isSet(QStringLiteral("reserve")))
            t.reserveBytes =
                std::uint64_t(doubleOption(parser, QStringLiteral("reserve"), 0, 0, 1e6) * 1e9);
        t.flashAttention = parser.isSet(QStringLiteral("flash-attn"));
        t.text = QStringLiteral("--fit-ram ") + parser.value(QStringLiteral("fit-ram"));
        if (t.contextTokens)
            t.text += QStringLiteral(" --context %1").arg(t.contextTokens);
        if (parser.isSet(QStringLiteral("kv-type")))
            t.text += QStringLiteral(" --kv-type ") + kvCacheTypeName(t.kvType);
    } else {
        return std::nullopt;
    }
    return t;
}

// The fit's sensitivities: measured where quick by default (auto), --calibrate always,
// --no-calibrate never; [--calibration-text TEXT] [--calibration-chunks N]
// [--calibration-ctx N] say how to measure, [--force-calibration] lifts --calibrate's limit.
// Options that would be ignored are errors.
void fitCalibrationOption(const QCommandLineParser &parser, std::optional<FitTarget> &target)
{
    const bool on = parser.isSet(QStringLiteral("calibrate"));
    const bool off = parser.isSet(QStringLiteral("no-calibrate"));
    if (on && off)
        throw Error(QStringLiteral("--calibrate and --no-calibrate: give one of them"));
    if (!target) {
        for (const char *o : {"calibrate", "no-calibrate", "calibration-text",
                              "force-calibration"}) {
            if (parser.isSet(QLatin1String(o)))
                throw Error(QStringLiteral("--%1 needs a fitted mix (--target-size, --target-bpw "
                                           "or --fit-ram)")
                                .arg(QLatin1String(o)));
        }
        return;
    }
    if (parser.isSet(QStringLiteral("force-calibration")) && !on)
        throw Error(QStringLiteral("--force-calibration needs --calibrate (the default measures "
                                   "only when the estimate is within %1 s)")
                        .arg(kFitCalibrationAutoSeconds));
    if (off) {
        // (With --calibration the chunks and context are the imatrix's; that is refused later.)
        const bool imatrixText = parser.isSet(QStringLiteral("calibration"));
        for (const char *o : {"calibration-text", "calibration-chunks", "calibration-ctx"}) {
            const bool imatrixSetting = imatrixText && qstrcmp(o, "calibration-text") != 0;
            if (parser.isSet(QLatin1String(o)) && !imatrixSetting)
                throw Error(QStringLiteral("--%1 has no effect with --no-calibrate")
                                .arg(QLatin1String(o)));
        }
    }
    target->sensitivity = on    ? FitSensitivityMode::Measured
                          : off ? FitSensitivityMode::Documented
                                : FitSensitivityMode::Auto;
    FitCalibrationSettings &c = target->calibration;
    c.textSource = parser.value(QStringLiteral("calibration-text"));
    if (!parser.isSet(QStringLiteral("calibration"))) {
        c.nChunks = int(intOption(parser, QStringLiteral("calibration-chunks"),
                                  kFitCalibrationDefaultChunks, 1, 1 << 20));
        c.nCtx = int(intOption(parser, QStringLiteral("calibration-ctx"),
                               kFitCalibrationDefaultCtx, 8, 1 << 20));
    }
    c.force = parser.isSet(QStringLiteral("force-calibration"));
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
    value("output-tensor-type", "Tensor type for output.weight (e.g. q8_0); no row-size "
                                "fallback.", "TYPE");
    value("token-embedding-type", "Tensor type for token_embd.weight and "
                                  "per_layer_token_embd.weight (e.g. q8_0); no row-size fallback.",
          "TYPE");
    value("tensor-type", "Tensors whose name matches the regular expression PATTERN (lower-cased, "
                         "searched anywhere) get TYPE instead of the mix rules; repeatable, the "
                         "first match wins, e.g. attn_v=q8_0 or 'blk\\.1[0-5]\\.ffn_down=q6_K'.",
          "PATTERN=TYPE");
    value("tensor-type-file", "Read --tensor-type items (PATTERN=TYPE separated by whitespace) "
                              "from FILE, in place of the option.", "FILE");
    value("prune-layers", "Drop these layers (e.g. 20,21,22); later layers are renumbered and "
                          "the block count is updated.", "L0,L1,...");
    flag("keep-split", "With a split input: write one output file per input file, with the "
                       "same tensors (OUT-00001-of-0000N.gguf ...).");
    value("imatrix", "Importance matrix (llama.cpp .dat or GGUF imatrix). Required by IQ1_S, "
                     "IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS and Q2_K_S.", "FILE");
    value("include-weights", "Use the imatrix only for tensors whose name contains S "
                             "(repeatable).", "S");
    value("exclude-weights", "Do not use the imatrix for tensors whose name contains S "
                             "(repeatable).", "S");
    value("calibration", "Compute the importance matrix from TEXT first (a file or "
                         "ARCHIVE:MEMBER, as imatrix -f reads it), then quantize with it; one "
                         "job, one progress bar. Not with --imatrix.", "TEXT");
    value("calibration-chunks", "With --calibration: evaluate at most N chunks (default 100; "
                                "-1: the whole text). With a fitted mix: chunks of the "
                                "text sensitivities are measured on (default 8).", "N");
    value("calibration-ctx", "With --calibration: tokens per chunk (default 512, as "
                             "llama-imatrix). With a fitted mix: default 128 (or the model's "
                             "context when smaller).", "N");
    value("save-imatrix", "With --calibration: also write the computed matrix to FILE (GGUF; "
                          "legacy for a .dat name).", "FILE");
    value("override-kv", "Set KEY in the output metadata: TYPE is int, float, bool or str "
                         "(repeatable), e.g. tokenizer.ggml.add_bos_token=bool:false.",
          "KEY=TYPE:VALUE");
    value("target-size", "Fit a mix to this file size instead of TYPE: one type per tensor, "
                         "chosen from measured errors, so that the file is at most SIZE "
                         "(B, KB, MB, GB, TB or KiB, MiB, GiB, TiB; e.g. 38GB).", "SIZE");
    flag("calibrate", "With a fitted mix: always measure each tensor's sensitivity (the KL "
                      "divergence of the model with that tensor alone at Q4_K, on a text; one "
                      "forward pass per tensor, estimated first). Default: measured when the "
                      "estimate is within 60 s, else the documented factors.");
    flag("no-calibrate", "With a fitted mix: use the documented sensitivity factors, never "
                         "measure.");
    value("calibration-text", "With a fitted mix: the text sensitivities are measured on (a "
                              "file or ARCHIVE:MEMBER; default the built-in sample).", "TEXT");
    flag("force-calibration", "With --calibrate: run even when the estimate exceeds 30 "
                              "minutes.");
    value("target-bpw", "Fit a mix to this many bits per weight of tensor data (e.g. 4.3).",
          "BITS");
    value("fit-ram", "Fit a mix to a machine with this much RAM (decimal GB): the weights get "
                     "what the advisor's memory model leaves at --context with --kv-type and "
                     "--reserve.", "GB");
    value("context", "With --fit-ram: context tokens to leave room for (default min(8192, "
                     "the model's maximum)).", "N");
    value("kv-type", "With --fit-ram: KV cache type f16, q8_0 or q4_0 (default f16).", "TYPE");
    value("reserve", "With --fit-ram: GB kept for the OS and desktop (default by RAM size).",
          "GB");
    flag("flash-attn", "With --fit-ram: the runner uses flash attention (smaller compute "
                       "buffer).");
    flag("dry-run", "Print the plan (type and bytes per tensor, what decided it, totals) and "
                    "the exact output size; write nothing (a missing imatrix is only reported).");
    flag("no-verify", "Do not re-open and check the written file.");
    value("threads", "Worker threads (default: all cores).", "N");
    flag("quiet", "No progress display.");
    addHandoffOptions(parser);
    if (!parseArgs(parser, QStringLiteral("quantize"), args, 1, 3))
        return 0;

    const QStringList pos = parser.positionalArguments();
    std::optional<FitTarget> fitTarget = fitTargetOption(parser);
    fitCalibrationOption(parser, fitTarget);
    ConversionRequest request;
    request.sourcePath = pos.at(0);
    if (fitTarget) {
        // IN [OUT]: the fit names the file type.
        if (pos.size() > 2)
            throw Error(QStringLiteral("with a fitted mix give IN [OUT] and no TYPE (the file "
                                       "type is the nearest standard mix)"));
    } else {
        if (pos.size() < 2)
            throw Error(QStringLiteral("quantize: expected IN.gguf [OUT.gguf] TYPE (or "
                                       "--target-size, --target-bpw, --fit-ram)"));
        request.fileTypes = parseFileTypes(pos.last());
    }
    if (pos.size() == 3 || (fitTarget && pos.size() == 2)) {
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
    options.tensorTypes = tensorTypeItems(parser);
    if (parser.isSet(QStringLiteral("prune-layers")))
        options.pruneLayers = parsePruneLayers(parser.value(QStringLiteral("prune-layers")));
    options.keepSplit = parser.isSet(QStringLiteral("keep-split"));
    options.includeWeights = parser.values(QStringLiteral("include-weights"));
    options.excludeWeights = parser.values(QStringLiteral("exclude-weights"));
    for (const QString &o : parser.values(QStringLiteral("override-kv")))
        options.metadataOverrides.push_back(parseMetadataOverride(o));
    request.imatrixPath = parser.value(QStringLiteral("imatrix"));
    request.calibration = calibrationOption(parser, fitTarget.has_value());
    request.nThreads = int(intOption(parser, QStringLiteral("threads"), 0, 0, 4096));
    request.verify = !parser.isSet(QStringLiteral("no-verify"));
    if (fitTarget) {
        // Planned first (seconds: the costs are measured on sample rows), then written as an
        // ordinary conversion of the nearest standard type with the fitted recipe.
        const bool quiet = parser.isSet(QStringLiteral("quiet"));
        ConsoleContext fitCtx(quiet);
        fitTarget->onCalibrationEstimate = [&fitCtx, quiet](const FitCalibrationEstimate &e) {
            if (quiet)
                return;
            fitCtx.finishLine();
            err(QStringLiteral("calibration: %1\n").arg(e.text()));
        };
        const FittedConversion fitted = planFittedConversion(request, *fitTarget, fitCtx);
        fitCtx.finishLine();
        request = fitted.request;
        if (parser.isSet(QStringLiteral("dry-run"))) {
            for (const QString &w : fitted.preparation.warnings)
                err(QStringLiteral("warning: %1\n").arg(w));
            printPlan(*fitted.preparation.targets.front().plan, request.sourcePath,
                      fitted.preparation.targets.front().outputPath);
            out(fitSummaryText(fitted));
            return 0;
        }
        out(fitSummaryText(fitted));
    }
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
        for (const ConversionTarget &t : prep.targets) {
            if (!t.imatrixMissing.isEmpty())
                err(QStringLiteral("warning: %1: dry run completed, but actually completing this "
                                   "quantization will require an imatrix\n")
                        .arg(fileTypeName(t.fileType)));
        }
        return 0;
    }

    ConsoleContext ctx(parser.isSet(QStringLiteral("quiet")));
    const ConversionResult result = runConversion(request, ctx);
    ctx.finishLine();
    for (const QString &w : result.warnings)
        err(QStringLiteral("warning: %1\n").arg(w));
    for (const ConversionOutput &o : result.outputs) {
        const QString files =
            o.files.size() > 1
                ? QStringLiteral("%1 files: %2").arg(o.files.size()).arg(o.files.join(u", "))
                : o.path;
        out(QStringLiteral("wrote %1 (%2, %3, %4 bytes, %5 bpw)\n")
                .arg(files, fileTypeName(o.fileType), formatBytes(o.actualBytes))
                .arg(o.actualBytes)
                .arg(o.bitsPerWeight, 0, 'f', 2));
    }
    if (const auto &c = result.calibration)
        out(QStringLiteral("calibrated on %1 chunks of %2 tokens in %3 s: %4 tensors, PPL = %5 "
                           "+/- %6%7\n")
                .arg(c->nChunks)
                .arg(c->nCtx)
                .arg(c->seconds, 0, 'f', 2)
                .arg(c->nEntries)
                .arg(c->ppl, 0, 'f', 4)
                .arg(c->pplError, 0, 'f', 5)
                .arg(c->savedPath.isEmpty() ? QString()
                                            : QStringLiteral("; saved to %1").arg(c->savedPath)));
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
