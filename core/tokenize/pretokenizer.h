#pragma once

// Byte-level BPE pre-tokenizers (the regex lists of `llm_tokenizer_bpe` in llama.cpp's
// src/llama-vocab.cpp, split as `unicode_regex_split` in src/unicode.cpp does). Each regex is
// implemented as a hand-written matcher with the same leftmost-first, greedy-with-backtracking
// result, so no regex engine is needed and every matcher runs in time linear in its match. A
// pre-tokenizer is a list of patterns applied in order: each current piece is replaced by its
// matches and the unmatched gaps between them (nothing is dropped).

#include <QString>

#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace QuantFit {

/// The pre-tokenizer patterns, named after the llama.cpp pre-tokenizer that introduced them.
enum class PrePattern {
    Llama3,     ///< LLAMA3
    Qwen2,      ///< QWEN2 (LLAMA3 with single digits)
    Gpt2,       ///< GPT2
    Digit,      ///< DIGIT    \p{N}
    Digits,     ///< DIGITS   \p{N}+
    Digit3,     ///< DIGIT3   \p{N}{1,3}
    Dig3,       ///< DIG3     [0-9][0-9][0-9]
    Punct,      ///< PUNCT    [\p{P}\$\+<=>\^~\|]+
    Crlf,       ///< CRLF     [\r\n]
    DscLetters, ///< DSC_L    \s?\p{L}+
    DscPunct,   ///< DSC_P    \s?\p{P}+
    Cjk,        ///< CJK
    DslLetters, ///< DSL_L
    DslPunct,   ///< DSL_P
    TrailingWs, ///< TRAILWS  \s+$
    Dsv3Cjk,    ///< DSV3_CJK
    Dsv3,       ///< DSV3
    Poro,       ///< PORO
    Tekken,     ///< TEKKEN
    ChSentinel, ///< CH_SENT
    ChImage,    ///< CH_IMG
    ChSpaces,   ///< CH_WS
    ChPunct,    ///< CH_PUNCT
};

/// What a tokenizer.ggml.pre name selects (the flags and pattern list llama.cpp's
/// `llama_vocab::impl::load` and `llm_tokenizer_bpe` give it).
struct PreTokenizerInfo {
    QString name;
    std::vector<PrePattern> patterns;
    bool ignoreMerges = false; ///< a piece that is a whole token is emitted without merging
    bool cleanSpaces = true;   ///< detokenizer removes spaces before punctuation
    bool addBos = false;       ///< default of tokenizer.ggml.add_bos_token
    bool noBos = false;        ///< the model has no BOS token (chatglm-bpe)
};

/// Facts for a pre-tokenizer name; an empty name means "default". std::nullopt when unknown.
std::optional<PreTokenizerInfo> preTokenizerInfo(const QString &name);

/// Splits valid UTF-8 `utf8` into consecutive pieces (views into `utf8`) by applying
/// `patterns` in order. The caller validates the UTF-8 first.
std::vector<std::string_view> preTokenize(std::string_view utf8,
                                          std::span<const PrePattern> patterns);

} // namespace QuantFit
