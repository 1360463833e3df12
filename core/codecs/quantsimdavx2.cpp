#include "quantsimd.h"

#include "quanthelpers.h"
#include "quantkernels.h"

#include "util/cpufeatures.h"
#include "util/fp16.h"

#include <atomic>
#include <cstring>

// AVX2 lane-parallel searches. No "fma" in the target and -ffp-contract=off (codecs.cmake):
// every multiply and add must round separately, exactly as in the scalar reference.

namespace QuantFit {

namespace {
std::atomic<QuantizePath> g_path{QuantizePath::Auto};
}

void setQuantizePath(QuantizePath path)
{
    g_path.store(path, std::memory_order_relaxed);
}

} // namespace QuantFit

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define QF_AVX2 __attribute__((target("avx2")))

namespace QuantFit::Codec {

bool quantSimdEnabled()
{
    // F16C for the F16 dequantizer (dequantavx2.cpp); every AVX2 CPU has it in practice.
    static const bool has = cpuFeatures().avx2 && cpuFeatures().f16c;
    return has && g_path.load(std::memory_order_relaxed) != QuantizePath::Portable;
}

bool cpuHasQuantAvx512()
{
    static const bool has = cpuFeatures().avx2 && cpuFeatures().f16c && cpuFeatures().avx512;
    return has;
}

bool quantAvx512Enabled()
{
    return cpuHasQuantAvx512() && g_path.load(std::memory_order_relaxed) == QuantizePath::Auto;
}

namespace {

// nearest_int() on 8 lanes: the same 1.5 * 2^23 bit trick.
QF_AVX2 inline __m256i nearestInt8(__m256 v)
{
    const __m256i t = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.0f)));
    return _mm256_sub_epi32(_mm256_and_si256(t, _mm256_set1_epi32(0x007fffff)),
                            _mm256_set1_epi32(0x00400000));
}

QF_AVX2 inline __m256i clampI(__m256i v, int lo, int hi)
{
    return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(lo)), _mm256_set1_epi32(hi));
}

QF_AVX2 inline __m256 absPs(__m256 v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

QF_AVX2 inline __m256 blend(__m256 a, __m256 b, __m256 takeB)
{
    return _mm256_blendv_ps(a, b, takeB);
}

QF_AVX2 inline __m256i blendI(__m256i a, __m256i b, __m256 takeB)
{
    return _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), takeB));
}

// Signed max per lane: the first value with the largest |x| (strict >).
QF_AVX2 inline void signedMax8(const float *xT, int n, __m256 &max, __m256 &amax)
{
    max = _mm256_setzero_ps();
    amax = _mm256_setzero_ps();
    for (int i = 0; i < n; ++i) {
        const __m256 x = _mm256_loadu_ps(xT + 8 * i);
        const __m256 ax = absPs(x);
        const __m256 upd = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
        amax = blend(amax, ax, upd);
        max = blend(max, x, upd);
    }
}

QF_AVX2 void storeLanesU8(const __m256i *L, int n, std::uint8_t *LT)
{
    alignas(32) std::int32_t tmp[8];
    for (int i = 0; i < n; ++i) {
        _mm256_store_si256(reinterpret_cast<__m256i *>(tmp), L[i]);
        for (int k = 0; k < 8; ++k)
            LT[8 * i + k] = std::uint8_t(tmp[k]);
    }
}

} // namespace

