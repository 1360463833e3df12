#include "matmul.h"

#include "activationrounding.h"
#include "kernels.h"
#include "matmulq8.h"

#include "jobs/parallel.h"
#include "codecs/quantkernels.h"
#include "codecs/vecdot.h"
#include "util/error.h"
#include "util/fp16.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace QuantFit::Infer {

namespace {

constexpr int kPanelRows = 16;
constexpr int kTokenBlock = 6;

#define QF_AVX2 __attribute__((target("avx2,fma,f16c")))

QF_AVX2 void f16RowAvx2(const std::uint16_t *src, float *dst, std::int64_t n)
{
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(
                                      _mm_loadu_si128(reinterpret_cast<const __m128i *>(src + i))));
    for (; i < n; ++i)
        dst[i] = fp16ToFp32(src[i]);
}

//
// panel kernels: y[t][0..16) = sum_k x[t][k] * wp[k][0..16)
//

template <int NT>
void panelKernelPortable(const float *wp, const float *x, std::int64_t ldx, int n, float *y,
                         std::int64_t ldy, int nValid)
{
    float acc[NT][kPanelRows] = {};
    for (int k = 0; k < n; ++k) {
        const float *w = wp + std::int64_t(k) * kPanelRows;
        for (int t = 0; t < NT; ++t) {
            const float b = x[t * ldx + k];
            for (int r = 0; r < kPanelRows; ++r)
                acc[t][r] += b * w[r];
        }
    }
    for (int t = 0; t < NT; ++t)
        std::memcpy(y + t * ldy, acc[t], sizeof(float) * std::size_t(nValid));
}

QF_AVX2 inline void storeRow(float *y, __m256 lo, __m256 hi, int nValid)
{
    if (nValid == kPanelRows) {
        _mm256_storeu_ps(y, lo);
        _mm256_storeu_ps(y + 8, hi);
        return;
    }
    alignas(32) float tmp[kPanelRows];
    _mm256_store_ps(tmp, lo);
    _mm256_store_ps(tmp + 8, hi);
    std::memcpy(y, tmp, sizeof(float) * std::size_t(nValid));
}

// Accumulators are named variables (not an array): GCC otherwise keeps an array of __m256 in
// memory and stores all twelve every iteration, which halves the speed.
template <int NT>
QF_AVX2 void panelKernelAvx2(const float *wp, const float *x, std::int64_t ldx, int n, float *y,
                             std::int64_t ldy, int nValid)
{
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0;
    __m256 a3 = a0, b3 = a0, a4 = a0, b4 = a0, a5 = a0, b5 = a0;
    const float *x0 = x;
    const float *x1 = NT > 1 ? x + ldx : x;
    const float *x2 = NT > 2 ? x + 2 * ldx : x;
    const float *x3 = NT > 3 ? x + 3 * ldx : x;
    const float *x4 = NT > 4 ? x + 4 * ldx : x;
    const float *x5 = NT > 5 ? x + 5 * ldx : x;
    for (int k = 0; k < n; ++k) {
        const __m256 w0 = _mm256_loadu_ps(wp + std::int64_t(k) * kPanelRows);
        const __m256 w1 = _mm256_loadu_ps(wp + std::int64_t(k) * kPanelRows + 8);
        __m256 c = _mm256_broadcast_ss(x0 + k);
        a0 = _mm256_fmadd_ps(c, w0, a0);
        b0 = _mm256_fmadd_ps(c, w1, b0);
        if constexpr (NT > 1) {
            c = _mm256_broadcast_ss(x1 + k);
            a1 = _mm256_fmadd_ps(c, w0, a1);
            b1 = _mm256_fmadd_ps(c, w1, b1);
        }
        if constexpr (NT > 2) {
            c = _mm256_broadcast_ss(x2 + k);
            a2 = _mm256_fmadd_ps(c, w0, a2);
            b2 = _mm256_fmadd_ps(c, w1, b2);
        }
        if constexpr (NT > 3) {
            c = _mm256_broadcast_ss(x3 + k);
            a3 = _mm256_fmadd_ps(c, w0, a3);
            b3 = _mm256_fmadd_ps(c, w1, b3);
        }
        if constexpr (NT > 4) {
            c = _mm256_broadcast_ss(x4 + k);
            a4 = _mm256_fmadd_ps(c, w0, a4);
            b4 = _mm256_fmadd_ps(c, w1, b4);
        }
        if constexpr (NT > 5) {
            c = _mm256_broadcast_ss(x5 + k);
            a5 = _mm256_fmadd_ps(c, w0, a5);
            b5 = _mm256_fmadd_ps(c, w1, b5);
        }
    }
    storeRow(y, a0, b0, nValid);
    if constexpr (NT > 1)
        storeRow(y + ldy, a1, b1, nValid);
    if constexpr (NT > 2)
        storeRow(y + 2 * ldy, a2, b2, nValid);
    if constexpr (NT > 3)
        storeRow(y + 3 * ldy, a3, b3, nValid);
    if constexpr (NT > 4)
        storeRow(y + 4 * ldy, a4, b4, nValid);
    if constexpr (NT > 5)
        storeRow(y + 5 * ldy, a5, b5, nValid);
}

