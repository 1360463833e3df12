#pragma once

#include "gguf/ggufreader.h"
#include "model/modelinfo.h"

#include <QObject>
#include <QString>

#include <functional>
#include <memory>

/// A GGUF opened for its headers (metadata-only mode) and the model facts read from them.
struct LoadedModel {
    QString path;
    std::shared_ptr<const QuantFit::GgufFile> file; ///< null when opening failed
    QuantFit::ModelInfo info;
    QString error; ///< the reader's message when opening failed
};

/// Opens `path` metadata-only on a pool thread (reading headers can take a while on a slow
/// disk; the GUI thread must not wait) and calls `done` in the GUI thread, unless `context` was
/// destroyed first.
void loadModelAsync(const QString &path, QObject *context,
                    std::function<void(const LoadedModel &)> done);

/// The same, synchronously (tests, command-line options).
LoadedModel loadModel(const QString &path);
