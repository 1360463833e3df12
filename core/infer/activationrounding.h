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
//    (the AVX2 quantizer); dequantized value = fp16(d) * q.
//  - Q8_K: per 256 values, m = the value of largest magnitude, iscale = -127/m,
//    q = min(127, nearest_int(iscale * x)), d = 1/iscale (float); dequantized value = d * q.

#include "gguf/ggmltype.h"

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
/// (codecs/vecdot.h dotRowQ8): Q8_0 blocks (34 bytes per 32 values; also for Q8_1, whose codes
/// and scale are the same) or Q8_K blocks (292 bytes per 256, with the 16-value sums), the
/// same codes and scales roundActivations() uses, so d * q is its output value for value.
/// `n` is a multiple of the block size; `out` holds n / 32 * 34 or n / 256 * 292 bytes.
void quantizeActivationsQ8(ActivationType type, const float *x, std::uint8_t *out, std::int64_t n);

/// Bytes quantizeActivationsQ8() writes for `n` values of `type` (0 for the other types).
std::int64_t activationQ8Bytes(ActivationType type, std::int64_t n);

} // namespace QuantFit::Infer
