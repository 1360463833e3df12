// End to end: quantfit-cli advise and catalog as processes. The brief's tables, JSON output,
// predicted sizes equal to the files quantize writes, and one clear error line for bad input.

#include "testsupport.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit::Test;

namespace {

QStringList args(std::initializer_list<const char *> list)
{
    QStringList out;
    for (const char *a : list)
        out << QString::fromUtf8(a);
    return out;
}

bool hasLine(const QByteArray &text, const QString &pattern)
{
    return QRegularExpression(pattern, QRegularExpression::MultilineOption)
        .match(QString::fromUtf8(text))
        .hasMatch();
}

} // namespace

class TestCliAdvise : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;

private slots:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void briefTables_data()
    {
        QTest::addColumn<QString>("ram");
        QTest::addColumn<QStringList>("lines");
        // The current ladder (tests/core/advisor/testadvisorrecommend.cpp derives these rows).
        QTest::newRow("128") << QStringLiteral("128")
                             << QStringList{QStringLiteral("^Best balance +gpt-oss 120B \\(MoE\\) Q8_0 "),
                                    QStringLiteral("^Maximum size +Qwen3 235B-A22B \\(MoE\\) IQ2_M "),
                                    QStringLiteral("^Note: The brief's \"405B Q2_K ~95GB\" is wrong: "
                                                   "Llama 3.1 405B at Q2_K .*does not fit")};
        QTest::newRow("64") << QStringLiteral("64")
                            << QStringList{QStringLiteral("^Best balance +Qwen3 32B Q4_K_M "),
                                   QStringLiteral("^Higher quality +Qwen3 32B Q5_K_M "),
                                   QStringLiteral("^Maximum quality +Qwen3 32B Q6_K "),
                                   QStringLiteral("^Maximum size +Llama 3.3 70B Q3_K_M ")};
        QTest::newRow("32") << QStringLiteral("32")
                            << QStringList{QStringLiteral("^Best balance +Qwen3 14B Q6_K "),
                                   QStringLiteral("^Maximum size +Qwen3 32B Q3_K_M ")};
    }
    void briefTables()
    {
        QFETCH(QString, ram);
        QFETCH(QStringList, lines);
        const CliResult r = runCli({QStringLiteral("advise"), QStringLiteral("--ram"), ram});
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        for (const QString &line : lines)
            QVERIFY2(hasLine(r.out, line),
                qPrintable(line + QStringLiteral("\n") + QString::fromUtf8(r.out)));
    }

    void modelTableAndJson()
    {
        CliResult r = runCli(args({"advise", "--ram", "128", "--model", "llama-3.1-70b"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(r.out.contains("KV cache: 327680 bytes per token"));
        QVERIFY(hasLine(r.out, QStringLiteral("^Recommendation: Q6_K$")));
        // The advisor's structure, laid out: headline, reasons, numbered decision-flow steps.
        QVERIFY(hasLine(r.out, QStringLiteral("^Recommended for Llama 3\\.1 70B on 128 GB: Q6_K\\.$")));
        QVERIFY(hasLine(r.out, QStringLiteral("^Why:\\n  - ")));
        QVERIFY(hasLine(r.out, QStringLiteral("^Decision flow:\\n  1\\. Start with Q4_K_M")));
        for (const char *level : {"Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"})
            QVERIFY(hasLine(r.out, QStringLiteral("^%1\\*? ").arg(QLatin1String(level))));

        r = runCli(args({"advise", "--ram", "32", "--model", "qwen2.5-7b", "--context", "16384",
            "--kv-type", "q8_0", "--json"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o.value(QStringLiteral("model")).toString(), QStringLiteral("qwen2.5-7b"));
        const QJsonArray levels = o.value(QStringLiteral("levels")).toArray();
        QCOMPARE(levels.size(), 10);
        const QJsonObject first = levels.first().toObject();
        QCOMPARE(first.value(QStringLiteral("contextTokens")).toInt(), 16384);
        // q8_0 KV for Qwen2.5 7B: 28 layers x 4 KV heads x 128 = 512 elements per row ->
        // 16 blocks of 34 bytes = 544; 2 x 28 x 544 x 16384 tokens.
        QCOMPARE(first.value(QStringLiteral("memory"))
                     .toObject()
                     .value(QStringLiteral("kvCacheBytes"))
                     .toDouble(),
            2.0 * 28 * 544 * 16384);
        const QJsonObject rec = o.value(QStringLiteral("recommendation")).toObject();
        QVERIFY(rec.contains(QStringLiteral("quant")));
        QVERIFY(rec.value(QStringLiteral("headline")).toString().contains(rec.value(QStringLiteral("quant")).toString()));
        QVERIFY(!rec.value(QStringLiteral("reasons")).toArray().isEmpty());
        QVERIFY(rec.value(QStringLiteral("steps")).toArray().first().toString().startsWith(QStringLiteral("Start with Q4_K_M")));
        QVERIFY(!rec.value(QStringLiteral("fit")).toString().isEmpty());
    }

    void catalogLists()
    {
        CliResult r = runCli(args({"catalog"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(hasLine(r.out, QStringLiteral("^llama-3.1-405b ")));
        r = runCli(args({"catalog", "--json"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(
            QJsonDocument::fromJson(r.out).object().value(QStringLiteral("models")).toArray().size()
            >= 40);
    }

    // make-model, advise --gguf, quantize: the predicted size is the written size, to the byte.
    void predictedSizeEqualsWritten()
    {
        const QString model = m_dir.filePath(QStringLiteral("m.gguf"));
        CliResult r = runCli(QStringList{QStringLiteral("make-model"), model}
            + args({"--layers", "3", "--embd", "256", "--ff", "768", "--heads", "4", "--kv-heads",
                "2", "--vocab", "700", "--type", "F16", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        r = runCli(QStringList{QStringLiteral("advise"), QStringLiteral("--ram"),
            QStringLiteral("8"), QStringLiteral("--gguf"), model, QStringLiteral("--json")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QHash<QString, qint64> predicted;
        for (const QJsonValue &v :
            QJsonDocument::fromJson(r.out).object().value(QStringLiteral("levels")).toArray()) {
            const QJsonObject l = v.toObject();
            predicted.insert(l.value(QStringLiteral("quant")).toString(),
                qint64(l.value(QStringLiteral("fileBytes")).toDouble()));
        }
        for (const char *type : {"Q8_0", "Q4_K_M"}) {
            const QString out
                = m_dir.filePath(QStringLiteral("m-%1.gguf").arg(QLatin1String(type)));
            r = runCli(QStringList{QStringLiteral("quantize"), model, out,
                QString::fromLatin1(type), QStringLiteral("--quiet")});
            if (r.exitCode != 0 && r.err.contains("not supported"))
                continue; // a codec that has not landed: nothing to compare
            QVERIFY2(r.exitCode == 0, r.err.constData());
            QCOMPARE(QFileInfo(out).size(), predicted.value(QString::fromLatin1(type)));
        }
    }

    void badInput_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("message");
        QTest::newRow("no ram") << args({"advise"}) << QStringLiteral("--ram");
        QTest::newRow("zero ram") << args({"advise", "--ram", "0"})
                                  << QStringLiteral("greater than 0");
        QTest::newRow("negative ram")
            << args({"advise", "--ram", "-4"}) << QStringLiteral("greater than 0");
        QTest::newRow("text ram") << args({"advise", "--ram", "lots"}) << QStringLiteral("'lots'");
        QTest::newRow("unknown model") << args({"advise", "--ram", "32", "--model", "gpt-5"})
                                       << QStringLiteral("unknown model id 'gpt-5'");
        QTest::newRow("context beyond max")
            << args({"advise", "--ram", "32", "--model", "llama-2-13b", "--context", "8192"})
            << QStringLiteral("exceeds the maximum context");
        QTest::newRow("bad kv type")
            << args({"advise", "--ram", "32", "--kv-type", "q5_1"}) << QStringLiteral("--kv-type");
        QTest::newRow("reserve too big")
            << args({"advise", "--ram", "16", "--reserve", "20"}) << QStringLiteral("reserve");
        QTest::newRow("missing gguf")
            << args({"advise", "--ram", "16", "--gguf", "/nonexistent/x.gguf"})
            << QStringLiteral("/nonexistent/x.gguf");
    }
    void badInput()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QString, message);
        const CliResult r = runCli(arguments);
        QCOMPARE(r.exitCode, 1);
        QVERIFY(!r.crashed);
        QVERIFY2(r.err.startsWith("error: "), r.err.constData());
        QCOMPARE(r.err.count('\n'), 1);
        QVERIFY2(QString::fromUtf8(r.err).contains(message), r.err.constData());
    }

    void unreadableGguf()
    {
        const QString path = m_dir.filePath(QStringLiteral("junk.gguf"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("GGUF\x03\0\0\0 definitely not a model");
        f.close();
        const CliResult r = runCli(QStringList{QStringLiteral("advise"), QStringLiteral("--ram"),
            QStringLiteral("16"), QStringLiteral("--gguf"), path});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith("error: ") && r.err.contains("junk.gguf"), r.err.constData());
    }

    void vocabOnlyGguf()
    {
        const QString data = sharedTestData();
        if (data.isEmpty())
            QSKIP("shared test data not found (vocab/)");
        const CliResult r
            = runCli({QStringLiteral("advise"), QStringLiteral("--ram"), QStringLiteral("16"),
                QStringLiteral("--gguf"), data + QStringLiteral("/vocab/ggml-vocab-gpt-2.gguf")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("holds no tensors"), r.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliAdvise)
#include "testcliadvise.moc"
