#include "vecdotintiqavx2.h"

#include "vecdotportable.h"

// AVX2 kernels built on the integer-form decoders (vecdotintavx2.h): the decoder table for
// decodeIntRow(), and the dotRowQ8() / dotRow() kernels of the types without a hand-written
// AVX2 kernel in vecdotavx2.cpp / vecdotq8avx2.cpp (the I-quants below IQ4, TQ1_0, TQ2_0,
// MXFP4, NVFP4, Q1_0, Q2_0). Per 32-element chunk: signed int8 products summed exactly in
// int32 lanes (maddubs on |code| and the activation with the code's sign: |code| <= 127 and
// |q| <= 127 keep the 16-bit pair sums below 32767), converted to float once and scaled by the
// sub-block scale; Q8_K super-blocks apply their activation scale once per block.

#if defined(__x86_64__) || defined(__i386__)

namespace QuantFit::VecDot {

namespace {

using namespace Avx2;

// sum of code * x over 32 signed bytes, as 8 int32 lanes (lane i: bytes 4i..4i+3).
QF_AVX2 inline __m256i signedDot32(__m256i codes, __m256i x)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(codes, codes),
                                           _mm256_sign_epi8(x, codes));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// The scale of every int32 lane of a chunk: one per chunk (sub-blocks of 32) or one per
// 16-element half (lanes 0..3 and 4..7).
template <int Sub>
QF_AVX2 inline __m256 chunkScales(const float *s, int c, float mul)
{
    if constexpr (Sub == 32) {
        return _mm256_set1_ps(s[c] * mul);
    } else {
        const float a = s[2 * c] * mul;
        const float b = s[2 * c + 1] * mul;
        return _mm256_setr_ps(a, a, a, a, b, b, b, b);
    }
}

template <class D>
QF_AVX2 float dotQ8Int(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    constexpr int kChunks = D::kBlock / 32;
    float s[16];
    float m[16];
    __m256 acc = _mm256_setzero_ps();
    float minTerm = 0;
    for (std::int64_t i = 0; i < n / D::kBlock; ++i) {
        const std::uint8_t *b = row + i * D::kBytes;
        D::scales(b, s);
        if constexpr (D::kAffine)
            D::mins(b, m);
        if constexpr (D::kQ8K) {
            const BlockQ8_K &xb = reinterpret_cast<const BlockQ8_K *>(xq)[i];
            // Two chains, so that consecutive FMAs do not wait for each other.
            __m256 even = _mm256_setzero_ps();
            __m256 odd = _mm256_setzero_ps();
            for (int c = 0; c < kChunks; c += 2) {
                const __m256i p0 = signedDot32(D::chunk(b, c), load256(xb.qs + 32 * c));
                const __m256i p1 = signedDot32(D::chunk(b, c + 1), load256(xb.qs + 32 * c + 32));
                even = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), chunkScales<D::kSub>(s, c, 1.f),
                                       even);
                odd = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), chunkScales<D::kSub>(s, c + 1, 1.f),
                                      odd);
            }
            acc = _mm256_fmadd_ps(_mm256_add_ps(even, odd), _mm256_set1_ps(xb.d), acc);
            if constexpr (D::kAffine) {
                float mt = 0;
                for (int k = 0; k < D::kBlock / D::kSub; ++k) {
                    const int bsum = D::kSub == 16
                        ? int(xb.bsums[k])
                        : int(xb.bsums[2 * k]) + int(xb.bsums[2 * k + 1]);
                    mt += m[k] * float(bsum);
                }
                minTerm += mt * xb.d;
            }
        } else {
            // The affine 32-element types (Q4_1, Q5_1) pair with Q8_1 and have their own kernel
            // (vecdotq8avx2.cpp): Q8_0 activations never meet a min term here.
            static_assert(!D::kAffine, "affine types with Q8_0-sized blocks take Q8_1");
            const auto *xb = reinterpret_cast<const BlockQ8_0 *>(xq) + i * kChunks;
            for (int c = 0; c < kChunks; ++c) {
                const float dy = halfToFloat(xb[c].d);
                const __m256i p = signedDot32(D::chunk(b, c), load256(xb[c].qs));
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), chunkScales<D::kSub>(s, c, dy), acc);
            }
        }
    }
    return hsum(acc) - minTerm;
}

// dotRow() over the integer form: codes widened to float against x, per sub-block
// scale * sum(code * x) - min * sum(x).
template <class D>
QF_AVX2 float dotF32Int(const std::uint8_t *row, const float *x, std::int64_t n)
{
    constexpr int kChunks = D::kBlock / 32;
    float s[16];
    float m[16];
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / D::kBlock; ++i) {
        const std::uint8_t *b = row + i * D::kBytes;
        D::scales(b, s);
        if constexpr (D::kAffine)
            D::mins(b, m);
        for (int c = 0; c < kChunks; ++c, x += 32) {
            const __m256i codes = D::chunk(b, c);
            if constexpr (D::kSub == 32) {
                acc = _mm256_fmadd_ps(_mm256_set1_ps(s[c]), dot32(codes, x), acc);
                if constexpr (D::kAffine)
                    acc = _mm256_fnmadd_ps(_mm256_set1_ps(m[c]), sum32(x), acc);
            } else {
                const __m128i lo = _mm256_castsi256_si128(codes);
                const __m128i hi = _mm256_extracti128_si256(codes, 1);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(s[2 * c]), dot16(lo, x), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(s[2 * c + 1]), dot16(hi, x + 16), acc);
                if constexpr (D::kAffine) {
                    acc = _mm256_fnmadd_ps(_mm256_set1_ps(m[2 * c]), sum16(x), acc);
                    acc = _mm256_fnmadd_ps(_mm256_set1_ps(m[2 * c + 1]), sum16(x + 16), acc);
                }
            }
        }
    }
    return hsum(acc);
}

} // namespace

