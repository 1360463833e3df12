#include "vecdotavx2.h"
#include "vecdotportable.h"

#include "blocksiq4.h"
#include "blockskquants.h"

// AVX-512 VNNI kernels of dotRowQ8() for the super-block types with integer sub-block scales
// (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS) against Q8_K activations, as the AVX2 kernels of
// vecdotq8avx2.cpp compute them: every code is made unsigned (Q3_K: low bits + 4 * high bit,
// Q6_K: the 6-bit code, IQ4_XS: codebook value + 128), the code * activation products of two
// 32-element chunks at once are summed per lane and multiplied by their integer sub-block scale
// (codes below 64: vpmaddubsw to int16, then vpdpwssd with the scales as int16; IQ4_XS, whose
// codes reach 255: vpdpbusd to int32, then vpmulld) and summed over the super-block in int32;
// the code offset (4, 32,
// 128) comes off exactly through the activation's 16-value sums (bsums), the affine types' min
// term through the same sums in float. One float FMA per super-block.
// All sums stay far inside int32: |lane| <= 4 * 255 * 127 per chunk times a scale <= 63.

#if defined(__x86_64__) || defined(__i386__)

#pragma GCC diagnostic ignored "-Wuninitialized" // see vecdotavx512.cpp
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define QF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace QuantFit::VecDot {

namespace {

using namespace Avx2;

// The integer scales of a super-block: `lanes` holds one int32 per sub-block (16 or 8),
// spread over the lanes of chunk pair p by laneScales(); `bsum` (and `bmin`) the same scales as
// 16 int16 in the order of the activation's 16-value sums (a 32-element sub-block's scale twice),
// so one madd gives sum_k scale_k * bsum_k.
struct Scales {
    __m512i lanes;
    __m256i bsum;
    __m256i bmin;
    float d;
    float dmin;
};

template <int Sub>
QF_AVX512 inline __m512i laneScales(__m512i lanes, int p)
{
    if constexpr (Sub == 16) {
        const __m512i idx = _mm512_add_epi32(
            _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
            _mm512_set1_epi32(4 * p));
        return _mm512_permutexvar_epi32(idx, lanes);
    } else {
        const __m512i idx = _mm512_add_epi32(
            _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
            _mm512_set1_epi32(2 * p));
        return _mm512_permutexvar_epi32(idx, lanes);
    }
}

// Eight byte scales (uint64, sub-block j in byte j) of a 32-element-sub-block type.
QF_AVX512 inline void scales32(std::uint64_t bytes, __m512i &lanes, __m256i &bsum)
{
    const __m128i v = _mm_cvtsi64_si128(static_cast<long long>(bytes));
    lanes = _mm512_cvtepu8_epi32(v);
    bsum = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v));
}

// Sixteen signed byte scales of a 16-element-sub-block type.
QF_AVX512 inline void scales16(__m128i v, __m512i &lanes, __m256i &bsum)
{
    lanes = _mm512_cvtepi8_epi32(v);
    bsum = _mm256_cvtepi8_epi16(v);
}

// 32 bytes in both halves, the upper half shifted right by `upper` bits more than the lower
// one (16-bit shifts; callers mask the bits they keep).
QF_AVX512 inline __m512i twoShifts(__m256i v, int lower, int upper)
{
    const __m512i both = _mm512_broadcast_i64x4(v);
    const __m512i counts = _mm512_inserti64x4(_mm512_set1_epi16(short(lower)),
                                              _mm256_set1_epi16(short(upper)), 1);
    return _mm512_srlv_epi16(both, counts);
}

// Bit `lower` of each byte in the lower half, bit `upper` in the upper half of 32 bytes.
QF_AVX512 inline __mmask64 twoBits(__m256i v, int lower, int upper)
{
    const __m512i sel = _mm512_inserti64x4(
        _mm512_set1_epi8(static_cast<char>(1u << lower)),
        _mm256_set1_epi8(static_cast<char>(1u << upper)), 1);
    return _mm512_test_epi8_mask(_mm512_broadcast_i64x4(v), sel);
}

