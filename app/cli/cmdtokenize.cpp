// quantfit-cli tokenize MODEL (TEXT | -f FILE) [--ids] [--no-bos] [--no-parse-special]:
// the model's tokens for a text, one "id -> 'piece'" line each, or the ids on one line
// (space-separated, as llama.cpp's .out test files). Like llama-tokenize, BOS/EOS are added per
// the model's flags and special-token texts in the input are parsed unless told otherwise.

#include "cliargs.h"
#include "command.h"

#include "io/archivetext.h"
#include "io/regularfile.h"
#include "tokenize/tokenizer.h"
#include "util/error.h"

#include <QCommandLineParser>
#include <QFile>

namespace QuantFit::Cli {

namespace {

// A piece for display: valid UTF-8 as is, control characters and stray bytes escaped.
QString displayPiece(const QByteArray &piece)
{
    QString s;
    const QString decoded = QString::fromUtf8(piece);
    if (decoded.toUtf8() != piece) {
        for (const char c : piece) {
            const auto b = static_cast<unsigned char>(c);
            s += (b >= 0x20 && b < 0x7F) ? QString(QChar(b))
                                         : QStringLiteral("\\x%1").arg(b, 2, 16, QLatin1Char('0'));
        }
        return s;
    }
    for (const QChar ch : decoded) {
        switch (ch.unicode()) {
        case '\n': s += QStringLiteral("\\n"); break;
        case '\r': s += QStringLiteral("\\r"); break;
        case '\t': s += QStringLiteral("\\t"); break;
        case '\\': s += QStringLiteral("\\\\"); break;
        default:
            if (ch.unicode() < 0x20)
                s += QStringLiteral("\\x%1").arg(ch.unicode(), 2, 16, QLatin1Char('0'));
            else
                s += ch;
        }
    }
    return s;
}

int runTokenize(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Shows how a model's tokenizer splits a text."));
    parser.addPositionalArgument(QStringLiteral("MODEL"), QStringLiteral("GGUF model or vocabulary."));
    parser.addPositionalArgument(QStringLiteral("TEXT"),
                                 QStringLiteral("Text to tokenize (or use -f FILE)."), QStringLiteral("[TEXT]"));
    const QCommandLineOption file(QStringList{QStringLiteral("f"), QStringLiteral("file")},
                                  QStringLiteral("Read the text from FILE (UTF-8)."),
                                  QStringLiteral("FILE"));
    const QCommandLineOption ids(QStringLiteral("ids"),
                                 QStringLiteral("Print only the ids, space-separated."));
    const QCommandLineOption noBos(QStringLiteral("no-bos"),
                                   QStringLiteral("Do not add BOS/EOS even if the model asks."));
    const QCommandLineOption noParseSpecial(
        QStringLiteral("no-parse-special"),
        QStringLiteral("Treat special-token texts such as <|im_end|> as plain text."));
    parser.addOption(file);
    parser.addOption(ids);
    parser.addOption(noBos);
    parser.addOption(noParseSpecial);
    if (!parseArgs(parser, QStringLiteral("tokenize"), args, 1, 2))
        return 0;

    const QStringList positional = parser.positionalArguments();
    QByteArray text;
    if (parser.isSet(file)) {
        if (positional.size() != 1)
            throw Error(QStringLiteral("tokenize: give either TEXT or -f FILE, not both"));
        text = readRegularFile(parser.value(file), kMaxTextBytes, QStringLiteral("a text"));
    } else {
        if (positional.size() != 2)
            throw Error(QStringLiteral("tokenize: missing TEXT (or -f FILE)"));
        text = positional.at(1).toUtf8();
    }

    const Tokenizer tokenizer = Tokenizer::fromFile(positional.at(0));
    const std::vector<std::int32_t> tokens =
        tokenizer.encode(QByteArrayView(text), !parser.isSet(noBos), !parser.isSet(noParseSpecial));

    QString s;
    if (parser.isSet(ids)) {
        QStringList parts;
        parts.reserve(qsizetype(tokens.size()));
        for (const std::int32_t id : tokens)
            parts.append(QString::number(id));
        s = parts.join(QLatin1Char(' ')) + QLatin1Char('\n');
    } else {
        for (const std::int32_t id : tokens) {
            s += QStringLiteral("%1 -> '%2'\n")
                     .arg(id, 6)
                     .arg(displayPiece(tokenizer.tokenToPiece(id, true)));
        }
    }
    out(s);
    return 0;
}

const CommandRegistration reg(QStringLiteral("tokenize"),
                              QStringLiteral("Show the tokens a model's tokenizer makes of a text"),
                              runTokenize);

} // namespace

} // namespace QuantFit::Cli
