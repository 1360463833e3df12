#include "blockskquants.h"

#include "quanthelpers.h"
#include "quantsimd.h"

#include "util/fp16.h"

#include <cmath>
#include <cstring>

// Q2_K, Q3_K and Q8_K as ggml's src/ggml-quants.c quantizes them: the types with 16-element
// sub-blocks and 2-bit packing. Q4_K, Q5_K and Q6_K are in blockskquants456.cpp.

namespace QuantFit {

using namespace Codec;

namespace {

// 2-bit packing: elements 128h + 32g + l -> byte 32h + l, bits 2g.
void pack2Bits(const std::uint8_t *L, std::uint8_t *qs)
{
    for (int j = 0; j < kQkK; j += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[j / 4 + l] = std::uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4)
                                         | (L[j + l + 96] << 6));
        }
    }
}

// The sixteen 16-element fits of a Q2_K super-block (two groups of 8 SIMD lanes when available).
void fitQ2Subs(const float *x, const float *w, std::uint8_t *L, float *scales, float *mins,
               bool imatrix)
{
    const float rmin = imatrix ? -0.9f : -0.5f;
    const float rdelta = imatrix ? 0.05f : 0.1f;
    const int nstep = imatrix ? 36 : 15;
    if (quantSimdEnabled()) {
        for (int g = 0; g < 2; ++g) {
            float xT[128];
            float wT[128];
            std::uint8_t LT[128];
            toLanes(x + 128 * g, 16, 16, xT);
            toLanes(w + 128 * g, 16, 16, wT);
            makeQkxQuants8(16, 3, xT, wT, LT, scales + 8 * g, mins + 8 * g, rmin, rdelta, nstep,
                           !imatrix, imatrix);
            for (int k = 0; k < 8; ++k) {
                for (int l = 0; l < 16; ++l)
                    L[128 * g + 16 * k + l] = LT[8 * l + k];
            }
        }
        return;
    }
    for (int j = 0; j < 16; ++j) {
        scales[j] = makeQkxQuants(16, 3, x + 16 * j, w + 16 * j, L + 16 * j, mins[j], rmin, rdelta,
                                  nstep, !imatrix, imatrix);
    }
}

float superBlockSumX2(const float *x)
{
    float sum = 0;
    for (int j = 0; j < kQkK; ++j)
        sum += x[j] * x[j];
    return sum;
}

} // namespace

//
// Q2_K
//

void quantizeRowQ2_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    auto *y = reinterpret_cast<BlockQ2_K *>(dst);
    std::uint8_t L[kQkK];
    float weights[kQkK];
    float mins[16];
    float scales[16];
    for (std::int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
        BlockQ2_K &b = y[i];
        if (!importance) {
            // Steps 1-2 of the reference: per-sub-block fit, then 4-bit codes of scale and min.
            for (int l = 0; l < kQkK; ++l)
                weights[l] = std::fabs(x[l]);
            fitQ2Subs(x, weights, L, scales, mins, false);
            float maxScale = 0;
            float maxMin = 0;
            for (int j = 0; j < 16; ++j) {
                if (scales[j] > maxScale)
                    maxScale = scales[j];
                if (mins[j] > maxMin)
                    maxMin = mins[j];
            }
            if (maxScale > 0) {
                const float iscale = 15.f / maxScale;
                for (int j = 0; j < 16; ++j)
                    b.scales[j] = std::uint8_t(nearestInt(iscale * scales[j]));
                b.d = fp32ToFp16(maxScale / 15.f);
            } else {
                std::memset(b.scales, 0, 16);
                b.d = fp32ToFp16(0.f);
            }
            if (maxMin > 0) {
                const float iscale = 15.f / maxMin;
                for (int j = 0; j < 16; ++j)
                    b.scales[j] |= std::uint8_t(nearestInt(iscale * mins[j]) << 4);
                b.dmin = fp32ToFp16(maxMin / 15.f);
            } else {
                b.dmin = fp32ToFp16(0.f);
            }
        } else {
            // Importance variant: qkx3 fit per sub-block, then make_qp_quants on scales and mins.
            float sw[16];
            std::uint8_t Ls[16];
            std::uint8_t Lm[16];
            const float sigma2 = superBlockSumX2(x) / float(kQkK);
            for (int j = 0; j < 16; ++j) {
                const float *qw = importance + kQkK * i + 16 * j;
                float *w = weights + 16 * j;
                for (int l = 0; l < 16; ++l)
                    w[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
                sw[j] = 0;
                for (int l = 0; l < 16; ++l)
                    sw[j] += w[l];
            }
            fitQ2Subs(x, weights, L, scales, mins, true);
            const float dm = makeQpQuants(16, 15, scales, Ls, sw);
            const float mm = makeQpQuants(16, 15, mins, Lm, sw);
            b.d = fp32ToFp16(dm);
            b.dmin = fp32ToFp16(mm);
            for (int j = 0; j < 16; ++j)
                b.scales[j] = std::uint8_t(Ls[j] | (Lm[j] << 4));
        }
        // Step 3: re-quantize with the stored (fp16) scales.
        const float dh = fp16ToFp32(b.d);
        const float mh = fp16ToFp32(b.dmin);
        for (int j = 0; j < 16; ++j) {
            const float d = dh * float(b.scales[j] & 0xF);
            if (d == 0)
                continue;
            const float m = mh * float(b.scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearestInt((x[16 * j + ii] + m) / d);
                L[16 * j + ii] = std::uint8_t(l < 0 ? 0 : (l > 3 ? 3 : l));
            }
        }
        pack2Bits(L, b.qs);
    }
}

