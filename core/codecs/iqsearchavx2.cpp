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
    const __m256 sv = _mm256_mul_ps(_mm256_set1_ps(s), _mm256_setr_ps(v[0], v[1], v[2], 0, 0, 0, 0, 0));
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

} // namespace QuantFit::Codec

#endif
