#include "blockslegacy.h"

#include "quanthelpers.h"
#include "quantsimd.h"

#include "util/fp16.h"

#include <algorithm>
#include <cmath>

// As ggml's src/ggml-quants.c (quantize_row_q4_0_ref ... and the importance variants
// quantize_row_q4_0_impl ...). The reference quantizers (no importance) compute codes with the
// float d and store h(d) = roundFp16(d); the importance variants run the searches of quanthelpers.h
// with w = imp * sqrt(sigma2 + x^2), sigma2 = (sum of x^2 over the whole row) / n.

namespace QuantFit {

using namespace Codec;

namespace {

float rowSigma2(const float *x, std::int64_t n)
{
    float sumX2 = 0;
    for (std::int64_t j = 0; j < n; ++j)
        sumX2 += x[j] * x[j];
    return sumX2 / float(n);
}

void importanceWeights(const float *xb, const float *qw, float sigma2, float *w)
{
    for (int j = 0; j < kQk32; ++j)
        w[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
}

void packNibbles(const std::uint8_t *L, std::uint8_t *qs)
{
    for (int j = 0; j < 16; ++j)
        qs[j] = std::uint8_t(L[j] | (L[j + 16] << 4));
}

void packNibblesHigh(const std::uint8_t *L, std::uint8_t *qs, std::uint8_t *qhBytes)
{
    std::uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = std::uint8_t((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        qh |= std::uint32_t((L[j] & 0x10u) >> 4) << j;
        qh |= std::uint32_t((L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    for (int b = 0; b < 4; ++b)
        qhBytes[b] = std::uint8_t(qh >> (8 * b));
}

std::uint32_t loadQh(const std::uint8_t *qh)
{
    return std::uint32_t(qh[0]) | std::uint32_t(qh[1]) << 8 | std::uint32_t(qh[2]) << 16
        | std::uint32_t(qh[3]) << 24;
}

// Symmetric reference (Q4_0, Q5_0): d = signedMax / -half, code = min(top, trunc8(x*id + half+.5)).
void symmetricReference(const float *x, int half, int top, float &d, std::uint8_t *L)
{
    float amax;
    const float max = signedMax(x, kQk32, amax);
    d = max / float(-half);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const float offset = float(half) + 0.5f;
    for (int j = 0; j < kQk32; ++j) {
        const int q = truncToInt8(x[j] * id + offset);
        L[j] = std::uint8_t(q < top ? q : top);
    }
}

// Asymmetric reference (Q4_1, Q5_1): d = (max - min) / top; codes from (x - min) * id + 0.5.
void asymmetricReference(const float *x, int top, bool clampTop, float &d, float &min,
                         std::uint8_t *L)
{
    min = x[0];
    float max = x[0];
    for (int j = 1; j < kQk32; ++j) {
        if (x[j] < min)
            min = x[j];
        if (x[j] > max)
            max = x[j];
    }
    d = (max - min) / float(top);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQk32; ++j) {
        const float v = (x[j] - min) * id + 0.5f;
        if (clampTop) {
            const int q = truncToInt8(v);
            L[j] = std::uint8_t(q < top ? q : top);
        } else {
            L[j] = truncToUint8(v);
        }
    }
}

// Importance variants of the symmetric types: make_qx_quants(32, half, x, L, 1, w).
float symmetricWeighted(const float *x, const float *qw, float sigma2, int half, std::uint8_t *L)
{
    float w[kQk32];
    std::int8_t Ls[kQk32];
    importanceWeights(x, qw, sigma2, w);
    const float d = makeQxQuants(kQk32, half, x, Ls, w);
    for (int j = 0; j < kQk32; ++j)
        L[j] = std::uint8_t(Ls[j]);
    return d;
}

// Importance variants of the asymmetric types: make_qkx3_quants(32, top, ..., -0.9, 0.05, 36).
float asymmetricWeighted(const float *x, const float *qw, float sigma2, int top, float &min,
                         std::uint8_t *L)
{
    float w[kQk32];
    importanceWeights(x, qw, sigma2, w);
    float theMin;
    const float d = makeQkxQuants(kQk32, top, x, w, L, theMin, -0.9f, 0.05f, 36, false, true);
    min = -theMin;
    return d;
}

// Eight consecutive blocks of an importance-weighted row in SIMD lanes: codes L (32 per block,
// block-major) and scales (and mins for the asymmetric types). Same results as the scalar
// symmetricWeighted / asymmetricWeighted calls.
void weightedGroup8(const float *x, const float *qw, float sigma2, int nmax, bool asymmetric,
                    std::uint8_t *L, float *d, float *min)
{
    float w[256];
    for (int b = 0; b < 8; ++b)
        importanceWeights(x + 32 * b, qw + 32 * b, sigma2, w + 32 * b);
    float xT[256];
    float wT[256];
    toLanes(x, 32, 32, xT);
    toLanes(w, 32, 32, wT);
    std::uint8_t LT[256];
    if (asymmetric) {
        float theMin[8];
        makeQkxQuants8(32, nmax, xT, wT, LT, d, theMin, -0.9f, 0.05f, 36, false, true);
        for (int b = 0; b < 8; ++b)
            min[b] = -theMin[b];
    } else {
        makeQxQuants8(32, nmax, xT, wT, reinterpret_cast<std::int8_t *>(LT), d);
    }
    for (int b = 0; b < 8; ++b) {
        for (int i = 0; i < 32; ++i)
            L[32 * b + i] = LT[8 * i + b];
    }
}

// Packs 32 codes into a block: 4-bit nibbles, plus the fifth bits for the 5-bit types.
void packCodes(const std::uint8_t *L, BlockQ4_0 &b) { packNibbles(L, b.qs); }
void packCodes(const std::uint8_t *L, BlockQ5_0 &b) { packNibblesHigh(L, b.qs, b.qh); }
void packCodes(const std::uint8_t *L, BlockQ4_1 &b) { packNibbles(L, b.qs); }
void packCodes(const std::uint8_t *L, BlockQ5_1 &b) { packNibblesHigh(L, b.qs, b.qh); }

/// The four legacy 32-element quantizers differ only in their code range and packing.
/// Symmetric (Q4_0, Q5_0): codes around `levels` (8 or 16), reference range 0..`top`.
/// Asymmetric (Q4_1, Q5_1): codes 0..`levels` (15 or 31) above a minimum; `clampTop` as the
/// reference quantizer of that type (quantize_row_q4_1_ref, quantize_row_q5_1_ref).
template <typename Block, bool Asymmetric>
void quantizeRowLegacy(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance,
                       int levels, int top, bool clampTop)
{
    auto *y = reinterpret_cast<Block *>(dst);
    const float sigma2 = importance ? rowSigma2(x, n) : 0.f;
    std::uint8_t L[kQk32];
    std::int64_t i = 0;
    if (importance && quantSimdEnabled()) {
        std::uint8_t L8[256];
        float d8[8];
        float m8[8];
        for (; i + 8 <= n / kQk32; i += 8, x += 8 * kQk32) {
            weightedGroup8(x, importance + kQk32 * i, sigma2, levels, Asymmetric, L8, d8,
                           Asymmetric ? m8 : nullptr);
            for (int b = 0; b < 8; ++b) {
                y[i + b].d = fp32ToFp16(d8[b]);
                if constexpr (Asymmetric)
                    y[i + b].m = fp32ToFp16(m8[b]);
                packCodes(L8 + 32 * b, y[i + b]);
            }
        }
    }
    for (; i < n / kQk32; ++i, x += kQk32) {
        float d;
        if constexpr (Asymmetric) {
            float min;
            if (importance)
                d = asymmetricWeighted(x, importance + kQk32 * i, sigma2, levels, min, L);
            else
                asymmetricReference(x, levels, clampTop, d, min, L);
            y[i].m = fp32ToFp16(min);
        } else {
            if (importance)
                d = symmetricWeighted(x, importance + kQk32 * i, sigma2, levels, L);
            else
                symmetricReference(x, levels, top, d, L);
        }
        y[i].d = fp32ToFp16(d);
        packCodes(L, y[i]);
    }
}

} // namespace

//
// Q8_0
//

void quantizeRowQ8_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    if (quantSimdEnabled())
        return quantizeRowQ8_0Avx2(x, dst, n);
    auto *y = reinterpret_cast<BlockQ8_0 *>(dst);
    for (std::int64_t i = 0; i < n / kQk32; ++i, x += kQk32) {
        float amax = 0.0f;
        for (int j = 0; j < kQk32; ++j)
            amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32ToFp16(d);
        for (int j = 0; j < kQk32; ++j)
            y[i].qs[j] = truncToInt8(std::roundf(x[j] * id));
    }
}

void dequantizeRowQ8_0(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ8_0Avx2(src, y, n);
    const auto *b = reinterpret_cast<const BlockQ8_0 *>(src);
    for (std::int64_t i = 0; i < n / kQk32; ++i) {
        const float d = fp16ToFp32(b[i].d);
        for (int j = 0; j < kQk32; ++j)
            *y++ = float(b[i].qs[j]) * d;
    }
}

//
// Q4_0 and Q5_0 (symmetric)
//

void quantizeRowQ4_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    quantizeRowLegacy<BlockQ4_0, false>(x, dst, n, importance, 8, 15, false);
}

void dequantizeRowQ4_0(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ4_0Avx2(src, y, n);
    const auto *b = reinterpret_cast<const BlockQ4_0 *>(src);
    for (std::int64_t i = 0; i < n / kQk32; ++i, y += kQk32) {
        const float d = fp16ToFp32(b[i].d);
        for (int j = 0; j < 16; ++j) {
            y[j] = float((b[i].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = float((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void quantizeRowQ5_0(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    quantizeRowLegacy<BlockQ5_0, false>(x, dst, n, importance, 16, 31, false);
}

void dequantizeRowQ5_0(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ5_0Avx2(src, y, n);
    const auto *b = reinterpret_cast<const BlockQ5_0 *>(src);
    for (std::int64_t i = 0; i < n / kQk32; ++i, y += kQk32) {
        const float d = fp16ToFp32(b[i].d);
        const std::uint32_t qh = loadQh(b[i].qh);
        for (int j = 0; j < 16; ++j) {
            const int h0 = int((qh >> j) & 1u) << 4;
            const int h1 = int((qh >> (j + 16)) & 1u) << 4;
            y[j] = float(((b[i].qs[j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = float(((b[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

//
// Q4_1 and Q5_1 (asymmetric)
//

void quantizeRowQ4_1(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    quantizeRowLegacy<BlockQ4_1, true>(x, dst, n, importance, 15, 0, true);
}

void dequantizeRowQ4_1(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ4_1Avx2(src, y, n);
    const auto *b = reinterpret_cast<const BlockQ4_1 *>(src);
    for (std::int64_t i = 0; i < n / kQk32; ++i, y += kQk32) {
        const float d = fp16ToFp32(b[i].d);
        const float m = fp16ToFp32(b[i].m);
        for (int j = 0; j < 16; ++j) {
            y[j] = float(b[i].qs[j] & 0x0F) * d + m;
            y[j + 16] = float(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void quantizeRowQ5_1(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    quantizeRowLegacy<BlockQ5_1, true>(x, dst, n, importance, 31, 0, false);
}

void dequantizeRowQ5_1(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ5_1Avx2(src, y, n);
    const auto *b = reinterpret_cast<const BlockQ5_1 *>(src);
    for (std::int64_t i = 0; i < n / kQk32; ++i, y += kQk32) {
        const float d = fp16ToFp32(b[i].d);
        const float m = fp16ToFp32(b[i].m);
        const std::uint32_t qh = loadQh(b[i].qh);
        for (int j = 0; j < 16; ++j) {
            const int h0 = int((qh >> j) & 1u) << 4;
            const int h1 = int((qh >> (j + 16)) & 1u) << 4;
            y[j] = float((b[i].qs[j] & 0x0F) | h0) * d + m;
            y[j + 16] = float((b[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

} // namespace QuantFit
