#pragma once

#include "error.h"

#include <QString>

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

namespace QuantFit {

/// Little-endian cursor over a byte span. Every read checks the bytes that remain and throws
/// FormatError naming the file, the offset and the field being read; nothing is ever sized from
/// an unchecked value. `base` is the file offset of span[0], so messages give file offsets.
class ByteReader
{
public:
    ByteReader(std::span<const std::uint8_t> bytes, QString fileName, std::uint64_t base = 0)
        : m_bytes(bytes)
        , m_file(std::move(fileName))
        , m_base(base)
    {
    }

    std::uint64_t offset() const { return m_base + m_pos; }
    std::uint64_t remaining() const { return m_bytes.size() - m_pos; }
    std::uint64_t position() const { return m_pos; }
    const QString &fileName() const { return m_file; }

    [[noreturn]] void fail(const QString &field, const QString &problem) const
    {
        throw FormatError(m_file, offset(), field, problem);
    }
    [[noreturn]] void failAt(std::uint64_t fileOffset, const QString &field,
                             const QString &problem) const
    {
        throw FormatError(m_file, fileOffset, field, problem);
    }

    void require(std::uint64_t n, const QString &field) const
    {
        if (n > remaining())
            fail(field, QStringLiteral("needs %1 bytes but the file ends after %2 (truncated)")
                            .arg(n)
                            .arg(remaining()));
    }

    template <typename T>
    T read(const QString &field)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        require(sizeof(T), field);
        T v;
        std::memcpy(&v, m_bytes.data() + m_pos, sizeof(T));
        if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1)
            v = byteswapValue(v);
        m_pos += sizeof(T);
        return v;
    }

    std::span<const std::uint8_t> readBytes(std::uint64_t n, const QString &field)
    {
        require(n, field);
        auto s = m_bytes.subspan(m_pos, n);
        m_pos += n;
        return s;
    }

    void skip(std::uint64_t n, const QString &field) { readBytes(n, field); }

    void seek(std::uint64_t position) { m_pos = position; }

private:
    template <typename T>
    static T byteswapValue(T v)
    {
        std::uint8_t b[sizeof(T)];
        std::memcpy(b, &v, sizeof(T));
        for (std::size_t i = 0; i < sizeof(T) / 2; ++i)
            std::swap(b[i], b[sizeof(T) - 1 - i]);
        std::memcpy(&v, b, sizeof(T));
        return v;
    }

    std::span<const std::uint8_t> m_bytes;
    QString m_file;
    std::uint64_t m_base;
    std::uint64_t m_pos = 0;
};

} // namespace QuantFit
