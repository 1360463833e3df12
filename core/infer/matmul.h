#pragma once

// Matrix products of a weight matrix (any readable type, read in place from the mapped file)
// with a batch of F32 activation rows: y[o] = sum_i W[o][i] x[i] + b[o], W[o] being row o of the
// weight (ne[0] = input width), as ggml's mul_mat computes it.
//
// Batched path (4+ tokens): the rows are processed in panels of 16. Each panel is decoded once
// into F32, stored transposed ([nIn][16]) and multiplied against every token of the batch with a
// 6-token x 16-row register-blocked kernel, so the cost of decoding is shared by the whole batch
// and the weights are read from memory once per product. Small batches (generation) decode a
// row and dot it with each token. Panels are spread over threads with parallelFor.
// With activation rounding on (the default), quantized weights use integer dot products over
// 8-bit activations, as llama.cpp does: batches take the panel kernels of matmulq8.h on CPUs
// with AVX-512 VNNI or AVX-VNNI, small batches (generation) quantize each token to Q8_0/Q8_K
// once and run codecs' dotRowsQ8() per row (AVX-512, AVX2 or portable). Both give the numbers
// of the F32 path over rounded activations up to summation order.

#include "llamamodel.h"

#include <span>

namespace QuantFit {
class JobContext;
}

namespace QuantFit::Infer {

struct MatmulOptions {
    int nThreads = 0;       ///< 0 = all cores
    bool portable = false;  ///< force the portable kernels (tests compare both paths)
    int minBatchedTokens = 4; ///< below this, use the row-by-row path
    /// Round the activations through the weight type's llama.cpp dot type first
    /// (activationrounding.h), reproducing llama.cpp's numbers; false keeps them exact F32.
    bool roundActivations = true;
    /// false: use the AVX2 / AVX-VNNI kernels even on an AVX-512 CPU (tests and benchmarks
    /// compare the paths).
    bool allowAvx512 = true;
};

/// y[t][o] = sum_i W[o][i] * x[t][i] (+ bias[o]) for t < nTokens, o < nOut.
/// `x` is row-major [nTokens x w.nIn], `y` row-major [nTokens x w.nOut].
/// Throws Error when the weight type cannot be decoded, Cancelled when `ctx` asks.
void matmul(const WeightMatrix &w, const float *x, int nTokens, float *y,
            const MatmulOptions &options, JobContext *ctx = nullptr);

/// One product of a group: y = W x over the group's token count (layouts as matmul()).
struct MatmulTask {
    const WeightMatrix *w = nullptr;
    const float *x = nullptr; ///< [nTokens x w->nIn]
    float *y = nullptr;       ///< [nTokens x w->nOut]
};

/// matmul() of every task, with the same results, but the row-dot products of small batches
/// (generation) run in one parallel region over the rows of all tasks, and inputs given by the
/// same pointer are quantized once: for many small products on the same input, as the experts
/// a token was routed to (each alone is too short to spread over threads well). Tasks that
/// the row-dot path does not take (batches, float weights) run one after another through
/// matmul(). Outputs must not overlap each other or the inputs.
void matmulGroup(std::span<const MatmulTask> tasks, int nTokens, const MatmulOptions &options,
                 JobContext *ctx = nullptr);

/// Decodes row `row` of `w` into `out` (w.nIn floats).
void decodeRow(const WeightMatrix &w, std::int64_t row, float *out);

/// Whether rows of `type` can be decoded by matmul().
bool canDecode(GgmlType type);

} // namespace QuantFit::Infer
