#include "quanthelpers.h"
#include "quantsimd.h"

// AVX-512 versions of the scale searches of quanthelpers.h, bit-identical to the scalar ones:
// every float is computed with the scalar operations in the scalar order (no "fma" in the
// target, -ffp-contract=off), only independent trials side by side.

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <cstring>

// GCC 12's AVX-512 headers build "undefined" operands from self-initialised variables, which
// -Wuninitialized reports in every caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define QF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,bmi,popcnt")))

namespace QuantFit::Codec {

namespace {

QF_AVX512 inline __m512i nearestInt16(__m512 v)
{
    const __m512i t = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12582912.0f)));
    return _mm512_sub_epi32(_mm512_and_si512(t, _mm512_set1_epi32(0x007fffff)),
                            _mm512_set1_epi32(0x00400000));
}

} // namespace

// Steps 2 and 3 run side by side: lane 0 is the first guess (codes wrapped to a byte, as the
// scalar code stores them), lanes 1..8 the trial scales is = -4..-1, 1..4 (codes clamped to
// nmax). Step 5's passes evaluate every remaining element against the current sums at once;
// the first element whose change would be accepted is applied exactly as the scalar pass does,
// and the elements after it are evaluated again with the new sums.
QF_AVX512 float makeQpQuantsAvx512(int n, int nmax, const float *x, std::uint8_t *L,
                                   const float *w)
{
    float max = 0;
    for (int i = 0; i < n; ++i)
        max = max > x[i] ? max : x[i];
    if (max < kGroupMaxEps) {
        std::memset(L, 0, std::size_t(n));
        return 0.f;
    }
    alignas(64) float iscales[16];
    alignas(64) float mses[16];
    iscales[0] = float(nmax) / max;
    for (int j = 1, is = -4; j <= 8; ++j, ++is) {
        if (is == 0)
            ++is;
        iscales[j] = (0.1f * float(is) + float(nmax)) / max;
    }
    for (int j = 9; j < 16; ++j)
        iscales[j] = iscales[0];
    const __m512 iscale = _mm512_load_ps(iscales);
    const __m512 scale = _mm512_div_ps(_mm512_set1_ps(1.0f), iscale);
    const __m512i vmax = _mm512_set1_epi32(nmax);
    // Lane 0 wraps to a byte, the others clamp at nmax.
    const __m512i wrapLane = _mm512_setr_epi32(255, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                               -1, -1, -1, -1);
    const __m512i clampLane = _mm512_setr_epi32(0x7fffffff, nmax, nmax, nmax, nmax, nmax, nmax,
                                                nmax, nmax, nmax, nmax, nmax, nmax, nmax, nmax,
                                                nmax);
    __m512 mse = _mm512_setzero_ps();
    for (int i = 0; i < n; ++i) {
        const __m512 xi = _mm512_set1_ps(x[i]);
        __m512i l = nearestInt16(_mm512_mul_ps(iscale, xi));
        l = _mm512_min_epi32(_mm512_and_si512(l, wrapLane), clampLane);
        const __m512 diff = _mm512_sub_ps(xi, _mm512_mul_ps(scale, _mm512_cvtepi32_ps(l)));
        mse = _mm512_add_ps(mse, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(w[i]), diff), diff));
    }
    _mm512_store_ps(mses, mse);
    float bestMse = mses[0];
    float best = iscales[0];
    for (int j = 1; j <= 8; ++j) {
        if (mses[j] < bestMse) {
            bestMse = mses[j];
            best = iscales[j];
        }
    }
    // Step 4.
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(best * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = std::uint8_t(l);
        sumlx += w[i] * x[i] * float(l);
        suml2 += w[i] * float(l) * float(l);
    }
    // Step 5, up to 32 elements in two vectors.
    const int nVec = (n + 15) / 16;
    __m512 vx[2], vw[2], vwx[2];
    __mmask16 valid[2];
    for (int h = 0; h < nVec; ++h) {
        valid[h] = n - 16 * h >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - 16 * h)) - 1);
        vx[h] = _mm512_maskz_loadu_ps(valid[h], x + 16 * h);
        vw[h] = _mm512_maskz_loadu_ps(valid[h], w + 16 * h);
        vwx[h] = _mm512_mul_ps(vw[h], vx[h]);
    }
    alignas(64) std::int32_t newL[32];
    alignas(64) float newSlx[32];
    alignas(64) float newSl2[32];
    const __m512 zero = _mm512_setzero_ps();
    for (int itry = 0; itry < 5; ++itry) {
        int nChanged = 0;
        for (int from = 0; from < n;) {
            const __m512 vSumlx = _mm512_set1_ps(sumlx);
            const __m512 vSuml2 = _mm512_set1_ps(suml2);
            std::uint32_t accept = 0;
            for (int h = 0; h < nVec; ++h) {
                if (16 * h + 16 <= from)
                    continue;
                const __m512i li = _mm512_cvtepu8_epi32(
                    _mm_maskz_loadu_epi8(valid[h], L + 16 * h));
                const __m512 lf = _mm512_cvtepi32_ps(li);
                const __m512 slx = _mm512_sub_ps(vSumlx, _mm512_mul_ps(vwx[h], lf));
                const __m512 sl2 =
                    _mm512_sub_ps(vSuml2, _mm512_mul_ps(_mm512_mul_ps(vw[h], lf), lf));
                __mmask16 m = _mm512_mask_cmp_ps_mask(valid[h], slx, zero, _CMP_GT_OQ);
                m = _mm512_mask_cmp_ps_mask(m, sl2, zero, _CMP_GT_OQ);
                const __m512i nl = _mm512_min_epi32(
                    nearestInt16(_mm512_div_ps(_mm512_mul_ps(vx[h], sl2), slx)), vmax);
                m = _mm512_mask_cmpneq_epi32_mask(m, nl, li);
                const __m512 nlf = _mm512_cvtepi32_ps(nl);
                const __m512 slx2 = _mm512_add_ps(slx, _mm512_mul_ps(vwx[h], nlf));
                const __m512 sl22 =
                    _mm512_add_ps(sl2, _mm512_mul_ps(_mm512_mul_ps(vw[h], nlf), nlf));
                m = _mm512_mask_cmp_ps_mask(
                    m, _mm512_mul_ps(_mm512_mul_ps(slx2, slx2), vSuml2),
                    _mm512_mul_ps(_mm512_mul_ps(vSumlx, vSumlx), sl22), _CMP_GT_OQ);
                _mm512_store_si512(newL + 16 * h, nl);
                _mm512_store_ps(newSlx + 16 * h, slx2);
                _mm512_store_ps(newSl2 + 16 * h, sl22);
                accept |= std::uint32_t(m) << (16 * h);
            }
            accept &= from >= 32 ? 0u : ~0u << from;
            if (!accept)
                break;
            const int i = __builtin_ctz(accept);
            L[i] = std::uint8_t(newL[i]);
            sumlx = newSlx[i];
            suml2 = newSl2[i];
            ++nChanged;
            from = i + 1;
        }
        if (!nChanged)
            break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

} // namespace QuantFit::Codec

#else

namespace QuantFit::Codec {

float makeQpQuantsAvx512(int n, int nmax, const float *x, std::uint8_t *L, const float *w)
{
    return makeQpQuants(n, nmax, x, L, w);
}

} // namespace QuantFit::Codec

#endif
