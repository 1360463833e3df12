#include "ollamastore.h"

#include "io/regularfile.h"
#include "util/error.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocale>
#include <QRegularExpression>

namespace QuantFit {

namespace {

constexpr std::uint64_t kMaxManifestBytes = 1u << 20;
constexpr std::uint64_t kMaxTextLayerBytes = 1u << 20;

enum class NamePart {
    Host,
    Namespace,
    Model,
    Tag,
};

const char *partName(NamePart p)
{
    switch (p) {
    case NamePart::Host: return "host";
    case NamePart::Namespace: return "namespace";
    case NamePart::Model: return "model";
    case NamePart::Tag: return "tag";
    }
    return "";
}

bool isWordChar(QChar c)
{
    return (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') || (c >= u'0' && c <= u'9')
        || c == u'_';
}

// ollama's isValidPart (types/model/name.go).
QString partProblem(NamePart kind, const QString &s)
{
    const int maxLength = kind == NamePart::Host ? 350 : 80;
    if (s.isEmpty())
        return QStringLiteral("the %1 is empty").arg(QLatin1String(partName(kind)));
    if (s.size() > maxLength)
        return QStringLiteral("the %1 is longer than %2 characters")
            .arg(QLatin1String(partName(kind)))
            .arg(maxLength);
    for (qsizetype i = 0; i < s.size(); ++i) {
        const QChar c = s.at(i);
        bool ok = isWordChar(c);
        if (i > 0 && !ok) {
            ok = c == u'-' || (c == u'.' && kind != NamePart::Namespace)
              || (c == u':' && kind == NamePart::Host);
        }
        if (!ok)
            return QStringLiteral("the %1 '%2' may not contain '%3' there (letters, digits, '_', "
                                  "'-'%4 only, starting with a letter, digit or '_')")
                .arg(QLatin1String(partName(kind)), s, QString(c),
                     kind == NamePart::Namespace ? QString() : QStringLiteral(", '.'"));
    }
    return {};
}

QString readTextLayer(const QString &blob, const QString &what)
{
    return QString::fromUtf8(readRegularFile(blob, kMaxTextLayerBytes, what));
}

// A JSON scalar as the value of a PARAMETER line.
std::optional<QString> parameterText(const QJsonValue &v)
{
    if (v.isString())
        return v.toString();
    if (v.isBool())
        return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    if (v.isDouble()) {
        const double d = v.toDouble();
        if (d == double(qint64(d)) && std::abs(d) < 9.0e15)
            return QString::number(qint64(d));
        return QString::number(d, 'g', QLocale::FloatingPointShortest);
    }
    return std::nullopt;
}

// A value as ollama's Modelfile parser reads it back (parser/parser.go, quote/unquote): bare
// when it is one line without edge spaces and does not start with a quote, else "..." or,
// when it holds a quote, """...""".
QString quoted(const QString &value, const QString &what)
{
    const bool plain = !value.isEmpty() && !value.contains(QLatin1Char('\n'))
                    && !value.contains(QLatin1Char('\r')) && !value.startsWith(QLatin1Char(' '))
                    && !value.endsWith(QLatin1Char(' ')) && !value.startsWith(QLatin1Char('"'));
    if (plain)
        return value;
    if (!value.contains(QLatin1Char('"')))
        return QLatin1Char('"') + value + QLatin1Char('"');
    if (value.contains(QStringLiteral("\"\"\"")))
        throw Error(QStringLiteral("the %1 contains \"\"\", which a Modelfile cannot hold (ollama "
                                   "reads it as the end of the value)").arg(what));
    return QStringLiteral("\"\"\"") + value + QStringLiteral("\"\"\"");
}

} // namespace

std::optional<OllamaName> OllamaName::parse(const QString &text, QString *why)
{
    auto fail = [&](const QString &problem) -> std::optional<OllamaName> {
        if (why)
            *why = QStringLiteral("'%1' is not an Ollama model name: %2").arg(text, problem);
        return std::nullopt;
    };
    QString s = text.trimmed();
    for (const char *scheme : {"https://", "http://"}) {
        if (s.startsWith(QLatin1String(scheme)))
            s = s.mid(qsizetype(qstrlen(scheme)));
    }
    OllamaName n;
    const qsizetype colon = s.lastIndexOf(QLatin1Char(':'));
    if (colon >= 0 && colon > s.lastIndexOf(QLatin1Char('/'))) {
        n.tag = s.mid(colon + 1);
        s = s.left(colon);
        if (n.tag.isEmpty())
            return fail(QStringLiteral("the tag after ':' is empty"));
    }
    const QStringList parts = s.split(QLatin1Char('/'));
    // Model and namespace are cut from the right; whatever is left is the host (with a slash
    // in it, ollama refuses it as a character).
    if (parts.size() >= 3)
        n.host = parts.mid(0, parts.size() - 2).join(QLatin1Char('/'));
    if (parts.size() >= 2)
        n.nameSpace = parts.at(parts.size() - 2);
    n.model = parts.back();
    const std::pair<NamePart, QString> checks[] = {{NamePart::Host, n.host},
                                                   {NamePart::Namespace, n.nameSpace},
                                                   {NamePart::Model, n.model},
                                                   {NamePart::Tag, n.tag}};
    for (const auto &[kind, value] : checks) {
        const QString problem = partProblem(kind, value);
        if (!problem.isEmpty())
            return fail(problem);
    }
    return n;
}

QString ollamaNameFromFileName(const QString &fileName)
{
    QString stem = fileName;
    if (stem.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive))
        stem.chop(5);
    QString name;
    for (QChar c : stem.toLower())
        name += (isWordChar(c) || c == u'-' || c == u'.') ? c : QChar(u'-');
    while (!name.isEmpty() && !isWordChar(name.front()))
        name.remove(0, 1);
    name = name.left(80);
    return name.isEmpty() ? QStringLiteral("model") : name;
}

QString OllamaName::display() const
{
    QString out;
    if (host.compare(QLatin1String("registry.ollama.ai"), Qt::CaseInsensitive) != 0)
        out = host + QLatin1Char('/') + nameSpace + QLatin1Char('/');
    else if (nameSpace.compare(QLatin1String("library"), Qt::CaseInsensitive) != 0)
        out = nameSpace + QLatin1Char('/');
    return out + model + QLatin1Char(':') + tag;
}

QString OllamaName::manifestRelativePath() const
{
    return host + QLatin1Char('/') + nameSpace + QLatin1Char('/') + model + QLatin1Char('/') + tag;
}

const OllamaLayer *OllamaManifest::layer(const char *mediaType) const
{
    for (const OllamaLayer &l : layers) {
        if (l.mediaType == QLatin1String(mediaType))
            return &l;
    }
    return nullptr;
}

std::vector<OllamaLayer> OllamaManifest::layersOf(const char *mediaType) const
{
    std::vector<OllamaLayer> out;
    for (const OllamaLayer &l : layers) {
        if (l.mediaType == QLatin1String(mediaType))
            out.push_back(l);
    }
    return out;
}

std::optional<QString> ollamaBlobPath(const QString &modelsDir, const QString &digest)
{
    static const QRegularExpression pattern(QStringLiteral("^sha256[:-]([0-9a-fA-F]{64})$"));
    const QRegularExpressionMatch m = pattern.match(digest);
    if (!m.hasMatch())
        return std::nullopt;
    return QDir::cleanPath(modelsDir + QStringLiteral("/blobs/sha256-") + m.captured(1));
}

OllamaManifest readOllamaManifest(const QString &modelsDir, const QString &manifestPath,
                                  const OllamaName &name)
{
    const QByteArray bytes = readRegularFile(manifestPath, kMaxManifestBytes,
                                             QStringLiteral("an Ollama manifest"));
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(bytes, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        throw Error(QStringLiteral("Ollama manifest %1: not valid JSON at byte %2 (%3)")
                        .arg(QDir::toNativeSeparators(manifestPath))
                        .arg(parseError.offset)
                        .arg(parseError.errorString()));
    if (!doc.isObject() || !doc.object().value(QStringLiteral("layers")).isArray())
        throw Error(QStringLiteral("Ollama manifest %1: expected an object with a \"layers\" array")
                        .arg(QDir::toNativeSeparators(manifestPath)));
    OllamaManifest m;
    m.name = name;
    m.path = manifestPath;
    m.modelsDir = modelsDir;
    const QJsonArray layers = doc.object().value(QStringLiteral("layers")).toArray();
    for (qsizetype i = 0; i < layers.size(); ++i) {
        const QJsonObject o = layers.at(i).toObject();
        OllamaLayer l;
        l.mediaType = o.value(QStringLiteral("mediaType")).toString();
        l.digest = o.value(QStringLiteral("digest")).toString();
        l.sizeBytes = std::uint64_t(std::max(0.0, o.value(QStringLiteral("size")).toDouble()));
        if (!ollamaBlobPath(modelsDir, l.digest))
            throw Error(QStringLiteral("Ollama manifest %1: layers[%2].digest is '%3', expected "
                                       "\"sha256:\" and 64 hex digits")
                            .arg(QDir::toNativeSeparators(manifestPath))
                            .arg(i)
                            .arg(l.digest.left(80)));
        m.layers.push_back(l);
    }
    return m;
}

OllamaManifest readOllamaManifestAt(const QString &manifestPath)
{
    const QStringList parts = QDir::fromNativeSeparators(QFileInfo(manifestPath).absoluteFilePath())
                                  .split(QLatin1Char('/'));
    if (parts.size() < 6 || parts.at(parts.size() - 5) != u"manifests")
        throw Error(QStringLiteral("%1 is not an Ollama manifest (expected "
                                   "<models>/manifests/<host>/<namespace>/<model>/<tag>)")
                        .arg(QDir::toNativeSeparators(manifestPath)));
    const OllamaName fromPath{parts.at(parts.size() - 4), parts.at(parts.size() - 3),
                              parts.at(parts.size() - 2), parts.back()};
    QString why;
    const auto name = OllamaName::parse(fromPath.display(), &why);
    if (!name)
        throw Error(QStringLiteral("Ollama manifest %1: %2")
                        .arg(QDir::toNativeSeparators(manifestPath), why));
    return readOllamaManifest(parts.mid(0, parts.size() - 5).join(QLatin1Char('/')), manifestPath,
                              *name);
}

OllamaStoreListing listOllamaManifests(const QString &modelsDir)
{
    OllamaStoreListing listing;
    const QDir root(modelsDir + QStringLiteral("/manifests"));
    if (!root.exists())
        return listing;
    const auto dirs = QDir::Dirs | QDir::NoDotAndDotDot;
    // manifests/<host>/<namespace>/<model>/<tag>: exactly four levels, so no recursion (and
    // no symbolic-link loop) is possible.
    auto list = [&](const QString &path, QDir::Filters filters) {
        const QFileInfo info(path);
        if (!info.isReadable() || !info.isExecutable()) {
            listing.problems << QStringLiteral("%1: cannot read this folder (permission denied)")
                                    .arg(QDir::toNativeSeparators(path));
            return QStringList();
        }
        return QDir(path).entryList(filters, QDir::Name);
    };
    for (const QString &host : list(root.path(), dirs)) {
        const QString hostPath = root.filePath(host);
        for (const QString &ns : list(hostPath, dirs)) {
            const QString nsPath = hostPath + QLatin1Char('/') + ns;
            for (const QString &model : list(nsPath, dirs)) {
                const QString modelPath = nsPath + QLatin1Char('/') + model;
                for (const QString &tag : list(modelPath, QDir::Files | QDir::System)) {
                    const QString path = modelPath + QLatin1Char('/') + tag;
                    const OllamaName fromPath{host, ns, model, tag};
                    QString why;
                    const auto name = OllamaName::parse(fromPath.display(), &why);
                    try {
                        if (!name)
                            throw Error(QStringLiteral("Ollama manifest %1: %2")
                                            .arg(QDir::toNativeSeparators(path), why));
                        listing.manifests.push_back(readOllamaManifest(modelsDir, path, *name));
                    } catch (const Error &e) {
                        listing.broken.emplace_back(fromPath, e.message());
                    }
                }
            }
        }
    }
    return listing;
}

std::vector<OllamaManifest> ollamaManifestsForBlob(const QString &ggufPath)
{
    static const QRegularExpression blobName(QStringLiteral("^sha256-([0-9a-fA-F]{64})$"));
    const QFileInfo info(ggufPath);
    const QRegularExpressionMatch m = blobName.match(info.fileName());
    if (!m.hasMatch() || info.dir().dirName() != u"blobs")
        return {};
    QDir blobs = info.absoluteDir();
    blobs.cdUp();
    const QString modelsDir = blobs.absolutePath();
    const QString digest = QStringLiteral("sha256:") + m.captured(1).toLower();
    std::vector<OllamaManifest> out;
    for (OllamaManifest &manifest : listOllamaManifests(modelsDir).manifests) {
        const OllamaLayer *model = manifest.layer(kOllamaModelMediaType);
        if (model && model->digest.toLower().replace(QLatin1Char('-'), QLatin1Char(':')) == digest)
            out.push_back(std::move(manifest));
    }
    return out;
}

OllamaModelSettings readOllamaModelSettings(const OllamaManifest &manifest)
{
    OllamaModelSettings s;
    auto text = [&](const char *mediaType, const QString &what) -> std::optional<QString> {
        const OllamaLayer *l = manifest.layer(mediaType);
        if (!l)
            return std::nullopt;
        try {
            return readTextLayer(*ollamaBlobPath(manifest.modelsDir, l->digest), what);
        } catch (const Error &e) {
            s.warnings << QStringLiteral("%1 of %2 left out: %3")
                              .arg(what, manifest.name.display(), e.message());
            return std::nullopt;
        }
    };
    s.templateText = text(kOllamaTemplateMediaType, QStringLiteral("the template"));
    s.system = text(kOllamaSystemMediaType, QStringLiteral("the system prompt"));
    const std::optional<QString> params =
        text(kOllamaParamsMediaType, QStringLiteral("the parameters"));
    if (!params)
        return s;
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(params->toUtf8(), &parseError);
    if (!doc.isObject()) {
        s.warnings << QStringLiteral("the parameters of %1 left out: not a JSON object (%2)")
                          .arg(manifest.name.display(), parseError.errorString());
        return s;
    }
    static const QRegularExpression validName(QStringLiteral("^[A-Za-z0-9_]+$"));
    const QJsonObject o = doc.object();
    for (auto it = o.begin(); it != o.end(); ++it) {
        if (!validName.match(it.key()).hasMatch()) {
            s.warnings << QStringLiteral("parameter '%1' of %2 left out: not a parameter name")
                              .arg(it.key(), manifest.name.display());
            continue;
        }
        const QJsonArray items = it.value().isArray() ? it.value().toArray()
                                                      : QJsonArray{it.value()};
        for (const QJsonValue &item : items) {
            if (const auto v = parameterText(item))
                s.parameters.emplace_back(it.key(), *v);
            else
                s.warnings << QStringLiteral("a value of parameter '%1' of %2 left out: not a "
                                             "string, number or boolean")
                                  .arg(it.key(), manifest.name.display());
        }
    }
    return s;
}

QString makeModelfile(const QString &ggufPath, const OllamaModelSettings &settings)
{
    const QString path = QDir::toNativeSeparators(QFileInfo(ggufPath).absoluteFilePath());
    if (path.contains(QLatin1Char('\n')) || path.contains(QLatin1Char('\r'))
        || path != path.trimmed())
        throw Error(QStringLiteral("'%1' cannot be named in a Modelfile: the path has a line break "
                                   "or spaces at its ends").arg(path));
    QString text = QStringLiteral("FROM %1\n").arg(path);
    if (settings.templateText)
        text += QStringLiteral("TEMPLATE %1\n").arg(quoted(*settings.templateText,
                                                            QStringLiteral("template")));
    if (settings.system)
        text += QStringLiteral("SYSTEM %1\n").arg(quoted(*settings.system,
                                                          QStringLiteral("system prompt")));
    for (const auto &[name, value] : settings.parameters)
        text += QStringLiteral("PARAMETER %1 %2\n")
                    .arg(name, quoted(value, QStringLiteral("parameter %1").arg(name)));
    return text;
}

} // namespace QuantFit
