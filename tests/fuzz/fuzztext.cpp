#include "fuzztext.h"

#include "io/archivetext.h"
#include "tokenize/tokenizer.h"
#include "util/error.h"

#include <QByteArray>
#include <QDir>
#include <QFileInfo>

#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace QuantFit::Fuzz {

namespace {

struct Vocabulary {
    QString name;
    Tokenizer tokenizer;
};

std::vector<Vocabulary> loadVocabularies()
{
    QString dir = qEnvironmentVariable("QUANTFIT_FUZZ_VOCAB_DIR");
    if (dir.isEmpty())
        dir = QStringLiteral(QUANTFIT_TESTDATA_DIR "/vocab");
    std::vector<Vocabulary> vocabularies;
    const QStringList files = QDir(dir).entryList({QStringLiteral("*.gguf")}, QDir::Files, QDir::Name);
    for (const QString &file : files) {
        try {
            vocabularies.push_back({file, Tokenizer::fromFile(QDir(dir).filePath(file))});
        } catch (const Error &) {
            // unsupported tokenizer kinds (bert) are not fuzzed
        }
    }
    return vocabularies;
}

const std::vector<Vocabulary> &vocabularies()
{
    static const std::vector<Vocabulary> v = loadVocabularies();
    return v;
}

[[noreturn]] void fail(const Vocabulary &v, const char *what, const QByteArray &text,
                       const QByteArray &detail = {})
{
    std::fprintf(stderr, "%s: %s\n  text (hex): %s\n%s%s\n", qPrintable(v.name), what,
                 text.toHex(' ').constData(), detail.isEmpty() ? "" : "  ", detail.constData());
    std::abort();
}

void checkIds(const Vocabulary &v, const std::vector<std::int32_t> &ids, const QByteArray &text)
{
    for (std::int32_t id : ids)
        if (id < 0 || id >= v.tokenizer.vocabSize())
            fail(v, "token id outside the vocabulary", text, QByteArray::number(id));
}

// Text the detokenizer is allowed to change: SPM turns U+2581 into a space; vocabularies with
// clean-up drop a space before . , ! ? and around apostrophes.
bool detokenizerMayRewrite(const Vocabulary &v, const QByteArray &text)
{
    if (v.tokenizer.kind() == TokenizerKind::Spm && text.contains("\xe2\x96\x81"))
        return true;
    for (const char *p : {" .", " ,", " !", " ?", " '"})
        if (text.contains(p))
            return true;
    return false;
}

// A vocabulary may have no token for some character (falcon has none for several control
// bytes); llama.cpp then drops it, and so do we. True when some character of (valid UTF-8)
// `text` does not survive a round trip on its own.
bool vocabularyLacksACharacter(const Vocabulary &v, const QByteArray &text)
{
    for (qsizetype i = 0; i < text.size();) {
        const auto lead = std::uint8_t(text[i]);
        const qsizetype len = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
        const QByteArray ch = text.mid(i, len);
        if (v.tokenizer.decode(v.tokenizer.encode(QByteArrayView(ch), false, false)) != ch)
            return true;
        i += len;
    }
    return false;
}

// User-defined tokens are matched even without special-token parsing, as in llama.cpp. Around
// them the text may change in whitespace only: SPM gives the text after such a token a prefix
// space ("</s>;" comes back as "</s> ;"), and tokens with llama.cpp's lstrip/rstrip attributes
// swallow the whitespace beside them (phi-3's "</s>\n" is the one token "</s>").
bool onlyWhitespaceChangedAroundUserTokens(const Vocabulary &v, const std::vector<std::int32_t> &ids,
                                           const QByteArray &text, const QByteArray &back)
{
    bool userToken = false;
    for (std::int32_t id : ids) {
        const TokenType type = v.tokenizer.tokenType(id);
        userToken = userToken || type == TokenType::UserDefined || type == TokenType::Control;
    }
    if (!userToken)
        return false;
    const auto squeeze = [](const QByteArray &s) {
        QByteArray out;
        for (char c : s)
            if (c != ' ' && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r') // isspace
                out.append(c);
        return out;
    };
    return squeeze(text) == squeeze(back);
}

} // namespace

int textVocabularyCount()
{
    return int(vocabularies().size());
}

void runText(const std::uint8_t *data, std::size_t size)
{
    const QByteArray text(reinterpret_cast<const char *>(data), qsizetype(size));
    const bool valid = !findInvalidUtf8(std::span<const std::uint8_t>(data, size)).has_value();
    for (const Vocabulary &v : vocabularies()) {
        std::vector<std::int32_t> plain;
        try {
            plain = v.tokenizer.encode(QByteArrayView(text), false, false);
        } catch (const Error &e) {
            if (valid)
                fail(v, "valid UTF-8 was refused", text, e.message().toUtf8());
            continue;
        }
        if (!valid)
            fail(v, "invalid UTF-8 was accepted", text);
        checkIds(v, plain, text);
        const QByteArray back = v.tokenizer.decode(plain);
        if (back != text && !detokenizerMayRewrite(v, text) && !vocabularyLacksACharacter(v, text)
            && !onlyWhitespaceChangedAroundUserTokens(v, plain, text, back))
            fail(v, "decode(encode(text)) differs from the text", text, back.toHex(' '));

        const std::vector<std::int32_t> special = v.tokenizer.encode(QByteArrayView(text), true, true);
        checkIds(v, special, text);
        (void)v.tokenizer.decode(special, true, true);
    }
}

} // namespace QuantFit::Fuzz
