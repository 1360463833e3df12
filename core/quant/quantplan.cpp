#include "quantplan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include <QRegularExpression>

#include "quantmix.h"

#include "gguf/ggufwriter.h"
#include "util/error.h"
#include "util/units.h"

namespace QuantFit {

namespace {

// Layer number from a "blk.N." prefix, -1 for tensors outside the blocks.
int layerOf(const QByteArray &name)
{
    if (!name.startsWith("blk."))
        return -1;
    int v = 0;
    qsizetype i = 4;
    bool any = false;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') {
        v = v * 10 + (name[i] - '0');
        any = true;
        ++i;
        if (v > 1000000)
            return -1;
    }
    return any ? v : -1;
}

// llama-quantize removes a key and appends it again, so the position of the updated keys (and
// hence the header bytes) matches its files.
void setAtEnd(GgufMetadata &metadata, const QByteArray &key, GgufValue value)
{
    metadata.remove(key);
    metadata.set(key, std::move(value));
}

// gguf-split's keys of output file `shard` of `nShards` holding `nTensors` tensors in all.
void setSplitKeys(GgufMetadata &metadata, std::uint32_t shard, std::uint32_t nShards,
                  std::size_t nTensors)
{
    setAtEnd(metadata, "split.no", GgufValue::fromUInt(GgufValueType::UINT16, shard));
    setAtEnd(metadata, "split.count", GgufValue::fromUInt(GgufValueType::UINT16, nShards));
    setAtEnd(metadata, "split.tensors.count", GgufValue::i32(std::int32_t(nTensors)));
}

} // namespace

MetadataOverride parseMetadataOverride(const QString &text)
{
    const auto fail = [&](const QString &why) {
        return Error(QStringLiteral("--override-kv '%1': %2 (expected KEY=TYPE:VALUE with TYPE "
                                    "int, float, bool or str, e.g. "
                                    "tokenizer.ggml.add_bos_token=bool:false)")
                         .arg(text, why));
    };
    const qsizetype eq = text.indexOf(u'=');
    if (eq < 0)
        throw fail(QStringLiteral("no '=' after the key"));
    const QByteArray key = text.left(eq).toUtf8();
    if (key.isEmpty())
        throw fail(QStringLiteral("the key is empty"));
    if (key.size() > 127)
        throw fail(QStringLiteral("the key is %1 bytes long; at most 127 are allowed").arg(key.size()));
    if (key == "general.alignment")
        throw fail(QStringLiteral("general.alignment sets the file layout and cannot be overridden"));
    const QString rest = text.mid(eq + 1);
    const qsizetype colon = rest.indexOf(u':');
    if (colon < 0)
        throw fail(QStringLiteral("no ':' between TYPE and VALUE"));
    const QString type = rest.left(colon);
    const QString value = rest.mid(colon + 1);
    if (type == u"int") {
        bool ok = false;
        const qlonglong v = value.toLongLong(&ok);
        if (!ok)
            throw fail(QStringLiteral("'%1' is not an integer").arg(value));
        // Current llama-quantize stores the absolute value as UINT32 (tools/quantize/quantize.cpp);
        // a negative number therefore loses its sign, as it does there.
        const qulonglong magnitude = v < 0 ? qulonglong(-(v + 1)) + 1 : qulonglong(v);
        if (magnitude > std::numeric_limits<std::uint32_t>::max())
            throw fail(QStringLiteral("%1 does not fit the UINT32 the value is stored as").arg(v));
        return {key, GgufValue::u32(std::uint32_t(magnitude))};
    }
    if (type == u"float") {
        bool ok = false;
        const double v = value.toDouble(&ok);
        if (!ok || !std::isfinite(float(v)))
            throw fail(QStringLiteral("'%1' is not a finite float").arg(value));
        return {key, GgufValue::f32(float(v))};
    }
    if (type == u"bool") {
        if (value == u"true")
            return {key, GgufValue::fromBool(true)};
        if (value == u"false")
            return {key, GgufValue::fromBool(false)};
        throw fail(QStringLiteral("'%1' is not true or false").arg(value));
    }
    if (type == u"str") {
        const QByteArray utf8 = value.toUtf8();
        if (utf8.size() > 127)
            throw fail(QStringLiteral("the string is %1 bytes long; at most 127 are allowed")
                           .arg(utf8.size()));
        return {key, GgufValue::fromString(utf8)};
    }
    throw fail(QStringLiteral("unknown TYPE '%1'").arg(type));
}

