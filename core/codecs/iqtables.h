#pragma once

// Search maps of the I-quant grids (built once per grid, on first use):
//  1. level vectors: each grid entry as small integer coordinates (levels 0..2 for the IQ1/IQ2
//     grids, 0..7 for the IQ3 grids; the quantizers never use the stored byte values);
//  2. keys: a level vector packed 2 bits per element (8-element grids) or 3 bits (4-element
//     grids), element 0 lowest; the on-grid map gives the entry of a key, or -1;
//  3. neighbour lists for every off-grid key whose digits are in range: all grid entries
//     ordered by squared level distance, then by index, cut after the first n_want distinct
//     distances (2 for iq2xxs, iq2xs and iq3xxs, 1 for iq2s, 3 for iq1s and iq3s). The
//     quantizers scan a list in this order and keep the first strict minimum, so the order
//     decides ties exactly as ggml's tables (ggml-org/ggml: src/ggml-quants.c, iq2xs_init_impl,
//     iq3xs_init_impl) do.
// ggml builds its lists for all 4^8 keys by a full sort per key (seconds for iq1s); here only
// the in-range keys (3^8 or 8^4) get one, from half-key distance tables and a counting sort:
// all six grids take a few tens of milliseconds.

#include <cstdint>
#include <span>
#include <vector>

namespace QuantFit::Codec {

enum class IqGrid {
    Iq2xxs,
    Iq2xs,
    Iq2s,
    Iq3xxs,
    Iq3s,
    Iq1s,
};

struct IqGridMaps {
    int nEntries = 0;
    int groupSize = 0;   ///< elements per entry: 8 or 4
    int keyBits = 0;     ///< bits per element in a key: 2 or 3
    int nWant = 0;       ///< distinct distances kept per neighbour list
    int nLevels = 0;     ///< levels 0..nLevels-1: 3 (IQ1, IQ2 grids) or 8 (IQ3 grids)
    std::vector<std::uint8_t> levels;   ///< nEntries * groupSize levels
    /// key -> entry index, -1 when off the grid; one extra -1 at the end, so that a 32-bit
    /// gather of any key's slot stays inside the array.
    std::vector<std::int16_t> onGrid;
    std::vector<std::uint32_t> nbStart; ///< key -> first list entry (off-grid in-range keys)
    std::vector<std::uint16_t> nbCount; ///< key -> list length (0 for on-grid keys)
    std::vector<std::uint16_t> nbList;  ///< all lists back to back
    /// The levels of every list for the SIMD searches, transposed: per run of 8 candidates
    /// (the last run padded with the list's first candidate), groupSize x 8 bytes, element i of
    /// the run's candidates at bytes 8i..8i+7.
    std::vector<std::uint8_t> nbLevels;
    std::vector<std::uint32_t> nbLevelsStart; ///< key -> first byte of its runs in nbLevels
    /// The lists once more for the AVX-512 searches: runs of 16 candidates, groupSize x 16
    /// bytes, byte 16i + c = the term-table slot of element i of candidate c of the run,
    /// i * nLevels + level (< 32); the last run is padded with the list's first candidate.
    /// Built only on CPUs that can run those searches (cpuHasQuantAvx512()); empty elsewhere,
    /// as nbSlotsKey.
    std::vector<std::uint8_t> nbSlots;
    /// key -> (first run of its list in nbSlots) << 12 | list length (one load, or one gather,
    /// per key); 0 for keys without a list.
    std::vector<std::uint32_t> nbSlotsKey;
    int nOffGridKeys = 0;               ///< in-range keys with a list

    const std::uint8_t *levelsOf(int entry) const { return levels.data() + entry * groupSize; }
    std::span<const std::uint16_t> neighbours(int key) const
    {
        return {nbList.data() + nbStart[std::size_t(key)], nbCount[std::size_t(key)]};
    }
    /// The transposed levels of neighbours(key), ceil(count / 8) runs of groupSize x 8 bytes.
    const std::uint8_t *neighbourLevels(int key) const
    {
        return nbLevels.data() + nbLevelsStart[std::size_t(key)];
    }
    /// The term-table slots of neighbours(key), ceil(count / 16) runs of groupSize x 16 bytes.
    const std::uint8_t *neighbourSlots(int key) const
    {
        return nbSlots.data()
            + std::size_t(nbSlotsKey[std::size_t(key)] >> 12) * 16 * std::size_t(groupSize);
    }
    /// Key of `groupSize` levels (each within range).
    int keyOf(const std::uint8_t *l) const
    {
        int key = 0;
        for (int i = 0; i < groupSize; ++i)
            key |= int(l[i]) << (keyBits * i);
        return key;
    }
};

/// The maps of `grid`, built on the first call (thread-safe; later calls only read).
const IqGridMaps &iqGridMaps(IqGrid grid);

/// Builds the maps of `grid` from scratch, uncached (what iqGridMaps() keeps); for tests and
/// timing.
IqGridMaps makeIqGridMaps(IqGrid grid);

} // namespace QuantFit::Codec
