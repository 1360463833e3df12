// Memory model: KV cache and compute-buffer bytes against hand computation from the formulas in
// memorymodel.h (and llama.cpp's logged buffer sizes), longest context monotonicity, fit badges.

#include "advisor/advisor.h"
#include "advisor/memorymodel.h"
#include "catalog/catalog.h"
#include "util/units.h"

#include <QTest>

using namespace QuantFit;

namespace {

const ModelShape &model(const char *id)
{
    return Catalog::builtIn()->get(QString::fromLatin1(id));
}

constexpr std::uint64_t MiBytes = 1024ull * 1024;

} // namespace

class TestAdvisorMemory : public QObject
{
    Q_OBJECT

private slots:
    // 2 x 80 layers x 8 KV heads x 128 head dim x 2 bytes = 327,680.
    void kvPerTokenLlama70b()
    {
        const ModelShape &m = model("llama-3.1-70b");
        QCOMPARE(kvBytesPerToken(m, KvCacheType::F16), 327680.0);
        // q8_0: 1024 elements = 32 blocks of 34 bytes = 1088 per row; 2 x 80 x 1088.
        QCOMPARE(kvBytesPerToken(m, KvCacheType::Q8_0), 174080.0);
        // q4_0: 32 blocks of 18 bytes = 576 per row; 2 x 80 x 576.
        QCOMPARE(kvBytesPerToken(m, KvCacheType::Q4_0), 92160.0);
        QCOMPARE(kvCacheBytes(m, 8192, KvCacheType::F16), 327680ull * 8192);
        QCOMPARE(kvBytesPerElement(KvCacheType::Q8_0), 34.0 / 32.0);
        QCOMPARE(kvBytesPerElement(KvCacheType::Q4_0), 18.0 / 32.0);
    }

    // Gemma 3 27B: 10 global layers hold the whole context, 52 sliding layers hold
    // pad256(1024 + 512) = 1536 cells; K and V rows of 16 x 128 f16 = 4096 bytes.
    void slidingWindowCapped()
    {
        const ModelShape &m = model("gemma-3-27b");
        const std::uint64_t expected = 10ull * 2 * 4096 * 32768 + 52ull * 2 * 4096 * 1536;
        QCOMPARE(kvCacheBytes(m, 32768, KvCacheType::F16), expected);
        // Below the window every layer holds the whole context.
        QCOMPARE(kvCacheBytes(m, 1024, KvCacheType::F16), 62ull * 2 * 4096 * 1024);
    }

    // Llama-3-8B, n_ctx 8192, no flash attention: KQ 32 heads x 8192 x 512 x 4 = 512 MiB, mask
    // 8192 x 512 x 4 = 16 MiB, activations (2 x 4096 + 2 x 4096) x 512 x 4 = 32 MiB: 560 MiB,
    // what llama.cpp logs for this model.
    void computeBufferNoFlash()
    {
        QCOMPARE(computeBufferBytes(model("llama-3.1-8b"), 8192, false), 560 * MiBytes);
    }

    // With flash attention the peak is the output: (128256 + 4096) x 512 x 4 = 258.5 MiB, the
    // "CPU compute buffer size = 258.50 MiB" llama.cpp prints for Llama 3 8B.
    void computeBufferFlash()
    {
        QCOMPARE(computeBufferBytes(model("llama-3.1-8b"), 8192, true), 517 * MiBytes / 2);
    }

    // Llama-2-7B at n_ctx 512: logits 32000 x 512 x 4 + 4096 x 512 x 4 = 70.5 MiB.
    void computeBufferSmallContext()
    {
        QCOMPARE(computeBufferBytes(model("llama-2-7b"), 512, false), 141 * MiBytes / 2);
    }

    // A llama.cpp log for a Mistral-7B-shaped model (32 layers, 32 heads, 8 KV heads, no flash
    // attention): compute buffer 164.00 MiB at n_ctx 2048 and 2144.00 MiB at n_ctx 32768, KV
    // 256 MiB at 2048. By the formula: 32 x 2048 x 512 x 4 = 128 MiB + 32 MiB + mask 4 MiB, and
    // 32 x 32768 x 512 x 4 = 2048 MiB + 32 MiB + mask 64 MiB.
    void computeBufferMistralLog()
    {
        const ModelShape &m = model("mistral-7b-v0.3");
        QCOMPARE(computeBufferBytes(m, 2048, false), 164 * MiBytes);
        QCOMPARE(computeBufferBytes(m, 32768, false), 2144 * MiBytes);
        QCOMPARE(kvCacheBytes(m, 2048, KvCacheType::F16), 256 * MiBytes);
    }

    void quantizedKvForcesFlash()
    {
        AdviceOptions o;
        o.kvType = KvCacheType::Q8_0;
        QVERIFY(effectiveFlashAttention(o));
        o.kvType = KvCacheType::F16;
        QVERIFY(!effectiveFlashAttention(o));
    }

