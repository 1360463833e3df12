#pragma once

#include "gguf/ggmltype.h"

#include <QString>

#include <cstdint>

namespace QuantFit {

class JobContext;
class GgufLayout;

/// Shape of a synthetic LLaMA-architecture model (`quantfit-cli make-model`).
struct SyntheticModelOptions {
    std::uint32_t nLayers = 4;
    std::uint32_t nEmbd = 512;
    std::uint32_t nFf = 1536;
    std::uint32_t nHeads = 8;
    std::uint32_t nHeadsKv = 4;
    std::uint32_t nVocab = 2048;
    std::uint32_t nCtx = 2048;
    std::uint64_t seed = 1;
    GgmlType type = GgmlType::F32; ///< F32 or F16 for the 2-D weights; norms are always F32
    bool tiedEmbeddings = false;   ///< omit output.weight
    QString name = QStringLiteral("QuantFit synthetic");
};

/// Throws Error naming the first option that is out of range or inconsistent.
void validate(const SyntheticModelOptions &options);

/// The metadata and tensor infos of the model (no data): what make-model writes, for planning
/// and tests. Same keys and tensor names as a llama.cpp conversion of a LLaMA model.
GgufLayout syntheticModelLayout(const SyntheticModelOptions &options);

/// Writes the model to `path` (atomically), streaming tensor data generated row by row on all
/// cores: memory stays bounded whatever the size. Deterministic for a given seed and shape
/// (independent of thread count).
///
/// Weights look like trained LLM weights for quantization purposes: heavy-tailed (Student-t,
/// 5 degrees of freedom) values, per-row scales varying log-normally, and a few outlier input
/// columns with ~8x larger magnitude. The vocabulary is SentencePiece-style: <unk>, <s>, </s>,
/// 256 byte-fallback tokens <0x00>..<0xFF>, then scored pieces (characters, common English
/// words with their prefixes, letter pairs).
void writeSyntheticModel(const QString &path, const SyntheticModelOptions &options, JobContext &ctx);

} // namespace QuantFit
