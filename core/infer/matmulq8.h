#pragma once

// Integer path for Q8_0 weights on CPUs with AVX-VNNI: the activations are quantized to Q8_0
// exactly as llama.cpp's x86 quantizer does (the same values roundActivations() produces), and
// each 32-element block product is an exact int32 sum (vpdpbusd over 8-row panels), scaled by
// the two fp16 block scales: the same numbers as the F32 path up to summation order, about
// twice as fast.

#include "llamamodel.h"

namespace QuantFit {
class JobContext;
}

namespace QuantFit::Infer {

/// Whether matmulQ8_0Int8() can run `w` on this CPU.
bool canMatmulQ8_0Int8(const WeightMatrix &w);

/// y[t][o] = sum_i W[o][i] * q8_0(x[t])[i] (+ bias[o]); same layout and contract as matmul().
void matmulQ8_0Int8(const WeightMatrix &w, const float *x, int nTokens, float *y, int nThreads,
                    JobContext *ctx = nullptr);

} // namespace QuantFit::Infer
