// llama.cpp importance-matrix files (docs/formats.md, "Importance matrices"): hand-built legacy
// bytes, round trips through both formats, filtering, and hostile input.

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "quant/imatrixfile.h"
#include "util/error.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <limits>

using namespace QuantFit;

namespace {

class Bytes
{
public:
    QByteArray data;
    Bytes &i32(std::int32_t v)
    {
        data.append(reinterpret_cast<const char *>(&v), 4);
        return *this;
    }
    Bytes &f32(float v)
    {
        data.append(reinterpret_cast<const char *>(&v), 4);
        return *this;
    }
    Bytes &str(const QByteArray &s)
    {
        i32(std::int32_t(s.size()));
        data.append(s);
        return *this;
    }
};

ImportanceMatrix sample()
{
    ImportanceMatrix m;
    m.datasets << QStringLiteral("wiki.train.raw");
    m.chunkCount = 12;
    m.chunkSize = 512;
    ImportanceEntry dense;
    dense.name = "blk.0.attn_q.weight";
    dense.nColumns = 4;
    dense.sumSquares = {8, 16, 24, 32};
    dense.counts = {8};
    ImportanceEntry experts;
    experts.name = "blk.0.ffn_up_exps.weight";
    experts.nColumns = 2;
    experts.nMatrices = 3;
    experts.sumSquares = {2, 4, 9, 12, 5, 5};
    experts.counts = {2, 3, 0};
    m.entries = {experts, dense};
    return m;
}

} // namespace

class TestImatrixFile : public QObject
{
    Q_OBJECT

private slots:
    void legacyHandBuilt();
    void importanceIsMeanOfSquares();
    void legacyRoundTrip();
    void ggufRoundTrip();
    void filterIncludeExclude();
    void hostileLegacy_data();
    void hostileLegacy();
    void ggufWithoutKeysRefused();
};

void TestImatrixFile::legacyHandBuilt()
{
    // One entry, ncall 10, values = mean * ncall, then last_chunk and the dataset name.
    Bytes b;
    b.i32(1).str("blk.0.attn_q.weight").i32(10).i32(4).f32(10).f32(20).f32(30).f32(40);
    b.i32(5).str("wiki.txt");
    const ImportanceMatrix m = parseLegacyImatrix(b.data, QStringLiteral("h.dat"));
    QCOMPARE(m.entries.size(), std::size_t(1));
    QCOMPARE(m.entries[0].name, QByteArray("blk.0.attn_q.weight"));
    QCOMPARE(m.entries[0].importance(), std::vector<float>({1, 2, 3, 4}));
    QCOMPARE(m.chunkCount, 5u);
    QCOMPARE(m.datasets, QStringList({"wiki.txt"}));
    // The trailer is optional.
    Bytes shortB;
    shortB.i32(1).str("x.weight").i32(2).i32(1).f32(6);
    QCOMPARE(parseLegacyImatrix(shortB.data, QStringLiteral("s.dat")).entries[0].importance(),
             std::vector<float>({3}));
}

void TestImatrixFile::importanceIsMeanOfSquares()
{
    const ImportanceMatrix m = sample();
    QCOMPARE(m.find("blk.0.attn_q.weight")->importance(), std::vector<float>({1, 2, 3, 4}));
    // Expert 2 never saw a token: importance 1 (docs/formats.md, "Importance matrices").
    QCOMPARE(m.find("blk.0.ffn_up_exps.weight")->importance(),
             std::vector<float>({1, 2, 3, 4, 1, 1}));
    QVERIFY(!m.find("nope"));
}

void TestImatrixFile::legacyRoundTrip()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("im.dat"));
    const ImportanceMatrix m = sample();
    writeImportanceMatrix(path, m, ImatrixFormat::Legacy);
    const ImportanceMatrix back = readImportanceMatrix(path);
    QCOMPARE(back.entries.size(), m.entries.size());
    for (const auto &e : m.entries) {
        const auto *b = back.find(e.name);
        QVERIFY(b);
        QCOMPARE(b->importance(), e.importance());
    }
    QCOMPARE(back.chunkCount, 12u);
    QCOMPARE(back.datasets, m.datasets);
    // Written sorted by name, with ncall = the largest count (8 for the dense entry).
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray raw = f.readAll();
    QCOMPARE(raw.mid(8, 19), QByteArray("blk.0.attn_q.weight"));
    std::int32_t ncall = 0;
    std::memcpy(&ncall, raw.constData() + 27, 4);
    QCOMPARE(ncall, 8);
}

