#pragma once

// Tiny LLaMA-family models built in memory for the inference tests, and a plain double-precision
// forward pass (RMSNorm, RoPE, grouped-query attention, SwiGLU feed-forward) written
// independently of core/infer.

#include "gguf/ggmltype.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <map>
#include <vector>

namespace QuantFit::Test {

struct TinyConfig {
    QByteArray arch = "llama";
    int nLayers = 2;
    int nEmbd = 64;
    int nFf = 96;
    int nHeads = 4;
    int nHeadsKv = 2;
    int nVocab = 50;
    int nCtx = 64;
    bool tied = false;
    bool biases = false;    ///< Q/K/V biases (qwen2 style)
    bool ropeFreqs = false; ///< rope_freqs.weight factors
    double ropeScale = 0.0; ///< rope.scaling.factor (linear) when > 0
    double freqBase = 10000.0;
    float eps = 1e-5f;
    GgmlType type = GgmlType::F32; ///< F32 or F16 for 2-D weights
    std::uint32_t seed = 7;
};

/// Weights (as the model file stores them, converted to double) and the file path.
struct TinyModel {
    TinyConfig cfg;
    std::map<QByteArray, std::vector<double>> w;
};

/// Writes the model to `path` and returns its weights.
TinyModel writeTinyModel(const QString &path, const TinyConfig &cfg);

/// Logits [tokens.size()][nVocab] of a causal forward pass over `tokens` from position 0,
/// in double precision.
std::vector<std::vector<double>> referenceForward(const TinyModel &m,
                                                  const std::vector<std::int32_t> &tokens);

} // namespace QuantFit::Test
