// The I-quants' tables and codecs beyond the table-driven tests of testcodecs.cpp: the grids
// against their published checksums, the neighbour maps against a brute-force construction and
// their published sizes, hand-built blocks, and the degenerate cases whose bytes are defined.

#include "codecs/blocksiq1.h"
#include "codecs/blocksiq2.h"
#include "codecs/blocksiq3.h"
#include "codecs/iqgrids.h"
#include "codecs/iqsearch.h"
#include "codecs/iqtables.h"
#include "codecs/quanthelpers.h"
#include "codecs/quantkernels.h"
#include "codecs/quantsimd.h"
#include "gguf/ggmltype.h"

#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

using namespace QuantFit;
using namespace QuantFit::Codec;

Q_DECLARE_METATYPE(QuantFit::Codec::IqGrid)

namespace {

// The published checksums cover a text rendering of each table: one header line, then one
// lowercase hex value per line, zero-padded to the element width.
template<typename T>
QByteArray tableText(const char *name, const char *type, const T *values, int n)
{
    QByteArray text = QByteArray("# ") + name + ": " + type + ", " + QByteArray::number(n)
        + " entries, in index order (llama.cpp c392e5094, ggml/src/ggml-common.h)\n";
    for (int i = 0; i < n; ++i)
        text += "0x" + QByteArray::number(quint64(values[i]), 16).rightJustified(2 * sizeof(T), '0')
            + '\n';
    return text;
}

QByteArray sha256(const QByteArray &text)
{
    return QCryptographicHash::hash(text, QCryptographicHash::Sha256).toHex();
}

std::vector<std::uint8_t> halfBytes(std::uint16_t h)
{
    return {std::uint8_t(h & 0xFF), std::uint8_t(h >> 8)};
}

std::vector<float> decode(GgmlType type, const std::vector<std::uint8_t> &block)
{
    std::vector<float> y(256);
    dequantizeRow(type, block, y);
    return y;
}

std::vector<std::uint8_t> encode(GgmlType type, const std::vector<float> &x,
                                 const std::vector<float> &imp = {})
{
    std::vector<std::uint8_t> q(rowBytes(typeFacts(type), x.size()));
    quantizeRow(type, x, q, imp);
    return q;
}

} // namespace

class TestCodecsIq : public QObject
{
    Q_OBJECT

private slots:
    void gridChecksums();
    void signTables();
    void neighbourMaps_data();
    void neighbourMaps();
    void neighbourMapsBuildTime();
    void handBuiltIq2Xxs();
    void handBuiltIq3S();
    void handBuiltIq1S();
    void handBuiltIq1M();
    void zeroSuperBlocks_data();
    void zeroSuperBlocks();
    void iq3sCursorQuirk();
    void zeroImportance_data();
    void zeroImportance();
    void simdSearchesMatchPortable_data();
    void simdSearchesMatchPortable();
    void pathsMatchPortableOnHardRows_data();
    void pathsMatchPortableOnHardRows();
    void neighbourSearchesMatch_data();
    void neighbourSearchesMatch();
    void splitSearchesMatch();
    void qpQuantsMatch();
};

void TestCodecsIq::gridChecksums()
{
    QCOMPARE(sha256(tableText("iq2xxs_grid", "uint64", kIq2xxsGrid, 256)),
             QByteArray("3ce820fa8cde95d7725b6b1f759bb5bb67c850850f115e390b74608ed2c0d861"));
    QCOMPARE(sha256(tableText("iq2xs_grid", "uint64", kIq2xsGrid, 512)),
             QByteArray("02ed89b76f7bfc196d347b8423a5b61062faa020f3f6a49fd1110c73df0cbfc5"));
    QCOMPARE(sha256(tableText("iq2s_grid", "uint64", kIq2sGrid, 1024)),
             QByteArray("b988c6061e2ba049ca447ff6c5e22c34e581ae21c53bed39859db98cce2a5dd4"));
    QCOMPARE(sha256(tableText("iq3xxs_grid", "uint32", kIq3xxsGrid, 256)),
             QByteArray("c3eb56cd27781782fe9010cb70a9ddfc26fa9806eda33335851646ec0d2b3810"));
    QCOMPARE(sha256(tableText("iq3s_grid", "uint32", kIq3sGrid, 512)),
             QByteArray("9dac95f3b00a9eb59b46e7ef70101eb4a575b407740a8eaf210715d44424da21"));
    QCOMPARE(sha256(tableText("iq1s_grid", "uint64", kIq1sGrid, 2048)),
             QByteArray("fe2848b3337f520051d7e7c0426d7691d5c422a33415c05e8faf092d34623e21"));
    QCOMPARE(sha256(tableText("ksigns_iq2xs", "uint8", kSignsIq2xs.data(), 128)),
             QByteArray("ce34452f4a919c3c83e7fce9b58c0c8665da0fb42d5e7583b96ef55b6d4b25ab"));
    QCOMPARE(sha256(tableText("kmask_iq2xs", "uint8", kMaskIq2xs.data(), 8)),
             QByteArray("8e769531a56566f8cc9f661ef0f845f4a4668683dd418cfabf45515b3fab5529"));
}