void TestImatrixFile::ggufRoundTrip()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("im.gguf"));
    const ImportanceMatrix m = sample();
    writeImportanceMatrix(path, m, ImatrixFormat::Gguf);
    const GgufFile file = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
    QCOMPARE(file.metadata().stringOr("general.type"), QStringLiteral("imatrix"));
    QCOMPARE(file.metadata().uintOr("imatrix.chunk_size", 0), 512u);
    QCOMPARE(file.tensors().size(), std::size_t(4));
    QCOMPARE(file.tensors()[0].name, QByteArray("blk.0.attn_q.weight.in_sum2"));
    QCOMPARE(file.tensors()[1].name, QByteArray("blk.0.attn_q.weight.counts"));
    QCOMPARE(file.tensors()[2].ne[1], 3u);

    const ImportanceMatrix back = readImportanceMatrix(path);
    QCOMPARE(back.entries.size(), std::size_t(2));
    QCOMPARE(back.find("blk.0.ffn_up_exps.weight")->nMatrices, 3u);
    QCOMPARE(back.find("blk.0.ffn_up_exps.weight")->sumSquares, m.entries[0].sumSquares);
    QCOMPARE(back.find("blk.0.ffn_up_exps.weight")->counts, m.entries[0].counts);
    QCOMPARE(back.find("blk.0.attn_q.weight")->importance(), std::vector<float>({1, 2, 3, 4}));
    QCOMPARE(back.chunkCount, 12u);
    QCOMPARE(back.datasets, m.datasets);
}

void TestImatrixFile::filterIncludeExclude()
{
    ImportanceMatrix m = sample();
    m.filter({QStringLiteral("attn")}, {});
    QCOMPARE(m.entries.size(), std::size_t(1));
    QCOMPARE(m.entries[0].name, QByteArray("blk.0.attn_q.weight"));
    m = sample();
    m.filter({}, {QStringLiteral("exps")});
    QCOMPARE(m.entries.size(), std::size_t(1));
    QCOMPARE(m.entries[0].name, QByteArray("blk.0.attn_q.weight"));
}

void TestImatrixFile::hostileLegacy_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("field");
    QTest::newRow("empty") << QByteArray() << QStringLiteral("n_entries");
    QTest::newRow("huge count") << Bytes().i32(0x7fffffff).data << QStringLiteral("n_entries");
    QTest::newRow("negative count") << Bytes().i32(-1).data << QStringLiteral("n_entries");
    QTest::newRow("name too long") << Bytes().i32(1).i32(1 << 20).i32(0).i32(0).data
                                   << QStringLiteral("name_len");
    QTest::newRow("name past end") << Bytes().i32(1).i32(50).i32(0).i32(0).data
                                   << QStringLiteral("name");
    QTest::newRow("nval past end") << Bytes().i32(1).str("a").i32(1).i32(1000).f32(1).data
                                   << QStringLiteral("nval");
    QTest::newRow("negative nval") << Bytes().i32(1).str("a").i32(1).i32(-4).f32(1).data
                                   << QStringLiteral("nval");
    QTest::newRow("nan value") << Bytes().i32(1).str("a").i32(1).i32(1)
                                      .f32(std::numeric_limits<float>::quiet_NaN()).data
                               << QStringLiteral("non-finite");
    QTest::newRow("dataset past end") << Bytes().i32(1).str("a").i32(1).i32(1).f32(1).i32(3)
                                             .i32(99).data
                                      << QStringLiteral("dataset_len");
}

void TestImatrixFile::hostileLegacy()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, field);
    try {
        parseLegacyImatrix(bytes, QStringLiteral("bad.dat"));
        QFAIL("accepted malformed input");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(field), qPrintable(e.message()));
        QVERIFY2(e.message().contains(QLatin1String("bad.dat")), qPrintable(e.message()));
    }
}

void TestImatrixFile::ggufWithoutKeysRefused()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("plain.gguf"));
    GgufLayout layout;
    layout.metadata.set("general.type", GgufValue::fromString(QByteArray("imatrix")));
    GgufTensorInfo t;
    t.name = "a.weight.in_sum2";
    t.ne = {4, 1, 1, 1};
    layout.tensors.push_back(t);
    writeGgufFile(path, layout, {QByteArray(16, '\0')});
    try {
        readImportanceMatrix(path);
        QFAIL("accepted a GGUF imatrix without its keys");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QLatin1String("missing imatrix metadata")),
                 qPrintable(e.message()));
    }
    // in_sum2 without counts.
    layout.metadata.set("imatrix.datasets", GgufValue::stringArray({}));
    layout.metadata.set("imatrix.chunk_count", GgufValue::u32(1));
    layout.metadata.set("imatrix.chunk_size", GgufValue::u32(512));
    QFile::remove(path);
    writeGgufFile(path, layout, {QByteArray(16, '\0')});
    QVERIFY_THROWS_EXCEPTION(FormatError, readImportanceMatrix(path));
}

QTEST_APPLESS_MAIN(TestImatrixFile)
#include "testimatrixfile.moc"
