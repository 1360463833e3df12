#pragma once

// Dot products of quantized rows with float activations, for the forward pass (core/infer).
// Each kernel reads the blocks directly (no dequantized row is materialised) and is
// numerically equivalent to dequantizing the row and summing dequant(row)[i] * x[i] in float;
// only the summation order differs (per-block partial sums, SIMD lanes). An AVX2/FMA path is
// chosen at run time when the CPU has it, with a portable fallback.

#include "gguf/ggmltype.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace QuantFit {

/// Whether dotRow()/dotRows() support `type` (true exactly for the types we can dequantize).
bool canDot(GgmlType type);

/// sum_i dequant(row)[i] * x[i] over `n` elements; `row` holds rowBytes(type, n) bytes and `n`
/// is a multiple of the block size. Thread-safe (no state). Throws Error for an unsupported type.
float dotRow(GgmlType type, const std::uint8_t *row, const float *x, std::int64_t n);

/// out[r] = dotRow(type, rows + r * rowStrideBytes, x, n) for r in [0, nRows): one matrix-vector
/// product with a row-major quantized matrix. Single-threaded; callers split rows across
/// threads (each range of out is written by one call). Throws Error for an unsupported type.
void dotRows(GgmlType type, const std::uint8_t *rows, std::size_t rowStrideBytes,
             std::int64_t nRows, const float *x, std::int64_t n, float *out);

/// The activation type llama.cpp quantizes x to for an integer dot with `weightType` (its
/// vec_dot_type): Q8_0 for the types with blocks of 32-128 (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
/// IQ4_NL, MXFP4, NVFP4, Q1_0, Q2_0; llama.cpp uses Q8_1 for Q4_1/Q5_1, whose codes are the
/// same), Q8_K for Q2_K..Q6_K, IQ4_XS, the other I-quants and TQ1_0/TQ2_0; nullopt for the
/// float types and Q8_K (use dotRow()).
std::optional<GgmlType> q8ActivationType(GgmlType weightType);

/// sum_i dequant(row)[i] * dequant(xq)[i], where `xq` is x quantized with
/// quantizeRow(*q8ActivationType(type), ...): integer products per block, as llama.cpp computes
/// them. Faster than dotRow() on AVX2; it differs from dotRow(x) by the rounding of x to 8 bits
/// (dotRow() with float activations stays the reference). Throws Error for other types.
float dotRowQ8(GgmlType type, const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n);

/// dotRowQ8() for nRows rows (row r at rows + r * rowStrideBytes) with one quantized vector.
void dotRowsQ8(GgmlType type, const std::uint8_t *rows, std::size_t rowStrideBytes,
               std::int64_t nRows, const std::uint8_t *xq, std::int64_t n, float *out);

/// Kernel selection, exposed for tests and benchmarks.
enum class DotPath {
    Auto,     ///< AVX2/FMA when the CPU supports it, else portable
    Portable, ///< plain C++ reference path
    Avx2,     ///< AVX2/FMA (falls back to portable for types without one, or without CPU support)
};

/// dotRow() with an explicit kernel selection.
float dotRowWith(DotPath path, GgmlType type, const std::uint8_t *row, const float *x,
                 std::int64_t n);
/// dotRowQ8() with an explicit kernel selection.
float dotRowQ8With(DotPath path, GgmlType type, const std::uint8_t *row, const std::uint8_t *xq,
                   std::int64_t n);

/// Whether this CPU can run the AVX2/FMA path (AVX2, FMA and F16C).
bool cpuHasAvx2Fma();

/// Whether `type` has its own AVX2 kernel (every readable type does; for tests).
bool hasAvx2Dot(GgmlType type);
/// Whether `type` has an AVX2 integer kernel for dotRowQ8() (all that have q8ActivationType()).
bool hasAvx2DotQ8(GgmlType type);

} // namespace QuantFit