// A 7-bit sign index expands to a mask of even parity whose low bits are the index.
void TestCodecsIq::signTables()
{
    for (int i = 0; i < 128; ++i) {
        QCOMPARE(kSignsIq2xs[std::size_t(i)] & 127, i);
        QCOMPARE(std::popcount(unsigned(kSignsIq2xs[std::size_t(i)])) % 2, 0);
    }
}

void TestCodecsIq::neighbourMaps_data()
{
    // Off-grid keys with digits in range and the total length of their lists (ggml's tables,
    // counted over the same keys).
    QTest::addColumn<IqGrid>("grid");
    QTest::addColumn<int>("nOffGrid");
    QTest::addColumn<int>("nListEntries");
    QTest::newRow("iq2xxs") << IqGrid::Iq2xxs << 6305 << 113157;
    QTest::newRow("iq2xs") << IqGrid::Iq2xs << 6049 << 181721;
    QTest::newRow("iq2s") << IqGrid::Iq2s << 5537 << 44716;
    QTest::newRow("iq1s") << IqGrid::Iq1s << 4513 << 327721;
    QTest::newRow("iq3xxs") << IqGrid::Iq3xxs << 3840 << 18985;
    QTest::newRow("iq3s") << IqGrid::Iq3s << 3584 << 24733;
}

// Sizes, the on-grid map, and the lists against a plain construction: all entries stably
// sorted by squared level distance, cut after the first n_want distinct distances (every key
// of the smaller grids, every third key of iq2s and iq1s).
void TestCodecsIq::neighbourMaps()
{
    QFETCH(IqGrid, grid);
    QFETCH(int, nOffGrid);
    QFETCH(int, nListEntries);
    const IqGridMaps &m = iqGridMaps(grid);
    QCOMPARE(m.nOffGridKeys, nOffGrid);
    QCOMPARE(int(m.nbList.size()), nListEntries);
    for (int j = 0; j < m.nEntries; ++j)
        QCOMPARE(int(m.onGrid[std::size_t(m.keyOf(m.levelsOf(j)))]), j);

    const int nLevels = m.keyBits == 2 ? 3 : 8;
    int nKeys = 1;
    for (int i = 0; i < m.groupSize; ++i)
        nKeys *= nLevels;
    const int stride = m.nEntries >= 1024 ? 3 : 1;
    std::vector<int> order(std::size_t(m.nEntries));
    std::vector<int> dist(std::size_t(m.nEntries));
    std::uint8_t digits[8];
    for (int n = 0; n < nKeys; n += stride) {
        for (int i = 0, v = n; i < m.groupSize; ++i, v /= nLevels)
            digits[i] = std::uint8_t(v % nLevels);
        const int key = m.keyOf(digits);
        if (m.onGrid[std::size_t(key)] >= 0) {
            QCOMPARE(int(m.nbCount[std::size_t(key)]), 0);
            continue;
        }
        for (int j = 0; j < m.nEntries; ++j) {
            int d = 0;
            for (int i = 0; i < m.groupSize; ++i)
                d += (m.levelsOf(j)[i] - digits[i]) * (m.levelsOf(j)[i] - digits[i]);
            dist[std::size_t(j)] = d;
        }
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int a, int b) { return dist[std::size_t(a)] < dist[std::size_t(b)]; });
        std::vector<std::uint16_t> expected;
        int distinct = 0;
        for (std::size_t k = 0; k < order.size(); ++k) {
            if (k == 0 || dist[std::size_t(order[k])] != dist[std::size_t(order[k - 1])])
                ++distinct;
            if (distinct > m.nWant)
                break;
            expected.push_back(std::uint16_t(order[k]));
        }
        const auto got = m.neighbours(key);
        QVERIFY2(std::equal(got.begin(), got.end(), expected.begin(), expected.end()),
                 qPrintable(QStringLiteral("key %1").arg(key)));
    }
}

