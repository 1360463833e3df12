#include "tensorinfo.h"

namespace QuantFit {

std::uint64_t tensorBytes(GgmlType type, const std::array<std::uint64_t, 4> &ne)
{
    const auto &t = typeFacts(type);
    return ne[0] / t.blockSize * t.blockBytes * ne[1] * ne[2] * ne[3];
}

std::uint64_t GgufTensorInfo::rowBytes() const
{
    return QuantFit::rowBytes(typeFacts(type), ne[0]);
}

std::uint32_t GgufTensorInfo::effectiveDims() const
{
    std::uint32_t n = 1;
    for (std::uint32_t d = 1; d < ne.size(); ++d) {
        if (ne[d] > 1)
            n = d + 1;
    }
    return n;
}

} // namespace QuantFit
