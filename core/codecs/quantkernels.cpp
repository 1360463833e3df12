#include "quantkernels.h"

#include "blocksfloat.h"
#include "blocksfp4.h"
#include "blocksiq1.h"
#include "blocksiq2.h"
#include "blocksiq3.h"
#include "blocksiq4.h"
#include "blockskquants.h"
#include "blockslegacy.h"
#include "blockslowbit.h"

#include "util/error.h"

#include <array>

namespace QuantFit {

namespace {

// One row per implemented type; every other id gets null kernels. Adding a type is one line here
// (and the canQuantize/canDequantize flags in gguf/ggmltype.cpp, which a test keeps in step).
constexpr std::array kKernels = {
    TypeKernels{GgmlType::F32, quantizeRowF32, dequantizeRowF32, false},
    TypeKernels{GgmlType::F16, quantizeRowF16, dequantizeRowF16, false},
    TypeKernels{GgmlType::BF16, quantizeRowBf16, dequantizeRowBf16, false},
    TypeKernels{GgmlType::Q8_0, quantizeRowQ8_0, dequantizeRowQ8_0, false},
    TypeKernels{GgmlType::Q4_0, quantizeRowQ4_0, dequantizeRowQ4_0, true},
    TypeKernels{GgmlType::Q4_1, quantizeRowQ4_1, dequantizeRowQ4_1, true},
    TypeKernels{GgmlType::Q5_0, quantizeRowQ5_0, dequantizeRowQ5_0, true},
    TypeKernels{GgmlType::Q5_1, quantizeRowQ5_1, dequantizeRowQ5_1, true},
    TypeKernels{GgmlType::Q2_K, quantizeRowQ2_K, dequantizeRowQ2_K, true},
    TypeKernels{GgmlType::Q3_K, quantizeRowQ3_K, dequantizeRowQ3_K, true},
    TypeKernels{GgmlType::Q4_K, quantizeRowQ4_K, dequantizeRowQ4_K, true},
    TypeKernels{GgmlType::Q5_K, quantizeRowQ5_K, dequantizeRowQ5_K, true},
    TypeKernels{GgmlType::Q6_K, quantizeRowQ6_K, dequantizeRowQ6_K, true},
    TypeKernels{GgmlType::Q8_K, quantizeRowQ8_K, dequantizeRowQ8_K, false},
    TypeKernels{GgmlType::IQ4_NL, quantizeRowIq4Nl, dequantizeRowIq4Nl, true},
    TypeKernels{GgmlType::IQ4_XS, quantizeRowIq4Xs, dequantizeRowIq4Xs, true},
    TypeKernels{GgmlType::IQ2_XXS, quantizeRowIq2Xxs, dequantizeRowIq2Xxs, true},
    TypeKernels{GgmlType::IQ2_XS, quantizeRowIq2Xs, dequantizeRowIq2Xs, true},
    TypeKernels{GgmlType::IQ2_S, quantizeRowIq2S, dequantizeRowIq2S, true},
    TypeKernels{GgmlType::IQ3_XXS, quantizeRowIq3Xxs, dequantizeRowIq3Xxs, true},
    TypeKernels{GgmlType::IQ3_S, quantizeRowIq3S, dequantizeRowIq3S, true},
    TypeKernels{GgmlType::IQ1_S, quantizeRowIq1S, dequantizeRowIq1S, true},
    TypeKernels{GgmlType::IQ1_M, quantizeRowIq1M, dequantizeRowIq1M, true},
    TypeKernels{GgmlType::TQ1_0, quantizeRowTq1_0, dequantizeRowTq1_0, false},
    TypeKernels{GgmlType::TQ2_0, quantizeRowTq2_0, dequantizeRowTq2_0, false},
    TypeKernels{GgmlType::MXFP4, quantizeRowMxfp4, dequantizeRowMxfp4, false},
    TypeKernels{GgmlType::NVFP4, quantizeRowNvfp4, dequantizeRowNvfp4, false},
    TypeKernels{GgmlType::Q1_0, quantizeRowQ1_0, dequantizeRowQ1_0, false},
    TypeKernels{GgmlType::Q2_0, quantizeRowQ2_0, dequantizeRowQ2_0, false},
};

constexpr std::uint32_t kMaxId = 64;

const std::array<TypeKernels, kMaxId> &kernelTable()
{
    static const std::array<TypeKernels, kMaxId> table = [] {
        std::array<TypeKernels, kMaxId> t{};
        for (std::uint32_t id = 0; id < kMaxId; ++id)
            t[id] = TypeKernels{GgmlType(id), nullptr, nullptr, false};
        for (const auto &k : kKernels)
            t[static_cast<std::uint32_t>(k.type)] = k;
        return t;
    }();
    return table;
}

void checkShape(GgmlType type, std::size_t nValues, std::size_t nBytes, const char *what)
{
    const TypeFacts *facts = typeFactsFor(static_cast<std::uint32_t>(type));
    if (!facts)
        throw Error(QStringLiteral("%1: unknown tensor type id %2")
                        .arg(QLatin1String(what))
                        .arg(static_cast<std::uint32_t>(type)));
    if (nValues % facts->blockSize != 0)
        throw Error(QStringLiteral("%1 %2: row of %3 values is not a multiple of the block size %4")
                        .arg(QLatin1String(what), ggmlTypeName(type))
                        .arg(nValues)
                        .arg(facts->blockSize));
    if (nBytes < rowBytes(*facts, nValues))
        throw Error(QStringLiteral("%1 %2: %3 bytes given for a row of %4 values (%5 needed)")
                        .arg(QLatin1String(what), ggmlTypeName(type))
                        .arg(nBytes)
                        .arg(nValues)
                        .arg(rowBytes(*facts, nValues)));
}

} // namespace

const TypeKernels &kernelsFor(GgmlType type)
{
    const auto id = static_cast<std::uint32_t>(type);
    static const TypeKernels none{GgmlType::F32, nullptr, nullptr, false};
    return id < kMaxId ? kernelTable()[id] : none;
}

void quantizeRow(GgmlType type, std::span<const float> src, std::span<std::uint8_t> dst,
                 std::span<const float> importance)
{
    const auto &k = kernelsFor(type);
    if (!k.quantizeRow)
        throw Error(QStringLiteral("quantizing to %1 is not supported").arg(ggmlTypeName(type)));
    checkShape(type, src.size(), dst.size(), "quantize");
    if (!importance.empty() && importance.size() != src.size())
        throw Error(QStringLiteral("quantize %1: %2 importance weights for a row of %3 values")
                        .arg(ggmlTypeName(type))
                        .arg(importance.size())
                        .arg(src.size()));
    k.quantizeRow(src.data(), dst.data(), std::int64_t(src.size()),
                  importance.empty() ? nullptr : importance.data());
}

void dequantizeRow(GgmlType type, std::span<const std::uint8_t> src, std::span<float> dst)
{
    const auto &k = kernelsFor(type);
    if (!k.dequantizeRow)
        throw Error(QStringLiteral("reading %1 tensors is not supported").arg(ggmlTypeName(type)));
    checkShape(type, dst.size(), src.size(), "dequantize");
    k.dequantizeRow(src.data(), dst.data(), std::int64_t(dst.size()));
}

} // namespace QuantFit
