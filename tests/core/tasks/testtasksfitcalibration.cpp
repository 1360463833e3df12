// Measured sensitivity for the budget fit (tasks/fitcalibration.h, `quantize --calibrate`).
// Expectations are derived without the code under test: a layer whose attn_output weights are
// zero adds nothing to the residual stream, so its attn_q/k/v cannot change the logits (their
// KLD is zero by construction); a tensor's KLD is checked against `quantize` + `perplexity
// --base` of a file in which only that tensor is Q4_K.

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "jobs/progress.h"
#include "model/syntheticmodel.h"
#include "tasks/fittask.h"
#include "util/error.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

using namespace QuantFit;
using QuantFit::Test::CliResult;
using QuantFit::Test::runCli;

namespace {

// MHA (no GQA), so attn_v is not a protected tensor and every attn_q/k/v is free to move.
SyntheticModelOptions smallModel()
{
    SyntheticModelOptions o;
    o.nLayers = 4;
    o.nEmbd = 256;
    o.nFf = 512;
    o.nHeads = 4;
    o.nHeadsKv = 4;
    o.nVocab = 1024;
    o.nCtx = 256;
    o.seed = 11;
    return o;
}

// 4 chunks of 64 tokens of the built-in sample: small enough for a sanitizer build.
FitCalibrationSettings quickSettings()
{
    FitCalibrationSettings s;
    s.nChunks = 4;
    s.nCtx = 64;
    return s;
}

// A fit to `bits` per weight with the quick calibration: what every test plans.
FitTarget bpwTarget(double bits)
{
    FitTarget target;
    target.kind = FitTarget::Kind::BitsPerWeight;
    target.bitsPerWeight = bits;
    target.calibration = quickSettings();
    return target;
}

const FitTensor *findTensor(const FitResult &r, const QByteArray &name)
{
    for (const FitTensor &t : r.tensors) {
        if (t.name == name)
            return &t;
    }
    return nullptr;
}

const FitCandidate *findCandidate(const FitTensor &t, GgmlType type)
{
    for (const FitCandidate &c : t.candidates) {
        if (c.type == type)
            return &c;
    }
    return nullptr;
}

// Cancels as soon as the calibration stage reports.
class CancelInCalibration : public JobContext
{
public:
    CancelInCalibration() : JobContext({}, 0) {}
    bool sawCalibration = false;

protected:
    void report(const Progress &p) override
    {
        if (p.stage == QLatin1String("Calibrating sensitivities")) {
            sawCalibration = true;
            requestCancel();
        }
    }
};

} // namespace