// Per type: kBytes, kSub, kOffset (subtracted from every unsigned code), kAffine;
// prepare() fills the integer sub-block scales (and mins) and returns d; pair() gives the
// unsigned codes of chunks 2p and 2p + 1.
struct KQ2 {
    static constexpr int kBytes = 84, kSub = 16, kOffset = 0;
    static constexpr bool kAffine = true;
    QF_AVX512 static Scales prepare(const std::uint8_t *b)
    {
        const auto &blk = *reinterpret_cast<const BlockQ2_K *>(b);
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk.scales));
        const __m128i mask = _mm_set1_epi8(0x0F);
        Scales s;
        __m512i unused;
        scales16(_mm_and_si128(raw, mask), s.lanes, s.bsum);
        scales16(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), unused, s.bmin);
        s.d = halfToFloat(blk.d);
        s.dmin = halfToFloat(blk.dmin);
        return s;
    }
    QF_AVX512 static __m512i pair(const std::uint8_t *b, int p)
    {
        const int g = 2 * (p % 2);
        const __m512i v = twoShifts(load256(b + 16 + 32 * (p / 2)), 2 * g, 2 * g + 2);
        return _mm512_and_si512(v, _mm512_set1_epi8(3));
    }
};

struct KQ3 {
    static constexpr int kBytes = 110, kSub = 16, kOffset = 4;
    static constexpr bool kAffine = false;
    // The 6-bit signed scales (blockskquants.h q3kScale) four at a time in 32-bit words.
    QF_AVX512 static Scales prepare(const std::uint8_t *b)
    {
        const auto &blk = *reinterpret_cast<const BlockQ3_K *>(b);
        std::uint32_t a[3];
        std::memcpy(a, blk.scales, 12);
        const std::uint32_t lo = 0x0F0F0F0Fu;
        const std::uint32_t hi = 0x03030303u;
        const __m128i v = _mm_setr_epi32(int((a[0] & lo) | ((a[2] & hi) << 4)),
                                         int((a[1] & lo) | (((a[2] >> 2) & hi) << 4)),
                                         int(((a[0] >> 4) & lo) | (((a[2] >> 4) & hi) << 4)),
                                         int(((a[1] >> 4) & lo) | (((a[2] >> 6) & hi) << 4)));
        Scales s;
        scales16(_mm_sub_epi8(v, _mm_set1_epi8(32)), s.lanes, s.bsum);
        s.d = halfToFloat(blk.d);
        return s;
    }
    // u = low 2 bits + 4 * high bit, so the value u - 4 is (low - 4) without the high bit.
    QF_AVX512 static __m512i pair(const std::uint8_t *b, int p)
    {
        const int g = 2 * (p % 2);
        const __m512i low = _mm512_and_si512(
            twoShifts(load256(b + 32 + 32 * (p / 2)), 2 * g, 2 * g + 2), _mm512_set1_epi8(3));
        const __mmask64 high = twoBits(load256(b), 2 * p, 2 * p + 1);
        return _mm512_mask_add_epi8(low, high, low, _mm512_set1_epi8(4));
    }
};

template <bool Five>
struct KQ45 {
    static constexpr int kBytes = Five ? 176 : 144, kSub = 32, kOffset = 0;
    static constexpr bool kAffine = true;
    // The 12-byte scale/min packing (blockskquants.h unpackScaleMinK4) in 32-bit words.
    QF_AVX512 static Scales prepare(const std::uint8_t *b)
    {
        std::uint32_t a[3];
        std::memcpy(a, b + 4, 12);
        const std::uint32_t six = 0x3F3F3F3Fu;
        const std::uint32_t lo = 0x0F0F0F0Fu;
        const std::uint32_t hi = 0x03030303u;
        const std::uint64_t sc =
            (a[0] & six) | std::uint64_t((a[2] & lo) | (((a[0] >> 6) & hi) << 4)) << 32;
        const std::uint64_t mn =
            (a[1] & six) | std::uint64_t(((a[2] >> 4) & lo) | (((a[1] >> 6) & hi) << 4)) << 32;
        Scales s;
        __m512i unused;
        scales32(sc, s.lanes, s.bsum);
        scales32(mn, unused, s.bmin);
        std::uint16_t h[2];
        std::memcpy(h, b, 4);
        s.d = halfToFloat(h[0]);
        s.dmin = halfToFloat(h[1]);
        return s;
    }
    QF_AVX512 static __m512i pair(const std::uint8_t *b, int p)
    {
        const __m512i v = _mm512_and_si512(twoShifts(load256(b + (Five ? 48 : 16) + 32 * p), 0, 4),
                                           _mm512_set1_epi8(0x0F));
        if constexpr (!Five)
            return v;
        const __mmask64 high = twoBits(load256(b + 16), 2 * p, 2 * p + 1);
        return _mm512_mask_add_epi8(v, high, v, _mm512_set1_epi8(16));
    }
};

