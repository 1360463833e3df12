#include "lmstudiolayout.h"

#include "modeldiscovery.h"

#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>

namespace QuantFit {

namespace {

constexpr qsizetype kMaxFolderName = 100;
const QString kRefused = QStringLiteral("/<>:\"\\|?*");

bool hasRefusedCharacter(const QString &name)
{
    for (QChar c : name) {
        if (kRefused.contains(c) || c.unicode() < 0x20)
            return true;
    }
    return false;
}

// The path of `path` below `root` split into folders, when it is below it.
QStringList partsBelow(const QString &root, const QString &path)
{
    for (const QString &r : {QFileInfo(root).canonicalFilePath(), QFileInfo(root).absoluteFilePath()}) {
        if (r.isEmpty())
            continue;
        for (const QString &p :
             {QFileInfo(path).canonicalFilePath(), QFileInfo(path).absoluteFilePath()}) {
            if (!p.isEmpty() && p.startsWith(r + QLatin1Char('/')))
                return p.mid(r.size() + 1).split(QLatin1Char('/'));
        }
    }
    return {};
}

} // namespace

QString lmStudioFolderNameProblem(const QString &what, const QString &name)
{
    if (name.isEmpty())
        return QStringLiteral("the %1 folder name is empty").arg(what);
    if (name.size() > kMaxFolderName)
        return QStringLiteral("the %1 folder name '%2' is longer than %3 characters")
            .arg(what, name)
            .arg(kMaxFolderName);
    if (name.startsWith(QLatin1Char('.')) || name.endsWith(QLatin1Char('.')))
        return QStringLiteral("the %1 folder name '%2' starts or ends with '.'").arg(what, name);
    if (name.trimmed() != name)
        return QStringLiteral("the %1 folder name '%2' has spaces at its ends").arg(what, name);
    if (hasRefusedCharacter(name))
        return QStringLiteral("the %1 folder name '%2' contains one of %3").arg(what, name, kRefused);
    return {};
}

QString lmStudioSanitizedFolderName(const QString &name)
{
    QString s;
    for (QChar c : name)
        s += (kRefused.contains(c) || c.unicode() < 0x20) ? QChar(u'-') : c;
    s = s.left(kMaxFolderName);
    while (!s.isEmpty() && (s.front() == u'.' || s.front().isSpace()))
        s.remove(0, 1);
    while (!s.isEmpty() && (s.back() == u'.' || s.back().isSpace()))
        s.chop(1);
    return s.isEmpty() ? QStringLiteral("unknown") : s;
}

QString lmStudioRepositoryFromFileName(const QString &fileName)
{
    // importCmd.ts autoNameRepo: /(?:\.Q[^.]{1,5})?\.[^.]+$/
    static const QRegularExpression suffix(QStringLiteral("(?:\\.Q[^.]{1,5})?\\.[^.]+$"));
    QString repo = fileName;
    repo.remove(suffix);
    return repo;
}

LmStudioPlacement lmStudioDefaultPlacement(const QString &filePath, const QString &sourcePath,
                                           const DiscoveryEnvironment &env)
{
    if (!sourcePath.isEmpty()) {
        for (const StoreLocation &l : lmStudioModelFolders(env)) {
            const QStringList parts = partsBelow(l.path, sourcePath);
            if (parts.size() == 3)
                return {lmStudioSanitizedFolderName(parts.at(0)),
                        lmStudioSanitizedFolderName(parts.at(1))};
        }
        // A Hugging Face cache anywhere: .../models--<org>--<name>/snapshots/<rev>/<file>.
        static const QRegularExpression hfRepo(QStringLiteral("/models--([^/]+?)--([^/]+)/snapshots/"));
        const QRegularExpressionMatch m =
            hfRepo.match(QDir::fromNativeSeparators(QFileInfo(sourcePath).absoluteFilePath()));
        if (m.hasMatch())
            return {lmStudioSanitizedFolderName(m.captured(1)),
                    lmStudioSanitizedFolderName(m.captured(2))};
    }
    QString user = env.variable(QStringLiteral("USER"));
    if (user.isEmpty())
        user = env.variable(QStringLiteral("USERNAME"));
    return {lmStudioSanitizedFolderName(user.isEmpty() ? QStringLiteral("unknown") : user),
            lmStudioSanitizedFolderName(lmStudioRepositoryFromFileName(lmStudioFileName(filePath)))};
}

QString lmStudioFileName(const QString &filePath)
{
    const QString name = QFileInfo(filePath).fileName();
    if (name.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive))
        return name;
    return modelFileStem(filePath) + QStringLiteral(".gguf");
}

QString lmStudioTargetPath(const QString &modelsFolder, const LmStudioPlacement &placement,
                           const QString &filePath)
{
    return QDir::cleanPath(modelsFolder + QLatin1Char('/') + placement.publisher + QLatin1Char('/')
                           + placement.repository + QLatin1Char('/') + lmStudioFileName(filePath));
}

} // namespace QuantFit
