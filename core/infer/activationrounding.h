#pragma once

// llama.cpp's CPU backend does not multiply a weight by the F32 activation directly: it first
// converts the activation row to the weight type's "vec_dot" type (ggml's
// src/ggml-cpu/ggml-cpu.c, `vec_dot_type` in `type_traits_cpu`) —
// F16 for F16 weights, BF16 for BF16, Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL/MXFP4, Q8_1 for Q4_1/Q5_1,
// Q8_K for the K-quants and the other IQ types. Rounding our F32 activations through that type
// (quantize, then dequantize back to F32) before the product reproduces its numbers up to float
// summation order, at a cost linear in the activations (negligible next to the product).
// Quantization details follow the x86 build (quantize_row_q8_0, quantize_row_q8_1 and
// quantize_row_q8_K of ggml's CPU backend):
//  - Q8_0/Q8_1: per 32 values, d = amax/127 stored as fp16, q = round-half-even(x * 127/amax)
//    (the AVX2 quantizer); dequantized value = fp16(d) * q. Q8_1 also stores the block sum
//    s = fp16(d * sum(q)) with d before its fp16 rounding, and llama.cpp's Q4_1/Q5_1 dots take
//    their min term as m * s: rounded values alone cannot give that term, so those products go
//    through the Q8_1 blocks of quantizeActivationsQ8() (integer dots), not roundActivations().
//  - Q8_K: per 256 values, m = the value of largest magnitude, iscale = -127/m,
//    q = min(127, nearest_int(iscale * x)), d = 1/iscale (float); dequantized value = d * q.

#include "gguf/ggmltype.h"
#include "util/fp16.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace QuantFit::Infer {

enum class ActivationType {
    F32, ///< used as is
    F16,
    BF16,
    Q8_0,
    Q8_1,
    Q8_K,
};

/// The type llama.cpp converts activations to before a product with `weightType`.
ActivationType activationTypeFor(GgmlType weightType);

/// Rounds `n` values (a multiple of the block size for the Q8 types; other lengths are left
/// unrounded past the last whole block) from `x` into `out` through `type`.
void roundActivations(ActivationType type, const float *x, float *out, std::int64_t n);
/// The plain C++ path of roundActivations() (the default picks AVX2 when the CPU has it).
void roundActivationsPortable(ActivationType type, const float *x, float *out, std::int64_t n);

/// The blocks behind roundActivations() for the 8-bit types, for the integer dot products
/// (codecs/vecdot.h dotRowQ8): Q8_0 blocks (34 bytes per 32 values), Q8_1 blocks (36 bytes per
/// 32: Q8_0's codes and scale, and the block sum s) or Q8_K blocks (292 bytes per 256, with the
/// 16-value sums), the same codes and scales roundActivations() uses, so d * q is its output
/// value for value. `n` is a multiple of the block size; `out` holds
/// activationQ8Bytes(type, n) bytes.
void quantizeActivationsQ8(ActivationType type, const float *x, std::uint8_t *out, std::int64_t n);

/// Bytes quantizeActivationsQ8() writes for `n` values of `type` (0 for the other types).
std::int64_t activationQ8Bytes(ActivationType type, std::int64_t n);

/// Whether `n` (> 0) values of `weightType` are whole weight blocks and whole blocks of its
/// 8-bit activation type (32 values; 256 for Q8_K): the row length the integer products need.
bool q8RowLengthOk(GgmlType weightType, std::int64_t n);

//
// The block arithmetic behind roundActivations(), quantizeActivationsQ8() and the integer
// matmul (matmulq8.cpp), so that the three agree by construction.
//

/// Round half to even for |v| < 2^22 (what nearbyint does in the default rounding mode, up to
/// the sign of a zero result), without a libm call: adding and subtracting 1.5 * 2^23 leaves
/// the rounded value.
inline float nearestEven(float v)
{
    constexpr float kMagic = 12582912.0f;
    return (v + kMagic) - kMagic;
}

/// A Q8_0 block's scale as the x86 AVX2 quantizer computes it: the inverse scale 127/amax (0 for
/// an all-zero block) and d = amax/127 as fp16 bits.
struct Q8_0Scale {
    float id = 0.0f;
    std::uint16_t d = 0;
};

/// The Q8_0 scale of the 32 values at `x`.
inline Q8_0Scale q8_0Scale(const float *x)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j)
        amax = std::max(amax, std::abs(x[j]));
    return {amax != 0.0f ? 127.0f / amax : 0.0f, fp32ToFp16(amax / 127.0f)};
}

/// One Q8_0 block: the 32 codes round-half-even(x * id) into `q`; returns d as fp16 bits.
inline std::uint16_t quantizeBlockQ8_0(const float *x, std::int8_t *q)
{
    const Q8_0Scale s = q8_0Scale(x);
    for (int j = 0; j < 32; ++j)
        q[j] = std::int8_t(nearestEven(x[j] * s.id));
    return s.d;
}

/// A Q8_1 block's two fp16 fields.
struct Q8_1Header {
    std::uint16_t d = 0;
    std::uint16_t s = 0;
};

/// One Q8_1 block (quantize_row_q8_1 of the x86 build): quantizeBlockQ8_0()'s codes and d, and
/// s = fp16(amax/127 * sum(q)), the float scale before its fp16 rounding times the exact sum.
inline Q8_1Header quantizeBlockQ8_1(const float *x, std::int8_t *q)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j)
        amax = std::max(amax, std::abs(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
        q[j] = std::int8_t(nearestEven(x[j] * id));
        sum += q[j];
    }
    return {fp32ToFp16(d), fp32ToFp16(d * float(sum))};
}

/// The first of the `n` values at `x` of largest magnitude, with its sign (0 when all are
/// zero); `amax` receives its magnitude. Q8_K's scale is -127 over it.
inline float q8_KExtreme(const float *x, int n, float &amax)
{
    amax = 0.0f;
    float m = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (std::abs(x[j]) > amax) {
            amax = std::abs(x[j]);
            m = x[j];
        }
    }
    return m;
}

/// One Q8_K super-block (quantize_row_q8_K_ref): iscale = -127/m, the 256 codes
/// min(127, round-half-even(iscale * x)) into `q`; returns d = 1/iscale. An all-zero block
/// gives zero codes and d = 0.
inline float quantizeBlockQ8_K(const float *x, std::int8_t *q)
{
    float amax;
    const float m = q8_KExtreme(x, 256, amax);
    if (amax == 0.0f) {
        std::fill(q, q + 256, std::int8_t(0));
        return 0.0f;
    }
    const float iscale = -127.0f / m;
    for (int j = 0; j < 256; ++j)
        q[j] = std::int8_t(std::min(127.0f, nearestEven(iscale * x[j])));
    return 1.0f / iscale;
}

} // namespace QuantFit::Infer
