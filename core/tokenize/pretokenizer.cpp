#include "pretokenizer.h"

#include "unicodeclass.h"

#include <algorithm>

namespace QuantFit {

namespace {

using namespace Unicode;

//
// character classes
//

struct Range {
    char32_t lo;
    char32_t hi;
};

// Ranges sorted by `lo`; a code point is inside when the last range starting at or before it
// reaches it.
bool inRanges(char32_t cp, std::span<const Range> ranges)
{
    auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                               [](char32_t v, const Range &r) { return v < r.lo; });
    if (it == ranges.begin())
        return false;
    --it;
    return cp <= it->hi;
}

// CJK: [\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]
constexpr Range kCjk[] = {{0x0800, 0x4E00}, {0x4E00, 0x9FA5}, {0xAC00, 0xD7FF}};
// DSV3_CJK: [\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]
constexpr Range kDsv3Cjk[] = {{0x3040, 0x309F}, {0x30A0, 0x30FF}, {0x4E00, 0x9FA5}};
// DSL_P: [!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]
constexpr Range kDslPunct[] = {{0x21, 0x2F},     {0x3A, 0x7E},     {0x2018, 0x201F},
                               {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}};
// DSL_L: the explicit letter list of deepseek-llm's regex, in ascending order.
constexpr Range kDslLetters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
    {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
    {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
    {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
    {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
    {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
    {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
    {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

bool isCrLf(char32_t c)
{
    return c == '\r' || c == '\n';
}

bool isAsciiAlpha(char32_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool isAsciiPunct(char32_t c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60)
        || (c >= 0x7B && c <= 0x7E);
}

char32_t asciiLower(char32_t c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

// [^\s\p{L}\p{N}]; flags 0 stands for "past the end of the piece".
bool isOther(std::uint8_t f)
{
    return f != 0 && !(f & (Whitespace | Letter | Number));
}

//
// one piece of decoded text, as the matchers see it
//

struct Piece {
    const char32_t *cp;
    const std::uint8_t *fl;
    std::size_t begin;
    std::size_t end;

    std::uint8_t flagsAt(std::size_t i) const { return i < end ? fl[i] : 0; }
    char32_t at(std::size_t i) const { return i < end ? cp[i] : 0; }
    template<typename Pred>
    std::size_t run(std::size_t i, Pred pred, std::size_t max = SIZE_MAX) const
    {
        std::size_t q = i;
        while (q < end && q - i < max && pred(q))
            ++q;
        return q - i;
    }
    bool isWs(std::size_t i) const { return i < end && (fl[i] & Whitespace); }
};

// `P?B{min,max}` where P and B are single-character classes: the optional prefix is taken only
// when a body character follows it (greedy ? with backtracking).
template<typename PrefixPred, typename BodyPred>
std::size_t matchPrefixedRun(const Piece &s, std::size_t p, PrefixPred prefix, BodyPred body,
                             std::size_t minRun = 1, std::size_t maxRun = SIZE_MAX)
{
    if (prefix(p) && p + 1 < s.end && body(p + 1)) {
        const std::size_t n = s.run(p + 1, body, maxRun);
        if (n >= minRun)
            return 1 + n;
    }
    if (body(p)) {
        const std::size_t n = s.run(p, body, maxRun);
        if (n >= minRun)
            return n;
    }
    return 0;
}

template<typename BodyPred>
std::size_t matchRun(const Piece &s, std::size_t p, BodyPred body, std::size_t minRun = 1,
                     std::size_t maxRun = SIZE_MAX)
{
    return matchPrefixedRun(s, p, [](std::size_t) { return false; }, body, minRun, maxRun);
}

// The whitespace tail shared by LLAMA3, QWEN2, TEKKEN and DSV3:
// \s*[\r\n]+ | \s+(?!\S) | \s+
std::size_t matchWhitespaceTail(const Piece &s, std::size_t p)
{
    std::size_t q = p;
    std::size_t lastNewlineEnd = 0;
    while (q < s.end && (s.fl[q] & Whitespace)) {
        if (isCrLf(s.cp[q]))
            lastNewlineEnd = q + 1;
        ++q;
    }
    if (lastNewlineEnd)
        return lastNewlineEnd - p;
    const std::size_t n = q - p;
    if (n > 1 && q < s.end)
        return n - 1;
    return n;
}

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive (LLAMA3's (?:'[sS]|...)).
std::size_t matchContraction(const Piece &s, std::size_t p, bool anyCase)
{
    if (s.cp[p] != '\'' || p + 1 >= s.end)
        return 0;
    const auto fold = [&](char32_t c) { return anyCase ? asciiLower(c) : c; };
    const char32_t a = fold(s.cp[p + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (p + 2 < s.end) {
        const char32_t b = fold(s.cp[p + 2]);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return 3;
    }
    return 0;
}

//
// the patterns
//

std::size_t matchGpt2(const Piece &s, std::size_t p)
{
    if (const std::size_t n = matchContraction(s, p, false))
        return n;
    const char32_t c = s.cp[p];
    const std::size_t skip = c == ' ' ? 1 : 0;
    const std::uint8_t f2 = s.flagsAt(p + skip);
    //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
    if (f2 & Letter)
        return skip + s.run(p + skip, [&](std::size_t i) { return s.fl[i] & Letter; });
    if (f2 & Number)
        return skip + s.run(p + skip, [&](std::size_t i) { return s.fl[i] & Number; });
    if (isOther(f2))
        return skip + s.run(p + skip, [&](std::size_t i) { return isOther(s.fl[i]); });
    // \s+(?!\S): the run, less its last character when a non-space follows
    if (s.fl[p] & Whitespace) {
        const std::size_t n = s.run(p, [&](std::size_t i) { return s.isWs(i); });
        if (p + n == s.end)
            return n;
        return n > 1 ? n - 1 : 0;
    }
    return 0;
}

std::size_t matchLlama3(const Piece &s, std::size_t p, std::size_t maxDigits)
{
    if (const std::size_t n = matchContraction(s, p, true))
        return n;
    const char32_t c = s.cp[p];
    const std::uint8_t f = s.fl[p];
    const auto letter = [&](std::size_t i) { return s.fl[i] & Letter; };
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!isCrLf(c) && !(f & Number) && ((f & Letter) || (s.flagsAt(p + 1) & Letter)))
        return 1 + s.run(p + 1, letter);
    // \p{N}{1,3} (QWEN2: \p{N})
    if (f & Number)
        return s.run(p, [&](std::size_t i) { return s.fl[i] & Number; }, maxDigits);
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    const std::size_t skip = c == ' ' ? 1 : 0;
    if (isOther(s.flagsAt(p + skip))) {
        std::size_t q = p + skip;
        q += s.run(q, [&](std::size_t i) { return isOther(s.fl[i]); });
        q += s.run(q, [&](std::size_t i) { return isCrLf(s.cp[i]); });
        return q - p;
    }
    if (f & Whitespace)
        return matchWhitespaceTail(s, p);
    return 0;
}

std::size_t matchTekken(const Piece &s, std::size_t p)
{
    const char32_t c = s.cp[p];
    const std::uint8_t f = s.fl[p];
    // (?=[\p{L}])([^a-z]) and (?=[\p{L}])([^A-Z])
    const auto upper = [&](std::size_t i) {
        return (s.fl[i] & Letter) && !(s.cp[i] >= 'a' && s.cp[i] <= 'z');
    };
    const auto lower = [&](std::size_t i) {
        return (s.fl[i] & Letter) && !(s.cp[i] >= 'A' && s.cp[i] <= 'Z');
    };
    // [^\r\n\p{L}\p{N}]? : letters never satisfy it, so when it can be taken the rest starts
    // after it, and not taking it leaves a non-letter that fails both alternatives anyway.
    const std::size_t start = (!isCrLf(c) && !(f & (Letter | Number))) ? p + 1 : p;
    // X? U* L+ : greedy U*, giving back characters until L+ can match
    const std::size_t nUpper = s.run(start, upper);
    for (std::size_t k = nUpper + 1; k-- > 0;) {
        const std::size_t nLower = s.run(start + k, lower);
        if (nLower > 0)
            return start + k + nLower - p;
    }
    // X? U+ L*
    if (nUpper > 0)
        return start + nUpper + s.run(start + nUpper, lower) - p;
    if (f & Number)
        return 1;
    //  ?[^\s\p{L}\p{N}]+[\r\n/]*
    const std::size_t skip = c == ' ' ? 1 : 0;
    if (isOther(s.flagsAt(p + skip))) {
        std::size_t q = p + skip;
        q += s.run(q, [&](std::size_t i) { return isOther(s.fl[i]); });
        q += s.run(q, [&](std::size_t i) { return isCrLf(s.cp[i]) || s.cp[i] == '/'; });
        return q - p;
    }
    if (f & Whitespace)
        return matchWhitespaceTail(s, p);
    return 0;
}

std::size_t matchDsv3(const Piece &s, std::size_t p)
{
    const char32_t c = s.cp[p];
    // llama.cpp runs this pattern on category placeholders in which ASCII '~' is neither
    // punctuation nor symbol (src/unicode.cpp); keep that so ids match.
    const auto punctSym = [&](std::size_t i) {
        return i < s.end && (s.fl[i] & (Punctuation | Symbol)) && s.cp[i] != '~';
    };
    const auto letterMark = [&](std::size_t i) {
        return i < s.end && (s.fl[i] & (Letter | Mark));
    };
    // [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+
    if (isAsciiPunct(c) && isAsciiAlpha(s.at(p + 1)))
        return 1 + s.run(p + 1, [&](std::size_t i) { return isAsciiAlpha(s.cp[i]); });
    // [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
    const bool prefix = !isCrLf(c) && !(s.fl[p] & Letter) && !punctSym(p);
    if (const std::size_t n = matchPrefixedRun(
            s, p, [&](std::size_t) { return prefix; }, letterMark))
        return n;
    //  ?[\p{P}\p{S}]+[\r\n]*
    const std::size_t skip = c == ' ' ? 1 : 0;
    if (punctSym(p + skip)) {
        std::size_t q = p + skip;
        q += s.run(q, punctSym);
        q += s.run(q, [&](std::size_t i) { return isCrLf(s.cp[i]); });
        return q - p;
    }
    if (s.fl[p] & Whitespace)
        return matchWhitespaceTail(s, p);
    return 0;
}

bool matchesLiteral(const Piece &s, std::size_t p, std::string_view lit)
{
    if (s.end - p < lit.size())
        return false;
    for (std::size_t k = 0; k < lit.size(); ++k) {
        if (s.cp[p + k] != char32_t(static_cast<unsigned char>(lit[k])))
            return false;
    }
    return true;
}

std::size_t matchPattern(PrePattern pattern, const Piece &s, std::size_t p)
{
    const auto has = [&](std::uint8_t mask) { return [&s, mask](std::size_t i) {
        return (s.fl[i] & mask) != 0;
    }; };
    const auto ws = [&](std::size_t i) { return (s.fl[i] & Whitespace) != 0; };
    const auto ranges = [&](std::span<const Range> r) {
        return [&s, r](std::size_t i) { return inRanges(s.cp[i], r); };
    };
    switch (pattern) {
    case PrePattern::Llama3:
        return matchLlama3(s, p, 3);
    case PrePattern::Qwen2:
        return matchLlama3(s, p, 1);
    case PrePattern::Gpt2:
        return matchGpt2(s, p);
    case PrePattern::Digit:
        return (s.fl[p] & Number) ? 1 : 0;
    case PrePattern::Digits:
        return matchRun(s, p, has(Number));
    case PrePattern::Digit3:
        return matchRun(s, p, has(Number), 1, 3);
    case PrePattern::Dig3:
        return matchRun(s, p, [&](std::size_t i) { return s.cp[i] >= '0' && s.cp[i] <= '9'; },
                        3, 3);
    case PrePattern::Punct:
        return matchRun(s, p, [&](std::size_t i) {
            const char32_t c = s.cp[i];
            return (s.fl[i] & Punctuation) || c == '$' || c == '+' || c == '<' || c == '='
                || c == '>' || c == '^' || c == '~' || c == '|';
        });
    case PrePattern::Crlf:
        return isCrLf(s.cp[p]) ? 1 : 0;
    case PrePattern::DscLetters:
        return matchPrefixedRun(s, p, ws, has(Letter));
    case PrePattern::DscPunct:
        return matchPrefixedRun(s, p, ws, has(Punctuation));
    case PrePattern::Cjk:
        return matchRun(s, p, ranges(kCjk));
    case PrePattern::DslLetters:
        return matchPrefixedRun(s, p, ws, ranges(kDslLetters));
    case PrePattern::DslPunct:
        return matchPrefixedRun(s, p, ws, ranges(kDslPunct));
    case PrePattern::TrailingWs: {
        // \s+$ : only the start of a whitespace run can begin the leftmost match.
        if (!ws(p) || (p > s.begin && ws(p - 1)))
            return 0;
        const std::size_t n = s.run(p, ws);
        return p + n == s.end ? n : 0;
    }
    case PrePattern::Dsv3Cjk:
        return matchRun(s, p, ranges(kDsv3Cjk));
    case PrePattern::Dsv3:
        return matchDsv3(s, p);
    case PrePattern::Poro:
        //  ?[^(\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+
        return matchPrefixedRun(
            s, p, [&](std::size_t i) { return s.cp[i] == ' '; },
            [&](std::size_t i) {
                static constexpr char32_t kStop[] = {'(', '|', '.', ',', '!', '?', ')',
                                                     0x2026, 0x3002, 0xFF0C, 0x3001,
                                                     0x0964, 0x06D4, 0x060C};
                return !ws(i) && std::find(std::begin(kStop), std::end(kStop), s.cp[i])
                    == std::end(kStop);
            });
    case PrePattern::Tekken:
        return matchTekken(s, p);
    case PrePattern::ChSentinel: {
        // <sentinel:[0-9]+>
        if (!matchesLiteral(s, p, "<sentinel:"))
            return 0;
        const std::size_t digits = s.run(p + 10, [&](std::size_t i) {
            return s.cp[i] >= '0' && s.cp[i] <= '9';
        });
        return digits > 0 && s.at(p + 10 + digits) == '>' ? 10 + digits + 1 : 0;
    }
    case PrePattern::ChImage: {
        // (IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z
        if (!matchesLiteral(s, p, "IMGIMG"))
            return 0;
        const std::size_t n = s.run(p + 6, [&](std::size_t i) {
            return s.cp[i] >= 'A' && s.cp[i] <= 'I';
        }, 4);
        return n > 0 && s.at(p + 6 + n) == 'Z' ? 6 + n + 1 : 0;
    }
    case PrePattern::ChSpaces:
        // ([\t\n]|    |  )
        if (s.cp[p] == '\t' || s.cp[p] == '\n')
            return 1;
        if (matchesLiteral(s, p, "    "))
            return 4;
        return matchesLiteral(s, p, "  ") ? 2 : 0;
    case PrePattern::ChPunct:
        // [\p{P}!-/:-@\[-`{-~]
        return ((s.fl[p] & Punctuation) || isAsciiPunct(s.cp[p])) ? 1 : 0;
    }
    return 0;
}

//
// the pre-tokenizer table
//

using P = PrePattern;

struct PreTokenizerRow {
    std::vector<const char *> names;
    std::vector<PrePattern> patterns;
    bool ignoreMerges;
    bool cleanSpaces;
    bool addBos;
    bool noBos;
};

const std::vector<PreTokenizerRow> &preTokenizerTable()
{
    static const std::vector<PreTokenizerRow> table = {
        {{"llama3", "llama-v3", "llama-bpe", "falcon3"}, {P::Llama3}, true, true, true, false},
        {{"dbrx", "smaug-bpe"}, {P::Llama3}, false, true, false, false},
        {{"chatglm-bpe"}, {P::Llama3}, false, true, false, true},
        {{"qwen2", "deepseek-r1-qwen"}, {P::Qwen2}, false, false, false, false},
        {{"stablelm2", "megrez"}, {P::Qwen2}, false, true, false, false},
        {{"gpt-2", "phi-2", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de",
          "jina-v2-code", "roberta-bpe", "gigachat", "mpt", "olmo", "jais"},
         {P::Gpt2}, false, true, false, false},
        {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b"},
         {P::Digit, P::Gpt2}, false, true, false, false},
        {{"command-r", "smollm"}, {P::Digit, P::Gpt2}, false, false, false, false},
        {{"falcon"}, {P::Punct, P::Gpt2, P::Dig3}, false, true, false, false},
        {{"default", ""}, {P::Punct, P::Gpt2, P::Digits, P::Dig3}, false, true, false, false},
        {{"deepseek-coder"}, {P::Crlf, P::DscLetters, P::DscPunct, P::Cjk, P::Digit},
         false, false, false, false},
        {{"deepseek-llm"},
         {P::Crlf, P::DslLetters, P::DslPunct, P::TrailingWs, P::Cjk, P::Digits},
         false, false, false, false},
        {{"deepseek-v3"}, {P::Digit3, P::Dsv3Cjk, P::Dsv3}, false, false, false, false},
        {{"poro-chat"}, {P::Poro}, false, false, false, false},
        {{"bloom", "gpt3-finnish"}, {P::Poro}, false, true, false, false},
        {{"viking"}, {P::Poro, P::Digit}, false, false, false, false},
        {{"tekken"}, {P::Tekken}, true, false, true, false},
        {{"chameleon"},
         {P::ChSentinel, P::ChImage, P::ChSpaces, P::Digit, P::ChPunct, P::Gpt2},
         false, false, true, false},
    };
    return table;
}

} // namespace

std::optional<PreTokenizerInfo> preTokenizerInfo(const QString &name)
{
    for (const auto &row : preTokenizerTable()) {
        for (const char *n : row.names) {
            if (name == QLatin1StringView(n)) {
                return PreTokenizerInfo{
                    .name = name.isEmpty() ? QStringLiteral("default") : name,
                    .patterns = row.patterns,
                    .ignoreMerges = row.ignoreMerges,
                    .cleanSpaces = row.cleanSpaces,
                    .addBos = row.addBos,
                    .noBos = row.noBos,
                };
            }
        }
    }
    return std::nullopt;
}

std::vector<std::string_view> preTokenize(std::string_view utf8,
                                          std::span<const PrePattern> patterns)
{
    const DecodedText text = decodeUtf8(utf8);
    const std::size_t n = text.codePoints.size();
    // Piece boundaries in code points: piece k is [bounds[k], bounds[k+1]).
    std::vector<std::size_t> bounds = {0, n};
    if (n == 0)
        return {};
    std::vector<std::size_t> next;
    for (const PrePattern pattern : patterns) {
        next.clear();
        next.push_back(0);
        for (std::size_t k = 0; k + 1 < bounds.size(); ++k) {
            const Piece piece{text.codePoints.data(), text.flags.data(), bounds[k],
                              bounds[k + 1]};
            std::size_t p = piece.begin;
            std::size_t gapStart = p;
            while (p < piece.end) {
                const std::size_t len = matchPattern(pattern, piece, p);
                if (len == 0) {
                    ++p;
                    continue;
                }
                if (p > gapStart)
                    next.push_back(p);
                p += len;
                next.push_back(p);
                gapStart = p;
            }
            if (gapStart < piece.end)
                next.push_back(piece.end);
        }
        bounds.swap(next);
    }
    std::vector<std::string_view> pieces;
    pieces.reserve(bounds.size() - 1);
    for (std::size_t k = 0; k + 1 < bounds.size(); ++k) {
        const std::size_t b0 = text.byteOffsets[bounds[k]];
        const std::size_t b1 = text.byteOffsets[bounds[k + 1]];
        pieces.push_back(utf8.substr(b0, b1 - b0));
    }
    return pieces;
}

} // namespace QuantFit
