#include "matmulq8.h"

#include "activationrounding.h"
#include "kernels.h"

#include "codecs/vecdot.h"
#include "jobs/parallel.h"
#include "util/cpufeatures.h"
#include "util/fp16.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

// Why: GCC 12's AVX-512 intrinsics (_mm512_undefined_* inside _mm512_cvtepi32_ps and the
// gathers) self-initialise a variable, which -Wmaybe-uninitialized reports per caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace QuantFit::Infer {

namespace {

constexpr int kBlock = 32;      // Q8_0 block
// Tokens per kernel call (8 measured no faster than 6 for the 16-row kernel).
constexpr int kTokenBlock = 6;

bool haveVnni()
{
    static const bool have = haveAvx2() && cpuFeatures().avxVnni;
    return have;
}

// Activations quantized exactly as roundActivations() rounds them, kept as int8 codes with a
// scale and a code sum per block of the weight's block size (16 or 32); the scale is the Q8_0
// block's own or that of the Q8_K 256-element super-block.
struct QuantizedRows {
    std::vector<std::int8_t> q;     // [T][n]
    std::vector<float> d;           // [T][nb] block scale
    std::vector<std::int32_t> sum;  // [T][nb] sum of q (for the offset of unsigned weight codes)
    std::vector<float> dsum;        // [T][nb] the affine weights' min factor (below)
};

// dsum, what a block's min multiplies: d * sum(q) for Q8_K; for Q8_1 (Q4_1 / Q5_1 weights) the
// block's s = fp16(d * sum(q)) with d before its fp16 rounding, as llama.cpp's
// vec_dot_q4_1_q8_1 multiplies m by it.
void quantizeActivations(const float *x, int nTokens, std::int64_t n, ActivationType type,
                         int blk, int nThreads, QuantizedRows &out)
{
    const bool q8k = type == ActivationType::Q8_K;
    const bool q81 = type == ActivationType::Q8_1;
    const std::int64_t nb = n / blk;
    out.q.resize(std::size_t(nTokens) * std::size_t(n));
    out.d.resize(std::size_t(nTokens) * std::size_t(nb));
    out.sum.resize(out.d.size());
    out.dsum.resize(out.d.size());
    const int group = q8k ? 256 : kBlock;
    // Tokens are independent: spread them over the threads (a serial pass here would cost a
    // sixth of the product's time at two threads).
    const int tokensPerChunk = std::max(1, nTokens / (4 * std::max(1, nThreads)));
    const int nChunks = (nTokens + tokensPerChunk - 1) / tokensPerChunk;
    parallelFor(std::uint64_t(nChunks), nThreads, [&](std::uint64_t chunk) {
    const int tBegin = int(chunk) * tokensPerChunk;
    const int tEnd = std::min(nTokens, tBegin + tokensPerChunk);
    for (int t = tBegin; t < tEnd; ++t) {
        for (std::int64_t g0 = 0; g0 < n; g0 += group) {
            const float *xg = x + std::int64_t(t) * n + g0;
            std::int8_t *qg = out.q.data() + std::int64_t(t) * n + g0;
            // As quantize_row_q8_K / the x86 AVX2 quantize_row_q8_0 and quantize_row_q8_1
            // (activationrounding.h).
            float d;
            float blockSum = 0; // Q8_1's s (group == blk == 32)
            if (q8k) {
                d = quantizeBlockQ8_K(xg, qg);
            } else if (q81) {
                const Q8_1Header h = quantizeBlockQ8_1(xg, qg);
                d = fp16ToFp32(h.d);
                blockSum = fp16ToFp32(h.s);
            } else {
                d = fp16ToFp32(quantizeBlockQ8_0(xg, qg));
            }
            for (int b = 0; b < group / blk; ++b) {
                std::int32_t s = 0;
                for (int j = 0; j < blk; ++j)
                    s += qg[b * blk + j];
                const std::size_t k = std::size_t(t * nb + (g0 / blk) + b);
                out.d[k] = d;
                out.sum[k] = s;
                out.dsum[k] = q81 ? blockSum : d * float(s);
            }
        }
    }
    });
}

//
// weight panels: R rows (8 or 16); per sub-block b of `blk` elements, bytes [g][r][4] (g < blk/4:
// the codes of elements 4g..4g+3 of row r, each + 128), then scales[b * R + r] and
// mins[b * R + r]. Rows past the end repeat the last row; their outputs are not stored.
//

inline std::uint32_t load4(const std::int8_t *p)
{
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

struct PanelScratch {
    std::vector<std::int8_t> codes; // the panel's rows decoded, [nRows][nIn]
    std::vector<float> scales;      // [nb]
    std::vector<float> mins;
};

#define QF_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

// The 16-row layout from 16 decoded rows: the codes of elements e..e+3 of all rows (group g of
// sub-block b, e = b * blk + 4g, stored at 64 * e / 4 whatever blk is) are one 16-lane gather
// with the row stride.
QF_AVX512VNNI void interleave16(const std::int8_t *codes, std::int64_t n, std::uint8_t *bytes)
{
    const __m512i rows = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(int(n)));
    const __m512i flip = _mm512_set1_epi32(int(0x80808080u)); // code + 128
    for (std::int64_t e = 0; e < n; e += 4, bytes += 64) {
        const __m512i v = _mm512_i32gather_epi32(rows, codes + e, 1);
        _mm512_storeu_si512(bytes, _mm512_xor_si512(v, flip));
    }
}

void packPanel(const WeightMatrix &w, const IntRowDecoder &decode, int nRows, std::int64_t row0,
               PanelScratch &scratch, std::uint8_t *bytes, float *scales, float *mins)
{
    const DotIntForm &form = decode.form();
    const int blk = form.subBlock;
    const std::int64_t n = w.nIn;
    const std::int64_t nb = n / blk;
    const int nValid = int(std::min<std::int64_t>(nRows, w.nOut - row0));
    for (int r = 0; r < nRows; ++r) {
        const std::int64_t row = row0 + std::min(r, nValid - 1);
        std::int8_t *codes = scratch.codes.data() + r * n;
        decode(w.data + std::uint64_t(row) * w.rowBytes, n, codes, scratch.scales.data(),
               scratch.mins.data());
        for (std::int64_t b = 0; b < nb; ++b) {
            scales[b * nRows + r] = scratch.scales[std::size_t(b)];
            mins[b * nRows + r] = form.affine ? scratch.mins[std::size_t(b)] : 0.0f;
        }
        if (nRows == 16)
            continue;
        for (std::int64_t b = 0; b < nb; ++b) {
            std::uint8_t *dst = bytes + b * blk * nRows + r * 4;
            const std::int8_t *src = codes + b * blk;
            for (int g = 0; g < blk / 4; ++g) {
                const std::uint32_t v = load4(src + 4 * g) ^ 0x80808080u; // code + 128
                std::memcpy(dst + g * nRows * 4, &v, 4);
            }
        }
    }
    if (nRows == 16)
        interleave16(scratch.codes.data(), n, bytes);
}

//
// kernels: NT tokens against one panel; per sub-block an int32 sum per (row, token), minus
// 128 * the activation sum, times weight scale * activation scale, minus min * d * sum
//

#define QF_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))

template <int NT, int BLK, bool Affine>
QF_VNNI void kernel8(const std::uint8_t *bytes, const float *scales, const float *mins,
                     std::int64_t nb, const QuantizedRows &a, int t0, std::int64_t n, float *y,
                     std::int64_t ldy, int nValid)
{
    constexpr int kRows = 8;
    __m256 f[NT];
    const std::int8_t *xq[NT];
    const float *da[NT];
    const std::int32_t *sa[NT];
    const float *ds[NT];
    for (int t = 0; t < NT; ++t) {
        f[t] = _mm256_setzero_ps();
        xq[t] = a.q.data() + std::int64_t(t0 + t) * n;
        da[t] = a.d.data() + std::int64_t(t0 + t) * nb;
        sa[t] = a.sum.data() + std::int64_t(t0 + t) * nb;
        ds[t] = a.dsum.data() + std::int64_t(t0 + t) * nb;
    }
    for (std::int64_t b = 0; b < nb; ++b) {
        __m256i acc[NT];
        // Starting from -128 * sum(q) takes the +128 of the packed codes off exactly.
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm256_set1_epi32(-128 * sa[t][b]);
        const std::uint8_t *wb = bytes + b * (BLK * kRows);
        for (int g = 0; g < BLK / 4; ++g) {
            const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(wb + g * 32));
            for (int t = 0; t < NT; ++t) {
                std::int32_t four;
                std::memcpy(&four, xq[t] + b * BLK + g * 4, 4);
                acc[t] = _mm256_dpbusd_avx_epi32(acc[t], wv, _mm256_set1_epi32(four));
            }
        }
        const __m256 ws = _mm256_loadu_ps(scales + b * kRows);
        for (int t = 0; t < NT; ++t) {
            f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]),
                                   _mm256_mul_ps(ws, _mm256_set1_ps(da[t][b])), f[t]);
            if constexpr (Affine)
                f[t] = _mm256_fnmadd_ps(_mm256_loadu_ps(mins + b * kRows),
                                        _mm256_set1_ps(ds[t][b]), f[t]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        alignas(32) float tmp[kRows];
        _mm256_store_ps(tmp, f[t]);
        std::memcpy(y + std::int64_t(t) * ldy, tmp, sizeof(float) * std::size_t(nValid));
    }
}

