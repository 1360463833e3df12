#pragma once

#include <cstdint>
#include <optional>

namespace QuantFit {

/// Overflow-checked unsigned arithmetic for sizes read from files: nullopt on overflow.
inline std::optional<std::uint64_t> checkedMul(std::uint64_t a, std::uint64_t b)
{
    std::uint64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        return std::nullopt;
    return r;
}

inline std::optional<std::uint64_t> checkedAdd(std::uint64_t a, std::uint64_t b)
{
    std::uint64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        return std::nullopt;
    return r;
}

/// Round `x` up to a multiple of `alignment` (a power of two); nullopt on overflow.
inline std::optional<std::uint64_t> checkedAlignUp(std::uint64_t x, std::uint64_t alignment)
{
    const auto sum = checkedAdd(x, alignment - 1);
    if (!sum)
        return std::nullopt;
    return *sum & ~(alignment - 1);
}

constexpr std::uint64_t alignUp(std::uint64_t x, std::uint64_t alignment)
{
    return (x + alignment - 1) / alignment * alignment;
}

constexpr bool isPowerOfTwo(std::uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

} // namespace QuantFit
