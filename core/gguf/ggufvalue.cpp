#include "ggufvalue.h"

#include "util/units.h"

#include <bit>

namespace QuantFit {

QString ggufValueTypeName(GgufValueType type)
{
    static const char *names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                  "bool", "string", "array", "uint64", "int64", "float64"};
    const auto i = static_cast<std::uint32_t>(type);
    return i < kGgufValueTypeCount ? QString::fromLatin1(names[i])
                                   : QStringLiteral("type %1").arg(i);
}

std::uint32_t ggufScalarBytes(GgufValueType type)
{
    switch (type) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL:
        return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16:
        return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32:
        return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64:
        return 8;
    case GgufValueType::STRING:
    case GgufValueType::ARRAY:
        return 0;
    }
    return 0;
}

GgufValue GgufValue::fromUInt(GgufValueType type, std::uint64_t v)
{
    GgufValue r;
    r.m_type = type;
    r.m_bits = v;
    return r;
}

GgufValue GgufValue::fromInt(GgufValueType type, std::int64_t v)
{
    GgufValue r;
    r.m_type = type;
    r.m_bits = static_cast<std::uint64_t>(v);
    return r;
}

GgufValue GgufValue::fromFloat(GgufValueType type, double v)
{
    GgufValue r;
    r.m_type = type;
    if (type == GgufValueType::FLOAT32)
        v = double(float(v));
    r.m_bits = std::bit_cast<std::uint64_t>(v);
    return r;
}

GgufValue GgufValue::fromBool(bool v)
{
    GgufValue r;
    r.m_type = GgufValueType::BOOL;
    r.m_bits = v ? 1 : 0;
    return r;
}

GgufValue GgufValue::fromString(QByteArray utf8)
{
    GgufValue r;
    r.m_type = GgufValueType::STRING;
    r.m_string = std::move(utf8);
    return r;
}

GgufValue GgufValue::fromArray(GgufValueType elementType, std::vector<GgufValue> items)
{
    GgufValue r;
    r.m_type = GgufValueType::ARRAY;
    std::uint64_t bytes = 4 + 8;
    for (const GgufValue &item : items)
        bytes += item.encodedBytes();
    r.m_array = std::make_shared<const ArrayData>(ArrayData{elementType, std::move(items), bytes});
    return r;
}

std::uint64_t GgufValue::encodedBytes() const
{
    switch (m_type) {
    case GgufValueType::STRING:
        return 8 + std::uint64_t(m_string.size());
    case GgufValueType::ARRAY:
        return m_array ? m_array->encodedBytes : 4 + 8;
    default:
        return ggufScalarBytes(m_type);
    }
}

GgufValue GgufValue::stringArray(const QList<QByteArray> &items)
{
    std::vector<GgufValue> v;
    v.reserve(std::size_t(items.size()));
    for (const auto &s : items)
        v.push_back(fromString(s));
    return fromArray(GgufValueType::STRING, std::move(v));
}

GgufValue GgufValue::floatArray(const std::vector<float> &items)
{
    std::vector<GgufValue> v;
    v.reserve(items.size());
    for (float f : items)
        v.push_back(f32(f));
    return fromArray(GgufValueType::FLOAT32, std::move(v));
}

GgufValue GgufValue::int32Array(const std::vector<std::int32_t> &items)
{
    std::vector<GgufValue> v;
    v.reserve(items.size());
    for (auto i : items)
        v.push_back(i32(i));
    return fromArray(GgufValueType::INT32, std::move(v));
}

bool GgufValue::isInteger() const
{
    switch (m_type) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::UINT16:
    case GgufValueType::INT16:
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
        return true;
    default:
        return false;
    }
}

bool GgufValue::isFloat() const
{
    return m_type == GgufValueType::FLOAT32 || m_type == GgufValueType::FLOAT64;
}

std::uint64_t GgufValue::toUInt64() const
{
    if (isFloat())
        return static_cast<std::uint64_t>(toDouble());
    return m_bits;
}

std::int64_t GgufValue::toInt64() const
{
    if (isFloat())
        return static_cast<std::int64_t>(toDouble());
    return static_cast<std::int64_t>(m_bits);
}

double GgufValue::toDouble() const
{
    if (isFloat())
        return std::bit_cast<double>(m_bits);
    switch (m_type) {
    case GgufValueType::INT8:
    case GgufValueType::INT16:
    case GgufValueType::INT32:
    case GgufValueType::INT64:
        return double(static_cast<std::int64_t>(m_bits));
    default:
        return double(m_bits);
    }
}

