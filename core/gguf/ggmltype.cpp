#include "ggmltype.h"

#include <array>

namespace QuantFit {

namespace {

// Block sizes and bytes per block from docs/formats.md "Tensor types" (ggml's ggml.c type_traits). canQuantize and
// canDequantize say what this build implements; the codec table in core/quant must agree
// (a test checks it).
constexpr std::array kTypes = {
    //        type               name       block bytes quant  canQ   canDQ  runtime
    TypeFacts{GgmlType::F32,     "f32",     1,    4,    false, true,  true,  false},
    TypeFacts{GgmlType::F16,     "f16",     1,    2,    false, true,  true,  false},
    TypeFacts{GgmlType::Q4_0,    "q4_0",    32,   18,   true,  true,  true,  false},
    TypeFacts{GgmlType::Q4_1,    "q4_1",    32,   20,   true,  true,  true,  false},
    TypeFacts{GgmlType::Q5_0,    "q5_0",    32,   22,   true,  true,  true,  false},
    TypeFacts{GgmlType::Q5_1,    "q5_1",    32,   24,   true,  true,  true,  false},
    TypeFacts{GgmlType::Q8_0,    "q8_0",    32,   34,   true,  true,  true,  false},
    TypeFacts{GgmlType::Q8_1,    "q8_1",    32,   36,   true,  false, false, true},
    TypeFacts{GgmlType::Q2_K,    "q2_K",    256,  84,   true,  true,  true,  false},
    TypeFacts{GgmlType::Q3_K,    "q3_K",    256,  110,  true,  true,  true,  false},
    TypeFacts{GgmlType::Q4_K,    "q4_K",    256,  144,  true,  true,  true,  false},
    TypeFacts{GgmlType::Q5_K,    "q5_K",    256,  176,  true,  true,  true,  false},
    TypeFacts{GgmlType::Q6_K,    "q6_K",    256,  210,  true,  true,  true,  false},
    TypeFacts{GgmlType::Q8_K,    "q8_K",    256,  292,  true,  true,  true,  true},
    TypeFacts{GgmlType::IQ2_XXS, "iq2_xxs", 256,  66,   true,  true,  true,  false},
    TypeFacts{GgmlType::IQ2_XS,  "iq2_xs",  256,  74,   true,  true,  true,  false},
    TypeFacts{GgmlType::IQ3_XXS, "iq3_xxs", 256,  98,   true,  true,  true,  false},
    TypeFacts{GgmlType::IQ1_S,   "iq1_s",   256,  50,   true,  true,  true,  false},
    TypeFacts{GgmlType::IQ4_NL,  "iq4_nl",  32,   18,   true,  true,  true,  false},
    TypeFacts{GgmlType::IQ3_S,   "iq3_s",   256,  110,  true,  true,  true,  false},
    TypeFacts{GgmlType::IQ2_S,   "iq2_s",   256,  82,   true,  true,  true,  false},
    TypeFacts{GgmlType::IQ4_XS,  "iq4_xs",  256,  136,  true,  true,  true,  false},
    TypeFacts{GgmlType::I8,      "i8",      1,    1,    false, false, false, false},
    TypeFacts{GgmlType::I16,     "i16",     1,    2,    false, false, false, false},
    TypeFacts{GgmlType::I32,     "i32",     1,    4,    false, false, false, false},
    TypeFacts{GgmlType::I64,     "i64",     1,    8,    false, false, false, false},
    TypeFacts{GgmlType::F64,     "f64",     1,    8,    false, false, false, false},
    TypeFacts{GgmlType::IQ1_M,   "iq1_m",   256,  56,   true,  true,  true,  false},
    TypeFacts{GgmlType::BF16,    "bf16",    1,    2,    false, true,  true,  false},
    TypeFacts{GgmlType::TQ1_0,   "tq1_0",   256,  54,   true,  true,  true,  false},
    TypeFacts{GgmlType::TQ2_0,   "tq2_0",   256,  66,   true,  true,  true,  false},
    TypeFacts{GgmlType::MXFP4,   "mxfp4",   32,   17,   true,  true,  true,  false},
    TypeFacts{GgmlType::NVFP4,   "nvfp4",   64,   36,   true,  true,  true,  false},
    TypeFacts{GgmlType::Q1_0,    "q1_0",    128,  18,   true,  true,  true,  false},
    TypeFacts{GgmlType::Q2_0,    "q2_0",    64,   18,   true,  true,  true,  false},
};

// GGML_TYPE_COUNT of the current ggml (ggml.h enum ggml_type; docs/formats.md): ids at or above it are unknown.
constexpr std::uint32_t kMaxId = 43;

constexpr auto kById = [] {
    std::array<int, kMaxId> index{};
    for (auto &i : index)
        i = -1;
    for (std::size_t i = 0; i < kTypes.size(); ++i)
        index[static_cast<std::uint32_t>(kTypes[i].type)] = static_cast<int>(i);
    return index;
}();

} // namespace

std::span<const TypeFacts> allTypeFacts()
{
    return kTypes;
}

const TypeFacts *typeFactsFor(std::uint32_t id)
{
    if (id >= kMaxId || kById[id] < 0)
        return nullptr;
    return &kTypes[static_cast<std::size_t>(kById[id])];
}

const TypeFacts &typeFacts(GgmlType type)
{
    return *typeFactsFor(static_cast<std::uint32_t>(type));
}

std::optional<GgmlType> ggmlTypeFromName(QStringView name)
{
    for (const auto &t : kTypes) {
        if (name.compare(QLatin1String(t.name.data(), qsizetype(t.name.size())), Qt::CaseInsensitive) == 0)
            return t.type;
    }
    return std::nullopt;
}

QString ggmlTypeName(GgmlType type)
{
    const auto &t = typeFacts(type);
    return QString::fromLatin1(t.name.data(), qsizetype(t.name.size()));
}

} // namespace QuantFit
