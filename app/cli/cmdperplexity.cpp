// quantfit-cli perplexity MODEL -f TEXT [--ctx N] [--chunks N] [--batch N] [--threads N]
//                         [-fa on|off] [--save-base FILE | --kl-base FILE] [--json]

#include "cliargs.h"
#include "command.h"

#include "eval/resultsstore.h"
#include "jobs/consolecontext.h"
#include "tasks/measurementtask.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

#include <cmath>
#include <cstdio>

namespace QuantFit::Cli {

namespace {

/// A value that prints as zero at `digits` decimals prints without a sign: a model against its own
/// saved base gives per-token KLDs of a few 1e-9 either side of zero (the base file stores 16-bit
/// log-probabilities), and "-0.000000" reads as a defect.
double unsignedZero(double v, int digits)
{
    return std::abs(v) < 0.5 * std::pow(10.0, -digits) ? 0.0 : v;
}


void addOption(QCommandLineParser &parser, const QStringList &names, const QString &help,
               const QString &valueName = {})
{
    parser.addOption(QCommandLineOption(names, help, valueName));
}

/// Prints "[k]PPL," as llama-perplexity does (on stderr when stdout carries JSON).
class RunningPrinter
{
public:
    explicit RunningPrinter(bool toStderr) : m_stderr(toStderr) {}

    void operator()(const ChunkReport &r)
    {
        if (r.chunk == 1) {
            err(QStringLiteral("perplexity: %1 chunks of %2 tokens, %3 tokens/s, ETA %4\n")
                     .arg(r.nChunks)
                     .arg(m_nCtx)
                     .arg(r.tokensPerSecond, 0, 'f', 1)
                     .arg(formatSeconds(r.etaSeconds)));
        }
        if (r.kld) {
            // KLD runs: one line per chunk with the running figures, as llama-perplexity prints.
            const KldSummary &k = *r.kld;
            if (r.chunk == 1)
                print(QStringLiteral("chunk             PPL          ln(PPL(Q)/PPL(base))          "
                                     "KL Divergence              Δp RMS            Same top p\n"));
            print(QStringLiteral("%1 %2 ± %3 %4 ± %5 %6 ± %7 %8 ± %9 %")
                      .arg(r.chunk, 4)
                      .arg(k.pplQ, 12, 'f', 4)
                      .arg(k.pplQError, 9, 'f', 4)
                      .arg(unsignedZero(k.lnRatio, 5), 14, 'f', 5)
                      .arg(k.lnRatioError, 9, 'f', 5)
                      .arg(unsignedZero(k.kldMean, 5), 14, 'f', 5)
                      .arg(k.kldMeanError, 9, 'f', 5)
                      .arg(k.rmsDpPercent, 9, 'f', 3)
                      .arg(k.rmsDpPercentError, 6, 'f', 3)
                  + QStringLiteral("  %1 ± %2 %\n")
                        .arg(k.sameTopPercent, 7, 'f', 3)
                        .arg(k.sameTopPercentError, 6, 'f', 3));
            return;
        }
        print(QStringLiteral("[%1]%2,").arg(r.chunk).arg(r.ppl, 0, 'f', 4));
        if (r.chunk == r.nChunks)
            print(QStringLiteral("\n"));
    }

    void setContext(int nCtx) { m_nCtx = nCtx; }

    void print(const QString &text) const
    {
        if (m_stderr) {
            err(text);
        } else {
            out(text);
            std::fflush(stdout);
        }
    }

private:
    static QString formatSeconds(double s)
    {
        if (s < 0)
            return QStringLiteral("unknown");
        if (s < 120)
            return QStringLiteral("%1 s").arg(s, 0, 'f', 1);
        return QStringLiteral("%1 min").arg(s / 60.0, 0, 'f', 1);
    }

