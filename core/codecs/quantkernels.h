#pragma once

// The codec table, parallel to the type-facts table in gguf/ggmltype.h (one row per GgmlType).
// Reference codecs follow ggml's reference quantizers (ggml-quants.c) step by step and write the
// same bytes (tests compare with files llama-quantize wrote); their AVX2 paths are
// chosen at run time and are bit-identical to them (no FMA; tests compare the two). All kernels
// are stateless and thread-safe. Dot products with float vectors are in vecdot.h.

#include "gguf/ggmltype.h"

#include <cstdint>
#include <span>

namespace QuantFit {

/// Quantizes one row of `n` floats (n a multiple of the block size) into `dst`
/// (rowBytes(type, n) bytes). `importance` is either empty or n per-column weights (imatrix,
/// docs/formats.md "Importance matrices"). Output does not depend on threading: rows are independent.
using QuantizeRowFn = void (*)(const float *src, std::uint8_t *dst, std::int64_t n,
                               const float *importance);
/// Dequantizes one row of `n` values.
using DequantizeRowFn = void (*)(const std::uint8_t *src, float *dst, std::int64_t n);

struct TypeKernels {
    GgmlType type;
    QuantizeRowFn quantizeRow;     ///< null when we cannot write the type
    DequantizeRowFn dequantizeRow; ///< null when we cannot read the type
    bool usesImportance;           ///< whether an imatrix changes the result
};

/// Kernels for `type`; the entry has null functions for unsupported types.
const TypeKernels &kernelsFor(GgmlType type);

/// Codec implementation choice (quantizers and dequantizers), process-wide, for tests and
/// benchmarks. Every path gives the same bytes and floats: the SIMD paths run independent
/// sub-blocks, trials or candidates in SIMD lanes with the reference's float operations in the
/// reference's order.
enum class QuantizePath {
    Auto,     ///< the fastest the CPU has: AVX-512 (I-quant searches), else AVX2
    Portable, ///< scalar reference code only
    Avx2,     ///< AVX2 even where AVX-512 is present (tests of the AVX2 path)
};
void setQuantizePath(QuantizePath path);

/// Convenience wrappers that throw Error naming the type when it is unsupported.
void quantizeRow(GgmlType type, std::span<const float> src, std::span<std::uint8_t> dst,
                 std::span<const float> importance = {});
void dequantizeRow(GgmlType type, std::span<const std::uint8_t> src, std::span<float> dst);

} // namespace QuantFit
