#pragma once

// One- and two-bit scalar types with a single fp16 scale per block (ggml-org/ggml:
// src/ggml-common.h block_q1_0, block_q2_0, block_tq1_0, block_tq2_0; src/ggml-quants.c).
//  1. Q1_0: 128 values, fp16 d, 16 bytes of sign bits (bit j%8 of byte j/8 set = +d, clear =
//     -d); d is the mean |x|.
//  2. Q2_0: 64 values, fp16 d, 2-bit codes q (value j at byte j/4, bits 2(j%4)); x = (q - 1) d.
//     The quantizer is ternary (d = max |x|, codes 0..2), a decoder accepts code 3 (+2d).
//  3. TQ1_0: 256 ternary digits t (x = (t - 1) d, d = max |x|) packed five per byte in base 3:
//     bytes 0..31 hold values m, m+32, .., m+128 (first digit most significant) as
//     ceil(v * 256 / 243), bytes 32..47 values 160+m+16n, then qh[4] values 240+j+4n (four
//     digits, times 3), then fp16 d. Digit n of byte b is ((b * 3^n mod 256) * 3) >> 8.
//  4. TQ2_0: 256 ternary digits, 2 bits each: byte 32g+m bits 2n..2n+1 = value 128g+32n+m,
//     then fp16 d.

#include "blockslegacy.h" // QF_BLOCK

#include <cstdint>

namespace QuantFit {

/// Q1_0: 128 elements, fp16 d + 16 bytes of sign bits; x = +-d. 1.125 bits per weight.
struct QF_BLOCK BlockQ1_0 {
    std::uint16_t d;
    std::uint8_t qs[16];
};
static_assert(sizeof(BlockQ1_0) == 18);

/// Q2_0: 64 elements, fp16 d + 16 bytes of 2-bit codes; x = (q - 1) d. 2.25 bits per weight.
struct QF_BLOCK BlockQ2_0 {
    std::uint16_t d;
    std::uint8_t qs[16];
};
static_assert(sizeof(BlockQ2_0) == 18);

/// TQ1_0: 256 elements, 48 + 4 bytes of base-3 digits, fp16 d; x = (t - 1) d.
/// 1.6875 bits per weight.
struct QF_BLOCK BlockTq1_0 {
    std::uint8_t qs[48];
    std::uint8_t qh[4];
    std::uint16_t d;
};
static_assert(sizeof(BlockTq1_0) == 54);

/// TQ2_0: 256 elements, 64 bytes of 2-bit ternary digits, fp16 d; x = (t - 1) d.
/// 2.0625 bits per weight.
struct QF_BLOCK BlockTq2_0 {
    std::uint8_t qs[64];
    std::uint16_t d;
};
static_assert(sizeof(BlockTq2_0) == 66);

// Row codecs (an importance vector is accepted and ignored, as in ggml).
void quantizeRowQ1_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ2_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowTq1_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowTq2_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);

void dequantizeRowQ1_0(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ2_0(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowTq1_0(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowTq2_0(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit
