#include "eval/baselogits.h"

#include "util/error.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace QuantFit;

namespace {

std::vector<float> logitsOf(const std::vector<double> &probs, double shift = 3.0)
{
    std::vector<float> z;
    for (const double p : probs)
        z.push_back(float(std::log(p) + shift));
    return z;
}

BaseLogitsRecord decode(const std::vector<std::uint8_t> &bytes, std::size_t nVocab = 0)
{
    // Mirrors the documented layout: nll, tail, n, tailKind, n × {id, logProb}, dense tail.
    BaseLogitsRecord r;
    std::uint32_t n = 0, kind = 0;
    std::memcpy(&r.nllBase, bytes.data(), 4);
    std::memcpy(&r.tailMass, bytes.data() + 4, 4);
    std::memcpy(&n, bytes.data() + 8, 4);
    std::memcpy(&kind, bytes.data() + 12, 4);
    r.entries.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        std::memcpy(&r.entries[i].id, bytes.data() + 16 + 8 * i, 4);
        std::memcpy(&r.entries[i].logProb, bytes.data() + 20 + 8 * i, 4);
    }
    if (kind == 1) {
        const std::uint8_t *t = bytes.data() + 16 + 8 * n;
        std::memcpy(&r.tailMin, t, 4);
        std::memcpy(&r.tailStep, t + 4, 4);
        r.tailCodes.resize(nVocab);
        std::memcpy(r.tailCodes.data(), t + 8, 2 * nVocab);
    }
    return r;
}

double exactKld(const std::vector<double> &p, const std::vector<double> &q)
{
    double k = 0;
    for (std::size_t i = 0; i < p.size(); ++i)
        k += p[i] * std::log(p[i] / q[i]);
    return k;
}

} // namespace

class TestEvalBaseLogits : public QObject
{
    Q_OBJECT

private slots:
    void recordListsTheHeadUntilTheTailIsSmall()
    {
        const std::vector<double> p{0.125, 0.5, 0.125, 0.25};
        std::vector<std::uint8_t> bytes;
        encodeBaseRecord(logitsOf(p), 2, {16, 0.2f, 1.0f}, bytes);
        // 0.5 (tail .5), 0.25 (tail .25), then 0.125 of id 0 before id 2 (tail .125 ≤ .2).
        QCOMPARE(bytes.size(), std::size_t(16 + 3 * 8));
        const BaseLogitsRecord r = decode(bytes);
        QCOMPARE(r.entries.size(), std::size_t(3));
        QCOMPARE(r.entries[0].id, 1u);
        QCOMPARE(r.entries[1].id, 3u);
        QCOMPARE(r.entries[2].id, 0u);
        QVERIFY(std::abs(r.entries[0].logProb - std::log(0.5)) < 1e-6);
        QVERIFY(std::abs(r.tailMass - 0.125) < 1e-6);
        QVERIFY(std::abs(r.nllBase - std::log(8.0)) < 1e-6);
    }

    void recordStopsAtMaxEntries()
    {
        std::vector<std::uint8_t> bytes;
        encodeBaseRecord(std::vector<float>(100, 1.0f), 7, {10, 1e-6f, 1.0f}, bytes);
        const BaseLogitsRecord r = decode(bytes);
        QCOMPARE(r.entries.size(), std::size_t(10));
        QVERIFY(std::abs(r.tailMass - 0.9) < 1e-6);
        for (std::uint32_t i = 0; i < 10; ++i)
            QCOMPARE(r.entries[i].id, i); // ties: lower id first
    }

    void kldOfAFullyListedRecordIsExact()
    {
        const std::vector<double> p{0.5, 0.25, 0.125, 0.125};
        const std::vector<double> q{0.25, 0.25, 0.25, 0.25};
        std::vector<std::uint8_t> bytes;
        encodeBaseRecord(logitsOf(p), 1, {16, 0.0f, 1.0f}, bytes);
        std::vector<std::uint8_t> mark;
        const TokenComparison c = compareToBase(logitsOf(q, -5.0), 1, decode(bytes), mark);
        // Σ p log(p/q) = 0.5 ln 2 + 0 + 2 · 0.125 ln 0.5 = 0.25 ln 2.
        QVERIFY(std::abs(c.kld - 0.25 * std::log(2.0)) < 1e-6);
        QCOMPARE(c.tailBound, 0.0);
        QVERIFY(std::abs(c.nll - std::log(4.0)) < 1e-6);
        QVERIFY(std::abs(c.nllBase - std::log(4.0)) < 1e-6);
        QVERIFY(c.sameTop); // both arg-maxes are id 0 (the first of the equal q)
    }

    void sameTopComparesArgMax()
    {
        const std::vector<double> p{0.1, 0.6, 0.3};
        std::vector<std::uint8_t> bytes;
        encodeBaseRecord(logitsOf(p), 0, {16, 0.0f, 1.0f}, bytes);
        std::vector<std::uint8_t> mark;
        QVERIFY(compareToBase(logitsOf({0.2, 0.5, 0.3}), 0, decode(bytes), mark).sameTop);
        QVERIFY(!compareToBase(logitsOf({0.2, 0.3, 0.5}), 0, decode(bytes), mark).sameTop);
        QVERIFY(std::abs(compareToBase(logitsOf(p), 0, decode(bytes), mark).kld) < 1e-6);
    }

    void truncatedRecordBoundsTheTrueKld()
    {
        // Random distributions over 1000 tokens; keep 50 entries. The estimate must lie within
        // [true − tailBound, true] (log-sum inequality), and be exact when the tails are equal.
        std::mt19937 rng(7);
        std::normal_distribution<double> g(0.0, 2.0);
        for (int trial = 0; trial < 20; ++trial) {
            std::vector<double> zp(1000), zq(1000);
            for (std::size_t i = 0; i < zp.size(); ++i) {
                zp[i] = g(rng);
                zq[i] = zp[i] + 0.3 * g(rng);
            }
            auto softmax = [](const std::vector<double> &z) {
                double m = *std::max_element(z.begin(), z.end()), s = 0;
                std::vector<double> p(z.size());
                for (std::size_t i = 0; i < z.size(); ++i)
                    s += (p[i] = std::exp(z[i] - m));
                for (double &v : p)
                    v /= s;
                return p;
            };
            const std::vector<double> p = softmax(zp), q = softmax(zq);
            std::vector<float> lp(zp.begin(), zp.end()), lq(zq.begin(), zq.end());
            std::vector<std::uint8_t> bytes;
            encodeBaseRecord(lp, 3, {50, 0.0f, 1.0f}, bytes);
            const BaseLogitsRecord r = decode(bytes);
            QCOMPARE(r.entries.size(), std::size_t(50));
            QVERIFY(r.tailMass > 0.01);
            std::vector<std::uint8_t> mark;
            const TokenComparison c = compareToBase(lq, 3, r, mark);
            const double truth = exactKld(p, q);
            QVERIFY2(c.kld <= truth + 1e-5, qPrintable(QStringLiteral("%1 > %2").arg(c.kld).arg(truth)));
            QVERIFY2(c.kld + c.tailBound >= truth - 1e-5,
                     qPrintable(QStringLiteral("%1 + %2 < %3").arg(c.kld).arg(c.tailBound).arg(truth)));
        }
    }

