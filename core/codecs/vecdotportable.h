#pragma once

// Internal to the dot kernels (vecdot*.cpp): the per-type kernel tables of the three paths.

#include "gguf/ggmltype.h"

#include <cstddef>
#include <cstdint>

namespace QuantFit::VecDot {

/// sum_i dequant(row)[i] * x[i] over n elements (n a multiple of the block size).
using DotFn = float (*)(const std::uint8_t *row, const float *x, std::int64_t n);

/// sum_i dequant(row)[i] * dequant(xq)[i] with 8-bit activations (Q8_0 or Q8_K blocks).
using DotQ8Fn = float (*)(const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n);

/// out[r] = the DotQ8Fn of row r (at rows + r * stride) for r < nRows: kernels that share the
/// activation side between rows. Each out[r] equals the type's DotQ8Fn of that row exactly.
using DotRowsQ8Fn = void (*)(const std::uint8_t *rows, std::size_t stride, std::int64_t nRows,
                             const std::uint8_t *xq, std::int64_t n, float *out);

/// Portable (reference) and AVX2 integer kernels, or null when there is none for `type`.
/// avx2Q8Kernel() holds the hand-written kernels (vecdotq8avx2.cpp), avx2IntQ8Kernel() the
/// ones built on the integer-form decoders (vecdotintavx2.cpp) for the other types.
DotQ8Fn portableQ8Kernel(GgmlType type);
DotQ8Fn avx2Q8Kernel(GgmlType type);
DotQ8Fn avx2IntQ8Kernel(GgmlType type);
/// The many-row form of avx2Q8Kernel() for Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, or null.
DotRowsQ8Fn avx2LegacyRowsKernel(GgmlType type);
/// AVX-512 integer kernels, or null; require cpuHasAvx512(). avx512KQuantKernel(): the
/// super-block types with integer sub-block scales (vecdotkavx512.cpp); avx512IqKernel(): the
/// grid I-quants with gathered grid entries (vecdotiqavx512.cpp); avx512Q8Kernel(): over the
/// integer-form decoders (vecdotavx512.cpp); avx512LegacyKernel(): Q4_0, Q4_1, Q5_0, Q5_1 and
/// Q8_0, eight blocks per step (vecdotlegacyavx512.cpp).
DotQ8Fn avx512KQuantKernel(GgmlType type);
DotQ8Fn avx512LegacyKernel(GgmlType type);
/// The many-row form of avx512LegacyKernel(), or null.
DotRowsQ8Fn avx512LegacyRowsKernel(GgmlType type);
DotQ8Fn avx512IqKernel(GgmlType type);
DotQ8Fn avx512Q8Kernel(GgmlType type);

/// Portable kernel for `type`, or null when the type cannot be dequantized.
DotFn portableKernel(GgmlType type);
/// AVX2/FMA/F16C kernel for `type`, or null when there is none (the caller falls back).
/// Calling it requires cpuHasAvx2Fma(). avx2IntKernel(): the integer-form ones.
DotFn avx2Kernel(GgmlType type);
DotFn avx2IntKernel(GgmlType type);
/// AVX-512 kernel for `type` (float rows), or null. Requires cpuHasAvx512().
DotFn avx512Kernel(GgmlType type);

} // namespace QuantFit::VecDot
