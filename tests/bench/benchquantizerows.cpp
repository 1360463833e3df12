// quantfit-bench quantize --block-types: the row quantizers per ggml type, reference (portable)
// against optimized (the fastest path this CPU has), one thread and all threads, with and
// without an importance vector; then the I-quant neighbour tables, ours against ggml's way.

#include "benchquantize.h"

#include "bench.h"

#include "codecs/iqtables.h"
#include "codecs/quantkernels.h"
#include "jobs/parallel.h"
#include "util/error.h"

#include <QElapsedTimer>
#include <QStringList>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <tuple>

namespace QuantFit::Bench {

namespace {

constexpr std::int64_t kRow = 4096;
constexpr int kRows = 64;

struct RowData {
    std::vector<float> x;
    std::vector<float> importance;
};

// Heavy-tailed rows (Student-t, 5 degrees of freedom) and a log-normal importance spread: the
// shape of real weights and imatrix data.
const RowData &rowData()
{
    static const RowData data = [] {
        RowData d;
        std::mt19937 rng(1);
        std::student_t_distribution<float> student(5.f);
        std::lognormal_distribution<float> spread(0.f, 1.5f);
        d.x.resize(std::size_t(kRow) * kRows);
        for (auto &v : d.x)
            v = student(rng);
        d.importance.resize(kRow);
        for (auto &v : d.importance)
            v = spread(rng);
        return d;
    }();
    return data;
}

// MB of input per CPU second of this thread, rows quantized one after another.
double singleThreadRate(const TypeKernels &k, bool withImportance, double seconds)
{
    const RowData &d = rowData();
    const std::size_t rowBytesOut = rowBytes(typeFacts(k.type), kRow);
    std::vector<std::uint8_t> out(rowBytesOut);
    const float *imp = withImportance ? d.importance.data() : nullptr;
    k.quantizeRow(d.x.data(), out.data(), kRow, imp); // first use builds tables
    const double start = threadCpuSeconds();
    double elapsed = 0;
    std::uint64_t bytes = 0;
    do {
        for (int r = 0; r < kRows; ++r)
            k.quantizeRow(d.x.data() + std::size_t(r) * kRow, out.data(), kRow, imp);
        bytes += std::uint64_t(kRow) * kRows * 4;
        elapsed = threadCpuSeconds() - start;
    } while (elapsed < seconds);
    return double(bytes) / 1e6 / elapsed;
}

// MB of input per wall second with `threads` workers taking rows from a shared counter (as the
// quantizer's row chunks do), and per CPU second of the process (`perCpuSecond`).
double allThreadsRate(const TypeKernels &k, bool withImportance, int threads, double seconds,
                      double &perCpuSecond)
{
    const RowData &d = rowData();
    const std::size_t rowBytesOut = rowBytes(typeFacts(k.type), kRow);
    const float *imp = withImportance ? d.importance.data() : nullptr;
    QElapsedTimer timer;
    timer.start();
    const double cpuStart = processCpuSeconds();
    std::uint64_t bytes = 0;
    do {
        parallelFor(std::uint64_t(kRows), threads, [&](std::uint64_t r) {
            thread_local std::vector<std::uint8_t> out;
            out.resize(rowBytesOut);
            k.quantizeRow(d.x.data() + std::size_t(r) * kRow, out.data(), kRow, imp);
        });
        bytes += std::uint64_t(kRow) * kRows * 4;
    } while (double(timer.nsecsElapsed()) / 1e9 < seconds);
    perCpuSecond = double(bytes) / 1e6 / (processCpuSeconds() - cpuStart);
    return double(bytes) / 1e6 / (double(timer.nsecsElapsed()) / 1e9);
}

// ggml's key space per grid: 2 bits per element for the 8-element grids (keys below 43692,
// including digit 3, which the quantizers never look up), 3 bits for the 4-element grids.
struct GgmlKeySpace {
    int kmapSize;
    int bits;
};

GgmlKeySpace keySpaceOf(const Codec::IqGridMaps &m)
{
    return m.groupSize == 8 ? GgmlKeySpace{43692, 2} : GgmlKeySpace{4096, 3};
}

int comparePairs(const void *a, const void *b)
{
    const int *x = static_cast<const int *>(a);
    const int *y = static_cast<const int *>(b);
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
}

} // namespace

RowRates measureRowType(GgmlType type, bool withImportance, int threads, double seconds)
{
    const TypeKernels &k = kernelsFor(type);
    if (!k.quantizeRow)
        throw Error(QStringLiteral("no row quantizer for type %1").arg(ggmlTypeName(type)));
    RowRates r;
    r.reference = referenceRate(type, withImportance, seconds);
    r.optimized = optimizedRate(type, withImportance, seconds);
    if (threads > 1)
        r.optimizedAll = allThreadsRate(k, withImportance, threads, seconds, r.optimizedAllCpu);
    return r;
}

namespace {

double cachedRate(QuantizePath path, GgmlType type, bool withImportance, double seconds)
{
    static std::map<std::tuple<QuantizePath, GgmlType, bool>, double> cache;
    const auto key = std::make_tuple(path, type, withImportance);
    if (const auto it = cache.find(key); it != cache.end())
        return it->second;
    const QuantizePathScope scope(path);
    const double rate = singleThreadRate(kernelsFor(type), withImportance, seconds);
    cache[key] = rate;
    return rate;
}

} // namespace

double referenceRate(GgmlType type, bool withImportance, double seconds)
{
    return cachedRate(QuantizePath::Portable, type, withImportance, seconds);
}

double optimizedRate(GgmlType type, bool withImportance, double seconds)
{
    return cachedRate(QuantizePath::Auto, type, withImportance, seconds);
}

std::vector<int> gridsOf(GgmlType type)
{
    using Codec::IqGrid;
    switch (type) {
    case GgmlType::IQ2_XXS: return {int(IqGrid::Iq2xxs)};
    case GgmlType::IQ2_XS: return {int(IqGrid::Iq2xs)};
    case GgmlType::IQ2_S: return {int(IqGrid::Iq2s)};
    case GgmlType::IQ3_XXS: return {int(IqGrid::Iq3xxs)};
    case GgmlType::IQ3_S: return {int(IqGrid::Iq3s)};
    case GgmlType::IQ1_S:
    case GgmlType::IQ1_M: return {int(IqGrid::Iq1s)};
    default: return {};
    }
}

// The construction ggml runs on the first use of a grid (ggml-org/ggml: src/ggml-quants.c,
// iq2xs_init_impl and iq3xs_init_impl), rendered plainly: for every key not on the grid, the
// squared distance of its odd values to every entry, a qsort of (distance, index) pairs, and
// the entries of the first nWant distinct distances; ggml does this twice, once to size the
// table and once to fill it.
double ggmlStyleTableSeconds(int grid)
{
    static std::map<int, double> cache;
    if (const auto it = cache.find(grid); it != cache.end())
        return it->second;
    const Codec::IqGridMaps &m = Codec::iqGridMaps(Codec::IqGrid(grid));
    const GgmlKeySpace space = keySpaceOf(m);
    std::vector<int> onGrid(std::size_t(1) << (space.bits * m.groupSize), -1);
    for (int j = 0; j < m.nEntries; ++j) {
        int key = 0;
        for (int i = 0; i < m.groupSize; ++i)
            key |= m.levelsOf(j)[i] << (space.bits * i);
        onGrid[std::size_t(key)] = j;
    }
    std::vector<int> pairs(2 * std::size_t(m.nEntries));
    std::vector<std::uint16_t> table;
    std::size_t total = 0;
    const std::int64_t mask = (1 << space.bits) - 1;
    const double start = threadCpuSeconds();
    for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1)
            table.reserve(total);
        for (int key = 0; key < space.kmapSize; ++key) {
            if (onGrid[std::size_t(key)] >= 0)
                continue;
            int pos[8];
            for (int i = 0; i < m.groupSize; ++i)
                pos[i] = 2 * int((key >> (space.bits * i)) & mask) + 1;
            for (int j = 0; j < m.nEntries; ++j) {
                int d2 = 0;
                for (int i = 0; i < m.groupSize; ++i) {
                    const int diff = 2 * m.levelsOf(j)[i] + 1 - pos[i];
                    d2 += diff * diff;
                }
                pairs[2 * std::size_t(j)] = d2;
                pairs[2 * std::size_t(j) + 1] = j;
            }
            std::qsort(pairs.data(), std::size_t(m.nEntries), 2 * sizeof(int), comparePairs);
            int distinct = 0;
            for (int j = 0; j < m.nEntries; ++j) {
                if (j == 0 || pairs[2 * std::size_t(j)] != pairs[2 * std::size_t(j) - 2])
                    ++distinct;
                if (distinct > m.nWant)
                    break;
                if (pass == 0)
                    ++total;
                else
                    table.push_back(std::uint16_t(pairs[2 * std::size_t(j) + 1]));
            }
        }
    }
    const double seconds = threadCpuSeconds() - start;
    cache[grid] = seconds;
    return seconds;
}

