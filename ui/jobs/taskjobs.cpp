#include "taskjobs.h"

#include <QFileInfo>

using namespace QuantFit;

ConversionJob::ConversionJob(ConversionRequest request, QObject *parent)
    : Job(tr("Converting %1").arg(QFileInfo(request.sourcePath).fileName()),
          [this](JobContext &ctx) { m_result = runConversion(m_request, ctx); }, parent)
    , m_request(std::move(request))
{
}

MeasurementJob::MeasurementJob(MeasurementRequest request, QObject *parent)
    : Job(tr("Measuring"), [this](JobContext &ctx) { m_result = runMeasurement(m_request, ctx); },
          parent)
    , m_request(std::move(request))
{
    qRegisterMetaType<ChunkReport>();
    qRegisterMetaType<MeasurementRecord>();
    m_request.onChunk = [this](int model, const ChunkReport &r) { emit chunkMeasured(model, r); };
    m_request.onRecord = [this](const MeasurementRecord &r) { emit recordReady(r); };
}

TextGenerationJob::TextGenerationJob(TextGenerationRequest request, QObject *parent)
    : Job(tr("Generating"), [this](JobContext &ctx) { m_result = runTextGeneration(m_request, ctx); },
          parent)
    , m_request(std::move(request))
{
    m_request.onText = [this](int model, const QByteArray &text) {
        emit textProduced(model, QString::fromUtf8(text));
    };
}
