#include "measuredquality.h"

#include "gguf/filetype.h"

#include <QFileInfo>

namespace QuantFit {

std::vector<QualityMeasurement> qualityMeasurements(std::span<const MeasurementRecord> records)
{
    std::vector<QualityMeasurement> runs;
    runs.reserve(std::size_t(records.size()));
    for (const MeasurementRecord &r : records) {
        QualityMeasurement m;
        m.fileType = fileTypeFromName(r.fileType);
        m.nParams = r.nParams;
        m.isBase = r.isBase || r.fileType == QLatin1String("F32")
                   || r.fileType == QLatin1String("F16") || r.fileType == QLatin1String("BF16");
        m.ppl = r.ppl;
        if (r.kld) {
            m.meanKld = r.kld->kldMean;
            m.pplRatio = r.kld->pplRatio;
        }
        m.textSource = r.textSource;
        m.nCtx = r.nCtx;
        m.label = QStringLiteral("%1 measured on %2, %3")
                      .arg(r.fileType, QFileInfo(r.textSource).fileName(),
                           r.date.date().toString(Qt::ISODate));
        runs.push_back(std::move(m));
    }
    return runs;
}

} // namespace QuantFit
