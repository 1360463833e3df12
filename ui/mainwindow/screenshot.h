#pragma once

#include <QSize>
#include <QString>

#include <optional>

/// `quantfit --screenshot FILE --page advise|convert|measure|charts|models [--ram N] [--model ID]
/// [--machine ID]`: what to render.
struct ScreenshotRequest {
    QString file;
    QString page = QStringLiteral("advise");
    std::optional<double> ramGb;
    QString model;           ///< catalog id, or a .gguf path
    /// Advise page: a machine of the placement tab (preset id or "detect"), shown on that tab.
    QString machine;
    QSize size{1280, 800};
};

/// Builds a main window of `size` offscreen, shows the page with the given RAM and model, and
/// saves it as PNG. Returns an empty string on success, else the error message.
QString renderScreenshot(const ScreenshotRequest &request);
