#pragma once

// The advisor: which quant of which model fits a machine, and how much context it leaves.
// Pure computation over value types: machine facts (RAM, reserve) arrive in AdviceOptions, model
// facts from the catalog (core/catalog) or an opened GGUF. Sizes come from the same QuantPlan the
// quantizer executes, so a predicted file size is the size of the file we would write.
//
// Memory model (details and sources in memorymodel.h and the README's "Memory" section):
//   total = weights + KV cache + compute buffers + runtime overhead + OS/desktop reserve
// Fit badge at the requested context, with usable = RAM - reserve:
//   Comfortable: total - reserve <= 75 % of usable   (a quarter stays free for context and apps)
//   Tight:       total <= RAM                         (fits, little room)
//   DoesNotFit:  total > RAM

#include "catalog/modelshape.h"
#include "gguf/filetype.h"

#include <QString>
#include <QStringList>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace QuantFit {

class Catalog;
class GgufFile;

/// Element type of the KV cache (llama.cpp --cache-type-k/-v).
enum class KvCacheType {
    F16,
    Q8_0,
    Q4_0,
};

/// Bytes per cached element: f16 2, q8_0 34/32, q4_0 18/32.
double kvBytesPerElement(KvCacheType type);
QString kvCacheTypeName(KvCacheType type); ///< "f16", "q8_0", "q4_0"
std::optional<KvCacheType> kvCacheTypeFromName(QStringView name);

/// llama-server's slot count when --parallel is not given (tools/server: "n_parallel is set to
/// auto, using n_parallel = 4 and kv_unified = true").
constexpr std::uint32_t kLlamaServerDefaultSlots = 4;

/// What the user asks about. Byte quantities are bytes (the CLI converts from GB = 1e9).
struct AdviceOptions {
    std::uint64_t ramBytes = 0;                ///< total RAM of the machine; must be > 0
    std::optional<std::uint64_t> reserveBytes; ///< OS/desktop reserve; default by RAM size
    std::uint32_t contextTokens = 0;           ///< 0 = min(8192, model maximum)
    KvCacheType kvType = KvCacheType::F16;
    bool flashAttention = false;
    bool qualityCritical = false; ///< decision flow: prefer a smaller model at a higher quant
    /// Sequences run at once (llama-server --parallel; its default when not given is 4 with a
    /// unified KV cache). Multiplies sliding-window caches, recurrent state and output buffers.
    std::uint32_t parallelSlots = kLlamaServerDefaultSlots;
    bool vision = false; ///< count the vision projector (mmproj) of models that have one
};

enum class FitBadge {
    Comfortable,
    Tight,
    DoesNotFit,
};
QString fitBadgeName(FitBadge badge); ///< "comfortable", "tight", "does not fit"

/// Memory at one context length, in bytes.
struct MemoryBreakdown {
    std::uint64_t weightsBytes = 0;  ///< tensor data of the file (memory-mapped)
    std::uint64_t kvCacheBytes = 0;  ///< KV cache, and the fixed state of recurrent layers
    std::uint64_t computeBytes = 0;  ///< llama.cpp compute buffer (graph scratch)
    std::uint64_t overheadBytes = 0; ///< runtime: output buffer, process, thread pools
    std::uint64_t reserveBytes = 0;  ///< OS and desktop
    std::uint64_t visionBytes = 0;   ///< vision projector, when vision is on

    std::uint64_t totalBytes() const
    {
        return weightsBytes + kvCacheBytes + computeBytes + overheadBytes + reserveBytes
               + visionBytes;
    }
};

