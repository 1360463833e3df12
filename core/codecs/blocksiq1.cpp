#include "blocksiq1.h"

#include "iqgrids.h"
#include "iqsearch.h"
#include "iqtables.h"
#include "quanthelpers.h"
#include "quantsimd.h"

#include "util/fp16.h"

#include <cfloat>
#include <cmath>
#include <cstring>

// Quantizers after ggml-org/ggml: src/ggml-quants.c (quantize_row_iq1_s_impl,
// quantize_row_iq1_m_impl) as of llama.cpp b10472, whose degenerate cases are defined: a skipped
// sub-block (tiny values, or all weights zero) gets code 0 and the +0.125 shift. Float operations
// keep the reference's order; the file is compiled with -ffp-contract=off.

namespace QuantFit {

using namespace Codec;

namespace {

const float *const kPlus = kIq1Plus;
const float *const kMinus = kIq1Minus;

// Super-block weights: imp * sqrt(sigma2 + x^2) with sigma2 = 2 * sum(x^2) / 256, or x^2.
void superBlockWeights(const float *x, const float *importance, bool squareDefault, float *w)
{
    float sumX2 = 0;
    for (int i = 0; i < 256; ++i)
        sumX2 += x[i] * x[i];
    const float sigma2 = 2 * sumX2 / 256;
    for (int i = 0; i < 256; ++i) {
        if (!importance && squareDefault)
            w[i] = x[i] * x[i];
        else
            w[i] = (importance ? importance[i] : 1.0f) * std::sqrt(sigma2 + x[i] * x[i]);
    }
}

float maxAbs(const float *x, int n)
{
    float m = std::fabs(x[0]);
    for (int i = 1; i < n; ++i) {
        const float a = std::fabs(x[i]);
        m = m > a ? m : a;
    }
    return m;
}

void sortedPositions(const float *x, int n, int *order)
{
    if (quantAvx512Enabled())
        iq1SortedPositionsAvx512(x, n, order);
    else
        iq1SortedPositions(x, n, order);
}

// Grid index of group levels l[8] under the value table v: on the grid as is, else the best
// neighbour (l then takes its levels). Sets `off` when the group was off the grid.
int groupIndex(const IqGridMaps &maps, std::uint8_t *l, const float *x, const float *w, float s,
               const float *v, bool &off)
{
    const int key = maps.keyOf(l);
    const int j = maps.onGrid[std::size_t(key)];
    if (j >= 0)
        return j;
    off = true;
    const int nb = iq1BestNeighbour(maps, key, x, w, s, v);
    std::memcpy(l, maps.levelsOf(nb), 8);
    return nb;
}

void splitLevels(const int *order, int n, int i1, int i2, std::uint8_t *l)
{
    for (int j = 0; j < n; ++j)
        l[order[j]] = std::uint8_t(j < i1 ? 0 : (j < i2 ? 1 : 2));
}

int scaleCode3(float id, float s)
{
    const int l = nearestInt(0.5f * (id * s - 1));
    return l < 0 ? 0 : (l > 7 ? 7 : l);
}

} // namespace

namespace Codec {

void iq1SortedPositions(const float *x, int n, int *order)
{
    for (int i = 0; i < n; ++i) {
        int j = i;
        while (j > 0 && x[order[j - 1]] > x[i]) {
            order[j] = order[j - 1];
            --j;
        }
        order[j] = i;
    }
}

Iq1mSplit iq1sBestSplitPortable(const float *sumX, const float *sumW)
{
    Iq1mSplit best{0, -1, 0, 0};
    float bestScore = -FLT_MAX;
    for (int i1 = 0; i1 <= 32; ++i1) {
        for (int i2 = i1; i2 <= 32; ++i2) {
            const float a = sumX[i1] - sumX[0];
            const float bx = sumX[i2] - sumX[i1];
            const float c = sumX[32] - sumX[i2];
            const float wa = sumW[i1] - sumW[0];
            const float wb = sumW[i2] - sumW[i1];
            const float wc = sumW[32] - sumW[i2];
            for (int shift = 0; shift < 2; ++shift) {
                const float *v = shift ? kMinus : kPlus;
                const float num = a * v[0] + bx * v[1] + c * v[2];
                const float den = wa * v[0] * v[0] + wb * v[1] * v[1] + wc * v[2] * v[2];
                if (den > 0 && num * num > bestScore * den) {
                    best = {num / den, i1, i2, shift};
                    bestScore = best.s * num;
                }
            }
        }
    }
    return best;
}

Iq1mSplit iq1mBestSplitPortable(const float *x, const float *w, const int *order)
{
    Iq1mSplit best{0, -1, 0, 0};
    float bestScore = -FLT_MAX;
    for (int i1 = 0; i1 <= 16; ++i1) {
        for (int i2 = i1; i2 <= 16; ++i2) {
            float num[4] = {0, 0, 0, 0};
            float den[4] = {0, 0, 0, 0};
            for (int j = 0; j < 16; ++j) {
                const int e = order[j];
                const int l = j < i1 ? 0 : (j < i2 ? 1 : 2);
                for (int k = 0; k < 4; ++k) {
                    const float v = iq1mTable(k, e >= 8)[l];
                    num[k] += w[e] * v * x[e];
                    den[k] += w[e] * v * v;
                }
            }
            for (int k = 0; k < 4; ++k) {
                if (den[k] > 0 && num[k] * num[k] > bestScore * den[k]) {
                    best = {num[k] / den[k], i1, i2, k};
                    bestScore = best.s * num[k];
                }
            }
        }
    }
    return best;
}

} // namespace Codec

void quantizeRowIq1S(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    const IqGridMaps &maps = iqGridMaps(IqGrid::Iq1s);
    float weights[256];
    for (std::int64_t ibl = 0; ibl < n / 256; ++ibl, x += 256, dst += sizeof(BlockIq1S)) {
        BlockIq1S blk{};
        superBlockWeights(x, importance ? importance + 256 * ibl : nullptr, false, weights);
        float scales[8] = {};
        bool minus[8] = {};
        float maxScale = 0;
        for (int b = 0; b < 8; ++b) {
            const float *xb = x + 32 * b;
            const float *w = weights + 32 * b;
            if (maxAbs(xb, 32) < 1e-12f)
                continue;
            int order[32];
            sortedPositions(xb, 32, order);
            float sumX[33];
            float sumW[33];
            sumX[0] = 0;
            sumW[0] = 0;
            for (int j = 0; j < 32; ++j) {
                sumX[j + 1] = sumX[j] + w[order[j]] * xb[order[j]];
                sumW[j + 1] = sumW[j] + w[order[j]];
            }
            // Every three-way split of the sorted values, with each shift.
            const Iq1mSplit split = quantAvx512Enabled() ? iq1sBestSplitAvx512(sumX, sumW)
                : quantSimdEnabled()                       ? iq1sBestSplitAvx2(sumX, sumW)
                                                           : iq1sBestSplitPortable(sumX, sumW);
            if (split.i1 < 0) // all weights zero: skipped
                continue;
            float s = split.s;
            bool bestMinus = split.k == 1;
            std::uint8_t l[32];
            splitLevels(order, 32, split.i1, split.i2, l);
            if (s < 0) {
                for (auto &v : l)
                    v = std::uint8_t(2 - v);
                s = -s;
                bestMinus = !bestMinus;
            }
            const float *v = bestMinus ? kMinus : kPlus;
            bool off = false;
            std::uint16_t qh = 0;
            for (int g = 0; g < 4; ++g) {
                const int index = groupIndex(maps, l + 8 * g, xb + 8 * g, w + 8 * g, s, v, off);
                blk.qs[4 * b + g] = std::uint8_t(index & 255);
                qh |= std::uint16_t((index >> 8) << (3 * g));
            }
            if (off) {
                float num = 0;
                float den = 0;
                for (int i = 0; i < 32; ++i) {
                    num += w[i] * v[l[i]] * xb[i];
                    den += w[i] * v[l[i]] * v[l[i]];
                }
                if (num > 0 && den > 0)
                    s = num / den;
            }
            blk.qh[b] = qh;
            scales[b] = s;
            minus[b] = bestMinus;
            maxScale = maxScale > s ? maxScale : s;
        }
        if (maxScale != 0) {
            const float d = maxScale / 15;
            blk.d = fp32ToFp16(d * 1.125f);
            const float id = 1 / d;
            for (int b = 0; b < 8; ++b) {
                const int code = scaleCode3(id, scales[b]) | (minus[b] ? 8 : 0);
                blk.qh[b] = std::uint16_t(blk.qh[b] | (code << 12));
            }
        }
        std::memcpy(dst, &blk, sizeof blk);
    }
}

void quantizeRowIq1M(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    const IqGridMaps &maps = iqGridMaps(IqGrid::Iq1s);
    // Shift pattern k: group 0 takes the minus table when k >= 2, group 1 when k is odd.
    static constexpr std::uint8_t kShiftMask[4] = {0x00, 0x80, 0x08, 0x88};
    auto table = iq1mTable;
    float weights[256];
    for (std::int64_t ibl = 0; ibl < n / 256; ++ibl, x += 256, dst += sizeof(BlockIq1M)) {
        BlockIq1M blk{};
        superBlockWeights(x, importance ? importance + 256 * ibl : nullptr, true, weights);
        float scales[16] = {};
        int shifts[16] = {};
        float maxScale = 0;
        for (int b = 0; b < 16; ++b) {
            const float *xb = x + 16 * b;
            const float *w = weights + 16 * b;
            if (maxAbs(xb, 16) < 1e-7f)
                continue;
            int order[16];
            sortedPositions(xb, 16, order);
            const Iq1mSplit split = quantAvx512Enabled() ? iq1mBestSplitAvx512(xb, w, order)
                : quantSimdEnabled()                       ? iq1mBestSplitAvx2(xb, w, order)
                                                           : iq1mBestSplitPortable(xb, w, order);
            if (split.i1 < 0) // all weights zero: skipped
                continue;
            float s = split.s;
            const int bestI1 = split.i1;
            const int bestI2 = split.i2;
            int bestK = split.k;
            std::uint8_t l[16];
            splitLevels(order, 16, bestI1, bestI2, l);
            if (s < 0) {
                for (auto &v : l)
                    v = std::uint8_t(2 - v);
                s = -s;
                bestK = 3 - bestK;
            }
            bool off = false;
            int index[2];
            for (int g = 0; g < 2; ++g)
                index[g] = groupIndex(maps, l + 8 * g, xb + 8 * g, w + 8 * g, s,
                                      table(bestK, g), off);
            if (off) {
                float num = 0;
                float den = 0;
                for (int i = 0; i < 16; ++i) {
                    const float *v = table(bestK, i >= 8);
                    num += w[i] * v[l[i]] * xb[i];
                    den += w[i] * v[l[i]] * v[l[i]];
                }
                if (num > 0 && den > 0)
                    s = num / den;
            }
            blk.qs[2 * b] = std::uint8_t(index[0] & 255);
            blk.qs[2 * b + 1] = std::uint8_t(index[1] & 255);
            blk.qh[b] = std::uint8_t((index[0] >> 8) | ((index[1] >> 8) << 4));
            scales[b] = s;
            shifts[b] = bestK;
            maxScale = maxScale > s ? maxScale : s;
        }
        if (maxScale == 0) {
            std::memcpy(dst, &blk, sizeof blk); // all zero
            continue;
        }
        // Codes, then a least-squares super-scale over all 256 values given the codes (skipped
        // sub-blocks included: they decode as grid entry 0 with code 0 and the plus shift).
        float d = maxScale / 15;
        const float id = 1 / d;
        float num = 0;
        float den = 0;
        for (int b = 0; b < 16; ++b) {
            const int code = scaleCode3(id, scales[b]);
            blk.scales[b / 4] = std::uint16_t(blk.scales[b / 4] | (code << (3 * (b % 4))));
            blk.qh[b] |= kShiftMask[shifts[b]];
            const float mul = float(2 * code + 1);
            for (int g = 0; g < 2; ++g) {
                const float *v = table(shifts[b], g);
                const int index = blk.qs[2 * b + g] | (((blk.qh[b] >> (4 * g)) & 7) << 8);
                const std::uint8_t *lev = maps.levelsOf(index);
                for (int i = 0; i < 8; ++i) {
                    const int e = 16 * b + 8 * g + i;
                    const float q = v[lev[i]] * mul;
                    num += weights[e] * q * x[e];
                    den += weights[e] * q * q;
                }
            }
        }
        if (den > 0)
            d = num / den;
        const std::uint16_t u = fp32ToFp16(d * 1.1125f);
        for (int j = 0; j < 4; ++j)
            blk.scales[j] = std::uint16_t(blk.scales[j] | (((u >> (4 * j)) & 15) << 12));
        std::memcpy(dst, &blk, sizeof blk);
    }
}

void dequantizeRowIq1S(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq1S *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq1S &blk = blocks[i];
        const float d = fp16ToFp32(blk.d);
        for (int b = 0; b < 8; ++b) {
            const std::uint16_t qh = blk.qh[b];
            const float dl = d * float(2 * ((qh >> 12) & 7) + 1);
            const float delta = qh & 0x8000 ? -0.125f : 0.125f;
            for (int g = 0; g < 4; ++g, y += 8) {
                const int index = blk.qs[4 * b + g] | (((qh >> (3 * g)) & 7) << 8);
                const std::uint64_t entry = kIq1sGrid[index];
                for (int j = 0; j < 8; ++j)
                    y[j] = dl * (float(std::int8_t(gridByte(entry, j))) + delta);
            }
        }
    }
}

void dequantizeRowIq1M(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq1M *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq1M &blk = blocks[i];
        const float d = fp16ToFp32(iq1mScaleBits(blk));
        for (int b = 0; b < 16; ++b) {
            const int code = (blk.scales[b / 4] >> (3 * (b % 4))) & 7;
            const float dl = d * float(2 * code + 1);
            const std::uint8_t qh = blk.qh[b];
            for (int g = 0; g < 2; ++g, y += 8) {
                const int bits = qh >> (4 * g);
                const float delta = bits & 8 ? -0.125f : 0.125f;
                const std::uint64_t entry = kIq1sGrid[blk.qs[2 * b + g] | ((bits & 7) << 8)];
                for (int j = 0; j < 8; ++j)
                    y[j] = dl * (float(std::int8_t(gridByte(entry, j))) + delta);
            }
        }
    }
}

} // namespace QuantFit
