#include "handoffargs.h"

#include "command.h"

#include "discovery/modeldiscovery.h"
#include "discovery/modelstores.h"
#include "discovery/ollamastore.h"
#include "jobs/jobcontext.h"
#include "tasks/conversiontask.h"
#include "tasks/handofftask.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>

#include <cstdio>
#include <unistd.h>

namespace QuantFit::Cli {

namespace {

// NAME for one output; with several outputs an untagged NAME gets the type as its tag.
QString ollamaNameFor(const QString &name, FileType type, std::size_t nOutputs)
{
    if (nOutputs <= 1)
        return name;
    return name + QLatin1Char(':') + fileTypeName(type).toLower();
}

bool hasTag(const QString &name)
{
    return name.lastIndexOf(QLatin1Char(':')) > name.lastIndexOf(QLatin1Char('/'));
}

// Copy progress on stderr, one rewritten line when stderr is a terminal.
JobContext::Sink progressSink()
{
    const bool tty = ::isatty(STDERR_FILENO) == 1;
    return [tty](const Progress &p) {
        if (!tty || p.total == 0)
            return;
        err(QStringLiteral("\r%1: %2% of %3   ")
                .arg(p.stage)
                .arg(int(100.0 * p.fraction()))
                .arg(formatBytes(p.total)));
        if (p.done >= p.total)
            err(QStringLiteral("\n"));
    };
}

void handToLmStudio(const HandoffPlan &plan, const ConversionRequest &request,
                    const ConversionOutput &o, JobContext &parent)
{
    LmStudioHandoffRequest r;
    r.ggufPath = o.path;
    r.sourcePath = request.sourcePath;
    if (!plan.lmStudioPublisher.isEmpty())
        r.placement = LmStudioPlacement{plan.lmStudioPublisher, plan.lmStudioRepository};
    JobContext ctx(progressSink());
    ctx.followCancel(parent);
    const LmStudioHandoffResult result = runLmStudioHandoff(r, ctx);
    const QString target = QDir::toNativeSeparators(result.targetPath);
    switch (result.method) {
    case PlacementMethod::HardLink:
        out(QStringLiteral("LM Studio: linked as %1 (hard link, no extra disk space)\n").arg(target));
        break;
    case PlacementMethod::Copy:
        out(QStringLiteral("LM Studio: copied to %1 (another file system, so no hard link)\n")
                .arg(target));
        break;
    case PlacementMethod::AlreadyThere:
        out(QStringLiteral("LM Studio: already there as %1\n").arg(target));
        break;
    }
}

void handToOllama(const QString &name, const ConversionRequest &request, const ConversionOutput &o,
                  JobContext &parent)
{
    OllamaHandoffRequest r;
    r.ggufPath = o.path;
    r.modelName = name;
    r.sourcePath = request.sourcePath;
    r.onOutput = [](const QString &line) {
        err(QStringLiteral("ollama: %1\n").arg(escapeControlCharacters(line)));
    };
    JobContext ctx;
    ctx.followCancel(parent);
    const OllamaHandoffResult result = runOllamaHandoff(r, ctx);
    for (const QString &w : result.warnings)
        err(QStringLiteral("warning: %1\n").arg(w));
    out(QStringLiteral("Ollama: wrote %1%2\n")
            .arg(QDir::toNativeSeparators(result.modelfilePath),
                 result.settingsFrom.isEmpty()
                     ? QString()
                     : QStringLiteral(" (template and parameters of %1)").arg(result.settingsFrom)));
    if (!result.ran) {
        out(QStringLiteral("Ollama: the ollama program was not found; to add the model, run:\n  %1\n")
                .arg(result.command));
        return;
    }
    if (!result.succeeded())
        throw Error(QStringLiteral("ollama create exited with status %1 (the converted file %2 is "
                                   "kept; to try again, run: %3)")
                        .arg(result.exitCode)
                        .arg(QDir::toNativeSeparators(o.path), result.command));
    out(QStringLiteral("Ollama: added as %1 (ollama run %1)\n").arg(result.modelName));
}

} // namespace

void addHandoffOptions(QCommandLineParser &parser)
{
    parser.addOption({QStringLiteral("to-ollama"),
                      QStringLiteral("After converting, add the file to Ollama as NAME: writes a "
                                     "Modelfile (with the template and parameters of the source "
                                     "when it is an Ollama model) and runs ollama create, or "
                                     "prints the command when ollama is not installed. With "
                                     "several types an untagged NAME gets each type as its tag."),
                      QStringLiteral("NAME")});
    parser.addOption({QStringLiteral("to-lmstudio"),
                      QStringLiteral("After converting, place the file in LM Studio's models "
                                     "folder (a hard link on the same file system, else a copy).")});
    parser.addOption({QStringLiteral("lmstudio-repo"),
                      QStringLiteral("With --to-lmstudio: the folders below LM Studio's models "
                                     "folder (default: the source's, else your login name and "
                                     "the file name)."),
                      QStringLiteral("PUBLISHER/REPOSITORY")});
}

HandoffPlan prepareHandoffs(const QCommandLineParser &parser, const ConversionRequest &request)
{
    HandoffPlan plan;
    if (parser.isSet(QStringLiteral("to-ollama"))) {
        const QString name = parser.value(QStringLiteral("to-ollama")).trimmed();
        const std::size_t n = request.fileTypes.size();
        if (n > 1 && hasTag(name))
            throw Error(QStringLiteral("--to-ollama %1: with %2 file types the name needs no tag "
                                       "(each output gets its type as the tag)").arg(name).arg(n));
        for (FileType t : request.fileTypes) {
            QString why;
            if (!OllamaName::parse(ollamaNameFor(name, t, n), &why))
                throw Error(QStringLiteral("--to-ollama: %1").arg(why));
        }
        plan.ollamaName = name;
    }
    plan.toLmStudio = parser.isSet(QStringLiteral("to-lmstudio"));
    if (parser.isSet(QStringLiteral("lmstudio-repo"))) {
        if (!plan.toLmStudio)
            throw Error(QStringLiteral("--lmstudio-repo needs --to-lmstudio"));
        const QStringList parts = parser.value(QStringLiteral("lmstudio-repo")).split(QLatin1Char('/'));
        if (parts.size() != 2)
            throw Error(QStringLiteral("--lmstudio-repo: expected PUBLISHER/REPOSITORY, got '%1'")
                            .arg(parser.value(QStringLiteral("lmstudio-repo"))));
        for (const auto &[what, value] : {std::pair{QStringLiteral("publisher"), parts.at(0)},
                                          std::pair{QStringLiteral("repository"), parts.at(1)}}) {
            const QString problem = lmStudioFolderNameProblem(what, value);
            if (!problem.isEmpty())
                throw Error(QStringLiteral("--lmstudio-repo: %1").arg(problem));
        }
        plan.lmStudioPublisher = parts.at(0);
        plan.lmStudioRepository = parts.at(1);
    }

    // Converted files never land in a runner's store unless handed off: the conversion task
    // writes them to defaultOutputFolder(); say so.
    if (request.outputFile.isEmpty() && request.outputFolder.isEmpty()) {
        const auto store = storeContaining(request.sourcePath,
                                           defaultStoreLocations(DiscoveryEnvironment::current()));
        if (store)
            err(QStringLiteral("note: %1 is in %2's store (%3); the output goes to %4 instead of "
                               "next to it\n")
                    .arg(QDir::toNativeSeparators(request.sourcePath), modelSourceName(store->source),
                         QDir::toNativeSeparators(store->path),
                         QDir::toNativeSeparators(defaultOutputFolder(request.sourcePath))));
    }
    return plan;
}

void runHandoffs(const HandoffPlan &plan, const ConversionRequest &request,
                 const ConversionResult &result, JobContext &conversionContext)
{
    for (const ConversionOutput &o : result.outputs) {
        if (plan.toLmStudio)
            handToLmStudio(plan, request, o, conversionContext);
        if (plan.ollamaName)
            handToOllama(ollamaNameFor(*plan.ollamaName, o.fileType, result.outputs.size()),
                         request, o, conversionContext);
    }
}

} // namespace QuantFit::Cli
