#include "modeldiscovery.h"

#include "ollamastore.h"

#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "model/modelinfo.h"
#include "util/error.h"

#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QSet>
#include <QStandardPaths>
#include <QFile>

#include <algorithm>
#include <map>
#include <new>

namespace QuantFit {

bool DiscoveredModel::isFullPrecision() const
{
    return fileType == u"F32" || fileType == u"F16" || fileType == u"BF16";
}

bool isProjectorFile(const QString &fileName, const QString &architecture)
{
    return architecture == u"clip" || fileName.contains(QStringLiteral("mmproj"), Qt::CaseInsensitive);
}

QString convertedModelsFolder()
{
    QString documents = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
    if (documents.isEmpty())
        documents = QDir::homePath();
    return QDir::cleanPath(documents + QStringLiteral("/QuantFit"));
}

QString modelFileStem(const QString &path)
{
    const std::vector<OllamaManifest> manifests = ollamaManifestsForBlob(path);
    if (!manifests.empty())
        return manifests.front().name.model + QLatin1Char('-') + manifests.front().name.tag;
    QString stem = QFileInfo(path).fileName();
    if (stem.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive))
        stem.chop(5);
    return stem;
}

DiscoveryOptions defaultDiscoveryOptions()
{
    DiscoveryOptions o;
    o.stores = defaultStoreLocations(DiscoveryEnvironment::current());
    return o;
}

namespace {

// A file found before its headers are read.
struct Candidate {
    DiscoveredModel model;     ///< source, store, name, aliases, path, manifest, projectors
    QString directory;         ///< the folder holding it (projectors attach within it)
    QString group;             ///< where a full-precision sibling may be
    bool projectorByName = false;
};

bool isGgufName(const QString &name)
{
    return name.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive);
}

//
// folder walking
//

class Walker
{
public:
    Walker(const StoreLocation &store, int maxDepth, std::vector<Candidate> &out, QStringList &problems)
        : m_store(store)
        , m_maxDepth(maxDepth)
        , m_out(out)
        , m_problems(problems)
    {
    }

    void walkStore()
    {
        walk(m_store.path, 0, QString(), nullptr);
    }

private:
    // Lists `dir` and descends. `namePrefix` + the path below `nameRoot` is a model's name;
    // `taken` (HF snapshots) holds names an earlier revision already gave.
    void walk(const QString &dir, int depth, const QString &namePrefix, QSet<QString> *taken,
              const QString &nameRoot = {})
    {
        const QFileInfo info(dir);
        if (!info.isReadable() || !info.isExecutable()) {
            m_problems << QStringLiteral("%1: cannot read this folder (permission denied)")
                              .arg(QDir::toNativeSeparators(dir));
            return;
        }
        const QString canonical = info.canonicalFilePath();
        if (m_ancestors.contains(canonical)) {
            m_problems << QStringLiteral("%1: symbolic link loop (leads back to %2), not followed")
                              .arg(QDir::toNativeSeparators(dir), QDir::toNativeSeparators(canonical));
            return;
        }
        if (m_visited.contains(canonical))
            return; // reached twice through links: listed once
        m_visited.insert(canonical);
        m_ancestors.insert(canonical);
        const QString root = nameRoot.isEmpty() ? m_store.path : nameRoot;

        const QFileInfoList entries = QDir(dir).entryInfoList(
            QDir::AllEntries | QDir::NoDotAndDotDot | QDir::System | QDir::Hidden, QDir::Name);
        QSet<QString> ggufNames;
        for (const QFileInfo &e : entries) {
            if (isGgufName(e.fileName()))
                ggufNames.insert(e.fileName());
        }
        for (const QFileInfo &e : entries) {
            const QString name = e.fileName();
            if (name.startsWith(QLatin1Char('.')))
                continue; // .no_exist, .locks, .internal: the runners' bookkeeping
            if (e.isDir()) {
                if (name.startsWith(QStringLiteral("models--"))
                    && QFileInfo(e.filePath() + QStringLiteral("/snapshots")).isDir())
                    walkHfRepo(e.filePath(), name);
                else if (depth < m_maxDepth)
                    walk(e.filePath(), depth + 1, namePrefix, taken, nameRoot);
                continue;
            }
            if (!isGgufName(name))
                continue;
            // Files 2..N of a split model are reached through their first file.
            if (const auto split = SplitFileName::parse(name); split && split->number > 1
                && ggufNames.contains(QFileInfo(split->pathOf(1)).fileName()))
                continue;
            const QString relative = QDir(root).relativeFilePath(e.filePath());
            const QString modelName = namePrefix + QDir::fromNativeSeparators(relative);
            if (taken) {
                if (taken->contains(relative))
                    continue;
                taken->insert(relative);
            }
            Candidate c;
            c.model.source = m_store.source;
            c.model.storePath = m_store.path;
            c.model.name = modelName;
            c.model.path = e.filePath();
            c.directory = dir;
            c.group = dir;
            if (e.isSymLink() && !e.exists())
                c.model.error = QStringLiteral("%1: dangling symbolic link to %2 (the download is "
                                               "incomplete or the file was removed)")
                                    .arg(QDir::toNativeSeparators(e.filePath()),
                                         QDir::toNativeSeparators(e.symLinkTarget()));
            m_out.push_back(std::move(c));
        }
        m_ancestors.remove(canonical);
    }

