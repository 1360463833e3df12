#pragma once

// Ollama's model store (ollama's server/images.go and types/model/name.go describe it):
//  1. `<models>/manifests/<host>/<namespace>/<model>/<tag>` is a JSON manifest:
//     {"schemaVersion": 2, "mediaType": ..., "config": {...},
//      "layers": [{"mediaType": ..., "digest": "sha256:<64 hex>", "size": N}, ...]}
//  2. each layer is the file `<models>/blobs/sha256-<64 hex>`;
//  3. media types application/vnd.ollama.image.model (the GGUF), .projector (a vision
//     projector GGUF), .template (Go template text), .system (text), .params (a JSON object of
//     run parameters), .license, .adapter;
//  4. names print as ollama prints them: host and namespace left out when they are
//     registry.ollama.ai and library, the tag always kept ("llama3.2:latest").
// Everything here reads; nothing writes to the store.

#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace QuantFit {

inline constexpr char kOllamaModelMediaType[] = "application/vnd.ollama.image.model";
inline constexpr char kOllamaProjectorMediaType[] = "application/vnd.ollama.image.projector";
inline constexpr char kOllamaTemplateMediaType[] = "application/vnd.ollama.image.template";
inline constexpr char kOllamaSystemMediaType[] = "application/vnd.ollama.image.system";
inline constexpr char kOllamaParamsMediaType[] = "application/vnd.ollama.image.params";

/// A model name, `[host/][namespace/]model[:tag]`, with ollama's defaults filled in.
struct OllamaName {
    QString host = QStringLiteral("registry.ollama.ai");
    QString nameSpace = QStringLiteral("library");
    QString model;
    QString tag = QStringLiteral("latest");

    /// Parses a name as `ollama create` takes it. nullopt (and `why` set) when a part is empty,
    /// too long or has characters ollama refuses (parts start with a letter, digit or '_';
    /// then letters, digits, '_', '-', '.'; no '.' in the namespace; ':' only in the host).
    static std::optional<OllamaName> parse(const QString &text, QString *why = nullptr);
    /// The name ollama prints ("llama3.2:latest", "user/model:tag", "hf.co/org/model:tag").
    QString display() const;
    /// host/namespace/model/tag, the manifest's path below `manifests/`.
    QString manifestRelativePath() const;
};

/// A model name ollama accepts, made from a file name ("Tiny-Q4_K_M.gguf" -> "tiny-q4_k_m"):
/// the stem in lower case, refused characters as '-', at most 80 characters; "model" when
/// nothing usable is left.
QString ollamaNameFromFileName(const QString &fileName);

struct OllamaLayer {
    QString mediaType;
    QString digest; ///< "sha256:<64 hex>"
    std::uint64_t sizeBytes = 0;
};

/// A parsed manifest.
struct OllamaManifest {
    OllamaName name;
    QString path;     ///< the manifest file
    QString modelsDir;
    std::vector<OllamaLayer> layers;

    /// The first layer of `mediaType`, if any.
    const OllamaLayer *layer(const char *mediaType) const;
    std::vector<OllamaLayer> layersOf(const char *mediaType) const;
};

/// `<modelsDir>/blobs/sha256-<hex>` for a digest "sha256:<hex>" (or "sha256-<hex>"); nullopt
/// when the digest is not 64 hex digits.
std::optional<QString> ollamaBlobPath(const QString &modelsDir, const QString &digest);

/// Reads and checks one manifest (at most 1 MiB of JSON). Throws Error naming the manifest and
/// what is wrong (not JSON, no layers array, a layer without a valid digest).
OllamaManifest readOllamaManifest(const QString &modelsDir, const QString &manifestPath,
                                  const OllamaName &name);

/// Reads the manifest at `manifestPath` (`<models>/manifests/<host>/<namespace>/<model>/<tag>`),
/// taking the store and the name from the path. Throws Error as readOllamaManifest.
OllamaManifest readOllamaManifestAt(const QString &manifestPath);

/// Every manifest of a store: the good ones, and one "path: error" line per manifest that
/// could not be read (broken JSON, permission) or folder that could not be listed.
struct OllamaStoreListing {
    std::vector<OllamaManifest> manifests;
    std::vector<std::pair<OllamaName, QString>> broken; ///< name from the path, error
    QStringList problems;
};
OllamaStoreListing listOllamaManifests(const QString &modelsDir);

/// When `ggufPath` is a blob of an Ollama store (`.../blobs/sha256-<hex>`), the manifests of
/// that store whose model layer it is; empty otherwise.
std::vector<OllamaManifest> ollamaManifestsForBlob(const QString &ggufPath);

/// What a Modelfile takes over from a model: its template, system prompt and parameters.
struct OllamaModelSettings {
    std::optional<QString> templateText;
    std::optional<QString> system;
    /// In the params' order; an array value gives one entry per element (PARAMETER stop ...).
    std::vector<std::pair<QString, QString>> parameters;
    QStringList warnings; ///< layers that could not be read or values that were left out
};
/// Reads the template, system and params layers of `manifest` (each at most 1 MiB).
OllamaModelSettings readOllamaModelSettings(const OllamaManifest &manifest);

/// The Modelfile for `ggufPath` (an absolute path): `FROM <path>`, then TEMPLATE, SYSTEM and
/// one PARAMETER line per parameter, values quoted as ollama's parser reads them. Throws Error
/// when the path or a value cannot be written in a Modelfile (a line break in the path, `"""`
/// inside a multi-line value).
QString makeModelfile(const QString &ggufPath, const OllamaModelSettings &settings);

} // namespace QuantFit