// ggml builds the IQ1 tables in about 10 s; ours must be well under a second for all six.
void TestCodecsIq::neighbourMapsBuildTime()
{
    QElapsedTimer timer;
    timer.start();
    std::size_t nEntries = 0;
    for (IqGrid g : {IqGrid::Iq2xxs, IqGrid::Iq2xs, IqGrid::Iq2s, IqGrid::Iq3xxs, IqGrid::Iq3s,
                     IqGrid::Iq1s})
        nEntries += makeIqGridMaps(g).nbList.size();
    const double ms = double(timer.nsecsElapsed()) / 1e6;
    qInfo("all six neighbour maps (%zu list entries) built in %.1f ms", nEntries, ms);
    QCOMPARE(nEntries, std::size_t(113157 + 181721 + 44716 + 327721 + 18985 + 24733));
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
    QVERIFY2(ms < 1000, qPrintable(QStringLiteral("%1 ms").arg(ms)));
#endif
}

// d = 1; sub-block 0: W0 = grid indices 0, 1, 2, 3; W1 = sign index 1 for group 0 (mask 0x81:
// values 0 and 7 negative) and code 3, so db = (0.5 + 3) * 0.25 = 0.875. Entry 0 is all 8s,
// entry 1 has 43 (0x2b) in byte 0. Every other sub-block is zero: db = 0.125, entry 0.
void TestCodecsIq::handBuiltIq2Xxs()
{
    std::vector<std::uint8_t> b(66, 0);
    const auto d = halfBytes(0x3C00);
    std::copy(d.begin(), d.end(), b.begin());
    const std::uint32_t w0 = 0x03020100u;
    const std::uint32_t w1 = 1u | (3u << 28);
    std::memcpy(b.data() + 2, &w0, 4);
    std::memcpy(b.data() + 6, &w1, 4);
    const auto y = decode(GgmlType::IQ2_XXS, b);
    for (int j = 0; j < 8; ++j)
        QCOMPARE(y[std::size_t(j)], (j == 0 || j == 7) ? -7.f : 7.f);
    QCOMPARE(y[8], 0.875f * 43);
    QCOMPARE(y[9], 7.f);
    for (int j = 32; j < 256; ++j)
        QCOMPARE(y[std::size_t(j)], 1.f);
}

// d = 0.5; sub-block 0 code 2 -> db = 0.5 * 5 = 2.5; qs[0] = 2 (entry 0x01010105: byte 0 = 5),
// qs[1..] = 0 (entry of 1s); sign byte 0 = 0x0F: values 0..3 negative. Sub-block 1: qh[1] bit 0
// sets bit 8 of group 0's index: entry 256.
void TestCodecsIq::handBuiltIq3S()
{
    std::vector<std::uint8_t> b(110, 0);
    const auto d = halfBytes(0x3800);
    std::copy(d.begin(), d.end(), b.begin());
    b[2] = 2;          // qs[0]
    b[66 + 1] = 1;     // qh[1]
    b[74] = 0x0F;      // signs[0]
    b[106] = 2;        // scales[0]: sub-block 0 code 2, sub-block 1 code 0
    const auto y = decode(GgmlType::IQ3_S, b);
    QCOMPARE(y[0], -2.5f * 5);
    for (int j = 1; j < 4; ++j)
        QCOMPARE(y[std::size_t(j)], -2.5f);
    for (int j = 4; j < 32; ++j)
        QCOMPARE(y[std::size_t(j)], 2.5f);
    for (int j = 0; j < 4; ++j)
        QCOMPARE(y[std::size_t(32 + j)], 0.5f * float(gridByte(kIq3sGrid[256], j)));
}

