#include "matmulq8.h"

#include "activationrounding.h"
#include "kernels.h"

#include "jobs/parallel.h"
#include "util/cpufeatures.h"
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
    static const bool have = haveAvx2() && cpuFeatures().avxVnni;
    return have;
}

// Round half to even for |v| < 2^22 (what nearbyint does in the default rounding mode), without
// a libm call: adding and subtracting 1.5 * 2^23 leaves the rounded value.
inline float nearestEven(float v)
{
    constexpr float kMagic = 12582912.0f;
    return (v + kMagic) - kMagic;
}

// Activations quantized exactly as roundActivations() rounds them, kept as int8 codes with a
// scale and a code sum per block of the weight's block size (16 or 32); the scale is the Q8_0
// block's own or that of the Q8_K 256-element super-block.
struct QuantizedRows {
    std::vector<std::int8_t> q;     // [T][n]
    std::vector<float> d;           // [T][nb] block scale
    std::vector<std::int32_t> sum;  // [T][nb] sum of q (for the offset of unsigned weight codes)
    std::vector<float> dsum;        // [T][nb] d * sum of q (affine-weight correction)
};

void quantizeActivations(const float *x, int nTokens, std::int64_t n, bool q8k, int blk,
                         int nThreads, QuantizedRows &out)
{
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
            float amax = 0.0f, m = 0.0f;
            for (int j = 0; j < group; ++j) {
                if (std::abs(xg[j]) > amax) {
                    amax = std::abs(xg[j]);
                    m = xg[j];
                }
            }
            float d = 0.0f;
            if (q8k) {
                // As ggml's quantize_row_q8_K: iscale = -127/m, q = min(127, nearest(iscale x)),
                // d = 1/iscale
                if (amax != 0.0f) {
                    const float iscale = -127.0f / m;
                    d = 1.0f / iscale;
                    for (int j = 0; j < group; ++j)
                        qg[j] = std::int8_t(std::min(127.0f, nearestEven(iscale * xg[j])));
                } else {
                    std::fill(qg, qg + group, std::int8_t(0));
                }
            } else {
                // the x86 AVX2 Q8_0 quantizer: id = 127/amax, round half to even, d = fp16(amax/127)
                const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
                for (int j = 0; j < group; ++j)
                    qg[j] = std::int8_t(nearestEven(xg[j] * id));
                d = roundFp16(amax / 127.0f);
            }
            for (int b = 0; b < group / blk; ++b) {
                std::int32_t s = 0;
                for (int j = 0; j < blk; ++j)
                    s += qg[b * blk + j];
                const std::size_t k = std::size_t(t * nb + (g0 / blk) + b);
                out.d[k] = d;
                out.sum[k] = s;
                out.dsum[k] = d * float(s);
            }
        }
    }
    });
}

// Panel of 8 rows: per 32-element block, bytes [4-column group g][row r][4] of unsigned codes
// u, and per row the scale s and offset m with value = s*u - m: for Q8_0, u = q + 128 (the
// offset 128*d is applied exactly through `sum`), for Q4_K, u = q and m = dmin*mn.
inline std::uint32_t load4(const std::uint8_t *p)
{
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Stores the 4 codes of column group g of row r (the layout the kernel reads).
inline void store4(std::uint8_t *blockBytes, int g, int r, std::uint32_t codes)
{
    std::memcpy(blockBytes + g * (kRows * 4) + r * 4, &codes, 4);
}

void packQ8_0(const WeightMatrix &w, std::int64_t row, int r, std::uint8_t *bytes, float *scales,
              float *mins)
{
    const std::int64_t nb = w.nIn / kBlock;
    const std::uint8_t *src = w.data + std::uint64_t(row) * w.rowBytes;
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t *blk = src + b * kBlockBytes;
        std::uint16_t dh;
        std::memcpy(&dh, blk, 2);
        scales[b * kRows + r] = fp16ToFp32(dh);
        mins[b * kRows + r] = 0.0f;
        std::uint8_t *dst = bytes + b * (kBlock * kRows);
        for (int g = 0; g < kBlock / 4; ++g) // q + 128 (mod 256) flips the sign bit
            store4(dst, g, r, load4(blk + 2 + 4 * g) ^ 0x80808080u);
    }
}

