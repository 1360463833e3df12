#include "catalog.h"

#include "util/error.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>
#include <QStringList>

#include <algorithm>
#include <cmath>
#include <mutex>

// The resource lives in a static library: nothing references its registration object, so the
// linker would drop it. Q_INIT_RESOURCE registers it explicitly (must be outside a namespace).
static void initCatalogResource()
{
    Q_INIT_RESOURCE(catalog);
}

namespace QuantFit {

namespace {

const QString kResourcePath = QStringLiteral(":/quantfit/catalog.json");

class EntryReader
{
public:
    EntryReader(const QJsonObject &object, const QString &source, qsizetype index)
        : m_object(object), m_source(source), m_index(index)
    {
    }

    [[noreturn]] void fail(const QString &field, const QString &problem) const
    {
        const QString id = m_object.value(QLatin1String("id")).toString();
        throw FormatError(m_source, 0,
                          QStringLiteral("models[%1]%2.%3")
                              .arg(m_index)
                              .arg(id.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(id))
                              .arg(field),
                          problem);
    }

    QString string(const char *field, bool required = true) const
    {
        const QJsonValue v = m_object.value(QLatin1String(field));
        if (v.isUndefined() && !required)
            return {};
        if (!v.isString() || v.toString().isEmpty())
            fail(QLatin1String(field), QStringLiteral("expected a non-empty string"));
        return v.toString();
    }

    std::uint32_t count(const char *field, bool required, std::uint32_t min = 0,
                        std::uint32_t max = 1u << 30) const
    {
        const QJsonValue v = m_object.value(QLatin1String(field));
        if (v.isUndefined() && !required)
            return 0;
        const double d = v.toDouble(-1);
        if (!v.isDouble() || d < min || d > max || d != std::floor(d))
            fail(QLatin1String(field),
                 QStringLiteral("expected an integer in %1..%2").arg(min).arg(max));
        return std::uint32_t(d);
    }

    double number(const char *field, bool required) const
    {
        const QJsonValue v = m_object.value(QLatin1String(field));
        if (v.isUndefined() && !required)
            return 0;
        if (!v.isDouble() || v.toDouble() <= 0)
            fail(QLatin1String(field), QStringLiteral("expected a positive number"));
        return v.toDouble();
    }

