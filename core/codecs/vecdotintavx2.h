#pragma once

// Internal to the SIMD dot kernels: AVX2 decoders of every block type into its integer form
// (vecdotint.h), the I-quants below IQ4 in vecdotintiqavx2.h. One struct per type with
//   kBlock, kBytes, kSub, kAffine, kQ8K   elements and bytes per block, elements per scale,
//                                         value = scale * code - min, Q8_K (else Q8_0) activations
//   chunk(block, c)                       int8 codes of elements 32c .. 32c + 31 of the block
//   scales(block, s), mins(block, m)      kBlock / kSub floats (mins only when kAffine; fp16
//                                         fields converted with F16C, exact like fp16ToFp32)
// The kernels of vecdotintavx2.cpp (and through decodeIntRow() core/infer's matmul panels)
// inline them, and so do the AVX-512 kernels of vecdotavx512.cpp and vecdotiqavx512.cpp (their
// target includes AVX2). Each agrees byte for byte with the portable decoder of vecdotint.cpp
// (tests/core/codecs/testcodecsvecdotint.cpp).

#if defined(__x86_64__) || defined(__i386__)

#include "blocksfp4.h"
#include "blocksiq1.h"
#include "blocksiq2.h"
#include "blocksiq3.h"
#include "blocksiq4.h"
#include "blockskquants.h"
#include "blockslegacy.h"
#include "blockslowbit.h"
#include "vecdotavx2.h"
#include "vecdotint.h"

namespace QuantFit::VecDot::Avx2 {

QF_AVX2 inline __m256i fp4Table()
{
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i *>(Codec::kValuesFp4));
    return _mm256_broadcastsi128_si256(t);
}

// Four 8-byte grid entries (IQ1/IQ2) as one vector, entry 0 lowest.
QF_AVX2 inline __m256i grid4(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d)
{
    return _mm256_set_epi64x(static_cast<long long>(d), static_cast<long long>(c),
                             static_cast<long long>(b), static_cast<long long>(a));
}

// Codes = magnitudes with the sign bits of `bits` (bit j = element j) applied.
QF_AVX2 inline __m256i applySignBits(__m256i magnitudes, std::uint32_t bits)
{
    const __m256i neg = bitsToBytes(bits);
    return _mm256_sub_epi8(_mm256_xor_si256(magnitudes, neg), neg);
}

// Four 7-bit sign indices of `word` (at bits 0, 7, 14, 21) applied to 32 magnitudes.
QF_AVX2 inline __m256i applySignIndices(__m256i magnitudes, std::uint32_t word)
{
    const __m256i s = grid4(kSignBytesIq2xs[word & 127], kSignBytesIq2xs[(word >> 7) & 127],
                            kSignBytesIq2xs[(word >> 14) & 127],
                            kSignBytesIq2xs[(word >> 21) & 127]);
    return _mm256_sign_epi8(magnitudes, s);
}

// Base-3 digits of bytes (TQ1_0): ((byte * pow mod 256) * 3) >> 8, pow per 16-bit lane for the
// even and the odd bytes.
QF_AVX2 inline __m256i base3Digits(__m256i bytes, __m256i powEven, __m256i powOdd)
{
    const __m256i low = _mm256_set1_epi16(0x00FF);
    const __m256i k768 = _mm256_set1_epi16(768);
    const __m256i even = _mm256_and_si256(_mm256_mullo_epi16(bytes, powEven), low);
    const __m256i odd = _mm256_and_si256(
        _mm256_mullo_epi16(_mm256_srli_epi16(bytes, 8), powOdd), low);
    return _mm256_or_si256(_mm256_mulhi_epu16(even, k768),
                           _mm256_slli_epi16(_mm256_mulhi_epu16(odd, k768), 8));
}

//
// legacy blocks of 32 and the 4-bit codebooks
//