class TestTasksFitCalibration : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = m_dir.filePath(QStringLiteral("model.gguf"));
        NullJobContext ctx;
        writeSyntheticModel(m_model, smallModel(), ctx);
        // The same model with blk.1.attn_output.weight set to zero (F32 zero is all-zero bytes).
        m_zeroed = m_dir.filePath(QStringLiteral("zeroed.gguf"));
        QVERIFY(QFile::copy(m_model, m_zeroed));
        const GgufFile f = GgufFile::open(m_zeroed, GgufFile::Mode::MetadataOnly);
        const GgufTensorInfo *t = f.findTensor("blk.1.attn_output.weight");
        QVERIFY(t);
        QCOMPARE(t->type, GgmlType::F32);
        QFile out(m_zeroed);
        QVERIFY(out.open(QIODevice::ReadWrite));
        QVERIFY(out.seek(qint64(f.fileOffset(*t))));
        QCOMPARE(out.write(QByteArray(qsizetype(t->nBytes), '\0')), qint64(t->nBytes));
    }

    // A tensor that provably cannot reach the output measures zero sensitivity, and the
    // calibrated fit gives it its smallest candidate; tensors that do reach it measure > 0.
    void irrelevantTensorsTakeTheCheapestType()
    {
        ConversionRequest request = planRequest(m_zeroed);
        FitTarget target = bpwTarget(4.5);
        target.sensitivity = FitSensitivityMode::Measured;
        std::vector<FitCalibrationEstimate> estimates;
        target.onCalibrationEstimate = [&](const FitCalibrationEstimate &e) {
            estimates.push_back(e);
        };
        NullJobContext ctx;
        const FittedConversion f = planFittedConversion(request, target, ctx);
        // Before any pass, then measured on the source's pass; one probe per fit tensor.
        QCOMPARE(estimates.size(), std::size_t(2));
        QVERIFY(!estimates[0].measured && estimates[1].measured);
        for (const FitCalibrationEstimate &e : estimates) {
            QCOMPARE(e.nProbes, int(f.fit.tensors.size()));
            QVERIFY(e.seconds > 0);
        }
        QVERIFY(f.fit.calibrated);
        for (const char *name :
             {"blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.1.attn_v.weight"}) {
            const FitTensor *t = findTensor(f.fit, name);
            QVERIFY2(t, name);
            QVERIFY2(std::abs(t->measuredKld) < 1e-6,
                     qPrintable(QStringLiteral("%1: KLD %2")
                                    .arg(QLatin1String(name))
                                    .arg(t->measuredKld)));
            QVERIFY2(t->sensitivity < 1e-3, name);
            QVERIFY2(t->type == t->candidates.front().type,
                     qPrintable(QStringLiteral("%1: %2 chosen, smallest candidate %3")
                                    .arg(QLatin1String(name), ggmlTypeName(t->type),
                                         ggmlTypeName(t->candidates.front().type))));
        }
        for (const char *name : {"blk.0.attn_q.weight", "blk.2.attn_v.weight",
                                 "blk.1.ffn_down.weight", "output.weight"}) {
            const FitTensor *t = findTensor(f.fit, name);
            QVERIFY2(t, name);
            QVERIFY2(t->measuredKld > 1e-5,
                     qPrintable(QStringLiteral("%1: KLD %2")
                                    .arg(QLatin1String(name))
                                    .arg(t->measuredKld)));
        }
        QVERIFY(f.fit.note.contains(QLatin1String("calibrated")));
        QVERIFY(f.fit.note.contains(QLatin1String("4 chunks of 64 tokens of built-in sample")));
    }

    // The probe type's cost is the measured KLD, every candidate's cost is its relative error
    // times the same sensitivity, and the KLD equals what `perplexity --base` measures on a file
    // in which only that tensor is Q4_K.
    void probeCostIsTheMeasuredKld()
    {
        ConversionRequest request = planRequest(m_model);
        FitTarget target = bpwTarget(4.5);
        target.sensitivity = FitSensitivityMode::Measured;
        NullJobContext ctx;
        const FittedConversion f = planFittedConversion(request, target, ctx);
        for (const FitTensor &t : f.fit.tensors) {
            QCOMPARE(t.probeType, GgmlType::Q4_K); // every row is a multiple of 256
            const FitCandidate *probe = findCandidate(t, t.probeType);
            if (!probe) // a protected tensor whose floor is above Q4_K
                continue;
            QCOMPARE(probe->cost, t.measuredKld);
            for (const FitCandidate &c : t.candidates)
                QVERIFY(qFuzzyCompare(1.0 + c.cost, 1.0 + c.relativeError * t.sensitivity));
        }
        QVERIFY(f.fit.plan.targetTensorBytes <= f.budget.bytes);

        const QByteArray name = "blk.2.ffn_down.weight";
        const FitTensor *t = findTensor(f.fit, name);
        QVERIFY(t);
        const QString single = m_dir.filePath(QStringLiteral("single.gguf"));
        // Q4_K for that tensor, F32 (as in the source) for every other one.
        const CliResult q = runCli({QStringLiteral("quantize"), m_model, single,
                                    QStringLiteral("Q8_0"),
                                    QStringLiteral("--tensor-type"),
                                    QStringLiteral("^blk\\.2\\.ffn_down\\.weight$=q4_K"),
                                    QStringLiteral("--tensor-type"), QStringLiteral(".=f32"),
                                    QStringLiteral("--quiet")});
        QVERIFY2(q.exitCode == 0, q.err.constData());
        const CliResult p = runCli({QStringLiteral("perplexity"), QStringLiteral("--base"), m_model,
                                    single, QStringLiteral("--sample"), QStringLiteral("-c"),
                                    QStringLiteral("64"), QStringLiteral("--chunks"),
                                    QStringLiteral("4"), QStringLiteral("--json")});
        QVERIFY2(p.exitCode == 0, p.err.constData());
        double kld = -1;
        for (const QJsonValue &v : QJsonDocument::fromJson(p.out).array()) {
            const QJsonObject o = v.toObject();
            if (o.value(QLatin1String("model")).toString() == single)
                kld = o.value(QLatin1String("kld"))
                          .toObject()
                          .value(QLatin1String("kld_mean"))
                          .toDouble(-1);
        }
        QVERIFY2(kld > 0, p.out.constData());
        QVERIFY2(std::abs(kld - t->measuredKld) <= 1e-6 + 1e-4 * kld,
                 qPrintable(QStringLiteral("perplexity --base: %1, calibration: %2")
                                .arg(kld)
                                .arg(t->measuredKld)));
    }

    // Beyond the time limit the calibration is refused with the model and the estimate named,
    // unless forced; Ctrl+C stops it.
    void refusedBeyondTheLimitAndCancellable()
    {
        ConversionRequest request = planRequest(m_model);
        FitTarget target = bpwTarget(4.5);
        target.sensitivity = FitSensitivityMode::Measured;
        target.calibration.maxSeconds = 1e-6;
        target.calibration.reuse = false; // probeCostIsTheMeasuredKld measured the same fit
        NullJobContext ctx;
        try {
            planFittedConversion(request, target, ctx);
            QFAIL("expected a refusal");
        } catch (const Error &e) {
            QVERIFY2(e.message().contains(QLatin1String("model.gguf"))
                         && e.message().contains(QLatin1String("would take too long"))
                         && e.message().contains(QLatin1String("--force-calibration"))
                         && e.message().contains(QLatin1String("weights")),
                     qPrintable(e.message()));
        }
        target.calibration.force = true;
        CancelInCalibration cancel;
        QVERIFY_THROWS_EXCEPTION(Cancelled, planFittedConversion(request, target, cancel));
        QVERIFY(cancel.sawCalibration);
    }

    void cliOptions()
    {
        const CliResult a = runCli({QStringLiteral("quantize"), m_model, QStringLiteral("Q4_K_M"),
                                    QStringLiteral("--calibrate"), QStringLiteral("--dry-run")});
        QCOMPARE(a.exitCode, 1);
        QVERIFY2(a.err.contains("--calibrate needs a fitted mix"), a.err.constData());
        // The default (auto) reads a text given by name: a file that is not UTF-8 is an error,
        // not a silent fallback to the documented factors.
        const CliResult b = runCli({QStringLiteral("quantize"), m_model,
                                    QStringLiteral("--target-bpw"), QStringLiteral("4.5"),
                                    QStringLiteral("--calibration-text"), m_model,
                                    QStringLiteral("--dry-run")});
        QCOMPARE(b.exitCode, 1);
        QVERIFY2(b.err.contains("invalid UTF-8"), b.err.constData());
        for (const QStringList &extra :
             {QStringList{QStringLiteral("--calibrate"), QStringLiteral("--no-calibrate")},
              QStringList{QStringLiteral("--no-calibrate"), QStringLiteral("--calibration-text"),
                          m_model},
              QStringList{QStringLiteral("--no-calibrate"), QStringLiteral("--calibration-chunks"),
                          QStringLiteral("2")},
              QStringList{QStringLiteral("--force-calibration")}}) {
            const CliResult r = runCli(QStringList{QStringLiteral("quantize"), m_model,
                                                   QStringLiteral("--target-bpw"),
                                                   QStringLiteral("4.5"),
                                                   QStringLiteral("--dry-run")}
                                       + extra);
            QVERIFY2(r.exitCode == 1, qPrintable(extra.join(u' ')));
            QVERIFY2(r.err.contains(extra.front().toUtf8()), r.err.constData());
        }
        const CliResult n = runCli({QStringLiteral("quantize"), m_model, QStringLiteral("Q4_K_M"),
                                    QStringLiteral("--no-calibrate"), QStringLiteral("--dry-run")});
        QCOMPARE(n.exitCode, 1);
        QVERIFY2(n.err.contains("--no-calibrate needs a fitted mix"), n.err.constData());
        const CliResult c = runCli({QStringLiteral("quantize"), m_model,
                                    QStringLiteral("--target-bpw"), QStringLiteral("4.5"),
                                    QStringLiteral("--calibrate"),
                                    QStringLiteral("--calibration-chunks"),
                                    QStringLiteral("2"), QStringLiteral("--calibration-ctx"),
                                    QStringLiteral("64"), QStringLiteral("--dry-run")});
        QVERIFY2(c.exitCode == 0, c.err.constData());
        QVERIFY2(c.err.contains("calibration: "), c.err.constData());
        QVERIFY2(c.out.contains("measured sensitivity (calibrated"), c.out.constData());
        QVERIFY2(c.out.contains("2 chunks of 64 tokens of built-in sample"), c.out.constData());
        QVERIFY2(c.out.contains("sensitivity: measured sensitivity (calibration on)"),
                 c.out.constData());
        // The default measures this small model (well within a minute) and says so.
        const CliResult d = runCli({QStringLiteral("quantize"), m_model,
                                    QStringLiteral("--target-bpw"), QStringLiteral("4.5"),
                                    QStringLiteral("--calibration-chunks"), QStringLiteral("2"),
                                    QStringLiteral("--calibration-ctx"), QStringLiteral("64"),
                                    QStringLiteral("--dry-run")});
        QVERIFY2(d.exitCode == 0, d.err.constData());
        QVERIFY2(d.err.contains("calibration: "), d.err.constData());
        QVERIFY2(d.out.contains("sensitivity: measured sensitivity (auto: ")
                     && d.out.contains("within the 60 s auto limit)"),
                 d.out.constData());
        QVERIFY2(d.out.contains("2 chunks of 64 tokens of built-in sample"), d.out.constData());
        // --no-calibrate: the documented factors, no forward pass.
        const CliResult e = runCli({QStringLiteral("quantize"), m_model,
                                    QStringLiteral("--target-bpw"), QStringLiteral("4.5"),
                                    QStringLiteral("--no-calibrate"), QStringLiteral("--dry-run")});
        QVERIFY2(e.exitCode == 0, e.err.constData());
        QVERIFY2(!e.err.contains("calibration: "), e.err.constData());
        QVERIFY2(e.out.contains("sensitivity: documented sensitivity factors (calibration off)"),
                 e.out.constData());
        QVERIFY2(!e.out.contains("measured sensitivity"), e.out.constData());
    }

    // The default (auto) measures when the up-front estimate is within its limit, else takes the
    // documented factors; either way the choice and its reason reach the summary and the
    // quantize.recipe note, and the note names no time or thread count (the file must not
    // depend on them).
    void autoMeasuresOnlyWhereQuick()
    {
        ConversionRequest request = planRequest(m_model);
        FitTarget target = bpwTarget(4.5);
        QCOMPARE(target.sensitivity, FitSensitivityMode::Auto); // the default
        NullJobContext ctx;
        const FittedConversion quick = planFittedConversion(request, target, ctx);
        QVERIFY(quick.sensitivity.measured);
        QVERIFY(quick.fit.calibrated);
        QVERIFY(quick.sensitivity.estimate);
        QVERIFY(quick.sensitivity.estimate->seconds <= kFitCalibrationAutoSeconds);
        QVERIFY2(quick.fit.note.contains(QLatin1String("auto: estimate within 60 s")),
                 qPrintable(quick.fit.note));
        QVERIFY2(fitSummaryText(quick).contains(QLatin1String("within the 60 s auto limit")),
                 qPrintable(fitSummaryText(quick)));

        // The same model with a limit below any estimate: the documented factors, and the
        // costs are exactly those of --no-calibrate.
        target.calibration.autoMaxSeconds = 1e-6;
        const FittedConversion slow = planFittedConversion(request, target, ctx);
        QVERIFY(!slow.sensitivity.measured);
        QVERIFY(!slow.fit.calibrated);
        QVERIFY2(slow.sensitivity.reason.contains(QLatin1String("over the")),
                 qPrintable(slow.sensitivity.reason));
        QVERIFY2(slow.fit.note.contains(QLatin1String("documented sensitivity (auto: measuring "
                                                      "estimated over")),
                 qPrintable(slow.fit.note));
        FitTarget off = target;
        off.sensitivity = FitSensitivityMode::Documented;
        const FittedConversion documented = planFittedConversion(request, off, ctx);
        QVERIFY(!documented.sensitivity.estimate); // no estimate is made
        QVERIFY2(documented.fit.note.contains(QLatin1String("documented sensitivity (calibration "
                                                            "off)")),
                 qPrintable(documented.fit.note));
        QCOMPARE(slow.fit.tensors.size(), documented.fit.tensors.size());
        for (std::size_t i = 0; i < slow.fit.tensors.size(); ++i) {
            QCOMPARE(slow.fit.tensors[i].type, documented.fit.tensors[i].type);
            QCOMPARE(slow.fit.tensors[i].measuredKld, -1.0);
        }
    }

    // A model the forward pass cannot run (an architecture it does not implement) is fitted
    // with the documented factors by default, the reason named; --calibrate refuses it.
    void autoFallsBackWhenTheModelCannotRun()
    {
        // "llama" -> "llamq" in general.architecture only: the llama.* keys stay, so the mix
        // rules see the same shape, but no inference is implemented for "llamq".
        const QString path = m_dir.filePath(QStringLiteral("llamq.gguf"));
        QVERIFY(QFile::copy(m_model, path));
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadWrite));
        QByteArray head = f.read(4096);
        const QByteArray key = "general.architecture";
        const qsizetype at = head.indexOf(key);
        QVERIFY(at > 0);
        // key, value type (4 bytes), string length (8 bytes), then the value.
        const qsizetype value = at + key.size() + 4 + 8;
        QCOMPARE(head.mid(value, 5), QByteArray("llama"));
        QVERIFY(f.seek(value + 4));
        QCOMPARE(f.write("q", 1), qint64(1));
        f.close();

        ConversionRequest request = planRequest(path);
        FitTarget target = bpwTarget(4.5);
        NullJobContext ctx;
        const FittedConversion fitted = planFittedConversion(request, target, ctx);
        QVERIFY(!fitted.sensitivity.measured);
        QVERIFY(!fitted.fit.calibrated);
        QVERIFY2(fitted.sensitivity.reason.contains(QLatin1String("llamq")),
                 qPrintable(fitted.sensitivity.reason));
        QVERIFY2(fitted.fit.note.contains(QLatin1String("cannot measure this model")),
                 qPrintable(fitted.fit.note));
        target.sensitivity = FitSensitivityMode::Measured;
        QVERIFY_THROWS_EXCEPTION(Error, planFittedConversion(request, target, ctx));
    }

    // The same fit of the same file again in one process (Advise's row, Convert's preview,
    // Convert's run) takes the earlier measurement: no estimate, no calibration stage, the same
    // KLDs.
    void anIdenticalFitReusesTheMeasurement()
    {
        ConversionRequest request = planRequest(m_model);
        FitTarget target = bpwTarget(4.25);
        target.sensitivity = FitSensitivityMode::Measured;
        NullJobContext ctx;
        const FittedConversion first = planFittedConversion(request, target, ctx);
        int estimates = 0;
        target.onCalibrationEstimate = [&](const FitCalibrationEstimate &) { ++estimates; };
        CancelInCalibration cancel; // would cancel if a calibration stage began
        const FittedConversion again = planFittedConversion(request, target, cancel);
        QCOMPARE(estimates, 0);
        QVERIFY(!cancel.sawCalibration);
        QVERIFY(again.fit.calibrated);
        QCOMPARE(again.fit.tensors.size(), first.fit.tensors.size());
        for (std::size_t i = 0; i < first.fit.tensors.size(); ++i)
            QVERIFY(again.fit.tensors[i].measuredKld == first.fit.tensors[i].measuredKld);
    }

    // A calibrated fit does not depend on the thread count: the measured KLDs are the same to
    // the bit with 1 and 2 threads (per-position values are summed in position order), and the
    // files `quantize --threads 1` and `--threads 2` write are byte-identical, as is the one the
    // app's path (runFittedConversion with the same target) writes.
    void calibratedFitIsIndependentOfThreads()
    {
        ConversionRequest request = planRequest(m_model);
        FitTarget target = bpwTarget(4.5);
        target.text = QStringLiteral("--target-bpw 4.5"); // as the command line names it
        target.sensitivity = FitSensitivityMode::Measured;
        target.calibration.reuse = false; // both measured, not the second taken from the first
        NullJobContext ctx;
        request.nThreads = 1;
        const FittedConversion one = planFittedConversion(request, target, ctx);
        request.nThreads = 2;
        const FittedConversion two = planFittedConversion(request, target, ctx);
        QVERIFY(one.fit.calibrated && two.fit.calibrated);
        QCOMPARE(one.fit.tensors.size(), two.fit.tensors.size());
        for (std::size_t i = 0; i < one.fit.tensors.size(); ++i) {
            const FitTensor &a = one.fit.tensors[i];
            const FitTensor &b = two.fit.tensors[i];
            QVERIFY2(a.measuredKld == b.measuredKld && a.sensitivity == b.sensitivity,
                     qPrintable(QStringLiteral("%1: KLD %2 / %3")
                                    .arg(QString::fromUtf8(a.name))
                                    .arg(a.measuredKld, 0, 'g', 17)
                                    .arg(b.measuredKld, 0, 'g', 17)));
            QCOMPARE(a.type, b.type);
        }
        QCOMPARE(one.fit.note, two.fit.note);

        QStringList files;
        for (const char *threads : {"1", "2"}) {
            const QString out =
                m_dir.filePath(QStringLiteral("threads-%1.gguf").arg(QLatin1String(threads)));
            const CliResult r = runCli({QStringLiteral("quantize"), m_model, out,
                                        QStringLiteral("--target-bpw"), QStringLiteral("4.5"),
                                        QStringLiteral("--calibrate"),
                                        QStringLiteral("--calibration-chunks"),
                                        QStringLiteral("4"), QStringLiteral("--calibration-ctx"),
                                        QStringLiteral("64"), QStringLiteral("--threads"),
                                        QLatin1String(threads), QStringLiteral("--quiet")});
            QVERIFY2(r.exitCode == 0, r.err.constData());
            files << out;
        }
        request.nThreads = 0;
        request.outputFile = m_dir.filePath(QStringLiteral("task.gguf"));
        runFittedConversion(request, target, ctx);
        files << request.outputFile;
        const auto bytes = [](const QString &path) {
            QFile f(path);
            return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
        };
        const QByteArray first = bytes(files.front());
        QVERIFY(!first.isEmpty());
        for (const QString &path : files)
            QVERIFY2(bytes(path) == first, qPrintable(path));
    }

private:
    /// Planning `source`; nothing is written (the tests plan only).
    ConversionRequest planRequest(const QString &source) const
    {
        ConversionRequest request;
        request.sourcePath = source;
        request.outputFile = m_dir.filePath(QStringLiteral("unused.gguf"));
        return request;
    }

    QTemporaryDir m_dir;
    QString m_model;
    QString m_zeroed;
};

QTEST_APPLESS_MAIN(TestTasksFitCalibration)
#include "testtasksfitcalibration.moc"
