#include "blockskquants.h"

#include "quanthelpers.h"
#include "quantsimd.h"

#include "util/fp16.h"

#include <cmath>
#include <cstring>

// Q4_K, Q5_K and Q6_K as ggml's src/ggml-quants.c quantizes them (quantize_row_q4_K_ref and
// quantize_row_q4_K_impl, and the same for q5_K and q6_K). Q4_K and Q5_K share everything but
// the code width, the search grid of the reference and the packing of the fifth bit.

namespace QuantFit {

using namespace Codec;

namespace {

void packScaleMinK4(const std::uint8_t *ls, const std::uint8_t *lm, std::uint8_t *s)
{
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = std::uint8_t((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= std::uint8_t((ls[j] >> 4) << 6);
            s[j] |= std::uint8_t((lm[j] >> 4) << 6);
        }
    }
}

// The eight sub-block fits of a super-block: lanes in SIMD when available (same results).
void fitSubBlocks(const float *x, const float *w, int nmax, std::uint8_t *L, float *scales,
                  float *mins, float rmin, float rdelta, int nstep, bool qkx3)
{
    if (quantSimdEnabled()) {
        float xT[256];
        float wT[256];
        std::uint8_t LT[256];
        toLanes(x, 32, 32, xT);
        toLanes(w, 32, 32, wT);
        makeQkxQuants8(32, nmax, xT, wT, LT, scales, mins, rmin, rdelta, nstep, false, qkx3);
        for (int j = 0; j < 8; ++j) {
            for (int i = 0; i < 32; ++i)
                L[32 * j + i] = LT[8 * i + j];
        }
        return;
    }
    for (int j = 0; j < 8; ++j) {
        scales[j] = makeQkxQuants(32, nmax, x + 32 * j, w + 32 * j, L + 32 * j, mins[j], rmin,
                                  rdelta, nstep, false, qkx3);
    }
}

// Q4_K / Q5_K codes before packing: fills d, dmin, scales and L (0..nmax) for one super-block.
void quantizeSuperBlockK45(const float *x, const float *qw, int nmax, std::uint16_t &dOut,
                           std::uint16_t &dminOut, std::uint8_t *packedScales, std::uint8_t *L)
{
    float weights[256];
    float mins[8];
    float scales[8];
    std::uint8_t ls[8];
    std::uint8_t lm[8];
    if (!qw) {
        // Reference steps 1-2: w = rms(sub-block) + |x|, qkx2 fit, codes relative to the maxima.
        for (int j = 0; j < 8; ++j) {
            float sumX2 = 0;
            for (int l = 0; l < 32; ++l)
                sumX2 += x[32 * j + l] * x[32 * j + l];
            const float avX = std::sqrt(sumX2 / 32);
            for (int l = 0; l < 32; ++l)
                weights[32 * j + l] = avX + std::fabs(x[32 * j + l]);
        }
        const float rmin = nmax == 15 ? -1.f : -0.5f;
        const int nstep = nmax == 15 ? 20 : 15;
        fitSubBlocks(x, weights, nmax, L, scales, mins, rmin, 0.1f, nstep, false);
        float maxScale = 0;
        float maxMin = 0;
        for (int j = 0; j < 8; ++j) {
            if (scales[j] > maxScale)
                maxScale = scales[j];
            if (mins[j] > maxMin)
                maxMin = mins[j];
        }
        const float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        const float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        for (int j = 0; j < 8; ++j) {
            // uint8 first, then min(63): matches ggml for (rare) negative scales.
            const std::uint8_t s = std::uint8_t(nearestInt(invScale * scales[j]));
            const std::uint8_t m = std::uint8_t(nearestInt(invMin * mins[j]));
            ls[j] = s < 63 ? s : 63;
            lm[j] = m < 63 ? m : 63;
        }
        dOut = fp32ToFp16(maxScale / 63.f);
        dminOut = fp32ToFp16(maxMin / 63.f);
    } else {
        // Importance variant: qkx3 fit, then make_qp_quants over scales and mins.
        float sw[8];
        float sumX2 = 0;
        for (int l = 0; l < kQkK; ++l)
            sumX2 += x[l] * x[l];
        const float sigma2 = 2 * sumX2 / float(kQkK);
        for (int j = 0; j < 8; ++j) {
            float *w = weights + 32 * j;
            for (int l = 0; l < 32; ++l)
                w[l] = qw[32 * j + l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 32; ++l)
                sumw += w[l];
            sw[j] = sumw;
        }
        fitSubBlocks(x, weights, nmax, L, scales, mins, -0.9f, 0.05f, 36, true);
        const float dBlock = makeQpQuants(8, 63, scales, ls, sw);
        const float mBlock = makeQpQuants(8, 63, mins, lm, sw);
        dOut = fp32ToFp16(dBlock);
        dminOut = fp32ToFp16(mBlock);
    }
    packScaleMinK4(ls, lm, packedScales);
    // Step 3: re-quantize with the stored (fp16) super-block scales.
    const float dh = fp16ToFp32(dOut);
    const float mh = fp16ToFp32(dminOut);
    for (int j = 0; j < 8; ++j) {
        std::uint8_t sc;
        std::uint8_t m;
        unpackScaleMinK4(j, packedScales, sc, m);
        const float d = dh * float(sc);
        if (d == 0)
            continue;
        const float dm = mh * float(m);
        for (int ii = 0; ii < 32; ++ii) {
            const int l = nearestInt((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = std::uint8_t(l < 0 ? 0 : (l > nmax ? nmax : l));
        }
    }
}

} // namespace

//
// Q4_K
//

void quantizeRowQ4_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    auto *y = reinterpret_cast<BlockQ4_K *>(dst);
    std::uint8_t L[kQkK];
    for (std::int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
        BlockQ4_K &b = y[i];
        std::uint16_t d;
        std::uint16_t dmin;
        quantizeSuperBlockK45(x, importance ? importance + kQkK * i : nullptr, 15, d, dmin,
                              b.scales, L);
        b.d = d;
        b.dmin = dmin;
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l)
                b.qs[32 * c + l] = std::uint8_t(L[64 * c + l] | (L[64 * c + l + 32] << 4));
        }
    }
}