    void longestContextGrowsWithRam()
    {
        const Advisor advisor;
        std::uint32_t previous = 0;
        for (int ram = 24; ram <= 256; ram += 8) {
            AdviceOptions o;
            o.ramBytes = std::uint64_t(ram) * 1'000'000'000ull;
            const ModelAdvice a = advisor.adviseModel(QStringLiteral("llama-3.1-70b"), o);
            const std::uint32_t longest = a.row(FileType::Q4_K_M)->longestContextTokens;
            QVERIFY2(longest >= previous, qPrintable(QStringLiteral("RAM %1").arg(ram)));
            QCOMPARE(longest % 256, 0u);
            QVERIFY(longest <= 131072);
            previous = longest;
        }
        QCOMPARE(previous, 131072u); // 256 GB holds the full context
    }

    void longestContextShrinksWithBits_data()
    {
        QTest::addColumn<QString>("id");
        QTest::addColumn<int>("ramGb");
        QTest::addColumn<QString>("kv");
        QTest::newRow("70b 96GB f16")
            << QStringLiteral("llama-3.1-70b") << 96 << QStringLiteral("f16");
        QTest::newRow("70b 64GB q8_0")
            << QStringLiteral("llama-3.1-70b") << 64 << QStringLiteral("q8_0");
        QTest::newRow("8b 16GB f16")
            << QStringLiteral("llama-3.1-8b") << 16 << QStringLiteral("f16");
        QTest::newRow("gemma3 27b 32GB")
            << QStringLiteral("gemma-3-27b") << 32 << QStringLiteral("q4_0");
        QTest::newRow("mixtral 48GB")
            << QStringLiteral("mixtral-8x7b") << 48 << QStringLiteral("f16");
    }
    void longestContextShrinksWithBits()
    {
        QFETCH(QString, id);
        QFETCH(int, ramGb);
        QFETCH(QString, kv);
        AdviceOptions o;
        o.ramBytes = std::uint64_t(ramGb) * 1'000'000'000ull;
        o.kvType = *kvCacheTypeFromName(kv);
        const ModelAdvice a = Advisor().adviseModel(id, o);
        // Levels in order of file size: each larger file leaves no more context.
        std::vector<const QuantRow *> rows;
        for (const QuantRow &r : a.rows)
            rows.push_back(&r);
        std::sort(rows.begin(), rows.end(),
            [](const QuantRow *x, const QuantRow *y) { return x->fileBytes < y->fileBytes; });
        for (std::size_t i = 1; i < rows.size(); ++i)
            QVERIFY2(rows[i]->longestContextTokens <= rows[i - 1]->longestContextTokens,
                qPrintable(rows[i]->name));
    }

    // A smaller KV element leaves at least as much context, for every level.
    void longestContextByKvType()
    {
        AdviceOptions o;
        o.ramBytes = 64'000'000'000ull;
        const ModelAdvice a = Advisor().adviseModel(QStringLiteral("llama-3.1-70b"), o);
        for (const QuantRow &r : a.rows) {
            const auto &l = r.longestContextByKvType;
            QCOMPARE(l[std::size_t(KvCacheType::F16)], r.longestContextTokens);
            QVERIFY(l[std::size_t(KvCacheType::Q8_0)] >= l[std::size_t(KvCacheType::F16)]);
            QVERIFY(l[std::size_t(KvCacheType::Q4_0)] >= l[std::size_t(KvCacheType::Q8_0)]);
        }
        // Q4_K_M (42.5 GB) on 64 GB: f16 KV runs out well before q4_0 does.
        const QuantRow *q4 = a.row(FileType::Q4_K_M);
        QVERIFY(q4->longestContextByKvType[2] > q4->longestContextByKvType[0]);
    }

    void badgeThresholds()
    {
        MemoryBreakdown m;
        m.reserveBytes = 8;
        m.weightsBytes = 90; // used 90 of usable 120: exactly 75 %
        QCOMPARE(fitBadge(m, 128), FitBadge::Comfortable);
        m.weightsBytes = 91;
        QCOMPARE(fitBadge(m, 128), FitBadge::Tight);
        m.weightsBytes = 120; // total 128 = RAM
        QCOMPARE(fitBadge(m, 128), FitBadge::Tight);
        m.weightsBytes = 121;
        QCOMPARE(fitBadge(m, 128), FitBadge::DoesNotFit);
    }

    void defaultReserveBySize()
    {
        QCOMPARE(defaultReserveBytes(8'000'000'000ull), 1'500'000'000ull);
        QCOMPARE(defaultReserveBytes(16'000'000'000ull), 2'500'000'000ull);
        QCOMPARE(defaultReserveBytes(32'000'000'000ull), 4'000'000'000ull);
        QCOMPARE(defaultReserveBytes(64'000'000'000ull), 6'000'000'000ull);
        QCOMPARE(defaultReserveBytes(128'000'000'000ull), 8'000'000'000ull);
    }
};

QTEST_APPLESS_MAIN(TestAdvisorMemory)
#include "testadvisormemory.moc"
