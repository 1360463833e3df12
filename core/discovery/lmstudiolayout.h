#pragma once

// How LM Studio names the folders of its models directory, as its `lms import` does
// (lmstudio-ai/lms: src/subcommands/importCmd.ts): a file goes to
// `<models>/<publisher>/<repository>/<file name>`; LM Studio only finds models exactly two
// folders deep. The publisher defaults to the user's login name ($USER, $USERNAME, else
// "unknown"), the repository to the file name without a trailing ".Q..." quant part and its
// extension. Folder names are 1 to 100 characters, do not start or end with '.', have no
// spaces at their ends and none of / < > : " \ | ? *.

#include "modelstores.h"

#include <QString>

namespace QuantFit {

/// Publisher and repository folders for a file in LM Studio's models directory.
struct LmStudioPlacement {
    QString publisher;
    QString repository;
};

/// Why `name` cannot be a publisher or repository folder (`what` names which), empty when it
/// can.
QString lmStudioFolderNameProblem(const QString &what, const QString &name);
/// `name` made acceptable: refused characters become '-', ends trimmed of spaces and dots,
/// cut to 100 characters; "unknown" when nothing is left.
QString lmStudioSanitizedFolderName(const QString &name);
/// lms import's default repository for a file name ("model.Q4_K_M.gguf" -> "model").
QString lmStudioRepositoryFromFileName(const QString &fileName);

/// Where a hand-off puts `filePath` when the user names nothing: the source's own publisher and
/// repository when `sourcePath` lies in LM Studio's models folder (<publisher>/<repository>/...)
/// or in a Hugging Face cache (models--<org>--<name>/...), else the login name and the file
/// name's repository. Always acceptable names.
LmStudioPlacement lmStudioDefaultPlacement(const QString &filePath, const QString &sourcePath,
                                           const DiscoveryEnvironment &env);

/// The file name a model gets in LM Studio's folder: its own when it ends in ".gguf" (LM Studio
/// lists nothing else), else "<model>-<tag>.gguf" for an Ollama blob or "<name>.gguf".
QString lmStudioFileName(const QString &filePath);

/// `<modelsFolder>/<publisher>/<repository>/<lmStudioFileName(filePath)>`.
QString lmStudioTargetPath(const QString &modelsFolder, const LmStudioPlacement &placement,
                           const QString &filePath);

} // namespace QuantFit
