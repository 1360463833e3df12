#include "vecdotportable.h"
#include "vecdotavx2.h"

#include "blockskquants.h"
#include "blocksiq4.h"
#include "blockslegacy.h"
#include "quanthelpers.h"

// AVX2/FMA/F16C kernels. Every function carries the target attribute, so the file builds without
// -mavx2 and the code runs only after cpuHasAvx2Fma() said yes (vecdot.cpp). Codes are widened
// to int32, converted to float and multiplied with x by FMA; block scales are applied per block
// (or per sub-block) to a vector accumulator, and the 8 lanes are summed once at the end.

#if defined(__x86_64__) || defined(__i386__)

#include <cstring>

namespace QuantFit::VecDot {

namespace {

using namespace Avx2;

QF_AVX2 float dotF32(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *w = reinterpret_cast<const float *>(row); // only for address arithmetic
    __m256 a0 = _mm256_setzero_ps();
    __m256 a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps();
    __m256 a3 = _mm256_setzero_ps();
    std::int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; ++i) {
        float v;
        std::memcpy(&v, row + 4 * i, sizeof v);
        sum += v * x[i];
    }
    return sum;
}

QF_AVX2 float dotF16(const std::uint8_t *row, const float *x, std::int64_t n)
{
    __m256 a0 = _mm256_setzero_ps();
    __m256 a1 = _mm256_setzero_ps();
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i h0 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 2 * i));
        const __m128i h1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 2 * i + 16));
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(h0), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(h1), _mm256_loadu_ps(x + i + 8), a1);
    }
    float sum = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        sum += halfToFloat(h) * x[i];
    }
    return sum;
}

QF_AVX2 float dotQ8_0(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ8_0 *>(row);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        const __m256i q = load256(b[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b[i].d)), dot32(q, x), acc);
    }
    return hsum(acc);
}

QF_AVX2 float dotQ4_0(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ4_0 *>(row);
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        const __m256i q = _mm256_sub_epi8(nibbles32(b[i].qs), eight);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b[i].d)), dot32(q, x), acc);
    }
    return hsum(acc);
}

// Q4_K / Q5_K: per sub-block j, acc += d*sc_j * sum(q*x) - dmin*mn_j * sum(x).
template<bool Five>
QF_AVX2 float dotQ45K(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const std::uint8_t *scales;
        const std::uint8_t *qs;
        const std::uint8_t *qhp = nullptr;
        std::uint16_t dBits;
        std::uint16_t mBits;
        if constexpr (Five) {
            const auto &b = reinterpret_cast<const BlockQ5_K *>(row)[i];
            scales = b.scales;
            qs = b.qs;
            qhp = b.qh;
            dBits = b.d;
            mBits = b.dmin;
        } else {
            const auto &b = reinterpret_cast<const BlockQ4_K *>(row)[i];
            scales = b.scales;
            qs = b.qs;
            dBits = b.d;
            mBits = b.dmin;
        }
        const float d = halfToFloat(dBits);
        const float dmin = halfToFloat(mBits);
        __m256i qh = _mm256_setzero_si256();
        if constexpr (Five)
            qh = load256(qhp);
        for (int c = 0; c < 4; ++c) {
            const __m256i raw = load256(qs + 32 * c);
            for (int half = 0; half < 2; ++half, x += 32) {
                const int j = 2 * c + half;
                __m256i q = half ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask)
                                 : _mm256_and_si256(raw, mask);
                if constexpr (Five) {
                    const __m256i bit = _mm256_set1_epi8(static_cast<char>(1u << j));
                    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
                    q = _mm256_add_epi8(q, _mm256_and_si256(set, _mm256_set1_epi8(16)));
                }
                std::uint8_t sc;
                std::uint8_t mn;
                unpackScaleMinK4(j, scales, sc, mn);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(sc)), dot32(q, x), acc);
                acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * float(mn)), sum32(x), acc);
            }
        }
    }
    return hsum(acc);
}

// Q6_K: per 16-element group, acc += d*sc * sum(q*x).
QF_AVX2 float dotQ6_K(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ6_K *>(row);
    const __m256i off = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ6_K &b = blocks[i];
        const float d = halfToFloat(b.d);
        for (int h = 0; h < 2; ++h, x += 128) {
            const __m256i ql0 = load256(b.ql + 64 * h);
            const __m256i ql1 = load256(b.ql + 64 * h + 32);
            const __m256i qh = load256(b.qh + 32 * h);
            // Four groups of 32 elements (offsets 0, 32, 64, 96 in this half).
            __m256i q[4];
            q[0] = sixBitCodes(ql0, qh, 0);
            q[1] = sixBitCodes(ql1, qh, 2);
            q[2] = sixBitCodes(_mm256_srli_epi16(ql0, 4), qh, 4);
            q[3] = sixBitCodes(_mm256_srli_epi16(ql1, 4), qh, 6);
            const std::int8_t *sc = b.scales + 8 * h;
            for (int g = 0; g < 4; ++g) {
                const __m256i v = _mm256_sub_epi8(q[g], off);
                const float *xg = x + 32 * g;
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(sc[2 * g])),
                                      dot16(_mm256_castsi256_si128(v), xg), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(sc[2 * g + 1])),
                                      dot16(_mm256_extracti128_si256(v, 1), xg + 16), acc);
            }
        }
    }
    return hsum(acc);
}

QF_AVX2 float dotBf16(const std::uint8_t *row, const float *x, std::int64_t n)
{
    __m256 acc = _mm256_setzero_ps();
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 2 * i));
        const __m256 w = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        acc = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + i), acc);
    }
    float sum = hsum(acc);
    for (; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        std::uint32_t bits = std::uint32_t(h) << 16;
        float w;
        std::memcpy(&w, &bits, 4);
        sum += w * x[i];
    }
    return sum;
}

