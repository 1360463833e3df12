#include "iqsearch.h"

// AVX-512 versions of the I-quant searches. Every float the scalar code computes is computed
// here with the same operations on the same operands (multiply, subtract and add each rounded;
// no FMA: no "fma" in the target and -ffp-contract=off), only several independent candidates,
// trials or splits side by side; sums keep their scalar order. Choices that the scalar code
// makes one candidate at a time ("replace the best when strictly better") are made from
// lane-wise results in a way that selects the same candidate:
//  - neighbour searches: the first strict minimum of a list is the smallest list position
//    among the lanes whose lane minimum equals the overall minimum;
//  - trials and splits: a vector of candidates is tested against the running best; when no lane
//    passes, none would have been accepted (the best only changes on acceptance), else its lanes
//    are accepted one by one in scalar order from the first passing one.

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

// GCC 12's AVX-512 intrinsic headers build their "undefined" operands from self-initialised
// variables, reported by -Wuninitialized in every caller; and our internal helpers returning
// __m512 are always inlined into AVX-512 code, so the ABI note of -Wpsabi does not apply.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wpsabi"

#include <cfloat>
#include <cstring>

#define QF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,bmi,popcnt")))

namespace QuantFit::Codec {

namespace {

// Lanes 0..n-1 (n <= 16).
inline __mmask16 firstLanes(int n)
{
    return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
}

// nearest_int() on 16 lanes: the scalar code's 1.5 * 2^23 bit trick.
QF_AVX512 inline __m512i nearestInt16(__m512 v)
{
    const __m512i t = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12582912.0f)));
    return _mm512_sub_epi32(_mm512_and_si512(t, _mm512_set1_epi32(0x007fffff)),
                            _mm512_set1_epi32(0x00400000));
}

// Term-table slot j = i * nLevels + l: element i and level l of the slot (slots past the last
// element point at element 0, level 0; they are never read).
struct SlotIndex {
    alignas(64) std::int32_t element[32];
    alignas(64) std::int32_t level[32];
    alignas(64) float odd[32]; ///< 2 level + 1, as the scalar code converts it
};

constexpr SlotIndex makeSlots(int nLevels, int groupSize)
{
    SlotIndex s{};
    for (int j = 0; j < 32; ++j) {
        const bool used = j < nLevels * groupSize;
        s.element[j] = used ? j / nLevels : 0;
        s.level[j] = used ? j % nLevels : 0;
        s.odd[j] = float(2 * s.level[j] + 1);
    }
    return s;
}

constexpr SlotIndex kSlots3 = makeSlots(3, 8); // IQ1, IQ2 grids: 8 elements, levels 0..2
constexpr SlotIndex kSlots8 = makeSlots(8, 4); // IQ3 grids: 4 elements, levels 0..7

// Errors of the 16 candidates of one run: their terms summed in element order from 0.
QF_AVX512 inline __m512 runErrors(const std::uint8_t *run, int e, __m512 lo, __m512 hi)
{
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < e; ++i) {
        const __m512i idx = _mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(run + 16 * i)));
        acc = _mm512_add_ps(acc, _mm512_permutex2var_ps(lo, idx, hi));
    }
    return acc;
}

