#include "vecdotportable.h"
#include "vecdotavx2.h"

#include "blocksiq4.h"
#include "blockskquants.h"
#include "blockslegacy.h"

// AVX2 kernels of dotRowQ8(): activations already quantized to Q8_0, Q8_1 or Q8_K, exact integer
// sums per block (maddubs/madd), one float multiply-add per block or super-block; the legacy
// 32-element types also in a many-row form sharing the activation side (dotRowsQ8()).

#if defined(__x86_64__) || defined(__i386__)

namespace QuantFit::VecDot {

namespace {

using namespace Avx2;

// Integer sum of w * x over 32 signed bytes, as 8 int32 lanes (|w| times sign-adjusted x, so
// that maddubs' unsigned-by-signed product applies; codes are within -127..127 or -8..7).
QF_AVX2 inline __m256i mulSumI8(__m256i w, __m256i x)
{
    const __m256i products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(products, _mm256_set1_epi16(1));
}

// Q4_K / Q5_K with Q8_K: per super-block, sum_j sc_j * sum(q*x) in integers, and the mins via
// the activation's 16-element sums (bsums).
template<bool Five>
QF_AVX2 float dotQ8Q45K(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *x = reinterpret_cast<const BlockQ8_K *>(xq);
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float minTerm = 0;
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const std::uint8_t *scales;
        const std::uint8_t *qs;
        const std::uint8_t *qhp = nullptr;
        float dw;
        float mw;
        if constexpr (Five) {
            const auto &b = reinterpret_cast<const BlockQ5_K *>(row)[i];
            scales = b.scales;
            qs = b.qs;
            qhp = b.qh;
            dw = halfToFloat(b.d);
            mw = halfToFloat(b.dmin);
        } else {
            const auto &b = reinterpret_cast<const BlockQ4_K *>(row)[i];
            scales = b.scales;
            qs = b.qs;
            dw = halfToFloat(b.d);
            mw = halfToFloat(b.dmin);
        }
        const BlockQ8_K &xb = x[i];
        __m256i qh = _mm256_setzero_si256();
        if constexpr (Five)
            qh = load256(qhp);
        __m256i isum = _mm256_setzero_si256();
        int mins = 0;
        for (int c = 0; c < 4; ++c) {
            const __m256i raw = load256(qs + 32 * c);
            for (int half = 0; half < 2; ++half) {
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
                // Codes are unsigned (0..31), so maddubs applies directly.
                const __m256i p16 = _mm256_maddubs_epi16(q, load256(xb.qs + 32 * j));
                const __m256i p = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(p, _mm256_set1_epi32(sc)));
                mins += int(mn) * (int(xb.bsums[2 * j]) + int(xb.bsums[2 * j + 1]));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * xb.d), _mm256_cvtepi32_ps(isum), acc);
        minTerm += mw * xb.d * float(mins);
    }
    return hsum(acc) - minTerm;
}

QF_AVX2 float dotQ8Q6_K(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ6_K *>(row);
    const auto *x = reinterpret_cast<const BlockQ8_K *>(xq);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ6_K &b = blocks[i];
        const BlockQ8_K &xb = x[i];
        __m256i isum = _mm256_setzero_si256();
        int offsetSum = 0; // sum over sub-blocks of sc * bsum: the "- 32" of every code
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = load256(b.ql + 64 * h);
            const __m256i ql1 = load256(b.ql + 64 * h + 32);
            const __m256i qh = load256(b.qh + 32 * h);
            const __m256i q[4] = {sixBitCodes(ql0, qh, 0), sixBitCodes(ql1, qh, 2),
                                  sixBitCodes(_mm256_srli_epi16(ql0, 4), qh, 4),
                                  sixBitCodes(_mm256_srli_epi16(ql1, 4), qh, 6)};
            for (int g = 0; g < 4; ++g) {
                const int s = 8 * h + 2 * g;
                const __m256i p = _mm256_maddubs_epi16(q[g], load256(xb.qs + 128 * h + 32 * g));
                const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(b.scales[s + 1]),
                                                       _mm_set1_epi16(b.scales[s]));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale));
                offsetSum += int(b.scales[s]) * xb.bsums[s];
                offsetSum += int(b.scales[s + 1]) * xb.bsums[s + 1];
            }
        }
        const float d = halfToFloat(b.d) * xb.d;
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * offsetSum, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum(acc);
}

QF_AVX2 float dotQ8Iq4Nl(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *w = reinterpret_cast<const BlockIq4Nl *>(row);
    const auto *x = reinterpret_cast<const BlockQ8_0 *>(xq);
    const __m256i table = iq4Table();
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i) {
        const __m256i q = _mm256_shuffle_epi8(table, nibbles32(w[i].qs));
        const float d = halfToFloat(w[i].d) * halfToFloat(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(mulSumI8(q, load256(x[i].qs))),
                              acc);
    }
    return hsum(acc);
}

// Per-16 scales for the 8 int32 lanes of a 32-element product: lanes 0-3 cover elements 0-15.
QF_AVX2 inline __m256i scalePair(int s0, int s1)
{
    return _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1);
}

QF_AVX2 float dotQ8Iq4Xs(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq4Xs *>(row);
    const auto *x = reinterpret_cast<const BlockQ8_K *>(xq);
    const __m256i table = iq4Table();
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq4Xs &b = blocks[i];
        __m256i isum = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) {
            const __m256i q = _mm256_shuffle_epi8(table, nibbles32(b.qs + 16 * ib));
            const __m256i p = mulSumI8(q, load256(x[i].qs + 32 * ib));
            const __m256i scale = _mm256_set1_epi32(iq4xsScale(b, ib));
            isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(p, scale));
        }
        const float d = halfToFloat(b.d) * x[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum(acc);
}

QF_AVX2 float dotQ8Q2_K(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ2_K *>(row);
    const auto *x = reinterpret_cast<const BlockQ8_K *>(xq);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float minTerm = 0;
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ2_K &b = blocks[i];
        const BlockQ8_K &xb = x[i];
        __m256i isum = _mm256_setzero_si256();
        int mins = 0;
        for (int h = 0; h < 2; ++h) {
            const __m256i raw = load256(b.qs + 32 * h);
            for (int g = 0; g < 4; ++g) {
                const int s = 8 * h + 2 * g;
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * g), m3);
                const __m256i p16 = _mm256_maddubs_epi16(q, load256(xb.qs + 128 * h + 32 * g));
                const __m256i p = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
                const __m256i sc = scalePair(b.scales[s] & 0xF, b.scales[s + 1] & 0xF);
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(p, sc));
                mins += (b.scales[s] >> 4) * xb.bsums[s] + (b.scales[s + 1] >> 4) * xb.bsums[s + 1];
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b.d) * xb.d), _mm256_cvtepi32_ps(isum),
                              acc);
        minTerm += halfToFloat(b.dmin) * xb.d * float(mins);
    }
    return hsum(acc) - minTerm;
}

QF_AVX2 float dotQ8Q3_K(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ3_K *>(row);
    const auto *x = reinterpret_cast<const BlockQ8_K *>(xq);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i four = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ3_K &b = blocks[i];
        const BlockQ8_K &xb = x[i];
        const __m256i hm = load256(b.hmask);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i raw = load256(b.qs + 32 * h);
            for (int g = 0; g < 4; ++g) {
                const int s = 8 * h + 2 * g;
                const __m256i bit = _mm256_set1_epi8(static_cast<char>(1u << (4 * h + g)));
                const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * g), m3);
                const __m256i q = _mm256_sub_epi8(low, _mm256_andnot_si256(set, four));
                const __m256i p = mulSumI8(q, load256(xb.qs + 128 * h + 32 * g));
                const __m256i sc = scalePair(q3kScale(b.scales, s), q3kScale(b.scales, s + 1));
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(p, sc));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(b.d) * xb.d), _mm256_cvtepi32_ps(isum),
                              acc);
    }
    return hsum(acc);
}

// The legacy 32-element types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) for R rows against one
// activation vector, block by block: the activation side of a block (its codes, scale, Q8_1
// block sum and the code offset's sums) is loaded once and shared by the rows. Nibble codes
// stay unsigned (0..15, Q5 0..31): vpmaddubsw of code and activation, minus the same of the
// offset (8 or 16) and the activation, is exact in int16 (at most 2 * 31 * 127); Q8_0 takes
// the sign trick (at most 2 * 127 * 127). Every row takes the same operations in the same
// order whatever R is.
struct AQ4_0 {
    static constexpr int kBytes = 18, kQs = 2, kQh = -1, kOffset = 8;
    static constexpr bool kAffine = false, kInt8 = false;
};
struct AQ4_1 {
    static constexpr int kBytes = 20, kQs = 4, kQh = -1, kOffset = 0;
    static constexpr bool kAffine = true, kInt8 = false;
};
struct AQ5_0 {
    static constexpr int kBytes = 22, kQs = 6, kQh = 2, kOffset = 16;
    static constexpr bool kAffine = false, kInt8 = false;
};
struct AQ5_1 {
    static constexpr int kBytes = 24, kQs = 8, kQh = 4, kOffset = 0;
    static constexpr bool kAffine = true, kInt8 = false;
};
struct AQ8_0 {
    static constexpr int kBytes = 34, kQs = 2, kQh = -1, kOffset = 0;
    static constexpr bool kAffine = false, kInt8 = true;
};