bool GgufValue::toBool() const
{
    return m_bits != 0;
}

GgufValueType GgufValue::elementType() const
{
    return m_array ? m_array->elementType : GgufValueType::UINT8;
}

std::size_t GgufValue::arraySize() const
{
    return m_array ? m_array->items.size() : 0;
}

const GgufValue &GgufValue::at(std::size_t i) const
{
    return items().at(i);
}

const std::vector<GgufValue> &GgufValue::items() const
{
    static const std::vector<GgufValue> empty;
    return m_array ? m_array->items : empty;
}

QStringList GgufValue::toStringList() const
{
    QStringList r;
    r.reserve(qsizetype(arraySize()));
    for (const auto &v : items())
        r.append(v.toString());
    return r;
}

std::vector<float> GgufValue::toFloatVector() const
{
    std::vector<float> r;
    r.reserve(arraySize());
    for (const auto &v : items())
        r.push_back(float(v.toDouble()));
    return r;
}

std::vector<std::int64_t> GgufValue::toIntVector() const
{
    std::vector<std::int64_t> r;
    r.reserve(arraySize());
    for (const auto &v : items())
        r.push_back(v.toInt64());
    return r;
}

QString GgufValue::display(int maxItems) const
{
    switch (m_type) {
    case GgufValueType::STRING: {
        QString s = toString();
        if (s.size() > 200)
            s = s.left(200) + QStringLiteral("... (%1 chars)").arg(s.size());
        return QLatin1Char('"') + escapeControlCharacters(s) + QLatin1Char('"');
    }
    case GgufValueType::BOOL:
        return toBool() ? QStringLiteral("true") : QStringLiteral("false");
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64:
        return QString::number(toDouble(), 'g', m_type == GgufValueType::FLOAT32 ? 7 : 15);
    case GgufValueType::INT8:
    case GgufValueType::INT16:
    case GgufValueType::INT32:
    case GgufValueType::INT64:
        return QString::number(toInt64());
    case GgufValueType::ARRAY: {
        QString s = QStringLiteral("[");
        const std::size_t n = arraySize();
        for (std::size_t i = 0; i < n && i < std::size_t(maxItems); ++i) {
            if (i)
                s += QStringLiteral(", ");
            s += at(i).display(maxItems);
        }
        if (n > std::size_t(maxItems))
            s += QStringLiteral(", ... (%1 %2 items)").arg(n).arg(ggufValueTypeName(elementType()));
        return s + QLatin1Char(']');
    }
    default:
        return QString::number(toUInt64());
    }
}

bool GgufValue::operator==(const GgufValue &other) const
{
    if (m_type != other.m_type)
        return false;
    if (m_type == GgufValueType::STRING)
        return m_string == other.m_string;
    if (m_type == GgufValueType::ARRAY) {
        if (elementType() != other.elementType())
            return false;
        return items() == other.items();
    }
    return m_bits == other.m_bits;
}

const GgufValue *GgufMetadata::find(const QByteArray &key) const
{
    for (const auto &e : m_entries) {
        if (e.key == key)
            return &e.value;
    }
    return nullptr;
}

void GgufMetadata::set(const QByteArray &key, GgufValue value)
{
    for (auto &e : m_entries) {
        if (e.key == key) {
            e.value = std::move(value);
            return;
        }
    }
    m_entries.push_back(Entry{key, std::move(value)});
}

bool GgufMetadata::remove(const QByteArray &key)
{
    for (auto it = m_entries.begin(); it != m_entries.end(); ++it) {
        if (it->key == key) {
            m_entries.erase(it);
            return true;
        }
    }
    return false;
}

std::uint64_t GgufMetadata::uintOr(const QByteArray &key, std::uint64_t fallback) const
{
    const auto *v = find(key);
    return v && (v->isInteger() || v->type() == GgufValueType::BOOL) ? v->toUInt64() : fallback;
}

double GgufMetadata::floatOr(const QByteArray &key, double fallback) const
{
    const auto *v = find(key);
    return v && (v->isInteger() || v->isFloat()) ? v->toDouble() : fallback;
}

QString GgufMetadata::stringOr(const QByteArray &key, const QString &fallback) const
{
    const auto *v = find(key);
    return v && v->isString() ? v->toString() : fallback;
}

bool GgufMetadata::boolOr(const QByteArray &key, bool fallback) const
{
    const auto *v = find(key);
    return v && v->type() == GgufValueType::BOOL ? v->toBool() : fallback;
}

} // namespace QuantFit
