// End to end: quantfit-cli generate and compare on a synthetic model and on stories260K,
// and their errors (missing prompt, vocabulary-only file, unsupported architecture).

#include "testsupport.h"

#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit::Test;

class TestInferCli : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_synthetic;

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_synthetic = m_dir.filePath(QStringLiteral("tiny.gguf"));
        const auto r = runCli({QStringLiteral("make-model"), m_synthetic, QStringLiteral("--layers"),
                               QStringLiteral("2"), QStringLiteral("--embd"), QStringLiteral("64"),
                               QStringLiteral("--ff"), QStringLiteral("128"),
                               QStringLiteral("--heads"), QStringLiteral("4"),
                               QStringLiteral("--kv-heads"), QStringLiteral("2"),
                               QStringLiteral("--vocab"), QStringLiteral("400"),
                               QStringLiteral("--ctx"), QStringLiteral("64"),
                               QStringLiteral("--quiet")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
    }

    void generateSynthetic()
    {
        const auto r = runCli({QStringLiteral("generate"), m_synthetic, QStringLiteral("-p"),
                               QStringLiteral("hello world"), QStringLiteral("-n"),
                               QStringLiteral("12"), QStringLiteral("--temp"),
                               QStringLiteral("0.7"), QStringLiteral("--seed"),
                               QStringLiteral("9")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(r.out.startsWith("hello world"));
        QVERIFY(r.err.contains("tokens/s"));
        // Same seed, same text.
        const auto again = runCli({QStringLiteral("generate"), m_synthetic, QStringLiteral("-p"),
                                   QStringLiteral("hello world"), QStringLiteral("-n"),
                                   QStringLiteral("12"), QStringLiteral("--temp"),
                                   QStringLiteral("0.7"), QStringLiteral("--seed"),
                                   QStringLiteral("9"), QStringLiteral("--threads"),
                                   QStringLiteral("1")});
        QCOMPARE(again.out, r.out);
    }

    void generateStories()
    {
        const QString data = sharedTestData();
        if (data.isEmpty())
            QSKIP("shared test data (../shared/testdata) not found");
        const QString model = data + QStringLiteral("/models/stories260K.gguf");
        const auto r = runCli({QStringLiteral("generate"), model, QStringLiteral("-p"),
                               QStringLiteral("Once upon a time"), QStringLiteral("-n"),
                               QStringLiteral("24")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(r.out.startsWith("Once upon a time"));
        const QString rest = QString::fromUtf8(r.out.mid(16)).simplified();
        QVERIFY2(rest.split(QLatin1Char(' ')).size() >= 8, r.out.constData());
    }

    void compareSideBySide()
    {
        const QString data = sharedTestData();
        QStringList models = {m_synthetic};
        if (!data.isEmpty())
            models << data + QStringLiteral("/models/stories260K.gguf");
        else
            models << m_synthetic;
        const auto r = runCli(QStringList{QStringLiteral("compare")} + models
                              + QStringList{QStringLiteral("-p"), QStringLiteral("Once upon a time"),
                                            QStringLiteral("-n"), QStringLiteral("10"),
                                            QStringLiteral("--width"), QStringLiteral("100")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QList<QByteArray> lines = r.out.split('\n');
        QVERIFY(lines.size() >= 6);
        const QByteArray titles = lines.at(2);
        QVERIFY2(titles.contains(QFileInfo(models[0]).fileName().toUtf8())
                     && titles.contains(QFileInfo(models[1]).fileName().toUtf8()),
                 r.out.constData());
        QCOMPARE(r.out.count("tok/s"), 4); // prompt and generation speed of each model
        for (const QByteArray &line : lines)
            QVERIFY2(QString::fromUtf8(line).size() <= 100, line.constData());
    }

    void errors()
    {
        auto r = runCli({QStringLiteral("generate"), m_synthetic});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("prompt"));

        const QString data = sharedTestData();
        if (data.isEmpty())
            QSKIP("shared test data (../shared/testdata) not found");
        r = runCli({QStringLiteral("generate"),
                    data + QStringLiteral("/vocab/ggml-vocab-llama-spm.gguf"), QStringLiteral("-p"),
                    QStringLiteral("hi")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith("error:") && r.err.contains("vocabulary"), r.err.constData());
        r = runCli({QStringLiteral("compare"), m_synthetic,
                    data + QStringLiteral("/vocab/ggml-vocab-gpt-2.gguf"), QStringLiteral("-p"),
                    QStringLiteral("hi")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("gpt2"), r.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestInferCli)
#include "testinfercli.moc"