    bool flag(const char *field) const
    {
        const QJsonValue v = m_object.value(QLatin1String(field));
        if (v.isUndefined())
            return false;
        if (!v.isBool())
            fail(QLatin1String(field), QStringLiteral("expected true or false"));
        return v.toBool();
    }

private:
    const QJsonObject &m_object;
    const QString &m_source;
    qsizetype m_index;
};

ModelShape readEntry(const QJsonObject &o, const QString &source, qsizetype index)
{
    const EntryReader r(o, source, index);
    ModelShape s;
    s.id = r.string("id");
    s.name = r.string("name");
    s.family = r.string("family");
    s.architecture = r.string("arch");
    s.paramsBillions = r.number("params", true);
    s.nLayers = r.count("layers", true, 1, 4096);
    s.nEmbd = r.count("embd", true, 1);
    s.nFf = r.count("ffn", true, 0);
    s.nHeads = r.count("heads", true, 1, 4096);
    s.nHeadsKv = r.count("kvHeads", true, 1, 4096);
    s.headDim = r.count("headDim", true, 1, 4096);
    s.nVocab = r.count("vocab", true, 1);
    s.nCtxMax = r.count("ctx", true, 256);
    s.tiedEmbeddings = r.flag("tied");
    s.nExperts = r.count("experts", false, 0, 4096);
    s.nExpertsUsed = r.count("expertsUsed", false, 0, 4096);
    s.nFfExpert = r.count("expertFfn", false, 0);
    s.slidingWindow = r.count("swaWindow", false, 0);
    s.nSlidingLayers = r.count("swaLayers", false, 0, 4096);
    s.qkvBias = r.flag("qkvBias");
    s.qkNorm = r.flag("qkNorm");
    s.ropeFreqs = r.flag("ropeFreqs");
    const QString tokenizer = r.string("tokenizer");
    if (tokenizer != QLatin1String("bpe") && tokenizer != QLatin1String("spm"))
        r.fail(QStringLiteral("tokenizer"), QStringLiteral("expected \"bpe\" or \"spm\""));
    s.bpeTokenizer = tokenizer == QLatin1String("bpe");
    s.nMerges = r.count("merges", false, 0);
    if (o.contains(QLatin1String("mmlu")))
        s.mmlu = r.number("mmlu", true);
    s.lineup = r.flag("lineup");
    s.lineupReason = r.string("lineupWhy", false);
    if (s.lineup && (!s.mmlu || s.lineupReason.isEmpty()))
        r.fail(QStringLiteral("lineup"), QStringLiteral("a lineup model needs mmlu and lineupWhy"));
    s.source = r.string("source", false);
    s.activeParamsBillions = r.number("activeParams", false);
    s.nSharedExperts = r.count("sharedExperts", false, 0, 64);
    s.nFfShared = r.count("sharedFfn", false, 0);
    s.nDenseLeadLayers = r.count("denseLeadLayers", false, 0, 4096);
    s.moeLayerStep = std::max(1u, r.count("moeLayerStep", false, 0, 64));
    s.nNextnLayers = r.count("nextnLayers", false, 0, 64);
    s.expertsMxfp4 = r.flag("expertsMxfp4");
    s.kvLoraRank = r.count("kvLoraRank", false, 0, 65536);
    s.qLoraRank = r.count("qLoraRank", false, 0, 65536);
    s.ropeHeadDim = r.count("ropeHeadDim", false, 0, 4096);
    s.vHeadDim = r.count("vHeadDim", false, 0, 4096);
    s.nRecurrentLayers = r.count("recurrentLayers", false, 0, 4096);
    s.ssmConvKernel = r.count("ssmConvKernel", false, 0, 64);
    s.ssmKeyHeads = r.count("ssmKeyHeads", false, 0, 4096);
    s.ssmValueHeads = r.count("ssmValueHeads", false, 0, 4096);
    s.ssmKeyHeadDim = r.count("ssmKeyHeadDim", false, 0, 4096);
    s.ssmValueHeadDim = r.count("ssmValueHeadDim", false, 0, 4096);
    s.mmprojBytes = std::uint64_t(r.number("mmprojBytes", false));
    s.mmprojSource = r.string("mmprojSource", false);
    try {
        validateShape(s, s.id);
    } catch (const Error &e) {
        r.fail(QStringLiteral("shape"), e.message());
    }
    return s;
}

} // namespace

void validateShape(const ModelShape &s, const QString &what)
{
    auto fail = [&](const QString &problem) {
        throw Error(QStringLiteral("model shape '%1': %2").arg(what, problem));
    };
    if (s.nLayers == 0 || s.nEmbd == 0 || s.nHeads == 0 || s.nHeadsKv == 0 || s.headDim == 0
        || s.nVocab == 0 || s.nCtxMax == 0)
        fail(QStringLiteral("layers, embedding width, heads, KV heads, head dim, vocabulary and "
                            "context must all be > 0"));
    if (s.nHeads % s.nHeadsKv != 0)
        fail(QStringLiteral("heads (%1) must be a multiple of KV heads (%2)")
                 .arg(s.nHeads)
                 .arg(s.nHeadsKv));
    if (s.nExperts > 1) {
        if (s.nExpertsUsed == 0 || s.nExpertsUsed > s.nExperts || s.nFfExpert == 0)
            fail(QStringLiteral("a mixture of experts needs 1 <= experts used <= experts (%1) "
                                "and an expert FFN width")
                     .arg(s.nExperts));
    } else if (s.nFf == 0) {
        fail(QStringLiteral("FFN width must be > 0"));
    }
    if (s.activeParamsBillions > s.paramsBillions)
        fail(QStringLiteral("active parameters (%1 B) exceed the total (%2 B)")
                 .arg(s.activeParamsBillions)
                 .arg(s.paramsBillions));
    if (s.nSharedExperts > 0 && s.nFfShared == 0)
        fail(QStringLiteral("shared experts need a shared FFN width"));
    if (s.nDenseLeadLayers > 0 && s.nFf == 0)
        fail(QStringLiteral("leading dense layers need a dense FFN width"));
    if (s.moeLayerStep > 1 && s.nFf == 0)
        fail(QStringLiteral("interleaved dense layers need a dense FFN width"));
    if (s.kvLoraRank > 0 && (s.ropeHeadDim == 0 || s.ropeHeadDim >= s.headDim || s.vHeadDim == 0))
        fail(QStringLiteral("latent attention needs a rotary head part smaller than the head "
                            "and a value head width"));
    if (s.nRecurrentLayers > 0
        && (s.ssmConvKernel == 0 || s.ssmKeyHeads == 0 || s.ssmValueHeads == 0
            || s.ssmKeyHeadDim == 0 || s.ssmValueHeadDim == 0))
        fail(QStringLiteral("recurrent layers need their conv kernel, head counts and widths"));
    if (std::uint64_t(s.nSlidingLayers) + s.nRecurrentLayers > s.nLayers)
        fail(QStringLiteral("sliding-window (%1) and recurrent (%2) layers exceed layers (%3)")
                 .arg(s.nSlidingLayers)
                 .arg(s.nRecurrentLayers)
                 .arg(s.nLayers));
    if (s.nSlidingLayers > 0 && s.slidingWindow == 0)
        fail(QStringLiteral("sliding-window layers need a window size"));
    // Products used in sizing must stay far from overflow.
    const double biggest = double(s.nEmbd) * std::max({s.nVocab, s.nFf, s.nFfExpert, s.qDim()})
                           * std::max(1u, s.nExperts);
    if (biggest > 1e13)
        fail(QStringLiteral("tensor dimensions are implausibly large"));
}

Catalog Catalog::fromJson(const QByteArray &json, const QString &source)
{
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError)
        throw FormatError(source, std::uint64_t(error.offset), QStringLiteral("JSON"),
                          error.errorString());
    const QJsonArray models = doc.object().value(QLatin1String("models")).toArray();
    if (models.isEmpty())
        throw FormatError(source, 0, QStringLiteral("models"),
                          QStringLiteral("expected a non-empty array"));
    Catalog catalog;
    catalog.m_models.reserve(std::size_t(models.size()));
    for (qsizetype i = 0; i < models.size(); ++i) {
        if (!models.at(i).isObject())
            throw FormatError(source, 0, QStringLiteral("models[%1]").arg(i),
                              QStringLiteral("expected an object"));
        ModelShape shape = readEntry(models.at(i).toObject(), source, i);
        if (catalog.find(shape.id))
            throw FormatError(source, 0, QStringLiteral("models[%1].id").arg(i),
                              QStringLiteral("duplicate id '%1'").arg(shape.id));
        catalog.m_models.push_back(std::move(shape));
    }
    return catalog;
}

