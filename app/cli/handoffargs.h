#pragma once

// The hand-off options of `quantize` (--to-ollama NAME, --to-lmstudio, --lmstudio-repo), kept
// apart from cmdquantize.cpp: they run after the conversion, from its result.

#include <QString>

#include <optional>

class QCommandLineParser;

namespace QuantFit {
struct ConversionRequest;
struct ConversionResult;
class JobContext;
} // namespace QuantFit

namespace QuantFit::Cli {

/// What to do with the converted files once written.
struct HandoffPlan {
    std::optional<QString> ollamaName;   ///< --to-ollama
    bool toLmStudio = false;             ///< --to-lmstudio
    QString lmStudioPublisher;           ///< --lmstudio-repo PUBLISHER/REPOSITORY; empty: default
    QString lmStudioRepository;
};

void addHandoffOptions(QCommandLineParser &parser);

/// Reads and checks the hand-off options before anything is converted (a bad name fails at
/// once, not after an hour of quantizing). When no OUT is given and IN lies in a runner's store,
/// notes on stderr that the output goes to QuantFit's folder for converted models
/// (defaultOutputFolder()) instead of next to IN.
HandoffPlan prepareHandoffs(const QCommandLineParser &parser, const ConversionRequest &request);

/// Hands every output to the runners the plan names, printing what happens. Throws Error when
/// a hand-off fails (ollama create exits non-zero, a target already exists).
void runHandoffs(const HandoffPlan &plan, const ConversionRequest &request,
                 const ConversionResult &result, JobContext &conversionContext);

} // namespace QuantFit::Cli
