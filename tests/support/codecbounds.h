#pragma once

// Error bounds shared by the codec tests (core/codecs/testcodecs.cpp, core/quant/testquantllamafiles.cpp).

#include "gguf/ggmltype.h"

#include <algorithm>
#include <cmath>

namespace QuantFit::Test {

// Round-trip bound on the relative RMSE (RMSE / RMS of x), derived from bits per weight.
// Float types: round to nearest with m mantissa bits errs by at most 2^-(m+1) relative per
// element; we allow 2^-m (F16: m = 10, BF16: m = 7; F32 is exact).
// Block types: a uniform grid of 2^b levels spanning a block's range +-k*sigma has step
// 2k*sigma / 2^b and an RMSE of step / sqrt(12) = k*sigma / (sqrt(3) * 2^b). A block's extreme
// is about k = 2.5 sigma for 32 Gaussian values and ~4 for 256. b is the bits per weight less
// the scale overhead, which is at most 1.125 bpw (Q8_K's float scale and int16 sums; fp16 d and
// m per 32 cost 1.0, the K-quants 0.19-0.63), so b >= bpw - 1.125 and
// RMSE / sigma <= 4 * 2^1.125 / sqrt(3) * 2^-bpw ~= 5.0 * 2^-bpw. We allow 6.5 * 2^-bpw.
// Student-t(3) rows have larger block extremes relative to their RMS (about 2x), so their
// bound is twice that: 13 * 2^-bpw. The non-linear IQ4 codebook and the least-squares scale
// searches only lower the error below the plain uniform grid.
// Below about 2.7 bits per weight that estimate passes 1 (a decoder returning zeros would meet
// it), so it is capped. A sign with the least-squares scale (the best 1-bit code) leaves
// sqrt(1 - 2/pi) = 0.60 of a Gaussian's RMS: 0.65 for Gaussian rows, 0.85 for Student-t(3) rows,
// whose block scales are set by rarer, larger extremes. The ternary types that take the block
// maximum as scale and switch at half of it (TQ1_0, TQ2_0, Q2_0; made for weights that are
// ternary already) round most Gaussian values to 0 and keep about 0.8: they get 0.9.
inline double relRmseBound(const TypeFacts &f, bool heavyTailed)
{
    switch (f.type) {
    case GgmlType::F32: return 1e-12;
    case GgmlType::F16: return std::ldexp(1.0, -10);
    case GgmlType::BF16: return std::ldexp(1.0, -7);
    default: break;
    }
    const bool maxScaledTernary =
        f.type == GgmlType::TQ1_0 || f.type == GgmlType::TQ2_0 || f.type == GgmlType::Q2_0;
    const double cap = maxScaledTernary ? 0.9 : (heavyTailed ? 0.85 : 0.65);
    return std::min(cap, (heavyTailed ? 13.0 : 6.5) * std::pow(2.0, -f.bitsPerWeight()));
}

} // namespace QuantFit::Test
