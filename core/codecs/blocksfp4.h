#pragma once

// 4-bit floating-point types (ggml-org/ggml: src/ggml-common.h block_mxfp4, block_nvfp4;
// src/ggml-quants.c for the codecs). Codes index the E2M1 values doubled,
// {0, 1, 2, 3, 4, 6, 8, 12} and their negatives (code 8 is E2M1's -0), so every block scale is
// applied as half its nominal value.
//  1. MXFP4 (OCP Microscaling): 32 values, one E8M0 shared exponent byte e (half scale
//     2^(e - 128)), 16 bytes of codes in the Q4_0 nibble layout (low nibble = value j, high
//     nibble = value j + 16).
//  2. NVFP4: 64 values in four sub-blocks of 16, one unsigned E4M3 scale byte per sub-block,
//     then 32 bytes of codes (sub-block s: bytes 8s..8s+7, low nibble = value 16s + j, high
//     nibble = value 16s + 8 + j). No tensor-wide second scale.
// Code search: for each value the code with the least |code * half scale - x|, first on ties
// (so ties go to the smaller magnitude and zero never takes code 8).

#include "blockslegacy.h" // QF_BLOCK

#include <cstdint>

namespace QuantFit {

/// MXFP4: 32 elements, E8M0 exponent + 16 bytes of 4-bit codes. 4.25 bits per weight.
struct QF_BLOCK BlockMxfp4 {
    std::uint8_t e;
    std::uint8_t qs[16];
};
static_assert(sizeof(BlockMxfp4) == 17);

/// NVFP4: 64 elements, four UE4M3 sub-block scales + 32 bytes of 4-bit codes. 4.5 bits per
/// weight.
struct QF_BLOCK BlockNvfp4 {
    std::uint8_t d[4];
    std::uint8_t qs[32];
};
static_assert(sizeof(BlockNvfp4) == 36);

// Row codecs (an importance vector is accepted and ignored, as in ggml).
void quantizeRowMxfp4(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowNvfp4(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);

void dequantizeRowMxfp4(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowNvfp4(const std::uint8_t *src, float *y, std::int64_t n);

namespace Codec {

/// The doubled E2M1 values by code.
inline constexpr std::int8_t kValuesFp4[16] = {0,  1,  2,  3,  4,  6,  8,  12,
                                               0, -1, -2, -3, -4, -6, -8, -12};

/// Half scale of an E8M0 byte: 2^(e - 128), exact for every byte (subnormal for e < 2).
float mxfp4HalfScale(std::uint8_t e);
/// Half scale of a UE4M3 byte as ggml decodes it (0x00 and 0x7F give 0, bit 7 ignored).
float nvfp4HalfScale(std::uint8_t u);
/// UE4M3 encoding of a positive scale (mantissa rounded half-up on the first dropped bit,
/// saturating at 0x7E; zero, negative and NaN give 0).
std::uint8_t nvfp4EncodeScale(float v);

} // namespace Codec

} // namespace QuantFit
