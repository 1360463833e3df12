// quantfit-cli bandwidth [--threads N,N,...] [--seconds S] [--mib N] [--generate MODEL [-n N]]
//                        [--no-save] [--json]
// A streaming-read benchmark of main memory (a few seconds) and the rate of the one-token
// products per weight type from the caches (about a second): the two ceilings of generation
// speed on the CPU; with --generate also QuantFit's own generation speed on MODEL, compared with
// the estimate those ceilings give. All are saved for `advise --machine detect`.

#include "cliargs.h"
#include "command.h"

#include "advisor/advisor.h"
#include "advisor/machineprofile.h"
#include "advisor/placement.h"
#include "advisor/speed.h"
#include "gguf/ggufreader.h"
#include "infer/dotthroughput.h"
#include "jobs/consolecontext.h"
#include "system/measuredspeed.h"
#include "system/gpuinfo.h"
#include "system/membandwidth.h"
#include "system/systeminfo.h"
#include "tasks/generationtask.h"
#include "util/error.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QThread>

#include <time.h>

namespace QuantFit::Cli {

namespace {

double processCpuSeconds()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

int runBandwidth(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Measures how fast this machine reads memory (GB/s, 1..N threads): the ceiling of "
        "generation speed on the CPU. With --generate, also QuantFit's own generation speed on "
        "a model. The results are saved for 'advise --machine detect'."));
    parser.addOption({QStringLiteral("threads"),
                      QStringLiteral("Thread counts, comma-separated (default 1, 2, 4 ... all)."),
                      QStringLiteral("N,...")});
    parser.addOption({QStringLiteral("seconds"),
                      QStringLiteral("Seconds per thread count (default 0.5)."),
                      QStringLiteral("S")});
    parser.addOption({QStringLiteral("mib"), QStringLiteral("Buffer size in MiB (default 256)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("generate"),
                      QStringLiteral("Also measure QuantFit's generation speed on this GGUF."),
                      QStringLiteral("MODEL")});
    parser.addOption({QStringLiteral("n"),
                      QStringLiteral("Tokens to generate with --generate (default 32)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("gen-threads"),
                      QStringLiteral("Threads for --generate (default: those of the compute "
                                     "ceiling, all cores)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("dot-threads"),
                      QStringLiteral("Threads for the compute ceiling (default all cores, as "
                                     "generation uses)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("no-save"), QStringLiteral("Do not save the results.")});
    parser.addOption({QStringLiteral("json"), QStringLiteral("Print JSON.")});
    if (!parseArgs(parser, QStringLiteral("bandwidth"), args, 0, 0))
        return 0;
    const bool json = parser.isSet(QStringLiteral("json"));

    BandwidthOptions options;
    options.bufferBytes = std::size_t(intOption(parser, QStringLiteral("mib"), 256, 16, 65536))
                          << 20;
    options.secondsPerStep = doubleOption(parser, QStringLiteral("seconds"), 0.5, 0.05, 60);
    if (parser.isSet(QStringLiteral("threads"))) {
        const QStringList parts = parser.value(QStringLiteral("threads")).split(QLatin1Char(','));
        for (const QString &part : parts) {
            bool ok = false;
            const int t = part.trimmed().toInt(&ok);
            if (!ok || t < 1 || t > 1024)
                throw Error(QStringLiteral("option --threads: expected thread counts 1 to 1024, "
                                           "got '%1'")
                                .arg(part));
            options.threadCounts << t;
        }
    }
    if (!json)
        err(QStringLiteral("reading a %1 MiB buffer (%2 path), %3 s per thread count\n")
                .arg(options.bufferBytes >> 20)
                .arg(QLatin1String(sumWordsPath()))
                .arg(options.secondsPerStep));
    const QList<BandwidthSample> samples =
        measureReadBandwidth(options, [&](const BandwidthSample &s) {
            if (!json)
                out(QStringLiteral("%1 threads: %2 GB/s (%3 GB/s per CPU-second of the "
                                   "threads)\n")
                        .arg(s.threads, 3)
                        .arg(s.bytesPerSecond / 1e9, 6, 'f', 1)
                        .arg(s.bytesPerCpuSecond / 1e9, 0, 'f', 1));
        });
    BandwidthSample best, bestCpu;
    for (const BandwidthSample &s : samples) {
        if (s.bytesPerSecond > best.bytesPerSecond)
            best = s;
        if (s.bytesPerCpuSecond > bestCpu.bytesPerCpuSecond)
            bestCpu = s;
    }

    MeasuredSpeed speed = loadMeasuredSpeed().value_or(MeasuredSpeed{});
    speed.readBytesPerSecond = best.bytesPerSecond;
    speed.readThreads = best.threads;
    speed.readBytesPerCpuSecond = bestCpu.bytesPerCpuSecond;
    speed.readCpuThreads = bestCpu.threads;
    speed.readDate = QDateTime::currentDateTimeUtc();

    // The compute ceiling: one-token products per weight type from the caches.
    Infer::DotThroughputOptions dotOptions;
    dotOptions.nThreads = int(intOption(parser, QStringLiteral("dot-threads"), 0, 0, 1024));
    if (!json)
        err(QStringLiteral("one-token products from the caches per weight type (compute "
                           "ceiling of generation)\n"));
    QString dotLine;
    const std::vector<Infer::DotThroughput> dots =
        Infer::measureDotThroughput(dotOptions, [&](const Infer::DotThroughput &d) {
            dotLine += QStringLiteral(" %1 %2").arg(ggmlTypeName(d.type)).arg(
                d.bytesPerSecond / 1e9, 0, 'f', 1);
        });
    speed.dotRates.clear();
    QJsonArray dotArray;
    for (const Infer::DotThroughput &d : dots) {
        speed.dotRates.append({ggmlTypeName(d.type), d.bytesPerSecond});
        speed.dotThreads = d.threads;
        dotArray.append(QJsonObject{{QStringLiteral("type"), ggmlTypeName(d.type)},
                                    {QStringLiteral("threads"), d.threads},
                                    {QStringLiteral("bytesPerSecond"), d.bytesPerSecond},
                                    {QStringLiteral("matrixBytes"), double(d.matrixBytes)}});
    }
    speed.dotDate = QDateTime::currentDateTimeUtc();

    QJsonObject result{{QStringLiteral("bufferBytes"), double(options.bufferBytes)},
                       {QStringLiteral("path"), QLatin1String(sumWordsPath())},
                       {QStringLiteral("bestBytesPerSecond"), best.bytesPerSecond},
                       {QStringLiteral("bestThreads"), best.threads}};
    QJsonArray sampleArray;
    for (const BandwidthSample &s : samples)
        sampleArray.append(QJsonObject{{QStringLiteral("threads"), s.threads},
                                       {QStringLiteral("bytesPerSecond"), s.bytesPerSecond},
                                       {QStringLiteral("bytesPerCpuSecond"),
                                        s.bytesPerCpuSecond}});
    result.insert(QStringLiteral("samples"), sampleArray);
    result.insert(QStringLiteral("dotRates"), dotArray);
    QString text = QStringLiteral("best: %1 GB/s with %2 threads (%3 GB/s per CPU-second of "
                                  "%4 threads)\n")
                       .arg(best.bytesPerSecond / 1e9, 0, 'f', 1)
                       .arg(best.threads)
                       .arg(bestCpu.bytesPerCpuSecond / 1e9, 0, 'f', 1)
                       .arg(bestCpu.threads);
    text += QStringLiteral("compute ceiling, GB/s of weights with %1 threads:%2\n")
                .arg(speed.dotThreads)
                .arg(dotLine);

    if (parser.isSet(QStringLiteral("generate"))) {
        const QString model = parser.value(QStringLiteral("generate"));
        // Bytes read per token of this model, from its real tensors (the KV cache at the short
        // context of this run is included).
        const GgufFile file = GgufFile::open(model, GgufFile::Mode::MetadataOnly);
        AdviceOptions adviceOptions;
        adviceOptions.ramBytes = std::uint64_t(1) << 50;
        const ModelAdvice advice = Advisor().adviseGguf(file, adviceOptions);
        const WeightMap map = weightMapForFile(file, advice.model.nBlocks());

        // Two runs, N tokens and 2 tokens: the difference of their process CPU times is the
        // CPU time of N - 2 generated tokens, free of loading, the prompt and of other processes
        // sharing the machine (which dilute wall time, not CPU time).
        const int nPredict = int(intOption(parser, QStringLiteral("n"), 32, 4, 4096));
        const int nThreads = int(intOption(parser, QStringLiteral("gen-threads"),
                                           std::max(1, speed.dotThreads), 1, 1024));
        const QString shortPrompt =
            QStringLiteral("The quick brown fox jumps over the lazy dog. Once upon a time");
        const auto generate = [&](int n, const QString &prompt, double *cpuSeconds) {
            TextGenerationRequest request;
            request.modelPaths = QStringList{model};
            request.prompt = prompt;
            request.options.nPredict = n;
            request.options.sampler = {};
            request.nThreads = nThreads;
            ConsoleContext ctx(true);
            const double start = processCpuSeconds();
            TextGenerationResult r = runTextGeneration(request, ctx);
            *cpuSeconds = processCpuSeconds() - start;
            return r.outputs.front();
        };
        double cpuShort = 0, cpuLong = 0, cpuPrompt = 0;
        generate(2, shortPrompt, &cpuShort);
        const GeneratedText g = generate(nPredict, shortPrompt, &cpuLong);
        // The prompt's rate from a separate run with a prompt long enough to be batched (it
        // would drown the generation's CPU time in the runs above).
        const GeneratedText pp = generate(
            1, shortPrompt + QStringLiteral(" the quick brown fox jumps over the dog").repeated(40),
            &cpuPrompt);
        if (g.nGenerated <= 2 || cpuLong <= cpuShort)
            throw Error(QStringLiteral("bandwidth: the model stopped after %1 tokens; give a "
                                       "model that generates at least %2")
                            .arg(g.nGenerated)
                            .arg(nPredict));
        const double cpuTokensPerSecond = double(g.nGenerated - 2) / (cpuLong - cpuShort)
                                          * nThreads;
        const std::uint32_t context = std::uint32_t(g.nPromptTokens + g.nGenerated / 2);
        const double bytesPerToken =
            bytesPerGeneratedToken(advice.model, map, std::max(context, 1u), KvCacheType::F16);

        speed.generatedTokensPerSecond = cpuTokensPerSecond;
        speed.bytesPerToken = std::uint64_t(bytesPerToken);
        speed.generationModel = QFileInfo(model).fileName();
        speed.generationThreads = nThreads;
        speed.generationDate = QDateTime::currentDateTimeUtc();
        // FLOPs per prompt token: 2 x active parameters + attention at the mean position.
        const double promptFlopsPerToken = 2.0 * activeParameters(advice.model, map)
            + 4.0 * advice.model.nLayers * double(advice.model.qDim()) * pp.nPromptTokens / 2.0;
        speed.promptTokensPerSecond = pp.promptTokensPerSecond;
        speed.promptFlops = pp.promptTokensPerSecond * promptFlopsPerToken;

        // The estimate `advise --machine detect` gives for this file from what was just
        // measured (the two ceilings of speed.h), everything on the CPU.
        MeasuredSpeed ceilings = speed;
        ceilings.generatedTokensPerSecond = 0;
        MachineProfile machine = detectedMachine(SystemInfo::current(), {}, ceilings);
        machine.ramBytes = std::uint64_t(1) << 50;
        PlacementOptions placementOptions;
        placementOptions.contextTokens = std::max(context, 1u);
        const Placement placement = planPlacement(machine, advice.model, map, placementOptions);
        const SpeedEstimate e = estimateSpeed(machine, advice.model, map, placement);
        const double estimate = e.generationTokensPerSecond;
        const double ratio = estimate / cpuTokensPerSecond;
        text += QStringLiteral("prompt on %1: %2 tokens in a batch, %3 tokens/s (wall time), "
                               "%4 GFLOP/s\n")
                    .arg(QFileInfo(model).fileName())
                    .arg(pp.nPromptTokens)
                    .arg(pp.promptTokensPerSecond, 0, 'f', 1)
                    .arg(speed.promptFlops / 1e9, 0, 'f', 1);
        text += QStringLiteral("generation on %1 (%2 threads, %3 tokens): %4 tokens/s per "
                               "CPU-second of its threads x threads (%5 tokens/s wall); %6 MB "
                               "read per token\n"
                               "estimate (advise --machine detect): %7 tokens/s, %8% of the "
                               "measured speed: reading %9 ms, products %10 ms per token\n")
                    .arg(QFileInfo(model).fileName())
                    .arg(nThreads)
                    .arg(g.nGenerated)
                    .arg(cpuTokensPerSecond, 0, 'f', 2)
                    .arg(g.generatedTokensPerSecond, 0, 'f', 2)
                    .arg(bytesPerToken / 1e6, 0, 'f', 1)
                    .arg(estimate, 0, 'f', 2)
                    .arg(100 * ratio, 0, 'f', 0)
                    .arg(1e3 * e.cpuMemorySecondsPerToken, 0, 'f', 2)
                    .arg(1e3 * e.cpuComputeSecondsPerToken, 0, 'f', 2);
        result.insert(QStringLiteral("generation"),
                      QJsonObject{{QStringLiteral("model"), model},
                                  {QStringLiteral("tokensPerCpuSecond"), cpuTokensPerSecond},
                                  {QStringLiteral("promptTokens"), pp.nPromptTokens},
                                  {QStringLiteral("promptTokensPerSecond"),
                                   pp.promptTokensPerSecond},
                                  {QStringLiteral("promptFlops"), speed.promptFlops},
                                  {QStringLiteral("tokensPerSecond"), g.generatedTokensPerSecond},
                                  {QStringLiteral("threads"), nThreads},
                                  {QStringLiteral("tokens"), g.nGenerated},
                                  {QStringLiteral("bytesPerToken"), bytesPerToken},
                                  {QStringLiteral("estimateTokensPerSecond"), estimate},
                                  {QStringLiteral("estimateBasis"),
                                   QJsonArray::fromStringList(e.basis)}});
    }
    if (!parser.isSet(QStringLiteral("no-save"))) {
        saveMeasuredSpeed(speed);
        text += QStringLiteral("saved to %1 (used by 'advise --machine detect')\n")
                    .arg(measuredSpeedPath());
        result.insert(QStringLiteral("savedTo"), measuredSpeedPath());
    }
    out(json ? QString::fromUtf8(QJsonDocument(result).toJson()) : text);
    return 0;
}

const CommandRegistration reg(QStringLiteral("bandwidth"),
                              QStringLiteral("Measure memory bandwidth (and generation speed)"),
                              runBandwidth);

} // namespace

} // namespace QuantFit::Cli
