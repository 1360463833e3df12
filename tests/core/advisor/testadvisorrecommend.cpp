// Recommendations: the product brief's "Recommendations by System" tables for 128, 64 and 32 GB,
// the decision flow for single models, and bad input.

#include "advisor/advisor.h"
#include "catalog/catalog.h"
#include "util/error.h"

#include <QTest>

#include <algorithm>

using namespace QuantFit;

namespace {

AdviceOptions ram(double gb)
{
    AdviceOptions o;
    o.ramBytes = std::uint64_t(gb * 1e9);
    return o;
}

const PriorityRow *rowOf(const SystemAdvice &s, Priority p)
{
    for (const PriorityRow &r : s.rows) {
        if (r.priority == p)
            return &r;
    }
    return nullptr;
}

QString label(const PriorityRow *r)
{
    return r ? r->modelId + QLatin1Char(' ') + r->quant.name : QStringLiteral("(none)");
}

} // namespace

class TestAdvisorRecommend : public QObject
{
    Q_OBJECT

    Advisor m_advisor;

private slots:
    // Issue 12: memory from total parameters, speed from active ones, said in the advice
    // (Qwen3-235B-A22B: 235B total, 22B activated, 8 of 128 experts; Qwen's model card).
    void moeAdviceHoldVersusRead()
    {
        const ModelAdvice a = Advisor().adviseModel(QStringLiteral("qwen3-235b-a22b"), ram(128));
        const QString why = a.recommendation.reasons.join(QLatin1Char(' '));
        QVERIFY2(why.contains(QStringLiteral("235B parameters to hold, 22B read per token (8 of "
                                             "128 experts per layer)")),
                 qPrintable(why));
        const ModelAdvice dense = Advisor().adviseModel(QStringLiteral("llama-3.3-70b"), ram(128));
        QVERIFY(!dense.recommendation.reasons.join(QLatin1Char(' ')).contains(
            QStringLiteral("to hold")));
    }

    // The brief's tables over the current ladder (the strongest model of each size class:
    // Qwen3 8B/14B/32B, Llama 3.3 70B, gpt-oss 120B, Qwen3 235B-A22B, DeepSeek-R1). By hand:
    //   128 GB (usable 120, comfortable <= 90): Qwen3 235B at Q4_K_M is a 142 GB file, so the
    //     best lineup model comfortable at Q4_K_M is gpt-oss 120B (MMLU 90.0, 62.8 GB), and as
    //     its experts are MXFP4 at every level it takes Q8_0 (the published MXFP4_MOE file);
    //     Q5_K_M/Q6_K rows of the same model add nothing; the largest model comfortable at any
    //     level is Qwen3 235B, best at IQ2_M (smaller than its Q2_K, 85.7 GB, and losing less).
    //   64 GB (usable 58, comfortable <= 43.5): Llama 3.3 70B only at Q3_K_M (MMLU 79.3 x
    //     (1 - 3.6 %)), below Qwen3 32B at Q4_K_M (83.6); Qwen3 32B is also the largest at Q5_K_M
    //     and Q6_K; the largest at any level is Llama 3.3 70B Q3_K_M.
    //   32 GB (usable 28, comfortable <= 21): Qwen3 32B's Q4_K_M needs about 22.8 GB and its
    //     Q3_K_M loses more than 5 %, so Qwen3 14B (81.1) wins, at the flow's Q6_K; the largest
    //     at any level is Qwen3 32B Q3_K_M.
    void briefTables_data()
    {
        QTest::addColumn<int>("ramGb");
        QTest::addColumn<int>("priority");
        QTest::addColumn<QString>("expected");
        QTest::newRow("128 best balance")
            << 128 << int(Priority::BestBalance) << QStringLiteral("gpt-oss-120b Q8_0");
        QTest::newRow("128 maximum size")
            << 128 << int(Priority::MaximumSize) << QStringLiteral("qwen3-235b-a22b IQ2_M");
        QTest::newRow("64 best balance")
            << 64 << int(Priority::BestBalance) << QStringLiteral("qwen3-32b Q4_K_M");
        QTest::newRow("64 higher quality")
            << 64 << int(Priority::HigherQuality) << QStringLiteral("qwen3-32b Q5_K_M");
        QTest::newRow("64 maximum quality")
            << 64 << int(Priority::MaximumQuality) << QStringLiteral("qwen3-32b Q6_K");
        QTest::newRow("64 maximum size")
            << 64 << int(Priority::MaximumSize) << QStringLiteral("llama-3.3-70b Q3_K_M");
        QTest::newRow("32 best balance")
            << 32 << int(Priority::BestBalance) << QStringLiteral("qwen3-14b Q6_K");
        QTest::newRow("32 maximum")
            << 32 << int(Priority::MaximumSize) << QStringLiteral("qwen3-32b Q3_K_M");
    }
    void briefTables()
    {
        QFETCH(int, ramGb);
        QFETCH(int, priority);
        QFETCH(QString, expected);
        const SystemAdvice s = m_advisor.adviseSystem(ram(ramGb));
        const PriorityRow *r = rowOf(s, Priority(priority));
        QCOMPARE(label(r), expected);
        QVERIFY(r->quant.badge != FitBadge::DoesNotFit);
        QVERIFY(r->explanation.contains(r->modelName));
        QVERIFY(r->explanation.contains(QStringLiteral(" GB")));
    }

