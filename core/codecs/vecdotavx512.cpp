#include "vecdotintiqavx2.h"
#include "vecdotportable.h"

#include <type_traits>

// AVX-512 kernels (F, BW, VL, VNNI). Every function carries the target attribute, so the file
// builds without -mavx512f and runs only after cpuHasAvx512() said yes (vecdot.cpp).
//  1. Float activations: F16 and BF16 rows, 16 lanes per FMA, four accumulators. (An F32
//     kernel of the same shape ran at half the AVX2 kernel's speed on an AVX-512 machine, AMD
//     EPYC, quantfit-bench dot, so F32 keeps the AVX2 one.)
//  2. 8-bit activations over the integer form: two 32-element chunks per 512-bit register,
//     decoded by the AVX2 decoders of vecdotintavx2.h; vpdpbusd multiplies |code| (unsigned)
//     by the activation carrying the code's sign and sums four products per int32 lane, exactly.
//     Lanes 0..7 belong to the first chunk, 8..15 to the second (0..3 / 4..7 / .. for 16-element
//     sub-blocks); one float FMA per register applies the sub-block scales.
// vecdot.cpp lets DotPath::Auto use a kernel only where quantfit-bench dot measured it faster
// than the AVX2 one.

#if defined(__x86_64__) || defined(__i386__)

// Why: GCC 12's AVX-512 intrinsics (_mm512_undefined_*, used inside _mm512_cvtph_ps,
// _mm512_reduce_add_ps and others) self-initialise a variable, which -Wuninitialized reports
// once per caller; no variable of ours is concerned.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define QF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace QuantFit::VecDot {

