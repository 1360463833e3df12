#include "kernels.h"

#include "util/cpufeatures.h"
#include "util/fp16.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace QuantFit::Infer {

//
// portable
//

namespace {

float dotF32Portable(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; ++i)
        s += a[i] * b[i];
    return s;
}

float dotF16Portable(const float *a, const std::uint16_t *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; ++i)
        s += a[i] * fp16ToFp32(b[i]);
    return s;
}

void axpyF32Portable(float alpha, const float *x, float *y, int n)
{
    for (int i = 0; i < n; ++i)
        y[i] += alpha * x[i];
}

void axpyF16Portable(float alpha, const std::uint16_t *x, float *y, int n)
{
    for (int i = 0; i < n; ++i)
        y[i] += alpha * fp16ToFp32(x[i]);
}

void softmaxPortable(float *x, int n)
{
    const float maxValue = *std::max_element(x, x + n);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - maxValue);
        sum += x[i];
    }
    const float scale = float(1.0 / sum);
    for (int i = 0; i < n; ++i)
        x[i] *= scale;
}

void swigluPortable(float *g, const float *u, int n)
{
    for (int i = 0; i < n; ++i)
        g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void rmsNormPortable(const float *x, const float *w, float *out, int n, float eps)
{
    double sum = 0.0;
    for (int i = 0; i < n; ++i)
        sum += double(x[i] * x[i]);
    const float mean = float(sum / n);
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int i = 0; i < n; ++i)
        out[i] = (x[i] * scale) * w[i];
}

//
// AVX2 / FMA / F16C
//

#define QF_AVX2 __attribute__((target("avx2,fma,f16c")))

QF_AVX2 inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// exp(x) for a vector: Cephes-style range reduction x = n*ln2 + r, |r| <= ln2/2, a degree-6
// polynomial for e^r and 2^n assembled in the exponent bits. Relative error ~2 ulp; inputs are
// clamped to the range where the result is a normal float.
QF_AVX2 inline __m256 expAvx2(__m256 x)
{
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365478515625f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

QF_AVX2 float dotF32Avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i)
        s += a[i] * b[i];
    return s;
}

QF_AVX2 inline __m256 loadF16(const std::uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

QF_AVX2 float dotF16Avx2(const float *a, const std::uint16_t *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), loadF16(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), loadF16(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), loadF16(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i)
        s += a[i] * fp16ToFp32(b[i]);
    return s;
}

QF_AVX2 void axpyF32Avx2(float alpha, const float *x, float *y, int n)
{
    const __m256 va = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i)
        y[i] += alpha * x[i];
}

QF_AVX2 void axpyF16Avx2(float alpha, const std::uint16_t *x, float *y, int n)
{
    const __m256 va = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, loadF16(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i)
        y[i] += alpha * fp16ToFp32(x[i]);
}

QF_AVX2 void softmaxAvx2(float *x, int n)
{
    int i = 0;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    float maxValue = _mm_cvtss_f32(m);
    for (; i < n; ++i)
        maxValue = std::max(maxValue, x[i]);

    const __m256 vm = _mm256_set1_ps(maxValue);
    __m256d sum = _mm256_setzero_pd();
    i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = expAvx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd(sum, 1));
    double total = _mm_cvtsd_f64(s2) + _mm_cvtsd_f64(_mm_unpackhi_pd(s2, s2));
    for (; i < n; ++i) {
        x[i] = std::exp(x[i] - maxValue);
        total += x[i];
    }
    const float scale = float(1.0 / total);
    const __m256 vs = _mm256_set1_ps(scale);
    i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; ++i)
        x[i] *= scale;
}

QF_AVX2 void swigluAvx2(float *g, const float *u, int n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 zero = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(g + i);
        const __m256 e = expAvx2(_mm256_sub_ps(zero, v));
        const __m256 s = _mm256_div_ps(v, _mm256_add_ps(one, e));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; ++i)
        g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

QF_AVX2 void rmsNormAvx2(const float *x, const float *w, float *out, int n, float eps)
{
    __m256d sum = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 sq = _mm256_mul_ps(v, v);
        sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd(sum, 1));
    double total = _mm_cvtsd_f64(s2) + _mm_cvtsd_f64(_mm_unpackhi_pd(s2, s2));
    for (; i < n; ++i)
        total += double(x[i] * x[i]);
    const float mean = float(total / n);
    const float scale = 1.0f / std::sqrt(mean + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(v, _mm256_loadu_ps(w + i)));
    }
    for (; i < n; ++i)
        out[i] = (x[i] * scale) * w[i];
}