// d = 1; sub-block 0: code 2 (dl = 5) with the minus shift, group 0 entry 0 (all -1), group 1
// entry 1 (+1 in byte 0): 5 * (-1 - 0.125) and 5 * (1 - 0.125). Other sub-blocks: code 0, plus
// shift, entry 0: -1 + 0.125.
void TestCodecsIq::handBuiltIq1S()
{
    std::vector<std::uint8_t> b(50, 0);
    const auto d = halfBytes(0x3C00);
    std::copy(d.begin(), d.end(), b.begin());
    b[2 + 1] = 1; // qs[1]
    const std::uint16_t qh = std::uint16_t((2 << 12) | 0x8000);
    std::memcpy(b.data() + 34, &qh, 2);
    const auto y = decode(GgmlType::IQ1_S, b);
    for (int j = 0; j < 8; ++j)
        QCOMPARE(y[std::size_t(j)], -5.625f);
    QCOMPARE(y[8], 4.375f);
    QCOMPARE(y[9], -5.625f);
    for (int j = 32; j < 256; ++j)
        QCOMPARE(y[std::size_t(j)], -0.875f);
}

// The fp16 scale 0x3C00 (1.0) is spread over the top nibbles of the four scale words
// (0, 0, 0xC, 0x3); sub-block 0 has code 1 (dl = 3), group 0 the minus shift (qh[0] = 0x08)
// with entry 0, group 1 the plus shift with entry 1.
void TestCodecsIq::handBuiltIq1M()
{
    std::vector<std::uint8_t> b(56, 0);
    b[1] = 1;        // qs[1]
    b[32] = 0x08;    // qh[0]
    const std::uint16_t s[4] = {1, 0, 0xC000, 0x3000};
    std::memcpy(b.data() + 48, s, 8);
    const auto y = decode(GgmlType::IQ1_M, b);
    for (int j = 0; j < 8; ++j)
        QCOMPARE(y[std::size_t(j)], -3.375f);
    QCOMPARE(y[8], 3.375f);
    QCOMPARE(y[9], -2.625f);
    for (int j = 16; j < 256; ++j)
        QCOMPARE(y[std::size_t(j)], -0.875f);
}

void TestCodecsIq::zeroSuperBlocks_data()
{
    QTest::addColumn<GgmlType>("type");
    for (GgmlType t : {GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S, GgmlType::IQ3_XXS,
                       GgmlType::IQ3_S, GgmlType::IQ1_S, GgmlType::IQ1_M})
        QTest::newRow(typeFacts(t).name.data()) << t;
}

// An all-zero super-block is all zero bytes for every I-quant, with or without importance.
void TestCodecsIq::zeroSuperBlocks()
{
    QFETCH(GgmlType, type);
    std::vector<float> x(512, 0.f);
    std::mt19937 rng(3);
    std::normal_distribution<float> g;
    for (int i = 256; i < 512; ++i)
        x[std::size_t(i)] = g(rng);
    const std::vector<float> imp(512, 1.f);
    for (const auto &q : {encode(type, x), encode(type, x, imp)}) {
        const std::size_t half = q.size() / 2;
        QVERIFY(std::all_of(q.begin(), q.begin() + std::ptrdiff_t(half),
                            [](std::uint8_t v) { return v == 0; }));
        QVERIFY(std::any_of(q.begin() + std::ptrdiff_t(half), q.end(),
                            [](std::uint8_t v) { return v != 0; }));
    }
}

// IQ3_S writes the qs and sign bytes of a sub-block at the count of sub-blocks encoded before
// it: with sub-block 1 all zero, sub-block 2's bytes land where sub-block 1's belong and the
// last 8 qs / 4 sign bytes stay 0, while qh and the scale nibbles keep their places.
void TestCodecsIq::iq3sCursorQuirk()
{
    std::mt19937 rng(9);
    std::normal_distribution<float> g;
    std::vector<float> x(256);
    for (auto &v : x)
        v = g(rng);
    std::vector<float> z = x;
    std::fill(z.begin() + 32, z.begin() + 64, 0.f);
    const auto a = encode(GgmlType::IQ3_S, x);
    const auto b = encode(GgmlType::IQ3_S, z);
    const BlockIq3S &ba = *reinterpret_cast<const BlockIq3S *>(a.data());
    const BlockIq3S &bb = *reinterpret_cast<const BlockIq3S *>(b.data());
    QCOMPARE(bb.qh[1], std::uint8_t(0));
    QCOMPARE(bb.scales[0] >> 4, 0);
    for (int j = 0; j < 8; ++j)
        QCOMPARE(bb.qs[56 + j], std::uint8_t(0));
    for (int j = 0; j < 4; ++j)
        QCOMPARE(bb.signs[28 + j], std::uint8_t(0));
    // Without importance the weights are x^2, so the other sub-blocks encode as before: slot 0
    // is unchanged and slots 1..6 hold what sub-blocks 2..7 wrote at slots 2..7.
    QVERIFY(std::memcmp(ba.qs, bb.qs, 8) == 0);
    QVERIFY(std::memcmp(ba.qs + 16, bb.qs + 8, 48) == 0);
    QVERIFY(std::memcmp(ba.signs, bb.signs, 4) == 0);
    QVERIFY(std::memcmp(ba.signs + 8, bb.signs + 4, 24) == 0);
}

