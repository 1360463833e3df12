#pragma once

// A short streaming-read benchmark of main memory: what token generation, which reads every
// active weight once per token, can get from RAM. Each thread sums its own slice of one buffer
// (first touched by that thread, so that pages sit near it) as 64-bit words, over and over, for
// a fixed time; the result is bytes read per second over all threads. The buffer is far larger
// than any CPU cache (256 MiB by default), so caches do not inflate the figure.
//
// The summing loop has AVX-512 and AVX2 paths chosen at run time and a portable reference; all
// compute the same sum modulo 2^64 (integer addition is associative), which the tests check.

#include <QList>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace QuantFit {

/// Sum of `n` 64-bit words modulo 2^64: the portable reference.
std::uint64_t sumWordsReference(const std::uint64_t *words, std::size_t n);
/// The same with the widest SIMD path this CPU has.
std::uint64_t sumWords(const std::uint64_t *words, std::size_t n);
/// "avx512", "avx2" or "scalar": the path sumWords() takes here.
const char *sumWordsPath();

struct BandwidthSample {
    int threads = 0;
    double bytesPerSecond = 0;    ///< over wall time
    /// Over the threads' own CPU time: what the threads read while they ran. On a machine other
    /// processes share, this is the machine's figure and the wall-time one is diluted.
    double bytesPerCpuSecond = 0;
};

struct BandwidthOptions {
    std::size_t bufferBytes = std::size_t(256) << 20; ///< at least 16 MiB
    double secondsPerStep = 0.5;                      ///< per thread count
    /// Thread counts to measure; empty: 1, 2, 4, ... up to the ideal thread count (and it).
    QList<int> threadCounts;
};

/// Runs the benchmark. `onSample` (optional) sees each result as it is measured. Throws Error
/// when the buffer cannot be allocated or an option is out of range.
QList<BandwidthSample> measureReadBandwidth(
    const BandwidthOptions &options,
    const std::function<void(const BandwidthSample &)> &onSample = {});

} // namespace QuantFit