void dequantizeRowQ4_K(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ4_KAvx2(src, y, n);
    const auto *blocks = reinterpret_cast<const BlockQ4_K *>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ4_K &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        const float min = fp16ToFp32(b.dmin);
        for (int c = 0; c < 4; ++c) {
            const std::uint8_t *q = b.qs + 32 * c;
            for (int half = 0; half < 2; ++half) {
                std::uint8_t sc;
                std::uint8_t m;
                unpackScaleMinK4(2 * c + half, b.scales, sc, m);
                const float d1 = d * float(sc);
                const float m1 = min * float(m);
                for (int l = 0; l < 32; ++l)
                    *y++ = d1 * float(half ? q[l] >> 4 : q[l] & 0xF) - m1;
            }
        }
    }
}

//
// Q5_K
//

void quantizeRowQ5_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    auto *y = reinterpret_cast<BlockQ5_K *>(dst);
    std::uint8_t L[kQkK];
    for (std::int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
        BlockQ5_K &b = y[i];
        std::uint16_t d;
        std::uint16_t dmin;
        quantizeSuperBlockK45(x, importance ? importance + kQkK * i : nullptr, 31, d, dmin,
                              b.scales, L);
        b.d = d;
        b.dmin = dmin;
        std::memset(b.qh, 0, 32);
        for (int c = 0; c < 4; ++c) {
            for (int j = 0; j < 32; ++j) {
                // Codes are 0..31: bit 4 goes to qh, without a branch (it is data-dependent).
                const unsigned l1 = L[64 * c + j];
                const unsigned l2 = L[64 * c + j + 32];
                b.qh[j] |= std::uint8_t(((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1)));
                b.qs[32 * c + j] = std::uint8_t((l1 & 15) | ((l2 & 15) << 4));
            }
        }
    }
}

void dequantizeRowQ5_K(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ5_KAvx2(src, y, n);
    const auto *blocks = reinterpret_cast<const BlockQ5_K *>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ5_K &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        const float min = fp16ToFp32(b.dmin);
        for (int c = 0; c < 4; ++c) {
            const std::uint8_t *ql = b.qs + 32 * c;
            for (int half = 0; half < 2; ++half) {
                std::uint8_t sc;
                std::uint8_t m;
                unpackScaleMinK4(2 * c + half, b.scales, sc, m);
                const float d1 = d * float(sc);
                const float m1 = min * float(m);
                const std::uint8_t u = std::uint8_t(1u << (2 * c + half));
                for (int l = 0; l < 32; ++l) {
                    const int low = half ? ql[l] >> 4 : ql[l] & 0xF;
                    *y++ = d1 * float(low + ((b.qh[l] & u) ? 16 : 0)) - m1;
                }
            }
        }
    }
}

