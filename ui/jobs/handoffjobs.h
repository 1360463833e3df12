#pragma once

// Typed adapters for the hand-off tasks (core/tasks/handofftask.h), as taskjobs.h has for the
// other tasks: the page builds a request, the JobRunner runs it on its pool, and the result
// comes back in the GUI thread.

#include "job.h"

#include "tasks/handofftask.h"

/// runOllamaHandoff on a worker; ollama's output streams through outputLine().
class OllamaHandoffJob : public Job
{
    Q_OBJECT

public:
    /// The request's onOutput is replaced by the signal below.
    explicit OllamaHandoffJob(QuantFit::OllamaHandoffRequest request, QObject *parent = nullptr);

    const QuantFit::OllamaHandoffRequest &request() const { return m_request; }
    const QuantFit::OllamaHandoffResult &result() const { return m_result; }

signals:
    void outputLine(const QString &line);

private:
    QuantFit::OllamaHandoffRequest m_request;
    QuantFit::OllamaHandoffResult m_result;
};

/// runLmStudioHandoff on a worker (a copy reports progress in bytes).
class LmStudioHandoffJob : public Job
{
    Q_OBJECT

public:
    explicit LmStudioHandoffJob(QuantFit::LmStudioHandoffRequest request, QObject *parent = nullptr);

    const QuantFit::LmStudioHandoffRequest &request() const { return m_request; }
    const QuantFit::LmStudioHandoffResult &result() const { return m_result; }

private:
    QuantFit::LmStudioHandoffRequest m_request;
    QuantFit::LmStudioHandoffResult m_result;
};
