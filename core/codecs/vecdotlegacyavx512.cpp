#include "vecdotintavx2.h"
#include "vecdotportable.h"

#include <array>

// AVX-512 VNNI kernels of dotRowQ8() for the legacy 32-element block types (Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0) against Q8_0 or Q8_1 activations, eight blocks per step:
//  - the fp16 fields of the eight weight blocks (d, and m for Q4_1/Q5_1) and of the eight
//    activation blocks (d, and Q8_1's block sum s) are picked out of four 64-byte loads each by
//    two word permutes (vpermt2w) and converted at once, so one float multiply gives the eight
//    block scales d * dx and, for the affine types, the eight min terms m * s;
//  - each pair of blocks is one 512-bit register of unsigned codes in the activations' element
//    order: one load, one word permute placing the 16 code bytes of either block twice, one
//    variable shift and one mask for the nibbles (Q8_0: its codes + 128); Q5's fifth bit comes
//    from the two 32-bit qh words as a 64-bit mask (one masked add of 16);
//  - vpdpbusd sums code * activation per group of four elements, exactly in int32; the code
//    offset (8, 16, 128) comes off through a second vpdpbusd of the offset with the
//    activations, so no sign juggling is needed;
//  - one float FMA per pair applies the block scales per lane; the lanes are summed once, at
//    the end of the row.
// Blocks past the last whole step (n / 32 not a multiple of 8) take a one-block loop. Every
// load stays inside the row: the 64-byte loads of a step are placed so that they end at or
// before its last byte. The integer sums are the reference's (vecdotint.cpp); only the float
// summation order differs.

#if defined(__x86_64__) || defined(__i386__)

#pragma GCC diagnostic ignored "-Wuninitialized" // see vecdotavx512.cpp
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define QF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace QuantFit::VecDot {

namespace {

using namespace Avx2;

// Per type: block bytes, offsets of the codes and of qh (-1: none), whether m follows d
// (affine), the offset subtracted from the unsigned codes, whether the codes are 32 int8
// (Q8_0), the activation block (34 bytes Q8_0, 36 bytes Q8_1 with s at 2) and the AVX2
// decoder of vecdotintavx2.h for the one-block tail.
struct LQ4_0 {
    static constexpr int kBytes = 18, kQs = 2, kQh = -1, kOffset = 8;
    static constexpr bool kAffine = false, kInt8 = false;
    using Dec = DecQ4_0;
};
struct LQ4_1 {
    static constexpr int kBytes = 20, kQs = 4, kQh = -1, kOffset = 0;
    static constexpr bool kAffine = true, kInt8 = false;
    using Dec = DecQ4_1;
};
struct LQ5_0 {
    static constexpr int kBytes = 22, kQs = 6, kQh = 2, kOffset = 16;
    static constexpr bool kAffine = false, kInt8 = false;
    using Dec = DecQ5_0;
};
struct LQ5_1 {
    static constexpr int kBytes = 24, kQs = 8, kQh = 4, kOffset = 0;
    static constexpr bool kAffine = true, kInt8 = false;
    using Dec = DecQ5_1;
};
struct LQ8_0 {
    static constexpr int kBytes = 34, kQs = 2, kQh = -1, kOffset = 128;
    static constexpr bool kAffine = false, kInt8 = true;
    using Dec = DecQ8_0;
};

// Where the second 64-byte load of four consecutive blocks of `bytes` each starts: right
// after the first when four blocks take 128 bytes or more (their fp16 fields then lie in the
// first 128), else so that it ends with the fourth block.
constexpr int secondLoad(int bytes)
{
    return 4 * bytes >= 128 ? 64 : 4 * bytes - 64;
}

// vpermt2w indices gathering two fp16 fields (byte offsets f0, f1 in the block) of blocks
// 0..3 from the loads at 0 and secondLoad(): word k = field f0 of block k % 4 for k < 8,
// word 8 + k = field f1. Blocks 4..7 use the same indices on their own loads (blended later).
template <int Bytes, int F0, int F1>
constexpr std::array<std::int16_t, 32> headerIndex()
{
    std::array<std::int16_t, 32> idx{};
    for (int w = 0; w < 32; ++w) {
        const int byte = (w % 4) * Bytes + ((w / 8) % 2 ? F1 : F0);
        idx[std::size_t(w)] = std::int16_t(byte < 64 ? byte / 2
                                                     : 32 + (byte - secondLoad(Bytes)) / 2);
    }
    return idx;
}

template <int Bytes, int F0, int F1>
QF_AVX512 inline __m512 headerFloats(const std::uint8_t *p)
{
    alignas(64) static constexpr auto kIdx = headerIndex<Bytes, F0, F1>();
    const __m512i idx = _mm512_load_si512(kIdx.data());
    constexpr int kSecond = secondLoad(Bytes);
    const __m512i lo = _mm512_permutex2var_epi16(_mm512_loadu_si512(p), idx,
                                                 _mm512_loadu_si512(p + kSecond));
    const __m512i hi = _mm512_permutex2var_epi16(_mm512_loadu_si512(p + 4 * Bytes), idx,
                                                 _mm512_loadu_si512(p + 4 * Bytes + kSecond));
    // words 0..3 and 8..11 from blocks 0..3, words 4..7 and 12..15 from blocks 4..7
    const __m512i words = _mm512_mask_blend_epi16(__mmask32(0xF0F0), lo, hi);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(words));
}

// The code bytes of pair j (blocks 2j, 2j + 1 of a step) are read by one 64-byte load at
// loadOffset(j) from the pair's start (inside the step: at the step's start for j = 0, else
// ending with the pair). vpermw indices: 128-bit lanes 0, 1 = block 2j's 16 code bytes, lanes
// 2, 3 = block 2j + 1's (lanes 1 and 3 are shifted right by 4 for the high nibbles).
template <class L>
constexpr int loadOffset(int j)
{
    return j == 0 ? 0 : 2 * L::kBytes - 64;
}

template <class L>
constexpr std::array<std::int16_t, 32> nibbleIndex(int j)
{
    std::array<std::int16_t, 32> idx{};
    const int rel = L::kQs - loadOffset<L>(j); // code bytes of block 2j from the load
    for (int w = 0; w < 32; ++w)
        idx[std::size_t(w)] = std::int16_t((rel + (w / 16) * L::kBytes) / 2 + w % 8);
    return idx;
}

QF_AVX512 inline __m512i join(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1);
}

