// The fit's cost model on the architecture references (docs/quantization.md, "Cost of a candidate
// type"): a fused tensor costs the sum of its parts' relative errors, a stack of experts the mean
// of its experts' relative errors weighted by the imatrix's routing counts, 8-expert models keep
// llama.cpp's Q8_0 attn_k, and an exchange of bytes between two tensors is found where no single
// upgrade fits. Expected costs are recomputed here from the rows and the codecs (quantize,
// dequantize, squared error), not taken from the fit.

#include "testsupport.h"

#include "codecs/quantkernels.h"
#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "quant/fitmix.h"
#include "quant/imatrixfile.h"
#include "quant/quantmix.h"
#include "quant/quantplan.h"

#include <QFile>
#include <QTest>

#include <cmath>
#include <cstring>

using namespace QuantFit;

namespace {

using G = GgmlType;
using F = FileType;

QString archFile(const char *name)
{
    const QString dir = Test::sharedTestData();
    if (dir.isEmpty())
        return {};
    const QString path = dir + QStringLiteral("/arch/") + QLatin1String(name);
    return QFile::exists(path) ? path : QString();
}

// Squared error and signal of rows [begin, end) of matrix `matrix` of an F32 tensor in `type`,
// weighted per column by `importance` (empty: 1).
std::pair<double, double> errorOfRows(const GgufFile &file, const GgufTensorInfo &t, G type,
                                      std::uint64_t matrix, std::uint64_t begin, std::uint64_t end,
                                      const std::vector<float> &importance)
{
    const std::uint64_t ne0 = t.ne[0];
    const auto data = file.tensorData(t);
    std::vector<float> x(ne0), y(ne0);
    std::vector<std::uint8_t> q(std::size_t(rowBytes(typeFacts(type), ne0)));
    const float *imp = importance.empty() ? nullptr : importance.data() + matrix * ne0;
    double err = 0, sig = 0;
    for (std::uint64_t r = begin; r < end; ++r) {
        std::memcpy(x.data(), data.data() + ((matrix * t.ne[1] + r) * ne0) * sizeof(float),
                    ne0 * sizeof(float));
        kernelsFor(type).quantizeRow(x.data(), q.data(), std::int64_t(ne0), imp);
        kernelsFor(type).dequantizeRow(q.data(), y.data(), std::int64_t(ne0));
        for (std::uint64_t j = 0; j < ne0; ++j) {
            const double w = imp ? imp[j] : 1.0;
            err += w * (double(x[j]) - y[j]) * (double(x[j]) - y[j]);
            sig += w * double(x[j]) * x[j];
        }
    }
    return {err, sig};
}

const GgufTensorInfo &tensorNamed(const GgufFile &file, const char *name)
{
    for (const GgufTensorInfo &t : file.tensors()) {
        if (t.name == name)
            return t;
    }
    qFatal("no tensor %s", name);
}

const FitTensor &fitTensorNamed(const FitResult &r, const char *name)
{
    for (const FitTensor &t : r.tensors) {
        if (t.name == name)
            return t;
    }
    qFatal("no fit tensor %s", name);
}

FitResult fitBetween(const GgufFile &file, F low, F high, const ImportanceMatrix *imatrix = nullptr)
{
    QuantOptions po;
    po.allowRequantize = true;
    const std::uint64_t a = makeQuantPlan(file.metadata(), file.tensors(), low, po).outputFileBytes;
    const std::uint64_t b = makeQuantPlan(file.metadata(), file.tensors(), high, po).outputFileBytes;
    FitOptions o;
    o.budgetBytes = (a + b) / 2;
    o.base.allowRequantize = true;
    o.imatrix = imatrix;
    o.base.hasImatrix = imatrix != nullptr;
    NullJobContext ctx;
    return fitMix(file.metadata(), file.tensors(), o, fileRowSource(file), ctx);
}

} // namespace

