// Write-read-compare: every metadata value type, nested arrays, tensors of several types and an
// explicit alignment survive a round trip with identical metadata and bytes, and the layout
// predicts the file size exactly. Value sizes, a header and tensor dimensions counted by hand.

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <limits>

using namespace QuantFit;

class TestGgufRoundTrip : public QObject
{
    Q_OBJECT

    static GgufLayout sampleLayout(std::uint32_t alignment)
    {
        GgufLayout l;
        auto &m = l.metadata;
        using T = GgufValueType;
        m.set("general.architecture", GgufValue::fromString(QByteArray("llama")));
        if (alignment != 32)
            m.set("general.alignment", GgufValue::u32(alignment));
        m.set("t.u8", GgufValue::fromUInt(T::UINT8, 255));
        m.set("t.i8", GgufValue::fromInt(T::INT8, -128));
        m.set("t.u16", GgufValue::fromUInt(T::UINT16, 65535));
        m.set("t.i16", GgufValue::fromInt(T::INT16, -32768));
        m.set("t.u32", GgufValue::fromUInt(T::UINT32, 4294967295u));
        m.set("t.i32", GgufValue::fromInt(T::INT32, std::numeric_limits<std::int32_t>::min()));
        m.set("t.f32", GgufValue::f32(3.14159274f));
        m.set("t.bool", GgufValue::fromBool(true));
        m.set("t.string", GgufValue::fromString(QStringLiteral("h\u00e9llo \u2581w\u00f6rld")));
        m.set("t.u64", GgufValue::fromUInt(T::UINT64, std::numeric_limits<std::uint64_t>::max()));
        m.set("t.i64", GgufValue::fromInt(T::INT64, std::numeric_limits<std::int64_t>::min()));
        m.set("t.f64", GgufValue::fromFloat(T::FLOAT64, 2.718281828459045));
        m.set("t.empty_string", GgufValue::fromString(QByteArray()));
        m.set("t.strings", GgufValue::stringArray({"a", "", "\xE2\x96\x81the"}));
        m.set("t.floats", GgufValue::floatArray({1.5f, -0.0f, 1e-30f}));
        m.set("t.empty_array", GgufValue::fromArray(T::INT32, {}));
        std::vector<GgufValue> inner1{GgufValue::i32(1), GgufValue::i32(2)};
        std::vector<GgufValue> inner2{GgufValue::i32(3)};
        m.set("t.nested", GgufValue::fromArray(T::ARRAY, {GgufValue::fromArray(T::INT32, inner1),
                                                          GgufValue::fromArray(T::INT32, inner2)}));
        auto tensor = [&](const QByteArray &name, std::array<std::uint64_t, 4> ne, GgmlType type) {
            GgufTensorInfo t;
            t.name = name;
            t.ne = ne;
            t.type = type;
            l.tensors.push_back(t);
        };
        tensor("a.weight", {3, 1, 1, 1}, GgmlType::F32);         // 12 bytes: padding follows
        tensor("b.weight", {64, 3, 1, 1}, GgmlType::Q8_0);       // 2 blocks x 34 x 3 rows
        tensor("c.weight", {256, 2, 2, 1}, GgmlType::Q4_K);      // 144 x 4
        tensor("d.weight", {5, 2, 1, 1}, GgmlType::F16);
        return l;
    }

private slots:
    void roundTrip_data()
    {
        QTest::addColumn<std::uint32_t>("alignment");
        QTest::newRow("default 32") << 32u;
        QTest::newRow("64") << 64u;
        QTest::newRow("8") << 8u;
    }

    void roundTrip()
    {
        QFETCH(std::uint32_t, alignment);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("rt.gguf"));
        GgufLayout layout = sampleLayout(alignment);
        layout.finalize();

        // Sizes from the type table (docs/formats.md, "Tensor types"): rows of whole blocks.
        QCOMPARE(layout.tensors[0].nBytes, std::uint64_t(12));
        QCOMPARE(layout.tensors[1].nBytes, std::uint64_t(2 * 34 * 3));
        QCOMPARE(layout.tensors[2].nBytes, std::uint64_t(144 * 4));
        QCOMPARE(layout.tensors[3].nBytes, std::uint64_t(20));
        QCOMPARE(layout.tensors[2].nDims, 3u);
        // Offsets are sequential and padded to the alignment.
        QCOMPARE(layout.tensors[1].offset, std::uint64_t(alignment >= 12 ? alignment : 16));

