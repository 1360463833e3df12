#pragma once

// Internal to vecdot.cpp and vecdotavx2.cpp: the per-type kernel tables of the two paths.

#include "gguf/ggmltype.h"

#include <cstdint>

namespace QuantFit::VecDot {

/// sum_i dequant(row)[i] * x[i] over n elements (n a multiple of the block size).
using DotFn = float (*)(const std::uint8_t *row, const float *x, std::int64_t n);

/// Portable kernel for `type`, or null when the type cannot be dequantized.
DotFn portableKernel(GgmlType type);
/// AVX2/FMA/F16C kernel for `type`, or null when there is none (the caller falls back).
/// Calling it requires cpuHasAvx2Fma().
DotFn avx2Kernel(GgmlType type);

} // namespace QuantFit::VecDot