namespace {

using namespace Avx2;

QF_AVX512 inline float hsum512(__m512 v)
{
    return _mm512_reduce_add_ps(v);
}

//
// float activations
//

QF_AVX512 inline __m512 loadHalf16(const std::uint8_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
}

QF_AVX512 inline __m512 loadBf16x16(const std::uint8_t *p)
{
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

template <bool Bf16>
QF_AVX512 inline __m512 load16(const std::uint8_t *p)
{
    if constexpr (Bf16)
        return loadBf16x16(p);
    else
        return loadHalf16(p);
}

template <bool Bf16>
QF_AVX512 float dotHalf(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto load = load16<Bf16>;
    __m512 a0 = _mm512_setzero_ps();
    __m512 a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps();
    __m512 a3 = _mm512_setzero_ps();
    std::int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(load(row + 2 * i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(load(row + 2 * i + 32), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(load(row + 2 * i + 64), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(load(row + 2 * i + 96), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(load(row + 2 * i), _mm512_loadu_ps(x + i), a0);
    if (i < n) {
        const __mmask16 k = __mmask16((1u << (n - i)) - 1);
        const __m256i h = _mm256_maskz_loadu_epi16(k, row + 2 * i);
        const __m512 w = Bf16
            ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
            : _mm512_cvtph_ps(h);
        a1 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(k, x + i), a1);
    }
    return hsum512(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

//
// 8-bit activations over the integer form
//

QF_AVX512 inline __m512i join(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1);
}

// sum of code * x over 64 signed bytes as 16 int32 lanes (lane i: bytes 4i..4i+3).
QF_AVX512 inline __m512i signedDot64(__m512i codes, __m512i x)
{
    const __mmask64 negative = _mm512_movepi8_mask(codes);
    const __m512i xs = _mm512_mask_sub_epi8(x, negative, _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(codes), xs);
}

// Lane scales of chunks c and c + 1: s[c] * mulA (lanes 0..7), s[c + 1] * mulB (8..15) for
// 32-element sub-blocks; s[2c .. 2c + 3] four lanes each for 16-element ones.
template <int Sub>
QF_AVX512 inline __m512 pairScales(const float *s, int c, float mulA, float mulB)
{
    if constexpr (Sub == 32) {
        return _mm512_mask_blend_ps(__mmask16(0xFF00), _mm512_set1_ps(s[c] * mulA),
                                    _mm512_set1_ps(s[c + 1] * mulB));
    } else {
        const __m128 four = _mm_setr_ps(s[2 * c] * mulA, s[2 * c + 1] * mulA,
                                        s[2 * c + 2] * mulB, s[2 * c + 3] * mulB);
        const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(four));
    }
}

// The activation blocks of a 32-element type: Q8_1 (with its block sum) for the affine ones,
// Q8_0 for the others.
template <class D>
using XBlock32 = std::conditional_t<D::kAffine, BlockQ8_1, BlockQ8_0>;

// Blocks i and i + 1 of a type with 32-element blocks against their activations; the affine
// types' min terms, min * s, go to the scalar minTerm (llama.cpp's summs).
template <class D>
QF_AVX512 inline void blockPair(const std::uint8_t *row, const XBlock32<D> *xb, std::int64_t i,
                                __m512 &acc, float &minTerm)
{
    float s[2];
    float m[2];
    const std::uint8_t *b0 = row + i * D::kBytes;
    const std::uint8_t *b1 = b0 + D::kBytes;
    D::scales(b0, s);
    D::scales(b1, s + 1);
    const float d0 = halfToFloat(xb[i].d);
    const float d1 = halfToFloat(xb[i + 1].d);
    const __m512i x = join(load256(xb[i].qs), load256(xb[i + 1].qs));
    const __m512i p = signedDot64(join(D::chunk(b0, 0), D::chunk(b1, 0)), x);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), pairScales<32>(s, 0, d0, d1), acc);
    if constexpr (D::kAffine) {
        D::mins(b0, m);
        D::mins(b1, m + 1);
        minTerm += m[0] * halfToFloat(xb[i].s) + m[1] * halfToFloat(xb[i + 1].s);
    }
}

template <class D>
QF_AVX512 float dotQ8Int(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    constexpr int kChunks = D::kBlock / 32;
    float s[16];
    float m[16];
    __m512 acc = _mm512_setzero_ps();
    float minTerm = 0;
    const std::int64_t nb = n / D::kBlock;
    if constexpr (D::kQ8K) {
        for (std::int64_t i = 0; i < nb; ++i) {
            const std::uint8_t *b = row + i * D::kBytes;
            const BlockQ8_K &xb = reinterpret_cast<const BlockQ8_K *>(xq)[i];
            D::scales(b, s);
            // Two chains, so that consecutive FMAs do not wait for each other.
            __m512 even = _mm512_setzero_ps();
            __m512 odd = _mm512_setzero_ps();
            for (int c = 0; c < kChunks; c += 4) {
                const __m512i p0 = signedDot64(join(D::chunk(b, c), D::chunk(b, c + 1)),
                                               _mm512_loadu_si512(xb.qs + 32 * c));
                const __m512i p1 = signedDot64(join(D::chunk(b, c + 2), D::chunk(b, c + 3)),
                                               _mm512_loadu_si512(xb.qs + 32 * c + 64));
                even = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0),
                                       pairScales<D::kSub>(s, c, 1.f, 1.f), even);
                odd = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1),
                                      pairScales<D::kSub>(s, c + 2, 1.f, 1.f), odd);
            }
            acc = _mm512_fmadd_ps(_mm512_add_ps(even, odd), _mm512_set1_ps(xb.d), acc);
            if constexpr (D::kAffine) {
                D::mins(b, m);
                float mt = 0;
                for (int k = 0; k < D::kBlock / D::kSub; ++k) {
                    const int bsum = D::kSub == 16
                        ? int(xb.bsums[k])
                        : int(xb.bsums[2 * k]) + int(xb.bsums[2 * k + 1]);
                    mt += m[k] * float(bsum);
                }
                minTerm += mt * xb.d;
            }
        }
    } else if constexpr (kChunks >= 2) {
        // No min term here: no affine type has 64- or 128-element blocks.
        static_assert(!D::kAffine, "the 64/128-element Q8_0 branch has no min term");
        for (std::int64_t i = 0; i < nb; ++i) {
            const std::uint8_t *b = row + i * D::kBytes;
            const auto *xb = reinterpret_cast<const BlockQ8_0 *>(xq) + i * kChunks;
            D::scales(b, s);
            for (int c = 0; c < kChunks; c += 2) {
                const __m512i x = join(load256(xb[c].qs), load256(xb[c + 1].qs));
                const __m512i p = signedDot64(join(D::chunk(b, c), D::chunk(b, c + 1)), x);
                const __m512 sv = pairScales<D::kSub>(s, c, halfToFloat(xb[c].d),
                                                      halfToFloat(xb[c + 1].d));
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sv, acc);
            }
        }
    } else {
        // Blocks of 32: two blocks per register, two accumulator chains.
        const auto *xb = reinterpret_cast<const XBlock32<D> *>(xq);
        std::int64_t i = 0;
        __m512 acc2 = _mm512_setzero_ps();
        for (; i + 3 < nb; i += 4) {
            blockPair<D>(row, xb, i, acc, minTerm);
            blockPair<D>(row, xb, i + 2, acc2, minTerm);
        }
        if (i + 1 < nb) {
            blockPair<D>(row, xb, i, acc, minTerm);
            i += 2;
        }
        acc = _mm512_add_ps(acc, acc2);
        if (i < nb) { // odd block count: the last block in the low half, zeros above
            const std::uint8_t *b0 = row + i * D::kBytes;
            D::scales(b0, s);
            s[1] = 0;
            const float d0 = halfToFloat(xb[i].d);
            const __m512i x = _mm512_zextsi256_si512(load256(xb[i].qs));
            const __m512i p = signedDot64(_mm512_zextsi256_si512(D::chunk(b0, 0)), x);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), pairScales<32>(s, 0, d0, 0.f), acc);
            if constexpr (D::kAffine) {
                D::mins(b0, m);
                minTerm += m[0] * halfToFloat(xb[i].s);
            }
        }
    }
    return hsum512(acc) - minTerm;
}

} // namespace