template <class L>
QF_AVX512 inline __m512i pairCodes(const std::uint8_t *pair, int j, __m512i idx)
{
    if constexpr (L::kInt8) {
        const __m512i q = join(load256(pair + L::kQs), load256(pair + L::kBytes + L::kQs));
        return _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80))); // code + 128
    } else {
        const __m512i raw = _mm512_loadu_si512(pair + loadOffset<L>(j));
        const __m512i spread = _mm512_permutexvar_epi16(idx, raw);
        const __m512i shifts = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004,
                                                 0, 0, 0x0004000400040004, 0x0004000400040004);
        __m512i q = _mm512_and_si512(_mm512_srlv_epi16(spread, shifts), _mm512_set1_epi8(0x0F));
        if constexpr (L::kQh >= 0) {
            const std::uint64_t bits = loadU32(pair + L::kQh)
                | std::uint64_t(loadU32(pair + L::kBytes + L::kQh)) << 32;
            q = _mm512_mask_add_epi8(q, _cvtu64_mask64(bits), q, _mm512_set1_epi8(16));
        }
        return q;
    }
}

// R rows against one activation vector: the activation side of a step (its scales, the
// joined pairs of code bytes and their offset sums) is computed once and shared by the rows.
// Every row takes the same operations in the same order whatever R is, so a row's result does
// not depend on how many rows were computed with it.
template <class L, int R>
QF_AVX512 void dotLegacyRows(const std::uint8_t *rows, std::size_t stride,
                             const std::uint8_t *xq, std::int64_t n, float *out)
{
    constexpr int kB = L::kBytes;
    constexpr int kXBytes = L::kAffine ? 36 : 34; // Q8_1 : Q8_0
    constexpr int kXQs = L::kAffine ? 4 : 2;
    alignas(64) static constexpr std::array<std::int16_t, 32> kIdx0 = nibbleIndex<L>(0);
    alignas(64) static constexpr std::array<std::int16_t, 32> kIdx1 = nibbleIndex<L>(1);
    const __m512i idx0 = _mm512_load_si512(kIdx0.data());
    const __m512i idx1 = _mm512_load_si512(kIdx1.data()); // the same for pairs 1..3
    const std::int64_t nb = n / 32;
    __m512 acc[R];
    __m512 accMin[R]; // lanes 8..15: sum of m * s per block position
    for (int r = 0; r < R; ++r) {
        acc[r] = _mm512_setzero_ps();
        accMin[r] = _mm512_setzero_ps();
    }
    std::int64_t i = 0;
    for (; i + 8 <= nb; i += 8) {
        const std::uint8_t *x = xq + i * kXBytes;
        const __m512 xh = headerFloats<kXBytes, 0, L::kAffine ? 2 : 0>(x);
        __m512i xv[4];
        __m512i off[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
            xv[j] = join(load256(x + 2 * j * kXBytes + kXQs),
                         load256(x + (2 * j + 1) * kXBytes + kXQs));
            if constexpr (L::kOffset != 0)
                off[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                             _mm512_set1_epi8(static_cast<char>(L::kOffset)),
                                             xv[j]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const std::uint8_t *w = rows + std::size_t(r) * stride + i * kB;
            // lanes 0..7: d * dx of the eight blocks, 8..15: m * s (affine types)
            const __m512 prod = _mm512_mul_ps(headerFloats<kB, 0, L::kAffine ? 2 : 0>(w), xh);
            if constexpr (L::kAffine)
                accMin[r] = _mm512_add_ps(accMin[r], prod);
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
                const __m512i q = pairCodes<L>(w + 2 * j * kB, j, j == 0 ? idx0 : idx1);
                __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, xv[j]);
                if constexpr (L::kOffset != 0)
                    p = _mm512_sub_epi32(p, off[j]);
                const __m512i lanes = _mm512_inserti64x4(_mm512_set1_epi32(2 * j),
                                                         _mm256_set1_epi32(2 * j + 1), 1);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p),
                                         _mm512_permutexvar_ps(lanes, prod), acc[r]);
            }
        }
    }
    for (int r = 0; r < R; ++r) {
        const std::uint8_t *row = rows + std::size_t(r) * stride;
        float sum = _mm512_reduce_add_ps(acc[r]);
        if constexpr (L::kAffine) {
            const __m256 upper = _mm256_castsi256_ps(
                _mm512_extracti64x4_epi64(_mm512_castps_si512(accMin[r]), 1));
            sum += hsum(upper);
        }
        // the remaining blocks one at a time (signed codes of the AVX2 decoder)
        for (std::int64_t k = i; k < nb; ++k) {
            const std::uint8_t *b = row + k * kB;
            const std::uint8_t *x = xq + k * kXBytes;
            const __m256i c = L::Dec::chunk(b, 0);
            const __m256i xs = _mm256_sign_epi8(load256(x + kXQs), c);
            const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(c),
                                                  xs);
            const __m128i p4 = _mm_add_epi32(_mm256_castsi256_si128(p),
                                             _mm256_extracti128_si256(p, 1));
            const __m128i p2 = _mm_add_epi32(p4, _mm_unpackhi_epi64(p4, p4));
            const int isum = _mm_cvtsi128_si32(p2) + _mm_extract_epi32(p2, 1);
            std::uint16_t h[2];
            std::memcpy(h, x, 4);
            float s;
            L::Dec::scales(b, &s);
            sum += s * halfToFloat(h[0]) * float(isum);
            if constexpr (L::kAffine) {
                float m; // the integer form's min: -m of the block
                L::Dec::mins(b, &m);
                sum -= m * halfToFloat(h[1]);
            }
        }
        out[r] = sum;
    }
}

