#include "filetype.h"

#include <array>

namespace QuantFit {

namespace {

using G = GgmlType;
using F = FileType;

constexpr std::array kFileTypes = {
    FileTypeFacts{F::F32, "F32", "ALL_F32", G::F32, true, "32-bit float, no quantization"},
    FileTypeFacts{F::F16, "F16", "MOSTLY_F16", G::F16, true, "16-bit float, full precision"},
    FileTypeFacts{F::BF16, "BF16", "MOSTLY_BF16", G::BF16, true, "bfloat16, full range"},
    FileTypeFacts{F::Q8_0, "Q8_0", "MOSTLY_Q8_0", G::Q8_0, true, "8.5 bpw, near perfect"},
    FileTypeFacts{F::Q4_0, "Q4_0", "MOSTLY_Q4_0", G::Q4_0, true, "4.5 bpw legacy, prefer Q4_K_M"},
    FileTypeFacts{F::Q4_1, "Q4_1", "MOSTLY_Q4_1", G::Q4_1, true, "5.0 bpw legacy"},
    FileTypeFacts{F::Q5_0, "Q5_0", "MOSTLY_Q5_0", G::Q5_0, true, "5.5 bpw legacy"},
    FileTypeFacts{F::Q5_1, "Q5_1", "MOSTLY_Q5_1", G::Q5_1, true, "6.0 bpw legacy"},
    FileTypeFacts{F::Q2_K, "Q2_K", "MOSTLY_Q2_K", G::Q2_K, true, "smallest K-quant, large quality loss"},
    FileTypeFacts{F::Q2_K_S, "Q2_K_S", "MOSTLY_Q2_K_S", G::Q2_K, true, "Q2_K, smaller; needs an imatrix", true},
    FileTypeFacts{F::Q3_K_S, "Q3_K_S", "MOSTLY_Q3_K_S", G::Q3_K, true, "3-bit, very limited memory"},
    FileTypeFacts{F::Q3_K_M, "Q3_K_M", "MOSTLY_Q3_K_M", G::Q3_K, true, "3-bit, memory constrained"},
    FileTypeFacts{F::Q3_K_L, "Q3_K_L", "MOSTLY_Q3_K_L", G::Q3_K, true, "3-bit with larger attention"},
    FileTypeFacts{F::Q4_K_S, "Q4_K_S", "MOSTLY_Q4_K_S", G::Q4_K, true, "4-bit, small and fast"},
    FileTypeFacts{F::Q4_K_M, "Q4_K_M", "MOSTLY_Q4_K_M", G::Q4_K, true, "4-bit, recommended balance"},
    FileTypeFacts{F::Q5_K_S, "Q5_K_S", "MOSTLY_Q5_K_S", G::Q5_K, true, "5-bit, quality focus"},
    FileTypeFacts{F::Q5_K_M, "Q5_K_M", "MOSTLY_Q5_K_M", G::Q5_K, true, "5-bit, better quality"},
    FileTypeFacts{F::Q6_K, "Q6_K", "MOSTLY_Q6_K", G::Q6_K, true, "6.5 bpw, near full quality"},
    FileTypeFacts{F::IQ4_NL, "IQ4_NL", "MOSTLY_IQ4_NL", G::IQ4_NL, true, "4.5 bpw non-linear"},
    FileTypeFacts{F::IQ4_XS, "IQ4_XS", "MOSTLY_IQ4_XS", G::IQ4_XS, true, "4.25 bpw non-linear"},
    FileTypeFacts{F::IQ2_XXS, "IQ2_XXS", "MOSTLY_IQ2_XXS", G::IQ2_XXS, true, "2.06 bpw, needs an imatrix", true},
    FileTypeFacts{F::IQ2_XS, "IQ2_XS", "MOSTLY_IQ2_XS", G::IQ2_XS, true, "2.31 bpw, needs an imatrix", true},
    FileTypeFacts{F::IQ2_S, "IQ2_S", "MOSTLY_IQ2_S", G::IQ2_XS, true, "2.5 bpw, needs an imatrix", true},
    FileTypeFacts{F::IQ2_M, "IQ2_M", "MOSTLY_IQ2_M", G::IQ2_S, true, "2.7 bpw, needs an imatrix", true},
    FileTypeFacts{F::IQ3_XXS, "IQ3_XXS", "MOSTLY_IQ3_XXS", G::IQ3_XXS, true, "3.06 bpw, needs an imatrix", true},
    FileTypeFacts{F::IQ3_XS, "IQ3_XS", "MOSTLY_IQ3_XS", G::IQ3_S, true, "3.3 bpw, needs an imatrix", true},
    FileTypeFacts{F::IQ3_S, "IQ3_S", "MOSTLY_IQ3_S", G::IQ3_S, true, "3.44 bpw"},
    FileTypeFacts{F::IQ3_M, "IQ3_M", "MOSTLY_IQ3_M", G::IQ3_S, true, "3.66 bpw"},
    FileTypeFacts{F::IQ1_S, "IQ1_S", "MOSTLY_IQ1_S", G::IQ1_S, true, "1.56 bpw, experimental; needs an imatrix", true},
    FileTypeFacts{F::IQ1_M, "IQ1_M", "MOSTLY_IQ1_M", G::IQ1_M, true, "1.75 bpw, experimental; needs an imatrix", true},
    FileTypeFacts{F::TQ1_0, "TQ1_0", "MOSTLY_TQ1_0", G::TQ1_0, true, "ternary, for ternary models"},
    FileTypeFacts{F::TQ2_0, "TQ2_0", "MOSTLY_TQ2_0", G::TQ2_0, true, "ternary, for ternary models"},
    FileTypeFacts{F::MXFP4_MOE, "MXFP4_MOE", "MOSTLY_MXFP4_MOE", G::MXFP4, true, "MXFP4 experts, Q8_0 elsewhere"},
    FileTypeFacts{F::NVFP4, "NVFP4", "MOSTLY_NVFP4", G::NVFP4, false, "NVFP4 (not a llama-quantize target)"},
    FileTypeFacts{F::Q1_0, "Q1_0", "MOSTLY_Q1_0", G::Q1_0, true, "1.125 bpw sign bits"},
    FileTypeFacts{F::Q2_0, "Q2_0", "MOSTLY_Q2_0", G::Q2_0, true, "2.25 bpw 2-bit codes"},
};

} // namespace

std::span<const FileTypeFacts> allFileTypes()
{
    return kFileTypes;
}

const FileTypeFacts *fileTypeFactsFor(std::uint32_t id)
{
    for (const auto &f : kFileTypes) {
        if (static_cast<std::uint32_t>(f.fileType) == id)
            return &f;
    }
    return nullptr;
}

const FileTypeFacts &fileTypeFacts(FileType type)
{
    return *fileTypeFactsFor(static_cast<std::uint32_t>(type));
}

std::optional<FileType> fileTypeFromName(QStringView name)
{
    const QString upper = name.toString().toUpper();
    if (upper == QLatin1String("Q3_K"))
        return F::Q3_K_M;
    if (upper == QLatin1String("Q4_K"))
        return F::Q4_K_M;
    if (upper == QLatin1String("Q5_K"))
        return F::Q5_K_M;
    for (const auto &f : kFileTypes) {
        if (upper == QLatin1String(f.name.data(), qsizetype(f.name.size())))
            return f.fileType;
    }
    bool ok = false;
    const uint id = upper.toUInt(&ok);
    if (ok && fileTypeFactsFor(id))
        return static_cast<FileType>(id);
    return std::nullopt;
}

QString fileTypeName(FileType type)
{
    if (const auto *f = fileTypeFactsFor(static_cast<std::uint32_t>(type)))
        return QString::fromLatin1(f->name.data(), qsizetype(f->name.size()));
    return QStringLiteral("unknown (%1)").arg(static_cast<std::uint32_t>(type));
}

} // namespace QuantFit
