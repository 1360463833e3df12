#include "vecdot.h"

#include "quantkernels.h"
#include "vecdotint.h"
#include "vecdotportable.h"

#include "blockskquants.h"
#include "blockslegacy.h"

#include "util/error.h"
#include "util/cpufeatures.h"
#include "util/fp16.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// The portable path and the kernel selection (the AVX2 kernels are in vecdotavx2.cpp,
// vecdotq8avx2.cpp and vecdotintavx2.cpp, the AVX-512 ones in vecdotavx512.cpp). Float
// activations: F32/F16/BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K read their blocks directly; the
// remaining types dequantize one block at a time into a stack buffer (at most 256 floats, never
// a row) with the reference dequantizer, then dot. 8-bit activations: the integer-form
// reference of vecdotint.cpp for every type.

namespace QuantFit {

namespace VecDot {

namespace {

float loadF32(const std::uint8_t *p)
{
    float v;
    std::memcpy(&v, p, sizeof v); // rows of a hostile file may sit at any byte offset
    return v;
}

float dotF32(const std::uint8_t *row, const float *x, std::int64_t n)
{
    // Four partial sums: independent chains are faster and slightly more accurate.
    float s[4] = {0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int k = 0; k < 4; ++k)
            s[k] += loadF32(row + 4 * (i + k)) * x[i + k];
    }
    for (; i < n; ++i)
        s[0] += loadF32(row + 4 * i) * x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

float dotF16(const std::uint8_t *row, const float *x, std::int64_t n)
{
    float sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        sum += fp16ToFp32(h) * x[i];
    }
    return sum;
}

float dotBf16(const std::uint8_t *row, const float *x, std::int64_t n)
{
    float sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        sum += bf16ToFp32(h) * x[i];
    }
    return sum;
}

float dotQ8_0(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ8_0 *>(row);
    float sum = 0;
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        float s = 0;
        for (int j = 0; j < 32; ++j)
            s += float(b[i].qs[j]) * x[j];
        sum += fp16ToFp32(b[i].d) * s;
    }
    return sum;
}

float dotQ4_0(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *b = reinterpret_cast<const BlockQ4_0 *>(row);
    float sum = 0;
    for (std::int64_t i = 0; i < n / 32; ++i, x += 32) {
        float s = 0;
        for (int j = 0; j < 16; ++j)
            s += float((b[i].qs[j] & 0xF) - 8) * x[j] + float((b[i].qs[j] >> 4) - 8) * x[j + 16];
        sum += fp16ToFp32(b[i].d) * s;
    }
    return sum;
}

// Q4_K and Q5_K: per 32-element sub-block, d*sc*sum(q*x) - dmin*mn*sum(x).
template<bool Five>
float dotQ45K(const std::uint8_t *row, const float *x, std::int64_t n)
{
    float sum = 0;
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const std::uint8_t *scales;
        const std::uint8_t *qs;
        const std::uint8_t *qh = nullptr;
        std::uint16_t dBits;
        std::uint16_t mBits;
        if constexpr (Five) {
            const auto &b = reinterpret_cast<const BlockQ5_K *>(row)[i];
            scales = b.scales;
            qs = b.qs;
            qh = b.qh;
            dBits = b.d;
            mBits = b.dmin;
        } else {
            const auto &b = reinterpret_cast<const BlockQ4_K *>(row)[i];
            scales = b.scales;
            qs = b.qs;
            dBits = b.d;
            mBits = b.dmin;
        }
        const float d = fp16ToFp32(dBits);
        const float dmin = fp16ToFp32(mBits);
        for (int j = 0; j < 8; ++j, x += 32) {
            std::uint8_t sc;
            std::uint8_t mn;
            unpackScaleMinK4(j, scales, sc, mn);
            const std::uint8_t *q = qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            float sqx = 0;
            float sx = 0;
            for (int l = 0; l < 32; ++l) {
                int v = (q[l] >> shift) & 0xF;
                if constexpr (Five)
                    v += ((qh[l] >> j) & 1) << 4;
                sqx += float(v) * x[l];
                sx += x[l];
            }
            sum += d * float(sc) * sqx - dmin * float(mn) * sx;
        }
    }
    return sum;
}

