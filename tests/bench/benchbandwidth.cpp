// quantfit-bench bandwidth: the machine's memory read bandwidth, the ceiling of generation speed
// (one generated token reads every weight once, so tokens/s <= bandwidth / bytes per token).
//
// A buffer much larger than the last-level cache (--mib, default 1024) is filled once, then read
// end to end with 512-bit (or 256-bit) loads summed into a few accumulators, by 1 .. --threads
// threads, each over its own contiguous share; reported as GB/s (1e9 bytes per second) of wall
// time, best of --reps passes. This is a streaming read such as a matrix-vector product over
// the weights performs; stores and the kernels' arithmetic are not part of it.

#include "bench.h"

#include "codecs/vecdot.h"

#include <QCommandLineParser>
#include <QElapsedTimer>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

// Why: GCC 12's _mm512_reduce_add_epi64 self-initialises a variable (-Wuninitialized).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace QuantFit::Bench {

namespace {

volatile double g_sink = 0;

__attribute__((target("avx512f"))) double readAvx512(const std::uint8_t *p, std::size_t bytes)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (std::size_t i = 0; i + 256 <= bytes; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 64));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 128));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 192));
    }
    const __m512i s = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    return double(_mm512_reduce_add_epi64(s));
}

__attribute__((target("avx2"))) double readAvx2(const std::uint8_t *p, std::size_t bytes)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (std::size_t i = 0; i + 128 <= bytes; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 96)));
    }
    alignas(32) std::int64_t v[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(v),
                       _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    return double(v[0] + v[1] + v[2] + v[3]);
}

double readPortable(const std::uint8_t *p, std::size_t bytes)
{
    std::uint64_t s = 0;
    for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, p + i, 8);
        s += v;
    }
    return double(s);
}

} // namespace

double measureReadBandwidthGbps(std::size_t bytes, int nThreads, int reps)
{
    constexpr std::size_t kAlign = 4096;
    bytes = std::max<std::size_t>(bytes / kAlign * kAlign, kAlign * std::size_t(nThreads));
    std::unique_ptr<std::uint8_t[]> storage(new std::uint8_t[bytes + kAlign]);
    auto *buf = reinterpret_cast<std::uint8_t *>(
        (reinterpret_cast<std::uintptr_t>(storage.get()) + kAlign - 1) / kAlign * kAlign);
    // Fill in parallel (the pages are then resident; first touch by the reading threads).
    const std::size_t share = bytes / std::size_t(nThreads) / 256 * 256;
    // Threads of their own per pass (the start-up is nothing against reading the buffer).
    const auto onThreads = [nThreads](const auto &fn) {
        std::vector<std::thread> threads;
        for (int i = 1; i < nThreads; ++i)
            threads.emplace_back(fn, i);
        fn(0);
        for (auto &t : threads)
            t.join();
    };
    onThreads([&](int i) {
        std::memset(buf + std::size_t(i) * share, i + 1, share);
    });
    const bool avx512 = cpuHasAvx512();
    const bool avx2 = cpuHasAvx2Fma();
    double best = 0;
    for (int r = 0; r < reps; ++r) {
        std::atomic<double> sink{0};
        QElapsedTimer timer;
        timer.start();
        onThreads([&](int i) {
            const std::uint8_t *p = buf + std::size_t(i) * share;
            const double s = avx512 ? readAvx512(p, share)
                : avx2              ? readAvx2(p, share)
                                    : readPortable(p, share);
            double expected = sink.load();
            while (!sink.compare_exchange_weak(expected, expected + s)) {
            }
        });
        const double seconds = double(timer.nsecsElapsed()) * 1e-9;
        g_sink = sink.load();
        best = std::max(best, double(share) * nThreads / seconds * 1e-9);
    }
    return best;
}

namespace {

int runBandwidthBench(const QStringList &args)
{
    QCommandLineParser parser;
    parser.addOption({QStringLiteral("mib"),
                      QStringLiteral("Buffer size in MiB (default 1024; much larger than L3)."),
                      QStringLiteral("M")});
    parser.addOption({QStringLiteral("threads"),
                      QStringLiteral("Largest thread count (default: all cores)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("reps"),
                      QStringLiteral("Passes per thread count, best reported (default 5)."),
                      QStringLiteral("N")});
    parser.process(QStringList{QStringLiteral("quantfit-bench bandwidth")} + args);
    const auto intValue = [&](const QString &name, int fallback) {
        return parser.isSet(name) ? parser.value(name).toInt() : fallback;
    };
    const std::size_t bytes = std::size_t(std::max(16, intValue(QStringLiteral("mib"), 1024)))
        << 20;
    const int maxThreads = std::max(1, intValue(QStringLiteral("threads"),
                                                int(std::thread::hardware_concurrency())));
    const int reps = std::max(1, intValue(QStringLiteral("reps"), 5));
    print(QStringLiteral("streaming read of %1 MiB, %2 loads, best of %3 passes")
              .arg(bytes >> 20)
              .arg(cpuHasAvx512() ? QStringLiteral("512-bit")
                   : cpuHasAvx2Fma() ? QStringLiteral("256-bit")
                                     : QStringLiteral("64-bit"))
              .arg(reps));
    print(QStringLiteral("%1 %2").arg(QStringLiteral("threads"), -8).arg(QStringLiteral("GB/s"), 8));
    for (int t = 1; t <= maxThreads; ++t)
        print(QStringLiteral("%1 %2").arg(t, -8).arg(measureReadBandwidthGbps(bytes, t, reps), 8,
                                                      'f', 2));
    return 0;
}

const BenchRegistration reg(QStringLiteral("bandwidth"),
                            QStringLiteral("memory read bandwidth (GB/s), 1 .. N threads"),
                            runBandwidthBench);

} // namespace

} // namespace QuantFit::Bench
