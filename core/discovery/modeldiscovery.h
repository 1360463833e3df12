#pragma once

// Finding the GGUF models already on the machine: every store of modelstores.h plus folders
// the user adds, each model listed once under the name its runner shows, with the facts of its
// headers (no tensor data is read). Split models are one entry (their first file); vision
// projectors (mmproj, architecture "clip") are attached to the models beside them, not listed.
// A file that cannot be read is listed with its error; nothing is ever written.

#include "modelstores.h"

#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <vector>

namespace QuantFit {

class JobContext;

/// One model found in a store.
struct DiscoveredModel {
    ModelSource source = ModelSource::Folder;
    QString storePath;         ///< the store folder it was found in
    /// The runner's name: "llama3.2:latest" (Ollama), "publisher/repository/file.gguf" (LM
    /// Studio), "org/name/file.gguf" (HF cache, llama.cpp's cache in that layout), the path
    /// below the folder otherwise.
    QString name;
    QStringList aliases;       ///< further Ollama names of the same blob
    QString path;              ///< the file to open (the first file of a split model)
    QStringList files;         ///< every file of the model
    std::uint64_t sizeBytes = 0;

    // From the headers; empty or zero when they could not be read.
    QString architecture;
    QString title;             ///< general.name
    std::uint64_t nParams = 0;
    QString fileType;          ///< "Q4_K_M", or the most common weight type's file type
    bool fileTypeGuessed = false;
    std::uint32_t contextLength = 0;
    double bitsPerWeight = 0;
    QString moe;               ///< "MoE: 8 experts, 2 active"; empty for a dense model

    QString error;             ///< why the file could not be read; empty when it could
    QStringList projectors;    ///< vision projector files attached to this model
    QString ollamaManifest;    ///< the manifest file (Ollama)
    /// A full-precision model (F32, F16, BF16) of the same architecture and parameter count in
    /// the same place (folder, or Ollama model name), for a quantized one; empty otherwise.
    QString fullPrecisionSibling;

    bool isReadable() const { return error.isEmpty(); }
    bool isFullPrecision() const;
};

/// What to scan.
struct DiscoveryOptions {
    std::vector<StoreLocation> stores; ///< runners' stores (see defaultStoreLocations)
    QStringList folders;               ///< user folders, listed as ModelSource::Folder
    int nThreads = 0;                  ///< header reading threads; 0: all cores
    int maxDepth = 8;                  ///< folder levels below a store
};

/// Every runner's store for the current environment, nothing else.
DiscoveryOptions defaultDiscoveryOptions();

struct DiscoveryResult {
    std::vector<DiscoveredModel> models;   ///< sorted by source, then name
    std::vector<StoreLocation> scanned;    ///< the stores and folders that exist and were read
    /// Problems that belong to no model: folders that could not be read, symbolic-link loops,
    /// projectors without a model, user folders that do not exist.
    QStringList problems;
};

/// Scans the stores and folders of `options`. Progress: stage "Reading headers", one unit per
/// file. Never throws for a bad file or folder (those become errors and problems); throws
/// Cancelled when `ctx` is cancelled.
DiscoveryResult discoverModels(const DiscoveryOptions &options, JobContext &ctx);

/// Where a conversion of a model that lies in a runner's store is written instead of next to it
/// (writing into a store is a hand-off the user asks for, never a side effect): the documents
/// folder's "QuantFit" folder.
QString convertedModelsFolder();

/// A readable file name stem for the model at `path`: "<model>-<tag>" for an Ollama blob that a
/// manifest names, else the file name without ".gguf".
QString modelFileStem(const QString &path);

/// True when `fileName` or the architecture marks a vision projector (llama.cpp's mmproj files
/// have architecture "clip").
bool isProjectorFile(const QString &fileName, const QString &architecture);

} // namespace QuantFit