float dotQ6_K(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockQ6_K *>(row);
    float sum = 0;
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const BlockQ6_K &b = blocks[i];
        const float d = fp16ToFp32(b.d);
        for (int h = 0; h < 2; ++h, x += 128) {
            const std::uint8_t *ql = b.ql + 64 * h;
            const std::uint8_t *qh = b.qh + 32 * h;
            const std::int8_t *sc = b.scales + 8 * h;
            float s[8] = {0, 0, 0, 0, 0, 0, 0, 0}; // one per 16-element scale group
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                s[is] += float(q1) * x[l];
                s[is + 2] += float(q2) * x[l + 32];
                s[is + 4] += float(q3) * x[l + 64];
                s[is + 6] += float(q4) * x[l + 96];
            }
            for (int k = 0; k < 8; ++k)
                sum += d * float(sc[k]) * s[k];
        }
    }
    return sum;
}

// Generic block-at-a-time path for the remaining types.
template<GgmlType Type>
float dotViaBlocks(const std::uint8_t *row, const float *x, std::int64_t n)
{
    const TypeFacts &facts = typeFacts(Type);
    const auto dequant = kernelsFor(Type).dequantizeRow;
    const std::int64_t chunk = facts.blockSize;
    float buf[256];
    float sum = 0;
    for (std::int64_t i = 0; i < n; i += chunk) {
        dequant(row + (i / chunk) * facts.blockBytes, buf, chunk);
        float s = 0;
        for (std::int64_t j = 0; j < chunk; ++j)
            s += buf[j] * x[i + j];
        sum += s;
    }
    return sum;
}

// The portable 8-bit-activation dot: the integer-form reference (vecdotint.cpp), with the
// activation type q8ActivationType() names.
template <GgmlType Type>
float dotQ8Reference(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    return dotQ8IntReference(Type, row, xq, n, *q8ActivationType(Type));
}

} // namespace

DotQ8Fn portableQ8Kernel(GgmlType type)
{
    switch (type) {
    case GgmlType::Q8_0: return dotQ8Reference<GgmlType::Q8_0>;
    case GgmlType::Q4_0: return dotQ8Reference<GgmlType::Q4_0>;
    case GgmlType::Q4_1: return dotQ8Reference<GgmlType::Q4_1>;
    case GgmlType::Q5_0: return dotQ8Reference<GgmlType::Q5_0>;
    case GgmlType::Q5_1: return dotQ8Reference<GgmlType::Q5_1>;
    case GgmlType::IQ4_NL: return dotQ8Reference<GgmlType::IQ4_NL>;
    case GgmlType::MXFP4: return dotQ8Reference<GgmlType::MXFP4>;
    case GgmlType::NVFP4: return dotQ8Reference<GgmlType::NVFP4>;
    case GgmlType::Q1_0: return dotQ8Reference<GgmlType::Q1_0>;
    case GgmlType::Q2_0: return dotQ8Reference<GgmlType::Q2_0>;
    case GgmlType::Q2_K: return dotQ8Reference<GgmlType::Q2_K>;
    case GgmlType::Q3_K: return dotQ8Reference<GgmlType::Q3_K>;
    case GgmlType::Q4_K: return dotQ8Reference<GgmlType::Q4_K>;
    case GgmlType::Q5_K: return dotQ8Reference<GgmlType::Q5_K>;
    case GgmlType::Q6_K: return dotQ8Reference<GgmlType::Q6_K>;
    case GgmlType::IQ4_XS: return dotQ8Reference<GgmlType::IQ4_XS>;
    case GgmlType::IQ2_XXS: return dotQ8Reference<GgmlType::IQ2_XXS>;
    case GgmlType::IQ2_XS: return dotQ8Reference<GgmlType::IQ2_XS>;
    case GgmlType::IQ2_S: return dotQ8Reference<GgmlType::IQ2_S>;
    case GgmlType::IQ3_XXS: return dotQ8Reference<GgmlType::IQ3_XXS>;
    case GgmlType::IQ3_S: return dotQ8Reference<GgmlType::IQ3_S>;
    case GgmlType::IQ1_S: return dotQ8Reference<GgmlType::IQ1_S>;
    case GgmlType::IQ1_M: return dotQ8Reference<GgmlType::IQ1_M>;
    case GgmlType::TQ1_0: return dotQ8Reference<GgmlType::TQ1_0>;
    case GgmlType::TQ2_0: return dotQ8Reference<GgmlType::TQ2_0>;
    default: return nullptr;
    }
}

