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
        ConversionRequest request;
        request.sourcePath = m_zeroed;
        request.outputFile = m_dir.filePath(QStringLiteral("unused.gguf"));
        FitTarget target;
        target.kind = FitTarget::Kind::BitsPerWeight;
        target.bitsPerWeight = 4.5;
        target.calibration = quickSettings();
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
        ConversionRequest request;
        request.sourcePath = m_model;
        request.outputFile = m_dir.filePath(QStringLiteral("unused.gguf"));
        FitTarget target;
        target.kind = FitTarget::Kind::BitsPerWeight;
        target.bitsPerWeight = 4.5;
        target.calibration = quickSettings();
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
        ConversionRequest request;
        request.sourcePath = m_model;
        request.outputFile = m_dir.filePath(QStringLiteral("unused.gguf"));
        FitTarget target;
        target.kind = FitTarget::Kind::BitsPerWeight;
        target.bitsPerWeight = 4.5;
        target.calibration = quickSettings();
        target.calibration->maxSeconds = 1e-6;
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
        target.calibration->force = true;
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
        const CliResult b = runCli({QStringLiteral("quantize"), m_model,
                                    QStringLiteral("--target-bpw"), QStringLiteral("4.5"),
                                    QStringLiteral("--calibration-text"), m_model,
                                    QStringLiteral("--dry-run")});
        QCOMPARE(b.exitCode, 1);
        QVERIFY2(b.err.contains("--calibration-text needs --calibrate"), b.err.constData());
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
    }

private:
    QTemporaryDir m_dir;
    QString m_model;
    QString m_zeroed;
};

QTEST_APPLESS_MAIN(TestTasksFitCalibration)
#include "testtasksfitcalibration.moc"