//
// Q6_K
//

void quantizeRowQ6_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    auto *y = reinterpret_cast<BlockQ6_K *>(dst);
    std::int8_t L[kQkK];
    float scales[16];
    for (std::int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
        BlockQ6_K &b = y[i];
        // Step 1: weights x^2 (reference) or the raw importance slice (no sigma term).
        const float *qw = importance ? importance + kQkK * i : nullptr;
        if (quantSimdEnabled()) {
            for (int g = 0; g < 2; ++g) {
                float xT[128];
                float wT[128];
                std::int8_t LT[128];
                toLanes(x + 128 * g, 16, 16, xT);
                if (qw)
                    toLanes(qw + 128 * g, 16, 16, wT);
                makeQxQuants8(16, 32, xT, qw ? wT : nullptr, LT, scales + 8 * g);
                for (int k = 0; k < 8; ++k) {
                    for (int l = 0; l < 16; ++l)
                        L[128 * g + 16 * k + l] = LT[8 * l + k];
                }
            }
        } else {
            for (int ib = 0; ib < 16; ++ib)
                scales[ib] =
                    makeQxQuants(16, 32, x + 16 * ib, L + 16 * ib, qw ? qw + 16 * ib : nullptr);
        }
        float maxScale = 0;
        float maxAbsScale = 0;
        for (int ib = 0; ib < 16; ++ib) {
            const float a = std::fabs(scales[ib]);
            if (a > maxAbsScale) {
                maxAbsScale = a;
                maxScale = scales[ib];
            }
        }
        if (maxAbsScale < kGroupMaxEps) {
            std::memset(&b, 0, sizeof b);
            continue;
        }
        // Steps 3-4: int8 scales relative to the largest, re-quantize with h(d).
        const float iscale = -128.f / maxScale;
        b.d = fp32ToFp16(1 / iscale);
        for (int ib = 0; ib < 16; ++ib) {
            const int s = nearestInt(iscale * scales[ib]);
            b.scales[ib] = std::int8_t(s < 127 ? s : 127);
        }
        const float dh = fp16ToFp32(b.d);
        for (int j = 0; j < 16; ++j) {
            const float d = dh * float(b.scales[j]);
            if (d == 0)
                continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearestInt(x[16 * j + ii] / d);
                L[16 * j + ii] = std::int8_t((l < -32 ? -32 : (l > 31 ? 31 : l)) + 32);
            }
        }
        // Step 5: pack (the Q6_K bit placement of blockskquants.h).
        for (int h = 0; h < 2; ++h) {
            std::uint8_t *ql = b.ql + 64 * h;
            std::uint8_t *qh = b.qh + 32 * h;
            const std::int8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; ++l) {
                const int q1 = Lh[l] & 0xF;
                const int q2 = Lh[l + 32] & 0xF;
                const int q3 = Lh[l + 64] & 0xF;
                const int q4 = Lh[l + 96] & 0xF;
                ql[l] = std::uint8_t(q1 | (q3 << 4));
                ql[l + 32] = std::uint8_t(q2 | (q4 << 4));
                qh[l] = std::uint8_t((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2)
                                     | ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

void dequantizeRowQ6_K(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ6_KAvx2(src, y, n);
    const auto *blocks = reinterpret_cast<const BlockQ6_K *>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ6_K &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        for (int h = 0; h < 2; ++h, y += 128) {
            const std::uint8_t *ql = b.ql + 64 * h;
            const std::uint8_t *qh = b.qh + 32 * h;
            const std::int8_t *sc = b.scales + 8 * h;
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * float(sc[is]) * float(q1);
                y[l + 32] = d * float(sc[is + 2]) * float(q2);
                y[l + 64] = d * float(sc[is + 4]) * float(q3);
                y[l + 96] = d * float(sc[is + 6]) * float(q4);
            }
        }
    }
}

} // namespace QuantFit
