#include "modelstores.h"

#include "io/regularfile.h"
#include "util/error.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcessEnvironment>

namespace QuantFit {

QString modelSourceName(ModelSource source)
{
    switch (source) {
    case ModelSource::LmStudio: return QStringLiteral("LM Studio");
    case ModelSource::Ollama: return QStringLiteral("Ollama");
    case ModelSource::HfCache: return QStringLiteral("HF cache");
    case ModelSource::LlamaCppCache: return QStringLiteral("llama.cpp cache");
    case ModelSource::Folder: return QStringLiteral("folder");
    }
    return {};
}

QString modelSourceId(ModelSource source)
{
    switch (source) {
    case ModelSource::LmStudio: return QStringLiteral("lmstudio");
    case ModelSource::Ollama: return QStringLiteral("ollama");
    case ModelSource::HfCache: return QStringLiteral("hf");
    case ModelSource::LlamaCppCache: return QStringLiteral("llamacpp");
    case ModelSource::Folder: return QStringLiteral("folder");
    }
    return {};
}

std::vector<ModelSource> allModelSources()
{
    return {ModelSource::LmStudio, ModelSource::Ollama, ModelSource::HfCache,
            ModelSource::LlamaCppCache, ModelSource::Folder};
}

std::optional<ModelSource> modelSourceFromId(const QString &id)
{
    for (ModelSource s : allModelSources()) {
        if (modelSourceId(s).compare(id, Qt::CaseInsensitive) == 0)
            return s;
    }
    return std::nullopt;
}

DiscoveryEnvironment DiscoveryEnvironment::current()
{
    DiscoveryEnvironment env;
    env.home = QDir::homePath();
#if defined(Q_OS_WIN)
    env.os = HostOs::Windows;
#elif defined(Q_OS_MACOS)
    env.os = HostOs::MacOs;
#else
    env.os = HostOs::Linux;
    // The Linux installer runs Ollama as a service user whose home is /usr/share/ollama.
    env.systemOllamaFolders << QStringLiteral("/usr/share/ollama/.ollama/models");
#endif
    const QProcessEnvironment process = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"OLLAMA_MODELS", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME",
                             "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "LLAMA_CACHE", "LOCALAPPDATA",
                             "APPDATA", "USER", "USERNAME"}) {
        const QString n = QLatin1String(name);
        if (process.contains(n))
            env.variables.insert(n, process.value(n));
    }
    return env;
}

QString DiscoveryEnvironment::variable(const QString &name) const
{
    return variables.value(name).trimmed();
}

namespace {

QString join(const QString &base, const QString &relative)
{
    return QDir::cleanPath(base + QLatin1Char('/') + relative);
}

// "~/x" and "~" as the shells and huggingface_hub expand them; other paths unchanged.
QString expandHome(const DiscoveryEnvironment &env, const QString &path)
{
    if (path == u"~")
        return env.home;
    if (path.startsWith(QStringLiteral("~/")) || path.startsWith(QStringLiteral("~\\")))
        return join(env.home, path.mid(2));
    return QDir::cleanPath(path);
}

// Ollama trims spaces and quotes from its variables (envconfig.Var).
QString ollamaVariable(const DiscoveryEnvironment &env, const QString &name)
{
    QString v = env.variable(name);
    while (!v.isEmpty() && (v.front() == u'"' || v.front() == u'\''))
        v.remove(0, 1);
    while (!v.isEmpty() && (v.back() == u'"' || v.back() == u'\''))
        v.chop(1);
    return v.trimmed();
}

// The per-user application settings folder (LM Studio's settings.json before 0.3 lived in
// "<it>/LM Studio").
QString appDataFolder(const DiscoveryEnvironment &env)
{
    switch (env.os) {
    case HostOs::Windows: {
        const QString appData = env.variable(QStringLiteral("APPDATA"));
        return appData.isEmpty() ? join(env.home, QStringLiteral("AppData/Roaming")) : appData;
    }
    case HostOs::MacOs:
        return join(env.home, QStringLiteral("Library/Application Support"));
    case HostOs::Linux: {
        const QString config = env.variable(QStringLiteral("XDG_CONFIG_HOME"));
        return config.isEmpty() ? join(env.home, QStringLiteral(".config")) : config;
    }
    }
    return {};
}

// `downloadsFolder` of an LM Studio settings.json; empty when the file is absent, unreadable,
// not JSON or has no such string (LM Studio itself then uses its default).
QString downloadsFolderIn(const QString &settingsPath)
{
    if (!QFileInfo(settingsPath).isFile())
        return {};
    try {
        // A settings file is a few KB; anything larger is not one.
        const QByteArray bytes = readRegularFile(settingsPath, 4u << 20, QStringLiteral("settings"));
        const QJsonDocument doc = QJsonDocument::fromJson(bytes);
        return doc.object().value(QStringLiteral("downloadsFolder")).toString().trimmed();
    } catch (const Error &) {
        return {};
    }
}

} // namespace

