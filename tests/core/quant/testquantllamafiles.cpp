// Conformance against files llama.cpp wrote (llama-quantized in the shared test data folder):
// for every synth-a-TYPE.gguf, each tensor dequantized by us is compared with the F32 source;
// our own quantization of the same source rows must not be worse (1e-6 relative slack), and
// our blocks must be byte-identical to llama.cpp's (the share is reported per tensor type).
// Files made with an importance matrix (they name it in quantize.imatrix.file) are re-quantized
// with the same legacy imatrix, entry by entry; tensors it has no entry for (token_embd,
// output) without one, as llama-quantize did. Our decoding of llama.cpp's blocks must equal our
// decoding of ours bit for bit.

#include "codecbounds.h"
#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "codecs/quantkernels.h"
#include "quant/imatrixfile.h"

#include <QDir>
#include <QFileInfo>
#include <QTest>

#include <bit>
#include <cmath>
#include <map>
#include <optional>
#include <vector>

using namespace QuantFit;

class TestQuantLlamaFiles : public QObject
{
    Q_OBJECT

private slots:
    void compareWithLlama_data();
    void compareWithLlama();
};

// One row per file llama-quantize wrote (README: every mix but Q2_K_S; MXFP4_MOE only with
// --pure, where every weight is MXFP4). Rows exist even when the folder is absent, so ctest can
// name them; the test then skips with a message.
void TestQuantLlamaFiles::compareWithLlama_data()
{
    QTest::addColumn<QString>("mix");
    for (const char *mix : {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
                            "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M",
                            "Q6_K", "IQ4_NL", "IQ4_XS", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS",
                            "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "Q1_0", "Q2_0",
                            "MXFP4_MOE-pure"})
        QTest::newRow(mix) << QString::fromLatin1(mix);
}

void TestQuantLlamaFiles::compareWithLlama()
{
    QFETCH(QString, mix);
    const QString data = QuantFit::Test::sharedTestData();
    if (data.isEmpty())
        QSKIP("shared test data (../shared/testdata) not found");
    const QDir dir(data + QStringLiteral("/llama-quantized"));
    const QString srcPath = dir.filePath(QStringLiteral("synth-a-F32.gguf"));
    const QString llamaPath = dir.filePath(QStringLiteral("synth-a-%1.gguf").arg(mix));
    if (!QFileInfo::exists(srcPath) || !QFileInfo::exists(llamaPath))
        QSKIP(qPrintable(QStringLiteral("%1 or %2 not found").arg(srcPath, llamaPath)));

    const GgufFile src = GgufFile::open(srcPath);
    const GgufFile llama = GgufFile::open(llamaPath);
    QCOMPARE(llama.tensors().size(), src.tensors().size());
    std::optional<ImportanceMatrix> imatrix;
    if (const GgufValue *v = llama.metadata().find("quantize.imatrix.file")) {
        const QString imatrixPath = dir.filePath(v->toString());
        QVERIFY2(QFileInfo::exists(imatrixPath), qPrintable(imatrixPath));
        imatrix = readImportanceMatrix(imatrixPath);
    }

    struct Identity {
        std::uint64_t nBlocks = 0;
        std::uint64_t nSameBlocks = 0;
        std::uint64_t nBytes = 0;
        std::uint64_t nSameBytes = 0;
    };
    std::map<GgmlType, Identity> identity; // per tensor type of llama.cpp's file
    for (std::size_t t = 0; t < llama.tensors().size(); ++t) {
        const GgufTensorInfo &info = llama.tensors()[t];
        const auto srcIndex = src.tensorIndex(info.name);
        QVERIFY2(srcIndex, info.name.constData());
        const GgufTensorInfo &srcInfo = src.tensors()[*srcIndex];
        QCOMPARE(srcInfo.type, GgmlType::F32);
        QCOMPARE(srcInfo.ne, info.ne);
        const TypeKernels &k = kernelsFor(info.type);
        QVERIFY2(k.dequantizeRow && k.quantizeRow,
                 qPrintable(QStringLiteral("%1: type %2").arg(QString::fromLatin1(info.name),
                                                               ggmlTypeName(info.type))));

        const auto ne0 = std::int64_t(info.rowElements());
        const std::uint64_t rowBytesQ = info.rowBytes();
        const auto theirs = llama.tensorData(t);
        const auto source = src.tensorData(*srcIndex);
        const auto *x = reinterpret_cast<const float *>(source.data());
        std::vector<std::uint8_t> ours(rowBytesQ);
        std::vector<float> y(std::size_t(ne0), 0.f);
        std::vector<float> yTheirs(std::size_t(ne0), 0.f);
        std::vector<float> importance;
        if (const ImportanceEntry *e = imatrix ? imatrix->find(info.name) : nullptr)
            importance = e->importance();
        QVERIFY(importance.empty() || importance.size() == std::size_t(ne0));
        std::uint64_t nDecodeDiffers = 0;
        double errTheirs = 0;
        double errOurs = 0;
        double sumX2 = 0;
        const TypeFacts &facts = typeFacts(info.type);
        for (std::uint64_t r = 0; r < info.nRows(); ++r) {
            const float *xr = x + r * std::uint64_t(ne0);
            const std::uint8_t *qr = theirs.data() + r * rowBytesQ;
            k.dequantizeRow(qr, yTheirs.data(), ne0);
            for (std::int64_t i = 0; i < ne0; ++i) {
                errTheirs += (double(yTheirs[i]) - xr[i]) * (double(yTheirs[i]) - xr[i]);
                sumX2 += double(xr[i]) * xr[i];
            }
            k.quantizeRow(xr, ours.data(), ne0, importance.empty() ? nullptr : importance.data());
            k.dequantizeRow(ours.data(), y.data(), ne0);
            for (std::int64_t i = 0; i < ne0; ++i) {
                errOurs += (double(y[i]) - xr[i]) * (double(y[i]) - xr[i]);
                nDecodeDiffers += std::bit_cast<std::uint32_t>(y[i])
                    != std::bit_cast<std::uint32_t>(yTheirs[i]);
            }
            if (info.type != GgmlType::F32) {
                Identity &id = identity[info.type];
                for (std::uint64_t b = 0; b < rowBytesQ / facts.blockBytes; ++b) {
                    const std::uint64_t off = b * facts.blockBytes;
                    bool same = true;
                    for (std::uint32_t j = 0; j < facts.blockBytes; ++j) {
                        const bool eq = ours[off + j] == qr[off + j];
                        id.nSameBytes += eq;
                        same = same && eq;
                    }
                    id.nBytes += facts.blockBytes;
                    id.nSameBlocks += same;
                    ++id.nBlocks;
                }
            }
        }
        // Dequantizing llama.cpp's blocks must give errors of the size the type implies
        // (heavy-tailed weights: the Student-t bound derived in codecbounds.h).
        const double relTheirs = std::sqrt(errTheirs / sumX2);
        const double bound = QuantFit::Test::relRmseBound(facts, true);
        QVERIFY2(relTheirs <= bound,
                 qPrintable(QStringLiteral("%1 (%2): llama.cpp's relative RMSE %3 exceeds %4")
                                .arg(QString::fromLatin1(info.name), ggmlTypeName(info.type))
                                .arg(relTheirs)
                                .arg(bound)));
        QVERIFY2(nDecodeDiffers == 0,
                 qPrintable(QStringLiteral("%1 (%2): %3 values decode differently from llama.cpp's")
                                .arg(QString::fromLatin1(info.name), ggmlTypeName(info.type))
                                .arg(nDecodeDiffers)));
        QVERIFY2(errOurs <= errTheirs * (1 + 1e-6) + 1e-30,
                 qPrintable(QStringLiteral("%1 (%2): our squared error %3 > llama.cpp's %4")
                                .arg(QString::fromLatin1(info.name), ggmlTypeName(info.type))
                                .arg(errOurs)
                                .arg(errTheirs)));
    }
    for (const auto &[type, id] : identity) {
        qInfo("%s, %s tensors: %llu of %llu blocks (%.4f%%) and %.4f%% of bytes identical to "
              "llama.cpp",
              qPrintable(mix), qPrintable(ggmlTypeName(type)),
              static_cast<unsigned long long>(id.nSameBlocks),
              static_cast<unsigned long long>(id.nBlocks),
              100.0 * double(id.nSameBlocks) / double(id.nBlocks),
              100.0 * double(id.nSameBytes) / double(id.nBytes));
    }
    // We claim byte identity for every type (ggml's reference algorithms of src/ggml-quants.c,
    // without FP contraction), so every block must match.
    for (const auto &[type, id] : identity)
        QVERIFY2(id.nSameBlocks == id.nBlocks, qPrintable(ggmlTypeName(type)));
}

QTEST_APPLESS_MAIN(TestQuantLlamaFiles)
#include "testquantllamafiles.moc"
