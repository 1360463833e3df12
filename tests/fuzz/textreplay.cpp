// Replays the committed text corpus through every tokenizer vocabulary of ../shared/testdata
// (see fuzztext.h); a broken property aborts. Skips (exit code 77) when that folder is absent.

#include "corpusreplay.h"
#include "fuzztext.h"

#include <QFileInfo>

#include <cstdio>

int main(int argc, char **argv)
{
    if (QuantFit::Fuzz::textVocabularyCount() == 0) {
        std::printf("SKIP: no tokenizer vocabularies under %s/vocab (../shared/testdata is absent)\n",
                    QUANTFIT_TESTDATA_DIR);
        return 77;
    }
    const QString root = argc > 1 ? QString::fromLocal8Bit(argv[1])
                                  : QStringLiteral(QUANTFIT_FUZZ_TEXT_CORPUS_DIR);
    return QuantFit::Fuzz::replayCorpus({root}, [](const QString &path, const QByteArray &bytes) {
        QuantFit::Fuzz::runText(reinterpret_cast<const std::uint8_t *>(bytes.constData()),
                                std::size_t(bytes.size()));
        std::printf("%-40s %6lld bytes: properties hold for %d vocabularies\n",
                    qPrintable(QFileInfo(path).fileName()), static_cast<long long>(bytes.size()),
                    QuantFit::Fuzz::textVocabularyCount());
        return true;
    });
}
