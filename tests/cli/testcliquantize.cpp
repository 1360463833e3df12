// End to end: quantfit-cli quantize as a process; exit codes, stdout, stderr and the files left
// behind (no partial output after a failure).

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "quant/imatrixfile.h"

#include <QFile>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;
using namespace QuantFit::Test;

namespace {

QStringList args(std::initializer_list<const char *> list)
{
    QStringList out;
    for (const char *a : list)
        out << QString::fromUtf8(a);
    return out;
}

// "output size: N bytes" lines of a dry run, in order.
QList<qint64> plannedSizes(const QByteArray &stdoutText)
{
    QList<qint64> sizes;
    static const QRegularExpression re(QStringLiteral("^output size: (\\d+) bytes"),
                                       QRegularExpression::MultilineOption);
    auto it = re.globalMatch(QString::fromUtf8(stdoutText));
    while (it.hasNext())
        sizes << it.next().captured(1).toLongLong();
    return sizes;
}

} // namespace

class TestCliQuantize : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model;

    QString path(const char *name) const { return m_dir.filePath(QString::fromUtf8(name)); }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = path("tiny-F32.gguf");
        const auto r = runCli(QStringList{QStringLiteral("make-model"), m_model}
                              + args({"--layers", "2", "--embd", "256", "--ff", "512", "--heads",
                                      "8", "--kv-heads", "4", "--vocab", "512", "--quiet"}));
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
    }

    void dryRunSizeEqualsWrittenSize()
    {
        const auto plan = runCli(QStringList{QStringLiteral("quantize"), m_model}
                                 + args({"Q4_K_M,Q8_0", "--dry-run"}));
        QVERIFY2(plan.exitCode == 0, plan.err.constData());
        QVERIFY(plan.out.contains("blk.1.ffn_down.weight"));
        QVERIFY(plan.out.contains("totals by type:"));
        const QList<qint64> sizes = plannedSizes(plan.out);
        QCOMPARE(sizes.size(), 2);
        // A dry run writes nothing.
        QCOMPARE(filesIn(m_dir.path()), QStringList({"tiny-F32.gguf"}));

        const auto r = runCli(QStringList{QStringLiteral("quantize"), m_model}
                              + args({"Q4_K_M,Q8_0", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        // Without OUT the files go next to the input, named with the type.
        QCOMPARE(QFileInfo(path("tiny-Q4_K_M.gguf")).size(), sizes[0]);
        QCOMPARE(QFileInfo(path("tiny-Q8_0.gguf")).size(), sizes[1]);
        QVERIFY(r.out.contains("wrote "));
        const GgufFile q = GgufFile::open(path("tiny-Q4_K_M.gguf"), GgufFile::Mode::MetadataOnly);
        QCOMPARE(q.metadata().uintOr("general.file_type", 0), 15u);
        QFile::remove(path("tiny-Q4_K_M.gguf"));
        QFile::remove(path("tiny-Q8_0.gguf"));
    }

    void explicitOutputAndOptions()
    {
        const QString out = path("custom.gguf");
        const auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, out}
                              + args({"q5_k_s", "--output-tensor-type", "q8_0",
                                      "--token-embedding-type", "f16", "--threads", "2", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const GgufFile f = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        QCOMPARE(f.findTensor("output.weight")->type, GgmlType::Q8_0);
        QCOMPARE(f.findTensor("token_embd.weight")->type, GgmlType::F16);
        QCOMPARE(f.findTensor("blk.0.attn_q.weight")->type, GgmlType::Q5_K);
        QFile::remove(out);
    }

    void overrideKv()
    {
        const QString out = path("renamed.gguf");
        auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, out}
                        + args({"Q8_0", "--override-kv", "general.name=str:Renamed model",
                                "--override-kv", "tokenizer.ggml.add_bos_token=bool:false",
                                "--override-kv", "my.count=int:-3", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData()); // includes the re-open and check
        const GgufFile f = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        QCOMPARE(f.metadata().stringOr("general.name"), QStringLiteral("Renamed model"));
        QCOMPARE(f.metadata().find("tokenizer.ggml.add_bos_token")->toBool(), false);
        // Current llama-quantize stores int overrides as UINT32 of the absolute value.
        QCOMPARE(f.metadata().find("my.count")->type(), GgufValueType::UINT32);
        QCOMPARE(f.metadata().find("my.count")->toInt64(), 3);
        QFile::remove(out);
        r = runCli(QStringList{QStringLiteral("quantize"), m_model, out}
                   + args({"Q8_0", "--override-kv", "my.count=int:lots", "--quiet"}));
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith("error: --override-kv 'my.count=int:lots'"), r.err.constData());
        QVERIFY(!QFileInfo::exists(out));
    }

    void refusals()
    {
        const QStringList before = filesIn(m_dir.path());
        // Output equal to the input.
        auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, m_model} + args({"Q8_0"}));
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith("error: ") && r.err.contains("input"), r.err.constData());
        // Unknown type.
        r = runCli(QStringList{QStringLiteral("quantize"), m_model} + args({"Q9_X"}));
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("unknown file type 'Q9_X'"), r.err.constData());
        // Several types need a folder as OUT.
        r = runCli(QStringList{QStringLiteral("quantize"), m_model, path("x.gguf")}
                   + args({"Q8_0,Q6_K"}));
        QCOMPARE(r.exitCode, 1);
        // Missing input.
        r = runCli(QStringList{QStringLiteral("quantize"), path("none.gguf")} + args({"Q8_0"}));
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("none.gguf"), r.err.constData());
        QCOMPARE(filesIn(m_dir.path()), before);
    }

    void imatrixChangesTheMix()
    {
        const QString model = path("eight.gguf");
        auto r = runCli(QStringList{QStringLiteral("make-model"), model}
                        + args({"--layers", "8", "--embd", "64", "--ff", "128", "--heads", "4",
                                "--kv-heads", "2", "--vocab", "300", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const GgufFile in = GgufFile::open(model, GgufFile::Mode::MetadataOnly);
        ImportanceMatrix m;
        m.datasets << QStringLiteral("text.txt");
        m.chunkCount = 4;
        for (const auto &t : in.tensors()) {
            if (t.name.startsWith("blk.") && t.nDims == 2) {
                ImportanceEntry e;
                e.name = t.name;
                e.nColumns = t.ne[0];
                e.sumSquares.assign(t.ne[0], 2.0f);
                e.counts = {4.0f};
                m.entries.push_back(e);
            }
        }
        const QString dat = path("eight.imatrix.dat");
        writeImportanceMatrix(dat, m, ImatrixFormat::Legacy);
        const QString out = path("eight-q4.gguf");
        r = runCli(QStringList{QStringLiteral("quantize"), model, out}
                   + args({"Q4_0", "--quiet", "--imatrix"}) + QStringList{dat});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const GgufFile f = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        // With an imatrix, Q4_0 uses Q4_1 for ffn_down of layers < n/8 (docs/quantization.md).
        QCOMPARE(f.findTensor("blk.0.ffn_down.weight")->type, GgmlType::Q4_1);
        QCOMPARE(f.findTensor("blk.1.ffn_down.weight")->type, GgmlType::Q4_0);
        QCOMPARE(f.metadata().stringOr("quantize.imatrix.file"), dat);
        QCOMPARE(f.metadata().stringOr("quantize.imatrix.dataset"), QStringLiteral("text.txt"));
        // Include and exclude together are a usage error.
        r = runCli(QStringList{QStringLiteral("quantize"), model, path("x.gguf")}
                   + args({"Q4_0", "--include-weights", "attn", "--exclude-weights", "ffn",
                           "--imatrix"}) + QStringList{dat});
        QCOMPARE(r.exitCode, 1);
        for (const QString &f : {model, dat, out})
            QFile::remove(f);
    }

    void interruptLeavesNothing()
    {
        // Ctrl+C / SIGTERM during the conversion: exit status 130 and no output or temporary.
        QTemporaryDir dir;
        const QString model = dir.filePath(QStringLiteral("big.gguf"));
        auto r = runCli(QStringList{QStringLiteral("make-model"), model}
                        + args({"--layers", "2", "--embd", "512", "--ff", "1024", "--heads", "8",
                                "--kv-heads", "8", "--vocab", "1024", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QProcess p;
        p.start(cliPath(), QStringList{QStringLiteral("quantize"), model}
                               + args({"IQ4_XS,Q3_K_M,Q4_K_M,Q5_K_M,Q6_K", "--threads", "1"}));
        QVERIFY(p.waitForStarted());
        QElapsedTimer t;
        t.start();
        QByteArray err;
        while (!err.contains("Quantizing") && p.state() == QProcess::Running && t.elapsed() < 60000) {
            p.waitForReadyRead(100);
            err += p.readAllStandardError();
        }
        if (p.state() != QProcess::Running)
            QSKIP("the conversion finished before it could be interrupted");
        p.terminate(); // SIGTERM, handled like Ctrl+C
        QVERIFY(p.waitForFinished(10000));
        if (p.exitCode() == 0)
            QSKIP("the conversion finished before the signal arrived");
        QCOMPARE(p.exitCode(), 130);
        QCOMPARE(filesIn(dir.path()), QStringList({"big.gguf"}));
    }

    void requantizeNeedsFlag()
    {
        const QString q8 = path("q8.gguf");
        auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, q8} + args({"Q8_0", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QString q4 = path("q4.gguf");
        r = runCli(QStringList{QStringLiteral("quantize"), q8, q4} + args({"Q4_K_M", "--quiet"}));
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("--allow-requantize"), r.err.constData());
        QVERIFY(!QFileInfo::exists(q4));
        r = runCli(QStringList{QStringLiteral("quantize"), q8, q4}
                   + args({"Q4_K_M", "--allow-requantize", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(r.err.contains("warning:"));
        QFile::remove(q8);
        QFile::remove(q4);
    }
};

QTEST_GUILESS_MAIN(TestCliQuantize)
#include "testcliquantize.moc"
