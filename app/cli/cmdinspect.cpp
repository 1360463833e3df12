// quantfit-cli inspect FILE [--json] [--tensors] [--recipe]: header summary, metadata and tensor
// table, or the file's recipe (--tensor-type-file items).
// Reads headers only (metadata-only mode), so a many-gigabyte file answers at once.

#include "cliargs.h"
#include "command.h"

#include "gguf/filetype.h"
#include "gguf/ggufreader.h"
#include "model/modelinfo.h"
#include "quant/recipe.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <map>

namespace QuantFit::Cli {

namespace {

QString shapeText(const GgufTensorInfo &t)
{
    QStringList dims;
    for (std::uint32_t d = 0; d < t.nDims; ++d)
        dims << QString::number(t.ne[d]);
    return dims.join(QLatin1Char('x'));
}

QString fileTypeText(const ModelInfo &m)
{
    if (m.fileType) {
        const auto *f = fileTypeFactsFor(static_cast<std::uint32_t>(*m.fileType));
        return f ? QString::fromLatin1(f->name.data(), qsizetype(f->name.size()))
                 : QStringLiteral("unknown (%1)").arg(static_cast<std::uint32_t>(*m.fileType));
    }
    if (m.guessedFileType == FileType::Guessed)
        return QStringLiteral("unknown");
    return fileTypeName(m.guessedFileType) + QStringLiteral(" (guessed: no general.file_type)");
}

QJsonValue valueToJson(const GgufValue &v, int maxItems)
{
    switch (v.type()) {
    case GgufValueType::STRING:
        return v.toString();
    case GgufValueType::BOOL:
        return v.toBool();
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64:
        return v.toDouble();
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::UINT16:
    case GgufValueType::INT16:
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
        return v.type() == GgufValueType::UINT64 ? QJsonValue(double(v.toUInt64()))
                                                 : QJsonValue(qint64(v.toInt64()));
    case GgufValueType::ARRAY: {
        QJsonArray items;
        for (std::size_t i = 0; i < v.arraySize() && i < std::size_t(maxItems); ++i)
            items.append(valueToJson(v.at(i), maxItems));
        return QJsonObject{{QStringLiteral("elementType"), ggufValueTypeName(v.elementType())},
                           {QStringLiteral("count"), qint64(v.arraySize())},
                           {QStringLiteral("items"), items},
                           {QStringLiteral("truncated"), v.arraySize() > std::size_t(maxItems)}};
    }
    }
    return {};
}

int runInspect(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Shows what a GGUF file holds."));
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("GGUF file."));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Machine-readable output."));
    const QCommandLineOption tensors(QStringLiteral("tensors"),
                                     QStringLiteral("List every tensor."));
    const QCommandLineOption recipe(
        QStringLiteral("recipe"),
        QStringLiteral("Print only the per-tensor types as llama-quantize --tensor-type-file "
                       "items (PATTERN=TYPE lines, one pattern per tensor kind where all layers "
                       "agree); replay with quantize --tensor-type-file FILE and any quantized "
                       "TYPE."));
    parser.addOption(json);
    parser.addOption(tensors);
    parser.addOption(recipe);
    if (!parseArgs(parser, QStringLiteral("inspect"), args, 1, 1))
        return 0;

    const QString path = parser.positionalArguments().at(0);
    // A file of a split model shows the whole model; when that cannot be opened (a later file
    // given, another file missing) it shows this file alone, with a note, as a GGUF dump would.
    GgufFile file = GgufFile::open(path, GgufFile::Mode::MetadataOnly, GgufFile::Split::ThisFile);
    if (file.isSplitPart()) {
        try {
            file.openOtherFiles();
        } catch (const Error &e) {
            err(QStringLiteral("note: showing this file only: %1\n")
                    .arg(escapeControlCharacters(e.message(), true)));
        }
    }
    if (parser.isSet(recipe)) {
        const std::vector<RecipeLine> lines = makeRecipe(file.tensors());
        if (!parser.isSet(json)) {
            out(recipeText(lines));
            return 0;
        }
        QJsonArray items;
        for (const RecipeLine &l : lines)
            items.append(QJsonObject{{QStringLiteral("pattern"), l.pattern},
                                     {QStringLiteral("type"), ggmlTypeName(l.type)},
                                     {QStringLiteral("tensors"), l.nTensors}});
        out(QString::fromUtf8(
            QJsonDocument(QJsonObject{{QStringLiteral("file"), path},
                                      {QStringLiteral("recipe"), items}})
                .toJson(QJsonDocument::Indented)));
        return 0;
    }
    const ModelInfo m = modelInfoFrom(file);

