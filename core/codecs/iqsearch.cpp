#include "iqsearch.h"

#include "quanthelpers.h"
#include "quantsimd.h"

#include <cfloat>
#include <cmath>
#include <cstring>

// The order of every float operation below is the reference's (sums from index 0, products left
// to right); the file is compiled with -ffp-contract=off.

namespace QuantFit::Codec {

namespace {

int clampLevel(int l, int lmax)
{
    return l < 0 ? 0 : (l > lmax ? lmax : l);
}

float errorOf(const IqGridMaps &maps, int entry, const float *t, const float *r, float s)
{
    const std::uint8_t *lev = maps.levelsOf(entry);
    float err = 0;
    for (int i = 0; i < maps.groupSize; ++i) {
        const float diff = s * float(2 * lev[i] + 1) - t[i];
        err += r[i] * diff * diff;
    }
    return err;
}

// Levels of one group at inverse scale `id`: the rounded targets, or their best neighbour on
// the grid at scale `s` when they are off it. Returns whether the rounded vector was on the grid.
bool groupLevels(const IqGridMaps &maps, int lmax, float id, float s, const float *t,
                 const float *r, std::uint8_t *l)
{
    for (int i = 0; i < maps.groupSize; ++i)
        l[i] = std::uint8_t(clampLevel(nearestInt(0.5f * (id * t[i] - 1)), lmax));
    const int key = maps.keyOf(l);
    if (maps.onGrid[std::size_t(key)] >= 0)
        return true;
    const int j = iqBestNeighbour(maps, key, t, r, s);
    std::memcpy(l, maps.levelsOf(j), std::size_t(maps.groupSize));
    return false;
}

// A = sum (w t) q and Q = sum (w q) q over the sub-block, q = 2l + 1.
void sums(int n, const float *w, const float *t, const std::uint8_t *l, float &a, float &q2)
{
    a = 0;
    q2 = 0;
    for (int i = 0; i < n; ++i) {
        const float q = float(2 * l[i] + 1);
        a += w[i] * t[i] * q;
        q2 += w[i] * q * q;
    }
}

// Step 5 after the trials: the final re-fit of the best trial's groups (all, or the off-grid
// ones) at id = 1/s, then s = A/Q once more.
float refit(const IqTypeSpec &spec, const IqGridMaps &maps, int n, const float *t,
            const float *w, const float *r, float s, std::uint8_t *L, const bool *bestOn)
{
    const int e = maps.groupSize;
    const int nGroups = n / e;
    bool anyOff = false;
    for (int g = 0; g < nGroups; ++g)
        anyOff = anyOff || !bestOn[g];
    if (s > 0 && (spec.refitAlways || anyOff)) {
        const float id = 1 / s;
        for (int g = 0; g < nGroups; ++g) {
            if (spec.refitAll || !bestOn[g])
                groupLevels(maps, spec.lmax, id, s, t + g * e, r + g * e, L + g * e);
        }
        float a;
        float q2;
        sums(n, w, t, L, a, q2);
        if (q2 > 0)
            s = a / q2;
    }
    return s;
}

// Steps 4-5 for one sub-block of n values; returns s and leaves the final levels in L.
float searchSubBlock(const IqTypeSpec &spec, const IqGridMaps &maps, int n, const float *t,
                     const float *w, const float *r, float mPrime, float s, std::uint8_t *L)
{
    bool bestOn[8];
    for (int g = 0; g < n / maps.groupSize; ++g)
        bestOn[g] = spec.onGridStart;
    if (quantAvx512Enabled())
        iqTrialsAvx512(spec, maps, n, t, w, r, mPrime, s, L, bestOn);
    else if (quantSimdEnabled())
        iqTrialsAvx2(spec, maps, n, t, w, r, mPrime, s, L, bestOn);
    else
        iqTrialsPortable(spec, maps, n, t, w, r, mPrime, s, L, bestOn);
    return refit(spec, maps, n, t, w, r, s, L, bestOn);
}

} // namespace

void iqTrialsPortable(const IqTypeSpec &spec, const IqGridMaps &maps, int n, const float *t,
                      const float *w, const float *r, float mPrime, float &s, std::uint8_t *L,
                      bool *on)
{
    const int e = maps.groupSize;
    const int nGroups = n / e;
    const float p = float(2 * spec.lmax + 1);
    std::uint8_t trial[32];
    bool trialOn[8];
    float best = 0;
    for (int k = -spec.kMax; k <= spec.kMax; ++k) {
        const float id = (p + float(k) * spec.step) / mPrime;
        const float ts = 1 / id;
        for (int g = 0; g < nGroups; ++g)
            trialOn[g] = groupLevels(maps, spec.lmax, id, ts, t + g * e, r + g * e, trial + g * e);
        float a;
        float q2;
        sums(n, w, t, trial, a, q2);
        if (q2 > 0 && a * a > best * q2) {
            s = a / q2;
            best = s * a;
            std::memcpy(L, trial, std::size_t(n));
            std::memcpy(on, trialOn, sizeof(bool) * std::size_t(nGroups));
        }
    }
}

int iqBestNeighbour(const IqGridMaps &maps, int key, const float *t, const float *r, float s)
{
    if (quantAvx512Enabled())
        return iqBestNeighbourAvx512(maps, key, t, r, s);
    return quantSimdEnabled() ? iqBestNeighbourAvx2(maps, key, t, r, s)
                              : iqBestNeighbourPortable(maps, key, t, r, s);
}

int iqBestNeighbourPortable(const IqGridMaps &maps, int key, const float *t, const float *r,
                            float s)
{
    float best = FLT_MAX;
    int bestJ = -1;
    for (const std::uint16_t j : maps.neighbours(key)) {
        const float err = errorOf(maps, j, t, r, s);
        if (err < best) {
            best = err;
            bestJ = j;
        }
    }
    // Only non-finite data gets here (every error NaN or huge): any entry will do.
    for (int j = 0; bestJ < 0 && j < maps.nEntries; ++j) {
        const float err = errorOf(maps, j, t, r, s);
        if (err < best) {
            best = err;
            bestJ = j;
        }
    }
    return bestJ < 0 ? 0 : bestJ;
}

int iq1BestNeighbour(const IqGridMaps &maps, int key, const float *x, const float *w, float s,
                     const float *v)
{
    if (quantAvx512Enabled())
        return iq1BestNeighbourAvx512(maps, key, x, w, s, v);
    return quantSimdEnabled() ? iq1BestNeighbourAvx2(maps, key, x, w, s, v)
                              : iq1BestNeighbourPortable(maps, key, x, w, s, v);
}

int iq1BestNeighbourPortable(const IqGridMaps &maps, int key, const float *x, const float *w,
                             float s, const float *v)
{
    auto errorOf = [&](int j) {
        const std::uint8_t *lev = maps.levelsOf(j);
        float err = 0;
        for (int i = 0; i < 8; ++i) {
            const float diff = s * v[lev[i]] - x[i];
            err += w[i] * diff * diff;
        }
        return err;
    };
    float best = FLT_MAX;
    int bestJ = -1;
    for (const std::uint16_t j : maps.neighbours(key)) {
        const float err = errorOf(j);
        if (err < best) {
            best = err;
            bestJ = j;
        }
    }
    // As ggml: when no candidate's error is below FLT_MAX, the whole grid; entry 0 for NaNs.
    for (int j = 0; bestJ < 0 && j < maps.nEntries; ++j) {
        const float err = errorOf(j);
        if (err < best) {
            best = err;
            bestJ = j;
        }
    }
    return bestJ < 0 ? 0 : bestJ;
}

int iqGridIndex(const IqGridMaps &maps, const std::uint8_t *levels)
{
    const int j = maps.onGrid[std::size_t(maps.keyOf(levels))];
    return j < 0 ? 0 : j;
}

int iqScaleCode(float id, float s)
{
    const int l = nearestInt(0.5f * (id * s - 1));
    return l < 0 ? 0 : (l > 15 ? 15 : l);
}

void iqSearchSuperBlock(const IqTypeSpec &spec, const float *x, const float *importance,
                        IqSuperBlock &out)
{
    const IqGridMaps &maps = iqGridMaps(spec.grid);
    const int n = spec.subBlock;
    std::memset(&out, 0, sizeof out);

    // Step 1.
    float sumX2 = 0;
    for (int i = 0; i < 256; ++i)
        sumX2 += x[i] * x[i];
    const float sigma2 = spec.sigmaMul == 1 ? sumX2 / 256 : 2 * sumX2 / 256;

    float w[32];
    float r[32];
    float t[32];
    std::uint8_t qpCodes[32];
    for (int b = 0; b < 256 / n; ++b) {
        const float *xb = x + b * n;
        // Step 2.
        for (int i = 0; i < n; ++i) {
            if (importance || spec.defaultWeight == IqDefaultWeight::Ones) {
                const float imp = importance ? importance[b * n + i] : 1.0f;
                w[i] = imp * std::sqrt(sigma2 + xb[i] * xb[i]);
            } else if (spec.defaultWeight == IqDefaultWeight::QuarterSigma) {
                w[i] = 0.25f * sigma2 + xb[i] * xb[i];
            } else {
                w[i] = xb[i] * xb[i];
            }
            r[i] = std::sqrt(w[i]);
        }
        // Signs and targets.
        for (int k = 0; k < n / 8; ++k) {
            std::uint8_t mask = 0;
            for (int i = 0; i < 8; ++i) {
                const float v = xb[8 * k + i];
                if (v < 0)
                    mask |= std::uint8_t(1u << i);
                t[8 * k + i] = std::fabs(v);
            }
            if (spec.parity && (__builtin_popcount(mask) & 1)) {
                int iMin = 0;
                float min = w[8 * k] * xb[8 * k] * xb[8 * k];
                for (int i = 1; i < 8; ++i) {
                    const float ax = w[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                    if (ax < min) {
                        min = ax;
                        iMin = i;
                    }
                }
                mask ^= std::uint8_t(1u << iMin);
                t[8 * k + iMin] = -t[8 * k + iMin];
            }
            out.signs[b * n / 8 + k] = mask;
        }
        // Step 3 (levels start at 0: they are what a sub-block without an accepted trial keeps).
        std::uint8_t *L = out.levels + b * n;
        float m = t[0];
        for (int i = 1; i < n; ++i)
            m = m > t[i] ? m : t[i];
        const bool skip = spec.skipBelow > 0 ? m < spec.skipBelow : m == 0;
        if (skip) {
            out.skipped[b] = true;
            std::memset(out.signs + b * n / 8, 0, std::size_t(n / 8));
            continue;
        }
        float s = m / float(2 * spec.lmax + 1);
        float mPrime = m;
        if (spec.qpStart) {
            s = quantAvx512Enabled() ? makeQpQuantsAvx512(n, 4, t, qpCodes, w)
                                     : makeQpQuants(n, 4, t, qpCodes, w);
            mPrime = s * 3;
            if (mPrime <= 0) { // vanishing weighted sums (zero importances): treated as skipped
                out.skipped[b] = true;
                std::memset(out.signs + b * n / 8, 0, std::size_t(n / 8));
                continue;
            }
        }
        // Steps 4-5.
        s = searchSubBlock(spec, maps, n, t, w, r, mPrime, s, L);
        if (s < 0) {
            s = -s;
            for (int k = 0; k < n / 8; ++k)
                out.signs[b * n / 8 + k] = std::uint8_t(~out.signs[b * n / 8 + k]);
        }
        out.scale[b] = s;
        out.maxScale = out.maxScale > s ? out.maxScale : s;
    }
}

} // namespace QuantFit::Codec
