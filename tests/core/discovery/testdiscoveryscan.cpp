// core/discovery: the scan over fake stores built here (fakestores.h): one model in each
// runner's store listed once under its runner's name, split models once, projectors attached,
// full-precision siblings found, and every broken case (bad manifest, missing blob, dangling
// link, hostile and truncated files, a named pipe, a link loop, unreadable folders) listed with
// its error without stopping the scan. Expected facts are the tiny model's shape counted by hand.

#include "fakestores.h"
#include "testsupport.h"

#include "discovery/modeldiscovery.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "util/error.h"

#include <QDateTime>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <sys/stat.h>
#include <unistd.h>

using namespace QuantFit;
using namespace QuantFit::Test;

namespace {

// The tiny model (fakestores.cpp): vocabulary 300, width 64, FFN 128, 2 heads, 1 KV head of
// 32, one layer, untied output. token_embd and output 300*64 each, output_norm 64; the layer:
// two norms 2*64, q and o 64*64 each, k and v 64*32 each, gate, up and down 64*128 each.
constexpr std::uint64_t kTinyParams =
    2 * 300 * 64 + 64 + (2 * 64 + 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128);
static_assert(kTinyParams == 75456);

const DiscoveredModel *byName(const DiscoveryResult &r, const QString &name)
{
    for (const DiscoveredModel &m : r.models) {
        if (m.name == name)
            return &m;
    }
    return nullptr;
}

QString listing(const DiscoveryResult &r)
{
    QStringList lines;
    for (const DiscoveredModel &m : r.models)
        lines << QStringLiteral("%1 [%2] %3").arg(m.name, modelSourceName(m.source), m.error);
    lines << r.problems;
    return lines.join(QLatin1Char('\n'));
}

// Everything below `root` with size and modification time, to prove a scan wrote nothing.
QStringList snapshot(const QString &root)
{
    QStringList out;
    QDirIterator it(root, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        const QFileInfo i = it.fileInfo();
        out << QStringLiteral("%1 %2 %3").arg(i.filePath()).arg(i.size()).arg(
                   i.lastModified().toMSecsSinceEpoch());
    }
    out.sort();
    return out;
}

class CancelOnFirstReport : public JobContext
{
public:
    CancelOnFirstReport() : JobContext({}, 0) {}

protected:
    void report(const Progress &p) override
    {
        if (p.done > 0)
            requestCancel();
    }
};

} // namespace

class TestDiscoveryScan : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void eachStoreListsItsModelOnce();
    void splitModelIsOneEntryWithItsProjector();
    void brokenFilesAreListedWithTheirError();
    void brokenOllamaStoreEntries();
    void skippedVocabularyArraysAreStillChecked();
    void linkLoopsAreReportedNotFollowed();
    void unreadableFoldersAndFiles();
    void projectorWithoutAModelIsAProblem();
    void hfCachePrefersTheMainRevision();
    void userFoldersAndMissingOnes();
    void depthIsBounded();
    void cancelStopsTheScan();
    void scanWritesNothing();

private:
    DiscoveryOptions options(const FakeHome &h) const
    {
        DiscoveryEnvironment env;
        env.home = h.home;
        DiscoveryOptions o;
        o.stores = defaultStoreLocations(env);
        return o;
    }
    DiscoveryOptions folderOnly(const QString &folder) const
    {
        DiscoveryOptions o;
        o.folders << folder;
        return o;
    }
    QString path(const QString &rel) const { return m_dir->filePath(rel); }

    std::unique_ptr<QTemporaryDir> m_dir;
};

