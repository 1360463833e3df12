#pragma once

// Handing a GGUF file to a runner, the last step after converting: what `quantize
// --to-ollama/--to-lmstudio` and the app's "Add to Ollama" / "Add to LM Studio" run. These are
// the only functions of QuantFit that write into a runner's store, and only when asked.
//  - Ollama: a Modelfile (`FROM /path/file.gguf`, plus the template, system prompt and
//    parameters of the source model's manifest when the source came from Ollama) is written,
//    then `ollama create NAME -f Modelfile` runs when the ollama program is found; otherwise
//    the result holds the exact command to run.
//  - LM Studio: the file goes to `<models>/<publisher>/<repository>/<file>` (lmstudiolayout.h),
//    as a hard link when the models folder is on the same file system, else as a copy through a
//    temporary file with progress and cancel.

#include "discovery/lmstudiolayout.h"

#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace QuantFit {

class JobContext;

struct OllamaHandoffRequest {
    QString ggufPath;
    QString modelName;       ///< as `ollama create` takes it ("mymodel", "mymodel:q4_k_m")
    /// The model it was converted from: when it is an Ollama blob, its manifest's template,
    /// system prompt and parameters are taken over.
    QString sourcePath;
    QString sourceManifest;  ///< or that manifest, named directly (the app knows it)
    /// Where the Modelfile goes; empty: next to the GGUF as NAME.Modelfile, or in QuantFit's
    /// data folder when the GGUF lies in a runner's store.
    QString modelfilePath;
    QString ollamaProgram;   ///< empty: findOllamaProgram()
    bool run = true;         ///< false: write the Modelfile and return the command only
    /// Each line ollama prints, as it prints it (called on the worker thread).
    std::function<void(const QString &line)> onOutput;
};

struct OllamaHandoffResult {
    QString modelName;       ///< as ollama shows it ("mymodel:latest")
    QString modelfilePath;
    QString modelfileText;
    QString command;         ///< the command line, quoted for a shell
    QString settingsFrom;    ///< the Ollama model whose template and parameters were taken over
    QStringList warnings;
    bool ran = false;        ///< the ollama program was found and started
    int exitCode = -1;
    QString output;          ///< everything ollama printed
    bool succeeded() const { return ran && exitCode == 0; }
};

/// The ollama program: on PATH, else where the installers put it (macOS app bundle, Windows
/// per-user install). Empty when not found.
QString findOllamaProgram();

/// Validates the name, writes the Modelfile (atomically) and runs ollama. Throws Error for a
/// bad name, a missing GGUF or a Modelfile that cannot be written; a failing `ollama create`
/// is not thrown but reported in the result (exit code and output). Cancel kills ollama and
/// throws Cancelled. Progress: stage "Adding to Ollama" without a total.
OllamaHandoffResult runOllamaHandoff(const OllamaHandoffRequest &request, JobContext &ctx);

struct LmStudioHandoffRequest {
    QString ggufPath;                           ///< a split model's first file brings the rest
    QString sourcePath;                         ///< for the default publisher and repository
    std::optional<LmStudioPlacement> placement; ///< empty: lmStudioDefaultPlacement
    QString modelsFolder;                       ///< empty: LM Studio's current models folder
};

enum class PlacementMethod {
    HardLink,
    Copy,
    AlreadyThere, ///< the target already was this very file
};

struct LmStudioHandoffResult {
    QString modelsFolder;
    LmStudioPlacement placement;
    QString targetPath;      ///< the (first) file in LM Studio's folder
    QStringList targetFiles;
    PlacementMethod method = PlacementMethod::HardLink;
};

/// Places the file (and the other files of a split model). Throws Error for invalid folder
/// names or a different file already at the target (LM Studio would show two models under one
/// name), IoError when the folder cannot be made or the copy fails (the target's temporary
/// is removed), Cancelled on cancel. Progress: stage "Copying to LM Studio" in bytes when it
/// copies.
LmStudioHandoffResult runLmStudioHandoff(const LmStudioHandoffRequest &request, JobContext &ctx);

} // namespace QuantFit
