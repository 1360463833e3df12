#include "handoffjobs.h"

#include <QFileInfo>

using namespace QuantFit;

OllamaHandoffJob::OllamaHandoffJob(OllamaHandoffRequest request, QObject *parent)
    : Job(tr("Adding %1 to Ollama").arg(QFileInfo(request.ggufPath).fileName()),
          [this](JobContext &ctx) { m_result = runOllamaHandoff(m_request, ctx); }, parent)
    , m_request(std::move(request))
{
    m_request.onOutput = [this](const QString &line) { emit outputLine(line); };
}

LmStudioHandoffJob::LmStudioHandoffJob(LmStudioHandoffRequest request, QObject *parent)
    : Job(tr("Adding %1 to LM Studio").arg(QFileInfo(request.ggufPath).fileName()),
          [this](JobContext &ctx) { m_result = runLmStudioHandoff(m_request, ctx); }, parent)
    , m_request(std::move(request))
{
}