void TestDiscoveryScan::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void TestDiscoveryScan::eachStoreListsItsModelOnce()
{
    const FakeHome h = buildFakeHome(path(QStringLiteral("home")));
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(options(h), ctx);
    QVERIFY2(r.problems.isEmpty(), qPrintable(listing(r)));
    QCOMPARE(r.models.size(), std::size_t(5));
    QCOMPARE(r.scanned.size(), std::size_t(4));

    // In source order, each under its runner's name.
    QCOMPARE(r.models[0].name, QStringLiteral("lmstudio-community/Tiny-GGUF/Tiny-F16.gguf"));
    QCOMPARE(r.models[1].name, QStringLiteral("lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf"));
    QCOMPARE(r.models[2].name, QStringLiteral("tiny:latest"));
    QCOMPARE(r.models[3].name, QStringLiteral("acme/Tiny-GGUF/tiny-f16.gguf"));
    QCOMPARE(r.models[4].name, QStringLiteral("acme_Tiny_tiny.gguf"));
    const ModelSource sources[] = {ModelSource::LmStudio, ModelSource::LmStudio, ModelSource::Ollama,
                                   ModelSource::HfCache, ModelSource::LlamaCppCache};
    for (std::size_t i = 0; i < 5; ++i) {
        const DiscoveredModel &m = r.models[i];
        QVERIFY2(m.isReadable(), qPrintable(m.error));
        QCOMPARE(m.source, sources[i]);
        QCOMPARE(m.architecture, QStringLiteral("llama"));
        QCOMPARE(m.nParams, kTinyParams);
        QCOMPARE(m.contextLength, 256u);
        QCOMPARE(m.files, QStringList{m.path});
        QCOMPARE(m.sizeBytes, std::uint64_t(QFileInfo(m.path).size()));
    }
    QCOMPARE(r.models[0].fileType, QStringLiteral("F16"));
    QCOMPARE(r.models[1].fileType, QStringLiteral("Q8_0"));
    QVERIFY(!r.models[1].fileTypeGuessed);

    // The projector belongs to both models of its folder and is no model itself.
    QCOMPARE(r.models[0].projectors, QStringList{h.lmStudioProjector});
    QCOMPARE(r.models[1].projectors, QStringList{h.lmStudioProjector});
    // The quantized one offers its full-precision sibling; the F16 none.
    QCOMPARE(r.models[1].fullPrecisionSibling, h.lmStudioModel);
    QVERIFY(r.models[0].fullPrecisionSibling.isEmpty());

    // Ollama: by name and tag, never by blob hash; the second tag of the same blob is an alias.
    const DiscoveredModel &o = r.models[2];
    QCOMPARE(o.path, h.ollamaBlob);
    QCOMPARE(o.aliases, QStringList{QStringLiteral("tiny:v1")});
    QVERIFY(o.ollamaManifest.endsWith(
        QStringLiteral("/manifests/registry.ollama.ai/library/tiny/latest")));
    QCOMPARE(o.title, QStringLiteral("Tiny Ollama"));
    // HF cache: the snapshot's name, the link's path (it resolves to the blob).
    QCOMPARE(r.models[3].path, h.hfModel);
    QVERIFY(QFileInfo(h.hfModel).isSymLink());
}

void TestDiscoveryScan::splitModelIsOneEntryWithItsProjector()
{
    const QString folder = path(QStringLiteral("split"));
    const QString first = writeSplitModel(folder, QStringLiteral("tiny-split"));
    writeProjector(folder + QStringLiteral("/mmproj-tiny.gguf"));
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(folderOnly(folder), ctx);
    QCOMPARE(r.models.size(), std::size_t(1));
    const DiscoveredModel &m = r.models[0];
    QVERIFY2(m.isReadable(), qPrintable(m.error));
    QCOMPARE(m.source, ModelSource::Folder);
    QCOMPARE(m.name, QStringLiteral("tiny-split-00001-of-00002.gguf"));
    QCOMPARE(m.path, first);
    const QString second = folder + QStringLiteral("/tiny-split-00002-of-00002.gguf");
    QCOMPARE(m.files, (QStringList{first, second}));
    QCOMPARE(m.sizeBytes, std::uint64_t(QFileInfo(first).size() + QFileInfo(second).size()));
    QCOMPARE(m.nParams, kTinyParams);
    QCOMPARE(m.projectors, QStringList{folder + QStringLiteral("/mmproj-tiny.gguf")});

    // Without its first file, the second is listed with the reader's advice.
    QFile::remove(first);
    const DiscoveryResult r2 = discoverModels(folderOnly(folder), ctx);
    QCOMPARE(r2.models.size(), std::size_t(1));
    QVERIFY2(r2.models[0].error.contains(QStringLiteral("open the first file")),
             qPrintable(r2.models[0].error));
}

