#include "membandwidth.h"

#include "util/error.h"

#include <QThread>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include <time.h>

namespace QuantFit {

namespace {

__attribute__((target("avx2"))) std::uint64_t sumWordsAvx2(const std::uint64_t *w,
                                                            std::size_t n)
{
    // Four independent accumulators keep several loads in flight.
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + i)));
        a1 = _mm256_add_epi64(a1,
                              _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + i + 4)));
        a2 = _mm256_add_epi64(a2,
                              _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + i + 8)));
        a3 = _mm256_add_epi64(a3,
                              _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + i + 12)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    alignas(32) std::uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(lanes), s);
    std::uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < n; ++i)
        sum += w[i];
    return sum;
}

__attribute__((target("avx512f"))) std::uint64_t sumWordsAvx512(const std::uint64_t *w,
                                                                 std::size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(w + i));
        a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(w + i + 8));
        a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(w + i + 16));
        a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(w + i + 24));
    }
    alignas(64) std::uint64_t lanes[8];
    _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
    std::uint64_t sum = 0;
    for (std::uint64_t lane : lanes)
        sum += lane;
    for (; i < n; ++i)
        sum += w[i];
    return sum;
}

double threadCpuSeconds()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

enum class Path { Scalar, Avx2, Avx512 };

Path detectPath()
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return Path::Avx512;
    if (__builtin_cpu_supports("avx2"))
        return Path::Avx2;
    return Path::Scalar;
}

Path path()
{
    static const Path p = detectPath();
    return p;
}

} // namespace

std::uint64_t sumWordsReference(const std::uint64_t *words, std::size_t n)
{
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < n; ++i)
        sum += words[i];
    return sum;
}

std::uint64_t sumWords(const std::uint64_t *words, std::size_t n)
{
    switch (path()) {
    case Path::Avx512:
        return sumWordsAvx512(words, n);
    case Path::Avx2:
        return sumWordsAvx2(words, n);
    case Path::Scalar:
        break;
    }
    return sumWordsReference(words, n);
}

const char *sumWordsPath()
{
    switch (path()) {
    case Path::Avx512:
        return "avx512";
    case Path::Avx2:
        return "avx2";
    case Path::Scalar:
        break;
    }
    return "scalar";
}

QList<BandwidthSample> measureReadBandwidth(
    const BandwidthOptions &options, const std::function<void(const BandwidthSample &)> &onSample)
{
    if (options.bufferBytes < (std::size_t(16) << 20)
        || options.bufferBytes > (std::size_t(64) << 30))
        throw Error(QStringLiteral("bandwidth: the buffer must be 16 MiB to 64 GiB, got %1 bytes")
                        .arg(qulonglong(options.bufferBytes)));
    if (!(options.secondsPerStep > 0) || options.secondsPerStep > 60)
        throw Error(QStringLiteral("bandwidth: seconds per step must be above 0 and at most 60"));
    const int ideal = std::max(1, QThread::idealThreadCount());
    QList<int> counts = options.threadCounts;
    if (counts.isEmpty()) {
        for (int t = 1; t < ideal; t *= 2)
            counts << t;
        counts << ideal;
    }
    for (int t : counts)
        if (t < 1 || t > 1024)
            throw Error(
                QStringLiteral("bandwidth: thread counts must be 1 to 1024, got %1").arg(t));

    const std::size_t nWords = options.bufferBytes / sizeof(std::uint64_t);
    std::unique_ptr<std::uint64_t[]> buffer(new (std::nothrow) std::uint64_t[nWords]);
    if (!buffer)
        throw Error(QStringLiteral("bandwidth: cannot allocate a %1 MiB buffer")
                        .arg(qulonglong(options.bufferBytes >> 20)));

    QList<BandwidthSample> samples;
    std::atomic<std::uint64_t> sink{0};
    for (int nThreads : counts) {
        // Slices of whole 4 KiB pages; each thread touches its slice before the clock starts.
        const std::size_t slice = nWords / std::size_t(nThreads) / 512 * 512;
        std::atomic<int> ready{0};
        std::atomic<bool> go{false}, stop{false};
        std::vector<std::uint64_t> bytesRead(std::size_t(nThreads), 0);
        std::vector<double> cpuSeconds(std::size_t(nThreads), 0);
        std::vector<std::thread> workers;
        for (int t = 0; t < nThreads; ++t) {
            workers.emplace_back([&, t] {
                std::uint64_t *words = buffer.get() + std::size_t(t) * slice;
                for (std::size_t i = 0; i < slice; ++i)
                    words[i] = i * 0x9E3779B97F4A7C15ull + std::uint64_t(t);
                ready.fetch_add(1);
                go.wait(false, std::memory_order_acquire);
                std::uint64_t sum = 0, bytes = 0;
                const double cpuStart = threadCpuSeconds();
                // Each worker also watches the clock itself: under a real-time scheduling
                // policy the workers can keep the caller from ever running to set `stop`.
                const auto deadline = std::chrono::steady_clock::now()
                    + std::chrono::duration<double>(options.secondsPerStep * 1.5);
                while (!stop.load(std::memory_order_relaxed)
                       && std::chrono::steady_clock::now() < deadline) {
                    sum += sumWords(words, slice);
                    bytes += slice * sizeof(std::uint64_t);
                }
                bytesRead[std::size_t(t)] = bytes;
                cpuSeconds[std::size_t(t)] = threadCpuSeconds() - cpuStart;
                sink.fetch_add(sum, std::memory_order_relaxed);
            });
        }
        while (ready.load() < nThreads)
            std::this_thread::yield();
        const auto start = std::chrono::steady_clock::now();
        go.store(true, std::memory_order_release);
        go.notify_all();
        std::this_thread::sleep_for(std::chrono::duration<double>(options.secondsPerStep));
        stop.store(true);
        for (std::thread &w : workers)
            w.join();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::uint64_t total = 0;
        double cpuTotal = 0;
        for (int t = 0; t < nThreads; ++t) {
            total += bytesRead[std::size_t(t)];
            cpuTotal += cpuSeconds[std::size_t(t)];
        }
        // Per thread: bytes over its CPU time; the threads run side by side, so the rates add.
        const double meanCpu = cpuTotal / nThreads;
        const BandwidthSample s{nThreads, seconds > 0 ? double(total) / seconds : 0,
                                meanCpu > 0 ? double(total) / meanCpu : 0};
        samples << s;
        if (onSample)
            onSample(s);
    }
    return samples;
}

} // namespace QuantFit
