#include "blockslowbit.h"

#include "quanthelpers.h"

#include "util/fp16.h"

#include <cmath>
#include <limits>

// Reference quantizers after ggml-org/ggml: src/ggml-quants.c (quantize_row_q1_0_ref,
// quantize_row_q2_0_ref, quantize_row_tq1_0_ref, quantize_row_tq2_0_ref) and their decoders.
// Out-of-range casts (a subnormal scale makes x / d huge or infinite) are emulated as the x86
// build computes them, so that no input is undefined behaviour; the scale is then 0 in fp16.

namespace QuantFit {

using namespace Codec;

namespace {

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

// lroundf(v) + 1 stored into an int (the long result's low 32 bits); x86 gives LONG_MIN for
// values lroundf cannot represent.
int ternaryDigit(float v)
{
    const long r = std::isfinite(v) && std::fabs(v) < 9.0e18f ? std::lroundf(v)
                                                               : std::numeric_limits<long>::min();
    return int(std::uint32_t(std::uint64_t(r) + 1u));
}

// n digits (most significant first) of values x[0], x[stride], ... as one base-3 byte.
std::uint8_t packBase3(const float *x, int stride, int n, float id)
{
    std::uint8_t q = 0;
    for (int k = 0; k < n; ++k)
        q = std::uint8_t(unsigned(q) * 3u + unsigned(ternaryDigit(x[k * stride] * id)));
    return q;
}

// ceil(q * 256 / 243): the byte whose top trit is the first digit.
std::uint8_t spreadBase3(std::uint8_t q)
{
    return std::uint8_t((std::uint16_t(q) * 256 + (243 - 1)) / 243);
}

int base3Digit(std::uint8_t b, int n)
{
    static constexpr std::uint8_t kPow3[5] = {1, 3, 9, 27, 81};
    const std::uint8_t q = std::uint8_t(b * kPow3[n]);
    return (std::uint16_t(q) * 3) >> 8;
}

} // namespace

void quantizeRowQ1_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    auto *y = reinterpret_cast<BlockQ1_0 *>(dst);
    for (std::int64_t i = 0; i < n / 128; ++i, x += 128) {
        float sum = 0;
        for (int j = 0; j < 128; ++j)
            sum += std::fabs(x[j]);
        y[i].d = fp32ToFp16(sum / 128);
        for (int k = 0; k < 16; ++k) {
            std::uint8_t bits = 0;
            for (int j = 0; j < 8; ++j)
                bits |= std::uint8_t((x[8 * k + j] >= 0 ? 1u : 0u) << j);
            y[i].qs[k] = bits;
        }
    }
}

void quantizeRowQ2_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    auto *y = reinterpret_cast<BlockQ2_0 *>(dst);
    for (std::int64_t i = 0; i < n / 64; ++i, x += 64) {
        const float d = maxAbs(x, 64);
        const float id = d > 0 ? 1 / d : 0.f;
        y[i].d = fp32ToFp16(d);
        for (int k = 0; k < 16; ++k) {
            std::uint8_t byte = 0;
            for (int j = 0; j < 4; ++j) {
                const int r = truncToInt32X86(std::roundf(x[4 * k + j] * id)); // half away from 0
                const int q = r > 2 ? 3 : (r < -1 ? 0 : r + 1);
                byte |= std::uint8_t(q << (2 * j));
            }
            y[i].qs[k] = byte;
        }
    }
}

void quantizeRowTq1_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    auto *y = reinterpret_cast<BlockTq1_0 *>(dst);
    for (std::int64_t i = 0; i < n / 256; ++i, x += 256) {
        const float d = maxAbs(x, 256);
        const float id = d != 0 ? 1 / d : 0.f;
        y[i].d = fp32ToFp16(d);
        for (int m = 0; m < 32; ++m)
            y[i].qs[m] = spreadBase3(packBase3(x + m, 32, 5, id));
        for (int m = 0; m < 16; ++m)
            y[i].qs[32 + m] = spreadBase3(packBase3(x + 160 + m, 16, 5, id));
        for (int j = 0; j < 4; ++j) // four digits, shifted up so the first is the top trit
            y[i].qh[j] = spreadBase3(std::uint8_t(packBase3(x + 240 + j, 4, 4, id) * 3));
    }
}

void quantizeRowTq2_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    auto *y = reinterpret_cast<BlockTq2_0 *>(dst);
    for (std::int64_t i = 0; i < n / 256; ++i, x += 256) {
        const float d = maxAbs(x, 256);
        const float id = d != 0 ? 1 / d : 0.f;
        y[i].d = fp32ToFp16(d);
        for (int g = 0; g < 2; ++g) {
            for (int m = 0; m < 32; ++m) {
                std::uint8_t q = 0;
                for (int k = 0; k < 4; ++k) {
                    const int digit = ternaryDigit(x[128 * g + 32 * k + m] * id);
                    q = std::uint8_t(q + ((digit & 3) << (2 * k)));
                }
                y[i].qs[32 * g + m] = q;
            }
        }
    }
}

void dequantizeRowQ1_0(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ1_0 *>(src);
    for (std::int64_t i = 0; i < n / 128; ++i, y += 128) {
        const float d = fp16ToFp32(blocks[i].d);
        for (int j = 0; j < 128; ++j)
            y[j] = (blocks[i].qs[j / 8] >> (j % 8)) & 1 ? d : -d;
    }
}

void dequantizeRowQ2_0(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ2_0 *>(src);
    for (std::int64_t i = 0; i < n / 64; ++i, y += 64) {
        const float d = fp16ToFp32(blocks[i].d);
        for (int j = 0; j < 64; ++j)
            y[j] = float(((blocks[i].qs[j / 4] >> (2 * (j % 4))) & 3) - 1) * d;
    }
}

void dequantizeRowTq1_0(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockTq1_0 *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i, y += 256) {
        const BlockTq1_0 &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        for (int k = 0; k < 5; ++k)
            for (int m = 0; m < 32; ++m)
                y[32 * k + m] = float(base3Digit(b.qs[m], k) - 1) * d;
        for (int k = 0; k < 5; ++k)
            for (int m = 0; m < 16; ++m)
                y[160 + 16 * k + m] = float(base3Digit(b.qs[32 + m], k) - 1) * d;
        for (int k = 0; k < 4; ++k)
            for (int j = 0; j < 4; ++j)
                y[240 + 4 * k + j] = float(base3Digit(b.qh[j], k) - 1) * d;
    }
}

void dequantizeRowTq2_0(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockTq2_0 *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i, y += 256) {
        const float d = fp16ToFp32(blocks[i].d);
        for (int g = 0; g < 2; ++g)
            for (int k = 0; k < 4; ++k)
                for (int m = 0; m < 32; ++m)
                    y[128 * g + 32 * k + m] =
                        float(((blocks[i].qs[32 * g + m] >> (2 * k)) & 3) - 1) * d;
    }
}

} // namespace QuantFit
