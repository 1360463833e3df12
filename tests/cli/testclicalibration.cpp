// End to end: `quantfit-cli quantize --calibration` (importance matrix and quantization in one
// job) against the two commands it replaces, `imatrix` then `quantize --imatrix`; the progress
// on stderr, interrupts in either stage, refusals, and `imatrix --output-format`.

#include "testsupport.h"

#include "gguf/filetype.h"
#include "gguf/ggufreader.h"
#include "quant/imatrixfile.h"
#include "tasks/measurementtask.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;
using namespace QuantFit::Test;

namespace {

QStringList qs(std::initializer_list<const char *> list)
{
    QStringList out;
    for (const char *a : list)
        out << QString::fromUtf8(a);
    return out;
}

/// The mixes calibration is for: IQ2_M cannot be written without an importance matrix.
QString calibratedTypes()
{
    return fileTypeFacts(FileType::IQ2_M).supported ? QStringLiteral("IQ2_M,Q4_K_M")
                                                    : QStringLiteral("Q4_K_M");
}

/// Every tensor's data of two GGUF files, compared.
bool sameTensors(const QString &a, const QString &b)
{
    const GgufFile fa = GgufFile::open(a);
    const GgufFile fb = GgufFile::open(b);
    if (fa.tensors().size() != fb.tensors().size())
        return false;
    for (std::size_t i = 0; i < fa.tensors().size(); ++i) {
        const auto x = fa.tensorData(i);
        const auto y = fb.tensorData(i);
        if (fa.tensors()[i].name != fb.tensors()[i].name
            || !std::equal(x.begin(), x.end(), y.begin(), y.end()))
            return false;
    }
    return true;
}

struct ProgressLine {
    QString stage;
    double percent = 0;
};

/// The progress lines a non-terminal stderr gets: "STAGE  NN.N%  ...".
QList<ProgressLine> progressLines(const QByteArray &err)
{
    static const QRegularExpression re(QStringLiteral("^(\\S.*?)\\s+(\\d+\\.\\d)%"),
                                       QRegularExpression::MultilineOption);
    QList<ProgressLine> lines;
    auto it = re.globalMatch(QString::fromUtf8(err));
    while (it.hasNext()) {
        const auto m = it.next();
        lines.append({m.captured(1), m.captured(2).toDouble()});
    }
    return lines;
}

} // namespace

