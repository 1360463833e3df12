// quantfit-cli advise (--ram GB | --machine ID) [--model ID | --gguf FILE] [--context N]
//                     [--kv-type T] [--flash-attn] [--reserve GB] [--quality-critical] [--json]
//                     [--vision] [--parallel N]
//                     [--vram GB] [--gpu-limit GB] [--gpu-bandwidth GB/s] [--quant T] ...
// With a model: every quant level with exact size, memory, headroom, longest context, fit badge
// and estimates, plus the decision-flow recommendation; with a machine also the placement on
// its devices, tokens/s and the llama.cpp command line. Without: the brief's priority rows.

#include "cliargs.h"
#include "command.h"
#include "machineargs.h"

#include "advisor/advisor.h"
#include "advisor/estimates.h"
#include "catalog/catalog.h"
#include "eval/resultsstore.h"
#include "advisor/placement.h"
#include "gguf/ggufreader.h"
#include "tasks/measuredquality.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cmath>

namespace QuantFit::Cli {

namespace {

// Decimal GB; small models get more decimals so their sizes do not all read 0.0.
QString gbSigned(std::int64_t bytes)
{
    const double v = double(bytes) / GB;
    return QString::number(v, 'f', std::abs(v) >= 10 ? 1 : (std::abs(v) >= 1 ? 2 : 3));
}

QString gb(std::uint64_t bytes)
{
    return gbSigned(std::int64_t(bytes));
}

// QuantFit's own perplexity runs (the results store), for replacing estimates by measurements.
std::vector<QualityMeasurement> measuredRuns()
{
    return qualityMeasurements(ResultsStore().list());
}

QJsonObject memoryJson(const MemoryBreakdown &m)
{
    return {{QStringLiteral("weightsBytes"), double(m.weightsBytes)},
            {QStringLiteral("kvCacheBytes"), double(m.kvCacheBytes)},
            {QStringLiteral("computeBytes"), double(m.computeBytes)},
            {QStringLiteral("overheadBytes"), double(m.overheadBytes)},
            {QStringLiteral("reserveBytes"), double(m.reserveBytes)},
            {QStringLiteral("visionBytes"), double(m.visionBytes)},
            {QStringLiteral("totalBytes"), double(m.totalBytes())}};
}

QJsonObject rowJson(const QuantRow &r)
{
    return {{QStringLiteral("quant"), r.name},
            {QStringLiteral("nominalBits"), r.nominalBits},
            {QStringLiteral("bitsPerWeight"), r.bitsPerWeight},
            {QStringLiteral("fileBytes"), double(r.fileBytes)},
            {QStringLiteral("simpleFormulaBytes"), double(r.simpleFormulaBytes)},
            {QStringLiteral("contextTokens"), qint64(r.contextTokens)},
            {QStringLiteral("memory"), memoryJson(r.memory)},
            {QStringLiteral("headroomBytes"), double(r.headroomBytes)},
            {QStringLiteral("freeAtContextBytes"), double(r.freeAtContextBytes)},
            {QStringLiteral("longestContextTokens"), qint64(r.longestContextTokens)},
            {QStringLiteral("longestContextByKvType"),
             QJsonObject{{QStringLiteral("f16"), qint64(r.longestContextByKvType[0])},
                         {QStringLiteral("q8_0"), qint64(r.longestContextByKvType[1])},
                         {QStringLiteral("q4_0"), qint64(r.longestContextByKvType[2])}}},
            {QStringLiteral("fit"), fitBadgeName(r.badge)},
            {QStringLiteral("pplIncreasePercentEstimate"), r.pplIncreasePercent},
            {QStringLiteral("qualityMeasured"), r.qualityMeasured},
            {QStringLiteral("qualitySource"), r.qualitySource},
            {QStringLiteral("relativeSpeedEstimate"), r.relativeSpeed},
            {QStringLiteral("klDivergence8B"), r.klDivergence8B},
            {QStringLiteral("quality"), r.qualityLabel},
            {QStringLiteral("useCase"), r.useCase},
            {QStringLiteral("needsImatrix"), r.needsImatrix},
            {QStringLiteral("recommended"), r.recommended}};
}

QJsonObject optionsJson(const AdviceOptions &o)
{
    return {{QStringLiteral("ramBytes"), double(o.ramBytes)},
            {QStringLiteral("reserveBytes"), double(o.reserveBytes.value_or(0))},
            {QStringLiteral("contextTokens"), qint64(o.contextTokens)},
            {QStringLiteral("kvType"), kvCacheTypeName(o.kvType)},
            {QStringLiteral("flashAttention"), o.flashAttention},
            {QStringLiteral("qualityCritical"), o.qualityCritical},
            {QStringLiteral("parallelSlots"), qint64(o.parallelSlots)},
            {QStringLiteral("vision"), o.vision}};
}

QString header(const AdviceOptions &o, bool flashForced)
{
    return QStringLiteral("Machine: %1 GB RAM, reserve %2 GB; context %3 tokens; KV cache %4; "
                          "flash attention %5\n")
        .arg(gb(o.ramBytes), gb(o.reserveBytes.value_or(0)))
        .arg(o.contextTokens)
        .arg(kvCacheTypeName(o.kvType),
             o.flashAttention ? QStringLiteral("on")
                              : (flashForced ? QStringLiteral("on (needed by a quantized KV cache)")
                                             : QStringLiteral("off")));
}

// The headline, then the reasons and the decision-flow steps as lists, then the alternative.
QString recommendationText(const QuantRecommendation &r)
{
    QString text = QStringLiteral("Recommendation: %1\n%2.\n")
                       .arg(r.publishedAs ? fileTypeName(*r.publishedAs)
                            : r.fileType  ? fileTypeName(*r.fileType)
                                          : QStringLiteral("none fits"),
                            r.headline);
    text += QStringLiteral("Why:\n");
    for (const QString &reason : r.reasons)
        text += QStringLiteral("  - %1\n").arg(reason);
    text += QStringLiteral("Decision flow:\n");
    for (qsizetype i = 0; i < r.steps.size(); ++i)
        text += QStringLiteral("  %1. %2\n").arg(i + 1).arg(r.steps[i]);
    if (!r.alternativeModelId.isEmpty())
        text += QStringLiteral("Alternative: %1 (%2) at %3\n")
                    .arg(r.alternativeModelName, r.alternativeModelId,
                         fileTypeName(*r.alternativeFileType));
    return text;
}

void printModel(const ModelAdvice &a, bool json, const std::optional<MachineAdvice> &onMachine)
{
    if (json) {
        QJsonArray rows;
        for (const QuantRow &r : a.rows)
            rows.append(rowJson(r));
        QJsonArray iquants;
        for (const QuantRow &r : a.iquantRows)
            iquants.append(rowJson(r));
        const QuantRecommendation &r = a.recommendation;
        QJsonObject rec{{QStringLiteral("headline"), r.headline},
                        {QStringLiteral("fit"), fitBadgeName(r.fit)},
                        {QStringLiteral("belowStart"), r.belowStart},
                        {QStringLiteral("reasons"), QJsonArray::fromStringList(r.reasons)},
                        {QStringLiteral("steps"), QJsonArray::fromStringList(r.steps)}};
        rec.insert(QStringLiteral("quant"),
                   r.fileType ? QJsonValue(fileTypeName(*r.fileType)) : QJsonValue());
        rec.insert(QStringLiteral("publishedAs"),
                   r.publishedAs ? QJsonValue(fileTypeName(*r.publishedAs)) : QJsonValue());
        if (!r.alternativeModelId.isEmpty()) {
            rec.insert(QStringLiteral("alternativeModel"), r.alternativeModelId);
            rec.insert(QStringLiteral("alternativeName"), r.alternativeModelName);
            rec.insert(QStringLiteral("alternativeQuant"), fileTypeName(*r.alternativeFileType));
        }
        QJsonArray others;
        for (const MixSize &m : a.otherMixes)
            others.append(QJsonObject{{QStringLiteral("quant"), m.name},
                                      {QStringLiteral("bitsPerWeight"), m.bitsPerWeight},
                                      {QStringLiteral("fileBytes"), double(m.fileBytes)},
                                      {QStringLiteral("totalBytes"), double(m.totalBytes)},
                                      {QStringLiteral("longestContextTokens"),
                                       qint64(m.longestContextTokens)},
                                      {QStringLiteral("fit"), fitBadgeName(m.badge)},
                                      {QStringLiteral("summary"), m.summary}});
        QJsonObject o{{QStringLiteral("model"), a.model.id},
                            {QStringLiteral("name"), a.model.name},
                            {QStringLiteral("parameters"), double(a.nParams)},
                            {QStringLiteral("maxContext"), qint64(a.model.nCtxMax)},
                            {QStringLiteral("kvBytesPerToken"), a.kvBytesPerToken},
                            {QStringLiteral("options"), optionsJson(a.options)},
                            {QStringLiteral("levels"), rows},
                            {QStringLiteral("iquants"), iquants},
                            {QStringLiteral("otherMixes"), others},
                            {QStringLiteral("recommendation"), rec},
                            {QStringLiteral("estimatesNote"),
                             QStringLiteral("quality and speed are estimates until measured")}};
        if (onMachine)
            o.insert(QStringLiteral("onMachine"), machineAdviceJson(*onMachine));
        out(QString::fromUtf8(QJsonDocument(o).toJson()));
        return;
    }
    QString text = QStringLiteral("%1 (%2): %3 parameters, %4 layers, context up to %5 tokens\n")
                       .arg(a.model.name, a.model.id, formatCount(a.nParams))
                       .arg(a.model.nLayers)
                       .arg(a.model.nCtxMax);
    text += header(a.options, !a.options.flashAttention && a.options.kvType != KvCacheType::F16);
    text += QStringLiteral("KV cache: %1 bytes per token (all layers, %2)\n\n")
                .arg(QLocale::c().toString(qlonglong(std::llround(a.kvBytesPerToken))),
                     kvCacheTypeName(a.options.kvType));
    text += QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9 %10 %11\n")
                .arg(QStringLiteral("quant"), -7)
                .arg(QStringLiteral("bits"), 5)
                .arg(QStringLiteral("bpw"), 5)
                .arg(QStringLiteral("file GB"), 8)
                .arg(QStringLiteral("formula"), 8)
                .arg(QStringLiteral("total GB"), 9)
                .arg(QStringLiteral("headroom"), 9)
                .arg(QStringLiteral("longest ctx"), 11)
                .arg(QStringLiteral("fit"), -13)
                .arg(QStringLiteral("ppl (est.)"), 10)
                .arg(QStringLiteral("speed (est.)"));
    for (const QuantRow &r : a.rows) {
        text += QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9 %10 %11\n")
                    .arg(r.name + (r.recommended ? QStringLiteral("*") : QString()), -7)
                    .arg(r.nominalBits, 5, 'f', 2)
                    .arg(r.bitsPerWeight, 5, 'f', 2)
                    .arg(gb(r.fileBytes), 8)
                    .arg(gb(r.simpleFormulaBytes), 8)
                    .arg(gb(r.memory.totalBytes()), 9)
                    .arg(gbSigned(r.headroomBytes), 9)
                    .arg(r.longestContextTokens, 11)
                    .arg(fitBadgeName(r.badge), -13)
                    .arg(QStringLiteral("+%1%").arg(r.pplIncreasePercent, 0, 'f', 2), 10)
                    .arg(QStringLiteral("%1x").arg(r.relativeSpeed, 0, 'f', 2));
    }
    QStringList measured;
    for (const std::vector<QuantRow> *list : {&a.rows, &a.iquantRows}) {
        for (const QuantRow &r : *list) {
            if (r.qualityMeasured)
                measured << QStringLiteral("%1 +%2% (%3)")
                                .arg(r.name)
                                .arg(r.pplIncreasePercent, 0, 'f', 2)
                                .arg(r.qualitySource);
        }
    }
    if (!measured.isEmpty())
        text += QStringLiteral("Measured by QuantFit on this model, replacing the estimate: %1\n")
                    .arg(measured.join(QStringLiteral("; ")));
    text += QStringLiteral("\nbits = the brief's nominal bits, bpw = the real mix; formula = "
                           "parameters x bits / 8; total at %1 tokens includes the reserve; "
                           "headroom = RAM - total at %2 tokens. Quality and speed are estimates "
                           "until measured.\n\n")
                .arg(a.options.contextTokens)
                .arg(std::min(kMinContext, a.model.nCtxMax));
    if (!a.iquantRows.empty()) {
        text += QStringLiteral("I-quants (* needs an importance matrix: quantize --calibration "
                               "computes one; ppl and KLD from llama.cpp's published Llama 3 8B "
                               "figures, ppl scaled to this model):\n");
        for (const QuantRow &r : a.iquantRows)
            text += QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8\n")
                        .arg(r.name + (r.needsImatrix ? QStringLiteral("*") : QString())
                                 + (r.recommended ? QStringLiteral(" <-") : QString()),
                             -11)
                        .arg(r.bitsPerWeight, 5, 'f', 2)
                        .arg(gb(r.fileBytes), 8)
                        .arg(gb(r.memory.totalBytes()), 9)
                        .arg(r.longestContextTokens, 11)
                        .arg(fitBadgeName(r.badge), -13)
                        .arg(QStringLiteral("+%1%").arg(r.pplIncreasePercent, 0, 'f', 1), 8)
                        .arg(QStringLiteral("KLD %1").arg(r.klDivergence8B, 0, 'f', 3));
        text += QLatin1Char('\n');
    }
    if (!a.otherMixes.empty()) {
        QStringList parts;
        for (const MixSize &m : a.otherMixes) {
            if (a.row(m.fileType))
                continue; // an I-quant, in the table above
            parts << QStringLiteral("%1 %2 GB (%3 bpw, %4)")
                         .arg(m.name, gb(m.fileBytes))
                         .arg(m.bitsPerWeight, 0, 'f', 2)
                         .arg(fitBadgeName(m.badge));
        }
        text += QStringLiteral("Other mixes: %1.\n\n").arg(parts.join(QStringLiteral("; ")));
    }
    text += recommendationText(a.recommendation);
    if (onMachine)
        text += machineAdviceText(*onMachine);
    out(text);
}

void printSystem(const SystemAdvice &s, bool json, const std::optional<MachineProfile> &machine)
{
    if (json) {
        QJsonArray rows;
        for (const PriorityRow &r : s.rows)
            rows.append(QJsonObject{{QStringLiteral("priority"), priorityName(r.priority)},
                                    {QStringLiteral("model"), r.modelId},
                                    {QStringLiteral("name"), r.modelName},
                                    {QStringLiteral("paramsBillions"), r.paramsBillions},
                                    {QStringLiteral("level"), rowJson(r.quant)},
                                    {QStringLiteral("explanation"), r.explanation},
                                    {QStringLiteral("note"), r.note}});
        const QJsonObject o{{QStringLiteral("options"), optionsJson(s.options)},
                            {QStringLiteral("priorities"), rows},
                            {QStringLiteral("notes"), QJsonArray::fromStringList(s.notes)}};
        QJsonObject withMachine = o;
        if (machine)
            withMachine.insert(QStringLiteral("machine"), machineJson(*machine));
        out(QString::fromUtf8(QJsonDocument(withMachine).toJson()));
        return;
    }
    QString text = machine ? machineText(*machine) + QLatin1Char('\n') : QString();
    text += QStringLiteral("Recommendations for %1 GB RAM\n").arg(gb(s.options.ramBytes));
    text += header(s.options, !s.options.flashAttention && s.options.kvType != KvCacheType::F16);
    text += QStringLiteral("\n%1 %2 %3 %4 %5 %6\n")
                .arg(QStringLiteral("priority"), -16)
                .arg(QStringLiteral("model + quant"), -36)
                .arg(QStringLiteral("file GB"), 8)
                .arg(QStringLiteral("total GB"), 9)
                .arg(QStringLiteral("longest ctx"), 11)
                .arg(QStringLiteral("fit"));
    for (const PriorityRow &r : s.rows) {
        text += QStringLiteral("%1 %2 %3 %4 %5 %6\n")
                    .arg(priorityName(r.priority), -16)
                    .arg(r.modelName + QLatin1Char(' ') + r.quant.name, -36)
                    .arg(gb(r.quant.fileBytes), 8)
                    .arg(gb(r.quant.memory.totalBytes()), 9)
                    .arg(r.quant.longestContextTokens, 11)
                    .arg(fitBadgeName(r.quant.badge));
    }
    text += QLatin1Char('\n');
    for (const PriorityRow &r : s.rows)
        text += QStringLiteral("%1: %2\n\n").arg(priorityName(r.priority), r.explanation);
    for (const QString &note : s.notes)
        text += QStringLiteral("Note: %1\n").arg(note);
    out(text);
}

int runAdvise(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Which quant fits a machine: exact file sizes (the quantizer's plan), "
                       "memory with KV cache and compute buffers, longest context, fit and a "
                       "recommendation. Without --model/--gguf: the best choices for the RAM."));
    parser.addOption({QStringLiteral("ram"), QStringLiteral("Total RAM in GB (required)."),
                      QStringLiteral("GB")});
    parser.addOption({QStringLiteral("model"), QStringLiteral("Catalog model id (see 'catalog')."),
                      QStringLiteral("ID")});
    parser.addOption({QStringLiteral("gguf"), QStringLiteral("Advise for a GGUF file's model."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("context"),
                      QStringLiteral("Context in tokens (default 8192, capped at the model's)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("kv-type"), QStringLiteral("KV cache type: f16, q8_0, q4_0."),
                      QStringLiteral("T"), QStringLiteral("f16")});
    parser.addOption({QStringLiteral("flash-attn"), QStringLiteral("Assume flash attention.")});
    parser.addOption({QStringLiteral("reserve"),
                      QStringLiteral("OS/desktop reserve in GB (default by RAM size)."),
                      QStringLiteral("GB")});
    parser.addOption({QStringLiteral("quality-critical"),
                      QStringLiteral("Quality matters most: name a smaller model at a higher "
                                     "quant when memory is tight.")});
    parser.addOption({QStringLiteral("vision"),
                      QStringLiteral("Count the vision projector (mmproj) of models that have "
                                     "one.")});
    parser.addOption({QStringLiteral("json"), QStringLiteral("Print JSON.")});
    addMachineOptions(parser);
    if (!parseArgs(parser, QStringLiteral("advise"), args, 0, 0))
        return 0;

    if (parser.value(QStringLiteral("machine")) == QLatin1String("list")) {
        out(parser.isSet(QStringLiteral("json"))
                ? QString::fromUtf8(QJsonDocument(machineListJson()).toJson())
                : machineListText());
        return 0;
    }
    const bool withMachine = machineRequested(parser);
    if (!parser.isSet(QStringLiteral("ram")) && !withMachine)
        throw Error(QStringLiteral("advise: --ram GB or --machine ID is required"));
    bool ok = !parser.isSet(QStringLiteral("ram"));
    const double ramGb = ok ? 1 : parser.value(QStringLiteral("ram")).toDouble(&ok);
    if (!ok || !(ramGb > 0) || ramGb > 1e6)
        throw Error(QStringLiteral("option --ram: RAM must be a number of GB greater than 0, got "
                                   "'%1'")
                        .arg(parser.value(QStringLiteral("ram"))));
    if (parser.isSet(QStringLiteral("model")) && parser.isSet(QStringLiteral("gguf")))
        throw Error(QStringLiteral("advise: give either --model or --gguf, not both"));

    std::optional<MachineProfile> machine;
    if (withMachine)
        machine = machineFrom(parser, parser.isSet(QStringLiteral("ram"))
                                          ? std::optional<double>(ramGb)
                                          : std::nullopt);
    std::optional<FileType> quant;
    if (parser.isSet(QStringLiteral("quant"))) {
        quant = fileTypeFromName(parser.value(QStringLiteral("quant")));
        if (!quant || *quant == FileType::Guessed)
            throw Error(QStringLiteral("option --quant: unknown type '%1'")
                            .arg(parser.value(QStringLiteral("quant"))));
    }
    AdviceOptions options;
    // The RAM table: all of a unified machine's memory, a discrete GPU machine's system RAM.
    options.ramBytes = machine ? machine->ramBytes : std::uint64_t(ramGb * GB);
    if (parser.isSet(QStringLiteral("reserve")))
        options.reserveBytes =
            std::uint64_t(doubleOption(parser, QStringLiteral("reserve"), 0, 0, 1e6) * GB);
    options.contextTokens =
        std::uint32_t(intOption(parser, QStringLiteral("context"), 0, 1, 1ll << 30));
    const QString kvName = parser.value(QStringLiteral("kv-type"));
    const auto kv = kvCacheTypeFromName(kvName);
    if (!kv)
        throw Error(QStringLiteral("option --kv-type: expected f16, q8_0 or q4_0, got '%1'")
                        .arg(kvName));
    options.kvType = *kv;
    options.flashAttention = parser.isSet(QStringLiteral("flash-attn"));
    options.qualityCritical = parser.isSet(QStringLiteral("quality-critical"));
    options.vision = parser.isSet(QStringLiteral("vision"));
    const bool json = parser.isSet(QStringLiteral("json"));

    PlacementOptions placementOptions;
    placementOptions.kvType = options.kvType;
    placementOptions.flashAttention = options.flashAttention;
    placementOptions.reserveBytes = options.reserveBytes;
    // llama-server's slots: the memory above and the command line below follow the same count.
    options.parallelSlots = std::uint32_t(
        intOption(parser, QStringLiteral("parallel"), kLlamaServerDefaultSlots, 1, 256));
    placementOptions.nSlots = options.parallelSlots;
    const Advisor advisor;
    if (parser.isSet(QStringLiteral("gguf"))) {
        const GgufFile file = GgufFile::open(parser.value(QStringLiteral("gguf")),
                                             GgufFile::Mode::MetadataOnly);
        ModelAdvice a = advisor.adviseGguf(file, options);
        applyMeasuredQuality(a, measuredRuns());
        std::optional<MachineAdvice> onMachine;
        if (machine) {
            placementOptions.contextTokens = a.options.contextTokens;
            placementOptions.modelFile = parser.value(QStringLiteral("gguf"));
            onMachine = adviseFileOnMachine(*machine, a.model,
                                            weightMapForFile(file, a.model.nBlocks()),
                                            QFileInfo(placementOptions.modelFile).fileName(),
                                            placementOptions);
        }
        printModel(a, json, onMachine);
    } else if (parser.isSet(QStringLiteral("model"))) {
        ModelAdvice a = advisor.adviseModel(parser.value(QStringLiteral("model")), options);
        applyMeasuredQuality(a, measuredRuns());
        std::optional<MachineAdvice> onMachine;
        if (machine) {
            placementOptions.contextTokens = a.options.contextTokens;
            placementOptions.modelFile = QStringLiteral("%1-%2.gguf")
                                             .arg(a.model.id, QStringLiteral("QUANT"));
            onMachine = adviseOnMachine(*machine, a.model, placementOptions,
                                        {.quant = quant,
                                         .ramRecommendation = a.recommendation.fileType});
            // Each level's command names that level's file.
            for (LevelPlacement &x : onMachine->levels)
                x.placement.llamaCommand.replace(QStringLiteral("-QUANT.gguf"),
                                                 QStringLiteral("-%1.gguf").arg(x.name));
        }
        printModel(a, json, onMachine);
    } else {
        printSystem(advisor.adviseSystem(options), json, machine);
    }
    return 0;
}

const CommandRegistration reg(QStringLiteral("advise"),
                              QStringLiteral("Which quant of which model fits your RAM"),
                              runAdvise);

} // namespace

} // namespace QuantFit::Cli
