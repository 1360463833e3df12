#include "eval/evalresult.h"

#include "util/error.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace QuantFit;

class TestEvalResult : public QObject
{
    Q_OBJECT

private slots:
    void perplexityRecord()
    {
        PerplexityResult r;
        r.modelPath = QStringLiteral("/m/model-Q4_K_M.gguf");
        r.fileType = QStringLiteral("Q4_K_M");
        r.textSource = QStringLiteral("wikitext-2-raw-v1.zip:wikitext-2-raw/wiki.test.raw");
        r.nCtx = 512;
        r.nChunks = 3;
        r.nTokensScored = 765;
        r.ppl = 6.25;
        r.pplError = 0.125;
        r.runningPpl = {5.5, 6.0, 6.25};
        r.seconds = 12.5;
        r.tokensPerSecond = 122.88;
        r.date = QDateTime(QDate(2026, 11, 27), QTime(1, 2, 3), Qt::UTC);
        const QJsonObject o = perplexityResultToJson(r);
        QCOMPARE(o.value(u"model").toString(), r.modelPath);
        QCOMPARE(o.value(u"file_type").toString(), QStringLiteral("Q4_K_M"));
        QCOMPARE(o.value(u"ppl").toDouble(), 6.25);
        QCOMPARE(o.value(u"ppl_error").toDouble(), 0.125);
        QCOMPARE(o.value(u"running_ppl").toArray().size(), 3);
        QCOMPARE(o.value(u"date").toString(), QStringLiteral("2026-11-27T01:02:03Z"));
        QVERIFY(!o.contains(u"kld"));
        QVERIFY(!o.contains(u"base"));

        // Through text and back.
        const QJsonDocument doc = QJsonDocument::fromJson(perplexityResultJsonText(r));
        const PerplexityResult back = perplexityResultFromJson(doc.object(), QStringLiteral("x.json"));
        QCOMPARE(back.modelPath, r.modelPath);
        QCOMPARE(back.textSource, r.textSource);
        QCOMPARE(back.nCtx, 512);
        QCOMPARE(back.nChunks, 3);
        QCOMPARE(back.nTokensScored, std::uint64_t(765));
        QCOMPARE(back.runningPpl, r.runningPpl);
        QCOMPARE(back.tokensPerSecond, 122.88);
        QCOMPARE(back.date, r.date);
        QVERIFY(!back.kld);
    }

    void kldRecord()
    {
        PerplexityResult r;
        r.modelPath = QStringLiteral("q.gguf");
        r.basePath = QStringLiteral("base.qfkl");
        r.ppl = 7;
        KldSummary s;
        s.nTokens = 1000;
        s.kldMean = 0.0125;
        s.kldMeanError = 0.0005;
        s.kldMedian = 0.008;
        s.kldP99 = 0.09;
        s.pplRatio = 1.015;
        s.pplDelta = 0.1;
        s.sameTopPercent = 94.5;
        s.rmsDpPercent = 3.25;
        r.kld = s;
        const QJsonObject o = perplexityResultToJson(r);
        QCOMPARE(o.value(u"base").toString(), QStringLiteral("base.qfkl"));
        const QJsonObject k = o.value(u"kld").toObject();
        QCOMPARE(k.value(u"kld_mean").toDouble(), 0.0125);
        QCOMPARE(k.value(u"kld_p99").toDouble(), 0.09);
        QCOMPARE(k.value(u"same_top_percent").toDouble(), 94.5);
        QCOMPARE(k.value(u"rms_dp_percent").toDouble(), 3.25);
        QCOMPARE(k.value(u"ppl_ratio").toDouble(), 1.015);
        QCOMPARE(k.value(u"n_tokens").toInt(), 1000);
        const PerplexityResult back = perplexityResultFromJson(o);
        QVERIFY(back.kld);
        QCOMPARE(back.kld->kldMedian, 0.008);
        QCOMPARE(back.kld->kldMeanError, 0.0005);
        QCOMPARE(back.kld->pplDelta, 0.1);
        QCOMPARE(back.kld->nTokens, std::uint64_t(1000));
    }

    void notARecord()
    {
        QJsonObject o;
        o[u"something"] = 1;
        try {
            perplexityResultFromJson(o, QStringLiteral("other.json"));
            QFAIL("no error");
        } catch (const FormatError &e) {
            QVERIFY(e.message().contains(QStringLiteral("other.json")));
        }
    }
};

QTEST_APPLESS_MAIN(TestEvalResult)
#include "testevalresult.moc"
