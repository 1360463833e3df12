// End to end: `quantfit-cli models` over a fake home folder with one model in each runner's
// store, and `quantize ... --to-ollama/--to-lmstudio` handing a converted model to a stand-in
// ollama script (on PATH, recording its arguments and the Modelfile) and to LM Studio's folder.
// HOME and the XDG variables point into the test's folder, so nothing real is read or written.

#include "fakestores.h"
#include "testsupport.h"

#include <QDateTime>
#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <sys/stat.h>

using namespace QuantFit::Test;

namespace {

QStringList snapshot(const QString &root)
{
    QStringList out;
    QDirIterator it(root, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        out << QStringLiteral("%1 %2 %3").arg(it.filePath()).arg(it.fileInfo().size()).arg(
                   it.fileInfo().lastModified().toMSecsSinceEpoch());
    }
    out.sort();
    return out;
}

QString text(const QByteArray &b)
{
    return QString::fromUtf8(b);
}

} // namespace

class TestCliModels : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void listsEachStoreModelOnceByItsRunnersName();
    void jsonForScripts();
    void sourcesCanBeSwitchedAndFoldersAdded();
    void aBrokenFileShowsItsErrorAndNothingIsWritten();
    void pickedModelConvertsAndGoesToOllama();
    void severalTypesGetOneOllamaTagEach();
    void convertedModelGoesToLmStudio();
    void badHandoffOptionsFailBeforeConverting();
    void failingOllamaFailsTheCommand();

private:
    QString home(const QString &rel) const { return m_home.home + QLatin1Char('/') + rel; }
    void installOllama(const QByteArray &body);

    QTemporaryDir m_dir;
    FakeHome m_home;
    QByteArray m_path;
};

void TestCliModels::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_home = buildFakeHome(m_dir.filePath(QStringLiteral("home")));
    m_path = qgetenv("PATH");
    qputenv("HOME", m_home.home.toUtf8());
    qputenv("XDG_CONFIG_HOME", home(QStringLiteral(".config")).toUtf8());
    qputenv("XDG_DATA_HOME", home(QStringLiteral(".local/share")).toUtf8());
    qputenv("USER", "ada");
    for (const char *v : {"OLLAMA_MODELS", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME",
                          "XDG_CACHE_HOME", "LLAMA_CACHE"})
        qunsetenv(v);
    installOllama(R"(printf '%s\n' "$@" >> "$QUANTFIT_TEST_RECORD/args"
cp "$4" "$QUANTFIT_TEST_RECORD/$2.Modelfile"
echo "transferring model data"
echo success
)");
}

void TestCliModels::installOllama(const QByteArray &body)
{
    const QString bin = m_dir.filePath(QStringLiteral("bin"));
    QDir(bin).removeRecursively();
    writeFile(bin + QStringLiteral("/ollama"), "#!/bin/sh\n" + body);
    QVERIFY(QFile::setPermissions(bin + QStringLiteral("/ollama"), QFileDevice::ReadOwner
                                                                       | QFileDevice::WriteOwner
                                                                       | QFileDevice::ExeOwner));
    qputenv("PATH", bin.toUtf8() + ':' + m_path);
    const QString record = m_dir.filePath(QStringLiteral("record"));
    QDir(record).removeRecursively();
    QVERIFY(QDir().mkpath(record));
    qputenv("QUANTFIT_TEST_RECORD", record.toUtf8());
}