    std::map<GgmlType, std::pair<std::uint64_t, std::uint64_t>> perType; // count, bytes
    for (const auto &t : file.tensors()) {
        perType[t.type].first += 1;
        perType[t.type].second += t.nBytes;
    }

    if (parser.isSet(json)) {
        QJsonObject o;
        o[QStringLiteral("file")] = path;
        o[QStringLiteral("fileSize")] = double(file.fileSize());
        o[QStringLiteral("files")] = QJsonArray::fromStringList(file.filePaths());
        o[QStringLiteral("totalFileSize")] = double(file.totalFileSize());
        o[QStringLiteral("version")] = int(file.version());
        o[QStringLiteral("alignment")] = int(file.alignment());
        o[QStringLiteral("dataOffset")] = double(file.dataOffset());
        o[QStringLiteral("architecture")] = m.architecture;
        o[QStringLiteral("name")] = m.name;
        o[QStringLiteral("parameters")] = double(m.nParams);
        o[QStringLiteral("tensorBytes")] = double(m.tensorBytes);
        o[QStringLiteral("bitsPerWeight")] = m.bitsPerWeight();
        o[QStringLiteral("fileType")] = m.fileType ? fileTypeName(*m.fileType)
                                                   : fileTypeName(m.guessedFileType);
        o[QStringLiteral("fileTypeId")] = m.fileType ? QJsonValue(int(*m.fileType)) : QJsonValue();
        o[QStringLiteral("fileTypeGuessed")] = !m.fileType.has_value();
        o[QStringLiteral("layers")] = int(m.nLayers);
        o[QStringLiteral("embeddingLength")] = int(m.nEmbd);
        o[QStringLiteral("feedForwardLength")] = int(m.nFf);
        o[QStringLiteral("heads")] = int(m.nHeads);
        o[QStringLiteral("kvHeads")] = int(m.nHeadsKv);
        o[QStringLiteral("headDim")] = int(m.headDim);
        o[QStringLiteral("contextLength")] = int(m.nCtxTrain);
        o[QStringLiteral("vocabSize")] = int(m.nVocab);
        o[QStringLiteral("ropeFreqBase")] = m.ropeFreqBase;
        o[QStringLiteral("experts")] = int(m.nExperts);
        o[QStringLiteral("expertsUsed")] = int(m.nExpertsUsed);
        o[QStringLiteral("expertsShared")] = int(m.nExpertsShared);
        o[QStringLiteral("moe")] = m.isMoe() ? QJsonValue(m.moeSummary()) : QJsonValue();
        o[QStringLiteral("tiedEmbeddings")] = m.tiedEmbeddings;
        o[QStringLiteral("tokenizer")] = m.tokenizerModel;
        o[QStringLiteral("tensorCount")] = qint64(file.tensors().size());
        QJsonObject types;
        for (const auto &[type, cb] : perType)
            types[ggmlTypeName(type)] = QJsonObject{{QStringLiteral("tensors"), qint64(cb.first)},
                                                    {QStringLiteral("bytes"), double(cb.second)}};
        o[QStringLiteral("tensorTypes")] = types;
        QJsonArray md;
        for (const auto &e : file.metadata().entries())
            md.append(QJsonObject{{QStringLiteral("key"), QString::fromUtf8(e.key)},
                                  {QStringLiteral("type"), ggufValueTypeName(e.value.type())},
                                  {QStringLiteral("value"), valueToJson(e.value, 16)}});
        o[QStringLiteral("metadata")] = md;
        if (parser.isSet(tensors)) {
            QJsonArray ts;
            for (const auto &t : file.tensors()) {
                QJsonArray shape;
                for (std::uint32_t d = 0; d < t.nDims; ++d)
                    shape.append(double(t.ne[d]));
                ts.append(QJsonObject{{QStringLiteral("name"), QString::fromUtf8(t.name)},
                                      {QStringLiteral("type"), ggmlTypeName(t.type)},
                                      {QStringLiteral("shape"), shape},
                                      {QStringLiteral("bytes"), double(t.nBytes)},
                                      {QStringLiteral("offset"), double(file.fileOffset(t))},
                                      {QStringLiteral("fileIndex"), int(t.shard)}});
            }
            o[QStringLiteral("tensors")] = ts;
        }
        out(QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Indented)));
        return 0;
    }

    QString s;
    auto line = [&](const QString &k, const QString &v) {
        s += QStringLiteral("%1 %2\n").arg(k + QLatin1Char(':'), -18).arg(v);
    };
    line(QStringLiteral("file"), path);
    if (file.shardCount() > 1)
        line(QStringLiteral("size"), QStringLiteral("%1 (%2 bytes) in %3 files of a split model")
                                         .arg(formatBytes(file.totalFileSize()))
                                         .arg(file.totalFileSize())
                                         .arg(file.shardCount()));
    else
        line(QStringLiteral("size"), QStringLiteral("%1 (%2 bytes)").arg(formatBytes(file.fileSize())).arg(file.fileSize()));
    line(QStringLiteral("gguf"), QStringLiteral("version %1, alignment %2, data at %3")
                                     .arg(file.version()).arg(file.alignment()).arg(file.dataOffset()));
    // The model line names a mixture of experts as the app's pages do ("MoE: 8 experts, 2 active").
    QString architecture = m.architecture.isEmpty() ? QStringLiteral("-") : escapeControlCharacters(m.architecture);
    if (m.isMoe())
        architecture += QStringLiteral(" (%1)").arg(m.moeSummary());
    line(QStringLiteral("architecture"), architecture);
    if (!m.name.isEmpty())
        line(QStringLiteral("name"), escapeControlCharacters(m.name));
    line(QStringLiteral("parameters"), QStringLiteral("%1 (%2)").arg(formatCount(m.nParams)).arg(m.nParams));
    line(QStringLiteral("file type"), fileTypeText(m));
    line(QStringLiteral("bits per weight"), QString::number(m.bitsPerWeight(), 'f', 2));
    if (m.nLayers)
        line(QStringLiteral("layers"), QStringLiteral("%1, embedding %2, FFN %3").arg(m.nLayers).arg(m.nEmbd).arg(m.nFf));
    if (m.nHeads)
        line(QStringLiteral("heads"), QStringLiteral("%1 (KV %2, head dim %3)").arg(m.nHeads).arg(m.nHeadsKv).arg(m.headDim));
    if (m.nCtxTrain)
        line(QStringLiteral("context"), QString::number(m.nCtxTrain));
    line(QStringLiteral("vocabulary"), QStringLiteral("%1 (%2)").arg(m.nVocab).arg(m.tokenizerModel.isEmpty() ? QStringLiteral("no tokenizer") : m.tokenizerModel));
    line(QStringLiteral("tied embeddings"), m.tiedEmbeddings ? QStringLiteral("yes") : QStringLiteral("no"));
    QStringList typeParts;
    for (const auto &[type, cb] : perType)
        typeParts << QStringLiteral("%1 x%2 (%3)").arg(ggmlTypeName(type)).arg(cb.first).arg(formatBytes(cb.second));
    line(QStringLiteral("tensors"), QStringLiteral("%1: %2").arg(file.tensors().size()).arg(typeParts.join(QStringLiteral(", "))));

    s += QStringLiteral("\nmetadata (%1 keys):\n").arg(file.metadata().size());
    for (const auto &e : file.metadata().entries())
        s += QStringLiteral("  %1 %2 = %3\n")
                 .arg(escapeControlCharacters(QString::fromUtf8(e.key)), -44)
                 .arg(ggufValueTypeName(e.value.type()), -8)
                 .arg(e.value.display(6));
    if (parser.isSet(tensors)) {
        s += QStringLiteral("\ntensors (%1):\n").arg(file.tensors().size());
        s += QStringLiteral("  %1 %2 %3 %4\n").arg(QStringLiteral("name"), -40).arg(QStringLiteral("type"), -8).arg(QStringLiteral("shape"), -20).arg(QStringLiteral("bytes"));
        for (const auto &t : file.tensors())
            s += QStringLiteral("  %1 %2 %3 %4\n")
                     .arg(escapeControlCharacters(QString::fromUtf8(t.name)), -40)
                     .arg(ggmlTypeName(t.type), -8)
                     .arg(shapeText(t), -20)
                     .arg(t.nBytes);
    }
    out(s);
    return 0;
}

const CommandRegistration reg(QStringLiteral("inspect"),
                              QStringLiteral("Show a GGUF file's summary, metadata and tensors"),
                              runInspect);

} // namespace

} // namespace QuantFit::Cli
