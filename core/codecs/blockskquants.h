#pragma once

// K-quant super-blocks of 256 elements (ggml's src/ggml-common.h, block_q2_K ... block_q8_K): Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K and the activation type Q8_K.
// Position rules shared by several types (e = element 0..255):
//  1. 2-bit packing (Q2_K, Q3_K qs): byte 32*(e/128) + e%32, bits 2*((e%128)/32) and up.
//  2. high-bit mask (Q3_K hmask, Q5_K qh): byte e%32, bit e/32.
//  3. 4-bit packing (Q4_K qs, Q5_K low bits): byte 32*(e/64) + e%32, high nibble if e%64 >= 32.
//  4. 6-bit scale/min pairs of Q4_K/Q5_K in 12 bytes (unpackScaleMinK4 below).

#include "blockslegacy.h" // QF_BLOCK

#include <cstdint>

namespace QuantFit {

constexpr int kQkK = 256;

/// Q2_K: 256 elements in 16 sub-blocks of 16; 4-bit scale and min codes per sub-block, 2-bit
/// codes; x = d * sc * q - dmin * mn. 2.625 bits per weight.
struct QF_BLOCK BlockQ2_K {
    std::uint8_t scales[16];
    std::uint8_t qs[64];
    std::uint16_t d;
    std::uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

/// Q3_K: 256 elements in 16 sub-blocks of 16; 6-bit signed scales, 3-bit codes (2 low bits in qs,
/// the third in hmask); x = d * (sc - 32) * (u - 4). 3.4375 bits per weight.
struct QF_BLOCK BlockQ3_K {
    std::uint8_t hmask[32];
    std::uint8_t qs[64];
    std::uint8_t scales[12];
    std::uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

/// Q4_K: 256 elements in 8 sub-blocks of 32; 6-bit scale and min codes, 4-bit codes;
/// x = d * sc * q - dmin * mn. 4.5 bits per weight.
struct QF_BLOCK BlockQ4_K {
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[12];
    std::uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144);

/// Q5_K: as Q4_K with a fifth bit per code in qh; 5.5 bits per weight.
struct QF_BLOCK BlockQ5_K {
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[12];
    std::uint8_t qh[32];
    std::uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176);

/// Q6_K: 256 elements in 16 sub-blocks of 16; int8 scales, 6-bit codes (4 low bits in ql, 2 high
/// in qh); x = d * sc * (u - 32). 6.5625 bits per weight.
struct QF_BLOCK BlockQ6_K {
    std::uint8_t ql[128];
    std::uint8_t qh[64];
    std::int8_t scales[16];
    std::uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

/// Q8_K: 256 elements, float32 scale, int8 codes and int16 sums of each 16 codes; x = d * q.
/// 9.125 bits per weight (activation type, never in model files).
struct QF_BLOCK BlockQ8_K {
    float d;
    std::int8_t qs[256];
    std::int16_t bsums[16];
};
static_assert(sizeof(BlockQ8_K) == 292);

/// Scale code and min code of sub-block j (0..7) from the 12-byte Q4_K/Q5_K packing.
inline void unpackScaleMinK4(int j, const std::uint8_t *s, std::uint8_t &sc, std::uint8_t &mn)
{
    if (j < 4) {
        sc = s[j] & 63;
        mn = s[j + 4] & 63;
    } else {
        sc = std::uint8_t((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        mn = std::uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/// Signed scale code (c - 32, in -32..31) of sub-block s (0..15) of a Q3_K block.
inline int q3kScale(const std::uint8_t *scales, int s)
{
    const int low = s < 8 ? (scales[s] & 0xF) : (scales[s - 8] >> 4);
    const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// Row codecs: `n` is a multiple of 256; `importance` is null or n per-column weights.
void quantizeRowQ2_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ3_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ4_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ5_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ6_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ8_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);

void dequantizeRowQ2_K(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ3_K(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ4_K(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ5_K(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ6_K(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ8_K(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit
