#pragma once

#include <QString>

/// Where the app keeps its own files (XDG data folder, e.g. ~/.local/share/QuantFit/quantfit).
namespace AppPaths {

/// The app's data folder, created on first use.
QString dataDir();
/// Saved measurement results (*.json).
QString resultsDir();
/// Default output folder for conversions.
QString modelsDir();
/// Where the built-in demo model is generated on demand.
QString demoModelPath();

} // namespace AppPaths
