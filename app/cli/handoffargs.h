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
/// once, not after an hour of quantizing). Also keeps outputs out of the runners' stores: when
/// no OUT is given and IN lies in one (an Ollama blob, LM Studio's folder, a cache), the output
/// goes to QuantFit's folder for converted models instead of next to IN, with a note on stderr.
HandoffPlan prepareHandoffs(const QCommandLineParser &parser, ConversionRequest &request);

/// Hands every output to the runners the plan names, printing what happens. Throws Error when
/// a hand-off fails (ollama create exits non-zero, a target already exists).
void runHandoffs(const HandoffPlan &plan, const ConversionRequest &request,
                 const ConversionResult &result, JobContext &conversionContext);

} // namespace QuantFit::Cli
