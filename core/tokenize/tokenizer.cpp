#include "tokenizer.h"

#include "tokenizerdata.h"
#include "unicodeclass.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufvalue.h"
#include "util/error.h"

#include <QFileInfo>

#include <algorithm>

namespace QuantFit {

namespace {

//
// loading (tokenizers.md §1, gguf-format.md §2.3)
//

const GgufValue &requireArray(const GgufMetadata &md, const QByteArray &key,
                              const QString &fileName)
{
    const GgufValue *v = md.find(key);
    if (!v)
        throw Error(QStringLiteral("'%1' has no tokenizer vocabulary: key %2 is missing")
                        .arg(fileName, QString::fromLatin1(key)));
    if (!v->isArray())
        throw Error(QStringLiteral("'%1': %2 must be an array, found %3")
                        .arg(fileName, QString::fromLatin1(key), ggufValueTypeName(v->type())));
    return *v;
}

void checkArray(const GgufValue &v, const QByteArray &key, GgufValueType expected,
                std::size_t count, const QString &fileName)
{
    if (v.elementType() != expected)
        throw Error(QStringLiteral("'%1': %2 must be an array of %3, found %4")
                        .arg(fileName, QString::fromLatin1(key), ggufValueTypeName(expected),
                             ggufValueTypeName(v.elementType())));
    if (v.arraySize() != count)
        throw Error(QStringLiteral("'%1': %2 has %3 entries, expected one per token (%4)")
                        .arg(fileName, QString::fromLatin1(key))
                        .arg(v.arraySize())
                        .arg(count));
}

// Special token id from metadata; ids outside the vocabulary are ignored (default kept).
std::int32_t specialId(const GgufMetadata &md, const char *name, std::int32_t fallback,
                       std::size_t nVocab)
{
    const QByteArray key = QByteArrayLiteral("tokenizer.ggml.") + name + "_token_id";
    const GgufValue *v = md.find(key);
    if (!v || !v->isInteger())
        return fallback < std::int64_t(nVocab) ? fallback : -1;
    const std::uint64_t id = v->toUInt64();
    if (id >= nVocab)
        return fallback < std::int64_t(nVocab) ? fallback : -1;
    return std::int32_t(id);
}

bool isSpecialType(TokenType t)
{
    return t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
}

// llama.cpp promotes these texts to CONTROL when the converter typed them otherwise
// (end-of-turn markers and fill-in-the-middle markers).
void promoteKnownControlTokens(TokenizerData &d, const GgufMetadata &md)
{
    static const char *const kEndOfGeneration[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|eom_id|>", "<EOT>", "_<EOT>",
    };
    struct FimGroup {
        const char *key;
        std::vector<const char *> texts;
    };
    static const std::vector<FimGroup> kFim = {
        {"fim_pre", {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
                     "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>",
                     "\xe2\x96\x81<PRE>"}},
        {"fim_suf", {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
                     "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>",
                     "\xe2\x96\x81<SUF>"}},
        {"fim_mid", {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
                     "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>",
                     "\xe2\x96\x81<MID>"}},
        {"fim_pad", {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"}},
        {"fim_rep", {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
        {"fim_sep", {"<|file_sep|>", "<fim-sep>", "<fim_sep>"}},
    };
    const auto promote = [&](std::string_view text) -> std::optional<std::int32_t> {
        const auto id = d.find(text);
        if (id)
            d.types[std::size_t(*id)] = TokenType::Control;
        return id;
    };
    for (const char *text : kEndOfGeneration) {
        if (const auto id = promote(text))
            d.endOfGeneration.insert(*id);
    }
    if (!md.contains("tokenizer.ggml.eot_token_id"))
        promote("<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>");
    for (const auto &group : kFim) {
        if (md.contains(QByteArrayLiteral("tokenizer.ggml.") + group.key + "_token_id"))
            continue;
        for (const char *text : group.texts)
            promote(text);
    }
}

// LSTRIP/RSTRIP, which llama.cpp sets only for a few models by name.
void setStripAttributes(TokenizerData &d, const GgufMetadata &md)
{
    d.lstrip.assign(d.texts.size(), 0);
    d.rstrip.assign(d.texts.size(), 0);
    const QString modelName = md.stringOr("general.name").toLower();
    if (d.pre.name.startsWith(QLatin1StringView("jina-v2-"))) {
        if (const auto id = d.find("<mask>"))
            d.lstrip[std::size_t(*id)] = 1;
    } else if (modelName.contains(QLatin1StringView("phi-3"))
               || modelName.contains(QLatin1StringView("phi3"))) {
        for (const std::int32_t id : d.specialTokens)
            d.rstrip[std::size_t(id)] = 1;
        if (const auto id = d.find("</s>"))
            d.rstrip[std::size_t(*id)] = 1;
        for (const char *text : {"<unk>", "<s>", "<|endoftext|>"}) {
            if (const auto id = d.find(text))
                d.rstrip[std::size_t(*id)] = 0;
        }
    }
}

//
// special-token splitting (tokenizers.md §3)
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
    auto d = std::make_shared<TokenizerData>();
    d->fileName = fileName;

    const GgufValue *model = md.find("tokenizer.ggml.model");
    if (!model || !model->isString())
        throw Error(QStringLiteral("'%1' has no tokenizer: tokenizer.ggml.model is missing")
                        .arg(fileName));
    d->modelName = model->toString();
    if (d->modelName == QLatin1StringView("llama")) {
        d->kind = TokenizerKind::Spm;
    } else if (d->modelName == QLatin1StringView("gpt2")) {
        d->kind = TokenizerKind::Bpe;
    } else {
        throw Error(QStringLiteral("'%1': tokenizer type '%2' is not supported (supported: "
                                   "llama (SentencePiece), gpt2 (byte-level BPE))")
                        .arg(fileName, d->modelName));
    }

    // Token texts, scores and types.
    const GgufValue &tokens = requireArray(md, "tokenizer.ggml.tokens", fileName);
    const std::size_t nVocab = tokens.arraySize();
    checkArray(tokens, "tokenizer.ggml.tokens", GgufValueType::STRING, nVocab, fileName);
    if (nVocab == 0 || nVocab > std::size_t(INT32_MAX))
        throw Error(QStringLiteral("'%1': tokenizer.ggml.tokens has %2 entries")
                        .arg(fileName)
                        .arg(nVocab));
    d->texts.resize(nVocab);
    d->scores.assign(nVocab, 0.0f);
    d->types.assign(nVocab, TokenType::Normal);
    d->textToId.reserve(nVocab);
    for (std::size_t i = 0; i < nVocab; ++i) {
        const QByteArray &raw = tokens.at(i).rawString();
        d->texts[i] = raw.isEmpty() ? "[EMPTY_" + std::to_string(i) + "]"
                                    : std::string(raw.constData(), std::size_t(raw.size()));
        d->textToId[d->texts[i]] = std::int32_t(i); // the later id wins
    }
    if (const GgufValue *scores = md.find("tokenizer.ggml.scores")) {
        checkArray(*scores, "tokenizer.ggml.scores", GgufValueType::FLOAT32, nVocab, fileName);
        for (std::size_t i = 0; i < nVocab; ++i)
            d->scores[i] = float(scores->at(i).toDouble());
    }
    if (const GgufValue *types = md.find("tokenizer.ggml.token_type")) {
        checkArray(*types, "tokenizer.ggml.token_type", GgufValueType::INT32, nVocab, fileName);
        for (std::size_t i = 0; i < nVocab; ++i) {
            const std::int64_t t = types->at(i).toInt64();
            d->types[i] = (t >= 1 && t <= 6) ? TokenType(t) : TokenType::Undefined;
        }
    }

    // Per-kind defaults, then the metadata flags.
    if (d->kind == TokenizerKind::Spm) {
        d->bos = specialId(md, "bos", 1, nVocab);
        d->eos = specialId(md, "eos", 2, nVocab);
        d->unk = specialId(md, "unknown", 0, nVocab);
        d->addBos = true;
        d->addSpacePrefix = true;
        d->cleanSpaces = false;
    } else {
        const GgufValue *merges = md.find("tokenizer.ggml.merges");
        if (!merges)
            throw Error(QStringLiteral("'%1': byte-level BPE tokenizer without "
                                       "tokenizer.ggml.merges")
                            .arg(fileName));
        if (!merges->isArray() || merges->elementType() != GgufValueType::STRING)
            throw Error(QStringLiteral("'%1': tokenizer.ggml.merges must be an array of strings")
                            .arg(fileName));
        const QString preName = md.stringOr("tokenizer.ggml.pre");
        const auto pre = preTokenizerInfo(preName);
        if (!pre)
            throw Error(QStringLiteral("'%1': unknown pre-tokenizer type '%2' "
                                       "(tokenizer.ggml.pre)")
                            .arg(fileName, preName));
        d->pre = *pre;
        d->mergeRanks.reserve(merges->arraySize());
        std::string key;
        for (std::size_t r = 0; r < merges->arraySize(); ++r) {
            const QByteArray &m = merges->at(r).rawString();
            const std::string_view s(m.constData(), std::size_t(m.size()));
            const std::size_t space = s.size() > 1 ? s.find(' ', 1) : std::string_view::npos;
            if (space == std::string_view::npos)
                throw Error(QStringLiteral("'%1': tokenizer.ggml.merges[%2] = '%3' is not "
                                           "\"left right\"")
                                .arg(fileName)
                                .arg(r)
                                .arg(QString::fromUtf8(m)));
            const std::string_view left = s.substr(0, space);
            const std::string_view right = s.substr(space + 1);
            const auto leftId = d->find(left);
            const auto rightId = d->find(right);
            if (leftId && rightId) {
                std::string merged(left);
                merged += right;
                d->mergeIds.try_emplace(
                    pairKey(std::uint32_t(*leftId), std::uint32_t(*rightId)),
                    TokenizerData::MergeResult{std::int32_t(r), d->find(merged).value_or(-1)});
            } else {
                TokenizerData::mergeKey(key, left, right);
                d->mergeRanks.try_emplace(key, std::int32_t(r));
            }
        }
        for (int b = 0; b < 256; ++b)
            d->bpeByteIds[std::size_t(b)] = d->find(byteToBpeChar()[std::size_t(b)]).value_or(-1);
        d->bos = pre->noBos ? -1 : specialId(md, "bos", 11, nVocab);
        d->eos = specialId(md, "eos", 11, nVocab);
        d->unk = specialId(md, "unknown", -1, nVocab);
        d->addBos = pre->addBos;
        d->ignoreMerges = pre->ignoreMerges;
        d->cleanSpaces = pre->cleanSpaces;
    }
    d->addSpacePrefix = md.boolOr("tokenizer.ggml.add_space_prefix", d->addSpacePrefix);
    d->addBos = md.boolOr("tokenizer.ggml.add_bos_token", d->addBos);
    d->addEos = md.boolOr("tokenizer.ggml.add_eos_token", d->addEos);

    promoteKnownControlTokens(*d, md);
    for (const char *name : {"eos", "eot", "eom"}) {
        const std::int32_t id = specialId(md, name, name == std::string_view("eos") ? d->eos : -1,
                                          nVocab);
        if (id >= 0)
            d->endOfGeneration.insert(id);
    }

    for (std::size_t i = 0; i < nVocab; ++i) {
        if (isSpecialType(d->types[i]))
            d->specialTokens.push_back(std::int32_t(i));
    }
    // Longest first; equal lengths by id so results do not depend on the sort.
    std::stable_sort(d->specialTokens.begin(), d->specialTokens.end(),
                     [&](std::int32_t a, std::int32_t b) {
                         return d->texts[std::size_t(a)].size() > d->texts[std::size_t(b)].size();
                     });
    setStripAttributes(*d, md);

    d->byteTokens.fill(-1);
    if (d->kind == TokenizerKind::Spm) {
        for (const std::string &text : d->texts) {
            std::uint32_t previous = 0;
            for (std::size_t i = 0; i < text.size();) {
                const std::size_t len = std::min(
                    Unicode::utf8SequenceLength(static_cast<unsigned char>(text[i])),
                    text.size() - i);
                const std::uint32_t key = charKey(std::string_view(text).substr(i, len));
                if (i > 0)
                    d->spmCharPairs.insert(pairKey(previous, key));
                previous = key;
                i += len;
            }
        }
        for (int b = 0; b < 256; ++b) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "<0x%02X>", b);
            auto id = d->find(hex);
            if (!id)
                id = d->find(std::string(1, char(b)));
            d->byteTokens[std::size_t(b)] = id.value_or(-1);
        }
    }
    return Tokenizer(std::move(d));
}

//
// encoding (tokenizers.md §2)
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
// decoding (tokenizers.md §7)
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