std::shared_ptr<const Catalog> Catalog::builtIn()
{
    static std::once_flag once;
    static std::shared_ptr<const Catalog> instance;
    std::call_once(once, [] {
        initCatalogResource();
        QFile file(kResourcePath);
        if (!file.open(QIODevice::ReadOnly))
            throw IoError(kResourcePath, QStringLiteral("open"), file.errorString());
        instance = std::make_shared<const Catalog>(fromJson(file.readAll(), kResourcePath));
    });
    return instance;
}

const ModelShape *Catalog::find(const QString &id) const
{
    for (const ModelShape &m : m_models) {
        if (m.id.compare(id, Qt::CaseInsensitive) == 0)
            return &m;
    }
    return nullptr;
}

const ModelShape &Catalog::get(const QString &id) const
{
    if (const ModelShape *m = find(id))
        return *m;
    QStringList close;
    const QString needle = id.section(QLatin1Char('-'), 0, 0).toLower();
    for (const ModelShape &m : m_models) {
        if (!needle.isEmpty() && m.id.startsWith(needle))
            close << m.id;
    }
    QString message = QStringLiteral("unknown model id '%1'").arg(id);
    if (!close.isEmpty())
        message += QStringLiteral(" (did you mean: %1?)").arg(close.join(QStringLiteral(", ")));
    else
        message += QStringLiteral(" (run 'quantfit-cli catalog' for the list)");
    throw Error(message);
}

} // namespace QuantFit
