#pragma once

// llama-quantize's per-tensor type selection ("mixes"): `llama_tensor_get_type` and its helpers in
// llama.cpp's src/llama-quant.cpp as of b10472. docs/quantization.md describes the order of
// decisions, the categories and the rules. The rules are stateful: counters advance as tensors
// are visited in output order, so a MixRules object is fed every candidate exactly once, in that
// order.

#include "quantplan.h"

#include "gguf/filetype.h"
#include "gguf/ggufvalue.h"
#include "gguf/tensorinfo.h"

#include <QRegularExpression>
#include <QString>

#include <cstdint>
#include <utility>
#include <vector>

namespace QuantFit {

/// The broad kind of a tensor the rules test, decided from its name (docs/quantization.md,
/// "Categories"): the first match of this list, in this order.
enum class TensorCategory {
    Output,         ///< exactly output.weight
    TokenEmbedding, ///< exactly token_embd.weight or per_layer_token_embd.weight
    AttnQkv,        ///< contains attn_qkv.weight
    AttnKvB,        ///< contains attn_kv_b.weight
    AttnV,          ///< contains attn_v.weight
    AttnK,
    AttnQ,
    AttnOutput,
    FfnUp,          ///< contains ffn_up (so also ffn_up_exps, ffn_up_shexp)
    FfnGate,
    FfnDown,
    Other,
};

TensorCategory tensorCategory(const QByteArray &name);
/// attn_v, attn_qkv and attn_kv_b: the tensors rule V (and X1) bump.
bool isAttnVLike(TensorCategory category);

/// The model quantities the rules read (docs/quantization.md, "What the rules look at").
struct MixModelFacts {
    QString architecture;
    std::uint32_t nLayer = 0;    ///< {arch}.block_count: every layer, MTP (nextn) layers included
    std::uint32_t nLayerMtp = 0; ///< {arch}.nextn_predict_layers (part of nLayer)
    std::uint32_t nHead = 0;     ///< layer 0
    std::uint32_t nHeadKv = 0;   ///< layer 0
    std::uint32_t nExpert = 0;
    bool hasOutput = false;      ///< a tensor named exactly output.weight exists (else: tied)
    std::uint32_t nAttentionWv = 0;

    std::uint32_t nGqa() const { return nHeadKv ? nHead / nHeadKv : 0; }
    bool isFalcon() const;
    /// llama.cpp's model type "70B": llama with 80 layers, GQA and not 8 experts; deci, olmo and
    /// qwen2 with 80 layers; jais2 with 68.
    bool is70B() const;
};

/// Facts of a model whose tensors (after --prune-layers: the kept ones, by their output names)
/// are `tensors`. nLayer stays the metadata's count.
MixModelFacts mixModelFacts(const GgufMetadata &metadata,
                            const std::vector<GgufTensorInfo> &tensors);

/// Whether a tensor is a candidate for quantization at all (docs/quantization.md, "Which tensors
/// are converted"): 2-D or more, a `weight`, not a norm, and not one of the names llama-quantize
/// never converts.
bool isQuantizableTensor(const GgufTensorInfo &tensor, const QuantOptions &options);
/// Why a matrix (2-D or more) is not a candidate, for the plan's note ("MoE router: never
/// quantized ...", "not a weight: copied", ...); empty for a candidate and for 1-D tensors
/// (norms, biases), which are never converted and need no reason.
QString notQuantizedReason(const GgufTensorInfo &tensor, const QuantOptions &options);

/// `more(i, n)` ("use_more_bits"): i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2.
bool useMoreBits(std::int64_t i, std::int64_t n);

/// The bulk tensor type of a file type (docs/quantization.md, "Bulk type per file type").
GgmlType defaultTypeFor(FileType fileType);

/// llama-quantize refuses to write a candidate tensor of final type `type` without an importance
/// matrix: IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, and Q2_K in a Q2_K_S file; token
/// embeddings and output.weight are exempt.
bool tensorRequiresImatrix(const QByteArray &name, GgmlType type, FileType fileType);
/// ggml's own quantizers of these types (IQ1_S, IQ2_XXS, IQ2_XS) cannot run without importance
/// data, whatever the tensor: llama.cpp aborts there.
bool typeRequiresImportance(GgmlType type);

/// One candidate's type and how it was reached.
struct TypeChoice {
    GgmlType type = GgmlType::F32;
    TypeDecision decidedBy = TypeDecision::MixRules;
    bool fellBack = false; ///< the row length forced the fallback type
    QString note;          ///< a short reason when a rule, option or fallback changed the type
    /// Set when the rows fit the chosen type and no fallback ("no tensor type fallback is
    /// defined for type ..."): `type` is then an f16 stand-in and the tensor cannot be written.
    QString refusal;
};

/// Stateful selector for the candidates of one file: choose() is called for every candidate in
/// output order.
class MixRules
{
public:
    /// Throws Error for a --tensor-type pattern that is not a valid regular expression.
    MixRules(FileType fileType, const MixModelFacts &facts, const QuantOptions &options);

    /// The type of `tensor` (named by its output name). Throws Error when the layer of an expert
    /// tensor cannot be read from its name.
    TypeChoice choose(const GgufTensorInfo &tensor);
    std::uint32_t nFallbacks() const { return m_nFallbacks; }

private:
    GgmlType applyRules(const GgufTensorInfo &tensor, TensorCategory category, GgmlType type,
                        QString &note);
    GgmlType applyFallback(const GgufTensorInfo &tensor, GgmlType type, QString &note,
                           QString &refusal);
    std::pair<int, int> layerInfo(int counter, const QByteArray &name) const;

    FileType m_fileType;
    GgmlType m_defaultType;
    MixModelFacts m_facts;
    const QuantOptions &m_options;
    std::vector<std::pair<QRegularExpression, GgmlType>> m_patterns;
    int m_iAttentionWv = 0;
    int m_iFfnDown = 0;
    int m_iFfnGate = 0;
    int m_iFfnUp = 0;
    std::uint32_t m_nFallbacks = 0;
};

} // namespace QuantFit
