// Recipes (makeRecipe, diffTensorLists) and budget-fitted mixes (fitMix): round trips through
// makeQuantPlan, the size bound over a sweep of budgets, floors, determinism. Expected types come
// from the plans of standard mixes (the llama.cpp-conformant rules) or from llama.cpp's own files,
// never from the fit itself.

#include "testsupport.h"

#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "jobs/progress.h"
#include "model/syntheticmodel.h"
#include "quant/fitmix.h"
#include "quant/imatrixfile.h"
#include "quant/quantmix.h"
#include "quant/quantplan.h"
#include "quant/recipe.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

using namespace QuantFit;

namespace {

using G = GgmlType;
using F = FileType;

SyntheticModelOptions smallModel()
{
    SyntheticModelOptions o;
    o.nLayers = 8;
    o.nEmbd = 256;
    o.nFf = 768;
    o.nHeads = 8;
    o.nHeadsKv = 2;
    o.nVocab = 1024;
    o.nCtx = 512;
    o.seed = 7;
    return o;
}

// The tensor list with each plan's target type, as a file written from the plan would hold it.
std::vector<GgufTensorInfo> withPlanTypes(const QuantPlan &plan)
{
    std::vector<GgufTensorInfo> out;
    for (const PlannedTensor &p : plan.tensors) {
        GgufTensorInfo t = p.source;
        t.name = p.name;
        t.type = p.targetType;
        out.push_back(t);
    }
    return out;
}

void compareTypes(const QuantPlan &replayed, const std::vector<GgufTensorInfo> &expected)
{
    QCOMPARE(replayed.tensors.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const PlannedTensor &p = replayed.tensors[i];
        const auto it = std::find_if(expected.begin(), expected.end(),
                                     [&](const GgufTensorInfo &t) { return t.name == p.name; });
        QVERIFY2(it != expected.end(), p.name.constData());
        QVERIFY2(p.targetType == it->type,
                 qPrintable(QStringLiteral("%1: replayed %2, expected %3")
                                .arg(QString::fromUtf8(p.name), ggmlTypeName(p.targetType),
                                     ggmlTypeName(it->type))));
    }
}

} // namespace

class TestFitMix : public QObject
{
    Q_OBJECT

private slots:
    void recipeCompressesUniformLayers();
    void recipeRoundTripsStandardMixes_data();
    void recipeRoundTripsStandardMixes();
    void recipeRoundTripsLlamaFiles();
    void diffByRole();
    void parsesSizes();
    void fitStaysWithinSweepOfBudgets();
    void fitIsDeterministicAndKeepsFloors();
    void fitRefusesImpossibleBudgetAndTypeOptions();
    void syntheticRowsForShapeOnlyLists();
    void progressAndCancel();
    void imatrixBringsIQuants();
};

// Q4_K_M on an 8-layer GQA model (docs/quantization.md, "Resulting mixes"): attn_q, attn_k,
// attn_output, ffn_gate and ffn_up are q4_K in every layer, so each is one line matching all
// layers; attn_v and ffn_down alternate q6_K/q4_K by use_more_bits and need one line per type.
void TestFitMix::recipeCompressesUniformLayers()
{
    const GgufLayout layout = syntheticModelLayout(smallModel());
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    const std::vector<RecipeLine> recipe = makeRecipe(withPlanTypes(plan));
    auto find = [&](const QString &pattern) -> const RecipeLine * {
        for (const RecipeLine &l : recipe) {
            if (l.pattern == pattern)
                return &l;
        }
        return nullptr;
    };
    const RecipeLine *q = find(QStringLiteral("^blk\\.[0-9]+\\.attn_q\\.weight$"));
    QVERIFY(q);
    QCOMPARE(q->type, G::Q4_K);
    QCOMPARE(q->nTensors, 8);
    const RecipeLine *embd = find(QStringLiteral("^token_embd\\.weight$"));
    QVERIFY(embd);
    // No line for norms: a pattern cannot change them.
    for (const RecipeLine &l : recipe)
        QVERIFY2(!l.pattern.contains(QLatin1String("norm")), qPrintable(l.pattern));
    // Every candidate is covered exactly once.
    int covered = 0;
    for (const RecipeLine &l : recipe)
        covered += l.nTensors;
    int candidates = 0;
    for (const PlannedTensor &p : plan.tensors)
        candidates += p.decidedBy != TypeDecision::NotCandidate;
    QCOMPARE(covered, candidates);
    // The text is what --tensor-type-file reads back.
    const auto items = parseTensorTypeItems(recipeText(recipe), QStringLiteral("recipe"));
    QCOMPARE(items.size(), recipe.size());
}