// Q4_0 (blockslegacy.h): value = d*(q - 8), q in 0..15; element j in the low nibble of
// qs[j], element j+16 in the high nibble.
void packQ4_0(const WeightMatrix &w, std::int64_t row, int r, std::uint8_t *bytes, float *scales,
              float *mins)
{
    const std::int64_t nb = w.nIn / kBlock;
    const std::uint8_t *src = w.data + std::uint64_t(row) * w.rowBytes;
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t *blk = src + b * 18;
        std::uint16_t dh;
        std::memcpy(&dh, blk, 2);
        scales[b * kRows + r] = fp16ToFp32(dh);
        mins[b * kRows + r] = 0.0f;
        std::uint8_t *dst = bytes + b * (kBlock * kRows);
        for (int g = 0; g < 4; ++g) {
            const std::uint32_t v = load4(blk + 2 + 4 * g);
            store4(dst, g, r, v & 0x0F0F0F0Fu);             // elements 4g..4g+3
            store4(dst, g + 4, r, (v >> 4) & 0x0F0F0F0Fu);  // elements 16+4g..
        }
    }
}

// Q4_K (blockskquants.h): 144-byte super-blocks of 256 values, 8 sub-blocks of 32 with
// 6-bit scale and min codes; value = d*sc*q - dmin*mn.
// Q5_K is Q4_K plus a fifth bit per code (qh: byte e%32, bit e/32), 176-byte blocks.
void packQ4_K(const WeightMatrix &w, std::int64_t row, int r, std::uint8_t *bytes, float *scales,
              float *mins)
{
    const bool q5 = w.type == GgmlType::Q5_K;
    const std::int64_t nSuper = w.nIn / 256;
    const std::uint8_t *src = w.data + std::uint64_t(row) * w.rowBytes;
    for (std::int64_t i = 0; i < nSuper; ++i) {
        const std::uint8_t *blk = src + i * (q5 ? 176 : 144);
        const std::uint8_t *qh = blk + 16;
        std::uint16_t dh, mh;
        std::memcpy(&dh, blk, 2);
        std::memcpy(&mh, blk + 2, 2);
        const float d = fp16ToFp32(dh);
        const float dmin = fp16ToFp32(mh);
        const std::uint8_t *S = blk + 4;
        const std::uint8_t *qs = blk + (q5 ? 48 : 16);
        for (int j = 0; j < 8; ++j) {
            int sc, mn;
            if (j < 4) {
                sc = S[j] & 63;
                mn = S[j + 4] & 63;
            } else {
                sc = (S[j + 4] & 15) | ((S[j - 4] >> 6) << 4);
                mn = (S[j + 4] >> 4) | ((S[j] >> 6) << 4);
            }
            const std::int64_t b = i * 8 + j;
            scales[b * kRows + r] = d * float(sc);
            mins[b * kRows + r] = dmin * float(mn);
            std::uint8_t *dst = bytes + b * (kBlock * kRows);
            const std::uint8_t *q = qs + 32 * (j / 2);
            const int shift = (j % 2) * 4;
            for (int g = 0; g < kBlock / 4; ++g) {
                std::uint32_t codes = (load4(q + 4 * g) >> shift) & 0x0F0F0F0Fu;
                if (q5)
                    codes |= ((load4(qh + 4 * g) >> j) & 0x01010101u) << 4;
                store4(dst, g, r, codes);
            }
        }
    }
}

