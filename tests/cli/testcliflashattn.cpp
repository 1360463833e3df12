// End to end: `-fa on|off` (`--flash-attn`) of quantfit-cli perplexity and imatrix, run as a
// process on the shared test data's synthetic phi3 model (skipped with a message when the data
// is absent). llama.cpp's figures come from arch/reference.csv: llama-perplexity -c 128 -b 128
// --chunks 4 with its default flash attention (ppl_final) and with -fa off (ppl_final_fa_off).
// On this model the two differ by 3.5e-4 relative and QuantFit meets each to about 2e-6, so a
// 5e-5 bound tells which numerics ran.

#include "testsupport.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <map>

using namespace QuantFit::Test;

namespace {

constexpr double kTolerance = 5e-5;

QString shared(const QString &relative)
{
    const QString dir = sharedTestData();
    return dir.isEmpty() ? QString() : QDir(dir).filePath(relative);
}

QJsonObject jsonOf(const CliResult &r)
{
    return QJsonDocument::fromJson(r.out).object();
}

double relErr(double a, double b)
{
    return std::abs(a - b) / std::abs(b);
}

} // namespace

class TestCliFlashAttn : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model;
    QString m_text;
    double m_refOn = 0;
    double m_refOff = 0;

    CliResult perplexity(const QStringList &extra) const
    {
        QStringList args{QStringLiteral("perplexity"), m_model, QStringLiteral("-f"), m_text,
                         QStringLiteral("-c"), QStringLiteral("128"), QStringLiteral("-b"),
                         QStringLiteral("128"), QStringLiteral("--chunks"), QStringLiteral("4"),
                         QStringLiteral("--json")};
        return runCli(args + extra);
    }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = shared(QStringLiteral("arch/synth-phi3.gguf"));
        const QString text = shared(QStringLiteral("text/tinystories-valid-head.txt"));
        if (m_model.isEmpty() || !QFile::exists(m_model) || !QFile::exists(text))
            QSKIP("shared test data (../shared/testdata) not found: skipping the -fa checks");
        const auto ref = archReference(QStringLiteral("synth-phi3.gguf"));
        const bool okOn = ref.count(QStringLiteral("ppl_final"));
        const bool okOff = ref.count(QStringLiteral("ppl_final_fa_off"));
        m_refOn = okOn ? ref.at(QStringLiteral("ppl_final")) : 0;
        m_refOff = okOff ? ref.at(QStringLiteral("ppl_final_fa_off")) : 0;
        QVERIFY2(okOn && okOff, "synth-phi3.gguf missing from arch/reference.csv");
        // The text's first ~100 KB cut at a line end, as the reference runs (4 chunks need ~2 KB).
        QFile in(text);
        QVERIFY(in.open(QIODevice::ReadOnly));
        QByteArray head = in.read(100 * 1024);
        head.truncate(head.lastIndexOf('\n') + 1);
        m_text = m_dir.filePath(QStringLiteral("head.txt"));
        QFile out(m_text);
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(head);
    }

    // Default (flash attention, llama.cpp's default) and -fa off each give llama.cpp's figure
    // for that mode; --flash-attn on and -fa auto are the default.
    void perplexityFollowsTheSwitch()
    {
        const CliResult on = perplexity({});
        QVERIFY2(on.exitCode == 0 && !on.crashed, on.err.constData());
        const double pplOn = jsonOf(on).value(u"ppl").toDouble();
        const CliResult off = perplexity({QStringLiteral("-fa"), QStringLiteral("off")});
        QVERIFY2(off.exitCode == 0 && !off.crashed, off.err.constData());
        const double pplOff = jsonOf(off).value(u"ppl").toDouble();
        qInfo("default: PPL %.4f, llama.cpp %.4f (%.2e); -fa off: PPL %.4f, llama.cpp %.4f (%.2e)",
              pplOn, m_refOn, relErr(pplOn, m_refOn), pplOff, m_refOff, relErr(pplOff, m_refOff));
        QVERIFY(relErr(m_refOn, m_refOff) > 4 * kTolerance); // the modes are told apart
        QVERIFY2(relErr(pplOn, m_refOn) < kTolerance, qPrintable(QString::number(pplOn, 'f', 4)));
        QVERIFY2(relErr(pplOff, m_refOff) < kTolerance, qPrintable(QString::number(pplOff, 'f', 4)));
        for (const QStringList &same : {QStringList{QStringLiteral("--flash-attn"), QStringLiteral("on")},
                                        QStringList{QStringLiteral("-fa"), QStringLiteral("auto")}}) {
            const CliResult r = perplexity(same);
            QVERIFY2(r.exitCode == 0, r.err.constData());
            QCOMPARE(jsonOf(r).value(u"ppl").toDouble(), pplOn);
        }
        const CliResult offLong = perplexity({QStringLiteral("--flash-attn"), QStringLiteral("off")});
        QVERIFY2(offLong.exitCode == 0, offLong.err.constData());
        QCOMPARE(jsonOf(offLong).value(u"ppl").toDouble(), pplOff);
    }

    // KL divergence uses the switch too: a model against its own -fa off logits diverges only
    // by the base file's 16-bit log-probabilities with -fa off, and measurably with the default.
    void kldFollowsTheSwitch()
    {
        const QString base = m_dir.filePath(QStringLiteral("off.qfkl"));
        const CliResult save = perplexity({QStringLiteral("-fa"), QStringLiteral("off"),
                                           QStringLiteral("--save-base"), base});
        QVERIFY2(save.exitCode == 0, save.err.constData());
        const auto kld = [&](const QStringList &fa) {
            const CliResult r = runCli(QStringList{QStringLiteral("perplexity"), m_model,
                                                   QStringLiteral("--kl-base"), base,
                                                   QStringLiteral("--json")} + fa);
            if (r.exitCode != 0)
                qWarning("%s", r.err.constData());
            return jsonOf(r).value(u"kld").toObject().value(u"kld_mean").toDouble(NAN);
        };
        // The stored 16-bit log-probabilities leave a few 1e-9 either side of zero.
        const double same = kld({QStringLiteral("-fa"), QStringLiteral("off")});
        const double other = kld({});
        qInfo("KLD against -fa off logits: -fa off %.3g, default %.3g", same, other);
        QVERIFY2(std::abs(same) < 1e-6, qPrintable(QString::number(same)));
        QVERIFY2(other > 10 * std::max(std::abs(same), 1e-9), qPrintable(QString::number(other)));
    }

    // imatrix takes the switch: the collected activations change with the attention numerics.
    void imatrixTakesTheSwitch()
    {
        const QString on = m_dir.filePath(QStringLiteral("on.gguf"));
        const QString off = m_dir.filePath(QStringLiteral("off.gguf"));
        const QStringList common{QStringLiteral("imatrix"), m_model, QStringLiteral("-f"), m_text,
                                 QStringLiteral("-c"), QStringLiteral("128"),
                                 QStringLiteral("--chunks"), QStringLiteral("4"),
                                 QStringLiteral("--quiet")};
        const CliResult a = runCli(common + QStringList{QStringLiteral("-o"), on});
        QVERIFY2(a.exitCode == 0, a.err.constData());
        const CliResult b = runCli(common + QStringList{QStringLiteral("-o"), off,
                                                        QStringLiteral("--flash-attn"),
                                                        QStringLiteral("off")});
        QVERIFY2(b.exitCode == 0, b.err.constData());
        const QByteArray x = fileContent(on);
        const QByteArray y = fileContent(off);
        QVERIFY(!x.isEmpty() && x.size() == y.size());
        QVERIFY(x != y);
    }

    void badValueIsRefused()
    {
        const CliResult r = perplexity({QStringLiteral("-fa"), QStringLiteral("maybe")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("option --flash-attn: expected on, off or auto, got 'maybe'"),
                 r.err.constData());
        const CliResult i = runCli({QStringLiteral("imatrix"), m_model, QStringLiteral("-f"),
                                    m_text, QStringLiteral("-o"),
                                    m_dir.filePath(QStringLiteral("x.gguf")),
                                    QStringLiteral("-fa"), QStringLiteral("1")});
        QCOMPARE(i.exitCode, 1);
        QVERIFY2(i.err.contains("option --flash-attn"), i.err.constData());
        QVERIFY(!QFile::exists(m_dir.filePath(QStringLiteral("x.gguf"))));
    }
};

QTEST_GUILESS_MAIN(TestCliFlashAttn)
#include "testcliflashattn.moc"
