#include "quantizer.h"

#include "imatrixfile.h"
#include "quantmix.h"
#include "codecs/quantkernels.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "io/atomicoutput.h"
#include "io/diskspace.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QMap>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>

#include <sys/mman.h>
#include <unistd.h>

namespace QuantFit {

namespace {

// One chunk converts about this many elements (1 MiB of F32): a few ms to ~50 ms per chunk
// even for the slowest codec, so progress and cancellation stay well under 250 ms.
constexpr std::uint64_t kChunkElements = 256 * 1024;
// Chunks are grouped into batches of about this much F32 input; a batch's outputs are held in
// memory and written in order, which bounds peak memory independently of the model.
constexpr std::uint64_t kBatchElements = 8 * 1024 * 1024;
// Tensors copied verbatim are written in slices of this size (progress, cancellation).
constexpr std::uint64_t kCopySliceBytes = 32 * MiB;

QString nameOf(const GgufTensorInfo &t)
{
    return QString::fromUtf8(t.name);
}

// Index of the first non-finite value in `row`, or -1. Exponent bits all ones = Inf or NaN.
std::int64_t firstNonFinite(const float *row, std::uint64_t n)
{
    std::uint32_t any = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint32_t bits = std::bit_cast<std::uint32_t>(row[i]);
        any |= std::uint32_t((bits & 0x7F800000u) == 0x7F800000u);
    }
    if (!any)
        return -1;
    for (std::uint64_t i = 0; i < n; ++i) {
        if (!std::isfinite(row[i]))
            return std::int64_t(i);
    }
    return -1;
}

// Drops the mapped input pages of `bytes` from this process (they stay in the page cache and are
// re-read on access). Without this, every input byte touched would count in our resident size
// and peak memory would grow with the model.
void releaseInputPages(std::span<const std::uint8_t> bytes, bool mapped)
{
    if (!mapped)
        return; // on heap memory (a GgufFile built from a buffer) DONTNEED would erase data
    static const std::uintptr_t page = std::uintptr_t(::sysconf(_SC_PAGESIZE));
    const std::uintptr_t begin = (std::uintptr_t(bytes.data()) + page - 1) / page * page;
    const std::uintptr_t end = (std::uintptr_t(bytes.data()) + bytes.size()) / page * page;
    if (end > begin)
        ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}

// Asks the kernel to start reading `bytes` of the mapped input (readahead while the current
// batch is computed); a model on disk then streams instead of faulting page by page.
void prefetchInput(std::span<const std::uint8_t> bytes, bool mapped)
{
    if (!mapped || bytes.empty())
        return;
    static const std::uintptr_t page = std::uintptr_t(::sysconf(_SC_PAGESIZE));
    const std::uintptr_t begin = std::uintptr_t(bytes.data()) / page * page;
    const std::uintptr_t end = std::uintptr_t(bytes.data()) + bytes.size();
    ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_WILLNEED);
}

struct TensorWork {
    const GgufTensorInfo *source = nullptr;
    std::span<const std::uint8_t> sourceBytes;
    std::vector<const PlannedTensor *> planned; // per target
    std::vector<float> importance;              // ne[0] (or ne[0] * ne[2]) values, or empty
    bool anyConversion = false;
};

void checkTargets(const GgufFile &input, const std::vector<QuantizeTarget> &targets,
                  const QuantizeOptions &options)
{
    if (targets.empty())
        throw Error(QStringLiteral("nothing to do: no output file type given"));
    QMap<QString, std::uint64_t> bytesPerFolder;
    QStringList seen;
    for (const auto &t : targets) {
        for (std::uint32_t s = 0; s < t.plan.nShards; ++s) {
            const QString path = shardOutputPath(t.outputPath, s, t.plan.nShards);
            for (const QString &inputFile : input.filePaths())
                ensureDistinctOutput(inputFile, path);
            const QString abs = QFileInfo(path).absoluteFilePath();
            if (seen.contains(abs))
                throw Error(QStringLiteral("output '%1' is given twice").arg(path));
            seen << abs;
        }
        if (t.plan.tensors.size() != targets.front().plan.tensors.size())
            throw Error(QStringLiteral("plan for '%1' has %2 tensors, the first plan %3")
                            .arg(t.outputPath)
                            .arg(t.plan.tensors.size())
                            .arg(targets.front().plan.tensors.size()));
        // llama-quantize's up-front refusal (docs/quantization.md, "Importance matrix"),
        // before any output exists.
        if (!t.plan.refusal.isEmpty())
            throw Error(
                QStringLiteral("%1: %2").arg(fileTypeName(t.plan.fileType), t.plan.refusal));
        if (t.plan.imatrixRequiredBy && !options.imatrix)
            throw Error(imatrixRequirementMessage(t.plan));
        for (const auto &p : t.plan.tensors) {
            if (!p.quantized)
                continue;
            if (!kernelsFor(p.targetType).quantizeRow && p.targetType != GgmlType::F32)
                throw Error(QStringLiteral("%1: cannot write tensor '%2' as %3: this type is not "
                                           "supported yet")
                                .arg(fileTypeName(t.plan.fileType), QString::fromUtf8(p.name),
                                     ggmlTypeName(p.targetType)));
            if (p.source.type != GgmlType::F32 && !kernelsFor(p.source.type).dequantizeRow)
                throw Error(QStringLiteral("cannot read tensor '%1' of type %2")
                                .arg(nameOf(p.source), ggmlTypeName(p.source.type)));
        }
        bytesPerFolder[QFileInfo(t.outputPath).absolutePath()] += t.plan.outputFileBytes;
    }
    for (auto it = bytesPerFolder.cbegin(); it != bytesPerFolder.cend(); ++it)
        requireDiskSpace(it.key(), it.value());
}

// llama-quantize refuses an imatrix with any non-finite number, whichever tensor it belongs to.
void checkImatrixFinite(const ImportanceMatrix &imatrix)
{
    for (const ImportanceEntry &e : imatrix.entries) {
        const auto finite = [](float v) { return std::isfinite(v); };
        if (!std::all_of(e.sumSquares.begin(), e.sumSquares.end(), finite)
            || !std::all_of(e.counts.begin(), e.counts.end(), finite))
            throw Error(QStringLiteral("imatrix contains non-finite value (entry %1)")
                            .arg(QString::fromUtf8(e.name)));
    }
}

// The imatrix values for one tensor (docs/quantization.md, "Importance matrix"): looked up by
// the input name (with --prune-layers: the original layer), length ne[0] * ne[2].
std::vector<float> importanceFor(const ImportanceMatrix *imatrix, const GgufTensorInfo &t,
                                 QStringList &warnings)
{
    if (!imatrix)
        return {};
    const ImportanceEntry *e = imatrix->find(t.name);
    if (!e) {
        warnings << QStringLiteral("imatrix: did not find weights for %1").arg(nameOf(t));
        return {};
    }
    std::vector<float> imp = e->importance();
    const std::uint64_t expected = t.ne[0] * t.ne[2];
    if (imp.size() != expected) {
        if (tensorCategory(t.name) == TensorCategory::TokenEmbedding) {
            warnings << QStringLiteral("imatrix: size %1 differs from tensor size %2 for %3; "
                                       "not used")
                            .arg(imp.size())
                            .arg(expected)
                            .arg(nameOf(t));
            return {};
        }
        throw Error(QStringLiteral("imatrix size %1 is different from tensor size %2 for %3")
                        .arg(imp.size())
                        .arg(expected)
                        .arg(nameOf(t)));
    }
    return imp;
}