namespace {

Error tensorTypeError(const QString &where, const QString &why)
{
    return Error(QStringLiteral("%1: %2 (expected PATTERN=TYPE, e.g. attn_v=q8_0 or "
                                "'blk\\.1[0-5]\\.ffn_down=q6_K')")
                     .arg(where, why));
}

TensorTypeOverride parseTensorTypeItem(const QString &text, const QString &where)
{
    const qsizetype eq = text.indexOf(u'=');
    if (eq < 0)
        throw tensorTypeError(where, QStringLiteral("no '=' between the pattern and the type"));
    TensorTypeOverride o;
    o.pattern = text.left(eq).toLower();
    if (o.pattern.isEmpty())
        throw tensorTypeError(where, QStringLiteral("the pattern is empty"));
    const QString typeName = text.mid(eq + 1);
    if (typeName.isEmpty())
        throw tensorTypeError(where, QStringLiteral("the type is empty"));
    const auto type = ggmlTypeFromName(typeName);
    if (!type || !typeFacts(*type).canQuantize || typeFacts(*type).runtimeOnly)
        throw tensorTypeError(where, QStringLiteral("'%1' is not a tensor type that can be "
                                                    "written (q8_0, q6_K, q4_K, iq4_nl, mxfp4, "
                                                    "nvfp4, f16, ...)")
                                         .arg(typeName));
    o.type = *type;
    const QRegularExpression re(o.pattern);
    if (!re.isValid())
        throw tensorTypeError(where, QStringLiteral("'%1' is not a valid regular expression: "
                                                    "%2 at offset %3")
                                         .arg(o.pattern, re.errorString())
                                         .arg(re.patternErrorOffset()));
    return o;
}

} // namespace

TensorTypeOverride parseTensorTypeOverride(const QString &text)
{
    return parseTensorTypeItem(text, QStringLiteral("--tensor-type '%1'").arg(text));
}

std::vector<TensorTypeOverride> parseTensorTypeItems(const QString &text, const QString &fileName)
{
    static const QRegularExpression space(QStringLiteral("\\s+"));
    std::vector<TensorTypeOverride> items;
    const QStringList parts = text.split(space, Qt::SkipEmptyParts);
    for (qsizetype i = 0; i < parts.size(); ++i)
        items.push_back(parseTensorTypeItem(
            parts[i], QStringLiteral("--tensor-type-file '%1', item %2 '%3'")
                          .arg(fileName)
                          .arg(i + 1)
                          .arg(parts[i])));
    return items;
}

std::vector<int> parsePruneLayers(const QString &text)
{
    std::vector<int> layers;
    for (const QString &part : text.split(u',')) {
        bool ok = !part.isEmpty()
            && std::all_of(part.begin(), part.end(), [](QChar c) { return c.isDigit(); });
        const int v = ok ? part.toInt(&ok) : 0;
        if (!ok)
            throw Error(QStringLiteral("--prune-layers '%1': '%2' is not a layer number "
                                       "(expected non-negative integers separated by commas, "
                                       "e.g. 20,21,22)")
                            .arg(text, part));
        layers.push_back(v);
    }
    std::sort(layers.begin(), layers.end());
    layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
    return layers;
}

std::vector<std::size_t> outputTensorOrder(const std::vector<GgufTensorInfo> &tensors)
{
    std::vector<std::pair<int, std::size_t>> keyed;
    keyed.reserve(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i)
        keyed.emplace_back(layerOf(tensors[i].name), i);
    std::sort(keyed.begin(), keyed.end(), [&](const auto &a, const auto &b) {
        if (a.first != b.first)
            return a.first < b.first;
        // Byte-wise comparison ('.' sorts before '_'), as std::string's operator<.
        const QByteArray &x = tensors[a.second].name;
        const QByteArray &y = tensors[b.second].name;
        const int c = std::memcmp(x.constData(), y.constData(),
                                  std::size_t(std::min(x.size(), y.size())));
        return c != 0 ? c < 0 : x.size() < y.size();
    });
    std::vector<std::size_t> order;
    order.reserve(keyed.size());
    for (const auto &k : keyed)
        order.push_back(k.second);
    return order;
}

