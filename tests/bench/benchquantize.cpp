// quantfit-bench quantize: conversion throughput (MB/s of F32 input) per file type with one
// thread and with all threads, without and with an importance matrix, the peak resident memory
// of each whole-model conversion against its budget (the largest tensor's F32 size + 100 MB),
// and llama-quantize's time on the same machine and threads, estimated from the reference
// codecs (benchquantize.h) or, with --reference, measured by converting with them. The model is
// a synthetic one of at least 2 GB generated in a temporary folder (deleted afterwards), or
// --model FILE. With --block-types: the row quantizers alone (benchquantizerows.cpp).

#include "bench.h"
#include "benchquantize.h"

#include "codecs/quantkernels.h"
#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "model/syntheticmodel.h"
#include "quant/imatrixfile.h"
#include "quant/quantizer.h"
#include "quant/quantplan.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

namespace QuantFit::Bench {

namespace {

constexpr std::uint64_t kRssHeadroomBytes = 100 * 1000 * 1000;

SyntheticModelOptions modelForSize(double gigabytes)
{
    SyntheticModelOptions o;
    o.nEmbd = 2048;
    o.nFf = 5632;
    o.nHeads = 16;
    o.nHeadsKv = 4;
    o.nVocab = 8192;
    o.name = QStringLiteral("quantfit-bench synthetic");
    const double kvDim = double(o.nEmbd) / o.nHeads * o.nHeadsKv;
    const double perLayer = 4.0 * (2.0 * o.nEmbd * o.nEmbd + 2.0 * o.nEmbd * kvDim
                                   + 3.0 * double(o.nEmbd) * o.nFf);
    const double fixed = 4.0 * 2.0 * double(o.nEmbd) * o.nVocab;
    o.nLayers = std::uint32_t(std::max(1.0, std::ceil((gigabytes * 1e9 - fixed) / perLayer)));
    return o;
}

// An importance matrix for every 2-D/3-D weight but the token embeddings (which llama-imatrix
// never records): log-normal column means, the spread of real imatrix data.
ImportanceMatrix syntheticImatrix(const GgufFile &input)
{
    ImportanceMatrix m;
    std::mt19937 rng(7);
    std::lognormal_distribution<float> spread(0.f, 1.5f);
    for (const auto &t : input.tensors()) {
        if (t.effectiveDims() < 2 || t.name == "token_embd.weight" || !t.name.endsWith(".weight"))
            continue;
        ImportanceEntry e;
        e.name = t.name;
        e.nColumns = t.ne[0];
        e.nMatrices = t.effectiveDims() >= 3 ? t.ne[2] : 1;
        e.sumSquares.resize(std::size_t(e.nColumns * e.nMatrices));
        for (auto &v : e.sumSquares)
            v = spread(rng);
        e.counts.assign(std::size_t(e.nMatrices), 1.f);
        m.entries.push_back(std::move(e));
    }
    m.chunkCount = 1;
    m.chunkSize = 512;
    return m;
}

// The CPU seconds the codecs of `plan` take at the per-thread row rates of one path (the
// reference codecs: llama-quantize's; the optimized ones: ours), F32 input per target type.
double codecCpuSeconds(const QuantPlan &plan, const ImportanceMatrix *imatrix, bool reference,
                       double seconds)
{
    std::map<std::pair<GgmlType, bool>, std::uint64_t> inputBytes;
    for (const PlannedTensor &t : plan.tensors) {
        if (!t.quantized || !kernelsFor(t.targetType).quantizeRow
            || !typeFacts(t.targetType).isQuantized)
            continue;
        const bool imp = imatrix && imatrix->find(t.source.name)
            && kernelsFor(t.targetType).usesImportance;
        inputBytes[{t.targetType, imp}] += t.source.nElements() * 4;
    }
    double total = 0;
    for (const auto &[key, bytes] : inputBytes) {
        const double rate = reference ? referenceRate(key.first, key.second, seconds)
                                      : optimizedRate(key.first, key.second, seconds);
        total += double(bytes) / 1e6 / rate;
    }
    return total;
}

// ggml's table construction for the I-quant types of `plan`, CPU seconds.
double tableSeconds(const QuantPlan &plan)
{
    std::set<int> grids;
    for (const PlannedTensor &t : plan.tensors)
        for (int g : gridsOf(t.targetType))
            grids.insert(g);
    double total = 0;
    for (int g : grids)
        total += ggmlStyleTableSeconds(g);
    return total;
}

struct Run {
    double seconds = 0;
    double cpuSeconds = 0;
    std::uint64_t inputBytes = 0;
    std::uint64_t peakRss = 0;
};

Run convert(const GgufFile &input, const QuantPlan &plan, const QString &out, int threads,
            const ImportanceMatrix *imatrix)
{
    resetPeakRss();
    QuantizeOptions options;
    options.nThreads = threads;
    options.verify = false;
    options.imatrix = imatrix;
    NullJobContext ctx;
    const double cpuBefore = processCpuSeconds();
    const QuantizeResult r = quantize(input, {{plan, out}}, options, ctx);
    Run run;
    run.cpuSeconds = processCpuSeconds() - cpuBefore;
    run.seconds = r.seconds;
    run.inputBytes = r.inputBytes;
    run.peakRss = peakRssBytes();
    QFile::remove(out);
    return run;
}

// Whether any tensor of the plan is written in a type whose quantizer reads importances.
bool usesImportance(const QuantPlan &plan)
{
    return std::any_of(plan.tensors.begin(), plan.tensors.end(), [](const PlannedTensor &t) {
        return t.quantized && kernelsFor(t.targetType).usesImportance;
    });
}

int runQuantizeBench(const QStringList &args)
{
    QCommandLineParser parser;
    parser.addOption({QStringLiteral("model"), QStringLiteral("Use this F32/F16 model instead of "
                                                              "generating one."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("size-gb"), QStringLiteral("Size of the generated F32 model "
                                                                "(default 2.1)."),
                      QStringLiteral("G")});
    parser.addOption({QStringLiteral("dir"), QStringLiteral("Folder for the model and outputs "
                                                            "(default /tmp)."),
                      QStringLiteral("DIR")});
    parser.addOption({QStringLiteral("types"), QStringLiteral("File types (default: every "
                                                              "supported one)."),
                      QStringLiteral("T,T")});
    parser.addOption({QStringLiteral("threads"), QStringLiteral("The 'all threads' count "
                                                                "(default: all cores)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("single-only"), QStringLiteral("Only the one-thread runs.")});
    parser.addOption({QStringLiteral("multi-only"), QStringLiteral("Only the all-threads runs.")});
    parser.addOption({QStringLiteral("imatrix"),
                      QStringLiteral("no: never an importance matrix; only: always one; both "
                                     "(default): without one where the mix allows it, and with "
                                     "one where some tensor's codec uses it."),
                      QStringLiteral("MODE")});
    parser.addOption({QStringLiteral("reference"),
                      QStringLiteral("Also convert with the reference (portable) codecs and "
                                     "report that time plus ggml's table construction as "
                                     "llama-quantize's.")});
    parser.addOption({QStringLiteral("seconds"),
                      QStringLiteral("Minimum time per row measurement (default 1)."),
                      QStringLiteral("S")});
    parser.addOption({QStringLiteral("block-types"),
                      QStringLiteral("Only the row quantizers of these ggml types ('all' for "
                                     "every one)."),
                      QStringLiteral("T,T")});
    parser.addOption({QStringLiteral("no-ggml-tables"),
                      QStringLiteral("With --block-types: skip timing ggml's construction of "
                                     "the neighbour tables (about 10 s).")});
    QStringList full = args;
    full.prepend(QStringLiteral("quantfit-bench quantize"));
    if (!parser.parse(full))
        throw Error(parser.errorText());
    const int all = parser.isSet(QStringLiteral("threads"))
                        ? parser.value(QStringLiteral("threads")).toInt()
                        : defaultThreadCount();
    const double seconds = parser.isSet(QStringLiteral("seconds"))
                               ? parser.value(QStringLiteral("seconds")).toDouble()
                               : 1.0;
    if (parser.isSet(QStringLiteral("block-types")))
        return runRowBench(parser.value(QStringLiteral("block-types")), all, seconds,
                           !parser.isSet(QStringLiteral("no-ggml-tables")));
    const QString imatrixMode = parser.isSet(QStringLiteral("imatrix"))
                                    ? parser.value(QStringLiteral("imatrix"))
                                    : QStringLiteral("both");
    if (imatrixMode != QLatin1String("no") && imatrixMode != QLatin1String("only")
        && imatrixMode != QLatin1String("both"))
        throw Error(
            QStringLiteral("--imatrix: expected no, only or both, got '%1'").arg(imatrixMode));

    const QString dirBase = parser.isSet(QStringLiteral("dir"))
                                ? parser.value(QStringLiteral("dir"))
                                : QStringLiteral("/tmp");
    QTemporaryDir dir(dirBase + QStringLiteral("/quantfit-bench-XXXXXX"));
    if (!dir.isValid())
        throw Error(QStringLiteral("cannot create a temporary folder in %1").arg(dirBase));

    QString modelPath = parser.value(QStringLiteral("model"));
    if (modelPath.isEmpty()) {
        const double gb = parser.isSet(QStringLiteral("size-gb"))
                              ? parser.value(QStringLiteral("size-gb")).toDouble()
                              : 2.1;
        const SyntheticModelOptions o = modelForSize(gb);
        modelPath = dir.filePath(QStringLiteral("bench-F32.gguf"));
        QElapsedTimer t;
        t.start();
        NullJobContext ctx;
        writeSyntheticModel(modelPath, o, ctx);
        print(QStringLiteral("generated %1: %2 layers, embd %3, ff %4, %5 in %6 s")
                  .arg(modelPath)
                  .arg(o.nLayers)
                  .arg(o.nEmbd)
                  .arg(o.nFf)
                  .arg(formatGB(std::uint64_t(QFileInfo(modelPath).size())))
                  .arg(double(t.elapsed()) / 1000.0, 0, 'f', 1));
    }
    const GgufFile input = GgufFile::open(modelPath);
    std::uint64_t largestF32 = 0;
    std::uint64_t nParams = 0;
    for (const auto &t : input.tensors()) {
        largestF32 = std::max(largestF32, t.nElements() * 4);
        nParams += t.nElements();
    }
    const ImportanceMatrix imatrix = syntheticImatrix(input);

    std::vector<FileType> types;
    if (parser.isSet(QStringLiteral("types"))) {
        for (const QString &name : parser.value(QStringLiteral("types")).split(QLatin1Char(','))) {
            const auto ft = fileTypeFromName(name);
            if (!ft)
                throw Error(QStringLiteral("unknown file type '%1'").arg(name));
            types.push_back(*ft);
        }
    } else {
        for (const auto &f : allFileTypes()) {
            if (f.supported)
                types.push_back(f.fileType);
        }
    }
    std::vector<int> threadCounts;
    if (!parser.isSet(QStringLiteral("multi-only")))
        threadCounts.push_back(1);
    if (!parser.isSet(QStringLiteral("single-only")) && (all > 1 || threadCounts.empty()))
        threadCounts.push_back(all);
    const bool reference = parser.isSet(QStringLiteral("reference"));

    const std::uint64_t budget = largestF32 + kRssHeadroomBytes;
    print(QStringLiteral("input: %1 (%2M parameters, %3 of tensors), largest tensor as F32: %4, "
                         "RSS budget %5; RSS before: %6")
              .arg(modelPath)
              .arg(double(nParams) / 1e6, 0, 'f', 0)
              .arg(formatBytes(input.totalTensorBytes()), formatBytes(largestF32),
                   formatBytes(budget), formatBytes(currentRssBytes())));
    print(QStringLiteral("llama s = llama-quantize's seconds on these threads, %1; ours/llama "
                         "compares CPU seconds (robust on a busy machine)")
              .arg(reference ? QStringLiteral("measured with the reference codecs + ggml's "
                                              "table construction")
                             : QStringLiteral("estimated: our CPU time with the codecs' share "
                                              "replaced by the reference codecs' (row rates), "
                                              "+ ggml's table construction, all over the "
                                              "threads")));
    print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9 %10")
              .arg(QStringLiteral("type"), -9)
              .arg(QStringLiteral("imatrix"), 7)
              .arg(QStringLiteral("threads"), 7)
              .arg(QStringLiteral("seconds"), 8)
              .arg(QStringLiteral("MB/s"), 8)
              .arg(QStringLiteral("MB/cpu-s"), 9)
              .arg(QStringLiteral("peak RSS"), 11)
              .arg(QStringLiteral("budget"), 6)
              .arg(QStringLiteral("llama s"), 9)
              .arg(QStringLiteral("ours/llama"), 10));
    std::uint64_t worstPeak = 0;
    for (FileType ft : types) {
        for (bool withImatrix : {false, true}) {
            if ((withImatrix && imatrixMode == QLatin1String("no"))
                || (!withImatrix && imatrixMode == QLatin1String("only")))
                continue;
            QuantOptions planOptions;
            planOptions.hasImatrix = withImatrix;
            const QuantPlan plan =
                makeQuantPlan(input.metadata(), input.tensors(), ft, planOptions);
            if (withImatrix && imatrixMode == QLatin1String("both") && !usesImportance(plan))
                continue;
            const ImportanceMatrix *imp = withImatrix ? &imatrix : nullptr;
            for (int threads : threadCounts) {
                const QString out = dir.filePath(QStringLiteral("out.gguf"));
                Run run;
                try {
                    run = convert(input, plan, out, threads, imp);
                } catch (const Error &e) {
                    print(QStringLiteral("%1 %2 refused: %3")
                              .arg(fileTypeName(ft), -9)
                              .arg(withImatrix ? QStringLiteral("yes") : QStringLiteral("no"), 7)
                              .arg(e.message().section(QLatin1Char('\n'), 0, 0)));
                    break;
                }
                worstPeak = std::max(worstPeak, run.peakRss);
                // llama-quantize's wall seconds on these threads and its CPU seconds.
                double llama = 0;
                double llamaCpu = 0;
                if (reference) {
                    Run ref;
                    {
                        const QuantizePathScope portable(QuantizePath::Portable);
                        ref = convert(input, plan, out, threads, imp);
                    }
                    llama = ref.seconds + tableSeconds(plan) / threads;
                    llamaCpu = ref.cpuSeconds + tableSeconds(plan);
                } else {
                    // Everything but the codecs (reading, checking, copying, writing) is
                    // taken to cost llama-quantize what it costs us.
                    const double ours = codecCpuSeconds(plan, imp, false, 0.5);
                    const double overhead = std::max(0.0, run.cpuSeconds - ours);
                    llamaCpu =
                        overhead + codecCpuSeconds(plan, imp, true, 0.5) + tableSeconds(plan);
                    llama = llamaCpu / threads;
                }
                print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9 %10")
                          .arg(fileTypeName(ft), -9)
                          .arg(withImatrix ? QStringLiteral("yes") : QStringLiteral("no"), 7)
                          .arg(threads, 7)
                          .arg(run.seconds, 8, 'f', 2)
                          .arg(double(run.inputBytes) / 1e6 / run.seconds, 8, 'f', 1)
                          .arg(double(run.inputBytes) / 1e6 / std::max(run.cpuSeconds, 1e-3), 9,
                               'f', 1)
                          .arg(formatBytes(run.peakRss), 11)
                          .arg(run.peakRss <= budget ? QStringLiteral("ok")
                                                     : QStringLiteral("OVER"),
                               6)
                          .arg(llama, 9, 'f', 1)
                          .arg(run.cpuSeconds / llamaCpu, 10, 'f', 2));
            }
        }
    }
    print(QStringLiteral("worst peak RSS: %1 (budget %2 = largest tensor as F32 %3 + 100 MB)")
              .arg(formatBytes(worstPeak), formatBytes(budget), formatBytes(largestF32)));
    return 0;
}

const BenchRegistration reg(QStringLiteral("quantize"),
                            QStringLiteral("Conversion MB/s per type (1 and all threads, "
                                           "reference against optimized), peak RSS"),
                            runQuantizeBench);

} // namespace

} // namespace QuantFit::Bench
