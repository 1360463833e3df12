// Hostile input: one handcrafted file per failure class. Each must be rejected with a
// FormatError whose message names the field, and never crash, hang or allocate from the bad value.

#include "handcraft.h"

#include "gguf/ggufreader.h"
#include "util/error.h"

#include <QTest>

using namespace QuantFit;
using QuantFit::Test::Handcraft;

namespace {

// A valid file: 1 KV (general.architecture), 2 tensors F32 4x2 (32 bytes each), alignment 32.
QByteArray validFile()
{
    Handcraft h;
    h.header(2, 1).kvString("general.architecture", "llama");
    h.tensor2d("a.weight", 4, 2, 0, 0).tensor2d("b.weight", 4, 2, 0, 32);
    h.padTo(32).zeros(64);
    return h.bytes;
}

} // namespace

class TestGgufHostile : public QObject
{
    Q_OBJECT

private slots:
    void validFileParses()
    {
        const auto f = GgufFile::fromBuffer(validFile(), QStringLiteral("valid.gguf"));
        QCOMPARE(f.tensors().size(), std::size_t(2));
        QCOMPARE(f.tensors()[1].offset, std::uint64_t(32));
        QCOMPARE(f.tensors()[0].nBytes, std::uint64_t(32)); // 4 x 2 floats
        QCOMPARE(f.metadata().stringOr("general.architecture"), QStringLiteral("llama"));
    }

    void rejected_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("field");
        QTest::addColumn<QString>("problem");