struct DecQ8_0 {
    static constexpr int kBlock = 32, kBytes = 34, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int) { return load256(b + 2); }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        s[0] = halfToFloat(reinterpret_cast<const BlockQ8_0 *>(b)->d);
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecQ4_0 {
    static constexpr int kBlock = 32, kBytes = 18, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int)
    {
        return _mm256_sub_epi8(nibbles32(b + 2), _mm256_set1_epi8(8));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        s[0] = halfToFloat(reinterpret_cast<const BlockQ4_0 *>(b)->d);
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecQ4_1 {
    static constexpr int kBlock = 32, kBytes = 20, kSub = 32;
    static constexpr bool kAffine = true, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int) { return nibbles32(b + 4); }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        s[0] = halfToFloat(reinterpret_cast<const BlockQ4_1 *>(b)->d);
    }
    QF_AVX2 static void mins(const std::uint8_t *b, float *m)
    {
        m[0] = -halfToFloat(reinterpret_cast<const BlockQ4_1 *>(b)->m);
    }
};

QF_AVX2 inline __m256i fiveBitCodes(const std::uint8_t *qh, const std::uint8_t *qs)
{
    const __m256i high = _mm256_and_si256(bitsToBytes(loadU32(qh)), _mm256_set1_epi8(16));
    return _mm256_or_si256(nibbles32(qs), high);
}

struct DecQ5_0 {
    static constexpr int kBlock = 32, kBytes = 22, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int)
    {
        return _mm256_sub_epi8(fiveBitCodes(b + 2, b + 6), _mm256_set1_epi8(16));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        s[0] = halfToFloat(reinterpret_cast<const BlockQ5_0 *>(b)->d);
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecQ5_1 {
    static constexpr int kBlock = 32, kBytes = 24, kSub = 32;
    static constexpr bool kAffine = true, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int) { return fiveBitCodes(b + 4, b + 8); }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        s[0] = halfToFloat(reinterpret_cast<const BlockQ5_1 *>(b)->d);
    }
    QF_AVX2 static void mins(const std::uint8_t *b, float *m)
    {
        m[0] = -halfToFloat(reinterpret_cast<const BlockQ5_1 *>(b)->m);
    }
};

struct DecIq4Nl {
    static constexpr int kBlock = 32, kBytes = 18, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int)
    {
        return _mm256_shuffle_epi8(iq4Table(), nibbles32(b + 2));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        s[0] = halfToFloat(reinterpret_cast<const BlockIq4Nl *>(b)->d);
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecMxfp4 {
    static constexpr int kBlock = 32, kBytes = 17, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int)
    {
        return _mm256_shuffle_epi8(fp4Table(), nibbles32(b + 1));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s) { s[0] = Codec::mxfp4HalfScale(b[0]); }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

// Codec::nvfp4HalfScale() of every byte (it calls ldexp; a table lookup is ten times faster).
inline const std::array<float, 256> kNvfp4HalfScales = [] {
    std::array<float, 256> t{};
    for (int u = 0; u < 256; ++u)
        t[std::size_t(u)] = Codec::nvfp4HalfScale(std::uint8_t(u));
    return t;
}();

// NVFP4: sub-block k = bytes 8k..8k+7, low nibbles first, then high nibbles.
struct DecNvfp4 {
    static constexpr int kBlock = 64, kBytes = 36, kSub = 16;
    static constexpr bool kAffine = false, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b + 4 + 16 * c));
        const __m128i mask = _mm_set1_epi8(0x0F);
        const __m128i lo = _mm_and_si128(raw, mask);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
        const __m256i idx = _mm256_set_m128i(_mm_unpackhi_epi64(lo, hi), _mm_unpacklo_epi64(lo, hi));
        return _mm256_shuffle_epi8(fp4Table(), idx);
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        for (int k = 0; k < 4; ++k)
            s[k] = kNvfp4HalfScales[b[k]];
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

//
// one- and two-bit scalar types
//