    void denseTailKeepsFlatDistributionsAccurate()
    {
        // A flat distribution over 2000 tokens with 50 listed: 97% of the mass is unlisted, so
        // the tail is stored densely and the KLD must match the exact value closely.
        std::mt19937 rng(3);
        std::normal_distribution<double> g(0.0, 0.5);
        for (int trial = 0; trial < 5; ++trial) {
            std::vector<double> zp(2000), zq(2000);
            for (std::size_t i = 0; i < zp.size(); ++i) {
                zp[i] = g(rng);
                zq[i] = zp[i] + 0.2 * g(rng);
            }
            auto softmax = [](const std::vector<double> &z) {
                double m = *std::max_element(z.begin(), z.end()), s = 0;
                std::vector<double> p(z.size());
                for (std::size_t i = 0; i < z.size(); ++i)
                    s += (p[i] = std::exp(z[i] - m));
                for (double &v : p)
                    v /= s;
                return p;
            };
            const std::vector<double> p = softmax(zp), q = softmax(zq);
            const std::vector<float> lp(zp.begin(), zp.end()), lq(zq.begin(), zq.end());
            std::vector<std::uint8_t> bytes;
            encodeBaseRecord(lp, 3, {50, 1e-6f, 1e-4f}, bytes);
            QCOMPARE(bytes.size(), std::size_t(16 + 50 * 8 + 8 + 2 * 2000));
            const BaseLogitsRecord r = decode(bytes, 2000);
            QVERIFY(r.tailMass > 0.9f);
            std::vector<std::uint8_t> mark;
            const TokenComparison c = compareToBase(lq, 3, r, mark);
            const double truth = exactKld(p, q);
            QVERIFY2(std::abs(c.kld - truth) < 1e-3 * truth + 1e-6,
                     qPrintable(QStringLiteral("%1 vs %2").arg(c.kld).arg(truth)));
            QVERIFY(std::abs(c.kld - truth) <= c.tailBound + 1e-7);
            // Against itself the dense tail gives (almost) zero.
            QVERIFY(std::abs(compareToBase(lp, 3, r, mark).kld) < 1e-6);
        }
    }

    void readsLlamaCppBaseFiles()
    {
        // A llama-perplexity --kl-divergence-base file built by hand from its layout
        // (docs/formats.md, "Base logits"): n_ctx 4 (one scored position per chunk: position 2
        // predicts token 3), vocabulary 5 (odd: one padding slot), 2 chunks.
        const std::vector<std::int32_t> tokens{1, 4, 2, 0, 1, 3, 3, 2};
        const std::vector<std::vector<float>> rows{{0.5f, 2.0f, -1.0f, 1.0f, 0.0f},
                                                   {3.0f, -30.0f, 1.0f, 1.0f, 2.5f}};
        QByteArray file("_logits_");
        auto i32 = [&](std::int32_t v) { file.append(reinterpret_cast<const char *>(&v), 4); };
        i32(4);
        i32(5);
        i32(2);
        for (const std::int32_t t : tokens)
            i32(t);
        for (const auto &z : rows) {
            const float max = *std::max_element(z.begin(), z.end());
            const float min = std::max(*std::min_element(z.begin(), z.end()), max - 16);
            double sum = 0;
            for (const float v : z)
                sum += double(std::exp(v - max)); // expf, summed in double, as llama.cpp does
            const float logSum = float(std::log(sum));
            const float scale = (max - min) / 65535.0f;
            const float minLp = min - max - logSum;
            file.append(reinterpret_cast<const char *>(&scale), 4);
            file.append(reinterpret_cast<const char *>(&minLp), 4);
            for (const float v : z) {
                const std::uint16_t code = v > min ? std::uint16_t(std::lround((1 / scale) * (v - min))) : 0;
                file.append(reinterpret_cast<const char *>(&code), 2);
            }
            file.append(QByteArray(2, '\0')); // padding slot
        }
        // Our encoder writes the same records.
        std::vector<std::uint8_t> encoded;
        for (const auto &z : rows)
            encodeLlamaRecord(z, encoded);
        QCOMPARE(QByteArray(reinterpret_cast<const char *>(encoded.data()), qsizetype(encoded.size())),
                 file.right(qsizetype(encoded.size())));

        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("llama.kld"));
        QFile out(path);
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(file);
        out.close();

