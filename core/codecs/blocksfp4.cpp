#include "blocksfp4.h"

#include <bit>
#include <cmath>

// Quantizers after ggml-org/ggml: src/ggml-quants.c (quantize_row_mxfp4_ref,
// quantize_row_nvfp4_ref) and the decoders' scale conversions (ggml-impl.h). Both ignore an
// importance vector.

namespace QuantFit {

using namespace Codec;

namespace Codec {

float mxfp4HalfScale(std::uint8_t e)
{
    if (e >= 2)
        return std::bit_cast<float>(std::uint32_t(e - 1) << 23);
    return std::bit_cast<float>(e == 1 ? 0x00400000u : 0x00200000u);
}

float nvfp4HalfScale(std::uint8_t u)
{
    if (u == 0x00 || u == 0x7F)
        return 0.f;
    const int e = (u >> 3) & 15;
    const int m = u & 7;
    const float raw = e == 0 ? float(m) * 0x1p-9f : (1.f + float(m) / 8) * std::ldexp(1.f, e - 7);
    return raw * 0.5f;
}

std::uint8_t nvfp4EncodeScale(float v)
{
    if (!(v > 0))
        return 0;
    v = v < 448.f ? v : 448.f;
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(v);
    int e = int((bits >> 23) & 255) - 127 + 7;
    const int m3 = int((bits >> 20) & 7);
    const int round = int((bits >> 19) & 1);
    if (e <= 0) { // below 2^-6: a subnormal UE4M3 code, truncated after adding one half
        int m = int(v * 512.f + 0.5f);
        if (m > 7)
            m = 7;
        return m < 1 ? 0 : std::uint8_t(m);
    }
    if (e >= 15)
        return 0x7E;
    int m = m3 + round; // the first dropped mantissa bit rounds half up; later bits are ignored
    if (m > 7) {
        m = 0;
        if (++e >= 15)
            return 0x7E;
    }
    return std::uint8_t((e << 3) | m);
}

} // namespace Codec

namespace {

// The first code with the least |value * dh - x|.
int fp4Index(float x, float dh)
{
    int best = 0;
    float bestErr = std::fabs(float(kValuesFp4[0]) * dh - x);
    for (int i = 1; i < 16; ++i) {
        const float err = std::fabs(float(kValuesFp4[i]) * dh - x);
        if (err < bestErr) {
            bestErr = err;
            best = i;
        }
    }
    return best;
}

float maxAbs(const float *x, int n)
{
    float amax = 0;
    for (int j = 0; j < n; ++j) {
        const float a = std::fabs(x[j]);
        if (a > amax)
            amax = a;
    }
    return amax;
}

} // namespace

void quantizeRowMxfp4(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    auto *y = reinterpret_cast<BlockMxfp4 *>(dst);
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        const float amax = maxAbs(x, 32);
        // Shared exponent floor(log2 amax) - 2 + 127 (E2M1's largest exponent is 2), the
        // logarithm rounded to float first: just below a power of two it rounds up, as log2f
        // does. Why double: its log2 rounded to float floors like glibc's log2f for every
        // positive float. Below 2^-125 the byte wraps, as llama.cpp's x86 build stores it.
        std::uint8_t e = 0;
        const float log2Amax = amax > 0 ? float(std::log2(double(amax))) : 0.f;
        if (amax > 0 && std::isfinite(log2Amax)) // infinite input: the x86 cast gives 0
            e = std::uint8_t(std::uint32_t(int(std::floor(log2Amax)) + 125));
        const float dh = mxfp4HalfScale(e);
        y[i].e = e;
        for (int j = 0; j < 16; ++j)
            y[i].qs[j] = std::uint8_t(fp4Index(x[j], dh) | (fp4Index(x[j + 16], dh) << 4));
    }
}

void quantizeRowNvfp4(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    auto *y = reinterpret_cast<BlockNvfp4 *>(dst);
    for (std::int64_t i = 0; i < n / 64; ++i) {
        for (int s = 0; s < 4; ++s, x += 16) {
            const std::uint8_t u = nvfp4EncodeScale(maxAbs(x, 16) / 6);
            const float dh = nvfp4HalfScale(u);
            y[i].d[s] = u;
            for (int j = 0; j < 8; ++j)
                y[i].qs[8 * s + j] =
                    std::uint8_t(fp4Index(x[j], dh) | (fp4Index(x[j + 8], dh) << 4));
        }
    }
}

void dequantizeRowMxfp4(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockMxfp4 *>(src);
    for (std::int64_t i = 0; i < n / 32; ++i, y += 32) {
        const float dh = mxfp4HalfScale(blocks[i].e);
        for (int j = 0; j < 16; ++j) {
            y[j] = float(kValuesFp4[blocks[i].qs[j] & 15]) * dh;
            y[j + 16] = float(kValuesFp4[blocks[i].qs[j] >> 4]) * dh;
        }
    }
}

void dequantizeRowNvfp4(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockNvfp4 *>(src);
    for (std::int64_t i = 0; i < n / 64; ++i) {
        for (int s = 0; s < 4; ++s, y += 16) {
            const float dh = nvfp4HalfScale(blocks[i].d[s]);
            for (int j = 0; j < 8; ++j) {
                y[j] = float(kValuesFp4[blocks[i].qs[8 * s + j] & 15]) * dh;
                y[j + 8] = float(kValuesFp4[blocks[i].qs[8 * s + j] >> 4]) * dh;
            }
        }
    }
}

} // namespace QuantFit