void TestFitMix::recipeRoundTripsStandardMixes_data()
{
    QTest::addColumn<int>("fileType");
    for (F f : {F::Q2_K, F::Q3_K_M, F::Q4_K_M, F::Q5_K_S, F::Q6_K, F::Q8_0, F::Q4_0})
        QTest::newRow(qPrintable(fileTypeName(f))) << int(f);
}

// A recipe replayed with any other quantized file type gives the same tensor types.
void TestFitMix::recipeRoundTripsStandardMixes()
{
    QFETCH(int, fileType);
    const GgufLayout layout = syntheticModelLayout(smallModel());
    const QuantPlan plan = makeQuantPlan(layout.metadata, layout.tensors, F(fileType));
    const std::vector<GgufTensorInfo> typed = withPlanTypes(plan);
    QuantOptions o;
    o.tensorTypes = parseTensorTypeItems(recipeText(makeRecipe(typed)), QStringLiteral("recipe"));
    const QuantPlan replayed = makeQuantPlan(layout.metadata, layout.tensors, F::Q3_K_S, o);
    compareTypes(replayed, typed);
}

// The files llama.cpp wrote: each one's recipe, replayed on the F32 source, gives its types.
void TestFitMix::recipeRoundTripsLlamaFiles()
{
    const QString dir = Test::sharedTestData();
    if (dir.isEmpty())
        QSKIP("shared test data (../shared/testdata) is absent");
    const QString base = dir + QStringLiteral("/llama-quantized/");
    if (!QFile::exists(base + QStringLiteral("synth-a-F32.gguf")))
        QSKIP("llama-quantized/synth-a-F32.gguf is absent");
    const GgufFile source =
        GgufFile::open(base + QStringLiteral("synth-a-F32.gguf"), GgufFile::Mode::MetadataOnly);
    int checked = 0;
    for (const char *mix : {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_M",
                            "Q6_K", "IQ2_M", "IQ3_XS", "IQ4_XS", "IQ1_M"}) {
        const QString path = base + QStringLiteral("synth-a-%1.gguf").arg(QLatin1String(mix));
        if (!QFile::exists(path))
            continue;
        const GgufFile file = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
        QuantOptions o;
        o.hasImatrix = true;
        o.tensorTypes =
            parseTensorTypeItems(recipeText(makeRecipe(file.tensors())), QStringLiteral("recipe"));
        const QuantPlan replayed =
            makeQuantPlan(source.metadata(), source.tensors(), F::Q4_K_M, o);
        compareTypes(replayed, file.tensors());
        ++checked;
    }
    QVERIFY(checked > 0);
}

void TestFitMix::diffByRole()
{
    auto tensor = [](const char *name, G type, std::uint64_t ne0, std::uint64_t ne1) {
        GgufTensorInfo t;
        t.name = name;
        t.type = type;
        t.nDims = 2;
        t.ne = {ne0, ne1, 1, 1};
        t.nBytes = tensorBytes(type, t.ne);
        return t;
    };
    const std::vector<GgufTensorInfo> a{
        tensor("token_embd.weight", G::Q4_K, 256, 10), tensor("blk.0.attn_q.weight", G::Q4_K, 256, 256),
        tensor("blk.0.ffn_down.weight", G::Q6_K, 256, 256), tensor("output.weight", G::Q6_K, 256, 10),
        tensor("blk.0.ffn_up_exps.weight", G::Q4_K, 256, 256)};
    const std::vector<GgufTensorInfo> b{
        tensor("token_embd.weight", G::Q4_K, 256, 10), tensor("blk.0.attn_q.weight", G::Q5_K, 256, 256),
        tensor("blk.0.ffn_down.weight", G::Q6_K, 256, 256), tensor("output.weight", G::Q8_0, 256, 10),
        tensor("blk.0.attn_k.weight", G::Q4_K, 256, 64)};
    const TensorListDiff d = diffTensorLists(a, b);
    QCOMPARE(d.nSame, 2);
    QCOMPARE(d.changed.size(), std::size_t(4)); // attn_q, output, exps (A only), attn_k (B only)
    QCOMPARE(d.changed[0].name, QByteArray("blk.0.attn_q.weight"));
    QCOMPARE(d.changed[0].bytesA, std::uint64_t(256 * 144)); // 256 rows of one 144-byte q4_K block
    QCOMPARE(d.changed[0].bytesB, std::uint64_t(256 * 176)); // q5_K: 176 bytes per block
    QVERIFY(!d.changed[2].typeB);
    QVERIFY(!d.changed[3].typeA);
    std::map<TensorRole, RoleTotals> roles;
    for (const RoleTotals &r : d.roles)
        roles[r.role] = r;
    QCOMPARE(roles[TensorRole::Attention].bytesA, std::uint64_t(256 * 144));
    QCOMPARE(roles[TensorRole::Attention].bytesB, std::uint64_t(256 * 176 + 64 * 144));
    QCOMPARE(roles[TensorRole::Experts].nTensorsA, 1);
    QCOMPARE(roles[TensorRole::Experts].nTensorsB, 0);
    QCOMPARE(roles[TensorRole::Output].bytesB, std::uint64_t(10 * 8 * 34)); // q8_0: 34 per 32
    QCOMPARE(tensorRole("blk.3.ffn_gate_shexp.weight"), TensorRole::Ffn);
    QCOMPARE(tensorRole("blk.3.attn_norm.weight"), TensorRole::Attention);
    QCOMPARE(tensorRole("output_norm.weight"), TensorRole::Output);
}

void TestFitMix::parsesSizes()
{
    QCOMPARE(parseByteSize(QStringLiteral("38GB")), std::uint64_t(38'000'000'000));
    QCOMPARE(parseByteSize(QStringLiteral("2 GiB")), std::uint64_t(2ull << 30));
    QCOMPARE(parseByteSize(QStringLiteral("1.5mib")), std::uint64_t(1572864));
    QCOMPARE(parseByteSize(QStringLiteral("900MB")), std::uint64_t(900'000'000));
    QCOMPARE(parseByteSize(QStringLiteral("1234")), std::uint64_t(1234));
    for (const char *bad : {"", "GB", "-3GB", "3 XB", "3e9"})
        QVERIFY_THROWS_EXCEPTION(Error, parseByteSize(QLatin1String(bad)));
}

// For budgets from the smallest standard mix to the largest, the plan's exact file size is within
// the budget and never predicts more loss than the base mix (the largest standard mix within it).
void TestFitMix::fitStaysWithinSweepOfBudgets()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("m.gguf"));
    NullJobContext ctx;
    writeSyntheticModel(path, smallModel(), ctx);
    const GgufFile file = GgufFile::open(path);
    const QuantPlan q2 = makeQuantPlan(file.metadata(), file.tensors(), F::Q2_K);
    const QuantPlan q8 = makeQuantPlan(file.metadata(), file.tensors(), F::Q8_0);
    // Strictly between Q2_K and Q8_0, and just above Q8_0 (the quantize.recipe note takes a few
    // hundred bytes, so a budget of exactly a standard mix's size cannot hold that mix).
    const int nSteps = 8;
    for (int i = 1; i <= nSteps; ++i) {
        const std::uint64_t budget =
            i == nSteps ? q8.outputFileBytes + 4096
                        : q2.outputFileBytes
                              + (q8.outputFileBytes - q2.outputFileBytes) * std::uint64_t(i) / nSteps;
        FitOptions o;
        o.budgetBytes = budget;
        const FitResult r = fitMix(file.metadata(), file.tensors(), o, fileRowSource(file), ctx);
        QVERIFY2(r.plan.outputFileBytes <= budget,
                 qPrintable(QStringLiteral("budget %1: plan %2").arg(budget).arg(r.plan.outputFileBytes)));
        QCOMPARE(r.fittedBytes, r.plan.outputFileBytes);
        QVERIFY(r.baseMixBytes <= budget);
        QVERIFY2(r.predictedCost <= r.baseMixCost * (1 + 1e-9),
                 qPrintable(QStringLiteral("budget %1: %2 > base %3 (%4, %5 bytes)")
                                .arg(budget)
                                .arg(r.predictedCost)
                                .arg(r.baseMixCost)
                                .arg(fileTypeName(r.baseMix))
                                .arg(r.baseMixBytes)));
        QVERIFY(r.plan.isWritable());
        QCOMPARE(r.plan.outputMetadata.find("general.file_type")->toUInt64(),
                 std::uint64_t(r.nearestMix));
        QVERIFY(r.plan.outputMetadata.contains("quantize.recipe"));
    }
}

