// libFuzzer entry point for the tokenizers (clang, QUANTFIT_BUILD_FUZZ=ON). See fuzztext.h.

#include "fuzztext.h"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    if (QuantFit::Fuzz::textVocabularyCount() == 0) {
        std::fprintf(stderr, "no vocabularies: set QUANTFIT_FUZZ_VOCAB_DIR\n");
        std::exit(1);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    QuantFit::Fuzz::runText(data, size);
    return 0;
}
