// quantfit-bench eval: prompt-processing speed of the forward pass (tokens/s over one batch of
// --tokens tokens, as llama-bench's pp512) per weight type on a synthetic LLaMA model of about
// 1.1B parameters (TinyLlama's shape), with one thread and with all threads; generation speed
// (tokens/s over --gen tokens, all threads) and the peak resident memory of each run.
//
// The models are written to a temporary folder and deleted afterwards. Speed does not depend on
// the weight values, so each matrix repeats a few dozen distinct random rows, quantized once:
// writing a 1B-parameter file then takes seconds instead of a full quantization.

#include "bench.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "infer/llamamodel.h"
#include "model/syntheticmodel.h"
#include "codecs/quantkernels.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>

#include <random>
#include <thread>

namespace QuantFit::Bench {

namespace {

constexpr int kDistinctRows = 64;

// Writes the synthetic layout with every 2-D weight in `type` (norms stay F32).
void writeModel(const QString &path, const SyntheticModelOptions &o, GgmlType type)
{
    GgufLayout layout = syntheticModelLayout(o);
    for (auto &t : layout.tensors) {
        if (t.nDims >= 2)
            t.type = type;
    }
    layout.metadata.remove("general.file_type");
    layout.finalize();

    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    GgufWriter writer(path, layout);
    for (const auto &t : layout.tensors) {
        const std::int64_t n = std::int64_t(t.ne[0]);
        const std::uint64_t rowBytes = t.rowBytes();
        if (t.nDims < 2) {
            const std::vector<float> ones(std::size_t(t.nElements()), 1.0f);
            writer.writeTensorData({reinterpret_cast<const std::uint8_t *>(ones.data()),
                                    ones.size() * sizeof(float)});
            continue;
        }
        const float scale = 1.0f / std::sqrt(float(n));
        std::vector<std::uint8_t> rows(rowBytes * kDistinctRows);
        std::vector<float> src(static_cast<std::size_t>(n));
        for (int r = 0; r < kDistinctRows; ++r) {
            for (auto &v : src)
                v = normal(rng) * scale;
            if (t.type == GgmlType::F32)
                std::memcpy(rows.data() + r * rowBytes, src.data(), rowBytes);
            else
                quantizeRow(t.type, src, {rows.data() + r * rowBytes, rowBytes});
        }
        for (std::uint64_t r = 0; r < t.nRows(); ++r)
            writer.writeTensorData({rows.data() + (r % kDistinctRows) * rowBytes, rowBytes});
    }
    writer.commit();
}

struct RunResult {
    double promptTokensPerSecond = 0;
    double promptTokensPerCpuSecond = 0; ///< immune to other load on the machine
    double genTokensPerSecond = 0;
    std::uint64_t peakRss = 0;
};

RunResult run(const QString &path, int nTokens, int nGen, int nThreads)
{
    resetPeakRss();
    RunResult r;
    auto model = LlamaModel::open(path);
    InferenceSession session(model, {.nCtx = nTokens + nGen + 1, .nThreads = nThreads,
                                     .nBatch = nTokens});
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(nTokens));
    for (int i = 0; i < nTokens; ++i)
        tokens[std::size_t(i)] = std::int32_t((i * 7919 + 11) % model->nVocab());
    std::vector<float> logits(static_cast<std::size_t>(model->nVocab()));
    QElapsedTimer timer;
    timer.start();
    const double cpu0 = processCpuSeconds();
    session.evaluate(tokens, 0, logits, false);
    r.promptTokensPerSecond = nTokens / (double(timer.nsecsElapsed()) * 1e-9);
    r.promptTokensPerCpuSecond = nTokens / (processCpuSeconds() - cpu0);
    if (nGen > 0) {
        timer.restart();
        for (int i = 0; i < nGen; ++i) {
            const std::int32_t t = std::int32_t(i % model->nVocab());
            session.evaluate(std::span(&t, 1), session.nPast(), logits, false);
        }
        r.genTokensPerSecond = nGen / (double(timer.nsecsElapsed()) * 1e-9);
    }
    r.peakRss = peakRssBytes();
    return r;
}

int runEvalBench(const QStringList &args)
{
    QCommandLineParser parser;
    parser.addOption({QStringLiteral("types"),
                      QStringLiteral("Weight types (default f16,q8_0,q6_K,q5_K,q4_K,q4_0,q3_K,"
                                     "q2_K,iq4_xs)."),
                      QStringLiteral("LIST")});
    parser.addOption({QStringLiteral("layers"),
                      QStringLiteral("Layers of the synthetic model (default 22: 1.1B "
                                     "parameters)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("tokens"),
                      QStringLiteral("Prompt tokens per measurement (default 512)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("gen"),
                      QStringLiteral("Generated tokens per measurement (default 16)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("threads"),
                      QStringLiteral("The \"all threads\" count (default: all cores)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("dir"),
                      QStringLiteral("Folder for the temporary models (default /tmp)."),
                      QStringLiteral("DIR")});
    parser.addOption({QStringLiteral("model"),
                      QStringLiteral("Measure this GGUF file instead of synthetic models."),
                      QStringLiteral("FILE")});
    parser.process(QStringList{QStringLiteral("quantfit-bench eval")} + args);

    const auto intValue = [&](const QString &name, int fallback) {
        return parser.isSet(name) ? parser.value(name).toInt() : fallback;
    };
    const int nTokens = std::max(1, intValue(QStringLiteral("tokens"), 512));
    const int nGen = std::max(0, intValue(QStringLiteral("gen"), 16));
    const int allThreads = std::max(1, intValue(QStringLiteral("threads"),
                                                int(std::thread::hardware_concurrency())));
    QStringList typeNames = parser.value(QStringLiteral("types")).split(QLatin1Char(','),
                                                                         Qt::SkipEmptyParts);
    if (typeNames.isEmpty())
        typeNames = QStringList{QStringLiteral("f16"), QStringLiteral("q8_0"),
                                QStringLiteral("q6_K"), QStringLiteral("q5_K"),
                                QStringLiteral("q4_K"), QStringLiteral("q4_0"),
                                QStringLiteral("q3_K"), QStringLiteral("q2_K"),
                                QStringLiteral("iq4_xs")};

    SyntheticModelOptions o;
    o.nLayers = std::uint32_t(std::max(1, intValue(QStringLiteral("layers"), 22)));
    o.nEmbd = 2048;
    o.nFf = 5632;
    o.nHeads = 32;
    o.nHeadsKv = 4;
    o.nVocab = 32000;
    o.nCtx = 2048;
    o.name = QStringLiteral("quantfit-bench eval");

    QTemporaryDir dir(parser.value(QStringLiteral("dir")).isEmpty()
                          ? QStringLiteral("/tmp/quantfit-bench-eval-XXXXXX")
                          : parser.value(QStringLiteral("dir"))
                              + QStringLiteral("/quantfit-bench-eval-XXXXXX"));
    if (!dir.isValid())
        throw Error(QStringLiteral("cannot create a temporary folder: %1").arg(dir.errorString()));

    struct Case {
        QString label;
        QString path;
    };
    std::vector<Case> cases;
    if (parser.isSet(QStringLiteral("model"))) {
        cases.push_back({parser.value(QStringLiteral("model")), parser.value(QStringLiteral("model"))});
    } else {
        for (const QString &name : typeNames) {
            const auto type = ggmlTypeFromName(name);
            if (!type)
                throw Error(QStringLiteral("--types: unknown type '%1'").arg(name));
            cases.push_back({ggmlTypeName(*type), dir.filePath(name + QStringLiteral(".gguf"))});
        }
    }

    print(QStringLiteral("prompt processing: %1 tokens in one batch; generation: %2 tokens; "
                         "1 and %3 threads")
              .arg(nTokens)
              .arg(nGen)
              .arg(allThreads));
    print(QStringLiteral("(tok/cpu-s: prompt tokens per second of process CPU time, one thread: "
                         "what one otherwise idle core achieves)"));
    print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7")
              .arg(QStringLiteral("type"), -8)
              .arg(QStringLiteral("file"), 10)
              .arg(QStringLiteral("pp tok/s 1t"), 12)
              .arg(QStringLiteral("tok/cpu-s 1t"), 12)
              .arg(QStringLiteral("pp tok/s %1t").arg(allThreads), 12)
              .arg(QStringLiteral("tg tok/s %1t").arg(allThreads), 12)
              .arg(QStringLiteral("peak RSS"), 10));
    for (const Case &c : cases) {
        if (!parser.isSet(QStringLiteral("model"))) {
            QElapsedTimer w;
            w.start();
            writeModel(c.path, o, *ggmlTypeFromName(c.label));
        }
        const std::uint64_t fileBytes = std::uint64_t(QFile(c.path).size());
        const RunResult one = run(c.path, nTokens, 0, 1);
        const RunResult all = run(c.path, nTokens, nGen, allThreads);
        print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7")
                  .arg(c.label, -8)
                  .arg(formatBytes(fileBytes), 10)
                  .arg(one.promptTokensPerSecond, 12, 'f', 1)
                  .arg(one.promptTokensPerCpuSecond, 12, 'f', 1)
                  .arg(all.promptTokensPerSecond, 12, 'f', 1)
                  .arg(all.genTokensPerSecond, 12, 'f', 2)
                  .arg(formatBytes(std::max(one.peakRss, all.peakRss)), 10));
        if (!parser.isSet(QStringLiteral("model")))
            QFile::remove(c.path);
    }
    return 0;
}

const BenchRegistration reg(QStringLiteral("eval"),
                            QStringLiteral("forward-pass tokens/s per weight type (~1B model)"),
                            runEvalBench);

} // namespace

} // namespace QuantFit::Bench
