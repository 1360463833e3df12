#include "fuzztarget.h"

#include "advisor/advisor.h"
#include "eval/baselogits.h"
#include "gguf/filetype.h"
#include "gguf/ggufreader.h"
#include "infer/llamamodel.h"
#include "io/archivetext.h"
#include "jobs/jobcontext.h"
#include "model/modelinfo.h"
#include "quant/imatrixfile.h"
#include "quant/quantizer.h"
#include "quant/quantplan.h"
#include "tokenize/tokenizer.h"
#include "util/error.h"

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QTemporaryDir>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <memory>
#include <vector>

namespace QuantFit::Fuzz {

namespace {

// Inference is run only on small models: the work is proportional to the weight bytes, and a
// fuzzer wants thousands of inputs per second.
constexpr std::size_t kMaxInferenceBytes = 4u << 20;

// QUANTFIT_FUZZ_VERBOSE=1 prints every rejection (for looking at what a corpus file reaches).
const bool g_verbose = qEnvironmentVariableIntValue("QUANTFIT_FUZZ_VERBOSE") != 0;

template <typename F>
int accepts(F &&f)
{
    try {
        f();
        return 1;
    } catch (const Error &e) {
        if (g_verbose)
            std::fprintf(stderr, "  rejected: %s\n", qPrintable(e.message()));
        return 0;
    }
}

void exerciseGguf(const GgufFile &file, const QString &outDir, bool small, int &accepted)
{
    accepted += accepts([&] { (void)modelInfoFrom(file); });
    QuantOptions planOptions;
    planOptions.allowRequantize = true;
    for (const FileTypeFacts &facts : allFileTypes()) {
        if (!facts.supported)
            continue;
        accepted += accepts([&] {
            const QuantPlan plan =
                makeQuantPlan(file.metadata(), file.tensors(), facts.fileType, planOptions);
            (void)plan.outputFileBytes;
            // A whole conversion (decode every tensor, encode, write, verify) for small inputs
            // and one mix with K-quants, legacy and float fallbacks.
            if (small && facts.fileType == FileType::Q4_K_M) {
                JobContext ctx;
                QuantizeOptions options;
                options.nThreads = 1;
                (void)quantize(file, {QuantizeTarget{plan, outDir + QStringLiteral("/out.gguf")}},
                               options, ctx);
            }
        });
    }
    accepted += accepts([&] {
        static const Advisor advisor;
        AdviceOptions options;
        options.ramBytes = 64'000'000'000ull;
        (void)advisor.adviseGguf(file, options);
    });
    accepted += accepts([&] {
        const Tokenizer tok = Tokenizer::fromMetadata(file.metadata(), QStringLiteral("fuzz.gguf"));
        const auto ids = tok.encode(QByteArrayView("Hello world! <s> \xc3\xa9t\xc3\xa9 123\n"),
                                    true, true);
        (void)tok.decode(ids, true, true);
    });
}

void exerciseInference(const std::shared_ptr<const GgufFile> &file, int &accepted)
{
    accepted += accepts([&] {
        auto model = std::make_shared<const LlamaModel>(file);
        SessionOptions options;
        options.nCtx = 8;
        options.nThreads = 1;
        options.nBatch = 2;
        InferenceSession session(model, options);
        const int nVocab = model->nVocab();
        std::vector<std::int32_t> tokens;
        for (int i = 0; i < 3; ++i)
            tokens.push_back(std::int32_t(i % std::max(1, nVocab)));
        (void)session.evaluate(tokens, true);
    });
}

void exerciseBaseLogits(const QString &path, int &accepted)
{
    accepted += accepts([&] {
        const BaseLogitsFile base = BaseLogitsFile::open(path);
        const BaseLogitsHeader &h = base.header();
        if (h.nVocab == 0 || h.nVocab > (1u << 16))
            return;
        std::vector<float> logits(h.nVocab);
        for (std::uint32_t v = 0; v < h.nVocab; ++v)
            logits[v] = std::sin(float(v));
        std::vector<std::uint8_t> mark;
        const std::uint32_t nChunks = std::min<std::uint32_t>(h.nChunks, 2);
        const std::uint32_t nPos = std::min<std::uint32_t>(h.nScoredPerChunk(), 4);
        for (std::uint32_t c = 0; c < nChunks; ++c)
            for (std::uint32_t p = 0; p < nPos; ++p)
                (void)compareToBase(logits, 0, base.record(c, p), mark);
    });
}

} // namespace

int runOne(const std::uint8_t *data, std::size_t size)
{
    int accepted = 0;
    const QByteArray bytes(reinterpret_cast<const char *>(data), qsizetype(size));

    // In memory: the reader, then everything that builds on a parsed file.
    std::shared_ptr<const GgufFile> parsed;
    accepted += accepts([&] { parsed = std::make_shared<const GgufFile>(GgufFile::fromBuffer(bytes)); });
    static QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/quantfit-fuzz-XXXXXX"));
    if (parsed) {
        exerciseGguf(*parsed, dir.path(), size <= kMaxInferenceBytes / 8, accepted);
        if (size <= kMaxInferenceBytes)
            exerciseInference(parsed, accepted);
    }
    accepted += accepts([&] { (void)parseLegacyImatrix(bytes, QStringLiteral("fuzz.dat")); });

    // Through a file: the readers that map or open paths.
    const QString path = dir.filePath(QStringLiteral("input.bin"));
    {
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(bytes) != bytes.size())
            return accepted;
    }
    accepted += accepts([&] { (void)GgufFile::open(path, GgufFile::Mode::MetadataOnly); });
    // Evaluation texts: plain, the only member of an archive, a named member (libarchive picks
    // the format from the content; the name's suffix only makes us treat it as an archive).
    constexpr std::uint64_t kTextLimit = 1u << 20;
    accepted += accepts([&] { (void)readTextSource(path, kTextLimit); });
    const QString archive = dir.filePath(QStringLiteral("input.tar.gz"));
    QFile::remove(archive);
    if (QFile::copy(path, archive)) {
        accepted += accepts([&] { (void)readTextSource(archive, kTextLimit); });
        accepted += accepts([&] { (void)readTextSource(archive + QStringLiteral(":a.txt"), kTextLimit); });
    }
    accepted += accepts([&] { (void)readImportanceMatrix(path); });
    exerciseBaseLogits(path, accepted);
    return accepted;
}

} // namespace QuantFit::Fuzz
