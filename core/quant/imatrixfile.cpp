#include "imatrixfile.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "io/atomicoutput.h"
#include "io/mappedfile.h"
#include "util/bytereader.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace QuantFit {

namespace {

constexpr std::int32_t kMaxNameBytes = 1 << 16;

QString entryField(const QByteArray &name, const char *what)
{
    return QStringLiteral("entry '%1' %2").arg(QString::fromUtf8(name), QLatin1String(what));
}

void requireFinite(const std::vector<float> &v, const QString &file, const QByteArray &name)
{
    for (float x : v) {
        if (!std::isfinite(x))
            throw Error(QStringLiteral("imatrix '%1' contains non-finite value in entry '%2'")
                            .arg(file, QString::fromUtf8(name)));
    }
}

std::vector<float> floatsOf(std::span<const std::uint8_t> bytes)
{
    std::vector<float> v(bytes.size() / sizeof(float));
    std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
    return v;
}

// GGUF imatrix (docs/formats.md, "Importance matrices").
ImportanceMatrix readGgufImatrix(const QString &path)
{
    const GgufFile file = GgufFile::open(path);
    const GgufMetadata &md = file.metadata();
    if (!md.contains("imatrix.datasets") || !md.contains("imatrix.chunk_count")
        || !md.contains("imatrix.chunk_size"))
        throw FormatError(path, 0, QStringLiteral("imatrix.* keys"),
                          QStringLiteral("missing imatrix metadata in file (expected "
                                         "imatrix.datasets, imatrix.chunk_count, "
                                         "imatrix.chunk_size)"));
    ImportanceMatrix m;
    if (const GgufValue *ds = md.find("imatrix.datasets"); ds->isArray())
        m.datasets = ds->toStringList();
    m.chunkCount = std::uint32_t(md.uintOr("imatrix.chunk_count", 0));
    m.chunkSize = std::uint32_t(md.uintOr("imatrix.chunk_size", 0));

    struct Pair {
        const GgufTensorInfo *sum2 = nullptr;
        const GgufTensorInfo *counts = nullptr;
    };
    std::map<QByteArray, Pair> pairs;
    for (const auto &t : file.tensors()) {
        if (t.name.endsWith(".in_sum2"))
            pairs[t.name.chopped(8)].sum2 = &t;
        else if (t.name.endsWith(".counts"))
            pairs[t.name.chopped(7)].counts = &t;
    }
    for (const auto &[name, pair] : pairs) {
        if (!pair.sum2 || !pair.counts)
            throw FormatError(path, 0, QString::fromUtf8(name),
                              QStringLiteral("needs both %1.in_sum2 and %1.counts tensors")
                                  .arg(QString::fromUtf8(name)));
        const auto &s = *pair.sum2;
        const auto &c = *pair.counts;
        if (s.type != GgmlType::F32 || c.type != GgmlType::F32)
            throw FormatError(path, 0, QString::fromUtf8(name),
                              QStringLiteral("in_sum2 and counts must be f32"));
        const std::uint64_t nMat = s.ne[1] * s.ne[2] * s.ne[3];
        if (c.nElements() != nMat)
            throw FormatError(path, 0, QString::fromUtf8(c.name),
                              QStringLiteral("has %1 values, expected %2 (one per matrix)")
                                  .arg(c.nElements())
                                  .arg(nMat));
        ImportanceEntry e;
        e.name = name;
        e.nColumns = s.ne[0];
        e.nMatrices = nMat;
        e.sumSquares = floatsOf(file.tensorData(s));
        e.counts = floatsOf(file.tensorData(c));
        requireFinite(e.sumSquares, path, name);
        requireFinite(e.counts, path, name);
        m.entries.push_back(std::move(e));
    }
    return m;
}

} // namespace

std::vector<float> ImportanceEntry::importance() const
{
    std::vector<float> out(sumSquares.size());
    for (std::uint64_t j = 0; j < nMatrices; ++j) {
        const float c = j < counts.size() ? counts[j] : 0.0f;
        for (std::uint64_t k = 0; k < nColumns; ++k) {
            const std::uint64_t i = j * nColumns + k;
            if (i < out.size())
                out[i] = c > 0 ? sumSquares[i] / c : 1.0f;
        }
    }
    return out;
}

