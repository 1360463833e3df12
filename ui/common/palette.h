#pragma once

#include <QColor>

/// The app's colours for the parts of memory and the measured series, shared by the memory
/// bar, the charts and the pages so that one part has one colour everywhere.
namespace Palette {

QColor weights(); ///< model weights; also the main series of a chart
QColor kvCache(); ///< KV cache; also a second series
QColor compute(); ///< compute buffers and runtime overhead
QColor reserve(); ///< what the OS and other programs keep

} // namespace Palette