// The 16-row kernel: the same operations per lane as kernel8, so the same numbers.
template <int NT, int BLK, bool Affine>
QF_AVX512VNNI void kernel16(const std::uint8_t *bytes, const float *scales, const float *mins,
                            std::int64_t nb, const QuantizedRows &a, int t0, std::int64_t n,
                            float *y, std::int64_t ldy, int nValid)
{
    constexpr int kRows = 16;
    __m512 f[NT];
    const std::int8_t *xq[NT];
    const float *da[NT];
    const std::int32_t *sa[NT];
    const float *ds[NT];
    for (int t = 0; t < NT; ++t) {
        f[t] = _mm512_setzero_ps();
        xq[t] = a.q.data() + std::int64_t(t0 + t) * n;
        da[t] = a.d.data() + std::int64_t(t0 + t) * nb;
        sa[t] = a.sum.data() + std::int64_t(t0 + t) * nb;
        ds[t] = a.dsum.data() + std::int64_t(t0 + t) * nb;
    }
    for (std::int64_t b = 0; b < nb; ++b) {
        __m512i acc[NT];
        // Starting from -128 * sum(q) takes the +128 of the packed codes off exactly.
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm512_set1_epi32(-128 * sa[t][b]);
        const std::uint8_t *wb = bytes + b * (BLK * kRows);
        for (int g = 0; g < BLK / 4; ++g) {
            const __m512i wv = _mm512_loadu_si512(wb + g * 64);
            for (int t = 0; t < NT; ++t) {
                std::int32_t four;
                std::memcpy(&four, xq[t] + b * BLK + g * 4, 4);
                acc[t] = _mm512_dpbusd_epi32(acc[t], wv, _mm512_set1_epi32(four));
            }
        }
        const __m512 ws = _mm512_loadu_ps(scales + b * kRows);
        for (int t = 0; t < NT; ++t) {
            f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]),
                                   _mm512_mul_ps(ws, _mm512_set1_ps(da[t][b])), f[t]);
            if constexpr (Affine)
                f[t] = _mm512_fnmadd_ps(_mm512_loadu_ps(mins + b * kRows),
                                        _mm512_set1_ps(ds[t][b]), f[t]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        alignas(64) float tmp[kRows];
        _mm512_store_ps(tmp, f[t]);
        std::memcpy(y + std::int64_t(t) * ldy, tmp, sizeof(float) * std::size_t(nValid));
    }
}

