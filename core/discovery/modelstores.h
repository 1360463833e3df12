#pragma once

// Where the common local runners keep GGUF models, as each of them decides it (the README's
// "Your models" section names the versions whose layouts we follow):
//  1. LM Studio: `<models>/<publisher>/<repository>/<file>.gguf`; <models> is `downloadsFolder`
//     of LM Studio's settings.json when set, else `<LM Studio home>/models`; the home is the
//     folder named in ~/.lmstudio-home-pointer, else ~/.lmstudio (legacy: ~/.cache/lm-studio).
//  2. Ollama: `$OLLAMA_MODELS`, else ~/.ollama/models (Linux service installs:
//     /usr/share/ollama/.ollama/models): `manifests/<host>/<namespace>/<model>/<tag>` (JSON)
//     name the layers, `blobs/sha256-<hex>` hold them.
//  3. Hugging Face hub cache: `$HF_HUB_CACHE`, `$HUGGINGFACE_HUB_CACHE`, `$HF_HOME/hub`,
//     `$XDG_CACHE_HOME/huggingface/hub`, ~/.cache/huggingface/hub (the same on every OS):
//     `models--<org>--<name>/snapshots/<revision>/<file>`, symbolic links into `blobs/`.
//  4. llama.cpp: `$LLAMA_CACHE`; without it current builds use the Hugging Face cache and
//     builds before the move to it kept flat files in ~/.cache/llama.cpp
//     (`$XDG_CACHE_HOME/llama.cpp`; macOS ~/Library/Caches/llama.cpp; Windows
//     %LOCALAPPDATA%\llama.cpp).
// Everything here is pure path logic over a DiscoveryEnvironment, so tests give it a fake home
// and fake variables; nothing is created or written.

#include <QHash>
#include <QString>
#include <QStringList>

#include <optional>
#include <vector>

namespace QuantFit {

/// Which runner's store a model was found in.
enum class ModelSource {
    LmStudio,
    Ollama,
    HfCache,
    LlamaCppCache,
    Folder, ///< a folder the user added
};

/// "LM Studio", "Ollama", "HF cache", "llama.cpp cache", "folder".
QString modelSourceName(ModelSource source);
/// Stable ids for JSON and options: "lmstudio", "ollama", "hf", "llamacpp", "folder".
QString modelSourceId(ModelSource source);
std::optional<ModelSource> modelSourceFromId(const QString &id);
/// Every source in list order.
std::vector<ModelSource> allModelSources();

enum class HostOs {
    Linux,
    MacOs,
    Windows,
};

/// What the store locations depend on: the home folder, a few environment variables and the
/// operating system. current() reads the process's; tests build their own.
struct DiscoveryEnvironment {
    QString home;
    QHash<QString, QString> variables; ///< name -> value; absent or empty means unset
    HostOs os = HostOs::Linux;
    /// Folders outside the home that a runner may use system-wide (the Linux Ollama service's
    /// store). current() fills them in; tests leave them empty.
    QStringList systemOllamaFolders;

    static DiscoveryEnvironment current();
    /// The variable's value with surrounding spaces removed; empty when unset.
    QString variable(const QString &name) const;
};

/// A folder to scan and why it is one.
struct StoreLocation {
    ModelSource source = ModelSource::Folder;
    QString path;
    QString reason; ///< "default", "$OLLAMA_MODELS", "LM Studio settings.json (downloadsFolder)"
};

/// LM Studio's home folder (see the layout above); its default when none exists yet.
QString lmStudioHome(const DiscoveryEnvironment &env);
/// LM Studio's models folders, the current one first (the one a hand-off writes to), then a
/// legacy folder when it exists and differs.
std::vector<StoreLocation> lmStudioModelFolders(const DiscoveryEnvironment &env);
std::vector<StoreLocation> ollamaModelFolders(const DiscoveryEnvironment &env);
StoreLocation hfHubCacheFolder(const DiscoveryEnvironment &env);
StoreLocation llamaCppCacheFolder(const DiscoveryEnvironment &env);

/// Every store of every runner, in list order (LM Studio, Ollama, HF cache, llama.cpp cache),
/// whether or not the folder exists. Folders named twice (LLAMA_CACHE set to the HF cache)
/// appear once, with the first source.
std::vector<StoreLocation> defaultStoreLocations(const DiscoveryEnvironment &env);

/// The store folder of `locations` that holds `path` (after resolving symbolic links), if any.
std::optional<StoreLocation> storeContaining(const QString &path,
                                             const std::vector<StoreLocation> &locations);

} // namespace QuantFit
