#include "iqsearch.h"

// AVX2 neighbour searches: per call a table of every (element, level) error term, each computed
// with the scalar code's operations (multiply, subtract, multiply, multiply; no FMA: no "fma"
// in the target and -ffp-contract=off); eight list candidates then sum their terms in element
// order side by side, and the first strict minimum is found from lane-wise minima. The choice
// is therefore the scalar one, bit for bit; iqsearch.cpp keeps the fallbacks for non-finite
// data.

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <cfloat>

#define QF_AVX2 __attribute__((target("avx2")))

namespace QuantFit::Codec {

namespace {

// The first strict minimum below FLT_MAX of a list's errors, as a list position (-1 if none).
// Candidate c of run c / 8 sums tables[i][level] over its elements i in order; per lane the
// least error and the run it came from (strictly smaller replaces, so the earliest run wins),
// then the smallest position among the lanes holding the overall minimum. Padding lanes repeat
// the list's first candidate, which never wins over it.
QF_AVX2 int firstMinimum(const std::uint8_t *levels, int count, int e, const __m256 *tables)
{
    const __m256 fltMax = _mm256_set1_ps(FLT_MAX);
    __m256 best = fltMax;
    __m256i bestRun = _mm256_setzero_si256();
    for (int c = 0, run = 0; c < count; c += 8, ++run, levels += 8 * e) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < e; ++i) {
            const __m256i lev = _mm256_cvtepu8_epi32(
                _mm_loadl_epi64(reinterpret_cast<const __m128i *>(levels + 8 * i)));
            acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(tables[i], lev));
        }
        const __m256 lt = _mm256_cmp_ps(acc, best, _CMP_LT_OQ);
        best = _mm256_blendv_ps(best, acc, lt);
        bestRun = _mm256_blendv_epi8(bestRun, _mm256_set1_epi32(run), _mm256_castps_si256(lt));
    }
    __m256 m = _mm256_min_ps(best, _mm256_permute2f128_ps(best, best, 1));
    m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    if (!(_mm256_cvtss_f32(m) < FLT_MAX))
        return -1;
    const __m256i eq = _mm256_castps_si256(_mm256_cmp_ps(best, m, _CMP_EQ_OQ));
    const __m256i position = _mm256_add_epi32(_mm256_slli_epi32(bestRun, 3),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i p = _mm256_blendv_epi8(_mm256_set1_epi32(0x7fffffff), position, eq);
    p = _mm256_min_epi32(p, _mm256_permute2x128_si256(p, p, 1));
    p = _mm256_min_epi32(p, _mm256_shuffle_epi32(p, _MM_SHUFFLE(1, 0, 3, 2)));
    p = _mm256_min_epi32(p, _mm256_shuffle_epi32(p, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm256_cvtsi256_si32(p);
}

} // namespace

// Per element i a table of its error term at every level l (lanes 0..7):
// (r (s p - t)) (s p - t) with p = 2l + 1, the scalar code's operations.
QF_AVX2 int iqBestNeighbourAvx2(const IqGridMaps &maps, int key, const float *t, const float *r,
                                float s)
{
    const int e = maps.groupSize;
    const __m256 sp = _mm256_mul_ps(_mm256_set1_ps(s), _mm256_setr_ps(1, 3, 5, 7, 9, 11, 13, 15));
    __m256 tables[8];
    for (int i = 0; i < e; ++i) {
        const __m256 diff = _mm256_sub_ps(sp, _mm256_set1_ps(t[i]));
        tables[i] = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(r[i]), diff), diff);
    }
    const int c = firstMinimum(maps.neighbourLevels(key), maps.nbCount[std::size_t(key)], e,
                               tables);
    if (c < 0) // only non-finite data: the scalar path's fallbacks
        return iqBestNeighbourPortable(maps, key, t, r, s);
    return maps.nbList[maps.nbStart[std::size_t(key)] + std::size_t(c)];
}

// The same with (w (s v[l] - x)) (s v[l] - x), v the level's reconstruction value.
QF_AVX2 int iq1BestNeighbourAvx2(const IqGridMaps &maps, int key, const float *x, const float *w,
                                 float s, const float *v)
{
    const __m256 sv =
        _mm256_mul_ps(_mm256_set1_ps(s), _mm256_setr_ps(v[0], v[1], v[2], 0, 0, 0, 0, 0));
    __m256 tables[8];
    for (int i = 0; i < 8; ++i) {
        const __m256 diff = _mm256_sub_ps(sv, _mm256_set1_ps(x[i]));
        tables[i] = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(w[i]), diff), diff);
    }
    const int c = firstMinimum(maps.neighbourLevels(key), maps.nbCount[std::size_t(key)], 8,
                               tables);
    if (c < 0)
        return iq1BestNeighbourPortable(maps, key, x, w, s, v);
    return maps.nbList[maps.nbStart[std::size_t(key)] + std::size_t(c)];
}