struct DecQ1_0 {
    static constexpr int kBlock = 128, kBytes = 18, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const __m256i set = bitsToBytes(loadU32(b + 2 + 4 * c));
        return _mm256_sub_epi8(_mm256_and_si256(set, _mm256_set1_epi8(2)), _mm256_set1_epi8(1));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        const float d = halfToFloat(reinterpret_cast<const BlockQ1_0 *>(b)->d);
        s[0] = s[1] = s[2] = s[3] = d;
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

// Q2_0: element j at byte j/4, bits 2(j%4): the four shifts interleaved back into order.
struct DecQ2_0 {
    static constexpr int kBlock = 64, kBytes = 18, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = false;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(b + 2 + 8 * c));
        const __m128i m3 = _mm_set1_epi8(3);
        const __m128i v0 = _mm_and_si128(raw, m3);
        const __m128i v1 = _mm_and_si128(_mm_srli_epi16(raw, 2), m3);
        const __m128i v2 = _mm_and_si128(_mm_srli_epi16(raw, 4), m3);
        const __m128i v3 = _mm_and_si128(_mm_srli_epi16(raw, 6), m3);
        const __m128i a = _mm_unpacklo_epi8(v0, v1);
        const __m128i d = _mm_unpacklo_epi8(v2, v3);
        const __m256i q = _mm256_set_m128i(_mm_unpackhi_epi16(a, d), _mm_unpacklo_epi16(a, d));
        return _mm256_sub_epi8(q, _mm256_set1_epi8(1));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        s[0] = s[1] = halfToFloat(reinterpret_cast<const BlockQ2_0 *>(b)->d);
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecTq2_0 {
    static constexpr int kBlock = 256, kBytes = 66, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const __m256i raw = load256(b + 32 * (c / 4));
        const __m256i q = _mm256_and_si256(_mm256_srl_epi16(raw, _mm_cvtsi32_si128(2 * (c % 4))),
                                           _mm256_set1_epi8(3));
        return _mm256_sub_epi8(q, _mm256_set1_epi8(1));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        const float d = halfToFloat(reinterpret_cast<const BlockTq2_0 *>(b)->d);
        for (int k = 0; k < 8; ++k)
            s[k] = d;
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

// TQ1_0: chunks 0..4 are digit c of bytes 0..31; chunk 5 digits 0 and 1 of bytes 32..47,
// chunk 6 digits 2 and 3, chunk 7 digit 4 of bytes 32..47 then digit k of qh[j] at 240+4k+j.
struct DecTq1_0 {
    static constexpr int kBlock = 256, kBytes = 54, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        static constexpr short kPow3[5] = {1, 3, 9, 27, 81};
        __m256i bytes;
        __m256i pow;
        if (c < 5) {
            bytes = load256(b);
            pow = _mm256_set1_epi16(kPow3[c]);
        } else {
            const __m128i mid = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b + 32));
            if (c < 7) {
                bytes = _mm256_set_m128i(mid, mid);
                pow = _mm256_set_m128i(_mm_set1_epi16(kPow3[2 * c - 9]),
                                       _mm_set1_epi16(kPow3[2 * c - 10]));
            } else {
                bytes = _mm256_set_m128i(_mm_set1_epi32(int(loadU32(b + 48))), mid);
                pow = _mm256_set_m128i(_mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27),
                                       _mm_set1_epi16(81));
            }
        }
        return _mm256_sub_epi8(base3Digits(bytes, pow, pow), _mm256_set1_epi8(1));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        const float d = halfToFloat(reinterpret_cast<const BlockTq1_0 *>(b)->d);
        for (int k = 0; k < 8; ++k)
            s[k] = d;
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

//
// K-quants: chunk c = elements 32c.., i.e. h = c / 4, g = c % 4 in the 2-bit and 6-bit layouts
//

QF_AVX2 inline __m256i shiftRight16(__m256i v, int bits)
{
    return _mm256_srl_epi16(v, _mm_cvtsi32_si128(bits));
}

QF_AVX2 inline __m256i bitSet(__m256i v, int bit)
{
    const __m256i m = _mm256_set1_epi8(static_cast<char>(1u << bit));
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, m), m);
}

struct DecQ2_K {
    static constexpr int kBlock = 256, kBytes = 84, kSub = 16;
    static constexpr bool kAffine = true, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const __m256i raw = load256(b + 16 + 32 * (c / 4));
        return _mm256_and_si256(shiftRight16(raw, 2 * (c % 4)), _mm256_set1_epi8(3));
    }
    QF_AVX2 static void scales(const std::uint8_t *p, float *s)
    {
        const auto &b = *reinterpret_cast<const BlockQ2_K *>(p);
        const float d = halfToFloat(b.d);
        for (int k = 0; k < 16; ++k)
            s[k] = d * float(b.scales[k] & 0xF);
    }
    QF_AVX2 static void mins(const std::uint8_t *p, float *m)
    {
        const auto &b = *reinterpret_cast<const BlockQ2_K *>(p);
        const float dmin = halfToFloat(b.dmin);
        for (int k = 0; k < 16; ++k)
            m[k] = dmin * float(b.scales[k] >> 4);
    }
};

