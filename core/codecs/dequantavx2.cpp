#include "quantsimd.h"

#include "blocksiq4.h"
#include "blockskquants.h"
#include "blockslegacy.h"
#include "quanthelpers.h"

#include "util/fp16.h"

// AVX2 dequantizers. Each element is computed with the same float operations, operands and
// order as the scalar reference (blocks*.cpp): scale products are formed in scalar code exactly
// as there, codes are converted to float exactly, and there is no FMA ("fma" is not in the
// target and the file is built with -ffp-contract=off), so the output is bit-identical.

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <cstring>

#define QF_AVX2 __attribute__((target("avx2,f16c")))

namespace QuantFit::Codec {

namespace {

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

// Stores float(code) * scale for 8 int8 codes (low 8 bytes of v).
QF_AVX2 inline void store8(float *y, __m128i codes, __m256 scale)
{
    _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes)), scale));
}

// 32 int8 codes times a scale, written to y[0..31].
QF_AVX2 inline void store32(float *y, __m256i codes, __m256 scale)
{
    const __m128i lo = _mm256_castsi256_si128(codes);
    const __m128i hi = _mm256_extracti128_si256(codes, 1);
    store8(y, lo, scale);
    store8(y + 8, _mm_srli_si128(lo, 8), scale);
    store8(y + 16, hi, scale);
    store8(y + 24, _mm_srli_si128(hi, 8), scale);
}

// 32 int8 codes: the first 16 times s0, the last 16 times s1.
QF_AVX2 inline void store16x2(float *y, __m256i codes, __m256 s0, __m256 s1)
{
    const __m128i lo = _mm256_castsi256_si128(codes);
    const __m128i hi = _mm256_extracti128_si256(codes, 1);
    store8(y, lo, s0);
    store8(y + 8, _mm_srli_si128(lo, 8), s0);
    store8(y + 16, hi, s1);
    store8(y + 24, _mm_srli_si128(hi, 8), s1);
}

// float(code) * scale - offset (the K-quant form d1 * q - m1).
QF_AVX2 inline void store32Minus(float *y, __m256i codes, __m256 scale, __m256 offset)
{
    const __m128i lo = _mm256_castsi256_si128(codes);
    const __m128i hi = _mm256_extracti128_si256(codes, 1);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
        const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]));
        _mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(_mm256_mul_ps(scale, q), offset));
    }
}

// float(code) * d + m (the Q4_1 / Q5_1 form).
QF_AVX2 inline void store32Plus(float *y, __m256i codes, __m256 d, __m256 m)
{
    const __m128i lo = _mm256_castsi256_si128(codes);
    const __m128i hi = _mm256_extracti128_si256(codes, 1);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
        const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]));
        _mm256_storeu_ps(y + 8 * k, _mm256_add_ps(_mm256_mul_ps(q, d), m));
    }
}

QF_AVX2 inline __m256i nibbles32(const std::uint8_t *qs)
{
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(qs));
    const __m128i mask = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), _mm_and_si128(raw, mask));
}

QF_AVX2 inline __m256i bitsToBytes(std::uint32_t bits)
{
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                           0x0303030303030303));
    const __m256i select = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

QF_AVX2 inline __m256i highBits5(const std::uint8_t *qh)
{
    std::uint32_t bits;
    std::memcpy(&bits, qh, 4);
    return _mm256_and_si256(bitsToBytes(bits), _mm256_set1_epi8(16));
}

QF_AVX2 inline __m256i iq4Values(__m256i idx)
{
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i *>(kValuesIq4nl));
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(t), idx);
}

} // namespace

QF_AVX2 void dequantizeRowF16Avx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(src + 2 * i));
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        y[i] = fp16ToFp32(h);
    }
}

QF_AVX2 void dequantizeRowQ8_0Avx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ8_0 *>(src);
    for (std::int64_t i = 0; i < n / 32; ++i, y += 32) {
        const __m256i q = load256(b[i].qs);
        store32(y, q, _mm256_set1_ps(fp16ToFp32(b[i].d)));
    }
}

