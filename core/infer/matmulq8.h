#pragma once

// Integer path of the batched matmul for every quantized weight type with an integer form
// (codecs/vecdot.h DotIntForm: the legacy types, the K-quants, every I-quant, TQ1_0/TQ2_0,
// MXFP4, NVFP4, Q1_0, Q2_0) on CPUs with vpdpbusd (AVX-512 VNNI: 16-row panels in ZMM
// registers; AVX-VNNI: 8-row panels in YMM registers). The activations are quantized to the
// weight's llama.cpp dot type (Q8_0 / Q8_1 / Q8_K) exactly as roundActivations() rounds them;
// weight panels are decoded once per call into int8 codes (+128, so that vpdpbusd's unsigned
// operand holds them) with one float scale and min per 16- or 32-element sub-block, and each
// sub-block product is an exact int32 sum, corrected for the +128 with the activation sums and
// scaled by the weight and activation scales (minus the min term for the affine types: min *
// d * sum(q), or min * s with Q8_1's stored block sum s for Q4_1/Q5_1, as llama.cpp): the
// numbers of codecs' dotRowQ8() up to summation order, and bit-identical between the 8- and
// 16-row kernels.

#include "llamamodel.h"

namespace QuantFit {
class JobContext;
}

namespace QuantFit::Infer {

/// Whether matmulInt8() can run `w` on this CPU (a type with an integer form, a row length of
/// whole blocks, AVX-512 VNNI or AVX-VNNI). With `allowAvx512` false only AVX-VNNI counts.
bool canMatmulInt8(const WeightMatrix &w, bool allowAvx512 = true);

/// y[t][o] = sum_i W[o][i] * round(x[t])[i] (+ bias[o]), round = Q8_0, Q8_1 or Q8_K as
/// activationTypeFor(w.type), with Q4_1/Q5_1's min term taken from the Q8_1 block sum as
/// llama.cpp does; same layout and contract as matmul(). Uses the 16-row AVX-512
/// kernel when allowed and present, else the 8-row AVX-VNNI one. Requires canMatmulInt8().
void matmulInt8(const WeightMatrix &w, const float *x, int nTokens, float *y, int nThreads,
                JobContext *ctx = nullptr, bool allowAvx512 = true);

} // namespace QuantFit::Infer
