#pragma once

// Internal to the SIMD dot kernels: AVX2 decoders of the grid I-quants (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) into their integer form, with the interface described in
// vecdotintavx2.h: grid entries gathered by scalar loads, signs applied with sign/xor.

#if defined(__x86_64__) || defined(__i386__)

#include "vecdotintavx2.h"

namespace QuantFit::VecDot::Avx2 {

struct DecIq2Xxs {
    static constexpr int kBlock = 256, kBytes = 66, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const std::uint32_t w0 = loadU32(b + 2 + 8 * c);
        const std::uint32_t w1 = loadU32(b + 6 + 8 * c);
        const auto &g = Codec::kIq2xxsGrid;
        return applySignIndices(grid4(g[w0 & 255], g[(w0 >> 8) & 255], g[(w0 >> 16) & 255],
                                      g[w0 >> 24]),
                                w1);
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        const float d = halfToFloat(reinterpret_cast<const BlockIq2Xxs *>(b)->d);
        for (int k = 0; k < 8; ++k)
            s[k] = d * (0.5f + float(loadU32(b + 6 + 8 * k) >> 28)) * 0.25f;
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

QF_AVX2 inline void iq2NibbleScales(const std::uint8_t *scales, float d, float *s)
{
    for (int k = 0; k < 16; ++k)
        s[k] = d * (0.5f + float((scales[k / 2] >> (4 * (k % 2))) & 15)) * 0.25f;
}

struct DecIq2Xs {
    static constexpr int kBlock = 256, kBytes = 74, kSub = 16;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        std::uint16_t q[4];
        std::memcpy(q, b + 2 + 8 * c, 8);
        const auto &g = Codec::kIq2xsGrid;
        const __m256i mag = grid4(g[q[0] & 511], g[q[1] & 511], g[q[2] & 511], g[q[3] & 511]);
        const __m256i s = grid4(kSignBytesIq2xs[q[0] >> 9], kSignBytesIq2xs[q[1] >> 9],
                                kSignBytesIq2xs[q[2] >> 9], kSignBytesIq2xs[q[3] >> 9]);
        return _mm256_sign_epi8(mag, s);
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        iq2NibbleScales(b + 66, halfToFloat(reinterpret_cast<const BlockIq2Xs *>(b)->d), s);
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecIq2S {
    static constexpr int kBlock = 256, kBytes = 82, kSub = 16;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const std::uint8_t *qs = b + 2 + 4 * c;
        const int qh = b[66 + c];
        const auto &g = Codec::kIq2sGrid;
        const __m256i mag = grid4(g[qs[0] | ((qh & 3) << 8)], g[qs[1] | ((qh & 12) << 6)],
                                  g[qs[2] | ((qh & 48) << 4)], g[qs[3] | ((qh & 192) << 2)]);
        return applySignBits(mag, loadU32(b + 34 + 4 * c));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        iq2NibbleScales(b + 74, halfToFloat(reinterpret_cast<const BlockIq2S *>(b)->d), s);
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecIq3Xxs {
    static constexpr int kBlock = 256, kBytes = 98, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const std::uint8_t *qs = b + 2 + 8 * c;
        const auto &g = Codec::kIq3xxsGrid;
        const __m256i mag = _mm256_setr_epi32(int(g[qs[0]]), int(g[qs[1]]), int(g[qs[2]]),
                                              int(g[qs[3]]), int(g[qs[4]]), int(g[qs[5]]),
                                              int(g[qs[6]]), int(g[qs[7]]));
        return applySignIndices(mag, loadU32(b + 66 + 4 * c));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        const float d = halfToFloat(reinterpret_cast<const BlockIq3Xxs *>(b)->d);
        for (int k = 0; k < 8; ++k)
            s[k] = d * (0.5f + float(loadU32(b + 66 + 4 * k) >> 28)) * 0.5f;
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecIq3S {
    static constexpr int kBlock = 256, kBytes = 110, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const std::uint8_t *qs = b + 2 + 8 * c;
        const int qh = b[66 + c];
        const auto &g = Codec::kIq3sGrid;
        const auto e = [&](int i) { return int(g[qs[i] | (((qh >> i) & 1) << 8)]); };
        const __m256i mag = _mm256_setr_epi32(e(0), e(1), e(2), e(3), e(4), e(5), e(6), e(7));
        return applySignBits(mag, loadU32(b + 74 + 4 * c));
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        const float d = halfToFloat(reinterpret_cast<const BlockIq3S *>(b)->d);
        for (int k = 0; k < 8; ++k)
            s[k] = d * float(1 + 2 * ((b[106 + k / 2] >> (4 * (k % 2))) & 15));
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

// IQ1: 8 * grid value (sign_epi8 of 8 by the -1/0/+1 byte) plus the +-1 shift per group.
struct DecIq1S {
    static constexpr int kBlock = 256, kBytes = 50, kSub = 32;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const std::uint8_t *qs = b + 2 + 4 * c;
        std::uint16_t qh;
        std::memcpy(&qh, b + 34 + 2 * c, 2);
        const auto &g = Codec::kIq1sGrid;
        const __m256i v = grid4(g[qs[0] | ((qh & 7) << 8)], g[qs[1] | ((qh & 0x38) << 5)],
                                g[qs[2] | ((qh & 0x1C0) << 2)], g[qs[3] | ((qh & 0xE00) >> 1)]);
        const __m256i shift = _mm256_set1_epi8(qh & 0x8000 ? -1 : 1);
        return _mm256_add_epi8(_mm256_sign_epi8(_mm256_set1_epi8(8), v), shift);
    }
    QF_AVX2 static void scales(const std::uint8_t *b, float *s)
    {
        const float d = halfToFloat(reinterpret_cast<const BlockIq1S *>(b)->d);
        for (int k = 0; k < 8; ++k) {
            std::uint16_t qh;
            std::memcpy(&qh, b + 34 + 2 * k, 2);
            s[k] = d * float(2 * ((qh >> 12) & 7) + 1) * 0.125f;
        }
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

struct DecIq1M {
    static constexpr int kBlock = 256, kBytes = 56, kSub = 16;
    static constexpr bool kAffine = false, kQ8K = true;
    QF_AVX2 static __m256i chunk(const std::uint8_t *b, int c)
    {
        const std::uint8_t *qs = b + 4 * c;
        const int h0 = b[32 + 2 * c];
        const int h1 = b[33 + 2 * c];
        const auto &g = Codec::kIq1sGrid;
        const __m256i v = grid4(g[qs[0] | ((h0 & 7) << 8)], g[qs[1] | ((h0 & 0x70) << 4)],
                                g[qs[2] | ((h1 & 7) << 8)], g[qs[3] | ((h1 & 0x70) << 4)]);
        const auto shift = [](int bits) -> long long {
            return bits & 8 ? -1 : 0x0101010101010101;
        };
        const __m256i shifts =
            _mm256_set_epi64x(shift(h1 >> 4), shift(h1), shift(h0 >> 4), shift(h0));
        return _mm256_add_epi8(_mm256_sign_epi8(_mm256_set1_epi8(8), v), shifts);
    }
    QF_AVX2 static void scales(const std::uint8_t *p, float *s)
    {
        const auto &b = *reinterpret_cast<const BlockIq1M *>(p);
        const float d = halfToFloat(iq1mScaleBits(b));
        for (int k = 0; k < 16; ++k)
            s[k] = d * float(2 * ((b.scales[k / 4] >> (3 * (k % 4))) & 7) + 1) * 0.125f;
    }
    QF_AVX2 static void mins(const std::uint8_t *, float *) {}
};

} // namespace QuantFit::VecDot::Avx2

#endif
