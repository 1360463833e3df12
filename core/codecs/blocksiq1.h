#pragma once

// 1-bit I-quants on 256-value super-blocks (ggml-org/ggml: src/ggml-common.h block_iq1_s,
// block_iq1_m; src/ggml-quants.c for the codecs). Each 8-value group is one entry of the
// ternary iq1s grid (values -1, 0, +1; 11-bit index) moved by a shift delta = +-0.125:
// x = d * (2c + 1) * (grid value + delta), c a 3-bit code.
//  1. IQ1_S: sub-blocks of 32 values (4 groups): qs = low index bytes; per sub-block a uint16
//     qh: index bits 8..10 of group g at 3g, code in bits 12..14, bit 15 set = delta -0.125.
//  2. IQ1_M: sub-blocks of 16 values (2 groups): qs = low index bytes; per sub-block a byte qh:
//     bits 0..2 / 4..6 = index bits 8..10 of group 0 / 1, bit 3 / 7 set = that group's delta
//     is -0.125; four uint16 words: bits 3t..3t+2 of word j = code of sub-block 4j + t, bits
//     12..15 of word j = bits 4j..4j+3 of the fp16 super-block scale (there is no d field).
// The quantizers try every split of a sub-block's sorted values into three levels with both
// shifts, then move off-grid groups to their best neighbour (iqtables.h).

#include "blockslegacy.h" // QF_BLOCK

#include <cstdint>

namespace QuantFit {

/// IQ1_S: 256 elements, fp16 d, 32 low index bytes, 8 uint16 of high index bits, code and
/// shift. 1.5625 bits per weight.
struct QF_BLOCK BlockIq1S {
    std::uint16_t d;
    std::uint8_t qs[32];
    std::uint16_t qh[8];
};
static_assert(sizeof(BlockIq1S) == 50);

/// IQ1_M: 256 elements, 32 low index bytes, 16 bytes of high index bits and shifts, 4 words of
/// codes carrying the fp16 scale in their top nibbles. 1.75 bits per weight.
struct QF_BLOCK BlockIq1M {
    std::uint8_t qs[32];
    std::uint8_t qh[16];
    std::uint16_t scales[4];
};
static_assert(sizeof(BlockIq1M) == 56);

/// The fp16 super-block scale of an IQ1_M block, stored in the top 4 bits of its four scale
/// words (lowest nibble in scales[0]).
inline std::uint16_t iq1mScaleBits(const BlockIq1M &b)
{
    return std::uint16_t((b.scales[0] >> 12) | ((b.scales[1] >> 8) & 0x00F0)
                         | ((b.scales[2] >> 4) & 0x0F00) | (b.scales[3] & 0xF000));
}

// Row codecs: `n` is a multiple of 256; `importance` is null or n per-column weights. ggml
// refuses IQ1_S without an importance matrix (here every column then weighs 1); IQ1_M then
// weights by x^2.
void quantizeRowIq1S(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowIq1M(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);

void dequantizeRowIq1S(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowIq1M(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit
