#include "vecdotportable.h"
#include "vecdotavx2.h"

#include "blocksiq4.h"
#include "blockskquants.h"
#include "blockslegacy.h"

// AVX2 kernels of dotRowQ8(): activations already quantized to Q8_0 or Q8_K, exact integer sums
// per block (maddubs/madd), one float multiply-add per block or super-block.

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

QF_AVX2 float dotQ8Q8_0(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *w = reinterpret_cast<const BlockQ8_0 *>(row);
    const auto *x = reinterpret_cast<const BlockQ8_0 *>(xq);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i) {
        const __m256i s = mulSumI8(load256(w[i].qs), load256(x[i].qs));
        const float d = halfToFloat(w[i].d) * halfToFloat(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
    }
    return hsum(acc);
}

QF_AVX2 float dotQ8Q4_0(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *w = reinterpret_cast<const BlockQ4_0 *>(row);
    const auto *x = reinterpret_cast<const BlockQ8_0 *>(xq);
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i) {
        const __m256i q = _mm256_sub_epi8(nibbles32(w[i].qs), eight);
        const __m256i s = mulSumI8(q, load256(x[i].qs));
        const float d = halfToFloat(w[i].d) * halfToFloat(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
    }
    return hsum(acc);
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

QF_AVX2 float dotQ8Q5_0(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *w = reinterpret_cast<const BlockQ5_0 *>(row);
    const auto *x = reinterpret_cast<const BlockQ8_0 *>(xq);
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 32; ++i) {
        const __m256i high = _mm256_and_si256(bitsToBytes(loadU32(w[i].qh)), sixteen);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(w[i].qs), high), sixteen);
        const float d = halfToFloat(w[i].d) * halfToFloat(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(mulSumI8(q, load256(x[i].qs))),
                              acc);
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

// Q4_1 / Q5_1 with Q8_1 activations: d * dx * sum(q * xq) per block, plus m * s with s the
// activation block's stored sum (fp16(dx_float * sum(xq))), kept apart as llama.cpp does.
template<bool Five>
QF_AVX2 float dotQ8Q1(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    const auto *x = reinterpret_cast<const BlockQ8_1 *>(xq);
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    float minTerm = 0;
    for (std::int64_t i = 0; i < n / 32; ++i) {
        __m256i q;
        float d;
        float m;
        if constexpr (Five) {
            const auto &b = reinterpret_cast<const BlockQ5_1 *>(row)[i];
            q = _mm256_or_si256(nibbles32(b.qs),
                                _mm256_and_si256(bitsToBytes(loadU32(b.qh)), _mm256_set1_epi8(16)));
            d = halfToFloat(b.d);
            m = halfToFloat(b.m);
        } else {
            const auto &b = reinterpret_cast<const BlockQ4_1 *>(row)[i];
            q = nibbles32(b.qs);
            d = halfToFloat(b.d);
            m = halfToFloat(b.m);
        }
        const __m256i qx =
            _mm256_madd_epi16(_mm256_maddubs_epi16(q, load256(x[i].qs)), ones16);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * halfToFloat(x[i].d)), _mm256_cvtepi32_ps(qx),
                              acc);
        minTerm += m * halfToFloat(x[i].s);
    }
    return hsum(acc) + minTerm;
}

} // namespace

DotQ8Fn avx2Q8Kernel(GgmlType type)
{
    switch (type) {
    case GgmlType::Q8_0: return dotQ8Q8_0;
    case GgmlType::Q4_0: return dotQ8Q4_0;
    case GgmlType::Q4_K: return dotQ8Q45K<false>;
    case GgmlType::Q5_K: return dotQ8Q45K<true>;
    case GgmlType::Q6_K: return dotQ8Q6_K;
    case GgmlType::Q5_0: return dotQ8Q5_0;
    case GgmlType::IQ4_NL: return dotQ8Iq4Nl;
    case GgmlType::IQ4_XS: return dotQ8Iq4Xs;
    case GgmlType::Q2_K: return dotQ8Q2_K;
    case GgmlType::Q3_K: return dotQ8Q3_K;
    case GgmlType::Q4_1: return dotQ8Q1<false>;
    case GgmlType::Q5_1: return dotQ8Q1<true>;
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

} // namespace QuantFit::VecDot

#endif
