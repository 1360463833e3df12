// core/tasks: handing a GGUF to LM Studio (hard link or copy with progress and cancel, LM
// Studio's folder naming) and to Ollama (the Modelfile, then `ollama create` through a stand-in
// ollama script on PATH that records its arguments and the Modelfile it was given).

#include "fakestores.h"

#include "discovery/ollamastore.h"
#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "tasks/conversiontask.h"
#include "tasks/handofftask.h"
#include "util/error.h"

#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <sys/stat.h>

#include <atomic>
#include <thread>

using namespace QuantFit;
using namespace QuantFit::Test;

namespace {

struct stat statOf(const QString &path)
{
    struct stat s {};
    ::stat(QFile::encodeName(path).constData(), &s);
    return s;
}

QByteArray content(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// Records every report; cancels once `cancelAfter` units are done (0: never).
class RecordingContext : public JobContext
{
public:
    explicit RecordingContext(std::uint64_t cancelAfter = 0)
        : JobContext({}, 0)
        , m_cancelAfter(cancelAfter)
    {
    }
    std::vector<Progress> reports;

protected:
    void report(const Progress &p) override
    {
        reports.push_back(p);
        if (m_cancelAfter && p.done >= m_cancelAfter)
            requestCancel();
    }

private:
    std::uint64_t m_cancelAfter;
};

} // namespace

class TestTasksHandoff : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void lmStudioHardLinksOnTheSameFileSystem();
    void lmStudioRefusesAnotherFileAtTheTarget();
    void lmStudioDefaultNamesFollowTheSource();
    void lmStudioPlacesASplitModelWhole();
    void lmStudioCopiesAcrossFileSystems();
    void lmStudioCopyCancelLeavesNothing();
    void ollamaCreateGetsTheModelfile();
    void ollamaTakesOverTheSourceModelsSettings();
    void ollamaFailureIsReportedNotThrown();
    void withoutOllamaTheCommandIsGiven();
    void modelfileNeverLandsInAStore();
    void badNameIsRefusedBeforeAnythingIsWritten();
    void cancelStopsOllama();
    void conversionsOfStoreModelsStayOutOfTheStore();

private:
    QString path(const QString &rel) const { return m_dir.filePath(rel); }
    /// Puts a stand-in `ollama` that runs `body` (sh) first on PATH.
    void installOllama(const QByteArray &body);
    /// A folder on another file system than the temporary folder, or empty.
    QString otherFileSystem() const;

    QTemporaryDir m_dir;
    QString m_model;
    FakeHome m_home;
    QByteArray m_path;
};

