#include "generationtask.h"

#include "gguf/ggufreader.h"
#include "infer/llamamodel.h"
#include "jobs/jobcontext.h"
#include "model/modelinfo.h"
#include "tokenize/tokenizer.h"
#include "util/error.h"

#include <QFileInfo>

#include <algorithm>

namespace QuantFit {

qsizetype completeUtf8Prefix(const QByteArray &bytes)
{
    const qsizetype n = bytes.size();
    for (qsizetype back = 1; back <= 4 && back <= n; ++back) {
        const auto c = static_cast<unsigned char>(bytes[n - back]);
        if ((c & 0xC0) == 0x80)
            continue; // continuation byte: look further back for the lead
        int len = 1;
        if ((c & 0xE0) == 0xC0)
            len = 2;
        else if ((c & 0xF0) == 0xE0)
            len = 3;
        else if ((c & 0xF8) == 0xF0)
            len = 4;
        return back < len ? n - back : n;
    }
    return n;
}

namespace {

GeneratedText generateWith(const TextGenerationRequest &request, int index, JobContext &ctx)
{
    const QString &path = request.modelPaths[index];
    auto file = std::make_shared<const GgufFile>(GgufFile::open(path));
    const ModelInfo info = modelInfoFrom(*file);
    auto model = std::make_shared<const LlamaModel>(file); // names an unsupported architecture
    const Tokenizer tokenizer = Tokenizer::fromMetadata(file->metadata(), path);
    const std::vector<std::int32_t> prompt = tokenizer.encode(QStringView(request.prompt), true);
    if (prompt.empty())
        throw Error(QStringLiteral("%1: the prompt produced no tokens").arg(QFileInfo(path).fileName()));

    GenerationOptions options = request.options;
    options.stopTokens.clear(); // the stop rule is the vocabulary's: isEndOfGeneration below
    int nCtx = request.nCtx;
    if (nCtx <= 0)
        nCtx = int(std::min<qint64>(qint64(prompt.size()) + options.nPredict + 1, model->nCtxTrain()));
    InferenceSession session(model, {.nCtx = std::max(nCtx, 1), .nThreads = request.nThreads});

    // The continuation is what decoding prompt + generated gives after what decoding the prompt
    // alone gives (an SPM vocabulary's leading space then comes out right); it is handed on in
    // whole UTF-8 characters.
    std::vector<std::int32_t> all = prompt;
    const qsizetype promptBytes = tokenizer.decode(prompt, true).size();
    qsizetype sent = promptBytes;
    QByteArray text;
    auto flush = [&](bool final) {
        text = tokenizer.decode(all, true);
        const qsizetype end = final ? text.size() : completeUtf8Prefix(text);
        if (end > sent) {
            if (request.onText)
                request.onText(index, text.mid(sent, end - sent));
            sent = end;
        }
    };
    const GenerationResult g = generate(
        session, prompt, options,
        [&](std::int32_t token) {
            all.push_back(token);
            ctx.advance(1);
            if (tokenizer.isEndOfGeneration(token))
                return false;
            flush(false);
            return true;
        },
        ctx);
    flush(true);

    GeneratedText out;
    out.modelPath = path;
    out.fileBytes = file->totalFileSize();
    out.bitsPerWeight = info.bitsPerWeight();
    out.fileType = fileTypeName(info.fileType.value_or(info.guessedFileType));
    out.continuation = text.size() >= promptBytes ? text.mid(promptBytes) : text;
    out.nPromptTokens = g.nPromptTokens;
    out.nGenerated = int(g.tokens.size());
    out.promptTokensPerSecond = g.promptTokensPerSecond();
    out.generatedTokensPerSecond = g.generatedTokensPerSecond();
    out.stoppedByToken = all.size() > prompt.size() && tokenizer.isEndOfGeneration(all.back());
    out.nThreads = session.nThreads();
    return out;
}

} // namespace

TextGenerationResult runTextGeneration(const TextGenerationRequest &request, JobContext &ctx)
{
    if (request.modelPaths.isEmpty())
        throw Error(QStringLiteral("no model to generate with"));
    if (request.prompt.trimmed().isEmpty())
        throw Error(QStringLiteral("the prompt is empty"));
    if (request.options.nPredict < 0)
        throw Error(QStringLiteral("the number of tokens to generate cannot be negative (got %1)")
                        .arg(request.options.nPredict));
    TextGenerationResult result;
    const int n = int(request.modelPaths.size());
    for (int i = 0; i < n; ++i) {
        ctx.setStage(QStringLiteral("Generating with %1 (%2/%3)")
                         .arg(QFileInfo(request.modelPaths[i]).fileName())
                         .arg(i + 1)
                         .arg(n),
                     std::uint64_t(request.options.nPredict));
        ctx.setRateUnit(QStringLiteral("tok/s"));
        result.outputs.push_back(generateWith(request, i, ctx));
    }
    return result;
}

} // namespace QuantFit