struct DecQ3_K {
    static constexpr int kBlock = 256, kBytes = 110, kSub = 16;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const __m256i raw = load256(b + 32 + 32 * (c / 4));
        const __m256i low = _mm256_and_si256(shiftRight16(raw, 2 * (c % 4)), _mm256_set1_epi8(3));
        const __m256i set = bitSet(load256(b), c);
        return _mm256_sub_epi8(low, _mm256_andnot_si256(set, _mm256_set1_epi8(4)));
    }
    QF_AVX2 static void scales(const std::uint8_t *p, float *s)
    {
        const auto &b = *reinterpret_cast<const BlockQ3_K *>(p);
        const float d = halfToFloat(b.d);
        for (int k = 0; k < 16; ++k)
            s[k] = d * float(q3kScale(b.scales, k));
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

template <bool Five>
struct DecQ45_K {
    static constexpr int kBlock = 256, kBytes = Five ? 176 : 144, kSub = 32;
    static constexpr bool kAffine = true, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const __m256i raw = load256(b + (Five ? 48 : 16) + 32 * (c / 2));
        __m256i q = _mm256_and_si256(shiftRight16(raw, 4 * (c % 2)), _mm256_set1_epi8(0x0F));
        if constexpr (Five)
            q = _mm256_or_si256(q, _mm256_and_si256(bitSet(load256(b + 16), c),
                                                    _mm256_set1_epi8(16)));
        return q;
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        std::uint16_t dBits;
        std::memcpy(&dBits, b, 2);
        const float d = halfToFloat(dBits);
        for (int j = 0; j < 8; ++j) {
            std::uint8_t sc;
            std::uint8_t mn;
            unpackScaleMinK4(j, b + 4, sc, mn);
            s[j] = d * float(sc);
        }
    }
    QF_AVX2 static void mins(const std::uint8_t *b, float *m)
    {
        std::uint16_t mBits;
        std::memcpy(&mBits, b + 2, 2);
        const float dmin = halfToFloat(mBits);
        for (int j = 0; j < 8; ++j) {
            std::uint8_t sc;
            std::uint8_t mn;
            unpackScaleMinK4(j, b + 4, sc, mn);
            m[j] = dmin * float(mn);
        }
    }
};

struct DecQ6_K {
    static constexpr int kBlock = 256, kBytes = 210, kSub = 16;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const int h = c / 4;
        const int g = c % 4;
        const __m256i ql = load256(b + 64 * h + 32 * (g % 2));
        const __m256i qh = load256(b + 128 + 32 * h);
        const __m256i low = _mm256_and_si256(shiftRight16(ql, 4 * (g / 2)), _mm256_set1_epi8(0x0F));
        const __m256i high = _mm256_and_si256(shiftRight16(qh, 2 * g), _mm256_set1_epi8(3));
        return _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)),
                               _mm256_set1_epi8(32));
    }
    QF_AVX2 static void scales(const std::uint8_t *p, float *s)
    {
        const auto &b = *reinterpret_cast<const BlockQ6_K *>(p);
        const float d = halfToFloat(b.d);
        for (int k = 0; k < 16; ++k)
            s[k] = d * float(b.scales[k]);
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecIq4Xs {
    static constexpr int kBlock = 256, kBytes = 136, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        return _mm256_shuffle_epi8(iq4Table(), nibbles32(b + 8 + 16 * c));
    }
    QF_AVX2 static void scales(const std::uint8_t *p, float *s)
    {
        const auto &b = *reinterpret_cast<const BlockIq4Xs *>(p);
        const float d = halfToFloat(b.d);
        for (int ib = 0; ib < 8; ++ib)
            s[ib] = d * float(iq4xsScale(b, ib));
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

/// Decodes one block through D into the buffers (the IntDecodeFn of D).
template <class D>
QF_AVX2 void decodeBlock(const std::uint8_t *block, std::int8_t *codes, float *scales,
                         float *mins)
{
    for (int c = 0; c < D::kBlock / 32; ++c)
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(codes + 32 * c), D::chunk(block, c));
    D::scales(block, scales);
    if constexpr (D::kAffine)
        D::mins(block, mins);
}

} // namespace QuantFit::VecDot::Avx2

#endif