struct KQ6 {
    static constexpr int kBytes = 210, kSub = 16, kOffset = 32;
    static constexpr bool kAffine = false;
    QF_AVX512 static Scales prepare(const std::uint8_t *b)
    {
        const auto &blk = *reinterpret_cast<const BlockQ6_K *>(b);
        Scales s;
        scales16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(blk.scales)), s.lanes, s.bsum);
        s.d = halfToFloat(blk.d);
        return s;
    }
    // Chunks 2p, 2p + 1 (h = p / 2, g = 2 (p % 2) and g + 1): low nibbles from the 64 ql bytes
    // of half h, two high bits from qh at 2g and 2g + 2.
    QF_AVX512 static __m512i pair(const std::uint8_t *b, int p)
    {
        const int h = p / 2;
        const int g = 2 * (p % 2);
        const __m512i ql = _mm512_loadu_si512(b + 64 * h);
        const __m512i low = _mm512_and_si512(_mm512_srli_epi16(ql, 4 * (p % 2)),
                                             _mm512_set1_epi8(0x0F));
        const __m512i high = _mm512_and_si512(twoShifts(load256(b + 128 + 32 * h), 2 * g,
                                                        2 * g + 2),
                                              _mm512_set1_epi8(3));
        return _mm512_or_si512(low, _mm512_slli_epi16(high, 4));
    }
};

struct KIq4Xs {
    static constexpr int kBytes = 136, kSub = 32, kOffset = 128;
    static constexpr bool kAffine = false;
    QF_AVX512 static Scales prepare(const std::uint8_t *b)
    {
        const auto &blk = *reinterpret_cast<const BlockIq4Xs *>(b);
        // The eight signed scales as bytes.
        std::uint64_t bytes = 0;
        for (int ib = 0; ib < 8; ++ib)
            bytes |= std::uint64_t(std::uint8_t(iq4xsScale(blk, ib))) << (8 * ib);
        const __m128i v = _mm_cvtsi64_si128(static_cast<long long>(bytes));
        Scales s;
        s.lanes = _mm512_cvtepi8_epi32(v);
        s.bsum = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, v));
        s.d = halfToFloat(blk.d);
        return s;
    }
    // 32 bytes of nibbles as 128-bit lanes (a, a, b, b), the odd lanes shifted by 4: chunk 2p
    // (a's low then high nibbles) and chunk 2p + 1 (b's), through the codebook + 128.
    QF_AVX512 static __m512i pair(const std::uint8_t *b, int p)
    {
        const __m512i raw = _mm512_zextsi256_si512(load256(b + 8 + 32 * p));
        const __m512i spread = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3),
                                                        raw);
        const __m512i counts = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004,
                                                 0, 0, 0x0004000400040004, 0x0004000400040004);
        const __m512i idx = _mm512_and_si512(_mm512_srlv_epi16(spread, counts),
                                             _mm512_set1_epi8(0x0F));
        const __m128i t = _mm_add_epi8(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(Codec::kValuesIq4nl)),
            _mm_set1_epi8(static_cast<char>(0x80)));
        return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(t), idx);
    }
};

template <class K>
QF_AVX512 float dotKQuant(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *x = reinterpret_cast<const BlockQ8_K *>(xq);
    __m512 acc = _mm512_setzero_ps();
    __m256 accMin = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const std::uint8_t *b = row + i * K::kBytes;
        const BlockQ8_K &xb = x[i];
        const Scales sc = K::prepare(b);
        // Two chains of integer sums, so consecutive dpbusd/mullo do not wait for each other.
        __m512i s0 = _mm512_setzero_si512();
        __m512i s1 = _mm512_setzero_si512();
        for (int p = 0; p < 4; p += 2) {
            const __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), K::pair(b, p),
                                                   _mm512_loadu_si512(xb.qs + 64 * p));
            const __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), K::pair(b, p + 1),
                                                   _mm512_loadu_si512(xb.qs + 64 * p + 64));
            s0 = _mm512_add_epi32(s0, _mm512_mullo_epi32(p0, laneScales<K::kSub>(sc.lanes, p)));
            s1 = _mm512_add_epi32(s1,
                                  _mm512_mullo_epi32(p1, laneScales<K::kSub>(sc.lanes, p + 1)));
        }
        __m512i isum = _mm512_add_epi32(s0, s1);
        const __m256i bsums = load256(xb.bsums);
        if constexpr (K::kOffset != 0) {
            // offset * sum_k scale_k * bsum_k, in 8 lanes
            const __m256i off = _mm256_mullo_epi32(_mm256_madd_epi16(bsums, sc.bsum),
                                                   _mm256_set1_epi32(K::kOffset));
            isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(off));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(sc.d * xb.d), _mm512_cvtepi32_ps(isum), acc);
        if constexpr (K::kAffine)
            accMin = _mm256_fmadd_ps(_mm256_set1_ps(sc.dmin * xb.d),
                                     _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, sc.bmin)), accMin);
    }
    return _mm512_reduce_add_ps(acc) - hsum(accMin);
}