//
// IQ2/IQ3 trials, one lane per trial (as iqTrialsAvx512, eight at a time)
//

namespace {

// nearest_int() on 8 lanes: the scalar code's 1.5 * 2^23 bit trick.
QF_AVX2 inline __m256i nearestInt8(__m256 v)
{
    const __m256i t = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.0f)));
    return _mm256_sub_epi32(_mm256_and_si256(t, _mm256_set1_epi32(0x007fffff)),
                            _mm256_set1_epi32(0x00400000));
}

// The low bytes of 8 int32 lanes (each 0..255), in lane order.
QF_AVX2 inline __m128i lowBytes(__m256i v)
{
    const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
    return _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
}

} // namespace

QF_AVX2 void iqTrialsAvx2(const IqTypeSpec &spec, const IqGridMaps &maps, int n, const float *t,
                          const float *w, const float *r, float mPrime, float &s,
                          std::uint8_t *L, bool *on)
{
    const int e = maps.groupSize;
    const int nGroups = n / e;
    const int nTrials = 2 * spec.kMax + 1;
    const int *onGrid = reinterpret_cast<const int *>(maps.onGrid.data());
    float wt[32];
    for (int i = 0; i < n; ++i)
        wt[i] = w[i] * t[i];
    // Levels of element i in trial lane j at lev[i][j].
    alignas(32) std::uint8_t lev[32][8];
    alignas(32) float ts[8];
    alignas(32) std::int32_t keys[8];
    alignas(32) float sumA[8];
    alignas(32) float sumQ[8];
    unsigned off[8];
    const __m256 odd = _mm256_setr_ps(1, 3, 5, 7, 9, 11, 13, 15);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lmax = _mm256_set1_epi32(spec.lmax);
    const __m256i zero = _mm256_setzero_si256();
    float best = 0;
    for (int base = 0; base < nTrials; base += 8) {
        const int nLanes = nTrials - base < 8 ? nTrials - base : 8;
        const unsigned lanes = (1u << nLanes) - 1;
        const __m256i laneMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nLanes), iota);
        const __m256 k =
            _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32(base - spec.kMax), iota));
        const __m256 id = _mm256_div_ps(
            _mm256_add_ps(_mm256_set1_ps(float(2 * spec.lmax + 1)),
                          _mm256_mul_ps(k, _mm256_set1_ps(spec.step))),
            _mm256_set1_ps(mPrime));
        _mm256_store_ps(ts, _mm256_div_ps(_mm256_set1_ps(1.0f), id));
        for (int g = 0; g < nGroups; ++g) {
            __m256i key = zero;
            for (int i = 0; i < e; ++i) {
                const __m256 v = _mm256_mul_ps(
                    _mm256_set1_ps(0.5f),
                    _mm256_sub_ps(_mm256_mul_ps(id, _mm256_set1_ps(t[g * e + i])),
                                  _mm256_set1_ps(1.0f)));
                const __m256i l = _mm256_min_epi32(_mm256_max_epi32(nearestInt8(v), zero), lmax);
                _mm_storel_epi64(reinterpret_cast<__m128i *>(lev[g * e + i]), lowBytes(l));
                key = _mm256_or_si256(
                    key, _mm256_sll_epi32(l, _mm_cvtsi32_si128(maps.keyBits * i)));
            }
            // onGrid is int16 with one spare slot at the end: 32-bit reads, low half.
            const __m256i raw = _mm256_mask_i32gather_epi32(zero, onGrid, key, laneMask, 2);
            const __m256i entry = _mm256_srai_epi32(_mm256_slli_epi32(raw, 16), 16);
            off[g] = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(entry))) & lanes;
            if (!off[g])
                continue;
            _mm256_store_si256(reinterpret_cast<__m256i *>(keys), key);
            for (unsigned m = off[g]; m; m &= m - 1) {
                const int j = __builtin_ctz(m);
                const __m256 sp = _mm256_mul_ps(_mm256_set1_ps(ts[j]), odd);
                __m256 tables[8];
                for (int i = 0; i < e; ++i) {
                    const __m256 diff = _mm256_sub_ps(sp, _mm256_set1_ps(t[g * e + i]));
                    tables[i] = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(r[g * e + i]), diff),
                                              diff);
                }
                const std::uint8_t *list = maps.neighbourLevels(keys[j]);
                const int c = firstMinimum(list, maps.nbCount[std::size_t(keys[j])], e, tables);
                if (c < 0) { // only non-finite data: the scalar path's fallbacks
                    const std::uint8_t *nb = maps.levelsOf(
                        iqBestNeighbourPortable(maps, keys[j], t + g * e, r + g * e, ts[j]));
                    for (int i = 0; i < e; ++i)
                        lev[g * e + i][j] = nb[i];
                    continue;
                }
                const std::uint8_t *winner = list + std::size_t(c / 8) * 8 * std::size_t(e) + c % 8;
                for (int i = 0; i < e; ++i)
                    lev[g * e + i][j] = winner[8 * i];
            }
        }
        // A = sum (w t) q and Q = sum (w q) q in element order, q = 2l + 1, per trial lane.
        __m256 a = _mm256_setzero_ps();
        __m256 q2 = _mm256_setzero_ps();
        const __m256i one = _mm256_set1_epi32(1);
        for (int i = 0; i < n; ++i) {
            const __m256i l = _mm256_cvtepu8_epi32(
                _mm_loadl_epi64(reinterpret_cast<const __m128i *>(lev[i])));
            const __m256 q = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_add_epi32(l, l), one));
            a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(wt[i]), q));
            q2 = _mm256_add_ps(q2, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(w[i]), q), q));
        }
        _mm256_store_ps(sumA, a);
        _mm256_store_ps(sumQ, q2);
        for (int j = 0; j < nLanes; ++j) {
            if (sumQ[j] > 0 && sumA[j] * sumA[j] > best * sumQ[j]) {
                s = sumA[j] / sumQ[j];
                best = s * sumA[j];
                for (int i = 0; i < n; ++i)
                    L[i] = lev[i][j];
                for (int g = 0; g < nGroups; ++g)
                    on[g] = !((off[g] >> j) & 1);
            }
        }
    }
}

