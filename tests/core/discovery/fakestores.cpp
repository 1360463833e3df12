#include "fakestores.h"

#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <stdexcept>

namespace QuantFit::Test {

namespace {

SyntheticModelOptions tinyOptions(const QString &name)
{
    SyntheticModelOptions o;
    o.nLayers = 1;
    o.nEmbd = 64;
    o.nFf = 128;
    o.nHeads = 2;
    o.nHeadsKv = 1;
    o.nVocab = 300;
    o.nCtx = 256;
    o.name = name;
    return o;
}

void writeZeros(const QString &path, GgufLayout layout)
{
    layout.finalize();
    std::vector<QByteArray> data;
    for (const GgufTensorInfo &t : layout.tensors)
        data.emplace_back(qsizetype(t.nBytes), '\0');
    QDir().mkpath(QFileInfo(path).absolutePath());
    writeGgufFile(path, std::move(layout), data);
}

void require(bool ok, const char *what)
{
    if (!ok)
        throw std::runtime_error(what);
}

} // namespace

void writeFile(const QString &path, const QByteArray &bytes)
{
    require(QDir().mkpath(QFileInfo(path).absolutePath()), "mkpath");
    QFile f(path);
    require(f.open(QIODevice::WriteOnly | QIODevice::Truncate), "open for writing");
    require(f.write(bytes) == bytes.size(), "write");
}

void writeTinyModel(const QString &path, const QString &name, bool f16)
{
    SyntheticModelOptions o = tinyOptions(name);
    o.type = f16 ? GgmlType::F16 : GgmlType::F32;
    QDir().mkpath(QFileInfo(path).absolutePath());
    NullJobContext ctx;
    writeSyntheticModel(path, o, ctx);
}

void writeTinyQuantized(const QString &path, const QString &name)
{
    GgufLayout layout = syntheticModelLayout(tinyOptions(name));
    for (GgufTensorInfo &t : layout.tensors) {
        if (t.effectiveDims() >= 2 && t.ne[0] % 32 == 0)
            t.type = GgmlType::Q8_0;
    }
    layout.metadata.set("general.file_type", GgufValue::u32(7)); // MOSTLY_Q8_0
    writeZeros(path, std::move(layout));
}

void writeProjector(const QString &path)
{
    GgufLayout layout;
    layout.metadata.set("general.architecture", GgufValue::fromString(QStringLiteral("clip")));
    layout.metadata.set("general.name", GgufValue::fromString(QStringLiteral("projector")));
    GgufTensorInfo t;
    t.name = "v.patch_embd.weight";
    t.nDims = 2;
    t.ne = {32, 4, 1, 1};
    t.type = GgmlType::F32;
    layout.tensors.push_back(t);
    writeZeros(path, std::move(layout));
}

QString writeSplitModel(const QString &folder, const QString &name)
{
    // llama.cpp's gguf-split: every file has split.no (UINT16) and split.count (UINT16); the
    // first has the model's metadata and split.tensors.count (INT32).
    const GgufLayout whole = syntheticModelLayout(tinyOptions(name));
    const std::size_t half = whole.tensors.size() / 2;
    const int n = int(whole.tensors.size());
    GgufLayout first;
    first.metadata = whole.metadata;
    first.metadata.set("split.no", GgufValue::fromUInt(GgufValueType::UINT16, 0));
    first.metadata.set("split.count", GgufValue::fromUInt(GgufValueType::UINT16, 2));
    first.metadata.set("split.tensors.count", GgufValue::i32(n));
    first.tensors.assign(whole.tensors.begin(), whole.tensors.begin() + std::ptrdiff_t(half));
    GgufLayout second;
    second.metadata.set("split.no", GgufValue::fromUInt(GgufValueType::UINT16, 1));
    second.metadata.set("split.count", GgufValue::fromUInt(GgufValueType::UINT16, 2));
    second.metadata.set("split.tensors.count", GgufValue::i32(n));
    second.tensors.assign(whole.tensors.begin() + std::ptrdiff_t(half), whole.tensors.end());
    const QString path1 = QDir(folder).filePath(name + QStringLiteral("-00001-of-00002.gguf"));
    writeZeros(path1, std::move(first));
    writeZeros(QDir(folder).filePath(name + QStringLiteral("-00002-of-00002.gguf")), std::move(second));
    return path1;
}

QString sha256Digest(const QByteArray &bytes)
{
    return QStringLiteral("sha256:")
         + QString::fromLatin1(QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex());
}

QString addOllamaModel(const QString &modelsDir, const QString &ggufPath, const OllamaFakeModel &m)
{
    auto blob = [&](const QByteArray &bytes) {
        const QString digest = sha256Digest(bytes);
        const QString path = modelsDir + QStringLiteral("/blobs/") + QString(digest).replace(
                                 QLatin1Char(':'), QLatin1Char('-'));
        if (!QFileInfo::exists(path))
            writeFile(path, bytes);
        return std::pair{digest, path};
    };
    auto layer = [&](const char *mediaType, const QByteArray &bytes) {
        const auto [digest, path] = blob(bytes);
        return QJsonObject{{QStringLiteral("mediaType"), QLatin1String(mediaType)},
                           {QStringLiteral("digest"), digest},
                           {QStringLiteral("size"), double(bytes.size())}};
    };
    QFile in(ggufPath);
    require(in.open(QIODevice::ReadOnly), "open model");
    const QByteArray model = in.readAll();
    QJsonArray layers{layer("application/vnd.ollama.image.model", model)};
    if (!m.templateText.isEmpty())
        layers.append(layer("application/vnd.ollama.image.template", m.templateText.toUtf8()));
    if (!m.system.isEmpty())
        layers.append(layer("application/vnd.ollama.image.system", m.system.toUtf8()));
    if (!m.paramsJson.isEmpty())
        layers.append(layer("application/vnd.ollama.image.params", m.paramsJson));
    const QByteArray config = R"({"model_format":"gguf","model_family":"llama"})";
    const QJsonObject manifest{
        {QStringLiteral("schemaVersion"), 2},
        {QStringLiteral("mediaType"),
         QStringLiteral("application/vnd.docker.distribution.manifest.v2+json")},
        {QStringLiteral("config"), layer("application/vnd.docker.container.image.v1+json", config)},
        {QStringLiteral("layers"), layers}};
    writeFile(modelsDir + QStringLiteral("/manifests/registry.ollama.ai/library/") + m.model
                  + QLatin1Char('/') + m.tag,
              QJsonDocument(manifest).toJson(QJsonDocument::Compact));
    return blob(model).second;
}

FakeHome buildFakeHome(const QString &home)
{
    FakeHome f;
    f.home = home;

    const QString repo = home + QStringLiteral("/.lmstudio/models/lmstudio-community/Tiny-GGUF");
    f.lmStudioModel = repo + QStringLiteral("/Tiny-F16.gguf");
    f.lmStudioQuantized = repo + QStringLiteral("/Tiny-Q8_0.gguf");
    f.lmStudioProjector = repo + QStringLiteral("/mmproj-Tiny-F16.gguf");
    writeTinyModel(f.lmStudioModel, QStringLiteral("Tiny LM Studio"));
    writeTinyQuantized(f.lmStudioQuantized, QStringLiteral("Tiny LM Studio"));
    writeProjector(f.lmStudioProjector);

    f.ollamaModels = home + QStringLiteral("/.ollama/models");
    const QString staging = home + QStringLiteral("/staging/ollama.gguf");
    writeTinyModel(staging, QStringLiteral("Tiny Ollama"));
    OllamaFakeModel m(QStringLiteral("tiny"));
    m.templateText = f.ollamaTemplate;
    m.system = f.ollamaSystem;
    m.paramsJson = R"({"stop":["USER:","</s>"],"temperature":0.7,"num_ctx":2048})";
    f.ollamaBlob = addOllamaModel(f.ollamaModels, staging, m);
    m.tag = QStringLiteral("v1");
    addOllamaModel(f.ollamaModels, staging, m);
    QFile::remove(staging);
    QDir(home).rmdir(QStringLiteral("staging"));

    // huggingface_hub: the blob under its hash, the snapshot file a relative link to it.
    const QString hfRepo = home + QStringLiteral("/.cache/huggingface/hub/models--acme--Tiny-GGUF");
    const QString rev = QStringLiteral("0123456789abcdef0123456789abcdef01234567");
    const QString hfBlob = hfRepo + QStringLiteral("/blobs/5f3a0c");
    writeTinyModel(hfBlob, QStringLiteral("Tiny HF"));
    writeFile(hfRepo + QStringLiteral("/refs/main"), rev.toUtf8());
    f.hfModel = hfRepo + QStringLiteral("/snapshots/") + rev + QStringLiteral("/tiny-f16.gguf");
    QDir().mkpath(QFileInfo(f.hfModel).absolutePath());
    require(QFile::link(QStringLiteral("../../blobs/5f3a0c"), f.hfModel), "link");

    f.llamaCppModel = home + QStringLiteral("/.cache/llama.cpp/acme_Tiny_tiny.gguf");
    writeTinyModel(f.llamaCppModel, QStringLiteral("Tiny llama.cpp"));
    return f;
}

} // namespace QuantFit::Test