const Kernels kPortable{dotF32Portable, dotF16Portable, axpyF32Portable, axpyF16Portable,
                        softmaxPortable, swigluPortable, rmsNormPortable};
const Kernels kAvx2{dotF32Avx2, dotF16Avx2, axpyF32Avx2, axpyF16Avx2,
                    softmaxAvx2, swigluAvx2, rmsNormAvx2};

} // namespace

namespace {

// ggml's gelu_f32 (tanh form), evaluated in float.
float geluF32(float x)
{
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

// The 65536-entry table ggml builds at start-up: fp16(gelu(x)) for every F16 bit pattern x.
const std::vector<float> &geluTable()
{
    static const std::vector<float> table = [] {
        std::vector<float> t(65536);
        for (std::uint32_t i = 0; i < 65536; ++i)
            t[i] = fp16ToFp32(fp32ToFp16(geluF32(fp16ToFp32(std::uint16_t(i)))));
        return t;
    }();
    return table;
}

} // namespace

void gegluF16(float *g, const float *u, int n)
{
    const std::vector<float> &table = geluTable();
    for (int i = 0; i < n; ++i) {
        const float x = g[i];
        float y;
        if (x <= -10.0f)
            y = 0.0f;
        else if (x >= 10.0f)
            y = x;
        else
            y = table[fp32ToFp16(x)];
        g[i] = y * u[i];
    }
}

void swigluOai(float *g, const float *u, int n)
{
    constexpr float kAlpha = 1.702f;
    constexpr float kLimit = 7.0f;
    for (int i = 0; i < n; ++i) {
        const float xg = std::min(g[i], kLimit);
        const float xu = std::clamp(u[i], -kLimit, kLimit);
        const float glu = xg / (1.0f + std::exp(kAlpha * -xg));
        g[i] = glu * (xu + 1.0f);
    }
}

void softmaxWithSink(float *x, int n, float sink)
{
    float maxValue = sink;
    for (int i = 0; i < n; ++i)
        maxValue = std::max(maxValue, x[i]);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - maxValue);
        sum += x[i];
    }
    sum += std::exp(sink - maxValue);
    const float scale = float(1.0 / sum);
    for (int i = 0; i < n; ++i)
        x[i] *= scale;
}

namespace {

// Why: GCC 12's AVX-512 conversion intrinsics self-initialise a variable, which
// -Wmaybe-uninitialized reports per caller.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define QF_AVX512F16 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

// One position of the F16 accumulators: rescaled when the maximum grew, then acc += v * weight
// with one rounding to F16 after the fused multiply-add, as the reference does per element.
QF_AVX512F16 inline void flashStep(__m256i &acc, bool rescale, float scale, float weight,
                                   __m256i vh)
{
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    if (rescale)
        acc = _mm512_cvtps_ph(_mm512_mul_ps(_mm512_cvtph_ps(acc), _mm512_set1_ps(scale)), kRound);
    acc = _mm512_cvtps_ph(_mm512_fmadd_ps(_mm512_cvtph_ps(vh), _mm512_set1_ps(weight),
                                          _mm512_cvtph_ps(acc)),
                          kRound);
}

// The accumulators of flashAttnRowF16Portable() for 16 value elements per vector, given the
// per-position rescale flags and factors and weights (which depend on the scores only): each
// element's F16 accumulator goes through the same operations in the same order (F16C rounds to
// nearest even as fp32ToFp16 does), so the result is the same bit for bit. Values are gathered
// two positions at a time (one 32-bit load per element). Writes dv floats to `out`.
QF_AVX512F16 void flashAccumulateAvx512(int n, const std::uint16_t *v, std::size_t vStride,
                                        int dv, const char *rescale, const float *scale,
                                        const float *weight, float *out)
{
    for (int d0 = 0; d0 < dv; d0 += 16) {
        const int nd = std::min(16, dv - d0);
        const __mmask16 live = __mmask16((1u << nd) - 1u);
        const __m512i offsets = _mm512_mullo_epi32(
            _mm512_add_epi32(_mm512_set1_epi32(d0),
                             _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                               15)),
            _mm512_set1_epi32(int(vStride * 2))); // bytes
        __m256i acc = _mm256_setzero_si256();     // +0 as F16
        int j = 0;
        for (; j + 2 <= n; j += 2) {
            const __m512i two = _mm512_mask_i32gather_epi32(
                _mm512_setzero_si512(), live, offsets, v + j, 1);
            const std::size_t k = std::size_t(j);
            flashStep(acc, rescale[k], scale[k], weight[k], _mm512_cvtepi32_epi16(two));
            flashStep(acc, rescale[k + 1], scale[k + 1], weight[k + 1],
                      _mm512_cvtepi32_epi16(_mm512_srli_epi32(two, 16)));
        }
        if (j < n) {
            alignas(32) std::uint16_t last[16] = {};
            for (int d = 0; d < nd; ++d)
                last[d] = v[std::size_t(d0 + d) * vStride + std::size_t(j)];
            const std::size_t k = std::size_t(j);
            flashStep(acc, rescale[k], scale[k], weight[k],
                      _mm256_load_si256(reinterpret_cast<const __m256i *>(last)));
        }
        _mm512_mask_storeu_ps(out + d0, live, _mm512_cvtph_ps(acc));
    }
}

