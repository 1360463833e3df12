#include "tokenizer.h"

#include "tokenizerdata.h"
#include "unicodeclass.h"

#include "gguf/ggufreader.h"
#include "util/error.h"

#include <QFileInfo>

#include <algorithm>

namespace QuantFit {

namespace {

//
// special-token splitting (`tokenizer_st_partition` in llama.cpp's src/llama-vocab.cpp)
//

struct Fragment {
    std::int32_t token; ///< -1 for raw text
    std::size_t offset;
    std::size_t length;
};

bool isAsciiSpace(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

std::vector<Fragment> splitSpecial(const TokenizerData &d, std::string_view text,
                                   bool parseSpecial)
{
    std::vector<Fragment> fragments;
    if (!text.empty())
        fragments.push_back({-1, 0, text.size()});
    if (d.specialTokens.empty() || text.empty())
        return fragments;
    // Byte and byte-pair presence in the text: a candidate with a byte pair that never occurs
    // cannot match, which skips most of a large special list without scanning the text.
    std::vector<bool> hasByte(256), hasPair(65536);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto b = static_cast<unsigned char>(text[i]);
        hasByte[b] = true;
        if (i > 0)
            hasPair[std::size_t(static_cast<unsigned char>(text[i - 1])) << 8 | b] = true;
    }
    const auto mayOccur = [&](std::string_view s) {
        if (s.size() > text.size() || !hasByte[static_cast<unsigned char>(s[0])])
            return false;
        for (std::size_t i = 1; i < s.size(); ++i) {
            if (!hasPair[std::size_t(static_cast<unsigned char>(s[i - 1])) << 8
                         | static_cast<unsigned char>(s[i])])
                return false;
        }
        return true;
    };
    std::vector<Fragment> next;
    for (const std::int32_t id : d.specialTokens) {
        const TokenType type = d.types[std::size_t(id)];
        if (!parseSpecial && (type == TokenType::Control || type == TokenType::Unknown))
            continue;
        const std::string_view special = d.texts[std::size_t(id)];
        if (!mayOccur(special))
            continue;
        next.clear();
        bool found = false;
        for (const Fragment &f : fragments) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            std::size_t begin = f.offset;
            std::size_t end = f.offset + f.length;
            while (begin < end) {
                const std::size_t match = text.substr(0, end).find(special, begin);
                if (match == std::string_view::npos)
                    break;
                found = true;
                std::size_t leftEnd = match;
                if (d.lstrip[std::size_t(id)]) {
                    while (leftEnd > begin && isAsciiSpace(text[leftEnd - 1]))
                        --leftEnd;
                }
                if (leftEnd > begin)
                    next.push_back({-1, begin, leftEnd - begin});
                next.push_back({id, match, special.size()});
                begin = match + special.size();
                if (d.rstrip[std::size_t(id)]) {
                    while (begin < end && isAsciiSpace(text[begin]))
                        ++begin;
                }
            }
            if (begin < end)
                next.push_back({-1, begin, end - begin});
        }
        if (found)
            fragments.swap(next);
    }
    return fragments;
}

} // namespace

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerData> data)
    : m_d(std::move(data))
{
}

Tokenizer Tokenizer::fromFile(const QString &path)
{
    const GgufFile file = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
    return fromMetadata(file.metadata(), QFileInfo(path).fileName());
}

Tokenizer Tokenizer::fromMetadata(const GgufMetadata &md, const QString &fileName)
{
    return Tokenizer(loadTokenizerData(md, fileName));
}

//
// encoding (`llama_vocab::impl::tokenize`)
//

std::vector<std::int32_t> Tokenizer::encode(QByteArrayView utf8, bool addSpecial,
                                            bool parseSpecial) const
{
    const TokenizerData &d = *m_d;
    const std::string_view text(utf8.data(), std::size_t(utf8.size()));
    Unicode::validateUtf8(text);

    std::vector<std::int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (addSpecial && d.addBos && d.bos >= 0)
        out.push_back(d.bos);

    const std::vector<Fragment> fragments = splitSpecial(d, text, parseSpecial);
    bool previousWasSpecial = true;
    std::string escaped;
    for (const Fragment &f : fragments) {
        if (f.token >= 0) {
            out.push_back(f.token);
            previousWasSpecial = true;
            continue;
        }
        const std::string_view piece = text.substr(f.offset, f.length);
        if (d.kind == TokenizerKind::Bpe) {
            encodeBpeFragment(d, piece, out);
            continue;
        }
        // SPM: optional prefix space, then ' ' -> U+2581 "▁".
        escaped.clear();
        if (d.addSpacePrefix && previousWasSpecial)
            escaped += "\xe2\x96\x81";
        for (const char c : piece) {
            if (c == ' ')
                escaped += "\xe2\x96\x81";
            else
                escaped += c;
        }
        encodeSpmFragment(d, escaped, out);
        previousWasSpecial = false;
    }

    if (addSpecial && d.addEos && d.eos >= 0)
        out.push_back(d.eos);
    return out;
}

std::vector<std::int32_t> Tokenizer::encode(QStringView text, bool addSpecial,
                                            bool parseSpecial) const
{
    return encode(QByteArrayView(text.toUtf8()), addSpecial, parseSpecial);
}

//
// decoding (`llama_vocab::impl::token_to_piece` and `detokenize`)
//

