// End to end: quantfit-cli perplexity and imatrix run as processes; exit codes, stdout, stderr
// and the files left behind are checked. The llama.cpp reference run needs the shared test data
// (skipped with a message when absent); the rest uses synthetic models.

#include "testsupport.h"

#include "gguf/ggufwriter.h"
#include "quant/imatrixfile.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace QuantFit;
using namespace QuantFit::Test;

namespace {

QStringList qs(std::initializer_list<const char *> args)
{
    QStringList l;
    for (const char *a : args)
        l << QString::fromUtf8(a);
    return l;
}

void writeFile(const QString &path, const QByteArray &data)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(data);
}

QByteArray englishText(int sentences)
{
    static const char *const kWords[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog",
                                         "ran", "to", "big", "red", "ball", "in", "park", "she",
                                         "was", "happy", "little", "girl", "he", "saw", "tree"};
    QByteArray t;
    std::uint32_t s = 12345;
    for (int i = 0; i < sentences; ++i) {
        for (int w = 0; w < 8; ++w) {
            s = s * 1103515245u + 12345u;
            t += kWords[(s >> 16) % (sizeof kWords / sizeof *kWords)];
            t += w == 7 ? ".\n" : " ";
        }
    }
    return t;
}

} // namespace

class TestCliEval : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model;
    QString m_text;

    QString path(const char *name) const { return m_dir.filePath(QString::fromUtf8(name)); }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = path("synth.gguf");
        const auto r = runCli(qs({"make-model", "--layers", "2", "--embd", "64", "--ff", "128",
                                  "--heads", "4", "--kv-heads", "2", "--vocab", "400", "--quiet"})
                              << m_model);
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        m_text = path("text.txt");
        writeFile(m_text, englishText(200));
    }

    void stories260KPrintsLikeLlamaPerplexity()
    {
        const QString data = sharedTestData();
        if (data.isEmpty())
            QSKIP("shared test data (../shared/testdata) not found: skipping the reference run");
        const auto r = runCli({QStringLiteral("perplexity"),
                               data + QStringLiteral("/models/stories260K.gguf"), QStringLiteral("-f"),
                               data + QStringLiteral("/text/tinystories-valid-head.txt"),
                               QStringLiteral("--ctx"), QStringLiteral("128"), QStringLiteral("--batch"),
                               QStringLiteral("128"), QStringLiteral("--chunks"), QStringLiteral("5")});
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        // llama.cpp: [1]3.5356,[2]4.0840,[3]4.0440,[4]3.8579,[5]3.9962
        const QRegularExpression running(QStringLiteral(R"(\[(\d+)\](\d+\.\d{4}),)"));
        const double expected[] = {3.5356, 4.0840, 4.0440, 3.8579, 3.9962};
        int n = 0;
        for (auto it = running.globalMatch(QString::fromUtf8(r.out)); it.hasNext(); ++n) {
            const auto m = it.next();
            QCOMPARE(m.captured(1).toInt(), n + 1);
            QVERIFY2(std::abs(m.captured(2).toDouble() / expected[n] - 1) < 1e-3, r.out.constData());
        }
        QCOMPARE(n, 5);
        const QRegularExpression final(QStringLiteral(R"(Final estimate: PPL = (\d+\.\d{4}) \+/- (\d+\.\d{5}))"));
        const auto m = final.match(QString::fromUtf8(r.out));
        QVERIFY2(m.hasMatch(), r.out.constData());
        QVERIFY(std::abs(m.captured(1).toDouble() / 3.9962 - 1) < 1e-3);
    }

    void jsonRecord()
    {
        const auto r = runCli(QStringList{QStringLiteral("perplexity"), m_model, QStringLiteral("-f"),
                                          m_text} << qs({"--ctx", "32", "--chunks", "3", "--json"}));
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(r.out, &error);
        QVERIFY2(doc.isObject(), qPrintable(error.errorString() + QString::fromUtf8(r.out)));
        const QJsonObject o = doc.object();
        QCOMPARE(o.value(u"model").toString(), m_model);
        QCOMPARE(o.value(u"file_type").toString(), QStringLiteral("F32"));
        QCOMPARE(o.value(u"n_ctx").toInt(), 32);
        QCOMPARE(o.value(u"n_chunks").toInt(), 3);
        QCOMPARE(o.value(u"n_tokens_scored").toInt(), 3 * 15);
        QVERIFY(o.value(u"ppl").toDouble() > 1);
        QVERIFY(o.value(u"ppl_error").toDouble() > 0);
        QVERIFY(o.value(u"tokens_per_second").toDouble() > 0);
        QVERIFY(!o.value(u"date").toString().isEmpty());
        QVERIFY(r.err.contains("[3]")); // running values go to stderr with --json
    }

    void saveBaseThenKlDivergence()
    {
        const QString base = path("base.qfkl");
        auto r = runCli(QStringList{QStringLiteral("perplexity"), m_model, QStringLiteral("-f"), m_text,
                                    QStringLiteral("--save-base"), base}
                        << qs({"--ctx", "32", "--chunks", "4"}));
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        QVERIFY(QFile::exists(base));
        QVERIFY(r.out.contains("Final estimate: PPL = "));
        r = runCli(QStringList{QStringLiteral("perplexity"), m_model, QStringLiteral("--kl-base"), base});
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        QVERIFY2(r.out.contains("Mean    KLD: 0.000000"), r.out.constData());
        QVERIFY2(r.out.contains("Same top p: 100.000"), r.out.constData());
        QVERIFY(r.out.contains("Final estimate: PPL = "));
        // Only the two inputs, the model and the base file: no temporaries.
        QCOMPARE(filesIn(m_dir.path()),
                 QStringList({QStringLiteral("base.qfkl"), QStringLiteral("synth.gguf"),
                              QStringLiteral("text.txt")}));
    }

    void imatrixBothFormats()
    {
        for (const char *name : {"im.gguf", "im.dat"}) {
            const QString out = path(name);
            const auto r = runCli(QStringList{QStringLiteral("imatrix"), m_model, QStringLiteral("-f"),
                                              m_text, QStringLiteral("-o"), out}
                                  << qs({"--ctx", "32", "--chunks", "2"}));
            QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
            QVERIFY2(r.out.startsWith("wrote "), r.out.constData());
            const ImportanceMatrix m = readImportanceMatrix(out);
            QCOMPARE(m.entries.size(), std::size_t(2 * 7));
            QVERIFY(m.find("blk.0.ffn_down.weight"));
            QCOMPARE(m.find("blk.0.ffn_down.weight")->nColumns, 128u);
            // The quantizer reads what imatrix writes (embd 64 is too narrow for K-quants).
            const QString quant = path("synth-q.gguf");
            const auto q = runCli(QStringList{QStringLiteral("quantize"), m_model, quant,
                                              QStringLiteral("Q4_0"), QStringLiteral("--imatrix"), out});
            QVERIFY2(q.exitCode == 0 && !q.crashed, q.err.constData());
            QVERIFY(QFile::exists(quant));
            QFile::remove(quant);
            QFile::remove(out);
        }
    }

    void interruptLeavesNoBaseFile()
    {
        // SIGTERM (as Ctrl+C) after the first running value: exit 130, "cancelled", no output.
        QTemporaryDir dir;
        const QString text = dir.filePath(QStringLiteral("long.txt"));
        writeFile(text, englishText(6000));
        const QString base = dir.filePath(QStringLiteral("base.qfkl"));
        QProcess p;
        p.start(cliPath(), QStringList{QStringLiteral("perplexity"), m_model, QStringLiteral("-f"), text,
                                       QStringLiteral("--ctx"), QStringLiteral("32"),
                                       QStringLiteral("--threads"), QStringLiteral("1"),
                                       QStringLiteral("--save-base"), base});
        QVERIFY(p.waitForStarted(10000));
        QByteArray out;
        while (!out.contains("[2]") && p.state() == QProcess::Running) {
            p.waitForReadyRead(200);
            out += p.readAllStandardOutput();
        }
        QVERIFY2(out.contains("[2]"), out.constData());
        p.terminate();
        QVERIFY(p.waitForFinished(20000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 130);
        QVERIFY(p.readAllStandardError().contains("cancelled"));
        QCOMPARE(filesIn(dir.path()), QStringList{QStringLiteral("long.txt")});
    }

    void archiveMemberText()
    {
        // A .zip member is read through libarchive; a missing member lists what is there.
        const auto missing = runCli(QStringList{QStringLiteral("perplexity"), m_model,
                                                QStringLiteral("-f"), path("nope.zip") + QStringLiteral(":a/b.raw")});
        QCOMPARE(missing.exitCode, 1);
        QVERIFY2(missing.err.startsWith("error: "), missing.err.constData());
    }

    void errors_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("expected");
        QTest::newRow("text shorter than two contexts") << QStringLiteral("short")
                                                        << QStringLiteral("at least 1024 tokens");
        QTest::newRow("invalid UTF-8") << QStringLiteral("utf8") << QStringLiteral("invalid UTF-8");
        QTest::newRow("unsupported architecture") << QStringLiteral("arch")
                                                  << QStringLiteral("'gptneox'");
        QTest::newRow("vocabulary-only file") << QStringLiteral("vocab")
                                              << QStringLiteral("only a vocabulary");
        QTest::newRow("missing text") << QStringLiteral("missing") << QStringLiteral("missing.txt");
        QTest::newRow("both base options") << QStringLiteral("both")
                                           << QStringLiteral("cannot be combined");
    }

    void errors()
    {
        QFETCH(QString, kind);
        QFETCH(QString, expected);
        QString model = m_model;
        QString text = m_text;
        QStringList extra;
        if (kind == QLatin1String("short")) {
            text = path("short.txt");
            writeFile(text, englishText(5));
            extra << QStringLiteral("--ctx") << QStringLiteral("512");
        } else if (kind == QLatin1String("utf8")) {
            text = path("bad.txt");
            writeFile(text, englishText(50) + "\xff\xfe");
        } else if (kind == QLatin1String("arch") || kind == QLatin1String("vocab")) {
            GgufLayout layout;
            layout.metadata.set("general.architecture",
                                GgufValue::fromString(kind == QLatin1String("arch") ? QByteArray("gptneox")
                                                                                    : QByteArray("llama")));
            layout.metadata.set("tokenizer.ggml.model", GgufValue::fromString(QByteArray("llama")));
            std::vector<QByteArray> data;
            if (kind == QLatin1String("arch")) {
                GgufTensorInfo t;
                t.name = "token_embd.weight";
                t.nDims = 2;
                t.ne = {8, 4, 1, 1};
                layout.tensors.push_back(t);
                data.push_back(QByteArray(8 * 4 * 4, '\0'));
            }
            model = path(kind == QLatin1String("arch") ? "arch.gguf" : "vocab.gguf");
            writeGgufFile(model, layout, data);
        } else if (kind == QLatin1String("missing")) {
            text = path("missing.txt");
        } else if (kind == QLatin1String("both")) {
            extra << QStringLiteral("--save-base") << path("x.qfkl") << QStringLiteral("--kl-base")
                  << path("y.qfkl");
        }
        const auto r = runCli(QStringList{QStringLiteral("perplexity"), model, QStringLiteral("-f"), text}
                              << extra);
        QVERIFY(!r.crashed);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith("error: ") || r.err.contains("\nerror: "), r.err.constData());
        QVERIFY2(QString::fromUtf8(r.err).contains(expected), r.err.constData());
        QVERIFY(!QFile::exists(path("x.qfkl")));
    }
};

QTEST_GUILESS_MAIN(TestCliEval)
#include "testclieval.moc"