#pragma GCC diagnostic pop

// The sink and the division by the sum, after the accumulators went to `out` (both paths).
// Compiled without FMA on purpose: sum * ms + vs must round twice, as in the loop.
void finishFlashRow(float *out, int dv, float m, float sum, const float *sink)
{
    if (sink) {
        float ms = 1.0f;
        float vs = 1.0f;
        if (*sink > m) {
            ms = std::exp(m - *sink);
            for (int d = 0; d < dv; ++d)
                out[d] *= ms;
        } else {
            vs = std::exp(*sink - m);
        }
        sum = sum * ms + vs;
    }
    const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (int d = 0; d < dv; ++d)
        out[d] *= inv;
}

} // namespace

void flashAttnRowF16(const float *scores, int n, const std::uint16_t *v, std::size_t vStride,
                     int dv, const float *sink, float *out)
{
    // Why a SIMD path: one generated token runs this for every head over the whole context;
    // element by element it took two thirds of a token's time.
    static const bool avx512 = cpuFeatures().avx512 && cpuFeatures().avx2Fma();
    if (!avx512 || n <= 0 || vStride * 2 * std::size_t(dv) >= (std::size_t(1) << 31)) {
        flashAttnRowF16Portable(scores, n, v, vStride, dv, sink, out);
        return;
    }
    // The running maximum, rescale factors and weights, as the reference loop computes them
    // (this function is compiled without FMA, like the reference).
    const std::size_t count = static_cast<std::size_t>(n);
    std::vector<float> scale(count);
    std::vector<float> weight(count);
    std::vector<char> rescale(count);
    float m = -INFINITY;
    float sum = 0.0f;
    for (std::size_t j = 0; j < count; ++j) {
        const float s = scores[j];
        float ms = 1.0f;
        float vs = 1.0f;
        rescale[j] = s > m;
        if (s > m) {
            ms = std::exp(m - s);
            m = s;
        } else {
            vs = std::exp(s - m);
        }
        scale[j] = ms;
        weight[j] = vs;
        sum = sum * ms + vs;
    }
    flashAccumulateAvx512(n, v, vStride, dv, rescale.data(), scale.data(), weight.data(), out);
    finishFlashRow(out, dv, m, sum, sink);
}

void flashAttnRowF16Portable(const float *scores, int n, const std::uint16_t *v,
                             std::size_t vStride, int dv, const float *sink, float *out)
{
    std::vector<std::uint16_t> acc(std::size_t(dv), fp32ToFp16(0.0f));
    float m = -INFINITY;
    float sum = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float s = scores[j];
        float ms = 1.0f;
        float vs = 1.0f;
        if (s > m) {
            ms = std::exp(m - s);
            m = s;
            for (std::uint16_t &a : acc)
                a = fp32ToFp16(fp16ToFp32(a) * ms);
        } else {
            vs = std::exp(s - m);
        }
        // Why fma: ggml's F16C path accumulates with a fused multiply-add before rounding.
        for (int d = 0; d < dv; ++d)
            acc[std::size_t(d)] = fp32ToFp16(
                std::fma(fp16ToFp32(v[std::size_t(d) * vStride + std::size_t(j)]), vs,
                         fp16ToFp32(acc[std::size_t(d)])));
        sum = sum * ms + vs;
    }
    for (int d = 0; d < dv; ++d)
        out[d] = fp16ToFp32(acc[std::size_t(d)]);
    finishFlashRow(out, dv, m, sum, sink);
}

bool haveAvx2()
{
    return cpuFeatures().avx2Fma();
}

const Kernels &Kernels::best()
{
    return haveAvx2() ? kAvx2 : kPortable;
}

const Kernels &Kernels::portable()
{
    return kPortable;
}

} // namespace QuantFit::Infer
