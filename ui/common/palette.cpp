#include "palette.h"

namespace Palette {

// Mid-saturation hues readable on light and dark palettes alike.
QColor weights() { return QColor(0x3b, 0x82, 0xc4); }
QColor kvCache() { return QColor(0xe0, 0x8a, 0x2c); }
QColor compute() { return QColor(0x8e, 0x6c, 0xc0); }
QColor reserve() { return QColor(0x8a, 0x8a, 0x8a); }

} // namespace Palette
