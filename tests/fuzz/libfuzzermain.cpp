// libFuzzer entry point (clang, QUANTFIT_BUILD_FUZZ=ON). See fuzztarget.h and README.md.

#include "fuzztarget.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    QuantFit::Fuzz::runOne(data, size);
    return 0;
}