QF_AVX2 void dequantizeRowQ4_0Avx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ4_0 *>(src);
    for (std::int64_t i = 0; i < n / 32; ++i, y += 32) {
        const __m256i q = _mm256_sub_epi8(nibbles32(b[i].qs), _mm256_set1_epi8(8));
        store32(y, q, _mm256_set1_ps(fp16ToFp32(b[i].d)));
    }
}

QF_AVX2 void dequantizeRowQ4_1Avx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ4_1 *>(src);
    for (std::int64_t i = 0; i < n / 32; ++i, y += 32) {
        store32Plus(y, nibbles32(b[i].qs), _mm256_set1_ps(fp16ToFp32(b[i].d)),
                    _mm256_set1_ps(fp16ToFp32(b[i].m)));
    }
}

QF_AVX2 void dequantizeRowQ5_0Avx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ5_0 *>(src);
    for (std::int64_t i = 0; i < n / 32; ++i, y += 32) {
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(b[i].qs), highBits5(b[i].qh)),
                                          _mm256_set1_epi8(16));
        store32(y, q, _mm256_set1_ps(fp16ToFp32(b[i].d)));
    }
}

QF_AVX2 void dequantizeRowQ5_1Avx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ5_1 *>(src);
    for (std::int64_t i = 0; i < n / 32; ++i, y += 32) {
        const __m256i q = _mm256_or_si256(nibbles32(b[i].qs), highBits5(b[i].qh));
        store32Plus(y, q, _mm256_set1_ps(fp16ToFp32(b[i].d)), _mm256_set1_ps(fp16ToFp32(b[i].m)));
    }
}

QF_AVX2 void dequantizeRowIq4NlAvx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockIq4Nl *>(src);
    for (std::int64_t i = 0; i < n / 32; ++i, y += 32) {
        // Scalar: d * float(kv); multiplication is commutative bit for bit.
        store32(y, iq4Values(nibbles32(b[i].qs)), _mm256_set1_ps(fp16ToFp32(b[i].d)));
    }
}

QF_AVX2 void dequantizeRowIq4XsAvx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq4Xs *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq4Xs &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        for (int ib = 0; ib < 8; ++ib, y += 32) {
            store32(y, iq4Values(nibbles32(b.qs + 16 * ib)),
                    _mm256_set1_ps(d * float(iq4xsScale(b, ib))));
        }
    }
}

QF_AVX2 void dequantizeRowQ2_KAvx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ2_K *>(src);
    const __m256i m3 = _mm256_set1_epi8(3);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ2_K &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        const float min = fp16ToFp32(b.dmin);
        for (int h = 0; h < 2; ++h) {
            const __m256i raw = load256(b.qs + 32 * h);
            for (int g = 0; g < 4; ++g, y += 32) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * g), m3);
                for (int half = 0; half < 2; ++half) {
                    const std::uint8_t sc = b.scales[8 * h + 2 * g + half];
                    const __m256 dl = _mm256_set1_ps(d * float(sc & 0xF));
                    const __m256 ml = _mm256_set1_ps(min * float(sc >> 4));
                    const __m128i part =
                        half ? _mm256_extracti128_si256(q, 1) : _mm256_castsi256_si128(q);
                    for (int k = 0; k < 2; ++k) {
                        const __m256 qf = _mm256_cvtepi32_ps(
                            _mm256_cvtepi8_epi32(k ? _mm_srli_si128(part, 8) : part));
                        _mm256_storeu_ps(y + 16 * half + 8 * k,
                                         _mm256_sub_ps(_mm256_mul_ps(dl, qf), ml));
                    }
                }
            }
        }
    }
}

QF_AVX2 void dequantizeRowQ3_KAvx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ3_K *>(src);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i four = _mm256_set1_epi8(4);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ3_K &b = blocks[i];
        const float dAll = fp16ToFp32(b.d);
        const __m256i hm = load256(b.hmask);
        for (int h = 0; h < 2; ++h) {
            const __m256i raw = load256(b.qs + 32 * h);
            for (int g = 0; g < 4; ++g, y += 32) {
                const __m256i bit = _mm256_set1_epi8(static_cast<char>(1u << (4 * h + g)));
                const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * g), m3);
                const __m256i q = _mm256_sub_epi8(low, _mm256_andnot_si256(set, four));
                const int s = 8 * h + 2 * g;
                // Scalar: dl * float(v), dl = dAll * float(scale code - 32).
                store16x2(y, q, _mm256_set1_ps(dAll * float(q3kScale(b.scales, s))),
                          _mm256_set1_ps(dAll * float(q3kScale(b.scales, s + 1))));
            }
        }
    }
}