QF_AVX2 void makeQkxQuants8(int n, int nmax, const float *xT, const float *wT, std::uint8_t *LT,
                            float *scaleOut, float *theMinOut, float rmin, float rdelta, int nstep,
                            bool useMad, bool qkx3)
{
    __m256i L[32];
    __m256i Laux[32];
    // Step 1.
    __m256 min = _mm256_loadu_ps(xT);
    __m256 max = min;
    __m256 sumW = _mm256_loadu_ps(wT);
    __m256 sumX = _mm256_mul_ps(sumW, min);
    for (int i = 1; i < n; ++i) {
        const __m256 x = _mm256_loadu_ps(xT + 8 * i);
        const __m256 w = _mm256_loadu_ps(wT + 8 * i);
        min = blend(min, x, _mm256_cmp_ps(x, min, _CMP_LT_OQ));
        max = blend(max, x, _mm256_cmp_ps(x, max, _CMP_GT_OQ));
        sumW = _mm256_add_ps(sumW, w);
        sumX = _mm256_add_ps(sumX, _mm256_mul_ps(w, x));
    }
    const __m256 zero = _mm256_setzero_ps();
    min = blend(min, zero, _mm256_cmp_ps(min, zero, _CMP_GT_OQ));
    const __m256 degenerate = qkx3 ? _mm256_cmp_ps(max, min, _CMP_LE_OQ)
                                   : _mm256_cmp_ps(max, min, _CMP_EQ_OQ);
    const __m256 degenerateMin = min; // the_min of degenerate lanes is -min of step 1
    // Step 2.
    const __m256 nmaxF = _mm256_set1_ps(float(nmax));
    __m256 iscale = _mm256_div_ps(nmaxF, _mm256_sub_ps(max, min));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
    __m256 bestError = zero;
    for (int i = 0; i < n; ++i) {
        const __m256 x = _mm256_loadu_ps(xT + 8 * i);
        const __m256 w = _mm256_loadu_ps(wT + 8 * i);
        L[i] = clampI(nearestInt8(_mm256_mul_ps(iscale, _mm256_sub_ps(x, min))), 0, nmax);
        __m256 diff = _mm256_sub_ps(
            _mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(L[i])), min), x);
        diff = useMad ? absPs(diff) : _mm256_mul_ps(diff, diff);
        bestError = _mm256_add_ps(bestError, _mm256_mul_ps(w, diff));
    }
    // Step 4.
    for (int is = 0; nstep >= 1 && is <= nstep; ++is) {
        const float num = rmin + rdelta * float(is) + float(nmax);
        iscale = _mm256_div_ps(_mm256_set1_ps(num), _mm256_sub_ps(max, min));
        __m256 sumL = zero;
        __m256 sumL2 = zero;
        __m256 sumXL = zero;
        for (int i = 0; i < n; ++i) {
            const __m256 x = _mm256_loadu_ps(xT + 8 * i);
            const __m256 w = _mm256_loadu_ps(wT + 8 * i);
            Laux[i] = clampI(nearestInt8(_mm256_mul_ps(iscale, _mm256_sub_ps(x, min))), 0, nmax);
            const __m256 l = _mm256_cvtepi32_ps(Laux[i]);
            const __m256 wl = _mm256_mul_ps(w, l);
            sumL = _mm256_add_ps(sumL, wl);
            sumL2 = _mm256_add_ps(sumL2, _mm256_mul_ps(wl, l));
            sumXL = _mm256_add_ps(sumXL, _mm256_mul_ps(wl, x));
        }
        const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sumW, sumL2), _mm256_mul_ps(sumL, sumL));
        const __m256 positive = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
        if (_mm256_movemask_ps(positive) == 0)
            continue;
        __m256 thisScale = _mm256_div_ps(
            _mm256_sub_ps(_mm256_mul_ps(sumW, sumXL), _mm256_mul_ps(sumX, sumL)), D);
        __m256 thisMin = _mm256_div_ps(
            _mm256_sub_ps(_mm256_mul_ps(sumL2, sumX), _mm256_mul_ps(sumL, sumXL)), D);
        const __m256 minPositive = _mm256_cmp_ps(thisMin, zero, _CMP_GT_OQ);
        thisMin = blend(thisMin, zero, minPositive);
        thisScale = blend(thisScale, _mm256_div_ps(sumXL, sumL2), minPositive);
        __m256 curError = zero;
        for (int i = 0; i < n; ++i) {
            const __m256 x = _mm256_loadu_ps(xT + 8 * i);
            const __m256 w = _mm256_loadu_ps(wT + 8 * i);
            __m256 diff = _mm256_sub_ps(
                _mm256_add_ps(_mm256_mul_ps(thisScale, _mm256_cvtepi32_ps(Laux[i])), thisMin), x);
            diff = useMad ? absPs(diff) : _mm256_mul_ps(diff, diff);
            curError = _mm256_add_ps(curError, _mm256_mul_ps(w, diff));
        }
        const __m256 accept =
            _mm256_and_ps(positive, _mm256_cmp_ps(curError, bestError, _CMP_LT_OQ));
        if (_mm256_movemask_ps(accept) == 0)
            continue;
        for (int i = 0; i < n; ++i)
            L[i] = blendI(L[i], Laux[i], accept);
        bestError = blend(bestError, curError, accept);
        scale = blend(scale, thisScale, accept);
        min = blend(min, thisMin, accept);
    }
    // Degenerate lanes: L = 0, the_min = -min, scale 0.
    for (int i = 0; i < n; ++i)
        L[i] = blendI(L[i], _mm256_setzero_si256(), degenerate);
    scale = blend(scale, zero, degenerate);
    min = blend(min, degenerateMin, degenerate);
    storeLanesU8(L, n, LT);
    _mm256_storeu_ps(scaleOut, scale);
    _mm256_storeu_ps(theMinOut, _mm256_xor_ps(min, _mm256_set1_ps(-0.0f))); // -min, also for 0
}

