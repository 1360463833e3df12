// core/discovery: Ollama's names, manifests, layers and the Modelfile we write. Expected names
// follow ollama's rules (types/model/name.go: defaults registry.ollama.ai/library/...:latest,
// the part alphabets and lengths); expected Modelfile lines follow its parser (parser/parser.go:
// bare values end at the line end, "..." and """...""" hold the rest), written out by hand.

#include "fakestores.h"

#include "discovery/ollamastore.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;
using namespace QuantFit::Test;

class TestDiscoveryOllama : public QObject
{
    Q_OBJECT

private slots:
    void namesParseAndPrint_data();
    void namesParseAndPrint();
    void badNamesAreRefusedWithTheReason_data();
    void badNamesAreRefusedWithTheReason();
    void namesFromFileNames_data();
    void namesFromFileNames();
    void blobPaths();
    void manifestsAreReadAndChecked();
    void storeListingKeepsBrokenManifests();
    void blobFindsItsManifests();
    void modelfileTakesOverTemplateSystemAndParameters();
    void modelfileQuoting_data();
    void modelfileQuoting();
    void modelfileRefusesWhatCannotBeWritten();
    void unusableParametersAreLeftOutWithAWarning();

private:
    QTemporaryDir m_dir;
};

void TestDiscoveryOllama::namesParseAndPrint_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("display");
    QTest::addColumn<QString>("manifest");
    QTest::newRow("bare") << "llama3.2"
                          << "llama3.2:latest"
                          << "registry.ollama.ai/library/llama3.2/latest";
    QTest::newRow("tag") << "llama3.2:1b" << "llama3.2:1b" << "registry.ollama.ai/library/llama3.2/1b";
    QTest::newRow("namespace") << "ada/tiny:q4_k_m"
                               << "ada/tiny:q4_k_m"
                               << "registry.ollama.ai/ada/tiny/q4_k_m";
    QTest::newRow("hf.co") << "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"
                           << "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"
                           << "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF/Q4_K_M";
    QTest::newRow("host with port") << "localhost:5000/ns/m" << "localhost:5000/ns/m:latest"
                                    << "localhost:5000/ns/m/latest";
    QTest::newRow("scheme dropped") << "https://example.com/ns/m:t" << "example.com/ns/m:t"
                                    << "example.com/ns/m/t";
    QTest::newRow("default host spelled out") << "registry.ollama.ai/library/qwen:7b" << "qwen:7b"
                                              << "registry.ollama.ai/library/qwen/7b";
}

void TestDiscoveryOllama::namesParseAndPrint()
{
    QFETCH(QString, text);
    QFETCH(QString, display);
    QFETCH(QString, manifest);
    QString why;
    const auto n = OllamaName::parse(text, &why);
    QVERIFY2(n, qPrintable(why));
    QCOMPARE(n->display(), display);
    QCOMPARE(n->manifestRelativePath(), manifest);
}

void TestDiscoveryOllama::badNamesAreRefusedWithTheReason_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("reason");
    QTest::newRow("empty") << "" << "model is empty";
    QTest::newRow("space") << "my model" << "may not contain ' '";
    QTest::newRow("leading dash") << "-x" << "may not contain '-'";
    QTest::newRow("dot in namespace") << "a.b/m" << "namespace 'a.b' may not contain '.'";
    QTest::newRow("empty tag") << "m:" << "tag after ':' is empty";
    QTest::newRow("slash in host") << "a/b/c/d" << "host 'a/b' may not contain '/'";
    QTest::newRow("81-character model") << QString(81, QLatin1Char('m')) << "longer than 80";
    QTest::newRow("colon in tag") << "m:a:b" << "model 'm:a' may not contain ':'";
}

void TestDiscoveryOllama::badNamesAreRefusedWithTheReason()
{
    QFETCH(QString, text);
    QFETCH(QString, reason);
    QString why;
    QVERIFY(!OllamaName::parse(text, &why));
    QVERIFY2(why.contains(reason), qPrintable(why));
    QVERIFY2(why.contains(QStringLiteral("is not an Ollama model name")), qPrintable(why));
}