namespace {

//
// --prune-layers (docs/quantization.md, "Pruning layers")
//

// The first "blk.N." in a name: where the layer number sits (position and length), or nullopt.
std::optional<std::pair<qsizetype, qsizetype>> layerDigits(const QByteArray &name)
{
    for (qsizetype at = name.indexOf("blk."); at >= 0; at = name.indexOf("blk.", at + 1)) {
        qsizetype end = at + 4;
        while (end < name.size() && name[end] >= '0' && name[end] <= '9' && end - at < 13)
            ++end;
        if (end > at + 4 && end < name.size() && name[end] == '.')
            return std::pair{at + 4, end - at - 4};
    }
    return std::nullopt;
}

struct Pruning {
    std::map<std::int64_t, std::int64_t> newLayer; // kept layers only: old -> new number
    std::set<std::int64_t> dropped;
    std::int64_t blockCount = 0;                   // llama-quantize's next free number

    bool active = false;

    // Output name of `name`, or nullopt when its layer is dropped.
    std::optional<QByteArray> rename(const QByteArray &name) const
    {
        const auto digits = active ? layerDigits(name) : std::nullopt;
        if (!digits)
            return name;
        const std::int64_t layer = name.mid(digits->first, digits->second).toLongLong();
        if (dropped.count(layer))
            return std::nullopt;
        QByteArray renamed = name;
        renamed.replace(digits->first, digits->second, QByteArray::number(newLayer.at(layer)));
        return renamed;
    }
};

// Layers below the first pruned one keep their number; every later kept layer takes the next
// free number, in layer order (llama-quantize's remapping).
Pruning makePruning(const std::vector<GgufTensorInfo> &tensors, std::vector<int> prune)
{
    Pruning p;
    if (prune.empty())
        return p;
    std::sort(prune.begin(), prune.end());
    p.active = true;
    std::set<std::int64_t> layers;
    for (const auto &t : tensors) {
        if (const auto d = layerDigits(t.name))
            layers.insert(t.name.mid(d->first, d->second).toLongLong());
    }
    const std::set<std::int64_t> pruned(prune.begin(), prune.end());
    for (const std::int64_t l : layers) {
        if (pruned.count(l)) {
            p.dropped.insert(l);
        } else if (l < prune.front()) {
            p.newLayer[l] = l;
            p.blockCount = l + 1;
        } else {
            p.newLayer[l] = p.blockCount++;
        }
    }
    return p;
}

// Beyond llama-quantize: per-layer arrays of the architecture ({arch}.*, as many items as the
// old block count) keep the items of the kept layers, so the file stays self-consistent.
void shortenLayerArrays(GgufMetadata &md, const QByteArray &arch, std::uint64_t oldBlockCount,
                        const Pruning &pruning)
{
    if (oldBlockCount == 0)
        return;
    const QByteArray prefix = arch + '.';
    std::vector<std::pair<QByteArray, GgufValue>> changed;
    for (const auto &e : md.entries()) {
        if (!e.key.startsWith(prefix) || !e.value.isArray()
            || e.value.arraySize() != oldBlockCount)
            continue;
        std::vector<GgufValue> kept;
        for (std::uint64_t l = 0; l < oldBlockCount; ++l) {
            if (!pruning.dropped.count(std::int64_t(l)))
                kept.push_back(e.value.at(l));
        }
        changed.emplace_back(e.key, GgufValue::fromArray(e.value.elementType(), std::move(kept)));
    }
    for (auto &[key, value] : changed)
        md.set(key, std::move(value)); // in place
}

QString requirementReason(GgmlType type, FileType fileType, bool byRule)
{
    if (byRule && type == GgmlType::Q2_K)
        return QStringLiteral("llama-quantize requires one for q2_K tensors of a %1 file")
            .arg(fileTypeName(fileType));
    if (byRule)
        return QStringLiteral("llama-quantize requires one for %1 tensors").arg(ggmlTypeName(type));
    return QStringLiteral("ggml's %1 quantizer cannot run without importance data (llama.cpp "
                          "aborts), and llama-imatrix never records this tensor")
        .arg(ggmlTypeName(type));
}

} // namespace

QString imatrixRequirementMessage(const QuantPlan &plan)
{
    if (!plan.imatrixRequiredBy)
        return {};
    const ImatrixRequirement &r = *plan.imatrixRequiredBy;
    return QStringLiteral("%1: this quantization requires an importance matrix (--imatrix FILE): "
                          "offending tensor %2, target type %3; %4")
        .arg(fileTypeName(plan.fileType), QString::fromUtf8(r.tensor), ggmlTypeName(r.type), r.why);
}