DotFn portableKernel(GgmlType type)
{
    switch (type) {
    case GgmlType::F32: return dotF32;
    case GgmlType::F16: return dotF16;
    case GgmlType::BF16: return dotBf16;
    case GgmlType::Q8_0: return dotQ8_0;
    case GgmlType::Q4_0: return dotQ4_0;
    case GgmlType::Q4_K: return dotQ45K<false>;
    case GgmlType::Q5_K: return dotQ45K<true>;
    case GgmlType::Q6_K: return dotQ6_K;
    case GgmlType::Q4_1: return dotViaBlocks<GgmlType::Q4_1>;
    case GgmlType::Q5_0: return dotViaBlocks<GgmlType::Q5_0>;
    case GgmlType::Q5_1: return dotViaBlocks<GgmlType::Q5_1>;
    case GgmlType::Q2_K: return dotViaBlocks<GgmlType::Q2_K>;
    case GgmlType::Q3_K: return dotViaBlocks<GgmlType::Q3_K>;
    case GgmlType::Q8_K: return dotViaBlocks<GgmlType::Q8_K>;
    case GgmlType::IQ4_NL: return dotViaBlocks<GgmlType::IQ4_NL>;
    case GgmlType::IQ4_XS: return dotViaBlocks<GgmlType::IQ4_XS>;
    case GgmlType::IQ2_XXS: return dotViaBlocks<GgmlType::IQ2_XXS>;
    case GgmlType::IQ2_XS: return dotViaBlocks<GgmlType::IQ2_XS>;
    case GgmlType::IQ2_S: return dotViaBlocks<GgmlType::IQ2_S>;
    case GgmlType::IQ3_XXS: return dotViaBlocks<GgmlType::IQ3_XXS>;
    case GgmlType::IQ3_S: return dotViaBlocks<GgmlType::IQ3_S>;
    case GgmlType::IQ1_S: return dotViaBlocks<GgmlType::IQ1_S>;
    case GgmlType::IQ1_M: return dotViaBlocks<GgmlType::IQ1_M>;
    case GgmlType::TQ1_0: return dotViaBlocks<GgmlType::TQ1_0>;
    case GgmlType::TQ2_0: return dotViaBlocks<GgmlType::TQ2_0>;
    case GgmlType::MXFP4: return dotViaBlocks<GgmlType::MXFP4>;
    case GgmlType::NVFP4: return dotViaBlocks<GgmlType::NVFP4>;
    case GgmlType::Q1_0: return dotViaBlocks<GgmlType::Q1_0>;
    case GgmlType::Q2_0: return dotViaBlocks<GgmlType::Q2_0>;
    default: return nullptr;
    }
}

} // namespace VecDot

