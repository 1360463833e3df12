#include "corpusreplay.h"

#include <QDirIterator>
#include <QFile>
#include <QFileInfo>

#include <cstdio>

namespace QuantFit::Fuzz {

int replayCorpus(const QStringList &roots,
                 const std::function<bool(const QString &path, const QByteArray &bytes)> &check)
{
    QStringList files;
    for (const QString &root : roots) {
        if (QFileInfo(root).isFile()) {
            files << root;
            continue;
        }
        QDirIterator it(root, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext())
            files << it.next();
    }
    files.sort();
    if (files.isEmpty()) {
        std::fprintf(stderr, "no corpus files under %s\n", qPrintable(roots.join(u' ')));
        return 1;
    }
    for (const QString &path : files) {
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly)) {
            std::fprintf(stderr, "cannot read %s\n", qPrintable(path));
            return 1;
        }
        if (!check(path, f.readAll()))
            return 1;
    }
    std::printf("replayed %lld corpus files\n", static_cast<long long>(files.size()));
    return 0;
}

} // namespace QuantFit::Fuzz
