#pragma once

// Shared parts of quantfit-bench quantize: the row-quantizer measurements (benchquantizerows.cpp)
// that the model conversion (benchquantize.cpp) also uses for its llama.cpp estimate.
//
// "Reference" is the portable codec path: plain scalar code that follows ggml's reference
// quantizers (ggml-org/ggml: src/ggml-quants.c) step by step, one row at a time per thread, as
// llama-quantize runs them, so its speed stands in for llama-quantize's on the same machine.
// llama-quantize also builds the I-quant neighbour tables on first use (ggml's iq2xs_init_impl,
// iq3xs_init_impl): a sort of every grid entry for each of 43692 (or 4096) keys; the bench times
// a plain rendition of that construction to add it to the estimate.

#include "codecs/quantkernels.h"
#include "gguf/ggmltype.h"

#include <QString>

#include <optional>
#include <vector>

namespace QuantFit::Bench {

/// Selects a quantizer path for its lifetime, then restores the default (Auto), also when the
/// work in between throws.
class QuantizePathScope {
public:
    explicit QuantizePathScope(QuantizePath path) { setQuantizePath(path); }
    ~QuantizePathScope() { setQuantizePath(QuantizePath::Auto); }
    QuantizePathScope(const QuantizePathScope &) = delete;
    QuantizePathScope &operator=(const QuantizePathScope &) = delete;
};

/// Row quantizer throughput of one ggml type, in MB of F32 input per second.
struct RowRates {
    double reference = 0; ///< portable path, one thread, per CPU second
    double optimized = 0; ///< fastest path, one thread, per CPU second
    double optimizedAll = 0; ///< fastest path, `threads` threads, per wall second (0: not run)
    double optimizedAllCpu = 0; ///< the same per CPU second of the process
};

/// Times the row quantizer of `type` on rows of 4096 Student-t(5) values (importance from a
/// log-normal spread when `withImportance`), each measurement for at least `seconds`; the
/// one-thread rates are referenceRate() and optimizedRate().
RowRates measureRowType(GgmlType type, bool withImportance, int threads, double seconds);

/// RowRates::reference of `type`, measured once per (type, importance) and cached.
double referenceRate(GgmlType type, bool withImportance, double seconds);
/// RowRates::optimized of `type`, measured once per (type, importance) and cached.
double optimizedRate(GgmlType type, bool withImportance, double seconds);

/// The grids an I-quant type searches (empty for other types), as ggml's table names.
std::vector<int> gridsOf(GgmlType type);
/// Seconds one thread takes to build the neighbour tables of grid `grid` (an IqGrid value) the
/// way ggml does; measured once per grid and cached.
double ggmlStyleTableSeconds(int grid);
/// Seconds our lazily built maps of `grid` take (makeIqGridMaps, uncached).
double ourTableSeconds(int grid);

/// quantfit-bench quantize --block-types LIST: the table of RowRates per type and importance
/// mode, then the neighbour-table build times. Returns the exit status.
int runRowBench(const QString &list, int threads, double seconds, bool ggmlTables);

} // namespace QuantFit::Bench
