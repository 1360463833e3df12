// quantfit-cli catalog [--json]: the built-in model catalog (shape facts from published configs).

#include "cliargs.h"
#include "command.h"

#include "catalog/catalog.h"

#include <QCommandLineParser>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace QuantFit::Cli {

namespace {

QJsonObject shapeJson(const ModelShape &m)
{
    QJsonObject o{
        {QStringLiteral("id"), m.id},
        {QStringLiteral("name"), m.name},
        {QStringLiteral("family"), m.family},
        {QStringLiteral("architecture"), m.architecture},
        {QStringLiteral("paramsBillions"), m.paramsBillions},
        {QStringLiteral("layers"), qint64(m.nLayers)},
        {QStringLiteral("embd"), qint64(m.nEmbd)},
        {QStringLiteral("ffn"), qint64(m.nFf)},
        {QStringLiteral("heads"), qint64(m.nHeads)},
        {QStringLiteral("kvHeads"), qint64(m.nHeadsKv)},
        {QStringLiteral("headDim"), qint64(m.headDim)},
        {QStringLiteral("vocab"), qint64(m.nVocab)},
        {QStringLiteral("maxContext"), qint64(m.nCtxMax)},
        {QStringLiteral("tiedEmbeddings"), m.tiedEmbeddings},
        {QStringLiteral("source"), m.source},
    };
    if (m.isMoe()) {
        o.insert(QStringLiteral("experts"), qint64(m.nExperts));
        o.insert(QStringLiteral("expertsUsed"), qint64(m.nExpertsUsed));
        o.insert(QStringLiteral("expertFfn"), qint64(m.nFfExpert));
        o.insert(QStringLiteral("activeParamsBillions"), m.activeParamsBillions);
        o.insert(QStringLiteral("sharedExperts"), qint64(m.nSharedExperts));
    }
    if (m.isMla())
        o.insert(QStringLiteral("kvLoraRank"), qint64(m.kvLoraRank));
    if (m.nRecurrentLayers)
        o.insert(QStringLiteral("recurrentLayers"), qint64(m.nRecurrentLayers));
    if (m.hasVision())
        o.insert(QStringLiteral("mmprojBytes"), double(m.mmprojBytes));
    if (m.nSlidingLayers) {
        o.insert(QStringLiteral("slidingWindow"), qint64(m.slidingWindow));
        o.insert(QStringLiteral("slidingLayers"), qint64(m.nSlidingLayers));
    }
    return o;
}

int runCatalog(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Lists the built-in model catalog: shape facts from each model's "
                       "published configuration, used by 'advise --model ID'."));
    parser.addOption({QStringLiteral("json"), QStringLiteral("Print JSON.")});
    if (!parseArgs(parser, QStringLiteral("catalog"), args, 0, 0))
        return 0;

    const auto catalog = Catalog::builtIn();
    if (parser.isSet(QStringLiteral("json"))) {
        QJsonArray models;
        for (const ModelShape &m : catalog->models())
            models.append(shapeJson(m));
        out(QString::fromUtf8(
            QJsonDocument(QJsonObject{{QStringLiteral("models"), models}}).toJson()));
        return 0;
    }
    QString text = QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9\n")
                       .arg(QStringLiteral("id"), -30)
                       .arg(QStringLiteral("params"), 7)
                       .arg(QStringLiteral("layers"), 6)
                       .arg(QStringLiteral("embd"), 6)
                       .arg(QStringLiteral("ffn"), 6)
                       .arg(QStringLiteral("heads"), 7)
                       .arg(QStringLiteral("vocab"), 7)
                       .arg(QStringLiteral("context"), 7)
                       .arg(QStringLiteral("notes"));
    for (const ModelShape &m : catalog->models()) {
        QStringList notes;
        if (m.tiedEmbeddings)
            notes << QStringLiteral("tied");
        if (m.isMoe())
            notes << QStringLiteral("MoE %1x%2 (%3 active, %4B read per token)")
                         .arg(m.nExperts)
                         .arg(m.nFfExpert)
                         .arg(m.nExpertsUsed)
                         .arg(m.activeParamsBillions);
        if (m.isMla())
            notes << QStringLiteral("latent KV %1").arg(m.kvLoraRank + m.ropeHeadDim);
        if (m.nRecurrentLayers)
            notes << QStringLiteral("%1 linear-attention layers").arg(m.nRecurrentLayers);
        if (m.hasVision())
            notes << QStringLiteral("vision (mmproj %1 GB)")
                         .arg(double(m.mmprojBytes) / 1e9, 0, 'f', 2);
        if (m.nSlidingLayers)
            notes << QStringLiteral("SWA %1 on %2 layers")
                         .arg(m.slidingWindow)
                         .arg(m.nSlidingLayers);
        text += QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8 %9\n")
                    .arg(m.id, -30)
                    .arg(QString::number(m.paramsBillions, 'f', m.paramsBillions < 10 ? 2 : 1)
                             + QLatin1Char('B'),
                         7)
                    .arg(m.nLayers, 6)
                    .arg(m.nEmbd, 6)
                    .arg(m.isMoe() ? m.nFfExpert : m.nFf, 6)
                    .arg(QStringLiteral("%1/%2").arg(m.nHeads).arg(m.nHeadsKv), 7)
                    .arg(m.nVocab, 7)
                    .arg(m.nCtxMax, 7)
                    .arg(notes.join(QStringLiteral(", ")));
    }
    text += QStringLiteral("%1 models. Heads are query/KV heads.\n").arg(catalog->models().size());
    out(text);
    return 0;
}

const CommandRegistration reg(QStringLiteral("catalog"),
                              QStringLiteral("List the built-in model catalog"), runCatalog);

} // namespace

} // namespace QuantFit::Cli