using PanelKernel = void (*)(const float *, const float *, std::int64_t, int, float *,
                             std::int64_t, int);

const PanelKernel kPortableKernels[kTokenBlock + 1] = {
    nullptr,
    panelKernelPortable<1>, panelKernelPortable<2>, panelKernelPortable<3>,
    panelKernelPortable<4>, panelKernelPortable<5>, panelKernelPortable<6>,
};
const PanelKernel kAvx2Kernels[kTokenBlock + 1] = {
    nullptr,
    panelKernelAvx2<1>, panelKernelAvx2<2>, panelKernelAvx2<3>,
    panelKernelAvx2<4>, panelKernelAvx2<5>, panelKernelAvx2<6>,
};

// Decodes up to 16 rows starting at `row0` and stores them transposed into `wp` ([n][16]);
// rows past nOut are zero.
void packPanel(const WeightMatrix &w, std::int64_t row0, float *wp, float *rowBuf)
{
    const std::int64_t n = w.nIn;
    const int nValid = int(std::min<std::int64_t>(kPanelRows, w.nOut - row0));
    for (int r = 0; r < kPanelRows; ++r) {
        if (r >= nValid) {
            for (std::int64_t k = 0; k < n; ++k)
                wp[k * kPanelRows + r] = 0.0f;
            continue;
        }
        const float *src = rowBuf;
        if (w.type == GgmlType::F32)
            src = reinterpret_cast<const float *>(w.data + std::uint64_t(row0 + r) * w.rowBytes);
        else
            decodeRow(w, row0 + r, rowBuf);
        for (std::int64_t k = 0; k < n; ++k)
            wp[k * kPanelRows + r] = src[k];
    }
}

// The row-dot kernels the options allow (codecs/vecdot.h).
DotPath dotPathFor(const MatmulOptions &options)
{
    return options.portable ? DotPath::Portable
        : options.allowAvx512 ? DotPath::Auto
                              : DotPath::Avx2;
}

// Small batches over quantized weights: each token quantized once to the weight's 8-bit dot
// type, then one integer row dot per output (codecs/vecdot.h), rows split over threads.
void matmulRowsQ8(const WeightMatrix &w, const float *x, int nTokens, float *y,
                  const MatmulOptions &options, int nThreads, JobContext *ctx)
{
    const ActivationType actType = activationTypeFor(w.type);
    const std::int64_t n = w.nIn;
    const std::int64_t nOut = w.nOut;
    const std::int64_t xqBytes = activationQ8Bytes(actType, n);
    std::vector<std::uint8_t> xq(std::size_t(xqBytes) * std::size_t(nTokens));
    for (int t = 0; t < nTokens; ++t)
        quantizeActivationsQ8(actType, x + std::int64_t(t) * n, xq.data() + t * xqBytes, n);
    const DotPath path = dotPathFor(options);
    // Chunks of 64 rows: enough for load balance, few enough to keep the overhead low; at
    // least 8 chunks per thread for small matrices (MoE experts), whose regions are short.
    const std::int64_t kRowsPerChunk =
        std::clamp<std::int64_t>(nOut / (std::int64_t(nThreads) * 8), 16, 64);
    const std::int64_t nChunks = (nOut + kRowsPerChunk - 1) / kRowsPerChunk;
    parallelFor(std::uint64_t(nChunks), nThreads, [&](std::uint64_t chunk) {
        const std::int64_t rowBegin = std::int64_t(chunk) * kRowsPerChunk;
        const std::int64_t rowEnd = std::min(nOut, rowBegin + kRowsPerChunk);
        for (int t = 0; t < nTokens; ++t) {
            float *yt = y + std::int64_t(t) * nOut;
            dotRowsQ8With(path, w.type, w.data + std::uint64_t(rowBegin) * w.rowBytes, w.rowBytes,
                          rowEnd - rowBegin, xq.data() + t * xqBytes, n, yt + rowBegin);
            if (w.bias) {
                for (std::int64_t o = rowBegin; o < rowEnd; ++o)
                    yt[o] += w.bias[o];
            }
        }
    }, ctx);
}

} // namespace

