// Split models (llama.cpp's gguf-split layout: NAME-00001-of-0000N.gguf, the first file with all
// metadata, every file with split.no / split.count / split.tensors.count). The files are written
// here from a synthetic model with our own writer, following that layout, and the opened split
// model must be the same model: same tensors and bytes, the same quantized file to the byte, the
// same logits, the same advice; and every way a set of files can fail to belong together is one
// clear error.

#include "testsupport.h"

#include "advisor/advisor.h"
#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "infer/llamamodel.h"
#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"
#include "quant/quantizer.h"
#include "quant/quantplan.h"
#include "util/error.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <functional>

using namespace QuantFit;
using QuantFit::Test::fileContent;

namespace {

struct ShardEdit {
    std::function<void(int shard, GgufMetadata &)> metadata;
    int duplicateTensorInShard = -1; ///< repeat the first tensor of shard 0 in this shard
};

// Splits `source` into `n` files of consecutive tensors, named PREFIX-0000i-of-0000n.gguf.
QStringList writeSplit(const GgufFile &source, const QString &prefix, int n, const ShardEdit &edit = {})
{
    const auto &tensors = source.tensors();
    QStringList paths;
    const std::size_t per = (tensors.size() + std::size_t(n) - 1) / std::size_t(n);
    for (int i = 0; i < n; ++i) {
        GgufLayout layout;
        if (i == 0)
            layout.metadata = source.metadata();
        layout.metadata.set("split.no", GgufValue::fromUInt(GgufValueType::UINT16, std::uint64_t(i)));
        layout.metadata.set("split.count", GgufValue::fromUInt(GgufValueType::UINT16, std::uint64_t(n)));
        layout.metadata.set("split.tensors.count", GgufValue::i32(std::int32_t(tensors.size())));
        if (edit.metadata)
            edit.metadata(i, layout.metadata);
        std::vector<QByteArray> data;
        auto add = [&](const GgufTensorInfo &t) {
            GgufTensorInfo copy = t;
            copy.shard = 0;
            layout.tensors.push_back(copy);
            const auto bytes = source.tensorData(t);
            data.emplace_back(reinterpret_cast<const char *>(bytes.data()), qsizetype(bytes.size()));
        };
        for (std::size_t k = std::size_t(i) * per; k < std::min(tensors.size(), std::size_t(i + 1) * per); ++k)
            add(tensors[k]);
        if (edit.duplicateTensorInShard == i)
            add(tensors.front());
        const QString path = QStringLiteral("%1-%2-of-%3.gguf")
                                 .arg(prefix)
                                 .arg(i + 1, 5, 10, QLatin1Char('0'))
                                 .arg(n, 5, 10, QLatin1Char('0'));
        writeGgufFile(path, std::move(layout), data);
        paths << path;
    }
    return paths;
}

} // namespace

