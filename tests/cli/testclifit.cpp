// End to end: quantfit-cli quantize --target-size/--target-bpw/--fit-ram (budget-fitted mixes),
// inspect --recipe replayed through quantize --tensor-type-file, and diff. Sizes are checked
// against the budgets given and the files written; types against the replayed file.

#include "testsupport.h"

#include "advisor/memorymodel.h"
#include "advisor/recommend.h"
#include "gguf/ggufreader.h"
#include "model/modelinfo.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;
using namespace QuantFit::Test;

class TestCliFit : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model;
    qint64 m_q3 = 0;
    qint64 m_q4 = 0;

    QString path(const QString &name) const { return m_dir.filePath(name); }
    CliResult cli(const QStringList &a) { return runCli(a); }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = path(QStringLiteral("m.gguf"));
        auto r = cli({QStringLiteral("make-model"), m_model, QStringLiteral("--layers"),
                      QStringLiteral("4"), QStringLiteral("--embd"), QStringLiteral("256"),
                      QStringLiteral("--ff"), QStringLiteral("512"), QStringLiteral("--heads"),
                      QStringLiteral("8"), QStringLiteral("--kv-heads"), QStringLiteral("2"),
                      QStringLiteral("--vocab"), QStringLiteral("512")});
        QCOMPARE(r.exitCode, 0);
        for (const char *t : {"Q3_K_M", "Q4_K_M"}) {
            const QString out = path(QStringLiteral("%1.gguf").arg(QLatin1String(t)));
            r = cli({QStringLiteral("quantize"), m_model, out, QLatin1String(t),
                     QStringLiteral("--quiet")});
            QCOMPARE(r.exitCode, 0);
        }
        m_q3 = QFileInfo(path(QStringLiteral("Q3_K_M.gguf"))).size();
        m_q4 = QFileInfo(path(QStringLiteral("Q4_K_M.gguf"))).size();
        QVERIFY(m_q3 < m_q4);
    }

    // A budget between Q3_K_M and Q4_K_M: the file is at most the budget, is named after a
    // standard mix, carries the note, and its recipe replays to the same types.
    void targetSizeWritesWithinBudgetAndReplays()
    {
        const qint64 budget = (m_q3 + m_q4) / 2;
        const QString out = path(QStringLiteral("fit.gguf"));
        auto r = cli({QStringLiteral("quantize"), m_model, out, QStringLiteral("--target-size"),
                      QString::number(budget) + QStringLiteral("B"), QStringLiteral("--quiet")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(r.out.contains("recipe (--tensor-type-file):"));
        const qint64 size = QFileInfo(out).size();
        QVERIFY2(size <= budget, qPrintable(QStringLiteral("%1 > %2").arg(size).arg(budget)));
        QVERIFY(size > m_q3);
        const GgufFile fitted = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        QVERIFY(fitted.metadata().contains("quantize.recipe"));
        QVERIFY(fitted.metadata().contains("general.file_type"));
        // By default a model this small (30 tensors through 2.4 M weights: seconds) is
        // fitted with measured sensitivities, and the output and the note say why.
        const QString note = fitted.metadata().find("quantize.recipe")->toString();
        QVERIFY2(note.contains(QLatin1String("measured sensitivity (calibrated: "))
                     && note.contains(QLatin1String("auto: estimate within 60 s")),
                 qPrintable(note));
        QVERIFY2(r.out.contains("sensitivity: measured sensitivity (auto: "), r.out.constData());

        r = cli({QStringLiteral("inspect"), out, QStringLiteral("--recipe")});
        QCOMPARE(r.exitCode, 0);
        const QString recipe = path(QStringLiteral("fit.recipe"));
        QFile f(recipe);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(r.out);
        f.close();
        const QString replay = path(QStringLiteral("replay.gguf"));
        r = cli({QStringLiteral("quantize"), m_model, replay, QStringLiteral("Q2_K"),
                 QStringLiteral("--tensor-type-file"), recipe, QStringLiteral("--quiet")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const GgufFile replayed = GgufFile::open(replay, GgufFile::Mode::MetadataOnly);
        QCOMPARE(replayed.tensors().size(), fitted.tensors().size());
        for (std::size_t i = 0; i < fitted.tensors().size(); ++i) {
            QCOMPARE(replayed.tensors()[i].name, fitted.tensors()[i].name);
            QCOMPARE(replayed.tensors()[i].type, fitted.tensors()[i].type);
        }
        r = cli({QStringLiteral("diff"), out, replay, QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const QJsonObject d = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(d[QStringLiteral("changed")].toArray().size(), 0);
        QCOMPARE(d[QStringLiteral("same")].toInt(), int(fitted.tensors().size()));
    }

    // The same round trip on the architecture references: fused tensors (phi3) and expert
    // stacks (qwen3moe, Mixtral, gpt-oss's MXFP4 experts requantized). The fitted file is at most
    // the budget between its Q3_K_M and Q4_K_M, and `inspect --recipe` fed to `quantize
    // --tensor-type-file` gives every tensor the fitted file's type.
    void archReferencesReplay_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<bool>("requantize");
        QTest::newRow("phi3") << QStringLiteral("synth-phi3.gguf") << false;
        QTest::newRow("qwen3moe") << QStringLiteral("synth-qwen3moe.gguf") << false;
        QTest::newRow("mixtral") << QStringLiteral("synth-mixtral.gguf") << false;
        QTest::newRow("gpt-oss") << QStringLiteral("synth-gpt-oss.gguf") << true;
    }

    void archReferencesReplay()
    {
        QFETCH(QString, model);
        QFETCH(bool, requantize);
        const QString data = sharedTestData();
        if (data.isEmpty() || !QFile::exists(data + QStringLiteral("/arch/") + model))
            QSKIP("shared test data (../shared/testdata/arch) is absent");
        const QString src = data + QStringLiteral("/arch/") + model;
        const QStringList extra =
            requantize ? QStringList{QStringLiteral("--allow-requantize")} : QStringList{};
        const QString stem = QFileInfo(model).completeBaseName();
        qint64 sizes[2] = {0, 0};
        int i = 0;
        for (const char *t : {"Q3_K_M", "Q4_K_M"}) {
            const QString out = path(stem + QStringLiteral("-%1.gguf").arg(QLatin1String(t)));
            const auto r = cli(QStringList{QStringLiteral("quantize"), src, out, QLatin1String(t),
                                           QStringLiteral("--quiet")}
                               + extra);
            QVERIFY2(r.exitCode == 0, r.err.constData());
            sizes[i++] = QFileInfo(out).size();
        }
        const qint64 budget = (sizes[0] + sizes[1]) / 2;
        const QString out = path(stem + QStringLiteral("-fit.gguf"));
        auto r = cli(QStringList{QStringLiteral("quantize"), src, out,
                                 QStringLiteral("--target-size"),
                                 QString::number(budget) + QStringLiteral("B"),
                                 QStringLiteral("--quiet")}
                     + extra);
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(QFileInfo(out).size() <= budget);
        r = cli({QStringLiteral("inspect"), out, QStringLiteral("--recipe")});
        QCOMPARE(r.exitCode, 0);
        const QString recipe = path(stem + QStringLiteral("-fit.recipe"));
        {
            QFile f(recipe);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(r.out);
        }
        const QString replay = path(stem + QStringLiteral("-replay.gguf"));
        r = cli(QStringList{QStringLiteral("quantize"), src, replay, QStringLiteral("Q2_K"),
                            QStringLiteral("--tensor-type-file"), recipe, QStringLiteral("--quiet")}
                + extra);
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const GgufFile fitted = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        const GgufFile replayed = GgufFile::open(replay, GgufFile::Mode::MetadataOnly);
        QCOMPARE(replayed.tensors().size(), fitted.tensors().size());
        for (std::size_t k = 0; k < fitted.tensors().size(); ++k) {
            QCOMPARE(replayed.tensors()[k].name, fitted.tensors()[k].name);
            QVERIFY2(replayed.tensors()[k].type == fitted.tensors()[k].type,
                     fitted.tensors()[k].name.constData());
        }
    }

    void dryRunWritesNothing()
    {
        const QString out = path(QStringLiteral("dry.gguf"));
        const auto r = cli({QStringLiteral("quantize"), m_model, out, QStringLiteral("--target-bpw"),
                            QStringLiteral("4.3"), QStringLiteral("--dry-run"),
                            QStringLiteral("--quiet")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(r.out.contains("output size:"));
        QVERIFY(r.out.contains("predicted cost"));
        QVERIFY(!QFile::exists(out));
    }

    // --fit-ram: the weights get what the advisor's memory model leaves at the context.
    void fitRamLeavesTheContext()
    {
        const GgufFile file = GgufFile::open(m_model, GgufFile::Mode::MetadataOnly);
        const ModelShape shape = shapeFromModelInfo(modelInfoFrom(file), file.metadata(), m_model);
        AdviceOptions o;
        const std::uint64_t reserve = 500'000'000;
        o.contextTokens = 256;
        o.ramBytes = 4'000'000'000;
        o.reserveBytes = reserve;
        const std::uint64_t rest = memoryAt(shape, 0, 256, o, reserve).totalBytes();
        const std::uint64_t weights = std::uint64_t((m_q3 + m_q4) / 2);
        const double ramGb = double(rest + weights) / 1e9;
        const QString out = path(QStringLiteral("ram.gguf"));
        const auto r = cli({QStringLiteral("quantize"), m_model, out, QStringLiteral("--fit-ram"),
                            QString::number(ramGb, 'f', 9), QStringLiteral("--context"),
                            QStringLiteral("256"), QStringLiteral("--reserve"),
                            QStringLiteral("0.5"), QStringLiteral("--quiet")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const GgufFile fitted = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        QVERIFY(fitted.totalTensorBytes() <= weights + 1);
        QVERIFY(r.out.contains("at 256 tokens of context"));
        // In the decimal units the RAM was given in, as Advise shows them (it read "3.93 GiB of
        // RAM ... 1.53 MiB" for a RAM typed in GB).
        const QString ramText = QStringLiteral("%1 GB of RAM").arg(ramGb, 0, 'f', 1);
        QVERIFY2(r.out.contains(ramText.toUtf8()), qPrintable(ramText + QLatin1Char('\n') + QString::fromUtf8(r.out)));
        const QString budgetText = QStringLiteral("weights of at most %1 MB").arg(double(weights) / 1e6, 0, 'f', 1);
        QVERIFY2(r.out.contains(budgetText.toUtf8()), qPrintable(budgetText + QLatin1Char('\n') + QString::fromUtf8(r.out)));
    }

    void refusals()
    {
        auto r = cli({QStringLiteral("quantize"), m_model, path(QStringLiteral("x.gguf")),
                      QStringLiteral("Q4_K_M"), QStringLiteral("--target-size"),
                      QStringLiteral("3MB")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("no TYPE"));
        r = cli({QStringLiteral("quantize"), m_model, QStringLiteral("--target-size"),
                 QStringLiteral("3MB"), QStringLiteral("--target-bpw"), QStringLiteral("4")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("give one of"));
        r = cli({QStringLiteral("quantize"), m_model, path(QStringLiteral("y.gguf")),
                 QStringLiteral("--target-size"), QStringLiteral("10KB")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("below the smallest fitted size"), r.err.constData());
        QVERIFY(!QFile::exists(path(QStringLiteral("y.gguf"))));
        r = cli({QStringLiteral("quantize"), m_model, QStringLiteral("--target-size"),
                 QStringLiteral("3 parsecs")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("is not a size"));
    }

    void diffTotalsPerRole()
    {
        const auto r = cli({QStringLiteral("diff"), path(QStringLiteral("Q3_K_M.gguf")),
                            path(QStringLiteral("Q4_K_M.gguf")), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const QJsonObject d = QJsonDocument::fromJson(r.out).object();
        const GgufFile a = GgufFile::open(path(QStringLiteral("Q3_K_M.gguf")),
                                          GgufFile::Mode::MetadataOnly);
        const GgufFile b = GgufFile::open(path(QStringLiteral("Q4_K_M.gguf")),
                                          GgufFile::Mode::MetadataOnly);
        QCOMPARE(qint64(d[QStringLiteral("tensorBytesA")].toDouble()), qint64(a.totalTensorBytes()));
        QCOMPARE(qint64(d[QStringLiteral("tensorBytesB")].toDouble()), qint64(b.totalTensorBytes()));
        qint64 sumB = 0;
        for (const QJsonValue &v : d[QStringLiteral("roles")].toArray())
            sumB += qint64(v.toObject()[QStringLiteral("bytesB")].toDouble());
        QCOMPARE(sumB, qint64(b.totalTensorBytes()));
        // Q3_K_M and Q4_K_M differ in the FFN and attention tensors.
        QVERIFY(d[QStringLiteral("changed")].toArray().size() > 0);
        const auto text = cli({QStringLiteral("diff"), path(QStringLiteral("Q3_K_M.gguf")),
                               path(QStringLiteral("Q4_K_M.gguf"))});
        QVERIFY(text.out.contains("totals per role:"));
        QVERIFY(text.out.contains("attention"));
    }
};

QTEST_GUILESS_MAIN(TestCliFit)
#include "testclifit.moc"
