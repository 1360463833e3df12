#include "dotthroughput.h"

#include "matmul.h"

#include "codecs/quantkernels.h"
#include "util/error.h"

#include <QElapsedTimer>
#include <QThread>

#include <algorithm>
#include <cstring>
#include <random>

#include <time.h>

namespace QuantFit::Infer {

namespace {

constexpr std::int64_t kRowElements = 4096; // a multiple of every block size (256, 32)
constexpr int kDistinctRows = 8;
constexpr double kSliceSeconds = 0.004;

// Rows of `type` repeating kDistinctRows quantized Student-t rows (heavy tails like real
// weights, so the I-quant grids and float exponents are exercised as in a model).
std::vector<std::uint8_t> makeMatrix(GgmlType type, std::int64_t nRows, std::uint64_t rowBytes)
{
    std::mt19937 rng(5);
    std::student_t_distribution<float> dist(5.0f);
    std::vector<float> src(static_cast<std::size_t>(kRowElements));
    std::vector<std::uint8_t> distinct(rowBytes * kDistinctRows);
    for (int r = 0; r < kDistinctRows; ++r) {
        for (float &v : src)
            v = dist(rng) * 0.02f;
        if (type == GgmlType::F32) {
            std::memcpy(distinct.data() + r * rowBytes, src.data(), rowBytes);
        } else {
            quantizeRow(type, src, {distinct.data() + r * rowBytes, std::size_t(rowBytes)});
        }
    }
    std::vector<std::uint8_t> m(rowBytes * std::size_t(nRows));
    for (std::int64_t r = 0; r < nRows; ++r)
        std::memcpy(m.data() + std::size_t(r) * rowBytes,
                    distinct.data() + std::size_t(r % kDistinctRows) * rowBytes, rowBytes);
    return m;
}

double processCpuSeconds()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

} // namespace

std::vector<GgmlType> defaultDotThroughputTypes()
{
    return {GgmlType::F32,    GgmlType::F16,    GgmlType::BF16,    GgmlType::Q8_0,
            GgmlType::Q4_0,   GgmlType::Q4_1,   GgmlType::Q5_0,    GgmlType::Q5_1,
            GgmlType::Q2_K,   GgmlType::Q3_K,   GgmlType::Q4_K,    GgmlType::Q5_K,
            GgmlType::Q6_K,   GgmlType::IQ4_NL, GgmlType::IQ4_XS,  GgmlType::IQ3_S,
            GgmlType::IQ3_XXS, GgmlType::IQ2_S, GgmlType::IQ2_XS,  GgmlType::IQ2_XXS,
            GgmlType::IQ1_M,  GgmlType::IQ1_S,  GgmlType::MXFP4,   GgmlType::TQ1_0,
            GgmlType::TQ2_0};
}

std::vector<DotThroughput> measureDotThroughput(
    const DotThroughputOptions &options,
    const std::function<void(const DotThroughput &)> &onResult)
{
    if (options.nThreads < 0 || options.nThreads > 1024)
        throw Error(QStringLiteral("dot throughput: thread count %1 is out of range 0..1024")
                        .arg(options.nThreads));
    if (options.bytesPerThread < 4096 || options.bytesPerThread > (std::uint64_t(1) << 30))
        throw Error(QStringLiteral("dot throughput: %1 bytes per thread is out of range")
                        .arg(options.bytesPerThread));
    if (!(options.secondsPerType >= 0.005) || options.secondsPerType > 60)
        throw Error(QStringLiteral("dot throughput: %1 s per type is out of range 0.005..60")
                        .arg(options.secondsPerType));
    const int nThreads =
        options.nThreads > 0 ? options.nThreads : std::max(1, QThread::idealThreadCount());
    const std::vector<GgmlType> types =
        options.types.empty() ? defaultDotThroughputTypes() : options.types;

    std::mt19937 rng(9);
    std::normal_distribution<float> normal;
    std::vector<float> x(static_cast<std::size_t>(kRowElements));
    for (float &v : x)
        v = normal(rng);

    std::vector<DotThroughput> results;
    for (const GgmlType type : types) {
        const TypeFacts &facts = typeFacts(type);
        if (!canDecode(type) || facts.runtimeOnly
            || (type != GgmlType::F32 && !kernelsFor(type).quantizeRow)
            || kRowElements % facts.blockSize != 0)
            continue;
        const std::uint64_t rowBytes = QuantFit::rowBytes(facts, kRowElements);
        // Rows for about kBytesPerThread per thread, and at least 16 per thread so that the
        // row split is even.
        const std::int64_t nRows = std::max<std::int64_t>(
            16 * nThreads, std::int64_t(options.bytesPerThread * std::uint64_t(nThreads) / rowBytes));
        const std::vector<std::uint8_t> m = makeMatrix(type, nRows, rowBytes);
        WeightMatrix w;
        w.name = "dot-throughput";
        w.type = type;
        w.data = m.data();
        w.nIn = kRowElements;
        w.nOut = nRows;
        w.rowBytes = rowBytes;
        std::vector<float> y(static_cast<std::size_t>(nRows));
        MatmulOptions mo;
        mo.nThreads = nThreads;

        matmul(w, x.data(), 1, y.data(), mo); // warm the caches, tables and the pool
        double best = 0;
        QElapsedTimer total;
        total.start();
        while (total.nsecsElapsed() * 1e-9 < options.secondsPerType || best == 0) {
            const double cpu0 = processCpuSeconds();
            double cpu = cpu0;
            int passes = 0;
            do {
                matmul(w, x.data(), 1, y.data(), mo);
                ++passes;
                cpu = processCpuSeconds();
            } while (cpu - cpu0 < kSliceSeconds * nThreads);
            best = std::max(best, double(m.size()) * passes * nThreads / (cpu - cpu0));
        }
        const DotThroughput r{.type = type,
                              .threads = nThreads,
                              .bytesPerSecond = best,
                              .matrixBytes = m.size()};
        results.push_back(r);
        if (onResult)
            onResult(r);
    }
    return results;
}

} // namespace QuantFit::Infer