void TestFitMix::fitIsDeterministicAndKeepsFloors()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("m.gguf"));
    NullJobContext ctx;
    writeSyntheticModel(path, smallModel(), ctx);
    const GgufFile file = GgufFile::open(path);
    const QuantPlan q3 = makeQuantPlan(file.metadata(), file.tensors(), F::Q3_K_S);
    const QuantPlan q4 = makeQuantPlan(file.metadata(), file.tensors(), F::Q4_K_M);
    FitOptions o;
    o.budgetBytes = (q3.outputFileBytes + q4.outputFileBytes) / 2;
    o.nThreads = 1;
    const FitResult a = fitMix(file.metadata(), file.tensors(), o, fileRowSource(file), ctx);
    o.nThreads = 0;
    const FitResult b = fitMix(file.metadata(), file.tensors(), o, fileRowSource(file), ctx);
    // The base mix is the largest standard mix within the budget, whichever that is here.
    std::uint64_t largest = 0;
    F expectedBase = F::Q2_K;
    for (F f : {F::Q2_K, F::Q3_K_S, F::Q3_K_M, F::Q3_K_L, F::Q4_K_S, F::Q4_K_M, F::Q5_K_S,
                F::Q5_K_M, F::Q6_K, F::Q8_0}) {
        const std::uint64_t size =
            makeQuantPlan(file.metadata(), file.tensors(), f).outputFileBytes;
        if (size <= o.budgetBytes && size >= largest) {
            largest = size;
            expectedBase = f;
        }
    }
    QCOMPARE(a.baseMix, expectedBase);
    QCOMPARE(a.tensors.size(), b.tensors.size());
    for (std::size_t i = 0; i < a.tensors.size(); ++i)
        QCOMPARE(a.tensors[i].type, b.tensors[i].type);
    QCOMPARE(recipeText(a.recipe), recipeText(b.recipe));
    // Protected tensors (output, token_embd, attn_v of this GQA model) never get fewer bits
    // than the base mix gives them.
    const QuantPlan basePlan = makeQuantPlan(file.metadata(), file.tensors(), expectedBase);
    for (const PlannedTensor &p : basePlan.tensors) {
        const TensorCategory c = tensorCategory(p.name);
        if (c != TensorCategory::Output && c != TensorCategory::TokenEmbedding
            && c != TensorCategory::AttnV)
            continue;
        const auto it = std::find_if(a.tensors.begin(), a.tensors.end(),
                                     [&](const FitTensor &t) { return t.name == p.name; });
        QVERIFY(it != a.tensors.end());
        QVERIFY(it->isProtected);
        QVERIFY2(typeFacts(it->type).bitsPerWeight() >= typeFacts(p.targetType).bitsPerWeight(),
                 p.name.constData());
    }
}

void TestFitMix::fitRefusesImpossibleBudgetAndTypeOptions()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("m.gguf"));
    NullJobContext ctx;
    writeSyntheticModel(path, smallModel(), ctx);
    const GgufFile file = GgufFile::open(path);
    FitOptions o;
    o.budgetBytes = 100'000; // far below anything with a 1024-token vocabulary
    try {
        fitMix(file.metadata(), file.tensors(), o, fileRowSource(file), ctx);
        QFAIL("expected an error");
    } catch (const Error &e) {
        QVERIFY2(e.message().contains(QLatin1String("below the smallest fitted size")),
                 qPrintable(e.message()));
    }
    o.budgetBytes = 10'000'000;
    o.base.pure = true;
    QVERIFY_THROWS_EXCEPTION(Error, fitMix(file.metadata(), file.tensors(), o,
                                           fileRowSource(file), ctx));
}

// A tensor list without data (a catalog shape) is fitted from synthetic rows of the right widths.
void TestFitMix::syntheticRowsForShapeOnlyLists()
{
    const GgufLayout layout = syntheticModelLayout(smallModel());
    const QuantPlan q4 = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    FitOptions o;
    o.budgetKind = FitBudgetKind::TensorBytes;
    o.budgetBytes = q4.targetTensorBytes;
    NullJobContext ctx;
    const FitResult r = fitMix(layout.metadata, layout.tensors, o, syntheticRowSource(), ctx);
    QVERIFY(r.plan.targetTensorBytes <= o.budgetBytes);
    QCOMPARE(r.baseMix, F::Q4_K_M);
    // Q8_0 loses less than Q4_K on the same rows: the measured costs are ordered by bits.
    for (const FitTensor &t : r.tensors) {
        double q4k = -1, q8 = -1;
        for (const FitCandidate &c : t.candidates) {
            if (c.type == G::Q4_K)
                q4k = c.relativeError;
            if (c.type == G::Q8_0)
                q8 = c.relativeError;
        }
        if (q4k >= 0 && q8 >= 0)
            QVERIFY2(q8 < q4k, t.name.constData());
    }
}

// Progress in tensors under the stage "Measuring tensor costs"; a cancel stops the fit.
void TestFitMix::progressAndCancel()
{
    const GgufLayout layout = syntheticModelLayout(smallModel());
    const QuantPlan q4 = makeQuantPlan(layout.metadata, layout.tensors, F::Q4_K_M);
    FitOptions o;
    o.budgetKind = FitBudgetKind::TensorBytes;
    o.budgetBytes = q4.targetTensorBytes;
    QList<Progress> reports;
    JobContext recording([&](const Progress &p) { reports.append(p); }, 0);
    fitMix(layout.metadata, layout.tensors, o, syntheticRowSource(), recording);
    QVERIFY(!reports.isEmpty());
    QCOMPARE(reports.last().stage, QStringLiteral("Measuring tensor costs"));
    int candidates = 0;
    for (const PlannedTensor &p : q4.tensors)
        candidates += p.decidedBy != TypeDecision::NotCandidate;
    QCOMPARE(reports.last().total, std::uint64_t(candidates));
    QCOMPARE(reports.last().done, std::uint64_t(candidates));

    JobContext *self = nullptr;
    JobContext cancelling([&](const Progress &p) {
        if (p.done >= 3)
            self->requestCancel();
    }, 0);
    self = &cancelling;
    QVERIFY_THROWS_EXCEPTION(Cancelled, fitMix(layout.metadata, layout.tensors, o,
                                               syntheticRowSource(), cancelling));
}

// With llama.cpp's importance matrix for synth-a the I-quants are candidates, and the fitted
// plan stays within a budget between IQ3_XXS and IQ3_M as llama.cpp sized them.
void TestFitMix::imatrixBringsIQuants()
{
    const QString dir = Test::sharedTestData();
    if (dir.isEmpty())
        QSKIP("shared test data (../shared/testdata) is absent");
    const QString base = dir + QStringLiteral("/llama-quantized/");
    if (!QFile::exists(base + QStringLiteral("synth-a-F32.gguf"))
        || !QFile::exists(base + QStringLiteral("synth-a.imatrix")))
        QSKIP("llama-quantized/synth-a-F32.gguf or synth-a.imatrix is absent");
    const GgufFile file = GgufFile::open(base + QStringLiteral("synth-a-F32.gguf"));
    const ImportanceMatrix imatrix = readImportanceMatrix(base + QStringLiteral("synth-a.imatrix"));
    const std::uint64_t low = QFileInfo(base + QStringLiteral("synth-a-IQ3_XXS.gguf")).size();
    const std::uint64_t high = QFileInfo(base + QStringLiteral("synth-a-IQ3_M.gguf")).size();
    QVERIFY(low > 0 && high > low);
    FitOptions o;
    o.budgetBytes = (low + high) / 2;
    o.imatrix = &imatrix;
    o.base.hasImatrix = true;
    NullJobContext ctx;
    const FitResult r = fitMix(file.metadata(), file.tensors(), o, fileRowSource(file), ctx);
    QVERIFY(r.plan.outputFileBytes <= o.budgetBytes);
    bool anyIQuant = false;
    for (const FitTensor &t : r.tensors) {
        for (const FitCandidate &c : t.candidates)
            anyIQuant |= c.type == G::IQ3_XXS || c.type == G::IQ2_XS || c.type == G::IQ4_XS;
    }
    QVERIFY(anyIQuant);
    QVERIFY(r.predictedCost <= r.baseMixCost * (1 + 1e-9));
}

QTEST_APPLESS_MAIN(TestFitMix)
#include "testfitmix.moc"