void TestCliModels::listsEachStoreModelOnceByItsRunnersName()
{
    const CliResult r = runCli({QStringLiteral("models")});
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(r.err.isEmpty(), r.err.constData());
    const QStringList lines = text(r.out).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QVERIFY2(lines.value(0).startsWith(QStringLiteral("5 models in LM Studio")), r.out.constData());
    QVERIFY(lines.value(1).startsWith(QStringLiteral("NAME")));
    auto row = [&](const QString &name) {
        QStringList found;
        for (const QString &l : lines) {
            if (l.startsWith(name + QLatin1Char(' ')))
                found << l;
        }
        return found;
    };
    const struct {
        const char *name;
        const char *source;
        const char *type;
        QString path;
    } expected[] = {
        {"lmstudio-community/Tiny-GGUF/Tiny-F16.gguf", "LM Studio", "F16", m_home.lmStudioModel},
        {"lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf", "LM Studio", "Q8_0", m_home.lmStudioQuantized},
        {"tiny:latest (also tiny:v1)", "Ollama", "F16", m_home.ollamaBlob},
        {"acme/Tiny-GGUF/tiny-f16.gguf", "HF cache", "F16", m_home.hfModel},
        {"acme_Tiny_tiny.gguf", "llama.cpp cache", "F16", m_home.llamaCppModel},
    };
    for (const auto &e : expected) {
        const QStringList rows = row(QLatin1String(e.name));
        QVERIFY2(rows.size() == 1, e.name);
        const QStringList cells =
            rows[0].mid(qsizetype(qstrlen(e.name))).split(QStringLiteral("  "), Qt::SkipEmptyParts);
        QCOMPARE(cells.value(0).trimmed(), QLatin1String(e.source));
        QCOMPARE(cells.value(1).trimmed(), QStringLiteral("llama"));
        QCOMPARE(cells.value(2).trimmed(), QStringLiteral("75.5K")); // 75,456 parameters
        QCOMPARE(cells.value(3).trimmed(), QLatin1String(e.type));
        QCOMPARE(cells.value(5).trimmed(), QStringLiteral("256"));
        QVERIFY2(rows[0].endsWith(e.path), qPrintable(rows[0]));
    }
    // The projector is attached, not listed; the Q8_0 names its F16 sibling.
    QVERIFY(!text(r.out).contains(QStringLiteral("mmproj-Tiny-F16.gguf  ")));
    QCOMPARE(text(r.out).count(QStringLiteral("vision projector: ") + m_home.lmStudioProjector), 2);
    QVERIFY(text(r.out).contains(QStringLiteral("full precision: ") + m_home.lmStudioModel));
    // Blob hashes are paths, never names.
    QVERIFY(!lines.filter(QRegularExpression(QStringLiteral("^sha256"))).size());
}

void TestCliModels::jsonForScripts()
{
    const CliResult r = runCli({QStringLiteral("models"), QStringLiteral("--json")});
    QCOMPARE(r.exitCode, 0);
    QJsonParseError error;
    const QJsonObject root = QJsonDocument::fromJson(r.out, &error).object();
    QCOMPARE(error.error, QJsonParseError::NoError);
    QCOMPARE(root.value(QStringLiteral("stores")).toArray().size(), 4);
    const QJsonArray models = root.value(QStringLiteral("models")).toArray();
    QCOMPARE(models.size(), 5);
    const QJsonObject ollama = models.at(2).toObject();
    QCOMPARE(ollama.value(QStringLiteral("name")).toString(), QStringLiteral("tiny:latest"));
    QCOMPARE(ollama.value(QStringLiteral("aliases")).toArray(), QJsonArray{QStringLiteral("tiny:v1")});
    QCOMPARE(ollama.value(QStringLiteral("source")).toString(), QStringLiteral("ollama"));
    QCOMPARE(ollama.value(QStringLiteral("parameters")).toDouble(), 75456.0);
    QCOMPARE(ollama.value(QStringLiteral("contextLength")).toDouble(), 256.0);
    QCOMPARE(ollama.value(QStringLiteral("fileType")).toString(), QStringLiteral("F16"));
    QCOMPARE(ollama.value(QStringLiteral("sizeBytes")).toDouble(),
             double(QFileInfo(m_home.ollamaBlob).size()));
    QCOMPARE(ollama.value(QStringLiteral("path")).toString(), m_home.ollamaBlob);
    QVERIFY(ollama.value(QStringLiteral("error")).isNull());
    const QJsonObject quantized = models.at(1).toObject();
    QCOMPARE(quantized.value(QStringLiteral("fullPrecisionSibling")).toString(), m_home.lmStudioModel);
    QCOMPARE(quantized.value(QStringLiteral("projectors")).toArray(),
             QJsonArray{m_home.lmStudioProjector});
    QCOMPARE(root.value(QStringLiteral("problems")).toArray().size(), 0);
}

void TestCliModels::sourcesCanBeSwitchedAndFoldersAdded()
{
    const QString mine = m_dir.filePath(QStringLiteral("mine"));
    writeTinyModel(mine + QStringLiteral("/sub/own.gguf"), QStringLiteral("own"));
    CliResult r =
        runCli({QStringLiteral("models"), QStringLiteral("--only"), QStringLiteral("ollama,folder"),
                QStringLiteral("--path"), mine, QStringLiteral("--json")});
    QCOMPARE(r.exitCode, 0);
    QJsonArray models =
        QJsonDocument::fromJson(r.out).object().value(QStringLiteral("models")).toArray();
    QCOMPARE(models.size(), 2);
    QCOMPARE(models.at(0).toObject().value(QStringLiteral("name")).toString(),
             QStringLiteral("tiny:latest"));
    QCOMPARE(models.at(1).toObject().value(QStringLiteral("name")).toString(),
             QStringLiteral("sub/own.gguf"));
    QCOMPARE(models.at(1).toObject().value(QStringLiteral("source")).toString(),
             QStringLiteral("folder"));

    r = runCli({QStringLiteral("models"), QStringLiteral("--skip"), QStringLiteral("lmstudio,hf"),
                QStringLiteral("--json")});
    models = QJsonDocument::fromJson(r.out).object().value(QStringLiteral("models")).toArray();
    QCOMPARE(models.size(), 2);

    r = runCli({QStringLiteral("models"), QStringLiteral("--only"), QStringLiteral("gpt4all")});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.startsWith("error: --only: unknown source 'gpt4all'"), r.err.constData());
    r = runCli({QStringLiteral("models"), QStringLiteral("--only"), QStringLiteral("ollama"),
                QStringLiteral("--path"), mine});
    QCOMPARE(r.exitCode, 1);
    r = runCli({QStringLiteral("models"), QStringLiteral("--only"), QStringLiteral("folder"),
                QStringLiteral("--path"), m_dir.filePath(QStringLiteral("nowhere"))});
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(r.err.contains("warning: ") && r.err.contains("no such folder"), r.err.constData());
    QVERIFY2(r.out.startsWith("no models found"), r.out.constData());
}

