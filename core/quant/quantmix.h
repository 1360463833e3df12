#pragma once

// llama-quantize's per-tensor type selection ("mixes"): llama.cpp's `llama_tensor_get_type` in
// src/llama-quant.cpp, as of build 4748 (c392e50); docs/quantization.md describes the rules. The
// rules are stateful: counters advance as tensors are visited in output order, so a MixRules object
// is fed every tensor exactly once, in that order.

#include "gguf/filetype.h"
#include "gguf/ggufvalue.h"
#include "gguf/tensorinfo.h"

#include <QString>

#include <cstdint>
#include <vector>

namespace QuantFit {

struct QuantOptions;

/// The model quantities the rules read (docs/quantization.md, "What the rules look at").
struct MixModelFacts {
    QString architecture;
    std::uint32_t nLayer = 0;
    std::uint32_t nHead = 0;   ///< layer 0
    std::uint32_t nHeadKv = 0; ///< layer 0
    std::uint32_t nExpert = 0;
    bool hasOutput = false;    ///< a tensor named exactly output.weight exists
    std::uint32_t nAttentionWv = 0;

    std::uint32_t nGqa() const { return nHeadKv ? nHead / nHeadKv : 0; }
    bool isFalcon() const;
    bool is70B() const;
};

MixModelFacts mixModelFacts(const GgufMetadata &metadata,
                            const std::vector<GgufTensorInfo> &tensors);

/// Whether a tensor is a candidate for quantization at all (docs/quantization.md, "Which
/// tensors are converted").
bool isQuantizableTensor(const GgufTensorInfo &tensor, const MixModelFacts &facts,
                         const QuantOptions &options, FileType fileType);

/// `more(i, n)` ("use_more_bits"): i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2.
bool useMoreBits(std::int64_t i, std::int64_t n);

/// The bulk tensor type of a file type (docs/quantization.md, "Bulk type per file type").
GgmlType defaultTypeFor(FileType fileType);

/// Stateful selector for the candidates of one file. choose() is called for every candidate in
/// output order and returns its type after the mix rules, the fallback and the CLI overrides.
class MixRules
{
public:
    MixRules(FileType fileType, const MixModelFacts &facts, const QuantOptions &options);

    /// `note` receives a short reason when a rule, override or fallback changed the type.
    GgmlType choose(const GgufTensorInfo &tensor, QString &note);
    std::uint32_t nFallbacks() const { return m_nFallbacks; }

private:
    GgmlType applyRules(const GgufTensorInfo &tensor, GgmlType type, QString &note);
    GgmlType applyFallback(const GgufTensorInfo &tensor, GgmlType type, QString &note);
    void layerInfo(int counter, const QByteArray &name, int &i, int &n) const;

    FileType m_fileType;
    GgmlType m_defaultType;
    MixModelFacts m_facts;
    const QuantOptions &m_options;
    int m_iAttentionWv = 0;
    int m_iFfnDown = 0;
    int m_iFfnGate = 0;
    int m_iFfnUp = 0;
    std::uint32_t m_nFallbacks = 0;
};

} // namespace QuantFit
