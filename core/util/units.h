#pragma once

#include <QString>

#include <cstdint>

namespace QuantFit {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;
constexpr double GB = 1e9;

/// "4.07 GiB", "812.5 MiB", "96 B": binary units, for sizes shown to users.
QString formatBytes(std::uint64_t bytes);
/// "4.37 GB": decimal gigabytes, as the product brief and model cards speak of sizes.
QString formatGB(std::uint64_t bytes, int decimals = 2);
/// "8.03 B", "405 M": parameter counts.
QString formatCount(std::uint64_t n);
/// "1h 02m", "3m 05s", "12s".
QString formatDuration(double seconds);

} // namespace QuantFit