QuantPlan makeQuantPlan(const GgufMetadata &metadata, const std::vector<GgufTensorInfo> &tensors,
                        FileType fileType, const QuantOptions &options)
{
    if (!fileTypeFactsFor(static_cast<std::uint32_t>(fileType)))
        throw Error(QStringLiteral("unknown file type %1").arg(static_cast<std::uint32_t>(fileType)));

    QuantPlan plan;
    plan.fileType = fileType;
    const QByteArray arch = metadata.stringOr("general.architecture").toUtf8();
    const std::uint64_t blockCount = metadata.uintOr(arch + ".block_count", 0);

    // The kept tensors under their output names, in output order: by layer and name, or with
    // --keep-split by input file and offset (each output file then takes its input's tensors).
    const Pruning pruning = makePruning(tensors, options.pruneLayers);
    std::vector<std::size_t> order;
    if (options.keepSplit) {
        order.resize(tensors.size());
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            const auto &x = tensors[a];
            const auto &y = tensors[b];
            return x.shard != y.shard ? x.shard < y.shard : x.offset < y.offset;
        });
    } else {
        order = outputTensorOrder(tensors);
    }
    std::vector<GgufTensorInfo> kept;
    std::vector<std::size_t> keptIndex;
    kept.reserve(tensors.size());
    for (std::size_t index : order) {
        const auto name = pruning.rename(tensors[index].name);
        if (!name)
            continue;
        kept.push_back(tensors[index]);
        kept.back().name = *name;
        keptIndex.push_back(index);
    }

    const MixModelFacts facts = mixModelFacts(metadata, kept);
    MixRules rules(fileType, facts, options);
    plan.tensors.reserve(kept.size());
    std::uint32_t nRequantized = 0;
    for (std::size_t k = 0; k < kept.size(); ++k) {
        const GgufTensorInfo &src = tensors[keptIndex[k]];
        const GgufTensorInfo &named = kept[k];
        PlannedTensor p{src, src.type, 0, false, {}};
        p.name = named.name;
        p.shard = options.keepSplit ? src.shard : 0;
        p.note = notQuantizedReason(named, options);
        if (isQuantizableTensor(named, options)) {
            const TypeChoice c = rules.choose(named);
            p.targetType = c.type;
            p.decidedBy = c.decidedBy;
            p.fellBack = c.fellBack;
            p.note = c.note;
            QString refusal = c.refusal;
            const std::uint32_t block = typeFacts(c.type).blockSize;
            if (src.ne[0] % block != 0) {
                // Only the two dedicated options get here: llama-quantize applies no fallback to
                // them (and would then fail inside ggml).
                refusal = QStringLiteral("tensor '%1': %2 %3 needs rows that are a multiple of "
                                         "%4 values; this tensor's rows have %5")
                              .arg(QString::fromUtf8(named.name), c.note, ggmlTypeName(c.type))
                              .arg(block)
                              .arg(src.ne[0]);
                p.note = QStringLiteral("%1 does not fit: cannot be written").arg(c.note);
                p.targetType = GgmlType::F16;
            }
            if (plan.refusal.isEmpty())
                plan.refusal = refusal;
        }
        p.quantized = p.targetType != src.type;
        if (p.quantized && typeFacts(src.type).isQuantized) {
            if (!options.allowRequantize)
                throw Error(QStringLiteral("tensor '%1': requantizing from type %2 is disabled "
                                           "(use --allow-requantize)")
                                .arg(QString::fromUtf8(src.name), ggmlTypeName(src.type)));
            ++nRequantized;
        }
        // An imatrix matters only for tensors that are converted.
        p.requiresImatrix = p.quantized && tensorRequiresImatrix(p.name, p.targetType, fileType);
        const bool byGgml = p.quantized && typeRequiresImportance(p.targetType);
        if (!plan.imatrixRequiredBy && (p.requiresImatrix || byGgml))
            plan.imatrixRequiredBy = ImatrixRequirement{
                p.name, p.targetType, requirementReason(p.targetType, fileType, p.requiresImatrix)};
        p.targetBytes = tensorBytes(p.targetType, src.ne);
        plan.sourceTensorBytes += src.nBytes ? src.nBytes : tensorBytes(src.type, src.ne);
        plan.targetTensorBytes += p.targetBytes;
        plan.nShards = std::max(plan.nShards, p.shard + 1);
        plan.tensors.push_back(std::move(p));
    }
    // One summary line instead of one per tensor (the notes of the plan hold the details).
    plan.nFallbacks = rules.nFallbacks();
    QStringList keptAsF16;
    for (const auto &p : plan.tensors) {
        if (p.fellBack && p.targetType == GgmlType::F16)
            keptAsF16 << QString::fromUtf8(p.name);
    }
    if (plan.nFallbacks)
        plan.warnings << QStringLiteral("%1 of %2 tensor(s) required fallback quantization "
                                        "(row length not a multiple of the block size)")
                             .arg(plan.nFallbacks)
                             .arg(tensors.size());
    if (!keptAsF16.isEmpty())
        plan.warnings << QStringLiteral("%1 tensor(s) fit no block type of this mix and are "
                                        "written as f16: %2%3")
                             .arg(keptAsF16.size())
                             .arg(keptAsF16.mid(0, 3).join(QStringLiteral(", ")))
                             .arg(keptAsF16.size() > 3 ? QStringLiteral(", ...") : QString());
    if (nRequantized)
        plan.warnings << QStringLiteral("%1 tensor(s) are requantized from an already quantized "
                                        "input: quality is lower than quantizing the original")
                             .arg(nRequantized);
    for (const int l : options.pruneLayers) {
        if (std::uint64_t(l) >= blockCount)
            plan.warnings << QStringLiteral("--prune-layers: the model has no layer %1 (%2 "
                                            "layers)")
                                 .arg(l)
                                 .arg(blockCount);
    }

    // Metadata: every input key, then the quantization keys (docs/quantization.md, "Output file").
    GgufMetadata md = metadata;
    setAtEnd(md, "general.quantization_version", GgufValue::u32(2));
    setAtEnd(md, "general.file_type", GgufValue::u32(static_cast<std::uint32_t>(fileType)));
    md.remove("split.no");
    md.remove("split.count");
    md.remove("split.tensors.count");
    for (const MetadataOverride &o : options.metadataOverrides)
        setAtEnd(md, o.key, o.value);
    if (options.imatrix) {
        const ImatrixSummary &im = *options.imatrix;
        QByteArray file = im.fileName.toUtf8();
        if (file.size() > 127)
            file.truncate(127);
        setAtEnd(md, "quantize.imatrix.file", GgufValue::fromString(file));
        if (!im.dataset.isEmpty())
            setAtEnd(md, "quantize.imatrix.dataset", GgufValue::fromString(im.dataset));
        setAtEnd(md, "quantize.imatrix.entries_count", GgufValue::u32(im.entries));
        if (im.chunks > 0)
            setAtEnd(md, "quantize.imatrix.chunks_count", GgufValue::u32(im.chunks));
    }
    if (pruning.active) {
        shortenLayerArrays(md, arch, blockCount, pruning);
        setAtEnd(md, arch + ".block_count", GgufValue::u32(std::uint32_t(pruning.blockCount)));
    }
    if (plan.nShards > 1)
        setSplitKeys(md, 0, plan.nShards, plan.tensors.size());
    plan.outputMetadata = std::move(md);

    // Exact file sizes: the writer's own formula over the layouts it will be given.
    for (std::uint32_t s = 0; s < plan.nShards; ++s)
        plan.outputFileBytes += plan.shardFileBytes(s);
    return plan;
}