void TestTasksHandoff::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_path = qgetenv("PATH");
    qputenv("HOME", path(QStringLiteral("home")).toUtf8());
    qputenv("XDG_DATA_HOME", path(QStringLiteral("data")).toUtf8());
    qputenv("USER", "ada");
    for (const char *v : {"OLLAMA_MODELS", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME",
                          "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "LLAMA_CACHE"})
        qunsetenv(v);
    m_home = buildFakeHome(path(QStringLiteral("home")));
    m_model = path(QStringLiteral("out/tiny-Q8_0.gguf"));
    writeTinyQuantized(m_model, QStringLiteral("converted"));
}

void TestTasksHandoff::installOllama(const QByteArray &body)
{
    const QString bin = path(QStringLiteral("bin"));
    QDir(bin).removeRecursively();
    writeFile(bin + QStringLiteral("/ollama"), "#!/bin/sh\n" + body);
    QVERIFY(QFile::setPermissions(bin + QStringLiteral("/ollama"), QFileDevice::ReadOwner
                                                                       | QFileDevice::WriteOwner
                                                                       | QFileDevice::ExeOwner));
    qputenv("PATH", bin.toUtf8() + ':' + m_path);
    qputenv("QUANTFIT_TEST_RECORD", path(QStringLiteral("record")).toUtf8());
    QDir(path(QStringLiteral("record"))).removeRecursively();
    QVERIFY(QDir().mkpath(path(QStringLiteral("record"))));
}

QString TestTasksHandoff::otherFileSystem() const
{
    const QString shm = QStringLiteral("/dev/shm");
    if (!QFileInfo(shm).isDir() || !QFileInfo(shm).isWritable())
        return {};
    if (statOf(shm).st_dev == statOf(m_dir.path()).st_dev)
        return {};
    return shm;
}

void TestTasksHandoff::lmStudioHardLinksOnTheSameFileSystem()
{
    LmStudioHandoffRequest r;
    r.ggufPath = m_model;
    r.modelsFolder = path(QStringLiteral("lms/models"));
    r.placement = LmStudioPlacement{QStringLiteral("ada"), QStringLiteral("tiny-GGUF")};
    NullJobContext ctx;
    const LmStudioHandoffResult res = runLmStudioHandoff(r, ctx);
    const QString target = path(QStringLiteral("lms/models/ada/tiny-GGUF/tiny-Q8_0.gguf"));
    QCOMPARE(res.targetPath, target);
    QCOMPARE(res.method, PlacementMethod::HardLink);
    // The same inode: no second copy of the bytes.
    QCOMPARE(statOf(target).st_ino, statOf(m_model).st_ino);
    QCOMPARE(statOf(m_model).st_nlink, nlink_t(2));
    // Again: already there, nothing changes.
    QCOMPARE(runLmStudioHandoff(r, ctx).method, PlacementMethod::AlreadyThere);
    QVERIFY(QFile::remove(target));
}

void TestTasksHandoff::lmStudioRefusesAnotherFileAtTheTarget()
{
    const QString target = path(QStringLiteral("lms2/models/ada/tiny/tiny-Q8_0.gguf"));
    writeFile(target, "someone else's model");
    LmStudioHandoffRequest r;
    r.ggufPath = m_model;
    r.modelsFolder = path(QStringLiteral("lms2/models"));
    r.placement = LmStudioPlacement{QStringLiteral("ada"), QStringLiteral("tiny")};
    NullJobContext ctx;
    try {
        runLmStudioHandoff(r, ctx);
        QFAIL("no error");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QStringLiteral("already exists")), qPrintable(e.message()));
    }
    QCOMPARE(content(target), QByteArray("someone else's model"));
    r.placement = LmStudioPlacement{QStringLiteral("ada"), QStringLiteral("a:b")};
    QVERIFY_THROWS_EXCEPTION(Error, runLmStudioHandoff(r, ctx));
    QVERIFY(!QFileInfo::exists(path(QStringLiteral("lms2/models/ada/a:b"))));
}

void TestTasksHandoff::lmStudioDefaultNamesFollowTheSource()
{
    // The models folder is LM Studio's own (HOME is the fake home); a source from LM Studio
    // gives its publisher and repository, any other source the login name.
    LmStudioHandoffRequest r;
    r.ggufPath = m_model;
    r.sourcePath = m_home.lmStudioModel;
    NullJobContext ctx;
    LmStudioHandoffResult res = runLmStudioHandoff(r, ctx);
    QCOMPARE(res.targetPath,
             m_home.home
                 + QStringLiteral("/.lmstudio/models/lmstudio-community/Tiny-GGUF/tiny-Q8_0.gguf"));
    QVERIFY(QFile::remove(res.targetPath));
    r.sourcePath = path(QStringLiteral("somewhere/model.gguf"));
    res = runLmStudioHandoff(r, ctx);
    QCOMPARE(res.targetPath,
             m_home.home + QStringLiteral("/.lmstudio/models/ada/tiny-Q8_0/tiny-Q8_0.gguf"));
    QVERIFY(QFile::remove(res.targetPath));
    // An HF cache file is a relative link into the cache's blobs: the file itself is linked.
    r.ggufPath = m_home.hfModel;
    r.sourcePath = m_home.hfModel;
    res = runLmStudioHandoff(r, ctx);
    QCOMPARE(res.targetPath,
             m_home.home + QStringLiteral("/.lmstudio/models/acme/Tiny-GGUF/tiny-f16.gguf"));
    QVERIFY(!QFileInfo(res.targetPath).isSymLink());
    QCOMPARE(statOf(res.targetPath).st_ino, statOf(m_home.hfModel).st_ino);
    QVERIFY(QFile::remove(res.targetPath));
    // An Ollama blob has no ".gguf", which LM Studio needs: it gets its model name and tag.
    r.ggufPath = m_home.ollamaBlob;
    r.sourcePath = m_home.ollamaBlob;
    res = runLmStudioHandoff(r, ctx);
    QCOMPARE(res.targetPath,
             m_home.home + QStringLiteral("/.lmstudio/models/ada/tiny-latest/tiny-latest.gguf"));
    QCOMPARE(statOf(res.targetPath).st_ino, statOf(m_home.ollamaBlob).st_ino);
    QVERIFY(QFile::remove(res.targetPath));
}