QString lmStudioHome(const DiscoveryEnvironment &env)
{
    const QString pointer = join(env.home, QStringLiteral(".lmstudio-home-pointer"));
    if (QFileInfo(pointer).isFile()) {
        try {
            const QByteArray bytes = readRegularFile(pointer, 64 * 1024, QStringLiteral("pointer"));
            const QString first = QString::fromUtf8(bytes).section(QLatin1Char('\n'), 0, 0).trimmed();
            if (!first.isEmpty() && QFileInfo(first).isDir())
                return QDir::cleanPath(first);
        } catch (const Error &) {
            // An unreadable pointer is ignored, as LM Studio falls back to its defaults.
        }
    }
    const QString current = join(env.home, QStringLiteral(".lmstudio"));
    const QString legacy = join(env.home, QStringLiteral(".cache/lm-studio"));
    if (!QFileInfo(current).isDir() && QFileInfo(legacy).isDir())
        return legacy;
    return current;
}

std::vector<StoreLocation> lmStudioModelFolders(const DiscoveryEnvironment &env)
{
    const QString home = lmStudioHome(env);
    std::vector<StoreLocation> out;
    // The home's settings.json (0.3 and later) first, then the older per-user settings file.
    const QString settingsFiles[] = {
        join(home, QStringLiteral("settings.json")),
        join(appDataFolder(env), QStringLiteral("LM Studio/settings.json"))};
    for (const QString &settings : settingsFiles) {
        QString folder = downloadsFolderIn(settings);
        if (folder.isEmpty())
            continue;
        folder = expandHome(env, folder);
        if (QDir::isRelativePath(folder))
            folder = join(home, folder);
        out.push_back({ModelSource::LmStudio, folder,
                       QStringLiteral("%1 (downloadsFolder)").arg(QDir::toNativeSeparators(settings))});
        break;
    }
    if (out.empty())
        out.push_back({ModelSource::LmStudio, join(home, QStringLiteral("models")),
                       QStringLiteral("default")});
    const QString legacy = join(env.home, QStringLiteral(".cache/lm-studio/models"));
    if (legacy != out.front().path && QFileInfo(legacy).isDir())
        out.push_back({ModelSource::LmStudio, legacy, QStringLiteral("legacy default")});
    return out;
}

std::vector<StoreLocation> ollamaModelFolders(const DiscoveryEnvironment &env)
{
    std::vector<StoreLocation> out;
    const QString configured = ollamaVariable(env, QStringLiteral("OLLAMA_MODELS"));
    if (!configured.isEmpty())
        out.push_back({ModelSource::Ollama, expandHome(env, configured),
                       QStringLiteral("$OLLAMA_MODELS")});
    else
        out.push_back({ModelSource::Ollama, join(env.home, QStringLiteral(".ollama/models")),
                       QStringLiteral("default")});
    for (const QString &system : env.systemOllamaFolders) {
        if (QFileInfo(system).isDir())
            out.push_back({ModelSource::Ollama, QDir::cleanPath(system),
                           QStringLiteral("system service")});
    }
    return out;
}