namespace {

bool useAvx512(DotPath path)
{
    return (path == DotPath::Auto || path == DotPath::Avx512) && cpuHasAvx512();
}

bool useAvx2(DotPath path)
{
    return path != DotPath::Portable && cpuHasAvx2Fma();
}

VecDot::DotFn avx2DotKernel(GgmlType type)
{
    const auto fn = VecDot::avx2Kernel(type);
    return fn ? fn : VecDot::avx2IntKernel(type);
}

VecDot::DotQ8Fn avx2DotQ8Kernel(GgmlType type)
{
    const auto fn = VecDot::avx2Q8Kernel(type);
    return fn ? fn : VecDot::avx2IntQ8Kernel(type);
}

// The types whose AVX-512 kernel did not beat the AVX2 one on an AVX-512 machine (AMD EPYC,
// quantfit-bench dot): Auto keeps AVX2 for them; DotPath::Avx512 still runs the AVX-512 kernel
// (tests compare it with the reference).
bool avx512Pays(GgmlType type)
{
    switch (type) {
    case GgmlType::IQ3_XXS:
    case GgmlType::IQ1_M:
        return false;
    default:
        return true;
    }
}

VecDot::DotQ8Fn avx512DotQ8Kernel(GgmlType type)
{
    if (const auto fn = VecDot::avx512KQuantKernel(type))
        return fn;
    if (const auto fn = VecDot::avx512LegacyKernel(type))
        return fn;
    if (const auto fn = VecDot::avx512IqKernel(type))
        return fn;
    return VecDot::avx512Q8Kernel(type);
}

VecDot::DotFn select(DotPath path, GgmlType type)
{
    VecDot::DotFn fn = nullptr;
    if (useAvx512(path))
        fn = VecDot::avx512Kernel(type);
    if (!fn && useAvx2(path))
        fn = avx2DotKernel(type);
    if (!fn)
        fn = VecDot::portableKernel(type);
    if (!fn)
        throw Error(QStringLiteral("no dot-product kernel for %1 tensors").arg(ggmlTypeName(type)));
    return fn;
}

void checkLength(GgmlType type, std::int64_t n)
{
    const TypeFacts *facts = typeFactsFor(static_cast<std::uint32_t>(type));
    if (facts && (n < 0 || n % facts->blockSize != 0))
        throw Error(QStringLiteral("dot product over %1: %2 elements is not a multiple of the "
                                   "block size %3")
                        .arg(ggmlTypeName(type))
                        .arg(n)
                        .arg(facts->blockSize));
}

} // namespace

std::optional<GgmlType> q8ActivationType(GgmlType weightType)
{
    if (!VecDot::portableQ8Kernel(weightType))
        return std::nullopt;
    // The affine 32-element types take Q8_1 (their min term needs its block sum), the other
    // block sizes below 256 (32, 64, 128) Q8_0, the super-block types Q8_K.
    if (weightType == GgmlType::Q4_1 || weightType == GgmlType::Q5_1)
        return GgmlType::Q8_1;
    return typeFacts(weightType).blockSize < 256 ? GgmlType::Q8_0 : GgmlType::Q8_K;
}

void quantizeActivationRow(GgmlType act, const float *x, std::uint8_t *out, std::int64_t n)
{
    const bool known = act == GgmlType::Q8_0 || act == GgmlType::Q8_1 || act == GgmlType::Q8_K;
    if (!known)
        throw Error(QStringLiteral("%1 is not an 8-bit activation type").arg(ggmlTypeName(act)));
    checkLength(act, n);
    if (act != GgmlType::Q8_1) {
        kernelsFor(act).quantizeRow(x, out, n, nullptr);
        return;
    }
    // quantize_row_q8_1_ref: Q8_0's reference codes, and the sum of the codes times the float d.
    for (std::int64_t b = 0; b < n / 32; ++b, x += 32) {
        BlockQ8_1 blk;
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j)
            amax = std::max(amax, std::abs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            blk.qs[j] = std::int8_t(std::round(x[j] * id));
            sum += blk.qs[j];
        }
        blk.d = fp32ToFp16(d);
        blk.s = fp32ToFp16(float(sum) * d);
        std::memcpy(out + b * sizeof blk, &blk, sizeof blk);
    }
}

namespace {

VecDot::DotQ8Fn selectQ8(DotPath path, GgmlType type, std::int64_t n)
{
    VecDot::DotQ8Fn fn = nullptr;
    if (useAvx512(path) && (path == DotPath::Avx512 || avx512Pays(type)))
        fn = avx512DotQ8Kernel(type);
    if (!fn && useAvx2(path))
        fn = avx2DotQ8Kernel(type);
    if (!fn)
        fn = VecDot::portableQ8Kernel(type);
    if (!fn)
        throw Error(QStringLiteral("no 8-bit activation dot product for %1 tensors")
                        .arg(ggmlTypeName(type)));
    checkLength(type, n);
    checkLength(*q8ActivationType(type), n);
    return fn;
}

} // namespace

