#pragma once

// How fast this CPU multiplies weights of each type by one token's activations when memory is
// not the limit: the compute ceiling of generation (docs/advisor.md, "Speed").
//
// For each type, one weight matrix small enough to stay in the CPU caches (1 MiB per thread by
// default) is multiplied by one activation row again and again through matmul() with one token
// and `nThreads` threads: the same path, kernels, activation quantization and thread pool that
// generation uses for every product of a token. The rate is weight bytes per second of the
// process's CPU time times the threads (what the threads do while they run: on a machine other
// processes share, wall time would measure the other processes too), the best of many short
// slices of a few milliseconds each. Speed does not depend on the values, so the matrix
// repeats a few distinct rows quantized once (I-quant searches are slow).

#include "gguf/ggmltype.h"

#include <functional>
#include <vector>

namespace QuantFit::Infer {

struct DotThroughput {
    GgmlType type = GgmlType::F32;
    int threads = 0;
    /// Weight bytes per CPU-second of the process x threads (best slice): the rate of
    /// `threads` cores that nothing else takes.
    double bytesPerSecond = 0;
    std::uint64_t matrixBytes = 0;   ///< the cache-resident matrix it was measured over
};

struct DotThroughputOptions {
    /// Types to measure; empty: defaultDotThroughputTypes().
    std::vector<GgmlType> types;
    int nThreads = 0;              ///< 0 = all cores (as generation uses)
    double secondsPerType = 0.04;  ///< wall time per type, at least 0.005
    /// Matrix bytes per thread: small enough for the caches, large enough that the start of a
    /// parallel product is a small share of it.
    std::uint64_t bytesPerThread = 1024 * 1024;
};

/// The types model files use for weights: float, legacy, K-quants, I-quants, MXFP4, ternary.
std::vector<GgmlType> defaultDotThroughputTypes();

/// Runs the benchmark (about secondsPerType x types). `onResult` (optional) sees each result as
/// it is measured. Types matmul() cannot read or that cannot be quantized here are skipped.
/// Throws Error for options out of range.
std::vector<DotThroughput> measureDotThroughput(
    const DotThroughputOptions &options = {},
    const std::function<void(const DotThroughput &)> &onResult = {});

} // namespace QuantFit::Infer
