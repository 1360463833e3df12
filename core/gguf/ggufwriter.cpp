#include "ggufwriter.h"

#include "ggufreader.h"

#include "io/atomicoutput.h"
#include "util/checkedmath.h"
#include "util/error.h"

#include <QSet>

#include <bit>

namespace QuantFit {

namespace {

class Encoder
{
public:
    QByteArray bytes;

    template <typename T>
    void put(T v)
    {
        static_assert(std::endian::native == std::endian::little, "big-endian hosts unsupported");
        bytes.append(reinterpret_cast<const char *>(&v), sizeof(T));
    }

    void putString(const QByteArray &s)
    {
        put<std::uint64_t>(std::uint64_t(s.size()));
        bytes.append(s);
    }

    void putValue(const GgufValue &v)
    {
        switch (v.type()) {
        case GgufValueType::UINT8:
            put<std::uint8_t>(std::uint8_t(v.toUInt64()));
            break;
        case GgufValueType::INT8:
            put<std::int8_t>(std::int8_t(v.toInt64()));
            break;
        case GgufValueType::UINT16:
            put<std::uint16_t>(std::uint16_t(v.toUInt64()));
            break;
        case GgufValueType::INT16:
            put<std::int16_t>(std::int16_t(v.toInt64()));
            break;
        case GgufValueType::UINT32:
            put<std::uint32_t>(std::uint32_t(v.toUInt64()));
            break;
        case GgufValueType::INT32:
            put<std::int32_t>(std::int32_t(v.toInt64()));
            break;
        case GgufValueType::FLOAT32:
            put<float>(float(v.toDouble()));
            break;
        case GgufValueType::BOOL:
            put<std::uint8_t>(v.toBool() ? 1 : 0);
            break;
        case GgufValueType::STRING:
            putString(v.rawString());
            break;
        case GgufValueType::UINT64:
            put<std::uint64_t>(v.toUInt64());
            break;
        case GgufValueType::INT64:
            put<std::int64_t>(v.toInt64());
            break;
        case GgufValueType::FLOAT64:
            put<double>(v.toDouble());
            break;
        case GgufValueType::ARRAY:
            put<std::uint32_t>(static_cast<std::uint32_t>(v.elementType()));
            put<std::uint64_t>(v.arraySize());
            for (const auto &item : v.items())
                putValue(item);
            break;
        }
    }
};

} // namespace

std::uint32_t GgufLayout::alignment() const
{
    const auto *v = metadata.find("general.alignment");
    if (v && v->type() == GgufValueType::UINT32 && isPowerOfTwo(v->toUInt64()))
        return std::uint32_t(v->toUInt64());
    return kGgufDefaultAlignment;
}

void GgufLayout::finalize()
{
    if (const auto *v = metadata.find("general.alignment");
        v && (v->type() != GgufValueType::UINT32 || !isPowerOfTwo(v->toUInt64())))
        throw Error(QStringLiteral("general.alignment must be a uint32 power of two"));
    const std::uint64_t align = alignment();
    QSet<QByteArray> names;
    names.reserve(qsizetype(tensors.size()));
    std::uint64_t offset = 0;
    for (auto &t : tensors) {
        const auto tn = [&t] { return QString::fromUtf8(t.name); }; // for messages only
        if (t.name.isEmpty() || std::uint64_t(t.name.size()) > kGgufMaxTensorName)
            throw Error(QStringLiteral("tensor name '%1' must be 1 to %2 bytes")
                            .arg(tn())
                            .arg(kGgufMaxTensorName));
        if (names.contains(t.name))
            throw Error(QStringLiteral("duplicate tensor name '%1'").arg(tn()));
        names.insert(t.name);
        const auto &facts = typeFacts(t.type);
        if (t.ne[0] % facts.blockSize != 0)
            throw Error(QStringLiteral("tensor '%1': row length %2 is not a multiple of the %3 "
                                       "block size %4")
                            .arg(tn())
                            .arg(t.ne[0])
                            .arg(ggmlTypeName(t.type))
                            .arg(facts.blockSize));
        for (std::uint32_t d = 0; d < t.ne.size(); ++d) {
            if (t.ne[d] == 0)
                throw Error(QStringLiteral("tensor '%1': dimension %2 is zero").arg(tn()).arg(d));
        }
        t.nDims = t.effectiveDims();
        t.nBytes = tensorBytes(t.type, t.ne);
        t.offset = offset;
        offset = alignUp(offset + t.nBytes, align);
    }
}

std::uint64_t GgufLayout::dataOffset() const
{
    // What serializeHeader() writes, counted instead of written (plans ask for it often):
    // magic, version, tensor count, key/value count; per entry the key, value type and value;
    // per tensor info the name, n_dims, the dimensions, type and offset.
    std::uint64_t bytes = 4 + 4 + 8 + 8;
    for (const auto &entry : metadata.entries())
        bytes += 8 + std::uint64_t(entry.key.size()) + 4 + entry.value.encodedBytes();
    for (const auto &t : tensors)
        bytes += 8 + std::uint64_t(t.name.size()) + 4 + 8 * std::uint64_t(t.nDims) + 4 + 8;
    return alignUp(bytes, alignment());
}

std::uint64_t GgufLayout::fileBytes() const
{
    std::uint64_t total = dataOffset();
    const std::uint64_t align = alignment();
    for (const auto &t : tensors)
        total += alignUp(t.nBytes, align);
    return total;
}

QByteArray GgufLayout::serializeHeader() const
{
    Encoder e;
    e.bytes.append("GGUF", 4);
    e.put<std::uint32_t>(3);
    e.put<std::uint64_t>(tensors.size());
    e.put<std::uint64_t>(metadata.size());
    for (const auto &entry : metadata.entries()) {
        e.putString(entry.key);
        e.put<std::uint32_t>(static_cast<std::uint32_t>(entry.value.type()));
        e.putValue(entry.value);
    }
    for (const auto &t : tensors) {
        e.putString(t.name);
        e.put<std::uint32_t>(t.nDims);
        for (std::uint32_t d = 0; d < t.nDims; ++d)
            e.put<std::uint64_t>(t.ne[d]);
        e.put<std::uint32_t>(static_cast<std::uint32_t>(t.type));
        e.put<std::uint64_t>(t.offset);
    }
    const auto padded = alignUp(std::uint64_t(e.bytes.size()), alignment());
    e.bytes.append(qsizetype(padded - std::uint64_t(e.bytes.size())), '\0');
    return e.bytes;
}

GgufWriter::GgufWriter(const QString &path, GgufLayout layout)
    : m_layout(std::move(layout))
{
    m_layout.finalize();
    const QByteArray header = m_layout.serializeHeader();
    m_out = std::make_unique<AtomicOutput>(path, m_layout.fileBytes());
    m_out->write(header);
    advanceFinishedTensors();
}

GgufWriter::~GgufWriter() = default;

void GgufWriter::writeRaw(std::span<const std::uint8_t> bytes)
{
    m_out->write(bytes);
}

void GgufWriter::advanceFinishedTensors()
{
    const std::uint64_t align = m_layout.alignment();
    while (m_current < m_layout.tensors.size()
           && m_writtenInTensor == m_layout.tensors[m_current].nBytes) {
        const std::uint64_t n = m_layout.tensors[m_current].nBytes;
        m_out->writeZeros(alignUp(n, align) - n);
        ++m_current;
        m_writtenInTensor = 0;
    }
}

void GgufWriter::writeTensorData(std::span<const std::uint8_t> bytes)
{
    while (!bytes.empty()) {
        if (m_current >= m_layout.tensors.size())
            throw Error(QStringLiteral("%1: more tensor data than the layout holds")
                            .arg(m_out->path()));
        const auto &t = m_layout.tensors[m_current];
        const std::uint64_t take = std::min<std::uint64_t>(bytes.size(), t.nBytes - m_writtenInTensor);
        writeRaw(bytes.first(std::size_t(take)));
        m_writtenInTensor += take;
        bytes = bytes.subspan(std::size_t(take));
        advanceFinishedTensors();
    }
}

void GgufWriter::commit()
{
    if (m_current != m_layout.tensors.size())
        throw Error(QStringLiteral("%1: tensor '%2' is incomplete (%3 of %4 bytes written)")
                        .arg(m_out->path(),
                             QString::fromUtf8(m_layout.tensors[m_current].name))
                        .arg(m_writtenInTensor)
                        .arg(m_layout.tensors[m_current].nBytes));
    if (m_out->bytesWritten() != m_layout.fileBytes())
        throw Error(QStringLiteral("%1: wrote %2 bytes, the layout says %3")
                        .arg(m_out->path())
                        .arg(m_out->bytesWritten())
                        .arg(m_layout.fileBytes()));
    m_out->commit();
}

void writeGgufFile(const QString &path, GgufLayout layout, const std::vector<QByteArray> &tensorData)
{
    GgufWriter writer(path, std::move(layout));
    if (tensorData.size() != writer.layout().tensors.size())
        throw Error(QStringLiteral("%1: %2 tensor buffers for %3 tensors")
                        .arg(path)
                        .arg(tensorData.size())
                        .arg(writer.layout().tensors.size()));
    for (std::size_t i = 0; i < tensorData.size(); ++i) {
        const auto &t = writer.layout().tensors[i];
        if (std::uint64_t(tensorData[i].size()) != t.nBytes)
            throw Error(QStringLiteral("%1: tensor '%2' has %3 bytes of data, expected %4")
                            .arg(path, QString::fromUtf8(t.name))
                            .arg(tensorData[i].size())
                            .arg(t.nBytes));
        writer.writeTensorData(std::span(reinterpret_cast<const std::uint8_t *>(tensorData[i].constData()),
                                         std::size_t(tensorData[i].size())));
    }
    writer.commit();
}

} // namespace QuantFit
