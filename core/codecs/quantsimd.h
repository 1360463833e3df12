#pragma once

// Lane-parallel versions of the scale searches (quanthelpers.h) for the AVX2 path of the
// quantizers. Lane k of an 8-wide vector runs the scalar algorithm for group k (a sub-block or
// a block) with the very same float operations in the very same order, so the results are
// bit-identical to the scalar reference; only independent groups run side by side. Inputs and
// outputs are element-major ("lanes"): value i of group k is at [i * 8 + k].
// Call only when quantSimdEnabled() is true.

#include <cstdint>

namespace QuantFit::Codec {

/// Whether the AVX2 quantizer path is used: the CPU has AVX2 and F16C, and setQuantizePath()
/// did not select the portable path.
bool quantSimdEnabled();

/// Whether the AVX-512 I-quant searches (iqsearchavx512.cpp) are used: the CPU can run them
/// (cpuHasQuantAvx512()) and setQuantizePath() selected Auto.
bool quantAvx512Enabled();

/// Whether the CPU can run the AVX-512 I-quant searches: AVX2, F16C and AVX-512 F, BW, VL and
/// DQ. The path setting aside, quantAvx512Enabled() is this.
bool cpuHasQuantAvx512();

/// makeQpQuants() for n <= 32 on AVX-512 (quantsimdavx512.cpp), bit-identical: the first guess
/// and the eight trial scales side by side, and the refinement passes evaluating all remaining
/// elements at once. Call only when quantAvx512Enabled().
float makeQpQuantsAvx512(int n, int nmax, const float *x, std::uint8_t *L, const float *w);

/// Copies 8 groups of n values (group k starts at src + k * stride) into lane order.
inline void toLanes(const float *src, int stride, int n, float *dst)
{
    for (int k = 0; k < 8; ++k) {
        for (int i = 0; i < n; ++i)
            dst[i * 8 + k] = src[k * stride + i];
    }
}

/// Eight makeQkxQuants() runs; `wT` must not be null. Writes LT (n * 8), scale[8], theMin[8].
void makeQkxQuants8(int n, int nmax, const float *xT, const float *wT, std::uint8_t *LT,
                    float *scale, float *theMin, float rmin, float rdelta, int nstep, bool useMad,
                    bool qkx3);

/// Eight makeQxQuants() runs; `wT` null means x². Writes LT (n * 8) and scale[8].
void makeQxQuants8(int n, int nmax, const float *xT, const float *wT, std::int8_t *LT,
                   float *scale);

/// Eight makeQ3Quants() runs (Q3_K reference). Writes LT (n * 8) and scale[8].
void makeQ3Quants8(int n, int nmax, const float *xT, std::int8_t *LT, float *scale);

/// Eight IQ4 scale searches over 32 values each (blocksiq4.cpp, steps 2-4, ntry = 7).
void iq4SearchScale8(const float *xT, const float *wT, float *scale);

/// Codebook indices best_index(id[k] * x) for 8 groups of 32 values.
void iq4Indices8(const float *xT, const float *id, std::uint8_t *LT);

/// Q8_0 reference quantizer on 8 lanes at a time (same bytes as quantizeRowQ8_0's scalar loop).
void quantizeRowQ8_0Avx2(const float *x, std::uint8_t *dst, std::int64_t n);

// AVX2 dequantizers (dequantavx2.cpp), bit-identical to the scalar ones; the scalar entry points
// in blocks*.cpp forward to them when quantSimdEnabled().
void dequantizeRowF16Avx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ8_0Avx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ4_0Avx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ4_1Avx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ5_0Avx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ5_1Avx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ2_KAvx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ3_KAvx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ4_KAvx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ5_KAvx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ6_KAvx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowIq4NlAvx2(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowIq4XsAvx2(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit::Codec
