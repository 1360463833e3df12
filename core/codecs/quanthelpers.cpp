#include "quanthelpers.h"

#include <cmath>

// The scale searches of ggml's src/ggml-quants.c, restated; names follow ggml's, comments number
// the steps.
// Compiled with -ffp-contract=off (codecs.cmake): a fused multiply-add would change rare ties.

namespace QuantFit::Codec {

float makeQxQuants(int n, int nmax, const float *x, std::int8_t *L, const float *w)
{
    float amax;
    const float max = signedMax(x, n, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, std::size_t(n));
        return 0.f;
    }
    float iscale = float(-nmax) / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * x[i]);
        l = l < -nmax ? -nmax : (l > nmax - 1 ? nmax - 1 : l);
        L[i] = std::int8_t(l + nmax);
        const float wi = w ? w[i] : x[i] * x[i];
        sumlx += wi * x[i] * float(l);
        suml2 += wi * float(l) * float(l);
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0)
            continue;
        iscale = -(float(nmax) + 0.1f * float(is)) / max;
        sumlx = 0;
        suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * x[i]);
            l = l < -nmax ? -nmax : (l > nmax - 1 ? nmax - 1 : l);
            const float wi = w ? w[i] : x[i] * x[i];
            sumlx += wi * x[i] * float(l);
            suml2 += wi * float(l) * float(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearestInt(iscale * x[i]);
                l = l < -nmax ? -nmax : (l > nmax - 1 ? nmax - 1 : l);
                L[i] = std::int8_t(l + nmax);
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

float makeQ3Quants(int n, int nmax, const float *x, std::int8_t *L)
{
    float amax;
    const float max = signedMax(x, n, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, std::size_t(n));
        return 0.f;
    }
    const float iscale = float(-nmax) / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * x[i]);
        l = l < -nmax ? -nmax : (l > nmax - 1 ? nmax - 1 : l);
        L[i] = std::int8_t(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int nChanged = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            if (slx > 0) {
                float sl2 = suml2 - w * float(L[i]) * float(L[i]);
                int newL = nearestInt(x[i] * sl2 / slx);
                newL = newL < -nmax ? -nmax : (newL > nmax - 1 ? nmax - 1 : newL);
                if (newL != L[i]) {
                    slx += w * x[i] * float(newL);
                    sl2 += w * float(newL) * float(newL);
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = std::int8_t(newL);
                        sumlx = slx;
                        suml2 = sl2;
                        ++nChanged;
                    }
                }
            }
        }
        if (!nChanged)
            break;
    }
    for (int i = 0; i < n; ++i)
        L[i] = std::int8_t(L[i] + nmax);
    // Why the guard: the Feb-2025 code divides unguarded (0/0 -> NaN only for all-zero sums).
    return suml2 > 0 ? sumlx / suml2 : 0.f;
}

float makeQkxQuants(int n, int nmax, const float *x, const float *w, std::uint8_t *L,
                    float &theMin, float rmin, float rdelta, int nstep, bool useMad, bool qkx3)
{
    // Step 1: range and weighted sums (starting from the first term, as ggml does).
    float min = x[0];
    float max = x[0];
    float sumW = w ? w[0] : x[0] * x[0];
    float sumX = sumW * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        const float wi = w ? w[i] : x[i] * x[i];
        sumW += wi;
        sumX += wi * x[i];
    }
    if (min > 0)
        min = 0;
    if (qkx3 ? max <= min : max == min) {
        std::memset(L, 0, std::size_t(n));
        theMin = -min;
        return 0.f;
    }
    // Step 2: the plain min/max grid.
    float iscale = float(nmax) / (max - min);
    float scale = 1 / iscale;
    float bestError = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * (x[i] - min));
        l = l < 0 ? 0 : (l > nmax ? nmax : l);
        L[i] = std::uint8_t(l);
        float diff = scale * float(L[i]) + min - x[i];
        diff = useMad ? std::fabs(diff) : diff * diff;
        const float wi = w ? w[i] : x[i] * x[i];
        bestError += wi * diff;
    }
    if (nstep < 1) {
        theMin = -min;
        return scale;
    }
    // Step 4: scan grid scales, refit scale and min by weighted least squares.
    std::uint8_t Laux[256];
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
        float sumL = 0;
        float sumL2 = 0;
        float sumXL = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * (x[i] - min));
            l = l < 0 ? 0 : (l > nmax ? nmax : l);
            Laux[i] = std::uint8_t(l);
            const float wi = w ? w[i] : x[i] * x[i];
            sumL += wi * float(l);
            sumL2 += wi * float(l) * float(l);
            sumXL += wi * float(l) * x[i];
        }
        const float D = sumW * sumL2 - sumL * sumL;
        if (D > 0) {
            float thisScale = (sumW * sumXL - sumX * sumL) / D;
            float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
            if (thisMin > 0) {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float curError = 0;
            for (int i = 0; i < n; ++i) {
                float diff = thisScale * float(Laux[i]) + thisMin - x[i];
                diff = useMad ? std::fabs(diff) : diff * diff;
                const float wi = w ? w[i] : x[i] * x[i];
                curError += wi * diff;
            }
            if (curError < bestError) {
                std::memcpy(L, Laux, std::size_t(n));
                bestError = curError;
                scale = thisScale;
                min = thisMin;
            }
        }
    }
    theMin = -min;
    return scale;
}

float makeQpQuants(int n, int nmax, const float *x, std::uint8_t *L, const float *w)
{
    float max = 0;
    for (int i = 0; i < n; ++i)
        max = max > x[i] ? max : x[i];
    if (max < kGroupMaxEps) {
        std::memset(L, 0, std::size_t(n));
        return 0.f;
    }
    // Step 2. L is uint8 as in ggml: (rare) negative inputs wrap the same way.
    float iscale = float(nmax) / max;
    for (int i = 0; i < n; ++i)
        L[i] = std::uint8_t(nearestInt(iscale * x[i]));
    const float scale = 1 / iscale;
    float bestMse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * float(L[i]);
        bestMse += w[i] * diff * diff;
    }
    // Step 3.
    for (int is = -4; is <= 4; ++is) {
        if (is == 0)
            continue;
        const float iscaleIs = (0.1f * float(is) + float(nmax)) / max;
        const float scaleIs = 1 / iscaleIs;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscaleIs * x[i]);
            l = l < nmax ? l : nmax;
            const float diff = x[i] - scaleIs * float(l);
            mse += w[i] * diff * diff;
        }
        if (mse < bestMse) {
            bestMse = mse;
            iscale = iscaleIs;
        }
    }
    // Step 4.
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = std::uint8_t(l);
        sumlx += w[i] * x[i] * float(l);
        suml2 += w[i] * float(l) * float(l);
    }
    // Step 5.
    for (int itry = 0; itry < 5; ++itry) {
        int nChanged = 0;
        for (int i = 0; i < n; ++i) {
            float slx = sumlx - w[i] * x[i] * float(L[i]);
            float sl2 = suml2 - w[i] * float(L[i]) * float(L[i]);
            if (slx > 0 && sl2 > 0) {
                int newL = nearestInt(x[i] * sl2 / slx);
                newL = newL < nmax ? newL : nmax;
                if (newL != L[i]) {
                    slx += w[i] * x[i] * float(newL);
                    sl2 += w[i] * float(newL) * float(newL);
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = std::uint8_t(newL);
                        sumlx = slx;
                        suml2 = sl2;
                        ++nChanged;
                    }
                }
            }
        }
        if (!nChanged)
            break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

} // namespace QuantFit::Codec
