#include "blocksiq2.h"

#include "iqgrids.h"
#include "iqsearch.h"

#include "util/fp16.h"

#include <cstring>

// Parameters of the shared search per type (ggml-org/ggml: src/ggml-quants.c,
// quantize_row_iq2_xxs_impl, quantize_row_iq2_xs_impl, quantize_iq2_s) and the packing of its
// result. The decoders evaluate d * (0.5 + c) * 0.25 first, then * magnitude * sign, as ggml's
// dequantize_row_iq2_* do.

namespace QuantFit {

using namespace Codec;

namespace {

// IQ2_XXS: 32-value sub-blocks; starting scale from make_qp_quants (its value times 3 divides
// the trial steps); every group re-fitted at the end.
constexpr IqTypeSpec kSpecXxs{
    .grid = IqGrid::Iq2xxs, .subBlock = 32, .lmax = 2, .sigmaMul = 1,
    .defaultWeight = IqDefaultWeight::Ones, .parity = true, .skipBelow = 1e-15f, .qpStart = true,
    .kMax = 6, .step = 0.1f, .refitAll = true, .refitAlways = true, .onGridStart = true};

constexpr IqTypeSpec kSpecXs{
    .grid = IqGrid::Iq2xs, .subBlock = 16, .lmax = 2, .sigmaMul = 1,
    .defaultWeight = IqDefaultWeight::Ones, .parity = true, .skipBelow = 1e-15f, .qpStart = false,
    .kMax = 9, .step = 0.1f, .refitAll = false, .refitAlways = false, .onGridStart = true};

constexpr IqTypeSpec kSpecS{
    .grid = IqGrid::Iq2s, .subBlock = 16, .lmax = 2, .sigmaMul = 2,
    .defaultWeight = IqDefaultWeight::QuarterSigma, .parity = false, .skipBelow = 1e-8f,
    .qpStart = false, .kMax = 9, .step = 0.1f, .refitAll = false, .refitAlways = false,
    .onGridStart = true};

} // namespace

void quantizeRowIq2Xxs(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    const IqGridMaps &maps = iqGridMaps(IqGrid::Iq2xxs);
    IqSuperBlock sb;
    for (std::int64_t i = 0; i < n / 256; ++i, x += 256, dst += sizeof(BlockIq2Xxs)) {
        BlockIq2Xxs blk{};
        iqSearchSuperBlock(kSpecXxs, x, importance ? importance + 256 * i : nullptr, sb);
        for (int b = 0; b < 8; ++b) {
            if (sb.skipped[b])
                continue;
            std::uint32_t w0 = 0;
            std::uint32_t w1 = 0;
            for (int g = 0; g < 4; ++g) {
                w0 |= std::uint32_t(iqGridIndex(maps, sb.levels + 32 * b + 8 * g)) << (8 * g);
                w1 |= std::uint32_t(sb.signs[4 * b + g] & 127) << (7 * g);
            }
            blk.words[2 * b] = w0;
            blk.words[2 * b + 1] = w1;
        }
        // All sub-blocks skipped: the block stays zero (d = 0, nothing else written).
        if (sb.maxScale != 0) {
            const float d = sb.maxScale / 31;
            blk.d = fp32ToFp16(d);
            const float id = 1 / d;
            for (int b = 0; b < 8; ++b)
                blk.words[2 * b + 1] |= std::uint32_t(iqScaleCode(id, sb.scale[b])) << 28;
        } else {
            blk = BlockIq2Xxs{};
        }
        std::memcpy(dst, &blk, sizeof blk);
    }
}

void quantizeRowIq2Xs(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    const IqGridMaps &maps = iqGridMaps(IqGrid::Iq2xs);
    IqSuperBlock sb;
    for (std::int64_t i = 0; i < n / 256; ++i, x += 256, dst += sizeof(BlockIq2Xs)) {
        BlockIq2Xs blk{};
        iqSearchSuperBlock(kSpecXs, x, importance ? importance + 256 * i : nullptr, sb);
        for (int g = 0; g < 32; ++g) {
            if (sb.skipped[g / 2])
                continue;
            blk.qs[g] = std::uint16_t(iqGridIndex(maps, sb.levels + 8 * g)
                                      | ((sb.signs[g] & 127) << 9));
        }
        if (sb.maxScale != 0) {
            const float d = sb.maxScale / 31;
            blk.d = fp32ToFp16(d);
            const float id = 1 / d;
            for (int b = 0; b < 16; ++b)
                blk.scales[b / 2] |= std::uint8_t(iqScaleCode(id, sb.scale[b]) << (4 * (b % 2)));
        } else {
            blk = BlockIq2Xs{};
        }
        std::memcpy(dst, &blk, sizeof blk);
    }
}

void quantizeRowIq2S(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    const IqGridMaps &maps = iqGridMaps(IqGrid::Iq2s);
    IqSuperBlock sb;
    for (std::int64_t i = 0; i < n / 256; ++i, x += 256, dst += sizeof(BlockIq2S)) {
        BlockIq2S blk{};
        iqSearchSuperBlock(kSpecS, x, importance ? importance + 256 * i : nullptr, sb);
        for (int g = 0; g < 32; ++g) {
            if (sb.skipped[g / 2])
                continue;
            const int index = iqGridIndex(maps, sb.levels + 8 * g);
            blk.qs[g] = std::uint8_t(index & 255);
            blk.qh[g / 4] |= std::uint8_t((index >> 8) << (2 * (g % 4)));
            blk.qs[32 + g] = sb.signs[g];
        }
        // Unlike IQ2_XXS/IQ2_XS, a zero max_scale keeps what was written (in practice nothing).
        if (sb.maxScale != 0) {
            const float d = sb.maxScale / 31;
            blk.d = fp32ToFp16(d * 0.9875f);
            const float id = 1 / d;
            for (int b = 0; b < 16; ++b)
                blk.scales[b / 2] |= std::uint8_t(iqScaleCode(id, sb.scale[b]) << (4 * (b % 2)));
        }
        std::memcpy(dst, &blk, sizeof blk);
    }
}

namespace {

// The 8 values of one group: db * magnitude * sign.
void decodeGroup(float db, std::uint64_t entry, std::uint8_t signs, float *y)
{
    for (int j = 0; j < 8; ++j)
        y[j] = db * float(gridByte(entry, j)) * (signs & kMaskIq2xs[std::size_t(j)] ? -1.f : 1.f);
}

} // namespace

void dequantizeRowIq2Xxs(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq2Xxs *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const float d = fp16ToFp32(blocks[i].d);
        for (int b = 0; b < 8; ++b) {
            const std::uint32_t w0 = blocks[i].words[2 * b];
            const std::uint32_t w1 = blocks[i].words[2 * b + 1];
            const float db = d * (0.5f + float(w1 >> 28)) * 0.25f;
            for (int g = 0; g < 4; ++g, y += 8)
                decodeGroup(db, kIq2xxsGrid[(w0 >> (8 * g)) & 255],
                            kSignsIq2xs[(w1 >> (7 * g)) & 127], y);
        }
    }
}

void dequantizeRowIq2Xs(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq2Xs *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq2Xs &blk = blocks[i];
        const float d = fp16ToFp32(blk.d);
        for (int g = 0; g < 32; ++g, y += 8) {
            const int code = (blk.scales[g / 4] >> (4 * ((g / 2) % 2))) & 15;
            const float db = d * (0.5f + float(code)) * 0.25f;
            const std::uint16_t q = blk.qs[g];
            decodeGroup(db, kIq2xsGrid[q & 511], kSignsIq2xs[q >> 9], y);
        }
    }
}

void dequantizeRowIq2S(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq2S *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq2S &blk = blocks[i];
        const float d = fp16ToFp32(blk.d);
        for (int g = 0; g < 32; ++g, y += 8) {
            const int code = (blk.scales[g / 4] >> (4 * ((g / 2) % 2))) & 15;
            const float db = d * (0.5f + float(code)) * 0.25f;
            const int index = blk.qs[g] | (((blk.qh[g / 4] >> (2 * (g % 4))) & 3) << 8);
            decodeGroup(db, kIq2sGrid[index], blk.qs[32 + g], y);
        }
    }
}

} // namespace QuantFit
