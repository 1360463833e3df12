#pragma once

// Non-quantized element types (docs/formats.md, "16-bit floats"): F32 (4 bytes), F16 and
// BF16 (2 bytes, little-endian). "Quantizing" is a per-element conversion with round to nearest
// even; importance weights do not apply.

#include <cstdint>

namespace QuantFit {

void quantizeRowF32(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowF16(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void quantizeRowBf16(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance);
void dequantizeRowF32(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowF16(const std::uint8_t *src, float *y, std::int64_t n);
void dequantizeRowBf16(const std::uint8_t *src, float *y, std::int64_t n);

} // namespace QuantFit
