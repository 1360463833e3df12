// Pre-tokenizer splits, expected pieces derived by hand from the regexes of llama.cpp's
// `llm_tokenizer_bpe` in src/llama-vocab.cpp (leftmost-first alternation, greedy quantifiers that
// give back characters, unmatched gaps kept).

#include "tokenize/pretokenizer.h"

#include <QTest>

using namespace QuantFit;

using Pieces = QList<QByteArray>;

class TestTokenizePreTokenizer : public QObject
{
    Q_OBJECT

private slots:
    void split_data();
    void split();
    void regexReference_data();
    void regexReference();
    void names();
    void longInputsAreLinear();
};

void TestTokenizePreTokenizer::split_data()
{
    QTest::addColumn<QString>("pre");
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<Pieces>("expected");

    // GPT2: 's binds; "  test": \s+(?!\S) takes one space, " test" the other; "\n\n  x": the
    // whitespace run less its last char, then " x".
    QTest::newRow("gpt2") << "gpt-2" << QByteArray("Hello world's  test 123\n\n  x")
                          << Pieces{"Hello", " world", "'s", " ", " test", " 123", "\n\n ", " x"};
    // GPT2 contractions are case-sensitive: "'S" is punctuation then a letter run.
    QTest::newRow("gpt2 case") << "gpt-2" << QByteArray("I'M") << Pieces{"I", "'", "M"};
    // Unicode classes: ï is a letter, 東京 letters, ١٢ (Arabic-Indic) numbers, ½ a number.
    QTest::newRow("gpt2 unicode")
        << "gpt-2" << QByteArray("na\xc3\xafve \xe6\x9d\xb1\xe4\xba\xac \xd9\xa1\xd9\xa2 \xc2\xbd")
        << Pieces{"na\xc3\xafve", " \xe6\x9d\xb1\xe4\xba\xac", " \xd9\xa1\xd9\xa2", " \xc2\xbd"};
    // A single whitespace other than ' ' before a word is an unmatched gap of its own.
    QTest::newRow("gpt2 tab") << "gpt-2" << QByteArray("a\tb") << Pieces{"a", "\t", "b"};
    // Trailing whitespace run at the end of the text is one piece.
    QTest::newRow("gpt2 trailing") << "gpt-2" << QByteArray("a   ") << Pieces{"a", "   "};

    // LLAMA3: one leading non-letter joins a word; digits in threes; punctuation run with its
    // newlines; "  \n\n x": \s*[\r\n]+ ends after the last newline.
    QTest::newRow("llama3") << "llama-bpe" << QByteArray("Hello, world! 12345 I'M ok  \n\n x")
                            << Pieces{"Hello", ",", " world", "!", " ", "123", "45", " I", "'M",
                                      " ok", "  \n\n", " x"};
    QTest::newRow("llama3 prefix") << "llama3" << QByteArray("(hello)\tworld ...\n\nz")
                                   << Pieces{"(hello", ")", "\tworld", " ...\n\n", "z"};
    QTest::newRow("qwen2") << "qwen2" << QByteArray("x 12345")
                           << Pieces{"x", " ", "1", "2", "3", "4", "5"};

    // falcon: PUNCT, GPT2, DIG3. "a1234,5" -> PUNCT: "a1234" "," "5"; GPT2 "a" "1234";
    // DIG3 "123" "4".
    QTest::newRow("falcon") << "falcon" << QByteArray("a1234,5")
                            << Pieces{"a", "123", "4", ",", "5"};
    // default: PUNCT, GPT2, DIGITS, DIG3: "1234567" -> "123" "456" "7".
    QTest::newRow("default") << "default" << QByteArray("x 1234567")
                             << Pieces{"x", " ", "123", "456", "7"};
    // starcoder: DIGIT then GPT2: every digit alone, " " left as a gap before it.
    QTest::newRow("starcoder") << "starcoder" << QByteArray("v 42")
                               << Pieces{"v", " ", "4", "2"};

    // deepseek-llm: CRLF, DSL_L, DSL_P, TRAILWS, CJK, DIGITS.
    QTest::newRow("deepseek-llm") << "deepseek-llm" << QByteArray("ab  cd  ")
                                  << Pieces{"ab", " ", " cd", "  "};
    QTest::newRow("deepseek-llm 2") << "deepseek-llm" << QByteArray("Hi, \xe4\xbd\xa0\xe5\xa5\xbd 2024!\r\n")
                                    << Pieces{"Hi", ",", " ", "\xe4\xbd\xa0\xe5\xa5\xbd", " ",
                                              "2024", "!", "\r", "\n"};
    // deepseek-coder: CRLF, DSC_L, DSC_P, CJK, DIGIT.
    QTest::newRow("deepseek-coder") << "deepseek-coder" << QByteArray("if (x12) {\n")
                                    << Pieces{"if", " (", "x", "1", "2", ")", " {", "\n"};

    // deepseek-v3: DIGIT3, DSV3_CJK, DSV3; ".append" binds punctuation to ASCII letters;
    // '~' is neither P nor S in llama.cpp's run of this pattern, so it prefixes "é".
    QTest::newRow("deepseek-v3") << "deepseek-v3" << QByteArray("x.append ~\xc3\xa9 1234")
                                 << Pieces{"x", ".append", " ", "~\xc3\xa9", " ", "123", "4"};
    // tekken: "HelloWorld" splits before the second capital; "ABCdef" keeps caps with lower.
    QTest::newRow("tekken") << "tekken" << QByteArray("HelloWorld ABCdef 12")
                            << Pieces{"Hello", "World", " ABCdef", " ", "1", "2"};
    QTest::newRow("tekken caps") << "tekken" << QByteArray("NASA") << Pieces{"NASA"};
    // poro: optional space then anything but whitespace and the listed punctuation.
    QTest::newRow("poro") << "poro-chat" << QByteArray("a b, c.") << Pieces{"a", " b", ",", " c", "."};
    // chameleon: the image marker stays whole; the sentinel is matched first but later
    // patterns (DIGIT, CH_PUNCT) still split it, as every pattern applies to every piece.
    QTest::newRow("chameleon") << "chameleon" << QByteArray("<sentinel:12>IMGIMGABZ  x")
                               << Pieces{"<", "sentinel", ":", "1", "2", ">", "IMGIMGABZ", "  ",
                                         "x"};
    QTest::newRow("chameleon long") << "chameleon" << QByteArray("IMGIMGABCDEZ")
                                    << Pieces{"IMGIMGABCDEZ"};
}

