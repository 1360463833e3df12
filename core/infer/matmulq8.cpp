#include "matmulq8.h"

#include "kernels.h"

#include "jobs/parallel.h"
#include "util/fp16.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

namespace QuantFit::Infer {

namespace {

constexpr int kBlock = 32;      // Q8_0 block
constexpr int kBlockBytes = 34; // fp16 d + 32 int8
constexpr int kRows = 8;        // rows per panel (one int32 lane each)
constexpr int kTokenBlock = 6;

bool haveVnni()
{
    static const bool have = haveAvx2() && __builtin_cpu_supports("avxvnni");
    return have;
}

// Activations quantized exactly as roundActivations(Q8_0) rounds them (x86 AVX2 quantizer):
// per block amax, d = fp16(amax/127), q = round-half-even(x * 127/amax).
struct QuantizedRows {
    std::vector<std::int8_t> q;    // [T][n]
    std::vector<float> d;          // [T][nb]
    std::vector<std::int32_t> sum; // [T][nb], 128 * sum of q (the unsigned-weight correction)
};

void quantizeActivations(const float *x, int nTokens, std::int64_t n, QuantizedRows &out)
{
    const std::int64_t nb = n / kBlock;
    out.q.resize(std::size_t(nTokens) * std::size_t(n));
    out.d.resize(std::size_t(nTokens) * std::size_t(nb));
    out.sum.resize(out.d.size());
    for (int t = 0; t < nTokens; ++t) {
        for (std::int64_t b = 0; b < nb; ++b) {
            const float *xb = x + std::int64_t(t) * n + b * kBlock;
            float amax = 0.0f;
            for (int j = 0; j < kBlock; ++j)
                amax = std::max(amax, std::abs(xb[j]));
            const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
            std::int8_t *qb = out.q.data() + std::int64_t(t) * n + b * kBlock;
            std::int32_t s = 0;
            for (int j = 0; j < kBlock; ++j) {
                qb[j] = std::int8_t(std::nearbyint(xb[j] * id));
                s += qb[j];
            }
            out.d[std::size_t(t * nb + b)] = roundFp16(amax / 127.0f);
            out.sum[std::size_t(t * nb + b)] = 128 * s;
        }
    }
}

// Panel of 8 rows: per block, bytes [4-column group g][row r][4] of q + 128 (unsigned for
// vpdpbusd), and the 8 rows' scales.
void packPanel(const WeightMatrix &w, std::int64_t row0, std::uint8_t *bytes, float *scales)
{
    const std::int64_t nb = w.nIn / kBlock;
    const int nValid = int(std::min<std::int64_t>(kRows, w.nOut - row0));
    for (int r = 0; r < kRows; ++r) {
        const std::uint8_t *row = w.data + std::uint64_t(row0 + std::min(r, nValid - 1)) * w.rowBytes;
        for (std::int64_t b = 0; b < nb; ++b) {
            const std::uint8_t *blk = row + b * kBlockBytes;
            std::uint16_t dh;
            std::memcpy(&dh, blk, 2);
            scales[b * kRows + r] = r < nValid ? fp16ToFp32(dh) : 0.0f;
            std::uint8_t *dst = bytes + b * (kBlock * kRows);
            for (int j = 0; j < kBlock; ++j)
                dst[(j / 4) * (kRows * 4) + r * 4 + (j % 4)] =
                    std::uint8_t(int(std::int8_t(blk[2 + j])) + 128);
        }
    }
}

#define QF_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))

template <int NT>
QF_VNNI void kernel(const std::uint8_t *bytes, const float *scales, std::int64_t nb,
                    const QuantizedRows &a, int t0, std::int64_t n, float *y, std::int64_t ldy,
                    int nValid)
{
    __m256 f[NT];
    const std::int8_t *xq[NT];
    const float *da[NT];
    const std::int32_t *sa[NT];
    for (int t = 0; t < NT; ++t) {
        f[t] = _mm256_setzero_ps();
        xq[t] = a.q.data() + std::int64_t(t0 + t) * n;
        da[t] = a.d.data() + std::int64_t(t0 + t) * nb;
        sa[t] = a.sum.data() + std::int64_t(t0 + t) * nb;
    }
    for (std::int64_t b = 0; b < nb; ++b) {
        __m256i acc[NT];
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm256_setzero_si256();
        const std::uint8_t *wb = bytes + b * (kBlock * kRows);
        for (int g = 0; g < kBlock / 4; ++g) {
            const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(wb + g * 32));
            for (int t = 0; t < NT; ++t) {
                std::int32_t four;
                std::memcpy(&four, xq[t] + b * kBlock + g * 4, 4);
                acc[t] = _mm256_dpbusd_avx_epi32(acc[t], wv, _mm256_set1_epi32(four));
            }
        }
        const __m256 ws = _mm256_loadu_ps(scales + b * kRows);
        for (int t = 0; t < NT; ++t) {
            const __m256i i = _mm256_sub_epi32(acc[t], _mm256_set1_epi32(sa[t][b]));
            f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(ws, _mm256_set1_ps(da[t][b])),
                                   f[t]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        alignas(32) float tmp[kRows];
        _mm256_store_ps(tmp, f[t]);
        std::memcpy(y + std::int64_t(t) * ldy, tmp, sizeof(float) * std::size_t(nValid));
    }
}

using Kernel = void (*)(const std::uint8_t *, const float *, std::int64_t, const QuantizedRows &,
                        int, std::int64_t, float *, std::int64_t, int);
const Kernel kKernels[kTokenBlock + 1] = {nullptr,   kernel<1>, kernel<2>, kernel<3>,
                                          kernel<4>, kernel<5>, kernel<6>};

} // namespace

bool canMatmulQ8_0Int8(const WeightMatrix &w)
{
    return w.type == GgmlType::Q8_0 && w.nIn % kBlock == 0 && haveVnni();
}

void matmulQ8_0Int8(const WeightMatrix &w, const float *x, int nTokens, float *y, int nThreads,
                    JobContext *ctx)
{
    QuantizedRows a;
    quantizeActivations(x, nTokens, w.nIn, a);
    const std::int64_t nb = w.nIn / kBlock;
    const std::int64_t nOut = w.nOut;
    const std::int64_t nPanels = (nOut + kRows - 1) / kRows;
    const std::int64_t panelsPerChunk =
        std::clamp<std::int64_t>(nPanels / (std::int64_t(nThreads) * 8), 1, 32);
    const std::int64_t nChunks = (nPanels + panelsPerChunk - 1) / panelsPerChunk;
    parallelFor(std::uint64_t(nChunks), nThreads, [&](std::uint64_t chunk) {
        std::unique_ptr<std::uint8_t[]> bytes(new std::uint8_t[std::size_t(nb) * kBlock * kRows]);
        std::unique_ptr<float[]> scales(new float[std::size_t(nb) * kRows]);
        const std::int64_t p0 = std::int64_t(chunk) * panelsPerChunk;
        const std::int64_t p1 = std::min(nPanels, p0 + panelsPerChunk);
        for (std::int64_t p = p0; p < p1; ++p) {
            const std::int64_t row0 = p * kRows;
            const int nValid = int(std::min<std::int64_t>(kRows, nOut - row0));
            packPanel(w, row0, bytes.get(), scales.get());
            for (int t = 0; t < nTokens; t += kTokenBlock) {
                const int nt = std::min(kTokenBlock, nTokens - t);
                kKernels[nt](bytes.get(), scales.get(), nb, a, t, w.nIn,
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