void dequantizeRowQ2_K(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ2_KAvx2(src, y, n);
    const auto *blocks = reinterpret_cast<const BlockQ2_K *>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ2_K &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        const float min = fp16ToFp32(b.dmin);
        const std::uint8_t *q = b.qs;
        int is = 0;
        for (int h = 0; h < 2; ++h, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    const std::uint8_t sc = b.scales[is++];
                    const float dl = d * float(sc & 0xF);
                    const float ml = min * float(sc >> 4);
                    for (int l = 0; l < 16; ++l)
                        *y++ = dl * float((q[l + 16 * half] >> shift) & 3) - ml;
                }
            }
        }
    }
}

//
// Q3_K
//

void quantizeRowQ3_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    auto *y = reinterpret_cast<BlockQ3_K *>(dst);
    std::int8_t L[kQkK];
    float scales[16];
    for (std::int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
        BlockQ3_K &b = y[i];
        std::memset(b.scales, 0, 12);
        auto putScale = [&b](int j, int l) {
            if (j < 8)
                b.scales[j] = std::uint8_t(l & 0xF);
            else
                b.scales[j - 8] |= std::uint8_t((l & 0xF) << 4);
            l >>= 4;
            b.scales[j % 4 + 8] |= std::uint8_t(l << (2 * (j / 4)));
        };
        if (!importance) {
            // Steps 1-2: make_q3_quants per sub-block, 6-bit codes relative to the largest scale.
            float maxScale = 0;
            float amax = 0;
            if (quantSimdEnabled()) {
                for (int g = 0; g < 2; ++g) {
                    float xT[128];
                    std::int8_t LT[128];
                    toLanes(x + 128 * g, 16, 16, xT);
                    makeQ3Quants8(16, 4, xT, LT, scales + 8 * g);
                    for (int k = 0; k < 8; ++k) {
                        for (int l = 0; l < 16; ++l)
                            L[128 * g + 16 * k + l] = LT[8 * l + k];
                    }
                }
            } else {
                for (int j = 0; j < 16; ++j)
                    scales[j] = makeQ3Quants(16, 4, x + 16 * j, L + 16 * j);
            }
            for (int j = 0; j < 16; ++j) {
                const float a = std::fabs(scales[j]);
                if (a > amax) {
                    amax = a;
                    maxScale = scales[j];
                }
            }
            if (maxScale != 0) {
                const float iscale = -32.f / maxScale;
                for (int j = 0; j < 16; ++j) {
                    int l = std::int8_t(nearestInt(iscale * scales[j]));
                    l = (l < -32 ? -32 : (l > 31 ? 31 : l)) + 32;
                    putScale(j, l);
                }
                b.d = fp32ToFp16(1 / iscale);
            } else {
                b.d = fp32ToFp16(0.f);
            }
        } else {
            float weight[kQkK];
            float sw[16];
            std::int8_t Ls[16];
            const float sigma2 = 2 * superBlockSumX2(x) / float(kQkK);
            for (int j = 0; j < 16; ++j) {
                const float *qw = importance + kQkK * i + 16 * j;
                float *w = weight + 16 * j;
                for (int l = 0; l < 16; ++l)
                    w[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
                float sumw = 0;
                for (int l = 0; l < 16; ++l)
                    sumw += w[l];
                sw[j] = sumw;
            }
            if (quantSimdEnabled()) {
                for (int g = 0; g < 2; ++g) {
                    float xT[128];
                    float wT[128];
                    std::int8_t LT[128];
                    toLanes(x + 128 * g, 16, 16, xT);
                    toLanes(weight + 128 * g, 16, 16, wT);
                    makeQxQuants8(16, 4, xT, wT, LT, scales + 8 * g);
                    for (int k = 0; k < 8; ++k) {
                        for (int l = 0; l < 16; ++l)
                            L[128 * g + 16 * k + l] = LT[8 * l + k];
                    }
                }
            } else {
                for (int j = 0; j < 16; ++j)
                    scales[j] = makeQxQuants(16, 4, x + 16 * j, L + 16 * j, weight + 16 * j);
            }
            const float dBlock = makeQxQuants(16, 32, scales, Ls, sw);
            for (int j = 0; j < 16; ++j)
                putScale(j, Ls[j]);
            b.d = fp32ToFp16(dBlock);
        }
        // Step 3: re-quantize with the stored scales.
        const float dh = fp16ToFp32(b.d);
        for (int j = 0; j < 16; ++j) {
            const float d = dh * float(q3kScale(b.scales, j));
            if (d == 0)
                continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearestInt(x[16 * j + ii] / d);
                L[16 * j + ii] = std::int8_t((l < -4 ? -4 : (l > 3 ? 3 : l)) + 4);
            }
        }
        // Step 4: third bit to hmask (byte e % 32, bit e / 32), two low bits to qs.
        std::memset(b.hmask, 0, 32);
        std::uint8_t low[kQkK];
        // Codes are 0..7: bit 2 goes to hmask, without a branch (it is data-dependent).
        for (int e = 0; e < kQkK; ++e) {
            const unsigned l = unsigned(L[e]);
            b.hmask[e % 32] |= std::uint8_t((l >> 2) << (e / 32));
            low[e] = std::uint8_t(l & 3);
        }
        pack2Bits(low, b.qs);
    }
}

