// End to end: quantfit-cli make-model and inspect run as processes; exit codes, stdout, stderr
// and the files left behind are checked.

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "model/modelinfo.h"

#include <QDir>
#include <QFileInfo>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace QuantFit;
using namespace QuantFit::Test;

class TestCliGguf : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model;

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = m_dir.filePath(QStringLiteral("tiny.gguf"));
        const auto r = runCli({QStringLiteral("make-model"), m_model, QStringLiteral("--layers"),
                               QStringLiteral("2"), QStringLiteral("--embd"), QStringLiteral("64"),
                               QStringLiteral("--ff"), QStringLiteral("128"), QStringLiteral("--heads"),
                               QStringLiteral("4"), QStringLiteral("--kv-heads"), QStringLiteral("2"),
                               QStringLiteral("--vocab"), QStringLiteral("400"), QStringLiteral("--quiet")});
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        QVERIFY(r.out.startsWith("wrote "));
    }

    void makeModelIsDeterministicAndValid()
    {
        const QString second = m_dir.filePath(QStringLiteral("tiny2.gguf"));
        const auto r = runCli({QStringLiteral("make-model"), second, QStringLiteral("--layers"),
                               QStringLiteral("2"), QStringLiteral("--embd"), QStringLiteral("64"),
                               QStringLiteral("--ff"), QStringLiteral("128"), QStringLiteral("--heads"),
                               QStringLiteral("4"), QStringLiteral("--kv-heads"), QStringLiteral("2"),
                               QStringLiteral("--vocab"), QStringLiteral("400"), QStringLiteral("--quiet")});
        QCOMPARE(r.exitCode, 0);
        QFile a(m_model), b(second);
        QVERIFY(a.open(QIODevice::ReadOnly) && b.open(QIODevice::ReadOnly));
        QVERIFY(a.readAll() == b.readAll());

        // Same keys and tensor names a llama.cpp conversion has.
        const GgufFile f = GgufFile::open(m_model);
        for (const char *key : {"general.architecture", "llama.context_length", "llama.embedding_length",
                                "llama.block_count", "llama.feed_forward_length", "llama.attention.head_count",
                                "llama.attention.head_count_kv", "llama.attention.layer_norm_rms_epsilon",
                                "llama.rope.dimension_count", "tokenizer.ggml.model", "tokenizer.ggml.tokens",
                                "tokenizer.ggml.scores", "tokenizer.ggml.token_type"})
            QVERIFY2(f.metadata().contains(key), key);
        QCOMPARE(f.metadata().find("llama.block_count")->type(), GgufValueType::UINT32);
        QCOMPARE(f.metadata().find("tokenizer.ggml.scores")->elementType(), GgufValueType::FLOAT32);
        for (const char *name : {"token_embd.weight", "output_norm.weight", "output.weight",
                                 "blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.1.ffn_down.weight"})
            QVERIFY2(f.findTensor(name), name);
        QCOMPARE(f.findTensor("blk.0.attn_k.weight")->ne[1], std::uint64_t(32)); // 2 kv heads x 16
        // The vocabulary is SentencePiece-style with byte fallback at ids 3..258.
        const auto *tokens = f.metadata().find("tokenizer.ggml.tokens");
        QCOMPARE(tokens->arraySize(), std::size_t(400));
        QCOMPARE(tokens->at(3).rawString(), QByteArray("<0x00>"));
        QCOMPARE(tokens->at(258).rawString(), QByteArray("<0xFF>"));
        QCOMPARE(f.metadata().find("tokenizer.ggml.token_type")->at(3).toInt64(), std::int64_t(6));

        // Weights are heavy-tailed: the kurtosis of a large matrix exceeds a Gaussian's 3.
        const auto *up = f.findTensor("blk.0.ffn_up.weight");
        const auto data = f.tensorData(*up);
        const float *w = reinterpret_cast<const float *>(data.data());
        const std::size_t n = up->nElements();
        double m2 = 0, m4 = 0;
        for (std::size_t i = 0; i < n; ++i) {
            m2 += double(w[i]) * w[i];
            m4 += double(w[i]) * w[i] * w[i] * w[i];
        }
        m2 /= double(n);
        m4 /= double(n);
        QVERIFY2(m4 / (m2 * m2) > 4.0, qPrintable(QString::number(m4 / (m2 * m2))));
    }

    void inspectText()
    {
        const auto r = runCli({QStringLiteral("inspect"), m_model, QStringLiteral("--tensors")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.err.isEmpty());
        QVERIFY(r.out.contains("architecture:      llama"));
        QVERIFY(r.out.contains("layers:            2, embedding 64, FFN 128"));
        QVERIFY(r.out.contains("blk.1.ffn_down.weight"));
        QVERIFY(r.out.contains("tokenizer.ggml.tokens"));
        QVERIFY(r.out.contains("(400 string items)"));
    }

    void inspectJson()
    {
        const auto r = runCli({QStringLiteral("inspect"), m_model, QStringLiteral("--json"), QStringLiteral("--tensors")});
        QCOMPARE(r.exitCode, 0);
        QJsonParseError pe;
        const auto doc = QJsonDocument::fromJson(r.out, &pe);
        QCOMPARE(pe.error, QJsonParseError::NoError);
        const auto o = doc.object();
        QCOMPARE(o[QStringLiteral("architecture")].toString(), QStringLiteral("llama"));
        QCOMPARE(o[QStringLiteral("layers")].toInt(), 2);
        QCOMPARE(o[QStringLiteral("fileType")].toString(), QStringLiteral("F32"));
        QCOMPARE(o[QStringLiteral("fileSize")].toDouble(), double(QFileInfo(m_model).size()));
        QCOMPARE(o[QStringLiteral("tensorCount")].toInt(), 1 + 2 * 9 + 2);
        QCOMPARE(o[QStringLiteral("tensors")].toArray().size(), 1 + 2 * 9 + 2);
        // parameters: 2*64*400 + 2*(2*64*64 + 2*64*32 + 3*64*128 + 2*64) + 64
        QCOMPARE(o[QStringLiteral("parameters")].toDouble(), double(2 * 64 * 400 + 2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128 + 2 * 64) + 64));
    }

    void errors_data()
    {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("not gguf") << QByteArray("hello world, not a model at all") << QByteArray("magic");
        QTest::newRow("future version") << QByteArray("GGUF\x09\0\0\0", 8) + QByteArray(16, '\0') << QByteArray("unsupported version 9");
        QTest::newRow("truncated") << QByteArray("GGUF\x03\0\0\0\x01", 9) << QByteArray("truncated");
    }

    void errors()
    {
        QFETCH(QByteArray, content);
        QFETCH(QByteArray, expected);
        const QString path = m_dir.filePath(QStringLiteral("bad.gguf"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(content);
        f.close();
        const auto r = runCli({QStringLiteral("inspect"), path});
        QVERIFY(!r.crashed);
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.out.isEmpty());
        QVERIFY2(r.err.startsWith("error: "), r.err.constData());
        QCOMPARE(r.err.count('\n'), 1);
        QVERIFY2(r.err.contains(expected), r.err.constData());
        QVERIFY2(r.err.contains(path.toUtf8()), r.err.constData());
    }

    void missingFile()
    {
        const auto r = runCli({QStringLiteral("inspect"), m_dir.filePath(QStringLiteral("nope.gguf"))});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.startsWith("error: cannot open"));
    }

    void specialFilesAreRefusedWithoutBlocking_data()
    {
        QTest::addColumn<QStringList>("command"); // "%1" is replaced by the special file
        QTest::addColumn<QByteArray>("expected");
        const QString model = m_model;
        const QString text = m_dir.filePath(QStringLiteral("text.txt"));
        const struct {
            const char *name;
            QStringList command;
        } commands[] = {
            {"inspect", {QStringLiteral("inspect"), QStringLiteral("%1")}},
            {"tokenize -f", {QStringLiteral("tokenize"), model, QStringLiteral("-f"), QStringLiteral("%1")}},
            {"perplexity -f", {QStringLiteral("perplexity"), model, QStringLiteral("-f"), QStringLiteral("%1")}},
            {"perplexity --kl-base", {QStringLiteral("perplexity"), model, QStringLiteral("-f"), text,
                                      QStringLiteral("--kl-base"), QStringLiteral("%1")}},
            {"quantize --imatrix", {QStringLiteral("quantize"), model, m_dir.filePath(QStringLiteral("o.gguf")),
                                    QStringLiteral("Q8_0"), QStringLiteral("--imatrix"), QStringLiteral("%1")}},
        };
        for (const auto &c : commands) {
            // A named pipe with no writer: opening it for reading would wait forever.
            QTest::addRow("%s: fifo", c.name) << c.command << QByteArray("named pipe");
            // A character device: size 0, and reading never ends.
            QTest::addRow("%s: /dev/zero", c.name) << c.command << QByteArray("device");
            QTest::addRow("%s: directory", c.name) << c.command << QByteArray("directory");
        }
    }

    void specialFilesAreRefusedWithoutBlocking()
    {
        QFETCH(QStringList, command);
        QFETCH(QByteArray, expected);
        QString special;
        if (expected == "named pipe") {
            special = m_dir.filePath(QStringLiteral("pipe"));
            if (!QFileInfo::exists(special)
                && ::mkfifo(QFile::encodeName(special).constData(), 0600) != 0)
                QSKIP("cannot create a named pipe here");
        } else if (expected == "device") {
            special = QStringLiteral("/dev/zero");
            if (!QFileInfo::exists(special))
                QSKIP("no /dev/zero here");
        } else {
            special = m_dir.path();
        }
        if (!QFileInfo::exists(m_dir.filePath(QStringLiteral("text.txt")))) {
            QFile t(m_dir.filePath(QStringLiteral("text.txt")));
            QVERIFY(t.open(QIODevice::WriteOnly));
            t.write(QByteArray("Once upon a time there was a small model.\n").repeated(40));
        }
        for (QString &arg : command)
            arg.replace(QStringLiteral("%1"), special);
        const auto r = runCli(command, 20000);
        QVERIFY2(!r.crashed, r.err.constData()); // a hang is killed after 20 s and counts as crashed
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith("error: cannot open"), r.err.constData());
        QVERIFY2(r.err.contains(expected), r.err.constData());
        QVERIFY2(r.err.contains(QFile::encodeName(special)), r.err.constData());
        QCOMPARE(r.err.count('\n'), 1);
        QVERIFY(!QFileInfo::exists(m_dir.filePath(QStringLiteral("o.gguf"))));
    }

    // Names and values from a file never reach the terminal as control sequences: not in the
    // listing, not in an error message quoting them.
    // A mixture-of-experts header written byte by byte (keys only): the summary's architecture
    // line and the JSON name its experts as every model line does.
    void inspectMixtureOfExperts()
    {
        auto str = [](const QByteArray &s) -> QByteArray {
            const quint64 n = quint64(s.size());
            return QByteArray(reinterpret_cast<const char *>(&n), 8) + s;
        };
        auto u32 = [](quint32 v) { return QByteArray(reinterpret_cast<const char *>(&v), 4); };
        auto u64 = [](quint64 v) { return QByteArray(reinterpret_cast<const char *>(&v), 8); };
        auto header = [&](bool shared) -> QByteArray {
            QByteArray kv = str("general.architecture") + u32(8) + str("qwen3moe");
            kv += str("qwen3moe.block_count") + u32(4) + u32(48);
            kv += str("qwen3moe.expert_count") + u32(4) + u32(128);
            kv += str("qwen3moe.expert_used_count") + u32(4) + u32(8);
            if (shared)
                kv += str("qwen3moe.expert_shared_count") + u32(4) + u32(2);
            return "GGUF" + u32(3) + u64(0) + u64(shared ? 5 : 4) + kv;
        };
        const QString file = m_dir.filePath(QStringLiteral("moe.gguf"));
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(header(false));
        f.close();
        auto r = runCli({QStringLiteral("inspect"), file});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("architecture:      qwen3moe (MoE: 128 experts, 8 active)\n"),
                 r.out.constData());
        r = runCli({QStringLiteral("inspect"), file, QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o[QStringLiteral("experts")].toInt(), 128);
        QCOMPARE(o[QStringLiteral("expertsUsed")].toInt(), 8);
        QCOMPARE(o[QStringLiteral("expertsShared")].toInt(), 0);
        QCOMPARE(o[QStringLiteral("moe")].toString(), QStringLiteral("MoE: 128 experts, 8 active"));

        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(header(true));
        f.close();
        r = runCli({QStringLiteral("inspect"), file});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("qwen3moe (MoE: 128 experts, 8 active, 2 shared)\n"),
                 r.out.constData());

        // A dense model has no MoE part.
        r = runCli({QStringLiteral("inspect"), m_model, QStringLiteral("--json")});
        QVERIFY(QJsonDocument::fromJson(r.out).object()[QStringLiteral("moe")].isNull());
        r = runCli({QStringLiteral("inspect"), m_model});
        QVERIFY(!r.out.contains("MoE"));
    }

    void terminalEscapesAreNeutralised()
    {
        auto str = [](const QByteArray &s) -> QByteArray {
            QByteArray b;
            const quint64 n = quint64(s.size());
            b.append(reinterpret_cast<const char *>(&n), 8);
            return b + s;
        };
        auto u32 = [](quint32 v) { return QByteArray(reinterpret_cast<const char *>(&v), 4); };
        auto u64 = [](quint64 v) { return QByteArray(reinterpret_cast<const char *>(&v), 8); };
        const QByteArray evil("\x1b[2J\x1b[31mred\x07\r");
        QByteArray kv = str("general.architecture") + u32(8) + str("llama");
        kv += str("general.name") + u32(8) + str(evil);
        kv += str("x." + evil) + u32(4) + u32(1);
        const QByteArray listing = "GGUF" + u32(3) + u64(0) + u64(3) + kv;
        const QString file = m_dir.filePath(QStringLiteral("evil.gguf"));
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(listing);
        f.close();
        auto r = runCli({QStringLiteral("inspect"), file});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(!r.out.contains('\x1b') && !r.out.contains('\x07') && !r.out.contains('\r'));
        QVERIFY2(r.out.contains("\\x1b[31mred\\x07\\r"), r.out.constData());

        // The same key twice: the error quotes it, escaped.
        const QByteArray dup = "GGUF" + u32(3) + u64(0) + u64(2) + str("x." + evil) + u32(4) + u32(1)
                               + str("x." + evil) + u32(4) + u32(2);
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(dup);
        f.close();
        r = runCli({QStringLiteral("inspect"), file});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("\\x1b[2J"), r.err.constData());
        QVERIFY(!r.err.contains('\x1b') && !r.err.contains('\x07') && !r.err.contains('\r'));
        QCOMPARE(r.err.count('\n'), 1);
    }

    void badOptionsLeaveNoFile()
    {
        QTemporaryDir dir;
        const QString out = dir.filePath(QStringLiteral("m.gguf"));
        auto r = runCli({QStringLiteral("make-model"), out, QStringLiteral("--heads"), QStringLiteral("7")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("--heads"), r.err.constData());
        r = runCli({QStringLiteral("make-model"), out, QStringLiteral("--type"), QStringLiteral("Q4_0")});
        QCOMPARE(r.exitCode, 1);
        r = runCli({QStringLiteral("make-model"), out, QStringLiteral("--bogus")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(filesIn(dir.path()).isEmpty());
        r = runCli({QStringLiteral("frobnicate")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("unknown command"));
    }
};

QTEST_GUILESS_MAIN(TestCliGguf)
#include "testcligguf.moc"