// The index of pair p's 16-bit scales in Scales::bsum, word w of the pair: Sub 16, sub-block
// 4p + w / 8; Sub 32, sub-block 2p + w / 16 (its first copy in bsum).
template <int Sub>
QF_AVX512 inline __m512i wordScaleIndex(int p)
{
    alignas(64) std::int16_t idx[32];
    for (int w = 0; w < 32; ++w)
        idx[w] = std::int16_t(Sub == 16 ? 4 * p + w / 8 : 2 * (2 * p + w / 16));
    return _mm512_load_si512(idx);
}

// dotKQuant() for codes below 64 (all but IQ4_XS): the scales applied in 16 bits, so that a
// chunk pair costs two instructions besides its codes: vpmaddubsw sums code * activation over
// neighbouring pairs in int16 (at most 2 * 63 * 128, no saturation) and vpdpwssd multiplies
// those by the sub-block scales and accumulates in int32. The integer sum of a super-block is
// the same as dotKQuant()'s, so only the float summation order differs.
template <class K>
QF_AVX512 float dotKQuantWords(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *x = reinterpret_cast<const BlockQ8_K *>(xq);
    const __m512i idx0 = wordScaleIndex<K::kSub>(0);
    const __m512i idx1 = wordScaleIndex<K::kSub>(1);
    const __m512i idx2 = wordScaleIndex<K::kSub>(2);
    const __m512i idx3 = wordScaleIndex<K::kSub>(3);
    __m512 acc = _mm512_setzero_ps();
    __m256 accMin = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const std::uint8_t *b = row + i * K::kBytes;
        const BlockQ8_K &xb = x[i];
        const Scales sc = K::prepare(b);
        const __m512i words = _mm512_zextsi256_si512(sc.bsum);
        const __m512i m0 = _mm512_maddubs_epi16(K::pair(b, 0), _mm512_loadu_si512(xb.qs));
        const __m512i m1 = _mm512_maddubs_epi16(K::pair(b, 1), _mm512_loadu_si512(xb.qs + 64));
        const __m512i m2 = _mm512_maddubs_epi16(K::pair(b, 2), _mm512_loadu_si512(xb.qs + 128));
        const __m512i m3 = _mm512_maddubs_epi16(K::pair(b, 3), _mm512_loadu_si512(xb.qs + 192));
        __m512i s0 = _mm512_madd_epi16(m0, _mm512_permutexvar_epi16(idx0, words));
        __m512i s1 = _mm512_madd_epi16(m1, _mm512_permutexvar_epi16(idx1, words));
        s0 = _mm512_dpwssd_epi32(s0, m2, _mm512_permutexvar_epi16(idx2, words));
        s1 = _mm512_dpwssd_epi32(s1, m3, _mm512_permutexvar_epi16(idx3, words));
        __m512i isum = _mm512_add_epi32(s0, s1);
        const __m256i bsums = load256(xb.bsums);
        if constexpr (K::kOffset != 0) {
            const __m256i off = _mm256_mullo_epi32(_mm256_madd_epi16(bsums, sc.bsum),
                                                   _mm256_set1_epi32(K::kOffset));
            isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(off));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(sc.d * xb.d), _mm512_cvtepi32_ps(isum), acc);
        if constexpr (K::kAffine)
            accMin = _mm256_fmadd_ps(_mm256_set1_ps(sc.dmin * xb.d),
                                     _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, sc.bmin)), accMin);
    }
    return _mm512_reduce_add_ps(acc) - hsum(accMin);
}

} // namespace

DotQ8Fn avx512KQuantKernel(GgmlType type)
{
    switch (type) {
    case GgmlType::Q2_K: return dotKQuantWords<KQ2>;
    case GgmlType::Q3_K: return dotKQuantWords<KQ3>;
    case GgmlType::Q4_K: return dotKQuantWords<KQ45<false>>;
    case GgmlType::Q5_K: return dotKQuantWords<KQ45<true>>;
    case GgmlType::Q6_K: return dotKQuantWords<KQ6>;
    case GgmlType::IQ4_XS: return dotKQuant<KIq4Xs>;
    default: return nullptr;
    }
}

} // namespace QuantFit::VecDot

#else

namespace QuantFit::VecDot {

DotQ8Fn avx512KQuantKernel(GgmlType)
{
    return nullptr;
}

} // namespace QuantFit::VecDot

#endif
