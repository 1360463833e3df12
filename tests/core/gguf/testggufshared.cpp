// Every .gguf file in ../shared/testdata (a real tiny model, llama.cpp tokenizer vocabularies,
// llama.cpp-quantized files) opens, and what can be derived independently agrees: the tensor and
// key counts from a second minimal parse written here, and the data section against the file size.

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "model/modelinfo.h"

#include <QDirIterator>
#include <QFile>
#include <QTest>

#include <array>
#include <cstring>

using namespace QuantFit;

class TestGgufShared : public QObject
{
    Q_OBJECT

private slots:
    void everySharedFile()
    {
        const QString root = Test::sharedTestData();
        if (root.isEmpty())
            QSKIP("../shared/testdata not found: skipping real-file checks");
        QDirIterator it(root, {QStringLiteral("*.gguf")}, QDir::Files, QDirIterator::Subdirectories);
        int n = 0;
        while (it.hasNext()) {
            const QString path = it.next();
            ++n;
            QFile raw(path);
            QVERIFY(raw.open(QIODevice::ReadOnly));
            // magic, version, tensor count, key/value count: the first 24 bytes
            // (docs/formats.md, "Layout")
            std::array<char, 24> head{};
            QCOMPARE(raw.read(head.data(), qint64(head.size())), qint64(head.size()));
            QCOMPARE(QByteArray(head.data(), 4), QByteArray("GGUF"));
            std::uint64_t nTensors = 0, nKv = 0;
            std::memcpy(&nTensors, head.data() + 8, 8);
            std::memcpy(&nKv, head.data() + 16, 8);

            const GgufFile f = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
            QCOMPARE(std::uint64_t(f.tensors().size()), nTensors);
            QCOMPARE(std::uint64_t(f.metadata().size()), nKv);
            // The data section ends within the file, and (as llama.cpp writes it) the file ends
            // with the last tensor padded to the alignment.
            std::uint64_t end = f.dataOffset();
            for (const auto &t : f.tensors())
                end = f.dataOffset() + t.offset + (t.nBytes + f.alignment() - 1) / f.alignment() * f.alignment();
            if (nTensors)
                QCOMPARE(end, f.fileSize());
            // An imatrix in GGUF form (general.type = imatrix) holds statistics, not a model.
            if (f.metadata().stringOr("general.type") == QLatin1String("imatrix"))
                continue;
            const ModelInfo m = modelInfoFrom(f);
            QVERIFY2(!m.tokenizerModel.isEmpty(), qPrintable(path));
        }
        QVERIFY2(n >= 10, "expected the shared model, vocabularies and quantized files");
    }

    void stories260K()
    {
        const QString root = Test::sharedTestData();
        if (root.isEmpty())
            QSKIP("../shared/testdata not found");
        // Facts recorded with the shared test data (read from the header by the data's curator).
        const GgufFile f = GgufFile::open(root + QStringLiteral("/models/stories260K.gguf"));
        QCOMPARE(f.version(), 3u);
        QCOMPARE(f.alignment(), 32u);
        QCOMPARE(f.metadata().size(), std::size_t(19));
        QCOMPARE(f.tensors().size(), std::size_t(48));
        const ModelInfo m = modelInfoFrom(f);
        QCOMPARE(m.architecture, QStringLiteral("llama"));
        QCOMPARE(m.nLayers, 5u);
        QCOMPARE(m.nEmbd, 64u);
        QCOMPARE(m.nFf, 172u);
        QCOMPARE(m.nHeads, 8u);
        QCOMPARE(m.nHeadsKv, 4u);
        QCOMPARE(m.nCtxTrain, 2048u);
        QCOMPARE(m.nVocab, 512u);
        QVERIFY(!m.tiedEmbeddings);
        QVERIFY(!m.fileType.has_value());
        QCOMPARE(m.guessedFileType, FileType::F32);
        // All F32: bits per weight exactly 32, parameters = bytes / 4.
        QCOMPARE(m.nParams * 4, m.tensorBytes);
        const auto *ffnDown = f.findTensor("blk.0.ffn_down.weight");
        QVERIFY(ffnDown);
        QCOMPARE(ffnDown->ne[0], std::uint64_t(172));
        QCOMPARE(ffnDown->ne[1], std::uint64_t(64));
    }
};

QTEST_APPLESS_MAIN(TestGgufShared)
#include "testggufshared.moc"
