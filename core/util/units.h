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

/// Bits per weight of `bytes` that hold `nElements` weights, 8 x bytes / elements: a 144-byte
/// Q4_K block of 256 weights is 4.5. 0 when there are no elements.
constexpr double bitsPerWeight(std::uint64_t bytes, std::uint64_t nElements)
{
    return nElements ? 8.0 * double(bytes) / double(nElements) : 0.0;
}
/// `text` with every character that could act on a terminal written as an escape: C0 controls
/// ("\n", "\r", "\t", others "\x1b"), DEL and C1 controls ("\x7f", "\u0085"), and the bidi
/// embedding/override/isolate marks ("\u202e") that can make a line read differently than it
/// is. Strings taken from files (metadata, tensor names, error messages quoting them) go
/// through it before they are printed; `keepNewlines` leaves '\n' as it is (multi-line messages).
QString escapeControlCharacters(QStringView text, bool keepNewlines = false);

/// "1h 02m", "3m 05s", "12s".
QString formatDuration(double seconds);

} // namespace QuantFit
