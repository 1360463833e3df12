// quantfit-bench eval: prompt-processing speed of the forward pass (tokens/s over one batch of
// --tokens tokens, as llama-bench's pp512) and generation speed (tokens/s over --gen tokens
// after the prompt, one at a time, as llama-bench's tg128), each with one thread and with all
// threads, best of --reps runs; per weight type on a synthetic LLaMA model of about 1.1B
// parameters (TinyLlama's shape), or on one --model file.
//
// Generation reads every weight once per token, so its speed is bounded by memory bandwidth:
// the table gives the bytes one generated token reads (weights: every tensor but the token
// embeddings, of which one row; for MoE models the routed experts' share n_used / n_expert of
// the expert tensors; plus the F16 KV cache at the mean position) and the GB/s that makes,
// next to the machine's streaming-read bandwidth (quantfit-bench bandwidth) with --bandwidth.
//
// The models are written to a temporary folder and deleted afterwards. Speed does not depend on
// the weight values, so each matrix repeats a few dozen distinct random rows, quantized once:
// writing a 1B-parameter file then takes seconds instead of a full quantization.

#include "bench.h"

#include "gguf/ggufreader.h"
#include "gguf/tensorinfo.h"
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

struct MoeShape {
    int nExpert = 0; ///< 0: the dense LLaMA layout
    int nUsed = 0;
    int nFfExp = 0;
};

// The synthetic LLaMA layout turned into a qwen3moe one (llama.cpp's tensor names and keys):
// per layer q/k norms, a router (ffn_gate_inp) and 3-D expert stacks instead of the dense FFN.
GgufLayout moeLayout(const SyntheticModelOptions &o, const MoeShape &moe)
{
    const GgufLayout dense = syntheticModelLayout(o);
    const QByteArray arch = "qwen3moe";
    GgufLayout layout;
    for (const auto &e : dense.metadata.entries())
        layout.metadata.set(e.key.startsWith("llama.") ? arch + e.key.mid(5) : e.key, e.value);
    const std::uint32_t headDim = o.nEmbd / o.nHeads;
    layout.metadata.set("general.architecture", GgufValue::fromString(arch));
    layout.metadata.set(arch + ".expert_count", GgufValue::u32(std::uint32_t(moe.nExpert)));
    layout.metadata.set(arch + ".expert_used_count", GgufValue::u32(std::uint32_t(moe.nUsed)));
    layout.metadata.set(arch + ".expert_feed_forward_length",
                        GgufValue::u32(std::uint32_t(moe.nFfExp)));
    layout.metadata.set(arch + ".attention.key_length", GgufValue::u32(headDim));
    layout.metadata.set(arch + ".attention.value_length", GgufValue::u32(headDim));
    const auto tensor = [](QByteArray name, std::array<std::uint64_t, 4> ne, std::uint32_t dims) {
        GgufTensorInfo t;
        t.name = std::move(name);
        t.ne = ne;
        t.nDims = dims;
        return t;
    };
    for (const GgufTensorInfo &t : dense.tensors) {
        if (t.name.contains(".ffn_up.") || t.name.contains(".ffn_down."))
            continue;
        if (!t.name.contains(".ffn_gate.")) {
            layout.tensors.push_back(t);
            if (t.name.endsWith(".attn_k.weight")) {
                const QByteArray blk = t.name.left(t.name.indexOf(".attn_k."));
                layout.tensors.push_back(tensor(blk + ".attn_q_norm.weight", {headDim, 1, 1, 1}, 1));
                layout.tensors.push_back(tensor(blk + ".attn_k_norm.weight", {headDim, 1, 1, 1}, 1));
            }
            continue;
        }
        const QByteArray blk = t.name.left(t.name.indexOf(".ffn_gate."));
        const std::uint64_t e = std::uint64_t(moe.nExpert);
        const std::uint64_t f = std::uint64_t(moe.nFfExp);
        layout.tensors.push_back(tensor(blk + ".ffn_gate_inp.weight", {o.nEmbd, e, 1, 1}, 2));
        layout.tensors.push_back(tensor(blk + ".ffn_gate_exps.weight", {o.nEmbd, f, e, 1}, 3));
        layout.tensors.push_back(tensor(blk + ".ffn_up_exps.weight", {o.nEmbd, f, e, 1}, 3));
        layout.tensors.push_back(tensor(blk + ".ffn_down_exps.weight", {f, o.nEmbd, e, 1}, 3));
    }
    return layout;
}

