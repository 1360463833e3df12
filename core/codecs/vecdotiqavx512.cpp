#include "vecdotintiqavx2.h"
#include "vecdotportable.h"

// AVX-512 VNNI kernels of dotRowQ8() for IQ2_S and IQ3_S against Q8_K activations, the two
// I-quants with explicit sign bytes: the eight sign bytes of a pair of 32-element chunks are
// the 64-bit mask as they are, the grid magnitudes are unsigned, so vpdpbusd takes them directly
// and the signs go onto the activations (negated under the mask). IQ3_S gathers its 16 grid
// entries (4 values each) in one instruction; IQ2_S loads its 8 (8 values each) one by one, as
// the AVX2 decoder does. Sub-block scales as in the integer form (vecdotintavx2.h), one float FMA
// per chunk pair.
// Why not the other I-quants: gathering 8-byte IQ2 entries, and building the mask from IQ2_XXS /
// IQ2_XS / IQ3_XXS 7-bit sign indices, measured slower than their AVX2-decoder kernels on an
// AVX-512 machine (AMD EPYC, quantfit-bench dot).

#if defined(__x86_64__) || defined(__i386__)

#pragma GCC diagnostic ignored "-Wuninitialized" // see vecdotavx512.cpp
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define QF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace QuantFit::VecDot {

namespace {

using namespace Avx2;

// Lane scales of chunks c and c + 1 (see vecdotavx512.cpp).
template <int Sub>
QF_AVX512 inline __m512 pairScales(const float *s, int c)
{
    if constexpr (Sub == 32) {
        return _mm512_mask_blend_ps(__mmask16(0xFF00), _mm512_set1_ps(s[c]),
                                    _mm512_set1_ps(s[c + 1]));
    } else {
        const __m128 four = _mm_setr_ps(s[2 * c], s[2 * c + 1], s[2 * c + 2], s[2 * c + 3]);
        const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(four));
    }
}

// Per type: D (the AVX2 decoder, for kBytes, kSub and the scales) and pair(block, p, sign),
// the magnitudes of chunks 2p and 2p + 1 with their sign bits in `sign`.
struct PairIq3S {
    using D = DecIq3S;
    QF_AVX512 static __m512i pair(const std::uint8_t *b, int p, __mmask64 &sign)
    {
        const int c = 2 * p;
        __m512i idx = _mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(b + 2 + 8 * c)));
        const __mmask16 high = __mmask16(b[66 + c] | (b[67 + c] << 8));
        idx = _mm512_mask_add_epi32(idx, high, idx, _mm512_set1_epi32(256));
        std::uint64_t s;
        std::memcpy(&s, b + 74 + 4 * c, 8);
        sign = __mmask64(s);
        return _mm512_i32gather_epi32(idx, Codec::kIq3sGrid, 4);
    }
};

// IQ2_S: the grid entries by scalar loads (as the AVX2 decoder), the explicit sign bytes as the
// mask.
struct PairIq2S {
    using D = DecIq2S;
    QF_AVX512 static __m256i magnitudes(const std::uint8_t *b, int c)
    {
        const std::uint8_t *qs = b + 2 + 4 * c;
        const int qh = b[66 + c];
        const auto &g = Codec::kIq2sGrid;
        return grid4(g[qs[0] | ((qh & 3) << 8)], g[qs[1] | ((qh & 12) << 6)],
                     g[qs[2] | ((qh & 48) << 4)], g[qs[3] | ((qh & 192) << 2)]);
    }
    QF_AVX512 static __m512i pair(const std::uint8_t *b, int p, __mmask64 &sign)
    {
        const int c = 2 * p;
        std::uint64_t s;
        std::memcpy(&s, b + 34 + 4 * c, 8);
        sign = __mmask64(s);
        return _mm512_inserti64x4(_mm512_zextsi256_si512(magnitudes(b, c)), magnitudes(b, c + 1),
                                  1);
    }
};

template <class P>
QF_AVX512 float dotIq(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    using D = typename P::D;
    const auto *x = reinterpret_cast<const BlockQ8_K *>(xq);
    float s[16];
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const std::uint8_t *b = row + i * D::kBytes;
        const BlockQ8_K &xb = x[i];
        D::scales(b, s);
        // Two chains, so that consecutive FMAs do not wait for each other.
        __m512 even = _mm512_setzero_ps();
        __m512 odd = _mm512_setzero_ps();
        for (int p = 0; p < 4; p += 2) {
            __mmask64 s0;
            __mmask64 s1;
            const __m512i m0 = P::pair(b, p, s0);
            const __m512i m1 = P::pair(b, p + 1, s1);
            const __m512i x0 = _mm512_loadu_si512(xb.qs + 64 * p);
            const __m512i x1 = _mm512_loadu_si512(xb.qs + 64 * p + 64);
            const __m512i zero = _mm512_setzero_si512();
            const __m512i d0 = _mm512_dpbusd_epi32(zero, m0, _mm512_mask_sub_epi8(x0, s0, zero, x0));
            const __m512i d1 = _mm512_dpbusd_epi32(zero, m1, _mm512_mask_sub_epi8(x1, s1, zero, x1));
            even = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), pairScales<D::kSub>(s, 2 * p), even);
            odd = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), pairScales<D::kSub>(s, 2 * p + 2), odd);
        }
        acc = _mm512_fmadd_ps(_mm512_add_ps(even, odd), _mm512_set1_ps(xb.d), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

} // namespace

DotQ8Fn avx512IqKernel(GgmlType type)
{
    switch (type) {
    case GgmlType::IQ2_S: return dotIq<PairIq2S>;
    case GgmlType::IQ3_S: return dotIq<PairIq3S>;
    default: return nullptr;
    }
}

} // namespace QuantFit::VecDot

#else

namespace QuantFit::VecDot {

DotQ8Fn avx512IqKernel(GgmlType)
{
    return nullptr;
}

} // namespace QuantFit::VecDot

#endif