void TestTokenizePreTokenizer::split()
{
    QFETCH(QString, pre);
    QFETCH(QByteArray, text);
    QFETCH(Pieces, expected);
    const auto info = preTokenizerInfo(pre);
    QVERIFY(info);
    Pieces got;
    for (const std::string_view p : preTokenize(std::string_view(text.constData(), std::size_t(text.size())),
                                                info->patterns))
        got.append(QByteArray(p.data(), qsizetype(p.size())));
    QCOMPARE(got, expected);
}

void TestTokenizePreTokenizer::regexReference_data()
{
    // Random strings split by a real regex engine running llama.cpp's patterns
    // (genpretokenizercases.py, Python 'regex' with Unicode classes): an independent reference
    // for the hand-written matchers, including the pre-tokenizers no test vocabulary covers.
    struct Case {
        const char *pre;
        const char *text;
        std::vector<const char *> pieces;
    };
    static const Case kCases[] = {
#include "pretokenizercases.inc"
    };
    QTest::addColumn<QString>("pre");
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<Pieces>("expected");
    int i = 0;
    for (const Case &c : kCases) {
        Pieces pieces;
        for (const char *p : c.pieces)
            pieces.append(QByteArray(p));
        QTest::addRow("%s#%d", c.pre, i++) << QString::fromLatin1(c.pre) << QByteArray(c.text)
                                          << pieces;
    }
}

void TestTokenizePreTokenizer::regexReference()
{
    split();
}

void TestTokenizePreTokenizer::names()
{
    QVERIFY(preTokenizerInfo(QStringLiteral("llama-bpe"))->ignoreMerges);
    QVERIFY(preTokenizerInfo(QStringLiteral("llama-bpe"))->addBos);
    QVERIFY(!preTokenizerInfo(QStringLiteral("qwen2"))->cleanSpaces);
    QVERIFY(preTokenizerInfo(QStringLiteral("gpt-2"))->cleanSpaces);
    QVERIFY(preTokenizerInfo(QStringLiteral("chatglm-bpe"))->noBos);
    QCOMPARE(preTokenizerInfo(QString())->name, QStringLiteral("default"));
    QVERIFY(!preTokenizerInfo(QStringLiteral("bert-bge")));
}

void TestTokenizePreTokenizer::longInputsAreLinear()
{
    // Long runs that would make a backtracking engine quadratic (a 100k-space run before a
    // word, trailing-whitespace search) finish at once.
    const QByteArray spaces(100000, ' ');
    const QByteArray text = spaces + "x" + spaces + "\n" + spaces;
    for (const char *pre : {"gpt-2", "llama-bpe", "deepseek-llm", "deepseek-v3", "tekken"}) {
        const auto info = preTokenizerInfo(QString::fromLatin1(pre));
        const auto pieces = preTokenize(std::string_view(text.constData(), std::size_t(text.size())),
                                        info->patterns);
        std::size_t total = 0;
        for (const auto p : pieces)
            total += p.size();
        QCOMPARE(total, std::size_t(text.size()));
    }
}

QTEST_APPLESS_MAIN(TestTokenizePreTokenizer)
#include "testtokenizepretokenizer.moc"