void TestTasksHandoff::lmStudioPlacesASplitModelWhole()
{
    const QString first = writeSplitModel(path(QStringLiteral("split")), QStringLiteral("big"));
    LmStudioHandoffRequest r;
    r.ggufPath = first;
    r.modelsFolder = path(QStringLiteral("lms3/models"));
    r.placement = LmStudioPlacement{QStringLiteral("ada"), QStringLiteral("big")};
    NullJobContext ctx;
    const LmStudioHandoffResult res = runLmStudioHandoff(r, ctx);
    QCOMPARE(res.targetFiles.size(), 2);
    for (const QString &f : res.targetFiles)
        QVERIFY2(QFileInfo::exists(f), qPrintable(f));
    QVERIFY(res.targetFiles[1].endsWith(QStringLiteral("big-00002-of-00002.gguf")));
}

void TestTasksHandoff::lmStudioCopiesAcrossFileSystems()
{
    const QString other = otherFileSystem();
    if (other.isEmpty())
        QSKIP("no second file system (/dev/shm) to copy across");
    QTemporaryDir source(other + QStringLiteral("/quantfit-handoff-XXXXXX"));
    QVERIFY(source.isValid());
    const QString model = source.filePath(QStringLiteral("tiny-Q8_0.gguf"));
    QVERIFY(QFile::copy(m_model, model));
    LmStudioHandoffRequest r;
    r.ggufPath = model;
    r.modelsFolder = path(QStringLiteral("lms4/models"));
    r.placement = LmStudioPlacement{QStringLiteral("ada"), QStringLiteral("tiny")};
    RecordingContext ctx;
    const LmStudioHandoffResult res = runLmStudioHandoff(r, ctx);
    QCOMPARE(res.method, PlacementMethod::Copy);
    QCOMPARE(content(res.targetPath), content(m_model));
    QVERIFY(!ctx.reports.empty());
    QCOMPARE(ctx.reports.back().stage, QStringLiteral("Copying to LM Studio"));
    QCOMPARE(ctx.reports.back().done, std::uint64_t(QFileInfo(model).size()));
    QCOMPARE(ctx.reports.back().total, std::uint64_t(QFileInfo(model).size()));
}

void TestTasksHandoff::lmStudioCopyCancelLeavesNothing()
{
    const QString other = otherFileSystem();
    if (other.isEmpty())
        QSKIP("no second file system (/dev/shm) to copy across");
    QTemporaryDir source(other + QStringLiteral("/quantfit-handoff-XXXXXX"));
    QVERIFY(source.isValid());
    const QString model = source.filePath(QStringLiteral("big.gguf"));
    writeFile(model, QByteArray(24 << 20, 'x')); // three 8 MiB pieces
    LmStudioHandoffRequest r;
    r.ggufPath = model;
    r.modelsFolder = path(QStringLiteral("lms5/models"));
    r.placement = LmStudioPlacement{QStringLiteral("ada"), QStringLiteral("big")};
    RecordingContext ctx(1);
    QVERIFY_THROWS_EXCEPTION(Cancelled, runLmStudioHandoff(r, ctx));
    QCOMPARE(QDir(path(QStringLiteral("lms5/models/ada/big")))
                 .entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden),
             QStringList());
}

void TestTasksHandoff::ollamaCreateGetsTheModelfile()
{
    installOllama(R"(printf '%s\n' "$@" > "$QUANTFIT_TEST_RECORD/args"
cp "$4" "$QUANTFIT_TEST_RECORD/Modelfile"
echo "gathering model components"
printf 'copying file 50%%\rcopying file 100%%\n'
printf '\033[?25lwriting manifest\033[?25h\n'
echo success
)");
    OllamaHandoffRequest r;
    r.ggufPath = m_model;
    r.modelName = QStringLiteral("ada/tiny:q8");
    QStringList lines;
    r.onOutput = [&](const QString &line) { lines << line; };
    NullJobContext ctx;
    const OllamaHandoffResult res = runOllamaHandoff(r, ctx);
    QVERIFY(res.ran);
    QCOMPARE(res.exitCode, 0);
    QVERIFY(res.succeeded());
    QCOMPARE(res.modelName, QStringLiteral("ada/tiny:q8"));
    // Next to the GGUF, named after it.
    QCOMPARE(res.modelfilePath, path(QStringLiteral("out/tiny-Q8_0.Modelfile")));
    QCOMPARE(content(path(QStringLiteral("record/args"))),
             QByteArray("create\nada/tiny:q8\n-f\n") + res.modelfilePath.toUtf8() + '\n');
    QCOMPARE(content(path(QStringLiteral("record/Modelfile"))),
             QByteArray("FROM ") + m_model.toUtf8() + '\n');
    QCOMPARE(content(res.modelfilePath), res.modelfileText.toUtf8());
    QCOMPARE(lines,
             (QStringList{QStringLiteral("gathering model components"),
                          QStringLiteral("copying file 50%"), QStringLiteral("copying file 100%"),
                          QStringLiteral("writing manifest"), QStringLiteral("success")}));
    QVERIFY(res.settingsFrom.isEmpty());
}

