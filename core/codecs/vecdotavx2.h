#pragma once

// Internal to the AVX2 dot kernels (vecdotavx2.cpp, vecdotq8avx2.cpp): loading and widening
// helpers. Every function carries the target attribute, so the files build without -mavx2 and
// run only after cpuHasAvx2Fma() said yes.

#if defined(__x86_64__) || defined(__i386__)

#include "quanthelpers.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define QF_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace QuantFit::VecDot::Avx2 {

QF_AVX2 inline __m256i load256(const void *p)
{
    return _mm256_loadu_si256(static_cast<const __m256i *>(p));
}

// Six-bit Q6_K codes of 32 elements: the low nibble of `low`, the 2 bits of qh at `shift`.
QF_AVX2 inline __m256i sixBitCodes(__m256i low, __m256i qh, int shift)
{
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, shift), _mm256_set1_epi8(0x03));
    return _mm256_or_si256(_mm256_and_si256(low, _mm256_set1_epi8(0x0F)),
                           _mm256_slli_epi16(high, 4));
}

QF_AVX2 inline float hsum(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

QF_AVX2 inline float halfToFloat(std::uint16_t h)
{
    return _cvtsh_ss(h);
}

// Eight int8 codes (low 8 bytes of v) to floats.
QF_AVX2 inline __m256 i8ToPs(__m128i v)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
}

// sum over 32 elements of code * x, codes given as 32 int8 in one 256-bit vector.
QF_AVX2 inline __m256 dot32(__m256i codes, const float *x)
{
    const __m128i lo = _mm256_castsi256_si128(codes);
    const __m128i hi = _mm256_extracti128_si256(codes, 1);
    __m256 acc = _mm256_mul_ps(i8ToPs(lo), _mm256_loadu_ps(x));
    acc = _mm256_fmadd_ps(i8ToPs(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8), acc);
    acc = _mm256_fmadd_ps(i8ToPs(hi), _mm256_loadu_ps(x + 16), acc);
    acc = _mm256_fmadd_ps(i8ToPs(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), acc);
    return acc;
}

// sum over 16 elements of code * x, codes as 16 int8 in a 128-bit vector.
QF_AVX2 inline __m256 dot16(__m128i codes, const float *x)
{
    const __m256 acc = _mm256_mul_ps(i8ToPs(codes), _mm256_loadu_ps(x));
    return _mm256_fmadd_ps(i8ToPs(_mm_srli_si128(codes, 8)), _mm256_loadu_ps(x + 8), acc);
}

QF_AVX2 inline __m256 sum32(const float *x)
{
    const __m256 a = _mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8));
    const __m256 b = _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24));
    return _mm256_add_ps(a, b);
}

// 16 bytes of nibbles -> 32 int8 codes: low nibbles first (elements 0..15), then high.
QF_AVX2 inline __m256i nibbles32(const std::uint8_t *qs)
{
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(qs));
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(raw, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

// sum over 16 elements of x.
QF_AVX2 inline __m256 sum16(const float *x)
{
    return _mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8));
}

// 32 bits (bit j = element j) to 32 bytes: 0xFF where the bit is set.
QF_AVX2 inline __m256i bitsToBytes(std::uint32_t bits)
{
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                           0x0303030303030303));
    const __m256i select = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

QF_AVX2 inline std::uint32_t loadU32(const std::uint8_t *p)
{
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// The IQ4 codebook as a byte-shuffle table (both 128-bit lanes).
QF_AVX2 inline __m256i iq4Table()
{
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i *>(Codec::kValuesIq4nl));
    return _mm256_broadcastsi128_si256(t);
}

} // namespace QuantFit::VecDot::Avx2

#endif
