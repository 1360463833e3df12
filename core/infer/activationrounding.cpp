#include "activationrounding.h"

#include "kernels.h"

#include "util/fp16.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace QuantFit::Infer {

ActivationType activationTypeFor(GgmlType weightType)
{
    switch (weightType) {
    case GgmlType::F32:
        return ActivationType::F32;
    case GgmlType::F16:
        return ActivationType::F16;
    case GgmlType::BF16:
        return ActivationType::BF16;
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0:
    case GgmlType::IQ4_NL:
    case GgmlType::MXFP4:
    case GgmlType::NVFP4:
    case GgmlType::Q1_0:
    case GgmlType::Q2_0:
        return ActivationType::Q8_0;
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
        return ActivationType::Q8_1;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
    case GgmlType::IQ2_XXS:
    case GgmlType::IQ2_XS:
    case GgmlType::IQ2_S:
    case GgmlType::IQ3_XXS:
    case GgmlType::IQ3_S:
    case GgmlType::IQ1_S:
    case GgmlType::IQ1_M:
    case GgmlType::IQ4_XS:
    case GgmlType::TQ1_0:
    case GgmlType::TQ2_0:
        return ActivationType::Q8_K;
    default:
        return ActivationType::F32;
    }
}

namespace {

// Q8_0 / Q8_1 as the x86 AVX2 quantizer computes them: id = 127/amax, round half to even.
void roundQ8_0(const float *x, float *out, std::int64_t n)
{
    constexpr int kBlock = 32;
    std::int64_t b = 0;
    for (; b + kBlock <= n; b += kBlock) {
        const Q8_0Scale s = q8_0Scale(x + b);
        const float dh = fp16ToFp32(s.d);
        // nearbyint, not the codes of quantizeBlockQ8_0(): it keeps the sign of a zero.
        for (int j = 0; j < kBlock; ++j)
            out[b + j] = dh * std::nearbyint(x[b + j] * s.id);
    }
    std::memcpy(out + b, x + b, sizeof(float) * std::size_t(n - b));
}

// Q8_K (quantize_row_q8_K_ref): signed extreme m, iscale = -127/m, nearest (ties to even).
void roundQ8_K(const float *x, float *out, std::int64_t n)
{
    constexpr int kBlock = 256;
    std::int64_t b = 0;
    for (; b + kBlock <= n; b += kBlock) {
        float amax;
        const float m = q8_KExtreme(x + b, kBlock, amax);
        if (amax == 0.0f) {
            std::fill(out + b, out + b + kBlock, 0.0f);
            continue;
        }
        const float iscale = -127.0f / m;
        const float d = 1.0f / iscale;
        for (int j = 0; j < kBlock; ++j)
            out[b + j] = d * std::min(127.0f, std::nearbyint(iscale * x[b + j]));
    }
    std::memcpy(out + b, x + b, sizeof(float) * std::size_t(n - b));
}

//
// AVX2 / F16C: the same arithmetic, eight values at a time.
//

#define QF_AVX2 __attribute__((target("avx2,fma,f16c")))

QF_AVX2 void roundF16Avx2(const float *x, float *out, std::int64_t n)
{
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i)
        out[i] = roundFp16(x[i]);
}

QF_AVX2 inline float hmaxAbs(const float *x, int n)
{
    const __m256 signBit = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8)
        m = _mm256_max_ps(m, _mm256_andnot_ps(signBit, _mm256_loadu_ps(x + j)));
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

QF_AVX2 void roundQ8_0Avx2(const float *x, float *out, std::int64_t n)
{
    constexpr int kBlock = 32;
    std::int64_t b = 0;
    for (; b + kBlock <= n; b += kBlock) {
        const float amax = hmaxAbs(x + b, kBlock);
        const float d = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        const __m256 dh = _mm256_set1_ps(roundFp16(d));
        for (int j = 0; j < kBlock; j += 8) {
            const __m256 q = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + b + j), id),
                                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm256_storeu_ps(out + b + j, _mm256_mul_ps(dh, q));
        }
    }
    std::memcpy(out + b, x + b, sizeof(float) * std::size_t(n - b));
}

