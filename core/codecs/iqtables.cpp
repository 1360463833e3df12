#include "iqtables.h"

#include "iqgrids.h"
#include "quantsimd.h"

#include <QtGlobal>

#include <array>
#include <mutex>

namespace QuantFit::Codec {

namespace {

struct GridSource {
    int nEntries;
    int groupSize;
    int keyBits;
    int nLevels; ///< levels 0..nLevels-1
    int nWant;
};

GridSource sourceOf(IqGrid grid)
{
    switch (grid) {
    case IqGrid::Iq2xxs: return {256, 8, 2, 3, 2};
    case IqGrid::Iq2xs: return {512, 8, 2, 3, 2};
    case IqGrid::Iq2s: return {1024, 8, 2, 3, 1};
    case IqGrid::Iq3xxs: return {256, 4, 3, 8, 2};
    case IqGrid::Iq3s: return {512, 4, 3, 8, 3};
    case IqGrid::Iq1s: return {2048, 8, 2, 3, 3};
    }
    return {};
}

// Level of byte i of entry j (the byte -> level maps of the grids, see iqgrids.h).
int levelOf(IqGrid grid, int j, int i)
{
    switch (grid) {
    case IqGrid::Iq2xxs:
    case IqGrid::Iq2xs:
    case IqGrid::Iq2s: {
        const std::uint64_t *g = grid == IqGrid::Iq2xxs ? kIq2xxsGrid
            : grid == IqGrid::Iq2xs                     ? kIq2xsGrid
                                                        : kIq2sGrid;
        const int b = gridByte(g[j], i);
        return b == 0x08 ? 0 : b == 0x19 ? 1 : 2;
    }
    case IqGrid::Iq3xxs:
        return (gridByte(kIq3xxsGrid[j], i) - 4) / 8; // 4, 12, ..., 52 -> 0..6; 62 -> 7
    case IqGrid::Iq3s:
        return (gridByte(kIq3sGrid[j], i) - 1) / 2;
    case IqGrid::Iq1s:
        return int(std::int8_t(gridByte(kIq1sGrid[j], i))) + 1;
    }
    return 0;
}

// The neighbour lists of `m` as runs of `runLength` candidates (the last run of a list padded
// with its first candidate), groupSize x runLength bytes per run: byte runLength * i + c of a
// run is byteOf(level of element i of candidate c, i). keyInfo[key] = infoOf(first byte of the
// key's runs, list length) for keys with a list, 0 for the others.
template <class InfoOf, class ByteOf>
std::vector<std::uint8_t> transposedRuns(const IqGridMaps &m, int runLength,
                                         std::vector<std::uint32_t> &keyInfo, InfoOf infoOf,
                                         ByteOf byteOf)
{
    const std::size_t nKeys = m.nbCount.size();
    const std::size_t runBytes = std::size_t(runLength) * std::size_t(m.groupSize);
    keyInfo.assign(nKeys, 0);
    std::size_t nRuns = 0;
    for (std::size_t key = 0; key < nKeys; ++key)
        nRuns += (m.nbCount[key] + runLength - 1) / runLength;
    std::vector<std::uint8_t> runs(nRuns * runBytes);
    std::size_t at = 0;
    for (std::size_t key = 0; key < nKeys; ++key) {
        const int count = m.nbCount[key];
        if (!count)
            continue;
        keyInfo[key] = infoOf(at, count);
        const std::uint16_t *list = m.nbList.data() + m.nbStart[key];
        for (int c = 0; c < count; c += runLength, at += runBytes) {
            for (int l = 0; l < runLength; ++l) {
                const std::uint8_t *lev = m.levelsOf(list[c + l < count ? c + l : 0]);
                for (int i = 0; i < m.groupSize; ++i)
                    runs[at + std::size_t(runLength) * std::size_t(i) + std::size_t(l)] =
                        byteOf(lev[i], i);
            }
        }
    }
    return runs;
}

} // namespace

IqGridMaps makeIqGridMaps(IqGrid grid)
{
    const GridSource src = sourceOf(grid);
    IqGridMaps m;
    m.nEntries = src.nEntries;
    m.groupSize = src.groupSize;
    m.keyBits = src.keyBits;
    m.nWant = src.nWant;
    m.nLevels = src.nLevels;
    m.levels.resize(std::size_t(src.nEntries * src.groupSize));
    for (int j = 0; j < src.nEntries; ++j)
        for (int i = 0; i < src.groupSize; ++i)
            m.levels[std::size_t(j * src.groupSize + i)] = std::uint8_t(levelOf(grid, j, i));
    const std::size_t nKeys = std::size_t(1) << (src.keyBits * src.groupSize);
    m.onGrid.assign(nKeys + 1, -1);
    for (int j = 0; j < src.nEntries; ++j)
        m.onGrid[std::size_t(m.keyOf(m.levelsOf(j)))] = std::int16_t(j);
    m.nbStart.assign(nKeys, 0);
    m.nbCount.assign(nKeys, 0);

    // The squared distance splits into the two halves of a level vector: a table over pairs of
    // half vectors (81 x 81 for 4 digits 0..2, 64 x 64 for 2 digits 0..7) gives each half's
    // share, and every grid entry is summarised by its two half codes.
    const int half = src.groupSize / 2;
    int nHalf = 1;
    for (int i = 0; i < half; ++i)
        nHalf *= src.nLevels;
    std::vector<std::uint8_t> halfDist(std::size_t(nHalf * nHalf));
    for (int a = 0; a < nHalf; ++a) {
        for (int b = 0; b < nHalf; ++b) {
            int d = 0;
            for (int i = 0, da = a, db = b; i < half; ++i, da /= src.nLevels, db /= src.nLevels) {
                const int diff = da % src.nLevels - db % src.nLevels;
                d += diff * diff;
            }
            halfDist[std::size_t(a * nHalf + b)] = std::uint8_t(d);
        }
    }
    auto halfCode = [&](const std::uint8_t *l) {
        int c = 0;
        for (int i = half - 1; i >= 0; --i)
            c = c * src.nLevels + l[i];
        return c;
    };
    std::vector<std::uint16_t> loCode(std::size_t(src.nEntries));
    std::vector<std::uint16_t> hiCode(std::size_t(src.nEntries));
    for (int j = 0; j < src.nEntries; ++j) {
        loCode[std::size_t(j)] = std::uint16_t(halfCode(m.levelsOf(j)));
        hiCode[std::size_t(j)] = std::uint16_t(halfCode(m.levelsOf(j) + half));
    }

    // Every in-range key (digits 0..nLevels-1), in increasing digit order.
    const int maxDist = src.groupSize * (src.nLevels - 1) * (src.nLevels - 1);
    std::vector<std::uint8_t> dist(std::size_t(src.nEntries));
    std::vector<int> hist(std::size_t(maxDist + 1));
    std::vector<int> slot(std::size_t(maxDist + 1));
    std::array<std::uint8_t, 8> digits{};
    int nKeysInRange = 1;
    for (int i = 0; i < src.groupSize; ++i)
        nKeysInRange *= src.nLevels;
    m.nbList.reserve(std::size_t(src.nEntries) * 16);
    for (int n = 0; n < nKeysInRange; ++n) {
        for (int i = 0, v = n; i < src.groupSize; ++i, v /= src.nLevels)
            digits[std::size_t(i)] = std::uint8_t(v % src.nLevels);
        const int key = m.keyOf(digits.data());
        if (m.onGrid[std::size_t(key)] >= 0)
            continue;
        const std::uint8_t *rowLo = halfDist.data() + halfCode(digits.data()) * nHalf;
        const std::uint8_t *rowHi = halfDist.data() + halfCode(digits.data() + half) * nHalf;
        std::fill(hist.begin(), hist.end(), 0);
        for (int j = 0; j < src.nEntries; ++j) {
            const std::uint8_t d = std::uint8_t(rowLo[loCode[std::size_t(j)]]
                                                + rowHi[hiCode[std::size_t(j)]]);
            dist[std::size_t(j)] = d;
            ++hist[d];
        }
        // The first nWant distinct distances; a counting sort keeps index order within each.
        int kept = 0;
        int limit = -1;
        int count = 0;
        for (int d = 0; d <= maxDist && kept < src.nWant; ++d) {
            if (!hist[std::size_t(d)])
                continue;
            slot[std::size_t(d)] = count;
            count += hist[std::size_t(d)];
            limit = d;
            ++kept;
        }
        const std::size_t start = m.nbList.size();
        m.nbStart[std::size_t(key)] = std::uint32_t(start);
        m.nbCount[std::size_t(key)] = std::uint16_t(count);
        m.nbList.resize(start + std::size_t(count));
        std::uint16_t *out = m.nbList.data() + start;
        for (int j = 0; j < src.nEntries; ++j) {
            const int d = dist[std::size_t(j)];
            if (d <= limit && hist[std::size_t(d)])
                out[slot[std::size_t(d)]++] = std::uint16_t(j);
        }
        ++m.nOffGridKeys;
    }
    m.nbList.shrink_to_fit();

    // Transposed copies of the lists' levels, 8 candidates per run.
    m.nbLevels = transposedRuns(m, 8, m.nbLevelsStart,
                                [](std::size_t at, int) { return std::uint32_t(at); },
                                [](int level, int) { return std::uint8_t(level); });
    // The same lists as term-table slots, 16 candidates per run (read only by the AVX-512
    // searches).
    if (cpuHasQuantAvx512()) {
        const std::size_t runBytes = 16 * std::size_t(src.groupSize);
        m.nbSlots = transposedRuns(
            m, 16, m.nbSlotsKey,
            [&](std::size_t at, int count) {
                Q_ASSERT(count < 4096); // the 12-bit length field
                return std::uint32_t(at / runBytes) << 12 | std::uint32_t(count);
            },
            [&](int level, int i) { return std::uint8_t(level + src.nLevels * i); });
    }
    return m;
}

const IqGridMaps &iqGridMaps(IqGrid grid)
{
    constexpr int kGrids = 6;
    static std::array<std::once_flag, kGrids> once;
    static std::array<IqGridMaps, kGrids> maps;
    const auto g = std::size_t(grid);
    std::call_once(once[g], [&] { maps[g] = makeIqGridMaps(grid); });
    return maps[g];
}

} // namespace QuantFit::Codec