class TestCliCalibration : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model;
    QString m_text;

    QString path(const QString &name) const { return m_dir.filePath(name); }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = path(QStringLiteral("tiny-F32.gguf"));
        const auto r = runCli(QStringList{QStringLiteral("make-model"), m_model}
                              + qs({"--layers", "2", "--embd", "256", "--ff", "512", "--heads",
                                    "8", "--kv-heads", "4", "--vocab", "512", "--quiet"}));
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        m_text = path(QStringLiteral("calibration.txt"));
        QFile f(m_text);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(builtInSampleText());
    }

    // One command gives the files of the two it replaces, byte for byte (the saved matrix is
    // the file both record), and one progress bar that only moves forward through both stages.
    void oneCommandEqualsTwo()
    {
        const QString one = path(QStringLiteral("one"));
        const QString two = path(QStringLiteral("two"));
        QVERIFY(QDir().mkpath(one) && QDir().mkpath(two));
        const QString saved = path(QStringLiteral("saved.imatrix.gguf"));
        auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, one, calibratedTypes(),
                                    QStringLiteral("--calibration"), m_text,
                                    QStringLiteral("--save-imatrix"), saved}
                        + qs({"--calibration-ctx", "64", "--calibration-chunks", "3"}));
        QVERIFY2(r.exitCode == 0 && !r.crashed, r.err.constData());
        QVERIFY2(r.out.contains("calibrated on 3 chunks of 64 tokens"), r.out.constData());

        const QList<ProgressLine> lines = progressLines(r.err);
        QVERIFY2(lines.size() >= 4, r.err.constData());
        bool quantizing = false;
        int calibratingLines = 0;
        for (qsizetype i = 0; i < lines.size(); ++i) {
            if (i > 0)
                QVERIFY2(lines[i].percent >= lines[i - 1].percent, r.err.constData());
            if (lines[i].stage.startsWith(QLatin1String("Calibrating"))) {
                QVERIFY2(!quantizing, r.err.constData());
                ++calibratingLines;
            }
            quantizing = quantizing || lines[i].stage.startsWith(QLatin1String("Quantizing"));
        }
        QVERIFY(calibratingLines >= 3 && quantizing);
        QCOMPARE(lines.last().percent, 100.0);

        const QString second = path(QStringLiteral("second.imatrix.gguf"));
        r = runCli(QStringList{QStringLiteral("imatrix"), m_model, QStringLiteral("-f"), m_text,
                               QStringLiteral("-o"), second}
                   + qs({"--ctx", "64", "--chunks", "3", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(fileContent(saved), fileContent(second));
        r = runCli(QStringList{QStringLiteral("quantize"), m_model, two, calibratedTypes(),
                               QStringLiteral("--imatrix"), saved, QStringLiteral("--quiet")});
        QVERIFY2(r.exitCode == 0, r.err.constData());

        const QStringList written = filesIn(one);
        QCOMPARE(written, filesIn(two));
        QCOMPARE(written.size(), calibratedTypes().count(QLatin1Char(',')) + 1);
        for (const QString &name : written) {
            const QByteArray a = fileContent(QDir(one).filePath(name));
            QVERIFY(!a.isEmpty());
            QVERIFY2(a == fileContent(QDir(two).filePath(name)), qPrintable(name));
            const GgufFile f = GgufFile::open(QDir(one).filePath(name), GgufFile::Mode::MetadataOnly);
            QCOMPARE(f.metadata().stringOr("quantize.imatrix.file"), saved);
            QCOMPARE(f.metadata().stringOr("quantize.imatrix.dataset"),
                     QStringLiteral("calibration.txt"));
            QCOMPARE(f.metadata().uintOr("quantize.imatrix.entries_count", 0), 14u);
            QCOMPARE(f.metadata().uintOr("quantize.imatrix.chunks_count", 0), 3u);
        }
    }

    // Without --save-imatrix the file says what the matrix was computed from; its tensors are
    // those of the two-step run; the dry run predicts its size.
    void recordsTheTextWhenNotSaved()
    {
        const QString type = calibratedTypes().section(QLatin1Char(','), 0, 0);
        const QString out = path(QStringLiteral("unsaved.gguf"));
        const QStringList cal = QStringList{QStringLiteral("--calibration"), m_text}
                                + qs({"--calibration-ctx", "64", "--calibration-chunks", "3"});
        const auto plan = runCli(QStringList{QStringLiteral("quantize"), m_model, out, type,
                                             QStringLiteral("--dry-run")} + cal);
        QVERIFY2(plan.exitCode == 0, plan.err.constData());
        QVERIFY(!QFileInfo::exists(out));
        static const QRegularExpression size(QStringLiteral("output size: (\\d+) bytes"));
        const qint64 planned = size.match(QString::fromUtf8(plan.out)).captured(1).toLongLong();

        const auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, out, type,
                                          QStringLiteral("--quiet")} + cal);
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(QFileInfo(out).size(), planned);
        const GgufFile f = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        QCOMPARE(f.metadata().stringOr("quantize.imatrix.file"),
                 QStringLiteral("computed from ") + m_text);
        QCOMPARE(f.metadata().stringOr("quantize.imatrix.dataset"), QStringLiteral("calibration.txt"));
        const QString twoStep = QDir(path(QStringLiteral("two"))).filePath(
            QStringLiteral("tiny-%1.gguf").arg(type));
        if (!QFileInfo::exists(twoStep))
            QSKIP("needs the files of oneCommandEqualsTwo");
        QVERIFY(sameTensors(out, twoStep));
    }

    void refusals()
    {
        const QString out = path(QStringLiteral("refused.gguf"));
        struct Case {
            QStringList args;
            const char *message;
        };
        const QString dat = path(QStringLiteral("any.imatrix.gguf"));
        const Case cases[] = {
            {{QStringLiteral("--calibration"), m_text, QStringLiteral("--imatrix"), dat},
             "cannot be combined"},
            {qs({"--calibration-chunks", "4"}), "--calibration-chunks needs --calibration"},
            {qs({"--save-imatrix", "x.gguf"}), "--save-imatrix needs --calibration"},
            {QStringList{QStringLiteral("--calibration"), m_text} + qs({"--calibration-chunks", "0"}),
             "--calibration-chunks"},
            {QStringList{QStringLiteral("--calibration"), path(QStringLiteral("missing.txt"))},
             "missing.txt"},
            {QStringList{QStringLiteral("--calibration"), m_text}
                 + qs({"--calibration-ctx", "8192"}), "two contexts"},
            {QStringList{QStringLiteral("--calibration"), m_text, QStringLiteral("--save-imatrix"),
                         m_model}, "input"},
        };
        const QStringList before = filesIn(m_dir.path());
        for (const Case &c : cases) {
            const auto r = runCli(QStringList{QStringLiteral("quantize"), m_model, out,
                                              QStringLiteral("Q4_K_M")} + c.args);
            QCOMPARE(r.exitCode, 1);
            QVERIFY2(r.err.startsWith("error: ") && r.err.contains(c.message), r.err.constData());
        }
        QCOMPARE(filesIn(m_dir.path()), before);
    }

    void interruptInEitherStage_data()
    {
        QTest::addColumn<QString>("stage");
        QTest::newRow("calibrating") << QStringLiteral("Calibrating");
        QTest::newRow("quantizing") << QStringLiteral("Quantizing");
    }

    // SIGTERM (as Ctrl+C) in either stage: exit status 130 and nothing left but the inputs.
    void interruptInEitherStage()
    {
        QFETCH(QString, stage);
        QTemporaryDir dir;
        const QString model = dir.filePath(QStringLiteral("big.gguf"));
        auto r = runCli(QStringList{QStringLiteral("make-model"), model}
                        + qs({"--layers", "4", "--embd", "512", "--ff", "1536", "--heads", "8",
                              "--kv-heads", "8", "--vocab", "1024", "--quiet"}));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QString text = dir.filePath(QStringLiteral("text.txt"));
        {
            QFile f(text);
            QVERIFY(f.open(QIODevice::WriteOnly));
            const QByteArray sample = builtInSampleText();
            for (int i = 0; i < 8; ++i)
                f.write(sample);
        }
        const QString types = fileTypeFacts(FileType::IQ2_XS).supported
                                  ? QStringLiteral("IQ2_XS,IQ3_XXS,Q4_K_M")
                                  : QStringLiteral("IQ4_XS,Q3_K_M,Q4_K_M,Q5_K_M,Q6_K");
        QProcess p;
        p.start(cliPath(), QStringList{QStringLiteral("quantize"), model, dir.path(), types,
                                       QStringLiteral("--calibration"), text}
                               + qs({"--calibration-ctx", "128", "--threads", "1"}));
        QVERIFY(p.waitForStarted());
        QElapsedTimer t;
        t.start();
        QByteArray err;
        while (!err.contains(stage.toUtf8()) && p.state() == QProcess::Running && t.elapsed() < 120000) {
            p.waitForReadyRead(100);
            err += p.readAllStandardError();
        }
        if (p.state() != QProcess::Running)
            QSKIP("the conversion finished before it could be interrupted");
        QElapsedTimer stop;
        stop.start();
        p.terminate();
        QVERIFY(p.waitForFinished(30000));
        qInfo("%s: stopped %lld ms after SIGTERM", qPrintable(stage), stop.elapsed());
        if (p.exitCode() == 0)
            QSKIP("the conversion finished before the signal arrived");
        QCOMPARE(p.exitCode(), 130);
        QCOMPARE(filesIn(dir.path()), QStringList({QStringLiteral("big.gguf"), QStringLiteral("text.txt")}));
    }

    // llama-imatrix's spelling --output-format and the older --format both choose the format.
    void imatrixOutputFormat()
    {
        for (const char *option : {"--output-format", "--format"}) {
            const QString out = path(QStringLiteral("fmt.out"));
            const auto r = runCli(QStringList{QStringLiteral("imatrix"), m_model, QStringLiteral("-f"),
                                              m_text, QStringLiteral("-o"), out,
                                              QString::fromUtf8(option), QStringLiteral("dat")}
                                  + qs({"--ctx", "64", "--chunks", "2", "--quiet"}));
            QVERIFY2(r.exitCode == 0, r.err.constData());
            QVERIFY2(r.out.contains("legacy .dat"), r.out.constData());
            QVERIFY(!fileContent(out).startsWith("GGUF"));
            QCOMPARE(readImportanceMatrix(out).entries.size(), std::size_t(14));
            QFile::remove(out);
        }
        const auto bad = runCli(QStringList{QStringLiteral("imatrix"), m_model, QStringLiteral("-f"),
                                            m_text, QStringLiteral("-o"), path(QStringLiteral("x"))}
                                + qs({"--output-format", "json"}));
        QCOMPARE(bad.exitCode, 1);
        QVERIFY2(bad.err.contains("--output-format: expected gguf or dat"), bad.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliCalibration)
#include "testclicalibration.moc"
