#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <vector>

namespace QuantFit {

/// GGUF metadata value types (docs/formats.md, "Layout"; the GGUF specification's
/// `gguf_metadata_value_type`).
enum class GgufValueType : std::uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

constexpr std::uint32_t kGgufValueTypeCount = 13;
QString ggufValueTypeName(GgufValueType type);
/// Encoded size of a scalar type, 0 for STRING and ARRAY.
std::uint32_t ggufScalarBytes(GgufValueType type);

/// One metadata value: a scalar, a string (raw UTF-8 bytes, as stored) or an array of values.
/// Integers keep their stored width in `type()`; the accessors widen. Copying is cheap for
/// arrays (shared, immutable after construction).
class GgufValue
{
public:
    GgufValue() = default;

    static GgufValue fromUInt(GgufValueType type, std::uint64_t v);
    static GgufValue fromInt(GgufValueType type, std::int64_t v);
    static GgufValue fromFloat(GgufValueType type, double v);
    static GgufValue fromBool(bool v);
    static GgufValue fromString(QByteArray utf8);
    static GgufValue fromString(const QString &s) { return fromString(s.toUtf8()); }
    static GgufValue fromArray(GgufValueType elementType, std::vector<GgufValue> items);

    // Convenience constructors with the types llama.cpp expects for its keys (UINT32 counts,
    // FLOAT32 parameters; src/llama-arch.cpp in llama.cpp names the keys).
    static GgufValue u32(std::uint32_t v) { return fromUInt(GgufValueType::UINT32, v); }
    static GgufValue i32(std::int32_t v) { return fromInt(GgufValueType::INT32, v); }
    static GgufValue f32(float v) { return fromFloat(GgufValueType::FLOAT32, v); }
    static GgufValue stringArray(const QList<QByteArray> &items);
    static GgufValue floatArray(const std::vector<float> &items);
    static GgufValue int32Array(const std::vector<std::int32_t> &items);

    GgufValueType type() const { return m_type; }
    bool isArray() const { return m_type == GgufValueType::ARRAY; }
    bool isString() const { return m_type == GgufValueType::STRING; }
    bool isInteger() const;
    bool isFloat() const;

    std::uint64_t toUInt64() const; ///< integer value (bool as 0/1); negative ints wrap
    std::int64_t toInt64() const;
    double toDouble() const;        ///< any numeric value
    bool toBool() const;
    const QByteArray &rawString() const { return m_string; }
    QString toString() const { return QString::fromUtf8(m_string); }

    /// Bytes of the value as a GGUF file stores it, after its type field: a scalar's width,
    /// 8 + length for a string, 4 (element type) + 8 (count) + the items for an array. Constant
    /// time (an array's total is counted once, when it is made).
    std::uint64_t encodedBytes() const;

    GgufValueType elementType() const;
    std::size_t arraySize() const;
    const GgufValue &at(std::size_t i) const;
    const std::vector<GgufValue> &items() const;

    QStringList toStringList() const;       ///< array of strings
    std::vector<float> toFloatVector() const; ///< numeric array
    std::vector<std::int64_t> toIntVector() const;

    /// Human-readable, arrays abbreviated after `maxItems` items: `[1, 2, 3, ... (512 items)]`.
    QString display(int maxItems = 8) const;

    bool operator==(const GgufValue &other) const;

private:
    struct ArrayData {
        GgufValueType elementType;
        std::vector<GgufValue> items;
        std::uint64_t encodedBytes; ///< of the whole array value
    };

    GgufValueType m_type = GgufValueType::UINT8;
    std::uint64_t m_bits = 0; // integer (two's complement), bool, or double bit pattern
    QByteArray m_string;
    std::shared_ptr<const ArrayData> m_array;
};

/// Ordered key/value list with unique keys (insertion order is file order).
class GgufMetadata
{
public:
    struct Entry {
        QByteArray key;
        GgufValue value;
        bool operator==(const Entry &other) const { return key == other.key && value == other.value; }
    };

    const std::vector<Entry> &entries() const { return m_entries; }
    std::size_t size() const { return m_entries.size(); }
    bool contains(const QByteArray &key) const { return find(key) != nullptr; }
    const GgufValue *find(const QByteArray &key) const;
    /// Replaces an existing key in place or appends a new one.
    void set(const QByteArray &key, GgufValue value);
    bool remove(const QByteArray &key);

    // Typed lookups that return the fallback when the key is missing or not numeric/string.
    std::uint64_t uintOr(const QByteArray &key, std::uint64_t fallback) const;
    double floatOr(const QByteArray &key, double fallback) const;
    QString stringOr(const QByteArray &key, const QString &fallback = {}) const;
    bool boolOr(const QByteArray &key, bool fallback) const;

    bool operator==(const GgufMetadata &other) const { return m_entries == other.m_entries; }

private:
    std::vector<Entry> m_entries;
};

} // namespace QuantFit
