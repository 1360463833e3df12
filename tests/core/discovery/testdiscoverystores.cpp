// core/discovery: where each runner keeps its models, for a fake home and fake environment
// variables. Expected paths are the runners' documented defaults (Ollama's envconfig.Models,
// huggingface_hub's constants.py, llama.cpp's cache folder, LM Studio's home pointer and
// settings.json), written out by hand per operating system.

#include "discovery/lmstudiolayout.h"
#include "discovery/modelstores.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;

class TestDiscoveryStores : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void defaultsPerOperatingSystem_data();
    void defaultsPerOperatingSystem();
    void hfCacheFollowsHuggingfaceHubOrder_data();
    void hfCacheFollowsHuggingfaceHubOrder();
    void ollamaModelsVariableIsTrimmedLikeOllama();
    void llamaCacheVariableWins();
    void lmStudioHomePointerAndSettings();
    void lmStudioLegacyHome();
    void foldersNamedTwiceAppearOnce();
    void storeContainingResolvesLinks();
    void sourceIdsRoundTrip();
    void lmStudioFolderNameRules_data();
    void lmStudioFolderNameRules();
    void lmStudioRepositoryFromFileName_data();
    void lmStudioRepositoryFromFileName();
    void lmStudioDefaultPlacement();

private:
    DiscoveryEnvironment env(HostOs os = HostOs::Linux) const
    {
        DiscoveryEnvironment e;
        e.home = m_home->path();
        e.os = os;
        return e;
    }
    QString home(const QString &rel) const
    {
        return QDir::cleanPath(m_home->path() + QLatin1Char('/') + rel);
    }
    void write(const QString &path, const QByteArray &bytes) const
    {
        QVERIFY(QDir().mkpath(QFileInfo(path).absolutePath()));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(bytes);
    }

    std::unique_ptr<QTemporaryDir> m_home;
};

void TestDiscoveryStores::init()
{
    m_home = std::make_unique<QTemporaryDir>();
    QVERIFY(m_home->isValid());
}

void TestDiscoveryStores::defaultsPerOperatingSystem_data()
{
    QTest::addColumn<int>("os");
    QTest::addColumn<QString>("lmstudio");
    QTest::addColumn<QString>("ollama");
    QTest::addColumn<QString>("hf");
    QTest::addColumn<QString>("llamacpp");
    QTest::newRow("linux") << int(HostOs::Linux) << ".lmstudio/models" << ".ollama/models"
                           << ".cache/huggingface/hub" << ".cache/llama.cpp";
    QTest::newRow("macos") << int(HostOs::MacOs) << ".lmstudio/models" << ".ollama/models"
                           << ".cache/huggingface/hub" << "Library/Caches/llama.cpp";
    QTest::newRow("windows") << int(HostOs::Windows) << ".lmstudio/models" << ".ollama/models"
                             << ".cache/huggingface/hub" << "AppData/Local/llama.cpp";
}

void TestDiscoveryStores::defaultsPerOperatingSystem()
{
    QFETCH(int, os);
    QFETCH(QString, lmstudio);
    QFETCH(QString, ollama);
    QFETCH(QString, hf);
    QFETCH(QString, llamacpp);
    const std::vector<StoreLocation> all = defaultStoreLocations(env(HostOs(os)));
    QCOMPARE(all.size(), std::size_t(4));
    QCOMPARE(all[0].source, ModelSource::LmStudio);
    QCOMPARE(all[0].path, home(lmstudio));
    QCOMPARE(all[1].source, ModelSource::Ollama);
    QCOMPARE(all[1].path, home(ollama));
    QCOMPARE(all[2].source, ModelSource::HfCache);
    QCOMPARE(all[2].path, home(hf));
    QCOMPARE(all[3].source, ModelSource::LlamaCppCache);
    QCOMPARE(all[3].path, home(llamacpp));
    for (const StoreLocation &l : all)
        QCOMPARE(l.reason, QStringLiteral("default"));
}