StoreLocation hfHubCacheFolder(const DiscoveryEnvironment &env)
{
    struct Candidate {
        const char *variable;
        const char *suffix;
    };
    // huggingface_hub's order (constants.py): the hub cache, its legacy name, then HF_HOME,
    // then the XDG cache folder.
    for (const Candidate &c : {Candidate{"HF_HUB_CACHE", ""}, Candidate{"HUGGINGFACE_HUB_CACHE", ""},
                               Candidate{"HF_HOME", "hub"},
                               Candidate{"XDG_CACHE_HOME", "huggingface/hub"}}) {
        const QString value = env.variable(QLatin1String(c.variable));
        if (value.isEmpty())
            continue;
        const QString base = expandHome(env, value);
        return {ModelSource::HfCache, *c.suffix ? join(base, QLatin1String(c.suffix)) : base,
                QStringLiteral("$%1").arg(QLatin1String(c.variable))};
    }
    return {ModelSource::HfCache, join(env.home, QStringLiteral(".cache/huggingface/hub")),
            QStringLiteral("default")};
}

StoreLocation llamaCppCacheFolder(const DiscoveryEnvironment &env)
{
    const QString configured = env.variable(QStringLiteral("LLAMA_CACHE"));
    if (!configured.isEmpty())
        return {ModelSource::LlamaCppCache, expandHome(env, configured),
                QStringLiteral("$LLAMA_CACHE")};
    QString base;
    switch (env.os) {
    case HostOs::Linux: {
        const QString xdg = env.variable(QStringLiteral("XDG_CACHE_HOME"));
        base = xdg.isEmpty() ? join(env.home, QStringLiteral(".cache")) : xdg;
        break;
    }
    case HostOs::MacOs:
        base = join(env.home, QStringLiteral("Library/Caches"));
        break;
    case HostOs::Windows: {
        const QString local = env.variable(QStringLiteral("LOCALAPPDATA"));
        base = local.isEmpty() ? join(env.home, QStringLiteral("AppData/Local")) : local;
        break;
    }
    }
    return {ModelSource::LlamaCppCache, join(base, QStringLiteral("llama.cpp")),
            QStringLiteral("default")};
}

std::vector<StoreLocation> defaultStoreLocations(const DiscoveryEnvironment &env)
{
    std::vector<StoreLocation> all = lmStudioModelFolders(env);
    for (const StoreLocation &l : ollamaModelFolders(env))
        all.push_back(l);
    all.push_back(hfHubCacheFolder(env));
    all.push_back(llamaCppCacheFolder(env));
    std::vector<StoreLocation> unique;
    QStringList seen;
    for (const StoreLocation &l : all) {
        const QFileInfo info(l.path);
        const QString key = info.exists() ? info.canonicalFilePath() : info.absoluteFilePath();
        if (seen.contains(key))
            continue;
        seen << key;
        unique.push_back(l);
    }
    return unique;
}

std::optional<StoreLocation> storeContaining(const QString &path,
                                             const std::vector<StoreLocation> &locations)
{
    const QFileInfo info(path);
    // A file that does not exist yet (an output) is judged by its folder.
    const QString resolved = info.exists() ? info.canonicalFilePath()
                                           : QFileInfo(info.absolutePath()).canonicalFilePath()
                                                 + QLatin1Char('/') + info.fileName();
    const QString plain = info.absoluteFilePath();
    for (const StoreLocation &l : locations) {
        const QFileInfo store(l.path);
        for (const QString &root : {store.canonicalFilePath(), store.absoluteFilePath()}) {
            if (root.isEmpty())
                continue;
            const QString prefix = root.endsWith(QLatin1Char('/')) ? root : root + QLatin1Char('/');
            if (resolved.startsWith(prefix) || plain.startsWith(prefix))
                return l;
        }
    }
    return std::nullopt;
}

} // namespace QuantFit
