#pragma once

// Dot products of quantized rows with activations, for the forward pass (core/infer).
//  1. dotRow(): float activations. Each kernel reads the blocks directly (no dequantized row is
//     materialised) and equals dequantizing the row and summing dequant(row)[i] * x[i] in float
//     up to summation order (per-block partial sums, SIMD lanes).
//  2. dotRowQ8(): activations quantized to 8 bits first (Q8_0, Q8_1 or Q8_K, as llama.cpp
//     does), then exact integer sums per sub-block over the integer form of the weights
//     (vecdotint.h, docs/formats.md "Integer form") and one float scaling per sub-block.
// Three kernel paths, chosen at run time: AVX-512 (F, BW, VL and VNNI: vpdpbusd), AVX2/FMA, and
// the portable reference the SIMD paths are tested against.

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
/// vec_dot_type): Q8_1 for Q4_1 and Q5_1 (Q8_0's codes and scale plus the block sum s their min
/// term uses), Q8_0 for the other types with blocks of 32-128 (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4,
/// NVFP4, Q1_0, Q2_0), Q8_K for Q2_K..Q6_K, IQ4_XS, the other I-quants and TQ1_0/TQ2_0;
/// nullopt for the float types and Q8_K (use dotRow()).
std::optional<GgmlType> q8ActivationType(GgmlType weightType);

/// Quantizes `n` values of `x` (a multiple of the activation block: 32, 256 for Q8_K) to `act`
/// (Q8_0, Q8_1 or Q8_K) as llama.cpp's reference quantizers do (codes rounded half away from
/// zero; Q8_1's s = fp16(d * sum of the codes) with d before its fp16 rounding), writing
/// rowBytes(act, n) bytes to `out`. For tests and benchmarks: inference quantizes its
/// activations as llama.cpp's x86 build does (core/infer/activationrounding.h). Throws Error for
/// another type or a bad length.
void quantizeActivationRow(GgmlType act, const float *x, std::uint8_t *out, std::int64_t n);

/// sum_i dequant(row)[i] * dequant(xq)[i], where `xq` is x quantized to
/// *q8ActivationType(type) (quantizeActivationRow()): integer products per block, as llama.cpp
/// computes them. For Q4_1/Q5_1 the min term of a block is m * s, s the Q8_1 block sum, as in
/// llama.cpp (not m * d * sum(q), which differs by the fp16 roundings of d and s). Faster than dotRow() on AVX2; it differs from dotRow(x) by the rounding of x to 8 bits
/// (dotRow() with float activations stays the reference). Throws Error for other types.
float dotRowQ8(GgmlType type, const std::uint8_t *row, const std::uint8_t *xq, std::int64_t n);

/// dotRowQ8() for nRows rows (row r at rows + r * rowStrideBytes) with one quantized vector.
void dotRowsQ8(GgmlType type, const std::uint8_t *rows, std::size_t rowStrideBytes,
               std::int64_t nRows, const std::uint8_t *xq, std::int64_t n, float *out);

/// Kernel selection, exposed for tests and benchmarks. An explicit path falls back to the next
/// lower one for types without its kernel or on a CPU without its instructions.
enum class DotPath {
    Auto,     ///< the fastest this CPU has: AVX-512 where it pays, else AVX2/FMA, else portable
    Portable, ///< plain C++ reference path
    Avx2,     ///< AVX2/FMA/F16C
    Avx512,   ///< AVX-512 F/BW/VL/VNNI (with the AVX2 instructions)
};

/// dotRows() and dotRowsQ8() with an explicit kernel selection.
void dotRowsWith(DotPath path, GgmlType type, const std::uint8_t *rows,
                 std::size_t rowStrideBytes, std::int64_t nRows, const float *x, std::int64_t n,
                 float *out);
void dotRowsQ8With(DotPath path, GgmlType type, const std::uint8_t *rows,
                   std::size_t rowStrideBytes, std::int64_t nRows, const std::uint8_t *xq,
                   std::int64_t n, float *out);

/// dotRow() with an explicit kernel selection.
float dotRowWith(DotPath path, GgmlType type, const std::uint8_t *row, const float *x,
                 std::int64_t n);
/// dotRowQ8() with an explicit kernel selection.
float dotRowQ8With(DotPath path, GgmlType type, const std::uint8_t *row, const std::uint8_t *xq,
                   std::int64_t n);

/// Whether this CPU can run the AVX2/FMA path (AVX2, FMA and F16C).
bool cpuHasAvx2Fma();

/// Whether this CPU can run the AVX-512 path (AVX-512 F, BW, VL, VNNI and the AVX2 set; the
/// OS saves the ZMM state).
bool cpuHasAvx512();

/// Whether `type` has its own AVX2 kernel for dotRow() (for tests and benchmarks).
bool hasAvx2Dot(GgmlType type);
/// Whether `type` has an AVX2 integer kernel for dotRowQ8() (all that have q8ActivationType()).
bool hasAvx2DotQ8(GgmlType type);
/// Whether `type` has an AVX-512 kernel for dotRow() / dotRowQ8() (quantfit-bench dot measures
/// them against AVX2). dotRow() has them only where they pay (F16, BF16).
bool hasAvx512Dot(GgmlType type);
bool hasAvx512DotQ8(GgmlType type);
/// Whether DotPath::Auto picks the AVX-512 kernel of dotRowQ8() for `type` on this CPU: every
/// type except the two where it measured no faster than AVX2 (IQ3_XXS, IQ1_M).
bool autoUsesAvx512DotQ8(GgmlType type);

/// The integer form of a quantized type (vecdotint.h): element j of sub-block k of a row is
/// scales[k] * codes[j] - mins[k], bit for bit the dequantized value; mins only when affine.
struct DotIntForm {
    int blockSize = 0;  ///< elements per block
    int blockBytes = 0; ///< bytes per block
    int subBlock = 0;   ///< elements per scale: 16 or 32
    bool affine = false; ///< Q4_1, Q5_1, Q2_K, Q4_K, Q5_K: value = scale * code - min
};

/// The integer form of `type`, or nullopt (float types, Q8_K).
std::optional<DotIntForm> dotIntForm(GgmlType type);

/// Decodes `n` elements of `row` (n a multiple of the block size) into `codes` (n int8),
/// `scales` (n / subBlock) and, for affine types, `mins` (n / subBlock; untouched otherwise).
/// Thread-safe. Throws Error for a type without an integer form or a bad length.
void decodeIntRow(GgmlType type, const std::uint8_t *row, std::int64_t n, std::int8_t *codes,
                  float *scales, float *mins);
/// decodeIntRow() with an explicit decoder (Avx512 uses the AVX2 decoders).
void decodeIntRowWith(DotPath path, GgmlType type, const std::uint8_t *row, std::int64_t n,
                      std::int8_t *codes, float *scales, float *mins);

/// decodeIntRowWith() bound to one type and path: the block decoder is looked up once, for
/// callers decoding many rows (core/infer's matmul panels).
class IntRowDecoder {
public:
    /// Throws Error for a type without an integer form.
    IntRowDecoder(DotPath path, GgmlType type);
    const DotIntForm &form() const { return m_form; }
    /// decodeIntRowWith(path, type, row, n, codes, scales, mins); throws Error for a bad length.
    void operator()(const std::uint8_t *row, std::int64_t n, std::int8_t *codes, float *scales,
                    float *mins) const;

private:
    using BlockFn = void (*)(const std::uint8_t *block, std::int8_t *codes, float *scales,
                             float *mins);
    GgmlType m_type;
    DotIntForm m_form;
    BlockFn m_decodeBlock = nullptr;
};

} // namespace QuantFit