void TestDiscoveryStores::hfCacheFollowsHuggingfaceHubOrder_data()
{
    QTest::addColumn<QStringList>("variables"); // name=value pairs
    QTest::addColumn<QString>("expected");
    QTest::addColumn<QString>("reason");
    QTest::newRow("HF_HUB_CACHE first")
        << QStringList{"HF_HUB_CACHE=/a/hub", "HUGGINGFACE_HUB_CACHE=/b", "HF_HOME=/c",
                       "XDG_CACHE_HOME=/d"}
        << "/a/hub"
        << "$HF_HUB_CACHE";
    QTest::newRow("legacy name second")
        << QStringList{"HUGGINGFACE_HUB_CACHE=/b", "HF_HOME=/c", "XDG_CACHE_HOME=/d"} << "/b"
        << "$HUGGINGFACE_HUB_CACHE";
    QTest::newRow("HF_HOME/hub") << QStringList{"HF_HOME=/c", "XDG_CACHE_HOME=/d"} << "/c/hub"
                                 << "$HF_HOME";
    QTest::newRow("XDG cache") << QStringList{"XDG_CACHE_HOME=/d"} << "/d/huggingface/hub"
                               << "$XDG_CACHE_HOME";
    QTest::newRow("empty is unset")
        << QStringList{"HF_HUB_CACHE=", "HF_HOME= "} << "HOME/.cache/huggingface/hub"
        << "default";
    QTest::newRow("tilde") << QStringList{"HF_HOME=~/hfhome"} << "HOME/hfhome/hub" << "$HF_HOME";
}

void TestDiscoveryStores::hfCacheFollowsHuggingfaceHubOrder()
{
    QFETCH(QStringList, variables);
    QFETCH(QString, expected);
    QFETCH(QString, reason);
    DiscoveryEnvironment e = env();
    for (const QString &v : variables)
        e.variables.insert(v.section(QLatin1Char('='), 0, 0), v.section(QLatin1Char('='), 1));
    expected.replace(QStringLiteral("HOME"), m_home->path());
    QCOMPARE(hfHubCacheFolder(e).path, expected);
    QCOMPARE(hfHubCacheFolder(e).reason, reason);
}

void TestDiscoveryStores::ollamaModelsVariableIsTrimmedLikeOllama()
{
    DiscoveryEnvironment e = env();
    e.variables.insert(QStringLiteral("OLLAMA_MODELS"), QStringLiteral(" \"/srv/ollama models\" "));
    const std::vector<StoreLocation> l = ollamaModelFolders(e);
    QCOMPARE(l.size(), std::size_t(1));
    QCOMPARE(l[0].path, QStringLiteral("/srv/ollama models"));
    QCOMPARE(l[0].reason, QStringLiteral("$OLLAMA_MODELS"));

    // A system-wide service store is added when it exists.
    DiscoveryEnvironment s = env();
    QVERIFY(QDir().mkpath(home(QStringLiteral("service/.ollama/models"))));
    s.systemOllamaFolders << home(QStringLiteral("service/.ollama/models"))
                          << home(QStringLiteral("missing/.ollama/models"));
    const std::vector<StoreLocation> both = ollamaModelFolders(s);
    QCOMPARE(both.size(), std::size_t(2));
    QCOMPARE(both[0].path, home(QStringLiteral(".ollama/models")));
    QCOMPARE(both[1].path, home(QStringLiteral("service/.ollama/models")));
}

void TestDiscoveryStores::llamaCacheVariableWins()
{
    DiscoveryEnvironment e = env();
    e.variables.insert(QStringLiteral("XDG_CACHE_HOME"), QStringLiteral("/xdg"));
    QCOMPARE(llamaCppCacheFolder(e).path, QStringLiteral("/xdg/llama.cpp"));
    e.variables.insert(QStringLiteral("LLAMA_CACHE"), QStringLiteral("/models/llama"));
    QCOMPARE(llamaCppCacheFolder(e).path, QStringLiteral("/models/llama"));
    QCOMPARE(llamaCppCacheFolder(e).reason, QStringLiteral("$LLAMA_CACHE"));
    DiscoveryEnvironment w = env(HostOs::Windows);
    w.variables.insert(QStringLiteral("LOCALAPPDATA"), QStringLiteral("C:/Users/u/AppData/Local"));
    QCOMPARE(llamaCppCacheFolder(w).path, QStringLiteral("C:/Users/u/AppData/Local/llama.cpp"));
}

