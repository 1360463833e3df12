#pragma once

#include <QString>

#include <cstdint>
#include <optional>

namespace QuantFit {

/// Free bytes available to this user on the file system that holds `path`. The path need not
/// exist yet (an output file, or a folder still to be made): its closest existing parent is
/// asked instead. nullopt when the answer is unknown (empty path, no existing parent, a volume
/// that is not ready); 0 is a real answer and means the volume is full.
std::optional<std::uint64_t> availableDiskBytes(const QString &path);

/// Throws IoError(path, "write", "not enough disk space: ...") when the volume holding `path`
/// has fewer than `bytes` free; does nothing when the free space is unknown.
void requireDiskSpace(const QString &path, std::uint64_t bytes);

} // namespace QuantFit