void TestDiscoveryOllama::namesFromFileNames_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("name");
    QTest::newRow("typical") << "Tiny-Q4_K_M.gguf" << "tiny-q4_k_m";
    QTest::newRow("spaces and colons") << "My Model: v2.gguf" << "my-model--v2";
    QTest::newRow("leading dash") << "-x.gguf" << "x";
    QTest::newRow("nothing usable") << "---.gguf" << "model";
    QTest::newRow("long") << QString(100, QLatin1Char('a')) + QStringLiteral(".gguf")
                          << QString(80, QLatin1Char('a'));
}

void TestDiscoveryOllama::namesFromFileNames()
{
    QFETCH(QString, file);
    QFETCH(QString, name);
    QCOMPARE(ollamaNameFromFileName(file), name);
    QVERIFY(OllamaName::parse(name));
}

void TestDiscoveryOllama::blobPaths()
{
    const QString hex(64, QLatin1Char('a'));
    QCOMPARE(*ollamaBlobPath(QStringLiteral("/m"), QStringLiteral("sha256:") + hex),
             QStringLiteral("/m/blobs/sha256-") + hex);
    QCOMPARE(*ollamaBlobPath(QStringLiteral("/m"), QStringLiteral("sha256-") + hex),
             QStringLiteral("/m/blobs/sha256-") + hex);
    QVERIFY(!ollamaBlobPath(QStringLiteral("/m"), QStringLiteral("sha256:") + hex.left(63)));
    QVERIFY(!ollamaBlobPath(QStringLiteral("/m"), QStringLiteral("sha256:../../etc/passwd")));
    QVERIFY(!ollamaBlobPath(QStringLiteral("/m"), QStringLiteral("md5:") + hex));
}

void TestDiscoveryOllama::manifestsAreReadAndChecked()
{
    const QString models = m_dir.filePath(QStringLiteral("read/models"));
    const QString manifest = models + QStringLiteral("/manifests/registry.ollama.ai/library/m/latest");
    const OllamaName name = *OllamaName::parse(QStringLiteral("m"));
    const QString digest = QStringLiteral("sha256:") + QString(64, QLatin1Char('0'));
    writeFile(manifest, QStringLiteral(R"({"schemaVersion":2,"layers":[
        {"mediaType":"application/vnd.ollama.image.model","digest":"%1","size":1234},
        {"mediaType":"application/vnd.ollama.image.template","digest":"%1","size":5}]})")
                            .arg(digest).toUtf8());
    const OllamaManifest m = readOllamaManifest(models, manifest, name);
    QCOMPARE(m.layers.size(), std::size_t(2));
    QCOMPARE(m.layer(kOllamaModelMediaType)->sizeBytes, std::uint64_t(1234));
    QCOMPARE(m.layer(kOllamaModelMediaType)->digest, digest);
    QVERIFY(!m.layer(kOllamaParamsMediaType));
    QCOMPARE(readOllamaManifestAt(manifest).name.display(), QStringLiteral("m:latest"));
    QCOMPARE(readOllamaManifestAt(manifest).modelsDir, models);

    auto expectError = [&](const QByteArray &json, const QString &part) {
        writeFile(manifest, json);
        try {
            readOllamaManifest(models, manifest, name);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(part), qPrintable(e.message()));
            QVERIFY2(e.message().contains(QDir::toNativeSeparators(manifest)), qPrintable(e.message()));
        }
    };
    expectError("{\"layers\": [", QStringLiteral("not valid JSON at byte"));
    expectError("[1, 2]", QStringLiteral("expected an object with a \"layers\" array"));
    expectError(
        R"({"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:xyz"}]})",
        QStringLiteral("layers[0].digest is 'sha256:xyz'"));
    // A manifest is a small JSON file; a huge one is refused before it is read.
    writeFile(manifest, QByteArray(2 << 20, ' '));
    QVERIFY_THROWS_EXCEPTION(Error, readOllamaManifest(models, manifest, name));
    QVERIFY_THROWS_EXCEPTION(Error, readOllamaManifestAt(m_dir.filePath(QStringLiteral("read/x"))));
}