void TestDiscoveryStores::lmStudioHomePointerAndSettings()
{
    // No LM Studio yet: the default home, models below it.
    QCOMPARE(lmStudioHome(env()), home(QStringLiteral(".lmstudio")));

    // The pointer file names another home (first line, spaces trimmed).
    QVERIFY(QDir().mkpath(home(QStringLiteral("elsewhere/lms"))));
    write(home(QStringLiteral(".lmstudio-home-pointer")),
          home(QStringLiteral("elsewhere/lms")).toUtf8() + "\n");
    QCOMPARE(lmStudioHome(env()), home(QStringLiteral("elsewhere/lms")));
    std::vector<StoreLocation> l = lmStudioModelFolders(env());
    QCOMPARE(l.front().path, home(QStringLiteral("elsewhere/lms/models")));

    // settings.json in the home: downloadsFolder wins.
    write(home(QStringLiteral("elsewhere/lms/settings.json")),
          R"({"theme": "dark", "downloadsFolder": "/big/disk/models"})");
    l = lmStudioModelFolders(env());
    QCOMPARE(l.front().path, QStringLiteral("/big/disk/models"));
    QVERIFY(l.front().reason.contains(QStringLiteral("downloadsFolder")));

    // A broken settings file is ignored, as LM Studio falls back to its default.
    write(home(QStringLiteral("elsewhere/lms/settings.json")), "{ not json");
    QCOMPARE(lmStudioModelFolders(env()).front().path, home(QStringLiteral("elsewhere/lms/models")));

    // The older per-user settings file (XDG config "LM Studio/settings.json").
    write(home(QStringLiteral(".config/LM Studio/settings.json")), R"({"downloadsFolder": "~/gguf"})");
    QCOMPARE(lmStudioModelFolders(env()).front().path, home(QStringLiteral("gguf")));

    // A pointer to a folder that does not exist is ignored.
    write(home(QStringLiteral(".lmstudio-home-pointer")), "/no/such/folder\n");
    QCOMPARE(lmStudioHome(env()), home(QStringLiteral(".lmstudio")));
}

void TestDiscoveryStores::lmStudioLegacyHome()
{
    QVERIFY(QDir().mkpath(home(QStringLiteral(".cache/lm-studio/models"))));
    QCOMPARE(lmStudioHome(env()), home(QStringLiteral(".cache/lm-studio")));
    QCOMPARE(lmStudioModelFolders(env()).size(), std::size_t(1));
    // With both, the current home first and the legacy folder after it.
    QVERIFY(QDir().mkpath(home(QStringLiteral(".lmstudio"))));
    const std::vector<StoreLocation> l = lmStudioModelFolders(env());
    QCOMPARE(l.size(), std::size_t(2));
    QCOMPARE(l[0].path, home(QStringLiteral(".lmstudio/models")));
    QCOMPARE(l[1].path, home(QStringLiteral(".cache/lm-studio/models")));
}

void TestDiscoveryStores::foldersNamedTwiceAppearOnce()
{
    DiscoveryEnvironment e = env();
    e.variables.insert(QStringLiteral("LLAMA_CACHE"), home(QStringLiteral(".cache/huggingface/hub")));
    const std::vector<StoreLocation> all = defaultStoreLocations(e);
    QCOMPARE(all.size(), std::size_t(3));
    QCOMPARE(all[2].source, ModelSource::HfCache);
}

void TestDiscoveryStores::storeContainingResolvesLinks()
{
    QVERIFY(QDir().mkpath(home(QStringLiteral(".ollama/models/blobs"))));
    write(home(QStringLiteral(".ollama/models/blobs/sha256-00")), "x");
    QVERIFY(QFile::link(home(QStringLiteral(".ollama/models/blobs/sha256-00")),
                        home(QStringLiteral("link.gguf"))));
    const std::vector<StoreLocation> all = defaultStoreLocations(env());
    QCOMPARE(storeContaining(home(QStringLiteral(".ollama/models/blobs/sha256-00")), all)->source,
             ModelSource::Ollama);
    // A link into a store counts as the store's file.
    QCOMPARE(storeContaining(home(QStringLiteral("link.gguf")), all)->source, ModelSource::Ollama);
    QVERIFY(!storeContaining(home(QStringLiteral("mine/model.gguf")), all));
    // A folder whose name merely starts like a store is not in it.
    QVERIFY(!storeContaining(home(QStringLiteral(".ollama/models2/x.gguf")), all));
    QCOMPARE(storeContaining(home(QStringLiteral(".lmstudio/models/a/b/new.gguf")), all)->source,
             ModelSource::LmStudio);
}

void TestDiscoveryStores::sourceIdsRoundTrip()
{
    for (ModelSource s : allModelSources())
        QCOMPARE(modelSourceFromId(modelSourceId(s)), std::optional<ModelSource>(s));
    QVERIFY(!modelSourceFromId(QStringLiteral("gpt4all")));
    QCOMPARE(modelSourceName(ModelSource::HfCache), QStringLiteral("HF cache"));
}