    // The brief's "405B Q2_K ~95GB" is wrong: 405B at Q2_K is about 149 GB and does not fit 128 GB.
    // And a 2026 ladder row says why its model stands for the size class.
    void brief405bCorrected()
    {
        const SystemAdvice s = m_advisor.adviseSystem(ram(128));
        const QString notes = s.notes.join(QLatin1Char(' '));
        QVERIFY2(notes.contains(QStringLiteral("405B Q2_K ~95GB")), qPrintable(notes));
        QVERIFY(notes.contains(QStringLiteral("does not fit")));
        QVERIFY(notes.contains(QStringLiteral("IQ1_M")));
        const SystemAdvice s64 = m_advisor.adviseSystem(ram(64));
        const PriorityRow *best = rowOf(s64, Priority::BestBalance);
        QVERIFY(best->explanation.contains(QStringLiteral("Code Llama 34B")));
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-405b"), ram(128));
        const QuantRow *q2 = a.row(FileType::Q2_K);
        QVERIFY(q2->fileBytes > 140'000'000'000ull && q2->fileBytes < 160'000'000'000ull);
        QCOMPARE(q2->badge, FitBadge::DoesNotFit);
        QCOMPARE(q2->longestContextTokens, 0u);
    }

    // Below the brief's ladder (8 GB): rows still come, from the whole catalog, and say so.
    void smallMachineUsesWholeCatalog()
    {
        const SystemAdvice s = m_advisor.adviseSystem(ram(8));
        QVERIFY(rowOf(s, Priority::BestBalance));
        for (const PriorityRow &r : s.rows)
            QCOMPARE(r.quant.badge, FitBadge::Comfortable);
        QVERIFY(!s.notes.isEmpty());
        QVERIFY(s.notes.first().contains(QStringLiteral("whole catalog")));
    }

    // A row that would repeat best balance at the same or a lower level is left out.
    void noRedundantRows()
    {
        const SystemAdvice s = m_advisor.adviseSystem(ram(16));
        const PriorityRow *best = rowOf(s, Priority::BestBalance);
        QVERIFY(best);
        for (const PriorityRow &r : s.rows) {
            if (&r != best && r.priority != Priority::MaximumSize)
                QVERIFY(
                    r.modelId != best->modelId || r.quant.nominalBits > best->quant.nominalBits);
        }
    }

