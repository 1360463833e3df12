#include "measuredspeed.h"

#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QStandardPaths>

namespace QuantFit {

namespace {

constexpr char kFormat[] = "quantfit-machine-speed";

} // namespace

QString measuredSpeedPath()
{
    const QString env = qEnvironmentVariable("QUANTFIT_MACHINE_SPEED_FILE");
    if (!env.isEmpty())
        return env;
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)
        + QStringLiteral("/QuantFit/quantfit/machine-speed.json");
}

std::optional<MeasuredSpeed> loadMeasuredSpeed(const QString &path)
{
    QFile f(path);
    if (!QFileInfo(path).isFile() || QFileInfo(path).size() > (1 << 20)
        || !f.open(QIODevice::ReadOnly))
        return std::nullopt;
    const QJsonObject o = QJsonDocument::fromJson(f.readAll()).object();
    if (o.value(QLatin1String("format")).toString() != QLatin1String(kFormat))
        return std::nullopt;
    MeasuredSpeed s;
    const auto positive = [&](const char *key) {
        const double v = o.value(QLatin1String(key)).toDouble();
        return v > 0 && v < 1e15 ? v : 0.0;
    };
    s.readBytesPerSecond = positive("readBytesPerSecond");
    s.readThreads = int(positive("readThreads"));
    s.readBytesPerCpuSecond = positive("readBytesPerCpuSecond");
    s.readCpuThreads = int(positive("readCpuThreads"));
    s.readDate = QDateTime::fromString(o.value(QLatin1String("readDate")).toString(), Qt::ISODate);
    s.generatedTokensPerSecond = positive("generatedTokensPerSecond");
    s.bytesPerToken = std::uint64_t(positive("bytesPerToken"));
    s.generationModel = o.value(QLatin1String("generationModel")).toString();
    s.generationThreads = int(positive("generationThreads"));
    s.generationDate =
        QDateTime::fromString(o.value(QLatin1String("generationDate")).toString(), Qt::ISODate);
    s.promptFlops = positive("promptFlops");
    s.promptTokensPerSecond = positive("promptTokensPerSecond");
    s.dotThreads = int(positive("dotThreads"));
    s.dotDate = QDateTime::fromString(o.value(QLatin1String("dotDate")).toString(), Qt::ISODate);
    const QJsonArray rates = o.value(QLatin1String("dotRates")).toArray();
    for (qsizetype i = 0; i < rates.size() && i < 256; ++i) {
        const QJsonObject r = rates.at(i).toObject();
        const QString type = r.value(QLatin1String("type")).toString();
        const double rate = r.value(QLatin1String("bytesPerSecond")).toDouble();
        if (!type.isEmpty() && type.size() < 32 && rate > 0 && rate < 1e15)
            s.dotRates.append({type, rate});
    }
    if (s.bytesPerToken == 0)
        s.generatedTokensPerSecond = 0;
    return s;
}

void saveMeasuredSpeed(const MeasuredSpeed &s, const QString &path)
{
    QJsonArray rates;
    for (const MeasuredDotRate &r : s.dotRates)
        rates.append(QJsonObject{{QStringLiteral("type"), r.type},
                                 {QStringLiteral("bytesPerSecond"), r.bytesPerSecond}});
    const QJsonObject o{
        {QStringLiteral("format"), QLatin1String(kFormat)},
        {QStringLiteral("readBytesPerSecond"), s.readBytesPerSecond},
        {QStringLiteral("readThreads"), s.readThreads},
        {QStringLiteral("readBytesPerCpuSecond"), s.readBytesPerCpuSecond},
        {QStringLiteral("readCpuThreads"), s.readCpuThreads},
        {QStringLiteral("readDate"), s.readDate.toUTC().toString(Qt::ISODate)},
        {QStringLiteral("generatedTokensPerSecond"), s.generatedTokensPerSecond},
        {QStringLiteral("bytesPerToken"), double(s.bytesPerToken)},
        {QStringLiteral("generationModel"), s.generationModel},
        {QStringLiteral("generationThreads"), s.generationThreads},
        {QStringLiteral("generationDate"), s.generationDate.toUTC().toString(Qt::ISODate)},
        {QStringLiteral("promptFlops"), s.promptFlops},
        {QStringLiteral("promptTokensPerSecond"), s.promptTokensPerSecond},
        {QStringLiteral("dotRates"), rates},
        {QStringLiteral("dotThreads"), s.dotThreads},
        {QStringLiteral("dotDate"), s.dotDate.toUTC().toString(Qt::ISODate)}};
    QDir().mkpath(QFileInfo(path).absolutePath());
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        throw IoError(path, QStringLiteral("open for writing"), f.errorString());
    const QByteArray text = QJsonDocument(o).toJson();
    if (f.write(text) != text.size() || !f.commit())
        throw IoError(path, QStringLiteral("write"), f.errorString());
}

} // namespace QuantFit