QF_AVX2 void makeQxQuants8(int n, int nmax, const float *xT, const float *wT, std::int8_t *LT,
                           float *scaleOut)
{
    __m256i L[32];
    __m256 w[32];
    __m256 max;
    __m256 amax;
    signedMax8(xT, n, max, amax);
    const __m256 zero = _mm256_setzero_ps();
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(kGroupMaxEps), _CMP_LT_OQ);
    for (int i = 0; i < n; ++i) {
        const __m256 x = _mm256_loadu_ps(xT + 8 * i);
        w[i] = wT ? _mm256_loadu_ps(wT + 8 * i) : _mm256_mul_ps(x, x);
    }
    auto sums = [&](__m256 iscale, __m256i *Lout, __m256 &sumlx, __m256 &suml2) QF_AVX2 {
        sumlx = zero;
        suml2 = zero;
        for (int i = 0; i < n; ++i) {
            const __m256 x = _mm256_loadu_ps(xT + 8 * i);
            const __m256i li = clampI(nearestInt8(_mm256_mul_ps(iscale, x)), -nmax, nmax - 1);
            Lout[i] = li;
            const __m256 l = _mm256_cvtepi32_ps(li);
            sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(w[i], x), l));
            suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w[i], l), l));
        }
    };
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps(float(-nmax)), max);
    __m256 sumlx;
    __m256 suml2;
    sums(iscale, L, sumlx, suml2);
    const __m256 nonzero = _mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ);
    __m256 scale = _mm256_and_ps(nonzero, _mm256_div_ps(sumlx, suml2));
    __m256 best = _mm256_mul_ps(scale, sumlx);
    __m256i Ltry[32];
    for (int is = -9; is <= 9; ++is) {
        if (is == 0)
            continue;
        const float num = -(float(nmax) + 0.1f * float(is));
        iscale = _mm256_div_ps(_mm256_set1_ps(num), max);
        sums(iscale, Ltry, sumlx, suml2);
        const __m256 accept = _mm256_and_ps(
            _mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
            _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
        if (_mm256_movemask_ps(accept) == 0)
            continue;
        for (int i = 0; i < n; ++i)
            L[i] = blendI(L[i], Ltry[i], accept);
        const __m256 s = _mm256_div_ps(sumlx, suml2);
        scale = blend(scale, s, accept);
        best = blend(best, _mm256_mul_ps(s, sumlx), accept);
    }
    const __m256i nm = _mm256_set1_epi32(nmax);
    for (int i = 0; i < n; ++i)
        L[i] = blendI(_mm256_add_epi32(L[i], nm), _mm256_setzero_si256(), tiny);
    scale = blend(scale, zero, tiny);
    alignas(32) std::int32_t tmp[8];
    for (int i = 0; i < n; ++i) {
        _mm256_store_si256(reinterpret_cast<__m256i *>(tmp), L[i]);
        for (int k = 0; k < 8; ++k)
            LT[8 * i + k] = std::int8_t(tmp[k]);
    }
    _mm256_storeu_ps(scaleOut, scale);
}

