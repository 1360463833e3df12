#include "advisor.h"

#include "estimates.h"
#include "memorymodel.h"
#include "recommend.h"
#include "shapetensors.h"

#include "catalog/catalog.h"
#include "gguf/ggufreader.h"
#include "model/modelinfo.h"
#include "quant/quantplan.h"
#include "util/checkedmath.h"
#include "util/error.h"
#include "util/units.h"

#include <QHash>

#include <algorithm>
#include <cmath>
#include <mutex>

namespace QuantFit {

//
// names and small facts
//

QString kvCacheTypeName(KvCacheType type)
{
    switch (type) {
    case KvCacheType::F16:
        return QStringLiteral("f16");
    case KvCacheType::Q8_0:
        return QStringLiteral("q8_0");
    case KvCacheType::Q4_0:
        return QStringLiteral("q4_0");
    }
    return {};
}

std::optional<KvCacheType> kvCacheTypeFromName(QStringView name)
{
    for (KvCacheType t : {KvCacheType::F16, KvCacheType::Q8_0, KvCacheType::Q4_0}) {
        if (name.compare(kvCacheTypeName(t), Qt::CaseInsensitive) == 0)
            return t;
    }
    return std::nullopt;
}

QString fitBadgeName(FitBadge badge)
{
    switch (badge) {
    case FitBadge::Comfortable:
        return QStringLiteral("comfortable");
    case FitBadge::Tight:
        return QStringLiteral("tight");
    case FitBadge::DoesNotFit:
        return QStringLiteral("does not fit");
    }
    return {};
}

QString priorityName(Priority priority)
{
    switch (priority) {
    case Priority::BestBalance:
        return QStringLiteral("Best balance");
    case Priority::HigherQuality:
        return QStringLiteral("Higher quality");
    case Priority::MaximumQuality:
        return QStringLiteral("Maximum quality");
    case Priority::MaximumSize:
        return QStringLiteral("Maximum size");
    }
    return {};
}

std::uint64_t defaultReserveBytes(std::uint64_t ramBytes)
{
    const double gb = double(ramBytes) / GB;
    double reserve = 8;
    if (gb <= 8)
        reserve = 1.5;
    else if (gb <= 16)
        reserve = 2.5;
    else if (gb <= 32)
        reserve = 4;
    else if (gb <= 64)
        reserve = 6;
    return std::uint64_t(reserve * GB);
}

const std::vector<FileType> &advisorLevels()
{
    static const std::vector<FileType> levels = {
        FileType::Q2_K,   FileType::Q3_K_S, FileType::Q3_K_M, FileType::Q4_K_S, FileType::Q4_K_M,
        FileType::Q5_K_S, FileType::Q5_K_M, FileType::Q6_K,   FileType::Q8_0,   FileType::F16,
    };
    return levels;
}

const std::vector<FileType> &iquantLevels()
{
    static const std::vector<FileType> levels = {
        FileType::IQ1_S,   FileType::IQ1_M,  FileType::IQ2_XXS, FileType::IQ2_XS,
        FileType::IQ2_S,   FileType::IQ2_M,  FileType::IQ3_XXS, FileType::IQ3_XS,
        FileType::IQ3_S,   FileType::IQ3_M,  FileType::IQ4_XS,  FileType::IQ4_NL,
    };
    return levels;
}

const QuantRow *ModelAdvice::row(FileType type) const
{
    for (const std::vector<QuantRow> *list : {&rows, &iquantRows}) {
        for (const QuantRow &r : *list) {
            if (r.fileType == type)
                return &r;
        }
    }
    return nullptr;
}

//
// sizing (cached)
//

namespace {

QString shapeKey(const ModelShape &s)
{
    return QStringLiteral("%1|%2|%3|%4|%5|%6|%7|%8|%9|%10|%11|%12|%13|%14|%15|%16|%17|%18")
        .arg(s.id, s.architecture)
        .arg(s.nLayers)
        .arg(s.nEmbd)
        .arg(s.nFf)
        .arg(s.nHeads)
        .arg(s.nHeadsKv)
        .arg(s.headDim)
        .arg(s.nVocab)
        .arg(s.tiedEmbeddings)
        .arg(s.nExperts)
        .arg(s.nFfExpert)
        .arg(s.qkvBias)
        .arg(s.ropeFreqs)
        .arg(s.bpeTokenizer)
        .arg(s.nMerges)
        .arg(s.nExpertsUsed)
        .arg(s.nCtxMax)
        + QStringLiteral("|%1|%2|%3|%4|%5|%6|%7|%8|%9|%10|%11|%12|%13")
              .arg(s.nSharedExperts)
              .arg(s.nFfShared)
              .arg(s.nDenseLeadLayers)
              .arg(s.moeLayerStep)
              .arg(s.nNextnLayers)
              .arg(s.expertsMxfp4)
              .arg(s.kvLoraRank)
              .arg(s.qLoraRank)
              .arg(s.ropeHeadDim)
              .arg(s.vHeadDim)
              .arg(s.nRecurrentLayers)
              .arg(s.qkNorm)
              .arg(s.ssmValueHeads);
}

std::uint64_t simpleFormulaBytes(std::uint64_t nParams, double bits)
{
    return std::uint64_t(std::llround(double(nParams) * bits / 8.0));
}

void checkOptions(const AdviceOptions &o)
{
    if (o.ramBytes == 0)
        throw Error(QStringLiteral("RAM must be greater than 0"));
    if (o.reserveBytes && *o.reserveBytes >= o.ramBytes)
        throw Error(QStringLiteral("reserve (%1) must be less than the RAM (%2)")
                        .arg(formatGB(*o.reserveBytes, 1), formatGB(o.ramBytes, 1)));
}

AdviceOptions filledOptions(const AdviceOptions &o, const ModelShape &s, bool capContext)
{
    AdviceOptions f = o;
    if (!f.reserveBytes)
        f.reserveBytes = defaultReserveBytes(f.ramBytes);
    if (f.contextTokens == 0) {
        f.contextTokens = std::min(kDefaultContext, s.nCtxMax);
    } else if (f.contextTokens > s.nCtxMax) {
        if (!capContext)
            throw Error(QStringLiteral("context %1 exceeds the maximum context of %2 (%3 tokens)")
                            .arg(f.contextTokens)
                            .arg(s.name.isEmpty() ? s.id : s.name)
                            .arg(s.nCtxMax));
        f.contextTokens = s.nCtxMax;
    }
    return f;
}

} // namespace

SizedModel sizeFromPlans(const ModelShape &shape, const GgufMetadata &metadata,
                         const std::vector<GgufTensorInfo> &tensors, std::uint64_t extraHeaderBytes,
                         const std::vector<TensorTypeOverride> &tensorTypes)
{
    SizedModel sized;
    sized.shape = shape;
    for (const GgufTensorInfo &t : tensors)
        sized.nParams += t.nElements();
    auto plan = [&](FileType ft) {
        QuantOptions options;
        options.allowRequantize = true;
        // Mixes llama-quantize refuses without an importance matrix are only ever made with
        // one, and it changes their rules (IQ3_XXS attention V, for one): plan them so. The
        // quantize.imatrix.* keys (a few hundred bytes, named after the files) are not counted.
        options.hasImatrix = fileTypeFacts(ft).needsImatrix;
        options.tensorTypes = tensorTypes;
        const QuantPlan p = makeQuantPlan(metadata, tensors, ft, options);
        LevelSize level;
        level.fileType = ft;
        level.weightsBytes = p.targetTensorBytes;
        level.fileBytes = p.outputFileBytes + alignUp(extraHeaderBytes, 32);
        return level;
    };
    const std::vector<FileType> &listed = advisorLevels();
    for (FileType ft : listed)
        sized.levels.push_back(plan(ft));
    for (FileType ft : iquantLevels()) {
        try {
            sized.iquantLevels.push_back(plan(ft));
        } catch (const Error &) {
            // A mix the planner refuses for this model is simply not listed.
        }
    }
    for (const FileTypeFacts &f : allFileTypes()) {
        // The brief's decision flow is about ordinary models. TQ1_0/TQ2_0, Q1_0 and Q2_0 keep
        // only what a ternary- or binary-trained model (BitNet b1.58 and the like) has; applied
        // to any other model they destroy it, so they are not offered. MXFP4_MOE quantizes
        // only expert stacks to MXFP4 (Q8_0 elsewhere): listed for mixture-of-experts models.
        // NVFP4 has no file type in llama-quantize.
        const FileType ft = f.fileType;
        const bool ternaryOrBinary = ft == FileType::TQ1_0 || ft == FileType::TQ2_0
            || ft == FileType::Q1_0 || ft == FileType::Q2_0;
        const bool moeOnly = ft == FileType::MXFP4_MOE && !shape.isMoe();
        if (std::find(listed.begin(), listed.end(), ft) != listed.end() || ternaryOrBinary
            || moeOnly || ft == FileType::NVFP4 || ft == FileType::Guessed)
            continue;
        const auto iq = std::find_if(sized.iquantLevels.begin(), sized.iquantLevels.end(),
                                     [ft](const LevelSize &l) { return l.fileType == ft; });
        if (iq != sized.iquantLevels.end()) {
            sized.otherLevels.push_back(*iq);
            continue;
        }
        try {
            sized.otherLevels.push_back(plan(ft));
        } catch (const Error &) {
            // A mix the planner refuses for this model is simply not listed.
        }
    }
    std::sort(sized.otherLevels.begin(), sized.otherLevels.end(),
              [](const LevelSize &a, const LevelSize &b) { return a.fileBytes < b.fileBytes; });
    return sized;
}

struct Advisor::Private {
    std::shared_ptr<const Catalog> catalog;
    mutable std::mutex mutex;
    mutable QHash<QString, std::shared_ptr<const SizedModel>> cache;