double ourTableSeconds(int grid)
{
    const double start = threadCpuSeconds();
    const Codec::IqGridMaps m = Codec::makeIqGridMaps(Codec::IqGrid(grid));
    return m.nbList.empty() ? 0 : threadCpuSeconds() - start;
}

int runRowBench(const QString &list, int threads, double seconds, bool ggmlTables)
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
    print(QStringLiteral("row quantizers, rows of %1 values; MB of F32 input per CPU second of "
                         "one thread, and per wall second with %2 threads")
              .arg(kRow)
              .arg(threads));
    print(QStringLiteral("(the last two columns: wall-clock MB/s of %1 threads, and MB per CPU "
                         "second of those threads; on a busy machine the first is what is left "
                         "over, the second shows whether threads cost extra work)")
              .arg(threads));
    print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7")
              .arg(QStringLiteral("type"), -8)
              .arg(QStringLiteral("imatrix"), 7)
              .arg(QStringLiteral("ref MB/s"), 9)
              .arg(QStringLiteral("opt MB/s"), 9)
              .arg(QStringLiteral("speedup"), 8)
              .arg(QStringLiteral("opt x%1").arg(threads), 9)
              .arg(QStringLiteral("cpu-s x%1").arg(threads), 10));
    for (GgmlType type : types) {
        for (bool withImp : {false, true}) {
            if (withImp && !kernelsFor(type).usesImportance)
                continue;
            const RowRates r = measureRowType(type, withImp, threads, seconds);
            print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7")
                      .arg(ggmlTypeName(type), -8)
                      .arg(withImp ? QStringLiteral("yes") : QStringLiteral("no"), 7)
                      .arg(r.reference, 9, 'f', 1)
                      .arg(r.optimized, 9, 'f', 1)
                      .arg(r.optimized / r.reference, 7, 'f', 2)
                      .arg(r.optimizedAll, 9, 'f', 1)
                      .arg(r.optimizedAllCpu, 10, 'f', 1));
        }
    }
    if (!ggmlTables)
        return 0;
    print(QStringLiteral("I-quant neighbour tables, seconds of one thread: ours (built lazily, "
                         "in-range keys, counting sort) against ggml's construction"));
    static constexpr std::array kGridNames = {"iq2xxs", "iq2xs", "iq2s", "iq3xxs", "iq3s",
                                              "iq1s"};
    double oursTotal = 0;
    double ggmlTotal = 0;
    for (int g = 0; g < int(kGridNames.size()); ++g) {
        const double ours = ourTableSeconds(g);
        const double ggml = ggmlStyleTableSeconds(g);
        oursTotal += ours;
        ggmlTotal += ggml;
        print(QStringLiteral("%1 ours %2 s, ggml-style %3 s")
                  .arg(QLatin1String(kGridNames[std::size_t(g)]), -8)
                  .arg(ours, 7, 'f', 3)
                  .arg(ggml, 7, 'f', 2));
    }
    print(QStringLiteral("%1 ours %2 s, ggml-style %3 s")
              .arg(QStringLiteral("all six"), -8)
              .arg(oursTotal, 7, 'f', 3)
              .arg(ggmlTotal, 7, 'f', 2));
    return 0;
}

} // namespace QuantFit::Bench
