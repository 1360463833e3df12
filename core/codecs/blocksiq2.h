#pragma once

// 2-bit I-quants on 256-value super-blocks (ggml-org/ggml: src/ggml-common.h block_iq2_xxs,
// block_iq2_xs, block_iq2_s; src/ggml-quants.c for the codecs). Each 8-value group is one grid
// entry of magnitudes {8, 25, 43} (iqgrids.h) with 8 signs; a 4-bit code c per sub-block scales
// it: x = d * (0.5 + c) * 0.25 * magnitude * sign.
//  1. IQ2_XXS: sub-blocks of 32 as two uint32 words: W0 = four 8-bit grid indices, W1 = four
//     7-bit sign indices (bits 7g..7g+6; bit 7 of the mask is their parity) and the code in bits
//     28..31.
//  2. IQ2_XS: one uint16 per group (9-bit grid index, 7-bit sign index above it); codes of the
//     16-value sub-blocks as nibbles (low = even sub-block).
//  3. IQ2_S: 10-bit grid indices (low 8 bits in qs[g], bits 8..9 in qh[g/4] at 2(g%4)), a full
//     sign byte per group in qs[32 + g], nibble codes as IQ2_XS.
// The quantizers are the shared grid search of iqsearch.h.

#include "blockslegacy.h" // QF_BLOCK

#include <cstdint>

namespace QuantFit {

/// IQ2_XXS: 256 elements, fp16 d, 8 sub-blocks of 32 as (W0, W1) word pairs. 2.0625 bits per
/// weight.
struct QF_BLOCK BlockIq2Xxs {
    std::uint16_t d;
    std::uint32_t words[16];
};
static_assert(sizeof(BlockIq2Xxs) == 66);

/// IQ2_XS: 256 elements, fp16 d, 32 groups of (9-bit index | 7-bit sign index << 9), 16 4-bit
/// sub-block codes. 2.3125 bits per weight.
struct QF_BLOCK BlockIq2Xs {
    std::uint16_t d;
    std::uint16_t qs[32];
    std::uint8_t scales[8];
};
static_assert(sizeof(BlockIq2Xs) == 74);

/// IQ2_S: 256 elements, fp16 d, low index bytes and sign bytes (qs), index bits 8..9 (qh), 16
/// 4-bit sub-block codes. 2.5625 bits per weight.
struct QF_BLOCK BlockIq2S {
    std::uint16_t d;
    std::uint8_t qs[64];
    std::uint8_t qh[8];
    std::uint8_t scales[8];
};
static_assert(sizeof(BlockIq2S) == 82);

// Row codecs: `n` is a multiple of 256; `importance` is null or n per-column weights. ggml
// refuses IQ2_XXS and IQ2_XS without an importance matrix; here they then weight every column 1.
void quantizeRowIq2Xxs(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowIq2Xs(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowIq2S(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);

void dequantizeRowIq2Xxs(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowIq2Xs(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowIq2S(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit
