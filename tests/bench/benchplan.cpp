// quantfit-bench plan: time of makeQuantPlan (the advisor calls it interactively) for an
// 80-layer GQA model with a 128k-token vocabulary, per file type.

#include "bench.h"

#include "gguf/ggufwriter.h"
#include "model/syntheticmodel.h"
#include "quant/quantplan.h"
#include "util/units.h"

#include <QElapsedTimer>

namespace QuantFit::Bench {

namespace {

int runPlanBench(const QStringList &)
{
    SyntheticModelOptions o;
    o.nLayers = 80;
    o.nEmbd = 8192;
    o.nFf = 28672;
    o.nHeads = 64;
    o.nHeadsKv = 8;
    o.nVocab = 128256;
    const GgufLayout layout = syntheticModelLayout(o);
    print(QStringLiteral("80 layers, %1 tensors, %2 metadata keys, vocabulary %3")
              .arg(layout.tensors.size())
              .arg(layout.metadata.size())
              .arg(o.nVocab));
    for (const auto &f : allFileTypes()) {
        if (!f.supported)
            continue;
        constexpr int kRuns = 20;
        QElapsedTimer t;
        t.start();
        std::uint64_t bytes = 0;
        for (int i = 0; i < kRuns; ++i)
            bytes = makeQuantPlan(layout.metadata, layout.tensors, f.fileType).outputFileBytes;
        print(QStringLiteral("%1 %2 ms per plan, output %3")
                  .arg(fileTypeName(f.fileType), -8)
                  .arg(double(t.nsecsElapsed()) / 1e6 / kRuns, 7, 'f', 3)
                  .arg(formatGB(bytes)));
    }
    return 0;
}

const BenchRegistration reg(QStringLiteral("plan"),
                            QStringLiteral("makeQuantPlan time for an 80-layer model"),
                            runPlanBench);

} // namespace

} // namespace QuantFit::Bench