/// One quant level of one model. Quality and speed are estimates (see estimates.h).
struct QuantRow {
    FileType fileType = FileType::Q4_K_M;
    QString name;                          ///< "Q4_K_M"
    double nominalBits = 0;                ///< the brief's "Bits" column (4.5 for Q4_K_M)
    double bitsPerWeight = 0;              ///< of the real mix: tensor bits / parameters
    std::uint64_t fileBytes = 0;           ///< predicted file size (QuantPlan + header)
    std::uint64_t simpleFormulaBytes = 0;  ///< the brief's parameters x bits / 8
    std::uint32_t contextTokens = 0;       ///< context the memory below is for
    MemoryBreakdown memory;                ///< at contextTokens
    std::int64_t headroomBytes = 0;        ///< RAM - total at the minimum context (kMinContext)
    std::int64_t freeAtContextBytes = 0;   ///< RAM - total at contextTokens
    std::uint32_t longestContextTokens = 0; ///< multiple of 256, <= model max; 0 = does not fit
    /// The longest context for each KV-cache type, indexed by KvCacheType (F16, Q8_0, Q4_0); the
    /// entry of options.kvType equals longestContextTokens.
    std::array<std::uint32_t, 3> longestContextByKvType{};
    FitBadge badge = FitBadge::DoesNotFit;
    double pplIncreasePercent = 0;         ///< estimated perplexity increase vs F16
    /// Published mean KL divergence vs F16 of this mix on Llama 3 8B (llama.cpp's perplexity
    /// scoreboard; not scaled to this model); 0 for F16.
    double klDivergence8B = 0;
    double relativeSpeed = 1;              ///< estimated, F16 = 1.0 (the brief's table)
    QString qualityLabel;                  ///< the brief's word: "Good+", "Excellent", ...
    QString useCase;                       ///< the brief's "Use Case": "Recommended balance", ...
    /// llama-quantize refuses the mix without an importance matrix (IQ1/IQ2 mixes, IQ3_XXS,
    /// IQ3_XS); QuantFit computes one while converting (`quantize --calibration`).
    bool needsImatrix = false;
    bool recommended = false;              ///< the per-model recommendation
    /// pplIncreasePercent (and klDivergence8B, then this model's own) were measured on this
    /// model by QuantFit (the results store), not estimated; qualitySource says which run.
    bool qualityMeasured = false;
    QString qualitySource;
};

/// A file type outside the brief's table (Q3_K_L, legacy Q4_0..Q5_1, IQ mixes, BF16, F32, and
/// MXFP4_MOE for mixture-of-experts models): exact size and fit, no estimates (the I-quants
/// also have full rows with published estimates, ModelAdvice::iquantRows).
struct MixSize {
    FileType fileType = FileType::Q4_0;
    QString name;                  ///< "IQ4_XS"
    QString summary;               ///< one line from the file-type table ("needs imatrix" ...)
    double bitsPerWeight = 0;
    std::uint64_t fileBytes = 0;
    std::uint64_t totalBytes = 0;  ///< memory at the context, reserve included
    std::uint32_t longestContextTokens = 0;
    FitBadge badge = FitBadge::DoesNotFit;
};

/// The per-model recommendation of the brief's decision flow, as data: the GUI and the CLI lay
/// it out and add nothing to its sentences. Every text is complete English, decimal GB.
struct QuantRecommendation {
    std::optional<FileType> fileType; ///< nullopt: no level fits
    /// The file type the same tensors are published as, when people download them under
    /// another name: gpt-oss's Q8_0 level (MXFP4 experts, 8-bit elsewhere) is ggml-org's
    /// MXFP4_MOE file, so the advice names MXFP4_MOE, as the machine advice does.
    std::optional<FileType> publishedAs;
    /// Fit of the recommended level at the requested context; DoesNotFit when none fits.
    FitBadge fit = FitBadge::DoesNotFit;
    /// The level is below the brief's start (Q4_K_M) only because nothing higher fits
    /// (guideline 4): expect noticeable quality loss.
    bool belowStart = false;
    /// One line, no final period: "Recommended for Llama 3.1 70B on 64 GB: Q4_K_M", or
    /// "Llama 3.1 70B does not fit in 32 GB at any level with 8192 tokens of context".
    QString headline;
    /// Why, with the numbers: one sentence each, the deciding one first (fit and room, file
    /// size, memory parts, estimates; when nothing fits, what the smallest level needs).
    QStringList reasons;
    QStringList steps; ///< decision-flow steps taken, in order, one sentence each
    /// When quality is critical (or the start level does not fit): a smaller catalog model at a
    /// higher quant, named; empty id when none is comfortable.
    QString alternativeModelId;
    QString alternativeModelName;
    std::optional<FileType> alternativeFileType;
};