// The error of every candidate of a list (`count` candidates in runs of 16 at `slots`) is the
// sum, in element order from 0, of its elements' terms table[slot]; returns the list position
// of the first strict minimum below FLT_MAX, or -1.
QF_AVX512 inline __attribute__((always_inline)) int firstMinimum(const std::uint8_t *slots,
                                                                 int count, int e, __m512 lo,
                                                                 __m512 hi)
{
    const __m512 fltMax = _mm512_set1_ps(FLT_MAX);
    if (count <= 16) {
        const __m512 err = runErrors(slots, e, lo, hi);
        const __mmask16 valid = _mm512_mask_cmp_ps_mask(firstLanes(count), err, fltMax, _CMP_LT_OQ);
        if (!valid)
            return -1;
        const float m = _mm512_mask_reduce_min_ps(valid, err);
        const __mmask16 eq = _mm512_mask_cmp_ps_mask(valid, err, _mm512_set1_ps(m), _CMP_EQ_OQ);
        return __builtin_ctz(unsigned(eq));
    }
    // Per lane the least error so far and the run it came from (strictly smaller replaces, so
    // the earliest run wins within a lane).
    __m512 best = fltMax;
    __m512i bestRun = _mm512_setzero_si512();
    for (int c = 0, run = 0; c < count; c += 16, ++run, slots += 16 * e) {
        const __m512 err = runErrors(slots, e, lo, hi);
        const __mmask16 lt = _mm512_mask_cmp_ps_mask(firstLanes(count - c), err, best, _CMP_LT_OQ);
        best = _mm512_mask_mov_ps(best, lt, err);
        bestRun = _mm512_mask_mov_epi32(bestRun, lt, _mm512_set1_epi32(run));
    }
    const __mmask16 valid = _mm512_cmp_ps_mask(best, fltMax, _CMP_LT_OQ);
    if (!valid)
        return -1;
    const float m = _mm512_mask_reduce_min_ps(valid, best);
    const __mmask16 eq = _mm512_mask_cmp_ps_mask(valid, best, _mm512_set1_ps(m), _CMP_EQ_OQ);
    const __m512i position = _mm512_add_epi32(_mm512_slli_epi32(bestRun, 4),
                                              _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                                                10, 11, 12, 13, 14, 15));
    return _mm512_mask_reduce_min_epi32(eq, position);
}

// The 32 slots of one operand: per slot the value of its element (lanes 0..e-1 of `v`).
QF_AVX512 inline void spread(const SlotIndex &slots, __m512 v, __m512 &lo, __m512 &hi)
{
    lo = _mm512_permutexvar_ps(_mm512_load_si512(slots.element), v);
    hi = _mm512_permutexvar_ps(_mm512_load_si512(slots.element + 16), v);
}

// A group's targets t and root weights r spread over the slots, with the slots' odd values.
struct GroupSlots {
    __m512 tLo, tHi, rLo, rHi, pLo, pHi;
};

QF_AVX512 inline GroupSlots groupSlots(const SlotIndex &slots, int e, const float *t,
                                       const float *r)
{
    GroupSlots g;
    const __mmask16 m = firstLanes(e);
    spread(slots, _mm512_maskz_loadu_ps(m, t), g.tLo, g.tHi);
    spread(slots, _mm512_maskz_loadu_ps(m, r), g.rLo, g.rHi);
    g.pLo = _mm512_load_ps(slots.odd);
    g.pHi = _mm512_load_ps(slots.odd + 16);
    return g;
}

// Term tables of the IQ2/IQ3 search: (r (s p - t)) (s p - t).
QF_AVX512 inline void termsIq(const GroupSlots &g, float s, __m512 &lo, __m512 &hi)
{
    const __m512 vs = _mm512_set1_ps(s);
    const __m512 dLo = _mm512_sub_ps(_mm512_mul_ps(vs, g.pLo), g.tLo);
    const __m512 dHi = _mm512_sub_ps(_mm512_mul_ps(vs, g.pHi), g.tHi);
    lo = _mm512_mul_ps(_mm512_mul_ps(g.rLo, dLo), dLo);
    hi = _mm512_mul_ps(_mm512_mul_ps(g.rHi, dHi), dHi);
}

} // namespace