const ImportanceEntry *ImportanceMatrix::find(const QByteArray &name) const
{
    for (const auto &e : entries) {
        if (e.name == name)
            return &e;
    }
    return nullptr;
}

void ImportanceMatrix::filter(const QStringList &include, const QStringList &exclude)
{
    auto matchesAny = [](const QByteArray &name, const QStringList &parts) {
        for (const auto &p : parts) {
            if (name.contains(p.toUtf8()))
                return true;
        }
        return false;
    };
    std::erase_if(entries, [&](const ImportanceEntry &e) {
        if (!include.isEmpty() && !matchesAny(e.name, include))
            return true;
        return matchesAny(e.name, exclude);
    });
}

//
// legacy .dat (docs/formats.md, "Importance matrices")
//

ImportanceMatrix parseLegacyImatrix(const QByteArray &bytes, const QString &name)
{
    ByteReader r(std::span(reinterpret_cast<const std::uint8_t *>(bytes.constData()),
                           std::size_t(bytes.size())),
                 name);
    ImportanceMatrix m;
    const std::int32_t n = r.read<std::int32_t>(QStringLiteral("n_entries"));
    // Each entry needs at least 12 bytes, which bounds the count before anything is reserved.
    if (n < 0 || std::uint64_t(n) * 12 > r.remaining())
        r.failAt(0, QStringLiteral("n_entries"),
                 QStringLiteral("%1 entries do not fit in %2 bytes").arg(n).arg(r.remaining()));
    m.entries.reserve(std::size_t(n));
    for (std::int32_t i = 0; i < n; ++i) {
        const std::uint64_t at = r.offset();
        const std::int32_t len = r.read<std::int32_t>(QStringLiteral("name_len"));
        if (len <= 0 || len > kMaxNameBytes)
            r.failAt(at, QStringLiteral("name_len"),
                     QStringLiteral("expected 1 to %1, found %2").arg(kMaxNameBytes).arg(len));
        const auto nameBytes = r.readBytes(std::uint64_t(len), QStringLiteral("name"));
        ImportanceEntry e;
        e.name = QByteArray(reinterpret_cast<const char *>(nameBytes.data()), len);
        const std::int32_t ncall = r.read<std::int32_t>(entryField(e.name, "ncall"));
        const std::uint64_t nvalAt = r.offset();
        const std::int32_t nval = r.read<std::int32_t>(entryField(e.name, "nval"));
        if (nval <= 0 || std::uint64_t(nval) * 4 > r.remaining())
            r.failAt(nvalAt, entryField(e.name, "nval"),
                     QStringLiteral("%1 values do not fit in the %2 bytes left")
                         .arg(nval)
                         .arg(r.remaining()));
        e.sumSquares = floatsOf(r.readBytes(std::uint64_t(nval) * 4, entryField(e.name, "values")));
        requireFinite(e.sumSquares, name, e.name);
        // values are mean * ncall; keeping ncall as the count gives back the mean.
        e.nColumns = std::uint64_t(nval);
        e.nMatrices = 1;
        e.counts = {float(ncall > 0 ? ncall : 0)};
        m.entries.push_back(std::move(e));
    }
    if (r.remaining() >= 4) {
        m.chunkCount = std::uint32_t(std::max(0, r.read<std::int32_t>(QStringLiteral("last_chunk"))));
        if (r.remaining() >= 4) {
            const std::uint64_t at = r.offset();
            const std::int32_t len = r.read<std::int32_t>(QStringLiteral("dataset_len"));
            if (len < 0 || std::uint64_t(len) > r.remaining())
                r.failAt(at, QStringLiteral("dataset_len"),
                         QStringLiteral("%1 bytes do not fit in the %2 left").arg(len).arg(r.remaining()));
            const auto ds = r.readBytes(std::uint64_t(len), QStringLiteral("dataset"));
            m.datasets << QString::fromUtf8(reinterpret_cast<const char *>(ds.data()), len);
        }
    }
    return m;
}

QByteArray serializeLegacyImatrix(const ImportanceMatrix &matrix)
{
    std::vector<const ImportanceEntry *> sorted;
    for (const auto &e : matrix.entries)
        sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto *a, const auto *b) { return a->name < b->name; });
    QByteArray out;
    auto putI32 = [&](std::int32_t v) { out.append(reinterpret_cast<const char *>(&v), 4); };
    auto putF32 = [&](float v) { out.append(reinterpret_cast<const char *>(&v), 4); };
    putI32(std::int32_t(sorted.size()));
    for (const auto *e : sorted) {
        putI32(std::int32_t(e->name.size()));
        out.append(e->name);
        float maxCount = 0;
        for (float c : e->counts)
            maxCount = std::max(maxCount, c);
        const std::int32_t ncall = std::max<std::int32_t>(1, std::int32_t(std::ceil(maxCount)));
        putI32(ncall);
        putI32(std::int32_t(e->sumSquares.size()));
        const std::vector<float> mean = e->importance();
        for (float v : mean)
            putF32(v * float(ncall));
    }
    putI32(std::int32_t(matrix.chunkCount));
    const QByteArray ds = matrix.datasets.isEmpty() ? QByteArray() : matrix.datasets.first().toUtf8();
    putI32(std::int32_t(ds.size()));
    out.append(ds);
    return out;
}

ImportanceMatrix readImportanceMatrix(const QString &path)
{
    const MappedFile map(path);
    const auto bytes = map.bytes();
    if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0)
        return readGgufImatrix(path);
    return parseLegacyImatrix(QByteArray::fromRawData(reinterpret_cast<const char *>(bytes.data()),
                                                      qsizetype(bytes.size())),
                              path);
}

void writeImportanceMatrix(const QString &path, const ImportanceMatrix &matrix,
                           ImatrixFormat format)
{
    if (format == ImatrixFormat::Legacy) {
        AtomicOutput out(path);
        out.write(serializeLegacyImatrix(matrix));
        out.commit();
        return;
    }
    GgufLayout layout;
    layout.metadata.set("general.type", GgufValue::fromString(QByteArray("imatrix")));
    QList<QByteArray> ds;
    for (const auto &d : matrix.datasets)
        ds << d.toUtf8();
    layout.metadata.set("imatrix.datasets", GgufValue::stringArray(ds));
    layout.metadata.set("imatrix.chunk_count", GgufValue::u32(matrix.chunkCount));
    layout.metadata.set("imatrix.chunk_size", GgufValue::u32(matrix.chunkSize));
    std::vector<const ImportanceEntry *> sorted;
    for (const auto &e : matrix.entries)
        sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto *a, const auto *b) { return a->name < b->name; });
    std::vector<QByteArray> data;
    for (const auto *e : sorted) {
        if (e->sumSquares.size() != e->nColumns * e->nMatrices || e->counts.size() != e->nMatrices)
            throw Error(QStringLiteral("imatrix entry '%1': %2 sums and %3 counts for %4 x %5")
                            .arg(QString::fromUtf8(e->name))
                            .arg(e->sumSquares.size())
                            .arg(e->counts.size())
                            .arg(e->nColumns)
                            .arg(e->nMatrices));
        GgufTensorInfo s;
        s.name = e->name + ".in_sum2";
        s.ne = {e->nColumns, e->nMatrices, 1, 1};
        GgufTensorInfo c;
        c.name = e->name + ".counts";
        c.ne = {1, e->nMatrices, 1, 1};
        layout.tensors.push_back(s);
        layout.tensors.push_back(c);
        data.emplace_back(reinterpret_cast<const char *>(e->sumSquares.data()),
                          qsizetype(e->sumSquares.size() * 4));
        data.emplace_back(reinterpret_cast<const char *>(e->counts.data()),
                          qsizetype(e->counts.size() * 4));
    }
    writeGgufFile(path, std::move(layout), data);
}

} // namespace QuantFit
