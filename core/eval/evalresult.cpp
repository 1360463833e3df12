#include "evalresult.h"

#include "gguf/ggufreader.h"
#include "io/regularfile.h"
#include "model/modelinfo.h"
#include "util/error.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

#include <cmath>

namespace QuantFit {

namespace {

// One table maps KldSummary fields to JSON keys, so writing and reading cannot drift apart.
struct KldField {
    const char *key;
    double KldSummary::*member;
};

constexpr KldField kKldFields[] = {
    {"ppl_q", &KldSummary::pplQ},
    {"ppl_q_error", &KldSummary::pplQError},
    {"ppl_base", &KldSummary::pplBase},
    {"ppl_base_error", &KldSummary::pplBaseError},
    {"ln_ratio", &KldSummary::lnRatio},
    {"ln_ratio_error", &KldSummary::lnRatioError},
    {"ppl_ratio", &KldSummary::pplRatio},
    {"ppl_ratio_error", &KldSummary::pplRatioError},
    {"ppl_delta", &KldSummary::pplDelta},
    {"ppl_delta_error", &KldSummary::pplDeltaError},
    {"correlation", &KldSummary::correlation},
    {"kld_mean", &KldSummary::kldMean},
    {"kld_mean_error", &KldSummary::kldMeanError},
    {"kld_median", &KldSummary::kldMedian},
    {"kld_p90", &KldSummary::kldP90},
    {"kld_p95", &KldSummary::kldP95},
    {"kld_p99", &KldSummary::kldP99},
    {"kld_p999", &KldSummary::kldP999},
    {"kld_max", &KldSummary::kldMax},
    {"kld_min", &KldSummary::kldMin},
    {"kld_tail_bound", &KldSummary::kldTailBound},
    {"same_top_percent", &KldSummary::sameTopPercent},
    {"same_top_percent_error", &KldSummary::sameTopPercentError},
    {"rms_dp_percent", &KldSummary::rmsDpPercent},
    {"rms_dp_percent_error", &KldSummary::rmsDpPercentError},
    {"mean_dp_percent", &KldSummary::meanDpPercent},
    {"mean_dp_percent_error", &KldSummary::meanDpPercentError},
    {"max_abs_dp_percent", &KldSummary::maxAbsDpPercent},
};

constexpr std::uint64_t kMaxRecordBytes = 16u << 20;

bool sameKld(const std::optional<KldSummary> &a, const std::optional<KldSummary> &b)
{
    if (a.has_value() != b.has_value())
        return false;
    if (!a)
        return true;
    if (a->nTokens != b->nTokens)
        return false;
    for (const KldField &f : kKldFields) {
        if ((*a).*f.member != (*b).*f.member)
            return false;
    }
    return true;
}

// Counts are stored as JSON numbers (doubles): exact up to 2^53, far beyond any file or token
// count. Negative or non-finite values read as 0.
std::uint64_t countFrom(const QJsonValue &v)
{
    const double d = v.toDouble();
    return std::isfinite(d) && d > 0 ? std::uint64_t(d) : 0;
}

std::optional<double> optionalNumber(const QJsonObject &o, QStringView key)
{
    const QJsonValue v = o.value(key);
    return v.isDouble() ? std::optional<double>(v.toDouble()) : std::nullopt;
}

// The app's first format ("quantfit-measurement-1"): camelCase keys, a few KLD figures.
MeasurementRecord fromVersion1(const QJsonObject &o)
{
    MeasurementRecord r;
    r.modelPath = o.value(u"modelPath").toString();
    r.modelName = o.value(u"modelName").toString();
    r.fileType = o.value(u"fileType").toString();
    r.fileBytes = countFrom(o.value(u"fileBytes"));
    r.nParams = countFrom(o.value(u"nParams"));
    r.bitsPerWeight = o.value(u"bitsPerWeight").toDouble();
    r.textSource = o.value(u"text").toString();
    r.nCtx = o.value(u"context").toInt();
    r.nChunks = o.value(u"chunks").toInt();
    r.ppl = o.value(u"ppl").toDouble();
    r.pplError = o.value(u"pplError").toDouble();
    r.tokensPerSecond = o.value(u"tokensPerSecond").toDouble();
    r.basePath = o.value(u"basePath").toString();
    r.date = QDateTime::fromString(o.value(u"when").toString(), Qt::ISODateWithMs);
    if (const auto mean = optionalNumber(o, u"kldMean")) {
        KldSummary k;
        k.kldMean = *mean;
        k.kldMeanError = optionalNumber(o, u"kldMeanError").value_or(0);
        k.kldMedian = optionalNumber(o, u"kldMedian").value_or(0);
        k.kldP99 = optionalNumber(o, u"kldP99").value_or(0);
        k.pplRatio = optionalNumber(o, u"pplRatio").value_or(0);
        k.sameTopPercent = optionalNumber(o, u"sameTopPercent").value_or(0);
        k.pplQ = r.ppl;
        k.pplQError = r.pplError;
        r.kld = k;
    }
    return r;
}

} // namespace

bool MeasurementRecord::operator==(const MeasurementRecord &o) const
{
    return modelPath == o.modelPath && modelName == o.modelName && fileType == o.fileType
        && fileBytes == o.fileBytes && nParams == o.nParams && bitsPerWeight == o.bitsPerWeight
        && isBase == o.isBase && textSource == o.textSource && basePath == o.basePath
        && nCtx == o.nCtx && nChunks == o.nChunks && nBatch == o.nBatch && nThreads == o.nThreads
        && kvType == o.kvType && nTokensScored == o.nTokensScored && ppl == o.ppl
        && pplError == o.pplError && runningPpl == o.runningPpl && seconds == o.seconds
        && tokensPerSecond == o.tokensPerSecond && sameKld(kld, o.kld) && date == o.date
        && producer == o.producer;
}

MeasurementRecord measurementRecordFor(const PerplexityResult &run, const QString &modelPath)
{
    const GgufFile file = GgufFile::open(modelPath, GgufFile::Mode::MetadataOnly);
    const ModelInfo info = modelInfoFrom(file);
    MeasurementRecord r;
    r.modelPath = modelPath;
    r.modelName = info.name.isEmpty() ? QFileInfo(modelPath).fileName() : info.name;
    r.fileType = run.fileType.isEmpty()
                     ? fileTypeName(info.fileType.value_or(info.guessedFileType))
                     : run.fileType;
    r.fileBytes = file.totalFileSize();
    r.nParams = info.nParams;
    r.bitsPerWeight = info.bitsPerWeight();
    r.textSource = run.textSource;
    r.basePath = run.basePath;
    r.nCtx = run.nCtx;
    r.nChunks = run.nChunks;
    r.nTokensScored = run.nTokensScored;
    r.ppl = run.ppl;
    r.pplError = run.pplError;
    r.runningPpl = run.runningPpl;
    r.seconds = run.seconds;
    r.tokensPerSecond = run.tokensPerSecond;
    r.kld = run.kld;
    r.date = run.date.isValid() ? run.date : QDateTime::currentDateTimeUtc();
    return r;
}

QJsonObject measurementRecordToJson(const MeasurementRecord &r)
{
    QJsonObject o;
    o[u"format"] = QLatin1String(kMeasurementFormat);
    o[u"version"] = kMeasurementVersion;
    o[u"model"] = r.modelPath;
    o[u"model_name"] = r.modelName;
    o[u"file_type"] = r.fileType;
    o[u"file_bytes"] = double(r.fileBytes);
    o[u"parameters"] = double(r.nParams);
    o[u"bits_per_weight"] = r.bitsPerWeight;
    if (r.isBase)
        o[u"is_base"] = true;
    o[u"text"] = r.textSource;
    if (!r.basePath.isEmpty())
        o[u"base"] = r.basePath;
    o[u"n_ctx"] = r.nCtx;
    o[u"n_chunks"] = r.nChunks;
    if (r.nBatch > 0)
        o[u"n_batch"] = r.nBatch;
    if (r.nThreads > 0)
        o[u"n_threads"] = r.nThreads;
    if (!r.kvType.isEmpty())
        o[u"kv_type"] = r.kvType;
    o[u"n_tokens_scored"] = double(r.nTokensScored);
    o[u"ppl"] = r.ppl;
    o[u"ppl_error"] = r.pplError;
    QJsonArray running;
    for (const double v : r.runningPpl)
        running.append(v);
    o[u"running_ppl"] = running;
    o[u"seconds"] = r.seconds;
    o[u"tokens_per_second"] = r.tokensPerSecond;
    o[u"date"] = r.date.toUTC().toString(Qt::ISODateWithMs);
    if (!r.producer.isEmpty())
        o[u"producer"] = r.producer;
    if (r.kld) {
        QJsonObject k;
        k[u"n_tokens"] = double(r.kld->nTokens);
        for (const KldField &f : kKldFields)
            k[QLatin1String(f.key)] = (*r.kld).*f.member;
        o[u"kld"] = k;
    }
    return o;
}

QByteArray measurementRecordJsonText(const MeasurementRecord &record)
{
    return QJsonDocument(measurementRecordToJson(record)).toJson(QJsonDocument::Indented);
}

MeasurementRecord measurementRecordFromJson(const QJsonObject &o, const QString &name)
{
    const QString format = o.value(u"format").toString();
    if (format == QLatin1String("quantfit-measurement-1"))
        return fromVersion1(o);
    if (!format.isEmpty() && format != QLatin1String(kMeasurementFormat))
        throw FormatError(name, 0, QStringLiteral("format"),
                          QStringLiteral("'%1' is not a QuantFit measurement record (expected "
                                         "\"%2\")")
                              .arg(format, QLatin1String(kMeasurementFormat)));
    // No "format" key: the perplexity --json output of builds before version 2 (same keys).
    const int version = format.isEmpty() ? 1 : o.value(u"version").toInt(-1);
    if (version < 1 || version > kMeasurementVersion)
        throw FormatError(name, 0, QStringLiteral("version"),
                          QStringLiteral("schema version %1 is not one this build reads (1 to %2); "
                                         "a newer QuantFit wrote it")
                              .arg(o.value(u"version").toVariant().toString())
                              .arg(kMeasurementVersion));
    if (!o.value(u"model").isString() || !o.value(u"ppl").isDouble())
        throw FormatError(name, 0, QStringLiteral("model/ppl"),
                          QStringLiteral("not a measurement record (needs a \"model\" string and "
                                         "a \"ppl\" number)"));
    MeasurementRecord r;
    r.modelPath = o.value(u"model").toString();
    r.modelName = o.value(u"model_name").toString();
    r.fileType = o.value(u"file_type").toString();
    r.fileBytes = countFrom(o.value(u"file_bytes"));
    r.nParams = countFrom(o.value(u"parameters"));
    r.bitsPerWeight = o.value(u"bits_per_weight").toDouble();
    r.isBase = o.value(u"is_base").toBool();
    r.textSource = o.value(u"text").toString();
    r.basePath = o.value(u"base").toString();
    r.nCtx = o.value(u"n_ctx").toInt();
    r.nChunks = o.value(u"n_chunks").toInt();
    r.nBatch = o.value(u"n_batch").toInt();
    r.nThreads = o.value(u"n_threads").toInt();
    r.kvType = o.value(u"kv_type").toString();
    r.nTokensScored = countFrom(o.value(u"n_tokens_scored"));
    r.ppl = o.value(u"ppl").toDouble();
    r.pplError = o.value(u"ppl_error").toDouble();
    for (const QJsonValue v : o.value(u"running_ppl").toArray())
        r.runningPpl.push_back(v.toDouble());
    r.seconds = o.value(u"seconds").toDouble();
    r.tokensPerSecond = o.value(u"tokens_per_second").toDouble();
    r.date = QDateTime::fromString(o.value(u"date").toString(), Qt::ISODateWithMs);
    r.producer = o.value(u"producer").toString();
    if (o.value(u"kld").isObject()) {
        const QJsonObject k = o.value(u"kld").toObject();
        KldSummary s;
        s.nTokens = countFrom(k.value(u"n_tokens"));
        for (const KldField &f : kKldFields)
            s.*f.member = k.value(QLatin1String(f.key)).toDouble();
        r.kld = s;
    }
    return r;
}

MeasurementRecord readMeasurementRecord(const QString &path)
{
    const QByteArray bytes = readRegularFile(path, kMaxRecordBytes, QStringLiteral("a measurement record"));
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(bytes, &error);
    if (error.error != QJsonParseError::NoError)
        throw FormatError(path, std::uint64_t(std::max(0, error.offset)), QStringLiteral("JSON"),
                          error.errorString());
    if (!doc.isObject())
        throw FormatError(path, 0, QStringLiteral("JSON"),
                          QStringLiteral("expected one JSON object (a measurement record)"));
    return measurementRecordFromJson(doc.object(), path);
}

} // namespace QuantFit