    // models--<org>--<name>/snapshots/<revision>/...: the revision refs/main names first; a
    // file of another revision is listed only when no earlier revision has it.
    void walkHfRepo(const QString &repoDir, const QString &folderName)
    {
        const QString repoId = folderName.mid(8).replace(QStringLiteral("--"), QStringLiteral("/"));
        QString main;
        QFile ref(repoDir + QStringLiteral("/refs/main"));
        if (ref.open(QIODevice::ReadOnly))
            main = QString::fromUtf8(ref.read(256)).trimmed();
        QStringList revisions = QDir(repoDir + QStringLiteral("/snapshots"))
                                    .entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
        if (revisions.removeAll(main) > 0)
            revisions.prepend(main);
        QSet<QString> taken;
        for (const QString &rev : revisions) {
            const QString snapshot = repoDir + QStringLiteral("/snapshots/") + rev;
            walk(snapshot, 1, repoId + QLatin1Char('/'), &taken, snapshot);
        }
    }

    const StoreLocation &m_store;
    int m_maxDepth;
    std::vector<Candidate> &m_out;
    QStringList &m_problems;
    QSet<QString> m_visited;
    QSet<QString> m_ancestors;
};

//
// Ollama
//

void collectOllama(const StoreLocation &store, std::vector<Candidate> &out, QStringList &problems)
{
    OllamaStoreListing listing = listOllamaManifests(store.path);
    problems << listing.problems;
    // One entry per model blob: tags that share it become aliases.
    std::map<QString, std::size_t> byBlob;
    for (const OllamaManifest &m : listing.manifests) {
        const OllamaLayer *layer = m.layer(kOllamaModelMediaType);
        if (!layer)
            continue; // no GGUF layer (a remote or non-GGUF model): nothing to list
        const QString blob = *ollamaBlobPath(store.path, layer->digest);
        if (const auto it = byBlob.find(blob); it != byBlob.end()) {
            out[it->second].model.aliases << m.name.display();
            continue;
        }
        Candidate c;
        c.model.source = ModelSource::Ollama;
        c.model.storePath = store.path;
        c.model.name = m.name.display();
        c.model.path = blob;
        c.model.ollamaManifest = m.path;
        for (const OllamaLayer &p : m.layersOf(kOllamaProjectorMediaType))
            c.model.projectors << *ollamaBlobPath(store.path, p.digest);
        c.directory = QFileInfo(blob).absolutePath();
        c.group = m.name.host + QLatin1Char('/') + m.name.nameSpace + QLatin1Char('/') + m.name.model;
        if (!QFileInfo::exists(blob))
            c.model.error = QStringLiteral("the model layer %1 named by manifest %2 is missing")
                                .arg(QDir::toNativeSeparators(blob), QDir::toNativeSeparators(m.path));
        byBlob.emplace(blob, out.size());
        out.push_back(std::move(c));
    }
    for (const auto &[name, error] : listing.broken) {
        Candidate c;
        c.model.source = ModelSource::Ollama;
        c.model.storePath = store.path;
        c.model.name = name.display();
        c.model.path = store.path + QStringLiteral("/manifests/") + name.manifestRelativePath();
        c.model.ollamaManifest = c.model.path;
        c.model.error = error;
        out.push_back(std::move(c));
    }
}

//
// headers
//

