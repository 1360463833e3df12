// quantfit-bench quantize: conversion throughput (MB/s of F32 input) per file type with one
// thread and with all threads, and the peak resident memory while converting a synthetic model
// of at least 2 GB (generated in a temporary folder and deleted afterwards).
// With --block-types: the row quantizers alone, one thread, per ggml type (also types no file
// type writes yet), on heavy-tailed rows, with and without an importance vector.

#include "bench.h"

#include "codecs/quantkernels.h"
#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "model/syntheticmodel.h"
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
#include <random>

#include <sys/resource.h>
#include <time.h>

namespace QuantFit::Bench {

namespace {

// CPU seconds (user + system) this process used so far: on a shared machine the wall clock
// depends on the load, CPU time much less.
double cpuSeconds()
{
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
           + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

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

// CPU seconds of the calling thread: the single-thread figures stay meaningful on a busy machine.
double threadCpuSeconds()
{
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Row quantizer throughput per ggml type (MB of F32 input per CPU second of the one thread):
// rows of 4096 Student-t(5) values, importance from a log-normal spread (the shape of real
// imatrix data); each type runs for at least a CPU second.
int runBlockTypes(const QString &list)
{
    std::vector<GgmlType> types;
    if (list == QLatin1String("all")) {
        for (const TypeFacts &f : allTypeFacts()) {
            if (f.isQuantized && !f.runtimeOnly && kernelsFor(f.type).quantizeRow)
                types.push_back(f.type);
        }
    } else {
        for (const QString &name : list.split(QLatin1Char(','))) {
            const auto t = ggmlTypeFromName(name);
            if (!t || !kernelsFor(*t).quantizeRow)
                throw Error(QStringLiteral("no row quantizer for type '%1'").arg(name));
            types.push_back(*t);
        }
    }
    constexpr std::int64_t kRow = 4096;
    constexpr int kRows = 64;
    std::mt19937 rng(1);
    std::student_t_distribution<float> student(5.f);
    std::lognormal_distribution<float> spread(0.f, 1.5f);
    std::vector<float> x(std::size_t(kRow) * kRows);
    for (auto &v : x)
        v = student(rng);
    std::vector<float> imp(kRow);
    for (auto &v : imp)
        v = spread(rng);
    std::vector<std::uint8_t> out(std::size_t(kRow) * 8);
    print(QStringLiteral("%1 %2 %3").arg(QStringLiteral("type"), -8).arg(QStringLiteral("imatrix"), 8)
              .arg(QStringLiteral("MB/cpu-s"), 9));
    for (GgmlType type : types) {
        const TypeKernels &k = kernelsFor(type);
        for (bool withImp : {false, true}) {
            if (withImp && !k.usesImportance)
                continue;
            const double start = threadCpuSeconds();
            double seconds = 0;
            std::uint64_t bytes = 0;
            do {
                for (int r = 0; r < kRows; ++r)
                    k.quantizeRow(x.data() + std::size_t(r) * kRow, out.data(), kRow,
                                  withImp ? imp.data() : nullptr);
                bytes += std::uint64_t(kRow) * kRows * 4;
                seconds = threadCpuSeconds() - start;
            } while (seconds < 1.0);
            print(QStringLiteral("%1 %2 %3")
                      .arg(ggmlTypeName(type), -8)
                      .arg(withImp ? QStringLiteral("yes") : QStringLiteral("no"), 8)
                      .arg(double(bytes) / 1e6 / seconds, 8, 'f', 2));
        }
    }
    return 0;
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
    parser.addOption({QStringLiteral("block-types"), QStringLiteral("Only the row quantizers of "
                                                                    "these ggml types, one thread "
                                                                    "('all' for every one)."),
                      QStringLiteral("T,T")});
    QStringList full = args;
    full.prepend(QStringLiteral("quantfit-bench quantize"));
    if (!parser.parse(full))
        throw Error(parser.errorText());
    if (parser.isSet(QStringLiteral("block-types")))
        return runBlockTypes(parser.value(QStringLiteral("block-types")));

    const QString dirBase = parser.isSet(QStringLiteral("dir")) ? parser.value(QStringLiteral("dir"))
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
    for (const auto &t : input.tensors())
        largestF32 = std::max(largestF32, t.nElements() * 4);

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
    const int all = parser.isSet(QStringLiteral("threads"))
                        ? parser.value(QStringLiteral("threads")).toInt()
                        : defaultThreadCount();
    std::vector<int> threadCounts;
    if (!parser.isSet(QStringLiteral("multi-only")))
        threadCounts.push_back(1);
    if (!parser.isSet(QStringLiteral("single-only")) && (all > 1 || threadCounts.empty()))
        threadCounts.push_back(all);

    print(QStringLiteral("input: %1 (%2 of tensors), largest tensor as F32: %3; RSS before: %4")
              .arg(modelPath, formatBytes(input.totalTensorBytes()), formatBytes(largestF32),
                   formatBytes(currentRssBytes())));
    print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7")
              .arg(QStringLiteral("type"), -8)
              .arg(QStringLiteral("threads"), 7)
              .arg(QStringLiteral("seconds"), 8)
              .arg(QStringLiteral("MB/s"), 8)
              .arg(QStringLiteral("MB/cpu-s"), 9)
              .arg(QStringLiteral("peak RSS"), 11)
              .arg(QStringLiteral("output"), 12));
    std::uint64_t worstPeak = 0;
    for (FileType ft : types) {
        const QuantPlan plan = makeQuantPlan(input.metadata(), input.tensors(), ft);
        for (int threads : threadCounts) {
            const QString out = dir.filePath(QStringLiteral("out.gguf"));
            resetPeakRss();
            QuantizeOptions options;
            options.nThreads = threads;
            options.verify = false;
            NullJobContext ctx;
            const double cpuBefore = cpuSeconds();
            const QuantizeResult r = quantize(input, {{plan, out}}, options, ctx);
            const double cpu = cpuSeconds() - cpuBefore;
            const std::uint64_t peak = peakRssBytes();
            worstPeak = std::max(worstPeak, peak);
            print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7")
                      .arg(fileTypeName(ft), -8)
                      .arg(threads, 7)
                      .arg(r.seconds, 8, 'f', 2)
                      .arg(double(r.inputBytes) / 1e6 / r.seconds, 8, 'f', 1)
                      .arg(double(r.inputBytes) / 1e6 / std::max(cpu, 1e-3), 9, 'f', 1)
                      .arg(formatBytes(peak), 11)
                      .arg(formatBytes(plan.outputFileBytes), 12));
            QFile::remove(out);
        }
    }
    print(QStringLiteral("worst peak RSS: %1 (largest tensor as F32: %2)")
              .arg(formatBytes(worstPeak), formatBytes(largestF32)));
    return 0;
}

const BenchRegistration reg(QStringLiteral("quantize"),
                            QStringLiteral("Conversion MB/s per type (1 and all threads), peak RSS"),
                            runQuantizeBench);

} // namespace

} // namespace QuantFit::Bench