// IQ1_S's split search as iq1sBestSplitAvx512, eight i2 at a time.
QF_AVX2 Iq1mSplit iq1sBestSplitAvx2(const float *sumX, const float *sumW)
{
    Iq1mSplit best{0, -1, 0, 0};
    float bestScore = -FLT_MAX;
    alignas(32) float num[2][8];
    alignas(32) float den[2][8];
    alignas(32) float xs[40];
    alignas(32) float ws[40];
    for (int i = 0; i < 40; ++i) {
        xs[i] = i <= 32 ? sumX[i] : 0.f;
        ws[i] = i <= 32 ? sumW[i] : 0.f;
    }
    const __m256 x32 = _mm256_set1_ps(sumX[32]);
    const __m256 w32 = _mm256_set1_ps(sumW[32]);
    const __m256 zero = _mm256_setzero_ps();
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int i1 = 0; i1 <= 32; ++i1) {
        const float a = sumX[i1] - sumX[0];
        const float wa = sumW[i1] - sumW[0];
        for (int i2 = i1; i2 <= 32; i2 += 8) {
            const __m256 lanes = _mm256_castsi256_ps(
                _mm256_cmpgt_epi32(_mm256_set1_epi32(33 - i2), iota));
            const __m256 xi2 = _mm256_loadu_ps(xs + i2);
            const __m256 wi2 = _mm256_loadu_ps(ws + i2);
            const __m256 b = _mm256_sub_ps(xi2, _mm256_set1_ps(sumX[i1]));
            const __m256 c = _mm256_sub_ps(x32, xi2);
            const __m256 wb = _mm256_sub_ps(wi2, _mm256_set1_ps(sumW[i1]));
            const __m256 wc = _mm256_sub_ps(w32, wi2);
            int pass = 0;
            for (int shift = 0; shift < 2; ++shift) {
                const float *v = shift ? kIq1Minus : kIq1Plus;
                const __m256 v1 = _mm256_set1_ps(v[1]);
                const __m256 v2 = _mm256_set1_ps(v[2]);
                const __m256 nm = _mm256_add_ps(
                    _mm256_add_ps(_mm256_set1_ps(a * v[0]), _mm256_mul_ps(b, v1)),
                    _mm256_mul_ps(c, v2));
                const __m256 dn = _mm256_add_ps(
                    _mm256_add_ps(_mm256_set1_ps(wa * v[0] * v[0]),
                                  _mm256_mul_ps(_mm256_mul_ps(wb, v1), v1)),
                    _mm256_mul_ps(_mm256_mul_ps(wc, v2), v2));
                const __m256 ok = _mm256_and_ps(
                    _mm256_and_ps(lanes, _mm256_cmp_ps(dn, zero, _CMP_GT_OQ)),
                    _mm256_cmp_ps(_mm256_mul_ps(nm, nm),
                                  _mm256_mul_ps(_mm256_set1_ps(bestScore), dn), _CMP_GT_OQ));
                pass |= _mm256_movemask_ps(ok);
                _mm256_store_ps(num[shift], nm);
                _mm256_store_ps(den[shift], dn);
            }
            if (!pass)
                continue;
            for (int j = __builtin_ctz(unsigned(pass)); j < 8 && i2 + j <= 32; ++j) {
                for (int shift = 0; shift < 2; ++shift) {
                    const float nm = num[shift][j];
                    const float dn = den[shift][j];
                    if (dn > 0 && nm * nm > bestScore * dn) {
                        best = {nm / dn, i1, i2 + j, shift};
                        bestScore = best.s * nm;
                    }
                }
            }
        }
    }
    return best;
}