GgufLayout QuantPlan::outputLayout(std::uint32_t shard) const
{
    GgufLayout layout;
    if (shard == 0) {
        layout.metadata = outputMetadata;
    } else {
        // gguf-split's later files: only where they belong.
        setSplitKeys(layout.metadata, shard, nShards, tensors.size());
    }
    for (const auto &p : tensors) {
        if (p.shard != shard)
            continue;
        GgufTensorInfo t;
        t.name = p.name;
        t.nDims = p.source.nDims;
        t.ne = p.source.ne;
        t.type = p.targetType;
        layout.tensors.push_back(std::move(t));
    }
    layout.finalize();
    return layout;
}

std::uint64_t QuantPlan::shardFileBytes(std::uint32_t shard) const
{
    return outputLayout(shard).fileBytes();
}

std::uint64_t QuantPlan::nElements() const
{
    std::uint64_t n = 0;
    for (const auto &p : tensors)
        n += p.source.nElements();
    return n;
}

double QuantPlan::bitsPerWeight() const
{
    return QuantFit::bitsPerWeight(targetTensorBytes, nElements());
}

bool QuantPlan::isWritable() const
{
    if (!refusal.isEmpty())
        return false;
    for (const auto &p : tensors) {
        if (p.quantized && !typeFacts(p.targetType).canQuantize)
            return false;
    }
    return true;
}

} // namespace QuantFit