QF_AVX512 int iqBestNeighbourAvx512(const IqGridMaps &maps, int key, const float *t,
                                    const float *r, float s)
{
    __m512 lo, hi;
    termsIq(groupSlots(maps.nLevels == 3 ? kSlots3 : kSlots8, maps.groupSize, t, r), s, lo, hi);
    const int c = firstMinimum(maps.neighbourSlots(key), maps.nbCount[std::size_t(key)],
                               maps.groupSize, lo, hi);
    if (c < 0) // only non-finite data: the scalar path's fallbacks
        return iqBestNeighbourPortable(maps, key, t, r, s);
    return maps.nbList[maps.nbStart[std::size_t(key)] + std::size_t(c)];
}

QF_AVX512 int iq1BestNeighbourAvx512(const IqGridMaps &maps, int key, const float *x,
                                     const float *w, float s, const float *v)
{
    // Terms (w (s v[l] - x)) (s v[l] - x).
    __m512 xLo, xHi, wLo, wHi;
    spread(kSlots3, _mm512_maskz_loadu_ps(0xFF, x), xLo, xHi);
    spread(kSlots3, _mm512_maskz_loadu_ps(0xFF, w), wLo, wHi);
    const __m512 table = _mm512_maskz_loadu_ps(0x7, v);
    const __m512 vLo = _mm512_permutexvar_ps(_mm512_load_si512(kSlots3.level), table);
    const __m512 vHi = _mm512_permutexvar_ps(_mm512_load_si512(kSlots3.level + 16), table);
    const __m512 vs = _mm512_set1_ps(s);
    const __m512 dLo = _mm512_sub_ps(_mm512_mul_ps(vs, vLo), xLo);
    const __m512 dHi = _mm512_sub_ps(_mm512_mul_ps(vs, vHi), xHi);
    const __m512 lo = _mm512_mul_ps(_mm512_mul_ps(wLo, dLo), dLo);
    const __m512 hi = _mm512_mul_ps(_mm512_mul_ps(wHi, dHi), dHi);
    const int c = firstMinimum(maps.neighbourSlots(key), maps.nbCount[std::size_t(key)], 8, lo, hi);
    if (c < 0)
        return iq1BestNeighbourPortable(maps, key, x, w, s, v);
    return maps.nbList[maps.nbStart[std::size_t(key)] + std::size_t(c)];
}

//
// IQ2/IQ3 trials, one lane per trial
//

