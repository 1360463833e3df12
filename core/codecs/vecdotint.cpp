#include "vecdotint.h"

#include "blocksfp4.h"
#include "blocksiq1.h"
#include "blocksiq2.h"
#include "blocksiq3.h"
#include "blocksiq4.h"
#include "blockskquants.h"
#include "blockslegacy.h"
#include "blockslowbit.h"
#include "iqgrids.h"
#include "quanthelpers.h"

#include "util/error.h"
#include "util/fp16.h"

#include <array>
#include <cstring>

// The portable decoders into the integer form (vecdotint.h), one per block type, and the
// reference 8-bit activation dot built on them. Each decoder computes its scales with the float
// operations of the type's dequantizer (blocks*.cpp), so scale * code - min is the dequantized
// value bit for bit (tests/core/codecs/testcodecsvecdotint.cpp checks every type).

namespace QuantFit {

namespace VecDot {

using namespace Codec;

namespace {

//
// legacy 32-element blocks (blockslegacy.h) and the 4-bit codebooks
//

void decodeQ8_0(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockQ8_0 *>(p);
    std::memcpy(c, b.qs, 32);
    s[0] = fp16ToFp32(b.d);
}

void decodeQ4_0(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockQ4_0 *>(p);
    for (int j = 0; j < 16; ++j) {
        c[j] = std::int8_t((b.qs[j] & 0xF) - 8);
        c[j + 16] = std::int8_t((b.qs[j] >> 4) - 8);
    }
    s[0] = fp16ToFp32(b.d);
}

void decodeQ4_1(const std::uint8_t *p, std::int8_t *c, float *s, float *m)
{
    const auto &b = *reinterpret_cast<const BlockQ4_1 *>(p);
    for (int j = 0; j < 16; ++j) {
        c[j] = std::int8_t(b.qs[j] & 0xF);
        c[j + 16] = std::int8_t(b.qs[j] >> 4);
    }
    s[0] = fp16ToFp32(b.d);
    m[0] = -fp16ToFp32(b.m);
}

// Q5_0 / Q5_1: bit j of qh (little-endian) is bit 4 of code j.
template <class Block>
void fiveBitCodes(const Block &b, std::int8_t *c, int offset)
{
    std::uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < 16; ++j) {
        c[j] = std::int8_t(((b.qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - offset);
        c[j + 16] = std::int8_t(((b.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - offset);
    }
}

void decodeQ5_0(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockQ5_0 *>(p);
    fiveBitCodes(b, c, 16);
    s[0] = fp16ToFp32(b.d);
}

void decodeQ5_1(const std::uint8_t *p, std::int8_t *c, float *s, float *m)
{
    const auto &b = *reinterpret_cast<const BlockQ5_1 *>(p);
    fiveBitCodes(b, c, 0);
    s[0] = fp16ToFp32(b.d);
    m[0] = -fp16ToFp32(b.m);
}

// 16 bytes of nibbles through a 16-entry int8 codebook, Q4_0 layout.
void codebookNibbles(const std::uint8_t *qs, const std::int8_t *table, std::int8_t *c)
{
    for (int j = 0; j < 16; ++j) {
        c[j] = table[qs[j] & 0xF];
        c[j + 16] = table[qs[j] >> 4];
    }
}

void decodeIq4Nl(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq4Nl *>(p);
    codebookNibbles(b.qs, kValuesIq4nl, c);
    s[0] = fp16ToFp32(b.d);
}

void decodeIq4Xs(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq4Xs *>(p);
    const float d = fp16ToFp32(b.d);
    for (int ib = 0; ib < 8; ++ib) {
        s[ib] = d * float(iq4xsScale(b, ib));
        codebookNibbles(b.qs + 16 * ib, kValuesIq4nl, c + 32 * ib);
    }
}

void decodeMxfp4(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockMxfp4 *>(p);
    codebookNibbles(b.qs, kValuesFp4, c);
    s[0] = mxfp4HalfScale(b.e);
}

void decodeNvfp4(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockNvfp4 *>(p);
    for (int k = 0; k < 4; ++k) {
        for (int j = 0; j < 8; ++j) {
            c[16 * k + j] = kValuesFp4[b.qs[8 * k + j] & 0xF];
            c[16 * k + 8 + j] = kValuesFp4[b.qs[8 * k + j] >> 4];
        }
        s[k] = nvfp4HalfScale(b.d[k]);
    }
}

//
// one- and two-bit scalar types (blockslowbit.h)
//

void decodeQ1_0(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockQ1_0 *>(p);
    for (int j = 0; j < 128; ++j)
        c[j] = (b.qs[j / 8] >> (j % 8)) & 1 ? 1 : -1;
    const float d = fp16ToFp32(b.d);
    for (int k = 0; k < 4; ++k)
        s[k] = d;
}

void decodeQ2_0(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockQ2_0 *>(p);
    for (int j = 0; j < 64; ++j)
        c[j] = std::int8_t(((b.qs[j / 4] >> (2 * (j % 4))) & 3) - 1);
    s[0] = s[1] = fp16ToFp32(b.d);
}

int base3Digit(std::uint8_t byte, int n)
{
    static constexpr std::uint8_t kPow3[5] = {1, 3, 9, 27, 81};
    return (std::uint16_t(std::uint8_t(byte * kPow3[n])) * 3) >> 8;
}

void decodeTq1_0(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockTq1_0 *>(p);
    for (int k = 0; k < 5; ++k)
        for (int m = 0; m < 32; ++m)
            c[32 * k + m] = std::int8_t(base3Digit(b.qs[m], k) - 1);
    for (int k = 0; k < 5; ++k)
        for (int m = 0; m < 16; ++m)
            c[160 + 16 * k + m] = std::int8_t(base3Digit(b.qs[32 + m], k) - 1);
    for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 4; ++j)
            c[240 + 4 * k + j] = std::int8_t(base3Digit(b.qh[j], k) - 1);
    const float d = fp16ToFp32(b.d);
    for (int k = 0; k < 8; ++k)
        s[k] = d;
}

void decodeTq2_0(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockTq2_0 *>(p);
    for (int g = 0; g < 2; ++g)
        for (int k = 0; k < 4; ++k)
            for (int m = 0; m < 32; ++m)
                c[128 * g + 32 * k + m] = std::int8_t(((b.qs[32 * g + m] >> (2 * k)) & 3) - 1);
    const float d = fp16ToFp32(b.d);
    for (int k = 0; k < 8; ++k)
        s[k] = d;
}

//
// K-quants (blockskquants.h): element e of chunk (h, g) = 128h + 32g + l
//

void decodeQ2_K(const std::uint8_t *p, std::int8_t *c, float *s, float *m)
{
    const auto &b = *reinterpret_cast<const BlockQ2_K *>(p);
    const float d = fp16ToFp32(b.d);
    const float dmin = fp16ToFp32(b.dmin);
    for (int e = 0; e < 256; ++e)
        c[e] = std::int8_t((b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3);
    for (int k = 0; k < 16; ++k) {
        s[k] = d * float(b.scales[k] & 0xF);
        m[k] = dmin * float(b.scales[k] >> 4);
    }
}

void decodeQ3_K(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockQ3_K *>(p);
    const float d = fp16ToFp32(b.d);
    for (int e = 0; e < 256; ++e) {
        const int low = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
        c[e] = std::int8_t(low - (high ? 0 : 4));
    }
    for (int k = 0; k < 16; ++k)
        s[k] = d * float(q3kScale(b.scales, k));
}

template <bool Five>
void decodeQ45_K(const std::uint8_t *p, std::int8_t *c, float *s, float *m)
{
    const std::uint8_t *scales;
    const std::uint8_t *qs;
    const std::uint8_t *qh = nullptr;
    std::uint16_t dBits;
    std::uint16_t mBits;
    if constexpr (Five) {
        const auto &b = *reinterpret_cast<const BlockQ5_K *>(p);
        scales = b.scales;
        qs = b.qs;
        qh = b.qh;
        dBits = b.d;
        mBits = b.dmin;
    } else {
        const auto &b = *reinterpret_cast<const BlockQ4_K *>(p);
        scales = b.scales;
        qs = b.qs;
        dBits = b.d;
        mBits = b.dmin;
    }
    const float d = fp16ToFp32(dBits);
    const float dmin = fp16ToFp32(mBits);
    for (int j = 0; j < 8; ++j) {
        std::uint8_t sc;
        std::uint8_t mn;
        unpackScaleMinK4(j, scales, sc, mn);
        s[j] = d * float(sc);
        m[j] = dmin * float(mn);
        for (int l = 0; l < 32; ++l) {
            int v = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
            if constexpr (Five)
                v |= ((qh[l] >> j) & 1) << 4;
            c[32 * j + l] = std::int8_t(v);
        }
    }
}

void decodeQ6_K(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockQ6_K *>(p);
    const float d = fp16ToFp32(b.d);
    for (int e = 0; e < 256; ++e) {
        const int h = e / 128;
        const int g = (e % 128) / 32;
        const int l = e % 32;
        const int low = (b.ql[64 * h + 32 * (g % 2) + l] >> (4 * (g / 2))) & 0xF;
        const int high = (b.qh[32 * h + l] >> (2 * g)) & 3;
        c[e] = std::int8_t((low | (high << 4)) - 32);
    }
    for (int k = 0; k < 16; ++k)
        s[k] = d * float(b.scales[k]);
}

//
// I-quants (blocksiq1.h, blocksiq2.h, blocksiq3.h)
//

// Eight grid bytes times their signs (bit j of `signs` set = element j negated).
void signedGroup(std::uint64_t entry, std::uint8_t signs, std::int8_t *c)
{
    for (int j = 0; j < 8; ++j) {
        const int v = gridByte(entry, j);
        c[j] = std::int8_t(signs & (1u << j) ? -v : v);
    }
}

void decodeIq2Xxs(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq2Xxs *>(p);
    const float d = fp16ToFp32(b.d);
    for (int k = 0; k < 8; ++k) {
        const std::uint32_t w0 = b.words[2 * k];
        const std::uint32_t w1 = b.words[2 * k + 1];
        s[k] = d * (0.5f + float(w1 >> 28)) * 0.25f;
        for (int g = 0; g < 4; ++g)
            signedGroup(kIq2xxsGrid[(w0 >> (8 * g)) & 255], kSignsIq2xs[(w1 >> (7 * g)) & 127],
                        c + 32 * k + 8 * g);
    }
}

// IQ2_XS / IQ2_S: nibble codes per 16-element sub-block.
float iq2SubScale(float d, const std::uint8_t *scales, int k)
{
    return d * (0.5f + float((scales[k / 2] >> (4 * (k % 2))) & 15)) * 0.25f;
}

void decodeIq2Xs(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq2Xs *>(p);
    const float d = fp16ToFp32(b.d);
    for (int g = 0; g < 32; ++g)
        signedGroup(kIq2xsGrid[b.qs[g] & 511], kSignsIq2xs[b.qs[g] >> 9], c + 8 * g);
    for (int k = 0; k < 16; ++k)
        s[k] = iq2SubScale(d, b.scales, k);
}

void decodeIq2S(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq2S *>(p);
    const float d = fp16ToFp32(b.d);
    for (int g = 0; g < 32; ++g) {
        const int index = b.qs[g] | (((b.qh[g / 4] >> (2 * (g % 4))) & 3) << 8);
        signedGroup(kIq2sGrid[index], b.qs[32 + g], c + 8 * g);
    }
    for (int k = 0; k < 16; ++k)
        s[k] = iq2SubScale(d, b.scales, k);
}

// Two 4-value IQ3 grid entries as one 8-value group.
std::uint64_t iq3Pair(std::uint32_t first, std::uint32_t second)
{
    return first | (std::uint64_t(second) << 32);
}

void decodeIq3Xxs(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq3Xxs *>(p);
    const float d = fp16ToFp32(b.d);
    for (int k = 0; k < 8; ++k) {
        const std::uint32_t word = b.signsScales[k];
        s[k] = d * (0.5f + float(word >> 28)) * 0.5f;
        for (int g = 0; g < 4; ++g)
            signedGroup(iq3Pair(kIq3xxsGrid[b.qs[8 * k + 2 * g]],
                                kIq3xxsGrid[b.qs[8 * k + 2 * g + 1]]),
                        kSignsIq2xs[(word >> (7 * g)) & 127], c + 32 * k + 8 * g);
    }
}

void decodeIq3S(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq3S *>(p);
    const float d = fp16ToFp32(b.d);
    for (int k = 0; k < 8; ++k) {
        s[k] = d * float(1 + 2 * ((b.scales[k / 2] >> (4 * (k % 2))) & 15));
        for (int g = 0; g < 4; ++g) {
            const int i0 = b.qs[8 * k + 2 * g] | (((b.qh[k] >> (2 * g)) & 1) << 8);
            const int i1 = b.qs[8 * k + 2 * g + 1] | (((b.qh[k] >> (2 * g + 1)) & 1) << 8);
            signedGroup(iq3Pair(kIq3sGrid[i0], kIq3sGrid[i1]), b.signs[4 * k + g],
                        c + 32 * k + 8 * g);
        }
    }
}

// IQ1: code = 8 * grid value + (shift sign), scale = d * (2c + 1) / 8.
void iq1Group(std::uint64_t entry, bool minus, std::int8_t *c)
{
    for (int j = 0; j < 8; ++j)
        c[j] = std::int8_t(8 * std::int8_t(gridByte(entry, j)) + (minus ? -1 : 1));
}

void decodeIq1S(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq1S *>(p);
    const float d = fp16ToFp32(b.d);
    for (int k = 0; k < 8; ++k) {
        const std::uint16_t qh = b.qh[k];
        s[k] = d * float(2 * ((qh >> 12) & 7) + 1) * 0.125f;
        for (int g = 0; g < 4; ++g)
            iq1Group(kIq1sGrid[b.qs[4 * k + g] | (((qh >> (3 * g)) & 7) << 8)], qh & 0x8000,
                     c + 32 * k + 8 * g);
    }
}

void decodeIq1M(const std::uint8_t *p, std::int8_t *c, float *s, float *)
{
    const auto &b = *reinterpret_cast<const BlockIq1M *>(p);
    const float d = fp16ToFp32(iq1mScaleBits(b));
    for (int k = 0; k < 16; ++k) {
        s[k] = d * float(2 * ((b.scales[k / 4] >> (3 * (k % 4))) & 7) + 1) * 0.125f;
        for (int g = 0; g < 2; ++g) {
            const int bits = b.qh[k] >> (4 * g);
            iq1Group(kIq1sGrid[b.qs[2 * k + g] | ((bits & 7) << 8)], bits & 8,
                     c + 16 * k + 8 * g);
        }
    }
}

struct IntTypeEntry {
    GgmlType type;
    int subBlock;
    bool affine;
    IntDecodeFn portable;
};

// Why these pairs: ggml's vec_dot_type (docs/formats.md "Integer form"): Q8_0 activations for
// blocks of 32..128, Q8_K for the 256-element super-blocks.
constexpr IntTypeEntry kIntTypes[] = {
    {GgmlType::Q8_0, 32, false, decodeQ8_0},
    {GgmlType::Q4_0, 32, false, decodeQ4_0},
    {GgmlType::Q4_1, 32, true, decodeQ4_1},
    {GgmlType::Q5_0, 32, false, decodeQ5_0},
    {GgmlType::Q5_1, 32, true, decodeQ5_1},
    {GgmlType::IQ4_NL, 32, false, decodeIq4Nl},
    {GgmlType::MXFP4, 32, false, decodeMxfp4},
    {GgmlType::NVFP4, 16, false, decodeNvfp4},
    {GgmlType::Q1_0, 32, false, decodeQ1_0},
    {GgmlType::Q2_0, 32, false, decodeQ2_0},
    {GgmlType::Q2_K, 16, true, decodeQ2_K},
    {GgmlType::Q3_K, 16, false, decodeQ3_K},
    {GgmlType::Q4_K, 32, true, decodeQ45_K<false>},
    {GgmlType::Q5_K, 32, true, decodeQ45_K<true>},
    {GgmlType::Q6_K, 16, false, decodeQ6_K},
    {GgmlType::IQ4_XS, 32, false, decodeIq4Xs},
    {GgmlType::IQ2_XXS, 32, false, decodeIq2Xxs},
    {GgmlType::IQ2_XS, 16, false, decodeIq2Xs},
    {GgmlType::IQ2_S, 16, false, decodeIq2S},
    {GgmlType::IQ3_XXS, 32, false, decodeIq3Xxs},
    {GgmlType::IQ3_S, 32, false, decodeIq3S},
    {GgmlType::IQ1_S, 32, false, decodeIq1S},
    {GgmlType::IQ1_M, 16, false, decodeIq1M},
    {GgmlType::TQ1_0, 32, false, decodeTq1_0},
    {GgmlType::TQ2_0, 32, false, decodeTq2_0},
};

const IntTypeEntry *intEntry(GgmlType type)
{
    for (const IntTypeEntry &e : kIntTypes) {
        if (e.type == type)
            return &e;
    }
    return nullptr;
}

} // namespace

IntDecodeFn portableIntDecoder(GgmlType type)
{
    const IntTypeEntry *e = intEntry(type);
    return e ? e->portable : nullptr;
}

float dotQ8IntReference(GgmlType type, const std::uint8_t *row, const std::uint8_t *xq,
                        std::int64_t n, GgmlType act)
{
    const IntTypeEntry &e = *intEntry(type);
    const TypeFacts &f = typeFacts(type);
    const int nb = f.blockSize;
    std::int8_t codes[256];
    float scales[16];
    float mins[16];
    float sum = 0;
    for (std::int64_t i = 0; i < n / nb; ++i) {
        e.portable(row + i * f.blockBytes, codes, scales, mins);
        for (int k = 0; k < nb / e.subBlock; ++k) {
            const std::int64_t e0 = i * nb + k * e.subBlock;
            const std::int8_t *q;
            float dy;
            float blockSum = 0; // Q8_1's s: one block per sub-block (both are 32 elements)
            if (act == GgmlType::Q8_K) {
                const auto &xb = reinterpret_cast<const BlockQ8_K *>(xq)[e0 / 256];
                q = xb.qs + e0 % 256;
                dy = xb.d;
            } else if (act == GgmlType::Q8_1) {
                const auto &xb = reinterpret_cast<const BlockQ8_1 *>(xq)[e0 / 32];
                q = xb.qs + e0 % 32;
                dy = fp16ToFp32(xb.d);
                blockSum = fp16ToFp32(xb.s);
            } else {
                const auto &xb = reinterpret_cast<const BlockQ8_0 *>(xq)[e0 / 32];
                q = xb.qs + e0 % 32;
                dy = fp16ToFp32(xb.d);
            }
            std::int32_t isum = 0;
            std::int32_t qsum = 0;
            for (int j = 0; j < e.subBlock; ++j) {
                isum += std::int32_t(codes[k * e.subBlock + j]) * q[j];
                qsum += q[j];
            }
            sum += scales[k] * dy * float(isum);
            if (e.affine && act == GgmlType::Q8_1)
                sum -= mins[k] * blockSum;
            else if (e.affine)
                sum -= mins[k] * dy * float(qsum);
        }
    }
    return sum;
}

} // namespace VecDot

std::optional<DotIntForm> dotIntForm(GgmlType type)
{
    const VecDot::IntTypeEntry *e = VecDot::intEntry(type);
    if (!e)
        return std::nullopt;
    const TypeFacts &f = typeFacts(type);
    return DotIntForm{.blockSize = int(f.blockSize),
                      .blockBytes = int(f.blockBytes),
                      .subBlock = e->subBlock,
                      .affine = e->affine};
}

IntRowDecoder::IntRowDecoder(DotPath path, GgmlType type)
    : m_type(type)
{
    const auto form = dotIntForm(type);
    if (!form)
        throw Error(QStringLiteral("no integer form for %1 tensors").arg(ggmlTypeName(type)));
    m_form = *form;
    if (path != DotPath::Portable && cpuHasAvx2Fma())
        m_decodeBlock = VecDot::avx2IntDecoder(type);
    if (!m_decodeBlock)
        m_decodeBlock = VecDot::portableIntDecoder(type);
}

void IntRowDecoder::operator()(const std::uint8_t *row, std::int64_t n, std::int8_t *codes,
                               float *scales, float *mins) const
{
    if (n < 0 || n % m_form.blockSize != 0)
        throw Error(QStringLiteral("integer decode of %1: %2 elements is not a multiple of the "
                                   "block size %3")
                        .arg(ggmlTypeName(m_type))
                        .arg(n)
                        .arg(m_form.blockSize));
    const int nSub = m_form.blockSize / m_form.subBlock;
    float unused[16];
    for (std::int64_t i = 0; i < n / m_form.blockSize; ++i) {
        m_decodeBlock(row + i * m_form.blockBytes, codes + i * m_form.blockSize,
                      scales + i * nSub, m_form.affine ? mins + i * nSub : unused);
    }
}

void decodeIntRowWith(DotPath path, GgmlType type, const std::uint8_t *row, std::int64_t n,
                      std::int8_t *codes, float *scales, float *mins)
{
    IntRowDecoder(path, type)(row, n, codes, scales, mins);
}

void decodeIntRow(GgmlType type, const std::uint8_t *row, std::int64_t n, std::int8_t *codes,
                  float *scales, float *mins)
{
    decodeIntRowWith(DotPath::Auto, type, row, n, codes, scales, mins);
}

} // namespace QuantFit
