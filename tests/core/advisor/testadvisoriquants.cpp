// core/advisor and the I-quant mixes: sizes against llama.cpp's published bits per weight,
// quality figures against llama.cpp's published perplexity scoreboard, the recommendation's
// choice of an I-quant where nothing larger fits, and which mixes are listed for which models.

#include "testsupport.h"

#include "advisor/advisor.h"
#include "advisor/estimates.h"
#include "catalog/catalog.h"
#include "gguf/filetype.h"
#include "gguf/ggufreader.h"

#include <QDir>
#include <QFileInfo>
#include <QTest>

#include <algorithm>
#include <cmath>

using namespace QuantFit;

namespace {

AdviceOptions ram(int gb)
{
    AdviceOptions o;
    o.ramBytes = std::uint64_t(gb) * 1'000'000'000ull;
    return o;
}

bool listed(const ModelAdvice &a, FileType ft)
{
    return std::any_of(a.otherMixes.begin(), a.otherMixes.end(),
                       [ft](const MixSize &m) { return m.fileType == ft; });
}

} // namespace

class TestAdvisorIQuants : public QObject
{
    Q_OBJECT

    Advisor m_advisor;

private slots:
    // llama.cpp's tools/quantize/README.md lists bits per weight of every mix for Llama 3.1 8B;
    // the I-quants there were made with an importance matrix, as the advisor sizes them.
    void llama31_8bBitsPerWeight_data()
    {
        QTest::addColumn<QString>("type");
        QTest::addColumn<double>("bpw");
        QTest::newRow("IQ1_S") << QStringLiteral("IQ1_S") << 2.0042;
        QTest::newRow("IQ1_M") << QStringLiteral("IQ1_M") << 2.1460;
        QTest::newRow("IQ2_XXS") << QStringLiteral("IQ2_XXS") << 2.3824;
        QTest::newRow("IQ2_XS") << QStringLiteral("IQ2_XS") << 2.5882;
        QTest::newRow("IQ2_S") << QStringLiteral("IQ2_S") << 2.7403;
        QTest::newRow("IQ2_M") << QStringLiteral("IQ2_M") << 2.9294;
        QTest::newRow("IQ3_XXS") << QStringLiteral("IQ3_XXS") << 3.2548;
        QTest::newRow("IQ3_XS") << QStringLiteral("IQ3_XS") << 3.4977;
        QTest::newRow("IQ3_S") << QStringLiteral("IQ3_S") << 3.6606;
        QTest::newRow("IQ3_M") << QStringLiteral("IQ3_M") << 3.7628;
        QTest::newRow("IQ4_XS") << QStringLiteral("IQ4_XS") << 4.4597;
        QTest::newRow("IQ4_NL") << QStringLiteral("IQ4_NL") << 4.6818;
    }
    void llama31_8bBitsPerWeight()
    {
        QFETCH(QString, type);
        QFETCH(double, bpw);
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-8b"), ram(64));
        const auto ft = fileTypeFromName(type);
        QVERIFY(ft);
        const QuantRow *r = a.row(*ft);
        QVERIFY(r);
        QVERIFY2(std::abs(r->bitsPerWeight - bpw) < 0.00005,
                 qPrintable(QString::number(r->bitsPerWeight, 'f', 5)));
        // The same size in the list of other mixes.
        const auto m = std::find_if(a.otherMixes.begin(), a.otherMixes.end(),
                                    [&](const MixSize &x) { return x.fileType == *ft; });
        QVERIFY(m != a.otherMixes.end());
        QCOMPARE(m->fileBytes, r->fileBytes);
    }

    // The I-quant files llama-quantize wrote from synth-a-F32.gguf (IQ1..IQ3 with an importance
    // matrix, IQ4 without): the advisor's plan of each has their tensor data to the byte.
    void matchesLlamaQuantizeIQuantFiles()
    {
        const QString data = QuantFit::Test::sharedTestData();
        if (data.isEmpty())
            QSKIP("shared test data not found (llama-quantized/)");
        const QDir dir(data + QStringLiteral("/llama-quantized"));
        const GgufFile source = GgufFile::open(dir.filePath(QStringLiteral("synth-a-F32.gguf")),
                                               GgufFile::Mode::MetadataOnly);
        const ModelAdvice a = m_advisor.adviseGguf(source, ram(8));
        int compared = 0;
        for (const QuantRow &r : a.iquantRows) {
            const QString path = dir.filePath(QStringLiteral("synth-a-%1.gguf").arg(r.name));
            QVERIFY2(QFileInfo::exists(path), qPrintable(path));
            const GgufFile written = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
            std::uint64_t bytes = 0;
            for (const GgufTensorInfo &t : written.tensors())
                bytes += t.nBytes;
            QVERIFY2(r.memory.weightsBytes == bytes,
                     qPrintable(QStringLiteral("%1: %2 planned, %3 written")
                                    .arg(r.name).arg(r.memory.weightsBytes).arg(bytes)));
            ++compared;
        }
        QCOMPARE(compared, 12);
    }

