#pragma once

// The grid search shared by the IQ2 and IQ3 quantizers (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS,
// IQ3_S; ggml-org/ggml: src/ggml-quants.c, quantize_row_iq2_xxs_impl ... quantize_row_iq3_s_impl).
// Per 256-value super-block:
//  1. sigma2 = c * (sum of x^2) / 256 (c = 1 or 2 by type); per element a weight
//     imp * sqrt(sigma2 + x^2) with an importance vector, else the type's default, and its root;
//  2. signs per 8 values: bit i set iff x_i < 0, target t_i = |x_i|; the 7-bit types (parity)
//     flip the sign of the element with the smallest w x^2 when the count of set bits is odd,
//     and negate its target, so the mask has even parity;
//  3. per sub-block (the values sharing one 4-bit scale code), m = max t; below the type's
//     threshold the sub-block is skipped (scale 0, nothing written);
//  4. trial scales id = (P + k step) / m, levels l = clamp(round(0.5 (id t - 1)), 0, lmax) per
//     group (8 or 4 values); a group whose level vector is not a grid entry takes the entry of its
//     neighbour list with the least error sum r (s p - t)^2 (p = 2l + 1, r = sqrt(weight)); the
//     trial with the largest A^2/Q (A = sum w t p, Q = sum w p^2) wins with s = A / Q;
//  5. a final re-fit at id = 1/s (every group, or only those that were off the grid), s = A/Q
//     again; a negative s is negated with every sign of the sub-block inverted;
//  6. the super-block scale is max s / 31 and each sub-block gets the code
//     clamp(round(0.5 (s / d - 1)), 0, 15) (the packing is the type's, in blocksiq2/3.cpp).
// All arithmetic is float32 in this order, without contraction (byte identity with ggml).
// The IQ1 quantizers (blocksiq1.cpp) share the neighbour search and the AVX2 dispatch from here.

#include "iqtables.h"

#include <cstdint>

