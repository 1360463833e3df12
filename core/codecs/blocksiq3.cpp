#include "blocksiq3.h"

#include "iqgrids.h"
#include "iqsearch.h"

#include "util/fp16.h"

#include <cstring>

// Parameters of the shared search per type (ggml-org/ggml: src/ggml-quants.c,
// quantize_row_iq3_xxs_impl, quantize_row_iq3_s_impl) and the packing of its result.

namespace QuantFit {

using namespace Codec;

namespace {

constexpr IqTypeSpec kSpecXxs{
    .grid = IqGrid::Iq3xxs, .subBlock = 32, .lmax = 7, .sigmaMul = 2,
    .defaultWeight = IqDefaultWeight::Square, .parity = true, .skipBelow = 1e-8f,
    .qpStart = false, .kMax = 15, .step = 0.2f, .refitAll = false, .refitAlways = false,
    .onGridStart = true};

// IQ3_S has no epsilon: only an exactly zero sub-block is skipped.
constexpr IqTypeSpec kSpecS{
    .grid = IqGrid::Iq3s, .subBlock = 32, .lmax = 7, .sigmaMul = 2,
    .defaultWeight = IqDefaultWeight::Square, .parity = false, .skipBelow = 0.f,
    .qpStart = false, .kMax = 9, .step = 0.2f, .refitAll = true, .refitAlways = false,
    .onGridStart = false};

} // namespace

void quantizeRowIq3Xxs(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    const IqGridMaps &maps = iqGridMaps(IqGrid::Iq3xxs);
    IqSuperBlock sb;
    for (std::int64_t i = 0; i < n / 256; ++i, x += 256, dst += sizeof(BlockIq3Xxs)) {
        BlockIq3Xxs blk{};
        iqSearchSuperBlock(kSpecXxs, x, importance ? importance + 256 * i : nullptr, sb);
        for (int b = 0; b < 8; ++b) {
            if (sb.skipped[b])
                continue;
            for (int g = 0; g < 8; ++g)
                blk.qs[8 * b + g] = std::uint8_t(iqGridIndex(maps, sb.levels + 32 * b + 4 * g));
            std::uint32_t word = 0;
            for (int k = 0; k < 4; ++k)
                word |= std::uint32_t(sb.signs[4 * b + k] & 127) << (7 * k);
            blk.signsScales[b] = word;
        }
        if (sb.maxScale != 0) {
            const float d = sb.maxScale / 31;
            blk.d = fp32ToFp16(d * 1.0125f);
            const float id = 1 / d;
            for (int b = 0; b < 8; ++b)
                blk.signsScales[b] |= std::uint32_t(iqScaleCode(id, sb.scale[b])) << 28;
        } else {
            blk = BlockIq3Xxs{};
        }
        std::memcpy(dst, &blk, sizeof blk);
    }
}

void quantizeRowIq3S(const float *x, std::uint8_t *dst, std::int64_t n, const float *importance)
{
    const IqGridMaps &maps = iqGridMaps(IqGrid::Iq3s);
    IqSuperBlock sb;
    for (std::int64_t i = 0; i < n / 256; ++i, x += 256, dst += sizeof(BlockIq3S)) {
        BlockIq3S blk{};
        iqSearchSuperBlock(kSpecS, x, importance ? importance + 256 * i : nullptr, sb);
        int cursor = 0; // encoded sub-blocks so far: where the next qs and sign bytes go
        for (int b = 0; b < 8; ++b) {
            if (sb.skipped[b])
                continue;
            for (int g = 0; g < 8; ++g) {
                const int index = iqGridIndex(maps, sb.levels + 32 * b + 4 * g);
                blk.qs[8 * cursor + g] = std::uint8_t(index & 255);
                blk.qh[b] |= std::uint8_t((index >> 8) << g);
            }
            for (int k = 0; k < 4; ++k)
                blk.signs[4 * cursor + k] = sb.signs[4 * b + k];
            ++cursor;
        }
        if (sb.maxScale != 0) {
            const float d = sb.maxScale / 31;
            blk.d = fp32ToFp16(d * 1.033f);
            const float id = 1 / d;
            for (int b = 0; b < 8; ++b)
                blk.scales[b / 2] |= std::uint8_t(iqScaleCode(id, sb.scale[b]) << (4 * (b % 2)));
        }
        std::memcpy(dst, &blk, sizeof blk);
    }
}

void dequantizeRowIq3Xxs(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq3Xxs *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq3Xxs &blk = blocks[i];
        const float d = fp16ToFp32(blk.d);
        for (int b = 0; b < 8; ++b) {
            const std::uint32_t word = blk.signsScales[b];
            const float db = d * (0.5f + float(word >> 28)) * 0.5f;
            for (int k = 0; k < 4; ++k, y += 8) {
                const std::uint8_t signs = kSignsIq2xs[(word >> (7 * k)) & 127];
                const std::uint32_t g1 = kIq3xxsGrid[blk.qs[8 * b + 2 * k]];
                const std::uint32_t g2 = kIq3xxsGrid[blk.qs[8 * b + 2 * k + 1]];
                for (int j = 0; j < 4; ++j) {
                    y[j] = db * float(gridByte(g1, j))
                        * (signs & kMaskIq2xs[std::size_t(j)] ? -1.f : 1.f);
                    y[j + 4] = db * float(gridByte(g2, j))
                        * (signs & kMaskIq2xs[std::size_t(j + 4)] ? -1.f : 1.f);
                }
            }
        }
    }
}

void dequantizeRowIq3S(const std::uint8_t *src, float *y, std::int64_t n)
{
    const auto *blocks = reinterpret_cast<const BlockIq3S *>(src);
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const BlockIq3S &blk = blocks[i];
        const float d = fp16ToFp32(blk.d);
        for (int b = 0; b < 8; ++b) {
            const int code = (blk.scales[b / 2] >> (4 * (b % 2))) & 15;
            const float db = d * float(1 + 2 * code);
            for (int k = 0; k < 4; ++k, y += 8) {
                const std::uint8_t signs = blk.signs[4 * b + k];
                for (int h = 0; h < 2; ++h) {
                    const int g = 2 * k + h;
                    const int index = blk.qs[8 * b + g] | (((blk.qh[b] >> g) & 1) << 8);
                    const std::uint32_t entry = kIq3sGrid[index];
                    for (int j = 0; j < 4; ++j)
                        y[4 * h + j] = db * float(gridByte(entry, j))
                            * (signs & kMaskIq2xs[std::size_t(4 * h + j)] ? -1.f : 1.f);
                }
            }
        }
    }
}

} // namespace QuantFit
