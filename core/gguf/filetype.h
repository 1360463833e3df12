#pragma once

#include "ggmltype.h"

#include <QString>

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace QuantFit {

/// llama_ftype values (general.file_type): llama.cpp's `enum llama_ftype` in include/llama.h;
/// docs/formats.md, "File types".
enum class FileType : std::uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q8_0 = 7,
    Q5_0 = 8,
    Q5_1 = 9,
    Q2_K = 10,
    Q3_K_S = 11,
    Q3_K_M = 12,
    Q3_K_L = 13,
    Q4_K_S = 14,
    Q4_K_M = 15,
    Q5_K_S = 16,
    Q5_K_M = 17,
    Q6_K = 18,
    IQ2_XXS = 19,
    IQ2_XS = 20,
    Q2_K_S = 21,
    IQ3_XS = 22,
    IQ3_XXS = 23,
    IQ1_S = 24,
    IQ4_NL = 25,
    IQ3_S = 26,
    IQ3_M = 27,
    IQ2_S = 28,
    IQ2_M = 29,
    IQ4_XS = 30,
    IQ1_M = 31,
    BF16 = 32,
    TQ1_0 = 36,
    TQ2_0 = 37,
    MXFP4_MOE = 38,
    NVFP4 = 39,
    Q1_0 = 40,
    Q2_0 = 41,
    Guessed = 1024,
};

/// One row of the file-type table (llama-quantize's QUANT_OPTIONS, in our words).
struct FileTypeFacts {
    FileType fileType;
    std::string_view name;      ///< CLI name: "Q4_K_M"
    std::string_view llamaName; ///< enum spelling: "MOSTLY_Q4_K_M"
    GgmlType defaultType;       ///< the mix's bulk tensor type
    bool supported;             ///< we can produce this mix
    std::string_view summary;   ///< one line for --help and tooltips
    /// llama-quantize refuses this mix without an importance matrix: some tensor of a usual
    /// model gets IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S or IQ3_XXS (or Q2_K in Q2_K_S).
    /// Which tensor exactly is decided per file by the plan.
    bool needsImatrix = false;
};

std::span<const FileTypeFacts> allFileTypes();
const FileTypeFacts *fileTypeFactsFor(std::uint32_t id);
const FileTypeFacts &fileTypeFacts(FileType type);
/// Case-insensitive; accepts the aliases Q3_K, Q4_K, Q5_K and the numeric value.
std::optional<FileType> fileTypeFromName(QStringView name);
QString fileTypeName(FileType type);

} // namespace QuantFit
