#pragma once

// Legacy 32-element block types (ggml's src/ggml-common.h, block_q8_0 ... block_q5_1): Q8_0, Q4_0,
// Q4_1, Q5_0, Q5_1, and the activation type Q8_1.
// Nibble layout shared by the 4/5-bit types: byte qs[j] holds element j in its low nibble and
// element j + 16 in its high nibble; the 5-bit types keep bit 4 of code j in bit j of qh
// (little-endian uint32).

#include <cstdint>

// Why packed: block fields are read straight from mapped files, whose tensors need not be
// aligned beyond 1 byte in a hostile file (general.alignment = 1); packed structs make every
// access an unaligned-safe one (plain loads on x86) instead of undefined behaviour.
#define QF_BLOCK __attribute__((packed))

namespace QuantFit {

constexpr int kQk32 = 32;

/// Q8_0: 32 elements, fp16 scale d + 32 int8 codes; x = d * q. 8.5 bits per weight.
struct QF_BLOCK BlockQ8_0 {
    std::uint16_t d;
    std::int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

/// Q8_1: the activation partner of Q4_1/Q5_1 in llama.cpp's dot products (never in a file): 32
/// int8 codes, fp16 scale d and fp16 s = d * sum of the codes (computed with d before its fp16
/// rounding, then rounded); x = d * q. 9 bits per value.
struct QF_BLOCK BlockQ8_1 {
    std::uint16_t d;
    std::uint16_t s;
    std::int8_t qs[32];
};
static_assert(sizeof(BlockQ8_1) == 36);

/// Q4_0: 32 elements, fp16 scale d + 16 bytes of 4-bit codes; x = d * (q - 8). 4.5 bits per weight.
struct QF_BLOCK BlockQ4_0 {
    std::uint16_t d;
    std::uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

/// Q4_1: 32 elements, fp16 scale d and offset m + 16 bytes of 4-bit codes; x = d * q + m.
/// 5.0 bits per weight.
struct QF_BLOCK BlockQ4_1 {
    std::uint16_t d;
    std::uint16_t m;
    std::uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20);

/// Q5_0: 32 elements, fp16 scale d, 32 high bits, 16 bytes of low nibbles; x = d * (q - 16).
/// 5.5 bits per weight.
struct QF_BLOCK BlockQ5_0 {
    std::uint16_t d;
    std::uint8_t qh[4];
    std::uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

/// Q5_1: 32 elements, fp16 scale d and offset m, 32 high bits, 16 bytes of low nibbles;
/// x = d * q + m. 6.0 bits per weight.
struct QF_BLOCK BlockQ5_1 {
    std::uint16_t d;
    std::uint16_t m;
    std::uint8_t qh[4];
    std::uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

// Row codecs: `n` is a multiple of 32; `importance` is null or n per-column weights.
void quantizeRowQ8_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ4_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ4_1(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ5_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowQ5_1(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);

void dequantizeRowQ8_0(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ4_0(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ4_1(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ5_0(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowQ5_1(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit
