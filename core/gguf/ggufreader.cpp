#include "ggufreader.h"

#include "util/bytereader.h"
#include "util/checkedmath.h"
#include "util/error.h"

#include <QRegularExpression>
#include <QSet>

#include <limits>

namespace QuantFit {

namespace {

constexpr std::uint32_t kMagic = 0x46554747; // "GGUF" read as little-endian uint32
// Smallest encodings, used to reject counts that cannot fit in the bytes left before sizing
// anything from them.
constexpr std::uint64_t kMinKvBytes = 8 + 4 + 1;         // empty-ish key length, type, 1-byte value
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;

class Parser
{
public:
    Parser(ByteReader &r, bool skipLargeArrays = false)
        : m_r(r)
        , m_skipLargeArrays(skipLargeArrays)
    {
    }

    QByteArray readString(const QString &field, std::uint64_t maxBytes = kGgufMaxStringBytes)
    {
        const std::uint64_t at = m_r.offset();
        const auto len = m_r.read<std::uint64_t>(field + QStringLiteral(" length"));
        if (len > maxBytes)
            m_r.failAt(at, field,
                       QStringLiteral("string length %1 exceeds the limit of %2 bytes")
                           .arg(len)
                           .arg(maxBytes));
        if (len > m_r.remaining())
            m_r.failAt(at, field,
                       QStringLiteral("string length %1 exceeds the %2 bytes left in the file")
                           .arg(len)
                           .arg(m_r.remaining()));
        const auto bytes = m_r.readBytes(len, field);
        return QByteArray(reinterpret_cast<const char *>(bytes.data()), qsizetype(len));
    }

    GgufValueType readValueType(const QString &field)
    {
        const std::uint64_t at = m_r.offset();
        const auto t = m_r.read<std::uint32_t>(field);
        if (t >= kGgufValueTypeCount)
            m_r.failAt(at, field,
                       QStringLiteral("unknown value type %1 (expected 0..12)").arg(t));
        return static_cast<GgufValueType>(t);
    }

    static std::uint64_t minEncodedBytes(GgufValueType t)
    {
        if (t == GgufValueType::STRING)
            return 8;
        if (t == GgufValueType::ARRAY)
            return 12;
        return ggufScalarBytes(t);
    }

    GgufValue readValue(GgufValueType type, const QString &field, std::uint32_t depth)
    {
        switch (type) {
        case GgufValueType::UINT8:
            return GgufValue::fromUInt(type, m_r.read<std::uint8_t>(field));
        case GgufValueType::INT8:
            return GgufValue::fromInt(type, m_r.read<std::int8_t>(field));
        case GgufValueType::UINT16:
            return GgufValue::fromUInt(type, m_r.read<std::uint16_t>(field));
        case GgufValueType::INT16:
            return GgufValue::fromInt(type, m_r.read<std::int16_t>(field));
        case GgufValueType::UINT32:
            return GgufValue::fromUInt(type, m_r.read<std::uint32_t>(field));
        case GgufValueType::INT32:
            return GgufValue::fromInt(type, m_r.read<std::int32_t>(field));
        case GgufValueType::FLOAT32:
            return GgufValue::fromFloat(type, m_r.read<float>(field));
        case GgufValueType::BOOL: {
            const std::uint64_t at = m_r.offset();
            Q_UNUSED(at);
            // Any non-zero byte is true, as ggml reads it.
            return GgufValue::fromBool(m_r.read<std::uint8_t>(field) != 0);
        }
        case GgufValueType::STRING:
            return GgufValue::fromString(readString(field));
        case GgufValueType::UINT64:
            return GgufValue::fromUInt(type, m_r.read<std::uint64_t>(field));
        case GgufValueType::INT64:
            return GgufValue::fromInt(type, m_r.read<std::int64_t>(field));
        case GgufValueType::FLOAT64:
            return GgufValue::fromFloat(type, m_r.read<double>(field));
        case GgufValueType::ARRAY:
            return readArray(field, depth);
        }
        m_r.fail(field, QStringLiteral("unknown value type"));
    }

    GgufValue readArray(const QString &field, std::uint32_t depth)
    {
        const std::uint64_t at = m_r.offset();
        if (depth >= kGgufMaxArrayDepth)
            m_r.failAt(at, field,
                       QStringLiteral("arrays nested more than %1 deep").arg(kGgufMaxArrayDepth));
        const GgufValueType elementType = readValueType(field + QStringLiteral(" element type"));
        const std::uint64_t countAt = m_r.offset();
        const auto n = m_r.read<std::uint64_t>(field + QStringLiteral(" length"));
        if (n > kGgufMaxArrayItems)
            m_r.failAt(countAt, field + QStringLiteral(" length"),
                       QStringLiteral("array of %1 items exceeds the limit of %2")
                           .arg(n)
                           .arg(kGgufMaxArrayItems));
        const std::uint64_t minBytes = minEncodedBytes(elementType);
        if (n > m_r.remaining() / minBytes)
            m_r.failAt(countAt, field + QStringLiteral(" length"),
                       QStringLiteral("array of %1 %2 items needs at least %3 bytes, %4 left")
                           .arg(n)
                           .arg(ggufValueTypeName(elementType))
                           .arg(n * minBytes)
                           .arg(m_r.remaining()));
        // Mode::Summary: a long array (a vocabulary, its merges and scores) is checked item by
        // item against the bytes left, but not kept: building its values is almost all of the
        // time a header read takes.
        if (m_skipLargeArrays && depth == 0 && n > kGgufSummaryArrayItems
            && elementType != GgufValueType::ARRAY) {
            const QString lengthField = field + QStringLiteral(" length");
            for (std::uint64_t i = 0; elementType == GgufValueType::STRING && i < n; ++i) {
                const std::uint64_t itemAt = m_r.offset();
                const auto len = m_r.read<std::uint64_t>(lengthField);
                if (len > kGgufMaxStringBytes || len > m_r.remaining())
                    m_r.failAt(itemAt, field,
                               QStringLiteral("string length %1 exceeds the %2 bytes left in the "
                                              "file").arg(len).arg(m_r.remaining()));
                m_r.skip(len, field);
            }
            if (elementType != GgufValueType::STRING)
                m_r.skip(n * minBytes, field);
            return GgufValue::fromArray(elementType, {});
        }
        std::vector<GgufValue> items;
        items.reserve(std::size_t(n));
        for (std::uint64_t i = 0; i < n; ++i)
            items.push_back(readValue(elementType, field, depth + 1));
        return GgufValue::fromArray(elementType, std::move(items));
    }

private:
    ByteReader &m_r;
    bool m_skipLargeArrays;
};

} // namespace

GgufFile GgufFile::open(const QString &path, Mode mode, Split split)
{
    GgufFile f = openOne(path, mode);
    if (split == Split::WholeModel)
        f.openOtherFiles();
    return f;
}

std::optional<SplitFileName> SplitFileName::parse(const QString &path)
{
    static const QRegularExpression pattern(QStringLiteral("^(.*)-(\\d{5})-of-(\\d{5})\\.gguf$"));
    const QRegularExpressionMatch m = pattern.match(path);
    if (!m.hasMatch())
        return std::nullopt;
    return SplitFileName{m.captured(1), m.captured(2).toUInt(), m.captured(3).toUInt()};
}

QString SplitFileName::pathOf(std::uint64_t n) const
{
    return QStringLiteral("%1-%2-of-%3.gguf")
        .arg(prefix)
        .arg(n, 5, 10, QLatin1Char('0'))
        .arg(count, 5, 10, QLatin1Char('0'));
}

namespace {

std::uint64_t splitKey(const GgufMetadata &md, const QByteArray &key, const QString &path)
{
    const GgufValue *v = md.find(key);
    if (!v)
        throw Error(QStringLiteral("%1: metadata key '%2' is missing: a split model's files all "
                                   "carry split.no and split.count").arg(path, QString::fromLatin1(key)));
    if (!v->isInteger() || v->toInt64() < 0)
        throw Error(QStringLiteral("%1: metadata key '%2' must be a non-negative integer (found %3)")
                        .arg(path, QString::fromLatin1(key), v->display()));
    return v->toUInt64();
}

} // namespace

bool GgufFile::isSplitPart() const
{
    const GgufValue *count = m_metadata.find("split.count");
    return count && count->isInteger() && count->toInt64() > 1;
}

void GgufFile::openOtherFiles()
{
    if (!m_metadata.contains("split.count") || !m_shards.empty())
        return;
    const std::uint64_t count = splitKey(m_metadata, "split.count", m_path);
    const std::uint64_t no = splitKey(m_metadata, "split.no", m_path);
    if (count > 65535)
        throw Error(QStringLiteral("%1: split.count is %2; a split model has at most 65535 files")
                        .arg(m_path).arg(count));
    if (count <= 1)
        return;
    const std::optional<SplitFileName> name = SplitFileName::parse(m_path);
    if (no != 0) {
        const QString first = name ? SplitFileName{name->prefix, 1, std::uint32_t(count)}.pathOf(1)
                                   : QStringLiteral("the file numbered 00001");
        throw Error(QStringLiteral("%1 is file %2 of %3 of a split model: open the first file, %4")
                        .arg(m_path).arg(no + 1).arg(count).arg(first));
    }
    if (!name || name->number != 1 || name->count != count)
        throw Error(QStringLiteral("%1 is the first of %2 files of a split model, but its name does "
                                   "not follow llama.cpp's NAME-00001-of-%3.gguf, so the other files "
                                   "cannot be found")
                        .arg(m_path)
                        .arg(count)
                        .arg(count, 5, 10, QLatin1Char('0')));
    // Everything is collected first and committed at the end: on an error this file is unchanged.
    const Mode mode = m_hasData ? Mode::Full : Mode::MetadataOnly;
    std::vector<GgufTensorInfo> tensors = m_tensors;
    std::vector<std::shared_ptr<const GgufFile>> shards;
    QSet<QByteArray> names;
    for (const auto &t : tensors)
        names.insert(t.name);
    for (std::uint64_t i = 1; i < count; ++i) {
        const QString path = name->pathOf(i + 1);
        auto shard = std::make_shared<GgufFile>(openOne(path, mode));
        if (splitKey(shard->m_metadata, "split.no", path) != i
            || splitKey(shard->m_metadata, "split.count", path) != count)
            throw Error(QStringLiteral("%1: split.no %2 of split.count %3 does not make it file %4 "
                                       "of %5 of %6")
                            .arg(path)
                            .arg(shard->m_metadata.uintOr("split.no", 0))
                            .arg(shard->m_metadata.uintOr("split.count", 0))
                            .arg(i + 1)
                            .arg(count)
                            .arg(m_path));
        for (GgufTensorInfo t : shard->m_tensors) {
            if (names.contains(t.name))
                throw Error(QStringLiteral("%1: tensor '%2' is also in an earlier file of the split "
                                           "model").arg(path, QString::fromUtf8(t.name)));
            names.insert(t.name);
            t.shard = std::uint32_t(i);
            tensors.push_back(std::move(t));
        }
        shards.push_back(std::move(shard));
    }
    if (const GgufValue *total = m_metadata.find("split.tensors.count");
        total && total->isInteger() && total->toUInt64() != tensors.size())
        throw Error(QStringLiteral("%1: split.tensors.count says %2 tensors, the %3 files hold %4")
                        .arg(m_path)
                        .arg(total->toUInt64())
                        .arg(count)
                        .arg(tensors.size()));
    for (std::size_t k = m_tensors.size(); k < tensors.size(); ++k)
        m_index.insert(tensors[k].name, k);
    m_tensors = std::move(tensors);
    m_shards = std::move(shards);
}

QStringList GgufFile::filePaths() const
{
    QStringList paths{m_path};
    for (const auto &s : m_shards)
        paths << s->m_path;
    return paths;
}

std::uint64_t GgufFile::fileOffset(const GgufTensorInfo &info) const
{
    if (info.shard == 0 || info.shard > m_shards.size())
        return m_dataOffset + info.offset;
    return m_shards[info.shard - 1]->m_dataOffset + info.offset;
}

std::uint64_t GgufFile::totalFileSize() const
{
    std::uint64_t total = m_fileSize;
    for (const auto &s : m_shards)
        total += s->m_fileSize;
    return total;
}

GgufFile GgufFile::openOne(const QString &path, Mode mode)
{
    GgufFile f;
    f.m_path = path;
    f.m_map = std::make_shared<MappedFile>(path);
    f.m_fileSize = f.m_map->size();
    f.parse(f.m_map->bytes(), f.m_fileSize, mode == Mode::Summary);
    f.m_hasData = mode == Mode::Full;
    if (!f.m_hasData)
        f.m_map.reset();
    return f;
}

GgufFile GgufFile::fromBuffer(QByteArray bytes, const QString &name)
{
    GgufFile f;
    f.m_path = name;
    f.m_buffer = std::move(bytes);
    f.m_fileSize = std::uint64_t(f.m_buffer.size());
    f.parse(std::span(reinterpret_cast<const std::uint8_t *>(f.m_buffer.constData()),
                      std::size_t(f.m_buffer.size())),
            f.m_fileSize, false);
    f.m_hasData = true;
    return f;
}

void GgufFile::parse(std::span<const std::uint8_t> bytes, std::uint64_t fileSize,
                     bool skipLargeArrays)
{
    ByteReader r(bytes, m_path);
    Parser p(r, skipLargeArrays);

    // 1. header
    if (r.remaining() < 4)
        r.fail(QStringLiteral("magic"),
               QStringLiteral("file is %1 bytes long; a GGUF file starts with the 4-byte magic "
                              "'GGUF'").arg(r.remaining()));
    const auto magic = r.read<std::uint32_t>(QStringLiteral("magic"));
    if (magic != kMagic)
        r.failAt(0, QStringLiteral("magic"),
                 QStringLiteral("expected 'GGUF' (47 47 55 46), found %1: not a GGUF file")
                     .arg(QString::number(magic, 16).rightJustified(8, QLatin1Char('0'))));
    const auto version = r.read<std::uint32_t>(QStringLiteral("version"));
    if (version != 2 && version != 3) {
        QString why;
        if (version == 1)
            why = QStringLiteral("GGUF version 1 is no longer supported (expected 2 or 3)");
        else if (version != 0 && (version & 0xFFFFu) == 0)
            why = QStringLiteral("version %1 looks byte-swapped: big-endian files are not "
                                 "supported (expected 2 or 3)").arg(version);
        else
            why = QStringLiteral("unsupported version %1 (expected 2 or 3)").arg(version);
        r.failAt(4, QStringLiteral("version"), why);
    }
    m_version = version;
    const auto nTensors = r.read<std::uint64_t>(QStringLiteral("tensor_count"));
    const auto nKv = r.read<std::uint64_t>(QStringLiteral("kv_count"));
    if (nKv > r.remaining() / kMinKvBytes)
        r.failAt(16, QStringLiteral("kv_count"),
                 QStringLiteral("%1 key/value records cannot fit in the %2 bytes left")
                     .arg(nKv)
                     .arg(r.remaining()));
    if (nTensors > r.remaining() / kMinTensorInfoBytes)
        r.failAt(8, QStringLiteral("tensor_count"),
                 QStringLiteral("%1 tensor records cannot fit in the %2 bytes left")
                     .arg(nTensors)
                     .arg(r.remaining()));

    // 2. key/value records
    QSet<QByteArray> keys;
    for (std::uint64_t i = 0; i < nKv; ++i) {
        const std::uint64_t keyAt = r.offset();
        const QString where = QStringLiteral("kv[%1].key").arg(i);
        QByteArray key = p.readString(where, 65535);
        if (key.isEmpty())
            r.failAt(keyAt, where, QStringLiteral("empty key"));
        if (keys.contains(key))
            r.failAt(keyAt, QString::fromUtf8(key),
                     QStringLiteral("duplicate key (already defined earlier in the file)"));
        keys.insert(key);
        const QString field = QString::fromUtf8(key);
        const std::uint64_t typeAt = r.offset();
        const GgufValueType type = p.readValueType(field + QStringLiteral(" type"));
        GgufValue value = p.readValue(type, field, 0);
        if (key == "general.alignment") {
            if (type != GgufValueType::UINT32)
                r.failAt(typeAt, field,
                         QStringLiteral("alignment must be a uint32, found %1")
                             .arg(ggufValueTypeName(type)));
            const auto a = value.toUInt64();
            if (!isPowerOfTwo(a))
                r.failAt(typeAt + 4, field,
                         QStringLiteral("alignment %1 is not a power of two").arg(a));
            m_alignment = std::uint32_t(a);
        }
        m_metadata.set(key, std::move(value));
    }

    // 3. tensor infos
    m_tensors.reserve(std::size_t(nTensors));
    std::vector<std::uint64_t> offsetFieldAt;
    offsetFieldAt.reserve(std::size_t(nTensors));
    for (std::uint64_t i = 0; i < nTensors; ++i) {
        GgufTensorInfo t;
        const std::uint64_t nameAt = r.offset();
        const QString where = QStringLiteral("tensor[%1].name").arg(i);
        {
            const auto len = r.read<std::uint64_t>(where + QStringLiteral(" length"));
            if (len > kGgufMaxTensorName)
                r.failAt(nameAt, where,
                         QStringLiteral("tensor name of %1 bytes exceeds the limit of %2")
                             .arg(len)
                             .arg(kGgufMaxTensorName));
            const auto bytes = r.readBytes(len, where);
            t.name = QByteArray(reinterpret_cast<const char *>(bytes.data()), qsizetype(len));
        }
        if (t.name.isEmpty())
            r.failAt(nameAt, where, QStringLiteral("empty tensor name"));
        if (m_index.contains(t.name))
            r.failAt(nameAt, where,
                     QStringLiteral("duplicate tensor name '%1'").arg(QString::fromUtf8(t.name)));
        m_index.insert(t.name, std::size_t(i));
        const QString tn = QStringLiteral("tensor '%1'").arg(QString::fromUtf8(t.name));

        const std::uint64_t dimsAt = r.offset();
        t.nDims = r.read<std::uint32_t>(tn + QStringLiteral(".n_dims"));
        if (t.nDims < 1 || t.nDims > 4)
            r.failAt(dimsAt, tn + QStringLiteral(".n_dims"),
                     QStringLiteral("%1 dimensions (expected 1 to 4)").arg(t.nDims));
        std::uint64_t nElements = 1;
        for (std::uint32_t d = 0; d < t.nDims; ++d) {
            const std::uint64_t neAt = r.offset();
            const QString f = tn + QStringLiteral(".ne[%1]").arg(d);
            const auto ne = r.read<std::int64_t>(f);
            if (ne <= 0)
                r.failAt(neAt, f, QStringLiteral("dimension %1 is not positive").arg(ne));
            const auto prod = checkedMul(nElements, std::uint64_t(ne));
            if (!prod || *prod > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
                r.failAt(neAt, f, QStringLiteral("element count overflows 64 bits"));
            nElements = *prod;
            t.ne[d] = std::uint64_t(ne);
        }
        const std::uint64_t typeAt = r.offset();
        const auto typeId = r.read<std::uint32_t>(tn + QStringLiteral(".type"));
        const TypeFacts *facts = typeFactsFor(typeId);
        if (!facts)
            r.failAt(typeAt, tn + QStringLiteral(".type"),
                     QStringLiteral("unknown or removed tensor type id %1").arg(typeId));
        t.type = facts->type;
        if (t.ne[0] % facts->blockSize != 0)
            r.failAt(dimsAt + 4, tn + QStringLiteral(".ne[0]"),
                     QStringLiteral("row length %1 is not a multiple of the %2 block size %3")
                         .arg(t.ne[0])
                         .arg(QString::fromLatin1(facts->name.data(), qsizetype(facts->name.size())))
                         .arg(facts->blockSize));
        auto bytes = checkedMul(t.ne[0] / facts->blockSize, facts->blockBytes);
        for (std::uint32_t d = 1; bytes && d < 4; ++d)
            bytes = checkedMul(*bytes, t.ne[d]);
        if (!bytes || *bytes > fileSize)
            r.failAt(dimsAt, tn + QStringLiteral(".ne"),
                     bytes ? QStringLiteral("tensor needs %1 bytes, more than the whole file (%2)")
                                 .arg(*bytes)
                                 .arg(fileSize)
                           : QStringLiteral("byte size overflows 64 bits"));
        t.nBytes = *bytes;
        offsetFieldAt.push_back(r.offset());
        t.offset = r.read<std::uint64_t>(tn + QStringLiteral(".offset"));
        m_tensors.push_back(std::move(t));
    }

    // 4. data section
    const auto dataOffset = checkedAlignUp(r.offset(), m_alignment);
    if (!dataOffset)
        r.fail(QStringLiteral("data offset"), QStringLiteral("overflows 64 bits"));
    m_dataOffset = *dataOffset;
    if (!m_tensors.empty() && m_dataOffset > fileSize)
        r.failAt(r.offset(), QStringLiteral("data section"),
                 QStringLiteral("starts at %1, past the end of the file (%2 bytes): truncated")
                     .arg(m_dataOffset)
                     .arg(fileSize));

    // 5. tensor data: aligned, contiguous in record order (as ggml requires), inside the file
    std::uint64_t expected = 0;
    for (std::size_t i = 0; i < m_tensors.size(); ++i) {
        const auto &t = m_tensors[i];
        const QString f = QStringLiteral("tensor '%1'.offset").arg(QString::fromUtf8(t.name));
        const std::uint64_t at = offsetFieldAt[i];
        if (t.offset % m_alignment != 0)
            r.failAt(at, f,
                     QStringLiteral("offset %1 is not a multiple of the alignment %2")
                         .arg(t.offset)
                         .arg(m_alignment));
        if (t.offset < expected)
            r.failAt(at, f,
                     QStringLiteral("offset %1 overlaps the previous tensor's data (expected %2)")
                         .arg(t.offset)
                         .arg(expected));
        if (t.offset > expected)
            r.failAt(at, f,
                     QStringLiteral("offset %1 leaves a gap after the previous tensor (expected "
                                    "%2: tensor data must be contiguous)")
                         .arg(t.offset)
                         .arg(expected));
        const auto end = checkedAdd(m_dataOffset + t.offset, t.nBytes);
        if (!end || *end > fileSize)
            r.failAt(at, f,
                     QStringLiteral("data [%1, %2) lies outside the file (%3 bytes): truncated")
                         .arg(m_dataOffset + t.offset)
                         .arg(end ? *end : 0)
                         .arg(fileSize));
        const auto next = checkedAlignUp(t.offset + t.nBytes, m_alignment);
        if (!next)
            r.failAt(at, f, QStringLiteral("offset overflows 64 bits"));
        expected = *next;
    }
}

const GgufTensorInfo *GgufFile::findTensor(const QByteArray &name) const
{
    const auto i = tensorIndex(name);
    return i ? &m_tensors[*i] : nullptr;
}

std::optional<std::size_t> GgufFile::tensorIndex(const QByteArray &name) const
{
    const auto it = m_index.constFind(name);
    if (it == m_index.constEnd())
        return std::nullopt;
    return *it;
}

std::span<const std::uint8_t> GgufFile::tensorData(std::size_t index) const
{
    return tensorData(m_tensors.at(index));
}

std::span<const std::uint8_t> GgufFile::tensorData(const GgufTensorInfo &info) const
{
    if (!m_hasData)
        throw Error(QStringLiteral("%1: opened for metadata only; tensor data of '%2' is not "
                                   "available").arg(m_path, QString::fromUtf8(info.name)));
    if (info.shard > 0) {
        if (info.shard > m_shards.size())
            throw Error(QStringLiteral("%1: tensor '%2' names file %3 of a model of %4 file(s)")
                            .arg(m_path, QString::fromUtf8(info.name))
                            .arg(info.shard + 1)
                            .arg(shardCount()));
        GgufTensorInfo local = info;
        local.shard = 0;
        return m_shards[info.shard - 1]->tensorData(local);
    }
    const std::uint8_t *base = m_map ? m_map->bytes().data()
                                     : reinterpret_cast<const std::uint8_t *>(m_buffer.constData());
    return {base + m_dataOffset + info.offset, std::size_t(info.nBytes)};
}

std::uint64_t GgufFile::totalTensorBytes() const
{
    std::uint64_t total = 0;
    for (const auto &t : m_tensors)
        total += t.nBytes;
    return total;
}

} // namespace QuantFit