class TestGgufSplit : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_whole;

    QString path(const QString &name) const { return m_dir.filePath(name); }

    void expectError(const QString &open, const QString &part)
    {
        try {
            (void)GgufFile::open(open);
            QFAIL("opened");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(part), qPrintable(e.message()));
        }
    }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_whole = path(QStringLiteral("whole.gguf"));
        SyntheticModelOptions o;
        o.nLayers = 3;
        o.nEmbd = 256;
        o.nFf = 512;
        o.nHeads = 4;
        o.nHeadsKv = 2;
        o.nVocab = 300;
        o.nCtx = 256;
        JobContext ctx;
        writeSyntheticModel(m_whole, o, ctx);
    }

    void opensAllFilesAsOneModel()
    {
        const GgufFile whole = GgufFile::open(m_whole);
        const QStringList files = writeSplit(whole, path(QStringLiteral("m")), 3);
        const GgufFile split = GgufFile::open(files.front());
        QCOMPARE(split.filePaths(), files);
        QCOMPARE(split.shardCount(), 3u);
        std::uint64_t total = 0;
        for (const QString &f : files)
            total += std::uint64_t(QFileInfo(f).size());
        QCOMPARE(split.totalFileSize(), total);
        QCOMPARE(split.tensors().size(), whole.tensors().size());
        QCOMPARE(split.tensors().back().shard, 2u);
        for (std::size_t i = 0; i < whole.tensors().size(); ++i) {
            const GgufTensorInfo &a = whole.tensors()[i];
            const GgufTensorInfo &b = split.tensors()[i];
            QCOMPARE(b.name, a.name);
            QCOMPARE(b.type, a.type);
            QVERIFY(b.ne == a.ne);
            const auto da = whole.tensorData(a);
            const auto db = split.tensorData(b);
            QVERIFY(std::equal(da.begin(), da.end(), db.begin(), db.end()));
            // fileOffset points at the same bytes inside its own file.
            const QByteArray raw = fileContent(split.filePaths()[int(b.shard)]);
            QCOMPARE(raw.mid(qsizetype(split.fileOffset(b)), qsizetype(b.nBytes)),
                     QByteArray(reinterpret_cast<const char *>(db.data()), qsizetype(db.size())));
        }
        // Metadata is the first file's: the model's keys plus the split keys.
        QCOMPARE(split.metadata().stringOr("general.architecture"), QStringLiteral("llama"));
        QCOMPARE(split.metadata().uintOr("split.count", 0), 3u);
    }

    void quantizesToTheSameFile()
    {
        const GgufFile whole = GgufFile::open(m_whole);
        const QStringList files = writeSplit(whole, path(QStringLiteral("q")), 4);
        const GgufFile split = GgufFile::open(files.front());
        for (const FileType type : {FileType::Q4_K_M, FileType::Q8_0}) {
            const QString a = path(QStringLiteral("a.gguf")), b = path(QStringLiteral("b.gguf"));
            JobContext ctx;
            quantize(whole, {QuantizeTarget{makeQuantPlan(whole.metadata(), whole.tensors(), type), a}}, {}, ctx);
            quantize(split, {QuantizeTarget{makeQuantPlan(split.metadata(), split.tensors(), type), b}}, {}, ctx);
            // The split keys are dropped, so the two outputs are the same bytes.
            QVERIFY(fileContent(a) == fileContent(b));
            QFile::remove(a);
            QFile::remove(b);
        }
        // An output may not overwrite any file of the input.
        JobContext ctx;
        QVERIFY_THROWS_EXCEPTION(Error, quantize(split, {QuantizeTarget{makeQuantPlan(split.metadata(), split.tensors(), FileType::Q8_0), files[2]}}, {}, ctx));
    }

    void sameLogitsAndAdvice()
    {
        const auto whole = std::make_shared<const GgufFile>(GgufFile::open(m_whole));
        const QStringList files = writeSplit(*whole, path(QStringLiteral("l")), 2);
        const auto split = std::make_shared<const GgufFile>(GgufFile::open(files.front()));
        const std::vector<std::int32_t> tokens{1, 50, 77, 120, 3};
        SessionOptions so;
        so.nCtx = 16;
        so.nThreads = 1;
        InferenceSession a(std::make_shared<const LlamaModel>(whole), so);
        InferenceSession b(std::make_shared<const LlamaModel>(split), so);
        QVERIFY(a.evaluate(tokens, true) == b.evaluate(tokens, true));

        const Advisor advisor;
        AdviceOptions options;
        options.ramBytes = 8'000'000'000ull;
        options.contextTokens = 256;
        const ModelAdvice wa = advisor.adviseGguf(*whole, options);
        const ModelAdvice sa = advisor.adviseGguf(*split, options);
        QCOMPARE(sa.nParams, wa.nParams);
        QCOMPARE(sa.rows.size(), wa.rows.size());
        for (std::size_t i = 0; i < wa.rows.size(); ++i)
            QCOMPARE(sa.rows[i].fileBytes, wa.rows[i].fileBytes);
    }

    // inspect shows the whole model from its first file, and a later file (or a first file whose
    // partners are missing) on its own, with a note, instead of refusing.
    void inspectWholeOrOneFile()
    {
        const GgufFile whole = GgufFile::open(m_whole);
        const QStringList files = writeSplit(whole, path(QStringLiteral("i")), 3);
        auto r = Test::runCli({QStringLiteral("inspect"), files[0], QStringLiteral("--json")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o.value(QStringLiteral("files")).toArray().size(), 3);
        QCOMPARE(o.value(QStringLiteral("tensorCount")).toInt(), int(whole.tensors().size()));
        QVERIFY(r.err.isEmpty());

        r = Test::runCli({QStringLiteral("inspect"), files[1], QStringLiteral("--json")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.err.startsWith("note: showing this file only: ") && r.err.contains("open the first file"),
                 r.err.constData());
        o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o.value(QStringLiteral("files")).toArray().size(), 1);
        QCOMPARE(o.value(QStringLiteral("tensorCount")).toInt(),
                 int(GgufFile::open(files[1], GgufFile::Mode::MetadataOnly, GgufFile::Split::ThisFile).tensors().size()));

        QFile::remove(files[2]);
        r = Test::runCli({QStringLiteral("inspect"), files[0]});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.err.contains(QByteArray(QByteArray("cannot open '") + files[2].toUtf8())), r.err.constData());
        // Commands that need the whole model still refuse.
        r = Test::runCli({QStringLiteral("quantize"), files[0], path(QStringLiteral("x.gguf")), QStringLiteral("Q8_0")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(!QFileInfo::exists(path(QStringLiteral("x.gguf"))));
    }

    void filesThatDoNotBelongTogether()
    {
        const GgufFile whole = GgufFile::open(m_whole);
        // A later file names the first.
        QStringList files = writeSplit(whole, path(QStringLiteral("e1")), 3);
        expectError(files[1], QStringLiteral("is file 2 of 3 of a split model: open the first file, ")
                                  + path(QStringLiteral("e1-00001-of-00003.gguf")));
        // A missing file is named.
        QFile::remove(files[2]);
        expectError(files[0], QStringLiteral("cannot open '") + files[2]);
        // A file from another split.
        files = writeSplit(whole, path(QStringLiteral("e2")), 3, {[](int shard, GgufMetadata &md) {
            if (shard == 2)
                md.set("split.no", GgufValue::fromUInt(GgufValueType::UINT16, 1));
        }});
        expectError(files[0], QStringLiteral("does not make it file 3 of 3"));
        // A tensor in two files.
        files = writeSplit(whole, path(QStringLiteral("e3")), 3, {{}, 1});
        expectError(files[0], QStringLiteral("is also in an earlier file"));
        // The tensor count disagrees.
        files = writeSplit(whole, path(QStringLiteral("e4")), 2, {[](int shard, GgufMetadata &md) {
            if (shard == 0)
                md.set("split.tensors.count", GgufValue::i32(5));
        }});
        expectError(files[0], QStringLiteral("split.tensors.count says 5 tensors"));
        // The first file renamed: the others cannot be found.
        files = writeSplit(whole, path(QStringLiteral("e5")), 2);
        const QString renamed = path(QStringLiteral("renamed.gguf"));
        QVERIFY(QFile::rename(files[0], renamed));
        expectError(renamed, QStringLiteral("does not follow llama.cpp's NAME-00001-of-00002.gguf"));
        // split.count of the wrong type.
        files = writeSplit(whole, path(QStringLiteral("e6")), 2, {[](int shard, GgufMetadata &md) {
            if (shard == 0)
                md.set("split.count", GgufValue::fromString(QByteArray("two")));
        }});
        expectError(files[0], QStringLiteral("'split.count' must be a non-negative integer"));
        // A single-file "split" (split.count 1) is an ordinary file.
        files = writeSplit(whole, path(QStringLiteral("one")), 1);
        QCOMPARE(GgufFile::open(files[0]).tensors().size(), whole.tensors().size());
    }
};

QTEST_GUILESS_MAIN(TestGgufSplit)
#include "testggufsplit.moc"
