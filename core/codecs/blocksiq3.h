#pragma once

// 3-bit I-quants on 256-value super-blocks (ggml-org/ggml: src/ggml-common.h block_iq3_xxs,
// block_iq3_s; src/ggml-quants.c for the codecs). Each 4-value group is one grid entry of eight
// magnitude levels (iqgrids.h); signs come per 8 values; one 4-bit code c per 32-value
// sub-block.
//  1. IQ3_XXS: 64 8-bit grid indices (iq3xxs, magnitudes 4..62), then per sub-block a uint32:
//     four 7-bit sign indices (bits 7g..7g+6, bit 7 of each mask is their parity) and the code
//     in bits 28..31; x = d * (0.5 + c) * 0.5 * magnitude * sign.
//  2. IQ3_S: 9-bit grid indices (iq3s, magnitudes 1, 3, .., 15): low bytes in qs, bit 8 of
//     group j of sub-block b in bit j of qh[b]; a full sign byte per 8 values; codes as nibbles
//     (low = even sub-block); x = d * (1 + 2c) * magnitude * sign.
// IQ3_S quirk kept for byte identity with ggml: within a super-block the qs and sign bytes are
// written at running positions that advance only for sub-blocks actually encoded, so an
// all-zero 32-value sub-block shifts the bytes of the later ones forward (the normal decoder then
// misreads that super-block, as ggml's does).

#include "blockslegacy.h" // QF_BLOCK

#include <cstdint>

namespace QuantFit {

/// IQ3_XXS: 256 elements, fp16 d, 64 grid indices, 8 sign-and-scale words. 3.0625 bits per
/// weight.
struct QF_BLOCK BlockIq3Xxs {
    std::uint16_t d;
    std::uint8_t qs[64];
    std::uint32_t signsScales[8];
};
static_assert(sizeof(BlockIq3Xxs) == 98);

/// IQ3_S: 256 elements, fp16 d, low index bytes, index bit 8 per group, sign bytes, 8 4-bit
/// sub-block codes. 3.4375 bits per weight.
struct QF_BLOCK BlockIq3S {
    std::uint16_t d;
    std::uint8_t qs[64];
    std::uint8_t qh[8];
    std::uint8_t signs[32];
    std::uint8_t scales[4];
};
static_assert(sizeof(BlockIq3S) == 110);

// Row codecs: `n` is a multiple of 256; `importance` is null (weights x^2) or n per-column
// weights.
void quantizeRowIq3Xxs(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowIq3S(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);

void dequantizeRowIq3Xxs(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowIq3S(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit
