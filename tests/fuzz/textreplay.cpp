// Replays the committed text corpus through every tokenizer vocabulary of ../shared/testdata
// (see fuzztext.h). Skips (exit code 77) when that folder is absent.

#include "fuzztext.h"

#include <QDirIterator>
#include <QFile>
#include <QFileInfo>

#include <cstdio>

int main(int argc, char **argv)
{
    if (QuantFit::Fuzz::textVocabularyCount() == 0) {
        std::printf("SKIP: no tokenizer vocabularies under %s/vocab (../shared/testdata is absent)\n",
                    QUANTFIT_TESTDATA_DIR);
        return 77;
    }
    QStringList files;
    const QString root = argc > 1 ? QString::fromLocal8Bit(argv[1])
                                  : QStringLiteral(QUANTFIT_FUZZ_TEXT_CORPUS_DIR);
    if (QFileInfo(root).isFile()) {
        files << root;
    } else {
        QDirIterator it(root, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext())
            files << it.next();
    }
    files.sort();
    if (files.isEmpty()) {
        std::fprintf(stderr, "no corpus files under %s\n", qPrintable(root));
        return 1;
    }
    for (const QString &path : files) {
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly)) {
            std::fprintf(stderr, "cannot read %s\n", qPrintable(path));
            return 1;
        }
        const QByteArray bytes = f.readAll();
        QuantFit::Fuzz::runText(reinterpret_cast<const std::uint8_t *>(bytes.constData()),
                                std::size_t(bytes.size()));
        std::printf("%-40s %6lld bytes: properties hold for %d vocabularies\n",
                    qPrintable(QFileInfo(path).fileName()), static_cast<long long>(bytes.size()),
                    QuantFit::Fuzz::textVocabularyCount());
    }
    return 0;
}
