#include "generator.h"

#include "llamamodel.h"

#include "jobs/jobcontext.h"
#include "util/error.h"

#include <QElapsedTimer>

#include <algorithm>

namespace QuantFit {

GenerationResult generate(InferenceSession &session, std::span<const std::int32_t> prompt,
                          const GenerationOptions &options,
                          const std::function<bool(std::int32_t)> &onToken, JobContext &ctx)
{
    if (prompt.empty())
        throw Error(QStringLiteral("cannot generate: the prompt has no tokens"));
    if (prompt.size() >= std::size_t(session.nCtx()))
        throw Error(QStringLiteral("the prompt has %1 tokens; the context holds %2")
                        .arg(prompt.size())
                        .arg(session.nCtx()));

    GenerationResult result;
    result.nPromptTokens = int(prompt.size());
    Sampler sampler(options.sampler);
    const std::size_t nVocab = std::size_t(session.model().nVocab());
    std::vector<float> logits(nVocab);

    ctx.setStage(QStringLiteral("Generating"), std::uint64_t(std::max(0, options.nPredict)));
    QElapsedTimer timer;
    timer.start();
    session.reset();
    session.evaluate(prompt, 0, logits, false, &ctx);
    result.promptSeconds = double(timer.nsecsElapsed()) * 1e-9;

    timer.restart();
    for (int i = 0; i < options.nPredict; ++i) {
        ctx.throwIfCancelled();
        const std::int32_t token = sampler.sample(logits);
        result.tokens.push_back(token);
        ctx.advance(1);
        const bool keepGoing = !onToken || onToken(token);
        if (std::find(options.stopTokens.begin(), options.stopTokens.end(), token)
            != options.stopTokens.end()) {
            result.stoppedByToken = true;
            break;
        }
        if (!keepGoing || i + 1 == options.nPredict || session.nPast() >= session.nCtx())
            break;
        session.evaluate(std::span<const std::int32_t>(&token, 1), session.nPast(), logits,
                         false, &ctx);
    }
    result.generateSeconds = double(timer.nsecsElapsed()) * 1e-9;
    ctx.flush();
    return result;
}

} // namespace QuantFit