void TestDiscoveryScan::brokenFilesAreListedWithTheirError()
{
    const QString folder = path(QStringLiteral("broken"));
    writeTinyModel(folder + QStringLiteral("/good.gguf"), QStringLiteral("good"));
    writeFile(folder + QStringLiteral("/notgguf.gguf"), "PK\x03\x04 this is a zip file, not a model");
    writeFile(folder + QStringLiteral("/empty.gguf"), {});
    QFile good(folder + QStringLiteral("/good.gguf"));
    QVERIFY(good.open(QIODevice::ReadOnly));
    writeFile(folder + QStringLiteral("/truncated.gguf"), good.read(200));
    QVERIFY(QFile::link(folder + QStringLiteral("/gone.gguf"),
                        folder + QStringLiteral("/dangling.gguf")));
    // A named pipe would block an open() forever: it must be refused, not read.
    QCOMPARE(::mkfifo(QFile::encodeName(folder + QStringLiteral("/pipe.gguf")).constData(), 0600), 0);
    writeFile(folder + QStringLiteral("/readme.txt"), "not a model");

    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(folderOnly(folder), ctx);
    QCOMPARE(r.models.size(), std::size_t(6));
    const struct {
        const char *name;
        const char *error; // part of the message, besides the file's name
    } expected[] = {{"dangling.gguf", "dangling symbolic link"},
                    {"empty.gguf", "magic"},
                    {"notgguf.gguf", "not a GGUF file"},
                    {"pipe.gguf", "not a regular file"},
                    {"truncated.gguf", ""}};
    for (const auto &e : expected) {
        const DiscoveredModel *m = byName(r, QLatin1String(e.name));
        QVERIFY2(m, e.name);
        QVERIFY2(!m->isReadable(), e.name);
        QVERIFY2(m->error.contains(QLatin1String(e.name)), qPrintable(m->error));
        QVERIFY2(m->error.contains(QLatin1String(e.error)), qPrintable(m->error));
    }
    QVERIFY(byName(r, QStringLiteral("good.gguf"))->isReadable());
}

void TestDiscoveryScan::brokenOllamaStoreEntries()
{
    const QString models = path(QStringLiteral("home/.ollama/models"));
    const QString staging = path(QStringLiteral("m.gguf"));
    writeTinyModel(staging, QStringLiteral("m"));
    addOllamaModel(models, staging, {QStringLiteral("ok")});
    const QString lost = addOllamaModel(models, staging, {QStringLiteral("lost")});
    writeFile(models + QStringLiteral("/manifests/registry.ollama.ai/library/broken/latest"),
              "{\"layers\": 7");
    DiscoveryOptions o;
    o.stores = {{ModelSource::Ollama, models, QStringLiteral("test")}};
    NullJobContext ctx;
    DiscoveryResult r = discoverModels(o, ctx);
    QCOMPARE(r.models.size(), std::size_t(2)); // ok and lost share one blob
    QVERIFY(byName(r, QStringLiteral("lost:latest")) || byName(r, QStringLiteral("ok:latest")));
    const DiscoveredModel *broken = byName(r, QStringLiteral("broken:latest"));
    QVERIFY(broken);
    QVERIFY2(broken->error.contains(QStringLiteral("not valid JSON")), qPrintable(broken->error));

    // The blob gone: the model is listed by name with the missing layer named.
    QVERIFY(QFile::remove(lost));
    r = discoverModels(o, ctx);
    const DiscoveredModel *missing = byName(r, QStringLiteral("lost:latest"));
    QVERIFY(missing);
    QVERIFY2(missing->error.contains(QStringLiteral("is missing")), qPrintable(missing->error));
    QVERIFY(missing->error.contains(QFileInfo(lost).fileName()));
}

void TestDiscoveryScan::skippedVocabularyArraysAreStillChecked()
{
    // The scan reads headers in the reader's Summary mode, which skips long arrays instead of
    // keeping them: every item must still be checked against the bytes left.
    GgufLayout layout;
    layout.metadata.set("general.architecture", GgufValue::fromString(QStringLiteral("llama")));
    QList<QByteArray> tokens;
    for (int i = 0; i < 100; ++i)
        tokens << QByteArray("TOKEN_MARK_") + QByteArray::number(i);
    layout.metadata.set("tokenizer.ggml.tokens", GgufValue::stringArray(tokens));
    GgufTensorInfo t;
    t.name = "token_embd.weight";
    t.nDims = 2;
    t.ne = {32, 100, 1, 1};
    layout.tensors.push_back(t);
    layout.finalize();
    const QString folder = path(QStringLiteral("vocab"));
    QVERIFY(QDir().mkpath(folder));
    writeGgufFile(folder + QStringLiteral("/ok.gguf"), layout, {QByteArray(32 * 100 * 4, '\0')});
    const QByteArray bytes = fileContent(folder + QStringLiteral("/ok.gguf"));
    const qsizetype mark = bytes.indexOf("TOKEN_MARK_50");
    QVERIFY(mark > 8);
    writeFile(folder + QStringLiteral("/cut.gguf"), bytes.left(mark + 4));
    QByteArray huge = bytes;
    huge.replace(mark - 8, 8, QByteArray("\xff\xff\xff\x00\x00\x00\x00\x00", 8));
    writeFile(folder + QStringLiteral("/huge.gguf"), huge);
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(folderOnly(folder), ctx);
    QCOMPARE(r.models.size(), std::size_t(3));
    QVERIFY2(byName(r, QStringLiteral("ok.gguf"))->isReadable(), qPrintable(listing(r)));
    QCOMPARE(byName(r, QStringLiteral("ok.gguf"))->nParams, std::uint64_t(3200));
    for (const char *bad : {"cut.gguf", "huge.gguf"}) {
        const DiscoveredModel *m = byName(r, QLatin1String(bad));
        QVERIFY2(!m->isReadable(), bad);
        QVERIFY2(m->error.contains(QStringLiteral("tokenizer.ggml.tokens")), qPrintable(m->error));
    }
}

