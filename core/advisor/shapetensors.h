#pragma once

// The tensor list of a model as a llama.cpp conversion writes it (F16 weights, F32 norms, biases,
// routers and rope factors), built from its shape so that QuantPlan can size any mix exactly.
// Names follow llama.cpp's (docs/formats.md, "Tensor names"); only names and shapes matter for
// sizing, and the names drive the mix rules (attn_v, ffn_down, output, token_embd ...).

#include "catalog/modelshape.h"
#include "gguf/ggufvalue.h"
#include "gguf/tensorinfo.h"
#include "quant/quantplan.h"

#include <cstdint>
#include <vector>

namespace QuantFit {

struct ShapeTensors {
    GgufMetadata metadata;               ///< architecture keys the mix rules read
    std::vector<GgufTensorInfo> tensors; ///< in conversion order
    std::uint64_t nParams = 0;           ///< sum of element counts
    /// `--tensor-type` items the published files of this model are made with (gpt-oss: expert
    /// stacks stay MXFP4 in every mix); applied to every quantized level.
    std::vector<TensorTypeOverride> tensorTypes;
};

/// Builds the tensor list and the minimal metadata for `shape` (validated first: throws Error).
ShapeTensors buildShapeTensors(const ModelShape &shape);

/// Estimated bytes of the tokenizer metadata a converted GGUF carries, from the vocabulary size:
/// tokenizer.ggml.tokens (8-byte length + text each), token_type (int32 each), scores (float32
/// each, SPM vocabularies), merges (BPE; 8-byte length + text each), chat template and general
/// keys. Average token text from llama.cpp's vocab files: BPE 7.1 bytes (9.1 from 100k tokens),
/// merges one byte more; SPM 6.6 (7.5 for large multilingual vocabularies).
std::uint64_t estimatedVocabMetadataBytes(const ModelShape &shape);

} // namespace QuantFit