// Eight fp16 fields `bytes` apart (block 0's at p) as eight floats.
template <int Bytes>
QF_AVX2 inline __m256 eightHalves(const std::uint8_t *p)
{
    const auto half = [p](int k) {
        std::uint16_t h;
        std::memcpy(&h, p + k * Bytes, 2);
        return int(h);
    };
    __m128i v = _mm_cvtsi32_si128(half(0));
    v = _mm_insert_epi16(v, half(1), 1);
    v = _mm_insert_epi16(v, half(2), 2);
    v = _mm_insert_epi16(v, half(3), 3);
    v = _mm_insert_epi16(v, half(4), 4);
    v = _mm_insert_epi16(v, half(5), 5);
    v = _mm_insert_epi16(v, half(6), 6);
    v = _mm_insert_epi16(v, half(7), 7);
    return _mm256_cvtph_ps(v);
}

// The unsigned codes of one block (elements 0..31) and its code * activation sums in int16
// pairs, the code offset's taken off.
template <class L>
QF_AVX2 inline __m256i blockProducts(const std::uint8_t *b, __m256i xv, __m256i off)
{
    if constexpr (L::kInt8) {
        const __m256i q = load256(b + L::kQs);
        return _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(xv, q));
    } else {
        // 16 code bytes in both halves, the upper half shifted right by 4: the high nibbles
        const __m256i both = _mm256_broadcastsi128_si256(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(b + L::kQs)));
        __m256i q = _mm256_and_si256(_mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                                     _mm256_set1_epi8(0x0F));
        if constexpr (L::kQh >= 0)
            q = _mm256_or_si256(q, _mm256_and_si256(bitsToBytes(loadU32(b + L::kQh)),
                                                    _mm256_set1_epi8(16)));
        __m256i p16 = _mm256_maddubs_epi16(q, xv);
        if constexpr (L::kOffset != 0)
            p16 = _mm256_sub_epi16(p16, off);
        return p16;
    }
}

template <class L, int R>
QF_AVX2 void dotLegacyRows(const std::uint8_t *rows, std::size_t stride, const std::uint8_t *xq,
                           std::int64_t n, float *out)
{
    constexpr int kB = L::kBytes;
    constexpr int kXBytes = L::kAffine ? 36 : 34; // Q8_1 : Q8_0
    constexpr int kXQs = L::kAffine ? 4 : 2;
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i offset = _mm256_set1_epi8(L::kOffset);
    const std::int64_t nb = n / 32;
    __m256 acc[R];
    __m256 accMin[R]; // m * s of the eight block positions of a step
    for (int r = 0; r < R; ++r) {
        acc[r] = _mm256_setzero_ps();
        accMin[r] = _mm256_setzero_ps();
    }
    std::int64_t i = 0;
    // Steps of eight blocks: the scales d * dx (and m * s) eight at a time.
    for (; i + 8 <= nb; i += 8) {
        const std::uint8_t *x = xq + i * kXBytes;
        const __m256 dx = eightHalves<kXBytes>(x);
        __m256 sx = _mm256_setzero_ps();
        if constexpr (L::kAffine)
            sx = eightHalves<kXBytes>(x + 2);
        alignas(32) float scale[R][8];
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const std::uint8_t *w = rows + std::size_t(r) * stride + i * kB;
            _mm256_store_ps(scale[r], _mm256_mul_ps(eightHalves<kB>(w), dx));
            if constexpr (L::kAffine)
                accMin[r] = _mm256_fmadd_ps(eightHalves<kB>(w + 2), sx, accMin[r]);
        }
        for (int k = 0; k < 8; ++k) {
            const __m256i xv = load256(x + k * kXBytes + kXQs);
            __m256i off = _mm256_setzero_si256();
            if constexpr (L::kOffset != 0)
                off = _mm256_maddubs_epi16(offset, xv);
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r) {
                const std::uint8_t *w = rows + std::size_t(r) * stride + (i + k) * kB;
                const __m256i p = _mm256_madd_epi16(blockProducts<L>(w, xv, off), ones16);
                acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&scale[r][k]),
                                         _mm256_cvtepi32_ps(p), acc[r]);
            }
        }
    }
    float minTerm[R];
    for (int r = 0; r < R; ++r)
        minTerm[r] = hsum(accMin[r]);
    // the remaining blocks one at a time
    for (; i < nb; ++i) {
        const std::uint8_t *x = xq + i * kXBytes;
        std::uint16_t xh[2];
        std::memcpy(xh, x, 4);
        const __m256i xv = load256(x + kXQs);
        __m256i off = _mm256_setzero_si256();
        if constexpr (L::kOffset != 0)
            off = _mm256_maddubs_epi16(offset, xv);
        for (int r = 0; r < R; ++r) {
            const std::uint8_t *b = rows + std::size_t(r) * stride + i * kB;
            std::uint16_t wh[2];
            std::memcpy(wh, b, 4);
            const __m256i p = _mm256_madd_epi16(blockProducts<L>(b, xv, off), ones16);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(halfToFloat(wh[0]) * halfToFloat(xh[0])),
                                     _mm256_cvtepi32_ps(p), acc[r]);
            if constexpr (L::kAffine)
                minTerm[r] += halfToFloat(wh[1]) * halfToFloat(xh[1]);
        }
    }
    for (int r = 0; r < R; ++r)
        out[r] = hsum(acc[r]) + minTerm[r];
}