void TestDiscoveryScan::linkLoopsAreReportedNotFollowed()
{
    const QString folder = path(QStringLiteral("loop"));
    writeTinyModel(folder + QStringLiteral("/a/model.gguf"), QStringLiteral("m"));
    QVERIFY(QFile::link(folder, folder + QStringLiteral("/a/back")));
    QVERIFY(QFile::link(folder + QStringLiteral("/a"), folder + QStringLiteral("/also-a")));
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(folderOnly(folder), ctx);
    QCOMPARE(r.models.size(), std::size_t(1));
    QCOMPARE(r.models[0].name, QStringLiteral("a/model.gguf"));
    QCOMPARE(r.problems.size(), 1);
    QVERIFY2(r.problems[0].contains(QStringLiteral("symbolic link loop")), qPrintable(r.problems[0]));
}

void TestDiscoveryScan::unreadableFoldersAndFiles()
{
    if (::geteuid() == 0)
        QSKIP("running as root: permissions do not stop root from reading");
    const QString folder = path(QStringLiteral("perm"));
    writeTinyModel(folder + QStringLiteral("/locked/model.gguf"), QStringLiteral("m"));
    writeTinyModel(folder + QStringLiteral("/secret.gguf"), QStringLiteral("m"));
    QVERIFY(QFile::setPermissions(folder + QStringLiteral("/secret.gguf"), QFileDevice::Permissions()));
    QVERIFY(QFile::setPermissions(folder + QStringLiteral("/locked"), QFileDevice::Permissions()));
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(folderOnly(folder), ctx);
    QFile::setPermissions(folder + QStringLiteral("/locked"),
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    QCOMPARE(r.models.size(), std::size_t(1));
    QVERIFY2(!r.models[0].isReadable(), qPrintable(listing(r)));
    QVERIFY2(r.models[0].error.contains(QStringLiteral("secret.gguf")), qPrintable(r.models[0].error));
    QCOMPARE(r.problems.size(), 1);
    QVERIFY2(r.problems[0].contains(QStringLiteral("permission denied")), qPrintable(r.problems[0]));
}

void TestDiscoveryScan::projectorWithoutAModelIsAProblem()
{
    const QString folder = path(QStringLiteral("orphan"));
    writeProjector(folder + QStringLiteral("/vision/encoder.gguf")); // "clip" by its header
    writeTinyModel(folder + QStringLiteral("/text/model.gguf"), QStringLiteral("m"));
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(folderOnly(folder), ctx);
    QCOMPARE(r.models.size(), std::size_t(1));
    QVERIFY(r.models[0].projectors.isEmpty());
    QCOMPARE(r.problems.size(), 1);
    QVERIFY2(r.problems[0].contains(QStringLiteral("encoder.gguf")), qPrintable(r.problems[0]));
    QVERIFY2(r.problems[0].contains(QStringLiteral("vision projector")), qPrintable(r.problems[0]));
}

void TestDiscoveryScan::hfCachePrefersTheMainRevision()
{
    const QString hub = path(QStringLiteral("hub"));
    const QString repo = hub + QStringLiteral("/models--org--Model-GGUF");
    writeTinyModel(repo + QStringLiteral("/blobs/new"), QStringLiteral("new"));
    writeTinyModel(repo + QStringLiteral("/blobs/old"), QStringLiteral("old"));
    writeTinyModel(repo + QStringLiteral("/blobs/extra"), QStringLiteral("extra"));
    writeFile(repo + QStringLiteral("/refs/main"), "bbbb\n");
    QDir().mkpath(repo + QStringLiteral("/snapshots/aaaa/sub"));
    QDir().mkpath(repo + QStringLiteral("/snapshots/bbbb"));
    QVERIFY(QFile::link(QStringLiteral("../../blobs/old"),
                        repo + QStringLiteral("/snapshots/aaaa/m.gguf")));
    QVERIFY(QFile::link(QStringLiteral("../../../blobs/extra"),
                        repo + QStringLiteral("/snapshots/aaaa/sub/x.gguf")));
    QVERIFY(QFile::link(QStringLiteral("../../blobs/new"),
                        repo + QStringLiteral("/snapshots/bbbb/m.gguf")));
    QVERIFY(QFile::link(QStringLiteral("../../blobs/unfinished"),
                        repo + QStringLiteral("/snapshots/bbbb/y.gguf")));
    DiscoveryOptions o;
    o.stores = {{ModelSource::HfCache, hub, QStringLiteral("test")}};
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(o, ctx);
    QCOMPARE(r.models.size(), std::size_t(3));
    const DiscoveredModel *m = byName(r, QStringLiteral("org/Model-GGUF/m.gguf"));
    QVERIFY(m);
    QCOMPARE(m->title, QStringLiteral("new")); // refs/main's revision
    QVERIFY(byName(r, QStringLiteral("org/Model-GGUF/sub/x.gguf"))->isReadable());
    const DiscoveredModel *y = byName(r, QStringLiteral("org/Model-GGUF/y.gguf"));
    QVERIFY(y);
    QVERIFY2(y->error.contains(QStringLiteral("dangling symbolic link")), qPrintable(y->error));
}

void TestDiscoveryScan::userFoldersAndMissingOnes()
{
    const QString folder = path(QStringLiteral("mine"));
    writeTinyModel(folder + QStringLiteral("/deep/er/model.gguf"), QStringLiteral("m"));
    DiscoveryOptions o = folderOnly(folder);
    o.folders << path(QStringLiteral("nowhere"));
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(o, ctx);
    QCOMPARE(r.models.size(), std::size_t(1));
    QCOMPARE(r.models[0].name, QStringLiteral("deep/er/model.gguf"));
    QCOMPARE(r.problems.size(), 1);
    QVERIFY2(r.problems[0].contains(QStringLiteral("no such folder")), qPrintable(r.problems[0]));
    QCOMPARE(r.scanned.size(), std::size_t(1));
}

void TestDiscoveryScan::depthIsBounded()
{
    const QString folder = path(QStringLiteral("depth"));
    writeTinyModel(folder + QStringLiteral("/1/2/model.gguf"), QStringLiteral("m"));
    writeTinyModel(folder + QStringLiteral("/1/2/3/4/far.gguf"), QStringLiteral("m"));
    DiscoveryOptions o = folderOnly(folder);
    o.maxDepth = 3;
    NullJobContext ctx;
    const DiscoveryResult r = discoverModels(o, ctx);
    QCOMPARE(r.models.size(), std::size_t(1));
    QCOMPARE(r.models[0].name, QStringLiteral("1/2/model.gguf"));
}

void TestDiscoveryScan::cancelStopsTheScan()
{
    const QString folder = path(QStringLiteral("cancel"));
    for (int i = 0; i < 8; ++i)
        writeTinyModel(folder + QStringLiteral("/m%1.gguf").arg(i), QStringLiteral("m"));
    CancelOnFirstReport ctx;
    DiscoveryOptions o = folderOnly(folder);
    o.nThreads = 1;
    QVERIFY_THROWS_EXCEPTION(Cancelled, discoverModels(o, ctx));
}

void TestDiscoveryScan::scanWritesNothing()
{
    const FakeHome h = buildFakeHome(path(QStringLiteral("home")));
    writeFile(h.ollamaModels
                  + QStringLiteral("/manifests/registry.ollama.ai/library/broken/latest"),
              "{");
    const QStringList before = snapshot(h.home);
    QThread::msleep(20); // a write now would change a modification time
    NullJobContext ctx;
    discoverModels(options(h), ctx);
    QCOMPARE(snapshot(h.home), before);
}

QTEST_APPLESS_MAIN(TestDiscoveryScan)
#include "testdiscoveryscan.moc"
