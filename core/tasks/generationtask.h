#pragma once

// Text generation as one request: one prompt through one or several models (the brief's "same
// prompt, different quants"), with one set of options and one stop rule. `quantfit-cli generate`
// and `compare` and the app's Compare outputs panel all run it.

#include "infer/generator.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <functional>
#include <vector>

namespace QuantFit {

class JobContext;

struct TextGenerationRequest {
    QStringList modelPaths;           ///< run one after another, one model in memory at a time
    QString prompt;                   ///< must not be empty
    /// nPredict and sampling; stopTokens is filled from each model's vocabulary (every
    /// end-of-generation token: EOS, EOT, ...), whatever it holds here.
    GenerationOptions options;
    int nCtx = 0;                     ///< 0: prompt + nPredict + 1, at most the trained context
    int nThreads = 0;                 ///< 0: all cores
    /// On the worker as text is produced: the model's index and the new UTF-8 bytes of its
    /// continuation (whole characters only; the last call of a model flushes the rest).
    std::function<void(int model, const QByteArray &newText)> onText;
};

/// What one model produced.
struct GeneratedText {
    QString modelPath;
    std::uint64_t fileBytes = 0;
    double bitsPerWeight = 0;
    QString fileType;                 ///< "Q4_K_M"
    QByteArray continuation;          ///< UTF-8, after the prompt
    int nPromptTokens = 0;
    int nGenerated = 0;               ///< tokens generated (an end token included)
    double promptTokensPerSecond = 0;
    double generatedTokensPerSecond = 0;
    bool stoppedByToken = false;      ///< an end-of-generation token ended it
    int nThreads = 0;                 ///< threads the session used
};

struct TextGenerationResult {
    std::vector<GeneratedText> outputs; ///< in the order of modelPaths
};

/// Runs the prompt on every model. Progress: stage "Generating with NAME (i/n)", one unit per
/// generated token. Throws Error for an empty prompt, a prompt that produces no tokens or does
/// not fit the context, an unsupported architecture; Cancelled when asked.
TextGenerationResult runTextGeneration(const TextGenerationRequest &request, JobContext &ctx);

/// Length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence.
qsizetype completeUtf8Prefix(const QByteArray &bytes);

} // namespace QuantFit
