// quantfit-bench fit [MODEL_ID] [--threads N]: time of choosing a budget-fitted mix (fitMix) for a
// catalog model's tensor list (default llama-3.1-70b), costs measured on synthetic sample rows of
// each tensor's width, budget halfway between Q3_K_M and Q4_K_M.

#include "bench.h"

#include "advisor/shapetensors.h"
#include "catalog/catalog.h"
#include "jobs/jobcontext.h"
#include "quant/fitmix.h"
#include "quant/quantplan.h"
#include "util/units.h"

#include <QElapsedTimer>

namespace QuantFit::Bench {

namespace {

int runFitBench(const QStringList &args)
{
    QString id = QStringLiteral("llama-3.1-70b");
    int nThreads = 0;
    for (qsizetype i = 0; i < args.size(); ++i) {
        if (args[i] == u"--threads" && i + 1 < args.size())
            nThreads = args[++i].toInt();
        else
            id = args[i];
    }
    const ModelShape &shape = Catalog::builtIn()->get(id);
    const ShapeTensors st = buildShapeTensors(shape);
    const QuantPlan q3 = makeQuantPlan(st.metadata, st.tensors, FileType::Q3_K_M);
    const QuantPlan q4 = makeQuantPlan(st.metadata, st.tensors, FileType::Q4_K_M);
    FitOptions o;
    o.budgetKind = FitBudgetKind::TensorBytes;
    o.budgetBytes = (q3.targetTensorBytes + q4.targetTensorBytes) / 2;
    o.nThreads = nThreads;
    print(QStringLiteral("%1: %2 tensors, %3 parameters; budget %4 of tensor data (Q3_K_M %5, "
                         "Q4_K_M %6)")
              .arg(shape.name)
              .arg(st.tensors.size())
              .arg(formatCount(st.nParams))
              .arg(formatGB(o.budgetBytes), formatGB(q3.targetTensorBytes),
                   formatGB(q4.targetTensorBytes)));
    NullJobContext ctx;
    const double cpu0 = processCpuSeconds();
    QElapsedTimer t;
    t.start();
    const FitResult r = fitMix(st.metadata, st.tensors, o, syntheticRowSource(), ctx);
    const double wall = double(t.nsecsElapsed()) / 1e9;
    const double cpu = processCpuSeconds() - cpu0;
    std::size_t nCandidates = 0;
    for (const FitTensor &ft : r.tensors)
        nCandidates += ft.candidates.size();
    print(QStringLiteral("fit: %1 s wall, %2 CPU s (costs %3 s, allocation and planning %4 s); "
                         "%5 candidate tensors, %6 (tensor, type) costs")
              .arg(wall, 0, 'f', 2)
              .arg(cpu, 0, 'f', 2)
              .arg(r.costSeconds, 0, 'f', 2)
              .arg(r.allocationSeconds, 0, 'f', 2)
              .arg(r.tensors.size())
              .arg(nCandidates));
    print(QStringLiteral("result: %1 of tensor data (%2 bpw), named %3, base mix %4; predicted "
                         "cost %5 vs base %6; %7 recipe lines")
              .arg(formatGB(r.plan.targetTensorBytes))
              .arg(r.plan.bitsPerWeight(), 0, 'f', 3)
              .arg(fileTypeName(r.nearestMix), fileTypeName(r.baseMix))
              .arg(r.predictedCost, 0, 'g', 5)
              .arg(r.baseMixCost, 0, 'g', 5)
              .arg(r.recipe.size()));
    return 0;
}

const BenchRegistration reg(QStringLiteral("fit"),
                            QStringLiteral("fitMix time for a catalog model (default 70B)"),
                            runFitBench);

} // namespace

} // namespace QuantFit::Bench