        const BaseLogitsFile f = BaseLogitsFile::open(path);
        QCOMPARE(f.format(), BaseLogitsFile::Format::LlamaCpp);
        QCOMPARE(f.header().nCtx, 4u);
        QCOMPARE(f.header().nVocab, 5u);
        QCOMPARE(f.header().nChunks, 2u);
        QCOMPARE(std::vector<std::int32_t>(f.tokens().begin(), f.tokens().end()), tokens);
        std::vector<std::uint8_t> mark;
        for (std::uint32_t k = 0; k < 2; ++k) {
            const BaseLogitsRecord r = f.record(k, 0);
            QCOMPARE(r.entries.front().id, k == 0 ? 1u : 0u); // arg-max of each row
            const std::uint32_t next = std::uint32_t(tokens[k * 4 + 3]);
            // Against the same logits: nll equal to the base's (to the 16-bit rounding), KLD ~0.
            const TokenComparison same = compareToBase(rows[k], next, r, mark);
            QVERIFY2(std::abs(same.nll - same.nllBase) < 1e-3, qPrintable(QString::number(same.nllBase)));
            QVERIFY(std::abs(same.kld) < 1e-4);
            QVERIFY(same.sameTop);
            // Against other logits: llama.cpp's sum over log-probs above −16.
            std::vector<float> other = rows[k];
            std::swap(other[0], other[2]);
            const TokenComparison c = compareToBase(other, next, r, mark);
            double expected = 0, sumQ = 0;
            const float maxO = *std::max_element(other.begin(), other.end());
            for (const float v : other)
                sumQ += std::exp(double(v - maxO));
            for (std::size_t i = 0; i < 5; ++i) {
                const float lp = r.tailStep * float(r.tailCodes[i]) + r.tailMin;
                if (lp > -16)
                    expected += std::exp(double(lp)) * (lp - (other[i] - maxO - std::log(sumQ)));
            }
            QVERIFY2(std::abs(c.kld - expected) < 1e-6, qPrintable(QStringLiteral("%1 vs %2").arg(c.kld).arg(expected)));
            QVERIFY(c.kld > 0.01);
        }