class TestFitMixCost : public QObject
{
    Q_OBJECT

private slots:
    // phi3: attn_qkv holds q (4 heads x 32 rows), k and v (2 x 32 each); ffn_up holds gate and
    // up (128 rows each). Each part costs its own relative error; the sensitivities add up.
    void fusedTensorsCostTheSumOfTheirParts()
    {
        const QString path = archFile("synth-phi3.gguf");
        if (path.isEmpty())
            QSKIP("shared test data (../shared/testdata/arch/synth-phi3.gguf) is absent");
        const GgufFile file = GgufFile::open(path);
        const FitResult r = fitBetween(file, F::Q3_K_M, F::Q4_K_M);
        struct Case {
            const char *name;
            std::vector<std::uint64_t> partEnds;
        };
        for (const Case &c : {Case{"blk.0.attn_qkv.weight", {128, 192, 256}},
                              Case{"blk.1.ffn_up.weight", {128, 256}},
                              Case{"blk.0.ffn_down.weight", {128}}}) {
            const GgufTensorInfo &t = tensorNamed(file, c.name);
            QCOMPARE(t.ne[1], c.partEnds.back());
            const FitTensor &ft = fitTensorNamed(r, c.name);
            // Two layers: no first/last-eighth factor; every part's role counts 1.
            QCOMPARE(ft.sensitivity, double(c.partEnds.size()));
            for (const FitCandidate &cand : ft.candidates) {
                double expected = 0;
                std::uint64_t begin = 0;
                for (std::uint64_t end : c.partEnds) {
                    const auto [err, sig] = errorOfRows(file, t, cand.type, 0, begin, end, {});
                    expected += err / sig;
                    begin = end;
                }
                QVERIFY2(std::abs(cand.cost - expected) <= 1e-9 * expected,
                         qPrintable(QStringLiteral("%1 %2: cost %3, sum of parts %4")
                                        .arg(QLatin1String(c.name), ggmlTypeName(cand.type))
                                        .arg(cand.cost)
                                        .arg(expected)));
            }
        }
    }

    // qwen3moe (8 experts): with routing counts that send almost every token to expert 0, an
    // expert stack costs about expert 0's relative error; the weights are (count + 1) / total.
    void expertsAreWeightedByRoutingCounts()
    {
        const QString path = archFile("synth-qwen3moe.gguf");
        if (path.isEmpty())
            QSKIP("shared test data (../shared/testdata/arch/synth-qwen3moe.gguf) is absent");
        const GgufFile file = GgufFile::open(path);
        const char *name = "blk.1.ffn_up_exps.weight";
        const GgufTensorInfo &t = tensorNamed(file, name);
        const std::uint64_t nExpert = t.ne[2];
        QCOMPARE(nExpert, std::uint64_t(8));
        ImportanceMatrix imatrix;
        ImportanceEntry e;
        e.name = name;
        e.nColumns = t.ne[0];
        e.nMatrices = nExpert;
        e.counts = {998, 0, 0, 0, 0, 2, 0, 0};
        // Column importance 1 where there are counts (sum of squares = count), 1 elsewhere.
        for (std::uint64_t m = 0; m < nExpert; ++m)
            e.sumSquares.insert(e.sumSquares.end(), t.ne[0], e.counts[m]);
        imatrix.entries.push_back(e);
        const std::vector<float> importance = e.importance();

        const FitResult weighted = fitBetween(file, F::Q4_K_S, F::Q4_K_M, &imatrix);
        const FitResult uniform = fitBetween(file, F::Q4_K_S, F::Q4_K_M);
        const FitTensor &fw = fitTensorNamed(weighted, name);
        const FitTensor &fu = fitTensorNamed(uniform, name);
        const double total = 998 + 2 + double(nExpert);
        for (const FitCandidate &cand : fw.candidates) {
            if (typeRequiresImportance(cand.type))
                continue;
            double expected = 0;
            for (std::uint64_t m = 0; m < nExpert; ++m) {
                const auto [err, sig] =
                    errorOfRows(file, t, cand.type, m, 0, t.ne[1], importance);
                expected += (e.counts[m] + 1.0) / total * err / sig;
            }
            QVERIFY2(std::abs(cand.cost - expected) <= 1e-9 * expected,
                     qPrintable(QStringLiteral("%1: cost %2, expected %3")
                                    .arg(ggmlTypeName(cand.type))
                                    .arg(cand.cost)
                                    .arg(expected)));
            // Without an imatrix every expert counts the same.
            for (const FitCandidate &u : fu.candidates) {
                if (u.type != cand.type)
                    continue;
                double plainMean = 0;
                for (std::uint64_t m = 0; m < nExpert; ++m) {
                    const auto [err, sig] = errorOfRows(file, t, u.type, m, 0, t.ne[1], {});
                    plainMean += err / sig / double(nExpert);
                }
                QVERIFY2(std::abs(u.cost - plainMean) <= 1e-9 * plainMean,
                         qPrintable(QStringLiteral("%1 uniform: cost %2, mean %3")
                                        .arg(ggmlTypeName(u.type))
                                        .arg(u.cost)
                                        .arg(plainMean)));
            }
        }
    }