using Kernel = void (*)(const std::uint8_t *, const float *, const float *, std::int64_t,
                        const QuantizedRows &, int, std::int64_t, float *, std::int64_t, int);

// kernels[nt] for nt = 1..kTokenBlock, per (rows, sub-block size, affine).
template <int BLK, bool Affine, bool Wide, std::size_t... NT>
constexpr std::array<Kernel, kTokenBlock + 1> makeKernels(std::index_sequence<NT...>)
{
    if constexpr (Wide)
        return {nullptr, kernel16<int(NT) + 1, BLK, Affine>...};
    else
        return {nullptr, kernel8<int(NT) + 1, BLK, Affine>...};
}

template <bool Wide>
const Kernel *kernelsFor(int blk, bool affine)
{
    using Seq = std::make_index_sequence<kTokenBlock>;
    static constexpr auto k16 = makeKernels<16, false, Wide>(Seq{});
    static constexpr auto k16a = makeKernels<16, true, Wide>(Seq{});
    static constexpr auto k32 = makeKernels<32, false, Wide>(Seq{});
    static constexpr auto k32a = makeKernels<32, true, Wide>(Seq{});
    if (blk == 16)
        return affine ? k16a.data() : k16.data();
    return affine ? k32a.data() : k32.data();
}

} // namespace

