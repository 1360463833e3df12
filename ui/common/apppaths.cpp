#include "common/apppaths.h"

#include <QDir>
#include <QStandardPaths>

namespace AppPaths {

static QString ensured(const QString &path)
{
    QDir().mkpath(path);
    return path;
}

QString dataDir()
{
    return ensured(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation));
}

QString resultsDir()
{
    return ensured(dataDir() + QStringLiteral("/results"));
}

QString modelsDir()
{
    return ensured(dataDir() + QStringLiteral("/models"));
}

QString demoModelPath()
{
    return modelsDir() + QStringLiteral("/quantfit-demo-F32.gguf");
}

} // namespace AppPaths