// Writes the synthetic layout (dense, or MoE when moe.nExpert > 0) with every 2-D and 3-D
// weight in `type` (norms and the MoE router stay F32, as llama-quantize keeps them).
void writeModel(const QString &path, const SyntheticModelOptions &o, GgmlType type,
                const MoeShape &moe = {})
{
    GgufLayout layout = moe.nExpert > 0 ? moeLayout(o, moe) : syntheticModelLayout(o);
    for (auto &t : layout.tensors) {
        if (t.nDims >= 2 && !t.name.contains("ffn_gate_inp"))
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

// One run: a prompt of nTokens tokens in one batch, then nGen tokens one at a time.
RunResult runOnce(const std::shared_ptr<const LlamaModel> &model, int nTokens, int nGen,
                  int nThreads)
{
    RunResult r;
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
    return r;
}

// The best of `reps` runs, each figure on its own (as llama-bench's best-of reporting).
RunResult run(const QString &path, int nTokens, int nGen, int nThreads, int reps)
{
    resetPeakRss();
    auto model = LlamaModel::open(path);
    RunResult best;
    for (int i = 0; i < reps; ++i) {
        const RunResult r = runOnce(model, nTokens, nGen, nThreads);
        best.promptTokensPerSecond = std::max(best.promptTokensPerSecond, r.promptTokensPerSecond);
        best.promptTokensPerCpuSecond =
            std::max(best.promptTokensPerCpuSecond, r.promptTokensPerCpuSecond);
        best.genTokensPerSecond = std::max(best.genTokensPerSecond, r.genTokensPerSecond);
    }
    best.peakRss = peakRssBytes();
    return best;
}

// Bytes one generated token reads (see the file comment), at KV position `kvPosition`.
double bytesPerGeneratedToken(const QString &path, double kvPosition)
{
    const GgufFile file = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
    const QByteArray arch = file.metadata().stringOr("general.architecture").toUtf8();
    const double nExpert = double(file.metadata().uintOr(arch + ".expert_count", 0));
    const double nUsed = double(file.metadata().uintOr(arch + ".expert_used_count", 0));
    bool hasOutput = false;
    for (const GgufTensorInfo &t : file.tensors())
        hasOutput = hasOutput || t.name == "output.weight";
    double bytes = 0;
    for (const GgufTensorInfo &t : file.tensors()) {
        if (t.name == "token_embd.weight")
            bytes += hasOutput ? double(t.rowBytes()) : double(t.nBytes); // tied: the LM head
        else if (t.name.contains("_exps") && nExpert > 0)
            bytes += double(t.nBytes) * nUsed / nExpert;
        else
            bytes += double(t.nBytes);
    }
    const auto model = LlamaModel::open(path);
    const LlamaHParams &hp = model->hparams();
    bytes += 2.0 * hp.nLayers * 2.0 * kvPosition * double(hp.nHeadsKv) * hp.headDim;
    return bytes;
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
    parser.addOption({QStringLiteral("moe"),
                      QStringLiteral("A qwen3moe model instead: E experts, K used per token, "
                                     "expert FFN width F (e.g. 64,8,512)."),
                      QStringLiteral("E,K,F")});
    parser.addOption({QStringLiteral("embd"),
                      QStringLiteral("Embedding width of the synthetic model (default 2048)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("reps"),
                      QStringLiteral("Runs per measurement, the best reported (default 3)."),
                      QStringLiteral("N")});
    parser.addOption({QStringLiteral("save"),
                      QStringLiteral("Write the synthetic model of the first type to FILE and "
                                     "stop (to profile it, or to measure it with --model)."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("bandwidth"),
                      QStringLiteral("Also measure the memory read bandwidth (1 and all "
                                     "threads) to compare generation with.")});
    parser.process(QStringList{QStringLiteral("quantfit-bench eval")} + args);

    const auto intValue = [&](const QString &name, int fallback) {
        return parser.isSet(name) ? parser.value(name).toInt() : fallback;
    };
    const int nTokens = std::max(1, intValue(QStringLiteral("tokens"), 512));
    const int nGen = std::max(0, intValue(QStringLiteral("gen"), 16));
    const int reps = std::max(1, intValue(QStringLiteral("reps"), 3));
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
    o.nEmbd = std::uint32_t(std::max(256, intValue(QStringLiteral("embd"), 2048)) / 256 * 256);
    o.nFf = 5632;
    o.nHeads = 32;
    o.nHeadsKv = 4;
    o.nVocab = 32000;
    o.nCtx = 2048;
    o.name = QStringLiteral("quantfit-bench eval");
    MoeShape moe;
    if (parser.isSet(QStringLiteral("moe"))) {
        const QStringList v = parser.value(QStringLiteral("moe")).split(QLatin1Char(','));
        if (v.size() != 3)
            throw Error(QStringLiteral("--moe: expected E,K,F (experts, used, expert width)"));
        moe = {v[0].toInt(), v[1].toInt(), v[2].toInt()};
        if (moe.nExpert < 1 || moe.nUsed < 1 || moe.nUsed > moe.nExpert || moe.nFfExp < 256
            || moe.nFfExp % 256)
            throw Error(QStringLiteral("--moe: need 1 <= K <= E and F a multiple of 256"));
        o.nHeads = o.nEmbd / 128; // head dim 128 as Qwen3-30B-A3B
        o.nHeadsKv = std::max<std::uint32_t>(1, o.nHeads / 8);
    }

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
    if (parser.isSet(QStringLiteral("save"))) {
        const auto type = ggmlTypeFromName(typeNames.first());
        if (!type)
            throw Error(QStringLiteral("--types: unknown type '%1'").arg(typeNames.first()));
        writeModel(parser.value(QStringLiteral("save")), o, *type, moe);
        return 0;
    }
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

    print(QStringLiteral("prompt processing (pp): %1 tokens in one batch; generation (tg): %2 "
                         "tokens after it; 1 and %3 threads; best of %4 runs")
              .arg(nTokens)
              .arg(nGen)
              .arg(allThreads)
              .arg(reps));
    print(QStringLiteral("(tok/cpu-s: prompt tokens per second of process CPU time, one thread: "
                         "what one otherwise idle core achieves; MB/tok: bytes one generated "
                         "token reads, weights and KV cache; GB/s: MB/tok x tg tok/s)"));
    if (parser.isSet(QStringLiteral("bandwidth"))) {
        constexpr std::size_t kBandwidthBytes = std::size_t(1) << 30;
        print(QStringLiteral("memory read bandwidth (1 GiB streaming read): %1 GB/s with 1 "
                             "thread, %2 GB/s with %3")
                  .arg(measureReadBandwidthGbps(kBandwidthBytes, 1, 5), 0, 'f', 1)
                  .arg(measureReadBandwidthGbps(kBandwidthBytes, allThreads, 5), 0, 'f', 1)
                  .arg(allThreads));
    }
    const QString n = QString::number(allThreads);
    print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9 %10")
              .arg(QStringLiteral("type"), -8)
              .arg(QStringLiteral("file"), 10)
              .arg(QStringLiteral("pp tok/s 1t"), 12)
              .arg(QStringLiteral("tok/cpu-s 1t"), 12)
              .arg(QStringLiteral("pp tok/s %1t").arg(n), 12)
              .arg(QStringLiteral("tg tok/s 1t"), 11)
              .arg(QStringLiteral("tg tok/s %1t").arg(n), 11)
              .arg(QStringLiteral("MB/tok"), 7)
              .arg(QStringLiteral("GB/s %1t").arg(n), 8)
              .arg(QStringLiteral("peak RSS"), 10));
    for (const Case &c : cases) {
        if (!parser.isSet(QStringLiteral("model")))
            writeModel(c.path, o, *ggmlTypeFromName(c.label), moe);
        const std::uint64_t fileBytes = std::uint64_t(QFile(c.path).size());
        const RunResult one = run(c.path, nTokens, nGen, 1, reps);
        const RunResult all = run(c.path, nTokens, nGen, allThreads, reps);
        const double tokenBytes = bytesPerGeneratedToken(c.path, nTokens + nGen / 2.0);
        print(QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9 %10")
                  .arg(c.label, -8)
                  .arg(formatBytes(fileBytes), 10)
                  .arg(one.promptTokensPerSecond, 12, 'f', 1)
                  .arg(one.promptTokensPerCpuSecond, 12, 'f', 1)
                  .arg(all.promptTokensPerSecond, 12, 'f', 1)
                  .arg(one.genTokensPerSecond, 11, 'f', 1)
                  .arg(all.genTokensPerSecond, 11, 'f', 1)
                  .arg(tokenBytes * 1e-6, 7, 'f', 1)
                  .arg(tokenBytes * all.genTokensPerSecond * 1e-9, 8, 'f', 1)
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
