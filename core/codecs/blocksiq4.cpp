#include "blocksiq4.h"

#include "quanthelpers.h"
#include "quantsimd.h"

#include "util/fp16.h"

#include <cmath>
#include <cstring>

// ggml's quantize_row_iq4_nl_impl (src/ggml-quants.c): the search llama-quantize runs (ntry = 7)
// for both types, with weights x^2 or imp * sqrt(sigma2 + x^2), sigma2 = 2 * (sum of x^2 over the
// (super-)block) / size.

namespace QuantFit {

using namespace Codec;

namespace {

constexpr int kNtry = 7;
const std::int8_t *const kV = kValuesIq4nl;

// IQ4_NL steps 2-4 on one 32-element block: the float scale (0 for an all-zero block).
float searchScale(const float *xb, const float *w)
{
    float amax;
    const float max = signedMax(xb, 32, amax);
    if (amax < kGroupMaxEps)
        return 0;
    float d = -max / float(kV[0]);
    float id = 1 / d;
    float sumqx = 0;
    float sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
        const float q = kV[bestIndexIq4(id * xb[j])];
        sumqx += w[j] * q * xb[j];
        sumq2 += w[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -kNtry; itry <= kNtry; ++itry) {
        id = float(itry + kV[0]) / max;
        sumqx = 0;
        sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            const float q = kV[bestIndexIq4(id * xb[j])];
            sumqx += w[j] * q * xb[j];
            sumq2 += w[j] * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

void blockWeights(const float *xb, const float *qw, float sigma2, float *w)
{
    for (int j = 0; j < 32; ++j)
        w[j] = qw ? qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
}

float sigma2Of(const float *x, int n)
{
    float s = 0;
    for (int j = 0; j < n; ++j)
        s += x[j] * x[j];
    return s * (2.f / float(n));
}

void packIndices(const float *xb, float id, std::uint8_t *qs)
{
    std::uint8_t L[32];
    for (int j = 0; j < 32; ++j)
        L[j] = std::uint8_t(bestIndexIq4(id * xb[j]));
    for (int j = 0; j < 16; ++j)
        qs[j] = std::uint8_t(L[j] | (L[j + 16] << 4));
}

} // namespace

void quantizeRowIq4Nl(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    auto *y = reinterpret_cast<BlockIq4Nl *>(dst);
    float w[256];
    std::int64_t i = 0;
    if (quantSimdEnabled()) {
        // Eight blocks side by side in SIMD lanes (same results as the scalar loop below).
        float xT[256];
        float wT[256];
        float d[8];
        float id[8];
        std::uint8_t LT[256];
        for (; i + 8 <= n / 32; i += 8, x += 256) {
            for (int b = 0; b < 8; ++b) {
                const float *qw = importance ? importance + 32 * (i + b) : nullptr;
                blockWeights(x + 32 * b, qw, qw ? sigma2Of(x + 32 * b, 32) : 0.f, w + 32 * b);
            }
            toLanes(x, 32, 32, xT);
            toLanes(w, 32, 32, wT);
            iq4SearchScale8(xT, wT, d);
            for (int b = 0; b < 8; ++b) {
                y[i + b].d = fp32ToFp16(d[b]);
                id[b] = d[b] != 0 ? 1 / d[b] : 0.f;
            }
            iq4Indices8(xT, id, LT);
            for (int b = 0; b < 8; ++b) {
                for (int j = 0; j < 16; ++j)
                    y[i + b].qs[j] = std::uint8_t(LT[8 * j + b] | (LT[8 * (j + 16) + b] << 4));
            }
        }
    }
    for (; i < n / 32; ++i, x += 32) {
        const float *qw = importance ? importance + 32 * i : nullptr;
        blockWeights(x, qw, qw ? sigma2Of(x, 32) : 0.f, w);
        const float d = searchScale(x, w);
        y[i].d = fp32ToFp16(d);
        // Step 5: final indices from the float d.
        packIndices(x, d != 0 ? 1 / d : 0.f, y[i].qs);
    }
}

void quantizeRowIq4Xs(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    auto *y = reinterpret_cast<BlockIq4Xs *>(dst);
    const bool simd = quantSimdEnabled();
    float w[256];
    float xT[256];
    float wT[256];
    float scales[8];
    for (std::int64_t i = 0; i < n / 256; ++i, x += 256) {
        BlockIq4Xs &b = y[i];
        const float sigma2 = sigma2Of(x, 256);
        for (int ib = 0; ib < 8; ++ib) {
            const float *qw = importance ? importance + 256 * i + 32 * ib : nullptr;
            blockWeights(x + 32 * ib, qw, sigma2, w + 32 * ib);
        }
        if (simd) {
            toLanes(x, 32, 32, xT);
            toLanes(w, 32, 32, wT);
            iq4SearchScale8(xT, wT, scales);
        } else {
            for (int ib = 0; ib < 8; ++ib)
                scales[ib] = searchScale(x + 32 * ib, w + 32 * ib);
        }
        float maxScale = 0;
        float amaxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float a = std::fabs(scales[ib]);
            if (a > amaxScale) {
                amaxScale = a;
                maxScale = scales[ib];
            }
        }
        // Steps 3-4. Why -maxScale / 32 even when 0: ggml stores h(-0.0) = 0x8000 for an
        // all-zero super-block, and we keep byte identity.
        const float d = -maxScale / 32;
        b.d = fp32ToFp16(d);
        const float id = d != 0 ? 1 / d : 0.f;
        b.scalesH = 0;
        std::memset(b.scalesL, 0, 4);
        float idl[8];
        for (int ib = 0; ib < 8; ++ib) {
            int l = nearestInt(id * scales[ib]);
            l = l < -32 ? -32 : (l > 31 ? 31 : l);
            const float dl = d * float(l);
            idl[ib] = dl != 0 ? 1 / dl : 0.f;
            if (!simd)
                packIndices(x + 32 * ib, idl[ib], b.qs + 16 * ib);
            l += 32;
            b.scalesL[ib / 2] |= std::uint8_t((l & 0xF) << (4 * (ib % 2)));
            b.scalesH |= std::uint16_t((l >> 4) << (2 * ib));
        }
        if (simd) {
            std::uint8_t LT[256];
            iq4Indices8(xT, idl, LT);
            for (int ib = 0; ib < 8; ++ib) {
                for (int j = 0; j < 16; ++j)
                    b.qs[16 * ib + j] = std::uint8_t(LT[8 * j + ib] | (LT[8 * (j + 16) + ib] << 4));
            }
        }
    }
}

void dequantizeRowIq4Nl(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowIq4NlAvx2(src, y, n);
    const auto *blocks = reinterpret_cast<const BlockIq4Nl *>(src);
    for (std::int64_t i = 0; i < n / 32; ++i, y += 32) {
        const float d = fp16ToFp32(blocks[i].d);
        for (int j = 0; j < 16; ++j) {
            y[j] = d * float(kV[blocks[i].qs[j] & 0xF]);
            y[j + 16] = d * float(kV[blocks[i].qs[j] >> 4]);
        }
    }
}

void dequantizeRowIq4Xs(const std::uint8_t *src, float *y, std::int64_t n)
{
    if (Codec::quantSimdEnabled())
        return Codec::dequantizeRowIq4XsAvx2(src, y, n);
    const auto *blocks = reinterpret_cast<const BlockIq4Xs *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq4Xs &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        for (int ib = 0; ib < 8; ++ib, y += 32) {
            const float dl = d * float(iq4xsScale(b, ib));
            const std::uint8_t *qs = b.qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * float(kV[qs[j] & 0xF]);
                y[j + 16] = dl * float(kV[qs[j] >> 4]);
            }
        }
    }
}

} // namespace QuantFit
