#pragma once

#include "util/units.h"

#include <QString>

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace QuantFit {

/// ggml tensor type ids as stored in GGUF tensor infos (ggml's `enum ggml_type` in
/// include/ggml.h; docs/formats.md, "Tensor types"). Names keep ggml's spelling so they can be
/// searched for upstream.
enum class GgmlType : std::uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
};

/// One row of the type-facts table: everything the container, planner, advisor and tests need to
/// know about a type. Codecs live in a parallel table in core/quant (quantkernels.h).
struct TypeFacts {
    GgmlType type;
    std::string_view name;   ///< ggml_type_name(): "q4_K", "f16", ...
    std::uint32_t blockSize; ///< elements per block
    std::uint32_t blockBytes;
    bool isQuantized;        ///< a block-quantized type (not float/int)
    bool canQuantize;        ///< we can write it (filled in as codecs land)
    bool canDequantize;      ///< we can read its values
    bool runtimeOnly;        ///< activation type, never expected in model files (Q8_1, Q8_K)

    double bitsPerWeight() const { return QuantFit::bitsPerWeight(blockBytes, blockSize); }
};

/// The whole table, in id order.
std::span<const TypeFacts> allTypeFacts();
/// Facts for a known id; nullopt for removed or unknown ids (4, 5, 31-33, 36-38, >= 43).
const TypeFacts *typeFactsFor(std::uint32_t id);
const TypeFacts &typeFacts(GgmlType type);
/// Case-insensitive lookup by ggml name ("q4_k", "Q4_K", "f16").
std::optional<GgmlType> ggmlTypeFromName(QStringView name);
QString ggmlTypeName(GgmlType type);

/// Bytes of one row of `nElements` values of `type`; nElements must be a multiple of the block size.
inline std::uint64_t rowBytes(const TypeFacts &t, std::uint64_t nElements)
{
    return nElements / t.blockSize * t.blockBytes;
}

} // namespace QuantFit
