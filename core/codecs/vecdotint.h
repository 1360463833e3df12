#pragma once

// Internal to the dot kernels (vecdot*.cpp): the integer form of every quantized block type, on
// which the 8-bit activation dots and the integer matmul panels (core/infer/matmulq8.cpp) are
// built. A block of B elements splits into sub-blocks of S = 16 or 32 elements; element j of
// sub-block k is
//
//     value_j = scale_k * code_j - min_k        (min_k only for the affine types)
//
// with code_j an int8 and scale_k, min_k floats, and this product reproduces the type's
// dequantizer bit for bit (docs/formats.md "Integer form"). Examples: Q4_0 code = q - 8,
// scale = d; IQ2_XXS code = grid magnitude * sign, scale = d * (0.5 + c) * 0.25; IQ1_S
// code = 8 * grid value +- 1, scale = d * (2c + 1) / 8 (the +-1/8 shift becomes an integer).
// A dot with 8-bit activations (Q8_0: scale dy per 32, Q8_K: per 256) is then, per sub-block,
// scale_k * dy * sum(code_j * q_j) - min_k * dy * sum(q_j), the sums exact in int32; with Q8_1
// (Q4_1, Q5_1) the min term is min_k * s, s = fp16(d * sum(q_j)) stored in the block.

#include "vecdot.h"

#include "iqgrids.h"

#include "gguf/ggmltype.h"

#include <array>
#include <cstdint>

namespace QuantFit::VecDot {

/// Decodes one block (DotIntForm::blockSize elements at `block`) into `codes` (blockSize
/// int8), `scales` (blockSize / subBlock floats) and, for affine types, `mins` (as many).
using IntDecodeFn = void (*)(const std::uint8_t *block, std::int8_t *codes, float *scales,
                             float *mins);

/// Portable (reference) and AVX2 decoders of `type`, or null. The AVX2 one requires
/// cpuHasAvx2Fma(); both produce identical bytes and floats.
IntDecodeFn portableIntDecoder(GgmlType type);
IntDecodeFn avx2IntDecoder(GgmlType type);

/// The reference 8-bit activation dot over the integer form: per sub-block an exact int32 sum
/// of code * q (and of q for the affine types), scaled in float as in the header comment,
/// summed over sub-blocks in element order. `xq` holds blocks of `act` (Q8_0, Q8_1 or Q8_K);
/// with Q8_1 (Q4_1/Q5_1) the min term of a block is min * s, its stored block sum, as
/// llama.cpp's vec_dot_q4_1_q8_1 / vec_dot_q5_1_q8_1 compute it.
float dotQ8IntReference(GgmlType type, const std::uint8_t *row, const std::uint8_t *xq,
                        std::int64_t n, GgmlType act);

/// The IQ2/IQ3 sign masks of kSignsIq2xs as eight +1/-1 bytes each (index = 7-bit sign index),
/// for SIMD decoders: _mm256_sign_epi8 by these bytes applies the signs.
inline constexpr std::array<std::uint64_t, 128> kSignBytesIq2xs = [] {
    std::array<std::uint64_t, 128> t{};
    for (std::size_t i = 0; i < 128; ++i) {
        for (int j = 0; j < 8; ++j) {
            const std::uint64_t b = Codec::kSignsIq2xs[i] & (1u << j) ? 0xFF : 0x01;
            t[i] |= b << (8 * j);
        }
    }
    return t;
}();

} // namespace QuantFit::VecDot