template <class L>
QF_AVX512 float dotLegacy(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    float out;
    dotLegacyRows<L, 1>(row, 0, xq, n, &out);
    return out;
}

// Four rows at a time, then one.
template <class L>
QF_AVX512 void dotLegacyManyRows(const std::uint8_t *rows, std::size_t stride,
                                 std::int64_t nRows, const std::uint8_t *xq, std::int64_t n,
                                 float *out)
{
    std::int64_t r = 0;
    for (; r + 4 <= nRows; r += 4)
        dotLegacyRows<L, 4>(rows + std::size_t(r) * stride, stride, xq, n, out + r);
    for (; r < nRows; ++r)
        dotLegacyRows<L, 1>(rows + std::size_t(r) * stride, stride, xq, n, out + r);
}

} // namespace

DotQ8Fn avx512LegacyKernel(GgmlType type)
{
    switch (type) {
    case GgmlType::Q4_0: return dotLegacy<LQ4_0>;
    case GgmlType::Q4_1: return dotLegacy<LQ4_1>;
    case GgmlType::Q5_0: return dotLegacy<LQ5_0>;
    case GgmlType::Q5_1: return dotLegacy<LQ5_1>;
    case GgmlType::Q8_0: return dotLegacy<LQ8_0>;
    default: return nullptr;
    }
}

DotRowsQ8Fn avx512LegacyRowsKernel(GgmlType type)
{
    switch (type) {
    case GgmlType::Q4_0: return dotLegacyManyRows<LQ4_0>;
    case GgmlType::Q4_1: return dotLegacyManyRows<LQ4_1>;
    case GgmlType::Q5_0: return dotLegacyManyRows<LQ5_0>;
    case GgmlType::Q5_1: return dotLegacyManyRows<LQ5_1>;
    case GgmlType::Q8_0: return dotLegacyManyRows<LQ8_0>;
    default: return nullptr;
    }
}

} // namespace QuantFit::VecDot

#else

namespace QuantFit::VecDot {

DotQ8Fn avx512LegacyKernel(GgmlType)
{
    return nullptr;
}

DotRowsQ8Fn avx512LegacyRowsKernel(GgmlType)
{
    return nullptr;
}

} // namespace QuantFit::VecDot

#endif