// A tensor whose type cannot be written without importance data, and the imatrix has no usable
// entry: refused before any output is created (llama-quantize fails mid-file there).
void checkImportanceAvailable(const PlannedTensor &p, const std::vector<float> &importance)
{
    if (!p.quantized || !importance.empty())
        return;
    if (p.requiresImatrix)
        throw Error(QStringLiteral("Missing importance matrix for tensor %1 in a very low-bit "
                                   "quantization: the imatrix has no usable entry for %2, and "
                                   "%3 needs one")
                        .arg(QString::fromUtf8(p.name), nameOf(p.source),
                             ggmlTypeName(p.targetType)));
    if (typeRequiresImportance(p.targetType))
        throw Error(QStringLiteral("tensor %1: %2 cannot be quantized without importance data "
                                   "and the imatrix has no usable entry for it (llama-imatrix "
                                   "never records token_embd.weight); choose another type for it")
                        .arg(QString::fromUtf8(p.name), ggmlTypeName(p.targetType)));
}

class Converter
{
public:
    Converter(const GgufFile &input, const std::vector<QuantizeTarget> &targets,
              const QuantizeOptions &options, JobContext &ctx,
              std::vector<std::vector<std::unique_ptr<GgufWriter>>> &writers)
        : m_targets(targets)
        , m_options(options)
        , m_ctx(ctx)
        , m_writers(writers)
        , m_buffers(targets.size())
        , m_inputMapped(input.isMapped())
    {
    }

    void run(TensorWork &w);

private:
    void copyTensor(const TensorWork &w);
    void convertChunk(const TensorWork &w, std::uint64_t firstRow, std::uint64_t nRows,
                      std::uint64_t batchFirstRow, std::vector<float> &scratch);

    const std::vector<QuantizeTarget> &m_targets;
    const QuantizeOptions &m_options;
    JobContext &m_ctx;
    std::vector<std::vector<std::unique_ptr<GgufWriter>>> &m_writers; // per target, per file
    std::vector<std::vector<std::uint8_t>> m_buffers; // per target, one batch of output rows
    bool m_inputMapped;
};

void Converter::copyTensor(const TensorWork &w)
{
    auto bytes = w.sourceBytes;
    do {
        const auto slice = bytes.first(std::min<std::size_t>(bytes.size(), kCopySliceBytes));
        const auto rest = bytes.subspan(slice.size());
        prefetchInput(rest.first(std::min<std::size_t>(rest.size(), kCopySliceBytes)),
                      m_inputMapped);
        for (std::size_t t = 0; t < m_writers.size(); ++t)
            m_writers[t][w.planned[t]->shard]->writeTensorData(slice);
        releaseInputPages(slice, m_inputMapped);
        bytes = bytes.subspan(slice.size());
        m_ctx.advance(slice.size());
        m_ctx.throwIfCancelled();
    } while (!bytes.empty());
}

