// quantfit-bench dot: throughput of the dot-product kernels per weight type and kernel path.
//
// 1. Row dots (codecs/vecdot.h), one thread: every row of a weight matrix of about --mib MiB
//    (default 8: past the L2 cache, inside L3) against one activation vector, repeated for at
//    least 0.2 s of this thread's CPU time. Reported as GB/s of weight bytes for the 8-bit
//    activation dot (dotRowQ8, what inference uses for quantized weights) and for the float
//    activation dot (dotRow), once per path (portable reference, AVX2, AVX-512).
// 2. Matrix products (infer/matmul.h) of a --rows x --n matrix with 1 token (the generation
//    path: one row dot per output) and with --tokens tokens (the batched path), all threads:
//    tokens/s of wall time and of process CPU time, per path (portable; AVX2 with AVX-VNNI
//    panels where the CPU has them; AVX-512).
// Speed does not depend on the weight values, so each matrix repeats 64 distinct random rows
// quantized once (quantizing a whole matrix with the slow I-quant searches would take minutes).

#include "bench.h"

#include "codecs/quantkernels.h"
#include "codecs/vecdot.h"
#include "infer/matmul.h"
#include "util/error.h"

#include <QCommandLineParser>
#include <QElapsedTimer>

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace QuantFit::Bench {

namespace {

constexpr int kDistinctRows = 64;

// nRows rows of n elements of `type`, repeating kDistinctRows random rows.
std::vector<std::uint8_t> makeMatrix(GgmlType type, std::int64_t n, std::int64_t nRows)
{
    const std::size_t rowBytes = QuantFit::rowBytes(typeFacts(type), n);
    std::mt19937 rng(7);
    std::student_t_distribution<float> dist(5.0f);
    std::vector<std::uint8_t> distinct(rowBytes * kDistinctRows);
    std::vector<float> src(static_cast<std::size_t>(n));
    for (int r = 0; r < kDistinctRows; ++r) {
        for (auto &v : src)
            v = dist(rng) * 0.02f;
        quantizeRow(type, src, {distinct.data() + r * rowBytes, rowBytes});
    }
    std::vector<std::uint8_t> m(rowBytes * std::size_t(nRows));
    for (std::int64_t r = 0; r < nRows; ++r)
        std::memcpy(m.data() + std::size_t(r) * rowBytes,
                    distinct.data() + std::size_t(r % kDistinctRows) * rowBytes, rowBytes);
    return m;
}

// Runs `pass` (one pass over `bytes` weight bytes) until 0.2 s of thread CPU time; GB/s.
template <class Pass>
double measureGbps(std::size_t bytes, Pass pass)
{
    pass(); // warm the caches and the lazily built tables
    int reps = 0;
    const double t0 = threadCpuSeconds();
    double t = t0;
    do {
        pass();
        ++reps;
        t = threadCpuSeconds();
    } while (t - t0 < 0.2);
    return double(bytes) * reps / (t - t0) * 1e-9;
}

struct PathInfo {
    DotPath path;
    const char *name;
};

std::vector<PathInfo> pathsFor(GgmlType type, bool q8)
{
    std::vector<PathInfo> paths{{DotPath::Portable, "portable"}};
    if (cpuHasAvx2Fma() && (q8 ? hasAvx2DotQ8(type) : hasAvx2Dot(type)))
        paths.push_back({DotPath::Avx2, "avx2"});
    if (cpuHasAvx512() && (q8 ? hasAvx512DotQ8(type) : hasAvx512Dot(type)))
        paths.push_back({DotPath::Avx512, "avx512"});
    return paths;
}

volatile float g_sink = 0; // keeps the results alive

void benchRowDots(const std::vector<GgmlType> &types, std::int64_t n, double mib)
{
    print(QStringLiteral("row dots, one thread, n = %1, about %2 MiB of weights per type "
                         "(GB/s of weight bytes)")
              .arg(n)
              .arg(mib));
    print(QStringLiteral("%1 %2 %3 %4").arg(QStringLiteral("type"), -8)
              .arg(QStringLiteral("path"), -9)
              .arg(QStringLiteral("q8 GB/s"), 9)
              .arg(QStringLiteral("f32 GB/s"), 9));
    std::mt19937 rng(11);
    std::normal_distribution<float> g;
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto &v : x)
        v = g(rng);
    for (const GgmlType type : types) {
        const TypeFacts &f = typeFacts(type);
        const std::size_t rowBytes = QuantFit::rowBytes(f, n);
        const std::int64_t nRows =
            std::max<std::int64_t>(1, std::int64_t(mib * 1048576.0 / double(rowBytes)));
        const auto m = makeMatrix(type, n, nRows);
        const auto act = q8ActivationType(type);
        std::vector<std::uint8_t> xq;
        if (act) {
            xq.resize(QuantFit::rowBytes(typeFacts(*act), n));
            quantizeActivationRow(*act, x.data(), xq.data(), n);
        }
        const auto q8Paths = pathsFor(type, true);
        const auto f32Paths = pathsFor(type, false);
        auto paths = f32Paths;
        for (const PathInfo &p : q8Paths) {
            if (std::none_of(paths.begin(), paths.end(), [&](auto &o) { return o.path == p.path; }))
                paths.push_back(p);
        }
        const auto has = [](const std::vector<PathInfo> &list, DotPath path) {
            return std::any_of(list.begin(), list.end(), [&](auto &o) { return o.path == path; });
        };
        for (const PathInfo &p : paths) {
            double q8 = 0;
            double f32 = 0;
            const bool hasQ8 = act && has(q8Paths, p.path);
            const bool hasF32 = has(f32Paths, p.path);
            if (hasQ8) {
                q8 = measureGbps(m.size(), [&] {
                    float s = 0;
                    for (std::int64_t r = 0; r < nRows; ++r)
                        s += dotRowQ8With(p.path, type, m.data() + std::size_t(r) * rowBytes,
                                          xq.data(), n);
                    g_sink = s;
                });
            }
            if (hasF32) {
                f32 = measureGbps(m.size(), [&] {
                    float s = 0;
                    for (std::int64_t r = 0; r < nRows; ++r)
                        s += dotRowWith(p.path, type, m.data() + std::size_t(r) * rowBytes,
                                        x.data(), n);
                    g_sink = s;
                });
            }
            // "avx512-" marks an AVX-512 kernel that DotPath::Auto does not pick (no faster)
            const bool unused = p.path == DotPath::Avx512 && hasQ8 && !autoUsesAvx512DotQ8(type);
            print(QStringLiteral("%1 %2 %3 %4")
                      .arg(QString::fromLatin1(f.name.data()), -8)
                      .arg(QString::fromLatin1(p.name) + (unused ? QStringLiteral("-") : QString()),
                           -9)
                      .arg(hasQ8 ? QString::number(q8, 'f', 2) : QStringLiteral("-"), 9)
                      .arg(hasF32 ? QString::number(f32, 'f', 2) : QStringLiteral("-"), 9));
        }
    }
}

void benchMatmul(const std::vector<GgmlType> &types, std::int64_t n, std::int64_t nOut,
                 int nTokens, int nThreads)
{
    print(QStringLiteral("\nmatmul %1 x %2, %3 threads: tokens/s with 1 token (generation) and "
                         "with %4 tokens (batched), per second of wall time and of process CPU "
                         "time")
              .arg(nOut)
              .arg(n)
              .arg(nThreads)
              .arg(nTokens));
    print(QStringLiteral("%1 %2 %3 %4 %5 %6").arg(QStringLiteral("type"), -8)
              .arg(QStringLiteral("path"), -9)
              .arg(QStringLiteral("1t tok/s"), 12)
              .arg(QStringLiteral("1t tok/cpu-s"), 12)
              .arg(QStringLiteral("%1t tok/s").arg(nTokens), 12)
              .arg(QStringLiteral("%1t tok/cpu-s").arg(nTokens), 12));
    std::mt19937 rng(13);
    std::normal_distribution<float> g;
    std::vector<float> x(std::size_t(n) * std::size_t(nTokens));
    for (auto &v : x)
        v = g(rng);
    std::vector<float> y(std::size_t(nOut) * std::size_t(nTokens));
    for (const GgmlType type : types) {
        const TypeFacts &f = typeFacts(type);
        const auto m = makeMatrix(type, n, nOut);
        WeightMatrix w;
        w.name = "bench";
        w.type = type;
        w.data = m.data();
        w.nIn = n;
        w.nOut = nOut;
        w.rowBytes = QuantFit::rowBytes(f, n);
        struct MatmulPath {
            const char *name;
            bool portable;
            bool avx512;
        };
        std::vector<MatmulPath> mpaths{{"portable", true, false}};
        if (cpuHasAvx2Fma())
            mpaths.push_back({"avx2", false, false});
        if (cpuHasAvx512())
            mpaths.push_back({"avx512", false, true});
        for (const MatmulPath &p : mpaths) {
            const Infer::MatmulOptions o{
                .nThreads = nThreads, .portable = p.portable, .allowAvx512 = p.avx512};
            // tokens per second of wall time and per second of process CPU time (the second
            // is what the threads achieve when other work shares the cores)
            const auto tokensPerSecond = [&](int nt) {
                Infer::matmul(w, x.data(), nt, y.data(), o);
                QElapsedTimer timer;
                timer.start();
                const double cpu0 = processCpuSeconds();
                int reps = 0;
                do {
                    Infer::matmul(w, x.data(), nt, y.data(), o);
                    ++reps;
                } while (timer.nsecsElapsed() < 300000000);
                const double tokens = double(reps) * nt;
                return std::pair(tokens / (double(timer.nsecsElapsed()) * 1e-9),
                                 tokens / (processCpuSeconds() - cpu0));
            };
            const auto [one, oneCpu] = tokensPerSecond(1);
            const auto [many, manyCpu] = tokensPerSecond(nTokens);
            print(QStringLiteral("%1 %2 %3 %4 %5 %6")
                      .arg(QString::fromLatin1(f.name.data()), -8)
                      .arg(QString::fromLatin1(p.name), -9)
                      .arg(one, 12, 'f', 1)
                      .arg(oneCpu, 12, 'f', 1)
                      .arg(many, 12, 'f', 1)
                      .arg(manyCpu, 12, 'f', 1));
        }
    }
}

int runDotBench(const QStringList &args)
{
    QCommandLineParser parser;
    parser.addOption({QStringLiteral("types"),
                      QStringLiteral("Weight types (default: every type with a dot product)."),
                      QStringLiteral("LIST")});
    parser.addOption({QStringLiteral("n"), QStringLiteral("Row length (default 4096)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("mib"),
                      QStringLiteral("Weight bytes per row-dot measurement in MiB (default 8)."),
                      QStringLiteral("M")});
    parser.addOption({QStringLiteral("rows"),
                      QStringLiteral("Output rows of the matmul (default 4096)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("tokens"),
                      QStringLiteral("Tokens of the batched matmul (default 64)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("threads"),
                      QStringLiteral("Threads of the matmul (default: all cores)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("no-matmul"), QStringLiteral("Row dots only.")});
    parser.addOption({QStringLiteral("no-rows"), QStringLiteral("Matmul only.")});
    parser.process(QStringList{QStringLiteral("quantfit-bench dot")} + args);

    const auto intValue = [&](const QString &name, int fallback) {
        return parser.isSet(name) ? parser.value(name).toInt() : fallback;
    };
    const std::int64_t n = std::max(256, intValue(QStringLiteral("n"), 4096)) / 256 * 256;
    const double mib = parser.isSet(QStringLiteral("mib"))
        ? std::max(0.01, parser.value(QStringLiteral("mib")).toDouble())
        : 8.0;
    const std::int64_t nOut = std::max(16, intValue(QStringLiteral("rows"), 4096));
    const int nTokens = std::max(4, intValue(QStringLiteral("tokens"), 64));
    const int nThreads = std::max(1, intValue(QStringLiteral("threads"),
                                              int(std::thread::hardware_concurrency())));

    std::vector<GgmlType> types;
    const QStringList names =
        parser.value(QStringLiteral("types")).split(QLatin1Char(','), Qt::SkipEmptyParts);
    for (const QString &name : names) {
        const auto type = ggmlTypeFromName(name);
        if (!type || !canDot(*type) || !kernelsFor(*type).quantizeRow)
            throw Error(QStringLiteral("--types: no dot product for type '%1'").arg(name));
        types.push_back(*type);
    }
    if (types.empty()) {
        for (const TypeFacts &f : allTypeFacts()) {
            if (canDot(f.type) && kernelsFor(f.type).quantizeRow && f.type != GgmlType::Q8_K)
                types.push_back(f.type);
        }
    }
    if (!parser.isSet(QStringLiteral("no-rows")))
        benchRowDots(types, n, mib);
    if (!parser.isSet(QStringLiteral("no-matmul")))
        benchMatmul(types, n, nOut, nTokens, nThreads);
    return 0;
}

const BenchRegistration reg(QStringLiteral("dot"),
                            QStringLiteral("dot-product and matmul throughput per type and path"),
                            runDotBench);

} // namespace

} // namespace QuantFit::Bench