        std::vector<QByteArray> data;
        for (const auto &t : layout.tensors) {
            QByteArray b(qsizetype(t.nBytes), '\0');
            for (qsizetype i = 0; i < b.size(); ++i)
                b[i] = char((i * 31 + t.name.size()) & 0xFF);
            data.push_back(b);
        }
        // The counted header equals the written one, whatever the value types.
        QCOMPARE(layout.dataOffset(), std::uint64_t(layout.serializeHeader().size()));
        writeGgufFile(path, layout, data);
        QCOMPARE(std::uint64_t(QFileInfo(path).size()), layout.fileBytes());

        const GgufFile f = GgufFile::open(path);
        QCOMPARE(f.version(), 3u);
        QCOMPARE(f.alignment(), alignment);
        QCOMPARE(f.dataOffset() % alignment, std::uint64_t(0));
        QCOMPARE(f.dataOffset(), layout.dataOffset());
        QVERIFY(f.metadata() == layout.metadata);
        QCOMPARE(f.metadata().find("t.i64")->toInt64(), std::numeric_limits<std::int64_t>::min());
        QCOMPARE(f.metadata().find("t.u64")->toUInt64(), std::numeric_limits<std::uint64_t>::max());
        QCOMPARE(f.metadata().find("t.nested")->at(0).at(1).toInt64(), std::int64_t(2));
        QCOMPARE(f.metadata().find("t.string")->toString(), QStringLiteral("h\u00e9llo \u2581w\u00f6rld"));
        QCOMPARE(f.tensors().size(), layout.tensors.size());
        for (std::size_t i = 0; i < data.size(); ++i) {
            QCOMPARE(f.tensors()[i].name, layout.tensors[i].name);
            QCOMPARE(f.tensors()[i].type, layout.tensors[i].type);
            QCOMPARE(f.tensors()[i].ne, layout.tensors[i].ne);
            const auto span = f.tensorData(i);
            QCOMPARE(QByteArray(reinterpret_cast<const char *>(span.data()), qsizetype(span.size())), data[i]);
        }
        // Metadata-only mode reads the same headers and refuses data access.
        const GgufFile meta = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
        QVERIFY(meta.metadata() == f.metadata());
        QVERIFY_THROWS_EXCEPTION(Error, meta.tensorData(0));
    }

    void valueSizes_data()
    {
        using T = GgufValueType;
        using U = std::uint64_t;
        QTest::addColumn<GgufValue>("value");
        QTest::addColumn<std::uint64_t>("bytes");
        QTest::newRow("u8") << GgufValue::fromUInt(T::UINT8, 7) << U(1);
        QTest::newRow("bool") << GgufValue::fromBool(false) << U(1);
        QTest::newRow("i16") << GgufValue::fromInt(T::INT16, -2) << U(2);
        QTest::newRow("f32") << GgufValue::f32(0.5f) << U(4);
        QTest::newRow("u64") << GgufValue::fromUInt(T::UINT64, 1) << U(8);
        // A string: 8-byte length, then the bytes.
        QTest::newRow("string abc") << GgufValue::fromString(QByteArray("abc")) << U(8 + 3);
        QTest::newRow("empty string") << GgufValue::fromString(QByteArray()) << U(8);
        // An array: 4-byte element type, 8-byte count, then the items.
        QTest::newRow("3 x i32") << GgufValue::int32Array({1, 2, 3}) << U(4 + 8 + 3 * 4);
        QTest::newRow("empty array") << GgufValue::fromArray(T::INT32, {}) << U(4 + 8);
        QTest::newRow("strings a, bc") << GgufValue::stringArray({"a", "bc"})
                                       << U(4 + 8 + (8 + 1) + (8 + 2));
        const GgufValue bytes = GgufValue::fromArray(
            T::UINT8, {GgufValue::fromUInt(T::UINT8, 1), GgufValue::fromUInt(T::UINT8, 2)});
        QTest::newRow("[[u8, u8]]") << GgufValue::fromArray(T::ARRAY, {bytes})
                                    << U(4 + 8 + (4 + 8 + 2));
    }

    void valueSizes()
    {
        QFETCH(GgufValue, value);
        QFETCH(std::uint64_t, bytes);
        QCOMPARE(value.encodedBytes(), bytes);
    }

    void sizesByHand()
    {
        // Header: magic 4 + version 4 + tensor count 8 + key count 8 = 24; the key "a" (8 + 1),
        // its type 4 and a UINT32 4 = 17; the tensor info "t" (8 + 1), n_dims 4, two
        // dimensions 16, type 4, offset 8 = 41. 82 bytes, padded to 96 by the default alignment
        // of 32; then 32 x 2 F32 = 256 bytes of data.
        GgufLayout l;
        l.metadata.set("a", GgufValue::u32(7));
        GgufTensorInfo t;
        t.name = "t";
        t.ne = {32, 2, 1, 1};
        t.type = GgmlType::F32;
        l.tensors.push_back(t);
        l.finalize();
        QCOMPARE(l.tensors[0].nDims, 2u);
        QCOMPARE(l.dataOffset(), std::uint64_t(96));
        QCOMPARE(l.fileBytes(), std::uint64_t(96 + 256));
        QCOMPARE(l.serializeHeader().size(), qsizetype(96));
    }

    void effectiveDims_data()
    {
        using U = std::uint64_t;
        QTest::addColumn<std::uint64_t>("ne0");
        QTest::addColumn<std::uint64_t>("ne1");
        QTest::addColumn<std::uint64_t>("ne2");
        QTest::addColumn<std::uint64_t>("ne3");
        QTest::addColumn<std::uint32_t>("dims");
        QTest::newRow("norm [4096]") << U(4096) << U(1) << U(1) << U(1) << 1u;
        QTest::newRow("scalar [1]") << U(1) << U(1) << U(1) << U(1) << 1u;
        QTest::newRow("matrix [4096, 32000]") << U(4096) << U(32000) << U(1) << U(1) << 2u;
        QTest::newRow("column [1, 8]") << U(1) << U(8) << U(1) << U(1) << 2u;
        QTest::newRow("experts [64, 1, 8]") << U(64) << U(1) << U(8) << U(1) << 3u;
        QTest::newRow("4-D [2, 3, 4, 5]") << U(2) << U(3) << U(4) << U(5) << 4u;
    }

    void effectiveDims()
    {
        QFETCH(std::uint64_t, ne0);
        QFETCH(std::uint64_t, ne1);
        QFETCH(std::uint64_t, ne2);
        QFETCH(std::uint64_t, ne3);
        QFETCH(std::uint32_t, dims);
        GgufTensorInfo t;
        t.ne = {ne0, ne1, ne2, ne3};
        t.nDims = 4; // the stored count does not matter
        QCOMPARE(t.effectiveDims(), dims);
    }

    void incompleteWriteLeavesNothing()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("partial.gguf"));
        {
            GgufLayout layout = sampleLayout(32);
            GgufWriter writer(path, layout);
            const QByteArray some(5, 'x');
            writer.writeTensorData(std::span(reinterpret_cast<const std::uint8_t *>(some.constData()), 5));
            QVERIFY_THROWS_EXCEPTION(Error, writer.commit());
        }
        QVERIFY(!QFileInfo::exists(path));
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot).size(), 0);
    }

    void layoutRejectsBadShapes()
    {
        GgufLayout l;
        GgufTensorInfo t;
        t.name = "q";
        t.ne = {33, 1, 1, 1};
        t.type = GgmlType::Q4_0;
        l.tensors.push_back(t);
        QVERIFY_THROWS_EXCEPTION(Error, l.finalize());
        l.tensors[0].ne = {32, 1, 1, 1};
        l.tensors[0].name = QByteArray(64, 'n');
        QVERIFY_THROWS_EXCEPTION(Error, l.finalize());
    }
};

QTEST_APPLESS_MAIN(TestGgufRoundTrip)
#include "testggufroundtrip.moc"