bool canDecode(GgmlType type)
{
    if (type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16)
        return true;
    return kernelsFor(type).dequantizeRow != nullptr;
}

void decodeRow(const WeightMatrix &w, std::int64_t row, float *out)
{
    const std::uint8_t *src = w.data + std::uint64_t(row) * w.rowBytes;
    switch (w.type) {
    case GgmlType::F32:
        std::memcpy(out, src, sizeof(float) * std::size_t(w.nIn));
        return;
    case GgmlType::F16:
        if (haveAvx2()) {
            f16RowAvx2(reinterpret_cast<const std::uint16_t *>(src), out, w.nIn);
        } else {
            const auto *h = reinterpret_cast<const std::uint16_t *>(src);
            for (std::int64_t i = 0; i < w.nIn; ++i)
                out[i] = fp16ToFp32(h[i]);
        }
        return;
    case GgmlType::BF16: {
        const auto *h = reinterpret_cast<const std::uint16_t *>(src);
        for (std::int64_t i = 0; i < w.nIn; ++i)
            out[i] = bf16ToFp32(h[i]);
        return;
    }
    default:
        break;
    }
    const auto fn = kernelsFor(w.type).dequantizeRow;
    if (!fn)
        throw Error(QStringLiteral("cannot read tensor '%1': type %2 is not supported")
                        .arg(QString::fromUtf8(w.name), ggmlTypeName(w.type)));
    fn(src, out, w.nIn);
}

namespace {

// Whether matmul() takes the row-dot Q8 path (matmulRowsQ8) for `w` and this batch.
bool takesRowsQ8(const WeightMatrix &w, int nTokens, const MatmulOptions &options)
{
    const ActivationType actType = activationTypeFor(w.type);
    return nTokens < options.minBatchedTokens && options.roundActivations
        && canDecode(w.type) && activationQ8Bytes(actType, w.nIn) > 0
        && q8ActivationType(w.type) && q8RowLengthOk(w.type, w.nIn);
}

} // namespace