// Lanes are the splits (i1, i2 .. i2 + 7) for one i1; per sorted position the lane's level is
// 0 before i1, 1 before its i2, else 2, and each of the four shift patterns gets its own sums.
QF_AVX2 Iq1mSplit iq1mBestSplitAvx2(const float *x, const float *w, const int *order)
{
    __m256 tables[4][2];
    for (int k = 0; k < 4; ++k)
        for (int g = 0; g < 2; ++g) {
            const float *v = iq1mTable(k, g);
            tables[k][g] = _mm256_setr_ps(v[0], v[1], v[2], 0, 0, 0, 0, 0);
        }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    Iq1mSplit best{0, -1, 0, 0};
    float bestScore = -FLT_MAX;
    alignas(32) float num[4][8];
    alignas(32) float den[4][8];
    for (int i1 = 0; i1 <= 16; ++i1) {
        for (int base = i1; base <= 16; base += 8) {
            const __m256i i2 = _mm256_add_epi32(_mm256_set1_epi32(base), lane);
            __m256 n[4];
            __m256 d[4];
            for (int k = 0; k < 4; ++k) {
                n[k] = _mm256_setzero_ps();
                d[k] = _mm256_setzero_ps();
            }
            for (int j = 0; j < 16; ++j) {
                const int e = order[j];
                // 1 where j < i2 (lane), else 2; 0 for every lane before i1.
                const __m256i beforeI2 = _mm256_and_si256(
                    _mm256_cmpgt_epi32(i2, _mm256_set1_epi32(j)), _mm256_set1_epi32(1));
                const __m256i lev = j < i1 ? _mm256_setzero_si256()
                                           : _mm256_sub_epi32(_mm256_set1_epi32(2), beforeI2);
                const __m256 we = _mm256_set1_ps(w[e]);
                const __m256 xe = _mm256_set1_ps(x[e]);
                for (int k = 0; k < 4; ++k) {
                    const __m256 v = _mm256_permutevar8x32_ps(tables[k][e >= 8], lev);
                    const __m256 wv = _mm256_mul_ps(we, v);
                    n[k] = _mm256_add_ps(n[k], _mm256_mul_ps(wv, xe));
                    d[k] = _mm256_add_ps(d[k], _mm256_mul_ps(wv, v));
                }
            }
            for (int k = 0; k < 4; ++k) {
                _mm256_store_ps(num[k], n[k]);
                _mm256_store_ps(den[k], d[k]);
            }
            for (int l = 0; l < 8 && base + l <= 16; ++l) {
                for (int k = 0; k < 4; ++k) {
                    if (den[k][l] > 0 && num[k][l] * num[k][l] > bestScore * den[k][l]) {
                        best = {num[k][l] / den[k][l], i1, base + l, k};
                        bestScore = best.s * num[k][l];
                    }
                }
            }
        }
    }
    return best;
}

} // namespace QuantFit::Codec

#else

namespace QuantFit::Codec {

// Never called without AVX2 (quantSimdEnabled() is false there).
int iqBestNeighbourAvx2(const IqGridMaps &, int, const float *, const float *, float)
{
    return 0;
}

int iq1BestNeighbourAvx2(const IqGridMaps &, int, const float *, const float *, float,
                         const float *)
{
    return 0;
}

Iq1mSplit iq1mBestSplitAvx2(const float *x, const float *w, const int *order)
{
    return iq1mBestSplitPortable(x, w, order);
}

void iqTrialsAvx2(const IqTypeSpec &, const IqGridMaps &, int, const float *, const float *,
                  const float *, float, float &, std::uint8_t *, bool *)
{
}

Iq1mSplit iq1sBestSplitAvx2(const float *sumX, const float *sumW)
{
    return iq1sBestSplitPortable(sumX, sumW);
}

} // namespace QuantFit::Codec

#endif