        // A truncated llama.cpp file is refused with the sizes named.
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(file.left(file.size() - 2));
        out.close();
        try {
            BaseLogitsFile::open(path);
            QFAIL("no error");
        } catch (const FormatError &e) {
            QCOMPARE(e.field(), QStringLiteral("n_chunk"));
        }
    }

    void fileRoundTrip()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("base.qfkl"));
        const BaseLogitsHeader h{.nCtx = 8, .nVocab = 5, .nChunks = 2,
                                 .limits = {3, 0.0f, 1.0f}, .addBos = true};
        QCOMPARE(h.nScoredPerChunk(), 3u); // positions 4, 5, 6
        const std::vector<std::int32_t> tokens{1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 1, 2};
        {
            BaseLogitsWriter w(path, h, tokens);
            for (int k = 0; k < 2; ++k) {
                std::vector<std::uint8_t> recs;
                for (int j = 0; j < 3; ++j)
                    encodeBaseRecord(std::vector<float>{float(j), 1, 2, 0, float(k)}, 1, {3, 0.0f, 1.0f}, recs);
                w.writeChunk(recs);
            }
            w.commit();
        }
        const BaseLogitsFile f = BaseLogitsFile::open(path);
        QCOMPARE(f.header().nCtx, 8u);
        QCOMPARE(f.header().nVocab, 5u);
        QCOMPARE(f.header().nChunks, 2u);
        QVERIFY(f.header().addBos);
        QCOMPARE(std::vector<std::int32_t>(f.tokens().begin(), f.tokens().end()), tokens);
        const BaseLogitsRecord r = f.record(1, 2); // logits {2, 1, 2, 0, 1}
        QCOMPARE(r.entries.size(), std::size_t(3));
        QCOMPARE(r.entries[0].id, 0u);
        QCOMPARE(r.entries[1].id, 2u);
        QVERIFY(r.tailMass > 0);
        const std::uint64_t expectedBytes = 40 + 16 * 4 + 6 * (16 + 3 * 8);
        QCOMPARE(f.fileBytes(), expectedBytes);
    }

    void uncommittedWriterLeavesNothing()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("base.qfkl"));
        {
            BaseLogitsWriter w(path, BaseLogitsHeader{.nCtx = 4, .nVocab = 3, .nChunks = 1, .limits = {}},
                               std::vector<std::int32_t>{0, 1, 2, 0});
            QVERIFY_THROWS_EXCEPTION(Error, w.commit()); // no chunk written
        }
        QVERIFY(!QFile::exists(path));
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files).size(), 0);
    }

    void hostileFiles_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("field");
        auto header = [](std::uint32_t nCtx, std::uint32_t nVocab, std::uint32_t nChunks,
                         std::uint32_t maxEntries) {
            QByteArray b("QFKLBASE");
            const std::uint32_t v[] = {1, nCtx, nVocab, nChunks, maxEntries};
            b.append(reinterpret_cast<const char *>(v), sizeof v);
            const float limits[] = {0.0f, 1.0f}; // tail target, dense tails above
            b.append(reinterpret_cast<const char *>(limits), sizeof limits);
            b.append(QByteArray(4, '\0'));
            return b;
        };
        auto u32 = [](std::uint32_t v) { return QByteArray(reinterpret_cast<const char *>(&v), 4); };
        auto f32 = [](float v) { return QByteArray(reinterpret_cast<const char *>(&v), 4); };
        QByteArray tokens4 = u32(0) + u32(1) + u32(2) + u32(1); // one chunk of nCtx 4
        QByteArray goodRecord = f32(1.0f) + f32(0.0f) + u32(1) + u32(0) + u32(1) + f32(-0.1f);

        QTest::newRow("bad magic") << QByteArray("NOTMAGIC").append(QByteArray(40, '\0'))
                                   << QStringLiteral("magic");
        QTest::newRow("llama.cpp file, zero context")
            << QByteArray("_logits_").append(QByteArray(40, '\0')) << QStringLiteral("n_ctx");
        QByteArray v2 = header(4, 3, 1, 3);
        v2[8] = 2;
        QTest::newRow("future version") << v2 << QStringLiteral("version");
        QTest::newRow("truncated header") << QByteArray("QFKLBASE\1\0\0\0", 12) << QStringLiteral("n_ctx");
        QTest::newRow("tiny context") << header(1, 3, 1, 3) + tokens4 << QStringLiteral("n_ctx");
        QTest::newRow("huge chunk count") << header(4, 3, 0x7fffffff, 3) + tokens4
                                          << QStringLiteral("n_chunks");
        QTest::newRow("token outside vocabulary")
            << header(4, 3, 1, 3) + u32(0) + u32(9) + u32(0) + u32(0) + goodRecord
            << QStringLiteral("tokens[1]");
        QTest::newRow("too many entries")
            << header(4, 3, 1, 3) + tokens4 + f32(1.0f) + f32(0.0f) + u32(4) + QByteArray(36, '\0')
            << QStringLiteral("n_entries");
        QTest::newRow("entry id outside vocabulary")
            << header(4, 3, 1, 3) + tokens4 + f32(1.0f) + f32(0.0f) + u32(1) + u32(0) + u32(3) + f32(-1.0f)
            << QStringLiteral("entry 0");
        QTest::newRow("truncated entries")
            << header(4, 3, 1, 3) + tokens4 + f32(1.0f) + f32(0.0f) + u32(2) + u32(0) + u32(0) + f32(-1.0f)
            << QStringLiteral("entries");
        QTest::newRow("bad tail kind")
            << header(4, 3, 1, 3) + tokens4 + f32(1.0f) + f32(0.0f) + u32(1) + u32(7) + u32(1) + f32(-0.1f)
            << QStringLiteral("tail_kind");
        QTest::newRow("truncated dense tail")
            << header(4, 3, 1, 3) + tokens4 + f32(1.0f) + f32(0.5f) + u32(1) + u32(1) + u32(1)
                   + f32(-0.1f) + f32(-5.0f) + f32(0.001f) + QByteArray(4, '\0')
            << QStringLiteral("dense tail");
        QTest::newRow("trailing bytes") << header(4, 3, 1, 3) + tokens4 + goodRecord + "xy"
                                        << QStringLiteral("end of file");
    }

    void hostileFiles()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, field);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("bad.qfkl"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(bytes);
        f.close();
        try {
            BaseLogitsFile::open(path);
            QFAIL("no error");
        } catch (const FormatError &e) {
            QVERIFY2(e.field().contains(field), qPrintable(e.message()));
            QVERIFY2(e.message().contains(path), qPrintable(e.message()));
        }
    }
};

QTEST_APPLESS_MAIN(TestEvalBaseLogits)
#include "testevalbaselogits.moc"