QF_AVX2 void makeQ3Quants8(int n, int nmax, const float *xT, std::int8_t *LT, float *scaleOut)
{
    __m256i L[32];
    __m256 max;
    __m256 amax;
    signedMax8(xT, n, max, amax);
    const __m256 zero = _mm256_setzero_ps();
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(kGroupMaxEps), _CMP_LT_OQ);
    const __m256 iscale = _mm256_div_ps(_mm256_set1_ps(float(-nmax)), max);
    __m256 sumlx = zero;
    __m256 suml2 = zero;
    for (int i = 0; i < n; ++i) {
        const __m256 x = _mm256_loadu_ps(xT + 8 * i);
        L[i] = clampI(nearestInt8(_mm256_mul_ps(iscale, x)), -nmax, nmax - 1);
        const __m256 l = _mm256_cvtepi32_ps(L[i]);
        const __m256 w = _mm256_mul_ps(x, x);
        sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(w, x), l));
        suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, l), l));
    }
    // Refinement passes: a lane stops changing once its scalar loop would have stopped, so the
    // vector loop runs until no lane changed (extra passes leave finished lanes untouched only
    // if they change nothing, which is what "no change in a pass" means for them).
    __m256 active = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int itry = 0; itry < 5; ++itry) {
        __m256 changedAny = zero;
        for (int i = 0; i < n; ++i) {
            const __m256 x = _mm256_loadu_ps(xT + 8 * i);
            const __m256 w = _mm256_mul_ps(x, x);
            const __m256 li = _mm256_cvtepi32_ps(L[i]);
            __m256 slx = _mm256_sub_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(w, x), li));
            const __m256 slxPositive = _mm256_cmp_ps(slx, zero, _CMP_GT_OQ);
            __m256 sl2 = _mm256_sub_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, li), li));
            const __m256i newL = clampI(
                nearestInt8(_mm256_div_ps(_mm256_mul_ps(x, sl2), slx)), -nmax, nmax - 1);
            const __m256 differs = _mm256_castsi256_ps(
                _mm256_xor_si256(_mm256_cmpeq_epi32(newL, L[i]), _mm256_set1_epi32(-1)));
            const __m256 nl = _mm256_cvtepi32_ps(newL);
            slx = _mm256_add_ps(slx, _mm256_mul_ps(_mm256_mul_ps(w, x), nl));
            sl2 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(w, nl), nl));
            const __m256 better = _mm256_and_ps(
                _mm256_cmp_ps(sl2, zero, _CMP_GT_OQ),
                _mm256_cmp_ps(_mm256_mul_ps(_mm256_mul_ps(slx, slx), suml2),
                              _mm256_mul_ps(_mm256_mul_ps(sumlx, sumlx), sl2), _CMP_GT_OQ));
            const __m256 accept =
                _mm256_and_ps(_mm256_and_ps(active, slxPositive), _mm256_and_ps(differs, better));
            L[i] = blendI(L[i], newL, accept);
            sumlx = blend(sumlx, slx, accept);
            suml2 = blend(suml2, sl2, accept);
            changedAny = _mm256_or_ps(changedAny, accept);
        }
        // A lane whose pass changed nothing stops (the scalar loop breaks).
        active = _mm256_and_ps(active, changedAny);
        if (_mm256_movemask_ps(active) == 0)
            break;
    }
    const __m256 positive = _mm256_cmp_ps(suml2, zero, _CMP_GT_OQ);
    __m256 scale = _mm256_and_ps(positive, _mm256_div_ps(sumlx, suml2));
    scale = blend(scale, zero, tiny);
    const __m256i nm = _mm256_set1_epi32(nmax);
    alignas(32) std::int32_t tmp[8];
    for (int i = 0; i < n; ++i) {
        const __m256i v = blendI(_mm256_add_epi32(L[i], nm), _mm256_setzero_si256(), tiny);
        _mm256_store_si256(reinterpret_cast<__m256i *>(tmp), v);
        for (int k = 0; k < 8; ++k)
            LT[8 * i + k] = std::int8_t(tmp[k]);
    }
    _mm256_storeu_ps(scaleOut, scale);
}

