#pragma once

// The lookup tables of the I-quants, format constants shared with ggml (ggml-org/ggml:
// src/ggml-common.h, the GGML_COMMON_IMPL_C tables): a grid entry packs 8 (IQ1/IQ2) or 4 (IQ3)
// byte values, element i in byte i (bits 8i..8i+7) of the little-endian integer.
//  - iq2xxs (256), iq2xs (512), iq2s (1024): magnitudes 8, 25, 43 (levels 0, 1, 2);
//  - iq3xxs (256): magnitudes 4, 12, 20, 28, 36, 44, 52, 62 (levels 0..7);
//  - iq3s (512): magnitudes 1, 3, 5, ..., 15 (level l is 2l + 1);
//  - iq1s (2048): signed values -1, 0, +1 (levels 0, 1, 2), bytes 0xff, 0x00, 0x01.
// The grids are data generated once into iqgrids1.cpp, iqgrids2.cpp and iqgrids3.cpp (see
// there); a test hashes them against the published checksums. The sign tables are computed.

#include <array>
#include <bit>
#include <cstdint>

namespace QuantFit::Codec {

extern const std::uint64_t kIq2xxsGrid[256];
extern const std::uint64_t kIq2xsGrid[512];
extern const std::uint64_t kIq2sGrid[1024];
extern const std::uint32_t kIq3xxsGrid[256];
extern const std::uint32_t kIq3sGrid[512];
extern const std::uint64_t kIq1sGrid[2048];

/// ksigns_iq2xs: a 7-bit sign index expands to an 8-bit sign mask with even parity (bit 7 is
/// the parity of the low seven bits).
inline constexpr std::array<std::uint8_t, 128> kSignsIq2xs = [] {
    std::array<std::uint8_t, 128> t{};
    for (unsigned i = 0; i < 128; ++i)
        t[i] = std::uint8_t(i | ((std::popcount(i) & 1u) << 7));
    return t;
}();

/// kmask_iq2xs: bit j of a sign mask belongs to element j of its group.
inline constexpr std::array<std::uint8_t, 8> kMaskIq2xs = {1, 2, 4, 8, 16, 32, 64, 128};

/// Byte i of a grid entry.
inline std::uint8_t gridByte(std::uint64_t entry, int i)
{
    return std::uint8_t(entry >> (8 * i));
}

} // namespace QuantFit::Codec