    // Mixtral (8 experts): llama-quantize gives attn_k Q8_0 in every mix; the fit keeps it.
    void eightExpertModelsKeepQ8AttnK()
    {
        const QString path = archFile("synth-mixtral.gguf");
        if (path.isEmpty())
            QSKIP("shared test data (../shared/testdata/arch/synth-mixtral.gguf) is absent");
        const GgufFile file = GgufFile::open(path);
        for (const auto &[low, high] : {std::pair{F::Q3_K_S, F::Q3_K_L}, {F::Q3_K_M, F::Q4_K_S},
                                        {F::Q5_K_S, F::Q5_K_M}}) {
            const FitResult r = fitBetween(file, low, high);
            int nAttnK = 0;
            for (const FitTensor &t : r.tensors) {
                if (tensorCategory(t.name) != TensorCategory::AttnK)
                    continue;
                ++nAttnK;
                QVERIFY(t.isProtected);
                QCOMPARE(t.type, G::Q8_0);
            }
            QCOMPARE(nAttnK, 2);
        }
    }

    // Mixtral between Q5_K_S and Q5_K_M: the slack is smaller than any single upgrade of the
    // base mix's types (its 128-wide rows allow only the 32-blocks, whose steps are 1 KiB and
    // more), yet the fit predicts less loss than the base mix by moving bytes between tensors.
    void exchangesUseASlackNoSingleUpgradeFits()
    {
        const QString path = archFile("synth-mixtral.gguf");
        if (path.isEmpty())
            QSKIP("shared test data (../shared/testdata/arch/synth-mixtral.gguf) is absent");
        const GgufFile file = GgufFile::open(path);
        const FitResult r = fitBetween(file, F::Q5_K_S, F::Q5_K_M);
        QCOMPARE(r.baseMix, F::Q5_K_S);
        QVERIFY(r.fittedBytes <= r.budgetBytes);
        // The base mix with the fit's quantize.recipe note, which takes a few hundred bytes of
        // the slack.
        QuantOptions withNote;
        withNote.metadataOverrides.push_back(
            {QByteArrayLiteral("quantize.recipe"), GgufValue::fromString(r.note)});
        const QuantPlan base = makeQuantPlan(file.metadata(), file.tensors(), F::Q5_K_S, withNote);
        QVERIFY(base.outputFileBytes <= r.budgetBytes);
        const std::uint64_t slack = r.budgetBytes - base.outputFileBytes;
        for (const FitTensor &t : r.tensors) {
            const G baseType = t.baseType;
            std::uint64_t baseBytes = 0;
            double baseCost = 0;
            for (const FitCandidate &c : t.candidates) {
                if (c.type == baseType) {
                    baseBytes = c.bytes;
                    baseCost = c.cost;
                }
            }
            for (const FitCandidate &c : t.candidates) {
                if (c.cost < baseCost)
                    QVERIFY2(c.bytes - baseBytes > slack,
                             qPrintable(QStringLiteral("%1 -> %2 fits the slack alone")
                                            .arg(QString::fromUtf8(t.name), ggmlTypeName(c.type))));
            }
        }
        QVERIFY2(r.predictedCost < r.baseMixCost * (1 - 1e-6),
                 qPrintable(QStringLiteral("fitted %1, base %2").arg(r.predictedCost).arg(r.baseMixCost)));
    }
};

QTEST_APPLESS_MAIN(TestFitMixCost)
#include "testfitmixcost.moc"