void TestCliModels::aBrokenFileShowsItsErrorAndNothingIsWritten()
{
    const QString broken = home(QStringLiteral(".lmstudio/models/someone/Broken-GGUF/broken.gguf"));
    writeFile(broken, "GGUF\x03\x00\x00\x00 truncated");
    const QStringList before = snapshot(m_home.home);
    QThread::msleep(20);
    const CliResult r = runCli({QStringLiteral("models")});
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(text(r.out).contains(QRegularExpression(
                 QStringLiteral("\\nsomeone/Broken-GGUF/broken\\.gguf +LM Studio +- "))),
             r.out.constData());
    QVERIFY2(text(r.out).contains(QStringLiteral("    error: ") + broken), r.out.constData());
    QCOMPARE(snapshot(m_home.home), before);
    QFile::remove(broken);
    QDir(home(QStringLiteral(".lmstudio/models/someone"))).removeRecursively();
}

void TestCliModels::pickedModelConvertsAndGoesToOllama()
{
    // The Ollama model picked from the list converts; the output lands outside the store, and
    // ollama create gets a Modelfile with the source's template, system prompt and parameters.
    const QStringList storeBefore = snapshot(m_home.ollamaModels);
    const CliResult r = runCli({QStringLiteral("quantize"), m_home.ollamaBlob,
                                QStringLiteral("Q8_0"), QStringLiteral("--to-ollama"),
                                QStringLiteral("tiny-q8"), QStringLiteral("--quiet")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QString out = home(QStringLiteral("Documents/QuantFit/tiny-latest-Q8_0.gguf"));
    QVERIFY2(QFileInfo::exists(out), r.out.constData());
    QVERIFY2(r.err.contains("is in Ollama's store"), r.err.constData());
    QCOMPARE(snapshot(m_home.ollamaModels), storeBefore); // the stand-in adds nothing to it
    const QString record = m_dir.filePath(QStringLiteral("record"));
    QCOMPARE(fileContent(record + QStringLiteral("/args")),
             "create\ntiny-q8:latest\n-f\n"
                 + home(QStringLiteral("Documents/QuantFit/tiny-latest-Q8_0.Modelfile")).toUtf8()
                 + '\n');
    QCOMPARE(fileContent(record + QStringLiteral("/tiny-q8:latest.Modelfile")),
             "FROM " + out.toUtf8() + "\n"
             "TEMPLATE \"{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT:\"\n"
             "SYSTEM You are \"tiny\".\n"
             "PARAMETER num_ctx 2048\n"
             "PARAMETER stop USER:\n"
             "PARAMETER stop </s>\n"
             "PARAMETER temperature 0.7\n");
    QVERIFY2(r.err.contains("ollama: success"), r.err.constData());
    QVERIFY2(r.out.contains("Ollama: added as tiny-q8:latest"), r.out.constData());
    QVERIFY2(r.out.contains("(template and parameters of tiny:latest)"), r.out.constData());
}

void TestCliModels::severalTypesGetOneOllamaTagEach()
{
    installOllama(R"(printf '%s\n' "$@" >> "$QUANTFIT_TEST_RECORD/args"
)");
    const QString folder = m_dir.filePath(QStringLiteral("several"));
    QVERIFY(QDir().mkpath(folder));
    const CliResult r = runCli({QStringLiteral("quantize"), m_home.lmStudioModel, folder,
                                QStringLiteral("Q8_0,Q4_0"), QStringLiteral("--to-ollama"),
                                QStringLiteral("ada/tiny"), QStringLiteral("--quiet")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QStringList args =
        text(fileContent(m_dir.filePath(QStringLiteral("record/args")))).split(QLatin1Char('\n'));
    QCOMPARE(args.filter(QStringLiteral("ada/tiny:")),
             (QStringList{QStringLiteral("ada/tiny:q8_0"), QStringLiteral("ada/tiny:q4_0")}));
    // A tag with several types is refused before converting.
    const CliResult tagged = runCli({QStringLiteral("quantize"), m_home.lmStudioModel, folder,
                                     QStringLiteral("Q8_0,Q4_0"), QStringLiteral("--to-ollama"),
                                     QStringLiteral("ada/tiny:x")});
    QCOMPARE(tagged.exitCode, 1);
    QVERIFY2(tagged.err.contains("needs no tag"), tagged.err.constData());
}

void TestCliModels::convertedModelGoesToLmStudio()
{
    const QString out = m_dir.filePath(QStringLiteral("lms/tiny-Q4_0.gguf"));
    QVERIFY(QDir().mkpath(QFileInfo(out).absolutePath()));
    CliResult r = runCli({QStringLiteral("quantize"), m_home.lmStudioModel, out, QStringLiteral("Q4_0"),
                          QStringLiteral("--to-lmstudio"), QStringLiteral("--quiet")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    // The source's own publisher and repository; a hard link, the same bytes.
    const QString target =
        home(QStringLiteral(".lmstudio/models/lmstudio-community/Tiny-GGUF/tiny-Q4_0.gguf"));
    QVERIFY2(text(r.out).contains(QStringLiteral("LM Studio: linked as ") + target), r.out.constData());
    struct stat a {};
    struct stat b {};
    QCOMPARE(::stat(QFile::encodeName(out).constData(), &a), 0);
    QCOMPARE(::stat(QFile::encodeName(target).constData(), &b), 0);
    QCOMPARE(a.st_ino, b.st_ino);
    // The listing shows it next to its F16 as a quantized sibling.
    r = runCli({QStringLiteral("models"), QStringLiteral("--only"), QStringLiteral("lmstudio")});
    QVERIFY2(r.out.contains("lmstudio-community/Tiny-GGUF/tiny-Q4_0.gguf"), r.out.constData());
    QFile::remove(target);

    // --lmstudio-repo names the folders.
    QFile::remove(out);
    r = runCli({QStringLiteral("quantize"), m_home.lmStudioModel, out, QStringLiteral("Q4_0"),
                QStringLiteral("--to-lmstudio"), QStringLiteral("--lmstudio-repo"),
                QStringLiteral("ada/Mine"), QStringLiteral("--quiet")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY(QFileInfo::exists(home(QStringLiteral(".lmstudio/models/ada/Mine/tiny-Q4_0.gguf"))));
    QDir(home(QStringLiteral(".lmstudio/models/ada"))).removeRecursively();
}

void TestCliModels::badHandoffOptionsFailBeforeConverting()
{
    const QString folder = m_dir.filePath(QStringLiteral("bad"));
    QVERIFY(QDir().mkpath(folder));
    const struct {
        QStringList extra;
        const char *message;
    } cases[] = {
        {{QStringLiteral("--to-ollama"), QStringLiteral("my model")},
         "is not an Ollama model name"},
        {{QStringLiteral("--lmstudio-repo"), QStringLiteral("a/b")},
         "--lmstudio-repo needs --to-lmstudio"},
        {{QStringLiteral("--to-lmstudio"), QStringLiteral("--lmstudio-repo"), QStringLiteral("a")},
         "expected PUBLISHER/REPOSITORY"},
        {{QStringLiteral("--to-lmstudio"), QStringLiteral("--lmstudio-repo"),
          QStringLiteral(".a/b")},
         "starts or ends with '.'"},
    };
    for (const auto &c : cases) {
        const CliResult r = runCli(QStringList{QStringLiteral("quantize"), m_home.lmStudioModel, folder,
                                               QStringLiteral("Q8_0")} + c.extra);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(c.message), r.err.constData());
        QCOMPARE(filesIn(folder), QStringList());
    }
}

void TestCliModels::failingOllamaFailsTheCommand()
{
    installOllama(R"(echo "Error: could not connect to ollama app, is it running?"
exit 1
)");
    const QString out = m_dir.filePath(QStringLiteral("fail/tiny-Q8_0.gguf"));
    QVERIFY(QDir().mkpath(QFileInfo(out).absolutePath()));
    const CliResult r =
        runCli({QStringLiteral("quantize"), m_home.lmStudioModel, out, QStringLiteral("Q8_0"),
                QStringLiteral("--to-ollama"), QStringLiteral("tiny"), QStringLiteral("--quiet")});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("ollama: Error: could not connect"), r.err.constData());
    QVERIFY2(r.err.contains("error: ollama create exited with status 1"), r.err.constData());
    QVERIFY(QFileInfo::exists(out)); // the conversion itself is kept
}

QTEST_GUILESS_MAIN(TestCliModels)
#include "testclimodels.moc"