QF_AVX512 void iqTrialsAvx512(const IqTypeSpec &spec, const IqGridMaps &maps, int n,
                              const float *t, const float *w, const float *r, float mPrime,
                              float &s, std::uint8_t *L, bool *on)
{
    const int e = maps.groupSize;
    const int nGroups = n / e;
    const int nTrials = 2 * spec.kMax + 1;
    const SlotIndex &slots = maps.nLevels == 3 ? kSlots3 : kSlots8;
    const std::int16_t *onGrid = maps.onGrid.data();
    float wt[32];
    for (int i = 0; i < n; ++i)
        wt[i] = w[i] * t[i];
    // Levels of element i in trial lane j at lev[i][j].
    alignas(64) std::uint8_t lev[32][16];
    alignas(64) float ts[16];
    alignas(64) std::int32_t keys[16];
    alignas(64) std::uint32_t listInfo[16];
    const std::uint8_t *slotsBase = maps.nbSlots.data();
    const std::uint32_t *slotsKey = maps.nbSlotsKey.data();
    const std::size_t runBytes = 16 * std::size_t(e);
    alignas(64) float sumA[16];
    alignas(64) float sumQ[16];
    __mmask16 off[8];
    GroupSlots spreads[8];
    for (int g = 0; g < nGroups; ++g)
        spreads[g] = groupSlots(slots, e, t + g * e, r + g * e);
    const __m512i iota =
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i lmax = _mm512_set1_epi32(spec.lmax);
    const __m512i zero = _mm512_setzero_si512();
    float best = 0;
    for (int base = 0; base < nTrials; base += 16) {
        const __mmask16 lanes = firstLanes(nTrials - base);
        const __m512 k =
            _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_set1_epi32(base - spec.kMax), iota));
        const __m512 id = _mm512_div_ps(
            _mm512_add_ps(_mm512_set1_ps(float(2 * spec.lmax + 1)),
                          _mm512_mul_ps(k, _mm512_set1_ps(spec.step))),
            _mm512_set1_ps(mPrime));
        _mm512_store_ps(ts, _mm512_div_ps(_mm512_set1_ps(1.0f), id));
        for (int g = 0; g < nGroups; ++g) {
            __m512i key = zero;
            for (int i = 0; i < e; ++i) {
                const __m512 v = _mm512_mul_ps(
                    _mm512_set1_ps(0.5f),
                    _mm512_sub_ps(_mm512_mul_ps(id, _mm512_set1_ps(t[g * e + i])),
                                  _mm512_set1_ps(1.0f)));
                const __m512i l = _mm512_min_epi32(_mm512_max_epi32(nearestInt16(v), zero), lmax);
                _mm_store_si128(reinterpret_cast<__m128i *>(lev[g * e + i]),
                                _mm512_cvtepi32_epi8(l));
                key = _mm512_or_si512(
                    key, _mm512_sll_epi32(l, _mm_cvtsi32_si128(maps.keyBits * i)));
            }
            // onGrid is int16 with one spare slot at the end: 32-bit reads, low half.
            const __m512i raw = _mm512_mask_i32gather_epi32(zero, lanes, key, onGrid, 2);
            const __m512i entry = _mm512_srai_epi32(_mm512_slli_epi32(raw, 16), 16);
            off[g] = _mm512_mask_cmplt_epi32_mask(lanes, entry, zero);
            if (!off[g])
                continue;
            // The lists of the off-grid lanes: fetch them all before the first search.
            _mm512_store_si512(keys, key);
            _mm512_store_si512(
                listInfo, _mm512_mask_i32gather_epi32(zero, off[g], key, slotsKey, 4));
            for (unsigned m = off[g]; m; m &= m - 1) {
                const int j = __builtin_ctz(m);
                const std::uint8_t *run = slotsBase + std::size_t(listInfo[j] >> 12) * runBytes;
                _mm_prefetch(reinterpret_cast<const char *>(run), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char *>(run) + 64, _MM_HINT_T0);
            }
            for (unsigned m = off[g]; m; m &= m - 1) {
                const int j = __builtin_ctz(m);
                __m512 lo, hi;
                termsIq(spreads[g], ts[j], lo, hi);
                const std::uint8_t *list = slotsBase + std::size_t(listInfo[j] >> 12) * runBytes;
                const int c = firstMinimum(list, int(listInfo[j] & 4095), e, lo, hi);
                if (c < 0) { // only non-finite data: the scalar path's fallbacks
                    const std::uint8_t *nb = maps.levelsOf(
                        iqBestNeighbourPortable(maps, keys[j], t + g * e, r + g * e, ts[j]));
                    for (int i = 0; i < e; ++i)
                        lev[g * e + i][j] = nb[i];
                    continue;
                }
                // The winner's levels from its slots: slot = level + nLevels * element.
                const std::uint8_t *slot = list + std::size_t(c / 16) * runBytes + c % 16;
                for (int i = 0; i < e; ++i)
                    lev[g * e + i][j] = std::uint8_t(slot[16 * i] - maps.nLevels * i);
            }
        }
        // A = sum (w t) q and Q = sum (w q) q in element order, q = 2l + 1, per trial lane.
        __m512 a = _mm512_setzero_ps();
        __m512 q2 = _mm512_setzero_ps();
        const __m512i one = _mm512_set1_epi32(1);
        for (int i = 0; i < n; ++i) {
            const __m512i l =
                _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i *>(lev[i])));
            const __m512 q = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_add_epi32(l, l), one));
            a = _mm512_add_ps(a, _mm512_mul_ps(_mm512_set1_ps(wt[i]), q));
            q2 = _mm512_add_ps(q2, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(w[i]), q), q));
        }
        _mm512_store_ps(sumA, a);
        _mm512_store_ps(sumQ, q2);
        for (int j = 0; j < 16 && base + j < nTrials; ++j) {
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

//
// IQ1 split searches
//

QF_AVX512 Iq1mSplit iq1sBestSplitAvx512(const float *sumX, const float *sumW)
{
    Iq1mSplit best{0, -1, 0, 0};
    float bestScore = -FLT_MAX;
    alignas(64) float num[2][16];
    alignas(64) float den[2][16];
    const __m512 x32 = _mm512_set1_ps(sumX[32]);
    const __m512 w32 = _mm512_set1_ps(sumW[32]);
    const __m512 zero = _mm512_setzero_ps();
    for (int i1 = 0; i1 <= 32; ++i1) {
        const float a = sumX[i1] - sumX[0];
        const float wa = sumW[i1] - sumW[0];
        for (int i2 = i1; i2 <= 32; i2 += 16) {
            const __mmask16 lanes = firstLanes(33 - i2);
            const __m512 xi2 = _mm512_maskz_loadu_ps(lanes, sumX + i2);
            const __m512 wi2 = _mm512_maskz_loadu_ps(lanes, sumW + i2);
            const __m512 b = _mm512_sub_ps(xi2, _mm512_set1_ps(sumX[i1]));
            const __m512 c = _mm512_sub_ps(x32, xi2);
            const __m512 wb = _mm512_sub_ps(wi2, _mm512_set1_ps(sumW[i1]));
            const __m512 wc = _mm512_sub_ps(w32, wi2);
            __mmask16 pass = 0;
            for (int shift = 0; shift < 2; ++shift) {
                const float *v = shift ? kIq1Minus : kIq1Plus;
                const __m512 v1 = _mm512_set1_ps(v[1]);
                const __m512 v2 = _mm512_set1_ps(v[2]);
                const __m512 nm = _mm512_add_ps(
                    _mm512_add_ps(_mm512_set1_ps(a * v[0]), _mm512_mul_ps(b, v1)),
                    _mm512_mul_ps(c, v2));
                const __m512 dn = _mm512_add_ps(
                    _mm512_add_ps(_mm512_set1_ps(wa * v[0] * v[0]),
                                  _mm512_mul_ps(_mm512_mul_ps(wb, v1), v1)),
                    _mm512_mul_ps(_mm512_mul_ps(wc, v2), v2));
                const __mmask16 positive = _mm512_mask_cmp_ps_mask(lanes, dn, zero, _CMP_GT_OQ);
                pass |= _mm512_mask_cmp_ps_mask(
                    positive, _mm512_mul_ps(nm, nm),
                    _mm512_mul_ps(_mm512_set1_ps(bestScore), dn), _CMP_GT_OQ);
                _mm512_store_ps(num[shift], nm);
                _mm512_store_ps(den[shift], dn);
            }
            if (!pass)
                continue;
            for (int j = __builtin_ctz(unsigned(pass)); j < 16 && i2 + j <= 32; ++j) {
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

// The splits (i1, i2), 0 <= i1 <= i2 <= 16, in the scalar order, 16 per vector (153, padded
// with (16, 16)); per vector and sorted position j the level of each lane's split (0 before
// i1, 1 before i2, else 2), and the first position where the lanes' levels differ from 0.
struct Iq1mSplits {
    static constexpr int kVectors = 10;
    alignas(64) std::int32_t i1[16 * kVectors];
    alignas(64) std::int32_t i2[16 * kVectors];
    alignas(64) std::int32_t level[kVectors][16][16];
    int firstJ[kVectors];
    int count = 0;
};

constexpr Iq1mSplits makeIq1mSplits()
{
    Iq1mSplits s{};
    for (int i1 = 0; i1 <= 16; ++i1)
        for (int i2 = i1; i2 <= 16; ++i2, ++s.count) {
            s.i1[s.count] = i1;
            s.i2[s.count] = i2;
        }
    for (int p = s.count; p < 16 * Iq1mSplits::kVectors; ++p) {
        s.i1[p] = 16;
        s.i2[p] = 16;
    }
    for (int c = 0; c < Iq1mSplits::kVectors; ++c) {
        s.firstJ[c] = s.i1[16 * c]; // the vector's smallest i1
        for (int j = 0; j < 16; ++j)
            for (int l = 0; l < 16; ++l) {
                const int p = 16 * c + l;
                s.level[c][j][l] = j < s.i1[p] ? 0 : (j < s.i2[p] ? 1 : 2);
            }
    }
    return s;
}

constexpr Iq1mSplits kIq1mSplits = makeIq1mSplits();

// Lanes from `from` on where some pattern k has D > 0 and N^2 > best D.
QF_AVX512 inline unsigned passingLanes(const __m512 *n, const __m512 *d, const __mmask16 *positive,
                                       float best, int from)
{
    const __m512 vBest = _mm512_set1_ps(best);
    unsigned pass = 0;
    for (int k = 0; k < 4; ++k)
        pass |= _mm512_mask_cmp_ps_mask(positive[k], _mm512_mul_ps(n[k], n[k]),
                                        _mm512_mul_ps(vBest, d[k]), _CMP_GT_OQ);
    return pass & (0xFFFFu << from);
}

QF_AVX512 Iq1mSplit iq1mBestSplitAvx512(const float *x, const float *w, const int *order)
{
    // Per sorted position j and pattern k the three possible terms of each sum (levels 0, 1, 2
    // in lanes 0..2): (w v) x for N and (w v) v for D, v from the element's table under k.
    __m512 termN[16][4];
    __m512 termD[16][4];
    // The sums over positions before j where every split has level 0: the same in every lane,
    // accumulated in the same order.
    float prefixN[17][4] = {};
    float prefixD[17][4] = {};
    for (int j = 0; j < 16; ++j) {
        const int e = order[j];
        const __m512 we = _mm512_set1_ps(w[e]);
        const __m512 xe = _mm512_set1_ps(x[e]);
        for (int k = 0; k < 4; ++k) {
            const float *table = iq1mTable(k, e >= 8);
            const __m512 v = _mm512_maskz_loadu_ps(0x7, table);
            const __m512 wv = _mm512_mul_ps(we, v);
            termN[j][k] = _mm512_mul_ps(wv, xe);
            termD[j][k] = _mm512_mul_ps(wv, v);
            prefixN[j + 1][k] = prefixN[j][k] + w[e] * table[0] * x[e];
            prefixD[j + 1][k] = prefixD[j][k] + w[e] * table[0] * table[0];
        }
    }
    const Iq1mSplits &splits = kIq1mSplits;
    Iq1mSplit best{0, -1, 0, 0};
    float bestScore = -FLT_MAX;
    alignas(64) float num[4][16];
    alignas(64) float den[4][16];
    const __m512 zero = _mm512_setzero_ps();
    for (int c = 0; c < Iq1mSplits::kVectors; ++c) {
        const int p = 16 * c;
        const __mmask16 lanes = firstLanes(splits.count - p);
        const int first = splits.firstJ[c];
        __m512 n[4];
        __m512 d[4];
        for (int k = 0; k < 4; ++k) {
            n[k] = _mm512_set1_ps(prefixN[first][k]);
            d[k] = _mm512_set1_ps(prefixD[first][k]);
        }
        for (int j = first; j < 16; ++j) {
            const __m512i level = _mm512_load_si512(splits.level[c][j]);
            for (int k = 0; k < 4; ++k) {
                n[k] = _mm512_add_ps(n[k], _mm512_permutexvar_ps(level, termN[j][k]));
                d[k] = _mm512_add_ps(d[k], _mm512_permutexvar_ps(level, termD[j][k]));
            }
        }
        __mmask16 positive[4];
        for (int k = 0; k < 4; ++k) {
            positive[k] = _mm512_mask_cmp_ps_mask(lanes, d[k], zero, _CMP_GT_OQ);
            _mm512_store_ps(num[k], n[k]);
            _mm512_store_ps(den[k], d[k]);
        }
        // Lanes with a candidate that beats the current best; after an acceptance the lanes
        // after it are tested again against the new best.
        for (unsigned pass = passingLanes(n, d, positive, bestScore, 0); pass;
             pass = passingLanes(n, d, positive, bestScore, __builtin_ctz(pass) + 1)) {
            const int l = __builtin_ctz(pass);
            for (int k = 0; k < 4; ++k) {
                if (den[k][l] > 0 && num[k][l] * num[k][l] > bestScore * den[k][l]) {
                    best = {num[k][l] / den[k][l], splits.i1[p + l], splits.i2[p + l], k};
                    bestScore = best.s * num[k][l];
                }
            }
        }
    }
    return best;
}

QF_AVX512 void iq1SortedPositionsAvx512(const float *x, int n, int *order)
{
    const __mmask16 hiLanes = n == 32 ? __mmask16(0xFFFF) : __mmask16(0);
    const __m512 lo = _mm512_loadu_ps(x);
    const __m512 hi = _mm512_maskz_loadu_ps(hiLanes, x + 16);
    if (_mm512_cmp_ps_mask(lo, lo, _CMP_UNORD_Q)
        || _mm512_mask_cmp_ps_mask(hiLanes, hi, hi, _CMP_UNORD_Q)) {
        iq1SortedPositions(x, n, order);
        return;
    }
    for (int i = 0; i < n; ++i) {
        const __m512 xi = _mm512_set1_ps(x[i]);
        // Values below x_i, then equal values at earlier positions.
        const std::uint32_t below =
            std::uint32_t(_mm512_cmp_ps_mask(lo, xi, _CMP_LT_OQ))
            | std::uint32_t(_mm512_mask_cmp_ps_mask(hiLanes, hi, xi, _CMP_LT_OQ)) << 16;
        const std::uint32_t equal =
            std::uint32_t(_mm512_cmp_ps_mask(lo, xi, _CMP_EQ_OQ))
            | std::uint32_t(_mm512_mask_cmp_ps_mask(hiLanes, hi, xi, _CMP_EQ_OQ)) << 16;
        const std::uint32_t before = i == 0 ? 0u : (~0u >> (32 - i));
        order[__builtin_popcount(below) + __builtin_popcount(equal & before)] = i;
    }
}

} // namespace QuantFit::Codec

#else

namespace QuantFit::Codec {

// Never called without x86 (quantAvx512Enabled() is false there).
int iqBestNeighbourAvx512(const IqGridMaps &maps, int key, const float *t, const float *r,
                          float s)
{
    return iqBestNeighbourPortable(maps, key, t, r, s);
}

int iq1BestNeighbourAvx512(const IqGridMaps &maps, int key, const float *x, const float *w,
                           float s, const float *v)
{
    return iq1BestNeighbourPortable(maps, key, x, w, s, v);
}

void iqTrialsAvx512(const IqTypeSpec &, const IqGridMaps &, int, const float *, const float *,
                    const float *, float, float &, std::uint8_t *, bool *)
{
}

Iq1mSplit iq1sBestSplitAvx512(const float *sumX, const float *sumW)
{
    return iq1sBestSplitPortable(sumX, sumW);
}

Iq1mSplit iq1mBestSplitAvx512(const float *x, const float *w, const int *order)
{
    return iq1mBestSplitPortable(x, w, order);
}

void iq1SortedPositionsAvx512(const float *x, int n, int *order)
{
    iq1SortedPositions(x, n, order);
}

} // namespace QuantFit::Codec

#endif