namespace QuantFit::Codec {

/// What a type uses as element weight when no importance vector is given.
enum class IqDefaultWeight {
    Ones,         ///< importance 1 (ggml refuses these types without an imatrix; our choice)
    QuarterSigma, ///< 0.25 sigma2 + x^2 (IQ2_S)
    Square,       ///< x^2 (IQ3_XXS, IQ3_S)
};

struct IqTypeSpec {
    IqGrid grid;
    int subBlock;                  ///< values per scale code: 16 or 32
    int lmax;                      ///< top level: 2 (IQ2) or 7 (IQ3)
    int sigmaMul;                  ///< c in sigma2 = c * sum(x^2) / 256
    IqDefaultWeight defaultWeight; ///< weights without an importance vector
    bool parity;                   ///< 7-bit sign indices with the parity fix-up
    float skipBelow;               ///< skip a sub-block when m < skipBelow (0: only when m == 0)
    bool qpStart;                  ///< IQ2_XXS: starting scale from make_qp_quants
    int kMax;                      ///< trials k = -kMax..kMax
    float step;                    ///< trial step: 0.1 or 0.2
    bool refitAll;                 ///< final re-fit of every group (else only off-grid ones)
    bool refitAlways;              ///< IQ2_XXS: re-fit whenever s > 0
    bool onGridStart;              ///< on-grid flags before the first accepted trial
};

/// The search's result for one super-block; the type packs it.
struct IqSuperBlock {
    float scale[16];         ///< per sub-block s (0 when skipped)
    bool skipped[16];        ///< sub-blocks below the threshold: nothing to write
    std::uint8_t levels[256];
    std::uint8_t signs[32];  ///< 8-bit sign mask per 8 values (even parity for parity types)
    float maxScale;          ///< max over the sub-blocks, 0 when all were skipped
};

/// Runs steps 1-5 on 256 values `x` with `importance` (256 values) or null.
void iqSearchSuperBlock(const IqTypeSpec &spec, const float *x, const float *importance,
                        IqSuperBlock &out);

/// Grid index of a group's final levels (always on the grid after the search).
int iqGridIndex(const IqGridMaps &maps, const std::uint8_t *levels);

/// Step 6: the 4-bit code of scale `s` for the inverse super-block scale `id`.
int iqScaleCode(float id, float s);

/// The neighbour of `key` with the least sum (r (s p - t)) (s p - t) over the group (p = 2l + 1),
/// first on ties. Falls back to the whole grid, then to entry 0, when no error is finite.
int iqBestNeighbour(const IqGridMaps &maps, int key, const float *t, const float *r, float s);

/// The IQ1 flavour: least sum (w (s v[l] - x)) (s v[l] - x) over the 8 values of a group, v the
/// reconstruction value of each level (one of the two shift tables), first on ties; the whole
/// grid, then entry 0, when no error is below FLT_MAX.
int iq1BestNeighbour(const IqGridMaps &maps, int key, const float *x, const float *w, float s,
                     const float *v);

/// The scalar code of the two searches (the entries above run it, or the AVX2 versions when
/// quantSimdEnabled()).
int iqBestNeighbourPortable(const IqGridMaps &maps, int key, const float *t, const float *r,
                            float s);
int iq1BestNeighbourPortable(const IqGridMaps &maps, int key, const float *x, const float *w,
                             float s, const float *v);

/// AVX2 versions of the two searches (iqsearchavx2.cpp): eight candidates side by side, each
/// with the scalar code's float operations in its order, so the choice is bit-identical. Call
/// only when quantSimdEnabled().
int iqBestNeighbourAvx2(const IqGridMaps &maps, int key, const float *t, const float *r, float s);
int iq1BestNeighbourAvx2(const IqGridMaps &maps, int key, const float *x, const float *w, float s,
                         const float *v);

/// AVX-512 versions (iqsearchavx512.cpp): per call a term table of every (element, level)
/// error term, computed with the scalar code's operations, then 16 candidates side by side, each
/// summing its terms in element order; the first strict minimum is found by lane-wise minima.
/// Bit-identical to the scalar searches. Call only when quantAvx512Enabled().
int iqBestNeighbourAvx512(const IqGridMaps &maps, int key, const float *t, const float *r,
                          float s);
int iq1BestNeighbourAvx512(const IqGridMaps &maps, int key, const float *x, const float *w,
                           float s, const float *v);

/// Step 4's trials of one sub-block of n values, one after another (iqsearch.cpp): trial
/// k = -kMax..kMax rounds the targets at inverse scale (2 lmax + 1 + k step) / mPrime, finds
/// neighbours for off-grid groups, and is accepted when it beats the best so far. On
/// acceptance s, L (n levels) and on (per group) are replaced; otherwise they stay as passed.
void iqTrialsPortable(const IqTypeSpec &spec, const IqGridMaps &maps, int n, const float *t,
                      const float *w, const float *r, float mPrime, float &s, std::uint8_t *L,
                      bool *on);

/// iqTrialsPortable() on AVX-512, bit-identical: lane j of a 16-wide vector runs trial
/// k = -kMax + j (+16 for the next vector) with the scalar float operations, neighbour
/// searches per off-grid lane, then the trials are accepted in k order by the scalar rule.
/// Call only when quantAvx512Enabled().
void iqTrialsAvx512(const IqTypeSpec &spec, const IqGridMaps &maps, int n, const float *t,
                    const float *w, const float *r, float mPrime, float &s, std::uint8_t *L,
                    bool *on);

/// The same on AVX2, eight trials at a time. Call only when quantSimdEnabled().
void iqTrialsAvx2(const IqTypeSpec &spec, const IqGridMaps &maps, int n, const float *t,
                  const float *w, const float *r, float mPrime, float &s, std::uint8_t *L,
                  bool *on);

/// Reconstruction values of the IQ1 levels 0, 1, 2 for the shifts +0.125 and -0.125 (exact).
inline constexpr float kIq1Plus[3] = {-0.875f, 0.125f, 1.125f};
inline constexpr float kIq1Minus[3] = {-1.125f, -0.125f, 0.875f};

/// IQ1_M shift pattern k (0..3) for group 0 or 1 of a 16-value sub-block: group 0 takes the
/// minus table when k >= 2, group 1 when k is odd.
inline const float *iq1mTable(int k, int group)
{
    return (group ? (k & 1) : (k >= 2)) ? kIq1Minus : kIq1Plus;
}

/// IQ1_M's search over every split 0 <= i1 <= i2 <= 16 of a sub-block's sorted values (order:
/// positions by value, stable) into levels 0 / 1 / 2 and every shift pattern k: per split the
/// sums N[k] = sum (w v) x and D[k] = sum (w v) v walk the sorted positions; candidates in the
/// order (i1, i2, k) replace the best when D > 0 and N^2 > best D, then s = N / D and
/// best = s N (best starts at -FLT_MAX). i1 = -1 when no candidate had D > 0.
struct Iq1mSplit {
    float s;
    int i1;
    int i2;
    int k;
};
Iq1mSplit iq1mBestSplitPortable(const float *x, const float *w, const int *order);
/// The same on AVX2, eight i2 at a time (bit-identical); call only when quantSimdEnabled().
Iq1mSplit iq1mBestSplitAvx2(const float *x, const float *w, const int *order);
/// The same on AVX-512: 16 splits (i1, i2) side by side, each summing precomputed terms in the
/// scalar order; a vector of splits is tested against the running best and only one with a
/// passing lane is accepted lane by lane (bit-identical). Call only when quantAvx512Enabled().
Iq1mSplit iq1mBestSplitAvx512(const float *x, const float *w, const int *order);

/// IQ1_S's search over every split 0 <= i1 <= i2 <= 32 of a sub-block's sorted values, from the
/// prefix sums X (of w x) and W (of w) over the sorted order (33 values each): per split and
/// shift (plus table first) N = (a v0 + b v1) + c v2 and D = ((wa v0) v0 + (wb v1) v1) +
/// (wc v2) v2 from the three segments' sums; the candidate rule of Iq1mSplit. i1 = -1 when no
/// candidate had D > 0; k is 1 for the minus table.
Iq1mSplit iq1sBestSplitPortable(const float *sumX, const float *sumW);
/// The same on AVX-512, 16 i2 at a time (bit-identical); call only when quantAvx512Enabled().
Iq1mSplit iq1sBestSplitAvx512(const float *sumX, const float *sumW);
/// The same on AVX2, 8 i2 at a time; call only when quantSimdEnabled().
Iq1mSplit iq1sBestSplitAvx2(const float *sumX, const float *sumW);

/// Positions 0..n-1 (n = 16 or 32) ordered by value, equal values in position order: the
/// stable sort glibc's qsort is for arrays this small. The AVX-512 version counts ranks
/// (smaller values, then equal values before) and falls back to the scalar sort when a value is
/// NaN; call it only when quantAvx512Enabled().
void iq1SortedPositions(const float *x, int n, int *order);
void iq1SortedPositionsAvx512(const float *x, int n, int *order);

} // namespace QuantFit::Codec
