#include "evalresult.h"

#include "util/error.h"

#include <QJsonArray>
#include <QJsonDocument>

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

} // namespace

QJsonObject perplexityResultToJson(const PerplexityResult &r)
{
    QJsonObject o;
    o[u"model"] = r.modelPath;
    o[u"file_type"] = r.fileType;
    o[u"text"] = r.textSource;
    if (!r.basePath.isEmpty())
        o[u"base"] = r.basePath;
    o[u"n_ctx"] = r.nCtx;
    o[u"n_chunks"] = r.nChunks;
    o[u"n_tokens_scored"] = double(r.nTokensScored);
    o[u"ppl"] = r.ppl;
    o[u"ppl_error"] = r.pplError;
    QJsonArray running;
    for (const double v : r.runningPpl)
        running.append(v);
    o[u"running_ppl"] = running;
    o[u"seconds"] = r.seconds;
    o[u"tokens_per_second"] = r.tokensPerSecond;
    o[u"date"] = r.date.toUTC().toString(Qt::ISODate);
    if (r.kld) {
        QJsonObject k;
        k[u"n_tokens"] = double(r.kld->nTokens);
        for (const KldField &f : kKldFields)
            k[QLatin1String(f.key)] = (*r.kld).*f.member;
        o[u"kld"] = k;
    }
    return o;
}

PerplexityResult perplexityResultFromJson(const QJsonObject &o, const QString &name)
{
    if (!o.contains(u"model") || !o.value(u"ppl").isDouble())
        throw FormatError(name, 0, QStringLiteral("model/ppl"),
                          QStringLiteral("not a perplexity result record"));
    PerplexityResult r;
    r.modelPath = o.value(u"model").toString();
    r.fileType = o.value(u"file_type").toString();
    r.textSource = o.value(u"text").toString();
    r.basePath = o.value(u"base").toString();
    r.nCtx = o.value(u"n_ctx").toInt();
    r.nChunks = o.value(u"n_chunks").toInt();
    r.nTokensScored = std::uint64_t(std::max(0.0, o.value(u"n_tokens_scored").toDouble()));
    r.ppl = o.value(u"ppl").toDouble();
    r.pplError = o.value(u"ppl_error").toDouble();
    for (const QJsonValue v : o.value(u"running_ppl").toArray())
        r.runningPpl.push_back(v.toDouble());
    r.seconds = o.value(u"seconds").toDouble();
    r.tokensPerSecond = o.value(u"tokens_per_second").toDouble();
    r.date = QDateTime::fromString(o.value(u"date").toString(), Qt::ISODate);
    if (o.value(u"kld").isObject()) {
        const QJsonObject k = o.value(u"kld").toObject();
        KldSummary s;
        s.nTokens = std::uint64_t(std::max(0.0, k.value(u"n_tokens").toDouble()));
        for (const KldField &f : kKldFields)
            s.*f.member = k.value(QLatin1String(f.key)).toDouble();
        r.kld = s;
    }
    return r;
}

QByteArray perplexityResultJsonText(const PerplexityResult &result)
{
    return QJsonDocument(perplexityResultToJson(result)).toJson(QJsonDocument::Indented);
}

} // namespace QuantFit