// Q6_K: 210-byte super-blocks, 16 groups of 16 with int8 scales; value = d*sc*(u - 32),
// u = low4 | high2 << 4. Packed in 16-element blocks.
void packQ6_K(const WeightMatrix &w, std::int64_t row, int r, std::uint8_t *bytes, float *scales,
              float *mins)
{
    constexpr int kBlk = 16;
    const std::int64_t nSuper = w.nIn / 256;
    const std::uint8_t *src = w.data + std::uint64_t(row) * w.rowBytes;
    for (std::int64_t i = 0; i < nSuper; ++i) {
        const std::uint8_t *blk = src + i * 210;
        const std::uint8_t *ql = blk;
        const std::uint8_t *qh = blk + 128;
        const auto *sc = reinterpret_cast<const std::int8_t *>(blk + 192);
        std::uint16_t dh;
        std::memcpy(&dh, blk + 208, 2);
        const float d = fp16ToFp32(dh);
        for (int g = 0; g < 16; ++g) {
            const std::int64_t b = i * 16 + g;
            scales[b * kRows + r] = d * float(sc[g]);
            mins[b * kRows + r] = 0.0f;
            std::uint8_t *dst = bytes + b * (kBlk * kRows);
            // The 16 elements share h and quarter; l runs over 16 consecutive positions.
            const int e0 = g * kBlk;
            const int h = e0 / 128, quarter = (e0 % 128) / 32, l0 = e0 % 32;
            const std::uint8_t *low = ql + 64 * h + (quarter % 2) * 32 + l0;
            const std::uint8_t *high = qh + 32 * h + l0;
            for (int c = 0; c < kBlk / 4; ++c) {
                const std::uint32_t lo = (load4(low + 4 * c) >> (quarter < 2 ? 0 : 4)) & 0x0F0F0F0Fu;
                const std::uint32_t hi = (load4(high + 4 * c) >> (2 * quarter)) & 0x03030303u;
                store4(dst, c, r, lo | (hi << 4));
            }
        }
    }
}

// Q2_K (84 bytes) and Q3_K (110 bytes): 16 groups of 16 with 2-bit codes in the
// 2-bit packing (byte 32h + l, bits 2g); Q2_K is affine (d*sc*q - dmin*mn, q in 0..3), Q3_K
// adds a third bit from hmask (byte e%32, bit e/32) and is symmetric: d*(c - 32)*(u - 4).
void packQ2_3K(const WeightMatrix &w, std::int64_t row, int r, std::uint8_t *bytes, float *scales,
               float *mins)
{
    constexpr int kBlk = 16;
    const bool q3 = w.type == GgmlType::Q3_K;
    const std::int64_t nSuper = w.nIn / 256;
    const std::uint8_t *src = w.data + std::uint64_t(row) * w.rowBytes;
    for (std::int64_t i = 0; i < nSuper; ++i) {
        const std::uint8_t *blk = src + i * (q3 ? 110 : 84);
        const std::uint8_t *qs = blk + (q3 ? 32 : 16);
        const std::uint8_t *hmask = blk;
        std::uint16_t dh, mh = 0;
        std::memcpy(&dh, blk + (q3 ? 108 : 80), 2);
        if (!q3)
            std::memcpy(&mh, blk + 82, 2);
        const float d = fp16ToFp32(dh);
        const float dmin = fp16ToFp32(mh);
        for (int g = 0; g < 16; ++g) {
            const std::int64_t b = i * 16 + g;
            if (q3) {
                const int low = g < 8 ? (blk[96 + g] & 15) : (blk[96 + g - 8] >> 4);
                const int high = (blk[96 + 8 + g % 4] >> (2 * (g / 4))) & 3;
                scales[b * kRows + r] = d * float((low | (high << 4)) - 32);
                mins[b * kRows + r] = 0.0f;
            } else {
                scales[b * kRows + r] = d * float(blk[g] & 15);
                mins[b * kRows + r] = dmin * float(blk[g] >> 4);
            }
            const int e0 = g * kBlk;
            const int h = e0 / 128, pair = (e0 % 128) / 32, l0 = e0 % 32;
            std::uint8_t *dst = bytes + b * (kBlk * kRows);
            for (int c = 0; c < kBlk / 4; ++c) {
                std::uint32_t codes = (load4(qs + 32 * h + l0 + 4 * c) >> (2 * pair)) & 0x03030303u;
                if (q3)
                    codes |= ((load4(hmask + l0 + 4 * c) >> (e0 / 32)) & 0x01010101u) << 2;
                store4(dst, c, r, codes);
            }
        }
    }
}

// IQ4_NL (blocksiq4.h; 18-byte blocks of 32, Q4_0 nibble layout) and IQ4_XS (136-byte
// super-blocks of 8 x 32 with 6-bit scale codes): each nibble indexes the int8 codebook;
// stored as codebook value + 128 (unsigned), the offset removed exactly in integers.
constexpr std::int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

void packIq4Codes(const std::uint8_t *qs, int r, std::uint8_t *dst)
{
    for (int j = 0; j < 16; ++j) {
        const int g = j / 4, k = j % 4;
        dst[g * (kRows * 4) + r * 4 + k] = std::uint8_t(kIq4nlValues[qs[j] & 15] + 128);
        dst[(g + 4) * (kRows * 4) + r * 4 + k] = std::uint8_t(kIq4nlValues[qs[j] >> 4] + 128);
    }
}