    // The brief's decision flow: "Start with Q4_K_M"; memory to spare -> "go up one quant level
    // (Q4->Q5 or Q5->Q6)"; "Use Q8_0 only if model comfortably fits with room for context".
    void decisionFlowGoesUp()
    {
        // 8B on 128 GB: everything is comfortable, Q8_0 leaves most memory for context.
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-8b"), ram(128));
        const QuantRecommendation &r = a.recommendation;
        QCOMPARE(r.fileType, std::optional<FileType>(FileType::Q8_0));
        QVERIFY(a.row(FileType::Q8_0)->recommended);
        QCOMPARE(r.fit, FitBadge::Comfortable);
        QVERIFY(!r.belowStart);
        QCOMPARE(r.steps.size(), 4);
        QVERIFY(r.steps[0].startsWith(QStringLiteral("Start with Q4_K_M")));
        QVERIFY2(r.steps[1].contains(QStringLiteral("up one level to Q5_K_M")), qPrintable(r.steps[1]));
        QVERIFY2(r.steps[2].contains(QStringLiteral("up one level to Q6_K")), qPrintable(r.steps[2]));
        QVERIFY2(r.steps[3].contains(QStringLiteral("up one level to Q8_0")), qPrintable(r.steps[3]));
        QVERIFY(r.headline.contains(QStringLiteral("Llama 3.1 8B")));
        QVERIFY(r.headline.contains(QStringLiteral("128 GB")));
        QVERIFY(r.headline.endsWith(QStringLiteral("Q8_0")));
        // The deciding reason comes first: room for context.
        QVERIFY2(r.reasons.first().contains(QStringLiteral("room for context")), qPrintable(r.reasons.first()));
        QVERIFY(r.alternativeModelId.isEmpty());

        // 70B on 128 GB stops at Q6_K: Q8_0's weights take more than half of the usable memory.
        const ModelAdvice b = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), ram(128));
        QCOMPARE(b.recommendation.fileType, std::optional<FileType>(FileType::Q6_K));
        QCOMPARE(b.recommendation.fit, FitBadge::Comfortable);
        QVERIFY(b.recommendation.steps.last().contains(QStringLiteral("Q8_0")));
        QVERIFY(b.recommendation.steps.last().contains(QStringLiteral("context")));
        QVERIFY2(b.recommendation.reasons.first().contains(QStringLiteral("Q8_0")),
                 qPrintable(b.recommendation.reasons.first()));
    }

    // "Do you have memory to spare? No -> Is quality critical? Yes: smaller model at higher
    // quant; No: use current quant level."
    void decisionFlowTight()
    {
        // 70B on 64 GB: Q4_K_M fits but is tight.
        AdviceOptions o = ram(64);
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), o);
        const QuantRecommendation &r = a.recommendation;
        QCOMPARE(a.row(FileType::Q4_K_M)->badge, FitBadge::Tight);
        QCOMPARE(r.fileType, std::optional<FileType>(FileType::Q4_K_M));
        QCOMPARE(r.fit, FitBadge::Tight);
        QVERIFY(!r.belowStart);
        QCOMPARE(r.steps.size(), 2);
        QVERIFY(r.steps[0].contains(QStringLiteral("no memory to spare")));
        QVERIFY(r.steps[1].contains(QStringLiteral("stay at Q4_K_M")));
        QCOMPARE(r.headline, QStringLiteral("Recommended for Llama 3.1 70B on 64 GB: Q4_K_M"));
        // Its file: 42.5 GB (the published Q4_K_M GGUF of Llama 3.1 70B, 42.52 GB).
        QVERIFY(r.reasons.join(QLatin1Char(' ')).contains(QStringLiteral("42.5 GB")));
        QVERIFY(r.alternativeModelId.isEmpty());
        QVERIFY(r.alternativeModelName.isEmpty());
        // Quality critical: name a smaller model at a higher quant (same family first).
        o.qualityCritical = true;
        const ModelAdvice b = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), o);
        QCOMPARE(b.recommendation.fileType, std::optional<FileType>(FileType::Q4_K_M));
        QCOMPARE(b.recommendation.alternativeModelId, QStringLiteral("llama-3.1-8b"));
        QCOMPARE(b.recommendation.alternativeModelName, QStringLiteral("Llama 3.1 8B"));
        QVERIFY(b.recommendation.alternativeFileType);
        const FileType alt = *b.recommendation.alternativeFileType;
        QVERIFY(alt == FileType::Q5_K_M || alt == FileType::Q6_K || alt == FileType::Q8_0);
        QVERIFY(b.recommendation.steps.last().contains(QStringLiteral("Llama 3.1 8B")));
    }

    // "Avoid Q2_K/Q3_K unless necessary - quality degradation noticeable."
    void decisionFlowDoesNotFit()
    {
        // 70B on 24 GB: not even Q2_K or IQ2_XXS fits at 8192 tokens; the 8B is named instead.
        // (On 32 GB an I-quant fits: testadvisoriquants.cpp.)
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), ram(24));
        const QuantRecommendation &r = a.recommendation;
        QVERIFY(!r.fileType);
        QCOMPARE(r.fit, FitBadge::DoesNotFit);
        QVERIFY(std::none_of(a.rows.begin(), a.rows.end(), [](const QuantRow &q) { return q.recommended; }));
        QVERIFY(std::none_of(a.iquantRows.begin(), a.iquantRows.end(), [](const QuantRow &q) { return q.recommended; }));
        QVERIFY2(r.headline.contains(QStringLiteral("does not fit")) && r.headline.contains(QStringLiteral("24 GB")),
                 qPrintable(r.headline));
        QVERIFY(!r.reasons.isEmpty());
        QVERIFY(r.reasons.first().contains(QStringLiteral("Q2_K")));
        QCOMPARE(r.alternativeModelId, QStringLiteral("llama-3.1-8b"));
        // 70B on 48 GB: Q4_K_M does not fit, Q3_K_M does, because it is necessary.
        const ModelAdvice b = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), ram(48));
        QCOMPARE(b.recommendation.fileType, std::optional<FileType>(FileType::Q3_K_M));
        QVERIFY(b.recommendation.belowStart);
        QVERIFY2(b.recommendation.reasons.first().contains(QStringLiteral("quality loss")),
                 qPrintable(b.recommendation.reasons.first()));
    }

    // Structured for layout: a one-line headline, and reasons and steps as whole sentences, so
    // neither the app nor the CLI has to cut or join text.
    void recommendationIsStructured_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("ramGb");
        QTest::newRow("8B on 128 GB") << QStringLiteral("llama-3.1-8b") << 128;
        QTest::newRow("70B on 64 GB") << QStringLiteral("llama-3.1-70b") << 64;
        QTest::newRow("70B on 48 GB") << QStringLiteral("llama-3.1-70b") << 48;
        QTest::newRow("70B on 32 GB") << QStringLiteral("llama-3.1-70b") << 32;
        QTest::newRow("70B on 24 GB") << QStringLiteral("llama-3.1-70b") << 24;
        QTest::newRow("405B on 128 GB") << QStringLiteral("llama-3.1-405b") << 128;
    }
    void recommendationIsStructured()
    {
        QFETCH(QString, model);
        QFETCH(int, ramGb);
        const QuantRecommendation r = m_advisor.adviseModel(model, ram(ramGb)).recommendation;
        QVERIFY(!r.headline.isEmpty());
        QVERIFY(!r.headline.contains(QLatin1Char('\n')));
        QVERIFY(!r.headline.endsWith(QLatin1Char('.')));
        QVERIFY(!r.headline.contains(QStringLiteral(". ")));
        QVERIFY(r.reasons.size() >= 3);
        QVERIFY(!r.steps.isEmpty());
        for (const QString &sentence : r.reasons + r.steps) {
            QVERIFY2(sentence.endsWith(QLatin1Char('.')) && !sentence.contains(QLatin1Char('\n')),
                     qPrintable(sentence));
            QVERIFY2(!sentence.contains(QStringLiteral(". ")), qPrintable(sentence)); // one sentence
            QVERIFY2(sentence.front().isUpper(), qPrintable(sentence));
        }
    }

    void badInput()
    {
        QVERIFY_THROWS_EXCEPTION(Error, m_advisor.adviseSystem(ram(0)));
        QVERIFY_THROWS_EXCEPTION(
            Error, m_advisor.adviseModel(QStringLiteral("llama-3.1-8b"), ram(0)));
        QVERIFY_THROWS_EXCEPTION(
            Error, m_advisor.adviseModel(QStringLiteral("no-such-model"), ram(32)));
        AdviceOptions o = ram(32);
        o.reserveBytes = o.ramBytes;
        QVERIFY_THROWS_EXCEPTION(Error, m_advisor.adviseModel(QStringLiteral("llama-3.1-8b"), o));
        o = ram(32);
        o.contextTokens = 8192; // Llama 2 13B was trained on 4096
        try {
            m_advisor.adviseModel(QStringLiteral("llama-2-13b"), o);
            QFAIL("expected an error");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(QStringLiteral("4096")), qPrintable(e.message()));
        }
    }

    // A shape the user enters: sized like a catalog entry; an inconsistent one is refused.
    void enteredShape()
    {
        ModelShape s = *m_advisor.catalog().find(QStringLiteral("llama-3.1-8b"));
        s.id = QStringLiteral("my-8b");
        s.name = QStringLiteral("My 8B");
        const ModelAdvice a = m_advisor.adviseShape(s, ram(32));
        const ModelAdvice b = m_advisor.adviseModel(QStringLiteral("llama-3.1-8b"), ram(32));
        QCOMPARE(a.row(FileType::Q4_K_M)->fileBytes, b.row(FileType::Q4_K_M)->fileBytes);
        QCOMPARE(a.model.name, QStringLiteral("My 8B"));
        s.nHeadsKv = 7; // 32 heads are not a multiple of 7
        QVERIFY_THROWS_EXCEPTION(Error, m_advisor.adviseShape(s, ram(32)));
    }

    void contextOptionApplies()
    {
        AdviceOptions o = ram(128);
        o.contextTokens = 32768;
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), o);
        const QuantRow *r = a.row(FileType::Q4_K_M);
        QCOMPARE(r->contextTokens, 32768u);
        QCOMPARE(r->memory.kvCacheBytes, 327680ull * 32768);
        QCOMPARE(r->memory.reserveBytes, 8'000'000'000ull);
        QCOMPARE(std::int64_t(o.ramBytes - r->memory.totalBytes()), r->freeAtContextBytes);
    }
};

QTEST_APPLESS_MAIN(TestAdvisorRecommend)
#include "testadvisorrecommend.moc"
