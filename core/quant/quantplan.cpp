#include "quantplan.h"

#include "quantmix.h"

#include "gguf/ggufwriter.h"
#include "util/error.h"
#include "util/units.h"

#include <algorithm>
#include <limits>

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

QuantPlan makeQuantPlan(const GgufMetadata &metadata, const std::vector<GgufTensorInfo> &tensors,
                        FileType fileType, const QuantOptions &options)
{
    if (!fileTypeFactsFor(static_cast<std::uint32_t>(fileType)))
        throw Error(QStringLiteral("unknown file type %1").arg(static_cast<std::uint32_t>(fileType)));

    QuantPlan plan;
    plan.fileType = fileType;
    const MixModelFacts facts = mixModelFacts(metadata, tensors);
    MixRules rules(fileType, facts, options);
    const std::vector<std::size_t> order = outputTensorOrder(tensors);

    plan.tensors.reserve(tensors.size());
    std::uint32_t nRequantized = 0;
    for (std::size_t index : order) {
        const GgufTensorInfo &src = tensors[index];
        PlannedTensor p{src, src.type, 0, false, {}};
        if (isQuantizableTensor(src, facts, options, fileType))
            p.targetType = rules.choose(src, p.note);
        const auto &targetFacts = typeFacts(p.targetType);
        if (src.ne[0] % targetFacts.blockSize != 0) {
            // Only explicit overrides get here (the rules fall back themselves): keep 16-bit.
            p.note = QStringLiteral("fallback: %1 columns not divisible by %2 (%3)")
                         .arg(src.ne[0])
                         .arg(targetFacts.blockSize)
                         .arg(ggmlTypeName(p.targetType));
            p.targetType = GgmlType::F16;
        }
        p.quantized = p.targetType != src.type;
        if (p.quantized && typeFacts(src.type).isQuantized) {
            if (!options.allowRequantize)
                throw Error(QStringLiteral("tensor '%1': requantizing from type %2 is disabled "
                                           "(use --allow-requantize)")
                                .arg(QString::fromUtf8(src.name), ggmlTypeName(src.type)));
            ++nRequantized;
        }
        p.targetBytes = tensorBytes(p.targetType, src.ne);
        plan.sourceTensorBytes += src.nBytes ? src.nBytes : tensorBytes(src.type, src.ne);
        plan.targetTensorBytes += p.targetBytes;
        plan.tensors.push_back(std::move(p));
    }
    // One summary line instead of one per tensor (the notes of the plan hold the details).
    QStringList keptAsF16;
    plan.nFallbacks = 0;
    for (const auto &p : plan.tensors) {
        if (!p.note.startsWith(QLatin1String("fallback")))
            continue;
        ++plan.nFallbacks;
        if (p.targetType == GgmlType::F16 && typeFacts(p.source.type).blockSize == 1)
            keptAsF16 << QString::fromUtf8(p.source.name);
    }
    if (plan.nFallbacks)
        plan.warnings << QStringLiteral("%1 of %2 tensor(s) required fallback quantization "
                                        "(row length not a multiple of the block size)")
                             .arg(plan.nFallbacks)
                             .arg(plan.tensors.size());
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
    if (fileType == FileType::Q2_K_S && !options.hasImatrix)
        plan.warnings << QStringLiteral("Q2_K_S without an importance matrix: llama-quantize "
                                        "refuses this; expect poor quality");

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
    plan.outputMetadata = std::move(md);

    // Exact file size: the writer's own formula over the layout it will be given.
    plan.outputFileBytes = plan.outputLayout().fileBytes();
    return plan;
}

GgufLayout QuantPlan::outputLayout() const
{
    GgufLayout layout;
    layout.metadata = outputMetadata;
    layout.tensors.reserve(tensors.size());
    for (const auto &p : tensors) {
        GgufTensorInfo t;
        t.name = p.source.name;
        t.nDims = p.source.nDims;
        t.ne = p.source.ne;
        t.type = p.targetType;
        layout.tensors.push_back(std::move(t));
    }
    layout.finalize();
    return layout;
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
    for (const auto &p : tensors) {
        if (p.quantized && !typeFacts(p.targetType).canQuantize)
            return false;
    }
    return true;
}

} // namespace QuantFit