void TestDiscoveryStores::lmStudioFolderNameRules_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("ok");
    QTest::newRow("plain") << "lmstudio-community" << true;
    QTest::newRow("dots inside") << "Llama-3.1-8B-GGUF" << true;
    QTest::newRow("empty") << "" << false;
    QTest::newRow("leading dot") << ".hidden" << false;
    QTest::newRow("trailing dot") << "name." << false;
    QTest::newRow("leading space") << " name" << false;
    QTest::newRow("slash") << "a/b" << false;
    QTest::newRow("colon") << "a:b" << false;
    QTest::newRow("star") << "a*" << false;
    QTest::newRow("100 chars") << QString(100, QLatin1Char('x')) << true;
    QTest::newRow("101 chars") << QString(101, QLatin1Char('x')) << false;
}

void TestDiscoveryStores::lmStudioFolderNameRules()
{
    QFETCH(QString, name);
    QFETCH(bool, ok);
    QCOMPARE(lmStudioFolderNameProblem(QStringLiteral("publisher"), name).isEmpty(), ok);
    const QString clean = lmStudioSanitizedFolderName(name);
    QVERIFY2(lmStudioFolderNameProblem(QStringLiteral("publisher"), clean).isEmpty(),
             qPrintable(clean));
    if (ok)
        QCOMPARE(clean, name);
}

void TestDiscoveryStores::lmStudioRepositoryFromFileName_data()
{
    // lms import's autoNameRepo: a ".Q..." part of at most 5 more characters, then the extension.
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("repo");
    QTest::newRow("TheBloke style") << "mistral-7b-instruct.Q4_K_M.gguf" << "mistral-7b-instruct";
    QTest::newRow("dash style keeps the type") << "model-Q4_K_M.gguf" << "model-Q4_K_M";
    QTest::newRow("long quant part") << "model.Q4_K_M_XL.gguf" << "model.Q4_K_M_XL";
    QTest::newRow("no quant") << "phi.gguf" << "phi";
}

void TestDiscoveryStores::lmStudioRepositoryFromFileName()
{
    QFETCH(QString, file);
    QFETCH(QString, repo);
    QCOMPARE(QuantFit::lmStudioRepositoryFromFileName(file), repo);
}

void TestDiscoveryStores::lmStudioDefaultPlacement()
{
    DiscoveryEnvironment e = env();
    e.variables.insert(QStringLiteral("USER"), QStringLiteral("ada"));
    // Not from a store: login name and the file's repository.
    LmStudioPlacement p = QuantFit::lmStudioDefaultPlacement(QStringLiteral("/out/mymodel-Q4_K_M.gguf"),
                                                           QStringLiteral("/src/mymodel-F16.gguf"), e);
    QCOMPARE(p.publisher, QStringLiteral("ada"));
    QCOMPARE(p.repository, QStringLiteral("mymodel-Q4_K_M"));
    // From LM Studio: the source's publisher and repository.
    const QString src = home(QStringLiteral(".lmstudio/models/bartowski/Qwen-GGUF/Qwen-F16.gguf"));
    write(src, "x");
    p = QuantFit::lmStudioDefaultPlacement(QStringLiteral("/out/Qwen-Q4_K_M.gguf"), src, e);
    QCOMPARE(p.publisher, QStringLiteral("bartowski"));
    QCOMPARE(p.repository, QStringLiteral("Qwen-GGUF"));
    // From a Hugging Face cache: org and name.
    p = QuantFit::lmStudioDefaultPlacement(
        QStringLiteral("/out/x.gguf"),
        QStringLiteral("/c/hub/models--unsloth--Llama-3.2-1B-GGUF/snapshots/abc/Llama-F16.gguf"), e);
    QCOMPARE(p.publisher, QStringLiteral("unsloth"));
    QCOMPARE(p.repository, QStringLiteral("Llama-3.2-1B-GGUF"));
    // No login name at all.
    p = QuantFit::lmStudioDefaultPlacement(QStringLiteral("/out/x.gguf"), {}, env());
    QCOMPARE(p.publisher, QStringLiteral("unknown"));
    QCOMPARE(lmStudioTargetPath(QStringLiteral("/m"), {QStringLiteral("a"), QStringLiteral("b")},
                                QStringLiteral("/out/x.gguf")),
             QStringLiteral("/m/a/b/x.gguf"));
}

QTEST_APPLESS_MAIN(TestDiscoveryStores)
#include "testdiscoverystores.moc"