void packIq4(const WeightMatrix &w, std::int64_t row, int r, std::uint8_t *bytes, float *scales,
             float *mins)
{
    const std::uint8_t *src = w.data + std::uint64_t(row) * w.rowBytes;
    if (w.type == GgmlType::IQ4_NL) {
        for (std::int64_t b = 0; b < w.nIn / kBlock; ++b) {
            const std::uint8_t *blk = src + b * 18;
            std::uint16_t dh;
            std::memcpy(&dh, blk, 2);
            scales[b * kRows + r] = fp16ToFp32(dh);
            mins[b * kRows + r] = 0.0f;
            packIq4Codes(blk + 2, r, bytes + b * (kBlock * kRows));
        }
        return;
    }
    for (std::int64_t i = 0; i < w.nIn / 256; ++i) {
        const std::uint8_t *blk = src + i * 136;
        std::uint16_t dh, sh;
        std::memcpy(&dh, blk, 2);
        std::memcpy(&sh, blk + 2, 2);
        const float d = fp16ToFp32(dh);
        for (int ib = 0; ib < 8; ++ib) {
            const int code = ((blk[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
            const std::int64_t b = i * 8 + ib;
            scales[b * kRows + r] = d * float(code - 32);
            mins[b * kRows + r] = 0.0f;
            packIq4Codes(blk + 8 + 16 * ib, r, bytes + b * (kBlock * kRows));
        }
    }
}

int blockSizeFor(GgmlType type)
{
    switch (type) {
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q6_K:
        return 16;
    default:
        return kBlock;
    }
}

void packPanel(const WeightMatrix &w, std::int64_t row0, std::uint8_t *bytes, float *scales,
               float *mins)
{
    const int nValid = int(std::min<std::int64_t>(kRows, w.nOut - row0));
    for (int r = 0; r < kRows; ++r) {
        // Rows past the end repeat the last row; their outputs are not stored.
        const std::int64_t row = row0 + std::min(r, nValid - 1);
        if (w.type == GgmlType::Q8_0)
            packQ8_0(w, row, r, bytes, scales, mins);
        else if (w.type == GgmlType::Q4_0)
            packQ4_0(w, row, r, bytes, scales, mins);
        else if (w.type == GgmlType::Q6_K)
            packQ6_K(w, row, r, bytes, scales, mins);
        else if (w.type == GgmlType::Q2_K || w.type == GgmlType::Q3_K)
            packQ2_3K(w, row, r, bytes, scales, mins);
        else if (w.type == GgmlType::IQ4_NL || w.type == GgmlType::IQ4_XS)
            packIq4(w, row, r, bytes, scales, mins);
        else
            packQ4_K(w, row, r, bytes, scales, mins);
    }
}

#define QF_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))

template <int NT, int BLK>
QF_VNNI void kernel(const std::uint8_t *bytes, const float *scales, const float *mins, bool affine,
                    int offset, std::int64_t nb, const QuantizedRows &a, int t0, std::int64_t n, float *y,
                    std::int64_t ldy, int nValid)
{
    __m256 f[NT];
    const std::int8_t *xq[NT];
    const float *da[NT];
    const std::int32_t *sa[NT];
    const float *ds[NT];
    for (int t = 0; t < NT; ++t) {
        ds[t] = a.dsum.data() + std::int64_t(t0 + t) * nb;
        f[t] = _mm256_setzero_ps();
        xq[t] = a.q.data() + std::int64_t(t0 + t) * n;
        da[t] = a.d.data() + std::int64_t(t0 + t) * nb;
        sa[t] = a.sum.data() + std::int64_t(t0 + t) * nb;
    }
    for (std::int64_t b = 0; b < nb; ++b) {
        __m256i acc[NT];
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm256_setzero_si256();
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
        if (affine) {
            const __m256 wm = _mm256_loadu_ps(mins + b * kRows);
            for (int t = 0; t < NT; ++t) {
                f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]),
                                       _mm256_mul_ps(ws, _mm256_set1_ps(da[t][b])), f[t]);
                f[t] = _mm256_fnmadd_ps(wm, _mm256_set1_ps(ds[t][b]), f[t]);
            }
        } else {
            for (int t = 0; t < NT; ++t) {
                const __m256i i = _mm256_sub_epi32(acc[t], _mm256_set1_epi32(offset * sa[t][b]));
                f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i),
                                       _mm256_mul_ps(ws, _mm256_set1_ps(da[t][b])), f[t]);
            }
        }
    }
    for (int t = 0; t < NT; ++t) {
        alignas(32) float tmp[kRows];
        _mm256_store_ps(tmp, f[t]);
        std::memcpy(y + std::int64_t(t) * ldy, tmp, sizeof(float) * std::size_t(nValid));
    }
}

