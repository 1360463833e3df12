#pragma once

// Integer path for Q8_0, Q4_0, IQ4_NL, IQ4_XS and the K-quants Q2_K..Q6_K on CPUs with AVX-VNNI: the activations are quantized
// to the weight's llama.cpp dot type (Q8_0 / Q8_K) exactly as roundActivations() rounds them,
// and each 32-element (Q2_K, Q3_K, Q6_K: 16-element) block product is an exact int32 sum (vpdpbusd over 8-row panels), scaled
// by the weight and activation block scales (minus the K-quant min term): the same numbers as the
// F32 path up to summation order, about twice as fast.

#include "llamamodel.h"

namespace QuantFit {
class JobContext;
}

namespace QuantFit::Infer {

/// Whether matmulInt8() can run `w` on this CPU (Q8_0, Q4_0, IQ4_NL, IQ4_XS, Q2_K..Q6_K weights, AVX-VNNI).
bool canMatmulInt8(const WeightMatrix &w);

/// y[t][o] = sum_i W[o][i] * round(x[t])[i] (+ bias[o]), round = Q8_0 or Q8_K as
/// activationTypeFor(w.type); same layout and contract as matmul().
void matmulInt8(const WeightMatrix &w, const float *x, int nTokens, float *y, int nThreads,
                JobContext *ctx = nullptr);

} // namespace QuantFit::Infer