void Converter::convertChunk(const TensorWork &w, std::uint64_t firstRow, std::uint64_t nRows,
                             std::uint64_t batchFirstRow, std::vector<float> &scratch)
{
    const GgufTensorInfo &src = *w.source;
    const std::uint64_t ne0 = src.ne[0];
    const std::uint64_t srcRowBytes = src.rowBytes();
    const std::uint8_t *srcRows = w.sourceBytes.data() + firstRow * srcRowBytes;

    // Source rows as F32: read in place for F32 input, otherwise dequantize into scratch.
    const float *f32 = nullptr;
    if (src.type == GgmlType::F32) {
        f32 = reinterpret_cast<const float *>(srcRows);
    } else {
        scratch.resize(std::size_t(nRows * ne0));
        const auto dequantize = kernelsFor(src.type).dequantizeRow;
        for (std::uint64_t r = 0; r < nRows; ++r)
            dequantize(srcRows + r * srcRowBytes, scratch.data() + r * ne0, std::int64_t(ne0));
        f32 = scratch.data();
    }
    for (std::uint64_t r = 0; r < nRows; ++r) {
        const std::int64_t bad = firstNonFinite(f32 + r * ne0, ne0);
        if (bad >= 0)
            throw Error(QStringLiteral("tensor '%1' row %2 contains %3 at column %4: the input "
                                       "is corrupt")
                            .arg(nameOf(src))
                            .arg(firstRow + r)
                            .arg(std::isnan(f32[r * ne0 + std::uint64_t(bad)])
                                     ? QStringLiteral("NaN")
                                     : QStringLiteral("Inf"))
                            .arg(bad));
    }

    for (std::size_t t = 0; t < m_targets.size(); ++t) {
        const PlannedTensor &p = *w.planned[t];
        std::uint8_t *out = m_buffers[t].data();
        if (!p.quantized) {
            std::memcpy(out + (firstRow - batchFirstRow) * srcRowBytes, srcRows,
                        std::size_t(nRows * srcRowBytes));
            continue;
        }
        const std::uint64_t dstRowBytes = rowBytes(typeFacts(p.targetType), ne0);
        std::uint8_t *dst = out + (firstRow - batchFirstRow) * dstRowBytes;
        if (p.targetType == GgmlType::F32) {
            std::memcpy(dst, f32, std::size_t(nRows * ne0 * sizeof(float)));
            continue;
        }
        const auto quantizeRow = kernelsFor(p.targetType).quantizeRow;
        for (std::uint64_t r = 0; r < nRows; ++r) {
            const float *imp = nullptr;
            if (!w.importance.empty()) {
                // 3-D expert stacks: rows of expert e use the e-th slice of the imatrix.
                const std::uint64_t expert = (firstRow + r) / src.ne[1];
                const std::uint64_t offset = (expert % src.ne[2]) * ne0;
                if (offset + ne0 <= w.importance.size())
                    imp = w.importance.data() + offset;
            }
            quantizeRow(f32 + r * ne0, dst + r * dstRowBytes, std::int64_t(ne0), imp);
        }
    }
    m_ctx.advance(nRows * srcRowBytes);
    m_ctx.throwIfCancelled();
}

void Converter::run(TensorWork &w)
{
    if (!w.anyConversion) {
        copyTensor(w);
        return;
    }
    const GgufTensorInfo &src = *w.source;
    const std::uint64_t ne0 = std::max<std::uint64_t>(1, src.ne[0]);
    const std::uint64_t rows = src.nRows();
    const std::uint64_t rowsPerChunk = std::max<std::uint64_t>(1, kChunkElements / ne0);
    const std::uint64_t rowsPerBatch =
        std::max<std::uint64_t>(rowsPerChunk, kBatchElements / ne0 / rowsPerChunk * rowsPerChunk);

    for (std::uint64_t batchFirst = 0; batchFirst < rows; batchFirst += rowsPerBatch) {
        const std::uint64_t batchRows = std::min(rowsPerBatch, rows - batchFirst);
        const std::uint64_t nextFirst = batchFirst + batchRows;
        if (nextFirst < rows)
            prefetchInput(w.sourceBytes.subspan(
                              std::size_t(nextFirst * src.rowBytes()),
                              std::size_t(std::min(rowsPerBatch, rows - nextFirst) * src.rowBytes())),
                          m_inputMapped);
        for (std::size_t t = 0; t < m_targets.size(); ++t) {
            const GgmlType type = w.planned[t]->targetType;
            m_buffers[t].resize(std::size_t(batchRows * rowBytes(typeFacts(type), ne0)));
        }
        const std::uint64_t nChunks = (batchRows + rowsPerChunk - 1) / rowsPerChunk;
        parallelFor(
            nChunks, m_options.nThreads,
            [&](std::uint64_t chunk) {
                thread_local std::vector<float> scratch;
                const std::uint64_t first = batchFirst + chunk * rowsPerChunk;
                const std::uint64_t n = std::min(rowsPerChunk, batchFirst + batchRows - first);
                convertChunk(w, first, n, batchFirst, scratch);
            },
            &m_ctx);
        for (std::size_t t = 0; t < m_targets.size(); ++t)
            m_writers[t][w.planned[t]->shard]->writeTensorData(m_buffers[t]);
        releaseInputPages(w.sourceBytes.subspan(std::size_t(batchFirst * src.rowBytes()),
                                                std::size_t(batchRows * src.rowBytes())),
                          m_inputMapped);
    }
}

} // namespace

QuantizeResult quantize(const GgufFile &input, const std::vector<QuantizeTarget> &targets,
                        const QuantizeOptions &options, JobContext &ctx)
{
    checkTargets(input, targets, options);
    if (options.imatrix)
        checkImatrixFinite(*options.imatrix);
    QuantizeResult result;
    const std::size_t nTensors = targets.front().plan.tensors.size();

    // Resolve every tensor (and its imatrix slice) before the first byte is written, so that
    // input problems fail fast and nothing is left behind.
    std::vector<TensorWork> work(nTensors);
    for (std::size_t i = 0; i < nTensors; ++i) {
        TensorWork &w = work[i];
        const QByteArray &name = targets.front().plan.tensors[i].source.name;
        const auto index = input.tensorIndex(name);
        if (!index)
            throw Error(QStringLiteral("%1: the plan names tensor '%2', which the input lacks")
                            .arg(input.path(), QString::fromUtf8(name)));
        w.source = &input.tensors()[*index];
        for (const auto &t : targets) {
            const PlannedTensor &p = t.plan.tensors[i];
            if (p.source.name != name || p.source.ne != w.source->ne
                || p.source.type != w.source->type)
                throw Error(QStringLiteral("plan for '%1' does not match the input at tensor '%2'")
                                .arg(t.outputPath, QString::fromUtf8(name)));
            w.planned.push_back(&p);
            w.anyConversion = w.anyConversion || p.quantized;
        }
        if (w.anyConversion)
            w.importance = importanceFor(options.imatrix, *w.source, result.warnings);
        for (const PlannedTensor *p : w.planned)
            checkImportanceAvailable(*p, w.importance);
    }

    std::vector<std::vector<std::unique_ptr<GgufWriter>>> writers(targets.size());
    for (std::size_t t = 0; t < targets.size(); ++t) {
        const QuantPlan &plan = targets[t].plan;
        for (std::uint32_t s = 0; s < plan.nShards; ++s)
            writers[t].push_back(std::make_unique<GgufWriter>(
                shardOutputPath(targets[t].outputPath, s, plan.nShards), plan.outputLayout(s)));
    }

    std::uint64_t total = 0;
    for (const auto &w : work)
        total += w.source->nBytes;
    ctx.setRateUnit(QStringLiteral("MB/s"), 1e6);
    ctx.setStage(targets.size() == 1
                     ? QStringLiteral("Quantizing to %1").arg(fileTypeName(targets.front().plan.fileType))
                     : QStringLiteral("Quantizing to %1 types").arg(targets.size()),
                 total);
    const double start = ctx.elapsedSeconds();
    Converter converter(input, targets, options, ctx, writers);
    const bool mapped = input.isMapped();
    for (std::size_t i = 0; i < nTensors; ++i) {
        work[i].sourceBytes = input.tensorData(*work[i].source);
        if (i + 1 < nTensors) {
            const auto next = input.tensorData(*work[i + 1].source);
            prefetchInput(next.first(std::min<std::size_t>(next.size(), kCopySliceBytes)), mapped);
        }
        converter.run(work[i]);
        work[i].importance = {};
    }
    ctx.flush();
    // Every file is complete here; should renaming one fail, the ones already in place go too,
    // so a set of output files is never left half there.
    QStringList committed;
    try {
        for (std::size_t t = 0; t < targets.size(); ++t) {
            for (std::uint32_t s = 0; s < targets[t].plan.nShards; ++s) {
                writers[t][s]->commit();
                committed << shardOutputPath(targets[t].outputPath, s, targets[t].plan.nShards);
            }
        }
    } catch (...) {
        for (const QString &path : committed)
            QFile::remove(path);
        throw;
    }
    result.seconds = ctx.elapsedSeconds() - start;
    result.inputBytes = total;

    if (options.verify) {
        ctx.setStage(QStringLiteral("Verifying"));
        for (const auto &t : targets) {
            for (std::uint32_t s = 0; s < t.plan.nShards; ++s) {
                const QString path = shardOutputPath(t.outputPath, s, t.plan.nShards);
                try {
                    verifyQuantizedFile(path, t.plan, s);
                } catch (...) {
                    // A broken file is never left as a success (nor its partner files).
                    for (std::uint32_t k = 0; k < t.plan.nShards; ++k)
                        QFile::remove(shardOutputPath(t.outputPath, k, t.plan.nShards));
                    throw;
                }
            }
        }
    }
    for (const auto &t : targets) {
        QuantizeResult::Output o{shardOutputPath(t.outputPath, 0, t.plan.nShards),
                                 t.plan.outputFileBytes, {}};
        for (std::uint32_t s = 0; s < t.plan.nShards; ++s)
            o.files << shardOutputPath(t.outputPath, s, t.plan.nShards);
        result.outputs.push_back(o);
    }
    return result;
}

