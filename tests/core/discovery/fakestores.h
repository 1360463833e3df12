#pragma once

// Fake runner stores for tests: a home folder holding LM Studio's models tree, an Ollama store
// (manifests and blobs), a Hugging Face cache with symbolic links, llama.cpp's cache, a split
// model with a vision projector, and the broken cases (bad manifest, dangling link, hostile
// file). Models are tiny GGUF files from our own writer; the layouts are the runners' own.

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdint>

namespace QuantFit::Test {

/// A tiny LLaMA-architecture model that converts (synthetic weights): F32 or F16 weights.
void writeTinyModel(const QString &path, const QString &name, bool f16 = true);
/// The same shape with Q8_0 weights (general.file_type 7): a "quantized" sibling.
void writeTinyQuantized(const QString &path, const QString &name);
/// A vision projector: architecture "clip", one tensor.
void writeProjector(const QString &path);
/// A split model NAME-00001-of-00002.gguf, NAME-00002-of-00002.gguf in `folder`; returns the
/// first file.
QString writeSplitModel(const QString &folder, const QString &name);
/// Bytes to a file (folders made as needed).
void writeFile(const QString &path, const QByteArray &bytes);

/// One Ollama model in `modelsDir`: the blob of `ggufPath`'s bytes, optional template, system
/// and params layers, and the manifest manifests/registry.ollama.ai/library/MODEL/TAG. Returns
/// the blob path.
struct OllamaFakeModel {
    OllamaFakeModel(QString m, QString t = QStringLiteral("latest"))
        : model(std::move(m))
        , tag(std::move(t))
    {
    }
    QString model;
    QString tag;
    QString templateText;   ///< empty: no template layer
    QString system;         ///< empty: no system layer
    QByteArray paramsJson;  ///< empty: no params layer
};
QString addOllamaModel(const QString &modelsDir, const QString &ggufPath, const OllamaFakeModel &m);

/// "sha256:<hex>" of `bytes`.
QString sha256Digest(const QByteArray &bytes);

/// A home folder with one model in each store (what "Done when" asks for):
///  - LM Studio: .lmstudio/models/lmstudio-community/Tiny-GGUF/Tiny-F16.gguf and its
///    mmproj-Tiny-F16.gguf, and Tiny-Q8_0.gguf (a quantized sibling of the F16);
///  - Ollama: tiny:latest (template, system, params), also tagged tiny:v1;
///  - HF cache: models--acme--Tiny-GGUF/snapshots/<rev>/tiny-f16.gguf -> ../../blobs/<hash>;
///  - llama.cpp cache (flat, as builds before its move to the HF layout): acme_Tiny_tiny.gguf.
/// Returns the paths of interest.
struct FakeHome {
    QString home;
    QString lmStudioModel;
    QString lmStudioQuantized;
    QString lmStudioProjector;
    QString ollamaModels;
    QString ollamaBlob;
    QString ollamaTemplate = QStringLiteral("{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT:");
    QString ollamaSystem = QStringLiteral("You are \"tiny\".");
    QString hfModel;
    QString llamaCppModel;
};
FakeHome buildFakeHome(const QString &home);

} // namespace QuantFit::Test