void TestCodecsIq::zeroImportance_data()
{
    zeroSuperBlocks_data();
}

// Importances that are zero for one sub-block or a whole super-block (an imatrix column range
// that never saw activations) are defined since llama.cpp b10472: the sub-block counts as
// skipped or keeps level 0; the output decodes to finite values.
void TestCodecsIq::zeroImportance()
{
    QFETCH(GgmlType, type);
    std::mt19937 rng(21);
    std::normal_distribution<float> g;
    std::vector<float> x(512);
    for (auto &v : x)
        v = g(rng);
    std::vector<float> imp(512, 1.f);
    std::fill(imp.begin(), imp.begin() + 32, 0.f);
    std::fill(imp.begin() + 256, imp.end(), 0.f);
    const auto q = encode(type, x, imp);
    std::vector<float> y(512);
    dequantizeRow(type, q, y);
    for (float v : y)
        QVERIFY(std::isfinite(v));
}

void TestCodecsIq::simdSearchesMatchPortable_data()
{
    zeroSuperBlocks_data();
}

// The AVX2 neighbour and split searches must choose exactly what the scalar ones choose: 80
// super-blocks from five distributions (Gaussian, Student-t(2), log-normal row scales, sparse,
// values on a 1/3 lattice with many ties), with and without importance.
void TestCodecsIq::simdSearchesMatchPortable()
{
    QFETCH(GgmlType, type);
    std::mt19937 rng(77);
    std::normal_distribution<float> gauss;
    std::student_t_distribution<float> student(2.f);
    std::lognormal_distribution<float> spread(0.f, 1.5f);
    std::uniform_int_distribution<int> lattice(-6, 6);
    const std::int64_t n = 16 * 256;
    std::vector<float> x(n);
    std::vector<float> imp(n);
    for (int dist = 0; dist < 5; ++dist) {
        for (std::int64_t i = 0; i < n; ++i) {
            const float scale = dist == 2 ? std::exp(float(i / 256) - 8.f) : 1.f;
            float v = dist == 1 ? student(rng) : dist == 4 ? float(lattice(rng)) / 3 : gauss(rng);
            if (dist == 3 && rng() % 5 != 0)
                v = 0;
            x[std::size_t(i)] = v * scale;
            imp[std::size_t(i)] = spread(rng);
        }
        for (bool withImp : {false, true}) {
            const std::vector<float> &w = withImp ? imp : std::vector<float>{};
            setQuantizePath(QuantizePath::Portable);
            const auto portable = encode(type, x, w);
            setQuantizePath(QuantizePath::Auto);
            const auto simd = encode(type, x, w);
            QVERIFY2(portable == simd, qPrintable(QStringLiteral("distribution %1, importance %2")
                                                      .arg(dist)
                                                      .arg(withImp)));
        }
    }
}

namespace {

// Every quantizer path this CPU can run, the reference first.
std::vector<QuantizePath> availablePaths()
{
    std::vector<QuantizePath> paths{QuantizePath::Portable};
    setQuantizePath(QuantizePath::Avx2);
    if (quantSimdEnabled())
        paths.push_back(QuantizePath::Avx2);
    setQuantizePath(QuantizePath::Auto);
    if (quantAvx512Enabled())
        paths.push_back(QuantizePath::Auto);
    return paths;
}

const char *pathName(QuantizePath p)
{
    return p == QuantizePath::Portable ? "portable" : p == QuantizePath::Avx2 ? "avx2" : "auto";
}

// Restores the automatic path when a test returns (also on failure).
struct PathGuard {
    ~PathGuard() { setQuantizePath(QuantizePath::Auto); }
};

} // namespace