IntDecodeFn avx2IntDecoder(GgmlType type)
{
    switch (type) {
    case GgmlType::Q8_0: return decodeBlock<DecQ8_0>;
    case GgmlType::Q4_0: return decodeBlock<DecQ4_0>;
    case GgmlType::Q4_1: return decodeBlock<DecQ4_1>;
    case GgmlType::Q5_0: return decodeBlock<DecQ5_0>;
    case GgmlType::Q5_1: return decodeBlock<DecQ5_1>;
    case GgmlType::IQ4_NL: return decodeBlock<DecIq4Nl>;
    case GgmlType::MXFP4: return decodeBlock<DecMxfp4>;
    case GgmlType::NVFP4: return decodeBlock<DecNvfp4>;
    case GgmlType::Q1_0: return decodeBlock<DecQ1_0>;
    case GgmlType::Q2_0: return decodeBlock<DecQ2_0>;
    case GgmlType::TQ1_0: return decodeBlock<DecTq1_0>;
    case GgmlType::TQ2_0: return decodeBlock<DecTq2_0>;
    case GgmlType::Q2_K: return decodeBlock<DecQ2_K>;
    case GgmlType::Q3_K: return decodeBlock<DecQ3_K>;
    case GgmlType::Q4_K: return decodeBlock<DecQ45_K<false>>;
    case GgmlType::Q5_K: return decodeBlock<DecQ45_K<true>>;
    case GgmlType::Q6_K: return decodeBlock<DecQ6_K>;
    case GgmlType::IQ4_XS: return decodeBlock<DecIq4Xs>;
    case GgmlType::IQ2_XXS: return decodeBlock<DecIq2Xxs>;
    case GgmlType::IQ2_XS: return decodeBlock<DecIq2Xs>;
    case GgmlType::IQ2_S: return decodeBlock<DecIq2S>;
    case GgmlType::IQ3_XXS: return decodeBlock<DecIq3Xxs>;
    case GgmlType::IQ3_S: return decodeBlock<DecIq3S>;
    case GgmlType::IQ1_S: return decodeBlock<DecIq1S>;
    case GgmlType::IQ1_M: return decodeBlock<DecIq1M>;
    default: return nullptr;
    }
}

DotQ8Fn avx2IntQ8Kernel(GgmlType type)
{
    switch (type) {
    case GgmlType::MXFP4: return dotQ8Int<DecMxfp4>;
    case GgmlType::NVFP4: return dotQ8Int<DecNvfp4>;
    case GgmlType::Q1_0: return dotQ8Int<DecQ1_0>;
    case GgmlType::Q2_0: return dotQ8Int<DecQ2_0>;
    case GgmlType::TQ1_0: return dotQ8Int<DecTq1_0>;
    case GgmlType::TQ2_0: return dotQ8Int<DecTq2_0>;
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

DotFn avx2IntKernel(GgmlType type)
{
    switch (type) {
    case GgmlType::MXFP4: return dotF32Int<DecMxfp4>;
    case GgmlType::NVFP4: return dotF32Int<DecNvfp4>;
    case GgmlType::Q1_0: return dotF32Int<DecQ1_0>;
    case GgmlType::Q2_0: return dotF32Int<DecQ2_0>;
    case GgmlType::TQ1_0: return dotF32Int<DecTq1_0>;
    case GgmlType::TQ2_0: return dotF32Int<DecTq2_0>;
    case GgmlType::IQ2_XXS: return dotF32Int<DecIq2Xxs>;
    case GgmlType::IQ2_XS: return dotF32Int<DecIq2Xs>;
    case GgmlType::IQ2_S: return dotF32Int<DecIq2S>;
    case GgmlType::IQ3_XXS: return dotF32Int<DecIq3Xxs>;
    case GgmlType::IQ3_S: return dotF32Int<DecIq3S>;
    case GgmlType::IQ1_S: return dotF32Int<DecIq1S>;
    case GgmlType::IQ1_M: return dotF32Int<DecIq1M>;
    default: return nullptr;
    }
}

} // namespace QuantFit::VecDot

#else

namespace QuantFit::VecDot {

IntDecodeFn avx2IntDecoder(GgmlType)
{
    return nullptr;
}

DotQ8Fn avx2IntQ8Kernel(GgmlType)
{
    return nullptr;
}

DotFn avx2IntKernel(GgmlType)
{
    return nullptr;
}

} // namespace QuantFit::VecDot

#endif
