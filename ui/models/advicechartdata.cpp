#include "advicechartdata.h"

#include "advisor/advisor.h"
#include "util/units.h"

#include <QCoreApplication>
#include <QLocale>

#include <algorithm>
#include <cmath>

using namespace QuantFit;

static QString tr(const char *text)
{
    return QCoreApplication::translate("AdviceChartData", text);
}

// The RAM as the Advise page sets it, in tenths of a GB: "64 GB", "5.3 GB" (whole GB made a
// 5.3 GB machine read "5 GB" next to files a few hundred MB apart).
static QString ramText(std::uint64_t bytes)
{
    return tr("%1 GB").arg(std::round(double(bytes) / 1e8) / 10);
}

AdviceChartData adviceChartData(const ModelAdvice &a, const QString &modelName)
{
    AdviceChartData data;
    data.modelTitle = tr("%1 — %2 RAM, %3 tokens").arg(a.model.name, ramText(a.options.ramBytes),
                                                        QLocale().toString(a.options.contextTokens));
    data.modelName = modelName;
    data.ramBytes = double(a.options.ramBytes);
    for (const QuantRow &r : a.rows) {
        ChartQuantPoint p;
        p.name = r.name;
        p.sizeBytes = double(r.fileBytes);
        p.bitsPerWeight = r.bitsPerWeight;
        p.qualityLossPct = r.pplIncreasePercent;
        p.recommended = r.recommended;
        p.tooltip = tr("%1 (estimate)\nSize %2 · %3 bits/weight\nPerplexity +%4% · %5\nTotal %6 at %7 tokens · %8")
                        .arg(r.name, formatGB(r.fileBytes, 2))
                        .arg(r.bitsPerWeight, 0, 'f', 2)
                        .arg(r.pplIncreasePercent, 0, 'f', 1)
                        .arg(r.qualityLabel, formatGB(r.memory.totalBytes(), 1),
                             QLocale().toString(r.contextTokens), fitBadgeName(r.badge));
        data.quants.append(p);
        ChartMemoryColumn c;
        c.name = r.name;
        c.weightsBytes = double(r.memory.weightsBytes);
        c.kvBytes = double(r.memory.kvCacheBytes);
        c.computeBytes = double(r.memory.computeBytes + r.memory.overheadBytes);
        c.reserveBytes = double(r.memory.reserveBytes);
        c.recommended = r.recommended;
        data.memory.append(c);
    }
    if (!a.rows.empty()) {
        // Everything but the weights is the same for every level: what is left is for the file.
        const MemoryBreakdown &m = a.rows.front().memory;
        const double others = double(m.kvCacheBytes + m.computeBytes + m.overheadBytes + m.reserveBytes);
        data.sizeLimitBytes = std::max(0.0, double(a.options.ramBytes) - others);
        data.limitLabel = tr("largest file that fits %1 at %2 tokens")
                              .arg(ramText(a.options.ramBytes), QLocale().toString(a.options.contextTokens));
    }
    return data;
}
