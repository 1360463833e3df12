#pragma once

// Element-wise and reduction kernels of the forward pass (inferencesession.cpp lists the steps):
// RMSNorm, SiLU gating, softmax, dot products and AXPY over F32 and F16 vectors. Each has an
// AVX2/FMA path chosen at run time and a portable path; `Kernels::portable()` forces the portable
// one so tests can compare the two.

#include <cstddef>
#include <cstdint>

namespace QuantFit::Infer {

struct Kernels {
    /// sum_i a[i]*b[i]
    float (*dotF32)(const float *a, const float *b, int n);
    /// sum_i a[i]*fp16(b[i]) (b holds IEEE half bit patterns)
    float (*dotF16)(const float *a, const std::uint16_t *b, int n);
    /// y[i] += alpha * x[i]
    void (*axpyF32)(float alpha, const float *x, float *y, int n);
    /// y[i] += alpha * fp16(x[i])
    void (*axpyF16)(float alpha, const std::uint16_t *x, float *y, int n);
    /// x[i] = exp(x[i] - max) / sum; returns nothing. n >= 1.
    void (*softmax)(float *x, int n);
    /// g[i] = silu(g[i]) * u[i]
    void (*swiglu)(float *g, const float *u, int n);
    /// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i] (mean of squares summed in double, as ggml)
    void (*rmsNorm)(const float *x, const float *w, float *out, int n, float eps);

    /// The fastest implementation this CPU supports.
    static const Kernels &best();
    /// The plain C++ implementation.
    static const Kernels &portable();
};

/// Whether the AVX2/FMA/F16C paths are in use.
bool haveAvx2();

/// g[i] = gelu(g[i]) * u[i] as ggml's CPU backend computes GeGLU (src/ggml-cpu/vec.h): for
/// -10 < g < 10 through a table of F16 GELU values indexed by the F16 rounding of g, 0 below,
/// g itself above. Thread-safe (the table is built once).
void gegluF16(float *g, const float *u, int n);

/// gpt-oss's gated activation (llama.cpp's swiglu_oai, alpha 1.702, limit 7):
/// g' = min(g, 7), u' = clamp(u, -7, 7), g[i] = g' * sigmoid(1.702 g') * (u' + 1).
void swigluOai(float *g, const float *u, int n);

/// softmax of x[0..n) with an extra term exp(sink) in the denominator (an attention sink, which
/// takes probability but contributes no value). Sums in double, as ggml's soft_max.
void softmaxWithSink(float *x, int n, float sink);

/// One query row of ggml's one-row flash-attention kernel over an F16 value cache (the path
/// llama.cpp takes for batches of fewer than 64 rows, e.g. generation): keys in order, an
/// online softmax whose value accumulator is kept in F16 (rescaled when the maximum grows,
/// rounded after every added row), then the sink term (when `sink` is given) and the division
/// by the sum. `scores` holds the n scaled scores; value j, element d is v[d * vStride + j].
/// Writes dv floats to `out`.
void flashAttnRowF16(const float *scores, int n, const std::uint16_t *v, std::size_t vStride,
                     int dv, const float *sink, float *out);
/// flashAttnRowF16() element by element, the reference its AVX-512 path is tested against
/// (bit for bit).
void flashAttnRowF16Portable(const float *scores, int n, const std::uint16_t *v,
                             std::size_t vStride, int dv, const float *sink, float *out);

} // namespace QuantFit::Infer
