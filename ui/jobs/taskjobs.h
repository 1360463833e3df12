#pragma once

// Typed adapters from core tasks to Qt signals, one class per task (as a torrent creator is
// wrapped for its dialog in qBittorrent): the page builds a request, starts the job through a
// JobRunner, and gets the task's result value back in the GUI thread. Signals emitted from the
// worker reach GUI-thread receivers queued; the worker never touches a widget.

#include "job.h"

#include "tasks/conversiontask.h"
#include "tasks/generationtask.h"
#include "tasks/measurementtask.h"

#include <QMetaType>

Q_DECLARE_METATYPE(QuantFit::ChunkReport)
Q_DECLARE_METATYPE(QuantFit::MeasurementRecord)

/// runConversion on a worker. result() is valid after succeeded().
class ConversionJob : public Job
{
    Q_OBJECT

public:
    explicit ConversionJob(QuantFit::ConversionRequest request, QObject *parent = nullptr);

    const QuantFit::ConversionRequest &request() const { return m_request; }
    const QuantFit::ConversionResult &result() const { return m_result; }

private:
    QuantFit::ConversionRequest m_request;
    QuantFit::ConversionResult m_result;
};

/// runMeasurement on a worker, with the running figures and each finished record as signals.
class MeasurementJob : public Job
{
    Q_OBJECT

public:
    /// The request's onChunk and onRecord are replaced by the signals below.
    explicit MeasurementJob(QuantFit::MeasurementRequest request, QObject *parent = nullptr);

    const QuantFit::MeasurementRequest &request() const { return m_request; }
    const QuantFit::MeasurementResult &result() const { return m_result; }

signals:
    /// After every chunk: the model's index in the request (-1: the base model).
    void chunkMeasured(int model, const QuantFit::ChunkReport &report);
    /// After every model, before the next starts (so a cancel keeps the finished ones).
    void recordReady(const QuantFit::MeasurementRecord &record);

private:
    QuantFit::MeasurementRequest m_request;
    QuantFit::MeasurementResult m_result;
};

/// runTextGeneration on a worker, the continuation streamed as it is produced.
class TextGenerationJob : public Job
{
    Q_OBJECT

public:
    explicit TextGenerationJob(QuantFit::TextGenerationRequest request, QObject *parent = nullptr);

    const QuantFit::TextGenerationRequest &request() const { return m_request; }
    const QuantFit::TextGenerationResult &result() const { return m_result; }

signals:
    void textProduced(int model, const QString &newText);

private:
    QuantFit::TextGenerationRequest m_request;
    QuantFit::TextGenerationResult m_result;
};