/// Everything about one model on one machine.
struct ModelAdvice {
    ModelShape model;
    AdviceOptions options;            ///< with defaults filled in (reserve, context)
    std::uint64_t nParams = 0;        ///< counted from the tensor list
    double kvBytesPerToken = 0;       ///< full-attention layers, at options.kvType
    std::vector<QuantRow> rows;       ///< Q2_K .. F16 in the brief's order
    /// IQ1_S .. IQ4_NL (iquantLevels()), with published quality figures; the mixes that need
    /// an importance matrix are sized as made with one (the only way they are made).
    std::vector<QuantRow> iquantRows;
    std::vector<MixSize> otherMixes;  ///< every other file type the planner knows, by size
    QuantRecommendation recommendation;
    /// The row of `type` among rows and iquantRows; nullptr for other types.
    const QuantRow *row(FileType type) const;
};

/// The brief's "Recommendations by System" rows.
enum class Priority {
    BestBalance,
    HigherQuality,
    MaximumQuality,
    MaximumSize,
};
QString priorityName(Priority priority); ///< "Best balance", ...

struct PriorityRow {
    Priority priority = Priority::BestBalance;
    QString modelId;
    QString modelName;
    double paramsBillions = 0;
    QuantRow quant;          ///< the chosen level, with its memory and context figures
    QString explanation;     ///< one paragraph with the numbers
    QString note;            ///< a correction of the brief, when its figure is wrong
};

struct SystemAdvice {
    AdviceOptions options;         ///< with the reserve filled in
    std::vector<PriorityRow> rows; ///< in Priority order; a priority may be absent
    QStringList notes;             ///< corrections of the brief's figures
};

/// Minimum context for "headroom" and for a level to count as fitting at all.
constexpr std::uint32_t kMinContext = 2048;
/// Context used when none is given (capped at the model's maximum).
constexpr std::uint32_t kDefaultContext = 8192;

/// Sensible OS/desktop reserve by RAM size: <= 8 GB: 1.5 GB, <= 16: 2.5, <= 32: 4, <= 64: 6,
/// larger: 8 (decimal GB).
std::uint64_t defaultReserveBytes(std::uint64_t ramBytes);

/// Computes advice. Thread-safe: plans are cached per model and file type behind a mutex, so
/// repeated calls for a catalog model (a GUI slider) cost arithmetic only (well under 50 ms).
/// Every function throws Error for bad input: RAM <= 0 or reserve >= RAM, unknown model id,
/// context beyond the model's maximum; adviseGguf lets the reader's FormatError/IoError through.
class Advisor
{
public:
    /// Uses the built-in catalog (Catalog::builtIn()).
    Advisor();
    explicit Advisor(std::shared_ptr<const Catalog> catalog);
    ~Advisor();

    const Catalog &catalog() const;

    ModelAdvice adviseModel(const QString &modelId, const AdviceOptions &options) const;
    /// A shape entered by the user (not in the catalog); sized by the same tensor list.
    ModelAdvice adviseShape(const ModelShape &shape, const AdviceOptions &options) const;
    /// An opened GGUF: exact plans of its real tensors and metadata.
    ModelAdvice adviseGguf(const GgufFile &file, const AdviceOptions &options) const;
    /// The brief's priority rows for a machine.
    SystemAdvice adviseSystem(const AdviceOptions &options) const;
    /// Sizes every catalog model now (about a second in a Debug build), so that later calls
    /// never plan. Optional; call it from a worker thread at startup.
    void warmUp() const;

private:
    struct Private;
    std::unique_ptr<Private> d;
};

/// The quant levels the advisor lists (the brief's table): Q2_K, Q3_K_S, Q3_K_M, Q4_K_S, Q4_K_M,
/// Q5_K_S, Q5_K_M, Q6_K, Q8_0, F16.
const std::vector<FileType> &advisorLevels();
/// The I-quant mixes the advisor lists with estimates, smallest first: IQ1_S, IQ1_M, IQ2_XXS,
/// IQ2_XS, IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS, IQ3_S, IQ3_M, IQ4_XS, IQ4_NL.
const std::vector<FileType> &iquantLevels();

} // namespace QuantFit
