#include "iqsearch.h"

// AVX2 neighbour searches: the error sums of eight list candidates run in the eight lanes, each
// lane with exactly the scalar float operations (multiply, subtract, multiply, multiply, add;
// no FMA: no "fma" in the target and -ffp-contract=off) in the scalar order, then the eight sums
// are scanned in list order with the scalar rule (strictly smaller replaces). The choice is
// therefore the scalar one, bit for bit; iqsearch.cpp keeps the fallbacks for non-finite data.

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <cfloat>

#define QF_AVX2 __attribute__((target("avx2")))

namespace QuantFit::Codec {

namespace {

// Scans the lane errors of candidates k.. in list order.
inline void scanLanes(const float *err, const std::uint16_t *list, int k, int count, float &best,
                      int &bestJ)
{
    for (int l = 0; l < 8 && k + l < count; ++l) {
        if (err[l] < best) {
            best = err[l];
            bestJ = list[k + l];
        }
    }
}

} // namespace

QF_AVX2 int iqBestNeighbourAvx2(const IqGridMaps &maps, int key, const float *t, const float *r,
                                float s)
{
    const auto list = maps.neighbours(key);
    const int count = int(list.size());
    const int e = maps.groupSize;
    const __m256 vs = _mm256_set1_ps(s);
    const __m256i one = _mm256_set1_epi32(1);
    float best = FLT_MAX;
    int bestJ = -1;
    alignas(32) float err[8];
    const std::uint8_t *levels = maps.neighbourLevels(key);
    for (int k = 0; k < count; k += 8, levels += 8 * e) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < e; ++i) {
            const __m256i lev = _mm256_cvtepu8_epi32(
                _mm_loadl_epi64(reinterpret_cast<const __m128i *>(levels + 8 * i)));
            const __m256 p = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_add_epi32(lev, lev), one));
            const __m256 diff = _mm256_sub_ps(_mm256_mul_ps(vs, p), _mm256_set1_ps(t[i]));
            const __m256 rd = _mm256_mul_ps(_mm256_set1_ps(r[i]), diff);
            acc = _mm256_add_ps(acc, _mm256_mul_ps(rd, diff));
        }
        _mm256_store_ps(err, acc);
        scanLanes(err, list.data(), k, count, best, bestJ);
    }
    if (bestJ < 0) // only non-finite data: the scalar path's fallbacks
        return iqBestNeighbourPortable(maps, key, t, r, s);
    return bestJ;
}

QF_AVX2 int iq1BestNeighbourAvx2(const IqGridMaps &maps, int key, const float *x, const float *w,
                                 float s, const float *v)
{
    const auto list = maps.neighbours(key);
    const int count = int(list.size());
    const __m256 vs = _mm256_set1_ps(s);
    const __m256 table = _mm256_setr_ps(v[0], v[1], v[2], 0, 0, 0, 0, 0);
    float best = FLT_MAX;
    int bestJ = -1;
    alignas(32) float err[8];
    const std::uint8_t *levels = maps.neighbourLevels(key);
    for (int k = 0; k < count; k += 8, levels += 64) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < 8; ++i) {
            const __m256i lev = _mm256_cvtepu8_epi32(
                _mm_loadl_epi64(reinterpret_cast<const __m128i *>(levels + 8 * i)));
            const __m256 value = _mm256_permutevar8x32_ps(table, lev);
            const __m256 diff = _mm256_sub_ps(_mm256_mul_ps(vs, value), _mm256_set1_ps(x[i]));
            const __m256 wd = _mm256_mul_ps(_mm256_set1_ps(w[i]), diff);
            acc = _mm256_add_ps(acc, _mm256_mul_ps(wd, diff));
        }
        _mm256_store_ps(err, acc);
        scanLanes(err, list.data(), k, count, best, bestJ);
    }
    if (bestJ < 0)
        return iq1BestNeighbourPortable(maps, key, x, w, s, v);
    return bestJ;
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
