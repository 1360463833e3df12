#pragma once

// Tokenizer fuzzing: one byte string is tokenized by every vocabulary found in a folder
// (../shared/testdata/vocab by default, QUANTFIT_FUZZ_VOCAB_DIR to change it), and three
// properties are checked, each failure printed and turned into abort():
//  1. the tokenizer throws QuantFit::Error exactly when the bytes are not valid UTF-8 (the
//     same judgement as findInvalidUtf8), and never anything else;
//  2. every id is inside the vocabulary, with and without special-token parsing;
//  3. decoding the tokens of plain text gives the text back, except where the vocabulary's
//     own detokenizer rewrites it (SPM's U+2581, the clean-up of spaces before punctuation) or
//     has no token for one of its characters (llama.cpp drops such a character too), and
//     whitespace beside user-defined tokens (SPM's prefix space after them, lstrip/rstrip).

#include <cstddef>
#include <cstdint>

namespace QuantFit::Fuzz {

/// Number of vocabularies loaded (0 when the folder is absent or holds none we support).
int textVocabularyCount();
/// Checks the properties above over every vocabulary.
void runText(const std::uint8_t *data, std::size_t size);

} // namespace QuantFit::Fuzz