template <class L>
QF_AVX2 float dotLegacy(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    float out;
    dotLegacyRows<L, 1>(row, 0, xq, n, &out);
    return out;
}

// Four rows at a time, then one.
template <class L>
QF_AVX2 void dotLegacyManyRows(const std::uint8_t *rows, std::size_t stride, std::int64_t nRows,
                               const std::uint8_t *xq, std::int64_t n, float *out)
{
    std::int64_t r = 0;
    for (; r + 4 <= nRows; r += 4)
        dotLegacyRows<L, 4>(rows + std::size_t(r) * stride, stride, xq, n, out + r);
    for (; r < nRows; ++r)
        dotLegacyRows<L, 1>(rows + std::size_t(r) * stride, stride, xq, n, out + r);
}

} // namespace

DotQ8Fn avx2Q8Kernel(GgmlType type)
{
    switch (type) {
    case GgmlType::Q8_0: return dotLegacy<AQ8_0>;
    case GgmlType::Q4_0: return dotLegacy<AQ4_0>;
    case GgmlType::Q4_1: return dotLegacy<AQ4_1>;
    case GgmlType::Q5_0: return dotLegacy<AQ5_0>;
    case GgmlType::Q5_1: return dotLegacy<AQ5_1>;
    case GgmlType::Q4_K: return dotQ8Q45K<false>;
    case GgmlType::Q5_K: return dotQ8Q45K<true>;
    case GgmlType::Q6_K: return dotQ8Q6_K;
    case GgmlType::IQ4_NL: return dotQ8Iq4Nl;
    case GgmlType::IQ4_XS: return dotQ8Iq4Xs;
    case GgmlType::Q2_K: return dotQ8Q2_K;
    case GgmlType::Q3_K: return dotQ8Q3_K;
    default: return nullptr;
    }
}

DotRowsQ8Fn avx2LegacyRowsKernel(GgmlType type)
{
    switch (type) {
    case GgmlType::Q8_0: return dotLegacyManyRows<AQ8_0>;
    case GgmlType::Q4_0: return dotLegacyManyRows<AQ4_0>;
    case GgmlType::Q4_1: return dotLegacyManyRows<AQ4_1>;
    case GgmlType::Q5_0: return dotLegacyManyRows<AQ5_0>;
    case GgmlType::Q5_1: return dotLegacyManyRows<AQ5_1>;
    default: return nullptr;
    }
}

} // namespace QuantFit::VecDot

#else

namespace QuantFit::VecDot {

DotQ8Fn avx2Q8Kernel(GgmlType)
{
    return nullptr;
}

DotRowsQ8Fn avx2LegacyRowsKernel(GgmlType)
{
    return nullptr;
}

} // namespace QuantFit::VecDot

#endif