void TestCodecsIq::pathsMatchPortableOnHardRows_data()
{
    zeroSuperBlocks_data();
}

// Rows that make the searches' choices delicate (docs/quantization.md, "Speed of the codecs"),
// each two super-blocks long, through every path with four kinds of importance (none,
// log-normal, all ones, zero for a tenth of the columns and for one whole sub-block): the AVX2
// and AVX-512 searches must write exactly the portable reference's bytes. Zeros, constants,
// alternating signs, magnitudes from 1e-30 to 1e15, single outliers, values on small lattices
// (exact ties in every search), one-sided rows and zero runs inside non-zero super-blocks.
void TestCodecsIq::pathsMatchPortableOnHardRows()
{
    QFETCH(GgmlType, type);
    PathGuard guard;
    const std::int64_t n = 512;
    std::mt19937 rng(2024);
    std::normal_distribution<float> gauss;
    std::student_t_distribution<float> student(3.f);
    std::lognormal_distribution<float> spread(0.f, 1.5f);
    std::uniform_int_distribution<int> small(-3, 3);
    struct Row {
        QString name;
        std::vector<float> x;
    };
    std::vector<Row> rows;
    auto add = [&](const QString &name, auto f) {
        std::vector<float> x(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i)
            x[std::size_t(i)] = f(i);
        rows.push_back({name, std::move(x)});
    };
    add(QStringLiteral("zeros"), [](std::int64_t) { return 0.f; });
    add(QStringLiteral("outlier in zeros"), [](std::int64_t i) { return i == 77 ? 3.f : 0.f; });
    add(QStringLiteral("constant +0.5"), [](std::int64_t) { return 0.5f; });
    add(QStringLiteral("constant -0.25"), [](std::int64_t) { return -0.25f; });
    add(QStringLiteral("alternating"), [](std::int64_t i) { return i % 2 ? -1.f : 1.f; });
    for (float scale : {1e-30f, 1e-20f, 1e-13f, 1e-10f, 1e-6f, 1.f, 1e4f, 1e15f})
        add(QStringLiteral("gauss x %1").arg(double(scale)),
            [&](std::int64_t) { return gauss(rng) * scale; });
    add(QStringLiteral("student-t(3)"), [&](std::int64_t) { return student(rng); });
    add(QStringLiteral("quarters"), [&](std::int64_t) { return float(small(rng)) / 4; });
    add(QStringLiteral("small integers"), [&](std::int64_t) { return float(small(rng)); });
    add(QStringLiteral("thirds"), [&](std::int64_t) { return float(small(rng)) / 3; });
    add(QStringLiteral("all positive"), [&](std::int64_t) { return std::fabs(gauss(rng)); });
    add(QStringLiteral("all negative"), [&](std::int64_t) { return -std::fabs(gauss(rng)); });
    add(QStringLiteral("row scales"), [&](std::int64_t i) {
        return gauss(rng) * std::exp(float(i / 64) - 4.f);
    });
    add(QStringLiteral("zero runs"), [&](std::int64_t i) {
        const std::int64_t j = i % 256;
        return (j < 16 || (j >= 96 && j < 128) || j >= 240) ? 0.f : gauss(rng);
    });
    add(QStringLiteral("outliers"), [&](std::int64_t i) {
        return i % 97 == 5 ? 40.f * gauss(rng) : gauss(rng);
    });

    std::vector<std::vector<float>> importances(4);
    importances[1].resize(std::size_t(n));
    for (auto &v : importances[1])
        v = spread(rng);
    importances[2].assign(std::size_t(n), 1.f);
    importances[3] = importances[1];
    for (std::int64_t i = 0; i < n; ++i)
        if (i % 10 == 3 || (i >= 288 && i < 320))
            importances[3][std::size_t(i)] = 0.f;

    const auto paths = availablePaths();
    for (const Row &row : rows) {
        for (std::size_t m = 0; m < importances.size(); ++m) {
            std::vector<std::vector<std::uint8_t>> out;
            for (QuantizePath path : paths) {
                setQuantizePath(path);
                out.push_back(encode(type, row.x, importances[m]));
            }
            for (std::size_t p = 1; p < paths.size(); ++p)
                QVERIFY2(out[p] == out[0], qPrintable(QStringLiteral("%1, importance %2: %3 path")
                                                          .arg(row.name)
                                                          .arg(m)
                                                          .arg(QLatin1String(pathName(paths[p])))));
        }
    }
}