QByteArray Tokenizer::tokenToPiece(std::int32_t id, bool renderSpecial) const
{
    checkId(id);
    const TokenizerData &d = *m_d;
    const std::string &text = d.texts[std::size_t(id)];
    const TokenType type = d.types[std::size_t(id)];
    switch (type) {
    case TokenType::Control:
    case TokenType::Unknown:
        if (!renderSpecial)
            return {};
        [[fallthrough]];
    case TokenType::UserDefined:
        return QByteArray(text.data(), qsizetype(text.size()));
    case TokenType::Normal:
        break;
    case TokenType::Byte:
        if (d.kind == TokenizerKind::Spm && text.size() == 6 && text.starts_with("<0x")) {
            bool ok = false;
            const int byte = QByteArray(text.data() + 3, 2).toInt(&ok, 16);
            if (ok)
                return QByteArray(1, char(byte));
        }
        return {};
    case TokenType::Unused:
    case TokenType::Undefined:
        return {};
    }

    QByteArray out;
    if (d.kind == TokenizerKind::Spm) {
        out = QByteArray(text.data(), qsizetype(text.size()));
        out.replace("\xe2\x96\x81", " ");
        return out;
    }
    // BPE: each character stands for one byte; anything else (characters outside the table,
    // malformed UTF-8 in the stored text) passes through unchanged.
    out.reserve(qsizetype(text.size()));
    for (std::size_t i = 0; i < text.size();) {
        const auto lead = static_cast<unsigned char>(text[i]);
        const std::size_t len = std::min(Unicode::utf8SequenceLength(lead), text.size() - i);
        char32_t cp = len == 1 ? lead : lead & (0x7F >> len);
        for (std::size_t k = 1; k < len; ++k)
            cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
        const int byte = bpeCharToByte(cp);
        if (byte >= 0 && (len > 1 || lead < 0x80))
            out.append(char(byte));
        else
            out.append(text.data() + i, qsizetype(len));
        i += len;
    }
    return out;
}

QByteArray Tokenizer::decode(std::span<const std::int32_t> ids, bool removeSpecial,
                             bool renderSpecial) const
{
    const TokenizerData &d = *m_d;
    bool removeSpace = d.addSpacePrefix;
    if (removeSpecial && d.addBos && !ids.empty() && ids.front() == d.bos) {
        removeSpace = false;
        ids = ids.subspan(1);
    }
    if (removeSpecial && d.addEos && !ids.empty() && ids.back() == d.eos)
        ids = ids.first(ids.size() - 1);

    QByteArray text;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        QByteArray piece = tokenToPiece(ids[i], renderSpecial);
        if (removeSpace && piece.startsWith(' '))
            piece.remove(0, 1);
        removeSpace = false;
        text += piece;
    }
    if (!d.cleanSpaces || text.isEmpty())
        return text;

    // Clean-up passes of llama_detokenize, in its order.
    QByteArray a;
    a.reserve(text.size());
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char x = text[i];
        if (i > 0 && text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            a.chop(1);
        a.append(x);
    }
    QByteArray b;
    b.reserve(a.size());
    for (qsizetype i = 0; i < a.size(); ++i) {
        const char x = a[i];
        if (i > 0 && x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
            b.chop(1);  // " ' " -> "'"
            b.append(x);
            ++i;
            continue;
        }
        b.append(x);
    }
    QByteArray c;
    c.reserve(b.size());
    for (qsizetype i = 0; i < b.size(); ++i) {
        const char x = b[i];
        if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
            const char x1 = b[i + 1];
            const char x2 = i + 2 < b.size() ? b[i + 2] : '\0';
            if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
                c.chop(1);
        }
        c.append(x);
    }
    return c;
}

//
// accessors
//

void Tokenizer::checkId(std::int32_t id) const
{
    if (id < 0 || std::size_t(id) >= m_d->texts.size())
        throw Error(QStringLiteral("token id %1 is outside the vocabulary of '%2' (%3 tokens)")
                        .arg(id)
                        .arg(m_d->fileName)
                        .arg(m_d->texts.size()));
}

TokenizerKind Tokenizer::kind() const { return m_d->kind; }
QString Tokenizer::modelName() const { return m_d->modelName; }
QString Tokenizer::preTokenizer() const
{
    return m_d->kind == TokenizerKind::Bpe ? m_d->pre.name : QString();
}
std::int32_t Tokenizer::vocabSize() const { return std::int32_t(m_d->texts.size()); }
std::int32_t Tokenizer::bosId() const { return m_d->bos; }
std::int32_t Tokenizer::eosId() const { return m_d->eos; }
std::optional<std::int32_t> Tokenizer::unknownId() const
{
    return m_d->unk >= 0 ? std::optional<std::int32_t>(m_d->unk) : std::nullopt;
}
bool Tokenizer::addBos() const { return m_d->addBos; }
bool Tokenizer::addEos() const { return m_d->addEos; }
bool Tokenizer::isEndOfGeneration(std::int32_t id) const
{
    return m_d->endOfGeneration.contains(id);
}

QByteArray Tokenizer::tokenText(std::int32_t id) const
{
    checkId(id);
    const std::string &t = m_d->texts[std::size_t(id)];
    return QByteArray(t.data(), qsizetype(t.size()));
}

TokenType Tokenizer::tokenType(std::int32_t id) const
{
    checkId(id);
    return m_d->types[std::size_t(id)];
}

float Tokenizer::tokenScore(std::int32_t id) const
{
    checkId(id);
    return m_d->scores[std::size_t(id)];
}

std::optional<std::int32_t> Tokenizer::findToken(QByteArrayView text) const
{
    return m_d->find(std::string_view(text.data(), std::size_t(text.size())));
}

} // namespace QuantFit