float dotRowQ8With(DotPath path, GgmlType type, const std::uint8_t *row, const std::uint8_t *xq,
                   std::int64_t n)
{
    return selectQ8(path, type, n)(row, xq, n);
}

float dotRowQ8(GgmlType type, const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n)
{
    return dotRowQ8With(DotPath::Auto, type, row, xq, n);
}

void dotRowsQ8(GgmlType type, const std::uint8_t *rows, std::size_t rowStrideBytes,
               std::int64_t nRows, const std::uint8_t *xq, std::int64_t n, float *out)
{
    dotRowsQ8With(DotPath::Auto, type, rows, rowStrideBytes, nRows, xq, n, out);
}

void dotRowsQ8With(DotPath path, GgmlType type, const std::uint8_t *rows,
                   std::size_t rowStrideBytes, std::int64_t nRows, const std::uint8_t *xq,
                   std::int64_t n, float *out)
{
    const auto fn = selectQ8(path, type, n);
    // The legacy types' SIMD kernels share the activation side between rows (where fn is
    // their one-row kernel; the results are the same).
    VecDot::DotRowsQ8Fn rowsFn = nullptr;
    if (fn == VecDot::avx512LegacyKernel(type))
        rowsFn = VecDot::avx512LegacyRowsKernel(type);
    else if (fn == VecDot::avx2Q8Kernel(type))
        rowsFn = VecDot::avx2LegacyRowsKernel(type);
    if (rowsFn) {
        rowsFn(rows, rowStrideBytes, nRows, xq, n, out);
        return;
    }
    for (std::int64_t r = 0; r < nRows; ++r)
        out[r] = fn(rows + std::size_t(r) * rowStrideBytes, xq, n);
}

bool cpuHasAvx2Fma()
{
#if defined(__x86_64__) || defined(__i386__)
    return cpuFeatures().avx2Fma();
#else
    return false;
#endif
}

bool cpuHasAvx512()
{
#if defined(__x86_64__) || defined(__i386__)
    return cpuFeatures().avx512Vnni && cpuFeatures().avx2Fma();
#else
    return false;
#endif
}

bool hasAvx2Dot(GgmlType type)
{
    return avx2DotKernel(type) != nullptr;
}

bool hasAvx2DotQ8(GgmlType type)
{
    return avx2DotQ8Kernel(type) != nullptr;
}

bool hasAvx512Dot(GgmlType type)
{
    return VecDot::avx512Kernel(type) != nullptr;
}

bool hasAvx512DotQ8(GgmlType type)
{
    return avx512DotQ8Kernel(type) != nullptr;
}

bool autoUsesAvx512DotQ8(GgmlType type)
{
    return cpuHasAvx512() && hasAvx512DotQ8(type) && avx512Pays(type);
}

bool canDot(GgmlType type)
{
    return VecDot::portableKernel(type) != nullptr;
}

float dotRowWith(DotPath path, GgmlType type, const std::uint8_t *row, const float *x,
                 std::int64_t n)
{
    const auto fn = select(path, type);
    checkLength(type, n);
    return fn(row, x, n);
}

float dotRow(GgmlType type, const std::uint8_t *row, const float *x, std::int64_t n)
{
    return dotRowWith(DotPath::Auto, type, row, x, n);
}

void dotRows(GgmlType type, const std::uint8_t *rows, std::size_t rowStrideBytes,
             std::int64_t nRows, const float *x, std::int64_t n, float *out)
{
    dotRowsWith(DotPath::Auto, type, rows, rowStrideBytes, nRows, x, n, out);
}

void dotRowsWith(DotPath path, GgmlType type, const std::uint8_t *rows,
                 std::size_t rowStrideBytes, std::int64_t nRows, const float *x, std::int64_t n,
                 float *out)
{
    const auto fn = select(path, type);
    checkLength(type, n);
    for (std::int64_t r = 0; r < nRows; ++r)
        out[r] = fn(rows + std::size_t(r) * rowStrideBytes, x, n);
}

} // namespace QuantFit
