#pragma once

// One entry point that pushes a byte string through every reader of untrusted files: the GGUF
// reader (metadata-only and mapped), ModelInfo, every quantization plan, the advisor, the
// tokenizer, the LLaMA loader with a few tokens of inference, the imatrix readers (both formats)
// the base-logits reader (both formats) and the evaluation-text reader (plain files and archive
// members through libarchive). Every reader must either accept the bytes or throw
// QuantFit::Error; anything else (a crash, a sanitizer report, an uncaught exception, a hang)
// is a bug. Used by the libFuzzer target (clang builds with QUANTFIT_BUILD_FUZZ) and by the
// replay test that runs the committed corpus in every build.

#include <cstddef>
#include <cstdint>

namespace QuantFit::Fuzz {

/// Runs every reader over `data`. Returns the number of readers that accepted it.
int runOne(const std::uint8_t *data, std::size_t size);

} // namespace QuantFit::Fuzz