using Kernel = void (*)(const std::uint8_t *, const float *, const float *, bool, int, std::int64_t,
                        const QuantizedRows &, int, std::int64_t, float *, std::int64_t, int);
const Kernel kKernels32[kTokenBlock + 1] = {nullptr,       kernel<1, 32>, kernel<2, 32>,
                                            kernel<3, 32>, kernel<4, 32>, kernel<5, 32>,
                                            kernel<6, 32>};
const Kernel kKernels16[kTokenBlock + 1] = {nullptr,       kernel<1, 16>, kernel<2, 16>,
                                            kernel<3, 16>, kernel<4, 16>, kernel<5, 16>,
                                            kernel<6, 16>};

} // namespace

bool canMatmulInt8(const WeightMatrix &w)
{
    if (!haveVnni())
        return false;
    switch (w.type) {
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::IQ4_NL:
        return w.nIn % kBlock == 0;
    case GgmlType::IQ4_XS:
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
        return w.nIn % 256 == 0;
    default:
        return false;
    }
}

void matmulInt8(const WeightMatrix &w, const float *x, int nTokens, float *y, int nThreads,
                JobContext *ctx)
{
    // K-quants pair with Q8_K activations and have a float min term; the legacy types pair
    // with Q8_0 and store codes with a fixed offset, removed exactly in integers.
    const bool q8k = activationTypeFor(w.type) == ActivationType::Q8_K;
    const bool affine =
        w.type == GgmlType::Q2_K || w.type == GgmlType::Q4_K || w.type == GgmlType::Q5_K;
    const int offset = w.type == GgmlType::Q8_0 || w.type == GgmlType::IQ4_NL
            || w.type == GgmlType::IQ4_XS
        ? 128
        : w.type == GgmlType::Q4_0              ? 8
        : w.type == GgmlType::Q6_K              ? 32
        : w.type == GgmlType::Q3_K              ? 4
                                                : 0;
    const int blk = blockSizeFor(w.type);
    const Kernel *kernels = blk == 16 ? kKernels16 : kKernels32;
    QuantizedRows a;
    quantizeActivations(x, nTokens, w.nIn, q8k, blk, nTokens >= 16 ? nThreads : 1, a);
    const std::int64_t nb = w.nIn / blk;
    const std::int64_t nOut = w.nOut;
    const std::int64_t nPanels = (nOut + kRows - 1) / kRows;
    const std::int64_t panelsPerChunk =
        std::clamp<std::int64_t>(nPanels / (std::int64_t(nThreads) * 8), 1, 32);
    const std::int64_t nChunks = (nPanels + panelsPerChunk - 1) / panelsPerChunk;
    parallelFor(std::uint64_t(nChunks), nThreads, [&](std::uint64_t chunk) {
        std::unique_ptr<std::uint8_t[]> bytes(new std::uint8_t[std::size_t(w.nIn) * kRows]);
        std::unique_ptr<float[]> scales(new float[std::size_t(nb) * kRows]);
        std::unique_ptr<float[]> mins(new float[std::size_t(nb) * kRows]);
        const std::int64_t p0 = std::int64_t(chunk) * panelsPerChunk;
        const std::int64_t p1 = std::min(nPanels, p0 + panelsPerChunk);
        for (std::int64_t p = p0; p < p1; ++p) {
            const std::int64_t row0 = p * kRows;
            const int nValid = int(std::min<std::int64_t>(kRows, nOut - row0));
            packPanel(w, row0, bytes.get(), scales.get(), mins.get());
            for (int t = 0; t < nTokens; t += kTokenBlock) {
                const int nt = std::min(kTokenBlock, nTokens - t);
                kernels[nt](bytes.get(), scales.get(), mins.get(), affine, offset, nb, a, t, w.nIn,
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