void TestDiscoveryOllama::storeListingKeepsBrokenManifests()
{
    const QString models = m_dir.filePath(QStringLiteral("list/models"));
    const QString model = m_dir.filePath(QStringLiteral("list/tiny.gguf"));
    writeTinyModel(model, QStringLiteral("t"));
    addOllamaModel(models, model, {QStringLiteral("good")});
    writeFile(models + QStringLiteral("/manifests/registry.ollama.ai/library/broken/7b"), "not json");
    writeFile(models + QStringLiteral("/manifests/registry.ollama.ai/library/bad name/x"), "{}");
    // A file at the wrong depth is no manifest.
    writeFile(models + QStringLiteral("/manifests/registry.ollama.ai/stray"), "{}");
    const OllamaStoreListing l = listOllamaManifests(models);
    QCOMPARE(l.manifests.size(), std::size_t(1));
    QCOMPARE(l.manifests[0].name.display(), QStringLiteral("good:latest"));
    QCOMPARE(l.broken.size(), std::size_t(2));
    QStringList brokenNames;
    for (const auto &[n, error] : l.broken) {
        brokenNames << n.display();
        QVERIFY(!error.isEmpty());
    }
    brokenNames.sort();
    QCOMPARE(brokenNames, (QStringList{QStringLiteral("bad name:x"), QStringLiteral("broken:7b")}));
    QVERIFY(listOllamaManifests(m_dir.filePath(QStringLiteral("none"))).manifests.empty());
}

void TestDiscoveryOllama::blobFindsItsManifests()
{
    const QString models = m_dir.filePath(QStringLiteral("blob/models"));
    const QString model = m_dir.filePath(QStringLiteral("blob/tiny.gguf"));
    writeTinyModel(model, QStringLiteral("t"));
    const QString blob = addOllamaModel(models, model, {QStringLiteral("a")});
    addOllamaModel(models, model, {QStringLiteral("b"), QStringLiteral("v2")});
    std::vector<OllamaManifest> found = ollamaManifestsForBlob(blob);
    QCOMPARE(found.size(), std::size_t(2));
    QStringList names{found[0].name.display(), found[1].name.display()};
    names.sort();
    QCOMPARE(names, (QStringList{QStringLiteral("a:latest"), QStringLiteral("b:v2")}));
    QVERIFY(ollamaManifestsForBlob(model).empty());
}

void TestDiscoveryOllama::modelfileTakesOverTemplateSystemAndParameters()
{
    const QString models = m_dir.filePath(QStringLiteral("mf/models"));
    const QString model = m_dir.filePath(QStringLiteral("mf/tiny.gguf"));
    writeTinyModel(model, QStringLiteral("t"));
    OllamaFakeModel fake{QStringLiteral("chat")};
    fake.templateText = QStringLiteral("{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT:");
    fake.system = QStringLiteral("You are \"tiny\".");
    fake.paramsJson = R"({"stop":["USER:","</s>"],"temperature":0.7,"num_ctx":2048,"penalize":true})";
    addOllamaModel(models, model, fake);
    const OllamaManifest m = readOllamaManifestAt(
        models + QStringLiteral("/manifests/registry.ollama.ai/library/chat/latest"));
    const OllamaModelSettings s = readOllamaModelSettings(m);
    QVERIFY(s.warnings.isEmpty());
    QCOMPARE(*s.templateText, fake.templateText);
    QCOMPARE(*s.system, fake.system);
    const QString out = QStringLiteral("/models/out/chat-Q4_K_M.gguf");
    // JSON objects are read with sorted keys; array items give one line each.
    const QString expected =
        QStringLiteral("FROM /models/out/chat-Q4_K_M.gguf\n"
                       "TEMPLATE \"{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT:\"\n"
                       "SYSTEM You are \"tiny\".\n"
                       "PARAMETER num_ctx 2048\n"
                       "PARAMETER penalize true\n"
                       "PARAMETER stop USER:\n"
                       "PARAMETER stop </s>\n"
                       "PARAMETER temperature 0.7\n");
    QCOMPARE(makeModelfile(out, s), expected);
    QCOMPARE(makeModelfile(out, {}), QStringLiteral("FROM /models/out/chat-Q4_K_M.gguf\n"));
}