void matmulGroup(std::span<const MatmulTask> tasks, int nTokens, const MatmulOptions &options,
                 JobContext *ctx)
{
    if (nTokens <= 0)
        return;
    // Row-dot tasks: one quantized copy per distinct (input, activation type, width).
    struct Input {
        const float *x;
        ActivationType type;
        std::int64_t n;
        std::int64_t bytes; // per token
        std::size_t offset; // into xq
    };
    struct Rows {
        const MatmulTask *task;
        const Input *input;
    };
    std::vector<Input> inputs;
    std::vector<Rows> rowTasks;
    inputs.reserve(tasks.size());
    rowTasks.reserve(tasks.size());
    std::size_t xqBytes = 0;
    for (const MatmulTask &task : tasks) {
        if (task.w->nOut <= 0)
            continue;
        if (!takesRowsQ8(*task.w, nTokens, options)) {
            matmul(*task.w, task.x, nTokens, task.y, options, ctx);
            continue;
        }
        const ActivationType type = activationTypeFor(task.w->type);
        const auto same = [&](const Input &in) {
            return in.x == task.x && in.type == type && in.n == task.w->nIn;
        };
        auto it = std::find_if(inputs.begin(), inputs.end(), same);
        if (it == inputs.end()) {
            const std::int64_t bytes = activationQ8Bytes(type, task.w->nIn);
            inputs.push_back({task.x, type, task.w->nIn, bytes, xqBytes});
            xqBytes += std::size_t(bytes) * std::size_t(nTokens);
            it = inputs.end() - 1;
        }
        rowTasks.push_back({&task, &*it}); // stable: inputs has room for every task
    }
    if (rowTasks.empty())
        return;
    std::vector<std::uint8_t> xq(xqBytes);
    for (const Input &in : inputs) {
        for (int t = 0; t < nTokens; ++t)
            quantizeActivationsQ8(in.type, in.x + std::int64_t(t) * in.n,
                                  xq.data() + in.offset + std::size_t(t) * std::size_t(in.bytes),
                                  in.n);
    }
    // Chunks of up to 512 rows of one task each, at least 8 per thread. Why larger than
    // matmulRowsQ8's 64: each thread takes a contiguous run of chunks (parallelFor), so chunks
    // only set how finely the threads balance at the end, and a MoE token's 16-24 expert
    // products ran 5-13 % faster cut into whole expert slices than into 64-row pieces.
    const int nThreads = options.nThreads > 0 ? options.nThreads : defaultThreadCount();
    std::int64_t totalRows = 0;
    for (const Rows &r : rowTasks)
        totalRows += r.task->w->nOut;
    const std::int64_t rowsPerChunk =
        std::clamp<std::int64_t>(totalRows / (std::int64_t(nThreads) * 8), 16, 512);
    struct Chunk {
        const Rows *rows;
        std::int64_t begin, end;
    };
    std::vector<Chunk> chunks;
    for (const Rows &r : rowTasks) {
        for (std::int64_t b = 0; b < r.task->w->nOut; b += rowsPerChunk)
            chunks.push_back({&r, b, std::min(r.task->w->nOut, b + rowsPerChunk)});
    }
    const DotPath path = dotPathFor(options);
    parallelFor(chunks.size(), nThreads, [&](std::uint64_t c) {
        const Chunk &chunk = chunks[std::size_t(c)];
        const WeightMatrix &w = *chunk.rows->task->w;
        const Input &in = *chunk.rows->input;
        for (int t = 0; t < nTokens; ++t) {
            float *yt = chunk.rows->task->y + std::int64_t(t) * w.nOut;
            dotRowsQ8With(path, w.type, w.data + std::uint64_t(chunk.begin) * w.rowBytes,
                          w.rowBytes, chunk.end - chunk.begin,
                          xq.data() + in.offset + std::size_t(t) * std::size_t(in.bytes), w.nIn,
                          yt + chunk.begin);
            if (w.bias) {
                for (std::int64_t o = chunk.begin; o < chunk.end; ++o)
                    yt[o] += w.bias[o];
            }
        }
    }, ctx);
}

