#pragma once

#include "perplexity.h"

#include <QByteArray>
#include <QJsonObject>

namespace QuantFit {

/// JSON record of a finished perplexity or KLD run, for the GUI's result list and `--json`.
/// Keys (numbers are JSON doubles; absent when not measured):
///   model, file_type, text, base, n_ctx, n_chunks, n_tokens_scored, ppl, ppl_error,
///   running_ppl [..], seconds, tokens_per_second, date (ISO 8601 UTC), and for KLD runs an
///   object "kld" with ppl_base, ppl_base_error, ppl_ratio, ppl_ratio_error, ppl_delta,
///   ppl_delta_error, ln_ratio, ln_ratio_error, correlation, kld_mean, kld_mean_error,
///   kld_median, kld_p90, kld_p95, kld_p99, kld_p999, kld_max, kld_min, kld_tail_bound,
///   same_top_percent, same_top_percent_error, rms_dp_percent, rms_dp_percent_error,
///   mean_dp_percent, mean_dp_percent_error, max_abs_dp_percent.
QJsonObject perplexityResultToJson(const PerplexityResult &result);
/// The inverse; missing keys keep their defaults. Throws FormatError naming `name` when the
/// object is not a result record (no "model" or "ppl").
PerplexityResult perplexityResultFromJson(const QJsonObject &object, const QString &name = {});

/// Indented UTF-8 JSON text of the record.
QByteArray perplexityResultJsonText(const PerplexityResult &result);

} // namespace QuantFit
