#pragma once

#include "ggmltype.h"

#include <QByteArray>

#include <array>
#include <cstdint>

namespace QuantFit {

/// One tensor-info record (docs/formats.md, "Layout") plus the derived sizes. `ne[0]` is the
/// row length (innermost dimension); unused trailing dimensions are 1.
struct GgufTensorInfo {
    QByteArray name;
    std::uint32_t nDims = 1;
    std::array<std::uint64_t, 4> ne{1, 1, 1, 1};
    GgmlType type = GgmlType::F32;
    std::uint64_t offset = 0; ///< relative to the data section
    std::uint64_t nBytes = 0; ///< exact bytes of the data, without padding
    std::uint32_t shard = 0;  ///< file of a split model holding the data (0: the first/only)

    std::uint64_t nElements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    std::uint64_t rowElements() const { return ne[0]; }
    std::uint64_t nRows() const { return ne[1] * ne[2] * ne[3]; }
    std::uint64_t rowBytes() const;
    /// Dimensions up to the last one larger than 1 (at least 1), as ggml's `ggml_n_dims` counts
    /// them: [4096, 1, 1, 1] has 1, [4096, 32000, 1, 1] has 2, [128, 1, 8, 1] has 3. Writers
    /// store this as n_dims; the mix rules quantize only tensors with 2 or more.
    std::uint32_t effectiveDims() const;
};

/// Bytes of a tensor of `type` with dims `ne` (no overflow checks: shapes must be validated).
std::uint64_t tensorBytes(GgmlType type, const std::array<std::uint64_t, 4> &ne);

} // namespace QuantFit
