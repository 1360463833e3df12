// quantfit-cli models [--json] [--path DIR...] [--only SOURCE,...] [--skip SOURCE,...]
// The GGUF models already on the machine: LM Studio's models folder, Ollama's store, the Hugging
// Face cache, llama.cpp's cache and folders given with --path, read headers only.

#include "cliargs.h"
#include "command.h"

#include "discovery/modeldiscovery.h"
#include "jobs/jobcontext.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <array>

namespace QuantFit::Cli {

namespace {

std::vector<ModelSource> sourceList(const QString &text, const QString &option)
{
    std::vector<ModelSource> out;
    for (const QString &part : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        const auto s = modelSourceFromId(part.trimmed());
        if (!s)
            throw Error(QStringLiteral("--%1: unknown source '%2' (expected lmstudio, ollama, hf, "
                                       "llamacpp or folder)").arg(option, part));
        out.push_back(*s);
    }
    return out;
}

// The table's compact form of formatCount ("8.03B", "75.5K").
QString paramsText(std::uint64_t n)
{
    return n ? formatCount(n).remove(u' ') : QStringLiteral("-");
}

QJsonObject modelJson(const DiscoveredModel &m)
{
    QJsonObject o;
    o.insert(QStringLiteral("name"), m.name);
    o.insert(QStringLiteral("aliases"), QJsonArray::fromStringList(m.aliases));
    o.insert(QStringLiteral("source"), modelSourceId(m.source));
    o.insert(QStringLiteral("sourceName"), modelSourceName(m.source));
    o.insert(QStringLiteral("store"), m.storePath);
    o.insert(QStringLiteral("path"), m.path);
    o.insert(QStringLiteral("files"), QJsonArray::fromStringList(m.files));
    o.insert(QStringLiteral("sizeBytes"), double(m.sizeBytes));
    o.insert(QStringLiteral("readable"), m.isReadable());
    o.insert(QStringLiteral("error"), m.error.isEmpty() ? QJsonValue() : QJsonValue(m.error));
    if (m.isReadable()) {
        o.insert(QStringLiteral("architecture"), m.architecture);
        o.insert(QStringLiteral("title"), m.title);
        o.insert(QStringLiteral("parameters"), double(m.nParams));
        o.insert(QStringLiteral("fileType"), m.fileType);
        o.insert(QStringLiteral("fileTypeGuessed"), m.fileTypeGuessed);
        o.insert(QStringLiteral("contextLength"), double(m.contextLength));
        o.insert(QStringLiteral("bitsPerWeight"), m.bitsPerWeight);
    }
    o.insert(QStringLiteral("projectors"), QJsonArray::fromStringList(m.projectors));
    o.insert(QStringLiteral("fullPrecisionSibling"),
             m.fullPrecisionSibling.isEmpty() ? QJsonValue() : QJsonValue(m.fullPrecisionSibling));
    o.insert(QStringLiteral("ollamaManifest"),
             m.ollamaManifest.isEmpty() ? QJsonValue() : QJsonValue(m.ollamaManifest));
    return o;
}

void printTable(const DiscoveryResult &r)
{
    const QString headers[] = {QStringLiteral("NAME"), QStringLiteral("SOURCE"), QStringLiteral("ARCH"),
                               QStringLiteral("PARAMS"), QStringLiteral("TYPE"), QStringLiteral("SIZE"),
                               QStringLiteral("CTX"), QStringLiteral("PATH")};
    std::vector<std::array<QString, 8>> rows;
    for (const DiscoveredModel &m : r.models) {
        const QString name = m.aliases.isEmpty()
            ? m.name
            : QStringLiteral("%1 (also %2)").arg(m.name, m.aliases.join(QStringLiteral(", ")));
        const bool ok = m.isReadable();
        rows.push_back({name, modelSourceName(m.source), ok ? m.architecture : QStringLiteral("-"),
                        ok ? paramsText(m.nParams) : QStringLiteral("-"),
                        ok ? m.fileType + (m.fileTypeGuessed ? QStringLiteral("?") : QString())
                           : QStringLiteral("-"),
                        formatBytes(m.sizeBytes),
                        ok && m.contextLength ? QString::number(m.contextLength) : QStringLiteral("-"),
                        QDir::toNativeSeparators(m.path)});
    }
    std::array<qsizetype, 8> width{};
    for (int c = 0; c < 8; ++c) {
        width[c] = headers[c].size();
        for (const auto &row : rows)
            width[c] = std::max(width[c], row[c].size());
    }
    auto line = [&](const std::array<QString, 8> &cells) -> QString {
        QString text;
        for (int c = 0; c < 8; ++c) {
            const bool right = c == 3 || c == 5 || c == 6;
            const QString cell = escapeControlCharacters(cells[c]);
            if (c == 7) {
                text += cell;
                continue;
            }
            text += right ? cell.rightJustified(width[c]) : cell.leftJustified(width[c]);
            text += QStringLiteral("  ");
        }
        return text + QLatin1Char('\n');
    };
    QString text = line({headers[0], headers[1], headers[2], headers[3], headers[4], headers[5],
                         headers[6], headers[7]});
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const DiscoveredModel &m = r.models[i];
        text += line(rows[i]);
        if (!m.isReadable())
            text += QStringLiteral("    error: %1\n").arg(escapeControlCharacters(m.error));
        for (const QString &p : m.projectors)
            text += QStringLiteral("    vision projector: %1\n").arg(QDir::toNativeSeparators(p));
        if (!m.fullPrecisionSibling.isEmpty())
            text += QStringLiteral("    full precision: %1\n")
                        .arg(QDir::toNativeSeparators(m.fullPrecisionSibling));
    }
    out(text);
}

int runModels(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Lists the GGUF models already on this machine: LM Studio's models folder, Ollama's "
        "store (by model name and tag), the Hugging Face cache, llama.cpp's cache, and folders "
        "given with --path. Only headers are read; nothing is written. Sources: lmstudio, "
        "ollama, hf, llamacpp, folder."));
    parser.addOption({QStringLiteral("json"), QStringLiteral("Print one JSON object (stores, models, "
                                                             "problems).")});
    parser.addOption({QStringLiteral("path"), QStringLiteral("Also scan this folder (repeatable)."),
                      QStringLiteral("DIR")});
    parser.addOption({QStringLiteral("only"), QStringLiteral("Scan only these sources."),
                      QStringLiteral("SOURCE,...")});
    parser.addOption({QStringLiteral("skip"), QStringLiteral("Do not scan these sources."),
                      QStringLiteral("SOURCE,...")});
    parser.addOption({QStringLiteral("threads"), QStringLiteral("Header-reading threads (default: "
                                                                "all cores)."),
                      QStringLiteral("N")});
    if (!parseArgs(parser, QStringLiteral("models"), args, 0, 0))
        return 0;

    std::vector<ModelSource> wanted = allModelSources();
    if (parser.isSet(QStringLiteral("only")))
        wanted = sourceList(parser.value(QStringLiteral("only")), QStringLiteral("only"));
    for (ModelSource s : sourceList(parser.value(QStringLiteral("skip")), QStringLiteral("skip")))
        wanted.erase(std::remove(wanted.begin(), wanted.end(), s), wanted.end());
    auto isWanted = [&](ModelSource s) {
        return std::find(wanted.begin(), wanted.end(), s) != wanted.end();
    };

    DiscoveryOptions options = defaultDiscoveryOptions();
    std::erase_if(options.stores, [&](const StoreLocation &l) { return !isWanted(l.source); });
    if (isWanted(ModelSource::Folder))
        options.folders = parser.values(QStringLiteral("path"));
    else if (parser.isSet(QStringLiteral("path")))
        throw Error(QStringLiteral("--path adds folders, but --only/--skip leave out the "
                                   "'folder' source"));
    options.nThreads = int(intOption(parser, QStringLiteral("threads"), 0, 0, 4096));

    NullJobContext ctx;
    const DiscoveryResult result = discoverModels(options, ctx);

    if (parser.isSet(QStringLiteral("json"))) {
        QJsonArray stores;
        for (const StoreLocation &l : result.scanned)
            stores.append(QJsonObject{{QStringLiteral("source"), modelSourceId(l.source)},
                                      {QStringLiteral("path"), l.path},
                                      {QStringLiteral("reason"), l.reason}});
        QJsonArray models;
        for (const DiscoveredModel &m : result.models)
            models.append(modelJson(m));
        const QJsonObject root{
            {QStringLiteral("stores"), stores},
            {QStringLiteral("models"), models},
            {QStringLiteral("problems"), QJsonArray::fromStringList(result.problems)}};
        out(QString::fromUtf8(QJsonDocument(root).toJson(QJsonDocument::Indented)));
        return 0;
    }
    for (const QString &p : result.problems)
        err(QStringLiteral("warning: %1\n").arg(escapeControlCharacters(p)));
    QStringList places;
    for (const StoreLocation &l : result.scanned)
        places << QStringLiteral("%1 (%2)").arg(modelSourceName(l.source),
                                                QDir::toNativeSeparators(l.path));
    if (result.models.empty()) {
        QStringList looked;
        for (const StoreLocation &l : options.stores)
            looked << QDir::toNativeSeparators(l.path);
        out(places.isEmpty()
                ? QStringLiteral("no models found: none of the runners' folders exists (looked for "
                                 "%1)\n").arg(looked.join(QStringLiteral(", ")))
                : QStringLiteral("no models found in %1\n").arg(places.join(QStringLiteral(", "))));
        return 0;
    }
    out(QStringLiteral("%1 models in %2\n\n")
            .arg(result.models.size())
            .arg(places.join(QStringLiteral(", "))));
    printTable(result);
    return 0;
}

const CommandRegistration reg(QStringLiteral("models"),
                              QStringLiteral("List the GGUF models already on this machine "
                                             "(LM Studio, Ollama, HF cache, llama.cpp cache)"),
                              runModels);

} // namespace

} // namespace QuantFit::Cli
