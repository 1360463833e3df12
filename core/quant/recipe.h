#pragma once

// Recipes: a file's per-tensor types as llama-quantize's --tensor-type-file items (PATTERN=TYPE,
// one a line), compressed to one pattern per tensor kind where every layer agrees, and the
// per-tensor difference of two files with totals per role (docs/quantization.md, "Recipes").

#include "quantplan.h"

#include "gguf/ggmltype.h"
#include "gguf/tensorinfo.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace QuantFit {

/// The broad role of a tensor for totals and the fit's sensitivity model, from its name:
/// Output (output.weight, output_norm), Embeddings (token_embd, per_layer_token_embd,
/// position/token-type embeddings), Experts (routed expert stacks, `_exps`), Attention (attn_*),
/// Ffn (ffn_*, shared experts `_shexp` included), Other (norms, routers, everything else).
enum class TensorRole {
    Attention,
    Ffn,
    Experts,
    Embeddings,
    Output,
    Other,
};
QString tensorRoleName(TensorRole role); ///< "attention", "ffn", "experts", ...
TensorRole tensorRole(const QByteArray &name);

/// One line of a recipe: tensors whose name `pattern` matches get `type`. The patterns of one
/// recipe never match the same tensor, so their order does not matter (llama-quantize takes the
/// first match; replaying gives the same types in any order).
struct RecipeLine {
    QString pattern;   ///< anchored regular expression, lower case, no `\d`/`\w` classes
    GgmlType type = GgmlType::F32;
    int nTensors = 0;  ///< tensors of the source list it covers
};

/// The recipe of a tensor list: the candidates of llama-quantize (isQuantizableTensor with
/// default options; norms, 1-D tensors and the never-quantized names are left out because a
/// pattern cannot change them). Per-layer tensors `blk.N.SUFFIX` of one SUFFIX all of one type
/// give `^blk\.[0-9]+\.SUFFIX$`; otherwise one line per type listing its layers
/// `^blk\.(0|1|7)\.SUFFIX$`. Other tensors get their exact name. Lines are ordered by first
/// appearance of their tensors. Pure; linear in the number of tensors.
std::vector<RecipeLine> makeRecipe(const std::vector<GgufTensorInfo> &tensors);

/// `PATTERN=TYPE` lines (ggml type names: q4_K, iq2_xxs, f16), as --tensor-type-file reads them.
QString recipeText(const std::vector<RecipeLine> &recipe);

/// The recipe as --tensor-type items (what parseTensorTypeItems(recipeText(r)) returns).
std::vector<TensorTypeOverride> recipeOverrides(const std::vector<RecipeLine> &recipe);

/// One tensor that differs between two files (or exists in only one).
struct TensorDifference {
    QByteArray name;
    TensorRole role = TensorRole::Other;
    std::optional<GgmlType> typeA; ///< absent: not in A
    std::optional<GgmlType> typeB;
    std::uint64_t bytesA = 0;
    std::uint64_t bytesB = 0;
    bool shapeDiffers = false;     ///< both have it, with different dimensions
};

/// Tensor bytes of one role in each file.
struct RoleTotals {
    TensorRole role = TensorRole::Other;
    int nTensorsA = 0;
    int nTensorsB = 0;
    std::uint64_t bytesA = 0;
    std::uint64_t bytesB = 0;
    int nChanged = 0;              ///< tensors of the role listed in `changed`
};

/// The difference of two tensor lists, matched by name.
struct TensorListDiff {
    std::vector<TensorDifference> changed; ///< type, shape or presence differs; A's order, then B-only
    std::vector<RoleTotals> roles;         ///< every role present in either file, enum order
    int nSame = 0;                         ///< tensors with the same type and shape in both
    std::uint64_t bytesA = 0;              ///< all tensor data of A
    std::uint64_t bytesB = 0;
};

TensorListDiff diffTensorLists(const std::vector<GgufTensorInfo> &a,
                               const std::vector<GgufTensorInfo> &b);

} // namespace QuantFit