    bool m_stderr;
    int m_nCtx = 0;
};

QString pm(double v, double e, int digits = 4)
{
    return QStringLiteral("%1 ± %2").arg(unsignedZero(v, digits), 0, 'f', digits).arg(e, 0, 'f', digits);
}

void printKldReport(const KldSummary &s, const RunningPrinter &p)
{
    QString t;
    t += QStringLiteral("====== Perplexity statistics ======\n");
    t += QStringLiteral("Mean PPL(Q)                   : %1\n").arg(pm(s.pplQ, s.pplQError, 6));
    t += QStringLiteral("Mean PPL(base)                : %1\n").arg(pm(s.pplBase, s.pplBaseError, 6));
    t += QStringLiteral("Cor(ln(PPL(Q)), ln(PPL(base))): %1%\n").arg(100.0 * s.correlation, 0, 'f', 2);
    t += QStringLiteral("Mean ln(PPL(Q)/PPL(base))     : %1\n").arg(pm(s.lnRatio, s.lnRatioError, 6));
    t += QStringLiteral("Mean PPL(Q)/PPL(base)         : %1\n").arg(pm(s.pplRatio, s.pplRatioError, 6));
    t += QStringLiteral("Mean PPL(Q)-PPL(base)         : %1\n").arg(pm(s.pplDelta, s.pplDeltaError, 6));
    t += QStringLiteral("\n====== KL divergence statistics ======\n");
    t += QStringLiteral("Mean    KLD: %1\n").arg(pm(s.kldMean, s.kldMeanError, 6));
    t += QStringLiteral("Maximum KLD: %1\n").arg(unsignedZero(s.kldMax, 6), 0, 'f', 6);
    t += QStringLiteral("99.9%   KLD: %1\n").arg(unsignedZero(s.kldP999, 6), 0, 'f', 6);
    t += QStringLiteral("99.0%   KLD: %1\n").arg(unsignedZero(s.kldP99, 6), 0, 'f', 6);
    t += QStringLiteral("95.0%   KLD: %1\n").arg(unsignedZero(s.kldP95, 6), 0, 'f', 6);
    t += QStringLiteral("90.0%   KLD: %1\n").arg(unsignedZero(s.kldP90, 6), 0, 'f', 6);
    t += QStringLiteral("Median  KLD: %1\n").arg(unsignedZero(s.kldMedian, 6), 0, 'f', 6);
    t += QStringLiteral("Minimum KLD: %1\n").arg(unsignedZero(s.kldMin, 6), 0, 'f', 6);
    t += QStringLiteral("Tail bound : %1 (mean per-token bound of the base file's truncation)\n")
             .arg(s.kldTailBound, 0, 'g', 3);
    t += QStringLiteral("\n====== Token probability statistics ======\n");
    t += QStringLiteral("Mean    Δp: %1 %\n").arg(pm(s.meanDpPercent, s.meanDpPercentError, 3));
    t += QStringLiteral("Maximum |Δp|: %1 %\n").arg(s.maxAbsDpPercent, 0, 'f', 3);
    t += QStringLiteral("RMS Δp    : %1 %\n").arg(pm(s.rmsDpPercent, s.rmsDpPercentError, 3));
    t += QStringLiteral("Same top p: %1 %\n").arg(pm(s.sameTopPercent, s.sameTopPercentError, 3));
    p.print(t);
}

int runPerplexity(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Measures perplexity by llama-perplexity's method: chunks of --ctx tokens, each from an "
        "empty cache, the second half of each chunk scored. --save-base writes the scored "
        "logits in a compact file; --kl-base compares against such a file, and --base MODEL "
        "computes the base's logits first and compares every MODEL with them (KL divergence, "
        "ΔPPL, same top token, Δp). TEXT is a file or ARCHIVE:MEMBER of a .zip/.tar.* archive."));
    parser.addPositionalArgument(QStringLiteral("MODEL"), QStringLiteral("GGUF model(s)."),
                                 QStringLiteral("MODEL [MODEL...]"));
    addOption(parser, {QStringLiteral("f"), QStringLiteral("file")},
              QStringLiteral("Evaluation text (not needed with --kl-base)."), QStringLiteral("TEXT"));
    addOption(parser, {QStringLiteral("sample")},
              QStringLiteral("Use the built-in sample text (a short English text, as the app's "
                             "Measure page)."));
    addOption(parser, {QStringLiteral("c"), QStringLiteral("ctx")},
              QStringLiteral("Context per chunk (default 512)."), QStringLiteral("N"));
    addOption(parser, {QStringLiteral("chunks")},
              QStringLiteral("Evaluate at most N chunks (default all)."), QStringLiteral("N"));
    addOption(parser, {QStringLiteral("b"), QStringLiteral("batch")},
              QStringLiteral("Tokens per forward step (default 2048)."), QStringLiteral("N"));
    addOption(parser, {QStringLiteral("t"), QStringLiteral("threads")},
              QStringLiteral("Threads (default all cores)."), QStringLiteral("N"));
    parser.addOption(flashAttnOptionSpec());
    addOption(parser, {QStringLiteral("base")},
              QStringLiteral("Full-precision model: measured first, then every MODEL is compared "
                             "with its logits."),
              QStringLiteral("MODEL"));
    addOption(parser, {QStringLiteral("save-base")},
              QStringLiteral("Save the scored logits (of --base, else of the one MODEL) to FILE."),
              QStringLiteral("FILE"));
    addOption(parser, {QStringLiteral("base-entries")},
              QStringLiteral("With --save-base: list at most N most likely tokens per position "
                             "(default 512; the rest is kept as one exact mass, or as 16-bit log-probs when it "
                             "holds more than 1e-4)."),
              QStringLiteral("N"));
    addOption(parser, {QStringLiteral("base-format")},
              QStringLiteral("With --save-base: qf (default, compact) or llama (llama.cpp's "
                             "--kl-divergence-base layout, 2 bytes per token and vocabulary entry)."),
              QStringLiteral("FORMAT"));
    addOption(parser, {QStringLiteral("kl-base")},
              QStringLiteral("Compare against base logits saved in FILE (ours, or llama.cpp's "
                             "--kl-divergence-base file)."),
              QStringLiteral("FILE"));
    addOption(parser, {QStringLiteral("kv-type")},
              QStringLiteral("KV cache type: f16 (default, as llama.cpp) or f32."), QStringLiteral("TYPE"));
    addOption(parser, {QStringLiteral("json")},
              QStringLiteral("Print the result record(s) as JSON on stdout (an object, or an "
                             "array with several records)."));
    addOption(parser, {QStringLiteral("save")},
              QStringLiteral("Save the result record(s) in the results folder the app lists "
                             "(see `quantfit-cli results`)."));
    addOption(parser, {QStringLiteral("results-dir")},
              QStringLiteral("With --save: this folder instead of the app's."), QStringLiteral("DIR"));
    if (!parseArgs(parser, QStringLiteral("perplexity"), args, 1, -1))
        return 0;

