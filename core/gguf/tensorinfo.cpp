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

} // namespace QuantFit