void matmul(const WeightMatrix &w, const float *x, int nTokens, float *y,
            const MatmulOptions &options, JobContext *ctx)
{
    if (nTokens <= 0 || w.nOut <= 0)
        return;
    if (!canDecode(w.type))
        throw Error(QStringLiteral("cannot read tensor '%1': type %2 is not supported")
                        .arg(QString::fromUtf8(w.name), ggmlTypeName(w.type)));
    const bool avx2 = !options.portable && haveAvx2();
    const Kernels &kern = options.portable ? Kernels::portable() : Kernels::best();
    const std::int64_t n = w.nIn;
    const std::int64_t nOut = w.nOut;
    const int nThreads = options.nThreads > 0 ? options.nThreads : defaultThreadCount();
    const bool batched = nTokens >= options.minBatchedTokens;

    if (batched && options.roundActivations && !options.portable
        && canMatmulInt8(w, options.allowAvx512)) {
        matmulInt8(w, x, nTokens, y, nThreads, ctx, options.allowAvx512);
        return;
    }

    const ActivationType actType = activationTypeFor(w.type);
    // Q4_1/Q5_1 batches without the integer panels (no VNNI, or portable) take the row dots
    // too: their min term uses the Q8_1 block sum, which rounded activations do not carry.
    if ((!batched || actType == ActivationType::Q8_1) && options.roundActivations
        && activationQ8Bytes(actType, n) > 0
        && q8ActivationType(w.type) && q8RowLengthOk(w.type, n)) {
        matmulRowsQ8(w, x, nTokens, y, options, nThreads, ctx);
        return;
    }

    std::vector<float> rounded;
    if (options.roundActivations && actType != ActivationType::F32) {
        rounded.resize(std::size_t(nTokens) * std::size_t(n));
        parallelFor(std::uint64_t(nTokens), nTokens >= 16 ? nThreads : 1, [&](std::uint64_t t) {
            roundActivations(actType, x + std::int64_t(t) * n, rounded.data() + std::int64_t(t) * n, n);
        });
        x = rounded.data();
    }

    // Chunks of whole panels; enough chunks for load balance, few enough to keep overhead low.
    const std::int64_t nPanels = (nOut + kPanelRows - 1) / kPanelRows;
    const std::int64_t wantChunks = std::int64_t(nThreads) * 8;
    const std::int64_t panelsPerChunk = std::clamp<std::int64_t>(nPanels / wantChunks, 1, 16);
    const std::int64_t nChunks = (nPanels + panelsPerChunk - 1) / panelsPerChunk;

    parallelFor(std::uint64_t(nChunks), nThreads, [&](std::uint64_t chunk) {
        const std::int64_t rowBegin = std::int64_t(chunk) * panelsPerChunk * kPanelRows;
        const std::int64_t rowEnd = std::min(nOut, rowBegin + panelsPerChunk * kPanelRows);
        std::unique_ptr<float[]> rowBuf(new float[std::size_t(n)]);
        if (!batched && w.type != GgmlType::F32 && canDot(w.type)) {
            // Fused block dot products: no decoded row is written.
            const std::uint8_t *rows = w.data + std::uint64_t(rowBegin) * w.rowBytes;
            for (int t = 0; t < nTokens; ++t) {
                const float *xt = x + std::int64_t(t) * n;
                float *yt = y + std::int64_t(t) * nOut;
                if (options.portable) {
                    for (std::int64_t o = rowBegin; o < rowEnd; ++o)
                        yt[o] = dotRowWith(DotPath::Portable, w.type,
                                           w.data + std::uint64_t(o) * w.rowBytes, xt, n);
                } else {
                    dotRowsWith(dotPathFor(options), w.type, rows, w.rowBytes,
                                rowEnd - rowBegin, xt, n, yt + rowBegin);
                }
            }
        } else if (!batched) {
            for (std::int64_t o = rowBegin; o < rowEnd; ++o) {
                const float *row = rowBuf.get();
                if (w.type == GgmlType::F32)
                    row = reinterpret_cast<const float *>(w.data + std::uint64_t(o) * w.rowBytes);
                else
                    decodeRow(w, o, rowBuf.get());
                for (int t = 0; t < nTokens; ++t)
                    y[std::int64_t(t) * nOut + o] = kern.dotF32(row, x + std::int64_t(t) * n, int(n));
            }
        } else {
            std::unique_ptr<float[]> wp(new float[std::size_t(n) * kPanelRows]);
            const PanelKernel *kernels = avx2 ? kAvx2Kernels : kPortableKernels;
            for (std::int64_t row0 = rowBegin; row0 < rowEnd; row0 += kPanelRows) {
                packPanel(w, row0, wp.get(), rowBuf.get());
                const int nValid = int(std::min<std::int64_t>(kPanelRows, nOut - row0));
                int t = 0;
                for (; t < nTokens; t += kTokenBlock) {
                    const int nt = std::min(kTokenBlock, nTokens - t);
                    kernels[nt](wp.get(), x + std::int64_t(t) * n, n, int(n),
                                y + std::int64_t(t) * nOut + row0, nOut, nValid);
                }
            }
        }
        if (w.bias) {
            for (int t = 0; t < nTokens; ++t) {
                float *yr = y + std::int64_t(t) * nOut;
                for (std::int64_t o = rowBegin; o < rowEnd; ++o)
                    yr[o] += w.bias[o];
            }
        }
    }, ctx);
}

} // namespace QuantFit::Infer
