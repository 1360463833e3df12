#pragma once

#include "gguf/filetype.h"
#include "gguf/ggufvalue.h"
#include "gguf/tensorinfo.h"
#include "util/units.h"

#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace QuantFit {

class GgufFile;

/// "MoE: 128 experts, 8 active" (with ", 2 shared" when nShared > 0): how every model line
/// (CLI inspect, the app's pages) names a mixture-of-experts model; empty when nExperts <= 1.
QString moeSummary(std::uint32_t nExperts, std::uint32_t nUsed, std::uint32_t nShared = 0);

/// Shape and facts of a model from GGUF metadata and tensor infos. Missing optional keys take
/// llama.cpp's defaults (docs/formats.md, "Metadata keys QuantFit reads").
struct ModelInfo {
    QString architecture;
    QString name;
    std::uint32_t nLayers = 0;
    std::uint32_t nEmbd = 0;
    std::uint32_t nFf = 0;       ///< first layer's FFN width when per-layer
    std::uint32_t nHeads = 0;
    std::uint32_t nHeadsKv = 0;
    std::uint32_t headDim = 0;   ///< key length
    std::uint32_t headDimV = 0;  ///< value length
    std::uint32_t nCtxTrain = 0;
    std::uint32_t nVocab = 0;
    std::uint32_t nRot = 0;
    double ropeFreqBase = 10000.0;
    QString ropeScalingType;
    double ropeScalingFactor = 0;
    double rmsEps = 1e-5;
    std::uint32_t nExperts = 0;       ///< {arch}.expert_count: routed experts per layer
    std::uint32_t nExpertsUsed = 0;   ///< {arch}.expert_used_count: routed experts per token
    /// {arch}.expert_shared_count; without the key, 1 when the model has ffn_*_shexp tensors
    /// (Qwen2-MoE's single shared expert is not counted in its metadata).
    std::uint32_t nExpertsShared = 0;
    bool tiedEmbeddings = false;   ///< no output.weight: the LM head reuses token_embd
    std::uint64_t nParams = 0;     ///< sum of tensor element counts
    std::uint64_t tensorBytes = 0; ///< sum of tensor data bytes
    std::optional<FileType> fileType; ///< general.file_type when present
    FileType guessedFileType = FileType::F32; ///< from the most common 2-D weight type
    QString tokenizerModel;        ///< tokenizer.ggml.model
    QString tokenizerPre;

    double bitsPerWeight() const { return QuantFit::bitsPerWeight(tensorBytes, nParams); }
    bool isMoe() const { return nExperts > 1; }
    /// The model line's MoE part, "MoE: 8 experts, 2 active" (", 1 shared" when present);
    /// empty for a dense model.
    QString moeSummary() const
    {
        return QuantFit::moeSummary(nExperts, nExpertsUsed, nExpertsShared);
    }
    /// KV-cache bytes per token for an element size of `bytesPerElement` (f16 = 2).
    double kvBytesPerToken(double bytesPerElement = 2.0) const;
};

/// Builds ModelInfo from a parsed file. Throws FormatError (naming the key) when a required key
/// of a llama-family architecture has the wrong type.
ModelInfo modelInfoFrom(const GgufMetadata &metadata, const std::vector<GgufTensorInfo> &tensors,
                        const QString &fileName = {});
ModelInfo modelInfoFrom(const GgufFile &file);

} // namespace QuantFit