    std::shared_ptr<const SizedModel> sized(const ModelShape &shape) const
    {
        const QString key = shapeKey(shape);
        {
            std::lock_guard lock(mutex);
            if (auto it = cache.constFind(key); it != cache.constEnd())
                return it.value();
        }
        // Plans are computed outside the lock; a racing duplicate is harmless.
        const ShapeTensors st = buildShapeTensors(shape);
        auto result = std::make_shared<const SizedModel>(
            sizeFromPlans(shape, st.metadata, st.tensors, estimatedVocabMetadataBytes(shape),
                          st.tensorTypes));
        std::lock_guard lock(mutex);
        cache.insert(key, result);
        return result;
    }
};

Advisor::Advisor() : Advisor(Catalog::builtIn()) {}

Advisor::Advisor(std::shared_ptr<const Catalog> catalog) : d(std::make_unique<Private>())
{
    d->catalog = std::move(catalog);
}

Advisor::~Advisor() = default;

const Catalog &Advisor::catalog() const
{
    return *d->catalog;
}

ModelAdvice buildAdvice(const ModelShape &s, const SizedModel &sized,
                        const AdviceOptions &options)
{
    ModelAdvice advice;
    advice.model = s;
    advice.options = options;
    advice.nParams = sized.nParams;
    advice.kvBytesPerToken = kvBytesPerToken(s, options.kvType);
    const std::uint64_t reserve = *options.reserveBytes;
    const std::uint32_t minContext = std::min(kMinContext, s.nCtxMax);
    auto rowFor = [&](const LevelSize &level, const LevelFacts *facts) {
        QuantRow row;
        row.fileType = level.fileType;
        row.name = fileTypeName(level.fileType);
        row.nominalBits = facts ? facts->nominalBits : 0;
        row.bitsPerWeight = bitsPerWeight(level.weightsBytes, sized.nParams);
        row.fileBytes = level.fileBytes;
        row.simpleFormulaBytes = simpleFormulaBytes(sized.nParams, row.nominalBits);
        row.contextTokens = options.contextTokens;
        row.memory = memoryAt(s, level.weightsBytes, options.contextTokens, options, reserve);
        const MemoryBreakdown atMin = memoryAt(s, level.weightsBytes, minContext, options, reserve);
        row.headroomBytes = std::int64_t(options.ramBytes) - std::int64_t(atMin.totalBytes());
        row.freeAtContextBytes =
            std::int64_t(options.ramBytes) - std::int64_t(row.memory.totalBytes());
        for (KvCacheType kv : {KvCacheType::F16, KvCacheType::Q8_0, KvCacheType::Q4_0}) {
            AdviceOptions withKv = options;
            withKv.kvType = kv;
            row.longestContextByKvType[std::size_t(kv)] =
                longestContext(s, level.weightsBytes, withKv, reserve);
        }
        row.longestContextTokens = row.longestContextByKvType[std::size_t(options.kvType)];
        row.badge = fitBadge(row.memory, options.ramBytes);
        row.pplIncreasePercent = estimatedPplIncreasePercent(level.fileType, s.paramsBillions > 0
                                                                 ? s.paramsBillions
                                                                 : double(sized.nParams) / 1e9);
        row.klDivergence8B = facts ? facts->kld8B : 0;
        row.relativeSpeed = estimatedRelativeSpeed(level.fileType);
        row.qualityLabel = facts ? QString::fromLatin1(facts->quality) : QString();
        row.useCase = facts ? QString::fromLatin1(facts->useCase) : QString();
        row.needsImatrix = fileTypeFacts(level.fileType).needsImatrix;
        return row;
    };
    for (const LevelSize &level : sized.levels)
        advice.rows.push_back(rowFor(level, levelFacts(level.fileType)));
    for (const LevelSize &level : sized.iquantLevels)
        advice.iquantRows.push_back(rowFor(level, iquantFacts(level.fileType)));
    for (const LevelSize &level : sized.otherLevels) {
        const FileTypeFacts &facts = fileTypeFacts(level.fileType);
        MixSize mix;
        mix.fileType = level.fileType;
        mix.name = fileTypeName(level.fileType);
        mix.summary = QString::fromLatin1(facts.summary.data(), qsizetype(facts.summary.size()));
        mix.bitsPerWeight = bitsPerWeight(level.weightsBytes, sized.nParams);
        mix.fileBytes = level.fileBytes;
        const MemoryBreakdown m =
            memoryAt(s, level.weightsBytes, options.contextTokens, options, reserve);
        mix.totalBytes = m.totalBytes();
        mix.badge = fitBadge(m, options.ramBytes);
        mix.longestContextTokens = longestContext(s, level.weightsBytes, options, reserve);
        advice.otherMixes.push_back(mix);
    }
    return advice;
}

ModelAdvice Advisor::adviseModel(const QString &modelId, const AdviceOptions &options) const
{
    checkOptions(options);
    const ModelShape &shape = d->catalog->get(modelId);
    return adviseShape(shape, options);
}

ModelAdvice Advisor::adviseShape(const ModelShape &shape, const AdviceOptions &options) const
{
    checkOptions(options);
    validateShape(shape, shape.name.isEmpty() ? shape.id : shape.name);
    const AdviceOptions filled = filledOptions(options, shape, false);
    const auto sized = d->sized(shape);
    ModelAdvice advice = buildAdvice(shape, *sized, filled);
    auto sizer = [this](const ModelShape &other) { return d->sized(other); };
    recommendQuant(advice, *d->catalog, sizer);
    return advice;
}

ModelAdvice Advisor::adviseGguf(const GgufFile &file, const AdviceOptions &options) const
{
    checkOptions(options);
    const ModelInfo info = modelInfoFrom(file);
    ModelShape shape = shapeFromModelInfo(info, file.metadata(), file.path());
    if (file.tensors().empty())
        throw Error(QStringLiteral("'%1' holds no tensors (a vocabulary-only file?): nothing to "
                                   "size")
                        .arg(file.path()));
    if (shape.nLayers == 0 || shape.nEmbd == 0 || shape.nVocab == 0)
        throw Error(QStringLiteral("'%1': not a model the advisor can size (architecture '%2' "
                                   "without block count, embedding width or vocabulary)")
                        .arg(file.path(), info.architecture));
    if (std::uint64_t(shape.nHeadsKv) * shape.headDim > (1u << 20) || shape.nLayers > 4096)
        throw Error(QStringLiteral("'%1': implausible attention shape (%2 layers, %3 KV heads of "
                                   "%4)")
                        .arg(file.path())
                        .arg(shape.nLayers)
                        .arg(shape.nHeadsKv)
                        .arg(shape.headDim));
    const AdviceOptions filled = filledOptions(options, shape, false);
    // Cached per file: a GUI recomputes on every slider move, and planning a real file walks its
    // whole vocabulary for the header size.
    const QString key = QStringLiteral("gguf|%1|%2|%3|%4")
                            .arg(file.path())
                            .arg(file.totalFileSize())
                            .arg(file.dataOffset())
                            .arg(file.tensors().size());
    std::shared_ptr<const SizedModel> sized;
    {
        std::lock_guard lock(d->mutex);
        sized = d->cache.value(key);
    }
    if (!sized) {
        sized = std::make_shared<const SizedModel>(
            sizeFromPlans(shape, file.metadata(), file.tensors(), 0));
        std::lock_guard lock(d->mutex);
        d->cache.insert(key, sized);
    }
    ModelAdvice advice = buildAdvice(shape, *sized, filled);
    auto sizer = [this](const ModelShape &other) { return d->sized(other); };
    recommendQuant(advice, *d->catalog, sizer);
    return advice;
}

SystemAdvice Advisor::adviseSystem(const AdviceOptions &options) const
{
    checkOptions(options);
    auto sizer = [this](const ModelShape &other) { return d->sized(other); };
    return recommendSystem(options, *d->catalog, sizer);
}

void Advisor::warmUp() const
{
    for (const ModelShape &m : d->catalog->models())
        d->sized(m);
}

//
// helpers shared with recommend.cpp
//

ModelAdvice adviceFor(const ModelShape &shape, const AdviceOptions &options, const Sizer &sizer)
{
    const auto sized = sizer(shape);
    return buildAdvice(shape, *sized, filledOptions(options, shape, true));
}

namespace {

// What the memory model needs beyond ModelInfo for the 2025-26 architectures, from the GGUF keys
// their conversions write (docs/advisor-data.md).
void addModernShapeFacts(ModelShape &s, const GgufMetadata &metadata)
{
    // (An opened gpt-oss file is sized as `quantize` converts it, without pinning its MXFP4
    // experts, so expertsMxfp4 stays off here.)
    const QByteArray a = s.architecture.toUtf8();
    // Latent attention: the cache holds kv_lora_rank + rope dims (key_length of an MLA file,
    // with one KV head) and no V.
    const std::uint64_t kvLora = metadata.uintOr(a + ".attention.kv_lora_rank", 0);
    if (kvLora > 0 && kvLora < s.headDim) {
        s.kvLoraRank = std::uint32_t(kvLora);
        s.ropeHeadDim = s.headDim - s.kvLoraRank;
        s.vHeadDim = std::uint32_t(
            std::max<std::uint64_t>(1, metadata.uintOr(a + ".attention.value_length_mla", 128)));
    }
    // Hybrid models: every full_attention_interval-th layer attends, the others keep a state.
    const std::uint64_t interval = metadata.uintOr(a + ".full_attention_interval", 0);
    const std::uint64_t timeStepRank = metadata.uintOr(a + ".ssm.time_step_rank", 0);
    if (interval > 1 && timeStepRank > 0 && s.nLayers >= interval) {
        s.nRecurrentLayers = s.nLayers - s.nLayers / std::uint32_t(interval);
        s.ssmConvKernel = std::uint32_t(metadata.uintOr(a + ".ssm.conv_kernel", 4));
        s.ssmKeyHeads = std::uint32_t(metadata.uintOr(a + ".ssm.group_count", 1));
        s.ssmKeyHeadDim = std::uint32_t(metadata.uintOr(a + ".ssm.state_size", 128));
        s.ssmValueHeads = std::uint32_t(timeStepRank);
        s.ssmValueHeadDim = std::uint32_t(
            metadata.uintOr(a + ".ssm.inner_size", timeStepRank * 128) / timeStepRank);
        if (s.ssmConvKernel == 0 || s.ssmKeyHeads == 0 || s.ssmKeyHeadDim == 0
            || s.ssmValueHeadDim == 0)
            s.nRecurrentLayers = 0; // implausible keys: size it as ordinary attention
    }
}

} // namespace

ModelShape shapeFromModelInfo(const ModelInfo &info, const GgufMetadata &metadata,
                              const QString &path)
{
    ModelShape s;
    s.id = path;
    s.name = info.name.isEmpty() ? path.section(QLatin1Char('/'), -1) : info.name;
    s.family = info.architecture;
    s.architecture = info.architecture;
    s.paramsBillions = double(info.nParams) / 1e9;
    s.nLayers = info.nLayers;
    s.nEmbd = info.nEmbd;
    s.nFf = info.nFf;
    s.nHeads = std::max(1u, info.nHeads);
    s.nHeadsKv = info.nHeadsKv ? info.nHeadsKv : s.nHeads;
    s.headDim = info.headDim ? info.headDim : (info.nHeads ? info.nEmbd / info.nHeads : 0);
    s.nVocab = info.nVocab;
    s.nCtxMax = info.nCtxTrain ? info.nCtxTrain : 4096;
    s.tiedEmbeddings = info.tiedEmbeddings;
    s.nExperts = info.nExperts;
    s.nExpertsUsed = info.nExpertsUsed;
    if (s.isMoe()) {
        const QByteArray a = info.architecture.toUtf8();
        s.nFfExpert = std::uint32_t(metadata.uintOr(a + ".expert_feed_forward_length", info.nFf));
    }
    const QByteArray a = info.architecture.toUtf8();
    // GLM-4.5's NextN block: block_count includes it, but llama.cpp runs (and caches) only the
    // layers before it (n_layer_kv_from_start = n_layer - nextn_predict_layers).
    const std::uint64_t nextn = metadata.uintOr(a + ".nextn_predict_layers", 0);
    if (nextn > 0 && nextn < s.nLayers) {
        s.nNextnLayers = std::uint32_t(nextn);
        s.nLayers -= std::uint32_t(nextn);
    }
    const std::uint64_t window = metadata.uintOr(a + ".attention.sliding_window", 0);
    if (window > 0 && window < s.nCtxMax) {
        s.slidingWindow = std::uint32_t(window);
        // Gemma 2 alternates local and global layers; Gemma 3 has five local per global one.
        if (info.architecture == QLatin1String("gemma2"))
            s.nSlidingLayers = s.nLayers / 2;
        else if (info.architecture == QLatin1String("gemma3"))
            s.nSlidingLayers = s.nLayers - s.nLayers / 6;
        else if (info.architecture == QLatin1String("gpt-oss"))
            s.nSlidingLayers = s.nLayers / 2; // even layers (llama.cpp's pattern 2)
        else
            s.slidingWindow = 0;
    }
    s.bpeTokenizer = info.tokenizerModel != QLatin1String("llama");
    addModernShapeFacts(s, metadata);
    return s;
}

} // namespace QuantFit