QString shardOutputPath(const QString &outputPath, std::uint32_t shard, std::uint32_t nShards)
{
    if (nShards <= 1)
        return outputPath;
    QString prefix = outputPath;
    if (prefix.endsWith(QLatin1String(".gguf"), Qt::CaseInsensitive))
        prefix.chop(5);
    return SplitFileName{prefix, shard + 1, nShards}.pathOf(shard + 1);
}

void verifyQuantizedFile(const QString &path, const QuantPlan &plan, std::uint32_t shard)
{
    const GgufFile file =
        GgufFile::open(path, GgufFile::Mode::MetadataOnly, GgufFile::Split::ThisFile);
    auto fail = [&](const QString &what) {
        throw Error(QStringLiteral("verification of '%1' failed: %2").arg(path, what));
    };
    const GgufLayout layout = plan.outputLayout(shard);
    if (file.fileSize() != layout.fileBytes())
        fail(QStringLiteral("file is %1 bytes, the plan says %2")
                 .arg(file.fileSize())
                 .arg(layout.fileBytes()));
    if (!(file.metadata() == layout.metadata))
        fail(QStringLiteral("metadata differs from the plan"));
    if (file.tensors().size() != layout.tensors.size())
        fail(QStringLiteral("%1 tensors, the plan has %2")
                 .arg(file.tensors().size())
                 .arg(layout.tensors.size()));
    for (std::size_t i = 0; i < layout.tensors.size(); ++i) {
        const auto &a = file.tensors()[i];
        const auto &b = layout.tensors[i];
        if (a.name != b.name || a.ne != b.ne || a.type != b.type || a.offset != b.offset
            || a.nBytes != b.nBytes)
            fail(QStringLiteral("tensor %1 is '%2' %3 at offset %4; the plan has '%5' %6 at %7")
                     .arg(i)
                     .arg(QString::fromUtf8(a.name), ggmlTypeName(a.type))
                     .arg(a.offset)
                     .arg(QString::fromUtf8(b.name), ggmlTypeName(b.type))
                     .arg(b.offset));
    }
    if (file.dataOffset() != layout.dataOffset())
        fail(QStringLiteral("data section at %1, the plan has %2")
                 .arg(file.dataOffset())
                 .arg(layout.dataOffset()));
}

QString defaultOutputPath(const QString &inputPath, FileType fileType)
{
    // A file of a split model: the output is one whole file, named after the model.
    const std::optional<SplitFileName> split = SplitFileName::parse(inputPath);
    const QFileInfo info(split ? split->prefix + QStringLiteral(".gguf") : inputPath);
    QString base = info.completeBaseName();
    if (info.suffix().compare(QLatin1String("gguf"), Qt::CaseInsensitive) != 0)
        base = info.fileName();
    const qsizetype dash = base.lastIndexOf(QLatin1Char('-'));
    if (dash > 0 && fileTypeFromName(QStringView(base).mid(dash + 1))
        && !base.mid(dash + 1).front().isDigit())
        base.truncate(dash);
    return info.dir().filePath(base + QLatin1Char('-') + fileTypeName(fileType)
                               + QStringLiteral(".gguf"));
}

} // namespace QuantFit