QF_AVX2 void roundQ8_KAvx2(const float *x, float *out, std::int64_t n)
{
    constexpr int kBlock = 256;
    std::int64_t b = 0;
    for (; b + kBlock <= n; b += kBlock) {
        const float amax = hmaxAbs(x + b, kBlock);
        if (amax == 0.0f) {
            std::fill(out + b, out + b + kBlock, 0.0f);
            continue;
        }
        float m = 0.0f; // the first value of largest magnitude, with its sign
        for (int j = 0; j < kBlock; ++j) {
            if (std::abs(x[b + j]) == amax) {
                m = x[b + j];
                break;
            }
        }
        const float iscale = -127.0f / m;
        const __m256 vi = _mm256_set1_ps(iscale);
        const __m256 vd = _mm256_set1_ps(1.0f / iscale);
        const __m256 top = _mm256_set1_ps(127.0f);
        for (int j = 0; j < kBlock; j += 8) {
            __m256 q = _mm256_round_ps(_mm256_mul_ps(vi, _mm256_loadu_ps(x + b + j)),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q = _mm256_min_ps(q, top);
            _mm256_storeu_ps(out + b + j, _mm256_mul_ps(vd, q));
        }
    }
    std::memcpy(out + b, x + b, sizeof(float) * std::size_t(n - b));
}

} // namespace

void roundActivations(ActivationType type, const float *x, float *out, std::int64_t n)
{
    if (haveAvx2()) {
        switch (type) {
        case ActivationType::F16:
            roundF16Avx2(x, out, n);
            return;
        case ActivationType::Q8_0:
        case ActivationType::Q8_1:
            roundQ8_0Avx2(x, out, n);
            return;
        case ActivationType::Q8_K:
            roundQ8_KAvx2(x, out, n);
            return;
        default:
            break;
        }
    }
    roundActivationsPortable(type, x, out, n);
}

void roundActivationsPortable(ActivationType type, const float *x, float *out, std::int64_t n)
{
    switch (type) {
    case ActivationType::F32:
        std::memcpy(out, x, sizeof(float) * std::size_t(n));
        return;
    case ActivationType::F16:
        for (std::int64_t i = 0; i < n; ++i)
            out[i] = roundFp16(x[i]);
        return;
    case ActivationType::BF16:
        for (std::int64_t i = 0; i < n; ++i)
            out[i] = bf16ToFp32(fp32ToBf16(x[i]));
        return;
    case ActivationType::Q8_0:
    case ActivationType::Q8_1:
        roundQ8_0(x, out, n);
        return;
    case ActivationType::Q8_K:
        roundQ8_K(x, out, n);
        return;
    }
}

std::int64_t activationQ8Bytes(ActivationType type, std::int64_t n)
{
    switch (type) {
    case ActivationType::Q8_0:
        return n / 32 * 34;
    case ActivationType::Q8_1:
        return n / 32 * 36;
    case ActivationType::Q8_K:
        return n / 256 * 292;
    default:
        return 0;
    }
}

bool q8RowLengthOk(GgmlType weightType, std::int64_t n)
{
    return n % typeFacts(weightType).blockSize == 0
        && n % (activationTypeFor(weightType) == ActivationType::Q8_K ? 256 : 32) == 0;
}

void quantizeActivationsQ8(ActivationType type, const float *x, std::uint8_t *out, std::int64_t n)
{
    if (type == ActivationType::Q8_K) {
        for (std::int64_t b = 0; b < n; b += 256, x += 256, out += 292) {
            auto *q = reinterpret_cast<std::int8_t *>(out + 4);
            const float d = quantizeBlockQ8_K(x, q);
            std::memcpy(out, &d, 4);
            for (int g = 0; g < 16; ++g) {
                std::int16_t sum = 0;
                for (int j = 0; j < 16; ++j)
                    sum = std::int16_t(sum + q[16 * g + j]);
                std::memcpy(out + 260 + 2 * g, &sum, 2);
            }
        }
        return;
    }
    if (type == ActivationType::Q8_1) {
        for (std::int64_t b = 0; b < n; b += 32, x += 32, out += 36) {
            const Q8_1Header h = quantizeBlockQ8_1(x, reinterpret_cast<std::int8_t *>(out + 4));
            std::memcpy(out, &h.d, 2);
            std::memcpy(out + 2, &h.s, 2);
        }
        return;
    }
    for (std::int64_t b = 0; b < n; b += 32, x += 32, out += 34) {
        const std::uint16_t dh = quantizeBlockQ8_0(x, reinterpret_cast<std::int8_t *>(out + 2));
        std::memcpy(out, &dh, 2);
    }
}

} // namespace QuantFit::Infer
