#include "blocksfloat.h"

#include "quantsimd.h"

#include "util/fp16.h"

#include <cstring>

namespace QuantFit {

// Why memcpy for the 16-bit loads and stores: rows from a mapped file need only be 2-aligned,
// and the fixed-size memcpy compiles to a plain move.

void quantizeRowF32(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    std::memcpy(dst, x, std::size_t(n) * sizeof(float));
}

void dequantizeRowF32(const std::uint8_t *src, float *y, std::int64_t n)
{
    std::memcpy(y, src, std::size_t(n) * sizeof(float));
}

void quantizeRowF16(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t h = fp32ToFp16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
    }
}

void dequantizeRowF16(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowF16Avx2(src, y, n);
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        y[i] = fp16ToFp32(h);
    }
}

void quantizeRowBf16(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t h = fp32ToBf16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
    }
}

void dequantizeRowBf16(const std::uint8_t *src, float *y, std::int64_t n)
{
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        y[i] = bf16ToFp32(h);
    }
}

} // namespace QuantFit