    MeasurementRequest request;
    request.modelPaths = parser.positionalArguments();
    request.basePath = parser.value(QStringLiteral("base"));
    request.baseLogitsPath = parser.value(QStringLiteral("kl-base"));
    const bool json = parser.isSet(QStringLiteral("json"));
    const bool kl = !request.baseLogitsPath.isEmpty();
    if (kl && parser.isSet(QStringLiteral("save-base")))
        throw Error(QStringLiteral("perplexity: --save-base and --kl-base cannot be combined"));
    if (parser.isSet(QStringLiteral("file")) && parser.isSet(QStringLiteral("sample")))
        throw Error(QStringLiteral("perplexity: -f TEXT and --sample cannot be combined"));
    if (!kl && !parser.isSet(QStringLiteral("file")) && !parser.isSet(QStringLiteral("sample")))
        throw Error(QStringLiteral("perplexity: an evaluation text is needed (-f TEXT, or --sample)"));
    request.textSource = parser.value(QStringLiteral("file"));
    request.nCtx = int(intOption(parser, QStringLiteral("ctx"), 512, 4, 1 << 20));
    request.nChunks = int(intOption(parser, QStringLiteral("chunks"), -1, 1, INT32_MAX));
    request.nBatch = int(intOption(parser, QStringLiteral("batch"), 2048, 1, 1 << 20));
    request.nThreads = int(intOption(parser, QStringLiteral("threads"), 0, 1, 4096));
    request.flashAttention = flashAttnOption(parser);
    if (parser.isSet(QStringLiteral("kv-type"))) {
        const QString t = parser.value(QStringLiteral("kv-type")).toLower();
        if (t == QLatin1String("f16"))
            request.kvType = KvStorageType::F16;
        else if (t == QLatin1String("f32"))
            request.kvType = KvStorageType::F32;
        else
            throw Error(QStringLiteral("option --kv-type: expected f16 or f32, got '%1'").arg(t));
    }
    request.saveBaseLogitsPath = parser.value(QStringLiteral("save-base"));
    if (parser.isSet(QStringLiteral("base-format"))) {
        const QString f = parser.value(QStringLiteral("base-format")).toLower();
        if (f == QLatin1String("llama"))
            request.baseLlamaCppFormat = true;
        else if (f != QLatin1String("qf"))
            throw Error(QStringLiteral("option --base-format: expected qf or llama, got '%1'").arg(f));
    }
    request.baseLimits.maxEntries = std::uint32_t(intOption(
        parser, QStringLiteral("base-entries"), request.baseLimits.maxEntries, 1, 1 << 24));
    request.producer = QStringLiteral("quantfit-cli %1").arg(QStringLiteral(QUANTFIT_VERSION));
    if (parser.isSet(QStringLiteral("results-dir")) && !parser.isSet(QStringLiteral("save")))
        throw Error(QStringLiteral("perplexity: --results-dir goes with --save"));
    const bool save = parser.isSet(QStringLiteral("save"));
    const ResultsStore store(parser.value(QStringLiteral("results-dir")));

