#include "evaltext.h"

#include "gguf/ggufreader.h"
#include "io/archivetext.h"
#include "tokenize/tokenizer.h"
#include "util/error.h"

namespace QuantFit {

namespace {

Tokenizer tokenizerOf(const GgufFile &model)
{
    return Tokenizer::fromMetadata(model.metadata(), model.path());
}

} // namespace

EvalTokens tokenizeEvalText(const GgufFile &model, QByteArray text, const QString &name)
{
    const Tokenizer tok = tokenizerOf(model);
    if (tok.addEos())
        throw Error(QStringLiteral("'%1': the vocabulary adds EOS to every text, which perplexity "
                                   "measurement does not support")
                        .arg(model.path()));
    // llama-perplexity drops exactly one trailing newline of the file.
    if (text.endsWith('\n'))
        text.chop(1);
    EvalTokens t;
    t.tokens = tok.encode(QByteArrayView(text), true, false);
    t.addBos = tok.addBos();
    t.bosId = tok.bosId();
    t.sourceName = name;
    return t;
}

EvalTokens loadEvalTokens(const GgufFile &model, const QString &source)
{
    return tokenizeEvalText(model, readTextSource(source), source);
}

void vocabularyBos(const GgufFile &model, bool &addBos, std::int32_t &bosId)
{
    const Tokenizer tok = tokenizerOf(model);
    addBos = tok.addBos();
    bosId = tok.bosId();
}

} // namespace QuantFit
