// The claim of a fitted mix, measured: for a budget between two standard mixes, the fitted file's
// KL divergence from the full-precision model is lower than that of the largest standard mix
// within the same budget (docs/quantization.md, "Fitting a mix to a budget"). One small
// make-model case, measured with the built-in sample text; the README table has the sweep.

#include "testsupport.h"

#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"
#include "tasks/conversiontask.h"
#include "tasks/fittask.h"
#include "tasks/measurementtask.h"

#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;

class TestFitMixKld : public QObject
{
    Q_OBJECT

private slots:
    void fittedBeatsStandardMixOfSameBudget()
    {
        QTemporaryDir dir;
        const QString model = dir.filePath(QStringLiteral("m.gguf"));
        SyntheticModelOptions o;
        o.nLayers = 8;
        o.nEmbd = 256;
        o.nFf = 768;
        o.nHeads = 8;
        o.nHeadsKv = 2;
        o.nVocab = 1024;
        o.seed = 3;
        NullJobContext ctx;
        writeSyntheticModel(model, o, ctx);

        auto convert = [&](FileType type) {
            ConversionRequest r;
            r.sourcePath = model;
            r.fileTypes = {type};
            r.outputFile = dir.filePath(fileTypeName(type) + QStringLiteral(".gguf"));
            return runConversion(r, ctx).outputs.front();
        };
        const ConversionOutput q3m = convert(FileType::Q3_K_M);
        const ConversionOutput q3l = convert(FileType::Q3_K_L);
        QVERIFY(q3m.actualBytes < q3l.actualBytes);
        const std::uint64_t budget = (q3m.actualBytes + q3l.actualBytes) / 2;

        ConversionRequest fitRequest;
        fitRequest.sourcePath = model;
        fitRequest.outputFile = dir.filePath(QStringLiteral("fit.gguf"));
        FitTarget target;
        target.kind = FitTarget::Kind::FileSize;
        target.fileBytes = budget;
        FitResult fit;
        const ConversionResult fitted = runFittedConversion(fitRequest, target, ctx, &fit);
        QCOMPARE(fit.baseMix, FileType::Q3_K_M);
        QVERIFY(fitted.outputs.front().actualBytes <= budget);
        QVERIFY(QFileInfo(fitRequest.outputFile).size() <= qint64(budget));

        MeasurementRequest m;
        m.basePath = model;
        m.modelPaths = {q3m.path, fitRequest.outputFile};
        m.nCtx = 128;
        m.nChunks = 8;
        const MeasurementResult result = runMeasurement(m, ctx);
        double kldStandard = -1, kldFitted = -1;
        for (const MeasurementRecord &r : result.records) {
            if (!r.kld)
                continue;
            if (r.modelPath == q3m.path)
                kldStandard = r.kld->kldMean;
            if (r.modelPath == fitRequest.outputFile)
                kldFitted = r.kld->kldMean;
        }
        QVERIFY(kldStandard > 0 && kldFitted > 0);
        QVERIFY2(kldFitted < kldStandard,
                 qPrintable(QStringLiteral("fitted %1 vs Q3_K_M %2").arg(kldFitted).arg(kldStandard)));
    }
};

QTEST_APPLESS_MAIN(TestFitMixKld)
#include "testfitmixkld.moc"
