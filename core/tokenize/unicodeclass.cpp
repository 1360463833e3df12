#include "unicodeclass.h"

#include "util/error.h"

#include <QChar>

#include <array>

namespace QuantFit::Unicode {

namespace {

std::uint8_t computeFlags(char32_t cp)
{
    std::uint8_t f = 0;
    switch (QChar::category(cp)) {
    case QChar::Letter_Uppercase:
    case QChar::Letter_Lowercase:
    case QChar::Letter_Titlecase:
    case QChar::Letter_Modifier:
    case QChar::Letter_Other:
        f = Letter;
        break;
    case QChar::Number_DecimalDigit:
    case QChar::Number_Letter:
    case QChar::Number_Other:
        f = Number;
        break;
    case QChar::Punctuation_Connector:
    case QChar::Punctuation_Dash:
    case QChar::Punctuation_Open:
    case QChar::Punctuation_Close:
    case QChar::Punctuation_InitialQuote:
    case QChar::Punctuation_FinalQuote:
    case QChar::Punctuation_Other:
        f = Punctuation;
        break;
    case QChar::Symbol_Math:
    case QChar::Symbol_Currency:
    case QChar::Symbol_Modifier:
    case QChar::Symbol_Other:
        f = Symbol;
        break;
    case QChar::Mark_NonSpacing:
    case QChar::Mark_SpacingCombining:
    case QChar::Mark_Enclosing:
        f = Mark;
        break;
    default:
        f = Other;
        break;
    }
    if (isWhitespace(cp))
        f |= Whitespace;
    return f;
}

// The Basic Multilingual Plane covers nearly all text; its flags are computed once.
const std::array<std::uint8_t, 0x10000> &bmpTable()
{
    static const auto table = [] {
        std::array<std::uint8_t, 0x10000> t{};
        for (char32_t cp = 0; cp < 0x10000; ++cp)
            t[cp] = computeFlags(cp);
        return t;
    }();
    return table;
}

[[noreturn]] void fail(std::size_t offset, const char *what)
{
    throw Error(QStringLiteral("invalid UTF-8 at byte offset %1: %2")
                    .arg(offset)
                    .arg(QLatin1StringView(what)));
}

// Decodes one code point at `i`, advancing `i`. Strict: RFC 3629 forms only.
char32_t decodeOne(std::string_view s, std::size_t &i, std::size_t baseOffset)
{
    const std::size_t at = i;
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    std::size_t len = 0;
    char32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        cp = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        cp = b0 & 0x07;
    } else if (b0 >= 0x80 && b0 <= 0xBF) {
        fail(baseOffset + at, "unexpected continuation byte");
    } else {
        fail(baseOffset + at, "invalid lead byte");
    }
    if (s.size() - at < len)
        fail(baseOffset + at, "truncated sequence");
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[at + k]);
        if ((b & 0xC0) != 0x80)
            fail(baseOffset + at + k, "expected a continuation byte");
        cp = (cp << 6) | (b & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
        fail(baseOffset + at, "overlong encoding");
    if (cp >= 0xD800 && cp <= 0xDFFF)
        fail(baseOffset + at, "encoded surrogate");
    if (cp > 0x10FFFF)
        fail(baseOffset + at, "code point past U+10FFFF");
    i = at + len;
    return cp;
}

} // namespace

bool isWhitespace(char32_t cp)
{
    if (cp <= 0x20)
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85)
        return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)
        || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::uint8_t flags(char32_t cp)
{
    if (cp < 0x10000)
        return bmpTable()[cp];
    if (cp > 0x10FFFF)
        return Other;
    return computeFlags(cp);
}

DecodedText decodeUtf8(std::string_view utf8)
{
    DecodedText r;
    r.codePoints.reserve(utf8.size());
    r.byteOffsets.reserve(utf8.size() + 1);
    r.flags.reserve(utf8.size());
    const auto &bmp = bmpTable();
    std::size_t i = 0;
    while (i < utf8.size()) {
        r.byteOffsets.push_back(i);
        const char32_t cp = decodeOne(utf8, i, 0);
        r.codePoints.push_back(cp);
        r.flags.push_back(cp < 0x10000 ? bmp[cp] : flags(cp));
    }
    r.byteOffsets.push_back(utf8.size());
    return r;
}

void validateUtf8(std::string_view utf8, std::size_t baseOffset)
{
    std::size_t i = 0;
    while (i < utf8.size())
        decodeOne(utf8, i, baseOffset);
}

void appendUtf8(std::string &out, char32_t cp)
{
    if (cp < 0x80) {
        out.push_back(char(cp));
    } else if (cp < 0x800) {
        out.push_back(char(0xC0 | (cp >> 6)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(char(0xE0 | (cp >> 12)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(char(0xF0 | (cp >> 18)));
        out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    }
}

} // namespace QuantFit::Unicode
