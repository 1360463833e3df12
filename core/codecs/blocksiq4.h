#pragma once

// Non-linear 4-bit codebook types (ggml's block_iq4_nl, block_iq4_xs): IQ4_NL (32-element blocks)
// and IQ4_XS (256-element super-blocks of 8 x 32 with 6-bit sub-block scales). Each 4-bit index
// selects one of the 16 kValuesIq4nl entries (quanthelpers.h).

#include "blockslegacy.h" // QF_BLOCK

#include <cstdint>

namespace QuantFit {

/// IQ4_NL: 32 elements, fp16 scale d + 16 bytes of codebook indices in the Q4_0 nibble layout;
/// x = d * kvalues[idx]. 4.5 bits per weight.
struct QF_BLOCK BlockIq4Nl {
    std::uint16_t d;
    std::uint8_t qs[16];
};
static_assert(sizeof(BlockIq4Nl) == 18);

/// IQ4_XS: 256 elements, fp16 d, 6-bit sub-block codes (low nibbles in scalesL, high 2 bits in
/// scalesH), 128 bytes of indices (sub-block ib: bytes 16ib.., low nibble element j, high j+16);
/// x = d * (code - 32) * kvalues[idx]. 4.25 bits per weight.
struct QF_BLOCK BlockIq4Xs {
    std::uint16_t d;
    std::uint16_t scalesH;
    std::uint8_t scalesL[4];
    std::uint8_t qs[128];
};
static_assert(sizeof(BlockIq4Xs) == 136);

/// Signed scale (code - 32, in -32..31) of sub-block ib (0..7) of an IQ4_XS block.
inline int iq4xsScale(const BlockIq4Xs &b, int ib)
{
    const int low = (b.scalesL[ib / 2] >> (4 * (ib % 2))) & 0xF;
    const int high = (b.scalesH >> (2 * ib)) & 3;
    return (low | (high << 4)) - 32;
}

void quantizeRowIq4Nl(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowIq4Xs(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void dequantizeRowIq4Nl(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowIq4Xs(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit
