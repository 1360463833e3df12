// End to end: quantfit-cli quantize as a process; exit codes, stdout, stderr and the files left
// behind (no partial output after a failure).

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
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

    // --tensor-type and --tensor-type-file items count in command-line order (the file's items
    // where the file is named); the first matching item decides.
    void tensorTypeItemsInOrder()
    {
        const QString list = path("types.txt");
        QFile f(list);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("attn_v=q6_K\n  blk\\.1\\.=q4_0\t\n");
        f.close();
        const QString out = path("typed.gguf");
        auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, out, QStringLiteral("Q4_K_M")}
                        + args({"--tensor-type", "ATTN_V=Q8_0", "--tensor-type-file"})
                        + QStringList{list} + args({"--tensor-type=ffn_up=q5_0", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        {
            const GgufFile g = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
            QCOMPARE(g.findTensor("blk.0.attn_v.weight")->type, GgmlType::Q8_0);
            QCOMPARE(g.findTensor("blk.1.attn_v.weight")->type, GgmlType::Q8_0);
            QCOMPARE(g.findTensor("blk.1.attn_q.weight")->type, GgmlType::Q4_0);
            QCOMPARE(g.findTensor("blk.1.ffn_up.weight")->type, GgmlType::Q4_0);
            QCOMPARE(g.findTensor("blk.0.ffn_up.weight")->type, GgmlType::Q5_0);
            QCOMPARE(g.findTensor("blk.0.attn_q.weight")->type, GgmlType::Q4_K);
        }
        QFile::remove(out);
        // The file first: its attn_v item now comes before the option's.
        r = runCli(QStringList{QStringLiteral("quantize"), m_model, out, QStringLiteral("Q4_K_M"),
                               QStringLiteral("--tensor-type-file"), list}
                   + args({"--tensor-type", "attn_v=q8_0", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        {
            const GgufFile g = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
            QCOMPARE(g.findTensor("blk.0.attn_v.weight")->type, GgmlType::Q6_K);
        }
        // The dry run names what decided each tensor.
        r = runCli(QStringList{QStringLiteral("quantize"), m_model, QStringLiteral("Q4_K_M")}
                   + args({"--tensor-type", "attn_v=q8_0", "--dry-run"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains("pattern --tensor-type attn_v"), r.out.constData());
        QFile::remove(out);
        QFile::remove(list);
    }

    void optionUsageErrors_data()
    {
        QTest::addColumn<QStringList>("options");
        QTest::addColumn<QString>("error");
        QTest::newRow("no =") << QStringList{"--tensor-type", "attn_v"}
                              << "error: --tensor-type 'attn_v': no '=' between the pattern "
                                 "and the type";
        QTest::newRow("empty pattern") << QStringList{"--tensor-type", "=q8_0"}
                                       << "error: --tensor-type '=q8_0': the pattern is empty";
        QTest::newRow("unknown type") << QStringList{"--tensor-type", "attn_v=q3"}
                                      << "error: --tensor-type 'attn_v=q3': 'q3' is not a tensor type";
        QTest::newRow("bad pattern") << QStringList{"--tensor-type", "attn_v[=q8_0"}
                                     << "error: --tensor-type 'attn_v[=q8_0': 'attn_v[' is not "
                                        "a valid regular expression";
        QTest::newRow("missing file") << QStringList{"--tensor-type-file", "/nonexistent/types.txt"}
                                      << "/nonexistent/types.txt";
        QTest::newRow("prune") << QStringList{"--prune-layers", "1,,2"}
                               << "error: --prune-layers '1,,2': '' is not a layer number";
        QTest::newRow("prune sign") << QStringList{"--prune-layers", "-1"}
                                    << "error: --prune-layers '-1': '-1' is not a layer number";
    }

    void optionUsageErrors()
    {
        QFETCH(QStringList, options);
        QFETCH(QString, error);
        const QStringList before = filesIn(m_dir.path());
        const auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, path("bad.gguf"),
                                          QStringLiteral("Q4_K_M")} + options);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith("error: ") && QString::fromUtf8(r.err).contains(error),
                 r.err.constData());
        QCOMPARE(filesIn(m_dir.path()), before);
    }

    void pruneLayers()
    {
        const QString out = path("pruned.gguf");
        const auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, out}
                              + args({"Q8_0", "--prune-layers", "0", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const GgufFile g = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        QCOMPARE(g.metadata().uintOr("llama.block_count", 0), 1u);
        QCOMPARE(g.metadata().entries().back().key, QByteArray("llama.block_count"));
        QVERIFY(g.findTensor("blk.0.attn_q.weight"));
        QVERIFY(!g.findTensor("blk.1.attn_q.weight"));
        QFile::remove(out);
    }

    void keepSplit()
    {
        // A split input (gguf-split's layout, written here) gives one output file per input file.
        QTemporaryDir dir;
        const GgufFile whole = GgufFile::open(m_model);
        const std::size_t half = whole.tensors().size() / 2;
        for (int i = 0; i < 2; ++i) {
            GgufLayout layout;
            if (i == 0)
                layout.metadata = whole.metadata();
            layout.metadata.set("split.no",
                                GgufValue::fromUInt(GgufValueType::UINT16, std::uint64_t(i)));
            layout.metadata.set("split.count", GgufValue::fromUInt(GgufValueType::UINT16, 2));
            layout.metadata.set("split.tensors.count",
                                GgufValue::i32(std::int32_t(whole.tensors().size())));
            std::vector<QByteArray> data;
            for (std::size_t k = i ? half : 0; k < (i ? whole.tensors().size() : half); ++k) {
                layout.tensors.push_back(whole.tensors()[k]);
                const auto bytes = whole.tensorData(k);
                data.emplace_back(reinterpret_cast<const char *>(bytes.data()), qsizetype(bytes.size()));
            }
            writeGgufFile(dir.filePath(QStringLiteral("m-0000%1-of-00002.gguf").arg(i + 1)),
                          std::move(layout), data);
        }
        const QString first = dir.filePath(QStringLiteral("m-00001-of-00002.gguf"));
        auto r = runCli(QStringList{QStringLiteral("quantize"), first,
                                    dir.filePath(QStringLiteral("q.gguf"))}
                        + args({"Q8_0", "--keep-split", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains("2 files"), r.out.constData());
        // Without OUT: named after the model, with the type, then the shard suffix.
        r = runCli(QStringList{QStringLiteral("quantize"), first}
                   + args({"Q4_0", "--keep-split", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(filesIn(dir.path()),
                 QStringList({"m-00001-of-00002.gguf", "m-00002-of-00002.gguf",
                              "m-Q4_0-00001-of-00002.gguf", "m-Q4_0-00002-of-00002.gguf",
                              "q-00001-of-00002.gguf", "q-00002-of-00002.gguf"}));
        const GgufFile second = GgufFile::open(dir.filePath(QStringLiteral("q-00002-of-00002.gguf")),
                                               GgufFile::Mode::MetadataOnly, GgufFile::Split::ThisFile);
        QCOMPARE(second.metadata().size(), std::size_t(3));
        QCOMPARE(second.tensors().size(), whole.tensors().size() - half);
        // The dry run lists the files.
        r = runCli(QStringList{QStringLiteral("quantize"), first}
                   + args({"Q8_0", "--keep-split", "--dry-run"}));
        QVERIFY2(r.out.contains("file 2: ") && r.out.contains("-00002-of-00002.gguf"),
                 r.out.constData());
    }

    // IQ1/IQ2/IQ3_XXS mixes need an importance matrix: refused before anything is written, with
    // llama-quantize's words, the tensor and its type; a dry run only warns.
    void imatrixRequired()
    {
        const QStringList before = filesIn(m_dir.path());
        auto r = runCli(QStringList{QStringLiteral("quantize"), m_model} + args({"IQ2_XXS"}));
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith("error: IQ2_XXS: this quantization requires an importance matrix")
                     && r.err.contains("offending tensor blk.0.attn_k.weight, target type iq2_xxs"),
                 r.err.constData());
        QCOMPARE(filesIn(m_dir.path()), before);
        r = runCli(QStringList{QStringLiteral("quantize"), m_model} + args({"IQ3_XS", "--dry-run"}));
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.err.contains("dry run completed, but actually completing this quantization will "
                                "require an imatrix"),
                 r.err.constData());
        QVERIFY(r.out.contains("iq3_xxs"));
        QCOMPARE(filesIn(m_dir.path()), before);
    }

    void helpNamesTheOptions()
    {
        const auto r = runCli(args({"quantize", "--help"}));
        QCOMPARE(r.exitCode, 0);
        for (const char *o : {"--tensor-type <PATTERN=TYPE>", "--tensor-type-file <FILE>",
                              "--prune-layers <L0,L1,...>", "--keep-split", "IQ2_XXS", "MXFP4_MOE",
                              "Q1_0", "TQ2_0"})
            QVERIFY2(r.out.contains(o), o);
        QVERIFY(!r.out.contains("NVFP4,") && !r.out.contains(", NVFP4"));
    }
};

QTEST_GUILESS_MAIN(TestCliQuantize)
#include "testcliquantize.moc"
