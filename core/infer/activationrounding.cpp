#include "activationrounding.h"

#include "util/fp16.h"

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
        float amax = 0.0f;
        for (int j = 0; j < kBlock; ++j)
            amax = std::max(amax, std::abs(x[b + j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const float dh = roundFp16(d);
        for (int j = 0; j < kBlock; ++j)
            out[b + j] = dh * std::nearbyint(x[b + j] * id);
    }
    std::memcpy(out + b, x + b, sizeof(float) * std::size_t(n - b));
}

// Q8_K (quantize_row_q8_K_ref): signed extreme m, iscale = -127/m, nearest (ties to even).
void roundQ8_K(const float *x, float *out, std::int64_t n)
{
    constexpr int kBlock = 256;
    std::int64_t b = 0;
    for (; b + kBlock <= n; b += kBlock) {
        float amax = 0.0f, m = 0.0f;
        for (int j = 0; j < kBlock; ++j) {
            const float a = std::abs(x[b + j]);
            if (a > amax) {
                amax = a;
                m = x[b + j];
            }
        }
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

} // namespace

void roundActivations(ActivationType type, const float *x, float *out, std::int64_t n)
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

} // namespace QuantFit::Infer
