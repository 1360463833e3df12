// End to end: quantfit-cli tokenize on the shared stories260K.gguf vocabulary (ids derived as in
// testtokenizetokenizer.cpp) and its error paths.

#include "testsupport.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit::Test;

class TestTokenizeCli : public QObject
{
    Q_OBJECT

private slots:
    void ids();
    void pieces();
    void fromFile();
    void errors();

private:
    QString model();
};

QString TestTokenizeCli::model()
{
    const QString data = sharedTestData();
    return data.isEmpty() ? QString() : data + QStringLiteral("/models/stories260K.gguf");
}

void TestTokenizeCli::ids()
{
    if (model().isEmpty())
        QSKIP("shared test data folder ../shared/testdata not found");
    const CliResult r = runCli({QStringLiteral("tokenize"), model(),
                                QStringLiteral("Once upon a time"), QStringLiteral("--ids")});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(r.out, QByteArray("1 403 407 261 378\n"));
    QVERIFY(r.err.isEmpty());
    const CliResult noBos = runCli({QStringLiteral("tokenize"), model(),
                                    QStringLiteral("Once upon a time"), QStringLiteral("--ids"),
                                    QStringLiteral("--no-bos")});
    QCOMPARE(noBos.out, QByteArray("403 407 261 378\n"));
}

void TestTokenizeCli::pieces()
{
    if (model().isEmpty())
        QSKIP("shared test data folder ../shared/testdata not found");
    const CliResult r = runCli({QStringLiteral("tokenize"), model(), QStringLiteral("Once upon")});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(r.out, QByteArray("     1 -> '<s>'\n   403 -> ' Once'\n   407 -> ' upon'\n"));
}

void TestTokenizeCli::fromFile()
{
    if (model().isEmpty())
        QSKIP("shared test data folder ../shared/testdata not found");
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("in.txt"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("Once upon a time");
    f.close();
    const CliResult r = runCli({QStringLiteral("tokenize"), model(), QStringLiteral("-f"), path,
                                QStringLiteral("--ids")});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(r.out, QByteArray("1 403 407 261 378\n"));
}

void TestTokenizeCli::errors()
{
    if (model().isEmpty())
        QSKIP("shared test data folder ../shared/testdata not found");
    QTemporaryDir dir;
    const QString bad = dir.filePath(QStringLiteral("bad.txt"));
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("ok\xff");
    f.close();
    CliResult r = runCli({QStringLiteral("tokenize"), model(), QStringLiteral("-f"), bad});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("invalid UTF-8 at byte offset 2"), r.err.constData());
    QVERIFY(r.out.isEmpty());

    r = runCli({QStringLiteral("tokenize"), model()});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.startsWith("error: "), r.err.constData());

    r = runCli({QStringLiteral("tokenize"), dir.filePath(QStringLiteral("missing.gguf")),
                QStringLiteral("x")});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("missing.gguf"), r.err.constData());

    const QString bert = sharedTestData() + QStringLiteral("/vocab/ggml-vocab-bert-bge.gguf");
    if (QFile::exists(bert)) {
        r = runCli({QStringLiteral("tokenize"), bert, QStringLiteral("x")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("'bert'"), r.err.constData());
    }
    QVERIFY(!r.crashed);
}

QTEST_APPLESS_MAIN(TestTokenizeCli)
#include "testtokenizecli.moc"