    RunningPrinter printer(json);
    printer.setContext(request.nCtx);
    const bool several = request.modelPaths.size() > 1 || !request.basePath.isEmpty();
    request.onChunk = [&](int model, const ChunkReport &r) {
        if (several && r.chunk == 1) {
            const QString name = model < 0 ? request.basePath : request.modelPaths[model];
            printer.print(QStringLiteral("%1%2:\n").arg(model < 0 ? QStringLiteral("base ") : QString(), name));
        }
        printer(r);
    };
    QStringList saved;
    request.onRecord = [&](const MeasurementRecord &r) {
        if (save)
            saved << store.save(r); // at once: a later cancel keeps what was measured
    };
    ConsoleContext ctx(true); // the running values are the progress display; Ctrl+C cancels
    const MeasurementResult result = runMeasurement(request, ctx);
    for (const QString &n : result.notes)
        err(QStringLiteral("note: %1\n").arg(n));

    if (json) {
        if (result.records.size() == 1) {
            out(QString::fromUtf8(measurementRecordJsonText(result.records.front())));
        } else {
            QJsonArray all;
            for (const MeasurementRecord &r : result.records)
                all.append(measurementRecordToJson(r));
            out(QString::fromUtf8(QJsonDocument(all).toJson(QJsonDocument::Indented)));
        }
    } else {
        for (const MeasurementRecord &r : result.records) {
            if (several)
                printer.print(QStringLiteral("%1%2:\n").arg(r.isBase ? QStringLiteral("base ") : QString(), r.modelPath));
            if (r.kld)
                printKldReport(*r.kld, printer);
            printer.print(QStringLiteral("Final estimate: PPL = %1 +/- %2\n")
                              .arg(r.ppl, 0, 'f', 4)
                              .arg(r.pplError, 0, 'f', 5));
            err(QStringLiteral("%1 tokens scored in %2 s (%3 tokens/s)\n")
                    .arg(r.nTokensScored)
                    .arg(r.seconds, 0, 'f', 2)
                    .arg(r.tokensPerSecond, 0, 'f', 1));
        }
        if (!request.saveBaseLogitsPath.isEmpty())
            err(QStringLiteral("base logits saved to %1 (%2)\n")
                    .arg(request.saveBaseLogitsPath,
                         formatBytes(std::uint64_t(QFileInfo(request.saveBaseLogitsPath).size()))));
    }
    for (const QString &p : saved)
        err(QStringLiteral("result saved to %1\n").arg(p));
    return 0;
}

const CommandRegistration reg(QStringLiteral("perplexity"),
                              QStringLiteral("Measure perplexity, save base logits or compare by KL "
                                             "divergence"),
                              runPerplexity);

} // namespace

} // namespace QuantFit::Cli
