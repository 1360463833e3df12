#pragma once

// Builds GGUF bytes field by field, independently of core/gguf's writer, so the reader is tested
// against the GGUF specification's layout (docs/gguf.md in the ggml repository; docs/formats.md,
// "Layout") rather than against our own writer.

#include <QByteArray>

#include <cstdint>
#include <cstring>

namespace QuantFit::Test {

struct Handcraft {
    QByteArray bytes;

    template <typename T>
    Handcraft &put(T v)
    {
        bytes.append(reinterpret_cast<const char *>(&v), sizeof(T));
        return *this;
    }
    Handcraft &u8(std::uint8_t v) { return put(v); }
    Handcraft &u32(std::uint32_t v) { return put(v); }
    Handcraft &u64(std::uint64_t v) { return put(v); }
    Handcraft &i64(std::int64_t v) { return put(v); }
    Handcraft &str(const QByteArray &s)
    {
        u64(std::uint64_t(s.size()));
        bytes.append(s);
        return *this;
    }
    Handcraft &header(std::uint64_t nTensors, std::uint64_t nKv, std::uint32_t version = 3)
    {
        bytes.append("GGUF", 4);
        u32(version);
        u64(nTensors);
        return u64(nKv);
    }
    /// key + UINT32 value
    Handcraft &kvU32(const QByteArray &key, std::uint32_t v) { return str(key).u32(4).u32(v); }
    Handcraft &kvString(const QByteArray &key, const QByteArray &v) { return str(key).u32(8).str(v); }
    /// 2-D tensor info
    Handcraft &tensor2d(const QByteArray &name, std::uint64_t ne0, std::uint64_t ne1,
                        std::uint32_t type, std::uint64_t offset)
    {
        return str(name).u32(2).u64(ne0).u64(ne1).u32(type).u64(offset);
    }
    Handcraft &padTo(std::uint64_t alignment)
    {
        while (std::uint64_t(bytes.size()) % alignment)
            bytes.append('\0');
        return *this;
    }
    Handcraft &zeros(std::uint64_t n)
    {
        bytes.append(qsizetype(n), '\0');
        return *this;
    }
};

} // namespace QuantFit::Test