void TestCodecsIq::neighbourSearchesMatch_data()
{
    QTest::addColumn<IqGrid>("grid");
    QTest::newRow("iq2xxs") << IqGrid::Iq2xxs;
    QTest::newRow("iq2xs") << IqGrid::Iq2xs;
    QTest::newRow("iq2s") << IqGrid::Iq2s;
    QTest::newRow("iq3xxs") << IqGrid::Iq3xxs;
    QTest::newRow("iq3s") << IqGrid::Iq3s;
    QTest::newRow("iq1s") << IqGrid::Iq1s;
}

// Both neighbour searches, on every off-grid key of the grid, with targets, weights and scales
// drawn from small lattices so that equal errors (ties broken by list order) are common, and
// with zero weights: the SIMD versions must pick the portable search's entry.
void TestCodecsIq::neighbourSearchesMatch()
{
    QFETCH(IqGrid, grid);
    PathGuard guard;
    setQuantizePath(QuantizePath::Auto);
    const bool avx2 = quantSimdEnabled();
    const bool avx512 = quantAvx512Enabled();
    if (!avx2)
        QSKIP("this CPU runs only the portable searches");
    const IqGridMaps &m = iqGridMaps(grid);
    const int e = m.groupSize;
    std::mt19937 rng(int(grid) + 11);
    std::uniform_int_distribution<int> lattice(0, 8);
    std::uniform_int_distribution<int> signs(-4, 4);
    std::normal_distribution<float> gauss;
    const float iq1Tables[2][3] = {{-0.875f, 0.125f, 1.125f}, {-1.125f, -0.125f, 0.875f}};
    int nChecked = 0;
    for (int key = 0; key < int(m.nbCount.size()); ++key) {
        if (!m.nbCount[std::size_t(key)])
            continue;
        for (int trial = 0; trial < 3; ++trial) {
            float t[8];
            float r[8];
            for (int i = 0; i < e; ++i) {
                const bool ties = trial != 2;
                t[i] = ties ? float(grid == IqGrid::Iq1s ? signs(rng) : lattice(rng)) / 2
                            : std::fabs(gauss(rng)) * 3;
                r[i] = ties ? float(lattice(rng) % 3) : std::fabs(gauss(rng));
            }
            const float s = trial == 0 ? 0.5f : trial == 1 ? 1.f : 0.3f + std::fabs(gauss(rng));
            if (grid == IqGrid::Iq1s) {
                for (const auto &v : iq1Tables) {
                    const int ref = iq1BestNeighbourPortable(m, key, t, r, s, v);
                    QCOMPARE(iq1BestNeighbourAvx2(m, key, t, r, s, v), ref);
                    if (avx512)
                        QCOMPARE(iq1BestNeighbourAvx512(m, key, t, r, s, v), ref);
                }
            } else {
                const int ref = iqBestNeighbourPortable(m, key, t, r, s);
                QCOMPARE(iqBestNeighbourAvx2(m, key, t, r, s), ref);
                if (avx512)
                    QCOMPARE(iqBestNeighbourAvx512(m, key, t, r, s), ref);
            }
            ++nChecked;
        }
    }
    QVERIFY(nChecked >= 3 * m.nOffGridKeys);
    // Runs of 16 pack each list's length into 12 bits.
    QVERIFY(*std::max_element(m.nbCount.begin(), m.nbCount.end()) < 4096);
}

