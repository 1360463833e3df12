// Conformance against llama.cpp's tokenizer test vectors: ggml-vocab-NAME.gguf with
// ggml-vocab-NAME.gguf.inp (strings, each followed by a line "__ggml_vocab_test__") and .out
// (one line of space-separated ids per string), as llama.cpp's test-tokenizer-0 runs them:
// add_special = false, parse_special = false. The vocabulary name is the first argument.

#include "tokenize/tokenizer.h"

#include "testsupport.h"

#include <QFile>
#include <QTest>

#include <cstring>

using namespace QuantFit;

class TestTokenizeVocab : public QObject
{
    Q_OBJECT

public:
    QString vocabName;

private slots:
    void conformance_data();
    void conformance();

private:
    QString m_dir;
    std::optional<Tokenizer> m_tokenizer;
};

static QByteArray readAll(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        qFatal("cannot open %s", qPrintable(path));
    return f.readAll();
}

void TestTokenizeVocab::conformance_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QByteArray>("expected");
    if (vocabName.isEmpty())
        QSKIP("no vocabulary named (pass e.g. gpt-2 as the first argument)");
    const QString data = QuantFit::Test::sharedTestData();
    if (data.isEmpty())
        QSKIP("shared test data folder ../shared/testdata not found");
    const QString base = data + QStringLiteral("/vocab/ggml-vocab-") + vocabName
        + QStringLiteral(".gguf");
    if (!QFile::exists(base + QStringLiteral(".inp")))
        QSKIP(qPrintable(QStringLiteral("%1.inp not found").arg(base)));

    m_tokenizer = Tokenizer::fromFile(base);
    const QByteArray inp = readAll(base + QStringLiteral(".inp"));
    const QByteArray out = readAll(base + QStringLiteral(".out"));
    QList<QByteArray> texts = inp.split('\n');
    // Re-join lines into strings: every string ends with a line "__ggml_vocab_test__".
    QList<QByteArray> strings;
    QByteArray current;
    bool first = true;
    for (const QByteArray &line : texts) {
        if (line == "__ggml_vocab_test__") {
            strings.append(current);
            current.clear();
            first = true;
            continue;
        }
        if (!first)
            current += '\n';
        current += line;
        first = false;
    }
    QList<QByteArray> lines = out.split('\n');
    if (!lines.isEmpty() && lines.last().isEmpty())
        lines.removeLast();
    QCOMPARE(lines.size(), strings.size());
    for (qsizetype i = 0; i < strings.size(); ++i) {
        QTest::addRow("%s#%d", qPrintable(vocabName), int(i))
            << strings[i] << lines[i].trimmed();
    }
}

void TestTokenizeVocab::conformance()
{
    QFETCH(QByteArray, text);
    QFETCH(QByteArray, expected);
    const std::vector<std::int32_t> ids = m_tokenizer->encode(QByteArrayView(text), false, false);
    QByteArrayList parts;
    for (const std::int32_t id : ids)
        parts.append(QByteArray::number(id));
    const QByteArray got = parts.join(' ');
    if (got != expected)
        qWarning("text: %s", text.toPercentEncoding(" !'\"#$&()*+,-./:;<=>?@[]^_`{|}~").constData());
    QCOMPARE(got, expected);
}

int main(int argc, char **argv)
{
    TestTokenizeVocab test;
    // The first argument, when it is not a QTest option, names the vocabulary.
    std::vector<char *> args(argv, argv + argc);
    if (argc > 1 && argv[1][0] != '-') {
        test.vocabName = QString::fromLocal8Bit(argv[1]);
        args.erase(args.begin() + 1);
    }
    return QTest::qExec(&test, int(args.size()), args.data());
}

#include "testtokenizevocab.moc"