    // llama.cpp's tools/perplexity/README.md, "LLaMA 3 8b Scoreboard": F16 6.233160; the
    // I-quants with an importance matrix from 10 M Wikitext tokens, and their mean KLD.
    void publishedQualityFigures_data()
    {
        QTest::addColumn<QString>("type");
        QTest::addColumn<double>("ppl");
        QTest::addColumn<double>("kld");
        QTest::addColumn<bool>("needsImatrix"); // quant-mixes: only IQ3_S, IQ3_M, IQ4 go without
        QTest::newRow("IQ1_S") << QStringLiteral("IQ1_S") << 60.694593 << 2.254554 << true;
        QTest::newRow("IQ1_M") << QStringLiteral("IQ1_M") << 25.493722 << 1.393084 << true;
        QTest::newRow("IQ2_XXS") << QStringLiteral("IQ2_XXS") << 14.091782 << 0.812022 << true;
        QTest::newRow("IQ2_XS") << QStringLiteral("IQ2_XS") << 10.761424 << 0.546290 << true;
        QTest::newRow("IQ2_S") << QStringLiteral("IQ2_S") << 9.650781 << 0.439197 << true;
        QTest::newRow("IQ2_M") << QStringLiteral("IQ2_M") << 8.600799 << 0.325989 << true;
        QTest::newRow("IQ3_XXS") << QStringLiteral("IQ3_XXS") << 7.458436 << 0.183625 << true;
        QTest::newRow("IQ3_XS") << QStringLiteral("IQ3_XS") << 7.163043 << 0.138693 << true;
        QTest::newRow("IQ3_S") << QStringLiteral("IQ3_S") << 6.965501 << 0.111278 << false;
        QTest::newRow("IQ3_M") << QStringLiteral("IQ3_M") << 6.898327 << 0.102534 << false;
        QTest::newRow("IQ4_XS") << QStringLiteral("IQ4_XS") << 6.459705 << 0.036334 << false;
        QTest::newRow("IQ4_NL") << QStringLiteral("IQ4_NL") << 6.455593 << 0.035742 << false;
    }
    void publishedQualityFigures()
    {
        QFETCH(QString, type);
        QFETCH(double, ppl);
        QFETCH(double, kld);
        QFETCH(bool, needsImatrix);
        const FileType ft = *fileTypeFromName(type);
        const double percent = (ppl / 6.233160 - 1.0) * 100.0;
        QVERIFY2(std::abs(estimatedPplIncreasePercent(ft, 8.0) - percent) < 0.05,
                 qPrintable(QString::number(estimatedPplIncreasePercent(ft, 8.0))));
        // Large models lose less at the same bits (as the K-quants: Q4_K_M +2.8 % vs +1.2 %).
        QVERIFY(estimatedPplIncreasePercent(ft, 70.0) < estimatedPplIncreasePercent(ft, 8.0));
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-8b"), ram(64));
        const QuantRow *r = a.row(ft);
        QVERIFY(r);
        QCOMPARE(r->klDivergence8B, kld);
        QCOMPARE(r->needsImatrix, needsImatrix);
        QCOMPARE(fileTypeFacts(ft).needsImatrix, needsImatrix);
        QVERIFY(r->relativeSpeed > 1.0);
        // The brief's formula uses the bulk block type's bits for an I-quant.
        QCOMPARE(r->nominalBits, typeFacts(fileTypeFacts(ft).defaultType).bitsPerWeight());
    }

    // Every I-quant of iquantLevels() has a row, in that order, smallest file first.
    void iquantRowsInOrder()
    {
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), ram(64));
        QCOMPARE(a.iquantRows.size(), iquantLevels().size());
        for (std::size_t i = 0; i < a.iquantRows.size(); ++i) {
            QCOMPARE(a.iquantRows[i].fileType, iquantLevels()[i]);
            if (i > 0)
                QVERIFY(a.iquantRows[i].fileBytes >= a.iquantRows[i - 1].fileBytes);
        }
    }

    // Where neither Q4_K_M nor Q3_K_M fits, the decision flow goes to the mix with the best
    // estimated quality that fits; IQ2_M (2.93 bpw) is smaller than Q2_K (3.16 bpw) and loses
    // less (+38.0 % vs +56.5 % on 8B), so Q2_K is rarely it.
    void recommendationPicksAnIQuant_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("ramGb");
        QTest::newRow("405B on 128 GB") << QStringLiteral("llama-3.1-405b") << 128;
        QTest::newRow("70B on 40 GB") << QStringLiteral("llama-3.1-70b") << 40;
        QTest::newRow("70B on 32 GB") << QStringLiteral("llama-3.1-70b") << 32;
        QTest::newRow("Mistral Large on 64 GB") << QStringLiteral("mistral-large-123b") << 64;
    }
    void recommendationPicksAnIQuant()
    {
        QFETCH(QString, model);
        QFETCH(int, ramGb);
        const ModelAdvice a = m_advisor.adviseModel(model, ram(ramGb));
        const QuantRecommendation &r = a.recommendation;
        QCOMPARE(a.row(FileType::Q4_K_M)->badge, FitBadge::DoesNotFit);
        QCOMPARE(a.row(FileType::Q3_K_M)->badge, FitBadge::DoesNotFit);
        QVERIFY(r.fileType);
        const QuantRow *chosen = a.row(*r.fileType);
        QVERIFY(std::find(iquantLevels().begin(), iquantLevels().end(), *r.fileType)
                != iquantLevels().end());
        QVERIFY(chosen->recommended);
        QVERIFY(chosen->badge != FitBadge::DoesNotFit);
        QVERIFY(r.belowStart);
        // Never an IQ1 mix; nothing with a better estimate fits.
        QVERIFY(*r.fileType != FileType::IQ1_S && *r.fileType != FileType::IQ1_M);
        for (const QuantRow &other : a.iquantRows) {
            if (other.pplIncreasePercent < chosen->pplIncreasePercent)
                QVERIFY2(other.badge == FitBadge::DoesNotFit, qPrintable(other.name));
        }
        const QuantRow *q2 = a.row(FileType::Q2_K);
        QVERIFY(q2->badge == FitBadge::DoesNotFit
                || q2->pplIncreasePercent > chosen->pplIncreasePercent);
        if (chosen->needsImatrix) {
            QVERIFY(std::any_of(r.reasons.begin(), r.reasons.end(), [](const QString &s) {
                return s.contains(QStringLiteral("importance matrix"))
                    && s.contains(QStringLiteral("--calibration"));
            }));
        }
        QVERIFY2(r.headline.endsWith(chosen->name), qPrintable(r.headline));
    }

    // Measurements replace estimates: a level measured on the same model (same parameter
    // count) against a full-precision run on the same text and context, or a KLD run's own PPL
    // ratio. 10.5 / 10.0 = +5 %; ratio 1.02 = +2 %.
    void measuredQualityReplacesEstimates()
    {
        ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-8b"), ram(64));
        const double estimatedQ3 = a.row(FileType::Q3_K_M)->pplIncreasePercent;
        auto run = [&](std::optional<FileType> ft, double ppl, bool base, const char *text) {
            QualityMeasurement m;
            m.fileType = ft;
            m.nParams = a.nParams;
            m.isBase = base;
            m.ppl = ppl;
            m.textSource = QString::fromLatin1(text);
            m.nCtx = 512;
            m.label = QStringLiteral("run");
            return m;
        };
        std::vector<QualityMeasurement> runs = {
            run(FileType::Q4_K_M, 10.5, false, "wiki"),
            run(FileType::Q3_K_M, 12.0, false, "other text"), // no base on this text
            run(FileType::F16, 10.0, true, "wiki"),
        };
        QualityMeasurement kld = run(FileType::Q6_K, 99.0, false, "elsewhere");
        kld.pplRatio = 1.02;
        kld.meanKld = 0.004;
        runs.push_back(kld);
        QualityMeasurement otherModel = run(FileType::IQ4_XS, 10.1, false, "wiki");
        otherModel.nParams = a.nParams + 1;
        runs.push_back(otherModel);

        QCOMPARE(applyMeasuredQuality(a, runs), 2);
        QVERIFY(a.row(FileType::Q4_K_M)->qualityMeasured);
        QVERIFY(std::abs(a.row(FileType::Q4_K_M)->pplIncreasePercent - 5.0) < 1e-9);
        QVERIFY(std::abs(a.row(FileType::Q6_K)->pplIncreasePercent - 2.0) < 1e-9);
        QCOMPARE(a.row(FileType::Q6_K)->klDivergence8B, 0.004);
        QVERIFY(!a.row(FileType::Q3_K_M)->qualityMeasured);
        QCOMPARE(a.row(FileType::Q3_K_M)->pplIncreasePercent, estimatedQ3);
        QVERIFY(!a.row(FileType::IQ4_XS)->qualityMeasured);
    }

    // When Q4_K_M does not fit, IQ4_XS comes before Q3_K_M: on the scoreboard it loses +3.6 %
    // against +10.5 % (Llama 3 8B), and it needs no importance matrix. Llama 3.3 70B on 50 GB:
    // Q4_K_M (42.5 GB) needs about 52.6 GB in all, IQ4_XS about 4.3 GB less.
    void iq4xsBeforeQ3()
    {
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.3-70b"), ram(50));
        QCOMPARE(a.row(FileType::Q4_K_M)->badge, FitBadge::DoesNotFit);
        QCOMPARE(a.recommendation.fileType, std::optional<FileType>(FileType::IQ4_XS));
        QVERIFY(a.row(FileType::IQ4_XS)->pplIncreasePercent
                < a.row(FileType::Q3_K_M)->pplIncreasePercent);
        QVERIFY(!a.row(FileType::IQ4_XS)->needsImatrix);
        QVERIFY(a.recommendation.reasons.first().contains(QStringLiteral("Q3_K_M")));
        // No smaller Llama 3.3: the alternative is the strongest smaller model of the ladder
        // that is comfortable at Q5_K_M or above (Qwen3 32B), not an older one of about its size.
        QCOMPARE(a.recommendation.alternativeModelId, QStringLiteral("qwen3-32b"));
    }

    // 405B on 128 GB: the brief's "405B Q2_K" does not fit (149 GB), IQ2_XXS does.
    void largestMixThatFits()
    {
        const ModelAdvice a = m_advisor.adviseModel(QStringLiteral("llama-3.1-405b"), ram(128));
        QCOMPARE(a.recommendation.fileType, std::optional<FileType>(FileType::IQ2_XXS));
        // Q3_K_M still wins where it fits: the brief's level, no importance matrix needed.
        const ModelAdvice b = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), ram(48));
        QCOMPARE(b.recommendation.fileType, std::optional<FileType>(FileType::Q3_K_M));
        // The largest ladder model on 128 GB: Qwen3 235B at IQ2_M (smaller than its Q2_K, less
        // loss), saying that it needs an importance matrix.
        const SystemAdvice s = m_advisor.adviseSystem(ram(128));
        const auto maxSize = std::find_if(s.rows.begin(), s.rows.end(), [](const PriorityRow &r) {
            return r.priority == Priority::MaximumSize;
        });
        QVERIFY(maxSize != s.rows.end());
        QCOMPARE(maxSize->modelId, QStringLiteral("qwen3-235b-a22b"));
        QCOMPARE(maxSize->quant.fileType, FileType::IQ2_M);
        QVERIFY(maxSize->explanation.contains(QStringLiteral("importance matrix")));
    }

    // MXFP4_MOE only quantizes expert stacks: listed for mixture-of-experts models only.
    // TQ1_0, TQ2_0, Q1_0 and Q2_0 are for ternary/binary-trained models: never offered.
    void listedOnlyWhereSensible()
    {
        const ModelAdvice dense = m_advisor.adviseModel(QStringLiteral("llama-3.1-70b"), ram(128));
        const ModelAdvice moe = m_advisor.adviseModel(QStringLiteral("qwen3-235b-a22b"), ram(128));
        QVERIFY(!listed(dense, FileType::MXFP4_MOE));
        QVERIFY(listed(moe, FileType::MXFP4_MOE));
        for (FileType ft : {FileType::TQ1_0, FileType::TQ2_0, FileType::Q1_0, FileType::Q2_0,
                            FileType::NVFP4}) {
            QVERIFY(!listed(dense, ft));
            QVERIFY(!listed(moe, ft));
        }
    }
};

QTEST_APPLESS_MAIN(TestAdvisorIQuants)
#include "testadvisoriquants.moc"