void TestTasksHandoff::ollamaTakesOverTheSourceModelsSettings()
{
    installOllama(R"(cp "$4" "$QUANTFIT_TEST_RECORD/Modelfile"
)");
    OllamaHandoffRequest r;
    r.ggufPath = m_model;
    r.modelName = QStringLiteral("tiny-q8");
    r.sourcePath = m_home.ollamaBlob; // converted from tiny:latest
    NullJobContext ctx;
    OllamaHandoffResult res = runOllamaHandoff(r, ctx);
    QVERIFY(res.succeeded());
    QCOMPARE(res.settingsFrom, QStringLiteral("tiny:latest"));
    const QByteArray expected = "FROM " + m_model.toUtf8() + "\n"
                                "TEMPLATE \"{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT:\"\n"
                                "SYSTEM You are \"tiny\".\n"
                                "PARAMETER num_ctx 2048\n"
                                "PARAMETER stop USER:\n"
                                "PARAMETER stop </s>\n"
                                "PARAMETER temperature 0.7\n";
    QCOMPARE(content(path(QStringLiteral("record/Modelfile"))), expected);
    // The manifest named directly (what the app passes) gives the same.
    r.sourcePath.clear();
    r.sourceManifest =
        m_home.ollamaModels + QStringLiteral("/manifests/registry.ollama.ai/library/tiny/v1");
    res = runOllamaHandoff(r, ctx);
    QCOMPARE(res.settingsFrom, QStringLiteral("tiny:v1"));
    QCOMPARE(content(path(QStringLiteral("record/Modelfile"))), expected);
}

void TestTasksHandoff::ollamaFailureIsReportedNotThrown()
{
    installOllama(R"(echo "Error: could not connect to ollama app, is it running?" >&2
exit 1
)");
    OllamaHandoffRequest r;
    r.ggufPath = m_model;
    r.modelName = QStringLiteral("tiny");
    NullJobContext ctx;
    const OllamaHandoffResult res = runOllamaHandoff(r, ctx);
    QVERIFY(res.ran);
    QCOMPARE(res.exitCode, 1);
    QVERIFY(!res.succeeded());
    QVERIFY2(res.output.contains(QStringLiteral("could not connect")), qPrintable(res.output));
}

void TestTasksHandoff::withoutOllamaTheCommandIsGiven()
{
    const QString empty = path(QStringLiteral("emptybin"));
    QVERIFY(QDir().mkpath(empty));
    qputenv("PATH", empty.toUtf8());
    OllamaHandoffRequest r;
    r.ggufPath = m_model;
    r.modelName = QStringLiteral("tiny");
    r.modelfilePath = path(QStringLiteral("with space/tiny.Modelfile"));
    NullJobContext ctx;
    const OllamaHandoffResult res = runOllamaHandoff(r, ctx);
    qputenv("PATH", m_path);
    QVERIFY(!res.ran);
    QCOMPARE(res.modelName, QStringLiteral("tiny:latest"));
    QCOMPARE(res.command, QStringLiteral("ollama create tiny:latest -f '%1'").arg(r.modelfilePath));
    QCOMPARE(content(r.modelfilePath), QByteArray("FROM ") + m_model.toUtf8() + '\n');
}

