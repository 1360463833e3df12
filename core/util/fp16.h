#pragma once

#include <bit>
#include <cstdint>

namespace QuantFit {

// IEEE binary16 and bfloat16 conversions (docs/formats.md, "16-bit floats"). float -> half
// rounds to nearest even with subnormals; overflow gives infinity; NaN stays NaN. half -> float
// is exact.

inline float fp16ToFp32(std::uint16_t h)
{
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu;
    const std::uint32_t mant = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            // Subnormal: value = mant * 2^-24, exactly representable in float.
            const float v = float(mant) * 5.9604644775390625e-8f;
            bits = sign | std::bit_cast<std::uint32_t>(v);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    return std::bit_cast<float>(bits);
}

inline std::uint16_t fp32ToFp16(float f)
{
    const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = std::uint16_t((x >> 16) & 0x8000u);
    const std::uint32_t absx = x & 0x7FFFFFFFu;
    if (absx > 0x7F800000u) // NaN
        return std::uint16_t(sign | 0x7E00u);
    if (absx >= 0x477FF000u) // rounds to >= 65520: infinity
        return std::uint16_t(sign | 0x7C00u);
    if (absx < 0x38800000u) { // below the smallest normal half (2^-14): subnormal or zero
        // Adding 0.5 (2^-1) aligns the value so that the float adder rounds to 2^-24 steps (RNE).
        const float v = std::bit_cast<float>(absx) + 0.5f;
        return std::uint16_t(sign | (std::bit_cast<std::uint32_t>(v) - 0x3F000000u));
    }
    const std::uint32_t mantOdd = (absx >> 13) & 1u;
    const std::uint32_t rounded = absx + 0x0FFFu + mantOdd; // round to nearest even at bit 13
    return std::uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}

inline float bf16ToFp32(std::uint16_t h)
{
    return std::bit_cast<float>(std::uint32_t(h) << 16);
}

inline std::uint16_t fp32ToBf16(float f)
{
    const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)
        return std::uint16_t((x >> 16) | 0x40u);
    return std::uint16_t((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

/// Round through half precision and back: what a block scale becomes once stored as F16 (the
/// reference quantizers of ggml's src/ggml-quants.c compute with this rounded value).
inline float roundFp16(float f)
{
    return fp16ToFp32(fp32ToFp16(f));
}

} // namespace QuantFit
