// End to end: `advise --machine` and `bandwidth` as processes: the issue's three machines and
// models, the preset list, custom values, JSON, errors, and the bandwidth benchmark's output and
// saved file.

#include "testsupport.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit::Test;

namespace {

QJsonObject suggested(const QJsonObject &onMachine)
{
    for (const QJsonValue &v : onMachine.value(QStringLiteral("levels")).toArray())
        if (v.toObject().value(QStringLiteral("suggested")).toBool())
            return v.toObject();
    return {};
}

} // namespace

class TestCliAdviseMachine : public QObject
{
    Q_OBJECT

private slots:
    void issueScenarios_data()
    {
        QTest::addColumn<QString>("machine");
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("placement");
        QTest::addColumn<QString>("command");
        QTest::newRow("strix-halo gpt-oss-120b")
            << QStringLiteral("strix-halo-128") << QStringLiteral("gpt-oss-120b")
            << QStringLiteral("all on the GPU")
            << QStringLiteral("llama-server -m gpt-oss-120b-MXFP4_MOE.gguf -ngl 37 -c 8192 -np 4");
        QTest::newRow("mac qwen3-30b-a3b")
            << QStringLiteral("mac-studio-64") << QStringLiteral("qwen3-30b-a3b")
            << QStringLiteral("all on the GPU") << QStringLiteral("-ngl 49 -c 8192");
        QTest::newRow("24 GB GPU glm-4.5-air")
            << QStringLiteral("pc-64gb-gpu24") << QStringLiteral("glm-4.5-air")
            << QStringLiteral("expert offload") << QStringLiteral("--n-cpu-moe");
        QTest::newRow("24 GB GPU llama-3.1-70b")
            << QStringLiteral("pc-64gb-gpu24") << QStringLiteral("llama-3.1-70b")
            << QStringLiteral("layer offload")
            << QStringLiteral("llama-server -m llama-3.1-70b-Q4_K_M.gguf -ngl ");
    }

    void issueScenarios()
    {
        QFETCH(QString, machine);
        QFETCH(QString, model);
        QFETCH(QString, placement);
        QFETCH(QString, command);
        const CliResult text = runCli({QStringLiteral("advise"), QStringLiteral("--machine"),
                                       machine, QStringLiteral("--model"), model});
        QCOMPARE(text.exitCode, 0);
        const QString out = QString::fromUtf8(text.out);
        QVERIFY2(out.contains(QStringLiteral("(%1)\n").arg(placement)), qPrintable(out));
        for (const char *line : {"Memory at 8192 tokens:", "Longest context with this placement:",
                                 "Speed (estimate): generation ", "Run it:", "GPU bandwidth"})
            QVERIFY2(out.contains(QLatin1String(line)), line);
        QVERIFY(out.contains(command));

        const CliResult json = runCli({QStringLiteral("advise"), QStringLiteral("--machine"),
                                       machine, QStringLiteral("--model"), model,
                                       QStringLiteral("--json")});
        QCOMPARE(json.exitCode, 0);
        const QJsonObject o = QJsonDocument::fromJson(json.out).object();
        const QJsonObject m = o.value(QStringLiteral("onMachine")).toObject();
        const QJsonObject profile = m.value(QStringLiteral("machine")).toObject();
        QCOMPARE(profile.value(QStringLiteral("id")).toString(), machine);
        const QJsonObject s = suggested(m);
        QCOMPARE(s.value(QStringLiteral("placement")).toString(), placement);
        QVERIFY(s.value(QStringLiteral("generationTokensPerSecond")).toDouble() > 0);
        QVERIFY(s.value(QStringLiteral("promptTokensPerSecond")).toDouble() > 0);
        QVERIFY(s.value(QStringLiteral("longestContextTokens")).toInt() >= 8192);
        QVERIFY(s.value(QStringLiteral("llamaCommand")).toString().contains(command));
        QVERIFY(!s.value(QStringLiteral("speedBasis")).toArray().isEmpty());
        // Memory per device adds up.
        const QJsonObject gpu = s.value(QStringLiteral("gpu")).toObject();
        QCOMPARE(gpu.value(QStringLiteral("totalBytes")).toDouble(),
                 gpu.value(QStringLiteral("weightsBytes")).toDouble()
                     + gpu.value(QStringLiteral("kvCacheBytes")).toDouble()
                     + gpu.value(QStringLiteral("computeBytes")).toDouble());
        QVERIFY(gpu.value(QStringLiteral("totalBytes")).toDouble()
                <= s.value(QStringLiteral("gpuLimitBytes")).toDouble());
    }

    // Issue 12: gpt-oss printed Q8_0 as the RAM recommendation and MXFP4_MOE on the machine.
    // Its Q8_0 level keeps the MXFP4 experts (the same tensors as ggml-org's MXFP4_MOE file),
    // so both parts name the published file, and the machine part says they agree.
    void gptOssOneRecommendation_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("machine");
        QTest::newRow("120b strix-halo") << QStringLiteral("gpt-oss-120b")
                                         << QStringLiteral("strix-halo-128");
        QTest::newRow("120b cpu 128") << QStringLiteral("gpt-oss-120b") << QStringLiteral("pc-128gb");
        QTest::newRow("20b 16 GB GPU") << QStringLiteral("gpt-oss-20b")
                                       << QStringLiteral("pc-32gb-gpu16");
    }
    void gptOssOneRecommendation()
    {
        QFETCH(QString, model);
        QFETCH(QString, machine);
        const CliResult text = runCli({QStringLiteral("advise"), QStringLiteral("--model"), model,
                                       QStringLiteral("--machine"), machine});
        QCOMPARE(text.exitCode, 0);
        QVERIFY2(text.out.contains("\nRecommendation: MXFP4_MOE\n"), text.out.constData());
        QVERIFY(text.out.contains(": MXFP4_MOE (the Q8_0 row: the same file)."));
        QVERIFY(text.out.contains("on this machine: MXFP4_MOE ("));
        QVERIFY(text.out.contains("It is the RAM advice's recommendation too"));
        QVERIFY(!text.out.contains("Recommendation: Q8_0"));

        const CliResult json = runCli({QStringLiteral("advise"), QStringLiteral("--model"), model,
                                       QStringLiteral("--machine"), machine,
                                       QStringLiteral("--json")});
        QCOMPARE(json.exitCode, 0);
        const QJsonObject o = QJsonDocument::fromJson(json.out).object();
        const QJsonObject rec = o.value(QStringLiteral("recommendation")).toObject();
        QCOMPARE(rec.value(QStringLiteral("quant")).toString(), QStringLiteral("Q8_0"));
        QCOMPARE(rec.value(QStringLiteral("publishedAs")).toString(), QStringLiteral("MXFP4_MOE"));
        QCOMPARE(o.value(QStringLiteral("onMachine")).toObject().value(QStringLiteral("suggested"))
                     .toString(),
                 QStringLiteral("MXFP4_MOE"));
        // The same tensors: the Q8_0 row and the MXFP4_MOE file have one size.
        double q8 = 0, mxfp4 = 0;
        for (const QJsonValue &v : o.value(QStringLiteral("levels")).toArray())
            if (v.toObject().value(QStringLiteral("quant")).toString() == QLatin1String("Q8_0"))
                q8 = v.toObject().value(QStringLiteral("fileBytes")).toDouble();
        for (const QJsonValue &v : o.value(QStringLiteral("otherMixes")).toArray())
            if (v.toObject().value(QStringLiteral("quant")).toString()
                == QLatin1String("MXFP4_MOE"))
                mxfp4 = v.toObject().value(QStringLiteral("fileBytes")).toDouble();
        QVERIFY(q8 > 0);
        QCOMPARE(q8, mxfp4);

        // A dense model has no published alias.
        const CliResult dense = runCli({QStringLiteral("advise"), QStringLiteral("--model"),
                                        QStringLiteral("qwen3-8b"), QStringLiteral("--ram"),
                                        QStringLiteral("64"), QStringLiteral("--json")});
        QVERIFY(QJsonDocument::fromJson(dense.out).object().value(QStringLiteral(
            "recommendation")).toObject().value(QStringLiteral("publishedAs")).isNull());
    }

    void listAndCustom()
    {
        const CliResult list = runCli({QStringLiteral("advise"), QStringLiteral("--machine"),
                                       QStringLiteral("list")});
        QCOMPARE(list.exitCode, 0);
        for (const char *id : {"strix-halo-128", "mac-studio-192", "macbook-pro-36",
                               "pc-32gb-gpu12", "pc-64gb-gpu32"})
            QVERIFY2(list.out.contains(id), id);

        // A custom machine: 32 GB RAM + a 12 GB GPU at 360 GB/s.
        const CliResult custom = runCli(
            {QStringLiteral("advise"), QStringLiteral("--ram"), QStringLiteral("32"),
             QStringLiteral("--vram"), QStringLiteral("12"), QStringLiteral("--gpu-bandwidth"),
             QStringLiteral("360"), QStringLiteral("--model"), QStringLiteral("qwen3-8b"),
             QStringLiteral("--json")});
        QCOMPARE(custom.exitCode, 0);
        const QJsonObject m = QJsonDocument::fromJson(custom.out)
                                  .object()
                                  .value(QStringLiteral("onMachine"))
                                  .toObject()
                                  .value(QStringLiteral("machine"))
                                  .toObject();
        QCOMPARE(m.value(QStringLiteral("gpuLimitBytes")).toDouble(), 12e9);
        QCOMPARE(m.value(QStringLiteral("ramBytes")).toDouble(), 32e9);
        QVERIFY(m.value(QStringLiteral("gpuBandwidthSource")).toString().startsWith(
            QStringLiteral("given: 360 GB/s")));
    }

    void errors()
    {
        const CliResult unknown = runCli({QStringLiteral("advise"), QStringLiteral("--machine"),
                                          QStringLiteral("cray-1"), QStringLiteral("--model"),
                                          QStringLiteral("qwen3-8b")});
        QCOMPARE(unknown.exitCode, 1);
        QVERIFY(unknown.err.startsWith("error: option --machine: unknown machine 'cray-1'"));
        QVERIFY(unknown.err.contains("strix-halo-128"));
        const CliResult quant = runCli({QStringLiteral("advise"), QStringLiteral("--machine"),
                                        QStringLiteral("pc-64gb"), QStringLiteral("--model"),
                                        QStringLiteral("qwen3-8b"), QStringLiteral("--quant"),
                                        QStringLiteral("Q9_Z")});
        QCOMPARE(quant.exitCode, 1);
        QVERIFY(quant.err.contains("--quant"));
        const CliResult none = runCli({QStringLiteral("advise"), QStringLiteral("--model"),
                                       QStringLiteral("qwen3-8b")});
        QCOMPARE(none.exitCode, 1);
        QVERIFY(none.err.contains("--machine"));
    }

    void bandwidth()
    {
        QTemporaryDir dir;
        const QString file = dir.filePath(QStringLiteral("speed.json"));
        qputenv("QUANTFIT_MACHINE_SPEED_FILE", file.toUtf8());
        const CliResult r = runCli({QStringLiteral("bandwidth"), QStringLiteral("--threads"),
                                    QStringLiteral("1,2"), QStringLiteral("--seconds"),
                                    QStringLiteral("0.05"), QStringLiteral("--mib"),
                                    QStringLiteral("16"), QStringLiteral("--json")});
        qunsetenv("QUANTFIT_MACHINE_SPEED_FILE");
        QCOMPARE(r.exitCode, 0);
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o.value(QStringLiteral("samples")).toArray().size(), 2);
        QVERIFY(o.value(QStringLiteral("bestBytesPerSecond")).toDouble() > 1e8);
        QCOMPARE(o.value(QStringLiteral("savedTo")).toString(), file);
        QVERIFY(QFileInfo::exists(file));
        // The compute ceiling: a rate per weight type, Q4_K and F16 among them.
        QStringList types;
        for (const QJsonValue &v : o.value(QStringLiteral("dotRates")).toArray()) {
            types << v.toObject().value(QStringLiteral("type")).toString();
            QVERIFY(v.toObject().value(QStringLiteral("bytesPerSecond")).toDouble() > 1e7);
        }
        QVERIFY2(types.contains(QStringLiteral("q4_K")) && types.contains(QStringLiteral("f16")),
                 qPrintable(types.join(QLatin1Char(' '))));
        // ... which the detected machine shows and uses.
        qputenv("QUANTFIT_MACHINE_SPEED_FILE", file.toUtf8());
        const CliResult detect = runCli({QStringLiteral("advise"), QStringLiteral("--machine"),
                                         QStringLiteral("detect")});
        qunsetenv("QUANTFIT_MACHINE_SPEED_FILE");
        QCOMPARE(detect.exitCode, 0);
        QVERIFY2(detect.out.contains("CPU compute ceiling, GB/s of weights (measured here")
                     && detect.out.contains("Q4_K "),
                 detect.out.constData());
        QVERIFY(detect.out.contains("streaming read (quantfit-cli bandwidth"));
        qputenv("QUANTFIT_MACHINE_SPEED_FILE", file.toUtf8());
        const CliResult detectJson = runCli({QStringLiteral("advise"), QStringLiteral("--machine"),
                                             QStringLiteral("detect"), QStringLiteral("--json")});
        qunsetenv("QUANTFIT_MACHINE_SPEED_FILE");
        const QJsonObject m = QJsonDocument::fromJson(detectJson.out).object().value(
            QStringLiteral("machine")).toObject();
        QCOMPARE(m.value(QStringLiteral("cpuDotRates")).toArray().size(), types.size());
        QVERIFY(m.value(QStringLiteral("cpuDotThreads")).toInt() >= 1);

        const CliResult bad = runCli({QStringLiteral("bandwidth"), QStringLiteral("--threads"),
                                      QStringLiteral("0")});
        QCOMPARE(bad.exitCode, 1);
        QVERIFY(bad.err.startsWith("error: option --threads"));
    }
};

QTEST_GUILESS_MAIN(TestCliAdviseMachine)
#include "testcliadvisemachine.moc"