QF_AVX2 void quantizeRowQ8_0Avx2(const float *x, std::uint8_t *dst, std::int64_t n)
{
    const __m256 signMask = _mm256_set1_ps(-0.0f);
    const __m256 half = _mm256_set1_ps(0.5f);
    const __m256 one = _mm256_set1_ps(1.0f);
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32, dst += 34) {
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            amax = _mm256_max_ps(amax, absPs(v[k])); // max is exact in any order
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float d = _mm_cvtss_f32(m) / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        const std::uint16_t dh = fp32ToFp16(d);
        std::memcpy(dst, &dh, 2);
        __m256i q[4];
        for (int k = 0; k < 4; ++k) {
            // roundf(x * id): truncate, then step away from zero when the dropped part is >= 0.5
            // (exact: |x * id| <= 127, so the fraction is computed without rounding).
            const __m256 p = _mm256_mul_ps(v[k], _mm256_set1_ps(id));
            const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 up = _mm256_cmp_ps(absPs(_mm256_sub_ps(p, t)), half, _CMP_GE_OQ);
            const __m256 step = _mm256_or_ps(_mm256_and_ps(p, signMask), one);
            q[k] = _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, step)));
        }
        // int32 -> int8 with the element order kept (packs work per 128-bit lane).
        const __m256i w01 = _mm256_packs_epi32(q[0], q[1]);
        const __m256i w23 = _mm256_packs_epi32(q[2], q[3]);
        __m256i b = _mm256_packs_epi16(w01, w23);
        b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + 2), b);
    }
}

namespace {

// best_index over the IQ4 codebook on 8 lanes (see quanthelpers.h): with c = #{k : v[k] <= x}
// clamped to 1..15, the neighbours are v[c-1] <= x < v[c] for every x strictly inside the
// table, and the clamp gives the scalar's answers at both ends (finite x).
struct Iq4Table {
    __m256 lo;
    __m256 hi;
    __m256 v[16];
};

QF_AVX2 inline __m256 lookup(const Iq4Table &t, __m256i idx)
{
    const __m256 a = _mm256_permutevar8x32_ps(t.lo, idx);
    const __m256 b = _mm256_permutevar8x32_ps(t.hi, idx);
    const __m256i upper = _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7));
    return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(upper));
}

QF_AVX2 inline __m256i bestIndex8(const Iq4Table &t, __m256 x, __m256 &value)
{
    __m256i c = _mm256_setzero_si256();
    for (int k = 0; k < 16; ++k)
        c = _mm256_sub_epi32(c, _mm256_castps_si256(_mm256_cmp_ps(t.v[k], x, _CMP_LE_OQ)));
    c = clampI(c, 1, 15);
    const __m256i lo = _mm256_sub_epi32(c, _mm256_set1_epi32(1));
    const __m256 vlo = lookup(t, lo);
    const __m256 vhi = lookup(t, c);
    const __m256 takeLo =
        _mm256_cmp_ps(_mm256_sub_ps(x, vlo), _mm256_sub_ps(vhi, x), _CMP_LT_OQ);
    value = blend(vhi, vlo, takeLo);
    return blendI(c, lo, takeLo);
}

QF_AVX2 Iq4Table makeTable()
{
    Iq4Table t;
    alignas(32) float f[16];
    for (int k = 0; k < 16; ++k)
        f[k] = float(kValuesIq4nl[k]);
    t.lo = _mm256_load_ps(f);
    t.hi = _mm256_load_ps(f + 8);
    for (int k = 0; k < 16; ++k)
        t.v[k] = _mm256_set1_ps(f[k]);
    return t;
}

} // namespace