template<bool Five>
QF_AVX2 void dequantizeRowQ45KAvx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const std::size_t blockBytes = Five ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const std::uint8_t *blk = src + std::size_t(i) * blockBytes;
        const std::uint8_t *scales = blk + 4;
        const std::uint8_t *qh = blk + 16;
        const std::uint8_t *qs = blk + (Five ? 48 : 16);
        std::uint16_t dBits;
        std::uint16_t mBits;
        std::memcpy(&dBits, blk, 2);
        std::memcpy(&mBits, blk + 2, 2);
        const float d = fp16ToFp32(dBits);
        const float min = fp16ToFp32(mBits);
        __m256i high = _mm256_setzero_si256();
        if constexpr (Five)
            high = load256(qh);
        for (int c = 0; c < 4; ++c) {
            const __m256i raw = load256(qs + 32 * c);
            for (int half = 0; half < 2; ++half, y += 32) {
                const int j = 2 * c + half;
                __m256i q = half ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask)
                                 : _mm256_and_si256(raw, mask);
                if constexpr (Five) {
                    const __m256i bit = _mm256_set1_epi8(static_cast<char>(1u << j));
                    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(high, bit), bit);
                    q = _mm256_add_epi8(q, _mm256_and_si256(set, _mm256_set1_epi8(16)));
                }
                std::uint8_t sc;
                std::uint8_t m;
                unpackScaleMinK4(j, scales, sc, m);
                store32Minus(y, q, _mm256_set1_ps(d * float(sc)), _mm256_set1_ps(min * float(m)));
            }
        }
    }
}

QF_AVX2 void dequantizeRowQ4_KAvx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    dequantizeRowQ45KAvx2<false>(src, y, n);
}

QF_AVX2 void dequantizeRowQ5_KAvx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    dequantizeRowQ45KAvx2<true>(src, y, n);
}

QF_AVX2 void dequantizeRowQ6_KAvx2(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ6_K *>(src);
    const __m256i off = _mm256_set1_epi8(32);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ6_K &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        for (int h = 0; h < 2; ++h, y += 128) {
            const __m256i ql0 = load256(b.ql + 64 * h);
            const __m256i ql1 = load256(b.ql + 64 * h + 32);
            const __m256i qh = load256(b.qh + 32 * h);
            __m256i q[4];
            q[0] = sixBitCodes(ql0, qh, 0);
            q[1] = sixBitCodes(ql1, qh, 2);
            q[2] = sixBitCodes(_mm256_srli_epi16(ql0, 4), qh, 4);
            q[3] = sixBitCodes(_mm256_srli_epi16(ql1, 4), qh, 6);
            const std::int8_t *sc = b.scales + 8 * h;
            for (int g = 0; g < 4; ++g) {
                const __m256i v = _mm256_sub_epi8(q[g], off);
                // Scalar: (d * float(sc)) * float(q).
                store16x2(y + 32 * g, v, _mm256_set1_ps(d * float(sc[2 * g])),
                          _mm256_set1_ps(d * float(sc[2 * g + 1])));
            }
        }
    }
}

} // namespace QuantFit::Codec

#else

namespace QuantFit::Codec {
void dequantizeRowF16Avx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ8_0Avx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ4_0Avx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ4_1Avx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ5_0Avx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ5_1Avx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ2_KAvx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ3_KAvx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ4_KAvx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ5_KAvx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowQ6_KAvx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowIq4NlAvx2(const std::uint8_t *, float *, std::int64_t) {}
void dequantizeRowIq4XsAvx2(const std::uint8_t *, float *, std::int64_t) {}
} // namespace QuantFit::Codec

#endif