void readHeaders(DiscoveredModel &m)
{
    try {
        // Summary mode: the vocabulary arrays, most of a header's bytes, are checked, not kept.
        const GgufFile f = GgufFile::open(m.path, GgufFile::Mode::Summary);
        const ModelInfo info = modelInfoFrom(f);
        m.files = f.filePaths();
        m.sizeBytes = f.totalFileSize();
        m.architecture = info.architecture;
        m.title = info.name;
        m.nParams = info.nParams;
        m.fileType = fileTypeName(info.fileType.value_or(info.guessedFileType));
        m.fileTypeGuessed = !info.fileType.has_value();
        m.contextLength = info.nCtxTrain;
        m.bitsPerWeight = info.bitsPerWeight();
        m.moe = info.moeSummary();
        return;
    } catch (const Error &e) {
        m.error = e.message();
    } catch (const std::bad_alloc &) {
        m.error = QStringLiteral("%1: out of memory reading the headers").arg(m.path);
    } catch (const std::exception &e) {
        m.error = QStringLiteral("%1: %2").arg(m.path, QString::fromLocal8Bit(e.what()));
    }
    m.files = QStringList{m.path};
    m.sizeBytes = std::uint64_t(std::max<qint64>(0, QFileInfo(m.path).size()));
}

} // namespace

DiscoveryResult discoverModels(const DiscoveryOptions &options, JobContext &ctx)
{
    DiscoveryResult result;
    ctx.setStage(QStringLiteral("Looking for models"));
    std::vector<StoreLocation> stores = options.stores;
    for (const QString &folder : options.folders) {
        if (!QFileInfo(folder).isDir()) {
            result.problems
                << QStringLiteral("%1: no such folder").arg(QDir::toNativeSeparators(folder));
            continue;
        }
        stores.push_back({ModelSource::Folder, QDir::cleanPath(folder), QStringLiteral("added")});
    }

    std::vector<Candidate> candidates;
    for (const StoreLocation &store : stores) {
        ctx.throwIfCancelled();
        if (!QFileInfo(store.path).isDir())
            continue;
        result.scanned.push_back(store);
        if (store.source == ModelSource::Ollama) {
            collectOllama(store, candidates, result.problems);
        } else {
            std::vector<Candidate> found;
            Walker(store, options.maxDepth, found, result.problems).walkStore();
            for (Candidate &c : found) {
                c.projectorByName = isProjectorFile(QFileInfo(c.model.path).fileName(), {});
                candidates.push_back(std::move(c));
            }
        }
    }

    ctx.setStage(QStringLiteral("Reading headers"), candidates.size());
    parallelFor(candidates.size(), options.nThreads, [&](std::uint64_t i) {
        DiscoveredModel &m = candidates[i].model;
        if (m.error.isEmpty())
            readHeaders(m);
        else
            m.files = QStringList{m.path};
        ctx.advance(1);
    }, &ctx);
    ctx.throwIfCancelled();

    // Projectors join every model of their folder; a projector alone is a problem, not a model.
    QHash<QString, QStringList> projectorsByDir;
    std::vector<Candidate> models;
    for (Candidate &c : candidates) {
        if (c.model.source != ModelSource::Ollama
            && (c.projectorByName || isProjectorFile({}, c.model.architecture)))
            projectorsByDir[c.directory] << c.model.path;
        else
            models.push_back(std::move(c));
    }
    QSet<QString> attachedDirs;
    for (Candidate &c : models) {
        if (const auto it = projectorsByDir.constFind(c.directory); it != projectorsByDir.constEnd()) {
            c.model.projectors << *it;
            attachedDirs.insert(c.directory);
        }
    }
    for (auto it = projectorsByDir.constBegin(); it != projectorsByDir.constEnd(); ++it) {
        if (!attachedDirs.contains(it.key())) {
            for (const QString &p : *it)
                result.problems << QStringLiteral("%1: a vision projector with no model in its folder")
                                       .arg(QDir::toNativeSeparators(p));
        }
    }

    // A quantized model's full-precision sibling: same place, architecture and parameter count.
    for (Candidate &c : models) {
        DiscoveredModel &m = c.model;
        if (!m.isReadable() || m.isFullPrecision())
            continue;
        for (const Candidate &other : models) {
            const DiscoveredModel &o = other.model;
            if (other.group == c.group && o.source == m.source && o.isReadable()
                && o.isFullPrecision() && o.architecture == m.architecture && o.nParams == m.nParams) {
                m.fullPrecisionSibling = o.path;
                break;
            }
        }
    }

    for (Candidate &c : models)
        result.models.push_back(std::move(c.model));
    std::stable_sort(result.models.begin(), result.models.end(),
                     [](const DiscoveredModel &a, const DiscoveredModel &b) {
                         if (a.source != b.source)
                             return a.source < b.source;
                         return a.name.compare(b.name, Qt::CaseInsensitive) < 0;
                     });
    ctx.flush();
    return result;
}

} // namespace QuantFit
