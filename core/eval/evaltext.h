#pragma once

#include "perplexity.h"

#include <QByteArray>
#include <QString>

namespace QuantFit {

class GgufFile;

/// Prepares an evaluation text as llama-perplexity does (tools/perplexity/perplexity.cpp): exactly
/// one trailing '\n' is removed, then the text is tokenized with the model's vocabulary with BOS
/// added when the vocabulary's add-BOS flag is set and control-token texts left as plain text.
/// `name` is used in messages. Throws Error when the vocabulary cannot be built or it adds EOS (the
/// perplexity tools refuse that).
EvalTokens tokenizeEvalText(const GgufFile &model, QByteArray text, const QString &name);

/// readTextSource(source) (plain file or ARCHIVE:MEMBER, UTF-8 checked) + tokenizeEvalText.
EvalTokens loadEvalTokens(const GgufFile &model, const QString &source);

/// The vocabulary's add-BOS flag and BOS id, for KLD runs whose tokens come from a base file.
void vocabularyBos(const GgufFile &model, bool &addBos, std::int32_t &bosId);

} // namespace QuantFit
