// Replays the committed fuzz corpus (seeds and every input that once broke a reader) through
// the same entry point as the fuzzer, in every build, so a fixed bug stays fixed. Fails when
// the corpus is missing or when any reader crashes or throws something other than our Error
// (the sanitizer build turns memory errors into failures). Extra arguments replay other
// files or folders instead (e.g. a fuzzer's crash-* files).

#include "corpusreplay.h"
#include "fuzztarget.h"

#include <QFileInfo>

#include <cstdio>

int main(int argc, char **argv)
{
    QStringList roots;
    for (int i = 1; i < argc; ++i)
        roots << QString::fromLocal8Bit(argv[i]);
    if (roots.isEmpty())
        roots << QStringLiteral(QUANTFIT_FUZZ_CORPUS_DIR);
    return QuantFit::Fuzz::replayCorpus(roots, [](const QString &path, const QByteArray &bytes) {
        const int n = QuantFit::Fuzz::runOne(reinterpret_cast<const std::uint8_t *>(bytes.constData()),
                                             std::size_t(bytes.size()));
        const QString name = QFileInfo(path).fileName();
        std::printf("%-60s %6lld bytes, accepted by %d readers\n", qPrintable(name),
                    static_cast<long long>(bytes.size()), n);
        // Seeds named valid-* are well-formed files of some format: at least one reader must
        // accept them, or the corpus no longer reaches past the readers' first checks.
        if (name.startsWith(QStringLiteral("valid-")) && n == 0) {
            std::fprintf(stderr, "%s: valid seed rejected by every reader\n", qPrintable(path));
            return false;
        }
        return true;
    });
}
