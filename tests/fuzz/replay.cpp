// Replays the committed fuzz corpus (seeds and every input that once broke a reader) through
// the same entry point as the fuzzer, in every build, so a fixed bug stays fixed. Fails when
// the corpus is missing or when any reader crashes or throws something other than our Error
// (the sanitizer build turns memory errors into failures). Extra arguments replay other
// files or folders instead (e.g. a fuzzer's crash-* files).

#include "fuzztarget.h"

#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QStringList>

#include <cstdio>

int main(int argc, char **argv)
{
    QStringList roots;
    for (int i = 1; i < argc; ++i)
        roots << QString::fromLocal8Bit(argv[i]);
    if (roots.isEmpty())
        roots << QStringLiteral(QUANTFIT_FUZZ_CORPUS_DIR);

    QStringList files;
    for (const QString &root : roots) {
        const QFileInfo info(root);
        if (info.isFile()) {
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
    int accepted = 0;
    for (const QString &path : files) {
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly)) {
            std::fprintf(stderr, "cannot read %s\n", qPrintable(path));
            return 1;
        }
        const QByteArray bytes = f.readAll();
        const int n = QuantFit::Fuzz::runOne(reinterpret_cast<const std::uint8_t *>(bytes.constData()),
                                             std::size_t(bytes.size()));
        std::printf("%-60s %6lld bytes, accepted by %d readers\n",
                    qPrintable(QFileInfo(path).fileName()), static_cast<long long>(bytes.size()), n);
        accepted += n;
        // Seeds named valid-* are well-formed files of some format: at least one reader must
        // accept them, or the corpus no longer reaches past the readers' first checks.
        if (QFileInfo(path).fileName().startsWith(QStringLiteral("valid-")) && n == 0) {
            std::fprintf(stderr, "%s: valid seed rejected by every reader\n", qPrintable(path));
            return 1;
        }
    }
    std::printf("replayed %lld corpus files (%d acceptances)\n", static_cast<long long>(files.size()),
                accepted);
    return 0;
}