QF_AVX2 void iq4SearchScale8(const float *xT, const float *wT, float *scaleOut)
{
    const Iq4Table t = makeTable();
    __m256 max;
    __m256 amax;
    signedMax8(xT, 32, max, amax);
    const __m256 zero = _mm256_setzero_ps();
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(kGroupMaxEps), _CMP_LT_OQ);
    auto sums = [&](__m256 id, __m256 &sumqx, __m256 &sumq2) QF_AVX2 {
        sumqx = zero;
        sumq2 = zero;
        for (int j = 0; j < 32; ++j) {
            const __m256 x = _mm256_loadu_ps(xT + 8 * j);
            const __m256 w = _mm256_loadu_ps(wT + 8 * j);
            __m256 q;
            bestIndex8(t, _mm256_mul_ps(id, x), q);
            const __m256 wq = _mm256_mul_ps(w, q);
            sumqx = _mm256_add_ps(sumqx, _mm256_mul_ps(wq, x));
            sumq2 = _mm256_add_ps(sumq2, _mm256_mul_ps(wq, q));
        }
    };
    __m256 d = _mm256_div_ps(_mm256_sub_ps(zero, max), _mm256_set1_ps(float(kValuesIq4nl[0])));
    __m256 sumqx;
    __m256 sumq2;
    sums(_mm256_div_ps(_mm256_set1_ps(1.0f), d), sumqx, sumq2);
    d = _mm256_and_ps(_mm256_cmp_ps(sumq2, zero, _CMP_GT_OQ), _mm256_div_ps(sumqx, sumq2));
    __m256 best = _mm256_mul_ps(d, sumqx);
    for (int itry = -7; itry <= 7; ++itry) {
        const __m256 id =
            _mm256_div_ps(_mm256_set1_ps(float(itry + kValuesIq4nl[0])), max);
        sums(id, sumqx, sumq2);
        const __m256 accept = _mm256_and_ps(
            _mm256_cmp_ps(sumq2, zero, _CMP_GT_OQ),
            _mm256_cmp_ps(_mm256_mul_ps(sumqx, sumqx), _mm256_mul_ps(best, sumq2), _CMP_GT_OQ));
        const __m256 dNew = _mm256_div_ps(sumqx, sumq2);
        d = blend(d, dNew, accept);
        best = blend(best, _mm256_mul_ps(dNew, sumqx), accept);
    }
    _mm256_storeu_ps(scaleOut, blend(d, zero, tiny));
}

QF_AVX2 void iq4Indices8(const float *xT, const float *id, std::uint8_t *LT)
{
    const Iq4Table t = makeTable();
    const __m256 idv = _mm256_loadu_ps(id);
    __m256i L[32];
    for (int j = 0; j < 32; ++j) {
        __m256 q;
        L[j] = bestIndex8(t, _mm256_mul_ps(idv, _mm256_loadu_ps(xT + 8 * j)), q);
    }
    storeLanesU8(L, 32, LT);
}

} // namespace QuantFit::Codec

#else

namespace QuantFit::Codec {

bool quantSimdEnabled()
{
    return false;
}

bool quantAvx512Enabled()
{
    return false;
}

bool cpuHasQuantAvx512()
{
    return false;
}

void makeQkxQuants8(int, int, const float *, const float *, std::uint8_t *, float *, float *,
                    float, float, int, bool, bool)
{
}
void makeQxQuants8(int, int, const float *, const float *, std::int8_t *, float *) {}
void makeQ3Quants8(int, int, const float *, std::int8_t *, float *) {}
void quantizeRowQ8_0Avx2(const float *, std::uint8_t *, std::int64_t) {}
void iq4SearchScale8(const float *, const float *, float *) {}
void iq4Indices8(const float *, const float *, std::uint8_t *) {}

} // namespace QuantFit::Codec

#endif
