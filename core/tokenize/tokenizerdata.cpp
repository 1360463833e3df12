// Loading a vocabulary from GGUF metadata (`llama_vocab::impl::load` in llama.cpp's
// src/llama-vocab.cpp; docs/formats.md, "Metadata keys QuantFit reads"):
//  1. tokenizer.ggml.model picks SPM ("llama") or BPE ("gpt2"); others are refused by name
//  2. tokens, scores and types (one per token); text -> id with the later id winning
//  3. BPE: merges ("left right", rank = index) and the pre-tokenizer of tokenizer.ggml.pre
//  4. special ids and flags: per-kind defaults, then the metadata keys
//  5. llama.cpp's CONTROL promotions by text, the special-token split list, strip attributes

#include "tokenizerdata.h"

#include "unicodeclass.h"

#include "gguf/ggufvalue.h"
#include "util/error.h"

#include <algorithm>
#include <cstdio>

namespace QuantFit {

namespace {

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

} // namespace

std::shared_ptr<const TokenizerData> loadTokenizerData(const GgufMetadata &md,
                                                       const QString &fileName)
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
    return d;
}

} // namespace QuantFit