QF_AVX2 float dotQ4_1(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ4_1 *>(row);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b[i].d)), dot32(nibbles32(b[i].qs), x),
                              acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b[i].m)), sum32(x), acc);
    }
    return hsum(acc);
}

QF_AVX2 float dotQ5_0(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ5_0 *>(row);
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        const __m256i high = _mm256_and_si256(bitsToBytes(loadU32(b[i].qh)), sixteen);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(b[i].qs), high), sixteen);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b[i].d)), dot32(q, x), acc);
    }
    return hsum(acc);
}

QF_AVX2 float dotQ5_1(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ5_1 *>(row);
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        const __m256i high = _mm256_and_si256(bitsToBytes(loadU32(b[i].qh)), sixteen);
        const __m256i q = _mm256_or_si256(nibbles32(b[i].qs), high);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b[i].d)), dot32(q, x), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b[i].m)), sum32(x), acc);
    }
    return hsum(acc);
}

QF_AVX2 float dotIq4Nl(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockIq4Nl *>(row);
    const __m256i table = iq4Table();
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        const __m256i q = _mm256_shuffle_epi8(table, nibbles32(b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b[i].d)), dot32(q, x), acc);
    }
    return hsum(acc);
}

QF_AVX2 float dotIq4Xs(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq4Xs *>(row);
    const __m256i table = iq4Table();
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq4Xs &b = blocks[i];
        const float d = halfToFloat(b.d);
        for (int ib = 0; ib < 8; ++ib, x += 32) {
            const __m256i q = _mm256_shuffle_epi8(table, nibbles32(b.qs + 16 * ib));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(iq4xsScale(b, ib))), dot32(q, x), acc);
        }
    }
    return hsum(acc);
}

// Q2_K and Q3_K: for half h and 2-bit group g, the 32 codes of elements 128h + 32g + l sit in
// bits 2g of byte 32h + l; their two sub-blocks are s = 8h + 2g and s + 1.
QF_AVX2 float dotQ2_K(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ2_K *>(row);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ2_K &b = blocks[i];
        const float d = halfToFloat(b.d);
        const float dmin = halfToFloat(b.dmin);
        for (int h = 0; h < 2; ++h) {
            const __m256i raw = load256(b.qs + 32 * h);
            for (int g = 0; g < 4; ++g, x += 32) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * g), m3);
                const int s = 8 * h + 2 * g;
                const std::uint8_t sc0 = b.scales[s];
                const std::uint8_t sc1 = b.scales[s + 1];
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(sc0 & 0xF)),
                                      dot16(_mm256_castsi256_si128(q), x), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(sc1 & 0xF)),
                                      dot16(_mm256_extracti128_si256(q, 1), x + 16), acc);
                acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * float(sc0 >> 4)), sum16(x), acc);
                acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * float(sc1 >> 4)), sum16(x + 16), acc);
            }
        }
    }
    return hsum(acc);
}

QF_AVX2 float dotQ3_K(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ3_K *>(row);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i four = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ3_K &b = blocks[i];
        const float d = halfToFloat(b.d);
        const __m256i hm = load256(b.hmask);
        for (int h = 0; h < 2; ++h) {
            const __m256i raw = load256(b.qs + 32 * h);
            for (int g = 0; g < 4; ++g, x += 32) {
                const __m256i bit = _mm256_set1_epi8(static_cast<char>(1u << (4 * h + g)));
                const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * g), m3);
                const __m256i q = _mm256_sub_epi8(low, _mm256_andnot_si256(set, four));
                const int s = 8 * h + 2 * g;
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(q3kScale(b.scales, s))),
                                      dot16(_mm256_castsi256_si128(q), x), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(q3kScale(b.scales, s + 1))),
                                      dot16(_mm256_extracti128_si256(q, 1), x + 16), acc);
            }
        }
    }
    return hsum(acc);
}

QF_AVX2 float dotQ8_K(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ8_K *>(row);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        __m256 blockAcc = _mm256_setzero_ps();
        for (int c = 0; c < 8; ++c, x += 32) {
            const __m256i q =
                load256(blocks[i].qs + 32 * c);
            blockAcc = _mm256_add_ps(blockAcc, dot32(q, x));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(blocks[i].d), blockAcc, acc);
    }
    return hsum(acc);
}

} // namespace

DotFn avx2Kernel(GgmlType type)
{
    switch (type) {
    case GgmlType::F32: return dotF32;
    case GgmlType::F16: return dotF16;
    case GgmlType::Q8_0: return dotQ8_0;
    case GgmlType::Q4_0: return dotQ4_0;
    case GgmlType::Q4_K: return dotQ45K<false>;
    case GgmlType::Q5_K: return dotQ45K<true>;
    case GgmlType::Q6_K: return dotQ6_K;
    case GgmlType::BF16: return dotBf16;
    case GgmlType::Q4_1: return dotQ4_1;
    case GgmlType::Q5_0: return dotQ5_0;
    case GgmlType::Q5_1: return dotQ5_1;
    case GgmlType::Q2_K: return dotQ2_K;
    case GgmlType::Q3_K: return dotQ3_K;
    case GgmlType::Q8_K: return dotQ8_K;
    case GgmlType::IQ4_NL: return dotIq4Nl;
    case GgmlType::IQ4_XS: return dotIq4Xs;
    default: return nullptr;
    }
}

} // namespace QuantFit::VecDot

#else

namespace QuantFit::VecDot {

DotFn avx2Kernel(GgmlType)
{
    return nullptr;
}

} // namespace QuantFit::VecDot

#endif