void TestTasksHandoff::modelfileNeverLandsInAStore()
{
    installOllama("exit 0\n");
    OllamaHandoffRequest r;
    r.ggufPath = m_home.lmStudioModel; // a model inside LM Studio's folder
    r.modelName = QStringLiteral("from-lms");
    NullJobContext ctx;
    const OllamaHandoffResult res = runOllamaHandoff(r, ctx);
    QCOMPARE(res.modelfilePath,
             path(QStringLiteral("data/QuantFit/quantfit/modelfiles/Tiny-F16.Modelfile")));
    QVERIFY(QFileInfo::exists(res.modelfilePath));
    QVERIFY(!QFileInfo::exists(QFileInfo(m_home.lmStudioModel).absolutePath()
                               + QStringLiteral("/Tiny-F16.Modelfile")));
    // An Ollama blob is named by its model name and tag.
    r.ggufPath = m_home.ollamaBlob;
    QCOMPARE(runOllamaHandoff(r, ctx).modelfilePath,
             path(QStringLiteral("data/QuantFit/quantfit/modelfiles/tiny-latest.Modelfile")));
}

void TestTasksHandoff::badNameIsRefusedBeforeAnythingIsWritten()
{
    installOllama(R"(touch "$QUANTFIT_TEST_RECORD/ran"
)");
    OllamaHandoffRequest r;
    r.ggufPath = m_model;
    r.modelName = QStringLiteral("bad name");
    r.modelfilePath = path(QStringLiteral("bad/x.Modelfile"));
    NullJobContext ctx;
    try {
        runOllamaHandoff(r, ctx);
        QFAIL("no error");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QStringLiteral("not an Ollama model name")),
                 qPrintable(e.message()));
    }
    QVERIFY(!QFileInfo::exists(r.modelfilePath));
    QVERIFY(!QFileInfo::exists(path(QStringLiteral("record/ran"))));
    r.modelName = QStringLiteral("fine");
    r.ggufPath = path(QStringLiteral("missing.gguf"));
    QVERIFY_THROWS_EXCEPTION(IoError, runOllamaHandoff(r, ctx));
}

void TestTasksHandoff::cancelStopsOllama()
{
    installOllama("echo started\nexec sleep 30\n");
    OllamaHandoffRequest r;
    r.ggufPath = m_model;
    r.modelName = QStringLiteral("slow");
    NullJobContext ctx;
    std::atomic<bool> started{false};
    r.onOutput = [&](const QString &) { started = true; };
    std::thread canceller([&] {
        while (!started)
            QThread::msleep(10);
        ctx.requestCancel();
    });
    QElapsedTimer t;
    t.start();
    QVERIFY_THROWS_EXCEPTION(Cancelled, runOllamaHandoff(r, ctx));
    canceller.join();
    QVERIFY2(t.elapsed() < 10000, "cancel took too long");
}

// Whichever shell asks (the CLI, Convert opened on a blob by hand, Models -> Advise -> Convert),
// the conversion task itself keeps outputs out of a runner's store and names them after the
// model, not the blob.
void TestTasksHandoff::conversionsOfStoreModelsStayOutOfTheStore()
{
    const QString converted = path(QStringLiteral("home/Documents/QuantFit"));
    QCOMPARE(defaultOutputFolder(m_home.ollamaBlob), converted);
    QCOMPARE(defaultOutputFolder(m_model), QFileInfo(m_model).absolutePath());

    ConversionRequest r;
    r.sourcePath = m_home.ollamaBlob;
    r.fileTypes = {FileType::Q8_0};
    const GgufFile source = GgufFile::open(r.sourcePath, GgufFile::Mode::MetadataOnly);
    QCOMPARE(prepareConversion(r, source, nullptr).targets.front().outputPath,
             converted + QStringLiteral("/tiny-latest-Q8_0.gguf"));
    r.outputFolder = path(QStringLiteral("picked"));
    QCOMPARE(prepareConversion(r, source, nullptr).targets.front().outputPath,
             path(QStringLiteral("picked/tiny-latest-Q8_0.gguf")));

    const auto storeFiles = [&] {
        QStringList files;
        QDirIterator it(m_home.ollamaModels, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
        while (it.hasNext())
            files << it.next();
        files.sort();
        return files;
    };
    const QStringList before = storeFiles();
    r.outputFolder.clear();
    NullJobContext ctx;
    const ConversionResult result = runConversion(r, ctx);
    QCOMPARE(result.outputs.size(), std::size_t(1));
    QCOMPARE(result.outputs.front().path, converted + QStringLiteral("/tiny-latest-Q8_0.gguf"));
    QVERIFY(QFileInfo(result.outputs.front().path).isFile());
    QCOMPARE(storeFiles(), before);
}

QTEST_GUILESS_MAIN(TestTasksHandoff)
#include "testtaskshandoff.moc"