void TestDiscoveryOllama::modelfileQuoting_data()
{
    // Values as ollama's parser reads them back: bare to the line end, "..." when the value
    // spans lines or has edge spaces, """...""" when it also holds a quote.
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("line");
    QTest::newRow("bare") << "hello world" << "SYSTEM hello world\n";
    QTest::newRow("inner quotes stay bare") << "say \"hi\"" << "SYSTEM say \"hi\"\n";
    QTest::newRow("leading space") << " x" << "SYSTEM \" x\"\n";
    QTest::newRow("trailing space") << "x " << "SYSTEM \"x \"\n";
    QTest::newRow("two lines") << "a\nb" << "SYSTEM \"a\nb\"\n";
    QTest::newRow("two lines with a quote") << "a\n\"b\"" << "SYSTEM \"\"\"a\n\"b\"\"\"\"\n";
    QTest::newRow("starts with a quote") << "\"x" << "SYSTEM \"\"\"\"x\"\"\"\n";
    QTest::newRow("empty") << "" << "SYSTEM \"\"\n";
}

void TestDiscoveryOllama::modelfileQuoting()
{
    QFETCH(QString, value);
    QFETCH(QString, line);
    OllamaModelSettings s;
    s.system = value;
    QCOMPARE(makeModelfile(QStringLiteral("/m.gguf"), s), QStringLiteral("FROM /m.gguf\n") + line);
}

void TestDiscoveryOllama::modelfileRefusesWhatCannotBeWritten()
{
    OllamaModelSettings s;
    s.templateText = QStringLiteral("a\n\"\"\"b");
    try {
        makeModelfile(QStringLiteral("/m.gguf"), s);
        QFAIL("no error");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QStringLiteral("template contains \"\"\"")),
                 qPrintable(e.message()));
    }
    QVERIFY_THROWS_EXCEPTION(Error, makeModelfile(QStringLiteral("/odd\nname.gguf"), {}));
}

void TestDiscoveryOllama::unusableParametersAreLeftOutWithAWarning()
{
    const QString models = m_dir.filePath(QStringLiteral("params/models"));
    const QString model = m_dir.filePath(QStringLiteral("params/tiny.gguf"));
    writeTinyModel(model, QStringLiteral("t"));
    OllamaFakeModel fake{QStringLiteral("p")};
    fake.paramsJson = R"({"top_k":40,"bad name":1,"nested":{"a":1}})";
    addOllamaModel(models, model, fake);
    OllamaManifest m = readOllamaManifestAt(
        models + QStringLiteral("/manifests/registry.ollama.ai/library/p/latest"));
    OllamaModelSettings s = readOllamaModelSettings(m);
    QCOMPARE(s.parameters.size(), std::size_t(1));
    QCOMPARE(s.parameters[0].first, QStringLiteral("top_k"));
    QCOMPARE(s.warnings.size(), 2);

    // Params that are not JSON: all left out, said once.
    OllamaFakeModel broken{QStringLiteral("q")};
    broken.paramsJson = "{oops";
    addOllamaModel(models, model, broken);
    m = readOllamaManifestAt(models + QStringLiteral("/manifests/registry.ollama.ai/library/q/latest"));
    s = readOllamaModelSettings(m);
    QVERIFY(s.parameters.empty());
    QCOMPARE(s.warnings.size(), 1);
    // A missing template blob: a warning, not a failure.
    QFile::remove(*ollamaBlobPath(models, m.layers[0].digest));
    OllamaFakeModel withTemplate{QStringLiteral("r")};
    withTemplate.templateText = QStringLiteral("T");
    addOllamaModel(models, model, withTemplate);
    m = readOllamaManifestAt(models + QStringLiteral("/manifests/registry.ollama.ai/library/r/latest"));
    QFile::remove(*ollamaBlobPath(models, m.layer(kOllamaTemplateMediaType)->digest));
    s = readOllamaModelSettings(m);
    QVERIFY(!s.templateText);
    QCOMPARE(s.warnings.size(), 1);
}

QTEST_APPLESS_MAIN(TestDiscoveryOllama)
#include "testdiscoveryollama.moc"