bool canMatmulInt8(const WeightMatrix &w, bool allowAvx512)
{
    if (!(allowAvx512 && cpuHasAvx512()) && !haveVnni())
        return false;
    return dotIntForm(w.type) && w.nIn > 0 && q8RowLengthOk(w.type, w.nIn);
}

void matmulInt8(const WeightMatrix &w, const float *x, int nTokens, float *y, int nThreads,
                JobContext *ctx, bool allowAvx512)
{
    const IntRowDecoder decode(DotPath::Auto, w.type); // decodeIntRow()'s decoder, looked up once
    const DotIntForm &form = decode.form();
    const ActivationType actType = activationTypeFor(w.type);
    const bool wide = allowAvx512 && cpuHasAvx512();
    const int nRows = wide ? 16 : 8;
    const int blk = form.subBlock;
    const Kernel *kernels = wide ? kernelsFor<true>(blk, form.affine)
                                 : kernelsFor<false>(blk, form.affine);
    QuantizedRows a;
    quantizeActivations(x, nTokens, w.nIn, actType, blk, nTokens >= 16 ? nThreads : 1, a);
    const std::int64_t nb = w.nIn / blk;
    const std::int64_t nOut = w.nOut;
    const std::int64_t nPanels = (nOut + nRows - 1) / nRows;
    const std::int64_t panelsPerChunk =
        std::clamp<std::int64_t>(nPanels / (std::int64_t(nThreads) * 8), 1, 32);
    const std::int64_t nChunks = (nPanels + panelsPerChunk - 1) / panelsPerChunk;
    parallelFor(std::uint64_t(nChunks), nThreads, [&](std::uint64_t chunk) {
        std::unique_ptr<std::uint8_t[]> bytes(new std::uint8_t[std::size_t(w.nIn) * nRows]);
        std::unique_ptr<float[]> scales(new float[std::size_t(nb) * nRows]);
        std::unique_ptr<float[]> mins(new float[std::size_t(nb) * nRows]);
        PanelScratch scratch{std::vector<std::int8_t>(std::size_t(w.nIn) * nRows),
                             std::vector<float>(std::size_t(nb)),
                             std::vector<float>(std::size_t(nb))};
        const std::int64_t p0 = std::int64_t(chunk) * panelsPerChunk;
        const std::int64_t p1 = std::min(nPanels, p0 + panelsPerChunk);
        for (std::int64_t p = p0; p < p1; ++p) {
            const std::int64_t row0 = p * nRows;
            const int nValid = int(std::min<std::int64_t>(nRows, nOut - row0));
            packPanel(w, decode, nRows, row0, scratch, bytes.get(), scales.get(), mins.get());
            for (int t = 0; t < nTokens; t += kTokenBlock) {
                const int nt = std::min(kTokenBlock, nTokens - t);
                kernels[nt](bytes.get(), scales.get(), mins.get(), nb, a, t, w.nIn,
                            y + std::int64_t(t) * nOut + row0, nOut, nValid);
            }
            if (w.bias) {
                for (int t = 0; t < nTokens; ++t)
                    for (int r = 0; r < nValid; ++r)
                        y[std::int64_t(t) * nOut + row0 + r] += w.bias[row0 + r];
            }
        }
    }, ctx);
}

} // namespace QuantFit::Infer
