#pragma once

// Unicode facts the tokenizers need (as llama.cpp's src/unicode.cpp): the general-category classes
// used by the pre-tokenizer patterns (\p{L} \p{N} \p{P} \p{S} \p{M}), the \s set, and strict UTF-8
// decoding. Categories come from Qt's Unicode tables (QChar::category), cached for the BMP.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace QuantFit::Unicode {

/// Class bits of one code point. Exactly one of Letter..Other is set; Whitespace may be set in
/// addition (it is the tokenizers' \s set, not a general category).
enum Flag : std::uint8_t {
    Letter = 1 << 0,      ///< L*
    Number = 1 << 1,      ///< N*
    Punctuation = 1 << 2, ///< P*
    Symbol = 1 << 3,      ///< S*
    Mark = 1 << 4,        ///< M*
    Other = 1 << 5,       ///< Z*, C* and unassigned
    Whitespace = 1 << 6,  ///< U+0009-000D, 0020, 0085, 00A0, 1680, 2000-200A, 2028, 2029, 202F, 205F, 3000
};

/// Flags of `cp` (Other for values past U+10FFFF).
std::uint8_t flags(char32_t cp);
bool isWhitespace(char32_t cp);

/// Code points of a valid UTF-8 string with the byte offset where each starts
/// (`byteOffsets` has one extra entry: the total length).
struct DecodedText {
    std::vector<char32_t> codePoints;
    std::vector<std::size_t> byteOffsets;
    std::vector<std::uint8_t> flags;
};

/// Decodes `utf8`. Throws Error "invalid UTF-8 at byte offset N: ..." for a bad lead byte, a
/// missing continuation byte, an overlong form, a surrogate or a value past U+10FFFF.
DecodedText decodeUtf8(std::string_view utf8);
/// Validates only; the same errors as decodeUtf8, offsets shifted by `baseOffset`.
void validateUtf8(std::string_view utf8, std::size_t baseOffset = 0);

/// Length of the UTF-8 sequence that starts with `lead` by its high bits (1 for a stray
/// continuation byte), as SentencePiece splits characters.
inline std::size_t utf8SequenceLength(unsigned char lead)
{
    static constexpr std::uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLengths[lead >> 4];
}

void appendUtf8(std::string &out, char32_t cp);

} // namespace QuantFit::Unicode