// The IQ1 split searches (AVX2 and AVX-512) and the stable sort of the sub-block's values:
// random, tied (values on a lattice of quarters, so that many splits give equal sums) and
// zero-weight sub-blocks.
void TestCodecsIq::splitSearchesMatch()
{
    PathGuard guard;
    setQuantizePath(QuantizePath::Auto);
    if (!quantSimdEnabled())
        QSKIP("this CPU runs only the portable searches");
    const bool avx512 = quantAvx512Enabled();
    std::mt19937 rng(5);
    std::normal_distribution<float> gauss;
    std::uniform_int_distribution<int> quarter(-4, 4);
    std::lognormal_distribution<float> spread(0.f, 1.f);
    auto same = [](const Iq1mSplit &a, const Iq1mSplit &b) {
        return std::memcmp(&a.s, &b.s, sizeof(float)) == 0 && a.i1 == b.i1 && a.i2 == b.i2
            && a.k == b.k;
    };
    for (int trial = 0; trial < 3000; ++trial) {
        const int kind = trial % 5;
        float x[32];
        float w[32];
        for (int i = 0; i < 32; ++i) {
            x[i] = kind == 1 || kind == 2 ? float(quarter(rng)) / 4 : gauss(rng);
            w[i] = kind == 2 ? 1.f : kind == 3 ? 0.f : spread(rng);
            if (kind == 4 && i % 3 == 0)
                w[i] = 0.f;
        }
        for (int n : {16, 32}) {
            int ref[32];
            int fast[32];
            iq1SortedPositions(x, n, ref);
            if (avx512) {
                iq1SortedPositionsAvx512(x, n, fast);
                QVERIFY(std::equal(ref, ref + n, fast));
            }
        }
        int order[32];
        iq1SortedPositions(x, 16, order);
        const Iq1mSplit m0 = iq1mBestSplitPortable(x, w, order);
        QVERIFY2(same(m0, iq1mBestSplitAvx2(x, w, order)), qPrintable(QString::number(trial)));
        if (avx512)
            QVERIFY2(same(m0, iq1mBestSplitAvx512(x, w, order)),
                     qPrintable(QString::number(trial)));
        iq1SortedPositions(x, 32, order);
        float sumX[33] = {0};
        float sumW[33] = {0};
        for (int j = 0; j < 32; ++j) {
            sumX[j + 1] = sumX[j] + w[order[j]] * x[order[j]];
            sumW[j + 1] = sumW[j] + w[order[j]];
        }
        const Iq1mSplit s0 = iq1sBestSplitPortable(sumX, sumW);
        QVERIFY2(same(s0, iq1sBestSplitAvx2(sumX, sumW)), qPrintable(QString::number(trial)));
        if (avx512)
            QVERIFY2(same(s0, iq1sBestSplitAvx512(sumX, sumW)), qPrintable(QString::number(trial)));
    }
}

// make_qp_quants (IQ2_XXS's starting scale, the K-quants' scale codes) on AVX-512 against the
// scalar version: lengths 8, 16, 32, negative inputs (IQ2_XXS's parity-flipped targets, whose
// codes wrap in a byte), zeros, ties and zero weights.
void TestCodecsIq::qpQuantsMatch()
{
    PathGuard guard;
    setQuantizePath(QuantizePath::Auto);
    if (!quantAvx512Enabled())
        QSKIP("this CPU has no AVX-512");
    std::mt19937 rng(8);
    std::normal_distribution<float> gauss;
    std::uniform_int_distribution<int> lattice(0, 6);
    std::lognormal_distribution<float> spread(0.f, 1.f);
    for (int trial = 0; trial < 6000; ++trial) {
        const int n = trial % 3 == 0 ? 8 : trial % 3 == 1 ? 16 : 32;
        const int nmax = trial % 4 == 0 ? 4 : trial % 4 == 1 ? 15 : trial % 4 == 2 ? 63 : 7;
        const int kind = (trial / 3) % 6;
        float x[32];
        float w[32];
        for (int i = 0; i < n; ++i) {
            x[i] = kind == 1 ? float(lattice(rng)) / 3 : std::fabs(gauss(rng));
            if (kind == 2 && i % 7 == 3)
                x[i] = -x[i];
            if (kind == 3 && i % 2)
                x[i] = 0.f;
            w[i] = kind == 4 ? 1.f : spread(rng);
            if (kind == 5 && i % 4 == 0)
                w[i] = 0.f;
        }
        std::uint8_t l0[32];
        std::uint8_t l1[32];
        const float s0 = makeQpQuants(n, nmax, x, l0, w);
        const float s1 = makeQpQuantsAvx512(n, nmax, x, l1, w);
        QVERIFY2(std::memcmp(&s0, &s1, sizeof s0) == 0, qPrintable(QString::number(trial)));
        QVERIFY2(std::equal(l0, l0 + n, l1), qPrintable(QString::number(trial)));
    }
}

QTEST_APPLESS_MAIN(TestCodecsIq)
#include "testcodecsiq.moc"