DotFn avx512Kernel(GgmlType type)
{
    switch (type) {
    case GgmlType::F16: return dotHalf<false>;
    case GgmlType::BF16: return dotHalf<true>;
    default: return nullptr;
    }
}

DotQ8Fn avx512Q8Kernel(GgmlType type)
{
    switch (type) {
    case GgmlType::Q8_0: return dotQ8Int<DecQ8_0>;
    case GgmlType::Q4_0: return dotQ8Int<DecQ4_0>;
    case GgmlType::Q4_1: return dotQ8Int<DecQ4_1>;
    case GgmlType::Q5_0: return dotQ8Int<DecQ5_0>;
    case GgmlType::Q5_1: return dotQ8Int<DecQ5_1>;
    case GgmlType::IQ4_NL: return dotQ8Int<DecIq4Nl>;
    case GgmlType::MXFP4: return dotQ8Int<DecMxfp4>;
    case GgmlType::NVFP4: return dotQ8Int<DecNvfp4>;
    case GgmlType::Q1_0: return dotQ8Int<DecQ1_0>;
    case GgmlType::Q2_0: return dotQ8Int<DecQ2_0>;
    case GgmlType::TQ1_0: return dotQ8Int<DecTq1_0>;
    case GgmlType::TQ2_0: return dotQ8Int<DecTq2_0>;
    case GgmlType::Q2_K: return dotQ8Int<DecQ2_K>;
    case GgmlType::Q3_K: return dotQ8Int<DecQ3_K>;
    case GgmlType::Q4_K: return dotQ8Int<DecQ45_K<false>>;
    case GgmlType::Q5_K: return dotQ8Int<DecQ45_K<true>>;
    case GgmlType::Q6_K: return dotQ8Int<DecQ6_K>;
    case GgmlType::IQ4_XS: return dotQ8Int<DecIq4Xs>;
    case GgmlType::IQ2_XXS: return dotQ8Int<DecIq2Xxs>;
    case GgmlType::IQ2_XS: return dotQ8Int<DecIq2Xs>;
    case GgmlType::IQ2_S: return dotQ8Int<DecIq2S>;
    case GgmlType::IQ3_XXS: return dotQ8Int<DecIq3Xxs>;
    case GgmlType::IQ3_S: return dotQ8Int<DecIq3S>;
    case GgmlType::IQ1_S: return dotQ8Int<DecIq1S>;
    case GgmlType::IQ1_M: return dotQ8Int<DecIq1M>;
    default: return nullptr;
    }
}

} // namespace QuantFit::VecDot

#else

namespace QuantFit::VecDot {

DotFn avx512Kernel(GgmlType)
{
    return nullptr;
}

DotQ8Fn avx512Q8Kernel(GgmlType)
{
    return nullptr;
}

} // namespace QuantFit::VecDot

#endif
