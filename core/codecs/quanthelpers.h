#pragma once

// Shared helpers of the reference quantizers (ggml's src/ggml-quants.c): rounding, the scale
// searches make_qx / make_q3 / make_qkx2 / make_qkx3 / make_qp, and the IQ4 codebook lookup.
// Float arithmetic follows ggml's evaluation order exactly (sequential float sums, products
// left to right); the .cpp files using these are compiled with -ffp-contract=off so that the
// output is byte-identical to ggml's reference quantizers.

#include <cstdint>
#include <cstring>
#include <limits>

namespace QuantFit::Codec {

constexpr float kGroupMaxEps = 1e-15f;

/// nearest_int(): round half to even via the 1.5 * 2^23 trick, exactly as ggml does (also for
/// out-of-range values, so that even degenerate inputs give the same bytes).
inline int nearestInt(float v)
{
    const float t = v + 12582912.0f;
    std::int32_t i;
    std::memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/// `(int8_t)v` / `(uint8_t)v` as C compilers build them for x86 (cvttss2si to int32, which gives
/// INT32_MIN for NaN and for values outside the int32 range, then the low byte), defined for every
/// input. The reference quantizers cast `x * (1/d)` this way; for ordinary blocks the value is in
/// range and this is the plain cast, but a block whose scale is subnormal has 1/d = inf, and
/// there the C cast is undefined behaviour. These give the codes llama.cpp's x86 build writes.
inline std::int32_t truncToInt32X86(float v)
{
    if (!(v >= -2147483648.0f && v < 2147483648.0f))
        return std::numeric_limits<std::int32_t>::min();
    return std::int32_t(v);
}
inline std::int8_t truncToInt8(float v)
{
    return std::int8_t(std::uint8_t(std::uint32_t(truncToInt32X86(v))));
}
inline std::uint8_t truncToUint8(float v)
{
    return std::uint8_t(std::uint32_t(truncToInt32X86(v)));
}

/// Signed max: the element with the largest |x| (first on ties); amax gets |that|.
inline float signedMax(const float *x, int n, float &amax)
{
    float max = 0;
    amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = x[i] < 0 ? -x[i] : x[i];
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    return max;
}

/// make_qx_quants with rmse_type 1: codes L = q + nmax in [0, 2 nmax). `w` null means x².
float makeQxQuants(int n, int nmax, const float *x, std::int8_t *L, const float *w);

/// make_q3_quants with do_rmse (Q3_K reference).
float makeQ3Quants(int n, int nmax, const float *x, std::int8_t *L);

/// make_qkx2_quants and make_qkx3_quants: x ~ scale * L + min, L in [0, nmax].
/// Returns the scale; `theMin` receives -min (>= 0). `w` null means x² (qkx3 only).
/// `qkx3` selects the `max <= min` degenerate test of make_qkx3_quants.
float makeQkxQuants(int n, int nmax, const float *x, const float *w, std::uint8_t *L,
                    float &theMin, float rmin, float rdelta, int nstep, bool useMad, bool qkx3);

/// make_qp_quants: non-negative values (scales, mins) to codes in [0, nmax].
float makeQpQuants(int n, int nmax, const float *x, std::uint8_t *L, const float *w);

/// The IQ4_NL codebook (ggml's kvalues_iq4nl), ascending.
inline constexpr std::int8_t kValuesIq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                 1,    13,   25,  38,  53,  69,  89,  113};

/// best_index_int8 over kValuesIq4nl: nearest entry, ties to the upper index.
inline int bestIndexIq4(float x)
{
    const std::int8_t *v = kValuesIq4nl;
    if (x <= v[0])
        return 0;
    if (x >= v[15])
        return 15;
    int lo = 0;
    int hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (x < v[mid])
            hi = mid;
        else
            lo = mid;
    }
    return x - float(v[hi - 1]) < float(v[hi]) - x ? hi - 1 : hi;
}

} // namespace QuantFit::Codec