void dequantizeRowQ3_K(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowQ3_KAvx2(src, y, n);
    const auto *blocks = reinterpret_cast<const BlockQ3_K *>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ3_K &b = blocks[i];
        const float dAll = fp16ToFp32(b.d);
        const std::uint8_t *q = b.qs;
        std::uint8_t m = 1;
        int is = 0;
        for (int h = 0; h < 2; ++h, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = std::uint8_t(m << 1)) {
                for (int half = 0; half < 2; ++half) {
                    const float dl = dAll * float(q3kScale(b.scales, is++));
                    for (int l = 0; l < 16; ++l) {
                        const int k = l + 16 * half;
                        const int v = ((q[k] >> shift) & 3) - ((b.hmask[k] & m) ? 0 : 4);
                        *y++ = dl * float(v);
                    }
                }
            }
        }
    }
}

//
// Q8_K
//

void quantizeRowQ8_K(const float *x, std::uint8_t *dst, std::int64_t n, const float *)
{
    auto *y = reinterpret_cast<BlockQ8_K *>(dst);
    for (std::int64_t i = 0; i < n / kQkK; ++i, x += kQkK) {
        BlockQ8_K &b = y[i];
        float amax;
        const float max = signedMax(x, kQkK, amax);
        if (amax == 0) {
            // ggml leaves bsums unset here; zeros are the only sensible value.
            std::memset(&b, 0, sizeof b);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < kQkK; ++j) {
            const int v = nearestInt(iscale * x[j]);
            b.qs[j] = std::int8_t(v < 127 ? v : 127);
        }
        for (int j = 0; j < 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii)
                sum += b.qs[j * 16 + ii];
            b.bsums[j] = std::int16_t(sum);
        }
        b.d = 1 / iscale;
    }
}

void dequantizeRowQ8_K(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ8_K *>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        for (int j = 0; j < kQkK; ++j)
            *y++ = blocks[i].d * float(blocks[i].qs[j]);
    }
}

} // namespace QuantFit
