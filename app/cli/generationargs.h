#pragma once

#include "infer/generator.h"

#include <QCommandLineParser>

namespace QuantFit::Cli {

/// Adds the options `generate` and `compare` share: -p/--prompt, -n/--n-predict, --seed, --temp,
/// --top-k, --top-p, --threads. `defaultTokens` is shown in -n's help.
void addGenerationOptions(QCommandLineParser &parser, int defaultTokens);

/// Reads them back (throws Error naming a bad value or a missing prompt).
GenerationOptions generationOptionsFrom(const QCommandLineParser &parser, const QString &command,
                                        int defaultTokens, int minTokens);

} // namespace QuantFit::Cli