        {
            QByteArray b = validFile();
            b[0] = 'X';
            QTest::newRow("bad magic") << b << "magic" << "not a GGUF file";
        }
        QTest::newRow("empty file") << QByteArray() << "magic" << "4-byte magic";
        for (std::uint32_t v : {0u, 1u, 4u, 0x03000000u}) {
            QByteArray b = validFile();
            std::memcpy(b.data() + 4, &v, 4);
            QTest::newRow(qPrintable(QStringLiteral("version %1").arg(v))) << b << "version" << "";
        }
        {
            Handcraft h;
            h.header(0, 1ull << 60);
            QTest::newRow("huge kv count") << h.bytes << "kv_count" << "cannot fit";
        }
        {
            Handcraft h;
            h.header(1ull << 62, 0);
            QTest::newRow("huge tensor count") << h.bytes << "tensor_count" << "cannot fit";
        }
        {
            Handcraft h;
            h.header(0, 1).u64(1ull << 40).bytes.append(QByteArray(32, 'x'));
            QTest::newRow("key longer than file") << h.bytes << "kv[0].key" << "exceeds";
        }
        {
            Handcraft h;
            h.header(0, 1).str("general.x").u32(8).u64(1000).bytes.append("short");
            QTest::newRow("string longer than file") << h.bytes << "general.x" << "exceeds";
        }
        {
            Handcraft h;
            h.header(0, 1).str("general.x").u32(13).u32(0);
            QTest::newRow("unknown value type") << h.bytes << "general.x type" << "unknown value type 13";
        }
        {
            Handcraft h;
            h.header(0, 1).str("general.x").u32(9).u32(4).u64(1ull << 28);
            QTest::newRow("array longer than file") << h.bytes << "general.x length" << "needs at least";
        }
        {
            Handcraft h;
            h.header(0, 1).str("general.x").u32(9).u32(17).u64(1);
            QTest::newRow("array of unknown type") << h.bytes << "general.x element type" << "unknown value type";
        }
        {
            // 100000 levels of array-of-array: rejected at the depth limit, no recursion bomb.
            Handcraft h;
            h.header(0, 1).str("deep");
            h.u32(9);
            for (int i = 0; i < 100000; ++i)
                h.u32(9).u64(1);
            QTest::newRow("deep nesting") << h.bytes << "deep" << "nested more than";
        }
        {
            Handcraft h;
            h.header(0, 2).kvU32("general.x", 1).kvU32("general.x", 2);
            QTest::newRow("duplicate key") << h.bytes << "general.x" << "duplicate key";
        }
        {
            Handcraft h;
            h.header(0, 1).kvU32("general.alignment", 0);
            QTest::newRow("alignment 0") << h.bytes << "general.alignment" << "not a power of two";
        }
        {
            Handcraft h;
            h.header(0, 1).kvU32("general.alignment", 48);
            QTest::newRow("alignment 48") << h.bytes << "general.alignment" << "not a power of two";
        }
        {
            Handcraft h;
            h.header(0, 1).str("general.alignment").u32(10).u64(32);
            QTest::newRow("alignment uint64") << h.bytes << "general.alignment" << "must be a uint32";
        }
        auto oneTensor = [](auto &&writeInfo) {
            Handcraft h;
            h.header(1, 0);
            writeInfo(h);
            h.padTo(32).zeros(4096);
            return h.bytes;
        };
        QTest::newRow("unknown tensor type")
            << oneTensor([](Handcraft &h) { h.tensor2d("t", 32, 2, 99, 0); }) << "tensor 't'.type" << "unknown or removed";
        // GGML_TYPE_COUNT is 43 in the current ggml: 43 is the first id no build knows.
        QTest::newRow("tensor type 43")
            << oneTensor([](Handcraft &h) { h.tensor2d("t", 128, 2, 43, 0); }) << "tensor 't'.type" << "unknown or removed";
        QTest::newRow("removed tensor type 4")
            << oneTensor([](Handcraft &h) { h.tensor2d("t", 32, 2, 4, 0); }) << "tensor 't'.type" << "unknown or removed";
        QTest::newRow("five dimensions")
            << oneTensor([](Handcraft &h) { h.str("t").u32(5).u64(1).u64(1).u64(1).u64(1).u64(1).u32(0).u64(0); })
            << "tensor 't'.n_dims" << "expected 1 to 4";
        QTest::newRow("zero dimensions")
            << oneTensor([](Handcraft &h) { h.str("t").u32(0).u32(0).u64(0); }) << "tensor 't'.n_dims" << "expected 1 to 4";
        QTest::newRow("zero-sized dimension")
            << oneTensor([](Handcraft &h) { h.tensor2d("t", 4, 0, 0, 0); }) << "tensor 't'.ne[1]" << "not positive";
        QTest::newRow("negative dimension")
            << oneTensor([](Handcraft &h) { h.str("t").u32(2).u64(4).i64(-3).u32(0).u64(0); }) << "tensor 't'.ne[1]" << "not positive";
        QTest::newRow("element count overflow")
            << oneTensor([](Handcraft &h) { h.str("t").u32(3).u64(1ull << 31).u64(1ull << 31).u64(1ull << 31).u32(0).u64(0); })
            << "tensor 't'.ne[2]" << "overflows";
        QTest::newRow("byte size overflow")
            << oneTensor([](Handcraft &h) { h.str("t").u32(1).u64(1ull << 62).u32(0).u64(0); })
            << "tensor 't'.ne" << "overflows";
        QTest::newRow("tensor larger than file")
            << oneTensor([](Handcraft &h) { h.tensor2d("t", 1024, 1024, 0, 0); }) << "tensor 't'.ne" << "more than the whole file";
        QTest::newRow("row not whole blocks")
            << oneTensor([](Handcraft &h) { h.tensor2d("t", 33, 2, 2, 0); }) << "tensor 't'.ne[0]" << "not a multiple";
        QTest::newRow("unaligned offset")
            << oneTensor([](Handcraft &h) { h.tensor2d("t", 4, 2, 0, 8); }) << "tensor 't'.offset" << "not a multiple of the alignment";
        QTest::newRow("gap before data")
            << oneTensor([](Handcraft &h) { h.tensor2d("t", 4, 2, 0, 64); }) << "tensor 't'.offset" << "gap";
        QTest::newRow("data past end")
            << [] {
                   Handcraft h;
                   h.header(1, 0).tensor2d("t", 16, 4, 0, 0).padTo(32).zeros(200);
                   return h.bytes;
               }()
            << "tensor 't'.offset" << "outside the file";
        {
            Handcraft h;
            h.header(2, 0).tensor2d("a", 4, 2, 0, 0).tensor2d("b", 4, 2, 0, 0).padTo(32).zeros(64);
            QTest::newRow("overlapping tensors") << h.bytes << "tensor 'b'.offset" << "overlaps";
        }
        {
            Handcraft h;
            h.header(2, 0).tensor2d("a", 4, 2, 0, 0).tensor2d("a", 4, 2, 0, 32).padTo(32).zeros(64);
            QTest::newRow("duplicate tensor name") << h.bytes << "tensor[1].name" << "duplicate tensor name";
        }
        QTest::newRow("tensor name of 64 bytes")
            << oneTensor([](Handcraft &h) { h.tensor2d(QByteArray(64, 'n'), 4, 2, 0, 0); }) << "tensor[0].name" << "exceeds the limit";
    }

    void rejected()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, field);
        QFETCH(QString, problem);
        try {
            GgufFile::fromBuffer(bytes, QStringLiteral("hostile.gguf"));
            QFAIL("accepted a malformed file");
        } catch (const FormatError &e) {
            QCOMPARE(e.file(), QStringLiteral("hostile.gguf"));
            QCOMPARE(e.field(), field);
            QVERIFY2(e.message().contains(QStringLiteral("hostile.gguf")), qPrintable(e.message()));
            QVERIFY2(e.message().contains(QStringLiteral("offset")), qPrintable(e.message()));
            QVERIFY2(e.message().contains(problem), qPrintable(e.message()));
            QVERIFY(e.offset() <= std::uint64_t(bytes.size()));
        }
    }

    void everyTruncationIsRejected()
    {
        const QByteArray full = validFile();
        for (qsizetype len = 0; len < full.size(); ++len) {
            // Any prefix cuts the header or the tensor data: it must fail cleanly.
            bool threw = false;
            try {
                GgufFile::fromBuffer(full.left(len), QStringLiteral("cut.gguf"));
            } catch (const FormatError &e) {
                threw = true;
                QVERIFY2(e.offset() <= std::uint64_t(len), qPrintable(e.message()));
            }
            QVERIFY2(threw, qPrintable(QStringLiteral("prefix of %1 bytes accepted").arg(len)));
        }
    }
};

QTEST_APPLESS_MAIN(TestGgufHostile)
#include "testggufhostile.moc"
