#pragma once

#include "gguf/filetype.h"

#include <QString>

/// A tooltip that explains a file type (quant mix) to a user: its bulk block type and bits per
/// weight, what K-quants and the _S/_M/_L suffixes mean, and that I-quants want an imatrix.
QString quantTooltip(QuantFit::FileType type);
